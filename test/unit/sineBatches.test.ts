// The order of a WebAssembly forward pass with its sines in batches (engine/sineBatches.ts), on random programs: every
// instruction is evaluated once, after every slot it reads, each sine in a batch after its argument; a loop the
// interpreter computes comes after every instruction before it; a batch holds sines of one depth, and a program
// whose sines do not depend on each other has them all in one batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type OrderedInstruction, passOrder } from '../../solver/engine/sineBatches';

/** Random programs: each instruction a sine of one earlier slot, an interpreter loop, or an operation of up to 3. */
const programs = fc.integer({ min: 1, max: 60 }).chain((L) =>
  fc.tuple(
    ...Array.from({ length: L }, (_, k) =>
      fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 0, max: k + 2 }).map((a) => ({ sine: true, operands: [a] })) },
        { weight: 1, arbitrary: fc.constant({ sine: false, operands: 'all' as const }) },
        {
          weight: 6,
          arbitrary: fc
            .array(fc.integer({ min: 0, max: k + 2 }), { maxLength: 3 })
            .map((operands) => ({ sine: false, operands })),
        },
      ),
    ),
  ),
);

test('a pass evaluates every instruction once, after what it reads, its sines in batches', () => {
  fc.assert(
    fc.property(programs, (instructions: OrderedInstruction[]) => {
      // Operands k + 1 and k + 2 of instruction k stand for a state or parameter when past the program's end, and
      // for no slot otherwise (as for the program's own later slots, which an instruction never reads).
      const L = instructions.length;
      const program = instructions.map(({ sine, operands }, k) => ({
        sine,
        operands: operands === 'all' ? operands : operands.filter((s) => s < k || s >= L),
      }));
      const { order, batches } = passOrder(L, (k) => program[k]);
      const when = new Array<number>(L).fill(-1);
      let time = 0,
        next = 0;
      for (let p = 0; p <= order.length; p++) {
        while (next < batches.length && batches[next].at === p) {
          for (const s of batches[next].sines) when[s] = time;
          time++;
          next++;
        }
        if (p < order.length) when[order[p]] = time++;
      }
      assert.equal(next, batches.length, 'every batch placed');
      assert.ok(
        when.every((w) => w >= 0),
        'every instruction evaluated',
      );
      assert.equal(order.length + batches.reduce((n, b) => n + b.sines.length, 0), L, 'each once');
      for (let k = 0; k < L; k++) {
        const { sine, operands } = program[k];
        assert.equal(
          batches.some((b) => b.sines.includes(k)),
          sine,
          `instruction ${k} in a batch iff a sine`,
        );
        const reads = operands === 'all' ? Array.from({ length: k }, (_, i) => i) : operands.filter((s) => s < L);
        for (const s of reads) assert.ok(when[s] < when[k], `${k} after ${s}`);
      }
    }),
    { numRuns: 300, seed: 5 },
  );
});

test('independent sines go in one batch, sines of sines in the next', () => {
  // 0, 1: states read; 2, 3: sines of them; 4: their sum; 5: a sine of the sum; 6: a sine of a state.
  const program: OrderedInstruction[] = [
    { sine: false, operands: [] },
    { sine: false, operands: [] },
    { sine: true, operands: [0] },
    { sine: true, operands: [1] },
    { sine: false, operands: [2, 3] },
    { sine: true, operands: [4] },
    { sine: true, operands: [1] },
  ];
  const { order, batches } = passOrder(program.length, (k) => program[k]);
  assert.deepEqual(batches, [
    { at: 2, sines: [2, 3, 6] },
    { at: 3, sines: [5] },
  ]);
  assert.deepEqual(order, [0, 1, 4]);
});
