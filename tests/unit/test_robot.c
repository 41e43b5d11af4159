/* Unit tests for the robot helpers: DingTalk's signature and UTF-8-safe truncation. */
#include "sinks/robot.h"
#include "test.h"

static void dingtalk_signature_check_value(void)
{
	/* KUBE-EVENTER.md: secret SECabc, timestamp 1700000000000 */
	struct buf b = BUF_INIT(256);
	dingtalk_sign("SECabc", 1700000000000LL, &b);
	CHECK_STR(buf_str(&b), "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM=");
	buf_free(&b);
}

static void truncation_keeps_utf8_whole(void)
{
	struct buf b = BUF_INIT(64);
	/* "中" is 3 bytes: 4 of them = 12 bytes; cut to 8 must not split one */
	const char *s = "\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad\xe4\xb8\xad";
	utf8_truncate(&b, s, 12, 8);
	/* 8 - 3 (ellipsis) = 5 bytes available: one whole character, then U+2026 */
	CHECK_STR(buf_str(&b), "\xe4\xb8\xad\xe2\x80\xa6");
	buf_reset(&b);
	utf8_truncate(&b, s, 12, 12);
	CHECK_INT(b.len, 12);
	buf_reset(&b);
	utf8_truncate(&b, "abcdef", 6, 5);
	CHECK_STR(buf_str(&b), "ab\xe2\x80\xa6");
	buf_free(&b);
}

const struct test_case test_robot[] = {
	TEST(dingtalk_signature_check_value),
	TEST(truncation_keeps_utf8_whole),
	TEST_END,
};
