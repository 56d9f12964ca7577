// sin rounded to float32 as WebAssembly (engine/wasmSinFloat32.ts) gives Math.fround(Math.sin(x)) bit for bit: on random
// float32 and float64 arguments of every magnitude, near the multiples of π/512 its table is read at, around the
// argument beyond which it calls fdlibm, at the special values, and at the float32 arguments whose sine lies nearest
// a float32 rounding boundary, and at float64 arguments whose sine is one (where a short evaluation that trusted itself
// too far would round the other way).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wasmSinFloat32 } from '../../solver/engine/wasmSinFloat32';
import { Rng } from '../../solver/engine/random';

const sinFloat32 = wasmSinFloat32();
const bits = new Uint32Array(1),
  float = new Float32Array(bits.buffer);
const fromBits = (b: number) => {
  bits[0] = b;
  return float[0];
};

/** Distance from Math.sin(x) to the nearest float32 rounding boundary (a midpoint of two floats). */
function boundaryDistance(x: number): number {
  const y = Math.abs(Math.sin(x)),
    f = Math.fround(y);
  float[0] = f;
  const next = fromBits(y > f ? bits[0] + 1 : bits[0] - 1);
  return Math.abs(y - (f + next) / 2);
}

/**
 * The 16 float32 arguments in each of [2^-20, 1/16), [1/16, 16), [16, 256) and [256, 4096) whose sine lies nearest a
 * rounding boundary (those with |sin x| ≥ 2^-20), found by trying every float32 there: 10⁻¹⁸ to 3·10⁻¹⁵ from one.
 */
const HARDEST = [
  0x3a1285ff, 0x39e89768, 0x39e89769, 0x3a852018, 0x3a5352c7, 0x39e89767, 0x39e8976a, 0x3ab09237, 0x39e89766,
  0x3a7a8d31, 0x39e8976b, 0x3a128600, 0x39e89765, 0x3a1285fe, 0x39e8976c, 0x39e89764, 0x3dcf5597, 0x3ef3830f,
  0x417b379e, 0x3de26fd0, 0x40471c9b, 0x3ef32001, 0x40490630, 0x3df7d1b5, 0x401f2100, 0x417b5368, 0x3fa0fa4e,
  0x404913b2, 0x411933de, 0x40c8a0a4, 0x3d81047a, 0x3dea7b5c, 0x4371ade3, 0x433f9e7b, 0x41e25057, 0x420a3ade,
  0x42d44528, 0x42a35d44, 0x42e87a55, 0x43782f92, 0x4283f267, 0x41afee9c, 0x41c90992, 0x422ff123, 0x41fb538f,
  0x42a35c07, 0x41fb550c, 0x42490fdb, 0x453471fa, 0x4552e121, 0x447b53d3, 0x439539c4, 0x441539c4, 0x44db84cf,
  0x449539c4, 0x4384f128, 0x44750b47, 0x43f82f92, 0x44eec2d7, 0x439774af, 0x44e55616, 0x452c651b, 0x44107fdd,
  0x44f11e12,
].map(fromBits);

function same(x: number): void {
  const a = sinFloat32(x),
    b = Math.fround(Math.sin(x));
  if (!Object.is(a, b)) assert.fail(`sin(${x}) as float32: ${a} against Math.fround(Math.sin(x))'s ${b}`);
}

test('sin rounded to float32 as WebAssembly gives Math.fround(Math.sin(x)) on random arguments', () => {
  const rng = new Rng(23);
  for (const scale of [1e-12, 1e-6, 1e-3, 0.01, 0.1, 0.785, 1, 3.2, 10, 40, 100, 1000, 4096, 5000, 1e5, 1e9])
    for (let i = 0; i < 100000; i++) {
      const x = (2 * rng.uniform() - 1) * scale;
      same(Math.fround(x));
      same(x);
    }
});

test('sin rounded to float32 as WebAssembly: at its table points, its limit and the special values', () => {
  // The table's points mπ/512 and the midpoints between them, where the nearest m changes.
  for (let m = -3000; m <= 3000; m++)
    for (const at of [m, m + 0.5]) {
      const x = (at * Math.PI) / 512;
      for (const d of [0, 1e-12, -1e-12]) {
        same(x + d);
        same(Math.fround(x + d));
      }
    }
  // Around 4096, beyond which fdlibm is called.
  for (let b = -50; b <= 50; b++) {
    float[0] = 4096;
    const x = fromBits(bits[0] + b);
    same(x);
    same(-x);
  }
  for (const x of [0, -0, Number.NaN, Infinity, -Infinity, 5e-324, -5e-324, 1e-300, 2 ** -27, 1e300, -1e300]) same(x);
});

test('sin rounded to float32 as WebAssembly: arguments whose sine is a float32 rounding boundary', () => {
  // x = asin(μ) for μ halfway between two floats: Math.sin(x) is within a few 10⁻¹⁶ of μ, so which float it rounds to
  // hangs on its last bits, as it does for the short evaluation's own, and only fdlibm's decides.
  const rng = new Rng(29);
  let boundaries = 0;
  for (let i = 0; i < 20000; i++) {
    const f = Math.fround(2 ** (-12 * rng.uniform()) * 0.999);
    float[0] = f;
    const mid = (f + fromBits(bits[0] + 1)) / 2;
    const x = Math.asin(mid);
    if (boundaryDistance(x) < 1e-15) boundaries++;
    for (const y of [x, -x, Math.PI - x, x - 2 * Math.PI]) same(y);
  }
  assert.ok(boundaries > 15000, `${boundaries} of the 20,000 arguments within 10⁻¹⁵ of a boundary`);
});

test('sin rounded to float32 as WebAssembly: the float32 arguments whose sine lies nearest a rounding boundary', () => {
  // The list stays a list of hard cases: each within 3·10⁻¹⁵ of a boundary.
  for (const x of HARDEST) {
    assert.ok(boundaryDistance(x) < 3e-15, `${x}'s sine lies ${boundaryDistance(x)} from a boundary`);
    same(x);
    same(-x);
  }
});
