/*
 * The check process's side. It gets a narrow, read-only job, not the
 * daemon: its backend, the ports, the check environment (TLS context,
 * credentials) and where to report.
 */
#ifndef POOLMOND_CHILD_H
#define POOLMOND_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "config.h"

struct check_job {
	const struct check_env *env;
	const struct portspec *ports;
	size_t nports;
	const char *ip;
	const char *ptr_name;	/* confirmed PTR name; NULL: verify the IP */
	bool tls_seen;		/* it offered STARTTLS/STLS before */
	uint32_t scan_id;	/* copied into each report */
	uint32_t backend;	/* its index in the pool, likewise */
};

/* Check every port, one report each on report_fd; never returns. */
void child_run(const struct check_job *job, int report_fd,
    int64_t hard_deadline) __attribute__((noreturn));
/* How long a check process may take before it is killed, grace apart. */
int64_t child_budget_ms(const struct check_env *env);

#endif
