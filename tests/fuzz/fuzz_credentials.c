/* The credential file parser: the input is the file's contents. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "credentials.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct credentials cr = { 0 };
	char err[256];
	int fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/poolmon-fuzz-cred.%ld",
		    (long)getpid());
		log_init("fuzz", "/dev/null", false);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	if (credentials_load(path, &cr, err, sizeof(err)) == 0) {
		/* Loaded: both lines present, no CR/LF/NUL left in them. */
		if (cr.username == NULL || cr.password == NULL ||
		    strpbrk(cr.username, "\r\n") != NULL ||
		    strpbrk(cr.password, "\r\n") != NULL)
			__builtin_trap();
		(void)credentials_reload(path, &cr);
	}
	credentials_clear(&cr);
	return 0;
}
