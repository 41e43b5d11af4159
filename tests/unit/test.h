/*
 * test.h -- the unit test harness.
 *
 * Each tests/unit/test_<suite>.c defines
 *     const struct test_case test_<suite>[] = { TEST(name), ..., TEST_END };
 * and is listed once in suites.h. The runner prints "ok N - suite.name" or
 * "not ok N - suite.name: file:line: expression", then "N passed, N failed",
 * and exits non-zero on any failure. A test stops at its first failed CHECK.
 */
#ifndef KE_TEST_H
#define KE_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

#define TEST(fn)                                                                                             \
	{                                                                                                    \
#fn, fn                                                                                      \
	}
#define TEST_END                                                                                             \
	{                                                                                                    \
		NULL, NULL                                                                                   \
	}

void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool test_failed(void);

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			test_fail(__FILE__, __LINE__, "%s", #cond);                                          \
			return;                                                                              \
		}                                                                                            \
	} while (0)

#define CHECK_INT(a, b)                                                                                      \
	do {                                                                                                 \
		long long a_ = (long long)(a), b_ = (long long)(b);                                          \
		if (a_ != b_) {                                                                              \
			test_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, a_, b_);            \
			return;                                                                              \
		}                                                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                                                      \
	do {                                                                                                 \
		const char *a_ = (a), *b_ = (b);                                                             \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                     \
			test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b,                 \
			          a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                   \
			return;                                                                              \
		}                                                                                            \
	} while (0)

/* Path of a file under tests/ (the runner chdirs to the repository root). */
#define FIXTURE(rel) "tests/" rel

#endif
