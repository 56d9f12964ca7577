// odelens — command-line gradient checks, training and export for ODE model files. This file dispatches;
// each command is its own file in solver/cli/ (check, train, export), and solver/cli/usage.ts is the help.
// Exit codes: 0 clean, 1 a warning or error finding, 2 unreadable file, front-end errors or bad usage
// (with several files, the worst).
import { checkCommand } from './cli/check';
import { exportCommand } from './cli/export';
import { trainCommand } from './cli/train';
import { USAGE } from './cli/usage';
import { VERSION } from './cli/version';
import type { Output } from './cli/common';

const COMMANDS: Record<string, (args: string[], io: Output) => Promise<number>> = {
  check: checkCommand,
  train: trainCommand,
  export: exportCommand,
};

export async function main(argv: string[]): Promise<number> {
  const io: Output = {
    out: (s: string) => process.stdout.write(s + '\n'),
    err: (s: string) => process.stderr.write(s + '\n'),
  };
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.out(`odelens ${VERSION}`);
    return 0;
  }
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    (argv.length === 0 ? io.err : io.out)(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const [command, ...rest] = argv;
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    io.err(`odelens: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  return run(rest, io);
}

if (require.main === module) {
  // `odelens check f --json | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    else throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`odelens: ${(e as Error)?.stack ?? e}\n`);
      process.exitCode = 2;
    },
  );
}
