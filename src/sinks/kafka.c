/*
 * kafka.c -- `kafka:` sink: upstream's records, produced by our own small
 * producer on the event loop (no librdkafka: 2 MB, OpenSSL, threads).
 *
 *   --sink=kafka:?brokers=h1:9092&brokers=h2:9092&eventstopic=heapster-events
 *
 * Records. Upstream's value, byte for byte in meaning (DATA-SINKS.md §4):
 *   {"EventValue":"<the Event as Go's MarshalIndent>","EventTimestamp":"<effective
 *    time, RFC 3339 nano, UTC>","EventTags":{"eventID":..,"hostname":..[,"pod_id",
 *    "pod_name"]}}
 * with the record timestamp = the effective event time (CreateTime) and the
 * key = the involved object's uid (message_key=none: upstream's null key),
 * so the records of one object stay in order on one partition (Java's
 * murmur2 partitioner). A rendered item is framed as
 *   [int64 timestamp ms][uint16 key length, 0xffff = null][key][value]
 *
 * Protocol (kafka_proto.c): per connection ApiVersions, then SASL (PLAIN or
 * SCRAM-SHA-256/512) when asked; Metadata for the topic (partitions and
 * their leaders); InitProducerId for the idempotent producer; Produce with
 * one RecordBatch v2 per partition, one request per leader. Versions are
 * the highest both sides know: Kafka 2.x to 4.x.
 *
 * The transport, and why retries never duplicate:
 *
 * - The engine hands us one batch at a time (concurrency is fixed at 1).
 *   send() splits it by partition into chunks and encodes each chunk's
 *   RecordBatch ONCE, with the partition's next sequence number; one
 *   Produce per leader carries the chunks it leads.
 * - A chunk whose answer is retriable (a lost or timed-out connection, a
 *   moved leader, NOT_ENOUGH_REPLICAS, ...) is resent by us, byte for byte
 *   the same (producer id, epoch, base sequence), after a pause and, for
 *   leader errors, fresh metadata -- to whichever broker leads then. A
 *   broker that wrote it before answers with the original offset (or
 *   DUPLICATE_SEQUENCE_NUMBER), so an ambiguous failure never writes twice.
 *   Chunks that never reached a broker (broker down) wait without using up
 *   tries: the batch stays in flight, the engine's bounded queue holds what
 *   comes meanwhile, and delivery resumes when a broker is back.
 * - Only settled results go to the engine, once per batch, item by item:
 *   OK; SPLIT for MESSAGE_TOO_LARGE (the engine resends in halves);
 *   DROP for a refusal (authorization, invalid records) or a chunk out of
 *   tries (retries=); RETRY only where the batch must be rebuilt: the
 *   broker lost or fenced our producer id (UNKNOWN_PRODUCER_ID,
 *   OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH). Then, once
 *   nothing is in flight, a new producer id is fetched and every sequence
 *   starts at 0; the engine's RETRY items are re-encoded under it.
 *   A refused chunk hands its sequence numbers back (nothing was written);
 *   a chunk given up after ambiguous failures also resets the producer id.
 * - Without idempotence (acks=1, idempotence=false, or a broker that
 *   refuses InitProducerId) the same identical resend makes it
 *   at-least-once, as with any Kafka producer.
 * - One batch in flight keeps per-partition order trivially; throughput
 *   comes from big batches (one round trip per batch_size items).
 *
 * Everything happens in drive(), run from a timer that the connection
 * callbacks arm (never from inside them), or from send().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "event.h"
#include "gotime.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "scram.h"
#include "sink.h"
#include "sinks/kafka.h"
#include "uri.h"
#include "util.h"

#define MAX_BROKER_PARAMS 64
#define METADATA_MAX_AGE_MS (5 * 60 * 1000) /* refresh the metadata this often anyway */
#define RECONNECT_BASE_MS 250
#define RECONNECT_MAX_MS 10000
#define RETRY_BASE_MS 100
#define RETRY_MAX_MS 5000
#define IN_MAX (16 << 20) /* the largest answer we read (a Metadata of a huge cluster) */

enum sasl { SASL_NONE, SASL_PLAIN, SASL_SCRAM_256, SASL_SCRAM_512 };
static const char *const sasl_names[] = { "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" };

struct kafka;
struct kconn;

/* A broker we know: from brokers= (bootstrap) or from the metadata. */
struct kbroker {
	int32_t id; /* node id; bootstrap entries have none (-1) */
	bool bootstrap;
	bool listed; /* in the latest metadata */
	char host[256];
	int port;
	struct kconn *conn;
	unsigned fails;   /* connection failures in a row */
	char logged[200]; /* the last failure logged (a new reason is logged again) */
	int64_t retry_at; /* no new connection before this (monotonic ms) */
	bool too_old;     /* no Produce v3+: Kafka < 0.11 */
};

enum rq_kind { RQ_API_VERSIONS, RQ_SASL_HANDSHAKE, RQ_SASL_AUTH, RQ_METADATA, RQ_INIT_PID, RQ_PRODUCE };

struct kchunk;

/* A request on a connection, waiting for its answer (answers come in order). */
struct kreq {
	struct kreq *next;
	int32_t corr;
	enum rq_kind kind;
	int16_t version;
	unsigned nchunks;
	struct kchunk **chunks; /* Produce: what it carries (entries NULL once cancelled) */
};

enum cstate { C_CONNECTING, C_HANDSHAKE, C_READY };

struct kconn {
	struct kafka *k;
	struct kbroker *b;
	struct net *net;
	enum cstate st;
	struct kreq *head, *tail;
	unsigned pending;
	int16_t v_produce, v_metadata, v_init_pid, v_sasl_auth;
	bool has_init_pid;
	struct scram scram;
	int64_t reauth_at; /* SASL session lifetime: reconnect when idle after this */
	bool doomed;       /* close when drive() comes round (address changed, session over) */
	char why[200];     /* our reason for a protocol error */
};

enum chstate { CH_WAIT, CH_SENT, CH_DONE };

/* One partition's share of the batch in flight. */
struct kchunk {
	int32_t partition;
	enum chstate st;
	unsigned n;       /* items */
	unsigned *idx;    /* their positions in the engine's batch */
	struct buf rb;    /* the RecordBatch, the same bytes on every try */
	int32_t base_seq; /* -1 without idempotence */
	unsigned tries;   /* answers or losses after it was sent */
	int64_t not_before;
	signed char verdict;
	char why[120];
	struct kconn *on; /* CH_SENT: the connection it went out on */
};

enum pidstate { PID_NEED, PID_HAVE, PID_OFF };

struct kafka {
	struct sink *s;
	/* parameters */
	char *topic, *client_id;
	int16_t acks;
	bool idempotence;
	enum kafka_codec codec;
	bool null_key;
	bool tls;
	struct http_tls tlscfg;
	enum sasl sasl;
	char *user, *password;
	/* brokers */
	struct kbroker **brokers;
	size_t nbrokers;
	size_t next_boot; /* round robin over the candidates for a first connection */
	/* metadata */
	int32_t *leaders; /* per partition (ids 0..nparts-1) */
	int32_t nparts;
	bool md_valid, md_wanted, md_inflight;
	int64_t md_at, md_retry_at;
	unsigned md_fails;
	int16_t md_topic_err;
	struct kafka_metadata md_next; /* an answer waiting for drive() */
	bool md_next_set;
	/* the idempotent producer */
	enum pidstate pid_state;
	bool pid_inflight;
	int64_t pid, pid_retry_at;
	int16_t epoch;
	unsigned pid_fails;
	int32_t *seq; /* next sequence per partition */
	int32_t nseq;
	/* the batch in flight */
	struct sink_batch *b;
	struct kchunk *chunks;
	unsigned nchunks;
	int32_t *chunk_of; /* per partition: its chunk in the batch, -1 none */
	int32_t sticky;    /* null keys: the partition of this batch */
	bool later;        /* send() said "not ready": kick the engine when ready */
	/* the loop */
	struct loop_timer timer;
	bool driving, again;
	int32_t corr;
	struct buf req, scratch;
	struct kafka_record *recs;
	size_t recs_cap;
	struct buf pool[16]; /* RecordBatch buffers kept between batches (no mmap per batch) */
	unsigned npool;
	char state_logged[200]; /* the last "not ready" reason logged */
};

/* --- parameters --------------------------------------------------------------- */

/* "host:port" or "[v6]:port" into host and port. 0 or -1. */
static int split_hostport(const char *v, size_t len, char *host, size_t hostlen, int *port)
{
	const char *colon;
	size_t hl;
	const char *h = v;
	if (len && v[0] == '[') {
		const char *close = memchr(v, ']', len);
		if (!close || close + 1 >= v + len || close[1] != ':')
			return -1;
		h = v + 1;
		hl = (size_t)(close - v - 1);
		colon = close + 1;
	} else {
		colon = NULL;
		for (size_t i = 0; i < len; i++)
			if (v[i] == ':')
				colon = v + i;
		if (!colon)
			return -1;
		hl = (size_t)(colon - v);
		if (memchr(v, ':', hl)) /* a bare IPv6 address needs brackets */
			return -1;
	}
	int64_t p;
	size_t plen = (size_t)(v + len - colon - 1);
	if (!hl || hl >= hostlen || parse_i64(colon + 1, plen, &p) < 0 || p < 1 || p > 65535)
		return -1;
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == '/' || h[i] == '?' || h[i] == '#' || h[i] == '@')
			return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return 0;
}

static struct kbroker *add_broker(struct kafka *k, int32_t id, const char *host, int port, bool boot)
{
	struct kbroker *b = xcalloc(1, sizeof *b);
	b->id = id;
	b->bootstrap = boot;
	snprintf(b->host, sizeof b->host, "%s", host);
	b->port = port;
	k->brokers = xrealloc(k->brokers, (k->nbrokers + 1) * sizeof *k->brokers);
	k->brokers[k->nbrokers++] = b;
	return b;
}

/* A topic name Kafka accepts: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
static bool topic_ok(const char *t)
{
	size_t n = strlen(t);
	if (!n || n > 249 || !strcmp(t, ".") || !strcmp(t, ".."))
		return false;
	return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static bool readable(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f)
		fclose(f);
	return f != NULL;
}

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct kafka *k = xcalloc(1, sizeof *k);
	s->impl = k;
	k->s = s;
	loop_timer_init(&k->timer, NULL, NULL);
	buf_init(&k->req, 64 * 1024);
	buf_init(&k->scratch, 2 * s->cfg.batch_bytes + (1 << 20));

	if (u->scheme[0] || u->host[0] || u->path[0]) {
		snprintf(err, errlen,
		         "give the brokers as parameters: kafka:?brokers=host:9092&brokers=host2:9092");
		return -1;
	}
	const char *vals[MAX_BROKER_PARAMS];
	size_t nb = uri_get_all(u, "brokers", vals, MAX_BROKER_PARAMS);
	if (nb > MAX_BROKER_PARAMS) {
		snprintf(err, errlen, "brokers: given %zu times, at most %d", nb, MAX_BROKER_PARAMS);
		return -1;
	}
	for (size_t i = 0; i < nb; i++) {
		const char *v = vals[i];
		do { /* one value may also list several, comma-separated */
			size_t len = strcspn(v, ",");
			char host[256];
			int port;
			if (split_hostport(v, len, host, sizeof host, &port) < 0) {
				snprintf(err, errlen,
				         "brokers: \"%.*s\" is not host:port (e.g. kafka-0:9092, [::1]:9092)",
				         (int)MIN(len, 200), v);
				return -1;
			}
			add_broker(k, -1, host, port, true);
			v += len;
		} while (*v++ == ',');
	}
	if (!k->nbrokers) {
		snprintf(err, errlen, "brokers: required (kafka:?brokers=host:9092[&brokers=host2:9092])");
		return -1;
	}

	const char *v = uri_get(u, "eventstopic");
	k->topic = xstrdup(v && *v ? v : "heapster-events");
	if (!topic_ok(k->topic)) {
		snprintf(err, errlen,
		         "eventstopic: \"%.200s\" is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)",
		         k->topic);
		return -1;
	}
	v = uri_get(u, "client_id");
	k->client_id = xstrdup(v && *v ? v : "kafka-sink"); /* upstream's, for quotas and ACLs */

	v = uri_get(u, "compression");
	if (!v || !*v || !strcmp(v, "none")) {
		k->codec = KAFKA_CODEC_NONE;
	} else if (!strcmp(v, "gzip")) {
		k->codec = KAFKA_CODEC_GZIP;
	} else if (!strcmp(v, "lz4")) {
		k->codec = KAFKA_CODEC_LZ4;
	} else if (!strcmp(v, "snappy")) {
		/* upstream took it; consumers decompress any codec, so lz4 does the same job */
		log_warn("sink %s: compression=snappy is not built in; using lz4 (consumers read either)",
		         s->name);
		k->codec = KAFKA_CODEC_LZ4;
	} else {
		snprintf(err, errlen,
		         "compression: \"%.100s\" is not one of none, gzip, lz4 (snappy is sent as lz4)", v);
		return -1;
	}

	v = uri_get(u, "acks");
	if (!v || !strcmp(v, "all") || !strcmp(v, "-1")) {
		k->acks = -1;
	} else if (!strcmp(v, "1")) {
		k->acks = 1;
	} else {
		snprintf(err, errlen, "acks: \"%.100s\" must be all (-1) or 1%s", v,
		         !strcmp(v, "0") ? " (0 gives no delivery report: nothing could be retried)" : "");
		return -1;
	}
	if (sink_param_bool(u, "idempotence", k->acks == -1, &k->idempotence, err, errlen) < 0)
		return -1;
	if (k->idempotence && k->acks != -1) {
		snprintf(err, errlen, "idempotence: needs acks=all");
		return -1;
	}
	k->pid_state = k->idempotence ? PID_NEED : PID_OFF;
	k->pid = -1;
	k->epoch = -1;

	v = uri_get(u, "message_key");
	if (!v || !strcmp(v, "uid")) {
		k->null_key = false;
	} else if (!strcmp(v, "none") || !strcmp(v, "null")) {
		k->null_key = true;
	} else {
		snprintf(err, errlen, "message_key: \"%.100s\" must be uid (the involved object's) or none",
		         v);
		return -1;
	}

	/* TLS: tls=true (system CAs), or upstream's cacert / cert+key turn it on */
	const char *cert = uri_get(u, "cert"), *key = uri_get(u, "key");
	if ((cert && *cert) != (key && *key)) {
		snprintf(err, errlen, "%s: a client certificate needs both cert and key",
		         cert && *cert ? "key" : "cert");
		return -1;
	}
	bool tls_default = s->cfg.cacert || (cert && *cert);
	if (sink_param_bool(u, "tls", tls_default, &k->tls, err, errlen) < 0)
		return -1;
	bool insecure;
	if (sink_param_bool(u, "insecuressl", s->cfg.insecure, &insecure, err, errlen) < 0)
		return -1;
	k->tlscfg.insecure = insecure;
	k->tlscfg.ca_file = s->cfg.cacert;
	if (cert && *cert) {
		k->tlscfg.cert_file = xstrdup(cert);
		k->tlscfg.key_file = xstrdup(key);
	}
	if (k->tls) {
		const char *files[][2] = { { "cacert", s->cfg.cacert }, { "cert", cert }, { "key", key } };
		for (size_t i = 0; i < ARRAY_LEN(files); i++) {
			if (files[i][1] && *files[i][1] && !readable(files[i][1])) {
				snprintf(err, errlen, "%s: cannot read %.200s", files[i][0], files[i][1]);
				return -1;
			}
		}
	}

	/* SASL: upstream's user+password (PLAIN), or the mechanism asked */
	const char *user = uri_get(u, "user"), *pw = uri_get(u, "password"),
	           *mech = uri_get(u, "sasl_mechanism");
	bool has_user = user && *user, has_pw = pw && *pw;
	if (has_user != has_pw) {
		snprintf(err, errlen, "%s: SASL needs both user and password",
		         has_user ? "password" : "user");
		return -1;
	}
	if (mech && *mech) {
		if (!strcasecmp(mech, "PLAIN"))
			k->sasl = SASL_PLAIN;
		else if (!strcasecmp(mech, "SCRAM-SHA-256"))
			k->sasl = SASL_SCRAM_256;
		else if (!strcasecmp(mech, "SCRAM-SHA-512"))
			k->sasl = SASL_SCRAM_512;
		else {
			snprintf(
			    err, errlen,
			    "sasl_mechanism: \"%.100s\" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
			    mech);
			return -1;
		}
		if (!has_user) {
			snprintf(err, errlen, "sasl_mechanism: %s needs user and password",
			         sasl_names[k->sasl]);
			return -1;
		}
	} else if (has_user) {
		k->sasl = SASL_PLAIN;
	}
	if (k->sasl) {
		k->user = xstrdup(user);
		k->password = xstrdup(pw);
		if (k->sasl == SASL_PLAIN && !k->tls)
			log_warn("sink %s: SASL PLAIN without TLS sends the password in clear (tls=true: "
			         "SASL_SSL)",
			         s->name);
	}

	/* One batch in flight: per-partition order and identical resends (see the top). */
	s->cfg.concurrency = 1;
	return 0;
}

/* --- rendering ------------------------------------------------------------------ */

static void put_be(struct buf *b, uint64_t v, int n)
{
	unsigned char t[8];
	for (int i = 0; i < n; i++)
		t[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	buf_append(b, t, (size_t)n);
}

/*
 * s[0..n) escaped for the inside of a JSON string, as buf_json_escape() does
 * it for valid UTF-8 (what buf_json_indent() prints from our own JSON), but
 * through a stack chunk: the indented Event is mostly quotes and newlines,
 * and one append per escape made this the most expensive part of a record.
 */
static void escape_json_text(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* what a byte becomes after a backslash: 0 = itself, unescaped; 'u' = \u00XX */
	static unsigned char esc[256];
	if (!esc['"']) {
		for (int c = 0; c < 0x20; c++)
			esc[c] = 'u';
		esc[0x7f] = 'u';
		esc['"'] = '"';
		esc['\\'] = '\\';
		esc['\n'] = 'n';
		esc['\r'] = 'r';
		esc['\t'] = 't';
	}
	char chunk[6 * 1024];
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		/* at most 1024 input bytes per round: 6 output bytes each at worst */
		const unsigned char *stop = end - p > 1024 ? p + 1024 : end;
		size_t k = 0;
		for (; p < stop; p++) {
			unsigned char c = *p, e = esc[c];
			if (!e) {
				chunk[k++] = (char)c;
			} else if (e != 'u') {
				chunk[k++] = '\\';
				chunk[k++] = (char)e;
			} else {
				memcpy(chunk + k, "\\u00", 4);
				chunk[k + 4] = hex[c >> 4];
				chunk[k + 5] = hex[c & 15];
				k += 6;
			}
		}
		buf_append(out, chunk, k);
	}
}

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct kafka *k = s->impl;
	if (!ev->json_len) {
		snprintf(err, errlen, "the event is too large to store");
		return -1;
	}
	int64_t ts = ev->eff_time.sec * 1000 + ev->eff_time.nsec / 1000000;
	put_be(out, (uint64_t)ts, 8);
	size_t klen = strlen(ev->involved.uid);
	if (k->null_key || klen > 0xfffe) {
		put_be(out, 0xffff, 2);
	} else {
		put_be(out, klen, 2);
		buf_append(out, ev->involved.uid, klen);
	}
	/* Go's json.Marshal of upstream's KafkaSinkPoint: fields in struct order, map keys sorted */
	buf_puts(out, "{\"EventValue\":\"");
	static struct buf indented = BUF_INIT(2 * EVENT_JSON_MAX);
	buf_reset(&indented);
	buf_json_indent(&indented, ev->json, ev->json_len);
	escape_json_text(out, buf_str(&indented), indented.len);
	if (indented.cap > 64 * 1024)
		buf_free(&indented);
	buf_puts(out, "\",\"EventTimestamp\":\"");
	gotime_format(out, ev->eff_time, true, "2006-01-02T15:04:05.999999999Z07:00");
	buf_puts(out, "\",\"EventTags\":{\"eventID\":");
	buf_json_string(out, ev->uid);
	buf_puts(out, ",\"hostname\":");
	buf_json_string(out, ev->source.host);
	if (strcmp(ev->involved.kind, "Pod") == 0) {
		buf_puts(out, ",\"pod_id\":");
		buf_json_string(out, ev->involved.uid);
		buf_puts(out, ",\"pod_name\":");
		buf_json_string(out, ev->involved.name);
	}
	buf_puts(out, "}}");
	return out->overflow ? -1 : 0;
}

/* An item's parts back from its framing. */
static void item_record(const struct msg *m, struct kafka_record *r)
{
	const unsigned char *p = (const unsigned char *)m->body;
	uint64_t ts = 0;
	for (int i = 0; i < 8; i++)
		ts = ts << 8 | p[i];
	unsigned kl = (unsigned)p[8] << 8 | p[9];
	r->timestamp_ms = (int64_t)ts;
	r->key = kl == 0xffff ? NULL : m->body + 10;
	r->key_len = kl == 0xffff ? -1 : (int32_t)kl;
	size_t off = 10 + (kl == 0xffff ? 0 : kl);
	r->value = m->body + off;
	r->value_len = (uint32_t)(m->len - off);
}

/* --- connections ------------------------------------------------------------------- */

static void drive(struct kafka *k);

/* Run drive() from the loop soon: callbacks never act on other connections themselves. */
static void poke(struct kafka *k)
{
	if (k->s->loop)
		loop_timer_arm(k->s->loop, &k->timer, 0);
}

static int64_t backoff(unsigned n, int64_t base, int64_t max)
{
	int64_t d = MIN(base << MIN(n, 16u), max);
	return d * 8 / 10 + (int64_t)(random_u64() % (uint64_t)(d * 4 / 10 + 1));
}

static int32_t next_corr(struct kafka *k)
{
	k->corr = k->corr >= INT32_MAX - 1 ? 1 : k->corr + 1;
	return k->corr;
}

static struct kreq *push_req(struct kconn *c, enum rq_kind kind, int version, int32_t corr)
{
	struct kreq *r = xcalloc(1, sizeof *r);
	r->corr = corr;
	r->kind = kind;
	r->version = (int16_t)version;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->pending++;
	return r;
}

static void free_req(struct kreq *r)
{
	free(r->chunks);
	free(r);
}

/* Queue a simple request (its body built by fill) on c. 0 or -1 (the buffer is full). */
static int send_req(struct kconn *c, enum rq_kind kind, int version,
                    void (*fill)(struct kconn *, struct buf *), struct kreq **out)
{
	struct kafka *k = c->k;
	struct buf *b = &k->req;
	static const int api_of[] = {
		[RQ_API_VERSIONS] = KAFKA_API_VERSIONS,   [RQ_SASL_HANDSHAKE] = KAFKA_SASL_HANDSHAKE,
		[RQ_SASL_AUTH] = KAFKA_SASL_AUTHENTICATE, [RQ_METADATA] = KAFKA_METADATA,
		[RQ_INIT_PID] = KAFKA_INIT_PRODUCER_ID,   [RQ_PRODUCE] = KAFKA_PRODUCE
	};
	buf_reset(b);
	int32_t corr = next_corr(k);
	size_t at = kafka_request_begin(b, api_of[kind], version, corr, k->client_id);
	fill(c, b);
	kafka_request_end(b, at);
	int rc = b->overflow ? -1 : net_send(c->net, b->data, b->len);
	if (kind == RQ_SASL_AUTH && b->data)
		memset(b->data, 0, b->len); /* (a password may be in it) */
	if (rc < 0)
		return -1;
	struct kreq *r = push_req(c, kind, version, corr);
	if (out)
		*out = r;
	net_deadline(c->net, k->s->cfg.timeout_ms + 5000);
	return 0;
}

static void fill_api_versions(struct kconn *c, struct buf *b)
{
	(void)c;
	(void)b; /* no body before v3 */
}

static int sasl_token_plain(struct kafka *k, struct buf *b)
{
	/* authzid NUL authcid NUL password (RFC 4616) */
	buf_putc(b, '\0');
	buf_puts(b, k->user);
	buf_putc(b, '\0');
	buf_puts(b, k->password);
	return b->overflow ? -1 : 0;
}

static struct buf sasl_out = BUF_INIT(64 * 1024); /* the next SaslAuthenticate's bytes */

static void fill_sasl_handshake(struct kconn *c, struct buf *b)
{
	kafka_sasl_handshake_request(b, sasl_names[c->k->sasl]);
}

static void fill_sasl_auth(struct kconn *c, struct buf *b)
{
	(void)c;
	kafka_sasl_authenticate_request(b, sasl_out.data, sasl_out.len);
}

static void fill_metadata(struct kconn *c, struct buf *b)
{
	kafka_metadata_request(b, c->v_metadata, c->k->topic);
}

static void fill_init_pid(struct kconn *c, struct buf *b)
{
	kafka_init_producer_id_request(b, c->v_init_pid);
}

static void on_open(void *ctx)
{
	struct kconn *c = ctx;
	c->st = C_HANDSHAKE;
	log_debug("sink %s: connected to %s:%d", c->k->s->name, c->b->host, c->b->port);
	/* ApiVersions v2 (Kafka 2.0+); an older broker answers UNSUPPORTED_VERSION and gets v0 */
	send_req(c, RQ_API_VERSIONS, 2, fill_api_versions, NULL); /* (an empty buffer takes it) */
}

static void chunk_lost(struct kafka *k, struct kchunk *ch, const char *why)
{
	ch->st = CH_WAIT;
	ch->on = NULL;
	ch->tries++;
	ch->not_before = now_mono_ms() + backoff(ch->tries - 1, RETRY_BASE_MS, RETRY_MAX_MS);
	snprintf(ch->why, sizeof ch->why, "%s", why);
	k->md_wanted = true; /* the leader may have moved */
}

/* Forget c: what it carried goes back to waiting; the broker backs off if it never got ready. */
static void conn_gone(struct kconn *c, const char *why, bool failed)
{
	struct kafka *k = c->k;
	struct kbroker *b = c->b;
	for (struct kreq *r = c->head, *next; r; r = next) {
		next = r->next;
		if (r->kind == RQ_METADATA)
			k->md_inflight = false;
		else if (r->kind == RQ_INIT_PID)
			k->pid_inflight = false;
		for (unsigned i = 0; i < r->nchunks; i++)
			if (r->chunks[i] && r->chunks[i]->st == CH_SENT)
				chunk_lost(k, r->chunks[i], why);
		free_req(r);
	}
	bool was_ready = c->st == C_READY;
	bool had_pending = c->pending > 0;
	if (failed && !was_ready) {
		b->fails++;
		b->retry_at =
		    now_mono_ms() +
		    (b->too_old ? 60000 : backoff(b->fails - 1, RECONNECT_BASE_MS, RECONNECT_MAX_MS));
		if (strcmp(b->logged, why) != 0) {
			log_warn("sink %s: broker %s:%d: %s (retrying with backoff)", k->s->name, b->host,
			         b->port, why);
			snprintf(b->logged, sizeof b->logged, "%s", why);
		} else {
			log_debug("sink %s: broker %s:%d: %s", k->s->name, b->host, b->port, why);
		}
	} else if (had_pending) {
		log_warn("sink %s: broker %s:%d: connection lost with requests in flight: %s (resending)",
		         k->s->name, b->host, b->port, why);
		b->retry_at = now_mono_ms() + RECONNECT_BASE_MS;
	} else {
		log_debug("sink %s: broker %s:%d: connection closed: %s", k->s->name, b->host, b->port, why);
	}
	scram_free(&c->scram);
	b->conn = NULL;
	free(c);
	poke(k);
}

static void on_close(void *ctx, int err, const char *why)
{
	struct kconn *c = ctx;
	c->net = NULL;
	conn_gone(c, c->why[0] ? c->why : why && *why ? why : "closed", err != 0 || c->st != C_READY);
}

/* Close c from drive(): the same as a loss, without a callback. */
static void conn_close(struct kconn *c, const char *why)
{
	net_close(c->net);
	c->net = NULL;
	conn_gone(c, why, false);
}

static long protocol_error(struct kconn *c, const char *fmt, const char *detail)
{
	snprintf(c->why, sizeof c->why, fmt, detail);
	return -1;
}

static void ready(struct kconn *c)
{
	c->st = C_READY;
	if (c->b->fails)
		log_info("sink %s: broker %s:%d: connected again", c->k->s->name, c->b->host, c->b->port);
	c->b->fails = 0;
	c->b->logged[0] = '\0';
	poke(c->k);
}

static int sasl_next(struct kconn *c, const char *in, size_t n)
{
	struct kafka *k = c->k;
	char err[200];
	buf_reset(&sasl_out);
	if (k->sasl == SASL_PLAIN) {
		if (sasl_token_plain(k, &sasl_out) < 0)
			return -1;
	} else if (c->scram.step == 0) {
		if (scram_start(&c->scram, k->sasl == SASL_SCRAM_512 ? CRYPTO_SHA512 : CRYPTO_SHA256, k->user,
		                k->password, NULL, &sasl_out) < 0) {
			snprintf(c->why, sizeof c->why, "SCRAM: no random bytes for a nonce");
			return -1;
		}
	} else if (scram_final(&c->scram, in, n, &sasl_out, err, sizeof err) < 0) {
		snprintf(c->why, sizeof c->why, "%s", err);
		return -1;
	}
	int r = send_req(c, RQ_SASL_AUTH, c->v_sasl_auth, fill_sasl_auth, NULL);
	if (sasl_out.data) /* (a password may have been in it) */
		memset(sasl_out.data, 0, sasl_out.cap);
	buf_reset(&sasl_out);
	return r;
}

static long on_api_versions(struct kconn *c, struct kreq *r, const char *p, size_t n)
{
	struct kafka *k = c->k;
	struct kafka_versions v;
	int16_t err;
	if (kafka_read_api_versions(p, n, r->version, &err, &v) < 0 && err != KERR_UNSUPPORTED_VERSION)
		return protocol_error(c, "malformed ApiVersions answer%s", "");
	if (err == KERR_UNSUPPORTED_VERSION && r->version > 0)
		return send_req(c, RQ_API_VERSIONS, 0, fill_api_versions, NULL) < 0 ? -1 : 0;
	if (err)
		return protocol_error(c, "ApiVersions: %s", kafka_error_name(err));
	int pv = kafka_pick_version(&v, KAFKA_PRODUCE, 3, 8);
	int mv = kafka_pick_version(&v, KAFKA_METADATA, 0, 8);
	if (pv < 0 || mv < 0) {
		c->b->too_old = true;
		char have[64];
		snprintf(have, sizeof have, "Produce v%d-v%d, Metadata v%d-v%d", v.min[KAFKA_PRODUCE],
		         v.max[KAFKA_PRODUCE], v.min[KAFKA_METADATA], v.max[KAFKA_METADATA]);
		return protocol_error(c, "the broker offers %s; we need Produce v3-v8 (Kafka 0.11 or later)",
		                      have);
	}
	c->v_produce = (int16_t)pv;
	c->v_metadata = (int16_t)mv;
	int iv = kafka_pick_version(&v, KAFKA_INIT_PRODUCER_ID, 0, 1);
	c->has_init_pid = iv >= 0;
	c->v_init_pid = (int16_t)(iv < 0 ? 0 : iv);
	int sv = kafka_pick_version(&v, KAFKA_SASL_AUTHENTICATE, 0, 1);
	c->v_sasl_auth = (int16_t)(sv < 0 ? 0 : sv);
	log_debug("sink %s: broker %s:%d: Produce v%d, Metadata v%d, InitProducerId %s", k->s->name,
	          c->b->host, c->b->port, pv, mv, iv >= 0 ? "yes" : "no");
	if (k->sasl)
		return send_req(c, RQ_SASL_HANDSHAKE, 1, fill_sasl_handshake, NULL) < 0 ? -1 : 0;
	ready(c);
	return 0;
}

static long on_sasl_handshake(struct kconn *c, const char *p, size_t n)
{
	int16_t err;
	char mechs[200];
	if (kafka_read_sasl_handshake(p, n, &err, mechs, sizeof mechs) < 0)
		return protocol_error(c, "malformed SaslHandshake answer%s", "");
	if (err) {
		snprintf(c->why, sizeof c->why, "SASL %s: %s (the broker offers: %.100s)",
		         sasl_names[c->k->sasl], kafka_error_name(err), mechs[0] ? mechs : "none");
		return -1;
	}
	return sasl_next(c, NULL, 0) < 0 ? -1 : 0;
}

static long on_sasl_auth(struct kconn *c, struct kreq *r, const char *p, size_t n)
{
	struct kafka *k = c->k;
	int16_t err;
	char msg[160];
	const char *bytes;
	size_t blen;
	int64_t life;
	if (kafka_read_sasl_authenticate(p, n, r->version, &err, msg, sizeof msg, &bytes, &blen, &life) < 0)
		return protocol_error(c, "malformed SaslAuthenticate answer%s", "");
	if (err) {
		snprintf(c->why, sizeof c->why, "SASL %s authentication failed: %s%s%s", sasl_names[k->sasl],
		         kafka_error_name(err), msg[0] ? ": " : "", msg);
		return -1;
	}
	if (k->sasl != SASL_PLAIN && c->scram.step == 1)
		return sasl_next(c, bytes ? bytes : "", blen) < 0 ? -1 : 0;
	if (k->sasl != SASL_PLAIN) {
		char e[200];
		if (scram_verify(&c->scram, bytes ? bytes : "", blen, e, sizeof e) < 0) {
			snprintf(c->why, sizeof c->why, "%s", e);
			return -1;
		}
		scram_free(&c->scram);
	}
	/* KIP-368: past the session's lifetime the broker closes the connection; we
	 * leave it first, once it is idle, and log in again on a new one */
	c->reauth_at = life > 0 ? now_mono_ms() + life * 9 / 10 : 0;
	log_debug("sink %s: broker %s:%d: SASL %s as %s", k->s->name, c->b->host, c->b->port,
	          sasl_names[k->sasl], k->user);
	ready(c);
	return 0;
}

static long on_metadata(struct kconn *c, struct kreq *r, const char *p, size_t n)
{
	struct kafka *k = c->k;
	struct kafka_metadata md;
	k->md_inflight = false;
	if (kafka_read_metadata(p, n, r->version, k->topic, &md) < 0)
		return protocol_error(c, "malformed Metadata answer%s", "");
	if (k->md_next_set)
		kafka_metadata_free(&k->md_next);
	k->md_next = md;
	k->md_next_set = true;
	poke(k);
	return 0;
}

static long on_init_pid(struct kconn *c, const char *p, size_t n)
{
	struct kafka *k = c->k;
	int16_t err, epoch;
	int64_t pid;
	k->pid_inflight = false;
	if (kafka_read_init_producer_id(p, n, &err, &pid, &epoch) < 0)
		return protocol_error(c, "malformed InitProducerId answer%s", "");
	if (err == KERR_NONE && pid >= 0) {
		k->pid = pid;
		k->epoch = epoch;
		k->pid_state = PID_HAVE;
		k->pid_fails = 0;
		for (int32_t i = 0; i < k->nseq; i++)
			k->seq[i] = 0;
		log_info("sink %s: idempotent producer id %lld, epoch %d", k->s->name, (long long)pid, epoch);
	} else if (err == KERR_CLUSTER_AUTHORIZATION_FAILED || err == 53 /* TRANSACTIONAL_ID_AUTH... */) {
		log_warn("sink %s: InitProducerId: %s: producing without idempotence (a retry after a lost "
		         "answer may duplicate; grant IDEMPOTENT_WRITE on the cluster to avoid it)",
		         k->s->name, kafka_error_name(err));
		k->pid_state = PID_OFF;
	} else {
		k->pid_fails++;
		k->pid_retry_at = now_mono_ms() + backoff(k->pid_fails - 1, 500, RETRY_MAX_MS);
		log_warn("sink %s: InitProducerId: %s (retrying)", k->s->name, kafka_error_name(err));
	}
	poke(k);
	return 0;
}

static struct kchunk *chunk_for(struct kafka *k, struct kchunk *const *list, unsigned n, int32_t partition)
{
	(void)k;
	for (unsigned i = 0; i < n; i++)
		if (list[i] && list[i]->partition == partition)
			return list[i];
	return NULL;
}

static void chunk_done(struct kchunk *ch, int verdict, const char *why)
{
	ch->st = CH_DONE;
	ch->on = NULL;
	ch->verdict = (signed char)verdict;
	snprintf(ch->why, sizeof ch->why, "%s", why);
}

/* Give back a refused chunk's sequence numbers: the broker wrote none of them. */
static void seq_rewind(struct kafka *k, struct kchunk *ch)
{
	if (ch->base_seq >= 0 && ch->partition < k->nseq)
		k->seq[ch->partition] = ch->base_seq;
}

static void chunk_answer(struct kafka *k, struct kchunk *ch, const struct kafka_produce_result *res)
{
	char why[120];
	const char *name = kafka_error_name(res->err);
	snprintf(why, sizeof why, "%s%s%s", name, res->message[0] ? ": " : "", res->message);
	switch (kafka_error_action(res->err)) {
	case KAFKA_OK:
		chunk_done(ch, DELIVERY_OK, "");
		return;
	case KAFKA_REFRESH:
		chunk_lost(k, ch, why);
		return;
	case KAFKA_RETRY:
		chunk_lost(k, ch, why);
		return;
	case KAFKA_RESET:
		/* the broker has no (or another) state for our producer id: rebuild under a new one */
		chunk_done(ch, DELIVERY_RETRY, why);
		if (k->pid_state == PID_HAVE) {
			log_warn("sink %s: partition %d: %s: getting a new producer id", k->s->name,
			         ch->partition, name);
			k->pid_state = PID_NEED;
		}
		return;
	case KAFKA_TOO_LARGE:
		seq_rewind(k, ch);
		chunk_done(ch, DELIVERY_SPLIT, why);
		return;
	default:
		seq_rewind(k, ch);
		chunk_done(ch, DELIVERY_DROP, why);
		return;
	}
}

static long on_produce(struct kconn *c, struct kreq *r, const char *p, size_t n)
{
	struct kafka *k = c->k;
	size_t max = r->nchunks + 8, got = 0;
	struct kafka_produce_result *res = xmalloc(max * sizeof *res);
	if (kafka_read_produce(p, n, r->version, k->topic, res, max, &got) < 0) {
		free(res);
		return protocol_error(c, "malformed Produce answer%s", "");
	}
	unsigned resend = 0;
	const char *example = NULL;
	int32_t example_part = -1;
	for (size_t i = 0; i < got; i++) {
		struct kchunk *ch = chunk_for(k, r->chunks, r->nchunks, res[i].partition);
		if (!ch || ch->st != CH_SENT || ch->on != c)
			continue;
		chunk_answer(k, ch, &res[i]);
		if (ch->st == CH_WAIT) {
			resend++;
			if (!example) {
				example = kafka_error_name(res[i].err);
				example_part = res[i].partition;
			}
		}
	}
	/* a partition the answer left out: as lost */
	for (unsigned i = 0; i < r->nchunks; i++)
		if (r->chunks[i] && r->chunks[i]->st == CH_SENT && r->chunks[i]->on == c) {
			chunk_lost(k, r->chunks[i], "no answer for the partition");
			resend++;
		}
	if (resend)
		log_warn("sink %s: broker %s:%d: %u partition(s) to resend (%s on partition %d)", k->s->name,
		         c->b->host, c->b->port, resend, example ? example : "no answer", example_part);
	free(res);
	poke(k);
	return 0;
}

static long on_data(void *ctx, const char *p, size_t n)
{
	struct kconn *c = ctx;
	int32_t corr;
	const char *body;
	size_t len;
	long used = kafka_frame(p, n, IN_MAX, &corr, &body, &len);
	if (used <= 0)
		return used < 0 ? protocol_error(c, "bad answer frame%s", "") : 0;
	struct kreq *r = c->head;
	if (!r || r->corr != corr)
		return protocol_error(c, "an answer to a request we did not send%s", "");
	c->head = r->next;
	if (!c->head)
		c->tail = NULL;
	c->pending--;
	net_deadline(c->net, c->pending ? c->k->s->cfg.timeout_ms + 5000 : 0);
	long rc = 0;
	switch (r->kind) {
	case RQ_API_VERSIONS:
		rc = on_api_versions(c, r, body, len);
		break;
	case RQ_SASL_HANDSHAKE:
		rc = on_sasl_handshake(c, body, len);
		break;
	case RQ_SASL_AUTH:
		rc = on_sasl_auth(c, r, body, len);
		break;
	case RQ_METADATA:
		rc = on_metadata(c, r, body, len);
		break;
	case RQ_INIT_PID:
		rc = on_init_pid(c, body, len);
		break;
	case RQ_PRODUCE:
		rc = on_produce(c, r, body, len);
		break;
	}
	if (rc < 0 && r->kind == RQ_PRODUCE) { /* put it back: conn_gone requeues its chunks */
		r->next = c->head;
		c->head = r;
		if (!c->tail)
			c->tail = r;
		c->pending++;
		return -1;
	}
	free_req(r);
	return rc < 0 ? -1 : used;
}

static const struct net_cb conn_cb = { on_open, on_data, on_close };

static struct kconn *conn_open(struct kafka *k, struct kbroker *b)
{
	char err[256];
	struct kconn *c = xcalloc(1, sizeof *c);
	c->k = k;
	c->b = b;
	struct net_opts o = { .host = b->host,
		              .port = b->port,
		              .connect_timeout_ms = k->s->cfg.connect_timeout_ms,
		              .tls = k->tls ? &k->tlscfg : NULL,
		              .in_max = IN_MAX,
		              .out_max = 2 * k->s->cfg.batch_bytes + (1 << 20) };
	c->net = net_open(k->s->loop, &o, &conn_cb, c, err, sizeof err);
	if (!c->net) {
		free(c);
		b->fails++;
		b->retry_at = now_mono_ms() + backoff(b->fails - 1, RECONNECT_BASE_MS, RECONNECT_MAX_MS);
		log_warn("sink %s: broker %s:%d: %s", k->s->name, b->host, b->port, err);
		return NULL;
	}
	b->conn = c;
	return c;
}

/* A ready connection for a side request (metadata, producer id), or NULL while one is being opened. */
static struct kconn *any_ready(struct kafka *k, bool need_init_pid)
{
	struct kconn *best = NULL;
	for (size_t i = 0; i < k->nbrokers; i++) {
		struct kconn *c = k->brokers[i]->conn;
		if (c && c->st == C_READY && !c->doomed && (!need_init_pid || c->has_init_pid) &&
		    (!best || c->pending < best->pending))
			best = c;
	}
	if (best)
		return best;
	/* none: open one, listed brokers first, then the bootstrap list, in turn */
	int64_t now = now_mono_ms();
	for (size_t i = 0; i < k->nbrokers; i++)
		if (k->brokers[i]->conn && k->brokers[i]->conn->st != C_READY)
			return NULL; /* one is on its way */
	for (size_t t = 0; t < k->nbrokers; t++) {
		struct kbroker *b = k->brokers[(k->next_boot + t) % k->nbrokers];
		if (b->conn || b->retry_at > now || (!b->bootstrap && !b->listed))
			continue;
		k->next_boot = (k->next_boot + t + 1) % k->nbrokers;
		conn_open(k, b);
		return NULL;
	}
	return NULL;
}

static struct kbroker *broker_by_id(struct kafka *k, int32_t id)
{
	for (size_t i = 0; i < k->nbrokers; i++)
		if (!k->brokers[i]->bootstrap && k->brokers[i]->id == id && k->brokers[i]->listed)
			return k->brokers[i];
	return NULL;
}

/* --- metadata ---------------------------------------------------------------------- */

static void apply_metadata(struct kafka *k, struct kafka_metadata *md)
{
	struct sink *s = k->s;
	int64_t now = now_mono_ms();
	/* brokers: update, add, unlist */
	for (size_t i = 0; i < k->nbrokers; i++)
		if (!k->brokers[i]->bootstrap)
			k->brokers[i]->listed = false;
	for (size_t i = 0; i < md->nbrokers; i++) {
		const struct kafka_broker_md *m = &md->brokers[i];
		struct kbroker *b = NULL;
		for (size_t j = 0; j < k->nbrokers && !b; j++)
			if (!k->brokers[j]->bootstrap && k->brokers[j]->id == m->id)
				b = k->brokers[j];
		if (!b) {
			b = add_broker(k, m->id, m->host, m->port, false);
		} else if (strcmp(b->host, m->host) != 0 || b->port != m->port) {
			if (b->conn)
				b->conn->doomed = true;
			snprintf(b->host, sizeof b->host, "%s", m->host);
			b->port = m->port;
		}
		b->listed = true;
		/* a bootstrap connection to the same address becomes this broker's */
		for (size_t j = 0; j < k->nbrokers && !b->conn; j++) {
			struct kbroker *o = k->brokers[j];
			if (o->bootstrap && o->conn && o->port == b->port && !strcmp(o->host, b->host)) {
				b->conn = o->conn;
				b->conn->b = b;
				o->conn = NULL;
			}
		}
	}
	k->md_topic_err = md->topic_found ? md->topic_err : KERR_UNKNOWN_TOPIC_OR_PARTITION;
	bool usable = md->topic_found && md->topic_err == KERR_NONE && md->nparts > 0;
	for (size_t i = 0; usable && i < md->nparts; i++)
		usable = md->parts[i].id == (int32_t)i;
	if (!usable) {
		k->md_fails++;
		/* LEADER_NOT_AVAILABLE: being created; try again soon */
		int64_t d = k->md_topic_err == KERR_LEADER_NOT_AVAILABLE
		                ? 500
		                : backoff(k->md_fails - 1, 1000, 30000);
		k->md_retry_at = now + d;
		char line[200];
		snprintf(
		    line, sizeof line, "topic %s: %s", k->topic,
		    k->md_topic_err == KERR_UNKNOWN_TOPIC_OR_PARTITION
		        ? "does not exist (and the brokers do not create it)"
		        : kafka_error_name(k->md_topic_err ? k->md_topic_err : KERR_LEADER_NOT_AVAILABLE));
		if (strcmp(line, k->state_logged) != 0) {
			log_warn("sink %s: %s; waiting", s->name, line);
			snprintf(k->state_logged, sizeof k->state_logged, "%s", line);
		}
		return;
	}
	int32_t n = (int32_t)md->nparts;
	unsigned moved = 0;
	if (n != k->nparts) {
		if (k->nparts)
			log_info("sink %s: topic %s: %d partitions (was %d)", s->name, k->topic, n,
			         k->nparts);
		k->leaders = xrealloc(k->leaders, (size_t)n * sizeof *k->leaders);
		k->chunk_of = xrealloc(k->chunk_of, (size_t)n * sizeof *k->chunk_of);
		for (int32_t i = k->nparts; i < n; i++)
			k->leaders[i] = -2;
		for (int32_t i = 0; i < n; i++)
			k->chunk_of[i] = -1;
	}
	if (n > k->nseq) {
		k->seq = xrealloc(k->seq, (size_t)n * sizeof *k->seq);
		for (int32_t i = k->nseq; i < n; i++)
			k->seq[i] = 0;
		k->nseq = n;
	}
	for (int32_t i = 0; i < n; i++) {
		int32_t l = md->parts[i].leader;
		if (i < k->nparts && k->leaders[i] >= 0 && l != k->leaders[i])
			moved++;
		k->leaders[i] = l;
	}
	bool first = !k->md_valid && !k->nparts;
	k->nparts = n;
	k->md_valid = true;
	k->md_wanted = false;
	k->md_at = now;
	k->md_retry_at = now + 250; /* refreshes at most this often */
	k->md_fails = 0;
	k->state_logged[0] = '\0';
	if (first)
		log_info("sink %s: topic %s: %d partition(s), %zu broker(s)", s->name, k->topic, n,
		         md->nbrokers);
	else if (moved)
		log_info("sink %s: topic %s: %u partition leader(s) moved", s->name, k->topic, moved);
}

/* --- producing ------------------------------------------------------------------------ */

/* Chunks for b: items grouped by partition, queue order kept within each. */
static int build_chunks(struct kafka *k, struct sink_batch *b)
{
	unsigned n = b->n;
	if (k->recs_cap < n) {
		k->recs = xrealloc(k->recs, n * sizeof *k->recs);
		k->recs_cap = n;
	}
	int32_t *part = xmalloc(n * sizeof *part);
	unsigned nch = 0;
	if (k->null_key)
		k->sticky = (k->sticky + 1) % k->nparts;
	for (unsigned i = 0; i < n; i++) {
		struct kafka_record *r = &k->recs[i];
		item_record(b->items[i], r);
		part[i] =
		    r->key_len > 0 ? kafka_partition_for(r->key, (size_t)r->key_len, k->nparts) : k->sticky;
		if (k->chunk_of[part[i]] < 0)
			k->chunk_of[part[i]] = (int32_t)nch++;
	}
	k->chunks = xcalloc(nch, sizeof *k->chunks);
	k->nchunks = nch;
	unsigned *idx = xmalloc(n * sizeof *idx);
	unsigned *fill = xcalloc(nch, sizeof *fill);
	for (unsigned i = 0; i < n; i++)
		k->chunks[k->chunk_of[part[i]]].n++;
	unsigned at = 0;
	for (unsigned c = 0; c < nch; c++) {
		k->chunks[c].idx = idx + at;
		at += k->chunks[c].n;
	}
	for (unsigned i = 0; i < n; i++) {
		struct kchunk *ch = &k->chunks[k->chunk_of[part[i]]];
		ch->partition = part[i];
		ch->idx[fill[k->chunk_of[part[i]]]++] = i;
	}
	for (unsigned i = 0; i < n; i++)
		k->chunk_of[part[i]] = -1;
	free(fill);
	free(part);

	/* each chunk's RecordBatch, once */
	struct kafka_record *tmp = xmalloc(n * sizeof *tmp);
	for (unsigned c = 0; c < nch; c++) {
		struct kchunk *ch = &k->chunks[c];
		for (unsigned i = 0; i < ch->n; i++)
			tmp[i] = k->recs[ch->idx[i]];
		struct kafka_batch_opts o = { -1, -1, -1, k->codec };
		if (k->pid_state == PID_HAVE) {
			o.producer_id = k->pid;
			o.producer_epoch = k->epoch;
			o.base_sequence = k->seq[ch->partition];
		}
		ch->base_seq = o.base_sequence;
		if (k->npool) {
			ch->rb = k->pool[--k->npool];
			buf_reset(&ch->rb);
		} else {
			buf_init(&ch->rb, k->s->cfg.batch_bytes + (1 << 20));
		}
		if (kafka_record_batch(&ch->rb, &o, tmp, ch->n, &k->scratch) < 0) {
			chunk_done(ch, DELIVERY_SPLIT, "record batch too large to encode");
			continue;
		}
		if (o.base_sequence >= 0) /* wraps to 0 after INT32_MAX, as Kafka's sequences do */
			k->seq[ch->partition] = (int32_t)(((int64_t)o.base_sequence + ch->n) & INT32_MAX);
		ch->st = CH_WAIT;
	}
	free(tmp);
	return 0;
}

static void free_chunks(struct kafka *k)
{
	for (unsigned c = 0; c < k->nchunks; c++) {
		struct buf *rb = &k->chunks[c].rb;
		if (k->npool < ARRAY_LEN(k->pool) && rb->data && rb->cap <= (2u << 20))
			k->pool[k->npool++] = *rb;
		else
			buf_free(rb);
	}
	if (k->nchunks)
		free(k->chunks[0].idx);
	free(k->chunks);
	k->chunks = NULL;
	k->nchunks = 0;
}

/* Forget the batch's chunks in every request that carries them. */
static void unlink_chunks(struct kafka *k)
{
	for (size_t i = 0; i < k->nbrokers; i++) {
		struct kconn *c = k->brokers[i]->conn;
		for (struct kreq *r = c ? c->head : NULL; r; r = r->next)
			for (unsigned j = 0; j < r->nchunks; j++)
				r->chunks[j] = NULL;
	}
}

/* Send the waiting chunks that c's broker leads, in one Produce. */
static void produce_on(struct kafka *k, struct kconn *c, struct kchunk **list, unsigned n)
{
	struct buf *b = &k->req;
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += 8 + list[i]->rb.len;
	/* header and the partition framing in k->req; each batch's bytes straight from the chunk */
	buf_reset(b);
	int32_t corr = next_corr(k);
	size_t at = kafka_request_begin(b, KAFKA_PRODUCE, c->v_produce, corr, k->client_id);
	int32_t timeout = (int32_t)MIN(k->s->cfg.timeout_ms, (int64_t)INT32_MAX);
	kafka_produce_request(b, k->acks, timeout, k->topic, (int32_t)n);
	size_t size = b->len - at - 4 + total;
	if (size > INT32_MAX || net_pending(c->net) + b->len + total > 2 * k->s->cfg.batch_bytes + (1 << 20))
		return; /* the socket is behind: later */
	unsigned char *sz = (unsigned char *)b->data + at;
	sz[0] = (unsigned char)(size >> 24);
	sz[1] = (unsigned char)(size >> 16);
	sz[2] = (unsigned char)(size >> 8);
	sz[3] = (unsigned char)size;
	if (net_send(c->net, b->data, b->len) < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		unsigned char ph[8];
		uint32_t pid = (uint32_t)list[i]->partition, len = (uint32_t)list[i]->rb.len;
		for (int j = 0; j < 4; j++) {
			ph[j] = (unsigned char)(pid >> (24 - 8 * j));
			ph[4 + j] = (unsigned char)(len >> (24 - 8 * j));
		}
		net_send(c->net, ph, 8); /* room was checked above */
		net_send(c->net, list[i]->rb.data, list[i]->rb.len);
	}
	struct kreq *r = push_req(c, RQ_PRODUCE, c->v_produce, corr);
	r->chunks = xmalloc(n * sizeof *r->chunks);
	r->nchunks = n;
	for (unsigned i = 0; i < n; i++) {
		r->chunks[i] = list[i];
		list[i]->st = CH_SENT;
		list[i]->on = c;
	}
	net_deadline(c->net, k->s->cfg.timeout_ms + 5000);
}

static void dispatch(struct kafka *k, int64_t now)
{
	struct kchunk **list = xmalloc(k->nchunks * sizeof *list);
	for (size_t bi = 0; bi < k->nbrokers; bi++) {
		struct kbroker *b = k->brokers[bi];
		if (b->bootstrap || !b->listed)
			continue;
		unsigned n = 0;
		for (unsigned i = 0; i < k->nchunks; i++) {
			struct kchunk *ch = &k->chunks[i];
			if (ch->st == CH_WAIT && ch->not_before <= now && ch->partition < k->nparts &&
			    k->leaders[ch->partition] == b->id)
				list[n++] = ch;
		}
		if (!n)
			continue;
		if (!b->conn) {
			if (b->retry_at <= now && conn_open(k, b))
				continue;
			k->md_wanted |= b->fails > 0; /* an unreachable leader: maybe it moved */
			continue;
		}
		/* past its SASL session: nothing new on it; it closes once idle and logs in again */
		bool expired = b->conn->reauth_at && now >= b->conn->reauth_at;
		if (b->conn->st == C_READY && !b->conn->doomed && !expired)
			produce_on(k, b->conn, list, n);
	}
	/* chunks without a known leader need fresh metadata */
	for (unsigned i = 0; i < k->nchunks; i++) {
		struct kchunk *ch = &k->chunks[i];
		if (ch->st == CH_WAIT && ch->not_before <= now &&
		    (ch->partition >= k->nparts || !broker_by_id(k, k->leaders[ch->partition])))
			k->md_wanted = true;
	}
	free(list);
}

/* Give up on chunks out of tries: dropped, and the producer id is reset (their fate is unknown). */
static void expire_chunks(struct kafka *k)
{
	for (unsigned i = 0; i < k->nchunks; i++) {
		struct kchunk *ch = &k->chunks[i];
		if (ch->st == CH_WAIT && ch->tries > k->s->cfg.max_retries) {
			char why[160];
			snprintf(why, sizeof why, "%s (gave up after %u tries)", ch->why, ch->tries);
			chunk_done(ch, DELIVERY_DROP, why);
			if (k->pid_state == PID_HAVE)
				k->pid_state = PID_NEED;
		}
	}
}

/* Every chunk settled: hand the verdicts to the engine. */
static void settle(struct kafka *k)
{
	struct sink_batch *b = k->b;
	const char *why = "";
	for (unsigned c = 0; c < k->nchunks; c++) {
		struct kchunk *ch = &k->chunks[c];
		for (unsigned i = 0; i < ch->n; i++)
			b->verdict[ch->idx[i]] = ch->verdict;
		if (ch->verdict != DELIVERY_OK && !why[0])
			why = ch->why;
	}
	char w[160];
	snprintf(w, sizeof w, "%s", why);
	free_chunks(k);
	k->b = NULL;
	sink_batch_done(k->s, b, DELIVERY_OK, w, -1);
}

static bool ready_to_send(const struct kafka *k)
{
	return k->md_valid && k->nparts > 0 && k->pid_state != PID_NEED;
}

static void drive_once(struct kafka *k)
{
	int64_t now = now_mono_ms();
	if (k->md_next_set) {
		k->md_next_set = false;
		apply_metadata(k, &k->md_next);
		kafka_metadata_free(&k->md_next);
	}
	for (size_t i = 0; i < k->nbrokers; i++) {
		struct kconn *c = k->brokers[i]->conn;
		if (!c)
			continue;
		if (c->doomed && !c->pending)
			conn_close(c, "the broker's address changed");
		else if (c->reauth_at && now >= c->reauth_at && !c->pending)
			conn_close(c, "SASL session over: logging in again");
		else if (!k->brokers[i]->listed && !k->brokers[i]->bootstrap && !c->pending && k->md_valid)
			conn_close(c, "no longer in the cluster");
		else if (k->brokers[i]->bootstrap && k->md_valid && !c->pending && c->st == C_READY)
			conn_close(c, "bootstrap done");
	}
	if (k->b) {
		expire_chunks(k);
		bool all = true;
		for (unsigned i = 0; i < k->nchunks; i++)
			all &= k->chunks[i].st == CH_DONE;
		if (all) {
			settle(k); /* may come back into send() and start the next batch */
			return;    /* (drive runs again: k->again) */
		}
	}
	/* metadata: first, when asked for, and every few minutes */
	bool md_due = !k->md_valid || k->md_wanted || now - k->md_at >= METADATA_MAX_AGE_MS;
	if (md_due && !k->md_inflight && now >= k->md_retry_at) {
		struct kconn *c = any_ready(k, false);
		if (c && send_req(c, RQ_METADATA, c->v_metadata, fill_metadata, NULL) == 0) {
			k->md_inflight = true;
			k->md_wanted = false;
			k->md_retry_at = now + 200; /* no storm of refreshes */
		}
	}
	/* a producer id once nothing is in flight under the old one */
	if (k->pid_state == PID_NEED && !k->pid_inflight && !k->b && k->md_valid && now >= k->pid_retry_at) {
		struct kconn *c = any_ready(k, true);
		if (c && send_req(c, RQ_INIT_PID, c->v_init_pid, fill_init_pid, NULL) == 0)
			k->pid_inflight = true;
		else if (!c && k->md_valid) {
			bool any = false;
			for (size_t i = 0; i < k->nbrokers; i++)
				any |= k->brokers[i]->conn && k->brokers[i]->conn->st == C_READY;
			if (any) { /* ready brokers, none with InitProducerId: an old cluster */
				log_warn("sink %s: the brokers have no InitProducerId: producing without "
				         "idempotence",
				         k->s->name);
				k->pid_state = PID_OFF;
			}
		}
	}
	if (k->b)
		dispatch(k, now);
	if (!k->b && k->later && ready_to_send(k)) {
		k->later = false;
		sink_kick(k->s); /* the engine hands us the next batch (send() re-enters: k->again) */
	}
}

/* When drive() must look again: the earliest retry, reconnect or refresh. */
static void arm(struct kafka *k)
{
	int64_t now = now_mono_ms(), when = now + METADATA_MAX_AGE_MS;
	if (k->md_valid)
		when = MIN(when, k->md_at + METADATA_MAX_AGE_MS);
	if ((!k->md_valid || k->md_wanted) && !k->md_inflight)
		when = MIN(when, MAX(k->md_retry_at, now + 50));
	if (k->pid_state == PID_NEED && !k->pid_inflight)
		when = MIN(when, MAX(k->pid_retry_at, now + 50));
	for (unsigned i = 0; i < k->nchunks; i++)
		if (k->chunks[i].st == CH_WAIT)
			when = MIN(when, MAX(k->chunks[i].not_before, now + 20));
	for (size_t i = 0; i < k->nbrokers; i++) {
		struct kbroker *b = k->brokers[i];
		if (!b->conn && b->fails)
			when = MIN(when, MAX(b->retry_at, now + 20));
		if (b->conn && b->conn->reauth_at)
			when = MIN(when, MAX(b->conn->reauth_at, now + 20));
	}
	if (!loop_timer_armed(&k->timer) || k->timer.when > when)
		loop_timer_arm(k->s->loop, &k->timer, when - now);
}

static void drive(struct kafka *k)
{
	if (!k->s->loop)
		return;
	if (k->driving) {
		k->again = true;
		return;
	}
	k->driving = true;
	int rounds = 0;
	do {
		k->again = false;
		drive_once(k);
	} while (k->again && ++rounds < 100);
	k->driving = false;
	arm(k);
}

static void on_timer(struct loop *l, void *ctx)
{
	(void)l;
	drive(ctx);
}

static int send(struct sink *s, struct sink_batch *b, char *err, size_t errlen)
{
	struct kafka *k = s->impl;
	(void)err;
	(void)errlen;
	if (k->b || !ready_to_send(k)) {
		k->later = true;
		drive(k);
		return SINK_LATER;
	}
	k->b = b;
	build_chunks(k, b);
	drive(k);
	return SINK_SENT;
}

static void cancel(struct sink *s, struct sink_batch *b)
{
	struct kafka *k = s->impl;
	if (k->b != b)
		return;
	unlink_chunks(k);
	free_chunks(k);
	k->b = NULL;
}

static const struct sink_transport kafka_transport = { .send = send, .cancel = cancel };

static void start(struct sink *s)
{
	struct kafka *k = s->impl;
	loop_timer_init(&k->timer, on_timer, k);
	drive(k); /* connect and fetch the metadata now: problems show at start */
}

static void destroy(struct sink *s)
{
	struct kafka *k = s->impl;
	if (!k)
		return;
	if (s->loop)
		loop_timer_disarm(s->loop, &k->timer);
	for (size_t i = 0; i < k->nbrokers; i++) {
		struct kconn *c = k->brokers[i]->conn;
		if (c) {
			net_close(c->net);
			for (struct kreq *r = c->head, *next; r; r = next) {
				next = r->next;
				free_req(r);
			}
			scram_free(&c->scram);
			free(c);
		}
		free(k->brokers[i]);
	}
	free(k->brokers);
	free_chunks(k);
	for (unsigned i = 0; i < k->npool; i++)
		buf_free(&k->pool[i]);
	if (k->md_next_set)
		kafka_metadata_free(&k->md_next);
	free(k->leaders);
	free(k->chunk_of);
	free(k->seq);
	free(k->recs);
	free(k->topic);
	free(k->client_id);
	free(k->user);
	if (k->password) {
		memset(k->password, 0, strlen(k->password));
		free(k->password);
	}
	free((char *)k->tlscfg.cert_file);
	free((char *)k->tlscfg.key_file);
	buf_free(&k->req);
	buf_free(&k->scratch);
	free(k);
}

const struct sink_type sink_kafka = {
	.name = "kafka",
	.data = true,
	.whole_event = true,
	.default_concurrency = 1,
	.default_batch = 1000,
	.create = create,
	.render = render,
	.transport = &kafka_transport,
	.start = start,
	.destroy = destroy,
};
