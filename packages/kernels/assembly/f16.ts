// Half to float by bit manipulation: normal halves rebias the exponent; subnormals go through one float multiply.
@inline
export function f16ToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const rest = h & 0x7fff;
  if (rest < 0x0400) {
    // Subnormal or zero: rest × 2^-24, exact in f32.
    return reinterpret<f32>(sign | reinterpret<u32>(<f32>rest * 5.9604644775390625e-8));
  }
  if (rest >= 0x7c00) return reinterpret<f32>(sign | 0x7f800000 | ((rest & 0x3ff) << 13));
  return reinterpret<f32>(sign | ((rest << 13) + 0x38000000));
}
