/* metrics.c -- Prometheus text exposition of everything worth watching. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "seen.h"
#include "sink.h"
#include "util.h"
#include "watch.h"

#define MAX_SERIES 2048 /* labelled event series kept; more are counted as overflow */

/* One labelled counter: up to four label values. */
struct series {
	char *labels[4];
	uint64_t n;
};

/* A family of labelled counters, found by an open-addressing index on the
 * hash of their label values (slot holds 1 + the series' position). */
struct family {
	struct series s[MAX_SERIES];
	uint16_t slot[2 * MAX_SERIES];
	size_t n;
};

static struct {
	uint64_t by_type[3];   /* Normal, Warning, other */
	struct family normal;  /* eventer_events_normal_total{reason,namespace} */
	struct family warning; /* eventer_events_warning_total{event_kind,kind,name,namespace} */
	uint64_t overflow;
	int64_t last_event_wall_ms;
} m;

/*
 * kube-eventer's triage (metrics/prometheus): a reason that names an
 * abnormal kind, or a reason refined by its message. Same tables, same
 * judges, so existing dashboards and alert rules keep working.
 */
static const struct {
	const char *reason, *kind;
} reason_kind[] = {
	{ "Evicted", "pod_evict" },
	{ "OOMKilling", "pod_oom" },
	{ "PodOOMKilling", "pod_oom" },
	{ "FailedMount", "volume_fail_mount" },
	{ "FailedAttachVolume", "volume_fail_mount" },
	{ "FailedScheduling", "pod_fail_scheduling" },
	{ "SystemOOM", "node_oom" },
	{ "Rebooted", "node_rebooted" },
	{ "NodeHasDiskPressure", "node_disk_pressure" },
	{ "DockerHung", "node_docker_hung" },
	{ "PSProcessIsHung", "node_ps_hung" },
	{ "NodeHasNvidiaXidError", "node_gpu_xip_error" },
	{ "NodeHasFDPressure", "node_fd_pressure" },
	{ "PIDPressure", "node_fd_pressure" },
	{ "NodeHasPIDPressure", "node_fd_pressure" },
	{ "NTPIsDown", "node_npt_down" },
	{ "ConntrackFull", "conntrack_full" },
	{ "SyncLoadBalancerFailed", "ccm_slb_sync_fail" },
	{ "DeleteLoadBalancerFailed", "ccm_slb_delete_fail" },
	{ "CreateRouteFailed", "ccm_create_route_fail" },
	{ "SYncRouteFailed", "ccm_sync_route_fail" },
	{ "AddNodeFailed", "ccm_add_node_fail" },
	{ "DeteleNodeFailed", "ccm_delete_node_fail" },
	{ "UnAvailableLoadBalancer", "ccm_slb_unavailable" },
	{ "AnnotationChanged", "ccm_slb_annotation_changed" },
	{ "ServiceSpecChanged", "ccm_slb_spec_changed" },
	{ "SlowIO", "csi_slow_io" },
	{ "DeviceBusy", "csi_device_busy" },
	{ "IOHang", "csi_io_hang" },
	{ "AllocIPFailed", "cni_alloc_ip_fail" },
	{ "AllocResourceFailed", "cni_alloc_resource_fail" },
	{ "ResourceInvalid", "cni_resource_invalid" },
	{ "ParseFailed", "cni_parse_fail" },
	{ "DisposeResourceFailed", "cni_dispose_resource_fail" },
};

static bool has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

static const char *triage(const struct event *ev)
{
	const char *r = ev->reason, *msg = ev->message, *kind = ev->involved.kind;
	for (size_t i = 0; i < ARRAY_LEN(reason_kind); i++)
		if (strcmp(r, reason_kind[i].reason) == 0)
			return reason_kind[i].kind;
	if (strcmp(r, "ImagePullBackOff") == 0)
		return NULL; /* upstream's judge for it only accepts Failed/BackOff reasons */
	if (strcmp(r, "Failed") == 0) {
		if (has(msg, "ImagePullBackOff") || has(msg, "ErrImagePull"))
			return NULL;
		if (strcmp(kind, "Pod") == 0 && !has(msg, "Failed to pull image"))
			return "pod_fail_start";
		return NULL;
	}
	if (strcmp(r, "BackOff") == 0)
		return has(msg, "Back-off restarting failed container") ? "pod_crash" : NULL;
	if (strcmp(r, "ProvisioningFailed") == 0)
		return has(msg, "disk size is not supported") ? "disk_provision_fail_size"
		                                              : "disk_provision_fail";
	if (strcmp(r, "NodeNotReady") == 0 && strcmp(kind, "Node") == 0)
		return has(msg, "PLEG is not healthy") ? "node_pleg_unhealthy" : "node_not_ready";
	return NULL;
}

static void count(struct family *f, const char *const *labels, size_t nl)
{
	uint64_t h = 0;
	for (size_t k = 0; k < nl; k++)
		h = (h ^ hash64(labels[k], strlen(labels[k]) + 1)) * 1099511628211ULL;
	size_t i = (size_t)h & (ARRAY_LEN(f->slot) - 1);
	for (; f->slot[i]; i = (i + 1) & (ARRAY_LEN(f->slot) - 1)) {
		struct series *se = &f->s[f->slot[i] - 1];
		bool same = true;
		for (size_t k = 0; k < nl && same; k++)
			same = strcmp(se->labels[k], labels[k]) == 0;
		if (same) {
			se->n++;
			return;
		}
	}
	if (f->n == MAX_SERIES) {
		m.overflow++; /* bounded: a flood of distinct objects cannot grow memory */
		return;
	}
	for (size_t k = 0; k < nl; k++)
		f->s[f->n].labels[k] = xstrdup(labels[k]);
	f->s[f->n].n = 1;
	f->slot[i] = (uint16_t)++f->n;
}

void metrics_count_event(const struct event *ev, bool labelled)
{
	m.by_type[strcmp(ev->type, "Normal") == 0 ? 0 : strcmp(ev->type, "Warning") == 0 ? 1 : 2]++;
	m.last_event_wall_ms = now_wall_ms();
	if (!labelled)
		return;
	const char *kind = triage(ev);
	if (kind) {
		const char *l[] = { kind, ev->involved.kind, ev->involved.name, ev->involved.namespace };
		count(&m.warning, l, 4);
	} else {
		const char *l[] = { ev->reason, ev->namespace };
		count(&m.normal, l, 2);
	}
}

void metrics_free(void)
{
	for (size_t i = 0; i < m.normal.n; i++)
		for (size_t k = 0; k < 2; k++)
			free(m.normal.s[i].labels[k]);
	for (size_t i = 0; i < m.warning.n; i++)
		for (size_t k = 0; k < 4; k++)
			free(m.warning.s[i].labels[k]);
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

typedef unsigned long long (*sink_value)(const struct sink *s);

#define SINK_VALUE(name, expr)                                                                               \
	static unsigned long long name(const struct sink *s)                                                 \
	{                                                                                                    \
		return (unsigned long long)(expr);                                                           \
	}
SINK_VALUE(matched, s->stats.matched)
SINK_VALUE(suppressed, s->stats.suppressed)
SINK_VALUE(trailers, s->stats.trailers)
SINK_VALUE(sent, s->stats.sent)
SINK_VALUE(failed, s->stats.failed)
SINK_VALUE(retried, s->stats.retried)
SINK_VALUE(dropped, s->stats.dropped)
SINK_VALUE(render_errors, s->stats.render_errors)
SINK_VALUE(queue_length, s->qlen)
SINK_VALUE(queue_bytes, s->qbytes)
SINK_VALUE(in_flight, s->inflight_items)
SINK_VALUE(handed_over, s->stats.handed_over)

static void per_sink(struct buf *b, const struct metrics_view *v, const char *name, const char *type,
                     const char *help, sink_value value)
{
	header(b, name, type, help);
	for (size_t i = 0; i < v->nsinks; i++) {
		const struct sink *s = v->sinks[i];
		buf_puts(b, name);
		buf_puts(b, "{sink=\"");
		label(b, s->name);
		buf_puts(b, "\",type=\"");
		label(b, s->type->name);
		buf_printf(b, "\"} %llu\n", value(s));
	}
}

static void labelled(struct buf *b, const char *name, const struct series *tab, size_t n,
                     const char *const *names, size_t nl)
{
	for (size_t i = 0; i < n; i++) {
		buf_printf(b, "%s{", name);
		for (size_t k = 0; k < nl; k++) {
			buf_printf(b, "%s%s=\"", k ? "," : "", names[k]);
			label(b, tab[i].labels[k]);
			buf_putc(b, '"');
		}
		buf_printf(b, "} %llu\n", (unsigned long long)tab[i].n);
	}
}

void metrics_render(struct buf *out, const struct metrics_view *v)
{
	static const char *const nl[] = { "reason", "namespace" };
	static const char *const wl[] = { "event_kind", "kind", "name", "namespace" };
	static const char *const types[] = { "Normal", "Warning", "other" };
	header(out, "kube_eventer_build_info", "gauge", "Build information.");
	buf_printf(out, "kube_eventer_build_info{version=\"%s\",revision=\"%s\"} 1\n", KE_VERSION,
	           KE_GIT_REV);
	header(out, "eventer_events_total", "counter", "Events received from the source, by type.");
	for (int i = 0; i < 3; i++)
		buf_printf(out, "eventer_events_total{type=\"%s\"} %llu\n", types[i],
		           (unsigned long long)m.by_type[i]);
	if (v->event_metrics) {
		/* kube-eventer's names and labels (--event-metrics) */
		header(out, "eventer_events_normal_total", "counter",
		       "Events not classified as abnormal, by reason and namespace (kube-eventer).");
		labelled(out, "eventer_events_normal_total", m.normal.s, m.normal.n, nl, 2);
		header(out, "eventer_events_warning_total", "counter",
		       "Abnormal events by kind of problem and object (kube-eventer).");
		labelled(out, "eventer_events_warning_total", m.warning.s, m.warning.n, wl, 4);
		counter(out, "eventer_events_series_overflow_total",
		        "Events not counted in a labelled series (more than 2048 series).", m.overflow);
	}
	header(out, "eventer_last_event_timestamp_seconds", "gauge", "Wall time of the last event received.");
	buf_printf(out, "eventer_last_event_timestamp_seconds %.3f\n", (double)m.last_event_wall_ms / 1000);

	if (v->leader >= 0) {
		header(out, "eventer_leader", "gauge", "1 while this replica holds the Lease and delivers.");
		buf_printf(out, "eventer_leader %d\n", v->leader);
	}
	if (v->watch) {
		const struct watch_stats *w = v->watch;
		header(out, "eventer_watch_connected", "gauge", "1 while a watch stream is open.");
		buf_printf(out, "eventer_watch_connected %d\n", w->connected ? 1 : 0);
		counter(out, "eventer_watch_reconnects_total", "Watch requests after the first.",
		        w->reconnects);
		counter(out, "eventer_watch_relists_total", "Relists after 410 Gone.", w->relists);
		counter(out, "eventer_watch_errors_total", "Failed list/watch requests.", w->errors);
		counter(out, "eventer_watch_decode_errors_total", "Malformed lines or items skipped.",
		        w->decode_errors);
		counter(out, "eventer_watch_oversized_total", "Lines or items over 1 MiB skipped.",
		        w->oversized);
		counter(out, "eventer_watch_duplicates_total",
		        "Events seen again at the same resourceVersion.", w->duplicates);
		counter(out, "eventer_watch_bookmarks_total", "Bookmarks received.", w->bookmarks);
	}
	if (v->seen) {
		header(out, "eventer_seen_events", "gauge", "Events remembered for deduplication.");
		buf_printf(out, "eventer_seen_events %zu\n", seen_count(v->seen));
		counter(out, "eventer_seen_evictions_total", "Remembered events evicted.",
		        seen_evictions(v->seen));
	}
	per_sink(out, v, "eventer_sink_matched_total", "counter", "Events that passed the sink's filters.",
	         matched);
	per_sink(out, v, "eventer_sink_suppressed_total", "counter",
	         "Events held back: repeats (repeat_interval), events sampled out (samplerate).", suppressed);
	per_sink(out, v, "eventer_sink_trailing_total", "counter",
	         "Trailing messages: the last count held back, sent when repeat_interval ended.", trailers);
	per_sink(out, v, "eventer_sink_sent_total", "counter", "Items delivered.", sent);
	per_sink(out, v, "eventer_sink_failed_total", "counter",
	         "Items dropped after a permanent error or exhausted retries.", failed);
	per_sink(out, v, "eventer_sink_retried_total", "counter", "Items sent again.", retried);
	per_sink(out, v, "eventer_sink_dropped_total", "counter", "Items dropped because the queue was full.",
	         dropped);
	per_sink(out, v, "eventer_sink_render_errors_total", "counter", "Events the sink could not render.",
	         render_errors);
	per_sink(out, v, "eventer_sink_handed_over_total", "counter",
	         "Items queued when leadership was lost: the new leader delivers them.", handed_over);
	per_sink(out, v, "eventer_sink_queue_length", "gauge", "Items waiting.", queue_length);
	per_sink(out, v, "eventer_sink_queue_bytes", "gauge", "Bytes waiting.", queue_bytes);
	per_sink(out, v, "eventer_sink_in_flight", "gauge", "Items in requests not answered yet.", in_flight);
}
