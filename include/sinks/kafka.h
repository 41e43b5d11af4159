/*
 * kafka.h -- the subset of the Kafka wire protocol the kafka sink speaks:
 * pure encoders and decoders, no I/O (src/sinks/kafka_proto.c), unit-tested
 * and fuzzed on their own.
 *
 * Requests use the classic (non-flexible) encodings only -- request header
 * v1, response header v0 -- with versions every broker from Kafka 2.x to
 * 4.x accepts: ApiVersions v0-v2, Metadata v0-v8, Produce v3-v8 (the first
 * versions that carry RecordBatch v2; Kafka 4.0 removed v0-v2, KIP-896),
 * InitProducerId v0-v1, SaslHandshake v1, SaslAuthenticate v0-v1.
 *
 * Decoders take a response body (after the correlation id) and its version;
 * they check every length against the bytes there are and return -1 on
 * anything malformed, never reading past the end.
 */
#ifndef KE_SINKS_KAFKA_H
#define KE_SINKS_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum kafka_api {
	KAFKA_PRODUCE = 0,
	KAFKA_METADATA = 3,
	KAFKA_SASL_HANDSHAKE = 17,
	KAFKA_API_VERSIONS = 18,
	KAFKA_INIT_PRODUCER_ID = 22,
	KAFKA_SASL_AUTHENTICATE = 36,
	KAFKA_API_MAX = 96 /* api keys we remember versions for: 0..95 */
};

/* The error codes the producer acts on (Kafka's protocol guide). */
enum kafka_error {
	KERR_NONE = 0,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_LEADER_NOT_AVAILABLE = 5,
	KERR_NOT_LEADER_OR_FOLLOWER = 6,
	KERR_REQUEST_TIMED_OUT = 7,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_NETWORK_EXCEPTION = 13,
	KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KERR_RECORD_LIST_TOO_LARGE = 18,
	KERR_NOT_ENOUGH_REPLICAS = 19,
	KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KERR_INVALID_TIMESTAMP = 32,
	KERR_UNSUPPORTED_SASL_MECHANISM = 33,
	KERR_ILLEGAL_SASL_STATE = 34,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KERR_DUPLICATE_SEQUENCE_NUMBER = 46,
	KERR_INVALID_PRODUCER_EPOCH = 47,
	KERR_INVALID_PRODUCER_ID_MAPPING = 49,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_SASL_AUTHENTICATION_FAILED = 58,
	KERR_UNKNOWN_PRODUCER_ID = 59,
	KERR_FENCED_LEADER_EPOCH = 74,
	KERR_UNKNOWN_LEADER_EPOCH = 75,
	KERR_INVALID_RECORD = 87,
	KERR_THROTTLING_QUOTA_EXCEEDED = 89,
	KERR_PRODUCER_FENCED = 90,
};

/* Kafka's name for an error code ("NOT_LEADER_OR_FOLLOWER"), or "error <n>". Static storage. */
const char *kafka_error_name(int code);

/* What a producer does about an error code in a Produce answer. */
enum kafka_action {
	KAFKA_OK,        /* written (NONE, DUPLICATE_SEQUENCE_NUMBER: written before) */
	KAFKA_RETRY,     /* resend the same batch after a pause */
	KAFKA_REFRESH,   /* resend the same batch once the metadata is fresh (leader moved) */
	KAFKA_RESET,     /* the broker lost or fenced our producer id: new id, rebuild */
	KAFKA_TOO_LARGE, /* refused for its size: resend the records in smaller batches */
	KAFKA_REJECT,    /* refused for good (authorization, invalid records) */
};
enum kafka_action kafka_error_action(int code);

/* Compression codecs: the low 3 bits of a RecordBatch's attributes. */
enum kafka_codec {
	KAFKA_CODEC_NONE = 0,
	KAFKA_CODEC_GZIP = 1,
	KAFKA_CODEC_SNAPPY = 2,
	KAFKA_CODEC_LZ4 = 3,
	KAFKA_CODEC_ZSTD = 4
};

/* --- checksums and the partitioner ---------------------------------------- */

/* CRC-32C (Castagnoli, reflected 0x82F63B78): crc32c(0, p, n) for a whole buffer; chainable. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

/* Kafka's murmur2 (the Java client's Utils.murmur2). */
int32_t kafka_murmur2(const void *p, size_t n);

/* The Java client's default partition for a key: (murmur2(key) & 0x7fffffff) % nparts. */
int32_t kafka_partition_for(const void *key, size_t n, int32_t nparts);

/* --- primitive encodings ----------------------------------------------------- */

/* Big-endian integers and Kafka strings/bytes appended to b (the buffer's ceiling applies). */
void kafka_put_i8(struct buf *b, int8_t v);
void kafka_put_i16(struct buf *b, int16_t v);
void kafka_put_i32(struct buf *b, int32_t v);
void kafka_put_i64(struct buf *b, int64_t v);
void kafka_put_string(struct buf *b, const char *s);           /* int16 length; NULL = null (-1) */
void kafka_put_bytes(struct buf *b, const void *p, int32_t n); /* int32 length; p NULL = null */
/* Zig-zag varint (records' varint/varlong); its size in bytes. */
void kafka_put_varint(struct buf *b, int64_t v);
size_t kafka_varint_size(int64_t v);
/* Read one zig-zag varint at *p (< end); advances *p. 0, or -1 if truncated or too long. */
int kafka_get_varint(const unsigned char **p, const unsigned char *end, int64_t *v);

/* --- requests ------------------------------------------------------------------- */

/*
 * Begin a request in b: the size placeholder and request header v1 (api
 * key, version, correlation id, client id). Returns where it starts, for
 * kafka_request_end(), which fills in the size. b->overflow tells of a
 * request that did not fit.
 */
size_t kafka_request_begin(struct buf *b, int api, int version, int32_t correlation_id,
                           const char *client_id);
void kafka_request_end(struct buf *b, size_t start);

/* Request bodies. */
void kafka_metadata_request(struct buf *b, int version, const char *topic);
void kafka_init_producer_id_request(struct buf *b, int version);
void kafka_sasl_handshake_request(struct buf *b, const char *mechanism);
void kafka_sasl_authenticate_request(struct buf *b, const void *p, size_t n);
/*
 * A Produce request body (v3-v8) for one topic: the header, then nparts
 * times kafka_produce_partition() with each partition's RecordBatch.
 */
void kafka_produce_request(struct buf *b, int16_t acks, int32_t timeout_ms, const char *topic,
                           int32_t nparts);
void kafka_produce_partition(struct buf *b, int32_t partition, const void *batch, size_t len);

/* --- RecordBatch v2 --------------------------------------------------------------- */

struct kafka_record {
	int64_t timestamp_ms;
	const char *key;
	int32_t key_len; /* -1: a null key */
	const char *value;
	uint32_t value_len;
};

struct kafka_batch_opts {
	int64_t producer_id; /* -1 without idempotence */
	int16_t producer_epoch;
	int32_t base_sequence; /* -1 without idempotence */
	enum kafka_codec codec;
};

#define KAFKA_BATCH_HEADER 61 /* bytes before the records */

/*
 * Append one RecordBatch (magic 2) of records r[0..n) to out: offsets 0..n-1,
 * timestamps as given (CreateTime), base timestamp the first record's, no
 * headers, CRC-32C over attributes..end. With a codec the records are built
 * in scratch and compressed into out. 0, or -1 (out's ceiling, a codec that
 * failed or is not built in).
 */
int kafka_record_batch(struct buf *out, const struct kafka_batch_opts *o, const struct kafka_record *r,
                       size_t n, struct buf *scratch);

/* --- responses ---------------------------------------------------------------------- */

/*
 * One response frame at p[0..n): returns its total size (4 + length) and
 * sets *correlation_id and the body after it; 0 when more bytes are needed;
 * -1 when the frame is shorter than a header or longer than max.
 */
long kafka_frame(const char *p, size_t n, size_t max, int32_t *correlation_id, const char **body,
                 size_t *len);

/* The broker's supported versions by api key; -1 = not supported. */
struct kafka_versions {
	int16_t min[KAFKA_API_MAX], max[KAFKA_API_MAX];
};
/* ApiVersions v0-v2. *err is the top-level error (UNSUPPORTED_VERSION: retry with v0). 0 or -1. */
int kafka_read_api_versions(const char *p, size_t n, int version, int16_t *err, struct kafka_versions *v);
/* The highest version in [lo, hi] the broker supports for api, or -1. */
int kafka_pick_version(const struct kafka_versions *v, int api, int lo, int hi);

struct kafka_broker_md {
	int32_t id;
	int32_t port;
	char host[256];
};
struct kafka_partition_md {
	int32_t id;
	int32_t leader; /* -1: none */
	int16_t err;
};
/* What a Metadata answer says about the cluster and one topic (allocated: kafka_metadata_free()). */
struct kafka_metadata {
	struct kafka_broker_md *brokers;
	size_t nbrokers;
	bool topic_found;                 /* the topic is in the answer */
	int16_t topic_err;                /* its error code */
	struct kafka_partition_md *parts; /* sorted by id */
	size_t nparts;
};
#define KAFKA_MAX_BROKERS 1024
#define KAFKA_MAX_PARTITIONS 100000
/* Metadata v0-v8 answer, keeping the brokers and the partitions of topic. 0 or -1. */
int kafka_read_metadata(const char *p, size_t n, int version, const char *topic, struct kafka_metadata *md);
void kafka_metadata_free(struct kafka_metadata *md);

struct kafka_produce_result {
	int32_t partition;
	int16_t err;
	int64_t base_offset;
	char message[128]; /* error_message (v8+), "" when absent */
};
/*
 * Produce v3-v8 answer: the results of topic's partitions, at most max of
 * them into res, *count set to how many. 0 or -1.
 */
int kafka_read_produce(const char *p, size_t n, int version, const char *topic,
                       struct kafka_produce_result *res, size_t max, size_t *count);

/* InitProducerId v0-v1 answer. 0 or -1. */
int kafka_read_init_producer_id(const char *p, size_t n, int16_t *err, int64_t *producer_id, int16_t *epoch);

/* SaslHandshake v1 answer: *err, and the broker's mechanisms joined by ", " into mechs. 0 or -1. */
int kafka_read_sasl_handshake(const char *p, size_t n, int16_t *err, char *mechs, size_t mlen);

/*
 * SaslAuthenticate v0-v1 answer: *err, the error message into msg, the
 * server's bytes (pointing into p), and the session lifetime in ms (v1; 0
 * = none). 0 or -1.
 */
int kafka_read_sasl_authenticate(const char *p, size_t n, int version, int16_t *err, char *msg, size_t mlen,
                                 const char **bytes, size_t *blen, int64_t *lifetime_ms);

#endif
