# Entry points. Every target sets up what it needs first (scripts/setup.sh is idempotent).
.PHONY: setup test-services demo test test-cpp test-asan test-python test-wheel test-wheel-bare wheel typecheck format format-check bench clean

VENV := .venv/bin
JOBS ?= 2

setup:
	@bash scripts/setup.sh

# What the tests need beyond the venv: PostgreSQL 15 with pgvector (the tests start their own server).
test-services:
	@bash scripts/setup_pgvector.sh

demo: setup
	@bash scripts/demo.sh

# The Python suite runs against the installed wheel, the artefact users get (test-python: the editable install).
# The C++ suite runs once, in the Debug build with -Werror under ASan/UBSan (test-asan); test-cpp is the
# same suite without sanitizers, the quicker build to iterate with.
test: setup format-check test-asan test-wheel test-wheel-bare typecheck

test-cpp:
	@$(VENV)/cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBACKFILL_BUILD_TESTS=ON -DBACKFILL_BUILD_PYTHON=OFF \
	  -DBACKFILL_WERROR=ON -DCMAKE_MAKE_PROGRAM=$(CURDIR)/$(VENV)/ninja >/dev/null
	@$(VENV)/cmake --build build/cpp -j $(JOBS)
	@$(VENV)/ctest --test-dir build/cpp --output-on-failure -j $(JOBS)

test-asan:
	@$(VENV)/cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBACKFILL_BUILD_TESTS=ON -DBACKFILL_BUILD_PYTHON=OFF \
	  -DBACKFILL_SANITIZE=ON -DBACKFILL_WERROR=ON -DCMAKE_MAKE_PROGRAM=$(CURDIR)/$(VENV)/ninja >/dev/null
	@$(VENV)/cmake --build build/asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(VENV)/ctest --test-dir build/asan --output-on-failure -j $(JOBS)

test-python: test-services
	@$(VENV)/python -m pytest -q

# Self-contained manylinux wheels into wheelhouse/ for every CPython 3.10+ on PATH (scripts/build_wheel.sh).
wheel:
	@bash scripts/build_wheel.sh $(WHEEL_PYTHONS)

# This Python's wheel, installed into a fresh venv: the README demo and every Python test against it.
test-wheel: setup test-services
	@bash scripts/build_wheel.sh $(CURDIR)/$(VENV)/python
	@bash scripts/test_wheel.sh $(VENV)/python

# The wheel for Debian's python3 (built by test-wheel or wheel) on a bare Debian root (python3 only, no
# compiler, needs root): the demo verifies.
test-wheel-bare:
	@bash scripts/test_wheel_bare.sh

# The C++ tree follows .clang-format: `make format` applies it, `make test` checks it.
CPP_FILES = $(shell git ls-files 'cpp/*.cpp' 'cpp/*.hpp' 'tests/cpp/*.cpp' 'tests/cpp/*.hpp' 'bench/*.cpp' 'bench/*.hpp')
format:
	@clang-format -i $(CPP_FILES)

format-check:
	@clang-format --dry-run --Werror $(CPP_FILES) && echo "clang-format: the C++ tree follows .clang-format"

typecheck:
	@$(VENV)/mypy --no-error-summary python/backfill && echo "mypy: python/backfill is clean"
	@$(VENV)/python -m mypy.stubtest backfill._core --allowlist stubtest-allowlist.txt && echo "stubtest: _core.pyi matches the module"

# Every benchmark, then BENCHMARKS.md from their results (bench/README.md; ~1.5 h on 2 cores).
# E2E_BENCH_ARGS go to bench/e2e_bench.py, e.g. E2E_BENCH_ARGS="--issues 20000 --ladder 10000". The client-CPU
# benchmarks (e2e, GitHub) run backfill as users get it: this tree's wheel installed by pip (scripts/bench_venv.sh).
bench: setup test-services
	@$(VENV)/python -c 'import requests, httpx, pinecone.grpc, psycopg, pgvector' 2>/dev/null || \
	  $(VENV)/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
	@$(VENV)/python bench/http_bench.py $(BENCH_ARGS)
	@$(VENV)/python bench/pinecone_bench.py $(PINECONE_BENCH_ARGS)
	@$(VENV)/python bench/jira_normalize_bench.py $(JIRA_BENCH_ARGS)
	@$(VENV)/python bench/latency_bench.py $(LATENCY_BENCH_ARGS)
	@$(VENV)/python bench/quota_bench.py $(QUOTA_BENCH_ARGS)
	@$(VENV)/python bench/openai_bench.py $(OPENAI_BENCH_ARGS)
	@$(VENV)/python bench/e2e_bench.py --backfill-python $$(bash scripts/bench_venv.sh) $(E2E_BENCH_ARGS)
	@$(VENV)/python bench/github_bench.py --backfill-python $$(bash scripts/bench_venv.sh) $(GITHUB_BENCH_ARGS)
	@$(VENV)/python bench/pgvector_bench.py $(PGVECTOR_BENCH_ARGS)
	@$(VENV)/python bench/write_benchmarks_md.py $(patsubst %,--ladder %,$(wildcard bench/results/ladder-*.json))

clean:
	rm -rf build .backfill wheelhouse
