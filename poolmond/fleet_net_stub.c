/* TEMP: until fleet_net.c lands. */
#include "fleet_net.h"
#include <errno.h>
#include "util.h"
int fleet_key_load(const char *path, uint8_t *key, size_t keymax, size_t *keylen, char *err, size_t errlen)
{ (void)path; (void)key; (void)keymax; *keylen = 0; return err_set(err, errlen, -ENOSYS, "not yet"); }
int fleet_net_new(sd_event *event, const struct sockaddr_storage *addr, const uint8_t *key, size_t keylen, int timeout_ms, const struct fleet_net_hooks *hooks, struct fleet_net **out, char *err, size_t errlen)
{ (void)event; (void)addr; (void)key; (void)keylen; (void)timeout_ms; (void)hooks; *out = NULL; return err_set(err, errlen, -ENOSYS, "not yet"); }
void fleet_net_free(struct fleet_net *net) { (void)net; }
int fleet_net_exchange(struct fleet_net *net, const char *peer, const uint8_t *msg, size_t len) { (void)net; (void)peer; (void)msg; (void)len; return -ENOSYS; }
size_t fleet_net_active(const struct fleet_net *net) { (void)net; return 0; }
