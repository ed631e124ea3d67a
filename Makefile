# Two commands on a fresh machine:
#   make reproduce   set up .venv, run the pipeline (params.yaml's profile; quick by default, offline)
#   make test        set up .venv, run the tests (all of them: what CI runs)
# and, while working on the code:
#   make test-fast   the tests not marked slow, server or gpu
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
PROFILE = $(shell sed -n 's/^profile: *\([a-z-]*\).*/\1/p' params.yaml)

.PHONY: reproduce test test-fast install clean-runs

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

reproduce: $(VENV)/.installed
	@start=$$(date +%s); \
	dvc repro && \
	echo "" && \
	echo "Pipeline done in $$(( $$(date +%s) - start )) s (profile $(PROFILE))." && \
	echo "Report:    reports/$(PROFILE)/README.md (tables in reports/$(PROFILE)/tables/, figures in reports/$(PROFILE)/figures/)" && \
	echo "MLflow UI: $(BIN)/landmarks ui   (then open http://127.0.0.1:5000)"

# One test worker per core, at most 8 (pytest-xdist; each worker holds torch and a dataset or two,
# about 1-2 GB; TEST_WORKERS=0 runs the tests in this process), and the slowest tests named at the
# end. pytest exits 5 when it collected no test: that is a failure too.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 8 ] && n=8; echo $$n)
test: $(VENV)/.installed
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

test-fast: $(VENV)/.installed
	@$(MAKE) --no-print-directory test PYTEST_ARGS='-m "not slow and not server and not gpu" $(PYTEST_ARGS)'

clean-runs:
	rm -rf models mlflow.db mlartifacts
