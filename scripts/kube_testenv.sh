#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for the kube tests (tests/kube/):
#   etcd + kube-apiserver (client certs, ServiceAccount tokens, RBAC, audit log)
#   + kube-controller-manager (Deployments, ReplicaSets, HPA, ServiceAccount tokens)
#   + kube-scheduler + KWOK (fake nodes; pods turn Ready after a delay)
#   + the LeaderWorkerSet controller, prometheus-adapter and helm (built, started by the tests).
# Every binary is built once from the Go module proxy (scripts/kube/*/go.mod pin the versions)
# and cached under $KUBE_TESTENV_DIR (default .kube-testenv/, git-ignored).
#
#   scripts/kube_testenv.sh build       build (or reuse) the binaries
#   scripts/kube_testenv.sh start       build, then start (idempotent: reuses a healthy env)
#   scripts/kube_testenv.sh stop        stop every process it started, by PID
#   scripts/kube_testenv.sh status      exit 0 when the API server answers
#   scripts/kube_testenv.sh kubeconfig  print the admin kubeconfig path
#   scripts/kube_testenv.sh path        print the binaries' folder
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${KUBE_TESTENV_DIR:-$ROOT/.kube-testenv}"
BIN="$DIR/bin"
RUN="$DIR/run"
PKI="$RUN/pki"
APISERVER_PORT="${KUBE_TESTENV_APISERVER_PORT:-16443}"
ETCD_PORT="${KUBE_TESTENV_ETCD_PORT:-12379}"
SERVER="https://127.0.0.1:$APISERVER_PORT"
KUBECONFIG_ADMIN="$RUN/admin.kubeconfig"
GOFLAGS_BUILD=(-trimpath "-ldflags=-s -w")
CONTROL_PLANE=(kube-apiserver kube-controller-manager kube-scheduler kwok etcd)

log() { echo "kube-testenv: $*" >&2; }

# -- build ---------------------------------------------------------------------------------
stamp() {  # what the binaries were built from: the pins and this script's build recipe
  cat "$ROOT"/scripts/kube/go.mod "$ROOT"/scripts/kube/go.sum \
    "$ROOT"/scripts/kube/*/go.mod "$ROOT"/scripts/kube/*/go.sum "$ROOT"/scripts/kube/cmd/*/*.go \
    "$ROOT"/scripts/kube_testenv.sh \
    | sha256sum | cut -c1-16
}

build() {
  local want have=""
  want="$(stamp)"
  [[ -f "$BIN/.stamp" ]] && have="$(cat "$BIN/.stamp")"
  if [[ "$want" == "$have" ]]; then return 0; fi
  command -v go >/dev/null || { log "go not found: install Go >= 1.26"; exit 1; }
  mkdir -p "$BIN"
  local t0=$SECONDS
  log "building the control plane from the Go module proxy (once; ~15-25 min on 2 cores)..."
  # The three modules build side by side: a cold build spends much of its time fetching
  # modules, which overlaps with the others' compiling.
  local pids=() pid failed=0
  (cd "$ROOT/scripts/kube" && go build "${GOFLAGS_BUILD[@]}" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok ./cmd/etcd) &
  pids+=($!)
  (cd "$ROOT/scripts/kube/operators" && go build "${GOFLAGS_BUILD[@]}" -o "$BIN/" \
    helm.sh/helm/v4/cmd/helm && go build "${GOFLAGS_BUILD[@]}" -o "$BIN/lws" sigs.k8s.io/lws/cmd) &
  pids+=($!)
  (cd "$ROOT/scripts/kube/adapter" && go build "${GOFLAGS_BUILD[@]}" \
    -o "$BIN/prometheus-adapter" sigs.k8s.io/prometheus-adapter/cmd/adapter) &
  pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if ((failed)); then log "build failed (see the go output above)"; exit 1; fi
  copy_module_data
  echo "$want" >"$BIN/.stamp"
  log "built in $((SECONDS - t0)) s: $(du -sh "$BIN" | cut -f1) of binaries"
}

copy_module_data() {  # stage files and manifests the env reads, from the downloaded modules
  local kwok lws
  kwok="$(cd "$ROOT/scripts/kube" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  lws="$(cd "$ROOT/scripts/kube/operators" && go list -m -f '{{.Dir}}' sigs.k8s.io/lws)"
  mkdir -p "$BIN/data"
  cat "$kwok"/kustomize/stage/node/fast/node-initialize.yaml \
    <(echo ---) "$kwok"/kustomize/stage/node/heartbeat/node-heartbeat.yaml \
    <(echo ---) "$kwok"/kustomize/stage/pod/general/pod-create.yaml \
    <(echo ---) "$kwok"/kustomize/stage/pod/general/pod-init-container-running.yaml \
    <(echo ---) "$kwok"/kustomize/stage/pod/general/pod-init-container-completed.yaml \
    <(echo ---) "$kwok"/kustomize/stage/pod/general/pod-ready.yaml \
    <(echo ---) "$kwok"/kustomize/stage/pod/general/pod-complete.yaml \
    <(echo ---) "$kwok"/kustomize/stage/pod/general/pod-delete.yaml >"$BIN/data/kwok-stages.yaml"
  cp "$lws/config/webhook/manifests.yaml" "$BIN/data/lws-webhooks.yaml"
  # LWS v0.9.0 also runs a DisaggregatedSet controller: without its CRD the manager exits
  # once its cache-sync timeout (2 min) passes.
  cp "$lws/config/crd/bases/disaggregatedset.x-k8s.io_disaggregatedsets.yaml" "$BIN/data/"
  chmod -R u+w "$BIN/data"
}

# -- certificates and configs ----------------------------------------------------------------
cert() {  # cert NAME CN [O] [SAN]: a key and a certificate signed by the env's CA
  local name=$1 cn=$2 org=${3:-} san=${4:-} subj="/CN=$2"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" \
    -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=digitalSignature,keyEncipherment"
    if [[ -n "$san" ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi; } >"$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/${5:-ca}.crt" -CAkey "$PKI/${5:-ca}.key" \
    -CAcreateserial -days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
}

make_pki() {
  [[ -f "$PKI/.done-2" ]] && return 0
  mkdir -p "$PKI"
  local ca
  for ca in ca front-proxy-ca; do
    openssl req -x509 -new -newkey rsa:2048 -nodes -days 3650 -keyout "$PKI/$ca.key" \
      -subj "/CN=kube-testenv-$ca" -out "$PKI/$ca.crt" 2>/dev/null
  done
  cert apiserver kube-apiserver "" "IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc"
  cert admin kube-testenv-admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  # the LWS webhooks and prometheus-adapter (the aggregator checks the Service's DNS name)
  cert webhook localhost "" "IP:127.0.0.1,DNS:localhost,DNS:prometheus-adapter.kube-system.svc"
  cert front-proxy-client front-proxy-client "" "" front-proxy-ca
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  touch "$PKI/.done-2"
}

kubeconfig() {  # kubeconfig FILE CERTNAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-testenv
  cluster: {server: "$SERVER", certificate-authority: "$PKI/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$PKI/$2.crt", client-key: "$PKI/$2.key"}
contexts:
- name: kube-testenv
  context: {cluster: kube-testenv, user: $2, namespace: default}
current-context: kube-testenv
EOF
}

write_configs() {
  kubeconfig "$KUBECONFIG_ADMIN" admin
  kubeconfig "$RUN/controller-manager.kubeconfig" controller-manager
  kubeconfig "$RUN/scheduler.kubeconfig" scheduler
  # Every write with who made it, and Lease writes with their body: the tests read it to
  # check that only the Lease holder wrote, and when.
  cat >"$RUN/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Request  # Lease writes with their body: who held the Lease when
  resources: [{group: coordination.k8s.io, resources: [leases]}]
  verbs: [create, update, patch]
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
EOF
  { cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  cidr: 10.0.0.0/16
  nodeIP: 10.0.255.1
  enableCNI: false
  podPlayStageParallelism: 8
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 2
  nodeLeaseDurationSeconds: 40
---
EOF
    cat "$BIN/data/kwok-stages.yaml"; } >"$RUN/kwok.yaml"
}

# -- processes -------------------------------------------------------------------------------
running() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

spawn() {  # spawn NAME BINARY ARGS...: start in the background, log and PID under $RUN
  local name=$1; shift
  running "$name" && return 0
  setsid "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_for() {  # wait_for WHAT SECONDS CMD...: WHAT is also the process to watch, if ours
  local what=$1 limit=$2; shift 2
  local t0=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if [[ -f "$RUN/$what.pid" ]] && ! running "$what"; then
      log "$what exited; last lines of $RUN/$what.log:"; tail -5 "$RUN/$what.log" >&2; return 1
    fi
    if ((SECONDS - t0 > limit)); then log "$what not up after ${limit}s; see $RUN/*.log"; return 1; fi
    sleep 0.5
  done
}

apiserver_ready() {
  curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "$SERVER/readyz" >/dev/null
}

start_etcd() {
  spawn etcd "$BIN/etcd" --name testenv --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "testenv=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --listen-metrics-urls "" --unsafe-no-fsync --quota-backend-bytes 2147483648
  wait_for etcd 60 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  spawn kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --api-audiences https://kubernetes.default.svc \
    --service-cluster-ip-range 10.96.0.0/16 --allow-privileged \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
    --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --audit-policy-file "$RUN/audit-policy.yaml" --audit-log-path "$RUN/audit.log" \
    --audit-log-maxsize 200 --audit-log-maxbackup 1 --audit-log-format json \
    --enable-priority-and-fairness=false --profiling=false
  wait_for kube-apiserver 120 apiserver_ready
}

start_controllers() {
  spawn kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$RUN/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$RUN/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$RUN/controller-manager.kubeconfig" \
    --use-service-account-credentials --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --controllers '*,-node-ipam-controller' \
    --horizontal-pod-autoscaler-sync-period 3s --concurrent-deployment-syncs 5 \
    --bind-address 127.0.0.1 --secure-port 0 --profiling=false
  spawn kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$RUN/scheduler.kubeconfig" \
    --authentication-kubeconfig "$RUN/scheduler.kubeconfig" \
    --authorization-kubeconfig "$RUN/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 --profiling=false
  spawn kwok "$BIN/kwok" --kubeconfig "$KUBECONFIG_ADMIN" --config "$RUN/kwok.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake
}

fake_nodes() {  # two KWOK nodes with room for the tests' pods
  local i
  for i in 0 1; do
    kubectl --kubeconfig "$KUBECONFIG_ADMIN" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$i}
spec:
  taints: []
status:
  allocatable: {cpu: "256", memory: 1Ti, pods: "1000", nvidia.com/gpu: "64"}
  capacity: {cpu: "256", memory: 1Ti, pods: "1000", nvidia.com/gpu: "64"}
EOF
  done
}

start() {
  build
  mkdir -p "$RUN"
  if apiserver_ready 2>/dev/null && running kube-apiserver && running kube-controller-manager; then
    log "already running: KUBECONFIG=$KUBECONFIG_ADMIN"; return 0
  fi
  make_pki
  write_configs
  start_etcd
  start_apiserver
  wait_for "default namespace" 60 kubectl --kubeconfig "$KUBECONFIG_ADMIN" get ns default
  start_controllers
  fake_nodes
  log "up: KUBECONFIG=$KUBECONFIG_ADMIN ($SERVER)"
}

stop() {
  local name pid
  for name in lws prometheus-adapter "${CONTROL_PLANE[@]}"; do
    [[ -f "$RUN/$name.pid" ]] || continue
    pid="$(cat "$RUN/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -CONT "$pid" 2>/dev/null || true
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN/$name.pid"
  done
  # etcd data goes with the env: the next start is a clean cluster.
  rm -rf "$RUN/etcd" "$RUN/audit.log"
  log "stopped"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) apiserver_ready ;;
  kubeconfig) echo "$KUBECONFIG_ADMIN" ;;
  path) echo "$BIN" ;;
  *) echo "usage: $0 build|start|stop|status|kubeconfig|path" >&2; exit 2 ;;
esac
