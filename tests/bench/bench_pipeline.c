/*
 * bench_pipeline FILE [ROUNDS] -- decode + filter + render throughput on one
 * core: FILE is an EventList (uncompressed); every item is split from the
 * stream, decoded, run through a level=Normal filter and rendered with
 * kube-eventer's default webhook body in JSON mode. Prints events/s and the
 * CPU microseconds per event, plus the seen-table bytes per event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "filter.h"
#include "seen.h"
#include "stream.h"
#include "tmpl.h"
#include "util.h"

static struct filter *flt;
static struct tmpl *body;
static struct buf out = BUF_INIT(1 << 20);
static long events, matched, bytes;

static void on_item(void *ctx, enum jscan_kind k, const char *p, size_t n)
{
	struct event ev;
	char err[128];
	(void)ctx;
	if (k != JSCAN_ITEM || event_decode(p, n, &ev, err, sizeof err) < 0)
		return;
	events++;
	if (filter_match(flt, &ev)) {
		matched++;
		buf_reset(&out);
		if (tmpl_render(body, &ev, ev.eff_time, &out, err, sizeof err) == 0)
			bytes += (long)out.len;
	}
	event_free(&ev);
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t n;
	char err[256];
	char *data = argc > 1 ? read_file(argv[1], 256u << 20, &n) : NULL;
	int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
	if (!data) {
		fprintf(stderr, "usage: bench_pipeline EVENTLIST.json [ROUNDS]\n");
		return 2;
	}
	static const char src[] =
	    "\n{\n\t\"EventType\": \"{{ .Type }}\",\n\t\"EventKind\": \"{{ .InvolvedObject.Kind }}\",\n"
	    "\t\"EventReason\": \"{{ .Reason }}\",\n\t\"EventTime\": \"{{ .LastTimestamp }}\",\n"
	    "\t\"EventMessage\": \"{{ .Message }}\"\n}";
	struct filter_opts fo = { .level = "Normal" };
	if (filter_compile(&fo, &flt, err, sizeof err) < 0 ||
	    !(body = tmpl_compile(src, strlen(src), TMPL_JSON, err, sizeof err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t0 = cpu_now();
	for (int r = 0; r < rounds; r++) {
		struct jscan j;
		jscan_init(&j, 1 << 20, on_item, NULL);
		jscan_feed(&j, data, n);
		jscan_free(&j);
	}
	double cpu = cpu_now() - t0;
	struct seen *s = seen_new(1, 1024);
	printf("events %ld matched %ld rendered_bytes %ld cpu_s %.3f events_per_s %.0f us_per_event %.2f "
	       "seen_bytes_per_event_1_sink %zu\n",
	       events, matched, bytes, cpu, (double)events / cpu, cpu / (double)events * 1e6,
	       seen_entry_bytes(s));
	seen_free(s);
	return 0;
}
