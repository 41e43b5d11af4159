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
#include "event.h"
#include "http.h"
#include "sink.h"
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

/* --- the sink through its type's table ------------------------------------------------ */

static const char event_json[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-1.17b\",\"namespace\":\"shop\","
    "\"uid\":\"e-uid-1\",\"resourceVersion\":\"4711\",\"creationTimestamp\":\"2024-03-05T07:00:00Z\"},"
    "\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-1\",\"uid\":\"pod-uid\","
    "\"apiVersion\":\"v1\"},\"reason\":\"BackOff\",\"message\":\"Back-off <x> & \\\"y\\\"\","
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

/* A protobuf reader for the tests: the next field of [*p, end). 0, or -1 at the end / on bad input. */
static int next_field(const unsigned char **p, const unsigned char *end, unsigned *field, uint64_t *v,
                      const unsigned char **data)
{
	uint64_t key = 0, len = 0;
	int shift = 0;
	if (*p >= end)
		return -1;
	do
		key |= (uint64_t)(**p & 0x7f) << shift, shift += 7;
	while (*(*p)++ & 0x80 && *p < end);
	*field = (unsigned)(key >> 3);
	shift = 0;
	do
		len |= (uint64_t)(**p & 0x7f) << shift, shift += 7;
	while (*(*p)++ & 0x80 && *p < end);
	if ((key & 7) == 0) {
		*v = len;
		return 0;
	}
	if ((key & 7) != 2 || len > (uint64_t)(end - *p))
		return -1;
	*v = len;
	*data = *p;
	*p += len;
	return 0;
}

/* The contents of one rendered item ("0A len Log"), as "key=value\n" lines, and its Time. */
static int item_contents(const char *item, size_t n, struct buf *out, uint64_t *time)
{
	const unsigned char *p = (const unsigned char *)item, *end = p + n, *log, *c, *kv;
	unsigned f;
	uint64_t len;
	if (next_field(&p, end, &f, &len, &log) < 0 || f != 1 || p != end)
		return -1;
	const unsigned char *lp = log, *lend = log + len;
	while (next_field(&lp, lend, &f, &len, &c) == 0) {
		if (f == 1) {
			*time = len;
			continue;
		}
		const unsigned char *cp = c, *cend = c + len;
		for (int i = 0; i < 2; i++) {
			if (next_field(&cp, cend, &f, &len, &kv) < 0 || f != (unsigned)i + 1)
				return -1;
			buf_append(out, kv, len);
			buf_putc(out, i ? '\n' : '=');
		}
	}
	return 0;
}

static void sls_logs_like_upstream(void)
{
	struct event ev;
	CHECK_INT(decode(&ev), 0);
	struct sink *s =
	    make("sls:https://sls.aliyuncs.com?project=k8s-log&logStore=events&regionId=cn-hangzhou"
	         "&accessKeyId=AK&accessKeySecret=SK&label=ClusterId,c-1&label=bad&label=Env,prod"
	         "&label=ClusterId,c-2");
	CHECK(s);
	struct buf b = BUF_INIT(1 << 20), got = BUF_INIT(1 << 20);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	uint64_t t = 0;
	CHECK_INT(item_contents(b.data, b.len, &got, &t), 0);
	CHECK_INT(t, 1709683199); /* lastTimestamp */
	/* eventId: the whole event as Go's MarshalIndent(ev, "", " ") */
	const char *want =
	    "eventId={\n \"metadata\": {\n  \"name\": \"web-1.17b\",\n  \"namespace\": \"shop\",";
	CHECK(str_starts(buf_str(&got), want));
	/* (the shared event JSON keeps <>& as they are; Go writes \u003c \u003e \u0026: same value) */
	CHECK(strstr(buf_str(&got), "\"message\": \"Back-off <x> & \\\"y\\\"\",\n"));
	CHECK(str_ends(buf_str(&got),
	               "\n \"eventTime\": null\n}\nhostname=node 1\nlevel=Warning\npod_id=pod-uid\n"
	               "pod_name=web-1\nClusterId=c-2\nEnv=prod\n"));
	sink_destroy(s);

	/* event_id=uid: the uid, and the compact event under "event"; no pod keys for a Node */
	s = make(
	    "sls:?project=p&logStore=l&regionId=cn-hangzhou&accessKeyId=AK&accessKeySecret=SK&event_id=uid");
	CHECK(s);
	ev.involved.kind = "Node";
	buf_reset(&b);
	buf_reset(&got);
	CHECK_INT(s->type->render(s, &ev, &b, NULL, 0), 0);
	CHECK_INT(item_contents(b.data, b.len, &got, &t), 0);
	CHECK(str_starts(buf_str(&got), "eventId=e-uid-1\nevent={\"metadata\":{\"name\":\"web-1.17b\","));
	CHECK(str_ends(buf_str(&got), "}\nhostname=node 1\nlevel=Warning\n"));
	sink_destroy(s);
	buf_free(&b);
	buf_free(&got);
	event_free(&ev);
}

static void sls_bad_parameters(void)
{
	static const struct {
		const char *uri, *want;
	} bad[] = {
		{ "sls:?logStore=l", "project" },
		{ "sls:?project=p", "logStore" },
		{ "sls:?project=p.q&logStore=l", "project" },
		{ "sls:?project=p&logStore=l/x", "logStore" },
		{ "sls:?project=p&logStore=l&accessKeyId=AK", "accessKeySecret" },
		{ "sls:?project=p&logStore=l&accessKeySecret=SK", "accessKeyId" },
		{ "sls:?project=p&logStore=l&regionId=cn_hangzhou!", "regionId" },
		{ "sls:?project=p&logStore=l&batch_size=5000", "batch_size" },
		{ "sls:?project=p&logStore=l&batch_bytes=8388608", "batch_bytes" },
		{ "sls:?project=p&logStore=l&event_id=both", "event_id" },
		{ "sls:?project=p&logStore=l&sign_version=v2", "sign_version" },
		{ "sls:ftp://10.0.0.1?project=p&logStore=l", "http" },
	};
	char err[256];
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		struct sink *s = sink_create(bad[i].uri, 0, 30000, NULL, err, sizeof err);
		CHECK(!s);
		if (!strstr(err, bad[i].want))
			printf("#   %s: %s\n", bad[i].uri, err);
		CHECK(strstr(err, bad[i].want));
	}
	/* upstream's: a bad internal= is ignored; defaults are SLS's own ceilings */
	struct buf unknown = BUF_INIT(256);
	struct sink *s = sink_create("sls:?project=p&logStore=l&internal=yes&topic=t&bogus=1", 0, 30000,
	                             &unknown, err, sizeof err);
	CHECK(s);
	CHECK_STR(buf_str(&unknown), "bogus");
	CHECK_INT(s->cfg.batch_items, 4096);
	CHECK_INT(s->cfg.batch_bytes, 512 * 1024);
	CHECK_INT(s->cfg.repeat_interval_s, 0);
	sink_destroy(s);
	buf_free(&unknown);
}

/* prepare() for a one-item batch of a ready sink (a key pair and a region): the request. */
static int prepared(struct sink *s, struct sink_req *r, struct msg **m)
{
	struct event ev;
	struct buf b = BUF_INIT(1 << 20);
	char err[256];
	if (decode(&ev) < 0 || s->type->render(s, &ev, &b, err, sizeof err) < 0)
		return -1;
	*m = xcalloc(1, sizeof **m + b.len + 1);
	(*m)->len = (uint32_t)b.len;
	memcpy((*m)->body, b.data, b.len);
	buf_free(&b);
	event_free(&ev);
	static signed char v[1];
	static struct msg *items[1];
	items[0] = *m;
	struct sink_batch batch = { items, 1, (*m)->len, v, NULL };
	memset(r, 0, sizeof *r);
	buf_init(&r->scratch, 1 << 20);
	r->http.headers = r->headers;
	return s->type->prepare(s, &batch, r, err, sizeof err);
}

static const char *header(const struct sink_req *r, const char *name)
{
	for (size_t i = 0; i < r->http.nheaders; i++)
		if (strncmp(r->headers[i], name, strlen(name)) == 0 && r->headers[i][strlen(name)] == ':')
			return r->headers[i] + strlen(name) + 2;
	return NULL;
}

static void sls_endpoints_and_request(void)
{
	static const struct {
		const char *uri, *env, *url, *host;
	} cases[] = {
		/* upstream's manifests: the URL host is a placeholder; the region decides (intranet by
		   default) */
		{ "sls:https://sls.aliyuncs.com?regionId=cn-hangzhou", NULL,
		  "https://p.cn-hangzhou-intranet.log.aliyuncs.com/logstores/l",
		  "p.cn-hangzhou-intranet.log.aliyuncs.com" },
		{ "sls:https://cn-beijing.log.aliyuncs.com?regionId=cn-hangzhou&internal=false", NULL,
		  "https://p.cn-hangzhou.log.aliyuncs.com/logstores/l", "p.cn-hangzhou.log.aliyuncs.com" },
		/* ... and its region when none is given */
		{ "sls:https://cn-shanghai-internal.log.aliyuncs.com?internal=false", NULL,
		  "https://p.cn-shanghai.log.aliyuncs.com/logstores/l", "p.cn-shanghai.log.aliyuncs.com" },
		/* SLS_ENDPOINT verbatim: no scheme is plain HTTP, as upstream */
		{ "sls:?regionId=cn-hangzhou", "vpc-endpoint.example:8080",
		  "http://p.vpc-endpoint.example:8080/logstores/l", "p.vpc-endpoint.example:8080" },
		{ "sls:?regionId=cn-hangzhou", "https://sls.example/", "https://p.sls.example/logstores/l",
		  "p.sls.example" },
		/* a URL host of our own is the endpoint, beating SLS_ENDPOINT; an address is connected to as
		   is */
		{ "sls:https://log.corp.example?regionId=cn-hangzhou", "other.example",
		  "https://p.log.corp.example/logstores/l", "p.log.corp.example" },
		{ "sls:http://127.0.0.1:8080?regionId=cn-hangzhou", NULL, "http://127.0.0.1:8080/logstores/l",
		  "p.127.0.0.1:8080" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char uri[512];
		snprintf(uri, sizeof uri, "%s&project=p&logStore=l&accessKeyId=AK&accessKeySecret=SK",
		         cases[i].uri);
		if (cases[i].env)
			setenv("SLS_ENDPOINT", cases[i].env, 1);
		struct sink *s = make(uri);
		unsetenv("SLS_ENDPOINT");
		CHECK(s);
		struct sink_req r;
		struct msg *m = NULL;
		CHECK_INT(prepared(s, &r, &m), 0);
		CHECK_STR(r.http.url, cases[i].url);
		CHECK_STR(header(&r, "Host"), cases[i].host);
		if (i == 0) {
			/* the body: the item and Topic/Source, as one LZ4 block; what the headers say of it
			 */
			char *raw = malloc(m->len + 64);
			int n =
			    LZ4_decompress_safe(r.scratch.data, raw, (int)r.scratch.len, (int)m->len + 64);
			CHECK_INT(n, m->len + 4);
			CHECK(memcmp(raw, m->body, m->len) == 0 &&
			      memcmp(raw + m->len, "\x1a\x00\x22\x00", 4) == 0);
			free(raw);
			char num[32], sha[65];
			snprintf(num, sizeof num, "%d", n);
			CHECK_STR(header(&r, "x-log-bodyrawsize"), num);
			CHECK_STR(header(&r, "x-log-content-sha256"),
			          sha_hex(r.scratch.data, r.scratch.len, sha));
			CHECK_STR(header(&r, "x-log-compresstype"), "lz4");
			CHECK_STR(header(&r, "x-log-apiversion"), "0.6.0");
			CHECK_STR(header(&r, "Content-Type"), "application/x-protobuf");
			CHECK_STR(header(&r, "User-Agent"), "ack-kube-eventer");
			CHECK(!header(&r, "x-acs-security-token"));
			const char *date = header(&r, "x-log-date");
			CHECK(date && strlen(date) == 16 && date[8] == 'T' && date[15] == 'Z');
			char prefix[128];
			snprintf(prefix, sizeof prefix,
			         "SLS4-HMAC-SHA256 "
			         "Credential=AK/%.8s/cn-hangzhou/sls/aliyun_v4_request,Signature=",
			         date);
			CHECK(str_starts(header(&r, "Authorization"), prefix));
			CHECK_INT(strlen(header(&r, "Authorization")), strlen(prefix) + 64);
			CHECK_STR(r.http.capture_header, "x-log-requestid");
		}
		free(m);
		buf_free(&r.scratch);
		sink_destroy(s);
	}
	/* v1: Date, Content-MD5, the signature method, "LOG ak:sig" */
	struct sink *s = make("sls:?project=p&logStore=l&regionId=cn-hangzhou&accessKeyId=AK&accessKeySecret="
	                      "SK&sign_version=v1");
	CHECK(s);
	struct sink_req r;
	struct msg *m = NULL;
	CHECK_INT(prepared(s, &r, &m), 0);
	CHECK(str_starts(header(&r, "Authorization"), "LOG AK:"));
	CHECK_INT(strlen(header(&r, "Content-MD5")), 32);
	CHECK_STR(header(&r, "x-log-signaturemethod"), "hmac-sha1");
	CHECK(str_ends(header(&r, "Date"), " GMT"));
	CHECK(!header(&r, "x-log-date"));
	free(m);
	buf_free(&r.scratch);
	sink_destroy(s);
}

static struct http_response reply(long status, const char *body, const char *rid)
{
	struct http_response r = { .status = status,
		                   .body = body,
		                   .body_len = strlen(body),
		                   .retry_after_ms = -1,
		                   .captured = rid };
	return r;
}

static void sls_verdicts(void)
{
	struct sink *s =
	    make("sls:?project=p&logStore=l&regionId=cn-hangzhou&accessKeyId=AK&accessKeySecret=Secret123");
	CHECK(s);
	struct msg *items[4] = { NULL };
	signed char v[4];
	struct sink_batch b = { items, 4, 0, v, NULL }, one = { items, 1, 0, v, NULL };
	char why[256];
	int64_t ra = -1;
	static const struct {
		long status;
		const char *code;
		int many, alone;
	} cases[] = {
		{ 200, NULL, DELIVERY_OK, DELIVERY_OK },
		{ 503, "ServerBusy", DELIVERY_RETRY, DELIVERY_RETRY },
		{ 500, "InternalServerError", DELIVERY_RETRY, DELIVERY_RETRY },
		{ 403, "WriteQuotaExceed", DELIVERY_RETRY, DELIVERY_RETRY },
		{ 403, "ShardWriteQuotaExceed", DELIVERY_RETRY, DELIVERY_RETRY },
		{ 400, "RequestTimeExpired", DELIVERY_RETRY, DELIVERY_RETRY },
		{ 401, "SignatureNotMatch", DELIVERY_DROP, DELIVERY_DROP },
		{ 401, "Unauthorized", DELIVERY_DROP, DELIVERY_DROP },
		{ 403, "ProjectForbidden", DELIVERY_DROP, DELIVERY_DROP },
		{ 404, "LogStoreNotExist", DELIVERY_DROP, DELIVERY_DROP },
		{ 400, "PostBodyInvalid", DELIVERY_SPLIT, DELIVERY_DROP },
		{ 400, "InvalidKey", DELIVERY_SPLIT, DELIVERY_DROP },
		{ 400, "InvalidAPIVersion", DELIVERY_DROP, DELIVERY_DROP },
		{ 413, "PostBodyTooLarge", DELIVERY_SPLIT, DELIVERY_SPLIT },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char body[256] = "";
		if (cases[i].code)
			snprintf(body, sizeof body,
			         "{\"errorCode\":\"%s\",\"errorMessage\":\"no: Secret123\"}", cases[i].code);
		struct http_response r = reply(cases[i].status, body, "5F0A1B2C3D");
		memset(v, DELIVERY_UNSET, sizeof v);
		int got = s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra);
		if (got != cases[i].many)
			printf("#   HTTP %ld %s: %d\n", cases[i].status, cases[i].code, got);
		CHECK_INT(got, cases[i].many);
		CHECK_INT(s->type->classify(s, NULL, &r, &one, why, sizeof why, &ra), cases[i].alone);
		if (cases[i].code) {
			/* the server's code, message and request id; never the secret it may echo */
			char want[160];
			snprintf(want, sizeof want, "HTTP %ld %s: no: *** (request id 5F0A1B2C3D)",
			         cases[i].status, cases[i].code);
			CHECK_STR(why, want);
		}
	}
	struct http_response r = reply(502, "<html>bad gateway</html>", "");
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	CHECK(strstr(why, "HTTP 502") && strstr(why, "bad gateway"));
	r = reply(0, "", NULL);
	r.error = 7;
	r.error_text = "connection refused";
	CHECK_INT(s->type->classify(s, NULL, &r, &b, why, sizeof why, &ra), DELIVERY_RETRY);
	sink_destroy(s);
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
	TEST(sls_logs_like_upstream),
	TEST(sls_bad_parameters),
	TEST(sls_endpoints_and_request),
	TEST(sls_verdicts),
	TEST_END,
};
