// GGUF metadata value types (gguf.h: enum gguf_type), numbered as in the file.

export enum GgufType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Items of an array value: numeric arrays as typed arrays, so a 150k-entry vocabulary stays compact. */
export type GgufItems =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];

export interface GgufArray {
  readonly itemType: GgufType;
  readonly items: GgufItems;
}

/** u64/i64 scalars are bigint (exact); other numbers are number. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

/** One metadata entry, typed as in the file, so a reader → writer round trip is exact. */
export interface GgufKv {
  readonly key: string;
  readonly type: GgufType;
  readonly value: GgufValue;
  /** Where the entry starts in the file it was read from. */
  readonly offset?: number;
}

/** Fixed byte sizes of scalar types; STRING and ARRAY are variable. */
export const SCALAR_BYTES: Partial<Record<GgufType, number>> = {
  [GgufType.UINT8]: 1,
  [GgufType.INT8]: 1,
  [GgufType.UINT16]: 2,
  [GgufType.INT16]: 2,
  [GgufType.UINT32]: 4,
  [GgufType.INT32]: 4,
  [GgufType.FLOAT32]: 4,
  [GgufType.BOOL]: 1,
  [GgufType.UINT64]: 8,
  [GgufType.INT64]: 8,
  [GgufType.FLOAT64]: 8,
};

/** The fewest bytes one item of this type can take in a file: bounds array counts before allocating. */
export function minItemBytes(type: GgufType): number {
  if (type === GgufType.STRING) return 8;
  if (type === GgufType.ARRAY) return 12;
  return SCALAR_BYTES[type] ?? 1;
}

export const TYPED_ARRAYS = {
  [GgufType.UINT8]: Uint8Array,
  [GgufType.INT8]: Int8Array,
  [GgufType.UINT16]: Uint16Array,
  [GgufType.INT16]: Int16Array,
  [GgufType.UINT32]: Uint32Array,
  [GgufType.INT32]: Int32Array,
  [GgufType.FLOAT32]: Float32Array,
  [GgufType.FLOAT64]: Float64Array,
  [GgufType.UINT64]: BigUint64Array,
  [GgufType.INT64]: BigInt64Array,
} as const;

export function isGgufType(n: number): n is GgufType {
  return Number.isInteger(n) && n >= 0 && n <= GgufType.FLOAT64;
}
