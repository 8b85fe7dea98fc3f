-- poolmon's Lua director: a Dovecot passdb that routes each user to a
-- backend through two SQL tables, the replacement for the director that
-- Dovecot 2.4 removed. Runs on Dovecot 2.3 and 2.4 alike, over SQLite,
-- PostgreSQL or MariaDB (luadbi: lua-dbi-sqlite3, lua-dbi-postgresql,
-- lua-dbi-mysql).
--
--   backends(id, hostname, hostip, state)   state 0: in service, may get
--                                           new users; 2: taken down by
--                                           poolmond; other: the operator's
--   user_backend(backend_id, user)          where a user is placed
--
-- A placed user goes to its backend whatever the backend's state: moving
-- users is deleting their rows (poolmond does it when a backend fails),
-- then they are placed again at their next login. A user with no row is
-- placed, once, on the backend in service with the fewest placed users.
-- Only users whose password an earlier passdb accepted are placed (see
-- the configuration snippets next to this file: the real passdb first
-- with result_success = continue-ok, this one after it with
-- skip = unauthenticated).
--
-- The database is named in a settings file, never in this script:
--   2.4: lua_settings { config = PATH }, else
--   the environment variable POOLMON_LUA_DIRECTOR_CONF (2.3: pass it with
--   import_environment), else /etc/dovecot/poolmon-lua-director.conf.
-- Its lines are "key = value" ("#" starts a comment):
--   database = sqlite:PATH
--            | postgresql://[user@]host[:port]/dbname[?options]
--            | mariadb://[user@]host[:port]/dbname
--              (the DSN of poolmond's --lua-director; never a password:
--              PostgreSQL reads it from a password file, e.g. the option
--              ?passfile=PATH; MariaDB from option_file)
--   option_file = PATH   MariaDB: a client option file whose [client]
--                        section gives password (and user, socket, port
--                        when the DSN has none)
--   timeout = SECONDS    longest wait for a lock or a statement, and for
--                        a PostgreSQL connect (default 5)
-- The file is read when the auth process starts (doveadm reload re-reads
-- it); a missing or bad one fails logins as a temporary failure and is
-- read again at the next login.

local DBI = require "DBI"
-- Lua 5.1 (LuaJIT) has unpack only.
local unpack = table.unpack or unpack

local DEFAULT_CONFIG = "/etc/dovecot/poolmon-lua-director.conf"
local CONFIG_ENV = "POOLMON_LUA_DIRECTOR_CONF"
local DEFAULT_TIMEOUT = 5
-- SQLITE_OPEN_READWRITE without SQLITE_OPEN_CREATE: a wrong path is an
-- error, not a new empty database.
local SQLITE_OPEN_READWRITE = 2
-- Attempts to place a user when the chosen backend leaves service (or
-- another proxy places the user) between choosing and inserting.
local PLACE_TRIES = 3

local config_path      -- the settings file in use
local settings         -- its parsed content, nil until read
local settings_error   -- why it could not be used
local db               -- { conn, kind, sql, stmts } while connected

-- ------------------------------------------------------------ settings

local function trim(s)
	return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- "key = value" lines; nil and a message on a malformed file.
local function read_keyvalue_file(path, sections)
	local f, err = io.open(path, "r")
	if not f then
		return nil, err
	end
	local out, section, n = {}, nil, 0
	for line in f:lines() do
		n = n + 1
		line = trim(line:gsub("^%s*[#;].*$", ""))
		local name = line:match("^%[(.-)%]$")
		if name then
			section = trim(name)
		elseif line ~= "" then
			local k, v = line:match("^([%w_%-]+)%s*=%s*(.-)$")
			if not k then
				f:close()
				return nil, path .. ":" .. n .. ": not a 'key = value' line"
			end
			-- Option files quote values at will.
			v = v:match('^"(.*)"$') or v:match("^'(.*)'$") or v
			if sections == nil or sections[section or ""] then
				out[k:gsub("-", "_")] = v
			end
		end
	end
	f:close()
	return out
end

-- %XX escapes of a URI component.
local function unescape(s)
	return (s:gsub("%%(%x%x)", function(h)
		return string.char(tonumber(h, 16))
	end))
end

-- The DSN of the settings file, as a driver and its connect arguments.
-- nil and a message when it does not parse or holds a password.
local function parse_dsn(dsn, opts)
	local path = dsn:match("^sqlite:(.+)$")
	if path then
		return { kind = "sqlite", driver = "SQLite3",
			 args = { path, SQLITE_OPEN_READWRITE } }
	end
	local scheme, rest = dsn:match("^(%a+)://(.*)$")
	if scheme == "postgresql" or scheme == "postgres" then
		local auth = rest:match("^([^/?]*)@")
		if auth and auth:find(":", 1, true) then
			return nil, "the database DSN holds a password: put it" ..
				" in a PostgreSQL password file" ..
				" (?passfile=PATH or ~/.pgpass)"
		end
		if rest:find("[?&]password=") then
			return nil, "the database DSN holds a password: put it" ..
				" in a PostgreSQL password file"
		end
		-- libpq takes the URI as it is (luadbi passes it as the
		-- database name); a connect never waits for ever.
		local uri = dsn
		if not uri:find("[?&]connect_timeout=") then
			uri = uri .. (uri:find("?", 1, true) and "&" or "?") ..
				"connect_timeout=" .. opts.timeout
		end
		return { kind = "postgresql", driver = "PostgreSQL",
			 args = { uri } }
	end
	if scheme == "mariadb" or scheme == "mysql" then
		local authority, dbname = rest:match("^([^/]*)/([^/?]+)$")
		if not dbname then
			return nil, "the database DSN does not parse: " ..
				"mariadb://[user@]host[:port]/dbname"
		end
		local user, hostport = authority:match("^(.*)@(.*)$")
		if not user then
			user, hostport = "", authority
		end
		local host, port = hostport:match("^(.*):(%d+)$")
		if not host then
			host, port = hostport, ""
		end
		if user:find(":", 1, true) then
			return nil, "the database DSN holds a password: put it" ..
				" in the option_file"
		end
		local o = {}
		if opts.option_file then
			local err
			o, err = read_keyvalue_file(opts.option_file,
				{ client = true, ["client-mariadb"] = true,
				  ["mariadb-client"] = true })
			if not o then
				return nil, "option_file: " .. err
			end
		end
		user = unescape(user ~= "" and user or (o.user or ""))
		host = unescape(host ~= "" and host or (o.host or "localhost"))
		port = tonumber(port ~= "" and port or o.port or "")
		-- luadbi connects through a socket given as the host.
		if host == "localhost" and o.socket then
			host = o.socket
		end
		return { kind = "mariadb", driver = "MySQL",
			 args = { unescape(dbname), user ~= "" and user or nil,
				  o.password, host, port } }
	end
	return nil, "the database DSN does not parse: sqlite:PATH," ..
		" postgresql://[user@]host[:port]/dbname[?options] or" ..
		" mariadb://[user@]host[:port]/dbname"
end

local function load_settings()
	local s, err = read_keyvalue_file(config_path)
	if not s then
		-- io.open's message and ours name the file.
		return nil, "settings file " .. err
	end
	if not s.database or s.database == "" then
		return nil, "settings file " .. config_path .. ": no database"
	end
	local timeout = tonumber(s.timeout or DEFAULT_TIMEOUT)
	if not timeout or timeout <= 0 then
		return nil, "settings file " .. config_path .. ": bad timeout"
	end
	local target
	target, err = parse_dsn(s.database,
		{ timeout = timeout, option_file = s.option_file })
	if not target then
		return nil, "settings file " .. config_path .. ": " .. err
	end
	target.timeout = timeout
	return target
end

-- Settings in use, read again after a failure. Never raises: an error in
-- script_init() would stop the auth process.
local function get_settings()
	if not settings then
		local ok, target, err = pcall(load_settings)
		if ok then
			settings, settings_error = target, err
		else
			settings, settings_error = nil, "settings file " ..
				tostring(config_path) .. ": " .. tostring(target)
		end
	end
	return settings, settings_error
end

-- ------------------------------------------------------------ SQL

-- The statements of each database. "user" is a reserved word in
-- PostgreSQL; MariaDB quotes names with backquotes. A user is inserted
-- only while its backend is still in service, so that a monitor's "state
-- to 2, then delete the backend's rows" (one transaction) either deletes
-- the new row or makes the insert place nobody (and a backend is chosen
-- again): MariaDB reads the backend's row with a shared lock (SELECT
-- privilege is enough), SQLite has one writer at a time, and PostgreSQL,
-- where a row lock needs UPDATE privilege, relies on the monitor locking
-- user_backend against inserts (SHARE ROW EXCLUSIVE) before it changes
-- the state: the insert then waits and reads the new state.
local function statements(kind)
	local u = kind == "mariadb" and "`user`" or '"user"'
	local lock = kind == "mariadb" and " LOCK IN SHARE MODE" or ""
	local param = kind == "postgresql" and "CAST(? AS varchar(255))" or "?"
	return {
		lookup = "SELECT b.id, b.hostname, b.hostip FROM user_backend u" ..
			" JOIN backends b ON b.id = u.backend_id" ..
			" WHERE u." .. u .. " = ? ORDER BY b.id",
		choose = "SELECT b.id, b.hostname, b.hostip FROM backends b" ..
			" WHERE b.state = 0 ORDER BY (SELECT COUNT(*)" ..
			" FROM user_backend c WHERE c.backend_id = b.id), b.id LIMIT 1",
		place = "INSERT INTO user_backend (backend_id, " .. u .. ")" ..
			" SELECT b.id, " .. param .. " FROM backends b" ..
			" WHERE b.id = ? AND b.state = 0" .. lock,
	}
end

-- Per-connection settings: waits for locks and statements are bounded.
-- Each is { sql, fetch its rows, required }.
local function session_setup(kind, timeout)
	local ms = math.floor(timeout * 1000)
	local secs = math.max(1, math.floor(timeout + 0.5))
	if kind == "sqlite" then
		-- WAL lets lookups run while poolmond writes; it is kept in
		-- the file (the schema sets it), so this only matters for a
		-- database made otherwise, and may wait for a lock.
		return { { "PRAGMA busy_timeout = " .. ms, true, true },
			 { "PRAGMA journal_mode = WAL", true, false } }
	elseif kind == "postgresql" then
		return { { "SELECT set_config('statement_timeout', '" .. ms ..
			   "', false)", true, true },
			 { "SELECT set_config('lock_timeout', '" .. ms ..
			   "', false)", true, true } }
	else
		-- Table locks (LOCK TABLES) and row locks wait apart;
		-- max_statement_time is MariaDB's own (MySQL has none).
		return { { "SET SESSION lock_wait_timeout = " .. secs, false, true },
			 { "SET SESSION innodb_lock_wait_timeout = " .. secs, false, true },
			 { "SET SESSION max_statement_time = " .. timeout, false, false } }
	end
end

local function disconnect()
	if db then
		pcall(function() db.conn:close() end)
	end
	db = nil
end

-- Prepare (once per connection: SQLite's statements are prepared for each
-- use, since one left unfinished would keep a read lock), execute, and
-- with fetch fetch every row. Returns the rows and the number of rows
-- changed, or nil and the error. luadbi raises errors too: callers run
-- under pcall.
local function run(name, sql, fetch, ...)
	local stmt = db.stmts[name]
	local err
	if not stmt then
		stmt, err = db.conn:prepare(sql)
		if not stmt then
			return nil, err
		end
		if db.kind ~= "sqlite" then
			db.stmts[name] = stmt
		end
	end
	local ok
	ok, err = stmt:execute(...)
	local rows, changed = {}, 0
	if ok then
		if fetch then
			for row in stmt:rows(false) do
				rows[#rows + 1] = row
			end
		end
		changed = stmt:affected()
	end
	if db.kind == "sqlite" then
		stmt:close()
	end
	if not ok then
		return nil, err
	end
	return rows, changed
end

local function connect(target)
	local ok, conn, err = pcall(DBI.Connect, target.driver,
				    unpack(target.args, 1, 5))
	if not ok then
		return nil, conn
	end
	if not conn then
		return nil, err
	end
	-- luadbi opens a transaction by default: one left open would keep
	-- SQLite locked and PostgreSQL and MariaDB on an old snapshot.
	conn:autocommit(true)
	db = { conn = conn, kind = target.kind, sql = statements(target.kind),
	       stmts = {} }
	for i, set in ipairs(session_setup(target.kind, target.timeout)) do
		local rows
		rows, err = run("setup" .. i, set[1], set[2])
		if not rows and set[3] then
			disconnect()
			return nil, err
		end
	end
	return true
end

-- ------------------------------------------------------------ routing

local function reply_of(row)
	-- A new table for every request: Dovecot reads it after we return.
	local reply = { proxy_maybe = "y", host = row[2] }
	if row[3] ~= nil and row[3] ~= "" then
		reply.hostip = row[3]
	end
	return reply
end

-- The user's backend, placing the user when it has none. Returns the row
-- (id, hostname, hostip) and whether this request placed the user; nil,
-- false and a message when no backend is in service; raises on database
-- errors.
local function route(user)
	local sql = db.sql
	local rows, err = run("lookup", sql.lookup, true, user)
	if not rows then
		error(err, 0)
	end
	if rows[1] then
		return rows[1], false
	end
	for _ = 1, PLACE_TRIES do
		rows, err = run("choose", sql.choose, true)
		if not rows then
			error(err, 0)
		end
		local pick = rows[1]
		if not pick then
			return nil, false, "no backend in service" ..
				" (every backend's state is non-zero)"
		end
		-- inserted: a table (and changed the row count) or nil (and
		-- changed the error).
		local inserted, changed = run("place", sql.place, false,
					      user, pick[1])
		rows, err = run("lookup", sql.lookup, true, user)
		if not rows then
			error(err, 0)
		end
		-- Placed now, or by another proxy at the same time: a failed
		-- insert is taken for that race, and the row decides.
		if rows[1] then
			return rows[1], inserted ~= nil and changed > 0
		end
		if not inserted then
			error(changed, 0)
		end
		-- Nothing inserted: the backend left service meanwhile.
	end
	return nil, false, "no backend stayed in service long enough to" ..
		" place the user"
end

-- A database error on one line (PostgreSQL's end with a newline).
local function one_line(err)
	return (tostring(err):gsub("%s*\n%s*", " "):gsub("%s+$", ""))
end

-- One request: connect when needed. A statement that fails on a
-- connection that has broken (the database restarted) is tried once more
-- on a new one; any other error fails the login as it is.
local function route_request(req, user)
	local target, err = get_settings()
	if not target then
		return nil, nil, err
	end
	for attempt = 1, 2 do
		local fresh = db == nil
		if fresh then
			local ok
			ok, err = connect(target)
			if not ok then
				return nil, nil, "database: " .. one_line(err)
			end
		end
		local ok, row, placed, msg = pcall(route, user)
		if ok then
			return row, placed, msg
		end
		err = one_line(row)
		local pinged, alive = pcall(db.conn.ping, db.conn)
		if pinged and alive then
			break
		end
		disconnect()
		if fresh or attempt == 2 then
			break
		end
		req:log_warning("database: " .. err .. "; connecting again")
	end
	return nil, nil, "database: " .. err
end

-- ------------------------------------------------------------ Dovecot

-- 2.3 calls script_init() and needs 0; 2.4 calls script_init(args) with
-- the table of lua_settings and ignores the result. No database work
-- here: a failure here stops the auth process.
function script_init(args)
	config_path = (type(args) == "table" and args.config) or
		os.getenv(CONFIG_ENV) or DEFAULT_CONFIG
	-- Errors are logged by the logins they fail: the auth master
	-- process runs this too, often without the right to read the file.
	get_settings()
	return 0
end

function script_deinit()
	disconnect()
end

function auth_passdb_lookup(req)
	local PASSDB = dovecot.auth
	local user = req.user
	-- A row only for a user whose password was accepted: this passdb
	-- must follow one that checks it (result_success = continue-ok).
	if not req.skip_password_check then
		req:log_warning("not routing " .. user .. ": no earlier passdb" ..
			" accepted the password (it needs result_success =" ..
			" continue-ok, and this passdb skip = unauthenticated)")
		return PASSDB.PASSDB_RESULT_USER_UNKNOWN,
			"password not verified by an earlier passdb"
	end
	local row, placed, err = route_request(req, user)
	if not row then
		-- Dovecot logs it as an error, and the client is told of a
		-- temporary failure (with result_internalfail = return-fail).
		return PASSDB.PASSDB_RESULT_INTERNAL_FAILURE, err
	end
	if placed then
		req:log_info("placed " .. user .. " on " .. row[2])
	else
		req:log_debug(user .. " is on " .. row[2])
	end
	return PASSDB.PASSDB_RESULT_OK, reply_of(row)
end
