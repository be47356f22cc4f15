// The built `cpu-llm` binary, run as a user would (needs `pnpm build`; `pnpm test` builds first).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readGguf, Tokenizer } from "@cpu-llm/engine";
import { DEMO_MODEL, fixture, fixturesPresent, listFixtures, ROOT } from "./helpers/fixtures.js";
import { writeNanModel } from "./helpers/nanModel.js";
import { altered } from "./helpers/alteredModel.js";

const CLI = path.join(ROOT, "packages/engine/dist/cli/main.js");
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });

describe.skipIf(!fs.existsSync(CLI))("cpu-llm CLI", () => {
  it.each(["inspect", "tokenize", "detokenize", "run", "logits", "bench", "synth", "system"])("%s -h and --help print its usage, exit code 0", (command) => {
    for (const flag of ["-h", "--help"]) {
      const r = run(command, flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: cpu-llm ${command} `));
      expect(r.stderr).toBe("");
    }
  });

  it("inspects the bundled model", () => {
    const r = run("inspect", DEMO_MODEL);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/architecture\s+llama/);
    expect(r.stdout).toMatch(/block_count\s+5/);
    expect(r.stdout).toMatch(/tensors\s+48: 48 f32/);
    const d = JSON.parse(run("inspect", DEMO_MODEL, "--json", "--ctx", "256").stdout);
    expect(d).toMatchObject({ architecture: "llama", tensorCount: 48, parameters: 292_800, memory: { contextSize: 256 } });
    // 64×512 embeddings + 512×64 output + 5 layers × (q,o 64×64; k,v 64×32; 3 × 64×172 FFN; 2 norms) + norm = 292,800.
    // F16 KV: 2 (K,V) × 256 positions × 5 layers × 4 KV heads × 8 dims × 2 bytes.
    expect(d.memory.kvCacheBytes).toBe(2 * 256 * 5 * 4 * 8 * 2);
  });

  it("tokenizes and detokenizes like the library", () => {
    const tok = Tokenizer.fromGguf(readGguf(DEMO_MODEL));
    const r = run("tokenize", DEMO_MODEL, "--text", "Once upon a time", "--json");
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n").filter(Boolean)).toHaveLength(1);
    const { ids } = JSON.parse(r.stdout);
    expect(ids).toEqual(tok.encode("Once upon a time"));
    expect(JSON.parse(run("tokenize", DEMO_MODEL, "--text", "Once", "--no-bos", "--json").stdout).ids).toEqual(tok.encode("Once", { addSpecial: false }));
    expect(JSON.parse(run("tokenize", DEMO_MODEL, "--text", "<s>x", "--no-bos", "--special", "--json").stdout).ids[0]).toBe(tok.vocab.bos);
    expect(run("detokenize", DEMO_MODEL, "--ids", ids.slice(1).join(",")).stdout).toBe("Once upon a time\n");
  });

  it("run with no model tells the bundled story, greedy, as llama.cpp does", () => {
    const r = run("run", "-n", "24", "--temp", "0", "--kv", "f32");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Once upon a time, there was a little girl named Lily\. She loved to play/);
    expect(r.stderr).toMatch(/24 tokens, [\d.]+ tokens\/s/);
  });

  it("run --json and logits --json print one line with the documented fields", () => {
    const j = JSON.parse(run("run", "-p", "Once upon a time", "-n", "8", "--temp", "0", "--kv", "f32", "--json").stdout);
    expect(j.prompt_ids).toEqual([1, 403, 407, 261, 378]);
    expect(j.ids).toHaveLength(8);
    expect(j.timings).toMatchObject({ prompt_n: 5, predicted_n: 8 });
    expect(typeof j.timings.prompt_ms).toBe("number");
    const l = JSON.parse(run("logits", DEMO_MODEL, "--ids", "1,403,407", "--kv", "f32", "--top", "3", "--json").stdout);
    expect(l.rows).toHaveLength(3);
    expect(l.rows[0]).toHaveLength(3);
    expect(l.rows[2][0][0]).toBe(261); // " a" follows "Once upon"
    expect(run("run", "-c", "8", "-n", "20").stderr).toMatch(/exceeds the context of 8 tokens/);
  });

  it("synth writes a model that loads, and bench --json prints one line per test", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-synth-"));
    const file = path.join(dir, "tiny.gguf");
    expect(run("synth", "--arch", "llama", "--preset", "tiny", "--type", "q8_0", "-o", file).status).toBe(0);
    const g = readGguf(file);
    expect(g.tensors.find((t) => t.name === "blk.1.ffn_down.weight")).toMatchObject({ dims: [128, 128] });
    const b = run("bench", file, "-p", "16", "-n", "8", "-r", "2", "-t", "1", "--json");
    expect(b.status, b.stderr).toBe(0);
    const lines = b.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.test)).toEqual(["pp16", "tg8"]);
    for (const l of lines) expect(l).toMatchObject({ threads: 1, avg_ts: expect.any(Number), stddev_ts: expect.any(Number) });
    // --temp adds generation as it runs: every step's token sampled from the last logits.
    const sampled = run("bench", file, "-p", "0", "-n", "8", "-r", "1", "-t", "1", "--temp", "0.8", "--json");
    expect(sampled.status, sampled.stderr).toBe(0);
    const rows = sampled.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((l) => l.test)).toEqual(["tg8", "tg8 temp 0.8"]);
    expect(rows[1].avg_ts).toBeGreaterThan(0);
    expect(run("bench", file, "--temp=-1").stderr).toMatch(/--temp must be .*, got '-1'/);
    expect(run("run", file, "-p", "hi", "-n", "4", "--json").status).toBe(0);
    // llama-batched-bench's decode test: one line per sequence count, aggregate generated tokens per second.
    const s = run("bench", file, "--sequences", "1,3", "--npp", "4", "-n", "6", "-r", "1", "-t", "2", "--kv", "q8_0", "--json");
    expect(s.status, s.stderr).toBe(0);
    const counts = s.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(counts).toMatchObject([{ test: "tg6", sequences: 1, threads: 2 }, { test: "tg6", sequences: 3, threads: 2 }]);
    for (const c of counts) expect(c.avg_ts).toBeGreaterThan(0);
    expect(run("bench", file, "--sequences", "0,2").stderr).toMatch(/--sequences takes whole numbers ≥ 1/);
    for (const bad of [["-d", "x"], ["--npp=-1"], ["-d", "1.5"]]) {
      const r = run("bench", file, ...bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/-p, -n, -d, -r and --npp take whole numbers/);
    }
    expect(run("bench", file, "--kv", "q4_0").stderr).toMatch(/--kv must be f32, f16, q8_0, got 'q4_0'/);
    expect(run("bench", file, "-t", "0").stderr).toMatch(/-t must be a whole number from 1 to \d+ .*, got '0'/);
    const top = run("logits", file, "--ids", "1,2", "--top=-1", "--json");
    expect([top.status, top.stderr.trim()]).toEqual([2, "cpu-llm logits: --top must be a whole number ≥ 0, got '-1'"]);
    expect(run("inspect", file, "--ctx", "0").stderr).toMatch(/--ctx must be a whole number ≥ 1, got '0'/);
    fs.rmSync(dir, { recursive: true });
  });

  it.each([
    ["qwen2", "tiny", "blk.0.attn_q.bias"],
    ["baichuan", "tiny", "output.weight"],
    ["baichuan", "tiny-alibi", "blk.39.ffn_down.weight"],
    ["deepseek2", "tiny", "blk.1.ffn_down_exps.weight"],
  ])("synth --arch %s --preset %s writes a model that run generates with", (arch, preset, tensor) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-synth-"));
    const file = path.join(dir, `${arch}.gguf`);
    expect(run("synth", "--arch", arch, "--preset", preset, "--type", "q4_0", "-o", file).status).toBe(0);
    const g = readGguf(file);
    expect(g.metadata.get("general.architecture")?.value).toBe(arch);
    expect(g.tensors.some((t) => t.name === tensor)).toBe(true);
    const r = run("run", file, "-p", "hi", "-n", "6", "--json");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ids).toHaveLength(6);
    fs.rmSync(dir, { recursive: true });
  });

  it.each(["q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"])("synth --type %s writes llama-quantize's mix of K-quants, which run generates with", (type) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-synth-"));
    const file = path.join(dir, `${type}.gguf`);
    expect(run("synth", "--arch", "llama", "--preset", "tiny-k", "--type", type, "-o", file).status).toBe(0);
    expect(new Set(readGguf(file).tensors.map((t) => t.type.name)).has("q6_K")).toBe(true); // output.weight at least
    const r = run("run", file, "-p", "hi", "-n", "6", "--json");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ids).toHaveLength(6);
    fs.rmSync(dir, { recursive: true });
  });

  it("synth names the architectures and presets it knows", () => {
    expect(run("synth", "--arch", "gpt2", "--preset", "7b", "-o", "/tmp/x.gguf").stderr).toMatch(/--arch must be one of deepseek2, llama, qwen2, baichuan, got 'gpt2'/);
    expect(run("synth", "--arch", "baichuan", "--preset", "1b", "-o", "/tmp/x.gguf").stderr).toMatch(/--preset for baichuan must be one of 7b, 13b, tiny, tiny-alibi/);
    expect(run("synth", "--preset", "tiny", "--type", "q4_k_s", "-o", "/tmp/x.gguf").stderr).toMatch(/--type must be one of q4_0, q4_1, q8_0, q5_0, q5_1, q2_k, q3_k_m, q4_k_m, q5_k_m, q6_k, got 'q4_k_s'/);
    // Rows that are not a multiple of 256 take llama-quantize's 32-weight fallbacks (q5_0, q8_0), which load.
    const narrow = run("synth", "--preset", "tiny", "--type", "q4_k_m", "-o", "/tmp/cpu-llm-narrow.gguf");
    expect(narrow.status, narrow.stderr).toBe(0);
    expect(run("inspect", "/tmp/cpu-llm-narrow.gguf").stdout).toMatch(/^loadable {8}yes$/m);
    fs.rmSync("/tmp/cpu-llm-narrow.gguf", { force: true });
  });

  it("system --json reports the machine as one JSON line", () => {
    const r = run("system", "--json");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const s = JSON.parse(r.stdout);
    for (const key of ["logicalCores", "physicalCores", "numaNodes", "allowedCpus", "quota", "threads", "pinning", "simd", "relaxedSimd", "memory64", "kernelVariant"]) {
      expect(s).toHaveProperty(key);
    }
    expect(s.threads).toBeGreaterThanOrEqual(1);
    expect(s.threads).toBeLessThanOrEqual(s.physicalCores);
    expect(s.pinning).toHaveLength(s.threads);
    expect(["relaxed", "simd"]).toContain(s.kernelVariant);
    expect(run("system").stdout).toMatch(/kernels\s+(relaxed|simd)/);
  });

  it("fails with one clear line and a non-zero code on bad input", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-cli-"));
    const truncated = path.join(dir, "truncated.gguf");
    fs.writeFileSync(truncated, fs.readFileSync(DEMO_MODEL).subarray(0, 5000));
    const r = run("inspect", truncated);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/invalid GGUF at byte \d+/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(run("inspect", path.join(dir, "missing.gguf")).stderr).toMatch(/ENOENT/);
    expect(run("tokenize", DEMO_MODEL).status).toBe(2);
    expect(run("detokenize", DEMO_MODEL, "--ids", "1,x").stderr).toMatch(/'x' is not a token id/);
    expect(run("detokenize", DEMO_MODEL, "--ids", "99999").stderr).toMatch(/out of range/);
    expect(run("frobnicate").status).toBe(2);
    fs.rmSync(dir, { recursive: true });
  });

  // Each flag outside what its option accepts is one line naming the flag and the range, exit code 2, before
  // the model loads: nothing is clamped, turned greedy, or left to fail later.
  it.each([
    [["--temp=-1"], /--temp must be a number ≥ 0 \(0 is greedy\), got '-1'/],
    [["--min-p", "2"], /--min-p must be a number from 0 to 1, got '2'/],
    [["--top-p", "1.5"], /--top-p must be a number from 0 to 1, got '1.5'/],
    [["--top-k=2.5"], /--top-k must be a whole number \(0 or less keeps all, as llama.cpp's top_k\), got '2.5'/],
    [["-t", "0"], /-t must be a whole number from 1 to \d+ .*, got '0'/],
    [["-t", "1.5"], /-t must be a whole number from 1 to \d+ .*, got '1.5'/],
    [["-t", "999"], /-t must be a whole number from 1 to \d+ \(the CPUs this process may use\), got '999'/],
    [["-c", "0"], /-c must be a whole number ≥ 1, got '0'/],
    [["-c-5"], /-c must be a whole number ≥ 1, got '-5'/],
    [["-n-5"], /-n must be a whole number ≥ 0, got '-5'/],
    [["-n", "1.5"], /-n must be a whole number ≥ 0, got '1.5'/],
    [["--json", "--top=-1"], /--top must be a whole number ≥ 0, got '-1'/],
    [["--seed", "x"], /--seed must be a whole number/],
  ])("run %j: one line naming the flag and its range, exit code 2", (flags, message) => {
    const r = run("run", ...flags, "-p", "hi");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toBe("");
  });

  it("inspect --check finds a NaN weight (which would generate garbage without any other error)", () => {
    const file = writeNanModel();
    const bad = run("inspect", file, "--check");
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^values {10}NaN in 'blk\.2\.ffn_up\.weight' at element 77: this model computes garbage$/m);
    const good = run("inspect", DEMO_MODEL, "--check");
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/^values {10}all finite$/m);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it("run on a model with a NaN weight: one line naming the problem and inspect --check, exit code 1", () => {
    const file = writeNanModel();
    for (const args of [["-n", "8"], ["-n", "8", "--temp", "0.8", "--seed", "1"], ["-n", "8", "--json"]]) {
      const r = run("run", file, "-p", "Once upon a time", ...args);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^cpu-llm run: the model computed NaN logits at generation step 0 of sequence 0: its weights hold non-finite values \(find them with 'cpu-llm inspect MODEL --check'\)$/m);
      expect(r.stdout).toBe("");
    }
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it("inspect says whether the model loads, and why not", () => {
    expect(run("inspect", DEMO_MODEL).stdout).toMatch(/^loadable {8}yes$/m);
    if (!fixturesPresent()) return;
    expect(run("inspect", fixture("models", "kquant-q4_k_m.gguf")).stdout).toMatch(/^loadable {8}yes$/m);
    const unsupported = altered("kquant-q4_k_m", { retype: { "blk.1.attn_q.weight": "iq4_nl" } });
    expect(run("inspect", unsupported).stdout).toMatch(/^loadable {8}no: tensor 'blk\.1\.attn_q\.weight' has type iq4_nl, which cpu-llm cannot compute with yet/m);
    fs.rmSync(path.dirname(unsupported), { recursive: true });
  });

  it("a directory as the model is one line; a reader that goes away ends the command quietly", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-dir-"));
    const r = run("run", dir, "-p", "hi");
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`cpu-llm run: EISDIR: '${dir}' is a directory, not a GGUF file`);
    fs.rmSync(dir, { recursive: true });
    // Seeded: the default seed is random, and now and then a draw begins ", in" instead of ", th".
    const piped = spawnSync("bash", ["-c", `set -o pipefail; "${process.execPath}" "${CLI}" run -n 200 --seed 1 | head -c 20`], { encoding: "utf8" });
    expect(piped.stdout).toBe("Once upon a time, th");
    expect(piped.stderr).toBe("");
    expect(piped.status).toBe(0);
  });

  it("a negative number after a flag is its value (-c -5): the flag's own one-line check, not parseArgs' ambiguity", () => {
    for (const [args, message] of [
      [["-c", "-5"], "cpu-llm run: -c must be a whole number ≥ 1, got '-5'"],
      [["--ctx", "-5"], "cpu-llm run: -c must be a whole number ≥ 1, got '-5'"],
      [["--temp", "-0.5"], "cpu-llm run: --temp must be a number ≥ 0 (0 is greedy), got '-0.5'"],
      [["-n", "-1"], "cpu-llm run: -n must be a whole number ≥ 0, got '-1'"],
    ] as const) {
      const r = run("run", ...args, "-p", "hi");
      expect([r.status, r.stderr.trim()], args.join(" ")).toEqual([2, message]);
    }
    // A dash that is not a number after a flag is still parseArgs' ambiguity, one line and the usage.
    const r = run("run", "-c", "-p", "hi");
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")[0]).toMatch(/^cpu-llm run: Option '-c' argument is ambiguous\./);
  });

  it("refuses Node 20 with a message, before loading anything", () => {
    const node20 = ["/usr/local/bin/node", "/usr/bin/node"].find((p) => {
      try {
        return execFileSync(p, ["--version"], { encoding: "utf8" }).startsWith("v20.");
      } catch {
        return false;
      }
    });
    if (!node20) return; // no Node 20 on this machine: the version check is covered by unit tests of assertSupportedNode
    const r = spawnSync(node20, [CLI, "inspect", DEMO_MODEL], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs Node 22 or newer/);
  });
});

describe.skipIf(!fs.existsSync(CLI) || !fixturesPresent())("cpu-llm CLI on every fixture GGUF", () => {
  const files = [...listFixtures("vocab", ".gguf").map((f) => fixture("vocab", f)), ...listFixtures("models", ".gguf").map((f) => fixture("models", f))];

  it.each(files)("%s", (file) => {
    const inspect = run("inspect", file, "--json");
    expect(inspect.status, inspect.stderr).toBe(0);
    const d = JSON.parse(inspect.stdout);
    expect(d.tensorCount).toBe(readGguf(file).tensors.length);
    const tokenize = run("tokenize", file, "--text", "Hello world! 你好", "--json");
    expect(tokenize.status, tokenize.stderr).toBe(0);
    expect(JSON.parse(tokenize.stdout).ids.length).toBeGreaterThan(1);
  });
});
