#!/usr/bin/env node
// The `odelens` command (dist/cli.js): runs the CLI bundle (dist/cliMain.js) with V8's code cache kept in the
// user's cache directory, so that a check does not compile the 3 MB bundle again in every process (0.10 →
// 0.06 s of CPU for `odelens --version`; a small model's whole check takes about 0.15 s). V8 rejects a cache
// made from another bundle or another Node (its source hash and flags), and then the bundle compiles as
// usual and the cache is written afresh. Any failure to read or write the cache only costs the compile. The
// check's second thread starts through it too (dist/checkThread.js with its own cache: ready in about 45 ms
// instead of 80).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const vm = require('node:vm');
const Module = require('node:module');

const { isMainThread, threadId, workerData } = require('node:worker_threads');

// Started as a check's second thread (solver/check/thread.ts, beside the CLI's bundles), it runs that thread's bundle.
const asThread = !isMainThread && typeof workerData?.threadBundle === 'string';
const bundle = asThread ? workerData.threadBundle : path.join(__dirname, 'cliMain.js');

/** As solver/engine/backendChoice.ts's cacheDirectory (ODELENS_CACHE_DIR overrides it). */
function cacheDirectory() {
  const env = process.env;
  if (env.ODELENS_CACHE_DIR) return env.ODELENS_CACHE_DIR;
  if (process.platform === 'win32')
    return path.join(env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'), 'odelens', 'Cache');
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'odelens');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'odelens');
}

const bytes = fs.readFileSync(bundle);
// The build writes its bundles in ASCII (scripts/build.mjs): read as latin1 they are one-byte strings, decoded in a
// fifth of UTF-8's time (2 against 11 ms for the CLI's 3.4 MB) and half its memory. Any other text is UTF-8.
const { isAscii } = require('node:buffer');
const ascii = typeof isAscii === 'function' && isAscii(bytes);
const source = bytes.toString(ascii ? 'latin1' : 'utf8').replace(/^#!.*/, '');
// One cache per bundle location, named `kind-location-content`: a rebuild (or another Node) replaces the location's
// cache when it writes its own, other checkouts keep theirs. The content (with Node's version) is in the name because
// V8 checks a cache against the source's length only: a rebuild of the same length (one constant edited) would run
// the old bundle's compiled functions. Hashed as bytes (2 ms, not 6).
const crypto = require('node:crypto');
const hash = (...parts) => {
  const h = crypto.createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
const kind = asThread ? 'thread' : 'cli';
const location = `${kind}-${hash(bundle).slice(0, 8)}-`;
const cacheFile = path.join(cacheDirectory(), `${location}${hash(`${process.version}\0`, bytes).slice(0, 12)}.v8cache`);
let cached;
try {
  cached = fs.readFileSync(cacheFile);
} catch {
  cached = undefined;
}
const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData: cached });
const writeCache = () => {
  try {
    const data = script.createCachedData();
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${process.pid}.${threadId}`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, cacheFile);
    for (const f of fs.readdirSync(path.dirname(cacheFile)))
      if (f.startsWith(location) && f.endsWith('.v8cache') && f !== path.basename(cacheFile))
        fs.rmSync(path.join(path.dirname(cacheFile), f), { force: true });
  } catch {
    // no cache: the next run compiles again
  }
};
const toWrite = cached === undefined || script.cachedDataRejected;
// Written at exit: the cache then holds the functions this run compiled too, not only the top level. A thread is
// stopped without its exit running: its cache is written once its bundle has loaded.
if (toWrite && !asThread) process.once('exit', writeCache);
// The bundle as the main module (its `require.main === module` starts the CLI).
const main = new Module(bundle, null);
main.filename = bundle;
main.paths = Module._nodeModulePaths(path.dirname(bundle));
const req = (id) => main.require(id);
req.resolve = (id, options) => Module._resolveFilename(id, main, false, options);
req.main = main;
req.cache = Module._cache;
script.runInThisContext()(main.exports, req, main, bundle, path.dirname(bundle));
if (toWrite && asThread) writeCache();
