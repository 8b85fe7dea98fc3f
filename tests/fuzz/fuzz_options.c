/* Option and port parsing: the input is an argv, NUL-separated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct portspec ps;
	char *argv[MAX_ARGS + 2], err[512];
	char *copy, *p, *end;
	int argc = 0;

	if (size > 4096 || (copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	end = copy + size;
	argv[argc++] = (char *)"poolmond";
	for (p = copy; p < end && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	/* --help and --version print: keep the fuzzer's output clean. */
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--h", 3) == 0 ||
		    strncmp(argv[i], "--v", 3) == 0 ||
		    (argv[i][0] == '-' && argv[i][1] != '-' &&
		    strchr(argv[i], 'h') != NULL)) {
			free(copy);
			return 0;
		}
	config_defaults(&cfg);
	(void)config_parse_args(&cfg, argc, argv, err, sizeof(err));
	config_free(&cfg);
	(void)portspec_parse(copy, false, &ps, err, sizeof(err));
	free(copy);
	return 0;
}
