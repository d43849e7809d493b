#!/usr/bin/env bash
# Sets up everything WBX needs on a Debian/Ubuntu machine with Node and apt, then installs and builds
# the workspace. Idempotent: what is already there is left alone.
#   Node.js 24 LTS  — from the npm registry (package node@24) into /usr/local, when `node` is older
#   pnpm 12         — from the npm registry into /usr/local
#   nats-server     — Debian/Ubuntu package (tests and the embedded gateway run the real server)
#   openssl         — Debian/Ubuntu package (the demo's and the tests' throw-away mTLS certificates)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/bin:$PATH"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
say() { printf '\033[1mwbx setup:\033[0m %s\n' "$*" >&2; }

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm from apt (to bootstrap Node 24)"
  apt_install nodejs npm
fi
if [ "$(node_major)" -lt 24 ]; then
  say "installing Node.js 24 LTS into /usr/local (found $(node --version 2>/dev/null || echo none))"
  $SUDO npm install -g --prefix /usr/local --no-fund --no-audit node@24 >/dev/null
  hash -r
fi
if [ "$(node_major)" -lt 24 ]; then
  say "Node.js 24 is installed in /usr/local/bin but \`node\` on PATH is $(command -v node): put /usr/local/bin first"
  exit 1
fi
if ! pnpm --version 2>/dev/null | grep -q '^12\.'; then
  say "installing pnpm 12 into /usr/local"
  $SUDO npm install -g --prefix /usr/local --no-fund --no-audit pnpm@12.21.0 >/dev/null
  hash -r
fi
if ! command -v openssl >/dev/null 2>&1; then
  say "installing openssl from apt (the demo and the tests make their own test certificates)"
  apt_install openssl
fi

if ! command -v nats-server >/dev/null 2>&1; then
  say "installing nats-server from apt"
  apt_install nats-server
fi

say "node $(node --version), pnpm $(pnpm --version), $(nats-server --version)"
pnpm install --frozen-lockfile --reporter=silent
pnpm -s build
say "ready"
