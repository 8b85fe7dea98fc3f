# shellcheck shell=bash disable=SC2016,SC2015
# (SC2016: bash -c scripts get their values as $1...; SC2015: a && b || fail)
#
# tests/lib/sqldb.sh - throw-away SQL databases for the Lua director's
# tests: an SQLite file, or a PostgreSQL 15 or MariaDB 10.11 server started
# in a temporary directory as an unprivileged user (postgres, mysql) on a
# 127.x address, each with the schema of dovecot/schema-KIND.sql in the
# database "poolmon". Source after testbed.sh, then call sq_init after
# tb_init:
#
#   . "$(dirname "$0")/../lib/testbed.sh"
#   . "$(dirname "$0")/../lib/sqldb.sh"
#   tb_init || tb_fail "tb_init"
#   sq_init || tb_fail "sq_init"
#   sq_start postgresql pg 127.0.8.1 || tb_fail "postgresql"
#   sq_sql pg "SELECT count(*) FROM backends"
#
# Every function prints its errors to stderr and returns non-zero on
# failure; every wait is bounded. sq_init replaces tb_init's EXIT trap with
# one that stops every server (sq_cleanup) and then runs tb_cleanup. A
# database NAME lives in $TB_DIR/sql-NAME/ (its server's log there too).
#
#   sq_init                      check the tools; install the EXIT trap
#   sq_start sqlite NAME         an SQLite file (WAL) with the schema
#   sq_start postgresql NAME IP [PORT]   initdb + pg_ctl as user postgres,
#                                TCP on IP:PORT (5432) and a socket in the
#                                database's directory; local connections
#                                are trusted, TCP ones need a password
#                                (scram-sha-256)
#   sq_start mariadb NAME IP [PORT]      mariadb-install-db + mariadbd as
#                                user mysql, TCP on IP:PORT (3306), socket;
#                                root over the socket (unix_socket auth)
#   sq_stop NAME / sq_restart NAME   stop (fast shutdown) / stop and start
#   sq_kind NAME / sq_ip NAME / sq_port NAME / sq_dir NAME
#   sq_sql NAME SQL              SQL (on the client's stdin, never argv) as
#                                the superuser in database poolmon; rows on
#                                stdout, columns tab-separated, no header
#                                (NULL: empty for PostgreSQL and SQLite,
#                                "NULL" for MariaDB)
#   sq_schema NAME               apply dovecot/schema-KIND.sql again
#   sq_role NAME ROLE [PRIVS]    a login role with a random password;
#                                PRIVS all (default: SELECT, INSERT, UPDATE,
#                                DELETE on both tables), proxy (what the
#                                routing script needs: SELECT on backends,
#                                SELECT, INSERT on user_backend) or monitor
#                                (SELECT, UPDATE (state) on backends,
#                                SELECT, DELETE on user_backend); nothing
#                                for SQLite; the password only in a file:
#                                PostgreSQL a password file (libpq's
#                                format), MariaDB an option file ([client]
#                                user, password); both mode 0600
#   sq_secret NAME ROLE          that file's path
#   sq_dsn NAME [ROLE]           sqlite:PATH, postgresql://ROLE@IP:PORT/poolmon
#                                or mariadb://ROLE@IP:PORT/poolmon (no
#                                password in it)
#   sq_lua_conf NAME ROLE FILE [TIMEOUT]   write the routing script's
#                                settings file for this database (database,
#                                PostgreSQL ?passfile=, MariaDB option_file)
#   sq_backend_add NAME ID HOSTNAME HOSTIP [STATE]   a backends row
#                                (HOSTIP "" stores an empty string)
#   sq_set_state NAME ID STATE
#   sq_state NAME ID             a backend's state
#   sq_user_backend NAME USER    backend ids of USER's rows, one a line
#   sq_count NAME [BACKEND_ID]   user_backend rows (of one backend)
#   sq_pg_standby PRIMARY NAME IP [PORT]   a PostgreSQL hot standby from a
#                                base backup of PRIMARY (pg_basebackup -R:
#                                standby.signal, streaming replication);
#                                read-only; sq_sql works on it
#   sq_wait_replayed PRIMARY STANDBY SECS  until the standby has replayed
#                                everything the primary wrote so far
#   sq_session NAME              a superuser's client session kept open
#                                in the background (at most 10 minutes);
#                                sets SQ_SESSION to its id
#   sq_send ID SQL               send SQL to that session (not waited for)
#   sq_mark ID [SECS]            wait (10 s) until everything sent so far
#                                has run: a marker the session sets is seen
#                                from another connection (so a statement
#                                waiting for a lock keeps it waiting)
#   sq_end ID                    end the session (an open transaction is
#                                rolled back) and wait for its client
#   sq_lock NAME SECS            hold a lock in another session for SECS
#                                seconds or until sq_unlock, returning once
#                                it is held: PostgreSQL LOCK TABLE backends
#                                (ACCESS EXCLUSIVE: even reads wait),
#                                MariaDB LOCK TABLES backends WRITE (reads
#                                wait), SQLite BEGIN EXCLUSIVE from another
#                                process (writers wait; in WAL mode readers
#                                do not)
#   sq_unlock NAME               release it now
#   sq_wait_blocked NAME LIKE SECS   until another session's statement
#                                matching the SQL LIKE pattern waits for a
#                                lock (PostgreSQL) or runs (MariaDB
#                                PROCESSLIST); not for SQLite
#   sq_cleanup                   stop everything; idempotent
#   sq_audit NAME                a table backends_audit and an AFTER UPDATE
#                                trigger on backends writing one row per
#                                row changed (a site's audit: other tables
#                                and triggers poolmond must leave alone)
#   sq_audit_of NAME ID          the changes of backend ID, "OLD>NEW" one
#                                a line, oldest first
#   sq_dump NAME                 both tables, sorted: to compare before
#                                and after
#
# A read-only MariaDB: sq_sql NAME "SET GLOBAL read_only = 1" (roles
# without SUPER cannot write). A role's client: PGPASSFILE=$(sq_secret ..)
# psql "$(sq_dsn NAME ROLE)", mariadb --defaults-extra-file=$(sq_secret ..)
# -h IP -P PORT poolmon.
#
# Passwords are never on a command line: roles get theirs through SQL on a
# client's stdin, clients read them from their files.

set -u

SQ_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SQ_TOP=$(cd "$SQ_LIB_DIR/../.." && pwd)
SQ_SCHEMA_DIR=$SQ_TOP/dovecot
SQ_PG_BIN=""
SQ_DBNAME=poolmon
SQ_NAMES=()
SQ_SESSIONS=()
SQ_SESSION=""
declare -A SQ_LOCKS=()

_sq_err() {
	echo "sqldb: $*" >&2
}

_sq_now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	echo $((t / 1000))
}

sq_init() {
	local v
	if [ -z "${TB_DIR:-}" ]; then
		_sq_err "tb_init first"
		return 1
	fi
	for v in /usr/lib/postgresql/*/bin; do
		[ -x "$v/initdb" ] && SQ_PG_BIN=$v
	done
	command -v setpriv >/dev/null || { _sq_err "setpriv (util-linux) missing"; return 1; }
	# Servers first (they live in $TB_DIR), then the testbed; the status
	# the test exits with is kept for tb_cleanup (it keeps logs on failure).
	# shellcheck disable=SC2154
	trap '_sq_rc=$?; sq_cleanup; (exit $_sq_rc); tb_cleanup' EXIT
	return 0
}

sq_dir() { echo "$TB_DIR/sql-${1:-}"; }
sq_kind() { cat "$(sq_dir "${1:-}")/kind" 2>/dev/null; }
sq_ip() { cat "$(sq_dir "${1:-}")/ip" 2>/dev/null; }
sq_port() { cat "$(sq_dir "${1:-}")/port" 2>/dev/null; }

_sq_need() {
	if [ -z "$(sq_kind "${1:-}")" ]; then
		_sq_err "no database '${1:-}'"
		return 1
	fi
}

# sq_start KIND NAME [IP [PORT]]
sq_start() {
	local kind=${1:-} name=${2:-} ip=${3:-} port=${4:-} d
	if [ -z "$SQ_PG_BIN" ] && [ "$kind" = postgresql ]; then
		_sq_err "PostgreSQL is not installed (initdb)"
		return 1
	fi
	if ! [[ $name =~ ^[A-Za-z0-9_-]+$ ]]; then
		_sq_err "usage: sq_start sqlite|postgresql|mariadb NAME [IP [PORT]]"
		return 1
	fi
	d=$(sq_dir "$name")
	if [ -e "$d" ]; then
		_sq_err "database $name exists"
		return 1
	fi
	case $kind in
	sqlite) ;;
	postgresql | mariadb)
		if ! [[ $ip =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
			_sq_err "sq_start $kind NAME 127.x.y.z [PORT]"
			return 1
		fi
		[ -n "$port" ] || port=$([ "$kind" = postgresql ] && echo 5432 || echo 3306)
		;;
	*)
		_sq_err "unknown kind '$kind'"
		return 1
		;;
	esac
	mkdir -p "$d" || return 1
	echo "$kind" >"$d/kind"
	echo "$ip" >"$d/ip"
	echo "$port" >"$d/port"
	SQ_NAMES+=("$name")
	case $kind in
	sqlite) _sq_sqlite_create "$name" ;;
	postgresql) _sq_pg_create "$name" && _sq_pg_run "$name" && _sq_pg_db "$name" ;;
	mariadb) _sq_my_create "$name" && _sq_my_run "$name" && _sq_my_db "$name" ;;
	esac || return 1
	sq_schema "$name"
}

sq_stop() {
	_sq_need "${1:-}" || return 1
	case $(sq_kind "$1") in
	sqlite) return 0 ;;
	postgresql) _sq_pg_stop "$1" ;;
	mariadb) _sq_my_stop "$1" ;;
	esac
}

sq_restart() {
	_sq_need "${1:-}" || return 1
	sq_stop "$1" || return 1
	case $(sq_kind "$1") in
	sqlite) return 0 ;;
	postgresql) _sq_pg_run "$1" ;;
	mariadb) _sq_my_run "$1" ;;
	esac
}

# _sq_client NAME: the superuser's client command for NAME, one word per
# line (read into an array by the caller).
_sq_client() {
	local d
	d=$(sq_dir "$1")
	case $(sq_kind "$1") in
	sqlite)
		printf '%s\n' sqlite3 -batch -bail -separator $'\t' \
			-cmd ".timeout 15000" "$d/director.db"
		;;
	postgresql)
		printf '%s\n' "$SQ_PG_BIN/psql" -X -A -t -q -F $'\t' \
			-v ON_ERROR_STOP=1 -h "$d/sock" -p "$(sq_port "$1")" \
			-U postgres -d "${SQ_DB_OVERRIDE:-$SQ_DBNAME}"
		;;
	mariadb)
		printf '%s\n' mariadb --no-defaults -N -B -u root \
			--socket="$d/mysqld.sock"
		# SQ_DB_OVERRIDE="": no database (to create it).
		[ -z "${SQ_DB_OVERRIDE-$SQ_DBNAME}" ] || echo "${SQ_DB_OVERRIDE-$SQ_DBNAME}"
		;;
	esac
}

sq_sql() {
	local name=${1:-} sql=${2:-} cmd
	_sq_need "$name" || return 1
	mapfile -t cmd < <(_sq_client "$name")
	printf '%s\n' "$sql" | timeout 30 "${cmd[@]}"
}

sq_schema() {
	local name=${1:-} kind
	_sq_need "$name" || return 1
	kind=$(sq_kind "$name")
	sq_sql "$name" "$(cat "$SQ_SCHEMA_DIR/schema-$kind.sql")" >/dev/null || {
		_sq_err "schema-$kind.sql failed on $name"
		return 1
	}
}

# ---------------------------------------------------------------- SQLite

_sq_sqlite_create() {
	local d
	d=$(sq_dir "$1")
	command -v sqlite3 >/dev/null || { _sq_err "sqlite3 is not installed"; return 1; }
	: >"$d/director.db"
	echo "$d/director.db" >"$d/path"
}

# ---------------------------------------------------------------- PostgreSQL

_sq_as() {
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
}

_sq_pg_create() {
	local d
	d=$(sq_dir "$1")
	mkdir -p "$d/data" "$d/sock" && chown postgres:postgres "$d" "$d/data" "$d/sock" &&
		chmod 0700 "$d/data" || return 1
	# Local socket: trusted (its directory is the test's); TCP: a password.
	timeout 120 setpriv --reuid=postgres --regid=postgres --init-groups -- \
		env -C "$d" "$SQ_PG_BIN/initdb" -D "$d/data" -U postgres -E UTF8 \
		--locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
		--no-sync >"$d/initdb.out" 2>&1 || {
		_sq_err "initdb failed:"
		cat "$d/initdb.out" >&2
		return 1
	}
	# Small and fast: a test database, not a production one.
	cat >>"$d/data/postgresql.conf" <<-EOF
		shared_buffers = 16MB
		max_connections = 40
		fsync = off
		full_page_writes = off
		max_wal_senders = 4
		wal_level = replica
		hot_standby = on
		log_line_prefix = '%m [%p] %u@%d '
	EOF
	cat >"$d/data/pg_hba.conf" <<-EOF
		local all all trust
		local replication all trust
		host all all 127.0.0.0/8 scram-sha-256
		host replication all 127.0.0.0/8 scram-sha-256
	EOF
}

_sq_pg_run() {
	local name=$1 d
	d=$(sq_dir "$name")
	timeout 60 setpriv --reuid=postgres --regid=postgres --init-groups -- \
		env -C "$d" "$SQ_PG_BIN/pg_ctl" -D "$d/data" -l "$d/postgresql.log" \
		-w -t 45 -o "-k $d/sock -h $(sq_ip "$name") -p $(sq_port "$name")" \
		start >"$d/pg_ctl.out" 2>&1 || {
		_sq_err "PostgreSQL $name did not start:"
		cat "$d/pg_ctl.out" >&2
		tail -n 20 "$d/postgresql.log" >&2
		return 1
	}
}

_sq_pg_db() {
	SQ_DB_OVERRIDE=postgres sq_sql "$1" "CREATE DATABASE $SQ_DBNAME" >/dev/null
}

_sq_pg_pid() {
	local pid
	pid=$(head -n 1 "$(sq_dir "$1")/data/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && [ -e "/proc/$pid" ] && echo "$pid"
}

_sq_pg_stop() {
	local d pid
	d=$(sq_dir "$1")
	pid=$(_sq_pg_pid "$1") || return 0
	# Fast shutdown: clients are disconnected, not waited for.
	timeout 30 setpriv --reuid=postgres --regid=postgres --init-groups -- \
		env -C "$d" "$SQ_PG_BIN/pg_ctl" -D "$d/data" -m fast -w -t 20 \
		stop >>"$d/pg_ctl.out" 2>&1 && return 0
	_sq_err "PostgreSQL $1 did not stop: killing it"
	_sq_kill_tree "$pid"
}

# A hot standby of PRIMARY: a base backup over the primary's socket (-R
# writes standby.signal and primary_conninfo), then its own address.
sq_pg_standby() {
	local primary=${1:-} name=${2:-} ip=${3:-} port=${4:-5432} d pd
	_sq_need "$primary" || return 1
	if [ "$(sq_kind "$primary")" != postgresql ] || ! [[ $name =~ ^[A-Za-z0-9_-]+$ ]] ||
		! [[ $ip =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		_sq_err "usage: sq_pg_standby POSTGRESQL_PRIMARY NAME 127.x.y.z [PORT]"
		return 1
	fi
	d=$(sq_dir "$name")
	pd=$(sq_dir "$primary")
	[ -e "$d" ] && { _sq_err "database $name exists"; return 1; }
	mkdir -p "$d/sock" && chown postgres:postgres "$d" "$d/sock" || return 1
	echo postgresql >"$d/kind"
	echo "$ip" >"$d/ip"
	echo "$port" >"$d/port"
	SQ_NAMES+=("$name")
	timeout 120 setpriv --reuid=postgres --regid=postgres --init-groups -- \
		env -C "$d" "$SQ_PG_BIN/pg_basebackup" -D "$d/data" -h "$pd/sock" \
		-p "$(sq_port "$primary")" -U postgres -R -X stream -c fast --no-sync \
		>"$d/basebackup.out" 2>&1 || {
		_sq_err "pg_basebackup of $primary failed:"
		cat "$d/basebackup.out" >&2
		return 1
	}
	chmod 0700 "$d/data"
	[ -f "$d/data/standby.signal" ] || { _sq_err "no standby.signal"; return 1; }
	_sq_pg_run "$name" || return 1
	[ "$(sq_sql "$name" "SELECT pg_is_in_recovery()")" = t ] || {
		_sq_err "$name is not in recovery"
		return 1
	}
}

sq_wait_replayed() {
	local primary=${1:-} standby=${2:-} secs=${3:-10} lsn deadline
	lsn=$(sq_sql "$primary" "SELECT pg_current_wal_lsn()") || return 1
	deadline=$(($(_sq_now_ms) + secs * 1000))
	while [ "$(_sq_now_ms)" -lt "$deadline" ]; do
		[ "$(sq_sql "$standby" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] &&
			return 0
		sleep 0.1
	done
	_sq_err "$standby has not replayed $lsn after ${secs}s"
	return 1
}

# ---------------------------------------------------------------- MariaDB

_sq_my_create() {
	local d
	d=$(sq_dir "$1")
	local try
	# Twice: a bootstrap that fails once on a machine busy with other
	# tests (seen once in CI, its cause cut off) gets a clean second go;
	# what failed is shown either way.
	for try in 1 2; do
		rm -rf "$d/data"
		mkdir -p "$d/data" && chown mysql:mysql "$d" "$d/data" &&
			chmod 0700 "$d/data" || return 1
		# root@localhost through the socket only, as the OS user root.
		# No native AIO: io_setup() fails once fs.aio-max-nr is spent
		# by every other mariadbd and InnoDB user on the machine.
		timeout 120 setpriv --reuid=mysql --regid=mysql --init-groups -- \
			env -C "$d" mariadb-install-db --no-defaults --datadir="$d/data" \
			--auth-root-authentication-method=socket --skip-test-db \
			--innodb-log-file-size=8M --innodb-buffer-pool-size=16M \
			--innodb-use-native-aio=0 \
			>"$d/install.out" 2>&1 && return 0
		_sq_err "mariadb-install-db failed (try $try of 2):"
		grep -i error "$d/install.out" | head -n 20 >&2
		tail -n 5 "$d/install.out" >&2
	done
	return 1
}

_sq_my_run() {
	local name=$1 d pid deadline
	d=$(sq_dir "$name")
	# mariadbd stays in the foreground: it is a child of this shell.
	setpriv --reuid=mysql --regid=mysql --init-groups -- \
		mariadbd --no-defaults --datadir="$d/data" --socket="$d/mysqld.sock" \
		--bind-address="$(sq_ip "$name")" --port="$(sq_port "$name")" \
		--pid-file="$d/mariadbd.pid" --log-error="$d/mariadb.log" \
		--skip-name-resolve --skip-log-bin --innodb-log-file-size=8M \
		--innodb-use-native-aio=0 \
		--innodb-buffer-pool-size=16M --innodb-flush-log-at-trx-commit=0 \
		--innodb-doublewrite=0 --max-connections=60 \
		</dev/null >>"$d/mariadbd.out" 2>&1 &
	pid=$!
	echo "$pid" >"$d/server.pid"
	deadline=$(($(_sq_now_ms) + 60000))
	while [ "$(_sq_now_ms)" -lt "$deadline" ]; do
		if ! [ -e "/proc/$pid" ]; then
			break
		fi
		if timeout 5 mariadb-admin --no-defaults -u root --socket="$d/mysqld.sock" \
			ping >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	_sq_err "MariaDB $name did not start:"
	tail -n 20 "$d/mariadb.log" >&2
	return 1
}

_sq_my_db() {
	SQ_DB_OVERRIDE="" sq_sql "$1" "CREATE DATABASE $SQ_DBNAME" >/dev/null
}

_sq_my_stop() {
	local d pid deadline
	d=$(sq_dir "$1")
	pid=$(cat "$d/server.pid" 2>/dev/null) || return 0
	[ -e "/proc/$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	deadline=$(($(_sq_now_ms) + 30000))
	while [ -e "/proc/$pid" ] && ! _sq_zombie "$pid"; do
		if [ "$(_sq_now_ms)" -ge "$deadline" ]; then
			_sq_err "MariaDB $1 did not stop: killing it"
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	rm -f "$d/server.pid"
	return 0
}

_sq_zombie() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[ "${stat%% *}" = Z ]
}

# KILL PID and its descendants (a server that ignored its shutdown).
_sq_kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do
		_sq_kill_tree "$c"
	done
	kill -KILL "$1" 2>/dev/null
}

# ---------------------------------------------------------------- roles

sq_secret() {
	local d
	d=$(sq_dir "${1:-}")
	case $(sq_kind "${1:-}") in
	postgresql) echo "$d/${2:-}.pgpass" ;;
	mariadb) echo "$d/${2:-}.cnf" ;;
	*) return 1 ;;
	esac
}

# sq_role NAME ROLE [all|proxy|monitor]
sq_role() {
	local name=${1:-} role=${2:-} what=${3:-all} pass f b u
	_sq_need "$name" || return 1
	if ! [[ $role =~ ^[a-z][a-z0-9_]*$ ]]; then
		_sq_err "usage: sq_role NAME ROLE [all|proxy|monitor] (ROLE: a-z, 0-9, _)"
		return 1
	fi
	# The schema files' grants: a proxy reads backends and places users;
	# a monitor changes states and deletes placements.
	case $what in
	all) b="SELECT, INSERT, UPDATE, DELETE" u=$b ;;
	proxy) b="SELECT" u="SELECT, INSERT" ;;
	monitor) b="SELECT, UPDATE (state)" u="SELECT, DELETE" ;;
	*) _sq_err "sq_role: unknown privileges '$what'"; return 1 ;;
	esac
	[ "$(sq_kind "$name")" = sqlite ] && return 0
	pass=$(openssl rand -hex 16) || return 1
	f=$(sq_secret "$name" "$role")
	(umask 077
		case $(sq_kind "$name") in
		postgresql)
			echo "*:*:*:$role:$pass" >"$f"
			;;
		mariadb)
			printf '[client]\nuser=%s\npassword=%s\n' "$role" "$pass" >"$f"
			;;
		esac) || return 1
	case $(sq_kind "$name") in
	postgresql)
		sq_sql "$name" "CREATE ROLE $role LOGIN PASSWORD '$pass';
			GRANT $b ON backends TO $role;
			GRANT $u ON user_backend TO $role;" >/dev/null
		;;
	mariadb)
		sq_sql "$name" "CREATE USER '$role'@'%' IDENTIFIED BY '$pass';
			GRANT $b ON $SQ_DBNAME.backends TO '$role'@'%';
			GRANT $u ON $SQ_DBNAME.user_backend TO '$role'@'%';" >/dev/null
		;;
	esac
}

sq_dsn() {
	local name=${1:-} role=${2:-}
	_sq_need "$name" || return 1
	case $(sq_kind "$name") in
	sqlite) echo "sqlite:$(cat "$(sq_dir "$name")/path")" ;;
	postgresql) echo "postgresql://${role:+$role@}$(sq_ip "$name"):$(sq_port "$name")/$SQ_DBNAME" ;;
	mariadb) echo "mariadb://${role:+$role@}$(sq_ip "$name"):$(sq_port "$name")/$SQ_DBNAME" ;;
	esac
}

# sq_lua_conf NAME ROLE FILE [TIMEOUT]
sq_lua_conf() {
	local name=${1:-} role=${2:-} file=${3:-} timeout=${4:-5}
	_sq_need "$name" && [ -n "$file" ] || { _sq_err "usage: sq_lua_conf NAME ROLE FILE"; return 1; }
	{
		echo "# Generated by tests/lib/sqldb.sh for database $name"
		case $(sq_kind "$name") in
		sqlite) echo "database = $(sq_dsn "$name")" ;;
		postgresql) echo "database = $(sq_dsn "$name" "$role")?passfile=$(sq_secret "$name" "$role")" ;;
		mariadb)
			echo "database = $(sq_dsn "$name" "$role")"
			echo "option_file = $(sq_secret "$name" "$role")"
			;;
		esac
		echo "timeout = $timeout"
	} >"$file"
}

# ---------------------------------------------------------------- rows

sq_backend_add() {
	local name=${1:-} id=${2:-} host=${3:-} ip=${4:-} state=${5:-0}
	sq_sql "$name" "INSERT INTO backends (id, hostname, hostip, state)
		VALUES ($id, '$host', '$ip', $state)" >/dev/null
}

sq_set_state() {
	sq_sql "${1:-}" "UPDATE backends SET state = ${3:-0} WHERE id = ${2:-0}" >/dev/null
}

sq_state() {
	sq_sql "${1:-}" "SELECT state FROM backends WHERE id = ${2:-0}"
}

# The column "user" quoted for NAME's database.
_sq_user_col() {
	[ "$(sq_kind "$1")" = mariadb ] && echo '`user`' || echo '"user"'
}

sq_user_backend() {
	local name=${1:-}
	_sq_need "$name" || return 1
	sq_sql "$name" "SELECT backend_id FROM user_backend
		WHERE $(_sq_user_col "$name") = '${2:-}' ORDER BY backend_id"
}

sq_count() {
	local name=${1:-} where=""
	[ -n "${2:-}" ] && where="WHERE backend_id = $2"
	sq_sql "$name" "SELECT count(*) FROM user_backend $where"
}

# ---------------------------------------------------------------- sessions

# A client reading SQL from a FIFO. A holder process keeps the FIFO open
# for writing for LIFETIME seconds (the session ends when it exits or is
# killed: the client sees end of input); this shell opens the FIFO only to
# write each piece, so no daemon started later inherits it.
_sq_session_start() {
	local name=$1 lifetime=$2 id d cmd
	_sq_need "$name" || return 1
	id=${#SQ_SESSIONS[@]}
	d=$(sq_dir "$name")/session-$id
	mkdir -p "$d" && mkfifo "$d/in" || return 1
	echo "$name" >"$d/db"
	SQ_SESSIONS+=("$d")
	mapfile -t cmd < <(_sq_client "$name")
	timeout $((lifetime + 30)) "${cmd[@]}" <"$d/in" >"$d/out" 2>"$d/err" &
	echo $! >"$d/pid"
	(exec sleep "$lifetime") >"$d/in" 2>/dev/null </dev/null &
	echo $! >"$d/holder"
	SQ_SESSION=$id
}

sq_session() {
	_sq_session_start "${1:-}" 600
}

_sq_session_dir() {
	local d=${SQ_SESSIONS[${1:-x}]:-}
	[ -n "$d" ] && [ -d "$d" ] || { _sq_err "no session '${1:-}'"; return 1; }
	echo "$d"
}

sq_send() {
	local d
	d=$(_sq_session_dir "${1:-}") || return 1
	if ! [ -e "/proc/$(cat "$d/holder")" ]; then
		_sq_err "session ${1:-} has ended"
		return 1
	fi
	# Bounded: a FIFO whose reader is gone would block the open.
	timeout 5 bash -c 'printf "%s\n" "$1" >"$2"' _ "${2:-}" "$d/in"
}

# The marker: PostgreSQL the session's application_name, MariaDB a named
# lock it takes, SQLite a file the client touches.
sq_mark() {
	local id=${1:-} secs=${2:-10} d name mark deadline seen
	d=$(_sq_session_dir "$id") || return 1
	name=$(cat "$d/db")
	mark="sqmark_${id}_$RANDOM$RANDOM"
	case $(sq_kind "$name") in
	postgresql) sq_send "$id" "SELECT set_config('application_name', '$mark', false);" ;;
	mariadb) sq_send "$id" "DO GET_LOCK('$mark', 0);" ;;
	sqlite) sq_send "$id" ".shell touch $d/$mark" ;;
	esac || return 1
	deadline=$(($(_sq_now_ms) + secs * 1000))
	while [ "$(_sq_now_ms)" -lt "$deadline" ]; do
		case $(sq_kind "$name") in
		postgresql)
			seen=$(sq_sql "$name" \
				"SELECT count(*) FROM pg_stat_activity WHERE application_name = '$mark'")
			;;
		mariadb)
			seen=$(sq_sql "$name" "SELECT IS_USED_LOCK('$mark') IS NOT NULL")
			;;
		sqlite)
			seen=0
			[ -e "$d/$mark" ] && seen=1
			;;
		esac
		[ "$seen" = 1 ] && return 0
		if ! [ -e "/proc/$(cat "$d/pid")" ] || _sq_zombie "$(cat "$d/pid")"; then
			_sq_err "session $id ended:"
			cat "$d/err" >&2
			return 1
		fi
		sleep 0.1
	done
	_sq_err "session $id: marker not seen after ${secs}s:"
	cat "$d/err" >&2
	return 1
}

sq_end() {
	local d pid h deadline
	d=$(_sq_session_dir "${1:-}") || return 1
	h=$(cat "$d/holder")
	kill -TERM "$h" 2>/dev/null
	wait "$h" 2>/dev/null
	pid=$(cat "$d/pid")
	deadline=$(($(_sq_now_ms) + 10000))
	while [ -e "/proc/$pid" ] && ! _sq_zombie "$pid" && [ "$(_sq_now_ms)" -lt "$deadline" ]; do
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# sq_lock NAME SECS: a session holding the lock, ended by sq_unlock or
# when its holder exits after SECS.
sq_lock() {
	local name=${1:-} secs=${2:-} id
	_sq_need "$name" || return 1
	[[ $secs =~ ^[0-9]+$ ]] || { _sq_err "usage: sq_lock NAME SECS"; return 1; }
	[ -z "${SQ_LOCKS[$name]:-}" ] || { _sq_err "$name is locked already"; return 1; }
	_sq_session_start "$name" "$secs" || return 1
	id=$SQ_SESSION
	case $(sq_kind "$name") in
	postgresql) sq_send "$id" "BEGIN; LOCK TABLE backends IN ACCESS EXCLUSIVE MODE;" ;;
	mariadb) sq_send "$id" "LOCK TABLES backends WRITE;" ;;
	sqlite) sq_send "$id" "BEGIN EXCLUSIVE;" ;;
	esac
	sq_mark "$id" || { sq_end "$id"; return 1; }
	SQ_LOCKS[$name]=$id
}

sq_unlock() {
	local name=${1:-} id
	id=${SQ_LOCKS[$name]:-}
	[ -n "$id" ] || return 0
	sq_end "$id"
	unset "SQ_LOCKS[$name]"
}

# sq_wait_blocked NAME LIKE SECS: until another session's statement
# matching the SQL LIKE pattern waits (PostgreSQL: for a lock; MariaDB:
# runs, in PROCESSLIST). SQLite cannot tell: it fails.
sq_wait_blocked() {
	local name=${1:-} like=${2:-} secs=${3:-10} q deadline
	_sq_need "$name" || return 1
	case $(sq_kind "$name") in
	postgresql)
		q="SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND query LIKE '$like'"
		;;
	mariadb)
		q="SELECT count(*) FROM information_schema.PROCESSLIST
			WHERE INFO LIKE '$like' AND ID <> CONNECTION_ID()"
		;;
	*)
		_sq_err "sq_wait_blocked: not for $(sq_kind "$name")"
		return 1
		;;
	esac
	deadline=$(($(_sq_now_ms) + secs * 1000))
	while [ "$(_sq_now_ms)" -lt "$deadline" ]; do
		[ "$(sq_sql "$name" "$q")" -gt 0 ] 2>/dev/null && return 0
		sleep 0.1
	done
	_sq_err "no statement like '$like' waits on $name after ${secs}s"
	return 1
}

# ---------------------------------------------------------------- cleanup

sq_cleanup() {
	local name d
	for name in "${!SQ_LOCKS[@]}"; do
		sq_unlock "$name"
	done
	for d in "${!SQ_SESSIONS[@]}"; do
		sq_end "$d"
	done
	SQ_SESSIONS=()
	for name in "${SQ_NAMES[@]}"; do
		case $(sq_kind "$name") in
		postgresql) _sq_pg_stop "$name" ;;
		mariadb) _sq_my_stop "$name" ;;
		esac
	done
	SQ_NAMES=()
	return 0
}

# ---------------------------------------------------------------- audit

# sq_audit NAME: every UPDATE of a backends row leaves a row in
# backends_audit (seq orders them). PostgreSQL's trigger function runs as
# its owner (SECURITY DEFINER), MariaDB's trigger as its definer: a role
# with UPDATE on backends needs no grant on the audit table.
sq_audit() {
	local name=${1:-} sql
	_sq_need "$name" || return 1
	case $(sq_kind "$name") in
	sqlite)
		sql="CREATE TABLE backends_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,
			id int, old_state smallint, new_state smallint);
		CREATE TRIGGER backends_audit AFTER UPDATE ON backends BEGIN
			INSERT INTO backends_audit (id, old_state, new_state)
			VALUES (old.id, old.state, new.state); END;"
		;;
	postgresql)
		sql='CREATE TABLE backends_audit (seq serial PRIMARY KEY, id int,
			old_state smallint, new_state smallint);
		CREATE FUNCTION backends_audit_row() RETURNS trigger LANGUAGE plpgsql
			SECURITY DEFINER AS $$ BEGIN
			INSERT INTO backends_audit (id, old_state, new_state)
			VALUES (OLD.id, OLD.state, NEW.state); RETURN NEW; END $$;
		CREATE TRIGGER backends_audit AFTER UPDATE ON backends FOR EACH ROW
			EXECUTE FUNCTION backends_audit_row();'
		;;
	mariadb)
		sql="CREATE TABLE backends_audit (seq int AUTO_INCREMENT PRIMARY KEY,
			id int, old_state smallint, new_state smallint) ENGINE = InnoDB;
		CREATE TRIGGER backends_audit AFTER UPDATE ON backends FOR EACH ROW
			INSERT INTO backends_audit (id, old_state, new_state)
			VALUES (OLD.id, OLD.state, NEW.state);"
		;;
	esac
	sq_sql "$name" "$sql" >/dev/null
}

sq_audit_of() {
	sq_sql "${1:-}" "SELECT old_state, new_state FROM backends_audit
		WHERE id = ${2:-0} ORDER BY seq" | tr '\t' '>'
}

sq_dump() {
	local name=${1:-} u
	_sq_need "$name" || return 1
	u=$(_sq_user_col "$name")
	sq_sql "$name" "SELECT id, hostname, hostip, state FROM backends ORDER BY id;
		SELECT backend_id, $u FROM user_backend ORDER BY backend_id, $u;"
}
