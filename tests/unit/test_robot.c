/* Unit tests for the robot helpers: DingTalk's signature and UTF-8-safe truncation. */
#include "sinks/robot.h"
#include "test.h"

#include <string.h>

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

/* The HTTP verdict every HTTP sink shares, then the robots' errcode. */
static void replies_are_classified(void)
{
	static const int too_fast[] = { 45009, 0 }, token[] = { 42001, 40014, 0 };
	static const struct {
		long status;
		int error;
		const char *body;
		enum delivery want;
		bool token_expired;
		int64_t retry_after_ms; /* after the call, starting from -1 */
		const char *why;        /* a part of the reason */
	} cases[] = {
		{ 0, 7, "", DELIVERY_RETRY, false, -1, "refused" },
		{ 500, 0, "oops", DELIVERY_RETRY, false, -1, "HTTP 500" },
		{ 429, 0, "", DELIVERY_RETRY, false, -1, "HTTP 429" },
		{ 408, 0, "", DELIVERY_RETRY, false, -1, "HTTP 408" },
		{ 404, 0, "no such robot", DELIVERY_DROP, false, -1, "HTTP 404: no such robot" },
		{ 302, 0, "", DELIVERY_DROP, false, -1, "HTTP 302" },
		{ 200, 0, "{\"errcode\":0,\"errmsg\":\"ok\"}", DELIVERY_OK, false, -1, "" },
		{ 200, 0, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}", DELIVERY_RETRY, false,
		  60000, "errcode 45009: api freq out of limit" },
		{ 200, 0, "{\"errcode\":42001,\"errmsg\":\"access_token expired\"}", DELIVERY_RETRY, true, 0,
		  "errcode 42001" },
		{ 200, 0, "{\"errcode\":-1,\"errmsg\":\"system busy\"}", DELIVERY_RETRY, false, -1,
		  "errcode -1" },
		{ 200, 0, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}", DELIVERY_DROP, false, -1,
		  "errcode 93000" },
		{ 200, 0, "<html>", DELIVERY_DROP, false, -1, "unexpected reply: <html>" },
		{ 204, 0, "", DELIVERY_DROP, false, -1, "unexpected reply" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_response r = { .status = cases[i].status,
			                   .error = cases[i].error,
			                   .error_text = cases[i].error ? "connection refused" : NULL,
			                   .body = cases[i].body,
			                   .body_len = strlen(cases[i].body),
			                   .retry_after_ms = -1 };
		bool expired = !cases[i].token_expired;
		int64_t retry_after = -1;
		char why[256] = "";
		CHECK_INT(robot_classify(&r, too_fast, 60000, token, &expired, why, sizeof why, &retry_after),
		          cases[i].want);
		CHECK_INT(expired, cases[i].token_expired);
		CHECK_INT(retry_after, cases[i].retry_after_ms);
		if (!strstr(why, cases[i].why))
			test_fail(__FILE__, __LINE__, "case %zu: \"%s\" lacks \"%s\"", i, why, cases[i].why);
	}
}

const struct test_case test_robot[] = {
	TEST(replies_are_classified),
	TEST(dingtalk_signature_check_value),
	TEST(truncation_keeps_utf8_whole),
	TEST_END,
};
