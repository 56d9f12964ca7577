// The native TensorFlow backend within reach: `@tensorflow/tfjs-node` cannot ship in the extension (its
// install script downloads a native library for the platform), so this installs it on demand into the
// extension's global storage with npm, and the server is started with that folder on NODE_PATH (the engine
// requires the package by name; its worker threads inherit the path). When npm or the download fails, the
// message says why and checks go on with the WebAssembly or JavaScript backend.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';

const PACKAGE = '@tensorflow/tfjs-node@4.22.0';

/** Where the native backend is installed (an npm prefix under the global storage). */
export function nativePrefix(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, 'native-backend');
}

/** NODE_PATH for the server when the native backend is installed, else undefined. */
export function nativeNodePath(context: vscode.ExtensionContext): string | undefined {
  const modules = join(nativePrefix(context), 'node_modules');
  return existsSync(join(modules, '@tensorflow', 'tfjs-node', 'package.json')) ? modules : undefined;
}

/**
 * What went wrong, from npm's output: the failing download and its error, e.g. "downloading
 * https://storage.googleapis.com/…/libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz failed (Error: getaddrinfo
 * ENOTFOUND storage.googleapis.com)"; else npm's last lines.
 */
export function installFailure(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.replace(/^npm (error|ERR!)\s*/, '').trim())
    .filter(Boolean);
  const cause = lines.find((l) => /^Error: |\bE[A-Z]{4,}\b/.test(l));
  const url = lines.find((l) => /^https?:\/\/\S+$/.test(l));
  if (cause) return url ? `downloading ${url} failed (${cause})` : cause;
  return lines
    .filter((l) => !/complete log of this run|^Node\.js v/.test(l))
    .slice(-2)
    .join(' ');
}

/** Runs npm install into the prefix with progress; resolves true when the package is installed. */
export async function installNativeBackend(context: vscode.ExtensionContext): Promise<boolean> {
  const prefix = nativePrefix(context);
  await vscode.workspace.fs.createDirectory(vscode.Uri.file(prefix));
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const options = {
    location: vscode.ProgressLocation.Notification,
    title: `ODE Lens: installing ${PACKAGE}`,
    cancellable: true,
  };
  const result = await vscode.window.withProgress(options, (progress, token) => {
    progress.report({ message: 'npm install (downloads the package and its native TensorFlow library)…' });
    return new Promise<{ ok: boolean; output: string }>((resolve) => {
      let output = '';
      const child = spawn(npm, ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, PACKAGE], {
        cwd: prefix,
        shell: process.platform === 'win32',
        // npm's cache and logs stay with the install (one folder to remove).
        env: { ...process.env, npm_config_cache: join(prefix, '.npm-cache') },
      });
      token.onCancellationRequested(() => child.kill());
      const collect = (b: Buffer) => {
        output += String(b);
        const last = String(b).trim().split('\n').pop();
        if (last) progress.report({ message: last.slice(0, 120) });
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.on('error', (e) =>
        resolve({ ok: false, output: `${e.message} (npm, which comes with Node.js, must be on PATH)` }),
      );
      child.on('close', (code) => resolve({ ok: code === 0, output }));
    });
  });
  if (result.ok && nativeNodePath(context)) {
    // The server's NODE_PATH is fixed when it starts: a reload starts it with the new folder.
    const reload = 'Reload Window';
    const answer = await vscode.window.showInformationMessage(
      `ODE Lens: ${PACKAGE} installed in ${prefix}. Reload the window to check on the native backend.`,
      reload,
    );
    if (answer === reload) await vscode.commands.executeCommand('workbench.action.reloadWindow');
    return true;
  }
  void vscode.window.showErrorMessage(
    `ODE Lens could not install the native TensorFlow backend: ${installFailure(result.output)}. Its install downloads a native library from the internet, which must be reachable. Checks continue on the WebAssembly or JavaScript backend.`,
  );
  return false;
}
