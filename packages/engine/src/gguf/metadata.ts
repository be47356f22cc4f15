// Typed access to GGUF metadata: a key of the wrong type is a GgufFormatError naming key and offset.
import { GgufFormatError } from "./errors.js";
import type { GgufFile } from "./readGguf.js";
import { GgufType, type GgufArray, type GgufKv } from "./values.js";

function wrongType(file: GgufFile, kv: GgufKv, expected: string): never {
  throw new GgufFormatError(`metadata '${kv.key}' is ${GgufType[kv.type]}, expected ${expected}`, kv.offset ?? 0, file.path);
}

export function metaString(file: GgufFile, key: string): string | undefined {
  const kv = file.metadata.get(key);
  if (kv === undefined) return undefined;
  if (typeof kv.value !== "string") wrongType(file, kv, "a string");
  return kv.value;
}

/** Any numeric scalar as a number; a u64/i64 beyond 2^53 is an error rather than a rounded value. */
export function metaNumber(file: GgufFile, key: string): number | undefined {
  const kv = file.metadata.get(key);
  if (kv === undefined) return undefined;
  if (typeof kv.value === "number") return kv.value;
  if (typeof kv.value === "bigint" && kv.value <= BigInt(Number.MAX_SAFE_INTEGER) && kv.value >= -BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(kv.value);
  }
  return wrongType(file, kv, "a number");
}

export function metaBool(file: GgufFile, key: string): boolean | undefined {
  const kv = file.metadata.get(key);
  if (kv === undefined) return undefined;
  if (typeof kv.value !== "boolean") wrongType(file, kv, "a bool");
  return kv.value;
}

export function metaArray(file: GgufFile, key: string, itemType?: GgufType): GgufArray | undefined {
  const kv = file.metadata.get(key);
  if (kv === undefined) return undefined;
  if (kv.type !== GgufType.ARRAY) wrongType(file, kv, "an array");
  const array = kv.value as GgufArray;
  if (itemType !== undefined && array.itemType !== itemType) wrongType(file, kv, `an array of ${GgufType[itemType]}`);
  return array;
}

export function metaStrings(file: GgufFile, key: string): string[] | undefined {
  return metaArray(file, key, GgufType.STRING)?.items as string[] | undefined;
}

/** A JSON-friendly rendering of a value (bigints as numbers when safe, long arrays summarised). */
export function describeValue(kv: GgufKv, maxItems = 8): string {
  const one = (v: unknown): string =>
    typeof v === "string" ? JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v) : String(v);
  if (kv.type !== GgufType.ARRAY) return one(kv.value);
  const array = kv.value as GgufArray;
  const items = Array.from(array.items as ArrayLike<unknown>);
  const shown = items.slice(0, maxItems).map((v) => (typeof v === "object" && v !== null ? "[…]" : one(v)));
  return `[${shown.join(", ")}${items.length > maxItems ? `, … ${items.length} ${GgufType[array.itemType].toLowerCase()}s` : ""}]`;
}
