# shellcheck shell=bash disable=SC2016,SC2015
# (SC2016: bash -c scripts get their values as $1...; SC2015: a && b || fail)
#
# tests/lib/testbed.sh - real Dovecot directors and backends on loopback for
# poolmon's integration tests.  Source it from a test script running as root:
#
#   . "$(dirname "$0")/../lib/testbed.sh"
#   tb_init || tb_fail "tb_init"
#   tb_backend_start b1 127.0.3.1 || tb_fail "backend b1"
#   tb_director_start 127.0.2.1 "127.0.3.1" || tb_fail "director"
#   ...
#
# Every function prints its errors to stderr and returns non-zero on failure;
# every wait is bounded.  tb_init installs an EXIT trap (and turns INT, TERM,
# HUP into exits) running tb_cleanup, which stops every instance, removes
# the iptables rules and deletes $TB_DIR.  Call tb_init and tb_fail in the
# test's main shell, not inside $(...).  A test needing its own EXIT trap
# must call tb_cleanup from it.
#
#   tb_init                      temp dir $TB_DIR, CAs/certs, users; exports
#                                TB_DIR TB_USER TB_PASS
#   tb_backend_start NAME IP [EXTRA_CONF]    imap 143, imaps 993, pop3 110,
#                                pop3s 995, lmtp 24 on IP
#   tb_backend_stop NAME / tb_backend_restart NAME
#   tb_director_start IP MAILSERVERS [EXTRA_CONF]    exports TB_DIRECTOR_SOCKET,
#                                TB_DIRECTOR_CONF, TB_DIRECTOR_IP
#   tb_director_stop / tb_director_restart
#   tb_pool_start / tb_pool_addresses N   one listen=* backend on ports
#                                10143 10110 10024 10993 10995 for many hosts
#   tb_peer_start NAME IP MAILSERVERS RING / tb_peer_stop NAME   a second
#                                director of a ring; tb_ring_synced
#   tb_dcmd CMD [ARG...]         raw director-admin command, reply on stdout
#   tb_host_state IP             U or D
#   tb_wait_host_state IP U|D SECS
#   tb_user_login USER PASS      IMAP login through the director proxy
#   tb_user_backend USER         backend IP from USER-LOOKUP ("" if none)
#   tb_block IP[/LEN] / tb_unblock IP  iptables DROP of TCP to IP (connects hang)
#   tb_block_from SRC DST / tb_unblock_from SRC DST   the same for TCP from
#                                SRC to DST only (one monitor's path)
#   tb_track_pid PID             kill PID at cleanup (e.g. a poolmond)
#   tb_cleanup                   idempotent teardown
#   tb_pass MSG / tb_fail MSG / tb_assert_eq ACTUAL EXPECTED MSG
#
# Files under $TB_DIR:
#   ca.pem ca.key            test CA that signed server.pem
#   otherca.pem otherca.key  unrelated CA (verification must fail with it)
#   server.pem server.key    SAN: IP 127.0.3.1-20, 127.0.4.1-4, DNS backend.test
#   passwd                   testuser, testuser@test, lmtpuser@test, user1..20
#                            (all with password testpass)
#   backend-NAME/, director/ dovecot.conf, dovecot.log, run/ (base_dir)

set -u

TB_DOVECOT=/usr/sbin/dovecot
TB_DOVEADM=/usr/bin/doveadm
TB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_TOOLS_DIR=$(cd "$TB_LIB_DIR/../tools" && pwd)

# Never inherit TB_DIR: tb_cleanup deletes it, so only a directory made by
# tb_init in this shell may be used.
TB_DIR=""
_TB_OWNED_DIR=""
_TB_DCMD=""
_TB_TAG=""
_TB_PIDS=()
_TB_REAP=""

_tb_err() {
	echo "testbed: $*" >&2
}

# Monotonic-enough clock in milliseconds (bash 5 $EPOCHREALTIME, any locale).
_tb_now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	echo $((t / 1000))
}

# Seconds (integer or decimal, e.g. "2" or "0.5") to milliseconds.
_tb_secs_to_ms() {
	local s=$1 int frac
	int=${s%%.*}
	frac=000
	if [[ $s == *.* ]]; then
		frac=${s#*.}000
		frac=${frac:0:3}
	fi
	[ -n "$s" ] && [[ ${int:-0} =~ ^[0-9]+$ && $frac =~ ^[0-9]+$ ]] || return 1
	echo $((10#${int:-0} * 1000 + 10#$frac))
}

# True when a TCP connect to IP:PORT succeeds within one second.
_tb_port_open() {
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# ---------------------------------------------------------------- assertions

tb_pass() {
	echo "PASS: $*"
}

# Fails the whole test: exit runs the EXIT trap, so cleanup still happens.
tb_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# tb_assert_eq ACTUAL EXPECTED MSG
tb_assert_eq() {
	if [ "$1" = "$2" ]; then
		tb_pass "$3"
	else
		tb_fail "$3: got '$1', expected '$2'"
	fi
}

# ---------------------------------------------------------------- setup

tb_init() {
	if [ "$(id -u)" != 0 ]; then
		_tb_err "must run as root (Dovecot instances, iptables)"
		return 1
	fi
	if [ -n "$_TB_OWNED_DIR" ]; then
		_tb_err "tb_init called twice"
		return 1
	fi
	if [ ! -x "$TB_DOVECOT" ] || [ ! -x "$TB_DOVEADM" ]; then
		_tb_err "$TB_DOVECOT / $TB_DOVEADM not installed"
		return 1
	fi
	TB_DIR=$(mktemp -d /tmp/poolmon-tb.XXXXXX) || { _tb_err "mktemp failed"; return 1; }
	_TB_OWNED_DIR=$TB_DIR
	# dovenull/dovecot must traverse it to reach sockets, passwd and homes.
	chmod 0755 "$TB_DIR"
	export TB_DIR
	_TB_TAG="poolmon-tb:${TB_DIR##*/}"
	trap 'tb_cleanup' EXIT
	# Signals become exits so the EXIT trap cleans up.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP

	_tb_make_certs || return 1
	_tb_make_users || return 1
	_tb_find_dcmd || return 1
	export TB_USER=testuser TB_PASS=testpass
	return 0
}

# Test CA, unrelated second CA, and one server cert valid for every test IP.
_tb_make_certs() {
	local d=$TB_DIR san i log=$TB_DIR/openssl.log
	san="DNS:backend.test"
	for i in $(seq 1 20); do san+=",IP:127.0.3.$i"; done
	for i in 1 2 3 4; do san+=",IP:127.0.4.$i"; done
	for i in $(seq 1 20); do san+=",IP:127.0.5.$i"; done

	# EC keys: instant to generate, fine for OpenSSL and Dovecot.
	_tb_make_ca "$d/ca" "poolmon test CA" &&
	_tb_make_ca "$d/otherca" "poolmon unrelated CA" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/CN=backend.test" >>"$log" 2>&1 &&
	cat >"$d/server.ext" <<-EOF &&
		basicConstraints = critical,CA:FALSE
		keyUsage = critical,digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = $san
	EOF
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-set_serial 2 -days 7 -extfile "$d/server.ext" \
		-out "$d/server.pem" >>"$log" 2>&1 || {
		_tb_err "certificate generation failed:"
		cat "$log" >&2
		return 1
	}
	# Named RFC 7919 group: instant, and keeps DHE-only clients working.
	openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 \
		-out "$d/dh.pem" >>"$log" 2>&1 || rm -f "$d/dh.pem"
	chmod 0600 "$d"/*.key
	return 0
}

# _tb_make_ca PREFIX CN -> PREFIX.pem, PREFIX.key
_tb_make_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$1.key" -out "$1.pem" -days 7 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		>>"$TB_DIR/openssl.log" 2>&1
}

# passwd-file shared by all backends.  Usernames keep their domain
# (auth_username_format %Lu), so both "testuser" and "testuser@test" exist;
# user1..user20 let tests spread many users over the backends.
_tb_make_users() {
	local f=$TB_DIR/passwd i
	{
		echo "testuser:{PLAIN}testpass::::::"
		echo "testuser@test:{PLAIN}testpass::::::"
		echo "lmtpuser@test:{PLAIN}testpass::::::"
		for i in $(seq 1 20); do echo "user$i:{PLAIN}testpass::::::"; done
	} >"$f" || return 1
	# auth runs as the dovecot user and reads the file itself.
	chmod 0644 "$f"
}

# director-cmd: $TB_DIRECTOR_CMD, else a built one that is up to date
# ($TOOLS from tests/run.sh, the Makefile's build/tests/, or one compiled by
# hand next to its source), else compile a private copy into $TB_DIR so a
# test also runs from a clean tree.
_tb_find_dcmd() {
	local src=$TB_TOOLS_DIR/director-cmd.c bin top
	top=$(cd "$TB_TOOLS_DIR/../.." && pwd)
	if [ -n "${TB_DIRECTOR_CMD:-}" ]; then
		_TB_DCMD=$TB_DIRECTOR_CMD
		[ -x "$_TB_DCMD" ] || { _tb_err "$_TB_DCMD not executable"; return 1; }
		return 0
	fi
	for bin in ${TOOLS:+"$TOOLS/director-cmd"} "$top/${BUILD:-build}/tests/director-cmd" \
		"$TB_TOOLS_DIR/director-cmd"; do
		if [ -x "$bin" ] && ! [ "$src" -nt "$bin" ]; then
			_TB_DCMD=$bin
			return 0
		fi
	done
	_TB_DCMD=$TB_DIR/director-cmd
	gcc -std=gnu11 -Wall -Wextra -O2 -o "$_TB_DCMD" "$src" || {
		_tb_err "cannot build $src"
		return 1
	}
}

# ---------------------------------------------------------------- config

# _tb_write_conf backend|director INSTDIR IP EXTRA [MAILSERVERS]
# All generated configuration lives here.  Both kinds are self-contained
# (no !include of /etc/dovecot) and kept small: 2 cores are shared by
# several instances and the daemon under test.
_tb_write_conf() {
	local kind=$1 d=$2 ip=$3 extra=$4 servers=${5:-} inst
	inst=$(_tb_inst_name "$d")
	mkdir -p "$d/state" "$d/home" || return 1
	# Mail is written as the dovecot user.
	chown dovecot:dovecot "$d/home" || return 1

	cat >"$d/dovecot.conf" <<-EOF || return 1
		# Generated by tests/lib/testbed.sh ($kind)
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
		auth_mechanisms = plain login
		auth_verbose = yes
		disable_plaintext_auth = no
		shutdown_clients = yes

		# Login processes serve many clients each: health checks every
		# second must not fork one process per connection.
		service imap-login {
		  service_count = 0
		  process_limit = 2
		}
		service pop3-login {
		  service_count = 0
		  process_limit = 2
		}
	EOF

	if [ "$kind" = backend ]; then
		cat >>"$d/dovecot.conf" <<-EOF || return 1
			protocols = imap pop3 lmtp
			ssl = yes
			ssl_cert = <$TB_DIR/server.pem
			ssl_key = <$TB_DIR/server.key
			$([ -f "$TB_DIR/dh.pem" ] && echo "ssl_dh = <$TB_DIR/dh.pem")
			hostname = ${d##*/}.test
			postmaster_address = postmaster@backend.test
			mail_uid = dovecot
			mail_gid = dovecot
			first_valid_uid = 100
			mail_location = maildir:~/Maildir

			passdb {
			  driver = passwd-file
			  args = scheme=PLAIN $TB_DIR/passwd
			}
			# Not allow_all_users: the passdb decides who exists, so LMTP
			# rejects unknown recipients.
			userdb {
			  driver = static
			  args = uid=dovecot gid=dovecot home=$d/home/%u
			}

			service imap-login {
			  inet_listener imap {
			    port = 143
			  }
			  inet_listener imaps {
			    port = 993
			    ssl = yes
			  }
			}
			service pop3-login {
			  inet_listener pop3 {
			    port = 110
			  }
			  inet_listener pop3s {
			    port = 995
			    ssl = yes
			  }
			}
			service lmtp {
			  inet_listener lmtp {
			    port = 24
			  }
			}
		EOF
	else
		cat >>"$d/dovecot.conf" <<-EOF || return 1
			protocols = imap pop3
			ssl = no

			director_servers = $ip:9090
			director_mail_servers = $servers

			service director {
			  unix_listener login/director {
			    mode = 0666
			  }
			  fifo_listener login/proxy-notify {
			    mode = 0666
			  }
			  unix_listener director-userdb {
			    mode = 0600
			  }
			  inet_listener {
			    port = 9090
			  }
			}
			service imap-login {
			  executable = imap-login director
			  inet_listener imap {
			    port = 143
			  }
			}
			service pop3-login {
			  executable = pop3-login director
			  inet_listener pop3 {
			    port = 110
			  }
			}
			# The director picks the backend; the login proxy forwards the
			# client's own password to it.
			passdb {
			  driver = static
			  args = proxy=y nopassword=y
			}
		EOF
	fi
	if [ -n "$extra" ]; then
		printf '\n# EXTRA_CONF from the test\n%s\n' "$extra" >>"$d/dovecot.conf" || return 1
	fi
	echo "$ip" >"$d/ip"
}

# ---------------------------------------------------------------- instances

# instance_name of INSTDIR: unique per run (tb_init's random suffix).  Its
# processes are titled "dovecot-<instance_name>/<service>".
_tb_inst_name() {
	echo "tb${TB_DIR##*.}-${1##*/}"
}

# Master pid of an instance, only if that process really runs our config
# (guards against a stale master.pid and pid reuse).
_tb_master_pid() {
	local d=$1 pid
	pid=$(cat "$d/run/master.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/dovecot.conf" || return 1
	echo "$pid"
}

# _tb_instance_start INSTDIR PORT_TO_WAIT_FOR
_tb_instance_start() {
	local d=$1 port=$2 ip deadline
	ip=$(cat "$d/ip") || return 1
	if _tb_master_pid "$d" >/dev/null; then
		_tb_err "${d##*/} is already running"
		return 1
	fi
	rm -f "$d/run/master.pid"
	# The master daemonizes but keeps inherited descriptors: never let it
	# hold the caller's stdout (a $(...) would wait forever).  Its stderr
	# before daemonizing (config errors) goes to a file.
	if ! "$TB_DOVECOT" -c "$d/dovecot.conf" </dev/null >/dev/null 2>"$d/start.err"; then
		_tb_err "${d##*/}: dovecot failed to start:"
		cat "$d/start.err" >&2
		return 1
	fi
	deadline=$(($(_tb_now_ms) + 10000))
	while [ "$(_tb_now_ms)" -lt "$deadline" ]; do
		if _tb_port_open "$ip" "$port"; then
			return 0
		fi
		sleep 0.1
	done
	_tb_err "${d##*/}: $ip:$port not accepting connections after 10 s; log:"
	tail -n 20 "$d/dovecot.log" >&2 2>/dev/null
	cat "$d/start.err" >&2 2>/dev/null
	return 1
}

# True if PID exists and is not a zombie.  This machine's init reaps
# orphans only every few seconds, so kill -0 alone would keep "seeing" a
# master that already exited (doveadm stop waits that way, hence 2-3 s).
_tb_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# Stop instances (INSTDIR...) together and make sure neither a master nor
# any child remains (a lingering login process would keep ports bound).
# All are signalled first so several shut down in parallel (~1 s each).
_tb_instance_stop() {
	local d pid masters="" children="" c deadline alive
	for d in "$@"; do
		d=${d%/}
		pid=$(_tb_master_pid "$d") || continue
		masters+=" $pid"
		children+=" $(pgrep -P "$pid" | tr '\n' ' ')"
		# SIGTERM is exactly what "doveadm stop" sends; waiting ourselves
		# avoids doveadm's zombie-blind wait (see _tb_alive).
		kill -TERM "$pid" 2>/dev/null
		rm -f "$d/run/master.pid"
	done
	[ -n "$masters" ] || return 0
	_TB_REAP+=" $masters $children"
	deadline=$(($(_tb_now_ms) + 10000))
	for pid in $masters; do
		while _tb_alive "$pid" && [ "$(_tb_now_ms)" -lt "$deadline" ]; do
			sleep 0.05
		done
		if _tb_alive "$pid"; then
			_tb_err "master $pid ignored SIGTERM for 10 s; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	# Children exit when the master's pipe closes; give them a moment.
	deadline=$(($(_tb_now_ms) + 5000))
	while :; do
		alive=""
		for c in $children; do
			# Only ours: a recycled pid would have another parent.
			if _tb_alive "$c" && _tb_is_orphan "$c"; then
				alive+=" $c"
			fi
		done
		[ -z "$alive" ] && break
		if [ "$(_tb_now_ms)" -ge "$deadline" ]; then
			_tb_err "killing leftover Dovecot processes:$alive"
			# shellcheck disable=SC2086
			kill -KILL $alive 2>/dev/null
			sleep 0.2
			break
		fi
		sleep 0.05
	done
	return 0
}

# True if process C was reparented to init (its master is gone).
_tb_is_orphan() {
	local ppid
	ppid=$(awk '/^PPid:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
	[ "$ppid" = 1 ]
}

# ---------------------------------------------------------------- backends

# tb_backend_start NAME IP [EXTRA_CONF]
tb_backend_start() {
	local name=${1:-} ip=${2:-} extra=${3:-} d
	if [ -z "$TB_DIR" ]; then _tb_err "tb_init first"; return 1; fi
	if ! [[ $name =~ ^[A-Za-z0-9_-]+$ && $ip =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		_tb_err "usage: tb_backend_start NAME 127.x.y.z [EXTRA_CONF]"
		return 1
	fi
	d=$TB_DIR/backend-$name
	if [ -d "$d" ] && _tb_master_pid "$d" >/dev/null; then
		_tb_err "backend $name already running"
		return 1
	fi
	mkdir -p "$d" && _tb_write_conf backend "$d" "$ip" "$extra" || return 1
	_tb_instance_start "$d" 143
}

tb_backend_stop() {
	local d=$TB_DIR/backend-${1:-}
	[ -n "${1:-}" ] && [ -f "$d/dovecot.conf" ] || { _tb_err "no backend '${1:-}'"; return 1; }
	_tb_instance_stop "$d"
}

# Same configuration as before.
tb_backend_restart() {
	tb_backend_stop "${1:-}" && _tb_instance_start "$TB_DIR/backend-$1" 143
}

# ---------------------------------------------------------------- director

# Number of addresses in a director_mail_servers value ("a b", "a-b" ranges
# within one /24), or empty when it cannot tell (host names etc.).
_tb_count_servers() {
	local w n=0 lo hi
	for w in $1; do
		if [[ $w =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.([0-9]+)-([0-9]+\.[0-9]+\.[0-9]+)\.([0-9]+)$ ]] &&
			[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[3]}" ]; then
			lo=${BASH_REMATCH[2]} hi=${BASH_REMATCH[4]}
			[ "$hi" -ge "$lo" ] || return 0
			n=$((n + hi - lo + 1))
		elif [[ $w =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
			n=$((n + 1))
		else
			return 0
		fi
	done
	echo "$n"
}

# tb_director_start IP MAILSERVERS [EXTRA_CONF]
tb_director_start() {
	local ip=${1:-} servers=${2:-} extra=${3:-} d=$TB_DIR/director
	if [ -z "$TB_DIR" ]; then _tb_err "tb_init first"; return 1; fi
	if ! [[ $ip =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || [ -z "$servers" ]; then
		_tb_err "usage: tb_director_start 127.x.y.z MAILSERVERS [EXTRA_CONF]"
		return 1
	fi
	if [ -d "$d" ] && _tb_master_pid "$d" >/dev/null; then
		_tb_err "director already running"
		return 1
	fi
	mkdir -p "$d" && _tb_write_conf director "$d" "$ip" "$extra" "$servers" || return 1
	echo "$servers" >"$d/servers"
	export TB_DIRECTOR_CONF=$d/dovecot.conf
	export TB_DIRECTOR_SOCKET=$d/run/director-admin
	export TB_DIRECTOR_IP=$ip
	_tb_director_run
}

# Start the configured director and wait until it is usable: IMAP port
# open, ring synced, and HOST-LIST showing every mail server.
_tb_director_run() {
	local d=$TB_DIR/director want deadline list n
	_tb_instance_start "$d" 143 || return 1
	want=$(_tb_count_servers "$(cat "$d/servers")")
	deadline=$(($(_tb_now_ms) + 15000))
	while [ "$(_tb_now_ms)" -lt "$deadline" ]; do
		if [ -S "$TB_DIRECTOR_SOCKET" ] &&
			tb_dcmd DIRECTOR-LIST 2>/dev/null | grep -q $'\tself\t.*ring synced'; then
			list=$(tb_dcmd HOST-LIST 2>/dev/null)
			n=$(printf '%s' "$list" | grep -c .)
			if [ -n "$want" ] && [ "$n" -eq "$want" ]; then return 0; fi
			if [ -z "$want" ] && [ "$n" -gt 0 ]; then return 0; fi
		fi
		sleep 0.2
	done
	_tb_err "director not ready after 15 s (want ${want:-some} hosts); DIRECTOR-LIST/HOST-LIST:"
	tb_dcmd DIRECTOR-LIST >&2
	tb_dcmd HOST-LIST >&2
	tail -n 20 "$d/dovecot.log" >&2 2>/dev/null
	return 1
}

tb_director_stop() {
	[ -n "$TB_DIR" ] && [ -f "$TB_DIR/director/dovecot.conf" ] || { _tb_err "no director"; return 1; }
	_tb_instance_stop "$TB_DIR/director"
}

# Stop and start with the same config; host states start over (all up).
tb_director_restart() {
	tb_director_stop && _tb_director_run
}

# tb_pool_start: one backend instance with listen = * that answers on
# every 127.x address, on ports of its own (10143 IMAP, 10110 POP3, 10024
# LMTP, 10993 IMAPS, 10995 POP3S) so it never collides with the instances
# on the standard ports: a cheap pool of hundreds of healthy backends.
# tb_pool_addresses N prints N addresses 127.1.x.y for its director.
tb_pool_start() {
	local d=$TB_DIR/backend-pool
	[ -n "$TB_DIR" ] || { _tb_err "tb_init first"; return 1; }
	mkdir -p "$d" &&
		_tb_write_conf backend "$d" 127.1.0.1 "$(_tb_pool_conf)" &&
		_tb_instance_start "$d" 10143
}

tb_pool_addresses() {
	local n=${1:-0} i=0 a=1 b=0
	while [ "$i" -lt "$n" ]; do
		echo "127.1.$b.$a"
		i=$((i + 1)) a=$((a + 1))
		[ "$a" -gt 254 ] && { a=1; b=$((b + 1)); }
	done
}

_tb_pool_conf() {
	cat <<-'EOF'
		listen = *
		default_process_limit = 400
		default_client_limit = 8000
		auth_cache_size = 10M
		auth_cache_ttl = 1 hour
		# Every check logs in as the same user from the same address
		# (127.0.0.1): Dovecot's default of 10 such sessions per
		# protocol is one real backend's share, not a pool of hundreds.
		mail_max_userip_connections = 100000
		service imap-login {
		  inet_listener imap {
		    port = 10143
		  }
		  inet_listener imaps {
		    port = 10993
		  }
		  process_limit = 4
		  client_limit = 8000
		}
		service pop3-login {
		  inet_listener pop3 {
		    port = 10110
		  }
		  inet_listener pop3s {
		    port = 10995
		  }
		  process_limit = 4
		  client_limit = 8000
		}
		service lmtp {
		  inet_listener lmtp {
		    port = 10024
		  }
		  service_count = 1000
		}
		# Mail processes serve many logins, so the pool's own cost per
		# check stays small next to the monitor's.
		service imap {
		  service_count = 10000
		}
		service pop3 {
		  service_count = 10000
		}
		service auth {
		  client_limit = 8000
		}
	EOF
}

# tb_peer_start NAME IP MAILSERVERS RING: a second director of a ring (the
# main one started by tb_director_start with the same RING as EXTRA_CONF,
# e.g. "director_servers = 127.0.7.101:9090 127.0.7.102:9090").
tb_peer_start() {
	local name=${1:-} ip=${2:-} servers=${3:-} ring=${4:-} d
	if [ -z "$TB_DIR" ] || [ -z "$ring" ]; then
		_tb_err "usage (after tb_init): tb_peer_start NAME IP MAILSERVERS RING"
		return 1
	fi
	d=$TB_DIR/peer-$name
	if [ ! -f "$d/dovecot.conf" ]; then
		mkdir -p "$d" && _tb_write_conf director "$d" "$ip" "$ring" "$servers" || return 1
	fi
	_tb_instance_start "$d" 143
}

tb_peer_stop() {
	local d=$TB_DIR/peer-${1:-}
	[ -f "$d/dovecot.conf" ] || { _tb_err "no peer '${1:-}'"; return 1; }
	_tb_instance_stop "$d"
}

# tb_ring_synced: 0 when the main director says its ring is synced.
tb_ring_synced() {
	tb_dcmd DIRECTOR-LIST 2>/dev/null | grep -q $'\tself\t[^\t]*\tring synced'
}

# ---------------------------------------------------------------- director-admin

# tb_dcmd CMD [ARGS...]: one raw director-admin command, reply on stdout.
tb_dcmd() {
	if [ -z "${TB_DIRECTOR_SOCKET:-}" ] || [ -z "$_TB_DCMD" ]; then
		_tb_err "tb_dcmd: no director started"
		return 1
	fi
	"$_TB_DCMD" "$TB_DIRECTOR_SOCKET" "$@"
}

# tb_host_state IP -> U or D
tb_host_state() {
	local list st
	list=$(tb_dcmd HOST-LIST) || return 1
	st=$(awk -F'\t' -v ip="${1:-}" '$1 == ip { print $5 }' <<<"$list")
	if [ -z "$st" ]; then
		_tb_err "host ${1:-} not in HOST-LIST"
		return 1
	fi
	echo "$st"
}

# tb_all_up WHY IP...: every IP up (U) in one HOST-LIST, or tb_fail
# "IP taken down WHY" for the first that is not.
tb_all_up() {
	local why=${1:-} list ip
	shift
	list=$(tb_dcmd HOST-LIST) || tb_fail "no HOST-LIST $why"
	for ip in "$@"; do
		[ "$(awk -F'\t' -v ip="$ip" '$1 == ip { print $5 }' <<<"$list")" = U ] ||
			tb_fail "$ip taken down $why"
	done
}

# tb_wait_host_state IP U|D TIMEOUT_SECS: 0 when reached, 1 on timeout.
tb_wait_host_state() {
	local ip=${1:-} want=${2:-} ms deadline
	ms=$(_tb_secs_to_ms "${3:-}") || { _tb_err "usage: tb_wait_host_state IP U|D SECS"; return 1; }
	deadline=$(($(_tb_now_ms) + ms))
	while :; do
		[ "$(tb_host_state "$ip" 2>/dev/null)" = "$want" ] && return 0
		[ "$(_tb_now_ms)" -ge "$deadline" ] && break
		sleep 0.2
	done
	_tb_err "host $ip not '$want' after ${3}s; HOST-LIST:"
	tb_dcmd HOST-LIST >&2
	return 1
}

# tb_user_login USER PASS: IMAP LOGIN + LOGOUT through the director proxy,
# so the director maps USER to a backend.
tb_user_login() {
	if [ -z "${TB_DIRECTOR_IP:-}" ]; then _tb_err "no director started"; return 1; fi
	# A child bash under timeout bounds even the connect().
	# shellcheck disable=SC2016
	timeout 15 bash -c '
		exec 3<>"/dev/tcp/$1/143" || exit 1
		IFS= read -r -t 5 line <&3 || { echo "no IMAP greeting" >&2; exit 1; }
		case $line in "* OK"*) ;; *) echo "bad greeting: $line" >&2; exit 1;; esac
		printf "a LOGIN \"%s\" \"%s\"\r\n" "$2" "$3" >&3
		while IFS= read -r -t 10 line <&3; do
			line=${line%$'"'"'\r'"'"'}
			case $line in
			"a OK"*) ok=1; break;;
			"a "*) echo "login failed: $line" >&2; exit 1;;
			esac
		done
		[ -n "${ok:-}" ] || { echo "no reply to LOGIN" >&2; exit 1; }
		printf "b LOGOUT\r\n" >&3
		while IFS= read -r -t 5 line <&3; do
			case $line in "b "*) break;; esac
		done
		exit 0
	' _ "$TB_DIRECTOR_IP" "${1:-}" "${2:-}" || {
		_tb_err "IMAP login of '${1:-}' via director $TB_DIRECTOR_IP failed"
		return 1
	}
}

# tb_user_backend USER -> current backend IP from USER-LOOKUP (may be empty)
tb_user_backend() {
	local reply
	reply=$(tb_dcmd USER-LOOKUP "${1:-}") || return 1
	echo "${reply%%$'\t'*}"
}

# ---------------------------------------------------------------- faults

# Drop TCP to IP: connects hang, like a host that stopped answering.  Rules
# carry a per-run comment so tb_cleanup finds every one of them.
# tb_block 127.x.y.z[/LEN]: a prefix blocks several hosts in one step.
tb_block() {
	local net=${1:-}
	if [ -z "$_TB_TAG" ] || ! [[ $net =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]]; then
		_tb_err "usage (after tb_init): tb_block 127.x.y.z[/LEN]"
		return 1
	fi
	[[ $net == */* ]] || net=$net/32
	iptables -w 5 -I INPUT -d "$net" -p tcp -m comment --comment "$_TB_TAG" -j DROP
}

tb_unblock() {
	[ -n "$_TB_TAG" ] || return 1
	while iptables -w 5 -D INPUT -d "${1:-}/32" -p tcp -m comment --comment "$_TB_TAG" -j DROP 2>/dev/null; do
		:
	done
	return 0
}

# tb_block_from SRC DST: drop TCP from SRC to DST only, e.g. the checks of
# one poolmond running with --source-address=SRC.
tb_block_from() {
	local re='^127\.[0-9]+\.[0-9]+\.[0-9]+$'
	if [ -z "$_TB_TAG" ] || ! [[ ${1:-} =~ $re && ${2:-} =~ $re ]]; then
		_tb_err "usage (after tb_init): tb_block_from 127.x.y.z 127.x.y.z"
		return 1
	fi
	iptables -w 5 -I INPUT -s "$1/32" -d "$2/32" -p tcp -m comment --comment "$_TB_TAG" -j DROP
}

tb_unblock_from() {
	[ -n "$_TB_TAG" ] || return 1
	while iptables -w 5 -D INPUT -s "${1:-}/32" -d "${2:-}/32" -p tcp -m comment --comment "$_TB_TAG" -j DROP 2>/dev/null; do
		:
	done
	return 0
}

_tb_unblock_all() {
	local line words
	[ -n "$_TB_TAG" ] || return 0
	iptables -w 5 -S INPUT 2>/dev/null | grep -F -- "$_TB_TAG" | while IFS= read -r line; do
		# -S quotes the comment; our tag has no spaces, so drop the quotes.
		read -ra words <<<"${line//\"/}"
		words[0]=-D
		iptables -w 5 "${words[@]}" || _tb_err "could not remove rule: $line"
	done
}

# ---------------------------------------------------------------- cleanup

# tb_track_pid PID: tb_cleanup kills it (TERM, then KILL) - e.g. a poolmond.
tb_track_pid() {
	_TB_PIDS+=("$1")
}

_tb_kill_tracked() {
	local p i
	for p in "${_TB_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for i in $(seq 1 30); do
			_tb_alive "$p" || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	_TB_PIDS=()
}

# Wait (max 5 s) until init has reaped the zombies of stopped instances, so
# "pgrep dovecot" is empty when a test has finished.
_tb_wait_reaped() {
	local p deadline
	deadline=$(($(_tb_now_ms) + 5000))
	for p in $_TB_REAP; do
		while [ -e "/proc/$p" ] && ! _tb_alive "$p" && [ "$(_tb_now_ms)" -lt "$deadline" ]; do
			sleep 0.1
		done
	done
	_TB_REAP=""
}

# Idempotent; safe from the EXIT trap and by hand.
tb_cleanup() {
	local rc=$? d p traps
	[ -n "$_TB_OWNED_DIR" ] || return 0
	# A signal now (a run being interrupted) would cut the teardown short
	# and leave instances and $TB_DIR behind: held off until it is done.
	traps=$(trap -p INT TERM HUP)
	trap '' INT TERM HUP
	# A failed test keeps its logs where tests/run.sh shows them.
	if [ "$rc" -ne 0 ] && [ -n "${TB_KEEP_LOGS:-}" ]; then
		mkdir -p "$TB_KEEP_LOGS" &&
			find "$_TB_OWNED_DIR" -maxdepth 2 -name '*.log' \
				-exec cp --backup=numbered -t "$TB_KEEP_LOGS" {} + 2>/dev/null
	fi
	_tb_unblock_all
	_tb_kill_tracked
	_tb_instance_stop "$_TB_OWNED_DIR"/*/
	# Anything else titled with one of our unique instance names (e.g. a
	# process forked while its master shut down).
	for d in "$_TB_OWNED_DIR"/*/; do
		d=${d%/}
		[ -f "$d/dovecot.conf" ] || continue
		pgrep -f "^dovecot-$(_tb_inst_name "$d")/" | while read -r p; do
			_tb_err "killing leftover $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
			kill -KILL "$p" 2>/dev/null
		done
	done
	_tb_wait_reaped
	rm -rf -- "$_TB_OWNED_DIR"
	_TB_OWNED_DIR=""
	TB_DIR=""
	_TB_TAG=""
	trap - INT TERM HUP
	eval "$traps"
	return 0
}

# tb_tool NAME: the path of tests/tools/NAME of this tree's build,
# wherever $TOOLS points (an older build's tools may not have it).
tb_tool() {
	local d
	for d in "${TOOLS:-}" "$(dirname "$0")/../../${BUILD:-build}/tests"; do
		[ -n "$d" ] && [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
	done
	tb_fail "tests/tools/$1 not built (make tests)"
}

# tb_need_packages PKG...: the test is skipped (exit 77), naming the first
# Debian package that is not installed.
tb_need_packages() {
	local p
	for p in "$@"; do
		if [ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			echo "$p is not installed (make test-deps)"
			exit 77
		fi
	done
}
