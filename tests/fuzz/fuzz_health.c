/* Fuzz the health endpoint's HTTP request parser: consumed length within
 * the input, and a complete parse yields a path starting with '/'. */
#include <stdint.h>
#include <stdlib.h>

#include "health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request_line r;
	int n = health_parse_request((const char *)data, size, &r);
	if (n > 0 && ((size_t)n > size || r.path[0] != '/' || !r.method[0]))
		abort();
	if (n < -2)
		abort();
	/* every prefix of a complete request is incomplete, not malformed */
	if (n > 0)
		for (int i = 0; i < n; i++)
			if (health_parse_request((const char *)data, (size_t)i, &r) == -1)
				abort();
	return 0;
}
