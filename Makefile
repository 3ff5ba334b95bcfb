# Hangar: the two commands a newcomer needs are `make run` and `make test`.
# Each does all of its own set-up (the ONNX Runtime library, the build).

CARGO ?= cargo
PYTHON ?= python3
ADDR ?= 127.0.0.1:8080
DATA_DIR ?= hangar-data

.PHONY: run test setup build lint bench screenshots clean-data help

help:
	@echo "make run    - build and serve Hangar on $(ADDR) with the example model deployed"
	@echo "make test   - run every test (unit, HTTP, end-to-end, tritonclient interop)"
	@echo "make lint   - cargo fmt --check and clippy with warnings as errors"
	@echo "make bench  - the benchmark harness (bench/run.sh)"
	@echo "make screenshots - refresh docs/screenshots from the browser test"

## The ONNX Runtime shared library, from the onnxruntime wheel on PyPI.
setup:
	@./scripts/fetch-onnxruntime.sh

build: setup
	$(CARGO) build --release -p hangar

## Serve on the embedded default (SQLite + files in $(DATA_DIR)) with the
## bundled credit-risk model deployed, ready for `curl`.
run: build
	./target/release/hangar serve --example --addr $(ADDR) --data-dir $(DATA_DIR)

## Every test. The interop tests need tritonclient[http,grpc], the browser
## tests Debian's chromium and chromium-driver, and the object-storage tests
## an S3 server (s3s-fs, cargo install); all are installed here. The
## PostgreSQL tests use the server on 127.0.0.1:5432 (HANGAR_TEST_POSTGRES
## names another), each on a database of its own; the HTTP suite runs once on
## the embedded default and once on PostgreSQL + S3.
test: setup
	@$(PYTHON) -c "import tritonclient.http, tritonclient.grpc, numpy" 2>/dev/null || \
		$(PYTHON) -m pip install --quiet -r tests/interop/requirements.txt
	@./scripts/ensure-chromium.sh
	@./scripts/ensure-s3.sh
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	@echo "== the HTTP suite again, on PostgreSQL (127.0.0.1:5432) and S3 (docs/storage.md)"
	HANGAR_TEST_BACKEND=postgres $(CARGO) test -p hangar-server --test http

## The dashboard's screenshots in docs/screenshots, taken by the browser
## test (a plain `make test` writes them under target/screenshots only).
screenshots: setup
	@./scripts/ensure-chromium.sh
	HANGAR_SCREENSHOTS=1 $(CARGO) test -p hangar-server --test browser

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: setup
	./bench/run.sh

clean-data:
	rm -rf $(DATA_DIR)
