// Model.close() gives the weights' memory back at once: load/close cycles of a real-sized model in a fresh
// process (no --expose-gc) must not pile up resident memory. Before, four cycles of the 1B shape left 2.8 GiB.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/fixtures.js";

const CLI = path.join(ROOT, "packages/engine/dist/cli/main.js");
const ENGINE = path.join(ROOT, "packages/engine/dist/index.js");

const CYCLES = `
const { loadModel } = await import(${JSON.stringify(ENGINE)});
const rss = () => process.memoryUsage().rss;
const report = { start: rss(), loaded: [], closed: [] };
for (let i = 0; i < 3; i++) {
  const model = await loadModel(process.env.MODEL_FILE, { contextSize: 256, threads: 2 });
  await model.prefill([1, 2, 3]); // touch the weights
  report.loaded.push(rss());
  await model.close();
  // V8 unmaps freed memories on a background thread: give it up to 3 s to show in RSS.
  const limit = report.start + 0.2 * (report.loaded[i] - report.start);
  for (let t = 0; t < 60 && rss() > limit; t++) await new Promise((resolve) => setTimeout(resolve, 50));
  report.closed.push(rss());
}
console.log(JSON.stringify(report));
`;

describe.skipIf(!fs.existsSync(CLI))("Model.close()", () => {
  it("releases the weights' memory at once, cycle after cycle", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-close-"));
    try {
      const file = path.join(dir, "1b.gguf");
      const synth = spawnSync(process.execPath, [CLI, "synth", "--preset", "1b", "--type", "q4_0", "-o", file], { encoding: "utf8" });
      expect(synth.status, synth.stderr).toBe(0);
      const script = path.join(dir, "cycles.mjs");
      fs.writeFileSync(script, CYCLES);
      const r = spawnSync(process.execPath, [script], { encoding: "utf8", env: { ...process.env, MODEL_FILE: file } });
      expect(r.status, r.stderr).toBe(0);
      const { start, loaded, closed } = JSON.parse(r.stdout) as { start: number; loaded: number[]; closed: number[] };
      const model = loaded[0] - start;
      expect(model).toBeGreaterThan(0.5 * 2 ** 30); // the 0.65 GiB of weights were resident
      for (const c of closed) expect(c - start, `resident after close: ${(c / 2 ** 30).toFixed(2)} GiB`).toBeLessThan(0.2 * model);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
