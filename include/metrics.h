/*
 * metrics.h -- counters and the Prometheus text exposition for /metrics:
 * kube-eventer's eventer_* names plus per-sink, watch and build figures.
 */
#ifndef KE_METRICS_H
#define KE_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct event;
struct sink;
struct seen;
struct watch_stats;

struct metrics_view {
	const struct watch_stats *watch; /* NULL for the file source */
	struct sink *const *sinks;
	size_t nsinks;
	const struct seen *seen;
	bool event_metrics;              /* per-reason counters */
};

/* Count one delivered-from-source event (by type, and by reason when enabled). */
void metrics_count_event(const struct event *ev, bool per_reason);
void metrics_render(struct buf *out, const struct metrics_view *v);
/* Release the per-reason table. */
void metrics_free(void);

#endif
