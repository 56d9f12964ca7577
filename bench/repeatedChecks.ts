// Repeated checks in one process, as the language server's check worker and `odelens check a.ode b.ode …` run them:
// a reaction–diffusion lattice long enough that its fused program runs through the interpreter's dispatch loops (not
// written out: programCodegen.ts's mayWriteOut) is checked five times, the array chain of bench/scalarChain.ts (also
// long) between the repetitions, so that other programs' interpreters exist. Each long program's interpreter is a copy
// of its own (programInterpreter.ts: interpreterCopy), so the later checks cost what the first does; where programs
// share one interpreter, V8 optimises its loops for the first program's arrays only and every later check of the
// lattice runs them at about twice the cost per instruction. The first check also pays for compiling the solve's own
// code, so with copies later / first comes out below 1; the target is 1.0 (a shared interpreter gave 1.09–1.36). In a child process of its own, so that no
// earlier bench work has made the interpreter's closures before the lattice's first check.
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { analyse } from '../solver/language/index';
import { runCheck } from '../solver/check';
import { compileScalarProgram } from '../solver/engine/scalarRhs';
import { interpreterOf } from '../solver/engine/programInterpreter';
import type { Model } from '../solver/model';
import { scalarChainText } from './scalarChain';
import { generated } from './generatedModel';
import type { RepeatedChecksRow } from './results';

/** Cells of the lattice (two states each), the second model's chain length, and the lattice's checks. */
const LATTICE_CELLS = 128;
const CHAIN_STATES = 200;
const REPETITIONS = 5;
/**
 * On the check's thread alone: the interpreters compared are those of one isolate, and the figures do not move with
 * how much of the second core other work leaves to the check's second thread.
 */
const CHECK = { backend: 'cpu', threads: 1 } as const;

/**
 * A Brusselator on a ring of n cells (u, v each diffusing to both neighbours), XPPAUT array lines, rk4 over 1,200
 * steps. b < 1 + a², so the uniform state is stable; half the ring starts above it and half below, so that the
 * loss depends on both diffusion constants over the whole horizon (every gradient is checkable: no findings).
 */
export function brusselatorRingText(n: number): string {
  const l = n - 1,
    h = n >> 1;
  // One cell's two lines: `at` as the left-hand side names it, `me` and its neighbours as the right-hand side does.
  const cell = (at: string, me: string, left: string, right: string) => [
    `u${at}' = a - (b+1)*u${me} + u${me}*u${me}*v${me} + du*(u${left} - 2*u${me} + u${right})`,
    `v${at}' = b*u${me} - u${me}*u${me}*v${me} + dv*(v${left} - 2*v${me} + v${right})`,
  ];
  return [
    `# Brusselator on a ring of ${n} cells (XPPAUT array syntax)`,
    'par a=1, b=1.8, du=0.4, dv=2',
    ...cell('0', '0', `${l}`, '1'),
    ...cell(`[1..${n - 2}]`, '[j]', '[j-1]', '[j+1]'),
    ...cell(`${l}`, `${l}`, `${l - 1}`, '0'),
    `init u[0..${h - 1}]=0.6`,
    `init u[${h}..${l}]=1.4`,
    `init v[0..${l}]=1.8`,
    '@ total=30, dt=0.025, meth=rk4',
    'done',
  ].join('\n');
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function modelOf(text: string, what: string): Model {
  const a = analyse(text);
  if (!a.model || a.diagnostics.some((d) => d.severity === 'error'))
    throw new Error(`${what}: ${a.diagnostics.map((d) => d.message).join('; ')}`);
  return a.model;
}

/** In the child process: the lattice's checks with the chain's between them; prints the row (load left to the parent). */
export async function repeatedChecksChild(): Promise<void> {
  const lattice = modelOf(brusselatorRingText(LATTICE_CELLS), 'the lattice'),
    chain = modelOf(scalarChainText(CHAIN_STATES), 'the chain');
  const checksMs: number[] = [],
    checksCpuMs: number[] = [],
    betweenMs: number[] = [];
  let steps = 0;
  // A warm-up check that builds no scalar program (a TF.js network: mlp-solve), so that the lattice's first check does
  // not also pay for the first compile of the check's common code and TF.js's.
  await runCheck(modelOf(generated(16, 64), 'the warm-up network'), CHECK);
  for (let i = 0; i < REPETITIONS; i++) {
    if (i > 0) betweenMs.push((await runCheck(chain, CHECK)).timings.totalMs);
    const cpu = process.cpuUsage();
    const report = await runCheck(lattice, CHECK);
    const c = process.cpuUsage(cpu);
    checksMs.push(report.timings.totalMs);
    steps = report.steps;
    checksCpuMs.push((c.user + c.system) / 1000);
  }
  // After the checks: compiling the program here first would make its interpreter before the first check does.
  const prog = compileScalarProgram(lattice);
  const firstMs = checksMs[0],
    laterMs = median(checksMs.slice(1));
  const row: RepeatedChecksRow = {
    model: `Brusselator ring, ${LATTICE_CELLS} cells`,
    states: 2 * LATTICE_CELLS,
    steps,
    instructions: prog?.code.length ?? 0,
    ownCopy: prog ? interpreterOf(prog).ownCopy : false,
    compiled: prog ? interpreterOf(prog).compiled : false,
    between: `an array chain of ${CHAIN_STATES} states`,
    checksMs,
    checksCpuMs,
    betweenMs,
    firstMs,
    laterMs,
    ratio: laterMs / firstMs,
    cpuRatio: median(checksCpuMs.slice(1)) / checksCpuMs[0],
    targetRatio: 1.0,
    load: { start: NaN, end: NaN },
  };
  console.log(JSON.stringify(row));
}

/** The row, from a child process running this bench bundle with --repeated-child (the bench's node options). */
export function benchRepeatedChecks(bundle: string): RepeatedChecksRow {
  const start = loadavg()[0];
  const out = execFileSync(process.execPath, ['--max-semi-space-size=64', bundle, '--repeated-child'], {
    encoding: 'utf8',
  });
  const row = JSON.parse(out.trim().split('\n').pop() as string) as RepeatedChecksRow;
  return { ...row, load: { start, end: loadavg()[0] } };
}
