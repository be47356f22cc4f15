export { WorkerPool, Arena, KERNEL_NAMES, type Call, type KernelName, type PoolOptions } from "./workerPool.js";
export { MatMul, splitRows, type ShardedMatrix, type MatrixShard, type MatMulPlan } from "./shardedMatrix.js";
export { readFileInto, readRangesInto, type FileRead } from "./readFileInto.js";
