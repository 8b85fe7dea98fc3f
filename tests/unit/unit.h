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
static int unit_in_case;

/*
 * A failure outside any RUN() has no case to mark: it fails the program
 * on its own, with a "not ok" line tests/run.sh counts.
 */
#define UNIT_FAIL() do {						\
	if (unit_in_case)						\
		unit_case_failed = 1;					\
	else {								\
		unit_failed_cases++;					\
		printf("not ok - %s:%d (outside any case)\n",		\
		    __FILE__, __LINE__);				\
	}								\
} while (0)

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		UNIT_FAIL();						\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *unit_a = (a), *unit_b = (b);			\
	if (unit_a == NULL || unit_b == NULL ||				\
	    strcmp(unit_a, unit_b) != 0) {				\
		UNIT_FAIL();						\
		fprintf(stderr, "%s:%d: CHECK_STR failed: '%s' != '%s'\n", \
		    __FILE__, __LINE__, unit_a ? unit_a : "(null)",	\
		    unit_b ? unit_b : "(null)");			\
	}								\
} while (0)

#define RUN(fn) do {							\
	unit_case_failed = 0;						\
	unit_in_case = 1;						\
	fn();								\
	unit_in_case = 0;						\
	printf("%s - %s\n", unit_case_failed ? "not ok" : "ok", #fn);	\
	unit_failed_cases += unit_case_failed;				\
} while (0)

#define UNIT_EXIT() (unit_failed_cases ? 1 : 0)

#endif
