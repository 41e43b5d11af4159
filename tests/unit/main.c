/* The unit test runner: runs every suite listed in suites.h, or those named on argv. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "test.h"

#define SUITE(s) extern const struct test_case test_##s[];
#include "suites.h"
#undef SUITE

static const struct {
	const char *name;
	const struct test_case *cases;
} suites[] = {
#define SUITE(s) { #s, test_##s },
#include "suites.h"
#undef SUITE
};

static bool failed;

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	if (failed)
		return;
	failed = true;
	printf("#   %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

bool test_failed(void)
{
	return failed;
}

int main(int argc, char **argv)
{
	int n = 0, pass = 0, fail = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* the engine's warnings about failures the tests cause on purpose are noise here;
	 * KE_TEST_LOG=1 shows them */
	const char *show = getenv("KE_TEST_LOG");
	log_setup(show && *show == '1' ? LOG_DEBUG : LOG_ERROR, LOG_TEXT);
	for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
		if (argc > 1) {
			bool want = false;
			for (int i = 1; i < argc; i++)
				want |= strcmp(argv[i], suites[s].name) == 0;
			if (!want)
				continue;
		}
		for (const struct test_case *t = suites[s].cases; t->name; t++) {
			failed = false;
			t->fn();
			n++;
			if (failed) {
				fail++;
				printf("not ok %d - %s.%s\n", n, suites[s].name, t->name);
			} else {
				pass++;
				printf("ok %d - %s.%s\n", n, suites[s].name, t->name);
			}
		}
	}
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}
