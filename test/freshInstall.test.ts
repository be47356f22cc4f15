// What a user does: `npm install` the packages into a new project and `import { loadModel } from "@cpu-llm/engine"`.
// The packages are packed from this workspace (pnpm pack) and installed offline, then a script generates text.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/fixtures.js";

const hasTools = ["pnpm", "npm"].every((tool) => {
  try {
    execFileSync(tool, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
});

describe.skipIf(!hasTools)("a fresh project that depends on @cpu-llm/engine", () => {
  it("imports loadModel and tells the bundled story; its TypeScript compiles against the published types", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-fresh-"));
    try {
      for (const pkg of ["kernels", "engine"]) {
        execFileSync("pnpm", ["pack", "--pack-destination", dir], { cwd: path.join(ROOT, "packages", pkg), stdio: "ignore" });
      }
      const project = path.join(dir, "app");
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
      const tarballs = fs.readdirSync(dir).filter((f) => f.endsWith(".tgz")).map((f) => path.join(dir, f));
      execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", ...tarballs], { cwd: project, stdio: "ignore" });
      fs.writeFileSync(
        path.join(project, "main.js"),
        `import { DEMO_MODEL, loadModel } from "@cpu-llm/engine";
const model = await loadModel(DEMO_MODEL, { kvCacheType: "f32" });
let text = "";
for await (const chunk of model.complete("Once upon a time", { temperature: 0, maxTokens: 12 })) text += chunk.text;
await model.close();
console.log(JSON.stringify(text));
`,
      );
      const out = execFileSync(process.execPath, ["main.js"], { cwd: project, encoding: "utf8" });
      expect(JSON.parse(out)).toBe(", there was a little girl named Lily. She");
      // The published types compile in a plain Node project: no DOM lib, every .d.ts checked.
      fs.writeFileSync(
        path.join(project, "typed.ts"),
        `import { DEMO_MODEL, loadModel, type CompletionChunk, type Model } from "@cpu-llm/engine";
const model: Model = await loadModel(DEMO_MODEL, { threads: 1, contextSize: 64 });
const chunks: CompletionChunk[] = [];
for await (const chunk of model.complete("Once", { maxTokens: 2 })) chunks.push(chunk);
await model.close();
`,
      );
      fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          target: "ES2023", lib: ["ES2023"], module: "NodeNext", moduleResolution: "NodeNext", types: ["node"],
          typeRoots: [path.join(ROOT, "node_modules/@types")], strict: true, skipLibCheck: false, noEmit: true,
        },
        files: ["typed.ts"],
      }));
      const tsc = path.join(ROOT, "node_modules/typescript/bin/tsc");
      const checked = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project, encoding: "utf8" });
      expect(checked.stdout + checked.stderr).toBe("");
      expect(checked.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
