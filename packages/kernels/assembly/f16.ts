// Half to float without branches or subnormal arithmetic: rebias the exponent; a subnormal half is
// renormalised by one subtraction of normal floats (2^-14·(1 + m/1024) - 2^-14 = m·2^-24); infinities and
// NaNs keep an all-ones exponent. (Multiplying the shifted bits by 2^112 is shorter, but computes on
// subnormal floats, which costs a microcode assist per operation on some x86 cores.)
@inline
export function f16ToF32(h: u32): f32 {
  const o = (h & 0x7fff) << 13;
  const exponent = o & 0x0f800000;
  const normal = reinterpret<f32>(o + 0x38000000);
  const subnormal = reinterpret<f32>(o + 0x38800000) - 6.103515625e-5;
  const special = reinterpret<f32>(o + 0x70000000);
  const magnitude = select<f32>(subnormal, select<f32>(special, normal, exponent == 0x0f800000), exponent == 0);
  return reinterpret<f32>(reinterpret<u32>(magnitude) | ((h & 0x8000) << 16));
}

/**
 * Every arena keeps a 65,536-entry half → float table (256 KiB) here, after a 64 KiB guard: weight scales
 * are then one load instead of a dozen instructions (the difference shows in matvec throughput). Callers put
 * nothing below KERNEL_RESERVED_BYTES (src/wasm/wasmKernels.ts).
 */
export const F16_TABLE: usize = 65536;

export function initF16Table(): void {
  for (let h: u32 = 0; h < 65536; h++) store<f32>(F16_TABLE + (<usize>h << 2), f16ToF32(h));
}

@inline
export function f16Lookup(h: u32): f32 {
  return load<f32>(F16_TABLE + (<usize>h << 2));
}
