# shellcheck shell=bash disable=SC2016,SC2015
# (SC2016: bash -c scripts get their values as $1...; SC2015: a && b || fail)
#
# tests/lib/luaproxy.sh - Dovecot 2.3 proxies running poolmon's Lua
# director (dovecot/lua-director.lua, the shipped script) over a database
# of tests/lib/sqldb.sh, in front of testbed.sh's backends. Source after
# testbed.sh (and sqldb.sh), after tb_init:
#
#   . "$(dirname "$0")/../lib/testbed.sh"
#   . "$(dirname "$0")/../lib/sqldb.sh"
#   . "$(dirname "$0")/../lib/luaproxy.sh"
#   tb_init && sq_init || tb_fail "init"
#   tb_backend_start b1 127.0.3.1 || tb_fail "b1"
#   sq_start sqlite db && sq_backend_add db 1 b1.test 127.0.3.1 || tb_fail "db"
#   sq_lua_conf db "" "$TB_DIR/lua.conf" && lp_start p1 127.0.9.1 "$TB_DIR/lua.conf"
#   lp_imap_login 127.0.9.1 user1 testpass
#
# The passdbs are the shipped dovecot/proxy-2.3.conf's, with the
# testbed's passwd file and the tree's script: the proxy checks the
# password itself (passwd-file, result_success = continue-ok), then the
# Lua passdb (skip = unauthenticated) routes the user; the script finds
# its settings file through the environment variable
# POOLMON_LUA_DIRECTOR_CONF (import_environment). IMAP 143, POP3 110 and
# LMTP 24 are proxied; no userdb. Every function prints its errors to
# stderr and returns non-zero on failure; every wait is bounded;
# tb_cleanup stops the proxies (they are testbed instances) and the
# sessions (tracked with tb_track_pid).
#
#   lp_start NAME IP SETTINGS [EXTRA_CONF]   a proxy on IP with the script
#                                and SETTINGS (sq_lua_conf's file); its files
#                                in $TB_DIR/lproxy-NAME/ (dovecot.conf,
#                                dovecot.log); LP_SCRIPT and LP_SNIPPET
#                                override the script and the passdbs
#   lp_stop NAME / lp_restart NAME
#   lp_conf NAME / lp_log NAME   its dovecot.conf / dovecot.log
#   lp_imap_login IP USER PASS   IMAP LOGIN + LOGOUT through the proxy at
#                                IP: 0 on "a OK"; the tagged reply (or
#                                why there is none) on stdout
#   lp_pop3_login IP USER PASS   the same with POP3 USER/PASS: "+OK"/"-ERR"
#   lp_lmtp_deliver IP RCPT      one message over LMTP: 0 on 250 after
#                                DATA; the last reply on stdout
#   lp_session_open IP USER PASS   an IMAP session logged in through the
#                                proxy and kept open in the background;
#                                sets LP_SESSION to its id; fails if the
#                                login does
#   lp_session_state ID          open (logged in, connection up), closed
#                                (the server closed it: EOF) or failed
#   lp_session_wait_closed ID SECS   until the server closed it
#   lp_session_end ID            close it from our side
#   lp_proxy_list NAME           doveadm -c CONF proxy list
#   lp_proxy_count NAME [HOST]   proxied sessions (to HOST, the host string
#                                or its IP) in proxy list
#   lp_wait_proxy_count NAME HOST N SECS   until lp_proxy_count is N
#   lp_kick NAME HOST            doveadm -c CONF proxy kick -h HOST (2.3:
#                                HOST is the host string the passdb gave,
#                                the backend's hostname); its output on
#                                stdout. Its "N connections kicked" is NOT
#                                the total: 2.3's ipc service passes on the
#                                last login process's reply only (with
#                                several imap-login/pop3-login processes,
#                                often 0); watch the sessions instead
#   lp_auth_log NAME REGEX       lines of the proxy's log matching REGEX
#   lp_refuse IP / lp_accept IP  new TCP connections to IP refused (a reset
#                                to every SYN), established ones kept: a
#                                backend that stopped taking connections
#                                while its sessions through a proxy stay
#                                open, so that only a kick ends them;
#                                tagged, tb_cleanup removes what is left
#   lp_pm_start DSN CONF [ARGS...]   poolmond -f --lua-director=DSN
#                                --proxy=CONF, its pid file, log, state file
#                                and control socket where pm_start puts
#                                them (poolmon.sh: source it first; pm_stop,
#                                pm_wait_json, pm_wait_backend work on it),
#                                then ARGS; sets PM_PID

set -u

LP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LP_TOP=$(cd "$LP_LIB_DIR/../.." && pwd)
LP_SCRIPT=${LP_SCRIPT:-$LP_TOP/dovecot/lua-director.lua}
LP_SNIPPET=${LP_SNIPPET:-$LP_TOP/dovecot/proxy-2.3.conf}
LP_SESSIONS=()
LP_SESSION=""

_lp_err() {
	echo "luaproxy: $*" >&2
}

lp_conf() { echo "$TB_DIR/lproxy-${1:-}/dovecot.conf"; }
lp_log() { echo "$TB_DIR/lproxy-${1:-}/dovecot.log"; }

_lp_write_conf() {
	local d=$1 ip=$2 settings=$3 extra=$4 inst
	inst=$(_tb_inst_name "$d")
	mkdir -p "$d/state" || return 1
	cat >"$d/dovecot.conf" <<-EOF || return 1
		# Generated by tests/lib/luaproxy.sh: a proxy routing through
		# poolmon's Lua director.
		base_dir = $d/run
		state_dir = $d/state
		instance_name = $inst
		log_path = $d/dovecot.log
		listen = $ip
		default_login_user = dovenull
		default_internal_user = dovecot
		default_process_limit = 10
		default_client_limit = 100
		default_vsz_limit = 256M
		protocols = imap pop3 lmtp
		ssl = no
		auth_mechanisms = plain login
		auth_verbose = yes
		disable_plaintext_auth = no
		shutdown_clients = yes
		lmtp_proxy = yes
		# The script's settings file (2.3 passes the passdb nothing but
		# its own args).
		import_environment = \$import_environment POOLMON_LUA_DIRECTOR_CONF=$settings

		# The passdbs: the shipped dovecot/proxy-2.3.conf with this
		# test's passwd file and script.
		!include $d/passdbs.conf

		service imap-login {
		  service_count = 0
		  process_limit = 2
		  inet_listener imap {
		    port = 143
		  }
		}
		service pop3-login {
		  service_count = 0
		  process_limit = 2
		  inet_listener pop3 {
		    port = 110
		  }
		}
		service lmtp {
		  inet_listener lmtp {
		    port = 24
		  }
		}
	EOF
	sed -e "s|/etc/dovecot/users|$TB_DIR/passwd|" \
		-e "s|/usr/share/poolmon/dovecot/lua-director.lua|$LP_SCRIPT|" \
		"$LP_SNIPPET" >"$d/passdbs.conf" || return 1
	grep -q "^  args = file=$LP_SCRIPT " "$d/passdbs.conf" &&
		grep -q "$TB_DIR/passwd" "$d/passdbs.conf" || {
		_lp_err "$LP_SNIPPET: its passdbs are not as expected"
		return 1
	}
	if [ -n "$extra" ]; then
		printf '\n# EXTRA_CONF from the test\n%s\n' "$extra" >>"$d/dovecot.conf" || return 1
	fi
	echo "$ip" >"$d/ip"
}

# lp_start NAME IP SETTINGS [EXTRA_CONF]
lp_start() {
	local name=${1:-} ip=${2:-} settings=${3:-} extra=${4:-} d
	if [ -z "${TB_DIR:-}" ]; then _lp_err "tb_init first"; return 1; fi
	if ! [[ $name =~ ^[A-Za-z0-9_-]+$ && $ip =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
		[ -z "$settings" ]; then
		_lp_err "usage: lp_start NAME 127.x.y.z SETTINGS [EXTRA_CONF]"
		return 1
	fi
	[ -f "$LP_SCRIPT" ] || { _lp_err "no script $LP_SCRIPT"; return 1; }
	[ -f /usr/lib/dovecot/modules/auth/libauthdb_lua.so ] ||
		{ _lp_err "dovecot-auth-lua is not installed"; return 1; }
	d=$TB_DIR/lproxy-$name
	if [ -d "$d" ] && _tb_master_pid "$d" >/dev/null; then
		_lp_err "proxy $name already running"
		return 1
	fi
	mkdir -p "$d" && _lp_write_conf "$d" "$ip" "$settings" "$extra" || return 1
	_tb_instance_start "$d" 143
}

lp_stop() {
	local d=$TB_DIR/lproxy-${1:-}
	[ -n "${1:-}" ] && [ -f "$d/dovecot.conf" ] || { _lp_err "no proxy '${1:-}'"; return 1; }
	_tb_instance_stop "$d"
}

lp_restart() {
	lp_stop "${1:-}" && _tb_instance_start "$TB_DIR/lproxy-$1" 143
}

# ---------------------------------------------------------------- clients

lp_imap_login() {
	timeout 20 bash -c '
		exec 3<>"/dev/tcp/$1/143" || { echo "no connection"; exit 1; }
		IFS= read -r -t 5 line <&3 || { echo "no IMAP greeting"; exit 1; }
		printf "a LOGIN \"%s\" \"%s\"\r\n" "$2" "$3" >&3
		rc=1
		while IFS= read -r -t 15 line <&3; do
			line=${line%$'"'"'\r'"'"'}
			case $line in
			"a OK"*) rc=0; break ;;
			"a "*) break ;;
			esac
		done
		echo "${line:-no reply to LOGIN}"
		[ "$rc" = 0 ] || exit 1
		printf "b LOGOUT\r\n" >&3
		while IFS= read -r -t 5 line <&3; do
			case $line in "b "*) break ;; esac
		done
		exit 0
	' _ "${1:-}" "${2:-}" "${3:-}"
}

lp_pop3_login() {
	timeout 20 bash -c '
		exec 3<>"/dev/tcp/$1/110" || { echo "no connection"; exit 1; }
		IFS= read -r -t 5 line <&3 || { echo "no POP3 greeting"; exit 1; }
		printf "USER %s\r\n" "$2" >&3
		IFS= read -r -t 5 line <&3 || { echo "no reply to USER"; exit 1; }
		printf "PASS %s\r\n" "$3" >&3
		IFS= read -r -t 15 line <&3 || { echo "no reply to PASS"; exit 1; }
		line=${line%$'"'"'\r'"'"'}
		echo "$line"
		case $line in "+OK"*) ;; *) exit 1 ;; esac
		printf "QUIT\r\n" >&3
		IFS= read -r -t 5 line <&3
		exit 0
	' _ "${1:-}" "${2:-}" "${3:-}"
}

lp_lmtp_deliver() {
	timeout 30 bash -c '
		exec 3<>"/dev/tcp/$1/24" || { echo "no connection"; exit 1; }
		# reply: the last line of a (multi-line) reply, in $line
		reply() {
			while IFS= read -r -t 15 line <&3; do
				line=${line%$'"'"'\r'"'"'}
				case $line in [0-9][0-9][0-9]-*) ;; *) return 0 ;; esac
			done
			line="no reply"
			return 1
		}
		expect() { reply && case $line in "$1"*) return 0 ;; esac; echo "$line"; exit 1; }
		expect 220
		printf "LHLO test.example\r\n" >&3; expect 250
		printf "MAIL FROM:<test@example.org>\r\n" >&3; expect 250
		printf "RCPT TO:<%s>\r\n" "$2" >&3; expect 250
		printf "DATA\r\n" >&3; expect 354
		printf "Subject: poolmon test\r\n\r\nhello\r\n.\r\n" >&3; expect 250
		echo "$line"
		printf "QUIT\r\n" >&3
		exit 0
	' _ "${1:-}" "${2:-}"
}

# ---------------------------------------------------------------- sessions

# A background bash holding the connection: it logs in, writes "open" to
# its state file, then reads until the server closes the connection
# ("closed") or the login fails ("failed").
lp_session_open() {
	local ip=${1:-} user=${2:-} pass=${3:-} id d deadline st
	id=${#LP_SESSIONS[@]}
	d=$TB_DIR/lp-session-$id
	mkdir -p "$d" || return 1
	LP_SESSIONS+=("$d")
	: >"$d/state"
	bash -c '
		exec 3<>"/dev/tcp/$1/143" || { echo failed >"$4/state"; exit 1; }
		IFS= read -r -t 5 line <&3 || { echo failed >"$4/state"; exit 1; }
		printf "a LOGIN \"%s\" \"%s\"\r\n" "$2" "$3" >&3
		while IFS= read -r -t 15 line <&3; do
			line=${line%$'"'"'\r'"'"'}
			echo "$line" >>"$4/lines"
			case $line in
			"a OK"*) echo open >"$4/state"; break ;;
			"a "*) echo failed >"$4/state"; exit 1 ;;
			esac
		done
		[ "$(cat "$4/state")" = open ] || { echo failed >"$4/state"; exit 1; }
		while IFS= read -r line <&3; do
			echo "$line" >>"$4/lines"
		done
		echo closed >"$4/state"
	' _ "$ip" "$user" "$pass" "$d" </dev/null >/dev/null 2>"$d/err" &
	echo $! >"$d/pid"
	tb_track_pid "$!"
	# shellcheck disable=SC2034 # the caller's
	LP_SESSION=$id
	deadline=$(($(_tb_now_ms) + 20000))
	while [ "$(_tb_now_ms)" -lt "$deadline" ]; do
		st=$(cat "$d/state")
		case $st in
		open) return 0 ;;
		failed | closed)
			_lp_err "session of $user via $ip: $st: $(tail -n 1 "$d/lines" 2>/dev/null)"
			return 1
			;;
		esac
		sleep 0.05
	done
	_lp_err "session of $user via $ip: no login after 20 s"
	return 1
}

_lp_session_dir() {
	local d=${LP_SESSIONS[${1:-x}]:-}
	[ -n "$d" ] && [ -d "$d" ] || { _lp_err "no session '${1:-}'"; return 1; }
	echo "$d"
}

lp_session_state() {
	local d st
	d=$(_lp_session_dir "${1:-}") || return 1
	st=$(cat "$d/state")
	echo "${st:-starting}"
}

lp_session_wait_closed() {
	local id=${1:-} secs=${2:-10} deadline
	_lp_session_dir "$id" >/dev/null || return 1
	deadline=$(($(_tb_now_ms) + secs * 1000))
	while [ "$(_tb_now_ms)" -lt "$deadline" ]; do
		[ "$(lp_session_state "$id")" = closed ] && return 0
		sleep 0.1
	done
	_lp_err "session $id still $(lp_session_state "$id") after ${secs}s"
	return 1
}

lp_session_end() {
	local d pid
	d=$(_lp_session_dir "${1:-}") || return 1
	pid=$(cat "$d/pid")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# ---------------------------------------------------------------- doveadm

lp_proxy_list() {
	timeout 10 "$TB_DOVEADM" -c "$(lp_conf "${1:-}")" proxy list
}

# Sessions in proxy list (to HOST: a column equal to it).
lp_proxy_count() {
	local list
	list=$(lp_proxy_list "${1:-}") || return 1
	if [ -z "${2:-}" ]; then
		awk 'NR > 1 && NF > 0' <<<"$list" | wc -l
	else
		awk -v h="$2" 'NR > 1 { for (i = 1; i <= NF; i++) if ($i == h) { n++; break } }
			END { print n + 0 }' <<<"$list"
	fi
}

lp_wait_proxy_count() {
	local name=${1:-} host=${2:-} want=${3:-0} secs=${4:-10} deadline n
	deadline=$(($(_tb_now_ms) + secs * 1000))
	while :; do
		n=$(lp_proxy_count "$name" "$host") && [ "$n" = "$want" ] && return 0
		[ "$(_tb_now_ms)" -ge "$deadline" ] && break
		sleep 0.1
	done
	_lp_err "proxy $name: ${n:-?} sessions to $host after ${secs}s, not $want"
	return 1
}

lp_kick() {
	timeout 10 "$TB_DOVEADM" -c "$(lp_conf "${1:-}")" proxy kick -h "${2:-}"
}

lp_auth_log() {
	grep -E -- "${2:-}" "$(lp_log "${1:-}")"
}

# ---------------------------------------------------------------- backends

lp_refuse() {
	[ -n "${_TB_TAG:-}" ] && [[ ${1:-} =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
		{ _lp_err "usage (after tb_init): lp_refuse 127.x.y.z"; return 1; }
	iptables -w 5 -I INPUT -d "$1/32" -p tcp --syn -m comment \
		--comment "$_TB_TAG" -j REJECT --reject-with tcp-reset
}

lp_accept() {
	[ -n "${_TB_TAG:-}" ] || return 1
	while iptables -w 5 -D INPUT -d "${1:-}/32" -p tcp --syn -m comment \
		--comment "$_TB_TAG" -j REJECT --reject-with tcp-reset 2>/dev/null; do
		:
	done
	return 0
}

# ---------------------------------------------------------------- poolmond

lp_pm_start() {
	local dsn=${1:-} conf=${2:-}
	[ -n "$dsn" ] && [ -n "$conf" ] && [ -n "${POOLMOND:-}" ] ||
		{ _lp_err "usage (with poolmon.sh): lp_pm_start DSN CONF [ARGS...]"; return 1; }
	shift 2
	# shellcheck disable=SC2034 # poolmon.sh reads it
	PM_LOG_FROM=$(stat -c %s "$(pm_log)" 2>/dev/null || echo 0)
	"$POOLMOND" -f --lua-director="$dsn" --proxy="$conf" \
		-k "$TB_DIR/poolmond.pid" -l "$(pm_log)" --state-file "$TB_DIR/state" \
		--control-socket "$TB_DIR/ctl.sock" "$@" \
		</dev/null >>"$TB_DIR/poolmond.out" 2>&1 &
	PM_PID=$!
	tb_track_pid "$PM_PID"
}
