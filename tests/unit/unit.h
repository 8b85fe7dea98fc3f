/*
 * A minimal unit-test harness: RUN(fn) runs one test function and prints
 * "ok - fn" or "not ok - fn"; tests/run.sh counts those lines.
 */
#ifndef POOLMON_UNIT_H
#define POOLMON_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_case_failed;
static int unit_failed_cases;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		unit_case_failed = 1;					\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *unit_a = (a), *unit_b = (b);			\
	if (unit_a == NULL || unit_b == NULL ||				\
	    strcmp(unit_a, unit_b) != 0) {				\
		unit_case_failed = 1;					\
		fprintf(stderr, "%s:%d: CHECK_STR failed: '%s' != '%s'\n", \
		    __FILE__, __LINE__, unit_a ? unit_a : "(null)",	\
		    unit_b ? unit_b : "(null)");			\
	}								\
} while (0)

#define RUN(fn) do {							\
	unit_case_failed = 0;						\
	fn();								\
	printf("%s - %s\n", unit_case_failed ? "not ok" : "ok", #fn);	\
	unit_failed_cases += unit_case_failed;				\
} while (0)

#define UNIT_EXIT() (unit_failed_cases ? 1 : 0)

#endif
