#!/usr/bin/env bash
# Start / stop a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, all
# built by `make kube-tools` into .tools/bin) on free loopback ports under DIR. No kubelet, no
# scheduler: pods stay Pending unless a test marks them (and says so). Issue 16.
#   scripts/kube.sh start DIR   -> writes DIR/env (source it) and DIR/kubeconfig (admin token)
#   scripts/kube.sh stop DIR    -> stops what DIR's start started, removes DIR
# Env written: TEST_KUBE_SERVER, TEST_KUBE_TOKEN (system:masters), TEST_KUBE_CA (file),
#   TEST_KUBECONFIG, TEST_ETCD_URL (client URL; its JSON gateway serves /v3/kv/compaction),
#   TEST_KUBE_DIR (audit.log: list/watch/patch requests of ServiceAccounts).
# The HPA controller is not in this controller-manager: test/kube/hpa.test.ts runs its own, whose
# API server is a pass-through that also serves a fake metrics API.
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?dir}
here=$(cd "$(dirname "$0")" && pwd)
bin=${KUBE_TOOLS_BIN:-$here/../.tools/bin}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()
PY
}

certs() {
  local d=$dir/pki
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-kube-ca \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  cat >"$d/server.ext" <<EXT
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$d/server.key" \
    -out "$d/server.csr" 2>/dev/null
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() { # file token
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: admin
  user:
    token: $2
contexts:
- name: test
  context: {cluster: test, user: admin, namespace: default}
current-context: test
KC
}

wait_ready() { # url what pidfile
  for _ in $(seq 1 600); do
    if curl -fsS --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $admin_token" "$1" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$(cat "$3")" 2>/dev/null || { echo "$2 exited; log:" >&2; tail -30 "$dir/$2.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "$2 not ready after 120 s; log:" >&2
  tail -30 "$dir/$2.log" >&2
  exit 1
}

start() {
  for b in etcd kube-apiserver kube-controller-manager; do
    [ -x "$bin/$b" ] || { echo "$bin/$b missing (make kube-tools)" >&2; exit 1; }
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  certs
  local etcd_port etcd_peer
  etcd_port=$(free_port)
  etcd_peer=$(free_port)
  api_port=$(free_port)
  admin_token=$(openssl rand -hex 24)
  echo "$admin_token,test-admin,test-admin,system:masters" >"$dir/tokens.csv"
  # Audit log of list/watch/patch requests of ServiceAccounts: tests count the lists (relists) an
  # informer made and the status patches a leader wrote.
  cat >"$dir/audit-policy.yaml" <<POL
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [list, watch, patch]
  userGroups: [system:serviceaccounts]
- level: None
POL

  "$bin/etcd" --name test --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "test=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level error \
    >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done

  # --watch-cache=false: watches are served from etcd, so a watch from a compacted revision gets
  # 410 Gone as it would from a real cluster once its cache window has moved on.
  "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$api_port" --advertise-address 10.0.0.1 \
    --endpoint-reconciler-type none --service-cluster-ip-range 10.0.0.0/24 \
    --tls-cert-file "$dir/pki/server.crt" --tls-private-key-file "$dir/pki/server.key" \
    --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/tokens.csv" \
    --authorization-mode RBAC --anonymous-auth=false --allow-privileged \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --watch-cache=false --etcd-compaction-interval 0 --enable-priority-and-fairness=false \
    --profiling=false --cert-dir "$dir/pki/generated" \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
    >"$dir/kube-apiserver.log" 2>&1 &
  echo $! >"$dir/kube-apiserver.pid"
  wait_ready "https://127.0.0.1:$api_port/readyz" kube-apiserver "$dir/kube-apiserver.pid"

  kubeconfig "$dir/kubeconfig" "$admin_token"
  "$bin/kube-controller-manager" --kubeconfig "$dir/kubeconfig" \
    --controllers serviceaccount-token-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,garbage-collector-controller,job-controller,namespace-controller,deployment-controller,replicaset-controller \
    --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
    --leader-elect=false --secure-port 0 --profiling=false \
    >"$dir/kube-controller-manager.log" 2>&1 &
  echo $! >"$dir/kube-controller-manager.pid"
  # Ready when the token controller has given the default ServiceAccount of "default" a token-able
  # root CA ConfigMap (root CA publisher) and the ServiceAccount exists (serviceaccount controller).
  wait_ready "https://127.0.0.1:$api_port/api/v1/namespaces/default/configmaps/kube-root-ca.crt" \
    kube-controller-manager "$dir/kube-controller-manager.pid"
  wait_ready "https://127.0.0.1:$api_port/api/v1/namespaces/default/serviceaccounts/default" \
    kube-controller-manager "$dir/kube-controller-manager.pid"

  cat >"$dir/env" <<ENV
export TEST_KUBE_SERVER=https://127.0.0.1:$api_port
export TEST_KUBE_TOKEN=$admin_token
export TEST_KUBE_CA=$dir/pki/ca.crt
export TEST_KUBECONFIG=$dir/kubeconfig
export TEST_ETCD_URL=http://127.0.0.1:$etcd_port
export TEST_KUBE_DIR=$dir
ENV
}

stop() {
  [ -d "$dir" ] || return 0
  local p
  for p in kube-controller-manager kube-apiserver etcd; do
    if [ -f "$dir/$p.pid" ]; then
      kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
