// Q4_0 × Q8_0 dot products for a matrix ggml-cpu does not repack: weights are blocks of an f16 scale and 16
// bytes of nibbles (element j in the low nibble of byte j, element j+16 in the high), value = nibble - 8.
// Matrices it repacks (rows a multiple of 8) take q4_0x8.ts.
import { f16Lookup } from "./f16";
import { fmaLanes, hsum8, laneSumsI8, prepareI8 } from "./lanes";
import { Q8_0_BYTES } from "./q8_0";

export const Q4_0_BYTES: i32 = 18;

/**
 * Row of Q4_0 weights · Q8_0 activations for a matrix ggml-cpu does not repack (rows not a multiple of 8, as
 * stories260K's 172-row FFN): vec_dot_q4_0_q8_0's eight float lanes (lanes.ts), nibbles offset to -8..7 first.
 */
export function vecDotQ4_0Q8_0Unpacked(w: usize, x: usize, xs: usize, nb: i32): f32 {
  const mask = i8x16.splat(0x0f);
  const eight = i8x16.splat(8);
  let lo = f32x4.splat(0);
  let hi = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = f16Lookup(load<u16>(w)) * load<f32>(xs);
    const q = v128.load(w, 2);
    const x0 = v128.load(x, 2);
    const x1 = v128.load(x, 18);
    lo = fmaLanes(lo, d, laneSumsI8(i8x16.sub(v128.and(q, mask), eight), x0, prepareI8(x0)));
    hi = fmaLanes(hi, d, laneSumsI8(i8x16.sub(v128.and(i16x8.shr_u(q, 4), mask), eight), x1, prepareI8(x1)));
    w += <usize>Q4_0_BYTES;
    x += <usize>Q8_0_BYTES;
    xs += 8;
  }
  return hsum8(lo, hi);
}
