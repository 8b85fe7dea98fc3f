#!/bin/bash
# The routing script on a Dovecot 2.3 proxy over MariaDB (t_lua_script.inc).
# runs long
# shellcheck source=SCRIPTDIR/t_lua_script.inc
. "$(dirname "$0")/t_lua_script.inc" mariadb
