/*
 * sink.h -- sinks and the delivery engine they share.
 *
 * A sink is built once from its --sink URI: common parameters (filters,
 * rate, repeat_interval, queue bounds, timeouts, retries, TLS) are parsed
 * here, type-specific ones by the sink type's create(). Per event the engine
 *   filter -> repeat policy -> render (body bytes) -> bounded queue
 * and delivers from the queue at once, with up to `concurrency` requests in
 * flight, a token-bucket rate limit, and retries with backoff + jitter for
 * transport errors, timeouts, 5xx, 408, 429 and robot "too fast" codes
 * (Retry-After honoured). Other failures drop the message with one log
 * line. Every drop is counted. One slow or dead sink never delays another
 * sink or the watch: its own queue overflows (tail drop, counted, logged
 * once per interval) instead.
 *
 * A sink type is one file in src/sinks/ and one line in the registry.
 */
#ifndef KE_SINK_H
#define KE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "http.h"
#include "loop.h"
#include "uri.h"

struct sink;
struct loop;
struct http;
struct filter;

/* A rendered item waiting in a sink's queue. */
struct msg {
	struct msg *next;
	int64_t enqueued_ms; /* monotonic */
	uint32_t attempts;
	uint32_t len;       /* body bytes */
	uint32_t max_batch; /* after a split: the largest batch it may travel in (0 = any) */
	char label[96];     /* "Kind ns/name Reason" for log lines */
	char body[];        /* len bytes + NUL */
};

/*
 * What became of a request, or of one item in it. SPLIT: the server refused
 * the whole request because of some item in it (a poison item in an
 * all-or-nothing write): the engine resends the items in halves until the
 * culprit travels alone, and then drops it.
 */
enum delivery { DELIVERY_OK, DELIVERY_RETRY, DELIVERY_DROP, DELIVERY_SPLIT };
#define DELIVERY_UNSET (-1) /* an item's verdict: the request's verdict applies */

/*
 * One request's worth of queued items, in queue order: the unit of delivery.
 * Built and owned by the engine; a type or transport reads the items and may
 * set per-item verdicts (e.g. from an Elasticsearch bulk reply).
 */
struct sink_batch {
	struct msg **items;
	unsigned n;
	size_t bytes;         /* sum of the items' lengths */
	signed char *verdict; /* per item: DELIVERY_UNSET or an enum delivery */
	void *tctx;           /* the transport's per-request state */
};

/* Scratch space a sink fills to describe one HTTP request (lives until done). */
struct sink_req {
	struct http_request http;
	const char *headers[32];
	char url[2048];
	struct buf scratch; /* the request body of a batch, signed URLs, ... */
};

/*
 * A way to deliver batches other than HTTP through http.c (the default):
 * the log/stdout sinks, and later Kafka and MySQL speaking their own
 * protocols on the loop.
 *
 * send(): start delivering b. Returns SINK_SENT when sink_batch_done() will
 * follow exactly once, later, from the loop (or from inside send: the engine
 * copes); SINK_LATER when the transport is not ready (connecting,
 * authenticating): the items go back to the queue and the transport calls
 * sink_kick() when it is; -1 when b cannot be sent now (err says why; the
 * items are retried with backoff). Never called from inside a curl callback.
 * cancel(): forget b (sink destroyed): no sink_batch_done() afterwards.
 */
enum { SINK_SENT = 0, SINK_LATER = 1 };
struct sink_transport {
	int (*send)(struct sink *s, struct sink_batch *b, char *err, size_t errlen);
	void (*cancel)(struct sink *s, struct sink_batch *b);
};

/*
 * A transport reports the outcome of b: d applies to every item whose
 * verdict is still DELIVERY_UNSET. why is logged (no secrets);
 * retry_after_ms >= 0 overrides the backoff.
 */
void sink_batch_done(struct sink *s, struct sink_batch *b, enum delivery d, const char *why,
                     int64_t retry_after_ms);

struct sink_type {
	const char *name;
	bool ns_from_event;           /* namespaces filter on the Event's own namespace */
	bool data;                    /* a data sink: see the defaults in sink.c */
	bool whole_event;             /* render reads ev->json: events keep their JSON (event_keep_json) */
	unsigned default_concurrency; /* 0 = 4 */
	const char *default_rate;     /* e.g. "20/1m" for robots, NULL = unlimited */
	unsigned default_batch;       /* items per request; 0 = 1 (no batching) */
	size_t max_response;          /* HTTP response ceiling; 0 = 64 KiB */
	bool dsn;                     /* the URI is "key:?" + a go-sql-driver DSN (uri_parse_dsn) */
	/* Parse type parameters from u into s->impl. 0, or -1 with err. */
	int (*create)(struct sink *s, struct uri *u, char *err, size_t errlen);
	/*
	 * Render ev into out: one queued item (a request body, a bulk action +
	 * document, a line). 0, or -1 to skip the event (logged), or 1 to hold
	 * it back on purpose (sampled out: counted as suppressed, not logged).
	 * Runs inside the source's callbacks: no I/O.
	 */
	int (*render)(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen);
	/*
	 * HTTP sinks: describe the request that delivers b in r (URL, method,
	 * headers, body: an item's body as it is, or the items joined into
	 * r->scratch). Return 0 to send, 1 when not ready yet (e.g. a token or
	 * the server version is being fetched: the sink calls sink_kick() when
	 * ready), -1 to drop the batch with the reason in err.
	 */
	int (*prepare)(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err,
	               size_t errlen);
	/*
	 * Classify the response (NULL = sink_http_verdict, 2xx OK). May set
	 * per-item verdicts in b. why receives the reason; *retry_after_ms may
	 * be set (sink_too_fast_ms() for robots' "too fast" codes).
	 */
	enum delivery (*classify)(struct sink *s, const struct sink_req *rq, const struct http_response *r,
	                          struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms);
	/* Not HTTP: the transport that delivers batches (prepare/classify unused). */
	const struct sink_transport *transport;
	/* Start background work once the loop exists (token fetch, ConfigMap watch). */
	void (*start)(struct sink *s);
	void (*destroy)(struct sink *s);
};

/* Statistics exported on /metrics. */
struct sink_stats {
	uint64_t matched;    /* events that passed the filters */
	uint64_t suppressed; /* held back: repeats (repeat_interval), events sampled out */
	uint64_t trailers;   /* trailing messages: the last count held back, sent when the interval ended */
	uint64_t enqueued;
	uint64_t sent;
	uint64_t failed; /* dropped after a non-retryable answer or retries exhausted */
	uint64_t retried;
	uint64_t dropped; /* queue overflow */
	uint64_t render_errors;
	uint64_t handed_over; /* queued when leadership was lost: the new leader sends them */
	int64_t last_sent_wall_ms;
};

struct sink_config {
	int64_t repeat_interval_s;  /* repeat_interval, default 600 (data sinks 0) */
	size_t queue_events;        /* queue_size, default 1000 (data sinks 20000) */
	size_t queue_bytes;         /* queue_bytes, default 2 MiB */
	unsigned concurrency;       /* concurrency, default 4 (robots 1, data sinks 2) */
	unsigned max_retries;       /* retries, default 10 (data sinks 30) */
	int64_t timeout_ms;         /* timeout, default 15 s (data sinks 30 s) */
	int64_t connect_timeout_ms; /* connect_timeout, default 5 s */
	size_t rate_n;              /* rate=N/DUR: at most N requests ... */
	int64_t rate_period_ms;     /* ... in any DUR window; 0 = unlimited */
	size_t max_body;            /* an item's ceiling after rendering, default 64 KiB */
	unsigned batch_items;       /* batch_size: items per request, default the type's (1) */
	size_t batch_bytes;         /* batch_bytes: request body ceiling, default 512 KiB */
	int64_t flush_ms;           /* flush_interval: an item waits at most this for a full batch */
	char *cacert;               /* cacert= file (owned) */
	bool insecure;              /* insecure_skip_verify=true */
};

struct flight;

struct sink {
	const struct sink_type *type;
	char name[48];      /* "webhook[0]" */
	char *redacted_url; /* for logs: secrets masked */
	size_t index;       /* position among the sinks */
	struct sink_config cfg;
	struct filter *filter;
	void *impl; /* the type's state */
	struct sink_stats stats;

	/* engine state, owned by sink.c */
	struct loop *loop;
	struct http *http;
	struct msg *head, *tail; /* waiting items */
	size_t qlen, qbytes;
	unsigned inflight;      /* requests in flight */
	size_t inflight_items;  /* items in them ... */
	size_t inflight_bytes;  /* ... and their bytes: both count against the queue bounds */
	struct flight *flights; /* requests in flight */
	int64_t *sent_at;       /* rate window: send times (ring of rate_n) */
	size_t sent_n, sent_pos;
	int64_t backoff_until_ms;
	int64_t last_ok_ms;    /* monotonic time of the last success */
	int64_t first_send_ms; /* ... and of the first request */
	int64_t last_rtt_ms;   /* how long the last successful request took */
	unsigned backoff_step;
	struct loop_timer wake;
	int64_t overflow_logged_ms;
	uint64_t overflow_since_log;
	struct trailer *trailers; /* repeats held back by repeat_interval, sent when it ends */
	size_t ntrailers;
	struct loop_timer trailer_timer;
	struct seen *seen; /* (borrowed, from sink_offer) */
	bool stopping;     /* flush partial batches now */
	bool kicking;      /* inside sink_kick: completions do not re-enter it */
};

/*
 * Parse a --sink value into a sink (no network). Unknown sink keys, bad
 * parameter values, bad filters and templates are errors naming the
 * parameter. Unknown parameters are listed in *unknown (for --check).
 * max_flush_ms (--frequency) bounds how long a batching sink holds an item.
 */
struct sink *sink_create(const char *value, size_t index, int64_t max_flush_ms, struct buf *unknown,
                         char *err, size_t errlen);
/* Cancel what is in flight and free everything. */
void sink_destroy(struct sink *s);
/* The same with the type given (tests: a type that is not in the registry); the URI's key is ignored. */
struct sink *sink_create_as(const struct sink_type *t, const char *value, size_t index, int64_t max_flush_ms,
                            struct buf *unknown, char *err, size_t errlen);

/* Attach to the loop and HTTP client and start background work. */
void sink_start(struct sink *s, struct loop *l, struct http *h);

/* Shutting down: partial batches go out at once. */
void sink_stop(struct sink *s);

/*
 * Offer an event to the sink: filter, repeat policy (seen slot), render,
 * enqueue, deliver. Returns true if the event matched the filters.
 */
struct seen;
bool sink_offer(struct sink *s, const struct event *ev, struct seen *seen, size_t slot, int64_t now_s);

/*
 * Try to send queued items now (after a token arrives, for example).
 * Never from inside an HTTP data callback: use the loop (sink_offer does).
 */
void sink_kick(struct sink *s);

/*
 * Flow control. A sink asks the source to pause when its queue passed the
 * high-water mark (two full batches, at least 256 items or 512 KiB) while
 * it is draining fast (no backoff, no rate limit, a success lately); it lets
 * the source resume under the low-water mark or as soon as it stops draining
 * fast. A failing, hanging, slow or rate-limited sink therefore never holds
 * the source back: its queue overflows instead, and the drops are counted.
 */
bool sink_wants_pause(const struct sink *s);
bool sink_allows_resume(const struct sink *s);

/*
 * Leadership lost: forget the queued items (the new leader delivers them),
 * counted as handed over; requests in flight finish.
 */
void sink_discard(struct sink *s);

/*
 * Set by the source's owner: called after the engine made progress on s's
 * queue (a request finished, queued messages were sent or written), never
 * from inside an HTTP callback, so that a paused source learns when to
 * resume (sink_allows_resume) without polling.
 */
extern void (*sink_progress_hook)(struct sink *s);

/* Items queued or in flight. */
size_t sink_pending(const struct sink *s);

/*
 * How long to wait after a robot's "too fast" answer: one window of the
 * sink's rate limit, or a minute (the robots' documented window) without one.
 */
int64_t sink_too_fast_ms(const struct sink *s);

/*
 * The HTTP-level verdict every HTTP sink shares: transport errors, 408, 429
 * and 5xx are retried, any other non-2xx is dropped (why says which). Returns
 * false for a 2xx, whose body the sink judges itself.
 */
bool sink_http_failed(const struct http_response *r, enum delivery *d, char *why, size_t n);

/* An HTTP status as a verdict: 2xx OK; 408, 429 and 5xx RETRY; anything else DROP. */
enum delivery sink_status_verdict(long status);

/* A status read from a JSON number: 100..999, else 0 (not a status; inf and NaN included). */
long sink_status_number(double v);

/*
 * One item's own answer inside a reply that judges items one by one (an
 * Elasticsearch bulk item, a Honeycomb batch event): sets item i's verdict
 * to v. The first failure of the reply becomes why ("<what> HTTP <status>
 * <type, else reason>"); dropped items are logged with their reason, at
 * most 3 per reply. it carries the counts across one reply (zero it, set
 * what, before the first item).
 */
struct sink_items {
	const char *what; /* "bulk item", "event" */
	unsigned failed, logged;
};
void sink_item_result(struct sink *s, struct sink_batch *b, unsigned i, enum delivery v, long status,
                      const char *type, const char *reason, struct sink_items *it, char *why, size_t n);

/*
 * Start a request of the sink's own beside its batches (a token, a version
 * probe, creating an index or a database) with the sink's timeouts and TLS
 * settings filled in where r leaves them unset. As http_start().
 */
struct http_req *sink_http_start(struct sink *s, struct http_request *r, http_done_cb done, void *ctx);

/* "Authorization: Basic base64(user:password)", allocated. */
char *sink_basic_auth(const char *user, const char *password);

/* The whole batch as one body: the items' bytes one after another, into out. 0 or -1 (too large). */
int sink_batch_concat(const struct sink_batch *b, struct buf *out);

/* Names of all sink types, for --help. */
void sink_list_types(struct buf *out);

/* Helpers for sink types: typed parameter parsing with errors naming the parameter. */
int sink_param_bool(struct uri *u, const char *key, bool def, bool *out, char *err, size_t errlen);
int sink_param_duration(struct uri *u, const char *key, int64_t def_ms, int64_t *out, char *err,
                        size_t errlen);
/* "N/DURATION" (also "N/m" for "N/1m"): at most N in any DURATION window. 0 or -1. */
int sink_parse_rate(const char *v, size_t *n, int64_t *period_ms);
int sink_param_int(struct uri *u, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out,
                   char *err, size_t errlen);

#endif
