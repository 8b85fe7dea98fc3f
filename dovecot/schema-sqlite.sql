-- poolmon Lua director: the tables for SQLite (sqlite3 FILE < this file).
-- The published schema of Dovecot's Lua director, unchanged, plus one
-- unique index: a user has one row, even when two logins race.
-- Safe to run again on an existing database: it adds only what is missing.

-- WAL: lookups go on while poolmond writes. Kept in the file.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS backends (
  id int not null primary key,
  hostname varchar(255) not null unique,
  hostip varchar(255),
  -- 0: in service; 2: taken down by poolmond; any other value: taken
  -- down by the operator (poolmond never changes it)
  state smallint not null default 0
);

CREATE TABLE IF NOT EXISTS user_backend (
  backend_id int not null,
  user varchar(255),
  primary key (backend_id, user)
);

-- Recommended: without it two proxies may place one user twice.
CREATE UNIQUE INDEX IF NOT EXISTS user_backend_user ON user_backend (user);

-- Backends are the operator's, e.g.
--   INSERT INTO backends (id, hostname, hostip) VALUES (1, 'mail1.example.org', '192.0.2.11');
