// Float sine and cosine as glibc computes sinf/cosf (sysdeps/ieee754/flt-32/s_sinf.c, s_cosf.c, s_sincosf.h:
// the Arm optimized-routines algorithm, glibc ≥ 2.28). ggml's rope_yarn calls sinf/cosf for every RoPE angle,
// and Math.sin/Math.cos rounded to float differ from them by one ulp on about 2% of the angles a 512-token
// prompt uses: through 32 layers that moved Baichuan's logits by 0.05. The algorithm, in double precision:
// reduce the angle by π/2 (one multiply below 120, exact integer arithmetic on 4/π's bits above), then a
// degree-7 sine or degree-8 cosine polynomial on [-π/4, π/4], rounded to float once.
const fround = Math.fround;

interface Poly {
  readonly c0: number; readonly c1: number; readonly c2: number; readonly c3: number; readonly c4: number;
  readonly s1: number; readonly s2: number; readonly s3: number;
}
const S = { s1: -0.16666654943701084, s2: 0.008332178146138854, s3: -0.00019517298981385725 };
/** The second polynomial computes -cos, so the quadrant's sign comes for free. */
const POLY: readonly [Poly, Poly] = [
  { c0: 1, c1: -0.49999999725108224, c2: 0.041666623324344516, c3: -0.001388676379437604, c4: 2.4390450703564542e-05, ...S },
  { c0: -1, c1: 0.49999999725108224, c2: -0.041666623324344516, c3: 0.001388676379437604, c4: -2.4390450703564542e-05, ...S },
];
const QUADRANT_SIGN = [1, -1, -1, 1];
const HALF_PI = 1.5707963267948966;
const INV_HALF_PI_2_24 = 10680707.430881744; // 2/π · 2^24
const PI_2_63 = 3.4061215800865545e-19; // 2π · 2^-64
/** 4/π to 192 bits, 8 new bits per entry so any 96-bit window is three aligned words. */
const INV_PIO4 = [
  0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e, 0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529, 0x441529fc, 0x1529fc27,
  0x29fc2757, 0xfc2757d1, 0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0, 0x34ddc0db, 0xddc0db62, 0xc0db6295,
  0xdb629599, 0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
].map(BigInt);

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);
/** The sign-less exponent and top mantissa bits of a float, for cheap range checks. */
function top12(bitsOfX: number): number {
  return (bitsOfX >>> 20) & 0x7ff;
}
const TOP12_PIO4 = 0x3f4; // 0x3f490fdb, float(π/4)
const TOP12_2_M12 = 0x398; // 0x39800000, 2^-12
const TOP12_120 = 0x42f; // 0x42f00000, 120

/** The polynomial for sin (n even) or cos (n odd) of x in [-π/4, π/4], x2 = x². */
function poly(x: number, x2: number, p: Poly, n: number): number {
  if ((n & 1) === 0) {
    const x3 = x * x2;
    const s1 = p.s2 + x2 * p.s3;
    const x7 = x3 * x2;
    const s = x + x3 * p.s1;
    return fround(s + x7 * s1);
  }
  const x4 = x2 * x2;
  const c2 = p.c3 + x2 * p.c4;
  const c1 = p.c0 + x2 * p.c1;
  const x6 = x4 * x2;
  const c = c1 + x4 * p.c2;
  return fround(c + x6 * c2);
}

/** A float of magnitude ≥ 120 reduced by π/2 with its bits (xi) times 4/π's: [x in [-π/4, π/4], quadrant]. */
function reduceLarge(xi: number): [number, number] {
  const at = (xi >>> 26) & 15;
  const shift = (xi >>> 23) & 7;
  const m = BigInt((((xi & 0xffffff) | 0x800000) << shift) >>> 0);
  const mask64 = (1n << 64n) - 1n;
  let res0 = (m * INV_PIO4[at]) & 0xffffffffn; // a uint32 product, as in C
  const res1 = m * INV_PIO4[at + 4];
  const res2 = m * INV_PIO4[at + 8];
  res0 = ((res2 >> 32n) | (res0 << 32n)) & mask64;
  res0 = (res0 + res1) & mask64;
  const n = ((res0 + (1n << 61n)) & mask64) >> 62n;
  res0 = (res0 - (n << 62n)) & mask64;
  return [Number(BigInt.asIntN(64, res0)) * PI_2_63, Number(n)];
}

function sinOrCos(y: number, cos: 0 | 1): number {
  asFloat[0] = y;
  const xi = bits[0];
  const t = top12(xi);
  let x = asFloat[0];
  if (t < TOP12_PIO4) {
    if (t < TOP12_2_M12) return cos ? 1 : x;
    return poly(x, x * x, POLY[0], cos);
  }
  let q: number;
  let quadrant: number; // picks the sign and the polynomial: q, and with the input's sign above 120
  if (t < TOP12_120) {
    // Nearest quadrant by a truncating int32 conversion of x · 2/π · 2^24, as the C code does.
    q = (((x * INV_HALF_PI_2_24) | 0) + 0x800000) >> 24;
    x -= q * HALF_PI;
    quadrant = q;
  } else if (t < 0x7f8) {
    [x, q] = reduceLarge(xi);
    quadrant = q + (xi >>> 31);
  } else {
    return NaN;
  }
  const s = QUADRANT_SIGN[quadrant & 3];
  return poly(x * s, x * x, POLY[(quadrant & 2) >> 1], q ^ cos);
}

/** sinf(x) for a float x, bit-equal to glibc's. */
export function sinF32(x: number): number {
  return sinOrCos(x, 0);
}

/** cosf(x) for a float x, bit-equal to glibc's. */
export function cosF32(x: number): number {
  return sinOrCos(x, 1);
}
