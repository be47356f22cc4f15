// Test data from ../shared/fixtures (beside the project root). A user's clone has none: tests that need it
// skip, and say so once.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURES = process.env.CPU_LLM_FIXTURES ?? path.resolve(ROOT, "../shared/fixtures");
export const HAS_FIXTURES = fs.existsSync(path.join(FIXTURES, "README.md"));

let warned = false;
/** True when fixtures exist; otherwise prints why the dependent tests are skipped. */
export function fixturesPresent(): boolean {
  if (!HAS_FIXTURES && !warned) {
    warned = true;
    console.warn(`[cpu-llm tests] ${FIXTURES} not found: fixture tests are skipped (set CPU_LLM_FIXTURES to run them)`);
  }
  return HAS_FIXTURES;
}

export const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);

export function listFixtures(dir: string, suffix: string): string[] {
  if (!HAS_FIXTURES) return [];
  return fs.readdirSync(fixture(dir)).filter((f) => f.endsWith(suffix)).sort();
}

/** The bundled demo model, present in every clone. */
export const DEMO_MODEL = path.join(ROOT, "packages/engine/models/stories260K.gguf");

/** llama.cpp's tokenizer test vectors: texts split on the exact separator, ids one line per text. */
export function readVectors(inpPath: string, outPath: string): { text: string; ids: number[] }[] {
  const texts = fs.readFileSync(inpPath, "utf8").split("\n__ggml_vocab_test__\n");
  if (texts.length > 0 && texts[texts.length - 1] === "") texts.pop();
  const lines = fs.readFileSync(outPath, "utf8").split("\n");
  return texts.map((text, i) => ({
    text,
    ids: (lines[i] ?? "").trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number),
  }));
}
