// The PyTorch side of the bench: bench/pytorch/check.py in one warm Python process (PyTorch imported once,
// as the editor keeps a warm check worker), driven by one JSON line per command. Debian's python3-torch
// installs for /usr/bin/python3 only (scripts/setup-e2e.sh installs it); ODELENS_PYTHON names another
// interpreter.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

/** One PyTorch check's timings (ms, measured inside Python) and results. */
export interface PyTorchCheck {
  checkMs: number;
  adMs: number;
  referenceMs: number;
  loss: number;
  /** Per per-step parameter, ‖AD densities − reference densities‖ / ‖reference densities‖ (ODE Lens's relError). */
  errors: Record<string, number | null>;
}

/** The interpreters tried in order, and the first that imports torch. */
export function torchPython(): { python?: string; tried: string[] } {
  const onPath = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout?.trim();
  const tried = [process.env.ODELENS_PYTHON, '/usr/bin/python3', onPath].filter(
    (p, i, all): p is string => !!p && all.indexOf(p) === i,
  );
  const python = tried.find(
    (p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 }).status === 0,
  );
  return { python, tried };
}

export class PyTorchSide {
  private readonly answers: ((line: string) => void)[] = [];
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly python: string,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => this.answers.shift()?.(line));
    child.stderr.resume();
  }

  /** The warm Python process, or why there is none (the bench prints it and skips the PyTorch rows). */
  static start(root: string): PyTorchSide | { skipped: string } {
    const { python, tried } = torchPython();
    if (!python)
      return {
        skipped: `no Python that imports torch (tried ${tried.join(', ')}; apt-get install -y python3-torch, or bash scripts/setup-e2e.sh)`,
      };
    const child = spawn(python, [join(root, 'bench/pytorch/check.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new PyTorchSide(child, python);
  }

  private ask<T>(command: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${this.python} exited (${code})`));
      this.child.once('exit', onExit);
      this.answers.push((line) => {
        this.child.off('exit', onExit);
        const answer = JSON.parse(line) as T & { error?: string };
        if (typeof answer.error === 'string' && !('checkMs' in answer)) reject(new Error(answer.error));
        else resolve(answer);
      });
      this.child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  }

  /** Loads an exported module, with the parameter values of raw float32 files (engine layout) when given. */
  load(modulePath: string, values?: Record<string, string>): Promise<{ torch: string; threads: number }> {
    return this.ask({ load: modulePath, values });
  }

  check(): Promise<PyTorchCheck> {
    return this.ask({ check: true });
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}
