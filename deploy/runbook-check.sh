#!/usr/bin/env bash
# Runs every ```sh block of deploy/README.md, in order, in one bash shell, in a fresh temporary directory:
# the runbook's commands as written, with the checkout's `wbx` (cli/dist: `pnpm -s build` first) and openssl.
# There is no cluster here, so `kubectl` is a function: `create` runs with --dry-run=client (printing the
# object), `apply -k DIR` renders DIR with `kubectl kustomize`, `apply -f` keeps what it is given, `version`
# and `kustomize` run as they are, and everything else (exec, rollout, run, scale, get, delete) is recorded,
# not run. With WBX_RUNBOOK_OUT=DIR, the last rendering of each overlay, the objects created and the
# recorded commands are left in DIR.
#
#   deploy/runbook-check.sh            # exit 0 when every block ran
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${WBX_RUNBOOK_OUT:-$work/out}
mkdir -p "$work/bin" "$work/run" "$out"
printf '#!/bin/sh\nexec node "%s/cli/dist/bin/wbx.js" "$@"\n' "$repo" >"$work/bin/wbx"
chmod +x "$work/bin/wbx"

# The blocks, in order; a line `# block N` before each, so that a failure can be placed.
awk '/^```sh$/ { inside = 1; n++; print "# block " n; next } /^```/ { inside = 0 } inside { print }' \
  "$repo/deploy/README.md" >"$work/runbook.sh"
blocks=$(grep -c '^# block ' "$work/runbook.sh")

cat >"$work/prelude.sh" <<PRELUDE
set -euo pipefail
export PATH="$work/bin:\$PATH"
export WBX_CHECKOUT="$repo"
WBX_RUNBOOK_OUT="$out"
PRELUDE
cat >>"$work/prelude.sh" <<'PRELUDE'
kubectl() {
  local args=("$@") sub=""
  for a in "$@"; do case "$a" in -*) ;; *) sub=$a; break ;; esac; done
  # `-n NS` comes first in the runbook: find the verb after it.
  if [[ ${args[0]:-} == -n ]]; then sub=${args[2]:-}; fi
  case "$sub" in
    version | kustomize) command kubectl "$@" ;;
    create)
      # A Job made from the CronJob reads the cluster: recorded like the other cluster commands.
      if [[ " $* " == *" job "* ]]; then
        echo "kubectl $*" >>"$WBX_RUNBOOK_OUT/cluster-commands.txt"
        return
      fi
      command kubectl "$@" --dry-run=client -o yaml | tee -a "$WBX_RUNBOOK_OUT/created.yaml"
      echo --- >>"$WBX_RUNBOOK_OUT/created.yaml"
      ;;
    apply)
      local i
      for ((i = 0; i < ${#args[@]}; i++)); do
        if [[ ${args[i]} == -k ]]; then
          command kubectl kustomize "${args[i + 1]}" >"$WBX_RUNBOOK_OUT/overlay-$(basename "${args[i + 1]}").yaml"
          echo "rendered ${args[i + 1]}"
        elif [[ ${args[i]} == -f ]]; then
          if [[ ${args[i + 1]} == - ]]; then cat; else cat "${args[i + 1]}"; fi >>"$WBX_RUNBOOK_OUT/applied.yaml"
          echo --- >>"$WBX_RUNBOOK_OUT/applied.yaml"
        fi
      done
      ;;
    *) echo "kubectl $*" >>"$WBX_RUNBOOK_OUT/cluster-commands.txt" ;;
  esac
}
PRELUDE

cd "$work/run"
if ! bash -c "source '$work/prelude.sh'; source '$work/runbook.sh'" >"$work/log" 2>&1; then
  cat "$work/log" >&2
  echo "runbook-check: a command failed (the last '# block N' above the failure in the extracted script)" >&2
  exit 1
fi
cp "$work/log" "$out/log"
echo "runbook-check: ran the $blocks sh blocks of deploy/README.md; $(wc -l <"$out/cluster-commands.txt") cluster commands recorded"
