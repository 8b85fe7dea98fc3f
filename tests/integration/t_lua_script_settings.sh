#!/bin/bash
# runs without root
# The routing script dovecot/lua-director.lua under a plain Lua 5.4 with a
# stand-in for Dovecot's auth API, over an SQLite file: both entry points
# (2.3's script_init() with the settings file from the environment, 2.4's
# script_init(args) from lua_settings), every settings error reported as
# a temporary failure that says why (never a Lua error, which would stop
# Dovecot's auth process), a fresh reply table per request, and the
# refusal to place a user no earlier passdb authenticated. The real proxy
# is in t_lua_script_<database>.sh.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for p in lua5.4 lua-dbi-sqlite3 sqlite3; do
	if [ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
		echo "$p is not installed (make test-deps)"
		exit 77
	fi
done
T=$(mktemp -d /tmp/poolmon-luaset.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT

# shellcheck disable=SC2015
sqlite3 "$T/db" <"$ROOT/dovecot/schema-sqlite.sql" >/dev/null &&
	sqlite3 "$T/db" "INSERT INTO backends VALUES (1, 'b1.test', '192.0.2.1', 0),
		(2, 'b2.test', '', 0)" || { echo "FAIL: database"; exit 1; }

cat >"$T/check.lua" <<'EOF'
-- A stand-in for what Dovecot gives an auth script.
dovecot = { auth = { PASSDB_RESULT_OK = 1, PASSDB_RESULT_INTERNAL_FAILURE = -1,
		     PASSDB_RESULT_USER_UNKNOWN = -2 } }
local A = dovecot.auth
local script, dir = arg[1], arg[2]
local failed = 0

local function check(ok, msg)
	print((ok and "PASS: " or "FAIL: ") .. msg)
	if not ok then failed = failed + 1 end
end

local function req(user, verified)
	local r = { user = user, skip_password_check = verified ~= false, logged = {} }
	local function log(_, m) r.logged[#r.logged + 1] = m end
	r.log_debug, r.log_info, r.log_warning, r.log_error = log, log, log, log
	return r
end

local function settings(text)
	local f = assert(io.open(dir .. "/s.conf", "w"))
	f:write(text)
	f:close()
end

-- A fresh script (its state is per Lua state, as per auth process).
local function load(args)
	script_init = nil
	dofile(script)
	local ok, ret = pcall(script_init, args)
	return ok, ret
end

-- 2.3: script_init() with no arguments must return 0; the settings file
-- comes from the environment (import_environment).
settings("database = sqlite:" .. dir .. "/db\ntimeout = 1\n")
local ok, ret = load(nil)
check(ok and ret == 0, "2.3 entry: script_init() returns 0")
local res, reply = auth_passdb_lookup(req("alice"))
check(res == A.PASSDB_RESULT_OK and type(reply) == "table" and reply.host == "b1.test" and
	reply.hostip == "192.0.2.1" and reply.proxy_maybe == "y",
	"2.3 entry: alice placed and routed to b1.test (192.0.2.1)")
res, reply = auth_passdb_lookup(req("bob"))
check(res == A.PASSDB_RESULT_OK and reply.host == "b2.test" and reply.hostip == nil,
	"bob on the backend with fewer users, b2.test, with no hostip after a reply that had one")
reply.host = "changed"
res, reply = auth_passdb_lookup(req("bob"))
check(reply.host == "b2.test", "a new reply table for every request")
res, reply = auth_passdb_lookup(req("carol", false))
check(res == A.PASSDB_RESULT_USER_UNKNOWN, "a user no earlier passdb authenticated is not routed")
res, reply = auth_passdb_lookup(req("carol"))
check(reply.host == "b1.test", "and was not placed: placed now on the fewest (b1)")

-- 2.4: script_init(args) with lua_settings { config = ... }.
settings("")
local f = assert(io.open(dir .. "/other.conf", "w"))
f:write("# 2.4's file\ndatabase = sqlite:" .. dir .. "/db\n")
f:close()
ok, ret = load({ config = dir .. "/other.conf" })
check(ok, "2.4 entry: script_init(args) runs")
res, reply = auth_passdb_lookup(req("alice"))
check(res == A.PASSDB_RESULT_OK and reply.host == "b1.test",
	"2.4 entry: the file of lua_settings' config is used")

-- Every bad setting: script_init() still returns 0, logins fail as
-- temporary failures with the reason.
local cases = {
	{ nil, "No such file", "a missing settings file" },
	{ "just words\n", ":1: not a 'key = value' line", "a line that is not key = value" },
	{ "timeout = 5\n", ": no database", "no database" },
	{ "database = sqlite:/x\ntimeout = soon\n", ": bad timeout", "a bad timeout" },
	{ "database = ftp://x/y\n", "the database DSN does not parse", "an unknown DSN" },
	{ "database = postgresql://u:pw@db/x\n", "holds a password", "a PostgreSQL DSN with a password" },
	{ "database = postgresql://u@db/x?sslmode=require&password=pw\n", "holds a password",
	  "a PostgreSQL DSN with ?password=" },
	{ "database = mariadb://u:pw@db/x\n", "holds a password", "a MariaDB DSN with a password" },
	{ "database = mariadb://u@db/x?ssl=1\n", "does not parse", "a MariaDB DSN with options" },
	{ "database = mariadb://u@db/x\noption_file = " .. dir .. "/none.cnf\n",
	  "option_file: " .. dir .. "/none.cnf: No such file", "a missing option file" },
	{ "database = sqlite:" .. dir .. "/none.db\n", "unable to open database file",
	  "a missing SQLite file (never created)" },
}
for _, c in ipairs(cases) do
	os.remove(dir .. "/s.conf")
	if c[1] then settings(c[1]) end
	ok, ret = load(nil)
	res, reply = auth_passdb_lookup(req("dave"))
	check(ok and ret == 0 and res == A.PASSDB_RESULT_INTERNAL_FAILURE and
		type(reply) == "string" and reply:find(c[2], 1, true) ~= nil and
		not reply:find("pw", 1, true),
		c[3] .. ": " .. tostring(reply))
end
local g = io.open(dir .. "/none.db")
check(g == nil, "no SQLite file was created")

-- No backend in service: a temporary failure; placed users still routed.
settings("database = sqlite:" .. dir .. "/db\n")
load(nil)
os.execute("sqlite3 " .. dir .. "/db 'UPDATE backends SET state = 2 WHERE id = 1; UPDATE backends SET state = 1 WHERE id = 2'")
res, reply = auth_passdb_lookup(req("erin"))
check(res == A.PASSDB_RESULT_INTERNAL_FAILURE and reply:find("no backend in service"),
	"no backend in service: " .. tostring(reply))
res, reply = auth_passdb_lookup(req("alice"))
check(res == A.PASSDB_RESULT_OK and reply.host == "b1.test", "placed users still routed")

os.exit(failed == 0 and 0 or 1)
EOF

POOLMON_LUA_DIRECTOR_CONF=$T/s.conf lua5.4 "$T/check.lua" "$ROOT/dovecot/lua-director.lua" "$T" ||
	exit 1
rows=$(sqlite3 "$T/db" "SELECT user, backend_id FROM user_backend ORDER BY user" | tr '\n' ' ')
if [ "$rows" != "alice|1 bob|2 carol|1 " ]; then
	echo "FAIL: rows: $rows"
	exit 1
fi
echo "PASS: one row per placed user, none for dave and erin: $rows"
