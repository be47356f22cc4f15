// Half to float without branches: (bits << 13) read as a float, times 2^112, is the magnitude of every finite
// half (zero, subnormal, normal); infinities and NaNs are selected separately. One multiply, no table.
@inline
export function f16ToF32(h: u32): f32 {
  const rest = h & 0x7fff;
  const finite = reinterpret<f32>(rest << 13) * 5.192296858534828e33;
  const special = reinterpret<f32>(0x7f800000 | ((rest & 0x3ff) << 13));
  const magnitude = select<f32>(special, finite, rest >= 0x7c00);
  return reinterpret<f32>(reinterpret<u32>(magnitude) | ((h & 0x8000) << 16));
}
