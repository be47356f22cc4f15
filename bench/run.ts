// `pnpm bench [suite ...]`: runs the named tinybench suites (all when none is named).
const SUITES: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  gguf: () => import("./ggufHeader.bench.ts"),
  kernels: () => import("./kernels.bench.ts"),
  pool: () => import("./pool.bench.ts"),
  server: () => import("./server.bench.ts"),
  experts: () => import("./experts.bench.ts"),
  grammar: () => import("./grammar.bench.ts"),
};

const names = process.argv.slice(2);
for (const name of names.length ? names : Object.keys(SUITES)) {
  const load = SUITES[name];
  if (!load) {
    console.error(`unknown suite '${name}' (suites: ${Object.keys(SUITES).join(", ")})`);
    process.exit(2);
  }
  await (await load()).run();
}
