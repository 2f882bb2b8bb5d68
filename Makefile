# The two commands of the README, and the local services behind them.
# Honours CARGO_TARGET_DIR when set.

.PHONY: run test fuzz reliability bench bench-county bench-county-data token services-up services-down services-status

## Starts PostgreSQL and SeaweedFS, migrates, and serves gRPC on 127.0.0.1:50051 until Ctrl-C,
## trusting tokens signed with the development key under .dev/.
run:
	scripts/with-services.sh -- sh -c 'eval "$$(scripts/dev-auth.sh env)" && \
		cargo build --release --locked && \
		cargo run --release --locked --quiet -- migrate && \
		exec cargo run --release --locked --quiet -- serve'

## Prints a development token (a province-12 custodian) for the client subcommands:
##   export CUSTODIAN_TOKEN=$$(make -s token)
token:
	@eval "$$(scripts/dev-auth.sh env)" && cargo run --release --locked --quiet -- dev-token

## Starts the same services and runs every unit and integration test.
test:
	scripts/with-services.sh -- cargo test --locked --all-targets

## The property tests at volume (RELIABILITY.md): FUZZ_CASES cases of each, in release; no
## services needed. `make test` runs the same properties with 64 to 256 cases each.
FUZZ_CASES ?= 1000000
fuzz:
	CUSTODIAN_PROPTEST_CASES=$(FUZZ_CASES) cargo test --release --locked --lib proptest

## The kill -9 and backend-outage figures at a bigger size (RELIABILITY.md): the server killed
## under load by RELIABILITY_FILERS filers filing RELIABILITY_FILINGS filings, and its backends
## cut for RELIABILITY_OUTAGE_SECS, each scenario RELIABILITY_REPEATS times, one at a time;
## prints their tables. `make test` runs both once (1,020 filings, 16 filers, 3 s outages).
RELIABILITY_FILINGS ?= 3000
RELIABILITY_FILERS ?= 32
RELIABILITY_OUTAGE_SECS ?= 5
RELIABILITY_REPEATS ?= 3
reliability:
	scripts/with-services.sh -- env CUSTODIAN_RELIABILITY_FILINGS=$(RELIABILITY_FILINGS) \
		CUSTODIAN_RELIABILITY_FILERS=$(RELIABILITY_FILERS) \
		CUSTODIAN_RELIABILITY_OUTAGE_SECS=$(RELIABILITY_OUTAGE_SECS) \
		CUSTODIAN_RELIABILITY_REPEATS=$(RELIABILITY_REPEATS) \
		cargo test --locked --test reliability -- --nocapture --test-threads 1

## Runs the benchmarks against the same services and prints their tables (not run by CI).
bench:
	scripts/with-services.sh -- cargo bench --locked --features bench-bypass --bench security_overhead

## County scale (issue 6): generates a county (deterministic from BENCH_SEED) and runs every
## workload against its limit, printing the table. The small preset (10k documents) is made
## each time (a second); make the county (3M documents, ~2.5 min) once with
##   make bench-county-data BENCH_PRESET=county
## then  make bench-county BENCH_PRESET=county BENCH_ARGS="--baseline small"
BENCH_PRESET ?= small
BENCH_SEED ?= 1
BENCH_ARGS ?=
bench-county:
	scripts/with-services.sh -- sh -c 'cargo build --release --locked && \
		cargo bench --locked --features bench-bypass --bench county -- generate --preset small --seed $(BENCH_SEED) && \
		cargo bench --locked --features bench-bypass --bench county -- run --preset $(BENCH_PRESET) $(BENCH_ARGS)'

bench-county-data:
	scripts/with-services.sh -- cargo bench --locked --features bench-bypass --bench county -- \
		generate --preset $(BENCH_PRESET) --seed $(BENCH_SEED)

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status || true
