#!/bin/bash
# poolmond over the Lua director's tables in PostgreSQL (t_lua_monitor.inc):
# down, flush and kick, up; the operator's state; hold and release;
# dry-run; the database stalled for 30 s.
# shellcheck source=SCRIPTDIR/t_lua_monitor.inc
. "$(dirname "$0")/t_lua_monitor.inc" postgresql
