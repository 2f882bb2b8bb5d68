#!/usr/bin/env bash
# Checks the layer rules of src/ (transport → domain → storage) with a few greps, and prints
# every line that breaks one. Exit 1 if any does. Each rule says what it protects.
#
#   scripts/check-layers.sh
#
# Lines inside `#[cfg(test)]` modules count too: a test that needs another layer's types
# belongs in tests/.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0

# rule NAME DIRECTORY PATTERN — fails when PATTERN (an extended regex) matches a line of code
# (not a comment) under DIRECTORY.
rule() {
	local name=$1 dir=$2 pattern=$3 hits
	hits=$(grep -rnE --include='*.rs' "$pattern" "$dir" | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
	if [[ -n $hits ]]; then
		echo "layer rule broken: $name"
		printf '%s\n' "$hits" | sed 's/^/  /'
		failed=1
	fi
}

# Handlers speak to the archive only through the domain; a handler that reached PostgreSQL or
# the object store would bypass the policy check and the audit event of its use case.
rule "src/grpc must not use storage, sqlx or object_store" src/grpc \
	'(crate::storage|\bsqlx::|\bobject_store::)'

# The domain holds the rules, free of I/O types: its types can be tested without a server and
# do not change when a transport or a driver does.
rule "src/domain must not use sqlx, tonic, object_store, prost or the generated proto" src/domain \
	'(\bsqlx::|\btonic(_[a-z]+)?::|\bobject_store::|\bprost(_types)?::|crate::proto\b|crate::grpc\b)'

# Metrics and traces are the transport's and storage's concern: a domain rule that emits them
# ties the rules to one telemetry stack (spans carry the ids a use case touches instead).
rule "src/domain must not call metrics or telemetry directly" src/domain \
	'(crate::metrics|crate::telemetry|\bopentelemetry(_[a-z]+)?::)'

# Storage speaks domain types to the domain; it never calls up into the transport.
rule "src/storage must not use the gRPC transport or the generated proto" src/storage \
	'(crate::grpc\b|crate::proto\b|\btonic(_[a-z]+)?::)'

if ((failed)); then
	exit 1
fi
echo "layer rules hold"
