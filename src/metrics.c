/* metrics.c -- Prometheus text exposition of everything worth watching. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "seen.h"
#include "sink.h"
#include "util.h"
#include "watch.h"

#define MAX_REASONS 256

struct reason_count {
	char *type, *reason;
	uint64_t n;
};

static struct {
	uint64_t normal, warning, other;
	struct reason_count reasons[MAX_REASONS];
	size_t nreasons;
	uint64_t reasons_overflow;
	int64_t last_event_wall_ms;
} m;

void metrics_count_event(const struct event *ev, bool per_reason)
{
	if (strcmp(ev->type, "Normal") == 0)
		m.normal++;
	else if (strcmp(ev->type, "Warning") == 0)
		m.warning++;
	else
		m.other++;
	m.last_event_wall_ms = now_wall_ms();
	if (!per_reason)
		return;
	for (size_t i = 0; i < m.nreasons; i++) {
		if (strcmp(m.reasons[i].reason, ev->reason) == 0 && strcmp(m.reasons[i].type, ev->type) == 0) {
			m.reasons[i].n++;
			return;
		}
	}
	if (m.nreasons == MAX_REASONS) {
		m.reasons_overflow++; /* bounded: a flood of odd reasons cannot grow memory */
		return;
	}
	m.reasons[m.nreasons].type = xstrdup(ev->type);
	m.reasons[m.nreasons].reason = xstrdup(ev->reason);
	m.reasons[m.nreasons].n = 1;
	m.nreasons++;
}

void metrics_free(void)
{
	for (size_t i = 0; i < m.nreasons; i++) {
		free(m.reasons[i].type);
		free(m.reasons[i].reason);
	}
	memset(&m, 0, sizeof m);
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(b, '\\');
		if (*s == '\n') {
			buf_puts(b, "\\n");
			continue;
		}
		buf_putc(b, *s);
	}
}

static void header(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct buf *b, const char *name, const char *help, unsigned long long v)
{
	header(b, name, "counter", help);
	buf_printf(b, "%s %llu\n", name, v);
}

static void per_sink(struct buf *b, const struct metrics_view *v, const char *name, const char *type,
		     const char *help, size_t off, bool is_size)
{
	header(b, name, type, help);
	for (size_t i = 0; i < v->nsinks; i++) {
		const struct sink *s = v->sinks[i];
		unsigned long long x = is_size ? (unsigned long long)(off == 0 ? s->qlen : s->qbytes)
					       : *(const uint64_t *)(const void *)((const char *)&s->stats + off);
		buf_puts(b, name);
		buf_puts(b, "{sink=\"");
		label(b, s->name);
		buf_puts(b, "\",type=\"");
		label(b, s->type->name);
		buf_printf(b, "\"} %llu\n", x);
	}
}

void metrics_render(struct buf *out, const struct metrics_view *v)
{
	header(out, "kube_eventer_build_info", "gauge", "Build information.");
	buf_printf(out, "kube_eventer_build_info{version=\"%s\",revision=\"%s\"} 1\n", KE_VERSION, KE_GIT_REV);
	counter(out, "eventer_events_normal_total", "Normal events received.", m.normal);
	counter(out, "eventer_events_warning_total", "Warning events received.", m.warning);
	counter(out, "eventer_events_error_total", "Events of any other type received.", m.other);
	if (v->event_metrics) {
		header(out, "eventer_events_reason_total", "counter", "Events received by type and reason.");
		for (size_t i = 0; i < m.nreasons; i++) {
			buf_puts(out, "eventer_events_reason_total{type=\"");
			label(out, m.reasons[i].type);
			buf_puts(out, "\",reason=\"");
			label(out, m.reasons[i].reason);
			buf_printf(out, "\"} %llu\n", (unsigned long long)m.reasons[i].n);
		}
		counter(out, "eventer_events_reason_overflow_total",
			"Events whose reason was not counted (more than 256 distinct reasons).", m.reasons_overflow);
	}
	header(out, "eventer_last_event_timestamp_seconds", "gauge", "Wall time of the last event received.");
	buf_printf(out, "eventer_last_event_timestamp_seconds %.3f\n", (double)m.last_event_wall_ms / 1000);

	if (v->watch) {
		const struct watch_stats *w = v->watch;
		header(out, "eventer_watch_connected", "gauge", "1 while a watch stream is open.");
		buf_printf(out, "eventer_watch_connected %d\n", w->connected ? 1 : 0);
		counter(out, "eventer_watch_reconnects_total", "Watch requests after the first.", w->reconnects);
		counter(out, "eventer_watch_relists_total", "Relists after 410 Gone.", w->relists);
		counter(out, "eventer_watch_errors_total", "Failed list/watch requests.", w->errors);
		counter(out, "eventer_watch_decode_errors_total", "Malformed lines or items skipped.", w->decode_errors);
		counter(out, "eventer_watch_oversized_total", "Lines or items over 1 MiB skipped.", w->oversized);
		counter(out, "eventer_watch_duplicates_total", "Events seen again at the same resourceVersion.",
			w->duplicates);
		counter(out, "eventer_watch_bookmarks_total", "Bookmarks received.", w->bookmarks);
	}
	if (v->seen) {
		header(out, "eventer_seen_events", "gauge", "Events remembered for deduplication.");
		buf_printf(out, "eventer_seen_events %zu\n", seen_count(v->seen));
		counter(out, "eventer_seen_evictions_total", "Remembered events evicted.", seen_evictions(v->seen));
	}
#define SO(f) offsetof(struct sink_stats, f)
	per_sink(out, v, "eventer_sink_matched_total", "counter", "Events that passed the sink's filters.",
		 SO(matched), false);
	per_sink(out, v, "eventer_sink_suppressed_total", "counter",
		 "Repeated events held back by repeat_interval.", SO(suppressed), false);
	per_sink(out, v, "eventer_sink_sent_total", "counter", "Messages delivered.", SO(sent), false);
	per_sink(out, v, "eventer_sink_failed_total", "counter",
		 "Messages dropped after a permanent error or exhausted retries.", SO(failed), false);
	per_sink(out, v, "eventer_sink_retried_total", "counter", "Delivery attempts retried.", SO(retried), false);
	per_sink(out, v, "eventer_sink_dropped_total", "counter", "Messages dropped because the queue was full.",
		 SO(dropped), false);
	per_sink(out, v, "eventer_sink_render_errors_total", "counter", "Events the template could not render.",
		 SO(render_errors), false);
	per_sink(out, v, "eventer_sink_queue_length", "gauge", "Messages waiting.", 0, true);
	per_sink(out, v, "eventer_sink_queue_bytes", "gauge", "Bytes waiting.", 1, true);
#undef SO
}
