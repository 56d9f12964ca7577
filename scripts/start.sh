#!/usr/bin/env bash
# `npm start`: build the extension and open examples/ in VS Code with it installed.
#   - desktop VS Code (`code` on PATH): install dist/ode-lens.vsix and open examples/
#   - otherwise: VS Code in the browser (code-server, installed by scripts/setup-e2e.sh into
#     ${ODELENS_TOOLS:-~/.cache/odelens-tools}) on http://${HOST:-127.0.0.1}:${PORT:-8080}/,
#     with its own user data and extensions under .scratch/start/. Ctrl+C stops it.
# Each step says what it does and how long it took; the URL comes last. The .vsix is re-made
# only when its inputs changed (a hash of the repository's files outside test/ and .ci/, and
# of the installed dependencies), and re-installed into code-server only when it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PORT="${PORT:-8080}"
HOST="${HOST:-127.0.0.1}"
VSIX="$ROOT/dist/ode-lens.vsix"
S="$ROOT/.scratch/start"
mkdir -p "$S"

T_ALL=$(date +%s)
TIMES=()
log() { echo "[start] $*"; }
join() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
# timed NAME CMD...: run CMD, then log and remember how long it took
timed() {
  local name="$1" t0; shift
  t0=$(date +%s)
  "$@"
  TIMES+=("$name $(( $(date +%s) - t0 ))s")
  log "$name: done in $(( $(date +%s) - t0 ))s"
}
# quietly LOG CMD...: run CMD with its output in LOG; show the end of LOG when it fails
quietly() {
  local out="$1" rc=0; shift
  "$@" >"$out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { tail -n 40 "$out" >&2; echo "[start] failed (exit $rc): $* (log: $out)" >&2; }
  return "$rc"
}

# ---------------------------------------------------------------- dependencies
if [ ! -x node_modules/.bin/esbuild ] || [ ! -d node_modules/@vscode/vsce ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm install (the project's dependencies)"
  timed "npm install" npm install --no-audit --no-fund
else
  log "dependencies: installed"
fi

# ---------------------------------------------------------------- the .vsix
# Hash of what `npm run package` reads: the repository's files (tracked or not ignored) outside
# test/ and .ci/, with their names, and the installed dependency tree. Empty outside a git checkout.
vsix_inputs() {
  git rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
  {
    git ls-files -z -co --exclude-standard -- . ':!test/' ':!.ci/' |
      while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
      sort -z | xargs -0 -r sha256sum
    cat node_modules/.package-lock.json 2>/dev/null || true
  } | sha256sum | cut -d' ' -f1
}
file_hash() { [ -f "$1" ] && sha256sum "$1" | cut -d' ' -f1 || true; }

INPUTS="$(vsix_inputs)"
STAMP="$S/vsix.stamp" # "<inputs hash> <vsix hash>" of the last package made here
if [ -n "$INPUTS" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$INPUTS $(file_hash "$VSIX")" ]; then
  log "dist/ode-lens.vsix: up to date (its inputs have not changed since it was packaged)"
else
  log "npm run package (build the bundles, then dist/ode-lens.vsix)"
  rm -f "$STAMP"
  timed "package" quietly "$S/package.log" npm run --silent package
  grep -E 'WARNING|DONE' "$S/package.log" || true
  [ -f "$VSIX" ] || { echo "[start] dist/ode-lens.vsix was not produced" >&2; exit 1; }
  [ -z "$INPUTS" ] || echo "$INPUTS $(file_hash "$VSIX")" > "$STAMP"
fi

# ---------------------------------------------------------------- desktop VS Code
if command -v code >/dev/null 2>&1 && [ "${ODELENS_USE_CODE_SERVER:-0}" != 1 ]; then
  log "installing into desktop VS Code"
  timed "install extension" code --install-extension "$VSIX" --force
  log "timings: $(join "${TIMES[@]:-nothing to do}"); total $(( $(date +%s) - T_ALL ))s"
  log "opening $ROOT/examples in VS Code: open examples/spiral.ode for the warnings"
  exec code "$ROOT/examples"
fi

# ---------------------------------------------------------------- code-server
log "code-server (VS Code in the browser) and Node 24: scripts/setup-e2e.sh --code-server-only"
timed "code-server setup" bash scripts/setup-e2e.sh --code-server-only
CS="${ODELENS_TOOLS:-$HOME/.cache/odelens-tools}/bin/code-server"

mkdir -p "$S/user-data/User" "$S/extensions" "$S/xdg/config" "$S/xdg/data" "$S/xdg/cache" "$S/xdg/state" "$S/tmp"
export XDG_CONFIG_HOME="$S/xdg/config" XDG_DATA_HOME="$S/xdg/data" XDG_CACHE_HOME="$S/xdg/cache" XDG_STATE_HOME="$S/xdg/state" TMPDIR="$S/tmp"
if [ ! -f "$S/user-data/User/settings.json" ]; then
  cat > "$S/user-data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "extensions.ignoreRecommendations": true,
  "extensions.autoUpdate": false,
  "extensions.autoCheckUpdates": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "chat.disableAIFeatures": true
}
JSON
fi
ARGS=(--user-data-dir "$S/user-data" --extensions-dir "$S/extensions")
INSTALLED="$S/extensions/.odelens-vsix" # hash of the .vsix installed last
if [ -f "$INSTALLED" ] && [ "$(cat "$INSTALLED")" = "$(file_hash "$VSIX")" ] && compgen -G "$S/extensions/odelens.ode-lens-*" >/dev/null; then
  log "extension: installed in code-server (same .vsix)"
else
  log "installing dist/ode-lens.vsix into code-server"
  timed "install extension" quietly "$S/install-extension.log" "$CS" "${ARGS[@]}" --install-extension "$VSIX" --force
  file_hash "$VSIX" > "$INSTALLED"
fi

URL="http://$HOST:$PORT/"
healthy() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "${URL}healthz"; }
if healthy; then
  echo "[start] something already answers on $URL: stop it, or choose another port (PORT=8081 npm start)" >&2
  exit 1
fi

LOG="$S/code-server.log"
log "starting code-server on $HOST:$PORT (its log: .scratch/start/code-server.log)"
T=$(date +%s)
"$CS" "${ARGS[@]}" --bind-addr "$HOST:$PORT" --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust "$ROOT/examples" >"$LOG" 2>&1 &
CS_PID=$!
# stop [CODE]: stop code-server (Ctrl+C, a kill, a timeout) and exit
stop() { trap - INT TERM HUP; kill -TERM "$CS_PID" 2>/dev/null || true; wait "$CS_PID" 2>/dev/null || true; exit "${1:-0}"; }
trap stop INT TERM HUP
until healthy; do
  if ! kill -0 "$CS_PID" 2>/dev/null; then
    tail -n 40 "$LOG" >&2
    echo "[start] code-server exited before it answered on $URL (log: $LOG)" >&2
    exit 1
  fi
  if [ $(( $(date +%s) - T )) -gt 120 ]; then
    tail -n 40 "$LOG" >&2
    echo "[start] code-server did not answer on ${URL}healthz within 120 s (log: $LOG)" >&2
    stop 1
  fi
  sleep 0.3
done
TIMES+=("code-server ready $(( $(date +%s) - T ))s")

echo
log "timings: $(join "${TIMES[@]}"); total $(( $(date +%s) - T_ALL ))s"
log "open examples/spiral.ode for the warnings; Ctrl+C stops the server"
log "ODE Lens in VS Code (code-server): ${URL}?folder=$ROOT/examples"
echo
rc=0
wait "$CS_PID" || rc=$?
tail -n 20 "$LOG" >&2
echo "[start] code-server exited (code $rc; log: $LOG)" >&2
exit "$rc"
