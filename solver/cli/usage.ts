// The help text of `odelens` (every command, flag and exit status; docs/cli.md says the same at length).
import { BACKEND_NAMES } from '../registry/backends';
import { TRAIN_GRADIENTS } from '../train/gradients';
import { EXPORT_USAGE } from './export';
import { FORMATS } from './formats';

export const USAGE = `Usage: odelens check FILE|GLOB... [--format ${FORMATS.join('|')}] [--json [--rows all]] [--refine]
                          [--params params.json] [--backend ${BACKEND_NAMES.join('|')}]
                          [--workspace DIR] [--threads 1|2] [--no-gradcheck]
       odelens train FILE [--iterations K] [--lr X] [--optimizer adam|sgd]
                          [--gradient ${TRAIN_GRADIENTS.join('|')}] [--every K]
                          [--out params.json] [--json] [--backend NAME] [--workspace DIR]
       ${EXPORT_USAGE}
       odelens --version | --help

check: solves each model, takes AD gradients through the unrolled solve,
compares them with the continuous adjoint gradient and with finite
differences, and flags gradients that oscillate from layer to layer. Several
files and globs (quoted: 'models/**/*.ode') are checked in one run: a summary
line per file and a total.

Options of check:
  --format FORMAT     text (default): findings and tables; json: the report's
                      summary (per parameter its metrics and verdict, the
                      findings, the tables of rows it holds; one object, or an
                      array of them for several files);
                      sarif: one SARIF 2.1.0 log for code scanning
  --json              the same as --format json
  --rows all          with json: the per-layer rows too (raw, corrected and
                      reference densities; large for long, wide models)
  --refine            refinement study: re-solve with 2N and 4N steps and print,
                      per parameter and level, the raw and corrected relative
                      errors, alpha and the observed orders (about 0 when an
                      error does not shrink with h)
  --params FILE       check at these parameter values (the format of
                      train --out) instead of the seeded initialisation
  --workspace DIR     the folder the model's data files must lie in, as the
                      editor's workspace folder (default: the model's folder)
  --backend NAME      TensorFlow.js backend: ${BACKEND_NAMES.map((n) => (n === 'auto' ? 'auto (default)' : n)).join(', ')}
  --threads N         2 (default): the continuous reference runs on a second
                      thread beside the finite differences (checks whose AD
                      takes 25 ms or more); 1: every phase on one thread.
                      The report is the same
  --no-gradcheck      no finite differences: AD is judged against the
                      continuous reference alone (no gradcheck column). They
                      are often the largest part of a long model's check, and
                      on chaotic ones cannot settle
  --version           print the version
  -h, --help          show this help

train: gradient descent on the discrete loss for K iterations (default 100),
Adam (default) or SGD, learning rate X (default 0.01), with raw AD, AD
corrected by filter121/average, or the continuous adjoint (default: the
model's grad= and gradfix= options). Prints the discrete loss, the flow loss
(the same parameters interpolated in t and solved accurately) and the total
variation across layers every K-th iteration; --out writes the learned
parameters as JSON. Ctrl-C stops cleanly and still writes them.

export: writes the model's discrete network as a self-contained PyTorch module
(to stdout, or to -o FILE) with the model's gradient correction as a function
to call after backward(); --params starts it from trained values.

Exit status: 0 no findings (train: completed; export: written), 1 warnings or
errors found (train: diverged or stopped early), 2 a file cannot be read or has
errors in the model language, or bad usage. With several files, the worst.`;
