/* kafka_proto.c -- Kafka wire encodings and decodings for the kafka sink (no I/O). */
#include "sinks/kafka.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "util.h"

/* --- errors ------------------------------------------------------------------ */

static const struct {
	int16_t code;
	const char *name;
} error_names[] = {
	{ -1, "UNKNOWN_SERVER_ERROR" },
	{ KERR_NONE, "NONE" },
	{ 1, "OFFSET_OUT_OF_RANGE" },
	{ KERR_CORRUPT_MESSAGE, "CORRUPT_MESSAGE" },
	{ KERR_UNKNOWN_TOPIC_OR_PARTITION, "UNKNOWN_TOPIC_OR_PARTITION" },
	{ 4, "INVALID_FETCH_SIZE" },
	{ KERR_LEADER_NOT_AVAILABLE, "LEADER_NOT_AVAILABLE" },
	{ KERR_NOT_LEADER_OR_FOLLOWER, "NOT_LEADER_OR_FOLLOWER" },
	{ KERR_REQUEST_TIMED_OUT, "REQUEST_TIMED_OUT" },
	{ 8, "BROKER_NOT_AVAILABLE" },
	{ 9, "REPLICA_NOT_AVAILABLE" },
	{ KERR_MESSAGE_TOO_LARGE, "MESSAGE_TOO_LARGE" },
	{ KERR_NETWORK_EXCEPTION, "NETWORK_EXCEPTION" },
	{ KERR_COORDINATOR_LOAD_IN_PROGRESS, "COORDINATOR_LOAD_IN_PROGRESS" },
	{ 17, "INVALID_TOPIC_EXCEPTION" },
	{ KERR_RECORD_LIST_TOO_LARGE, "RECORD_LIST_TOO_LARGE" },
	{ KERR_NOT_ENOUGH_REPLICAS, "NOT_ENOUGH_REPLICAS" },
	{ KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, "NOT_ENOUGH_REPLICAS_AFTER_APPEND" },
	{ KERR_INVALID_REQUIRED_ACKS, "INVALID_REQUIRED_ACKS" },
	{ KERR_TOPIC_AUTHORIZATION_FAILED, "TOPIC_AUTHORIZATION_FAILED" },
	{ KERR_CLUSTER_AUTHORIZATION_FAILED, "CLUSTER_AUTHORIZATION_FAILED" },
	{ KERR_INVALID_TIMESTAMP, "INVALID_TIMESTAMP" },
	{ KERR_UNSUPPORTED_SASL_MECHANISM, "UNSUPPORTED_SASL_MECHANISM" },
	{ KERR_ILLEGAL_SASL_STATE, "ILLEGAL_SASL_STATE" },
	{ KERR_UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION" },
	{ 42, "INVALID_REQUEST" },
	{ 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT" },
	{ KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "OUT_OF_ORDER_SEQUENCE_NUMBER" },
	{ KERR_DUPLICATE_SEQUENCE_NUMBER, "DUPLICATE_SEQUENCE_NUMBER" },
	{ KERR_INVALID_PRODUCER_EPOCH, "INVALID_PRODUCER_EPOCH" },
	{ KERR_INVALID_PRODUCER_ID_MAPPING, "INVALID_PRODUCER_ID_MAPPING" },
	{ 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED" },
	{ KERR_KAFKA_STORAGE_ERROR, "KAFKA_STORAGE_ERROR" },
	{ KERR_SASL_AUTHENTICATION_FAILED, "SASL_AUTHENTICATION_FAILED" },
	{ KERR_UNKNOWN_PRODUCER_ID, "UNKNOWN_PRODUCER_ID" },
	{ KERR_FENCED_LEADER_EPOCH, "FENCED_LEADER_EPOCH" },
	{ KERR_UNKNOWN_LEADER_EPOCH, "UNKNOWN_LEADER_EPOCH" },
	{ 76, "UNSUPPORTED_COMPRESSION_TYPE" },
	{ KERR_INVALID_RECORD, "INVALID_RECORD" },
	{ KERR_THROTTLING_QUOTA_EXCEEDED, "THROTTLING_QUOTA_EXCEEDED" },
	{ KERR_PRODUCER_FENCED, "PRODUCER_FENCED" },
};

const char *kafka_error_name(int code)
{
	static char other[24];
	for (size_t i = 0; i < ARRAY_LEN(error_names); i++)
		if (error_names[i].code == code)
			return error_names[i].name;
	snprintf(other, sizeof other, "error %d", code);
	return other;
}

enum kafka_action kafka_error_action(int code)
{
	switch (code) {
	case KERR_NONE:
	case KERR_DUPLICATE_SEQUENCE_NUMBER: /* an earlier try was written */
		return KAFKA_OK;
	case KERR_UNKNOWN_TOPIC_OR_PARTITION:
	case KERR_LEADER_NOT_AVAILABLE:
	case KERR_NOT_LEADER_OR_FOLLOWER:
	case KERR_FENCED_LEADER_EPOCH:
	case KERR_UNKNOWN_LEADER_EPOCH:
	case KERR_KAFKA_STORAGE_ERROR:
		return KAFKA_REFRESH;
	case -1: /* UNKNOWN_SERVER_ERROR: retriable in the Java client */
	case KERR_CORRUPT_MESSAGE:
	case KERR_REQUEST_TIMED_OUT:
	case KERR_NETWORK_EXCEPTION:
	case KERR_COORDINATOR_LOAD_IN_PROGRESS:
	case KERR_NOT_ENOUGH_REPLICAS:
	case KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
	case KERR_THROTTLING_QUOTA_EXCEEDED:
	case 8: /* BROKER_NOT_AVAILABLE */
	case 9: /* REPLICA_NOT_AVAILABLE */
		return KAFKA_RETRY;
	case KERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
	case KERR_INVALID_PRODUCER_EPOCH:
	case KERR_INVALID_PRODUCER_ID_MAPPING:
	case KERR_UNKNOWN_PRODUCER_ID:
	case KERR_PRODUCER_FENCED:
		return KAFKA_RESET;
	case KERR_MESSAGE_TOO_LARGE:
	case KERR_RECORD_LIST_TOO_LARGE:
		return KAFKA_TOO_LARGE;
	default:
		return KAFKA_REJECT;
	}
}

/* --- CRC-32C and murmur2 ----------------------------------------------------------- */

/* Slicing by 8: eight 256-entry tables, built on first use (8 KiB of bss, no code size). */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] =
			    (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *s = p;
	if (!crc_table[0][1])
		crc_init();
	crc = ~crc;
	while (n && ((uintptr_t)s & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *s++) & 0xff];
		n--;
	}
	while (n >= 8) {
		uint32_t lo, hi;
		memcpy(&lo, s, 4);
		memcpy(&hi, s + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
		      crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
		      crc_table[0][hi >> 24];
		s += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *s++) & 0xff];
	return ~crc;
}

int32_t kafka_murmur2(const void *p, size_t n)
{
	const unsigned char *d = p;
	const uint32_t m = 0x5bd1e995u;
	uint32_t h = 0x9747b28cu ^ (uint32_t)n;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 | (uint32_t)d[i + 2] << 16 |
		             (uint32_t)d[i + 3] << 24;
		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (n & 3) {
	case 3:
		h ^= (uint32_t)d[i + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)d[i + 1] << 8;
		/* fall through */
	case 1:
		h ^= d[i];
		h *= m;
		break;
	default:
		break;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32_t)h;
}

int32_t kafka_partition_for(const void *key, size_t n, int32_t nparts)
{
	if (nparts <= 0)
		return -1;
	return (int32_t)(((uint32_t)kafka_murmur2(key, n) & 0x7fffffffu) % (uint32_t)nparts);
}

/* --- writing ------------------------------------------------------------------------ */

static void put_be(struct buf *b, uint64_t v, int n)
{
	unsigned char t[8];
	for (int i = 0; i < n; i++)
		t[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	buf_append(b, t, (size_t)n);
}

void kafka_put_i8(struct buf *b, int8_t v)
{
	put_be(b, (uint8_t)v, 1);
}

void kafka_put_i16(struct buf *b, int16_t v)
{
	put_be(b, (uint16_t)v, 2);
}

void kafka_put_i32(struct buf *b, int32_t v)
{
	put_be(b, (uint32_t)v, 4);
}

void kafka_put_i64(struct buf *b, int64_t v)
{
	put_be(b, (uint64_t)v, 8);
}

void kafka_put_string(struct buf *b, const char *s)
{
	if (!s) {
		kafka_put_i16(b, -1);
		return;
	}
	size_t n = strlen(s);
	if (n > INT16_MAX) { /* never from us: names are checked at start-up */
		b->overflow = true;
		return;
	}
	kafka_put_i16(b, (int16_t)n);
	buf_append(b, s, n);
}

void kafka_put_bytes(struct buf *b, const void *p, int32_t n)
{
	if (!p) {
		kafka_put_i32(b, -1);
		return;
	}
	kafka_put_i32(b, n);
	buf_append(b, p, (size_t)n);
}

void kafka_put_varint(struct buf *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0); /* zig-zag */
	unsigned char t[10];
	size_t n = 0;
	while (z >= 0x80) {
		t[n++] = (unsigned char)(z | 0x80);
		z >>= 7;
	}
	t[n++] = (unsigned char)z;
	buf_append(b, t, n);
}

size_t kafka_varint_size(int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0); /* zig-zag */
	size_t n = 1;
	while (z >= 0x80) {
		z >>= 7;
		n++;
	}
	return n;
}

int kafka_get_varint(const unsigned char **p, const unsigned char *end, int64_t *v)
{
	uint64_t z = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		unsigned char c = *(*p)++;
		z |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
			return 0;
		}
	}
	return -1;
}

/* --- requests ------------------------------------------------------------------------- */

size_t kafka_request_begin(struct buf *b, int api, int version, int32_t correlation_id, const char *client_id)
{
	size_t start = b->len;
	kafka_put_i32(b, 0); /* the size, filled in by kafka_request_end() */
	kafka_put_i16(b, (int16_t)api);
	kafka_put_i16(b, (int16_t)version);
	kafka_put_i32(b, correlation_id);
	kafka_put_string(b, client_id);
	return start;
}

void kafka_request_end(struct buf *b, size_t start)
{
	if (b->overflow || b->len < start + 4)
		return;
	uint32_t n = (uint32_t)(b->len - start - 4);
	unsigned char *p = (unsigned char *)b->data + start;
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

void kafka_metadata_request(struct buf *b, int version, const char *topic)
{
	kafka_put_i32(b, 1); /* topics: just ours (in v0 an empty array would mean all) */
	kafka_put_string(b, topic);
	if (version >= 4)
		kafka_put_i8(b, 1); /* allow_auto_topic_creation: as every producer; the broker decides */
	if (version >= 8) {
		kafka_put_i8(b, 0); /* include_cluster_authorized_operations */
		kafka_put_i8(b, 0); /* include_topic_authorized_operations */
	}
}

void kafka_init_producer_id_request(struct buf *b, int version)
{
	(void)version;             /* v0 and v1 ask the same */
	kafka_put_string(b, NULL); /* transactional_id: idempotence only */
	kafka_put_i32(b, -1);      /* transaction_timeout_ms */
}

void kafka_sasl_handshake_request(struct buf *b, const char *mechanism)
{
	kafka_put_string(b, mechanism);
}

void kafka_sasl_authenticate_request(struct buf *b, const void *p, size_t n)
{
	kafka_put_bytes(b, p ? p : "", (int32_t)n);
}

void kafka_produce_request(struct buf *b, int16_t acks, int32_t timeout_ms, const char *topic, int32_t nparts)
{
	kafka_put_string(b, NULL); /* transactional_id */
	kafka_put_i16(b, acks);
	kafka_put_i32(b, timeout_ms);
	kafka_put_i32(b, 1); /* one topic */
	kafka_put_string(b, topic);
	kafka_put_i32(b, nparts);
}

void kafka_produce_partition(struct buf *b, int32_t partition, const void *batch, size_t len)
{
	kafka_put_i32(b, partition);
	kafka_put_bytes(b, batch, (int32_t)len);
}

/* --- RecordBatch v2 ------------------------------------------------------------------ */

static void put_records(struct buf *b, int64_t base_ts, const struct kafka_record *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t delta = r[i].timestamp_ms - base_ts;
		int32_t klen = r[i].key_len < 0 ? -1 : r[i].key_len;
		size_t len = 1 + kafka_varint_size(delta) + kafka_varint_size((int64_t)i) +
		             kafka_varint_size(klen) + (klen > 0 ? (size_t)klen : 0) +
		             kafka_varint_size(r[i].value_len) + r[i].value_len + 1;
		kafka_put_varint(b, (int64_t)len);
		buf_putc(b, 0); /* attributes */
		kafka_put_varint(b, delta);
		kafka_put_varint(b, (int64_t)i); /* offset delta */
		kafka_put_varint(b, klen);
		if (klen > 0)
			buf_append(b, r[i].key, (size_t)klen);
		kafka_put_varint(b, r[i].value_len);
		buf_append(b, r[i].value, r[i].value_len);
		buf_putc(b, 0); /* headers: none */
	}
}

int kafka_record_batch(struct buf *out, const struct kafka_batch_opts *o, const struct kafka_record *r,
                       size_t n, struct buf *scratch)
{
	if (!n || n > INT32_MAX)
		return -1;
	size_t start = out->len;
	int64_t base_ts = r[0].timestamp_ms;
	int64_t max_ts = base_ts;
	for (size_t i = 1; i < n; i++)
		max_ts = MAX(max_ts, r[i].timestamp_ms);
	kafka_put_i64(out, 0);                       /* base offset: the broker assigns */
	kafka_put_i32(out, 0);                       /* batch length, below */
	kafka_put_i32(out, -1);                      /* partition leader epoch: the broker's */
	kafka_put_i8(out, 2);                        /* magic */
	kafka_put_i32(out, 0);                       /* crc, below */
	kafka_put_i16(out, (int16_t)(o->codec & 7)); /* attributes: codec, CreateTime, not transactional */
	kafka_put_i32(out, (int32_t)(n - 1));        /* last offset delta */
	kafka_put_i64(out, base_ts);
	kafka_put_i64(out, max_ts);
	kafka_put_i64(out, o->producer_id);
	kafka_put_i16(out, o->producer_epoch);
	kafka_put_i32(out, o->base_sequence);
	kafka_put_i32(out, (int32_t)n);
	if (o->codec == KAFKA_CODEC_NONE) {
		put_records(out, base_ts, r, n);
	} else {
		buf_reset(scratch);
		put_records(scratch, base_ts, r, n);
		int rc = -1;
		if (!scratch->overflow && o->codec == KAFKA_CODEC_GZIP)
			rc = compress_gzip(out, scratch->data, scratch->len);
		else if (!scratch->overflow && o->codec == KAFKA_CODEC_LZ4)
			rc = compress_lz4_frame(out, scratch->data, scratch->len);
		if (rc < 0)
			out->overflow = true;
	}
	if (out->overflow || out->len - start > INT32_MAX) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	unsigned char *p = (unsigned char *)out->data + start;
	uint32_t len = (uint32_t)(out->len - start - 12);
	p[8] = (unsigned char)(len >> 24);
	p[9] = (unsigned char)(len >> 16);
	p[10] = (unsigned char)(len >> 8);
	p[11] = (unsigned char)len;
	uint32_t crc = crc32c(0, p + 21, out->len - start - 21);
	p[17] = (unsigned char)(crc >> 24);
	p[18] = (unsigned char)(crc >> 16);
	p[19] = (unsigned char)(crc >> 8);
	p[20] = (unsigned char)crc;
	return 0;
}

/* --- reading -------------------------------------------------------------------------- */

/* A cursor over a response body: every read checks the bounds; a short read sets bad. */
struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static bool need(struct rd *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static uint64_t get_be(struct rd *r, int n)
{
	uint64_t v = 0;
	if (!need(r, (size_t)n))
		return 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | r->p[i];
	r->p += n;
	return v;
}

static int8_t get_i8(struct rd *r)
{
	return (int8_t)(uint8_t)get_be(r, 1);
}

static int16_t get_i16(struct rd *r)
{
	return (int16_t)(uint16_t)get_be(r, 2);
}

static int32_t get_i32(struct rd *r)
{
	return (int32_t)(uint32_t)get_be(r, 4);
}

static int64_t get_i64(struct rd *r)
{
	return (int64_t)get_be(r, 8);
}

/* A (nullable) string: *s points into the body, *n its length; NULL for null. */
static void get_str(struct rd *r, const char **s, size_t *n)
{
	int16_t l = get_i16(r);
	*s = NULL;
	*n = 0;
	if (r->bad || l < 0) /* -1 null; anything below is as good as null */
		return;
	if (!need(r, (size_t)l))
		return;
	*s = (const char *)r->p;
	*n = (size_t)l;
	r->p += l;
}

static void skip_str(struct rd *r)
{
	const char *s;
	size_t n;
	get_str(r, &s, &n);
}

/* An array's count: -1 (null) reads as 0; a count larger than the bytes left could hold is bad. */
static int32_t get_count(struct rd *r, size_t min_item)
{
	int32_t n = get_i32(r);
	if (r->bad || n < 0)
		return 0;
	if ((size_t)n > (size_t)(r->end - r->p) / (min_item ? min_item : 1)) {
		r->bad = true;
		return 0;
	}
	return n;
}

static void skip_i32_array(struct rd *r)
{
	int32_t n = get_count(r, 4);
	if (need(r, (size_t)n * 4))
		r->p += (size_t)n * 4;
}

static void copy_str(char *out, size_t outlen, const char *s, size_t n)
{
	if (!outlen)
		return;
	n = MIN(n, outlen - 1);
	if (n)
		memcpy(out, s, n);
	out[n] = '\0';
}

static void init_rd(struct rd *r, const char *p, size_t n)
{
	r->p = (const unsigned char *)p;
	r->end = r->p + n;
	r->bad = false;
}

long kafka_frame(const char *p, size_t n, size_t max, int32_t *correlation_id, const char **body, size_t *len)
{
	if (n < 4)
		return 0;
	const unsigned char *u = (const unsigned char *)p;
	uint32_t size = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
	if (size < 4 || size > max || size > (uint32_t)LONG_MAX - 4)
		return -1;
	if (n - 4 < size)
		return 0;
	*correlation_id = (int32_t)((uint32_t)u[4] << 24 | (uint32_t)u[5] << 16 | (uint32_t)u[6] << 8 | u[7]);
	*body = p + 8;
	*len = size - 4;
	return (long)size + 4;
}

int kafka_read_api_versions(const char *p, size_t n, int version, int16_t *err, struct kafka_versions *v)
{
	struct rd r;
	init_rd(&r, p, n);
	for (int i = 0; i < KAFKA_API_MAX; i++)
		v->min[i] = v->max[i] = -1;
	*err = get_i16(&r);
	int32_t count = get_count(&r, 6);
	for (int32_t i = 0; i < count && !r.bad; i++) {
		int16_t key = get_i16(&r), lo = get_i16(&r), hi = get_i16(&r);
		if (key >= 0 && key < KAFKA_API_MAX && lo >= 0 && hi >= lo) {
			v->min[key] = lo;
			v->max[key] = hi;
		}
	}
	/* v1+ ends with throttle_time_ms; an UNSUPPORTED_VERSION answer comes as v0 */
	if (version >= 1 && *err == KERR_NONE)
		get_i32(&r);
	return r.bad ? -1 : 0;
}

int kafka_pick_version(const struct kafka_versions *v, int api, int lo, int hi)
{
	if (api < 0 || api >= KAFKA_API_MAX || v->max[api] < 0)
		return -1;
	int top = MIN(hi, (int)v->max[api]);
	return top >= lo && top >= v->min[api] ? top : -1;
}

static int cmp_part(const void *a, const void *b)
{
	const struct kafka_partition_md *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

int kafka_read_metadata(const char *p, size_t n, int version, const char *topic, struct kafka_metadata *md)
{
	struct rd r;
	init_rd(&r, p, n);
	memset(md, 0, sizeof *md);
	if (version >= 3)
		get_i32(&r); /* throttle_time_ms */
	int32_t nb = get_count(&r, 10);
	if (nb > KAFKA_MAX_BROKERS)
		return -1;
	md->brokers = xcalloc((size_t)nb + 1, sizeof *md->brokers);
	for (int32_t i = 0; i < nb && !r.bad; i++) {
		struct kafka_broker_md *b = &md->brokers[md->nbrokers];
		const char *h;
		size_t hl;
		b->id = get_i32(&r);
		get_str(&r, &h, &hl);
		b->port = get_i32(&r);
		if (version >= 1)
			skip_str(&r); /* rack */
		if (h && hl && hl < sizeof b->host && b->port > 0 && b->port < 65536) {
			memcpy(b->host, h, hl);
			b->host[hl] = '\0';
			md->nbrokers++;
		}
	}
	if (version >= 2)
		skip_str(&r); /* cluster_id */
	if (version >= 1)
		get_i32(&r); /* controller_id */
	int32_t nt = get_count(&r, 8);
	size_t tlen = strlen(topic);
	for (int32_t t = 0; t < nt && !r.bad; t++) {
		int16_t terr = get_i16(&r);
		const char *name;
		size_t nl;
		get_str(&r, &name, &nl);
		if (version >= 1)
			get_i8(&r); /* is_internal */
		bool ours = name && nl == tlen && memcmp(name, topic, nl) == 0 && !md->topic_found;
		int32_t np = get_count(&r, 14);
		if (ours) {
			if (np > KAFKA_MAX_PARTITIONS)
				r.bad = true;
			md->topic_found = true;
			md->topic_err = terr;
			md->parts = xcalloc((size_t)np + 1, sizeof *md->parts);
		}
		for (int32_t i = 0; i < np && !r.bad; i++) {
			int16_t perr = get_i16(&r);
			int32_t id = get_i32(&r), leader = get_i32(&r);
			if (version >= 7)
				get_i32(&r); /* leader_epoch */
			skip_i32_array(&r);  /* replica_nodes */
			skip_i32_array(&r);  /* isr_nodes */
			if (version >= 5)
				skip_i32_array(&r); /* offline_replicas */
			if (ours && id >= 0) {
				struct kafka_partition_md *pm = &md->parts[md->nparts++];
				pm->id = id;
				pm->leader = leader;
				pm->err = perr;
			}
		}
		if (version >= 8)
			get_i32(&r); /* topic_authorized_operations */
	}
	if (version >= 8)
		get_i32(&r); /* cluster_authorized_operations */
	if (r.bad) {
		kafka_metadata_free(md);
		return -1;
	}
	if (md->nparts)
		qsort(md->parts, md->nparts, sizeof *md->parts, cmp_part);
	return 0;
}

void kafka_metadata_free(struct kafka_metadata *md)
{
	free(md->brokers);
	free(md->parts);
	memset(md, 0, sizeof *md);
}

int kafka_read_produce(const char *p, size_t n, int version, const char *topic,
                       struct kafka_produce_result *res, size_t max, size_t *count)
{
	struct rd r;
	init_rd(&r, p, n);
	*count = 0;
	size_t tlen = strlen(topic);
	int32_t nt = get_count(&r, 6);
	for (int32_t t = 0; t < nt && !r.bad; t++) {
		const char *name;
		size_t nl;
		get_str(&r, &name, &nl);
		bool ours = name && nl == tlen && memcmp(name, topic, nl) == 0;
		int32_t np = get_count(&r, 14);
		for (int32_t i = 0; i < np && !r.bad; i++) {
			struct kafka_produce_result x;
			memset(&x, 0, sizeof x);
			x.partition = get_i32(&r);
			x.err = get_i16(&r);
			x.base_offset = get_i64(&r);
			if (version >= 2)
				get_i64(&r); /* log_append_time_ms */
			if (version >= 5)
				get_i64(&r); /* log_start_offset */
			if (version >= 8) {
				int32_t ne = get_count(&r, 6);
				for (int32_t e = 0; e < ne && !r.bad; e++) {
					get_i32(&r); /* batch_index */
					skip_str(&r);
				}
				const char *m;
				size_t ml;
				get_str(&r, &m, &ml);
				if (m)
					copy_str(x.message, sizeof x.message, m, ml);
			}
			if (ours && !r.bad && *count < max)
				res[(*count)++] = x;
		}
	}
	if (version >= 1)
		get_i32(&r); /* throttle_time_ms */
	return r.bad ? -1 : 0;
}

int kafka_read_init_producer_id(const char *p, size_t n, int16_t *err, int64_t *producer_id, int16_t *epoch)
{
	struct rd r;
	init_rd(&r, p, n);
	get_i32(&r); /* throttle_time_ms */
	*err = get_i16(&r);
	*producer_id = get_i64(&r);
	*epoch = get_i16(&r);
	return r.bad ? -1 : 0;
}

int kafka_read_sasl_handshake(const char *p, size_t n, int16_t *err, char *mechs, size_t mlen)
{
	struct rd r;
	init_rd(&r, p, n);
	struct buf b = BUF_INIT(mlen ? mlen - 1 : 0);
	*err = get_i16(&r);
	int32_t count = get_count(&r, 2);
	for (int32_t i = 0; i < count && !r.bad; i++) {
		const char *s;
		size_t l;
		get_str(&r, &s, &l);
		if (s) {
			if (b.len)
				buf_puts(&b, ", ");
			buf_append(&b, s, l);
		}
	}
	copy_str(mechs, mlen, b.data ? b.data : "", b.len);
	buf_free(&b);
	return r.bad ? -1 : 0;
}

int kafka_read_sasl_authenticate(const char *p, size_t n, int version, int16_t *err, char *msg, size_t mlen,
                                 const char **bytes, size_t *blen, int64_t *lifetime_ms)
{
	struct rd r;
	init_rd(&r, p, n);
	const char *m;
	size_t ml;
	*err = get_i16(&r);
	get_str(&r, &m, &ml);
	copy_str(msg, mlen, m ? m : "", ml);
	int32_t l = get_i32(&r);
	*bytes = NULL;
	*blen = 0;
	if (l > 0 && need(&r, (size_t)l)) {
		*bytes = (const char *)r.p;
		*blen = (size_t)l;
		r.p += l;
	}
	*lifetime_ms = version >= 1 ? get_i64(&r) : 0;
	return r.bad ? -1 : 0;
}
