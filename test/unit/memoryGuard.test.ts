// A solve whose AD tape outgrows the heap stops with a model-too-large finding that says so, instead of
// killing the process (engine/memoryGuard.ts). The real CLI runs with a small heap (--max-old-space-size)
// on a delay equation under a multistep scheme (ab3), which is solved one TF.js kernel per operation (the
// whole-solve kernel runs explicit Runge–Kutta schemes only) and keeps every step on the tape.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../support/e2e';

const CLI = join(repoRoot(), 'dist/cli.js');
const skip = !existsSync(CLI) && 'dist/cli.js not built (node scripts/build.mjs)';

const MODEL = `# a delay equation over 40,000 steps
x' = -delay(x, 0.5) + p*x
par p=0.1
init x=1
@ total=2000, dt=0.05, delay=1, meth=ab3
done
`;

test('a solve that outgrows the heap is a model-too-large finding, not a crash', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-memory-'));
  const file = join(dir, 'long-delay.ode');
  writeFileSync(file, MODEL);
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=128', CLI, 'check', file, '--backend', 'cpu', '--json'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  assert.ok(r.status === 1 || r.status === 2, `exit ${r.status} (signal ${r.signal}): ${r.stderr.slice(-500)}`);
  const report = JSON.parse(r.stdout) as { findings: { code: string; message: string }[] };
  const finding = report.findings.find((f) => f.code === 'model-too-large');
  assert.ok(finding, JSON.stringify(report.findings));
  assert.match(finding.message, /at step \d+ of 40000 it used \d+ MB of the \d+ MB heap/);
});
