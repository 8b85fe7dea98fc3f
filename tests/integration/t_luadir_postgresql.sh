#!/bin/bash
# poolmond's Lua director driver over PostgreSQL (t_luadir.inc).
# shellcheck source=SCRIPTDIR/t_luadir.inc
. "$(dirname "$0")/t_luadir.inc" postgresql
