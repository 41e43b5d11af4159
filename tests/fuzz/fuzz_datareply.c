/*
 * Replies of the data sinks' servers: an Elasticsearch bulk reply, an
 * InfluxDB write reply or a Honeycomb batch reply (the per-event status
 * array), read into per-item verdicts. Input: sink (byte % 3: elasticsearch,
 * influxdb, honeycomb), item count, status (2 bytes), body. Every verdict
 * must be a valid one; nothing may crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "sink.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sink *sinks[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 4)
		return 0;
	if (!sinks[0]) {
		sinks[0] = sink_create("elasticsearch:http://127.0.0.1:1", 0, 30000, NULL, err, sizeof err);
		sinks[1] = sink_create("influxdb:http://127.0.0.1:1", 1, 30000, NULL, err, sizeof err);
		sinks[2] = sink_create("honeycomb:?writekey=fuzz&apihost=http://127.0.0.1:1", 2, 30000, NULL,
		                       err, sizeof err);
		if (!sinks[0] || !sinks[1] || !sinks[2])
			abort();
	}
	struct sink *s = sinks[data[0] % 3];
	unsigned n = 1 + data[1] % 16;
	struct msg *items[16];
	signed char verdict[16];
	for (unsigned i = 0; i < n; i++) {
		items[i] = xcalloc(1, sizeof *items[i] + 1);
		verdict[i] = DELIVERY_UNSET;
	}
	struct sink_batch b = { items, n, 0, verdict, NULL };
	char *body = xstrndup((const char *)data + 4, size - 4);
	struct http_response r = { .status = data[2] | (data[3] << 8) % 600,
		                   .body = body,
		                   .body_len = size - 4,
		                   .retry_after_ms = -1 };
	char why[256] = "";
	int64_t ra = -1;
	enum delivery d = s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra);
	if (d > DELIVERY_SPLIT)
		abort();
	for (unsigned i = 0; i < n; i++) {
		if (verdict[i] != DELIVERY_UNSET && (verdict[i] < DELIVERY_OK || verdict[i] > DELIVERY_SPLIT))
			abort();
		free(items[i]);
	}
	free(body);
	return 0;
}
