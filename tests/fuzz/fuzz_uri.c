/* Fuzz the --source/--sink value parser (Go ExpandEnv, url.Parse, Query). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct uri u;
	char err[256];
	if (uri_parse(s, &u, err, sizeof err) == 0) {
		if (!u.key[0] || !u.rest || !u.host || !u.path || !u.base)
			abort();
		const char *vals[4];
		uri_get_all(&u, "reason", vals, 4);
		uri_get(&u, "level");
		uri_free(&u);
	}
	free(s);
	return 0;
}
