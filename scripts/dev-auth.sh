#!/usr/bin/env bash
# Development credentials for `make run`: an Ed25519 token-signing key pair and an audit-chain
# key, made once under .dev/ and reused. Production keys come from the identity provider and a
# secret store, never from here.
#
#   scripts/dev-auth.sh env    prints `export` lines for the server and `custodian dev-token`
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
DEV=$ROOT/.dev
mkdir -p "$DEV"
umask 077

if [[ ! -s $DEV/dev-signing-key.pem ]]; then
	openssl genpkey -algorithm ed25519 -out "$DEV/dev-signing-key.pem" 2>/dev/null
	echo "[dev-auth] made a development token-signing key: $DEV/dev-signing-key.pem" >&2
fi
if [[ ! -s $DEV/dev-signing-key.pub.pem ]]; then
	openssl pkey -in "$DEV/dev-signing-key.pem" -pubout -out "$DEV/dev-signing-key.pub.pem"
fi
if [[ ! -s $DEV/audit-chain-key ]]; then
	openssl rand -hex 32 >"$DEV/audit-chain-key"
fi
if [[ ! -s $DEV/page-link-key ]]; then
	openssl rand -hex 32 >"$DEV/page-link-key"
fi
if [[ ! -s $DEV/identifier-key ]]; then
	openssl rand -hex 32 >"$DEV/identifier-key"
fi

case ${1:-env} in
env)
	echo "export CUSTODIAN_AUTH__PUBLIC_KEY_FILE=$DEV/dev-signing-key.pub.pem"
	echo "export CUSTODIAN_AUTH__ALGORITHM=EdDSA"
	echo "export CUSTODIAN_AUTH__AUDIT_CHAIN_KEY=$(cat "$DEV/audit-chain-key")"
	echo "export CUSTODIAN_AUTH__POLICY_FILE=$ROOT/config/policy.toml"
	# The blind index of ID numbers and phones (README "Finding aids").
	echo "export CUSTODIAN_AUTH__IDENTIFIER_KEY=$(cat "$DEV/identifier-key")"
	# Page URLs served by Custodian itself on 127.0.0.1:50052 (README "Page URLs").
	echo "export CUSTODIAN_PAGE_LINKS__MODE=served"
	echo "export CUSTODIAN_PAGE_LINKS__SIGNING_KEY=$(cat "$DEV/page-link-key")"
	echo "export CUSTODIAN_DEV_SIGNING_KEY=$DEV/dev-signing-key.pem"
	;;
*)
	echo "usage: $0 env" >&2
	exit 2
	;;
esac
