// CPU topology from Linux's own files, as pure functions over a root directory so tests can feed fixture
// trees: physical cores and their SMT siblings (/sys/devices/system/cpu/cpu*/topology), NUMA nodes
// (/sys/devices/system/node), the CPUs this process may run on (/proc/self/status) and its cgroup CPU quota
// (v2 cpu.max, v1 cpu.cfs_quota_us). Where a file is missing (a VM, a sandbox) it says so and falls back.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseCpuList } from "./cpuList.js";

export interface PhysicalCore {
  /** Logical CPUs of this core (SMT siblings), lowest first. */
  readonly cpus: readonly number[];
  readonly package: number;
  readonly node: number;
}

export interface CpuTopology {
  readonly logicalCpus: readonly number[];
  readonly cores: readonly PhysicalCore[];
  readonly numaNodes: readonly { readonly id: number; readonly cpus: readonly number[] }[];
  /** CPUs this process may run on (its affinity mask). */
  readonly allowedCpus: readonly number[];
  /** The cgroup CPU quota in CPUs (e.g. 2 for "200000 100000"), undefined when unlimited. */
  readonly quota: number | undefined;
  /** What could not be read, so `cpu-llm system` can say why it guessed. */
  readonly notes: readonly string[];
}

const read = (root: string, file: string): string | undefined => {
  try {
    return fs.readFileSync(path.join(root, file), "utf8");
  } catch {
    return undefined;
  }
};

function listDir(root: string, dir: string, pattern: RegExp): number[] {
  try {
    return fs
      .readdirSync(path.join(root, dir))
      .map((name) => pattern.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/** Reads the topology under root ("/" for this machine). */
export function readTopology(root = "/"): CpuTopology {
  const notes: string[] = [];
  const online = read(root, "sys/devices/system/cpu/online");
  let logicalCpus = online !== undefined ? parseCpuList(online) : listDir(root, "sys/devices/system/cpu", /^cpu(\d+)$/);
  if (logicalCpus.length === 0) {
    logicalCpus = os.availableParallelism ? Array.from({ length: os.availableParallelism() }, (_, i) => i) : [0];
    notes.push(`no /sys/devices/system/cpu: assuming ${logicalCpus.length} CPUs from Node`);
  }

  const nodes = listDir(root, "sys/devices/system/node", /^node(\d+)$/).map((id) => ({
    id,
    cpus: parseCpuList(read(root, `sys/devices/system/node/node${id}/cpulist`) ?? ""),
  }));
  const numaNodes = nodes.length > 0 ? nodes.filter((n) => n.cpus.length > 0) : [{ id: 0, cpus: logicalCpus }];
  if (nodes.length === 0) notes.push("no NUMA information: one node");
  const nodeOf = new Map<number, number>();
  for (const n of numaNodes) for (const c of n.cpus) nodeOf.set(c, n.id);

  const coreByKey = new Map<string, { cpus: number[]; package: number; node: number }>();
  let missingTopology = false;
  for (const cpu of logicalCpus) {
    const dir = `sys/devices/system/cpu/cpu${cpu}/topology`;
    const siblings = read(root, `${dir}/thread_siblings_list`) ?? read(root, `${dir}/core_cpus_list`);
    const pkg = Number(read(root, `${dir}/physical_package_id`) ?? 0);
    if (siblings === undefined) missingTopology = true;
    const group = siblings === undefined ? [cpu] : parseCpuList(siblings);
    const key = group.join(",");
    if (!coreByKey.has(key)) coreByKey.set(key, { cpus: group.filter((c) => logicalCpus.includes(c)), package: pkg, node: nodeOf.get(cpu) ?? 0 });
  }
  if (missingTopology) notes.push("no SMT sibling information: each logical CPU counted as a core");
  const cores = [...coreByKey.values()].filter((c) => c.cpus.length > 0).sort((a, b) => a.cpus[0] - b.cpus[0]);

  const status = read(root, "proc/self/status");
  const allowedLine = status?.match(/^Cpus_allowed_list:\s*(.*)$/m)?.[1];
  const allowedCpus = allowedLine !== undefined ? parseCpuList(allowedLine).filter((c) => logicalCpus.includes(c)) : logicalCpus;
  if (allowedLine === undefined) notes.push("no Cpus_allowed_list in /proc/self/status: all CPUs allowed");

  return { logicalCpus, cores, numaNodes, allowedCpus, quota: readCpuQuota(root, notes), notes };
}

/** The tightest CPU quota on this process's cgroup and its ancestors, in CPUs. */
export function readCpuQuota(root: string, notes: string[] = []): number | undefined {
  const cgroups = read(root, "proc/self/cgroup");
  if (cgroups === undefined) return undefined;
  let quota: number | undefined;
  const tighten = (q: number) => (quota = quota === undefined ? q : Math.min(quota, q));
  // Containers often show "/" as their own cgroup path: the ancestors walk then reads the mount's root.
  const ancestors = (p: string) => {
    const parts = p.split("/").filter(Boolean);
    return Array.from({ length: parts.length + 1 }, (_, i) => `/${parts.slice(0, parts.length - i).join("/")}`);
  };
  for (const line of cgroups.split("\n")) {
    const [, controllers, cgroupPath] = line.split(":");
    if (cgroupPath === undefined) continue;
    if (controllers === "") {
      for (const dir of ancestors(cgroupPath)) {
        const max = read(root, path.join("sys/fs/cgroup", dir, "cpu.max"))?.trim().split(/\s+/);
        if (max && max[0] !== "max" && Number(max[1]) > 0) tighten(Number(max[0]) / Number(max[1]));
      }
    } else if (controllers.split(",").includes("cpu")) {
      for (const mount of [`sys/fs/cgroup/${controllers}`, "sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu,cpuacct"]) {
        for (const dir of ancestors(cgroupPath)) {
          const q = Number(read(root, path.join(mount, dir, "cpu.cfs_quota_us")));
          const p = Number(read(root, path.join(mount, dir, "cpu.cfs_period_us")));
          if (q > 0 && p > 0) tighten(q / p);
        }
      }
    }
  }
  if (quota !== undefined) notes.push(`cgroup CPU quota: ${quota} CPUs`);
  return quota;
}

export interface ThreadPlan {
  /** One CPU per worker: the first allowed CPU of a distinct physical core. */
  readonly cpus: readonly number[];
  /** Workers grouped by NUMA node, so each group's weight shard can live on its own node. */
  readonly byNode: readonly { readonly node: number; readonly cpus: readonly number[] }[];
}

/**
 * Default threads: one per allowed physical core (never two on one SMT sibling pair), at most the cgroup
 * quota (rounded down, at least 1), spread across NUMA nodes in turn so a quota does not fill one node first.
 */
export function planThreads(t: CpuTopology, requested?: number): ThreadPlan {
  const allowed = new Set(t.allowedCpus);
  const perNode = new Map<number, number[]>();
  for (const core of t.cores) {
    const cpu = core.cpus.find((c) => allowed.has(c));
    if (cpu === undefined) continue;
    if (!perNode.has(core.node)) perNode.set(core.node, []);
    perNode.get(core.node)!.push(cpu);
  }
  const available = [...perNode.values()].reduce((n, l) => n + l.length, 0);
  const cap = t.quota !== undefined ? Math.max(1, Math.floor(t.quota)) : Infinity;
  // An explicit request may go past the quota and onto SMT siblings (as llama.cpp's -t), never past the allowed CPUs.
  const n = Math.max(1, requested !== undefined ? Math.min(requested, t.allowedCpus.length) : Math.min(available, cap));
  const queues = [...perNode.entries()].sort((a, b) => a[0] - b[0]).map(([node, cpus]) => ({ node, cpus: [...cpus] }));
  const chosen = new Map<number, number[]>();
  let picked = 0;
  while (picked < n && queues.some((q) => q.cpus.length > 0)) {
    for (const q of queues) {
      if (picked >= n || q.cpus.length === 0) continue;
      if (!chosen.has(q.node)) chosen.set(q.node, []);
      chosen.get(q.node)!.push(q.cpus.shift()!);
      picked++;
    }
  }
  for (const cpu of t.allowedCpus) {
    if (picked >= n) break;
    const core = t.cores.find((c) => c.cpus.includes(cpu));
    const node = core?.node ?? 0;
    if (chosen.get(node)?.includes(cpu)) continue;
    if (!chosen.has(node)) chosen.set(node, []);
    chosen.get(node)!.push(cpu);
    picked++;
  }
  const byNode = [...chosen.entries()].sort((a, b) => a[0] - b[0]).map(([node, cpus]) => ({ node, cpus }));
  return { cpus: byNode.flatMap((g) => g.cpus), byNode };
}
