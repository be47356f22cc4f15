// How long `cpu-llm inspect` takes to read a Llama-3-8B-shaped Q4_0 GGUF (4.5 GB, 291 tensors, 128,256-token
// vocabulary with 280,147 merges): our synchronous reader against @huggingface/gguf, in the same run.
// The file is sparse (its tensor data is a hole), so it costs no disk, and only headers are read anyway.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gguf as hfGguf } from "@huggingface/gguf";
import { ggufChunks, kv, readGguf, type GgufTensorSpec } from "@cpu-llm/engine";
import { Bench } from "tinybench";
import { createRequire } from "node:module";

// `gguf`'s ESM default export is broken; its CommonJS one works.
const ggufPackage = createRequire(import.meta.url)("gguf").default as (file: string) => Promise<{ error?: Error }>;

const N_VOCAB = 128_256;
const N_MERGES = 280_147;

function llama3_8bSpec() {
  const [dim, layers, ff, heads, kvHeads] = [4096, 32, 14336, 32, 8];
  const kvDim = (dim / heads) * kvHeads;
  const tensors: GgufTensorSpec[] = [];
  const t = (name: string, type: string, dims: number[]) => tensors.push({ name, type, dims, data: () => [] });
  t("token_embd.weight", "q4_0", [dim, N_VOCAB]);
  for (let i = 0; i < layers; i++) {
    t(`blk.${i}.attn_norm.weight`, "f32", [dim]);
    t(`blk.${i}.attn_q.weight`, "q4_0", [dim, dim]);
    t(`blk.${i}.attn_k.weight`, "q4_0", [dim, kvDim]);
    t(`blk.${i}.attn_v.weight`, "q4_0", [dim, kvDim]);
    t(`blk.${i}.attn_output.weight`, "q4_0", [dim, dim]);
    t(`blk.${i}.ffn_norm.weight`, "f32", [dim]);
    t(`blk.${i}.ffn_gate.weight`, "q4_0", [dim, ff]);
    t(`blk.${i}.ffn_up.weight`, "q4_0", [dim, ff]);
    t(`blk.${i}.ffn_down.weight`, "q4_0", [ff, dim]);
  }
  t("output_norm.weight", "f32", [dim]);
  t("output.weight", "q4_0", [dim, N_VOCAB]);
  // Byte-level-looking tokens and merges of realistic lengths.
  const tokens = Array.from({ length: N_VOCAB }, (_, i) => `Ġtok${i.toString(36)}`);
  const merges = Array.from({ length: N_MERGES }, (_, i) => `Ġt${(i % 5000).toString(36)} o${i.toString(36)}`);
  const metadata = [
    kv.string("general.architecture", "llama"),
    kv.u32("llama.block_count", layers),
    kv.u32("llama.embedding_length", dim),
    kv.u32("llama.feed_forward_length", ff),
    kv.u32("llama.attention.head_count", heads),
    kv.u32("llama.attention.head_count_kv", kvHeads),
    kv.string("tokenizer.ggml.model", "gpt2"),
    kv.string("tokenizer.ggml.pre", "llama-bpe"),
    kv.strings("tokenizer.ggml.tokens", tokens),
    kv.i32s("tokenizer.ggml.token_type", new Int32Array(N_VOCAB).fill(1)),
    kv.strings("tokenizer.ggml.merges", merges),
  ];
  return { metadata, tensors };
}

export async function run(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-bench-"));
  const file = path.join(dir, "llama3-8b-shape-q4_0.gguf");
  const spec = llama3_8bSpec();
  const header = ggufChunks(spec).next().value as Uint8Array;
  fs.writeFileSync(file, header);
  const last = readLastTensorEnd(header.length, spec);
  fs.truncateSync(file, last);
  const size = fs.statSync(file).size;
  console.log(`gguf: ${file}: ${(size / 1e9).toFixed(2)} GB (sparse), header ${(header.length / 2 ** 20).toFixed(1)} MiB`);

  const bench = new Bench({ iterations: 10, warmupIterations: 2 });
  bench
    .add("cpu-llm readGguf (sync)", () => {
      readGguf(file);
    })
    .add("@huggingface/gguf (async)", async () => {
      await hfGguf(file, { allowLocalFile: true });
    });
  await bench.run();
  console.table(bench.table());
  const [ours, hf] = bench.tasks.map((t) => (t.result as { latency?: { mean: number } }).latency?.mean ?? NaN);
  console.log(`gguf: header read ${ours.toFixed(0)} ms (ours) vs ${hf.toFixed(0)} ms (@huggingface/gguf): ${(hf / ours).toFixed(1)}x`);

  // The `gguf` package the design card names: metadata only (no tensor table), and it fails on small files.
  const demo = path.resolve(import.meta.dirname, "../packages/engine/models/stories260K.gguf");
  for (const f of [demo, file]) {
    const t0 = performance.now();
    const r = await ggufPackage(f);
    const message = r.error?.message.replace(/\s+/g, " ").slice(0, 100);
    const outcome = r.error ? `error '${message}'` : `metadata only, ${(performance.now() - t0).toFixed(0)} ms`;
    console.log(`gguf: npm 'gguf' on ${path.basename(f)} (${(fs.statSync(f).size / 1e6).toFixed(1)} MB): ${outcome}`);
  }
  fs.rmSync(dir, { recursive: true });
}

function readLastTensorEnd(headerBytes: number, spec: ReturnType<typeof llama3_8bSpec>): number {
  // Offsets as the writer lays them out: each tensor padded to 32 bytes after the 32-aligned header.
  let end = headerBytes;
  for (const t of spec.tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const bytes = t.type === "f32" ? n * 4 : (n / 32) * 18;
    end += Math.ceil(bytes / 32) * 32;
  }
  return end;
}
