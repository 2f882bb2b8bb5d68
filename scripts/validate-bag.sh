#!/usr/bin/env bash
# Validates a BagIt bag (RFC 8493) with an independent implementation: the Library of
# Congress's `bagit` package from PyPI, installed once into a venv under
# ~/.cache/custodian-tools. Checks the structure, Payload-Oxum and every payload and tag
# manifest checksum; exits non-zero (with bagit's message) when the bag is not valid.
#
#   scripts/validate-bag.sh BAG_DIRECTORY
set -euo pipefail

BAGIT_VERSION=1.9.0
TOOLS=${CUSTODIAN_TOOLS_DIR:-$HOME/.cache/custodian-tools}
venv="$TOOLS/bagit-$BAGIT_VERSION"

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BAG_DIRECTORY" >&2
	exit 2
fi
if [[ ! -f $venv/.installed ]]; then
	mkdir -p "$TOOLS"
	# One installer at a time: tests validate bags in parallel.
	exec 9>"$TOOLS/.bagit.lock"
	flock 9
	if [[ ! -f $venv/.installed ]]; then
		rm -rf "$venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check "bagit==$BAGIT_VERSION"
		touch "$venv/.installed"
	fi
	flock -u 9
fi
exec "$venv/bin/python" -c '
import sys, bagit
try:
    bag = bagit.Bag(sys.argv[1])
    bag.validate()
except bagit.BagError as error:
    print(f"invalid bag: {error}", file=sys.stderr)
    sys.exit(1)
print(f"valid bag: {sys.argv[1]}")
' "$1"
