# The two commands of the README, and the local services behind them.
# Honours CARGO_TARGET_DIR when set.

.PHONY: run test bench token services-up services-down services-status

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

## Runs the benchmarks against the same services and prints their tables (not run by CI).
bench:
	scripts/with-services.sh -- cargo bench --locked --bench security_overhead

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status || true
