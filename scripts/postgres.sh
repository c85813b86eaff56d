#!/usr/bin/env bash
# scripts/postgres.sh: a throwaway PostgreSQL cluster on loopback, for ferroflow's tests
# and benchmarks. PostgreSQL comes from the machine's package manager (Debian/Ubuntu
# `postgresql`), installed when missing. Run `scripts/postgres.sh --help` for usage.
#
# Conventions as in kafka.sh: messages go to stderr; stdout carries only the result a
# caller captures (the database URL as the last line of `start`), so
# `URL=$(scripts/postgres.sh start | tail -n 1)` works.

set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/postgres.sh COMMAND [OPTIONS]

Commands:
  install                   Install PostgreSQL with apt-get if its binaries are missing
                            (needs root, or sudo).
  start [--dir DIR] [--port PORT] [--timeout SECS]
                            Create a cluster in DIR if there is none (initdb: UTF-8,
                            trust authentication, listening on 127.0.0.1:PORT only, its
                            Unix socket inside the cluster), start it, wait until it
                            accepts connections, and print its URL as the last stdout
                            line. A cluster kept by `stop --keep` is started again with
                            its data (and its port, unless --port is given).
  stop [--dir DIR] [--keep] [--timeout SECS]
                            Stop the cluster (fast shutdown: clients are disconnected,
                            committed data is kept) and delete DIR, unless --keep.
                            Stopping a cluster that is not running is not an error.
  status [--dir DIR]        Exit 0 if the cluster runs, 3 if not.
  url [--dir DIR]           Print the URL of the cluster in DIR.
  psql [--dir DIR] [ARGS...]
                            Run psql against the cluster.
  help, --help, -h          This text.

Defaults: DIR ~/.cache/ferroflow/postgres-run (FERROFLOW_PG_DIR), PORT 55432
(FERROFLOW_PG_PORT), timeout 60 s.

PostgreSQL refuses to run as root. Run as root, the script runs the server as the
`postgres` user the package creates; if that user cannot reach DIR (e.g. under /root,
mode 700), the cluster's files go to /var/lib/postgresql/ferroflow/<id> and DIR links to
them (DIR/cluster).

The URL is postgres://postgres@127.0.0.1:PORT/postgres (no password: trust on loopback;
never expose such a cluster).
EOF
}

readonly CACHE_ROOT="${FERROFLOW_CACHE_DIR:-${HOME:?HOME must be set}/.cache/ferroflow}"
readonly DEFAULT_DIR="${FERROFLOW_PG_DIR:-$CACHE_ROOT/postgres-run}"
readonly DEFAULT_PORT="${FERROFLOW_PG_PORT:-55432}"
# Marks a DIR as created by this script, so `stop` never deletes anything else.
readonly OWNER_MARK=.ferroflow-postgres

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
need_value() { [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"; }
need_uint() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a non-negative integer, got '$2'"; }

# The newest installed server's bin directory (Debian keeps them per major version).
pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [[ -n $d && -x $d/initdb ]]; then
		printf '%s\n' "$d"
	elif command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
		dirname "$(command -v pg_ctl)"
	else
		return 1
	fi
}

cmd_install() {
	if bindir=$(pg_bindir); then
		log "PostgreSQL is installed ($bindir)"
		return 0
	fi
	command -v apt-get >/dev/null || die "PostgreSQL is missing and there is no apt-get: install PostgreSQL (initdb, pg_ctl) yourself"
	local sudo=""
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null || die "installing PostgreSQL needs root (or sudo)"
		sudo=sudo
	fi
	log "installing PostgreSQL with apt-get"
	$sudo apt-get update -qq >&2
	# The package would start its own cluster on port 5432 through the service manager;
	# policy-rc.d stops that where a service manager runs, and none runs in containers.
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		postgresql postgresql-client >&2
	bindir=$(pg_bindir) || die "PostgreSQL installed, but no initdb found"
	log "PostgreSQL installed ($bindir)"
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# The server's user: ourselves, or `postgres` when we are root.
server_user() { if [[ $(id -u) == 0 ]]; then echo postgres; else id -un; fi; }

as_server() { # COMMAND... as the server's user
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Where the cluster's files live: DIR/data, or (root, DIR unreachable for `postgres`) a
# directory under the postgres user's home, linked as DIR/cluster.
data_dir() { # DIR
	local dir=$1
	if [[ -L $dir/cluster ]]; then
		printf '%s/data\n' "$(readlink "$dir/cluster")"
	else
		printf '%s/data\n' "$dir"
	fi
}

prepare_data_dir() { # DIR -> prints the data directory, creating its parent
	local dir=$1 home id
	if [[ -L $dir/cluster || -d $dir/data ]]; then
		data_dir "$dir"
		return
	fi
	if [[ $(id -u) == 0 ]] && ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
		id=$(printf '%s' "$dir" | sha256sum | cut -c1-12)
		home=/var/lib/postgresql/ferroflow/$id
		mkdir -p "$home"
		chown postgres: /var/lib/postgresql/ferroflow "$home"
		ln -sfn "$home" "$dir/cluster"
		printf '%s/data\n' "$home"
	else
		mkdir -p "$dir"
		[[ $(id -u) == 0 ]] && chown postgres: "$dir"
		printf '%s/data\n' "$dir"
	fi
}

is_running() { # DATA
	[[ -f $1/postmaster.pid ]] && as_server "$BINDIR/pg_ctl" status -D "$1" >/dev/null 2>&1
}

url_for() { printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$1"; }

cmd_start() {
	local dir=$DEFAULT_DIR port="" timeout=60
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		--port) need_value "$@"; port=$2; shift 2 ;;
		--timeout) need_value "$@"; timeout=$2; shift 2 ;;
		*) die "start: unknown argument '$1' (see --help)" ;;
		esac
	done
	need_uint --timeout "$timeout"
	BINDIR=$(pg_bindir) || die "PostgreSQL is not installed: run 'scripts/postgres.sh install'"
	dir=$(abs_dir "$dir")
	touch "$dir/$OWNER_MARK"
	if [[ -z $port ]]; then port=$(cat "$dir/port" 2>/dev/null || echo "$DEFAULT_PORT"); fi
	need_uint --port "$port"
	local data
	data=$(prepare_data_dir "$dir")
	if is_running "$data"; then
		log "already running ($data)"
		url_for "$(cat "$dir/port")"
		return 0
	fi
	if [[ ! -f $data/PG_VERSION ]]; then
		log "initdb in $data"
		as_server mkdir -p "$data"
		as_server "$BINDIR/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
			--locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			as_server "$BINDIR/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
				--locale=C >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	fi
	# A socket path longer than the kernel's limit (107 bytes) is refused: then TCP only.
	local socket=$data
	((${#data} < 90)) || socket=""
	echo "$port" >"$dir/port"
	log "starting PostgreSQL on 127.0.0.1:$port ($data)"
	if ! as_server "$BINDIR/pg_ctl" start -D "$data" -w -t "$timeout" -l "$data/server.log" \
		-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$socket' -c max_connections=200" \
		>&2; then
		tail -n 40 "$data/server.log" >&2 || true
		die "PostgreSQL did not start (log: $data/server.log)"
	fi
	url_for "$port"
}

cmd_stop() {
	local dir=$DEFAULT_DIR keep=0 timeout=60
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		--keep) keep=1; shift ;;
		--timeout) need_value "$@"; timeout=$2; shift 2 ;;
		*) die "stop: unknown argument '$1' (see --help)" ;;
		esac
	done
	need_uint --timeout "$timeout"
	if [[ ! -d $dir ]]; then
		log "not running (no $dir)"
		return 0
	fi
	dir=$(cd "$dir" && pwd -P)
	[[ -f $dir/$OWNER_MARK ]] || die "$dir was not created by postgres.sh; refusing to touch it"
	local data
	data=$(data_dir "$dir")
	if BINDIR=$(pg_bindir) && is_running "$data"; then
		as_server "$BINDIR/pg_ctl" stop -D "$data" -m fast -w -t "$timeout" >&2 ||
			die "PostgreSQL did not stop within ${timeout}s"
	else
		log "not running"
	fi
	if ((keep)); then
		log "stopped; data kept in $data"
	else
		if [[ -L $dir/cluster ]]; then rm -rf "$(readlink "$dir/cluster")"; fi
		rm -rf "${dir:?}/data" "${dir:?}/cluster" "${dir:?}/port" "${dir:?}/initdb.log" \
			"${dir:?}/$OWNER_MARK"
		rmdir "$dir" 2>/dev/null || true
		log "stopped; removed $dir"
	fi
}

cmd_status() {
	local dir=$DEFAULT_DIR
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		*) die "status: unknown argument '$1' (see --help)" ;;
		esac
	done
	BINDIR=$(pg_bindir) || { echo "PostgreSQL is not installed"; return 3; }
	if [[ -d $dir ]] && is_running "$(data_dir "$dir")"; then
		echo "running: $(url_for "$(cat "$dir/port")")"
		return 0
	fi
	echo "stopped ($dir)"
	return 3
}

cmd_url() {
	local dir=$DEFAULT_DIR
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		*) die "url: unknown argument '$1' (see --help)" ;;
		esac
	done
	[[ -f $dir/port ]] || die "no cluster in $dir (run 'scripts/postgres.sh start')"
	url_for "$(cat "$dir/port")"
}

cmd_psql() {
	local dir=$DEFAULT_DIR
	if [[ ${1:-} == --dir ]]; then
		need_value "$@"
		dir=$2
		shift 2
	fi
	BINDIR=$(pg_bindir) || die "PostgreSQL is not installed"
	"$BINDIR/psql" "$(cmd_url --dir "$dir")" "$@"
}

main() {
	[[ $# -ge 1 ]] || {
		usage >&2
		exit 2
	}
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	url) cmd_url "$@" ;;
	psql) cmd_psql "$@" ;;
	help | --help | -h) usage ;;
	*)
		log "unknown command '$cmd'"
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
