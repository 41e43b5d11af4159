/* Unit tests for metrics.c: kube-eventer's labelled series, their bound, the exposition. */
#include "event.h"
#include "metrics.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct event warning(const char *reason, const char *ns, const char *name, const char *msg)
{
	struct event e = { 0 };
	e.type = "Warning";
	e.reason = reason;
	e.namespace = ns;
	e.message = msg;
	e.involved.kind = "Pod";
	e.involved.name = name;
	e.involved.namespace = ns;
	return e;
}

/* The value of one exposition line "NAME VALUE", or -1 when absent. */
static long long value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

static void render(struct buf *b)
{
	struct metrics_view v = { .event_metrics = true };
	buf_reset(b);
	metrics_render(b, &v);
}

static void series_count_and_triage(void)
{
	struct buf b = BUF_INIT(1 << 20);
	struct event crash = warning("BackOff", "a", "p1", "Back-off restarting failed container x");
	struct event pulled = warning("Pulled", "b", "p2", "ok");
	pulled.type = "Normal";
	for (int i = 0; i < 3; i++)
		metrics_count_event(&crash, true);
	metrics_count_event(&pulled, true);
	metrics_count_event(&pulled, false); /* counted by type only */
	render(&b);
	const char *t = buf_str(&b);
	CHECK_INT(value_of(t,
	                   "eventer_events_warning_total{event_kind=\"pod_crash\",kind=\"Pod\",name=\"p1\","
	                   "namespace=\"a\"}"),
	          3);
	CHECK_INT(value_of(t, "eventer_events_normal_total{reason=\"Pulled\",namespace=\"b\"}"), 1);
	CHECK_INT(value_of(t, "eventer_events_total{type=\"Warning\"}"), 3);
	CHECK_INT(value_of(t, "eventer_events_total{type=\"Normal\"}"), 2);
	CHECK_INT(value_of(t, "eventer_events_series_overflow_total"), 0);
	buf_free(&b);
	metrics_free();
}

static void series_are_bounded(void)
{
	struct buf b = BUF_INIT(4 << 20);
	char name[32];
	/* 3000 distinct objects, each seen twice: 2048 series of 2, the rest overflow */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 3000; i++) {
			snprintf(name, sizeof name, "p%d", i);
			struct event e = warning("Evicted", "ns", name, "");
			metrics_count_event(&e, true);
		}
	render(&b);
	const char *t = buf_str(&b);
	size_t lines = 0;
	for (const char *p = t; (p = strstr(p, "\neventer_events_warning_total{")); p++)
		lines++;
	CHECK_INT(lines, 2048);
	CHECK_INT(value_of(t,
	                   "eventer_events_warning_total{event_kind=\"pod_evict\",kind=\"Pod\",name=\"p0\","
	                   "namespace=\"ns\"}"),
	          2);
	CHECK_INT(
	    value_of(t, "eventer_events_warning_total{event_kind=\"pod_evict\",kind=\"Pod\",name=\"p2047\","
	                "namespace=\"ns\"}"),
	    2);
	CHECK_INT(
	    value_of(t, "eventer_events_warning_total{event_kind=\"pod_evict\",kind=\"Pod\",name=\"p2048\","
	                "namespace=\"ns\"}"),
	    -1);
	CHECK_INT(value_of(t, "eventer_events_series_overflow_total"), 2 * (3000 - 2048));
	buf_free(&b);
	metrics_free();
	/* after metrics_free the table is empty and usable again */
	struct event e = warning("Evicted", "ns", "p2048", "");
	metrics_count_event(&e, true);
	render(&b);
	CHECK_INT(value_of(buf_str(&b), "eventer_events_warning_total{event_kind=\"pod_evict\",kind=\"Pod\","
	                                "name=\"p2048\",namespace=\"ns\"}"),
	          1);
	buf_free(&b);
	metrics_free();
}

const struct test_case test_metrics[] = {
	TEST(series_count_and_triage),
	TEST(series_are_bounded),
	TEST_END,
};
