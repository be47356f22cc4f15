// What a loaded model uses of this machine, for startup lines and health reports: its threads and where they
// run, the cores it sees, WebAssembly's features. Worked out once, in loadModel, from the plan it pins by.
import { formatCpuList, wasmFeatures, type CpuTopology, type ThreadPlan } from "@cpu-llm/kernels";

export interface Machine {
  readonly threads: number;
  /** The threads' CPUs by NUMA node, as Linux spells CPU lists ("0-3,8"). Empty CPU lists when not pinned. */
  readonly threadsByNode: readonly { readonly node: number; readonly cpus: string }[];
  readonly physicalCores: number;
  readonly logicalCores: number;
  readonly simd: boolean;
  readonly relaxedSimd: boolean;
}

export function describeMachine(topology: CpuTopology, plan: ThreadPlan): Machine {
  const features = wasmFeatures();
  return {
    threads: plan.cpus.length,
    threadsByNode: plan.byNode.map((g) => ({ node: g.node, cpus: formatCpuList(g.cpus) })),
    physicalCores: topology.cores.length,
    logicalCores: topology.logicalCpus.length,
    simd: features.simd,
    relaxedSimd: features.relaxedSimd,
  };
}

/** "2 threads (node 0: CPUs 0-1), 2 physical / 2 logical cores, SIMD yes, relaxed SIMD yes". */
export function machineLine(m: Machine): string {
  const yes = (b: boolean) => (b ? "yes" : "no");
  return `${m.threads} threads (${m.threadsByNode.map((g) => `node ${g.node}: CPUs ${g.cpus}`).join("; ")}), ` +
    `${m.physicalCores} physical / ${m.logicalCores} logical cores, SIMD ${yes(m.simd)}, relaxed SIMD ${yes(m.relaxedSimd)}`;
}
