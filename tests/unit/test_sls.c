/*
 * The sls sink's wire pieces: signatures against vectors computed by other
 * implementations, the LogGroup encoding byte for byte, LZ4 round trips,
 * and the credential and error documents.
 *
 * Signature vectors:
 * - sign_v4_sdk_vectors / sign_v1_sdk_vectors: the expected Authorization
 *   values of aliyun-log-go-sdk's own tests (signature_v4_test.go,
 *   TestSignV4Case1..5 and TestSignV1Case1..2), with their inputs.
 * - sign_v4_putlogs_request: a PutLogs request as the sink signs it, the
 *   expected value computed by the Python signer of tests/emu/sls.py
 *   (sign_v4(), written from the SDK's Go code, not from ours):
 *     python3 tests/emu/sls.py --sign-vector
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "sinks/sls.h"
#include "test.h"

static const char *sha_hex(const void *p, size_t n, char out[65])
{
	uint8_t d[32];
	struct buf b = BUF_INIT(64);
	sha256(p, n, d);
	hex_encode(&b, d, 32, false);
	memcpy(out, b.data, 65);
	buf_free(&b);
	return out;
}

/* SignerV4Suite.SetupTest's inputs; sha is x-log-content-sha256. */
static size_t sdk_headers(struct sls_kv *h, const char *sha)
{
	struct sls_kv v[] = {
		{ "hello", "world" },
		{ "hello-Text", "a12X- " },
		{ " Ko ", "" },
		{ "", "AA" },
		{ "x-log-test", "het123" },
		{ "x-acs-ppp", "dds" },
		{ "x-log-date", "20220808T032330Z" },
		{ "x-log-content-sha256", sha },
	};
	memcpy(h, v, sizeof v);
	return ARRAY_LEN(v);
}

static const struct sls_kv sdk_query[] = {
	{ " abc", "efg" },
	{ " agc ", "" },
	{ "", "efg" },
	{ "A-bc", "eFg" },
	{ "abs-ij*asd/vc", "a~js+d ada" },
	{ "a abAas123/vc", "a~jdad a2ADFs+d ada" },
};

static void sign_v4_sdk_vectors(void)
{
	struct sls_kv h[8];
	struct buf out = BUF_INIT(1024);
	char sha[65], empty[65];
	const char *body = "adasd= -asd zcas";
	const char *prefix = "SLS4-HMAC-SHA256 Credential=acsddda21dsd/20220808/";
	sha_hex(body, strlen(body), sha);
	sha_hex("", 0, empty);

	/* Case1 */
	size_t nh = sdk_headers(h, sha);
	CHECK_INT(sls_sign_v4(&out, "POST", "/logstores", sdk_query, 4, h, nh, sha, "20220808T032330Z",
	                      "cn-hangzhou", "acsddda21dsd", "zxasdasdasw2", NULL),
	          0);
	CHECK(str_starts(buf_str(&out), prefix));
	CHECK_STR(buf_str(&out) + strlen(prefix),
	          "cn-hangzhou/sls/aliyun_v4_request,"
	          "Signature=a98f5632e93836e63839cd836a54055f480020a9364ca944e2d34f2eb9bf1bed");
	/* Case2: no query, only x-log-date, region cn-shanghai */
	struct sls_kv h2[] = { { "x-log-date", "20220808T032330Z" }, { "x-log-content-sha256", sha } };
	buf_reset(&out);
	CHECK_INT(sls_sign_v4(&out, "POST", "/logstores", NULL, 0, h2, 2, sha, "20220808T032330Z",
	                      "cn-shanghai", "acsddda21dsd", "zxasdasdasw2", NULL),
	          0);
	CHECK_STR(buf_str(&out) + strlen(prefix),
	          "cn-shanghai/sls/aliyun_v4_request,"
	          "Signature=8a10a5e723cb2e75964816de660b2c16a58af8bc0261f7f0722d832468c76ce8");
	/* Case3: empty body; Case4: and GET */
	nh = sdk_headers(h, empty);
	buf_reset(&out);
	CHECK_INT(sls_sign_v4(&out, "POST", "/logstores", sdk_query, 4, h, nh, empty, "20220808T032330Z",
	                      "cn-hangzhou", "acsddda21dsd", "zxasdasdasw2", NULL),
	          0);
	CHECK(str_ends(buf_str(&out), "5a66d8f8051983e0e9d08e0f960ef9252ef971eead5bb5c7acec8617a2eb2701"));
	buf_reset(&out);
	CHECK_INT(sls_sign_v4(&out, "GET", "/logstores", sdk_query, 4, h, nh, empty, "20220808T032330Z",
	                      "cn-hangzhou", "acsddda21dsd", "zxasdasdasw2", NULL),
	          0);
	CHECK(str_ends(buf_str(&out), "d92741852500791d662a8d469ff61627c0559ecd86c3f59b7bf6772b6c62666a"));
	/* Case5: a path with reserved characters (Go's EscapedPath keeps "+*~" as they are) and more query */
	nh = sdk_headers(h, sha);
	buf_reset(&out);
	CHECK_INT(sls_sign_v4(&out, "POST", "/logstores/hello/a+*~bb/cc", sdk_query, 6, h, nh, sha,
	                      "20220808T032330Z", "cn-hangzhou", "acsddda21dsd", "zxasdasdasw2", NULL),
	          0);
	CHECK(str_ends(buf_str(&out), "2c204068e961a8813a6bcf7ac422f7fa6e9bf9a5da493e0165dfe100854d18ff"));
	buf_free(&out);
}

static void percent_encoding_like_go(void)
{
	struct buf b = BUF_INIT(1024);
	/* SignerV4Suite.TestSignV4Case6 */
	sls_percent_encode(&b, "123abc!@#$%^&*()-=_+ ~|\\/");
	CHECK_STR(buf_str(&b), "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F");
	buf_reset(&b);
	sls_percent_encode(&b, "\xe4\xbd\xa0\xe5\xa5\xbd\xe2\x9d\xa4");
	CHECK_STR(buf_str(&b), "%E4%BD%A0%E5%A5%BD%E2%9D%A4");
	buf_free(&b);
}

static void sign_v1_sdk_vectors(void)
{
	struct buf out = BUF_INIT(1024);
	const char *date = "Mon, 3 Jan 2010 08:33:47 GMT";
	struct sls_kv h1[] = { { "x-log-apiversion", "0.6.0" },
		               { "x-log-signaturemethod", "hmac-sha1" },
		               { "x-log-bodyrawsize", "0" },
		               { "Date", date } };
	CHECK_INT(sls_sign_v1(&out, "GET", "", "", date, h1, 4, "/logstores", "mockAccessKeyID",
	                      "mockAccessKeySecret"),
	          0);
	CHECK_STR(buf_str(&out), "LOG mockAccessKeyID:Rwm6cTKzoti4HWoe+GKcb6Kv07E=");

	static const unsigned char body[] = { 10,  50, 10,  30,  8,   248, 178, 147, 158, 5,  18, 22,  10,
		                              7,   84, 101, 115, 116, 75,  101, 121, 18,  11, 84, 101, 115,
		                              116, 67, 111, 110, 116, 101, 110, 116, 26,  0,  34, 14,  49,
		                              48,  46, 50,  51,  48,  46,  50,  48,  49,  46, 49, 49,  55 };
	uint8_t d[16];
	struct buf m = BUF_INIT(64);
	md5(body, sizeof body, d);
	hex_encode(&m, d, 16, true);
	struct sls_kv h2[] = { { "x-log-apiversion", "0.6.0" },
		               { "x-log-signaturemethod", "hmac-sha1" },
		               { "x-log-bodyrawsize", "50" },
		               { "Content-MD5", buf_str(&m) },
		               { "Content-Type", "application/x-protobuf" },
		               { "Content-Length", "50" },
		               { "Date", date } };
	buf_reset(&out);
	CHECK_INT(sls_sign_v1(&out, "GET", buf_str(&m), "application/x-protobuf", date, h2, 7,
	                      "/logstores/app_log", "mockAccessKeyID", "mockAccessKeySecret"),
	          0);
	CHECK_STR(buf_str(&out), "LOG mockAccessKeyID:87xQWqFaOSewqRIma8kPjGYlXHc=");
	buf_free(&m);
	buf_free(&out);
}

static void sign_v4_putlogs_request(void)
{
	/* python3 tests/emu/sls.py --sign-vector prints the same inputs and its answer */
	struct sls_kv h[] = {
		{ "Host", "k8s-events.cn-hangzhou-intranet.log.aliyuncs.com" },
		{ "Content-Type", "application/x-protobuf" },
		{ "x-log-apiversion", "0.6.0" },
		{ "x-log-compresstype", "lz4" },
		{ "x-log-bodyrawsize", "1234" },
		{ "x-log-date", "20240305T070809Z" },
		{ "x-log-content-sha256",
		  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" },
		{ "x-acs-security-token", "CAIS+token/with=odd chars" },
		{ "User-Agent", "ack-kube-eventer" },
	};
	struct buf out = BUF_INIT(1024), canon = BUF_INIT(4096);
	CHECK_INT(sls_sign_v4(&out, "POST", "/logstores/kube-events", NULL, 0, h, ARRAY_LEN(h),
	                      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	                      "20240305T070809Z", "cn-hangzhou", "STS.testAccessKeyId",
	                      "testSecret/+=", &canon),
	          0);
	CHECK_STR(buf_str(&canon),
	          "POST\n/logstores/kube-events\n\n"
	          "content-type:application/x-protobuf\n"
	          "host:k8s-events.cn-hangzhou-intranet.log.aliyuncs.com\n"
	          "x-acs-security-token:CAIS+token/with=odd chars\n"
	          "x-log-apiversion:0.6.0\nx-log-bodyrawsize:1234\nx-log-compresstype:lz4\n"
	          "x-log-content-sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
	          "x-log-date:20240305T070809Z\n\n"
	          "content-type;host;x-acs-security-token;x-log-apiversion;x-log-bodyrawsize;"
	          "x-log-compresstype;x-log-content-sha256;x-log-date\n"
	          "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	CHECK_STR(buf_str(&out), "SLS4-HMAC-SHA256 Credential=STS.testAccessKeyId/20240305/cn-hangzhou/sls/"
	                         "aliyun_v4_request,Signature="
	                         "6df33c39d88d6413fede4e263a3c0c38b6e3846d37b9c9c3bea78480cc03ba1c");
	buf_free(&out);
	buf_free(&canon);
}

/* The LogGroup inside aliyun-log-go-sdk's TestSignV1Case2 body (gogo-protobuf's encoding). */
static void log_group_bytes_like_the_sdk(void)
{
	static const unsigned char want[] = { 10,  30,  8,   248, 178, 147, 158, 5,  18, 22,  10,  7,   84,
		                              101, 115, 116, 75,  101, 121, 18,  11, 84, 101, 115, 116, 67,
		                              111, 110, 116, 101, 110, 116, 26,  0,  34, 14,  49,  48,  46,
		                              50,  51,  48,  46,  50,  48,  49,  46, 49, 49,  55 };
	struct buf b = BUF_INIT(4096);
	struct sls_content c = { "TestKey", "TestContent", 11 };
	CHECK_INT(sls_log_entry(&b, 1405409656, &c, 1), 0);
	CHECK_INT(sls_group_tail(&b, "", "10.230.201.117"), 0);
	CHECK_INT(b.len, sizeof want);
	CHECK(memcmp(b.data, want, sizeof want) == 0);

	/* lengths past one varint byte, an empty value, a key with UTF-8 */
	buf_reset(&b);
	char big[300];
	memset(big, 'x', sizeof big);
	struct sls_content cs[] = { { "eventId", big, sizeof big },
		                    { "hostname", "", 0 },
		                    { "\xc3\xa9", "v", 1 } };
	CHECK_INT(sls_log_entry(&b, 1709622489, cs, 3), 0);
	/* Log = Time (1+5) + eventId (3+312) + hostname (2+12) + the third (2+7) = 344 */
	CHECK_INT(b.len, 3 + 344);
	CHECK(memcmp(b.data, "\x0a\xd8\x02\x08", 4) == 0);
	CHECK(memcmp(b.data + 9,
	             "\x12\xb8\x02\x0a\x07"
	             "eventId\x12\xac\x02xxx",
	             18) == 0);
	CHECK(memcmp(b.data + 9 + 315, "\x12\x0c\x0a\x08hostname\x12\x00", 14) == 0);
	CHECK(memcmp(b.data + b.len - 9, "\x12\x07\x0a\x02\xc3\xa9\x12\x01v", 9) == 0);
	buf_free(&b);
}

static void lz4_round_trip(void)
{
	struct buf raw = BUF_INIT(1 << 20), z = BUF_INIT(2 << 20);
	for (int i = 0; i < 5000; i++)
		buf_printf(&raw, "{\"reason\":\"BackOff\",\"n\":%d}\n", i % 37);
	CHECK_INT(sls_lz4(raw.data, raw.len, &z), 0);
	CHECK(z.len < raw.len / 4);
	char *back = malloc(raw.len);
	CHECK_INT(LZ4_decompress_safe(z.data, back, (int)z.len, (int)raw.len), (int)raw.len);
	CHECK(memcmp(back, raw.data, raw.len) == 0);
	free(back);
	/* incompressible and empty input still make valid blocks */
	buf_reset(&raw);
	for (int i = 0; i < 1000; i++)
		buf_putc(&raw, (char)(random_u64() & 0xff));
	CHECK_INT(sls_lz4(raw.data, raw.len, &z), 0);
	CHECK(z.len > raw.len && z.len <= (size_t)LZ4_compressBound((int)raw.len));
	CHECK_INT(sls_lz4("", 0, &z), 0);
	CHECK_INT(z.len, 1);
	/* an output buffer that cannot hold the bound */
	struct buf small = BUF_INIT(16);
	CHECK_INT(sls_lz4(raw.data, raw.len, &small), -1);
	buf_free(&raw);
	buf_free(&z);
	buf_free(&small);
}

/* token-config fields made with: printf '%s' VALUE | openssl enc -aes-128-cbc
 * -K <hex of the keyring> -iv <IV>, then base64(IV || ciphertext). */
static const char token_config[] =
    "{\"access.key.id\":\"rVt8UhGDJ+cz7JEKwX4wHQPCBZNHGmUHAVx1P04iIBY=\","
    "\"access.key.secret\":\"8UXMTdDAFUHxsWCPLWGbsECnOBOkLC612mXkr2vaGf8VXu6VSB1zMWIOaDRDiMft\","
    "\"security.token\":\"LnrzEQKu1AMl1FWo+z+/XKbmRzb/537jgpStiNYK+89jrM/zHGlDwdB08OlJ8xPE\","
    "\"expiration\":\"2024-03-05T08:08:09Z\",\"keyring\":\"0123456789abcdef\"}";

static void token_config_file(void)
{
	struct sls_creds c;
	char err[256];
	CHECK_INT(sls_parse_token_config(token_config, strlen(token_config), &c, err, sizeof err), 0);
	CHECK_STR(c.id, "STS.NTestKeyId");
	CHECK_STR(c.secret, "TestKeySecret/+=");
	CHECK_STR(c.token, "CAIS.test-security-token");
	CHECK_INT(c.expires_ms, 1709626089000LL);
	sls_creds_free(&c);

	/* a wrong keyring, a missing field, bad base64, a bad time: errors naming the field only */
	struct {
		const char *from, *to, *want;
	} bad[] = {
		{ "0123456789abcdef\"}", "0123456789abcdeX\"}", "cannot be decrypted" },
		{ "0123456789abcdef\"}", "0123456789\"}", "keyring" },
		{ "\"security.token\"", "\"security.tokens\"", "no \"security.token\"" },
		{ "rVt8UhGDJ+cz", "rVt8UhGDJ!cz", "\"access.key.id\" is not base64" },
		{ "2024-03-05T08:08:09Z", "2024-03-05 08:08", "expiration" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct buf j = BUF_INIT(8192);
		const char *at = strstr(token_config, bad[i].from);
		CHECK(at);
		buf_append(&j, token_config, (size_t)(at - token_config));
		buf_puts(&j, bad[i].to);
		buf_puts(&j, at + strlen(bad[i].from));
		err[0] = '\0';
		CHECK_INT(sls_parse_token_config(j.data, j.len, &c, err, sizeof err), -1);
		CHECK(strstr(err, bad[i].want));
		CHECK(!strstr(err, "TestKeySecret") && !strstr(err, "0123456789"));
		CHECK(!c.id && !c.secret && !c.token);
		buf_free(&j);
	}
	CHECK_INT(sls_parse_token_config("[]", 2, &c, err, sizeof err), -1);
}

static void role_credentials(void)
{
	struct sls_creds c;
	char err[256];
	const char *ok = "{\"AccessKeyId\":\"STS.id\",\"AccessKeySecret\":\"sec\",\"SecurityToken\":\"tok\","
	                 "\"Expiration\":\"2024-03-05T08:08:09Z\",\"LastUpdated\":\"2024-03-05T07:08:09Z\","
	                 "\"Code\":\"Success\"}";
	CHECK_INT(sls_parse_role_creds(ok, strlen(ok), &c, err, sizeof err), 0);
	CHECK_STR(c.id, "STS.id");
	CHECK_STR(c.secret, "sec");
	CHECK_STR(c.token, "tok");
	CHECK_INT(c.expires_ms, 1709626089000LL);
	sls_creds_free(&c);
	const char *failed = "{\"Code\":\"Failed\",\"AccessKeyId\":\"x\",\"AccessKeySecret\":\"y\"}";
	CHECK_INT(sls_parse_role_creds(failed, strlen(failed), &c, err, sizeof err), -1);
	CHECK(strstr(err, "Failed"));
	const char *noexp = "{\"AccessKeyId\":\"x\",\"AccessKeySecret\":\"y\"}";
	CHECK_INT(sls_parse_role_creds(noexp, strlen(noexp), &c, err, sizeof err), -1);
	CHECK(strstr(err, "Expiration"));
	CHECK_INT(sls_parse_role_creds("not json", 8, &c, err, sizeof err), -1);
}

static void error_replies(void)
{
	char code[64], msg[256];
	const char *b = "{\"errorCode\":\"WriteQuotaExceed\",\"errorMessage\":\"Write quota is exceeded.\"}";
	CHECK_INT(sls_parse_error(b, strlen(b), code, sizeof code, msg, sizeof msg), 0);
	CHECK_STR(code, "WriteQuotaExceed");
	CHECK_STR(msg, "Write quota is exceeded.");
	CHECK_INT(sls_parse_error("<html>502</html>", 16, code, sizeof code, msg, sizeof msg), -1);
	CHECK_STR(code, "");
	CHECK_STR(msg, "");
}

const struct test_case test_sls[] = {
	TEST(sign_v4_sdk_vectors),
	TEST(percent_encoding_like_go),
	TEST(sign_v1_sdk_vectors),
	TEST(sign_v4_putlogs_request),
	TEST(log_group_bytes_like_the_sdk),
	TEST(lz4_round_trip),
	TEST(token_config_file),
	TEST(role_credentials),
	TEST(error_replies),
	TEST_END,
};
