/* Fuzz sink construction from an arbitrary --sink value: parameters, filters,
 * templates and robot options are parsed; nothing is sent. A failure always
 * says why; a success can be destroyed cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = xstrndup((const char *)data, size);
	char err[1024];
	struct buf unknown = BUF_INIT(4096);
	err[0] = '\0';
	struct sink *s = sink_create(v, 0, 30000, &unknown, err, sizeof err);
	if (s)
		sink_destroy(s);
	else if (!err[0])
		abort();
	buf_free(&unknown);
	free(v);
	return 0;
}
