/* Unit tests for the health endpoint's request parser (every split point). */
#include "health.h"
#include "test.h"

static void parses_and_needs_more(void)
{
	const char *req = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8084\r\nAccept: */*\r\n\r\n";
	size_t len = strlen(req);
	struct http_request_line r;
	CHECK_INT(health_parse_request(req, len, &r), (int)len);
	CHECK_STR(r.method, "GET");
	CHECK_STR(r.path, "/metrics");
	CHECK_INT(r.minor, 1);
	for (size_t i = 0; i < len; i++)
		CHECK_INT(health_parse_request(req, i, &r), -2);
	const char *lf = "HEAD /healthz HTTP/1.0\n\n";
	CHECK_INT(health_parse_request(lf, strlen(lf), &r), (int)strlen(lf));
	CHECK_STR(r.method, "HEAD");
}

static void rejects_garbage(void)
{
	struct http_request_line r;
	const char *bad[] = {
		"GET  HTTP/1.1\r\n\r\n",          /* empty target */
		"GET http://x/ HTTP/1.1\r\n\r\n", /* absolute form */
		"GET / HTTP/2.0\r\n\r\n",         "GET / HTTP/1.1\r\nno colon\r\n\r\n",
		"G\x01T / HTTP/1.1\r\n\r\n",      "GET /a\x7f HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\n: v\r\n\r\n",  "\x16\x03\x01\x02\x00\x01", /* a TLS ClientHello */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_INT(health_parse_request(bad[i], strlen(bad[i]), &r), -1);
	char big[HEALTH_MAX_REQ + 64];
	memset(big, 'a', sizeof big);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	CHECK_INT(health_parse_request(big, sizeof big, &r), -1);
}

const struct test_case test_health[] = {
	TEST(parses_and_needs_more),
	TEST(rejects_garbage),
	TEST_END,
};
