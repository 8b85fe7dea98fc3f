/*
 * What every router driver shares (router.h): the pool a listing gives,
 * and the names of commands, replies and kinds for logs and status.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

void
router_host_list_free(struct router_host_list *list)
{
	free(list->hosts);
	free(list->tags);
	memset(list, 0, sizeof(*list));
}

const char *
router_cmd_str(enum router_cmd cmd)
{
	switch (cmd) {
	case ROUTER_DOWN: return "down";
	case ROUTER_DOWN_FLUSH: return "down+flush";
	case ROUTER_FLUSH: return "flush";
	case ROUTER_UP: return "up";
	}
	return "?";
}

const char *
router_reply_str(enum router_reply reply)
{
	switch (reply) {
	case ROUTER_REPLY_OK: return "OK";
	case ROUTER_REPLY_NOTFOUND: return "host not found";
	case ROUTER_REPLY_BUSY: return "host is already being updated";
	case ROUTER_REPLY_TIMEOUT: return "ring sync timed out";
	case ROUTER_REPLY_CONFLICT: return "changed by someone else";
	case ROUTER_REPLY_OTHER: break;
	}
	return "unexpected reply";
}

const char *
router_kind_str(enum router_kind kind)
{
	switch (kind) {
	case ROUTER_DIRECTOR: return "director";
	case ROUTER_LUA_DIRECTOR: return "lua-director";
	}
	return "?";
}
