#!/usr/bin/env bash
# Writes the example federation that deploy/k8s ships: seven members (AL BA ME MK RS XK and the analytics
# node FRONTEX), version 1 of the manifest signed by four of them (threshold 4 of 7), one agreement per
# bilateral pair (AL↔XK, BA↔ME, MK↔RS) and one per Western Balkans partner towards FRONTEX (monthly
# aggregates), and for each partner its overlay's agreements, NATS access (wbx nats-config) and public
# key. The private keys and nkey seeds are made in a temporary directory and thrown away: the example is
# for rendering and the manifest tests only. A real federation follows deploy/README.md instead.
#
#   deploy/k8s/make-example.sh            # needs `wbx` on PATH (pnpm -s build; scripts/setup.sh links it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
partners=(AL BA ME MK RS XK FRONTEX)
declare -A names=(
  [AL]=Albania [BA]='Bosnia and Herzegovina' [ME]=Montenegro [MK]='North Macedonia' [RS]=Serbia
  [XK]=Kosovo [FRONTEX]='Frontex analytics'
)
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }

members=() ; named=() ; roles=()
for p in "${partners[@]}"; do
  wbx keys generate --partner "$p" --out "$work/keys" >/dev/null 2>&1
  members+=(--member "$p=$work/keys/$p.public.jwk")
  named+=(--name "$p=${names[$p]}")
  if [[ $p == FRONTEX ]]; then roles+=(--roles "$p=recipient,analyst"); fi
done
wbx manifest init "${members[@]}" "${named[@]}" "${roles[@]}" --threshold 4 --out "$work/manifest.json" >/dev/null
for p in AL MK RS XK; do wbx manifest sign --manifest "$work/manifest.json" --key "$work/keys/$p.private.jwk" >/dev/null; done
wbx manifest verify --manifest "$work/manifest.json" >/dev/null
cp "$work/manifest.json" "$here/base/federation/manifest.json"

# agreement PROVIDER RECIPIENT: drafted from terms and signed by both parties.
agreement() {
  local from=$1 to=$2 id="$1-$2-2026-001"
  mkdir -p "$work/agreements"
  if [[ $to == FRONTEX ]]; then
    cat >"$work/$id.yaml" <<TERMS
id: $id
provider: $from
recipient: $to
purposes: [risk-analysis]
legalBasis: Working arrangement on the exchange of statistical data
validFrom: 2026-12-01T00:00:00Z
validUntil: 2036-12-01T00:00:00Z
terms:
  - types: [crossing.irregular]
    mode: aggregate
    dimensions: [persons.citizenship]
    period: month
    retentionDays: 3650
TERMS
  else
    cat >"$work/$id.yaml" <<TERMS
id: $id
provider: $from
recipient: $to
purposes: [border-management, risk-analysis]
legalBasis: Protocol on police and border cooperation, Art. 7
validFrom: 2026-12-01T00:00:00Z
validUntil: 2036-12-01T00:00:00Z
terms:
  - types: [crossing.irregular]
    mode: records
    fields: [occurredAt, routeSegment, persons.citizenship]
    retentionDays: 90
TERMS
  fi
  wbx agreement draft --file "$work/$id.yaml" --out "$work/agreements/$id.json" >/dev/null
  wbx agreement sign --agreement "$work/agreements/$id.json" --key "$work/keys/$from.private.jwk" >/dev/null
  wbx agreement sign --agreement "$work/agreements/$id.json" --key "$work/keys/$to.private.jwk" >/dev/null
}
for pair in AL:XK XK:AL BA:ME ME:BA MK:RS RS:MK; do agreement "${pair%%:*}" "${pair##*:}"; done
for p in AL BA ME MK RS XK; do agreement "$p" FRONTEX; done

for p in "${partners[@]}"; do
  o="$here/overlays/$(lower "$p")"
  rm -rf "$o/agreements" && mkdir -p "$o/agreements" "$work/own-$p"
  files=() ; receive=()
  for a in "$work"/agreements/*.json; do
    id=$(basename "$a" .json) ; from=${id%%-*} ; rest=${id#*-} ; to=${rest%%-*}
    if [[ $from == "$p" || $to == "$p" ]]; then
      cp "$a" "$o/agreements/" ; cp "$a" "$work/own-$p/" ; files+=("agreements/$id.json")
    fi
    if [[ $to == "$p" ]]; then receive+=("$from"); fi
  done
  wbx nats-config --partner "$p" --manifest "$work/manifest.json" --agreements "$work/own-$p" \
    --out "$work/access-$p" --tls-cert /etc/nats-tls/tls.crt --tls-key /etc/nats-tls/tls.key >/dev/null
  cp "$work/access-$p/nats-access.conf" "$o/nats-access.conf"
  cp "$work/keys/$p.public.jwk" "$o/partner.public.jwk"
  ns="wbx-$(lower "$p")"
  {
    echo "# $p's gateway (${names[$p]}): the configuration documented in README.md, for the pods of"
    echo '# deploy/k8s/base/gateway/deployment.yaml (every path below is one of its mounts).'
    echo "partner: $p"
    echo 'key: /etc/wbx/key/partner.private.jwk'
    echo 'manifest: /etc/wbx/manifest/manifest.json'
    echo 'data: /var/lib/wbx'
    echo 'agreements: /etc/wbx/agreements'
    echo 'nats:'
    echo '  url: tls://nats-0.nats-headless:4222,tls://nats-1.nats-headless:4222,tls://nats-2.nats-headless:4222'
    echo '  nkeyFile: /etc/wbx/nats/gateway.nkey'
    echo '  publishTimeout: 10s'
    echo '  originUnreachableAfter: 60s'
    echo 'grpc:'
    echo '  listen: 0.0.0.0:7443'
    echo '  tls:'
    echo '    cert: /etc/wbx/ingest-tls/tls.crt'
    echo '    key: /etc/wbx/ingest-tls/tls.key'
    echo '    clientCa: /etc/wbx/ingest-tls/ca.crt # the ministry CA of the systems that submit'
    echo 'http:'
    echo '  listen: 0.0.0.0:9464 # probes and /metrics; the NetworkPolicy admits Prometheus only'
    echo 'exchange:'
    echo '  listen: 0.0.0.0:8443'
    echo '  tls:'
    echo '    cert: /etc/wbx/exchange-tls/tls.crt'
    echo '    key: /etc/wbx/exchange-tls/tls.key'
    echo '    clientCa: /etc/wbx/exchange-tls/federation-ca.crt'
    echo 'streams:'
    echo '  replicas: 3 # the 3-node cluster'
    echo '  maxBytes: 20GB # of max_file_store 45G (nats.conf), beside WBX_INBOX and the share streams'
    echo 'inbox:'
    echo '  maxBytes: 10GB'
    echo 'quarantine:'
    echo '  maxBytes: 1GB'
    echo 'ingest:'
    echo '  sealWorkers: 1 # the container has 2 cores at most'
    echo 'log:'
    echo '  level: info'
    if ((${#receive[@]} == 0)); then
      echo 'receive: []'
    else
      echo 'receive: # the origins that share with this partner: their NATS and the nkey each handed over'
      for r in "${receive[@]}"; do
        echo "  - partner: $r"
        echo "    url: tls://nats.$(lower "$r").wbx.example.invalid:4222"
        echo "    nkeyFile: /etc/wbx/receive/$r.nkey"
        echo "    tlsCa: /etc/wbx/receive/$r-ca.crt"
      done
    fi
  } >"$o/gateway.yaml"
  {
    echo "# $p (${names[$p]}). Generated by deploy/k8s/make-example.sh; deploy/README.md says how to make your own."
    echo 'apiVersion: kustomize.config.k8s.io/v1beta1'
    echo 'kind: Kustomization'
    echo "namespace: $ns"
    echo 'labels:'
    echo "  - pairs: { wbx.eu/partner: $p }"
    echo 'resources:'
    echo '  - ../../base'
    echo '  - namespace.yaml'
    echo 'images:'
    echo '  - name: registry.example.invalid/wbx/gateway # your registry, and the version you built'
    echo '    newTag: 0.1.0'
    echo 'secretGenerator:'
    echo '  # wbx nats-config output; without a hash: a new recipient is an update and a reload, not a restart.'
    echo '  - name: nats-access'
    echo '    options: { disableNameSuffixHash: true }'
    echo '    files: [nats-access.conf]'
    echo 'configMapGenerator:'
    echo '  - name: wbx-gateway-config'
    echo '    files: [gateway.yaml]'
    echo '  - name: wbx-partner'
    echo "    literals: [partner=$p]"
    echo '    files: [partner.public.jwk]'
    echo '  # Without a hash: kubelet swaps the mounted directory and the gateway applies the change at run time.'
    echo '  # Keep this list last: deploy/README.md rewrites it from the agreements directory.'
    echo '  - name: wbx-agreements'
    echo '    options: { disableNameSuffixHash: true }'
    echo '    files:'
    for f in "${files[@]}"; do echo "      - $f"; done
  } >"$o/kustomization.yaml"
  cat >"$o/namespace.yaml" <<NS
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    pod-security.kubernetes.io/enforce: restricted
NS
done
echo "wrote $here/base/federation/manifest.json and the overlays of ${partners[*]}"
