// `pnpm bench experts`: where a mixture-of-experts model's experts live. "rows" splits every expert's rows
// across all threads (each chosen expert is one product that every thread works on); "whole" deals whole
// experts to threads round-robin and runs one expert per thread side by side (fewer dispatches, but a thread
// idles when the chosen experts are not spread evenly). Both give the same logits (test/deepseek2Fidelity).
// Prefill (pp, 32-row passes) and decode (tg, one row) tokens/s, the two placements alternated over ROUNDS.
// CPU_LLM_BENCH_MODEL: a MoE GGUF (e.g. `cpu-llm synth --arch deepseek2 --preset lite`); CPU_LLM_BENCH_THREADS.
import { kvTypeByName, readGguf, Transformer } from "@cpu-llm/engine";
import { WorkerPool } from "@cpu-llm/kernels";

const MODEL = process.env.CPU_LLM_BENCH_MODEL;
const THREADS = Number(process.env.CPU_LLM_BENCH_THREADS ?? 2);
const ROUNDS = Number(process.env.CPU_LLM_BENCH_ROUNDS ?? 2);
const PP = 128;
const TG = 64;

async function measure(placement: "rows" | "whole"): Promise<{ pp: number; tg: number; load: number }> {
  const pool = await WorkerPool.create({ threads: THREADS });
  try {
    const file = readGguf(MODEL!);
    const t0 = performance.now();
    const model = Transformer.load(file, pool, { expertPlacement: placement });
    const load = (performance.now() - t0) / 1000;
    const cache = model.createCache({ sequences: 1, contextSize: PP + TG + 8, keyType: kvTypeByName("f16"), valueType: kvTypeByName("f16") });
    const vocab = model.hp.nVocab;
    const token = (i: number) => (i * 7919 + 13) % vocab;
    let t = performance.now();
    for (let pos = 0; pos < PP; pos += model.maxBatch) {
      const n = Math.min(model.maxBatch, PP - pos);
      model.forward(cache, Array.from({ length: n }, (_, i) => ({ token: token(pos + i), sequence: 0, position: pos + i, logits: pos + i === PP - 1 })));
    }
    const pp = PP / ((performance.now() - t) / 1000);
    t = performance.now();
    for (let i = 0; i < TG; i++) model.forward(cache, [{ token: token(PP + i), sequence: 0, position: PP + i, logits: true }]);
    const tg = TG / ((performance.now() - t) / 1000);
    return { pp, tg, load };
  } finally {
    await pool.close();
  }
}

export async function run(): Promise<void> {
  if (!MODEL) {
    console.log("experts: set CPU_LLM_BENCH_MODEL to a MoE GGUF (cpu-llm synth --arch deepseek2 --preset lite -o FILE)");
    return;
  }
  console.log(`experts: ${MODEL}, ${THREADS} threads, pp${PP} in passes of 32 rows, tg${TG}, placements alternated`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const placement of ["rows", "whole"] as const) {
      const r = await measure(placement);
      console.log(JSON.stringify({ round, placement, pp_ts: +r.pp.toFixed(2), tg_ts: +r.tg.toFixed(2), load_s: +r.load.toFixed(1) }));
    }
  }
}
