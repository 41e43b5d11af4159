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

/* A rendered message waiting in a sink's queue. */
struct msg {
	struct msg *next;
	int64_t enqueued_ms; /* monotonic */
	uint32_t attempts;
	uint32_t len;   /* body bytes */
	char label[96]; /* "ns/name Reason" for log lines */
	char body[];    /* len bytes + NUL */
};

enum delivery { DELIVERY_OK, DELIVERY_RETRY, DELIVERY_DROP };

/* Scratch space a sink fills to describe one request (lives until done). */
struct sink_req {
	struct http_request http;
	const char *headers[32];
	char url[2048];
	struct buf scratch; /* for signed URLs, derived bodies, ... */
};

struct sink_type {
	const char *name;
	bool ns_from_event;           /* namespaces filter on the Event's own namespace */
	unsigned default_concurrency; /* 0 = 4 */
	const char *default_rate;     /* e.g. "20/1m" for robots, NULL = unlimited */
	/* Parameters this type understands besides the common ones (NULL-terminated). */
	const char *const *params;
	/* Parse type parameters from u into s->impl. 0, or -1 with err. */
	int (*create)(struct sink *s, struct uri *u, char *err, size_t errlen);
	/* Render ev into out (the queued body). 0, or -1 to skip the event (logged). */
	int (*render)(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen);
	/*
	 * Describe the request for m in r (URL, method, headers, body). Return
	 * 0 to send, 1 when not ready yet (e.g. a token is being fetched: the
	 * sink calls sink_kick() when ready), -1 to drop m with the reason in err.
	 */
	int (*prepare)(struct sink *s, const struct msg *m, struct sink_req *r, char *err, size_t errlen);
	/*
	 * Classify the response to request rq (NULL = the engine's default: 2xx
	 * OK; transport errors, 408, 429, 5xx RETRY; other DROP). why receives
	 * the reason; *retry_after_ms may be set (sink_too_fast_ms() for robots'
	 * "too fast" codes).
	 */
	enum delivery (*classify)(struct sink *s, const struct sink_req *rq, const struct http_response *r,
	                          char *why, size_t n, int64_t *retry_after_ms);
	/* Deliver without HTTP (log/stdout sinks); NULL for HTTP sinks. */
	enum delivery (*write)(struct sink *s, const struct msg *m);
	/* Start background work once the loop exists (token fetch, ConfigMap watch). */
	void (*start)(struct sink *s);
	void (*destroy)(struct sink *s);
};

/* Statistics exported on /metrics. */
struct sink_stats {
	uint64_t matched;    /* events that passed the filters */
	uint64_t suppressed; /* repeats held back by repeat_interval */
	uint64_t enqueued;
	uint64_t sent;
	uint64_t failed; /* dropped after a non-retryable answer or retries exhausted */
	uint64_t retried;
	uint64_t dropped; /* queue overflow */
	uint64_t render_errors;
	int64_t last_sent_wall_ms;
};

struct sink_config {
	int64_t repeat_interval_s;  /* repeat_interval, default 600 */
	size_t queue_events;        /* queue_size, default 1000 */
	size_t queue_bytes;         /* queue_bytes, default 2 MiB */
	unsigned concurrency;       /* concurrency, default 4 (robots 1) */
	unsigned max_retries;       /* retries, default 10 */
	int64_t timeout_ms;         /* timeout, default 15 s */
	int64_t connect_timeout_ms; /* connect_timeout, default 5 s */
	size_t rate_n;              /* rate=N/DUR: at most N messages ... */
	int64_t rate_period_ms;     /* ... in any DUR window; 0 = unlimited */
	size_t max_body;            /* body ceiling after rendering, default 64 KiB */
	char *cacert;               /* cacert= file (owned) */
	bool insecure;              /* insecure_skip_verify=true */
};

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
	struct msg *head, *tail; /* waiting messages */
	size_t qlen, qbytes;
	unsigned inflight;
	int64_t *sent_at; /* rate window: send times (ring of rate_tokens) */
	size_t sent_n, sent_pos;
	int64_t backoff_until_ms;
	int64_t last_ok_ms; /* monotonic time of the last success */
	unsigned backoff_step;
	struct loop_timer wake;
	int64_t overflow_logged_ms;
	uint64_t overflow_since_log;
	bool stopping;
};

/*
 * Parse a --sink value into a sink (no network). Unknown sink keys, bad
 * parameter values, bad filters and templates are errors naming the
 * parameter. Unknown parameters are listed in *unknown (for --check).
 */
struct sink *sink_create(const char *value, size_t index, struct buf *unknown, char *err, size_t errlen);
void sink_destroy(struct sink *s);

/* Attach to the loop and HTTP client and start background work. */
void sink_start(struct sink *s, struct loop *l, struct http *h);

/*
 * Offer an event to the sink: filter, repeat policy (seen slot), render,
 * enqueue, deliver. Returns true if the event matched the filters.
 */
struct seen;
bool sink_offer(struct sink *s, const struct event *ev, struct seen *seen, size_t slot, int64_t now_s);

/*
 * Try to send queued messages now (after a token arrives, for example).
 * Never from inside an HTTP data callback: use the loop (sink_offer does).
 */
void sink_kick(struct sink *s);

/*
 * Flow control. A sink asks the source to pause when its queue passed the
 * high-water mark while it is draining fast (no backoff, no rate limit, a
 * success in the last 200 ms); it lets the source resume under the
 * low-water mark or as soon as it stops draining fast. A failing, hanging,
 * slow or rate-limited sink therefore never holds the source back: its
 * queue overflows instead, and the drops are counted.
 */
bool sink_wants_pause(const struct sink *s);
bool sink_allows_resume(const struct sink *s);

/*
 * Set by the source's owner: called after the engine made progress on s's
 * queue (a request finished, queued messages were sent or written), never
 * from inside an HTTP callback, so that a paused source learns when to
 * resume (sink_allows_resume) without polling.
 */
extern void (*sink_progress_hook)(struct sink *s);

/* Messages queued or in flight. */
size_t sink_pending(const struct sink *s);

/*
 * How long to wait after a robot's "too fast" answer: one window of the
 * sink's rate limit, or a minute (the robots' documented window) without one.
 */
int64_t sink_too_fast_ms(const struct sink *s);

/*
 * The HTTP-level verdict every HTTP sink shares: transport errors, 408, 429
 * and 5xx are retried, any other non-2xx is dropped (why says which). Returns
 * -1 for a 2xx, whose body the sink judges itself.
 */
int sink_http_verdict(const struct http_response *r, char *why, size_t n);

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
