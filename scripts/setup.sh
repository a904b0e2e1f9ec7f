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
# The browser test (tests/browser_test.ts) drives Debian's Chromium; only the test command asks.
if [ "${MCP_NEEDS_BROWSER:-}" = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi

# Installing a Debian package that ships a service also starts that service: pgbouncer would
# start a system PgBouncer on port 6432, postgresql-15 a "main" cluster on 5432. The local stack
# runs its own servers and uses neither, so this install must not start them. Debian's interface
# for that is /usr/sbin/policy-rc.d: invoke-rc.d and deb-systemd-invoke, which maintainer scripts
# call to start or restart services, run it first and start nothing when it exits with 101. So
# the install runs with a policy-rc.d that exits 101, and whatever was there before (usually
# nothing; a container image may have its own) is put back as soon as apt-get returns, or when
# this script is interrupted or fails. This is less invasive than stopping the services
# afterwards: nothing starts even for a moment, so no port is ever taken, and no service this
# script did not install is stopped or disabled (one that already ran keeps running, even if a
# dependency upgrade would have restarted it). The new units stay enabled, as Debian installs
# them, so they start at the next boot unless disabled: systemctl disable pgbouncer postgresql.
POLICY_RC_D=/usr/sbin/policy-rc.d
policy_rc_d_saved=

restore_policy_rc_d() {
  rm -f "$POLICY_RC_D"
  if [ -n "$policy_rc_d_saved" ]; then
    mv -f "$policy_rc_d_saved" "$POLICY_RC_D"
    policy_rc_d_saved=
  fi
}

install_packages() {
  if [ -e "$POLICY_RC_D" ] || [ -L "$POLICY_RC_D" ]; then
    policy_rc_d_saved=$(mktemp "$POLICY_RC_D.mcp-auth-saved.XXXXXX")
    mv -f "$POLICY_RC_D" "$policy_rc_d_saved"
  fi
  trap restore_policy_rc_d EXIT
  trap 'restore_policy_rc_d; exit 130' INT TERM HUP
  printf '#!/bin/sh\n# mcp-auth scripts/setup.sh, for one apt-get install: start no service.\nexit 101\n' \
    >"$POLICY_RC_D"
  chmod 755 "$POLICY_RC_D"
  # DPkg::Lock::Timeout: wait up to 5 minutes for a dpkg or apt lock that another apt-get
  # (unattended-upgrades, say) holds, instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >&2
  restore_policy_rc_d
  trap - EXIT INT TERM HUP
}

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installing ${missing[*]} with apt-get (without starting their services)..."
    export DEBIAN_FRONTEND=noninteractive
    install_packages "${missing[@]}"
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
