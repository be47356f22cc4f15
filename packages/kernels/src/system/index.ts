export { parseCpuList, formatCpuList } from "./cpuList.js";
export { readTopology, readCpuQuota, planThreads, type CpuTopology, type PhysicalCore, type ThreadPlan } from "./topology.js";
