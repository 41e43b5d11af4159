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
	bool event_metrics; /* per-reason counters */
	int leader;         /* eventer_leader: 1 or 0 with --leader-elect, -1 without */
};

/*
 * Count one event from the source: by type, and (labelled) into kube-eventer's
 * eventer_events_normal_total / eventer_events_warning_total series.
 */
void metrics_count_event(const struct event *ev, bool labelled);
void metrics_render(struct buf *out, const struct metrics_view *v);
/* Release the labelled series. */
void metrics_free(void);

#endif
