/* Fuzz the watch line splitter and the JSON value scanner: the input is fed
 * in pieces whose sizes come from the input itself, and every emitted unit
 * must lie within the ceiling. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define CEIL 4096

static void on_line(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	if (n > CEIL || (n && (p[0] == '\n' || p[n - 1] == '\n')))
		abort();
}

static void on_value(void *ctx, enum jscan_kind k, const char *p, size_t n)
{
	(void)ctx;
	(void)k;
	if (n == 0 || n > CEIL || (p[0] != '{' && p[0] != '['))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lines l;
	struct jscan j;
	lines_init(&l, CEIL, on_line, NULL);
	jscan_init(&j, CEIL, on_value, NULL);
	size_t off = 0, step = size ? (data[0] % 17) + 1 : 1;
	while (off < size) {
		size_t n = MIN(step, size - off);
		lines_feed(&l, (const char *)data + off, n);
		jscan_feed(&j, (const char *)data + off, n);
		off += n;
		step = (step * 7 + 3) % 23 + 1;
	}
	lines_free(&l);
	jscan_free(&j);
	return 0;
}
