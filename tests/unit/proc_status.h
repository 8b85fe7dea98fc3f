/*
 * For the unit tests that fork a process and look at what the kernel
 * says of it (ids, no_new_privs, seccomp, name).
 */
#ifndef POOLMON_PROC_STATUS_H
#define POOLMON_PROC_STATUS_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* The value after "Key:" in /proc/PID/status, or "". */
static inline void
proc_status_field(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line + klen + 1 +
			    strspn(line + klen + 1, " \t"));
			break;
		}
	fclose(f);
}

#endif
