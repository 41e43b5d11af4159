/* Unit tests for event.c: both event shapes, effective time/count, envelopes. */
#include "buf.h"
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

/* Data sinks keep the object as upstream's json.Marshal of a typed Event would print it. */
static void whole_object_as_json(void)
{
	static const char line[] =
	    "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p.1\",\"namespace\":\"ns\","
	    "\"uid\":\"u1\",\"resourceVersion\":\"42\",\"creationTimestamp\":\"2024-03-05T07:00:00Z\","
	    "\"managedFields\":[{\"manager\":\"kubelet\",\"fieldsV1\":{\"f:count\":{}}}]},"
	    "\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\",\"fieldPath\":\"spec.containers{a}\"},"
	    "\"reason\":\"BackOff\",\"message\":\"a \\\"q\\\"\\n<b>\\u00e9\",\"source\":{\"host\":\"n1\"},"
	    "\"firstTimestamp\":null,\"count\":3,\"eventTime\":null,\"series\":{\"count\":2.5},"
	    "\"related\":[],\"x\":true}";
	static const char want[] =
	    "{\"metadata\":{\"name\":\"p.1\",\"namespace\":\"ns\",\"uid\":\"u1\",\"resourceVersion\":\"42\","
	    "\"creationTimestamp\":\"2024-03-05T07:00:00Z\",\"managedFields\":[{\"manager\":\"kubelet\","
	    "\"fieldsV1\":{\"f:count\":{}}}]},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\","
	    "\"fieldPath\":\"spec.containers{a}\"},\"reason\":\"BackOff\",\"message\":\"a "
	    "\\\"q\\\"\\n<b>\xc3\xa9\","
	    "\"source\":{\"host\":\"n1\"},\"firstTimestamp\":null,\"count\":3,\"eventTime\":null,"
	    "\"series\":{\"count\":2.5},\"related\":[],\"x\":true}";
	struct event ev;
	CHECK_INT(decode(line, &ev), 0);
	CHECK_INT(ev.json_len, 0); /* not asked for */
	event_free(&ev);
	event_keep_json(true);
	int r = decode(line, &ev);
	event_keep_json(false);
	CHECK_INT(r, 0);
	CHECK_STR(ev.json, want);
	CHECK_INT(ev.json_len, strlen(want));
	CHECK(strncmp(ev.json + ev.json_involved.off, "{\"kind\":\"Pod\",", 14) == 0);
	CHECK_INT(ev.json[ev.json_involved.off + ev.json_involved.len - 1], '}');
	CHECK(strncmp(ev.json + ev.json_source.off, "{\"host\":\"n1\"}", ev.json_source.len) == 0);
	CHECK_INT(ev.json_source.len, 13);
	CHECK(strncmp(ev.json + ev.json_metadata.off, "{\"name\":\"p.1\"", 13) == 0);
	CHECK_STR(ev.reason, "BackOff"); /* the decoded fields are all still there */
	CHECK_STR(ev.involved.field_path, "spec.containers{a}");

	/* json.MarshalIndent(ev, "", " ") */
	struct buf b = BUF_INIT(1 << 20);
	static const char nested[] = "{\"a\":{},\"b\":[],\"c\":[1,{\"d\":\"x,y:{}\"}],\"e\":null}";
	CHECK_INT(buf_json_indent(&b, nested, strlen(nested)), 0);
	CHECK_STR(buf_str(&b),
	          "{\n \"a\": {},\n \"b\": [],\n \"c\": [\n  1,\n  {\n   \"d\": \"x,y:{}\"\n  }\n ],\n"
	          " \"e\": null\n}");
	buf_reset(&b);
	CHECK_INT(buf_json_indent(&b, ev.json + ev.json_source.off, ev.json_source.len), 0);
	CHECK_STR(buf_str(&b), "{\n \"host\": \"n1\"\n}");
	buf_reset(&b);
	static const char quoted[] = "{\"s\":\"q\\\"}{\\\\\"}";
	CHECK_INT(buf_json_indent(&b, quoted, strlen(quoted)), 0);
	CHECK_STR(buf_str(&b), "{\n \"s\": \"q\\\"}{\\\\\"\n}");
	buf_free(&b);
	event_free(&ev);
}

/* An object past EVENT_JSON_MAX loses its managedFields first. */
static void whole_object_is_bounded(void)
{
	struct buf line = BUF_INIT(4 << 20);
	buf_puts(&line, "{\"metadata\":{\"uid\":\"u\",\"managedFields\":[\"");
	for (int i = 0; i < EVENT_JSON_MAX; i++)
		buf_putc(&line, 'm');
	buf_puts(&line, "\"]},\"reason\":\"R\"}");
	struct event ev;
	event_keep_json(true);
	CHECK_INT(decode(buf_str(&line), &ev), 0);
	CHECK_STR(ev.json, "{\"metadata\":{\"uid\":\"u\"},\"reason\":\"R\"}");
	event_free(&ev);
	/* a message that alone is too large: no JSON, but the event still decodes */
	buf_reset(&line);
	buf_puts(&line, "{\"metadata\":{\"uid\":\"u\"},\"message\":\"");
	for (int i = 0; i < EVENT_JSON_MAX; i++)
		buf_putc(&line, 'm');
	buf_puts(&line, "\"}");
	int r = decode(buf_str(&line), &ev);
	event_keep_json(false);
	CHECK_INT(r, 0);
	CHECK_INT(ev.json_len, 0);
	CHECK_INT(strlen(ev.message), EVENT_JSON_MAX);
	event_free(&ev);
	buf_free(&line);
}

const struct test_case test_event[] = {
	TEST(rfc3339_parsing),          TEST(legacy_event),
	TEST(events_k8s_io_shape),      TEST(rejects_non_events),
	TEST(watch_envelopes),          TEST(list_meta_and_status),
	TEST(real_fixture_both_shapes), TEST(whole_object_as_json),
	TEST(whole_object_is_bounded),  TEST_END,
};
