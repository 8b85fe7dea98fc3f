-- poolmon Lua director: the tables for MariaDB (mariadb DBNAME < this file).
-- The published schema of Dovecot's Lua director, unchanged, plus one
-- unique index: a user has one row, even when two logins race.
-- Safe to run again on an existing database: it adds only what is missing.

CREATE TABLE IF NOT EXISTS backends (
  id int not null primary key,
  hostname varchar(255) not null unique,
  hostip varchar(255),
  -- 0: in service; 2: taken down by poolmond; any other value: taken
  -- down by the operator (poolmond never changes it)
  state smallint not null default 0
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS user_backend (
  backend_id int not null,
  user varchar(255),
  primary key (backend_id, user)
) ENGINE = InnoDB;

-- Recommended: without it two proxies may place one user twice.
CREATE UNIQUE INDEX IF NOT EXISTS user_backend_user ON user_backend (user);

-- Backends are the operator's, e.g.
--   INSERT INTO backends (id, hostname, hostip) VALUES (1, 'mail1.example.org', '192.0.2.11');
-- The proxies' account reads backends and reads and inserts user_backend;
-- poolmond's also updates backends.state and deletes user_backend rows:
--   GRANT SELECT ON backends TO 'dovecot'@'proxy.example.org';
--   GRANT SELECT, INSERT ON user_backend TO 'dovecot'@'proxy.example.org';
--   GRANT SELECT, UPDATE (state) ON backends TO 'poolmon'@'proxy.example.org';
--   GRANT SELECT, DELETE ON user_backend TO 'poolmon'@'proxy.example.org';
