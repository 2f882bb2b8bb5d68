#!/usr/bin/env bash
# Run a command with the dev services up and their settings in its environment:
#
#   scripts/with-services.sh -- CMD [ARGS...]
#
# Starts PostgreSQL and SeaweedFS via services.sh (reusing any already running),
# exports `services.sh env`, runs CMD, and on exit (normal, error, Ctrl-C,
# SIGTERM or SIGHUP) stops only the services this invocation started.
# Exit code is CMD's.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SERVICES=$HERE/services.sh

[[ ${1:-} == -- ]] && shift
if (($# == 0)); then
	echo "usage: $0 -- CMD [ARGS...]" >&2
	exit 2
fi

STARTED_FILE=$(mktemp "${TMPDIR:-/tmp}/custodian-started.XXXXXX")
CHILD=''

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
	local rc=$?
	# A second Ctrl-C (or a hangup) must not abort the teardown half-way.
	trap '' INT TERM HUP
	local started=()
	if ((rc != 0)); then "$SERVICES" diagnose || true; fi
	mapfile -t started <"$STARTED_FILE" || true
	if ((${#started[@]})); then
		"$SERVICES" down "${started[@]}" || true
	fi
	rm -f "$STARTED_FILE"
	exit "$rc"
}
trap cleanup EXIT

# CMD runs in the background so that a SIGTERM sent to this script alone is
# handled at once (bash defers traps until a foreground child exits); we pass
# the signal on and wait for CMD to finish before tearing down.
# shellcheck disable=SC2317 # invoked via trap
on_signal() {
	local sig=$1 code=$2 rc
	if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
		kill -s "$sig" "$CHILD" 2>/dev/null || true
		rc=0
		wait "$CHILD" || rc=$?
		exit "$rc"
	fi
	exit "$code"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

"$SERVICES" up --record "$STARTED_FILE"
eval "$("$SERVICES" env)"

# Background jobs of a script get SIGINT/SIGQUIT ignored and stdin from
# /dev/null; undo both so CMD behaves as in the foreground (Ctrl-C, prompts).
# With no stdin at all (fd 0 closed, as under some CI runners) use /dev/null.
if [[ -e /dev/fd/0 ]]; then
	(
		trap - INT QUIT
		exec "$@"
	) <&0 &
else
	(
		trap - INT QUIT
		exec "$@"
	) </dev/null &
fi
CHILD=$!
rc=0
wait "$CHILD" || rc=$?
exit "$rc"
