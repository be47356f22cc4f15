// Q8_1: the activation type of the weight types with a minimum (q4_1, q5_1). Blocks of 32: an f16 scale d,
// an f16 s = d·Σq, then 32 int8 (36 bytes). The minimum's term of a block is then m·s, one product.
import { f16ToF32 } from "./f16";
import { f32ToF16 } from "./q8_0";

export const Q8_1_BYTES: i32 = 36;

/**
 * Quantizes n activations (n % 32 == 0) into Q8_1 blocks as ggml-cpu does on x86 (quantize_row_q8_1, AVX2 path:
 * id = 127/amax, round half to even, s = f16(d · Σq) with d still in f32). Beside the blocks, `scales` gets per
 * block d and s as f32 (their half values), which the kernels read instead of the halves.
 */
export function quantizeRowQ8_1(dst: usize, scales: usize, src: usize, n: i32): void {
  for (let b = 0; b < n / 32; b++) {
    const x = src + <usize>(b * 128);
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
    m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    const amax = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const o = dst + <usize>(b * Q8_1_BYTES);
    const d: f32 = amax / 127;
    store<u16>(o, <u16>f32ToF16(d));
    const id = f32x4.splat(amax != 0 ? <f32>127 / amax : 0);
    const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, id)));
    const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, id)));
    const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, id)));
    const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, id)));
    const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, id)));
    const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, id)));
    const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, id)));
    const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, id)));
    v128.store(o + 4, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    v128.store(o + 20, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)));
    const s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
    const sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
    store<u16>(o, <u16>f32ToF16(d * <f32>sum), 2);
    store<f32>(scales + <usize>(b * 8), f16ToF32(load<u16>(o)));
    store<f32>(scales + <usize>(b * 8), f16ToF32(load<u16>(o, 2)), 4);
  }
}
