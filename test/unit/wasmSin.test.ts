// Math.sin and Math.cos as WebAssembly (engine/wasmSin.ts: fdlibm's, as V8 computes them) give V8's bits: on random
// arguments of every magnitude from 1e-300 to 1e300 (the medium range they compute themselves, the large one they
// hand to Math.sin or Math.cos), the same arguments rounded to float32 (a program's values are), and the special values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wasmCos, wasmSin } from '../../solver/engine/wasmSin';
import { Rng } from '../../solver/engine/random';

for (const [name, wasm, math] of [
  ['sin', wasmSin(), Math.sin],
  ['cos', wasmCos(), Math.cos],
] as const)
  test(`WebAssembly's ${name} gives Math.${name}'s bits`, () => {
    const rng = new Rng(17);
    let checked = 0;
    const same = (x: number) => {
      checked++;
      const a = wasm(x),
        b = math(x);
      if (!Object.is(a, b)) assert.fail(`${name}(${x}): ${a} against Math.${name}'s ${b}`);
    };
    for (const scale of [
      1e-300, 1e-9, 1e-3, 0.5, 0.785, 0.8, 1, 1.5708, 2, 2.36, 3.2, 10, 100, 1e4, 823549, 1e6, 1e9, 1e300,
    ])
      for (let i = 0; i < 20000; i++) {
        const x = (2 * rng.uniform() - 1) * scale;
        same(x);
        same(Math.fround(x));
      }
    // Near multiples of π/2 (where the argument's reduction takes its second and third parts) and the boundaries.
    for (let k = -2000; k <= 2000; k++) for (const d of [0, 1e-9, -1e-9, 1e-15]) same((k * Math.PI) / 2 + d);
    for (const x of [
      0,
      -0,
      Number.NaN,
      Infinity,
      -Infinity,
      5e-324,
      -5e-324,
      2 ** -27,
      -(2 ** -28),
      Math.PI / 4,
      823549.6,
      823550.5,
    ])
      same(x);
    assert.ok(checked > 700000);
  });
