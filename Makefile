# Two commands matter: `make run` (embedded, one process) and `make test` (everything, real servers).
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS_BIN := $(CURDIR)/.tools/bin
K6_VERSION := v1.8.1
HELM_VERSION := v3.22.0
K6 := $(TOOLS_BIN)/k6
HELM := $(TOOLS_BIN)/helm
export PATH := $(TOOLS_BIN):$(PATH)
UP_DIR := $(CURDIR)/.tmp/up

APT_PACKAGES := postgresql pgbouncer redis-server prometheus python3 nginx

help:
	@echo "make run          start the service on embedded defaults (PostgreSQL from npm, in-memory Redis stand-ins)"
	@echo "make test         lint, typecheck and every test against real PostgreSQL, PgBouncer, Redis"
	@echo "make up / down    production-shaped local stack (PG, PgBouncer, Redis, api + worker processes)"
	@echo "make bench        full benchmark -> loadtest/results/<date>/; make bench-quick: 1-minute subset"
	@echo "make chart        regenerate manifests and the Helm chart from cdk8s/"
	@echo "make dashboards   regenerate dashboards/ JSON and alert rules"
	@echo "make clean        remove build output and the embedded data dir"

# --- installs: every step a fresh machine needs lives here ---------------------------------
.PHONY: deps deps-system deps-node tools
deps: deps-system deps-node

deps-system:
	@missing=""; \
	ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pgbouncer >/dev/null || missing="$$missing pgbouncer"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v python3 >/dev/null || missing="$$missing python3"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  systemctl stop postgresql redis-server pgbouncer prometheus nginx >/dev/null 2>&1 || true; \
	  service nginx stop >/dev/null 2>&1 || true; \
	  service postgresql stop >/dev/null 2>&1 || true; service redis-server stop >/dev/null 2>&1 || true; \
	  service prometheus stop >/dev/null 2>&1 || true; service pgbouncer stop >/dev/null 2>&1 || true; \
	fi

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps-node: node_modules/.installed

tools: $(K6) $(HELM)

$(K6):
	GOBIN=$(TOOLS_BIN) go install go.k6.io/k6@$(K6_VERSION)

$(HELM):
	GOBIN=$(TOOLS_BIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# --- build ---------------------------------------------------------------------------------
.PHONY: build
build: deps-node
	npm run --silent build

# --- run: embedded PostgreSQL, in-memory stand-ins, dev mode ------------------------------
.PHONY: run
run: build
	DEV_MODE=1 node dist/app/main.js

# --- test ----------------------------------------------------------------------------------
.PHONY: test lint typecheck
lint: deps-node
	npm run --silent lint

typecheck: deps-node
	npm run --silent typecheck

test: deps tools kube-tools schemathesis lint typecheck build
	WITH_KUBE=1 scripts/with-services.sh npx jest --ci $(JEST_ARGS)

# --- issue 17: faults and bad input (schemathesis venv, reliability tables) -----------------
# schemathesis (PyPI) in a venv under .tools/, used by test/integration/schemathesis.test.ts.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS := $(CURDIR)/.tools/schemathesis/bin/schemathesis
.PHONY: schemathesis reliability-doc test-faults
schemathesis: $(SCHEMATHESIS)

$(SCHEMATHESIS):
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }
	rm -rf $(CURDIR)/.tools/schemathesis
	python3 -m venv $(CURDIR)/.tools/schemathesis
	$(CURDIR)/.tools/schemathesis/bin/pip install -q --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	@touch $@

# The fault-injection suite alone (it also runs in `make test`).
test-faults: deps build
	npx jest --ci test/faults

# Rebuild docs/RELIABILITY.md's tables from the last run's .tmp/reliability/*.json.
reliability-doc:
	node scripts/reliability-table.mjs
# --- end issue 17 ---------------------------------------------------------------------------

# --- production-shaped local stack -------------------------------------------------------
.PHONY: up down
up: deps build
	scripts/stack.sh up $(UP_DIR)

down:
	scripts/stack.sh down $(UP_DIR)

.PHONY: clean
clean:
	rm -rf dist .data .tmp

# --- dashboards and alert rules: generated from dashboards/src (grafana-foundation-sdk) ----
.PHONY: dashboards
dashboards: deps-node
	rm -rf .tmp/dash-build
	npx tsc -p dashboards/tsconfig.json
	node .tmp/dash-build/dashboards/generate.js
	promtool check rules dashboards/rules/alerts.yaml
	promtool test rules dashboards/rules/alerts.test.yaml

# --- benchmarks: k6 scenarios + loadtest/params.json; report in loadtest/results/<date>[-quick]/ --
.PHONY: bench bench-quick bench-events
BENCH_COMPILE := rm -rf .tmp/bench-build && npx tsc -p loadtest/tools/tsconfig.json
bench: deps build tools
	$(BENCH_COMPILE)
	node .tmp/bench-build/bench.js --profile full $(BENCH_ARGS)
	node .tmp/bench-build/launch.js --profile full $(LAUNCH_ARGS)

bench-quick: deps build tools
	$(BENCH_COMPILE)
	node .tmp/bench-build/bench.js --profile quick $(BENCH_ARGS)
	node .tmp/bench-build/launch.js --profile quick $(LAUNCH_ARGS)

bench-events: deps build tools
	$(BENCH_COMPILE)
	node .tmp/bench-build/bench.js --profile full --only events --out loadtest/results/$$(date +%F)-events $(BENCH_ARGS)

# --- Kubernetes: cdk8s constructs -> charts/challenge-service (templates, values, schema) ----
.PHONY: chart
chart: deps-node $(HELM)
	rm -rf .tmp/cdk8s-build && npx tsc -p cdk8s/tsconfig.json
	node .tmp/cdk8s-build/cdk8s/synth.js
	$(HELM) lint charts/challenge-service

# --- issue 16: Kubernetes control plane for tests (etcd, kube-apiserver, kube-controller-manager) --
# Built from Go modules (tools/k8s pins k8s.io/kubernetes with its staging modules replaced by their
# releases; tools/etcd is a tiny main over etcdmain). Cached in .tools/bin: a warm run costs seconds.
KUBE_VERSION := v1.37.2
KUBE_APISERVER := $(TOOLS_BIN)/kube-apiserver
KUBE_CONTROLLER_MANAGER := $(TOOLS_BIN)/kube-controller-manager
ETCD := $(TOOLS_BIN)/etcd
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
  -X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION) \
  -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37
KUBE_GO_BUILD := cd tools/k8s && nice -n 10 go build -trimpath -ldflags '$(KUBE_LDFLAGS)'
.PHONY: kube-tools operator
kube-tools: $(KUBE_APISERVER) $(KUBE_CONTROLLER_MANAGER) $(ETCD)

$(KUBE_APISERVER):
	$(KUBE_GO_BUILD) -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(KUBE_CONTROLLER_MANAGER):
	$(KUBE_GO_BUILD) -o $@ k8s.io/kubernetes/cmd/kube-controller-manager

$(ETCD):
	cd tools/etcd && nice -n 10 go build -trimpath -ldflags '-s -w' -o $@ .

# The ChallengeService operator (app/operator/), against the cluster of $$OPERATOR_KUBECONFIG
# (default: in-cluster config); OPERATOR_NAMESPACE picks the namespace it watches.
operator: build
	node dist/app/operator.js
# --- end issue 16 ------------------------------------------------------------------------------

# --- issue 20 (launch day): vegeta open-model generator, storm / burst / capacity bench ------------
# nginx (Debian package) is installed by deps-system; scripts/stack.sh puts it in front of the api.
VEGETA_VERSION := v12.12.0
VEGETA := $(TOOLS_BIN)/vegeta

tools: $(VEGETA)

$(VEGETA):
	GOBIN=$(TOOLS_BIN) go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

.PHONY: bench-launch bench-launch-quick
# LAUNCH_ARGS: e.g. --only storm,burst-direct  or  --pin
bench-launch: deps build $(VEGETA)
	$(BENCH_COMPILE)
	node .tmp/bench-build/launch.js --profile full $(LAUNCH_ARGS)

bench-launch-quick: deps build $(VEGETA)
	$(BENCH_COMPILE)
	node .tmp/bench-build/launch.js --profile quick $(LAUNCH_ARGS)
# --- end issue 20 -----------------------------------------------------------------------------------
