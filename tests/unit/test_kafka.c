/*
 * The Kafka wire protocol of the kafka sink (src/sinks/kafka_proto.c):
 * CRC-32C against the RFC 3720 vectors, murmur2 against the Java client's,
 * varints, RecordBatch v2 read back field by field, request framing, and
 * every response decoder on well-formed answers of each version and on
 * every truncation of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <lz4frame.h>

#include "buf.h"
#include "event.h"
#include "sink.h"
#include "sinks/kafka.h"
#include "test.h"
#include "util.h"

static void crc32c_vectors(void)
{
	unsigned char b[32];
	CHECK_INT(crc32c(0, "123456789", 9), 0xE3069283u);
	memset(b, 0, sizeof b);
	CHECK_INT(crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof b);
	CHECK_INT(crc32c(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	CHECK_INT(crc32c(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	CHECK_INT(crc32c(0, b, 32), 0x113FDB5Cu);
	/* chained and unaligned: the same as in one go */
	char big[1000];
	for (int i = 0; i < 1000; i++)
		big[i] = (char)(i * 7 + 3);
	uint32_t whole = crc32c(0, big + 1, 999);
	CHECK_INT(crc32c(crc32c(0, big + 1, 13), big + 14, 986), whole);
	CHECK_INT(crc32c(0, "", 0), 0);
}

static void murmur2_java_vectors(void)
{
	/* Kafka's UtilsTest.testMurmur2 */
	CHECK_INT(kafka_murmur2("21", 2), -973932308);
	CHECK_INT(kafka_murmur2("foobar", 6), -790332482);
	CHECK_INT(kafka_murmur2("a-little-bit-long-string", 24), -985981536);
	CHECK_INT(kafka_murmur2("a-little-bit-longer-string", 26), -1486304829);
	CHECK_INT(kafka_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 48), -58897971);
	CHECK_INT(kafka_murmur2("abc", 3), 479470107);
	CHECK_INT(kafka_partition_for("abc", 3, 7), 479470107 % 7);
	CHECK_INT(kafka_partition_for("21", 2, 10), (-973932308 & 0x7fffffff) % 10);
	CHECK_INT(kafka_partition_for("21", 2, 0), -1);
}

static void varints(void)
{
	static const struct {
		int64_t v;
		const char *hex;
	} cases[] = { { 0, "00" },
		      { -1, "01" },
		      { 1, "02" },
		      { 63, "7e" },
		      { -64, "7f" },
		      { 64, "8001" },
		      { 300, "d804" },
		      { INT32_MAX, "feffffff0f" },
		      { INT64_MIN, "ffffffffffffffffff01" } };
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct buf b = BUF_INIT(64), hex = BUF_INIT(64);
		kafka_put_varint(&b, cases[i].v);
		for (size_t k = 0; k < b.len; k++)
			buf_printf(&hex, "%02x", (unsigned char)b.data[k]);
		CHECK_STR(buf_str(&hex), cases[i].hex);
		CHECK_INT(kafka_varint_size(cases[i].v), b.len);
		const unsigned char *p = (const unsigned char *)b.data;
		int64_t v = 0;
		CHECK_INT(kafka_get_varint(&p, p + b.len, &v), 0);
		CHECK(v == cases[i].v);
		/* truncated: an error, not a read past the end */
		p = (const unsigned char *)b.data;
		if (b.len > 1)
			CHECK_INT(kafka_get_varint(&p, p + b.len - 1, &v), -1);
		buf_free(&b);
		buf_free(&hex);
	}
	const unsigned char eleven[11] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	const unsigned char *p = eleven;
	int64_t v;
	CHECK_INT(kafka_get_varint(&p, eleven + 11, &v), -1);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Read the records back from an uncompressed batch body and check them against r. */
static bool records_match(const unsigned char *p, const unsigned char *end, int64_t base_ts,
                          const struct kafka_record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t len, delta, off, klen, vlen, nh;
		if (kafka_get_varint(&p, end, &len) < 0 || len <= 0 || len > end - p)
			return false;
		const unsigned char *rend = p + len;
		if (*p++ != 0) /* attributes */
			return false;
		if (kafka_get_varint(&p, rend, &delta) < 0 || base_ts + delta != r[i].timestamp_ms)
			return false;
		if (kafka_get_varint(&p, rend, &off) < 0 || off != (int64_t)i)
			return false;
		if (kafka_get_varint(&p, rend, &klen) < 0 || klen != (r[i].key_len < 0 ? -1 : r[i].key_len))
			return false;
		if (klen > 0) {
			if (memcmp(p, r[i].key, (size_t)klen) != 0)
				return false;
			p += klen;
		}
		if (kafka_get_varint(&p, rend, &vlen) < 0 || vlen != (int64_t)r[i].value_len ||
		    memcmp(p, r[i].value, (size_t)vlen) != 0)
			return false;
		p += vlen;
		if (kafka_get_varint(&p, rend, &nh) < 0 || nh != 0 || p != rend)
			return false;
	}
	return p == end;
}

static const struct kafka_record recs[] = {
	{ 1709622489000, "uid-a", 5, "{\"v\":1}", 7 },
	{ 1709622488500, NULL, -1, "second, older: a negative delta", 31 },
	{ 1709622490123, "uid-b", 5, "", 0 },
};

static void record_batch_fields(void)
{
	struct buf out = BUF_INIT(1 << 20), scratch = BUF_INIT(1 << 20);
	struct kafka_batch_opts o = { 4711, 3, 100, KAFKA_CODEC_NONE };
	buf_puts(&out, "prefix");
	CHECK_INT(kafka_record_batch(&out, &o, recs, 3, &scratch), 0);
	const unsigned char *p = (const unsigned char *)out.data + 6;
	size_t n = out.len - 6;
	CHECK(n > KAFKA_BATCH_HEADER);
	CHECK_INT(be64(p), 0);          /* base offset */
	CHECK_INT(be32(p + 8), n - 12); /* batch length */
	CHECK_INT((int32_t)be32(p + 12), -1);
	CHECK_INT(p[16], 2); /* magic */
	CHECK_INT(be32(p + 17), crc32c(0, p + 21, n - 21));
	CHECK_INT(p[21] << 8 | p[22], 0); /* attributes */
	CHECK_INT(be32(p + 23), 2);       /* last offset delta */
	CHECK_INT(be64(p + 27), 1709622489000);
	CHECK_INT(be64(p + 35), 1709622490123); /* max timestamp */
	CHECK_INT(be64(p + 43), 4711);
	CHECK_INT(p[51] << 8 | p[52], 3);
	CHECK_INT(be32(p + 53), 100);
	CHECK_INT(be32(p + 57), 3);
	CHECK(records_match(p + 61, p + n, 1709622489000, recs, 3));

	/* not idempotent: -1s */
	struct kafka_batch_opts plain = { -1, -1, -1, KAFKA_CODEC_NONE };
	buf_reset(&out);
	CHECK_INT(kafka_record_batch(&out, &plain, recs, 1, &scratch), 0);
	p = (const unsigned char *)out.data;
	CHECK_INT((int64_t)be64(p + 43), -1);
	CHECK_INT((int16_t)(p[51] << 8 | p[52]), -1);
	CHECK_INT((int32_t)be32(p + 53), -1);

	/* too small a buffer: -1, and nothing of the batch left behind */
	struct buf tiny = BUF_INIT(80);
	buf_puts(&tiny, "x");
	CHECK_INT(kafka_record_batch(&tiny, &o, recs, 3, &scratch), -1);
	CHECK_INT(tiny.len, 1);
	CHECK_INT(kafka_record_batch(&tiny, &o, recs, 0, &scratch), -1);
	buf_free(&tiny);
	buf_free(&out);
	buf_free(&scratch);
}

static void record_batch_compressed(void)
{
	struct buf out = BUF_INIT(1 << 20), scratch = BUF_INIT(1 << 20), plain = BUF_INIT(1 << 20);
	struct kafka_batch_opts o = { 9, 0, 0, KAFKA_CODEC_NONE };
	CHECK_INT(kafka_record_batch(&plain, &o, recs, 3, &scratch), 0);
	const unsigned char *raw = (const unsigned char *)plain.data + KAFKA_BATCH_HEADER;
	size_t rawlen = plain.len - KAFKA_BATCH_HEADER;

	/* gzip: zlib's inflate (gzip wrapper) gives back the very records */
	o.codec = KAFKA_CODEC_GZIP;
	CHECK_INT(kafka_record_batch(&out, &o, recs, 3, &scratch), 0);
	const unsigned char *p = (const unsigned char *)out.data;
	CHECK_INT(p[22] & 7, KAFKA_CODEC_GZIP);
	CHECK_INT(be32(p + 17), crc32c(0, p + 21, out.len - 21));
	CHECK_INT(p[61], 0x1f);
	CHECK_INT(p[62], 0x8b);
	unsigned char back[4096];
	z_stream z;
	memset(&z, 0, sizeof z);
	CHECK_INT(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)(p + 61);
	z.avail_in = (uInt)(out.len - 61);
	z.next_out = back;
	z.avail_out = sizeof back;
	int zr = inflate(&z, Z_FINISH);
	size_t got = sizeof back - z.avail_out;
	inflateEnd(&z);
	CHECK_INT(zr, Z_STREAM_END);
	CHECK_INT(got, rawlen);
	CHECK(memcmp(back, raw, rawlen) == 0);

	/* lz4: a frame (magic 0x184D2204) that lz4's own decoder reads back */
	buf_reset(&out);
	o.codec = KAFKA_CODEC_LZ4;
	CHECK_INT(kafka_record_batch(&out, &o, recs, 3, &scratch), 0);
	p = (const unsigned char *)out.data;
	CHECK_INT(p[22] & 7, KAFKA_CODEC_LZ4);
	CHECK_INT(be32(p + 61), 0x04224D18u);
	LZ4F_dctx *d;
	CHECK(!LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
	size_t dst = sizeof back, src = out.len - 61;
	size_t lr = LZ4F_decompress(d, back, &dst, p + 61, &src, NULL);
	LZ4F_freeDecompressionContext(d);
	CHECK_INT(lr, 0); /* the frame ended */
	CHECK_INT(dst, rawlen);
	CHECK(memcmp(back, raw, rawlen) == 0);

	/* snappy is not built in */
	buf_reset(&out);
	o.codec = KAFKA_CODEC_SNAPPY;
	CHECK_INT(kafka_record_batch(&out, &o, recs, 3, &scratch), -1);
	CHECK_INT(out.len, 0);
	buf_free(&out);
	buf_free(&scratch);
	buf_free(&plain);
}

static void request_framing(void)
{
	struct buf b = BUF_INIT(4096);
	size_t at = kafka_request_begin(&b, KAFKA_METADATA, 8, 0x01020304, "kafka-sink");
	kafka_metadata_request(&b, 8, "heapster-events");
	kafka_request_end(&b, at);
	static const unsigned char want[] = { 0,   0,   0,   44,  0,   3,   0,   8,   1,   2,   3,   4,
		                              0,   10,  'k', 'a', 'f', 'k', 'a', '-', 's', 'i', 'n', 'k',
		                              0,   0,   0,   1,   0,   15,  'h', 'e', 'a', 'p', 's', 't',
		                              'e', 'r', '-', 'e', 'v', 'e', 'n', 't', 's', 1,   0,   0 };
	CHECK_INT(b.len, sizeof want);
	CHECK(memcmp(b.data, want, sizeof want) == 0);

	/* v0..v3: no allow_auto_topic_creation */
	buf_reset(&b);
	kafka_metadata_request(&b, 2, "t");
	CHECK_INT(b.len, 4 + 2 + 1);

	/* Produce: null transactional id, acks, timeout, one topic, partitions with their batch bytes */
	buf_reset(&b);
	kafka_produce_request(&b, -1, 30000, "t", 1);
	kafka_produce_partition(&b, 7, "BATCH", 5);
	static const unsigned char prod[] = {
		0xff, 0xff, 0xff, 0xff, 0, 0, 0x75, 0x30,              /* null id, acks, timeout */
		0,    0,    0,    1,    0, 1, 't',  0,    0,   0,   1, /* topic "t", 1 partition */
		0,    0,    0,    7,    0, 0, 0,    5,    'B', 'A', 'T', 'C', 'H'
	};
	CHECK_INT(b.len, sizeof prod);
	CHECK(memcmp(b.data, prod, sizeof prod) == 0);

	buf_reset(&b);
	kafka_init_producer_id_request(&b, 1);
	CHECK_INT(b.len, 6);
	CHECK(memcmp(b.data, "\xff\xff\xff\xff\xff\xff", 6) == 0);
	buf_reset(&b);
	kafka_sasl_authenticate_request(&b, "\0u\0p", 4);
	CHECK(b.len == 8 && memcmp(b.data, "\0\0\0\4\0u\0p", 8) == 0);
	buf_free(&b);
}

static void frames(void)
{
	int32_t corr = 0;
	const char *body = NULL;
	size_t len = 0;
	CHECK_INT(kafka_frame("\0\0\0\x06\0\0\0\x2a"
	                      "ab"
	                      "rest",
	                      14, 1024, &corr, &body, &len),
	          10);
	CHECK_INT(corr, 42);
	CHECK_INT(len, 2);
	CHECK(memcmp(body, "ab", 2) == 0);
	CHECK_INT(kafka_frame("\0\0\0\x06\0\0\0", 7, 1024, &corr, &body, &len), 0); /* more, please */
	CHECK_INT(kafka_frame("\0\0", 2, 1024, &corr, &body, &len), 0);
	CHECK_INT(kafka_frame("\0\0\0\x02\0\0", 6, 1024, &corr, &body, &len), -1); /* shorter than a header */
	CHECK_INT(kafka_frame("\0\x10\0\0", 4, 1024, &corr, &body, &len), -1);     /* over the ceiling */
	CHECK_INT(kafka_frame("\xff\xff\xff\xff", 4, (size_t)-1, &corr, &body, &len), -1);
}

/* Every proper prefix of a well-formed body must be refused, never read past. */
#define TRUNCATIONS(b, call)                                                                                 \
	do {                                                                                                 \
		for (size_t cut_ = 0; cut_ < (b).len; cut_++) {                                              \
			char *copy_ = xmalloc(cut_ + 1);                                                     \
			memcpy(copy_, (b).data, cut_);                                                       \
			const char *p_ = copy_;                                                              \
			size_t n_ = cut_;                                                                    \
			int r_ = (call);                                                                     \
			free(copy_);                                                                         \
			if (r_ != -1) {                                                                      \
				test_fail(__FILE__, __LINE__, "a body cut at %zu of %zu was taken", cut_,    \
				          (b).len);                                                          \
				return;                                                                      \
			}                                                                                    \
		}                                                                                            \
	} while (0)

static void api_versions_answers(void)
{
	struct buf b = BUF_INIT(4096);
	struct kafka_versions v;
	int16_t err = 99;
	for (int ver = 0; ver <= 2; ver++) {
		buf_reset(&b);
		kafka_put_i16(&b, 0);
		kafka_put_i32(&b, 4);
		int16_t rows[4][3] = { { 0, 0, 11 }, { 3, 4, 12 }, { 18, 0, 4 }, { 22, 0, 5 } };
		for (int i = 0; i < 4; i++)
			for (int k = 0; k < 3; k++)
				kafka_put_i16(&b, rows[i][k]);
		if (ver >= 1)
			kafka_put_i32(&b, 0);
		CHECK_INT(kafka_read_api_versions(b.data, b.len, ver, &err, &v), 0);
		CHECK_INT(err, 0);
		CHECK_INT(kafka_pick_version(&v, KAFKA_PRODUCE, 3, 8), 8);
		CHECK_INT(kafka_pick_version(&v, KAFKA_METADATA, 0, 8), 8);
		CHECK_INT(kafka_pick_version(&v, KAFKA_API_VERSIONS, 0, 2), 2);
		CHECK_INT(kafka_pick_version(&v, KAFKA_INIT_PRODUCER_ID, 0, 1), 1);
		CHECK_INT(kafka_pick_version(&v, KAFKA_SASL_HANDSHAKE, 1, 1), -1); /* not listed */
		CHECK_INT(kafka_pick_version(&v, 200, 0, 1), -1);
		TRUNCATIONS(b, kafka_read_api_versions(p_, n_, ver, &err, &v));
	}
	/* a broker older than our lowest version, or newer than our highest */
	buf_reset(&b);
	kafka_put_i16(&b, 0);
	kafka_put_i32(&b, 2);
	int16_t rows[2][3] = { { 0, 0, 2 }, { 3, 9, 12 } };
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 3; k++)
			kafka_put_i16(&b, rows[i][k]);
	CHECK_INT(kafka_read_api_versions(b.data, b.len, 0, &err, &v), 0);
	CHECK_INT(kafka_pick_version(&v, KAFKA_PRODUCE, 3, 8), -1);
	CHECK_INT(kafka_pick_version(&v, KAFKA_METADATA, 0, 8), -1);
	/* UNSUPPORTED_VERSION comes in the v0 form whatever we asked */
	buf_reset(&b);
	kafka_put_i16(&b, KERR_UNSUPPORTED_VERSION);
	kafka_put_i32(&b, 0);
	CHECK_INT(kafka_read_api_versions(b.data, b.len, 2, &err, &v), 0);
	CHECK_INT(err, KERR_UNSUPPORTED_VERSION);
	/* an array count that cannot fit */
	buf_reset(&b);
	kafka_put_i16(&b, 0);
	kafka_put_i32(&b, 1000000);
	CHECK_INT(kafka_read_api_versions(b.data, b.len, 0, &err, &v), -1);
	buf_free(&b);
}

/* A Metadata answer of the given version: brokers 1 and 2, topics "other" and "t" (3 partitions). */
static void metadata_body(struct buf *b, int ver)
{
	if (ver >= 3)
		kafka_put_i32(b, 0);
	kafka_put_i32(b, 2);
	for (int i = 1; i <= 2; i++) {
		kafka_put_i32(b, i);
		kafka_put_string(b, i == 1 ? "127.0.0.1" : "broker-2.example");
		kafka_put_i32(b, 9090 + i);
		if (ver >= 1)
			kafka_put_string(b, i == 1 ? NULL : "rack-a");
	}
	if (ver >= 2)
		kafka_put_string(b, "cluster-x");
	if (ver >= 1)
		kafka_put_i32(b, 1);
	kafka_put_i32(b, 2);
	for (int t = 0; t < 2; t++) {
		kafka_put_i16(b, 0);
		kafka_put_string(b, t == 0 ? "other" : "t");
		if (ver >= 1)
			kafka_put_i8(b, 0);
		int np = t == 0 ? 1 : 3;
		kafka_put_i32(b, np);
		for (int p = np - 1; p >= 0; p--) { /* out of order: the decoder sorts */
			kafka_put_i16(b, p == 2 ? KERR_LEADER_NOT_AVAILABLE : 0);
			kafka_put_i32(b, p);
			kafka_put_i32(b, p == 2 ? -1 : 1 + p % 2);
			if (ver >= 7)
				kafka_put_i32(b, 5);
			kafka_put_i32(b, 2);
			kafka_put_i32(b, 1);
			kafka_put_i32(b, 2);
			kafka_put_i32(b, 1);
			kafka_put_i32(b, 1);
			if (ver >= 5)
				kafka_put_i32(b, 0);
		}
		if (ver >= 8)
			kafka_put_i32(b, INT32_MIN);
	}
	if (ver >= 8)
		kafka_put_i32(b, INT32_MIN);
}

static void metadata_answers(void)
{
	struct buf b = BUF_INIT(8192);
	for (int ver = 0; ver <= 8; ver++) {
		struct kafka_metadata md;
		buf_reset(&b);
		metadata_body(&b, ver);
		CHECK_INT(kafka_read_metadata(b.data, b.len, ver, "t", &md), 0);
		CHECK_INT(md.nbrokers, 2);
		CHECK_INT(md.brokers[0].id, 1);
		CHECK_STR(md.brokers[0].host, "127.0.0.1");
		CHECK_INT(md.brokers[0].port, 9091);
		CHECK_STR(md.brokers[1].host, "broker-2.example");
		CHECK(md.topic_found);
		CHECK_INT(md.topic_err, 0);
		CHECK_INT(md.nparts, 3);
		for (int p = 0; p < 3; p++)
			CHECK_INT(md.parts[p].id, p);
		CHECK_INT(md.parts[0].leader, 1);
		CHECK_INT(md.parts[1].leader, 2);
		CHECK_INT(md.parts[2].leader, -1);
		CHECK_INT(md.parts[2].err, KERR_LEADER_NOT_AVAILABLE);
		kafka_metadata_free(&md);
		CHECK_INT(kafka_read_metadata(b.data, b.len, ver, "absent", &md), 0);
		CHECK(!md.topic_found);
		CHECK_INT(md.nparts, 0);
		kafka_metadata_free(&md);
		TRUNCATIONS(b, kafka_read_metadata(p_, n_, ver, "t", &md));
		/* the same bytes read as another version are refused or read without harm */
		if (kafka_read_metadata(b.data, b.len, (ver + 5) % 9, "t", &md) == 0)
			kafka_metadata_free(&md);
	}
	buf_free(&b);
}

static void produce_answers(void)
{
	struct buf b = BUF_INIT(4096);
	for (int ver = 3; ver <= 8; ver++) {
		buf_reset(&b);
		kafka_put_i32(&b, 2);
		for (int t = 0; t < 2; t++) {
			kafka_put_string(&b, t ? "t" : "not-ours");
			kafka_put_i32(&b, 2);
			for (int p = 0; p < 2; p++) {
				kafka_put_i32(&b, p);
				kafka_put_i16(&b, p ? KERR_NOT_LEADER_OR_FOLLOWER : 0);
				kafka_put_i64(&b, 1000 + p);
				kafka_put_i64(&b, -1);
				if (ver >= 5)
					kafka_put_i64(&b, 0);
				if (ver >= 8) {
					kafka_put_i32(&b, p);
					if (p) {
						kafka_put_i32(&b, 0);
						kafka_put_string(&b, "bad record");
					}
					kafka_put_string(&b, p ? "moved" : NULL);
				}
			}
		}
		kafka_put_i32(&b, 0);
		struct kafka_produce_result res[4];
		size_t n = 0;
		CHECK_INT(kafka_read_produce(b.data, b.len, ver, "t", res, 4, &n), 0);
		CHECK_INT(n, 2);
		CHECK_INT(res[0].partition, 0);
		CHECK_INT(res[0].err, 0);
		CHECK_INT(res[0].base_offset, 1000);
		CHECK_INT(res[1].partition, 1);
		CHECK_INT(res[1].err, KERR_NOT_LEADER_OR_FOLLOWER);
		CHECK_STR(res[1].message, ver >= 8 ? "moved" : "");
		CHECK_INT(kafka_read_produce(b.data, b.len, ver, "t", res, 1, &n), 0);
		CHECK_INT(n, 1);
		TRUNCATIONS(b, kafka_read_produce(p_, n_, ver, "t", res, 4, &n));
	}
	buf_free(&b);
}

static void small_answers(void)
{
	struct buf b = BUF_INIT(4096);
	int16_t err, epoch;
	int64_t pid;
	kafka_put_i32(&b, 0);
	kafka_put_i16(&b, 0);
	kafka_put_i64(&b, 123456789012LL);
	kafka_put_i16(&b, 7);
	CHECK_INT(kafka_read_init_producer_id(b.data, b.len, &err, &pid, &epoch), 0);
	CHECK(err == 0 && pid == 123456789012LL && epoch == 7);
	TRUNCATIONS(b, kafka_read_init_producer_id(p_, n_, &err, &pid, &epoch));

	char mechs[64];
	buf_reset(&b);
	kafka_put_i16(&b, KERR_UNSUPPORTED_SASL_MECHANISM);
	kafka_put_i32(&b, 2);
	kafka_put_string(&b, "PLAIN");
	kafka_put_string(&b, "SCRAM-SHA-512");
	CHECK_INT(kafka_read_sasl_handshake(b.data, b.len, &err, mechs, sizeof mechs), 0);
	CHECK_INT(err, KERR_UNSUPPORTED_SASL_MECHANISM);
	CHECK_STR(mechs, "PLAIN, SCRAM-SHA-512");
	CHECK_INT(kafka_read_sasl_handshake(b.data, b.len, &err, mechs, 8), 0);
	CHECK_STR(mechs, "PLAIN, ");
	TRUNCATIONS(b, kafka_read_sasl_handshake(p_, n_, &err, mechs, sizeof mechs));

	for (int ver = 0; ver <= 1; ver++) {
		char msg[64];
		const char *bytes;
		size_t blen;
		int64_t life;
		buf_reset(&b);
		kafka_put_i16(&b, KERR_SASL_AUTHENTICATION_FAILED);
		kafka_put_string(&b, "Authentication failed: Invalid username or password");
		kafka_put_bytes(&b, "r=abc", 5);
		if (ver)
			kafka_put_i64(&b, 3600000);
		CHECK_INT(kafka_read_sasl_authenticate(b.data, b.len, ver, &err, msg, sizeof msg, &bytes,
		                                       &blen, &life),
		          0);
		CHECK_INT(err, KERR_SASL_AUTHENTICATION_FAILED);
		CHECK_STR(msg, "Authentication failed: Invalid username or password");
		CHECK(blen == 5 && memcmp(bytes, "r=abc", 5) == 0);
		CHECK_INT(life, ver ? 3600000 : 0);
		TRUNCATIONS(b, kafka_read_sasl_authenticate(p_, n_, ver, &err, msg, sizeof msg, &bytes, &blen,
		                                            &life));
	}
	buf_free(&b);
}

static void error_actions(void)
{
	CHECK_INT(kafka_error_action(KERR_NONE), KAFKA_OK);
	CHECK_INT(kafka_error_action(KERR_DUPLICATE_SEQUENCE_NUMBER), KAFKA_OK);
	CHECK_INT(kafka_error_action(KERR_NOT_LEADER_OR_FOLLOWER), KAFKA_REFRESH);
	CHECK_INT(kafka_error_action(KERR_LEADER_NOT_AVAILABLE), KAFKA_REFRESH);
	CHECK_INT(kafka_error_action(KERR_NOT_ENOUGH_REPLICAS), KAFKA_RETRY);
	CHECK_INT(kafka_error_action(KERR_REQUEST_TIMED_OUT), KAFKA_RETRY);
	CHECK_INT(kafka_error_action(KERR_OUT_OF_ORDER_SEQUENCE_NUMBER), KAFKA_RESET);
	CHECK_INT(kafka_error_action(KERR_UNKNOWN_PRODUCER_ID), KAFKA_RESET);
	CHECK_INT(kafka_error_action(KERR_MESSAGE_TOO_LARGE), KAFKA_TOO_LARGE);
	CHECK_INT(kafka_error_action(KERR_TOPIC_AUTHORIZATION_FAILED), KAFKA_REJECT);
	CHECK_INT(kafka_error_action(12345), KAFKA_REJECT);
	CHECK_STR(kafka_error_name(KERR_NOT_LEADER_OR_FOLLOWER), "NOT_LEADER_OR_FOLLOWER");
	CHECK_STR(kafka_error_name(31000), "error 31000");
}

/* The sink's rendered item: [int64 ts ms][uint16 key length][key][upstream's value]. */
static void rendered_item(void)
{
	static const char json[] =
	    "{\"kind\":\"Event\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-1.17b\",\"namespace\":"
	    "\"shop\",\"uid\":\"e-uid-1\",\"resourceVersion\":\"4711\"},\"involvedObject\":{\"kind\":\"Pod\","
	    "\"name\":\"web-1\",\"uid\":\"pod-uid\"},\"reason\":\"BackOff\",\"message\":\"a <b> \\\"c\\\"\","
	    "\"source\":{\"host\":\"node 1\"},\"lastTimestamp\":\"2024-03-05T23:59:59Z\",\"count\":7}";
	char err[256];
	struct event ev;
	memset(&ev, 0, sizeof ev);
	event_keep_json(true);
	int dr = event_decode(json, strlen(json), &ev, err, sizeof err);
	event_keep_json(false);
	CHECK_INT(dr, 0);
	struct sink *s = sink_create("kafka:?brokers=127.0.0.1:9", 0, 30000, NULL, err, sizeof err);
	CHECK(s != NULL);
	struct buf out = BUF_INIT(1 << 20);
	CHECK_INT(s->type->render(s, &ev, &out, err, sizeof err), 0);
	const unsigned char *p = (const unsigned char *)out.data;
	CHECK_INT((int64_t)be64(p), 1709683199000);
	CHECK_INT(p[8] << 8 | p[9], 7);
	CHECK(memcmp(p + 10, "pod-uid", 7) == 0);
	const char *v = out.data + 17;
	const char *want_head =
	    "{\"EventValue\":\"{\\n \\\"metadata\\\": {\\n  \\\"name\\\": \\\"web-1.17b\\\",";
	CHECK(strncmp(v, want_head, strlen(want_head)) == 0);
	CHECK(strstr(v, "\\\"message\\\": \\\"a <b> \\\\\\\"c\\\\\\\"\\\",") != NULL);
	const char *tail =
	    "\",\"EventTimestamp\":\"2024-03-05T23:59:59Z\",\"EventTags\":{\"eventID\":\"e-uid-1\","
	    "\"hostname\":\"node 1\",\"pod_id\":\"pod-uid\",\"pod_name\":\"web-1\"}}";
	CHECK(out.len > strlen(tail) && strcmp(out.data + out.len - strlen(tail), tail) == 0);
	sink_destroy(s);

	/* message_key=none: a null key (0xffff), the value right after */
	s = sink_create("kafka:?brokers=127.0.0.1:9&message_key=none", 0, 30000, NULL, err, sizeof err);
	CHECK(s != NULL);
	buf_reset(&out);
	CHECK_INT(s->type->render(s, &ev, &out, err, sizeof err), 0);
	p = (const unsigned char *)out.data;
	CHECK_INT(p[8] << 8 | p[9], 0xffff);
	CHECK(strncmp(out.data + 10, "{\"EventValue\":", 14) == 0);
	CHECK_INT(s->cfg.concurrency, 1); /* one batch in flight, whatever was asked */
	sink_destroy(s);
	buf_free(&out);
	event_free(&ev);
}

const struct test_case test_kafka[] = {
	TEST(crc32c_vectors),
	TEST(murmur2_java_vectors),
	TEST(varints),
	TEST(record_batch_fields),
	TEST(record_batch_compressed),
	TEST(request_framing),
	TEST(frames),
	TEST(api_versions_answers),
	TEST(metadata_answers),
	TEST(produce_answers),
	TEST(small_answers),
	TEST(error_actions),
	TEST(rendered_item),
	TEST_END,
};
