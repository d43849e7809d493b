#!/usr/bin/env bash
# Sets up everything WBX needs on a Debian/Ubuntu machine with Node and apt, then installs and builds
# the workspace. Idempotent: what is already there is left alone.
#   Node.js 24 LTS  — from the npm registry (package node@24) into /usr/local, when `node` is older
#   pnpm 12         — from the npm registry into /usr/local
#   nats-server     — Debian/Ubuntu package (tests and the embedded gateway run the real server)
#   openssl         — Debian/Ubuntu package (the demo's and the tests' throw-away mTLS certificates)
#   podman, buildah, runc — Debian/Ubuntu packages (`pnpm image` and the container test, deploy/image/)
#   chromium        — Debian/Ubuntu package (the analytics dashboard's browser test)
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

# `pnpm image` builds the gateway image FROM scratch with podman (or buildah), no registry needed; the
# container test runs it with podman through testcontainers. runc: the OCI runtime podman uses here.
missing_container_tools=()
for tool in podman buildah runc; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing_container_tools+=("$tool")
done
if [ "${#missing_container_tools[@]}" -gt 0 ]; then
  say "installing ${missing_container_tools[*]} from apt (the container image and its test)"
  apt_install "${missing_container_tools[@]}"
fi

# chromium: Debian's own build drives the analytics dashboard's browser test (playwright-core with
# executablePath; no browser is ever downloaded).
if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium from apt (the dashboard's browser test)"
  apt_install chromium
fi

# nats-server 2.10: Debian 12 ships only 2.9.10 (end-of-life, CVE-2023-47090, a clustered
# expected-sequence bug). Debian 13 (trixie) ships 2.10.x, a static Go binary that installs alone. On a
# bookworm machine the set-up adds the trixie suite beside the machine's own Debian source (the same URI,
# read from its apt configuration), pinned at priority 100 so that nothing else is taken from it.
nats_minor() {
  local v; v="$(nats-server --version 2>/dev/null | sed -nE 's/^nats-server: v?([0-9]+)\.([0-9]+)\..*/\1 \2/p')"
  if [ -z "$v" ]; then echo 0; else set -- $v; echo $(( $1 * 100 + $2 )); fi
}
debian_uri() {
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1=="deb" {print $2}'
  } | grep -E '/debian/?$' | head -n1 || true
}
if [ "$(nats_minor)" -lt 210 ]; then
  if [ "$APT_UPDATED" -eq 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  if apt-cache policy nats-server 2>/dev/null | grep -qE 'Candidate: 2\.(1[0-9])'; then
    say "installing nats-server 2.10+ from apt"
    apt_install nats-server
  else
    uri="$(debian_uri)"
    if [ -z "$uri" ]; then say "no Debian apt source found to add trixie beside; install nats-server >= 2.10 by hand"; exit 1; fi
    say "installing nats-server 2.10 from Debian trixie ($uri), pinned at priority 100"
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/wbx-trixie.sources >/dev/null
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' | $SUDO tee /etc/apt/preferences.d/wbx-trixie >/dev/null
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t trixie nats-server >/dev/null
  fi
fi

# The hostile-partner suite also runs on Debian 12's nats-server 2.9.10 where apt still has it (tests only:
# unpacked into .cache/, never installed or run by the gateway).
OLD_NATS_DIR=".cache/nats-servers/2.9.10"
if [ ! -x "$OLD_NATS_DIR/usr/sbin/nats-server" ]; then
  old_deb_dir="$(mktemp -d)"
  old_version="$(apt-cache madison nats-server 2>/dev/null | awk '$3 ~ /^2\.9\.10/ {print $3; exit}')"
  if [ -n "$old_version" ] && (cd "$old_deb_dir" && apt-get download -qq "nats-server=$old_version" >/dev/null 2>&1); then
    mkdir -p "$OLD_NATS_DIR" && dpkg-deb -x "$old_deb_dir"/nats-server_*.deb "$OLD_NATS_DIR"
    say "unpacked nats-server 2.9.10 into $OLD_NATS_DIR (for the hostile-partner suite)"
  fi
  rm -rf "$old_deb_dir"
fi

say "node $(node --version), pnpm $(pnpm --version), $(nats-server --version)"
pnpm install --frozen-lockfile --reporter=silent
pnpm -s build
# `wbx` on PATH: the CLI package's bin, linked from /usr/local/bin to this checkout's build.
chmod +x cli/dist/bin/wbx.js
$SUDO ln -sfn "$PWD/cli/dist/bin/wbx.js" /usr/local/bin/wbx
say "ready: $(command -v wbx)"
