// `pnpm bench pool`: what one dispatch to all threads costs. Our pool hands each worker its call through a
// shared control block (Atomics wait/notify after a short poll); piscina posts a message per task and
// resolves a promise. A decode step of a 1B model dispatches ~150 ops, so per-op cost must stay ~µs.
import * as os from "node:os";
import { Piscina } from "piscina";
import { Bench } from "tinybench";
import { planThreads, readTopology, WorkerPool } from "@cpu-llm/kernels";

export async function run(): Promise<void> {
  const plan = planThreads(readTopology());
  const threads = Math.max(2, plan.cpus.length);
  const pool = await WorkerPool.create({ threads, cpus: plan.cpus });
  const piscina = new Piscina({ filename: new URL("./piscinaTask.mjs", import.meta.url).href, minThreads: threads - 1, maxThreads: threads - 1 });
  await Promise.all(Array.from({ length: threads * 4 }, () => piscina.run(0))); // warm every piscina worker
  const bench = new Bench({ time: 1000, warmupTime: 200 });
  bench
    .add(`cpu-llm pool: empty op on ${threads} threads`, () => pool.run([]))
    .add(`piscina: ${threads - 1} empty tasks in parallel, awaited`, async () => {
      await Promise.all(Array.from({ length: threads - 1 }, () => piscina.run(0)));
    })
    .add("piscina: 1 empty task, awaited", async () => {
      await piscina.run(0);
    });
  await bench.run();
  console.log(`pool: ${os.cpus()[0]?.model}, Node ${process.versions.node}`);
  console.table(bench.tasks.map((t) => {
    const r = t.result as { latency: { mean: number; p50?: number } };
    return { task: t.name, "mean µs": (r.latency.mean * 1e3).toFixed(2), "p50 µs": ((r.latency.p50 ?? NaN) * 1e3).toFixed(2) };
  }));
  await pool.close();
  await piscina.destroy();
}
