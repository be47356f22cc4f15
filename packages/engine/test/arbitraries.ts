// fast-check generators for GGUF files: any metadata value type (nested arrays included) and small tensors.
import fc from "fast-check";
import { GgufType, type GgufArray, type GgufKv, type GgufSpec, type GgufValue } from "@cpu-llm/engine";

const f32 = fc.float({ noNaN: true });
const scalar = (type: GgufType): fc.Arbitrary<GgufValue> => {
  switch (type) {
    case GgufType.UINT8: return fc.integer({ min: 0, max: 0xff });
    case GgufType.INT8: return fc.integer({ min: -0x80, max: 0x7f });
    case GgufType.UINT16: return fc.integer({ min: 0, max: 0xffff });
    case GgufType.INT16: return fc.integer({ min: -0x8000, max: 0x7fff });
    case GgufType.UINT32: return fc.integer({ min: 0, max: 0xffffffff });
    case GgufType.INT32: return fc.integer({ min: -0x80000000, max: 0x7fffffff });
    case GgufType.FLOAT32: return f32;
    case GgufType.FLOAT64: return fc.double({ noNaN: true });
    case GgufType.UINT64: return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case GgufType.INT64: return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case GgufType.BOOL: return fc.boolean();
    case GgufType.STRING: return fc.string({ unit: "binary", maxLength: 20 });
    default: throw new Error(`not scalar: ${type}`);
  }
};

const TYPED = {
  [GgufType.UINT8]: Uint8Array, [GgufType.INT8]: Int8Array, [GgufType.UINT16]: Uint16Array, [GgufType.INT16]: Int16Array,
  [GgufType.UINT32]: Uint32Array, [GgufType.INT32]: Int32Array, [GgufType.FLOAT32]: Float32Array, [GgufType.FLOAT64]: Float64Array,
  [GgufType.UINT64]: BigUint64Array, [GgufType.INT64]: BigInt64Array,
} as Record<number, { from(items: Iterable<unknown>): ArrayLike<unknown> }>;

const SCALAR_TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12] as GgufType[];

export const ggufArray: fc.Memo<GgufArray> = fc.memo((depth: number) => {
  const flat = fc.constantFrom(...SCALAR_TYPES).chain((itemType) =>
    fc.array(scalar(itemType), { maxLength: 6 }).map((items): GgufArray => ({
      itemType,
      items: (TYPED[itemType] ? TYPED[itemType].from(items) : items) as GgufArray["items"],
    })),
  );
  if (depth <= 1) return flat;
  return fc.oneof(flat, fc.array(ggufArray(depth - 1), { maxLength: 3 }).map((items): GgufArray => ({ itemType: GgufType.ARRAY, items })));
});

export const ggufKv = (key: string): fc.Arbitrary<GgufKv> =>
  fc.oneof(
    fc.constantFrom(...SCALAR_TYPES).chain((type) => scalar(type).map((value): GgufKv => ({ key, type, value }))),
    ggufArray(3).map((value): GgufKv => ({ key, type: GgufType.ARRAY, value })),
  );

export const ggufMetadata = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 8 })
  .chain((keys) => (keys.length ? fc.tuple(...keys.map((k) => ggufKv(k))) : fc.constant([] as GgufKv[])));

/** A small valid file: random metadata and a few F32/F16/Q8_0/Q4_0 tensors. */
export const ggufSpec: fc.Arbitrary<GgufSpec> = fc.record({
  metadata: ggufMetadata,
  tensors: fc
    .uniqueArray(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 4 })
    .chain((names) =>
      fc.tuple(
        ...names.map((name) =>
          fc.record({
            name: fc.constant(name),
            type: fc.constantFrom("f32", "f16", "q8_0", "q4_0"),
            dims: fc.tuple(fc.integer({ min: 1, max: 2 }).map((b) => b * 32), fc.integer({ min: 1, max: 3 })),
          }).chain((t) =>
            fc.float32Array({ minLength: t.dims[0] * t.dims[1], maxLength: t.dims[0] * t.dims[1], noNaN: true, min: -8, max: 8 })
              .map((data) => ({ ...t, dims: [...t.dims], data })),
          ),
        ),
      ),
    ),
}) as fc.Arbitrary<GgufSpec>;
