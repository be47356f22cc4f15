// Q8_1: the activation type of the weight types with a minimum (q4_1, q5_1). Blocks of 32: an f16 scale d,
// an f16 s = d·Σq, then 32 int8 (36 bytes). The minimum's term of a block is then m·s, one product.
import { f16ToF32 } from "./f16";
import { absMax32, f32ToF16, quantize32 } from "./q8_0";

export const Q8_1_BYTES: i32 = 36;

/**
 * Quantizes n activations (n % 32 == 0) into Q8_1 blocks as ggml-cpu does on x86 (quantize_row_q8_1, AVX2 path:
 * Q8_0's rounding, and s = f16(d · Σq) with d still in f32). Beside the blocks, `scales` gets per block d and s
 * as f32 (their half values), which the kernels read instead of the halves.
 */
export function quantizeRowQ8_1(dst: usize, scales: usize, src: usize, n: i32): void {
  for (let b = 0; b < n / 32; b++) {
    const x = src + <usize>(b * 128);
    const amax = absMax32(x);
    const o = dst + <usize>(b * Q8_1_BYTES);
    const d: f32 = amax / 127;
    store<u16>(o, <u16>f32ToF16(d));
    const sum = quantize32(o + 4, x, amax);
    store<u16>(o, <u16>f32ToF16(d * <f32>sum), 2);
    store<f32>(scales + <usize>(b * 8), f16ToF32(load<u16>(o)));
    store<f32>(scales + <usize>(b * 8), f16ToF32(load<u16>(o, 2)), 4);
  }
}
