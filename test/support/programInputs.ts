// Inputs for tests that hold two runs of one fused scalar program to each other bit for bit: values that include
// the awkward ones (both zeros, NaN, the infinities, a subnormal, a float32 near its limit), and a delay history
// that answers every read (and its adjoint) with a number made from its arguments, the same for every run.
import fc from 'fast-check';
import type { DelayReader } from '../../solver/engine/programInterpreter';

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
