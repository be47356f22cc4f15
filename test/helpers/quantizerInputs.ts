// The F32 rows test/quantizeMatchesLlamaCpp.test.ts quantizes with ours and compares with ggml's output for the
// same rows (test/fixtures/kquants/*.bin). Deterministic (xorshift32 and Box-Muller), so the rows are made
// again here rather than stored; regenerate the .bin files with test/fixtures/kquants/README.md if this changes.

export const QUANTIZER_ROWS = 27;
export const QUANTIZER_COLS = 512;

/** 27 rows of 512: normal, heavy-tailed, zero sub-blocks and blocks, constants, one-signed, tiny and mixed scales. */
export function quantizerInputs(): Float32Array {
  let s = 0x2545f491;
  const uniform = () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const out = new Float32Array(QUANTIZER_ROWS * QUANTIZER_COLS);
  for (let r = 0; r < QUANTIZER_ROWS; r++) {
    for (let c = 0; c < QUANTIZER_COLS; c++) {
      const g = normal();
      const sub = c >> 5; // 32-value sub-block of the row
      let v: number;
      switch (r % 9) {
        case 0: v = 0.1 * g; break;
        case 1: v = 0.05 * g * g * g; break; // heavy tails
        case 2: v = sub % 3 === 1 ? 0 : 0.2 * g; break; // zero sub-blocks
        case 3: v = c < 256 ? 0 : g; break; // a zero block
        case 4: v = sub % 2 ? 0.75 : -0.25; break; // constant sub-blocks
        case 5: v = Math.abs(0.1 * g) + (sub === 3 ? 1 : 0); break; // positive only
        case 6: v = -Math.abs(g) * 1e-3; break; // negative only
        case 7: v = 1e-20 * g * (c < 256 ? 1 : 1e12); break; // below ggml's GROUP_MAX_EPS, then just above
        default: v = g * 10 ** ((sub % 5) - 2); // sub-blocks 100× apart
      }
      out[r * QUANTIZER_COLS + c] = v;
    }
  }
  return out;
}
