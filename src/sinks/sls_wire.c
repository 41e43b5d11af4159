/*
 * sls_wire.c -- what an SLS PutLogs request is made of: the LogGroup
 * protobuf (hand-encoded: varints and length-delimited fields), its LZ4
 * block, and the two request signatures. See sinks/sls.h.
 *
 * Sources: log.proto of aliyun-log-go-sdk (LogGroup{1 Logs, 3 Topic,
 * 4 Source, 6 LogTags}, Log{1 Time, 2 Contents}, LogContent{1 Key,
 * 2 Value}); its signature_v4.go and signature.go for the signatures, whose
 * own test vectors tests/unit/test_sls.c replays.
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sinks/sls.h"
#include "util.h"

#define SIGN_MAX_HEADERS 32

/* --- protobuf ---------------------------------------------------------------- */

size_t pb_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int pb_varint(struct buf *b, uint64_t v)
{
	char tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (char)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (char)v;
	return buf_append(b, tmp, n);
}

int pb_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
	if (pb_varint(b, (uint64_t)field << 3 | 2) < 0 || pb_varint(b, n) < 0)
		return -1;
	return buf_append(b, p, n);
}

/* The size of a LogContent message. */
static size_t content_len(const struct sls_content *c)
{
	size_t k = strlen(c->key);
	return 1 + pb_varint_len(k) + k + 1 + pb_varint_len(c->value_len) + c->value_len;
}

int sls_log_entry(struct buf *b, uint32_t time, const struct sls_content *c, size_t n)
{
	size_t log_len = 1 + pb_varint_len(time);
	for (size_t i = 0; i < n; i++) {
		size_t cl = content_len(&c[i]);
		log_len += 1 + pb_varint_len(cl) + cl;
	}
	/* the sizes are known up front: one pass, no copies */
	if (pb_varint(b, 1 << 3 | 2) < 0 || pb_varint(b, log_len) < 0 || pb_varint(b, 1 << 3) < 0 ||
	    pb_varint(b, time) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (pb_varint(b, 2 << 3 | 2) < 0 || pb_varint(b, content_len(&c[i])) < 0 ||
		    pb_bytes(b, 1, c[i].key, strlen(c[i].key)) < 0 ||
		    pb_bytes(b, 2, c[i].value, c[i].value_len) < 0)
			return -1;
	}
	return 0;
}

int sls_group_tail(struct buf *b, const char *topic, const char *source)
{
	if (pb_bytes(b, 3, topic, strlen(topic)) < 0 || pb_bytes(b, 4, source, strlen(source)) < 0)
		return -1;
	return 0;
}

int sls_lz4(const void *raw, size_t n, struct buf *out)
{
	if (n > (size_t)LZ4_MAX_INPUT_SIZE)
		return -1;
	int bound = LZ4_compressBound((int)n);
	buf_reset(out);
	char *dst = buf_reserve(out, (size_t)bound);
	if (!dst)
		return -1;
	int k = LZ4_compress_default(raw, dst, (int)n, bound);
	if (k <= 0)
		return -1;
	buf_commit(out, (size_t)k);
	return 0;
}

/* --- signatures ---------------------------------------------------------------- */

int sls_percent_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_' || c == '.' || c == '~') {
			if (buf_putc(b, (char)c) < 0)
				return -1;
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			if (buf_append(b, e, 3) < 0)
				return -1;
		}
	}
	return 0;
}

/* A header in canonical form: its lowercased (and for v1 trimmed) name. */
struct canon {
	char name[64];
	const char *value;
	size_t value_len;
};

static int canon_cmp(const void *a, const void *b)
{
	return strcmp(((const struct canon *)a)->name, ((const struct canon *)b)->name);
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sls_kv *)a)->key, ((const struct sls_kv *)b)->key);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * The headers a signature covers, named in lowercase and sorted. v1: names
 * and values trimmed, x-log-/x-acs- only; v4: as given, plus host and
 * content-type, without x-log-meta-. Returns how many, or -1 (too many,
 * or a name too long to be one of them).
 */
static int canonical_headers(const struct sls_kv *h, size_t n, bool v1, struct canon *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = h[i].key, *v = h[i].value;
		size_t nl = strlen(name), vl = strlen(v);
		if (v1) {
			while (nl && is_space(*name))
				name++, nl--;
			while (nl && is_space(name[nl - 1]))
				nl--;
			while (vl && is_space(*v))
				v++, vl--;
			while (vl && is_space(v[vl - 1]))
				vl--;
		}
		char low[64];
		if (nl >= sizeof low)
			continue; /* longer than any header a signature covers */
		for (size_t j = 0; j < nl; j++)
			low[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] + 32 : name[j]);
		low[nl] = '\0';
		bool sls = str_starts(low, "x-log-") || str_starts(low, "x-acs-");
		bool take = v1 ? sls
		               : (sls && !str_starts(low, "x-log-meta-")) || strcmp(low, "host") == 0 ||
		                     strcmp(low, "content-type") == 0;
		if (!take)
			continue;
		if (k == SIGN_MAX_HEADERS)
			return -1;
		memcpy(out[k].name, low, nl + 1);
		out[k].value = v;
		out[k].value_len = vl;
		k++;
	}
	if (k > 1)
		qsort(out, k, sizeof *out, canon_cmp);
	return (int)k;
}

static void hex32(const uint8_t d[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[64] = '\0';
}

int sls_sign_v4(struct buf *out, const char *method, const char *path, const struct sls_kv *query,
                size_t nquery, const struct sls_kv *headers, size_t nheaders, const char *content_sha256,
                const char *date_time, const char *region, const char *ak_id, const char *ak_secret,
                struct buf *canonical)
{
	struct canon h[SIGN_MAX_HEADERS];
	struct sls_kv q[SIGN_MAX_HEADERS];
	if (strlen(date_time) < 8 || nquery > SIGN_MAX_HEADERS)
		return -1;
	int nh = canonical_headers(headers, nheaders, false, h);
	if (nh < 0)
		return -1;
	if (nquery) {
		memcpy(q, query, nquery * sizeof *q);
		qsort(q, nquery, sizeof *q, kv_cmp);
	}

	struct buf c = BUF_INIT(64 * 1024);
	buf_printf(&c, "%s\n%s\n", method, path);
	for (size_t i = 0; i < nquery; i++) {
		buf_printf(&c, "%s%s", i ? "&" : "", q[i].key);
		if (*q[i].value) {
			buf_putc(&c, '=');
			sls_percent_encode(&c, q[i].value);
		}
	}
	buf_putc(&c, '\n');
	for (int i = 0; i < nh; i++) {
		buf_printf(&c, "%s:", h[i].name);
		buf_append(&c, h[i].value, h[i].value_len);
		buf_putc(&c, '\n');
	}
	buf_putc(&c, '\n');
	for (int i = 0; i < nh; i++)
		buf_printf(&c, "%s%s", i ? ";" : "", h[i].name);
	buf_printf(&c, "\n%s", content_sha256);
	if (c.overflow) {
		buf_free(&c);
		return -1;
	}
	if (canonical)
		buf_append(canonical, c.data, c.len);

	uint8_t d[32], key[32];
	char hexd[65];
	sha256(c.data, c.len, d);
	hex32(d, hexd);
	buf_reset(&c);
	char date[9];
	memcpy(date, date_time, 8);
	date[8] = '\0';
	char scope[160];
	snprintf(scope, sizeof scope, "%s/%s/sls/aliyun_v4_request", date, region);
	buf_printf(&c, "SLS4-HMAC-SHA256\n%s\n%s\n%s", date_time, scope, hexd);

	/* the signing key: HMAC-SHA256 chain from "aliyun_v4" + secret */
	struct buf k0 = BUF_INIT(4096);
	buf_printf(&k0, "aliyun_v4%s", ak_secret);
	hmac_sha256(k0.data, k0.len, date, 8, key);
	buf_free(&k0);
	hmac_sha256(key, 32, region, strlen(region), key);
	hmac_sha256(key, 32, "sls", 3, key);
	hmac_sha256(key, 32, "aliyun_v4_request", 17, key);
	hmac_sha256(key, 32, c.data, c.len, d);
	hex32(d, hexd);
	buf_free(&c);
	return buf_printf(out, "SLS4-HMAC-SHA256 Credential=%s/%s,Signature=%s", ak_id, scope, hexd);
}

int sls_sign_v1(struct buf *out, const char *method, const char *content_md5, const char *content_type,
                const char *date, const struct sls_kv *headers, size_t nheaders, const char *resource,
                const char *ak_id, const char *ak_secret)
{
	struct canon h[SIGN_MAX_HEADERS];
	int nh = canonical_headers(headers, nheaders, true, h);
	if (nh < 0)
		return -1;
	struct buf c = BUF_INIT(64 * 1024);
	buf_printf(&c, "%s\n%s\n%s\n%s\n", method, content_md5, content_type, date);
	for (int i = 0; i < nh; i++) {
		buf_printf(&c, "%s%s:", i ? "\n" : "", h[i].name);
		buf_append(&c, h[i].value, h[i].value_len);
	}
	buf_printf(&c, "\n%s", resource);
	uint8_t d[20];
	hmac_sha1(ak_secret, strlen(ak_secret), c.data, c.len, d);
	bool over = c.overflow;
	buf_free(&c);
	if (over || buf_printf(out, "LOG %s:", ak_id) < 0)
		return -1;
	return base64_encode(out, d, sizeof d);
}
