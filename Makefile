# One command per everyday task; .ci/run uses the same targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run sandbox test lint types check bench load reliability install clean lock audit

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The public page's map library (Leaflet, from the npm registry; bot/opendata/package-lock.json),
# served by Aduan itself. Without npm the page still works, with figures and a list but no map.
LEAFLET := bot/opendata/node_modules/leaflet/dist/leaflet.js

$(LEAFLET): bot/opendata/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix bot/opendata --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: /public/ runs without its map (apt-get install npm)"; fi

install: $(STAMP) $(LEAFLET)

run: $(STAMP) $(LEAFLET)  ## run the bot (applies migrations first); no token: the training sandbox
	$(BIN)/aduan run --sandbox-if-no-token

sandbox: $(STAMP)  ## the training sandbox in the browser (ARGS="--scenario --port 8800")
	$(BIN)/aduan sandbox $(ARGS)

test: $(STAMP) $(LEAFLET)  ## unit, integration (SQLite + PostgreSQL) and end-to-end tests
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy bot handlers storage

check: lint types test

reliability: $(STAMP)  ## the long loops: 20 SIGKILL rounds, 50 race rounds, 500 random sequences
	ADUAN_KILL_ROUNDS=$${ADUAN_KILL_ROUNDS:-20} ADUAN_RACE_ROUNDS=$${ADUAN_RACE_ROUNDS:-50} \
	ADUAN_PROPERTY_EXAMPLES=$${ADUAN_PROPERTY_EXAMPLES:-500} \
		$(BIN)/python -m pytest -s -p no:cacheprovider --timeout 0 \
		tests/e2e/test_crash_recovery.py tests/integration/test_races.py tests/property $(ARGS)

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

load: $(STAMP)  ## the bot process under load vs an echo bot (ARGS="--citizens 50 --mode polling --profile")
	$(BIN)/python -m bench.load $(ARGS)

# requirements.lock: the runtime dependencies of pyproject.toml and everything they pull in, at
# the versions installed in .venv (what the tests ran with). Deploy with
# `pip install -r requirements.lock && pip install --no-deps .`.
define LOCK_PY
import importlib.metadata as md, re, sys, tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
wanted = [Requirement(r) for r in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]]
pins, todo = {}, [(r, "") for r in wanted]
while todo:
    req, extra = todo.pop()
    if req.marker and not req.marker.evaluate({"extra": extra}):
        continue
    name = canonicalize_name(req.name)
    dist = md.distribution(req.name)
    if name not in pins:
        pins[name] = dist.version
    for extra_name in req.extras | {""}:
        for sub in map(Requirement, dist.requires or []):
            if sub.marker and not sub.marker.evaluate({"extra": extra_name}):
                continue
            if canonicalize_name(sub.name) not in pins or extra_name:
                todo.append((sub, extra_name))
    todo = [(r, e) for r, e in todo if canonicalize_name(r.name) not in pins or r.extras]
lines = [f"{n}=={v}" for n, v in sorted(pins.items())]
header = "# Exact versions for deployments; regenerate with `make lock` (from .venv), never by hand.\n"
open("requirements.lock", "w").write(header + "\n".join(lines) + "\n")
print(f"requirements.lock: {len(lines)} packages")
endef
export LOCK_PY

lock: $(STAMP)  ## rewrite requirements.lock from the versions installed in .venv
	$(BIN)/python -c "$$LOCK_PY"

# The audit checks requirements.lock with pip-audit against PyPI's advisory data. It fails on a
# known vulnerability. It never reports a pass it did not check: when the advisory database
# cannot be reached (offline, or a mirror that has no advisory data, where pip-audit would skip
# every package and still print "No known vulnerabilities found"), it prints
# "dependency audit NOT run: …" and fails, or with AUDIT_UNREACHABLE=warn (CI) only warns.
AUDIT_UNREACHABLE ?= fail
define AUDIT_PY
import json, subprocess, sys
mode = sys.argv[1]
run = subprocess.run(
    [sys.executable, "-m", "pip_audit", "-r", "requirements.lock", "--no-deps", "--disable-pip",
     "--format", "json", "--progress-spinner", "off", "--timeout", "15"],
    capture_output=True, text=True,
)
def unreachable(why):
    print(f"dependency audit NOT run: vulnerability database unreachable ({why})")
    if mode == "warn":
        print("(AUDIT_UNREACHABLE=warn: continuing, but nothing was checked)")
        sys.exit(0)
    sys.exit(3)
try:
    report = json.loads(run.stdout)
except ValueError:
    last = (run.stderr.strip().splitlines() or ["pip-audit gave no report"])[-1]
    unreachable(last[-300:])
deps = report.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
vulnerable = [d for d in deps if d.get("vulns")]
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
        print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
if vulnerable:
    sys.exit(1)
if not deps or len(skipped) == len(deps):
    unreachable(f"all {len(deps)} packages skipped: {skipped[0]['skip_reason'] if skipped else 'no packages'}")
if skipped:
    for dep in skipped:
        print(f"NOT AUDITED {dep['name']} {dep.get('version', '')}: {dep['skip_reason']}")
    print(f"dependency audit incomplete: {len(skipped)} of {len(deps)} packages not checked")
    sys.exit(0 if mode == "warn" else 3)
print(f"dependency audit passed: {len(deps)} locked packages, no known vulnerabilities")
endef
export AUDIT_PY

audit: $(STAMP)  ## pip-audit on requirements.lock (AUDIT_UNREACHABLE=warn: offline only warns)
	@$(BIN)/python -c "$$AUDIT_PY" $(AUDIT_UNREACHABLE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
