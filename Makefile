# The two commands of the README, and the local services behind them.
# Honours CARGO_TARGET_DIR when set.

.PHONY: run test services-up services-down

## Starts PostgreSQL and SeaweedFS, migrates, and serves gRPC on 127.0.0.1:50051 until Ctrl-C.
run:
	scripts/with-services.sh -- sh -c 'cargo build --release --locked && \
		cargo run --release --locked --quiet -- migrate && \
		exec cargo run --release --locked --quiet -- serve'

## Starts the same services and runs every unit and integration test.
test:
	scripts/with-services.sh -- cargo test --locked --all-targets

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down
