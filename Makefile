# The README's two commands: `make run` and `make test`. Each installs what is missing first.

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
WEB_BUNDLE := src/talkbox/ui/static/app.js
# The embeddable client, an ES module with its type declarations (web/dist/talkbox.d.ts).
WEB_CLIENT := web/dist/talkbox.js
WEB_SOURCES := $(shell find web/src -name '*.ts' -o -name '*.js' 2>/dev/null) web/package.json web/package-lock.json

.PHONY: run test deps web protocol system test-web test-python test-component-redis bench lint screenshot

run: deps web
	$(UV) run talkbox serve

test: deps web system lint test-web test-python test-component-redis

deps:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	scripts/ensure-system-packages.sh libopus0:libopus.so.0
	$(UV) sync --frozen

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_BUNDLE) $(WEB_CLIENT) &: web/node_modules/.package-lock.json $(WEB_SOURCES) web/tsconfig.client.json
	cd web && npm run build

web: $(WEB_BUNDLE) $(WEB_CLIENT)

# After changing a websocket message (talkbox/ui/protocol.py): the page's generated copy of the wire, to commit.
protocol: deps web/node_modules/.package-lock.json
	$(UV) run python -m talkbox.ui.schema > web/src/generated/protocol.schema.json
	cd web && node scripts/protocol.mjs

system:
	scripts/ensure-system-packages.sh chromium nftables:nft sip-tester:sipp baresip-core:baresip redis-server:redis-server nginx:nginx coturn:turnserver

test-web: web/node_modules/.package-lock.json
	cd web && npm run typecheck && npm test

test-python:
	$(UV) run pytest

# The component suite again on the Redis bus and store (the other column of DESIGN.md's table); not yet in `test`:
# test_fuzz can see a `synced` before its `welcome` on Redis (docs/architecture.md). The chaos test
# starts its own Redis and nodes, and ran in test-python already.
test-component-redis:
	scripts/with-redis-server.sh $(UV) run pytest tests/component -q

lint:
	$(UV) run ruff check src tests

# `make bench ONLY=router,signalling RUNS=3`: see bench/README.md. Janus (for ONLY=janus) comes from bench/setup.sh.
bench: deps web
	bench/setup.sh
	$(UV) run python -m bench $(if $(ONLY),--only $(ONLY)) $(if $(RUNS),--runs $(RUNS)) $(if $(CORES),--cores $(CORES))

screenshot: deps web system
	$(UV) run python scripts/screenshot.py
