/* Unit tests for stream.c: the watch line splitter and the JSON value scanner. */
#include "stream.h"
#include "test.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

struct seen {
	int n;
	char out[8][256];
	enum jscan_kind kind[8];
};

static void on_line(void *ctx, const char *p, size_t n)
{
	struct seen *s = ctx;
	if (s->n < 8)
		snprintf(s->out[s->n], sizeof s->out[0], "%.*s", (int)n, p);
	s->n++;
}

static void on_value(void *ctx, enum jscan_kind kind, const char *p, size_t n)
{
	struct seen *s = ctx;
	if (s->n < 8) {
		snprintf(s->out[s->n], sizeof s->out[0], "%.*s", (int)n, p);
		s->kind[s->n] = kind;
	}
	s->n++;
}

static void lines_every_split_point(void)
{
	const char *in = "{\"a\":1}\n{\"b\":\"x\\ny\"}\r\n\n{\"c\":3}\n";
	size_t len = strlen(in);
	for (size_t cut = 0; cut <= len; cut++) {
		struct seen s = { 0 };
		struct lines l;
		lines_init(&l, 64, on_line, &s);
		lines_feed(&l, in, cut);
		lines_feed(&l, in + cut, len - cut);
		CHECK_INT(s.n, 3);
		CHECK_STR(s.out[0], "{\"a\":1}");
		CHECK_STR(s.out[1], "{\"b\":\"x\\ny\"}");
		CHECK_STR(s.out[2], "{\"c\":3}");
		lines_free(&l);
	}
}

static void lines_byte_at_a_time(void)
{
	const char *in = "one\ntwo\nthree";
	struct seen s = { 0 };
	struct lines l;
	lines_init(&l, 64, on_line, &s);
	for (size_t i = 0; in[i]; i++)
		lines_feed(&l, in + i, 1);
	CHECK_INT(s.n, 2); /* "three" is incomplete */
	lines_feed(&l, "\n", 1);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.out[2], "three");
	lines_free(&l);
}

static void lines_oversized_are_skipped_and_counted(void)
{
	struct seen s = { 0 };
	struct lines l;
	lines_init(&l, 8, on_line, &s);
	lines_feed(&l, "short\n0123456", 13);
	lines_feed(&l, "789abcdef", 9); /* over the ceiling mid-line */
	lines_feed(&l, "tail\nok\n", 8);
	CHECK_INT(s.n, 2);
	CHECK_STR(s.out[0], "short");
	CHECK_STR(s.out[1], "ok");
	CHECK_INT(l.oversized, 1);
	CHECK(l.buf.cap <= 9);
	lines_free(&l);
}

static void lines_reset_drops_partial(void)
{
	struct seen s = { 0 };
	struct lines l;
	lines_init(&l, 64, on_line, &s);
	lines_feed(&l, "{\"half", 6);
	lines_reset(&l);
	lines_feed(&l, "{}\n", 3);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.out[0], "{}");
	lines_free(&l);
}

static void jscan_list_items_and_meta(void)
{
	const char *in = "{\"kind\":\"EventList\",\"metadata\":{\"resourceVersion\":\"9\","
	                 "\"continue\":\"c}{\"},\"items\":[{\"a\":\"]\"},{\"b\":[1,{\"c\":2}]}]}";
	size_t len = strlen(in);
	for (size_t cut = 0; cut <= len; cut++) {
		struct seen s = { 0 };
		struct jscan j;
		jscan_init(&j, 256, on_value, &s);
		jscan_feed(&j, in, cut);
		jscan_feed(&j, in + cut, len - cut);
		CHECK_INT(s.n, 3);
		CHECK_INT(s.kind[0], JSCAN_ITEM);
		CHECK_STR(s.out[0], "{\"a\":\"]\"}");
		CHECK_INT(s.kind[1], JSCAN_ITEM);
		CHECK_STR(s.out[1], "{\"b\":[1,{\"c\":2}]}");
		CHECK_INT(s.kind[2], JSCAN_META);
		CHECK_STR(s.out[2], "{\"resourceVersion\":\"9\",\"continue\":\"c}{\"}");
		jscan_free(&j);
	}
}

static void jscan_concatenated_pretty_values(void)
{
	const char *in = "{\n  \"type\": \"ADDED\",\n  \"object\": {\"x\": \"{\\\"\"}\n}\n"
	                 "{\"metadata\":{\"name\":\"e\"}}  {\"k\":[]}";
	size_t len = strlen(in);
	for (size_t cut = 0; cut <= len; cut++) {
		struct seen s = { 0 };
		struct jscan j;
		jscan_init(&j, 256, on_value, &s);
		jscan_feed(&j, in, cut);
		jscan_feed(&j, in + cut, len - cut);
		CHECK_INT(s.n, 3);
		CHECK_INT(s.kind[0], JSCAN_VALUE);
		CHECK_STR(s.out[0], "{\n  \"type\": \"ADDED\",\n  \"object\": {\"x\": \"{\\\"\"}\n}");
		CHECK_INT(s.kind[1], JSCAN_VALUE); /* metadata of a non-list is not META */
		CHECK_STR(s.out[1], "{\"metadata\":{\"name\":\"e\"}}");
		CHECK_STR(s.out[2], "{\"k\":[]}");
		jscan_free(&j);
	}
}

static void jscan_oversized_item_skipped(void)
{
	struct seen s = { 0 };
	struct jscan j;
	jscan_init(&j, 16, on_value, &s);
	const char *in = "{\"items\":[{\"a\":\"0123456789012345678901234\"},{\"b\":1}]}";
	jscan_feed(&j, in, strlen(in));
	CHECK_INT(s.n, 1);
	CHECK_STR(s.out[0], "{\"b\":1}");
	CHECK_INT(j.oversized, 1);
	jscan_free(&j);
}

static void jscan_counts_openshift_fixture(void)
{
	/* The recorded OpenShift list holds 5302 events. */
	FILE *f = popen("gzip -dc " FIXTURE("fixtures/events/openshift-azure-events.json.gz"), "r");
	CHECK(f != NULL);
	struct seen s = { 0 };
	struct jscan j;
	jscan_init(&j, 1 << 20, on_value, &s);
	char chunk[1000]; /* odd size: items straddle chunks */
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		jscan_feed(&j, chunk, n);
	pclose(f);
	CHECK_INT(s.n, 5302 + 1); /* items + the list's metadata */
	CHECK_INT(j.oversized, 0);
	CHECK_INT(j.garbage, 0);
	jscan_free(&j);
}

const struct test_case test_stream[] = {
	TEST(lines_every_split_point),
	TEST(lines_byte_at_a_time),
	TEST(lines_oversized_are_skipped_and_counted),
	TEST(lines_reset_drops_partial),
	TEST(jscan_list_items_and_meta),
	TEST(jscan_concatenated_pretty_values),
	TEST(jscan_oversized_item_skipped),
	TEST(jscan_counts_openshift_fixture),
	TEST_END,
};
