/*
 * Fuzz the Go-to-ERE regex translation and the filter parameter splitter.
 * Input: a pattern (also read as a comma-separated reason= value). Any
 * pattern is either rejected with a message or compiles, and a compiled one
 * searches text with newlines, multi-byte and invalid UTF-8 without harm.
 */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "filter.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const texts[] = {
		"BackOff",
		"",
		"a\nb \xe4\xb8\xad [x]{1,2}",
		"\xff\xfe"
		"abc\xc3",
		"Unhealthy",
		"^$\\.*+?()|",
	};
	static int init;
	struct goregex *re = NULL;
	struct filter *f = NULL;
	char err[256];
	int cflags;

	if (!init) {
		setlocale(LC_CTYPE, "C.UTF-8");
		init = 1;
	}
	if (size > 1024)
		return 0; /* the ERE engine is not linear in the pattern: keep runs short */
	char *p = xstrndup((const char *)data, size);
#ifdef __GLIBC__
	/* glibc's regcomp is exponential on long counted repetitions of groups
	 * that can match "" (`((^|x)?){1000}` runs for minutes); musl, the
	 * product's engine, compiles them in under a second. */
	for (const char *q = p; (q = strchr(q, '{')) != NULL; q++) {
		if (strspn(q + 1, "0123456789") >= 3 ||
		    (q[1] && strchr(q + 1, ',') && strspn(strchr(q + 1, ',') + 1, "0123456789") >= 3)) {
			free(p);
			return 0;
		}
	}
#endif

	err[0] = '\0';
	if (goregex_compile(p, &re, err, sizeof err) == 0) {
		for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
			goregex_search(re, texts[i]);
		goregex_search(re, p);
		goregex_free(re);
		char *ere = goregex_translate(p, &cflags, err, sizeof err);
		if (!ere)
			abort(); /* compile and translate must agree */
		free(ere);
	} else if (!err[0] || re != NULL) {
		abort(); /* a rejection always says why */
	}

	const char *reasons[] = { p };
	struct filter_opts o = { 0 };
	o.reasons = reasons;
	o.nreasons = 1;
	o.level = "Normal";
	err[0] = '\0';
	if (filter_compile(&o, &f, err, sizeof err) == 0) {
		struct event ev;
		memset(&ev, 0, sizeof ev);
		ev.type = "Warning";
		ev.reason = p;
		ev.message = ev.namespace = ev.involved.namespace = ev.involved.kind = ev.involved.name = "";
		filter_match(f, &ev);
		filter_free(f);
	} else if (!err[0] || f != NULL) {
		abort();
	}
	free(p);
	return 0;
}
