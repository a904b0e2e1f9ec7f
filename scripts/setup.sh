#!/usr/bin/env bash
# Sourced by scripts/start and scripts/test. Makes sure this machine has what the local stack
# needs, installing it when it can (Deno through npm; Debian packages through apt-get as root),
# and otherwise stops with the exact command to run. Puts the pinned Deno first on PATH.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DENO_VERSION=2.9.6
PG_MAJOR=15
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
PG_SHAREDIR=${PG_SHAREDIR:-/usr/share/postgresql/$PG_MAJOR}
TOOLS="$ROOT/.local/tools"

say() { printf '%s\n' "$*" >&2; }

missing=()
[ -x "$PG_BINDIR/postgres" ] || missing+=("postgresql-$PG_MAJOR")
[ -f "$PG_SHAREDIR/extension/pg_cron.control" ] || missing+=("postgresql-$PG_MAJOR-cron")
[ -f "$PG_SHAREDIR/extension/pgtap.control" ] || missing+=("postgresql-$PG_MAJOR-pgtap")
command -v pg_prove >/dev/null 2>&1 || missing+=(libtap-parser-sourcehandler-pgtap-perl)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installing ${missing[*]} with apt-get..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    say "The local stack needs these Debian packages: ${missing[*]}"
    say "Install them with:  sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  say "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as."
  say "Create one with:  useradd --system --user-group --home-dir /var/lib/postgresql postgres"
  exit 1
fi

deno_bin="$TOOLS/node_modules/.bin/deno"
if ! [ -x "$deno_bin" ] || [ "$("$deno_bin" --version 2>/dev/null | head -n 1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "Deno $DENO_VERSION is installed from the npm package 'deno', but npm is not on PATH."
    say "Install Node.js 20 or newer (with npm), then run this again."
    exit 1
  fi
  say "Installing Deno $DENO_VERSION from npm into .local/tools..."
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --loglevel=error "deno@$DENO_VERSION" >&2
fi

export PATH="$TOOLS/node_modules/.bin:$PG_BINDIR:$PATH"
export PG_BINDIR
cd "$ROOT"
