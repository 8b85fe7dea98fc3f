/* What every router driver shares: names, and the host list's memory. */
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
	case ROUTER_DOWN_FLUSH: return "down and flush";
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
	case ROUTER_REPLY_CONFLICT: return "changed by someone else meanwhile";
	case ROUTER_REPLY_OTHER: break;
	}
	return "unexpected reply";
}

const char *
router_kind_str(enum router_kind kind)
{
	return kind == ROUTER_LUA_DIRECTOR ? "lua-director" : "director";
}
