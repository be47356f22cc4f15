// Stop strings over streamed text: where the first one starts, and how much of the text's end must be held back
// because it could still become one.

/** Index of the first stop string in text, or -1. */
export function firstStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Characters at the end of text that could be the start of a stop string: not emitted yet. */
export function heldBack(text: string, stops: readonly string[]): number {
  let n = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > n; k--) if (text.endsWith(s.slice(0, k))) n = k;
  return n;
}
