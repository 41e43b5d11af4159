/*
 * The elasticsearch, influxdb and honeycomb sinks' own work, without a
 * network: documents, lines and batch events rendered from a decoded Event,
 * line-protocol escaping, and the verdicts read from bulk, write and batch
 * replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "http.h"
#include "sink.h"
#include "sinks/influxdb.h"
#include "test.h"
#include "util.h"

static const char event_json[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-1.17b\",\"namespace\":\"shop\","
    "\"uid\":\"e-uid-1\",\"resourceVersion\":\"4711\",\"creationTimestamp\":\"2024-03-05T07:00:00Z\"},"
    "\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-1\",\"uid\":\"pod-uid\","
    "\"apiVersion\":\"v1\"},\"reason\":\"BackOff\",\"message\":\"Back-off \\\"x\\\"\\nline 2, a=b\","
    "\"source\":{\"component\":\"kubelet\",\"host\":\"node 1\"},\"firstTimestamp\":\"2024-03-05T07:01:00Z\","
    "\"lastTimestamp\":\"2024-03-05T23:59:59Z\",\"count\":7,\"type\":\"Warning\",\"eventTime\":null}";

static struct sink *make(const char *uri)
{
	char err[256];
	struct sink *s = sink_create(uri, 0, 30000, NULL, err, sizeof err);
	if (!s)
		printf("#   %s: %s\n", uri, err);
	return s;
}

static int decode(struct event *ev)
{
	char err[128];
	event_keep_json(true);
	int r = event_decode(event_json, strlen(event_json), ev, err, sizeof err);
	event_keep_json(false);
	return r;
}

static void line_protocol_escaping(void)
{
	struct buf b = BUF_INIT(4096);
	lp_escape(&b, "a b,c=d\\e\"f", LP_KEY);
	CHECK_STR(buf_str(&b), "a\\ b\\,c\\=d\\e\"f");
	buf_reset(&b);
	lp_escape(&b, "x,y z=w", LP_MEASUREMENT);
	CHECK_STR(buf_str(&b), "x\\,y\\ z=w");
	buf_reset(&b);
	lp_escape(&b, "say \"hi\"\n\\o/ \t,=", LP_STRING);
	CHECK_STR(buf_str(&b), "say \\\"hi\\\"\n\\\\o/ \t,=");
	buf_reset(&b);
	/* a newline would end the line; a trailing backslash would escape the separator */
	lp_escape(&b, "two\nlines\\\\", LP_KEY);
	CHECK_STR(buf_str(&b), "two\\ lines");
	buf_reset(&b);
	lp_escape(&b, "a\\ b\\\\,c\\x\\\\y", LP_KEY); /* runs before ' ' and ',' go, others stay */
	CHECK_STR(buf_str(&b), "a\\ b\\,c\\x\\\\y");
	buf_reset(&b);
	lp_escape(&b, "\xe4\xb8\xad\xf0\x9f\x98\x80\r", LP_KEY); /* UTF-8, CR: as they are */
	CHECK_STR(buf_str(&b), "\xe4\xb8\xad\xf0\x9f\x98\x80\r");
	buf_free(&b);
	/* near the ceiling a string escapes as far as it fits, without twice its length */
	struct buf small = BUF_INIT(6);
	CHECK_INT(lp_escape(&small, "abc\"", LP_STRING), 0);
	CHECK_STR(buf_str(&small), "abc\\\"");
	CHECK_INT(lp_escape(&small, "\"", LP_STRING), -1);
	CHECK(small.overflow);
	buf_free(&small);
}

static void influx_points_like_upstream(void)
{
	struct event ev;
	CHECK_INT(decode(&ev), 0);
	struct sink *s = make("influxdb:http://127.0.0.1:1?cluster_name=prod");
	CHECK(s);
	struct buf b = BUF_INIT(1 << 20);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	const char *want = "log/events,cluster_name=prod,hostname=node\\ 1,pod_id=pod-uid,pod_name=web-1,"
	                   "uid=e-uid-1 value=\"{\n \\\"metadata\\\": {\n  \\\"name\\\": \\\"web-1.17b\\\",";
	CHECK(strncmp(buf_str(&b), want, strlen(want)) == 0);
	CHECK(strstr(buf_str(&b), "\\\"message\\\": \\\"Back-off \\\\\\\"x\\\\\\\"\\\\nline 2, a=b\\\","));
	CHECK(str_ends(buf_str(&b), "\n}\" 1709683199000000000\n"));
	sink_destroy(s);

	s = make("influxdb:http://127.0.0.1:1?withfields=true");
	CHECK(s);
	buf_reset(&b);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	CHECK_STR(buf_str(&b), "events,cluster_name=default,component=kubelet,hostname=node\\ 1,kind=Pod,"
	                       "namespace_name=shop,object_name=web-1,pod_id=pod-uid,reason=BackOff,"
	                       "type=Warning,uid=e-uid-1 message=\"Back-off \\\"x\\\"\nline 2, a=b\" "
	                       "1709683199000000000\n");
	sink_destroy(s);
	buf_free(&b);
	event_free(&ev);
}

static void influx_bad_parameters(void)
{
	char err[256];
	CHECK(!sink_create("influxdb:ftp://h", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "http://"));
	CHECK(!sink_create("influxdb:http://h?retention=7 days", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "retention"));
	CHECK(!sink_create("influxdb:http://h?withfields=maybe", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "withfields"));
	struct sink *s = make("influxdb:?retention=30d&rp=week");
	CHECK(s);
	sink_destroy(s);
}

/* A response as http.c hands it over. */
static struct http_response reply(long status, const char *body)
{
	struct http_response r = {
		.status = status, .body = body, .body_len = strlen(body), .retry_after_ms = -1
	};
	return r;
}

static void influx_write_verdicts(void)
{
	struct sink *s = make("influxdb:http://127.0.0.1:1");
	CHECK(s);
	struct msg *items[1] = { NULL };
	signed char v[1] = { DELIVERY_UNSET };
	struct sink_batch b = { items, 1, 0, v, NULL };
	char why[256];
	int64_t ra = -1;
	struct http_response r = reply(204, "");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_OK);
	r = reply(400, "{\"error\":\"partial write: unable to parse 'x': missing fields dropped=1\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_SPLIT);
	CHECK(strstr(why, "unable to parse"));
	r = reply(401, "{\"error\":\"authorization failed\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_DROP);
	CHECK_STR(why, "HTTP 401: authorization failed");
	r = reply(404, "{\"error\":\"database not found: \\\"k8s\\\"\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	r = reply(503, "down");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	sink_destroy(s);
}

static void es_documents_like_upstream(void)
{
	struct event ev;
	CHECK_INT(decode(&ev), 0);
	struct sink *s =
	    make("elasticsearch:http://127.0.0.1:1?index=k8s&use_namespace=false&cluster_name=c");
	CHECK(s);
	struct buf b = BUF_INIT(1 << 20);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	/* "<index> <_id>\n<document>\n": use_namespace is on by its presence, as upstream */
	CHECK_STR(
	    buf_str(&b),
	    "k8s-shop-2024.03.05 e-uid-1-4711\n"
	    "{\"Count\":7,\"Metadata\":{\"name\":\"web-1.17b\",\"namespace\":\"shop\",\"uid\":\"e-uid-1\","
	    "\"resourceVersion\":\"4711\",\"creationTimestamp\":\"2024-03-05T07:00:00Z\"},"
	    "\"InvolvedObject\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-1\",\"uid\":\"pod-"
	    "uid\","
	    "\"apiVersion\":\"v1\"},\"Source\":{\"component\":\"kubelet\",\"host\":\"node 1\"},"
	    "\"FirstOccurrenceTimestamp\":\"2024-03-05T07:01:00Z\","
	    "\"LastOccurrenceTimestamp\":\"2024-03-05T23:59:59Z\",\"Message\":\"Back-off \\\"x\\\"\\nline 2, "
	    "a=b\",\"Reason\":\"BackOff\",\"Type\":\"Warning\",\"EventTags\":{\"cluster_name\":\"c\","
	    "\"eventID\":\"e-uid-1\",\"hostname\":\"node "
	    "1\",\"pod_id\":\"pod-uid\",\"pod_name\":\"web-1\"}}\n");
	sink_destroy(s);

	s = make("elasticsearch:http://127.0.0.1:1?data_stream=logs-k8s-events");
	CHECK(s);
	buf_reset(&b);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	CHECK(str_starts(buf_str(&b),
	                 "logs-k8s-events e-uid-1-4711\n{\"@timestamp\":\"2024-03-05T23:59:59Z\","
	                 "\"Count\":7,"));
	sink_destroy(s);
	buf_free(&b);
	event_free(&ev);
}

static void es_bad_parameters(void)
{
	char err[256];
	CHECK(!sink_create("elasticsearch:?index=x", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "no Elasticsearch node"));
	CHECK(!sink_create("elasticsearch:http://h:9200?index=Heapster", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "index"));
	CHECK(!sink_create("elasticsearch:http://h:9200?ver=4", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "ver"));
	CHECK(!sink_create("elasticsearch:?nodes=h:9200", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "nodes"));
	CHECK(!sink_create("elasticsearch:http://h:9200?esUserName=u", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "esUserSecret"));
	CHECK(!sink_create("elasticsearch:http://h:9200?sigv4=true", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "sigv4"));
	CHECK(!sink_create("elasticsearch:http://h:9200?write_alias=a&data_stream=b", 0, 30000, NULL, err,
	                   sizeof err));
	struct buf unknown = BUF_INIT(1024);
	struct sink *s =
	    sink_create("elasticsearch:?nodes=http://a:9200/&nodes=https://b:9200&ver=6&sniff=false"
	                "&healthCheck=false&startupHealthcheckTimeout=1&maxRetries=3&bulkWorkers=3"
	                "&pipeline=p&bogus=1",
	                0, 30000, &unknown, err, sizeof err);
	CHECK(s);
	CHECK_STR(buf_str(&unknown), "bogus");
	CHECK_INT(s->cfg.concurrency, 3);
	CHECK_INT(s->cfg.batch_items, 500);
	sink_destroy(s);
	buf_free(&unknown);
}

static void es_bulk_verdicts(void)
{
	struct sink *s = make("elasticsearch:http://127.0.0.1:1");
	CHECK(s);
	struct msg *items[4];
	for (int i = 0; i < 4; i++) {
		items[i] = xcalloc(1, sizeof *items[i] + 8);
		snprintf(items[i]->label, sizeof items[i]->label, "item %d", i);
	}
	signed char v[4];
	struct sink_batch b = { items, 4, 0, v, NULL };
	char why[256];
	int64_t ra = -1;
	memset(v, DELIVERY_UNSET, sizeof v);
	struct http_response r = reply(200, "{\"errors\":false}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_OK);
	CHECK_INT(v[0], DELIVERY_UNSET);

	r = reply(200,
	          "{\"errors\":true,\"items\":[{\"create\":{\"status\":201}},{\"create\":{\"status\":429,"
	          "\"error\":{\"type\":\"es_rejected_execution_exception\",\"reason\":\"queue full\"}}},"
	          "{\"create\":{\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\"}}},"
	          "{\"create\":{\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\","
	          "\"reason\":\"failed to parse\"}}}]}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_OK);
	CHECK_INT(v[0], DELIVERY_OK);
	CHECK_INT(v[1], DELIVERY_RETRY);
	CHECK_INT(v[2], DELIVERY_OK); /* already there: a resent batch */
	CHECK_INT(v[3], DELIVERY_DROP);
	CHECK(strstr(why, "429"));

	/* a reply that does not match the batch, or was cut short, is not trusted */
	memset(v, DELIVERY_UNSET, sizeof v);
	r = reply(200, "{\"errors\":true,\"items\":[{\"create\":{\"status\":201}}]}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	r = reply(200, "{\"errors\":false}");
	r.body_truncated = true;
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	r = reply(413, "");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_SPLIT);
	r = reply(401, "{\"error\":{\"type\":\"security_exception\"}}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_DROP);
	CHECK(strstr(why, "401"));
	r = reply(0, "");
	r.error = 7;
	r.error_text = "connection refused or unreachable";
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	for (int i = 0; i < 4; i++)
		free(items[i]);
	sink_destroy(s);
}

static void hc_events_like_upstream(void)
{
	struct event ev;
	CHECK_INT(decode(&ev), 0);
	struct sink *s = make("honeycomb:?writekey=k&dataset=k8s");
	CHECK(s);
	struct buf b = BUF_INIT(1 << 20);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	/* upstream's data keys, in its order; Honeycomb's `data` and `time`; a comma to join */
	CHECK_STR(buf_str(&b),
	          "{\"data\":{\"namespace\":\"shop\",\"kind\":\"Pod\",\"name\":\"web-1\","
	          "\"subobject\":\"\",\"source.component\":\"kubelet\",\"source.host\":\"node 1\","
	          "\"count\":7,\"type\":\"Warning\",\"reason\":\"BackOff\","
	          "\"message\":\"Back-off \\\"x\\\"\\nline 2, a=b\"},"
	          "\"time\":\"2024-03-05T23:59:59Z\"},");
	ev.eff_time.nsec = 123456000; /* RFC 3339 with nanoseconds, trailing zeros cut */
	buf_reset(&b);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	CHECK(strstr(buf_str(&b), "\"time\":\"2024-03-05T23:59:59.123456Z\"}"));
	sink_destroy(s);
	buf_free(&b);
	event_free(&ev);
}

/* A queued item holding body. */
static struct msg *item(const char *body, const char *label)
{
	size_t n = strlen(body);
	struct msg *m = xcalloc(1, sizeof *m + n + 1);
	memcpy(m->body, body, n);
	m->len = (uint32_t)n;
	snprintf(m->label, sizeof m->label, "%s", label);
	return m;
}

static void hc_batch_request(void)
{
	struct sink *s =
	    make("honeycomb:?writekey=K3y&dataset=my%20events&apihost=http://127.0.0.1:1/prefix//");
	CHECK(s);
	struct msg *items[2] = { item("{\"data\":{\"a\":1}},", "a"), item("{\"data\":{\"b\":2}},", "b") };
	signed char v[2];
	struct sink_batch b = { items, 2, 0, v, NULL };
	static struct sink_req r;
	buf_init(&r.scratch, 1 << 20);
	r.http.headers = r.headers;
	char err[128];
	CHECK_INT(s->type->prepare(s, &b, &r, err, sizeof err), 0);
	CHECK_STR(r.http.url, "http://127.0.0.1:1/prefix/1/batch/my%20events");
	CHECK_STR(r.http.method, "POST");
	CHECK_INT(r.http.nheaders, 2);
	CHECK_STR(r.headers[0], "Content-Type: application/json");
	CHECK_STR(r.headers[1], "X-Honeycomb-Team: K3y");
	CHECK_INT(r.http.body_len, strlen("[{\"data\":{\"a\":1}},{\"data\":{\"b\":2}}]"));
	CHECK(memcmp(r.http.body, "[{\"data\":{\"a\":1}},{\"data\":{\"b\":2}}]", r.http.body_len) == 0);
	/* one event is an array too */
	b.n = 1;
	buf_reset(&r.scratch);
	CHECK_INT(s->type->prepare(s, &b, &r, err, sizeof err), 0);
	CHECK(r.http.body_len == 18 && memcmp(r.http.body, "[{\"data\":{\"a\":1}}]", 18) == 0);
	buf_free(&r.scratch);
	free(items[0]);
	free(items[1]);
	sink_destroy(s);
}

static void hc_parameters(void)
{
	char err[256];
	const char *saved = getenv("HONEYCOMB_WRITEKEY");
	char *keep = saved ? xstrdup(saved) : NULL;
	unsetenv("HONEYCOMB_WRITEKEY");
	CHECK(!sink_create("honeycomb:?dataset=x", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "honeycomb: writekey") && strstr(err, "HONEYCOMB_WRITEKEY"));
	setenv("HONEYCOMB_WRITEKEY", "from-env", 1);
	struct sink *s = make("honeycomb:");
	CHECK(s);
	CHECK_INT(s->cfg.batch_items, 1000);
	CHECK_INT(s->cfg.repeat_interval_s, 0); /* a data sink: every change, as upstream */
	sink_destroy(s);
	if (keep)
		setenv("HONEYCOMB_WRITEKEY", keep, 1);
	else
		unsetenv("HONEYCOMB_WRITEKEY");
	free(keep);
	CHECK(!sink_create("honeycomb:?writekey=k&apihost=ftp://x", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "apihost"));
	CHECK(!sink_create("honeycomb:?writekey=k&apihost=https://", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "apihost"));
	CHECK(!sink_create("honeycomb:?writekey=k&dataset=a/b", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "dataset"));
	CHECK(!sink_create("honeycomb:?writekey=k%0D%0AX:%201", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "writekey: contains a control character"));
	CHECK(!sink_create("honeycomb:?writekey=k&samplerate=0", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "samplerate"));
	CHECK(!sink_create("honeycomb:?writekey=k&batch_bytes=5000000", 0, 30000, NULL, err, sizeof err));
	CHECK(strstr(err, "batch_bytes") && strstr(err, "4999999"));
	s = make("honeycomb:?writekey=k&batch_bytes=4999999");
	CHECK(s);
	sink_destroy(s);
}

static void hc_samplerate(void)
{
	struct event ev;
	CHECK_INT(decode(&ev), 0);
	struct sink *s = make("honeycomb:?writekey=k&samplerate=4");
	CHECK(s);
	struct buf b = BUF_INIT(1 << 20);
	char uid[32];
	int kept = 0;
	for (int i = 0; i < 400; i++) {
		snprintf(uid, sizeof uid, "uid-%d", i);
		ev.uid = uid;
		buf_reset(&b);
		int r = s->type->render(s, &ev, &b, NULL, 0);
		CHECK(r == 0 || r == 1);
		if (r == 0) {
			kept++;
			CHECK(str_ends(buf_str(&b), ",\"samplerate\":4},"));
		}
		/* the same Event, the same answer: every change of a kept Event is kept */
		buf_reset(&b);
		CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), r);
	}
	CHECK(kept > 50 && kept < 150); /* about 1 in 4 */
	sink_destroy(s);
	buf_free(&b);
	event_free(&ev);
}

static void hc_batch_verdicts(void)
{
	struct sink *s = make("honeycomb:?writekey=k");
	CHECK(s);
	struct msg *items[4];
	for (int i = 0; i < 4; i++) {
		char label[32];
		snprintf(label, sizeof label, "item %d", i);
		items[i] = item("{},", label);
	}
	signed char v[4];
	struct sink_batch b = { items, 4, 0, v, NULL };
	char why[256];
	int64_t ra = -1;
	memset(v, DELIVERY_UNSET, sizeof v);
	struct http_response r =
	    reply(200, "[{\"status\":202},{\"status\":202},{\"status\":202},{\"status\":202}]");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_OK);
	CHECK(v[0] == DELIVERY_OK && v[3] == DELIVERY_OK);

	r = reply(200, "[{\"status\":202},{\"status\":429,\"error\":\"rate limited\"},"
	               "{\"status\":400,\"error\":\"Event has too many columns.\"},{\"status\":503}]");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_OK);
	CHECK_INT(v[0], DELIVERY_OK);
	CHECK_INT(v[1], DELIVERY_RETRY);
	CHECK_INT(v[2], DELIVERY_DROP);
	CHECK_INT(v[3], DELIVERY_RETRY);
	CHECK_STR(why, "event HTTP 429 rate limited");

	/* a reply that does not match the batch, or was cut short, is not trusted */
	memset(v, DELIVERY_UNSET, sizeof v);
	r = reply(200, "[{\"status\":202}]");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	CHECK_INT(v[0], DELIVERY_UNSET);
	r = reply(200, "{\"status\":202}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	r = reply(200, "[{\"status\":202},{},{\"status\":\"x\"},{\"status\":202}]");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_OK);
	CHECK(v[1] == DELIVERY_RETRY && v[2] == DELIVERY_RETRY); /* no status: sent again */
	memset(v, DELIVERY_UNSET, sizeof v);
	r = reply(200, "[{\"status\":202},{\"status\":202},{\"status\":202},{\"status\":202}]");
	r.body_truncated = true;
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);

	/* whole requests */
	r = reply(401, "{\"error\":\"unknown API key - check your credentials\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_DROP);
	CHECK(strstr(why, "401") && strstr(why, "write key") && strstr(why, "unknown API key"));
	r = reply(413, "{\"error\":\"request body too large\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_SPLIT);
	r = reply(400, "{\"error\":\"Request body is malformed and cannot be read.\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_SPLIT);
	b.n = 1;
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_DROP);
	b.n = 4;
	r = reply(429, "");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	r = reply(503, "");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	r = reply(403, "{\"error\":\"throttled\"}");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_DROP);
	r = reply(0, "");
	r.error = 7;
	r.error_text = "connection refused or unreachable";
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	for (int i = 0; i < 4; i++)
		free(items[i]);
	sink_destroy(s);
}

const struct test_case test_datasinks[] = {
	TEST(line_protocol_escaping),
	TEST(influx_points_like_upstream),
	TEST(influx_bad_parameters),
	TEST(influx_write_verdicts),
	TEST(es_documents_like_upstream),
	TEST(es_bad_parameters),
	TEST(es_bulk_verdicts),
	TEST(hc_events_like_upstream),
	TEST(hc_batch_request),
	TEST(hc_parameters),
	TEST(hc_samplerate),
	TEST(hc_batch_verdicts),
	TEST_END,
};
