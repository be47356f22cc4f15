export { WorkerPool, Arena, type Call, type PoolOptions } from "./workerPool.js";
export { MatMul, splitRows, type ShardedMatrix, type MatrixShard, type MatMulPlan, type GgmlMatMulOp } from "./shardedMatrix.js";
export { readFileInto, readRangesInto, type FileRead } from "./readFileInto.js";
