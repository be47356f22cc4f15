import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatCpuList, parseCpuList, planThreads, readTopology } from "../src/system/index.js";

const roots: string[] = [];
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

/** Writes a sysfs/procfs-like tree: files given by path relative to the root. */
function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cpu-llm-topo-"));
  roots.push(root);
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), content);
  }
  return root;
}

/** A machine: sockets × nodes per socket × cores per node, with SMT siblings numbered like Linux does (cpu + total cores). */
function machine(opts: { sockets: number; nodesPerSocket: number; coresPerNode: number; smt: boolean; status?: string; cgroup?: Record<string, string> }) {
  const totalCores = opts.sockets * opts.nodesPerSocket * opts.coresPerNode;
  const files: Record<string, string> = {};
  const nodeCpus: number[][] = [];
  for (let core = 0; core < totalCores; core++) {
    const node = Math.floor(core / opts.coresPerNode);
    const socket = Math.floor(node / opts.nodesPerSocket);
    const siblings = opts.smt ? [core, core + totalCores] : [core];
    for (const cpu of siblings) {
      files[`sys/devices/system/cpu/cpu${cpu}/topology/thread_siblings_list`] = formatCpuList(siblings);
      files[`sys/devices/system/cpu/cpu${cpu}/topology/physical_package_id`] = `${socket}\n`;
      (nodeCpus[node] ??= []).push(cpu);
    }
  }
  const nCpus = totalCores * (opts.smt ? 2 : 1);
  files["sys/devices/system/cpu/online"] = `0-${nCpus - 1}\n`;
  nodeCpus.forEach((cpus, node) => (files[`sys/devices/system/node/node${node}/cpulist`] = `${formatCpuList(cpus)}\n`));
  files["proc/self/status"] = `Name:\tnode\n${opts.status ?? `Cpus_allowed_list:\t0-${nCpus - 1}`}\nMems_allowed_list:\t0\n`;
  Object.assign(files, opts.cgroup ?? { "proc/self/cgroup": "0::/\n" });
  return tree(files);
}

describe("CPU lists", () => {
  it("parse and format the kernel's notation", () => {
    expect(parseCpuList("0-3,8,10-11\n")).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList("")).toEqual([]);
    expect(formatCpuList([11, 0, 1, 2, 3, 8, 10])).toBe("0-3,8,10-11");
    expect(() => parseCpuList("a-b")).toThrow(/not a CPU list/);
  });
});

describe("topology from fixture trees", () => {
  it("2 sockets × 4 NUMA nodes with SMT: one thread per core, never on a sibling, grouped by node", () => {
    const t = readTopology(machine({ sockets: 2, nodesPerSocket: 2, coresPerNode: 4, smt: true }));
    expect(t.logicalCpus).toHaveLength(32);
    expect(t.cores).toHaveLength(16);
    expect(t.cores[0]).toEqual({ cpus: [0, 16], package: 0, node: 0 });
    expect(t.cores[15]).toMatchObject({ package: 1, node: 3 });
    expect(t.numaNodes.map((n) => n.id)).toEqual([0, 1, 2, 3]);
    const plan = planThreads(t);
    expect(plan.cpus).toHaveLength(16);
    expect(plan.cpus.every((c) => c < 16)).toBe(true); // no SMT sibling (16-31) used
    expect(plan.byNode.map((g) => [g.node, g.cpus.length])).toEqual([[0, 4], [1, 4], [2, 4], [3, 4]]);
    // A smaller request spreads over the nodes in turn.
    expect(planThreads(t, 4).byNode.map((g) => g.cpus)).toEqual([[0], [4], [8], [12]]);
    // More than the cores: siblings, as llama.cpp -t would.
    expect(planThreads(t, 20).cpus).toHaveLength(20);
  });

  it("a container with a 2-CPU quota on a 64-core host uses 2 threads", () => {
    const root = machine({
      sockets: 1, nodesPerSocket: 1, coresPerNode: 64, smt: false,
      cgroup: { "proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "200000 100000\n" },
    });
    const t = readTopology(root);
    expect(t.quota).toBe(2);
    expect(planThreads(t).cpus).toEqual([0, 1]);
    expect(planThreads(t, 8).cpus).toHaveLength(8); // an explicit request wins over the quota
  });

  it("cgroup v2: the tightest quota of the cgroup and its ancestors; v1: cfs_quota_us / cfs_period_us", () => {
    const v2 = readTopology(machine({
      sockets: 1, nodesPerSocket: 1, coresPerNode: 8, smt: false,
      cgroup: {
        "proc/self/cgroup": "0::/kubepods/pod1/ctr\n",
        "sys/fs/cgroup/kubepods/cpu.max": "max 100000\n",
        "sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",
        "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
      },
    }));
    expect(v2.quota).toBe(1.5);
    expect(planThreads(v2).cpus).toEqual([0]);
    const v1 = readTopology(machine({
      sockets: 1, nodesPerSocket: 1, coresPerNode: 8, smt: false,
      cgroup: {
        "proc/self/cgroup": "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n",
        "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
        "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
      },
    }));
    expect(v1.quota).toBe(3);
    const unlimited = readTopology(machine({
      sockets: 1, nodesPerSocket: 1, coresPerNode: 4, smt: false,
      cgroup: { "proc/self/cgroup": "1:cpu:/\n", "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n", "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n" },
    }));
    expect(unlimited.quota).toBeUndefined();
  });

  it("respects the affinity mask: only allowed CPUs, still one per core", () => {
    const t = readTopology(machine({ sockets: 1, nodesPerSocket: 1, coresPerNode: 4, smt: true, status: "Cpus_allowed_list:\t2-3,6-7" }));
    expect(t.allowedCpus).toEqual([2, 3, 6, 7]);
    expect(planThreads(t).cpus).toEqual([2, 3]);
  });

  it("a VM with no topology files: every CPU its own core, one node, and notes that say so", () => {
    const t = readTopology(tree({ "sys/devices/system/cpu/online": "0-3\n", "proc/self/status": "Cpus_allowed_list:\t0-3\n" }));
    expect(t.cores).toHaveLength(4);
    expect(t.numaNodes).toEqual([{ id: 0, cpus: [0, 1, 2, 3] }]);
    expect(planThreads(t).cpus).toEqual([0, 1, 2, 3]);
    expect(t.notes.join("; ")).toMatch(/no SMT sibling information/);
    expect(t.notes.join("; ")).toMatch(/no NUMA information/);
  });

  it("an empty root (no /sys, no /proc) still gives a usable plan", () => {
    const t = readTopology(tree({ "README": "empty" }));
    expect(t.logicalCpus.length).toBeGreaterThan(0);
    expect(planThreads(t).cpus.length).toBeGreaterThan(0);
  });

  it("reads this machine", () => {
    const t = readTopology();
    expect(t.logicalCpus.length).toBeGreaterThan(0);
    expect(planThreads(t).cpus.length).toBeGreaterThan(0);
  });
});
