// Inputs for tests that hold two runs of one fused scalar program to each other bit for bit: values that include
// the awkward ones (both zeros, NaN, the infinities, a subnormal, a float32 near its limit), and a delay history
// that answers every read (and its adjoint) with a number made from its arguments, the same for every run.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DelayReader, Interpreter, Wanted } from '../../solver/engine/programInterpreter';

export const madeUpHistory: DelayReader = {
  read: (index, now, tau, constant) => Math.fround(Math.sin(index + 3 * now - 7 * tau) + (constant ? 0.5 : 0)),
  readBack: (index, now, tau, _constant, g) => g * Math.cos(index + now + tau),
};

const special = fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -3e38);

/** A state or parameter value: in [−4, 4] `ordinary` times in `ordinary + 1`, else one of the awkward ones. */
export function programValue(ordinary: number) {
  return fc.oneof(
    { weight: ordinary, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
    { weight: 1, arbitrary: special },
  );
}

/** The same numbers bit for bit (Object.is: NaN equal to NaN, −0 not to +0). */
export function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length);
  for (let k = 0; k < a.length; k++) if (!Object.is(a[k], b[k])) assert.fail(`${what}[${k}]: ${a[k]} ≠ ${b[k]}`);
}

/**
 * Two interpreters' reverse passes for `want`, each from the values in its own array of `values` (its forwardFor
 * first, unless the program has delays), the adjoints added into copies of `start`, held to each other bit for bit.
 */
export function sameReverse(
  pair: [Interpreter, Interpreter],
  values: [Float64Array, Float64Array],
  want: Wanted,
  at: { s: Float32Array; sAt: number; p: Float32Array; t: number; cot: ArrayLike<number>; delays: boolean },
  start: { vs: Float64Array; vp: Float64Array; vt: number },
): void {
  const r = pair.map((it, i) => {
    const v = values[i];
    // NaN where forwardFor computes nothing: a value the reverse pass reads must be one it computed.
    if (!at.delays) {
      v.fill(Number.NaN);
      it.forwardFor(want, at.s, at.sAt, at.p, at.t, v);
    }
    const vs = Float64Array.from(start.vs),
      vp = Float64Array.from(start.vp),
      vt = Float64Array.of(start.vt);
    it.reverse(v, at.cot, vs, vp, new Float64Array(v.length), want, madeUpHistory, at.t, vt);
    return { vs, vp, vt };
  });
  sameBits(r[0].vs, r[1].vs, `∂/∂s (want ${want})`);
  sameBits(r[0].vp, r[1].vp, `∂/∂p (want ${want})`);
  sameBits(r[0].vt, r[1].vt, `∂/∂t (want ${want})`);
}
