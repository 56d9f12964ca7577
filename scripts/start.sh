#!/usr/bin/env bash
# `npm start`: build the extension and open examples/ in VS Code with it installed.
#   - desktop VS Code (`code` on PATH): install dist/ode-lens.vsix and open examples/
#   - otherwise: VS Code in the browser (code-server, installed by scripts/setup-e2e.sh into
#     ${ODELENS_TOOLS:-~/.cache/odelens-tools}) on http://${HOST:-127.0.0.1}:${PORT:-8080}/,
#     with its own user data and extensions under .scratch/start/. Ctrl+C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PORT="${PORT:-8080}"
HOST="${HOST:-127.0.0.1}"

if [ ! -x node_modules/.bin/esbuild ] || [ ! -d node_modules/@vscode/vsce ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[start] npm install"
  npm install --no-audit --no-fund
fi
echo "[start] npm run package"
npm run --silent package
[ -f dist/ode-lens.vsix ] || { echo "[start] dist/ode-lens.vsix was not produced" >&2; exit 1; }

if command -v code >/dev/null 2>&1 && [ "${ODELENS_USE_CODE_SERVER:-0}" != 1 ]; then
  echo "[start] installing into desktop VS Code"
  code --install-extension dist/ode-lens.vsix --force
  exec code "$ROOT/examples"
fi

bash scripts/setup-e2e.sh --code-server-only
CS="${ODELENS_TOOLS:-$HOME/.cache/odelens-tools}/bin/code-server"
S="$ROOT/.scratch/start"
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
"$CS" "${ARGS[@]}" --install-extension "$ROOT/dist/ode-lens.vsix" --force >/dev/null
echo
echo "[start] ODE Lens in VS Code (code-server): http://$HOST:$PORT/?folder=$ROOT/examples"
echo "[start] open examples/spiral.ode for the warnings; Ctrl+C stops the server"
echo
exec "$CS" "${ARGS[@]}" --bind-addr "$HOST:$PORT" --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust "$ROOT/examples"
