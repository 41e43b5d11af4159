/* Unit tests for buf.c and util.c. */
#include "buf.h"
#include "test.h"
#include "util.h"

#include <stdlib.h>

static void ceiling_is_enforced(void)
{
	struct buf b = BUF_INIT(8);
	CHECK_INT(buf_puts(&b, "12345678"), 0);
	CHECK(!b.overflow);
	CHECK_INT(buf_putc(&b, '9'), -1);
	CHECK_STR(buf_str(&b), "12345678");
	CHECK(b.overflow); /* sticky: a caller may check once after many appends */
	CHECK_INT(buf_printf(&b, "%d", 1), -1);
	buf_reset(&b);
	CHECK(!b.overflow);
	/* a ceiling lowered under what was allocated still holds (one scratch, many sinks) */
	b.max = 3;
	CHECK_INT(buf_puts(&b, "abcd"), -1);
	CHECK_INT(buf_puts(&b, "abc"), 0);
	CHECK_INT(buf_putc(&b, 'd'), -1);
	CHECK_STR(buf_str(&b), "abc");
	buf_free(&b);
}

static void json_escape_controls_quotes_utf8(void)
{
	struct buf b = BUF_INIT(1024);
	CHECK_INT(buf_json_string(&b, "a\"b\\c\nd\te\x01 \xe4\xb8\xad \xff"), 0);
	CHECK_STR(buf_str(&b), "\"a\\\"b\\\\c\\nd\\te\\u0001 \xe4\xb8\xad \xef\xbf\xbd\"");
	buf_free(&b);
}

static void integers_in_decimal(void)
{
	struct buf b = BUF_INIT(64);
	buf_put_int(&b, 0);
	buf_putc(&b, ' ');
	buf_put_int(&b, -42);
	buf_putc(&b, ' ');
	buf_put_int(&b, INT64_MAX);
	buf_putc(&b, ' ');
	buf_put_int(&b, INT64_MIN);
	CHECK_STR(buf_str(&b), "0 -42 9223372036854775807 -9223372036854775808");
	buf_free(&b);
}

static void durations_follow_go(void)
{
	int64_t ms;
	CHECK_INT(parse_duration_ms("30s", &ms), 0);
	CHECK_INT(ms, 30000);
	CHECK_INT(parse_duration_ms("1m30s", &ms), 0);
	CHECK_INT(ms, 90000);
	CHECK_INT(parse_duration_ms("1.5h", &ms), 0);
	CHECK_INT(ms, 5400000);
	CHECK_INT(parse_duration_ms("250ms", &ms), 0);
	CHECK_INT(ms, 250);
	CHECK_INT(parse_duration_ms("0", &ms), 0);
	CHECK_INT(ms, 0);
	CHECK_INT(parse_duration_ms("10", &ms), -1);
	CHECK_INT(parse_duration_ms("", &ms), -1);
	CHECK_INT(parse_duration_ms("5x", &ms), -1);
	CHECK_INT(parse_duration_ms("s", &ms), -1);
}

static void integers_are_strict(void)
{
	int64_t v;
	CHECK_INT(parse_i64("123", 3, &v), 0);
	CHECK_INT(v, 123);
	CHECK_INT(parse_i64("-9223372036854775808", 20, &v), 0);
	CHECK_INT(parse_i64("9223372036854775808", 19, &v), -1);
	CHECK_INT(parse_i64("12a", 3, &v), -1);
	CHECK_INT(parse_i64("", 0, &v), -1);
}

const struct test_case test_buf[] = {
	TEST(ceiling_is_enforced), TEST(json_escape_controls_quotes_utf8),
	TEST(integers_in_decimal), TEST(durations_follow_go),
	TEST(integers_are_strict), TEST_END,
};
