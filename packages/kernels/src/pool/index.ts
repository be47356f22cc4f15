export { WorkerPool, Arena, KERNEL_NAMES, type Call, type KernelName, type PoolOptions } from "./workerPool.js";
export { MatVec, splitRows, type ShardedMatrix, type MatrixShard } from "./shardedMatrix.js";
