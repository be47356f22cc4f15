import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources; the CLI and install tests exercise the built dist/ files.
    alias: { "@cpu-llm/kernels": src("kernels"), "@cpu-llm/engine": src("engine") },
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    pool: "forks",
    reporters: ["default", "./test/helpers/summaryReporter.ts"],
  },
});
