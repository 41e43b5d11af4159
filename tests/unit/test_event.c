/* Unit tests for event.c: both event shapes, effective time/count, envelopes. */
#include "event.h"
#include "test.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static int decode(const char *json, struct event *ev)
{
	char err[128];
	return event_decode(json, strlen(json), ev, err, sizeof err);
}

static void rfc3339_parsing(void)
{
	struct ktime t;
	CHECK_INT(ktime_parse("2024-03-05T07:08:09Z", &t), 0);
	CHECK_INT(t.sec, 1709622489);
	CHECK_INT(t.nsec, 0);
	CHECK_INT(ktime_parse("2023-07-11T05:34:44.764227Z", &t), 0);
	CHECK_INT(t.sec, 1689053684);
	CHECK_INT(t.nsec, 764227000);
	CHECK_INT(ktime_parse("2024-03-05T15:08:09+08:00", &t), 0);
	CHECK_INT(t.sec, 1709622489);
	CHECK_INT(ktime_parse("1970-01-01T00:00:00Z", &t), 0);
	CHECK_INT(t.sec, 0);
	CHECK_INT(ktime_parse("2024-02-29T00:00:00Z", &t), 0);
	CHECK_INT(t.sec, 1709164800);
	CHECK_INT(ktime_parse("2024-03-05 07:08:09", &t), -1);
	CHECK_INT(ktime_parse("2024-13-05T07:08:09Z", &t), -1);
	CHECK_INT(ktime_parse("garbage", &t), -1);
	CHECK_INT(ktime_parse("2024-03-05T07:08:09.Z", &t), -1);
	/* as strict as Go's time.Parse(time.RFC3339, ...) */
	CHECK_INT(ktime_parse("2023-02-29T00:00:00Z", &t), -1);
	CHECK_INT(ktime_parse("2000-02-29T00:00:00Z", &t), 0);
	CHECK_INT(ktime_parse("1900-02-29T00:00:00Z", &t), -1);
	CHECK_INT(ktime_parse("2024-04-31T00:00:00Z", &t), -1);
	CHECK_INT(ktime_parse("2024-03-05T07:08:60Z", &t), -1);
	CHECK_INT(ktime_parse("2024-03-05t07:08:09Z", &t), -1);
	CHECK_INT(ktime_parse("2024-03-05T07:08:09z", &t), -1);
	CHECK_INT(ktime_parse("2024-03-05T07:08:09+24:00", &t), -1);
	CHECK_INT(ktime_parse("2024-03-05T07:08:09.1234567891Z", &t), 0);
	CHECK_INT(t.nsec, 123456789);
}

static void legacy_event(void)
{
	struct event ev;
	CHECK_INT(decode("{\"metadata\":{\"name\":\"p.1\",\"namespace\":\"ns\",\"uid\":\"u1\","
	                 "\"resourceVersion\":\"42\",\"creationTimestamp\":\"2024-03-05T07:00:00Z\","
	                 "\"labels\":{\"b\":\"2\",\"a\":\"1\"}},"
	                 "\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"ns\",\"name\":\"p\"},"
	                 "\"reason\":\"BackOff\",\"message\":\"Back-off \\\"x\\\"\",\"type\":\"Warning\","
	                 "\"count\":111,\"firstTimestamp\":\"2024-03-05T07:01:00Z\","
	                 "\"lastTimestamp\":\"2024-03-05T07:08:09Z\",\"eventTime\":null,"
	                 "\"source\":{\"component\":\"kubelet\",\"host\":\"n1\"}}",
	                 &ev),
	          0);
	CHECK_STR(ev.name, "p.1");
	CHECK_STR(ev.uid, "u1");
	CHECK_STR(ev.resource_version, "42");
	CHECK_STR(ev.involved.kind, "Pod");
	CHECK_STR(ev.message, "Back-off \"x\"");
	CHECK_STR(ev.source.host, "n1");
	CHECK_STR(ev.action, "");
	CHECK_INT(ev.count, 111);
	CHECK_INT(ev.eff_count, 111);
	CHECK_INT(ev.eff_time.sec, 1709622489);
	CHECK(ktime_is_zero(ev.event_time));
	CHECK_INT(ev.nlabels, 2);
	CHECK_STR(ev.labels[0].key, "a"); /* sorted, as Go ranges maps */
	CHECK_STR(ev.labels[1].value, "2");
	CHECK_INT(ev.nannotations, 0);
	event_free(&ev);
}

static void events_k8s_io_shape(void)
{
	struct event ev;
	CHECK_INT(decode("{\"metadata\":{\"name\":\"x\",\"uid\":\"u2\","
	                 "\"creationTimestamp\":\"2023-07-11T05:34:44Z\"},"
	                 "\"reason\":\"Scheduled\",\"type\":\"Normal\",\"firstTimestamp\":null,"
	                 "\"lastTimestamp\":null,\"eventTime\":\"2023-07-11T05:34:44.764227Z\","
	                 "\"action\":\"Binding\",\"reportingComponent\":\"default-scheduler\","
	                 "\"series\":{\"count\":7,\"lastObservedTime\":\"2023-07-11T06:00:00.5Z\"}}",
	                 &ev),
	          0);
	CHECK_STR(ev.reporting_controller, "default-scheduler");
	CHECK_STR(ev.action, "Binding");
	CHECK(ev.has_series);
	CHECK_INT(ev.eff_count, 7);
	CHECK_INT(ev.count, 0);
	CHECK_INT(ev.eff_time.sec, 1689055200);
	CHECK_INT(ev.eff_time.nsec, 500000000);
	CHECK_INT(ev.event_time.nsec, 764227000);
	event_free(&ev);

	/* no series: eventTime wins over creationTimestamp, count defaults to 1 */
	CHECK_INT(decode("{\"metadata\":{\"uid\":\"u3\",\"creationTimestamp\":\"2023-07-11T05:34:45Z\"},"
	                 "\"eventTime\":\"2023-07-11T05:34:44.000001Z\"}",
	                 &ev),
	          0);
	CHECK_INT(ev.eff_count, 1);
	CHECK_INT(ev.eff_time.sec, 1689053684);
	CHECK_INT(ev.eff_time.nsec, 1000);
	event_free(&ev);
}

static void rejects_non_events(void)
{
	struct event ev;
	CHECK_INT(decode("[1,2]", &ev), -1);
	CHECK_INT(decode("{\"reason\":\"x\"}", &ev), -1);
	CHECK_INT(decode("{\"metadata\":", &ev), -1);
	CHECK(ev.mem == NULL);
}

static void watch_envelopes(void)
{
	struct watch_msg m;
	char err[128];
	const char *added = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"uid\":\"u\",\"resourceVersion\":"
	                    "\"77\"},\"reason\":\"R\"}}";
	CHECK_INT(watch_msg_decode(added, strlen(added), &m, err, sizeof err), 0);
	CHECK_INT(m.type, WATCH_ADDED);
	CHECK_STR(m.rv, "77");
	CHECK_STR(m.ev.reason, "R");
	event_free(&m.ev);

	const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Event\",\"metadata\":{"
	                 "\"resourceVersion\":\"abc-9\"}}}";
	CHECK_INT(watch_msg_decode(bm, strlen(bm), &m, err, sizeof err), 0);
	CHECK_INT(m.type, WATCH_BOOKMARK);
	CHECK_STR(m.rv, "abc-9");

	const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	                   "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\","
	                   "\"reason\":\"Expired\",\"code\":410}}";
	CHECK_INT(watch_msg_decode(gone, strlen(gone), &m, err, sizeof err), 0);
	CHECK_INT(m.type, WATCH_ERROR);
	CHECK_INT(m.status_code, 410);
	CHECK_STR(m.status_reason, "Expired");

	const char *odd = "{\"type\":\"SURPRISE\",\"object\":{}}";
	CHECK_INT(watch_msg_decode(odd, strlen(odd), &m, err, sizeof err), -1);
	CHECK_INT(watch_msg_decode("{\"type\":", 8, &m, err, sizeof err), -1);
}

static void list_meta_and_status(void)
{
	char rv[32], cont[32], reason[32], msg[64];
	int code;
	const char *meta = "{\"resourceVersion\":\"123\",\"continue\":\"tok\"}";
	CHECK_INT(list_meta_decode(meta, strlen(meta), rv, sizeof rv, cont, sizeof cont), 0);
	CHECK_STR(rv, "123");
	CHECK_STR(cont, "tok");
	const char *st =
	    "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\",\"message\":\"slow\"}";
	CHECK_INT(status_decode(st, strlen(st), &code, reason, sizeof reason, msg, sizeof msg), 0);
	CHECK_INT(code, 429);
	CHECK_STR(reason, "TooManyRequests");
	CHECK_INT(status_decode("{}", 2, &code, reason, sizeof reason, msg, sizeof msg), -1);
}

static void real_fixture_both_shapes(void)
{
	/* kubectl -o json of a minikube namespace: events.k8s.io-written events. */
	size_t n;
	char *json = read_file(FIXTURE("fixtures/events/message-image-pull-fail.json"), 1 << 20, &n);
	CHECK(json != NULL);
	const char *first = strstr(json, "\"items\"");
	CHECK(first != NULL);
	first = strchr(first, '{');
	/* find the end of the first item by brace matching (no braces in its strings) */
	int depth = 0;
	const char *p = first;
	do {
		depth += *p == '{';
		depth -= *p == '}';
		p++;
	} while (depth > 0);
	struct event ev;
	char err[128];
	CHECK_INT(event_decode(first, (size_t)(p - first), &ev, err, sizeof err), 0);
	CHECK_STR(ev.reason, "Scheduled");
	CHECK_STR(ev.reporting_controller, "default-scheduler");
	CHECK(ktime_is_zero(ev.last_ts));
	CHECK_INT(ev.eff_time.sec, ev.event_time.sec);
	CHECK_INT(ev.event_time.nsec, 764227000);
	event_free(&ev);
	free(json);
}

const struct test_case test_event[] = {
	TEST(rfc3339_parsing),          TEST(legacy_event),
	TEST(events_k8s_io_shape),      TEST(rejects_non_events),
	TEST(watch_envelopes),          TEST(list_meta_and_status),
	TEST(real_fixture_both_shapes), TEST_END,
};
