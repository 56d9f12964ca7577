// A Python that can import PyTorch, for the tests of `odelens export --to pytorch`. Debian's
// python3-torch installs for /usr/bin/python3 only; a python3 first on PATH (pyenv, a venv) may
// lack it. ODELENS_PYTHON names another interpreter.
import { spawnSync } from 'node:child_process';
import { onPath } from './e2e';

let found: { python?: string; tried: string[] } | undefined;

/** The first interpreter that imports torch, and the ones tried. */
export function torchPython(): { python?: string; tried: string[] } {
  if (found) return found;
  const candidates = [process.env.ODELENS_PYTHON, '/usr/bin/python3', onPath('python3')].filter(
    (p, i, all): p is string => !!p && all.indexOf(p) === i,
  );
  const python = candidates.find(
    (p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 }).status === 0,
  );
  found = { python, tried: candidates };
  return found;
}

/**
 * Runs exported modules in one interpreter (PyTorch is imported once): for each path, the
 * module's gradients() (what `python3 model.py --gradients` prints) or its error.
 */
export const GRADIENTS_DRIVER = `
import importlib.util, json, sys, traceback
for i, path in enumerate(sys.argv[1:]):
    try:
        spec = importlib.util.spec_from_file_location("exported_%d" % i, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(json.dumps({"path": path, "result": mod.json_safe(mod.gradients())}))
    except Exception:
        print(json.dumps({"path": path, "error": traceback.format_exc()}))
    sys.stdout.flush()
`;
