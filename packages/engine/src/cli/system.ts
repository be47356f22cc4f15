import { chooseKernels, formatCpuList, planThreads, readTopology, wasmFeatures, WorkerPool } from "@cpu-llm/kernels";
import { parseArgs } from "node:util";
import { oneLine, UsageError } from "./usage.js";

/** `cpu-llm system [--json]`: what the engine sees of this machine and what it would use. */
export async function systemCommand(args: string[]): Promise<void> {
  let json = false;
  try {
    json = parseArgs({ args, options: { json: { type: "boolean", default: false } }, strict: true }).values.json ?? false;
  } catch (e) {
    throw new UsageError(`${oneLine((e as Error).message)}\nusage: cpu-llm system [--json]`);
  }
  const topology = readTopology();
  const plan = planThreads(topology);
  const features = wasmFeatures();
  const choice = chooseKernels();
  // Start the pool the engine would start, to report what pinning actually did.
  const pool = await WorkerPool.create({ threads: plan.cpus.length, cpus: plan.cpus });
  const pinning = [...pool.pinning];
  await pool.close();
  const report = {
    logicalCores: topology.logicalCpus.length,
    physicalCores: topology.cores.length,
    numaNodes: topology.numaNodes.map((n) => ({ id: n.id, cpus: formatCpuList(n.cpus) })),
    allowedCpus: formatCpuList(topology.allowedCpus),
    quota: topology.quota ?? null,
    threads: plan.cpus.length,
    threadCpus: formatCpuList(plan.cpus),
    threadsByNode: plan.byNode.map((g) => ({ node: g.node, cpus: formatCpuList(g.cpus) })),
    pinning,
    simd: features.simd,
    relaxedSimd: features.relaxedSimd,
    memory64: features.memory64,
    kernelVariant: choice.variant,
    kernelReason: choice.reason,
    node: process.versions.node,
    notes: topology.notes,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  const yes = (b: boolean) => (b ? "yes" : "no");
  const lines = [
    `cores           ${report.logicalCores} logical, ${report.physicalCores} physical`,
    `NUMA nodes      ${report.numaNodes.map((n) => `node ${n.id}: ${n.cpus}`).join("; ")}`,
    `allowed CPUs    ${report.allowedCpus}`,
    `CPU quota       ${report.quota === null ? "none" : `${report.quota} CPUs (cgroup)`}`,
    `threads         ${report.threads} on CPUs ${report.threadCpus} (one per physical core${report.quota === null ? "" : ", within the quota"})`,
    ...pinning.map((p, i) => `  thread ${i}      ${p}`),
    `WebAssembly     SIMD ${yes(report.simd)}, relaxed SIMD ${yes(report.relaxedSimd)}, Memory64 ${yes(report.memory64)}`,
    `kernels         ${report.kernelVariant} (${report.kernelReason})`,
    `Node            ${report.node}`,
    ...report.notes.map((n) => `note            ${n}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
