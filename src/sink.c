/* sink.c -- sink construction, common parameters and the delivery engine. */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "filter.h"
#include "log.h"
#include "seen.h"
#include "sinks/registry.h"
#include "util.h"

#define MAX_REPEAT 16         /* repeatable filter parameters */
#define OVERFLOW_LOG_MS 10000 /* at most one overflow line per sink per 10 s */
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 60000
#define RETRY_AFTER_MAX_MS 600000
#define RATE_MAX 100000
#define BATCH_MAX 10000               /* batch_size ceiling */
#define PAUSE_HIGH 256                /* flow control: queued items ... */
#define PAUSE_HIGH_BYTES (512 * 1024) /* ... or bytes that pause the source */
#define PAUSE_LOW 64                  /* ... and where it resumes */
#define TRAILERS_MAX 256              /* trailing messages waiting per sink */
#define LATER_MS 1000                 /* a transport not ready: look again after */
#define FIRST_ANSWER_MS 1000          /* ... or, before any, the first request is this recent */
#define FAST_MS 200                   /* "draining fast": a success this recently (+ its RTT) */
#define ITEM_LOG_MAX 3                /* item errors logged per request */

/* --- typed parameters ----------------------------------------------------- */

int sink_param_bool(struct uri *u, const char *key, bool def, bool *out, char *err, size_t errlen)
{
	const char *v = uri_get(u, key);
	*out = def;
	if (!v)
		return 0;
	if (parse_bool(v, out) < 0) {
		snprintf(err, errlen, "%s: \"%s\" is not a boolean (true or false)", key, v);
		return -1;
	}
	return 0;
}

int sink_param_duration(struct uri *u, const char *key, int64_t def_ms, int64_t *out, char *err,
                        size_t errlen)
{
	const char *v = uri_get(u, key);
	*out = def_ms;
	if (!v)
		return 0;
	if (parse_duration_ms(v, out) < 0 || *out < 0) {
		snprintf(err, errlen, "%s: \"%s\" is not a duration (like 30s, 10m, 1h30m)", key, v);
		return -1;
	}
	return 0;
}

int sink_param_int(struct uri *u, const char *key, int64_t def, int64_t min, int64_t max, int64_t *out,
                   char *err, size_t errlen)
{
	const char *v = uri_get(u, key);
	*out = def;
	if (!v)
		return 0;
	if (parse_i64(v, strlen(v), out) < 0 || *out < min || *out > max) {
		snprintf(err, errlen, "%s: \"%s\" must be a whole number from %lld to %lld", key, v,
		         (long long)min, (long long)max);
		return -1;
	}
	return 0;
}

int sink_parse_rate(const char *v, size_t *n, int64_t *period_ms)
{
	const char *slash = strchr(v, '/');
	int64_t count;
	if (!slash || parse_i64(v, (size_t)(slash - v), &count) < 0 || count < 1 || count > RATE_MAX)
		return -1;
	char dur[32];
	const char *d = slash + 1;
	if (*d >= 'a' && *d <= 'z') { /* "20/m" means "20/1m" */
		snprintf(dur, sizeof dur, "1%s", d);
		d = dur;
	}
	if (parse_duration_ms(d, period_ms) < 0 || *period_ms <= 0)
		return -1;
	*n = (size_t)count;
	return 0;
}

/* A repeatable filter parameter: every value, or an error past MAX_REPEAT. */
static int repeated(struct uri *u, const char *key, const char **vals, size_t *n, char *err, size_t errlen)
{
	*n = uri_get_all(u, key, vals, MAX_REPEAT);
	if (*n <= MAX_REPEAT)
		return 0;
	snprintf(err, errlen,
	         "%s: given %zu times, at most %d (one value may hold several patterns, "
	         "separated by commas)",
	         key, *n, MAX_REPEAT);
	return -1;
}

/*
 * Defaults differ by kind of sink. Alert sinks (webhooks, robots) deliver
 * each Warning at once, one per request, and hold repeats back for 10
 * minutes. Data sinks record what upstream records -- every event of every
 * type, every count bump (repeat_interval 0) -- in batches, with deeper
 * queues and more patience with a backend that is down.
 */
struct defaults {
	int64_t repeat_ms, queue_events, queue_bytes, concurrency, retries, timeout_ms, max_body;
};

static const struct defaults alert_defaults = { 600000, 1000, 2 << 20, 4, 10, 15000, 64 * 1024 };
static const struct defaults data_defaults = { 0, 20000, 2 << 20, 2, 30, 30000, 512 * 1024 };

static int parse_common(struct sink *s, struct uri *u, int64_t max_flush_ms, char *err, size_t errlen)
{
	struct sink_config *c = &s->cfg;
	const struct sink_type *t = s->type;
	const struct defaults *d = t->data ? &data_defaults : &alert_defaults;
	int64_t v;
	const char *reasons[MAX_REPEAT], *messages[MAX_REPEAT], *names[MAX_REPEAT];
	const char *xreasons[MAX_REPEAT], *xmessages[MAX_REPEAT];
	struct filter_opts fo = { 0 };

	fo.level = uri_get(u, "level");
	fo.all_types = t->data && !fo.level; /* upstream's data sinks never filtered */
	fo.namespaces = uri_get(u, "namespaces");
	fo.kinds = uri_get(u, "kinds");
	fo.exclude_namespaces = uri_get(u, "exclude_namespaces");
	fo.ns_from_event = t->ns_from_event;
	fo.reasons = reasons;
	fo.messages = messages;
	fo.names = names;
	fo.exclude_reasons = xreasons;
	fo.exclude_messages = xmessages;
	if (repeated(u, "reason", reasons, &fo.nreasons, err, errlen) < 0 ||
	    repeated(u, "message", messages, &fo.nmessages, err, errlen) < 0 ||
	    repeated(u, "name", names, &fo.nnames, err, errlen) < 0 ||
	    repeated(u, "exclude_reason", xreasons, &fo.nexclude_reasons, err, errlen) < 0 ||
	    repeated(u, "exclude_message", xmessages, &fo.nexclude_messages, err, errlen) < 0 ||
	    filter_compile(&fo, &s->filter, err, errlen) < 0)
		return -1;

	if (sink_param_duration(u, "repeat_interval", d->repeat_ms, &v, err, errlen) < 0)
		return -1;
	c->repeat_interval_s = v / 1000;
	if (v > 0 && c->repeat_interval_s == 0)
		c->repeat_interval_s = 1;
	if (sink_param_int(u, "queue_size", d->queue_events, 1, 1000000, &v, err, errlen) < 0)
		return -1;
	c->queue_events = (size_t)v;
	if (sink_param_int(u, "queue_bytes", d->queue_bytes, 4096, (int64_t)1 << 30, &v, err, errlen) < 0)
		return -1;
	c->queue_bytes = (size_t)v;
	int64_t defc = t->default_concurrency ? t->default_concurrency : d->concurrency;
	if (sink_param_int(u, "concurrency", defc, 1, 64, &v, err, errlen) < 0)
		return -1;
	c->concurrency = (unsigned)v;
	if (sink_param_int(u, "retries", d->retries, 0, 1000, &v, err, errlen) < 0)
		return -1;
	c->max_retries = (unsigned)v;
	if (sink_param_duration(u, "timeout", d->timeout_ms, &c->timeout_ms, err, errlen) < 0 ||
	    sink_param_duration(u, "connect_timeout", 5000, &c->connect_timeout_ms, err, errlen) < 0)
		return -1;
	if (c->timeout_ms == 0 || c->connect_timeout_ms == 0) {
		snprintf(err, errlen, "timeout and connect_timeout must be greater than 0");
		return -1;
	}
	const char *rate = uri_get(u, "rate");
	if (!rate)
		rate = t->default_rate;
	if (rate && strcmp(rate, "0") != 0 && sink_parse_rate(rate, &c->rate_n, &c->rate_period_ms) < 0) {
		snprintf(err, errlen, "rate: \"%s\" must look like N/DURATION, e.g. 20/1m (0 = unlimited)",
		         rate);
		return -1;
	}
	const char *ca = uri_get(u, "cacert");
	c->cacert = ca && *ca ? xstrdup(ca) : NULL; /* u is freed after create */
	if (sink_param_bool(u, "insecure_skip_verify", false, &c->insecure, err, errlen) < 0)
		return -1;
	c->max_body = (size_t)d->max_body;

	/* Batches: only for types that build a request from several items. */
	c->batch_items = 1;
	c->batch_bytes = 512 * 1024;
	c->flush_ms = 0;
	if (t->default_batch > 1) {
		if (sink_param_int(u, "batch_size", t->default_batch, 1, BATCH_MAX, &v, err, errlen) < 0)
			return -1;
		c->batch_items = (unsigned)v;
		if (sink_param_int(u, "batch_bytes", 512 * 1024, 4096, 64 << 20, &v, err, errlen) < 0)
			return -1;
		c->batch_bytes = (size_t)v;
		if (sink_param_duration(u, "flush_interval", 1000, &c->flush_ms, err, errlen) < 0)
			return -1;
		if (max_flush_ms > 0 && c->flush_ms > max_flush_ms) {
			snprintf(err, errlen, "flush_interval: %llds is longer than --frequency (%llds)",
			         (long long)c->flush_ms / 1000, (long long)max_flush_ms / 1000);
			return -1;
		}
	}
	return 0;
}

static struct sink *create(const struct sink_type *t, struct uri *u, size_t index, int64_t max_flush_ms,
                           struct buf *unknown, char *err, size_t errlen)
{
	char e[512];
	struct sink *s = xcalloc(1, sizeof *s);
	s->type = t;
	s->index = index;
	snprintf(s->name, sizeof s->name, "%s[%zu]", t->name, index);
	char red[1024];
	log_redact_url(u->rest, red, sizeof red);
	s->redacted_url = xstrdup(red);
	loop_timer_init(&s->wake, NULL, NULL);
	loop_timer_init(&s->trailer_timer, NULL, NULL);

	e[0] = '\0';
	if (parse_common(s, u, max_flush_ms, e, sizeof e) < 0 || t->create(s, u, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s: %s", t->name, e); /* "honeycomb: writekey: missing" */
		sink_destroy(s);
		return NULL;
	}
	if (s->cfg.rate_n)
		s->sent_at = xcalloc(s->cfg.rate_n, sizeof *s->sent_at);
	for (size_t i = 0; unknown && i < u->nparams; i++) {
		if (u->params[i].used)
			continue;
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= strcmp(u->params[j].key, u->params[i].key) == 0;
		if (!dup)
			buf_printf(unknown, "%s%s", unknown->len ? ", " : "", u->params[i].key);
	}
	return s;
}

/* A URL, or "?" + a DSN whose password may hold any character (t->dsn). */
static int parse_value(const struct sink_type *t, const char *value, struct uri *u, char *err, size_t errlen)
{
	if (t && t->dsn)
		return uri_parse_dsn(value, u, err, errlen);
	return uri_parse(value, u, err, errlen);
}

struct sink *sink_create_as(const struct sink_type *t, const char *value, size_t index, int64_t max_flush_ms,
                            struct buf *unknown, char *err, size_t errlen)
{
	struct uri u;
	if (parse_value(t, value, &u, err, errlen) < 0)
		return NULL;
	struct sink *s = create(t, &u, index, max_flush_ms, unknown, err, errlen);
	uri_free(&u);
	return s;
}

struct sink *sink_create(const char *value, size_t index, int64_t max_flush_ms, struct buf *unknown,
                         char *err, size_t errlen)
{
	struct uri u;
	char key[64]; /* the key decides how the rest is read */
	snprintf(key, sizeof key, "%.*s", (int)strcspn(value, ":"), value);
	if (parse_value(sink_type_find(key), value, &u, err, errlen) < 0)
		return NULL;
	const struct sink_type *t = sink_type_find(u.key);
	struct sink *s = NULL;
	if (t) {
		s = create(t, &u, index, max_flush_ms, unknown, err, errlen);
	} else {
		struct buf names = BUF_INIT(1024);
		sink_list_types(&names);
		snprintf(err, errlen, "Sink not recognized: %s (known: %s)", u.key, buf_str(&names));
		buf_free(&names);
	}
	uri_free(&u);
	return s;
}

static void flight_cancel(struct sink *s, struct flight *f);
static void msg_free_list(struct msg *m);
static void remove_trailer(struct sink *s, size_t i);
static void on_trailers(struct loop *l, void *ctx);

void sink_destroy(struct sink *s)
{
	if (!s)
		return;
	if (s->loop) {
		loop_timer_disarm(s->loop, &s->wake);
		loop_timer_disarm(s->loop, &s->trailer_timer);
	}
	while (s->ntrailers)
		remove_trailer(s, 0);
	free(s->trailers);
	while (s->flights)
		flight_cancel(s, s->flights);
	if (s->type->destroy)
		s->type->destroy(s);
	msg_free_list(s->head);
	filter_free(s->filter);
	free(s->cfg.cacert);
	free(s->sent_at);
	free(s->redacted_url);
	free(s);
}

/* --- the engine ---------------------------------------------------------- */

/*
 * A request in flight: the batch it carries, and for HTTP sinks the request
 * and its description. Records are reused (allocating and freeing a 2.4 KB
 * record per event makes musl's allocator map and unmap pages constantly);
 * at most 64 are kept.
 */
struct flight {
	struct sink *s;
	struct sink_batch b;
	unsigned cap; /* room in b.items and b.verdict */
	struct http_req *req;
	struct sink_req r;
	size_t rate_slot; /* where its send time is in the rate window */
	int64_t started_ms;
	bool sent;           /* counted in s->inflight */
	struct flight *next; /* s->flights, or the free list */
};

static struct flight *free_flights;
static unsigned nfree_flights;

static struct flight *flight_get(struct sink *s, unsigned cap)
{
	struct flight *f = free_flights;
	if (f) {
		free_flights = f->next;
		nfree_flights--;
	} else {
		f = xcalloc(1, sizeof *f);
	}
	if (f->cap < cap) {
		f->b.items = xrealloc(f->b.items, cap * sizeof *f->b.items);
		f->b.verdict = xrealloc(f->b.verdict, cap);
		f->cap = cap;
	}
	struct msg **items = f->b.items;
	signed char *verdict = f->b.verdict;
	unsigned fcap = f->cap;
	struct buf scratch = f->r.scratch;
	memset(f, 0, sizeof *f);
	f->b.items = items;
	f->b.verdict = verdict;
	f->cap = fcap;
	f->s = s;
	/* the scratch buffer (a batch's body) keeps its memory between requests of
	 * the same size class; its ceiling is the sink's */
	f->r.scratch = scratch;
	f->r.scratch.max = s->cfg.batch_bytes + 64 * 1024;
	buf_reset(&f->r.scratch);
	return f;
}

static void flight_put(struct flight *f)
{
	if (f->r.scratch.cap > 256 * 1024)
		buf_free(&f->r.scratch);
	if (nfree_flights >= 64) {
		buf_free(&f->r.scratch);
		free(f->b.items);
		free(f->b.verdict);
		free(f);
		return;
	}
	f->next = free_flights;
	free_flights = f;
	nfree_flights++;
}

static void flight_unlink(struct sink *s, struct flight *f)
{
	for (struct flight **p = &s->flights; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	if (f->sent) {
		s->inflight--;
		s->inflight_items -= f->b.n;
		s->inflight_bytes -= f->b.bytes;
	}
}

static void msg_free_list(struct msg *m)
{
	while (m) {
		struct msg *next = m->next;
		free(m);
		m = next;
	}
}

static void flight_cancel(struct sink *s, struct flight *f)
{
	if (f->req)
		http_cancel(s->http, f->req);
	else if (s->type->transport && s->type->transport->cancel)
		s->type->transport->cancel(s, &f->b);
	flight_unlink(s, f);
	for (unsigned i = 0; i < f->b.n; i++)
		free(f->b.items[i]);
	flight_put(f);
}

void (*sink_progress_hook)(struct sink *s);

static void progress(struct sink *s)
{
	if (sink_progress_hook)
		sink_progress_hook(s);
}

static void on_wake(struct loop *l, void *ctx)
{
	(void)l;
	sink_kick(ctx);
	progress(ctx);
}

void sink_start(struct sink *s, struct loop *l, struct http *h)
{
	s->loop = l;
	s->http = h;
	loop_timer_init(&s->wake, on_wake, s);
	loop_timer_init(&s->trailer_timer, on_trailers, s);
	if (s->type->start)
		s->type->start(s);
}

void sink_stop(struct sink *s)
{
	s->stopping = true;
	sink_kick(s);
}

/*
 * Draining fast: no rate limit, no backoff, and a success lately -- or, before
 * the first answer ever, a first request on its way for less than
 * FIRST_ANSWER_MS (a burst at start-up would otherwise overflow the queue
 * before the first answer could show the sink is healthy).
 */
static bool drains_fast(const struct sink *s)
{
	int64_t now = now_mono_ms();
	if (s->cfg.rate_n || s->backoff_until_ms > now)
		return false;
	if (!s->last_ok_ms)
		return s->inflight && !s->backoff_step && now - s->first_send_ms <= FIRST_ANSWER_MS;
	return now - s->last_ok_ms <= FAST_MS + s->last_rtt_ms;
}

/*
 * Flow control, per sink. The source pauses when two full batches wait, or
 * when what is held (queued and in flight) reaches three quarters of the
 * bounds: the rest of a read already in hand (a 64 KiB chunk, a watch
 * frame) must still fit. It resumes when less than a batch waits and what
 * is held is back under five eighths.
 */
static bool held_above(const struct sink *s, size_t num, size_t den)
{
	size_t items = (s->cfg.queue_events * num + den - 1) / den; /* bounds <= 2^30: no overflow */
	size_t bytes = (s->cfg.queue_bytes * num + den - 1) / den;
	return s->qlen + s->inflight_items >= items || s->qbytes + s->inflight_bytes >= bytes;
}

static bool above_high_water(const struct sink *s)
{
	size_t items = MAX((size_t)PAUSE_HIGH, 2 * (size_t)s->cfg.batch_items);
	size_t bytes = MAX((size_t)PAUSE_HIGH_BYTES, 2 * s->cfg.batch_bytes);
	items = MIN(items, s->cfg.queue_events / 2);
	bytes = MIN(bytes, s->cfg.queue_bytes / 2);
	return s->qlen >= items || s->qbytes >= bytes || held_above(s, 3, 4);
}

bool sink_wants_pause(const struct sink *s)
{
	return above_high_water(s) && drains_fast(s);
}

bool sink_allows_resume(const struct sink *s)
{
	size_t low = MAX((size_t)PAUSE_LOW, (size_t)s->cfg.batch_items);
	bool below = s->qlen <= MIN(low, s->cfg.queue_events / 4) && !held_above(s, 5, 8);
	return below || !drains_fast(s);
}

void sink_discard(struct sink *s)
{
	s->stats.handed_over += s->qlen;
	msg_free_list(s->head);
	s->head = s->tail = NULL;
	s->qlen = s->qbytes = 0;
	while (s->ntrailers)
		remove_trailer(s, 0);
}

size_t sink_pending(const struct sink *s)
{
	return s->qlen + s->inflight_items;
}

static void log_overflow(struct sink *s)
{
	int64_t now = now_mono_ms();
	s->overflow_since_log++;
	if (s->overflow_logged_ms && now - s->overflow_logged_ms < OVERFLOW_LOG_MS)
		return;
	log_warn("sink %s: queue full (%zu events, %zu bytes), dropped %llu event(s)", s->name, s->qlen,
	         s->qbytes, (unsigned long long)s->overflow_since_log);
	s->overflow_logged_ms = now;
	s->overflow_since_log = 0;
}

/* Arm the wake timer to fire in delay ms, unless it fires sooner already. */
static void wake_in(struct sink *s, int64_t delay)
{
	if (!loop_timer_armed(&s->wake) || s->wake.when > now_mono_ms() + delay)
		loop_timer_arm(s->loop, &s->wake, delay);
}

/* "Kind namespace/name Reason", cut to fit (what logs name an item by). */
static void set_label(struct msg *m, const struct event *ev)
{
	const char *parts[] = { ev->involved.kind,
		                " ",
		                ev->involved.namespace[0] ? ev->involved.namespace : ev->namespace,
		                "/",
		                ev->involved.name[0] ? ev->involved.name : ev->name,
		                " ",
		                ev->reason };
	size_t k = 0;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t l = MIN(strlen(parts[i]), sizeof m->label - 1 - k);
		memcpy(m->label + k, parts[i], l);
		k += l;
	}
	m->label[k] = '\0';
}

/* The event rendered into a new item, or NULL (held back by the type, or a render error: counted). */
static struct msg *render_msg(struct sink *s, const struct event *ev)
{
	static struct buf body = BUF_INIT(0);
	char err[256] = "";
	body.max = s->cfg.max_body;
	buf_reset(&body);
	int rendered = s->type->render(s, ev, &body, err, sizeof err);
	if (rendered > 0) { /* held back by the type (sampled out) */
		s->stats.suppressed++;
		return NULL;
	}
	if (rendered < 0 || body.overflow) {
		s->stats.render_errors++;
		log_warn("sink %s: cannot render event %s/%s: %s", s->name, ev->namespace, ev->name,
		         err[0] ? err : "too large");
		return NULL;
	}
	struct msg *m = xmalloc(sizeof *m + body.len + 1);
	m->next = NULL;
	m->enqueued_ms = 0;
	m->attempts = 0;
	m->max_batch = 0;
	m->len = (uint32_t)body.len;
	set_label(m, ev);
	memcpy(m->body, body.data ? body.data : "", body.len);
	m->body[body.len] = '\0';
	/* keep the static scratch small between bursts of large bodies */
	if (body.cap > 16384)
		buf_free(&body);
	return m;
}

/* Append m to the queue, or drop it (counted) past the bounds; then see that it gets sent. */
static void enqueue(struct sink *s, struct msg *m)
{
	/* the bounds hold what is queued and what is in flight: all of it is in memory */
	size_t held = s->qbytes + s->inflight_bytes;
	if (s->qlen + s->inflight_items >= s->cfg.queue_events ||
	    m->len > s->cfg.queue_bytes - MIN(held, s->cfg.queue_bytes)) {
		s->stats.dropped++;
		log_overflow(s);
		free(m);
		return;
	}
	m->enqueued_ms = now_mono_ms();
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->qlen++;
	s->qbytes += m->len;
	s->stats.enqueued++;
	bool full_now = s->qlen == s->cfg.batch_items ||
	                (s->qbytes >= s->cfg.batch_bytes && s->qbytes - m->len < s->cfg.batch_bytes);
	/* Deliver from the loop, not from here: events arrive inside libcurl's
	 * write callback, where no transfer may be started. A waiting batch or
	 * a backoff has its timer armed already: nothing to do until it fires,
	 * unless this item fills a batch. */
	if (s->loop && (!loop_timer_armed(&s->wake) || full_now))
		wake_in(s, 0);
}

/* --- trailing messages ------------------------------------------------------
 * repeat_interval holds count bumps back; when it ends, the last one held
 * (the current count) goes out once, so the final count is never lost. At
 * most TRAILERS_MAX per sink wait; a new one past that replaces the one
 * that waited longest (counted as dropped). */

struct trailer {
	uint64_t key;  /* seen_key() of the event */
	int64_t due_s; /* when the interval ends (monotonic seconds) */
	int32_t count; /* the count it carries */
	struct msg *m; /* the event rendered at that count */
};

static void arm_trailers(struct sink *s)
{
	int64_t due = INT64_MAX;
	for (size_t i = 0; i < s->ntrailers; i++)
		due = MIN(due, s->trailers[i].due_s);
	if (!s->ntrailers || !s->loop)
		return;
	loop_timer_arm(s->loop, &s->trailer_timer, MAX(due * 1000 - now_mono_ms(), 0));
}

static void remove_trailer(struct sink *s, size_t i)
{
	free(s->trailers[i].m);
	s->trailers[i] = s->trailers[--s->ntrailers];
}

static void on_trailers(struct loop *l, void *ctx)
{
	struct sink *s = ctx;
	int64_t now_s = now_mono_ms() / 1000;
	(void)l;
	for (size_t i = 0; i < s->ntrailers;) {
		struct trailer *t = &s->trailers[i];
		if (t->due_s > now_s) {
			i++;
			continue;
		}
		if (s->seen && seen_alerted(s->seen, t->key, s->index, t->count, now_s)) {
			s->stats.trailers++;
			enqueue(s, t->m); /* it is the queue's now */
			t->m = NULL;
		}
		remove_trailer(s, i);
	}
	arm_trailers(s);
}

/* Keep ev as the trailing message of its held-back repeats, due at due_s. */
static void hold_back(struct sink *s, const struct event *ev, int64_t due_s)
{
	uint64_t key = seen_key(ev);
	struct msg *m = render_msg(s, ev);
	if (!m)
		return;
	size_t i = 0;
	while (i < s->ntrailers && s->trailers[i].key != key)
		i++;
	if (i == s->ntrailers) {
		if (!s->trailers)
			s->trailers = xcalloc(TRAILERS_MAX, sizeof *s->trailers);
		if (s->ntrailers == TRAILERS_MAX) { /* the one due first makes room */
			for (size_t k = i = 0; k < s->ntrailers; k++)
				if (s->trailers[k].due_s < s->trailers[i].due_s)
					i = k;
			s->stats.dropped++;
			free(s->trailers[i].m);
		} else {
			s->ntrailers++;
		}
		s->trailers[i].m = NULL;
	}
	free(s->trailers[i].m);
	s->trailers[i] = (struct trailer){ key, due_s, ev->eff_count, m };
	arm_trailers(s);
}

/* An alert went out for the event: a trailing message waiting for it is moot. */
static void forget_trailer(struct sink *s, const struct event *ev)
{
	if (!s->ntrailers)
		return;
	uint64_t key = seen_key(ev);
	for (size_t i = 0; i < s->ntrailers; i++) {
		if (s->trailers[i].key == key) {
			remove_trailer(s, i);
			return;
		}
	}
}

bool sink_offer(struct sink *s, const struct event *ev, struct seen *seen, size_t slot, int64_t now_s)
{
	if (!filter_match(s->filter, ev))
		return false;
	s->stats.matched++;
	if (seen) {
		int64_t hold_until = 0;
		s->seen = seen;
		if (!seen_should_alert(seen, slot, s->index, ev->eff_count, s->cfg.repeat_interval_s, now_s,
		                       &hold_until)) {
			s->stats.suppressed++;
			if (hold_until)
				hold_back(s, ev, hold_until);
			return true;
		}
		forget_trailer(s, ev);
	}
	struct msg *m = render_msg(s, ev);
	if (m)
		enqueue(s, m);
	return true;
}

static struct msg *pop(struct sink *s)
{
	struct msg *m = s->head;
	s->head = m->next;
	if (!s->head)
		s->tail = NULL;
	m->next = NULL;
	s->qlen--;
	s->qbytes -= m->len;
	return m;
}

static void push_front(struct sink *s, struct msg *m)
{
	m->next = s->head;
	s->head = m;
	if (!s->tail)
		s->tail = m;
	s->qlen++;
	s->qbytes += m->len;
}

/* Milliseconds until the rate window allows another send (0 = now). */
static int64_t rate_wait(const struct sink *s, int64_t now)
{
	if (!s->cfg.rate_n || s->sent_n < s->cfg.rate_n)
		return 0;
	/* the oldest of the last N sends leaves the window at oldest + period;
	 * plus a margin (1% + 10 ms): the robot's clock and ours differ a little */
	int64_t oldest = s->sent_at[s->sent_pos];
	int64_t w = oldest + s->cfg.rate_period_ms + s->cfg.rate_period_ms / 100 + 10 - now;
	return w > 0 ? w : 0;
}

/* Record a send; returns its slot so the completion time can replace it. */
static size_t rate_record(struct sink *s, int64_t now)
{
	size_t slot = s->sent_pos;
	if (!s->cfg.rate_n)
		return 0;
	s->sent_at[s->sent_pos] = now;
	s->sent_pos = (s->sent_pos + 1) % s->cfg.rate_n;
	if (s->sent_n < s->cfg.rate_n)
		s->sent_n++;
	return slot;
}

/* The most items the head of the queue may travel with. */
static unsigned batch_limit(const struct sink *s)
{
	unsigned lim = s->cfg.batch_items;
	unsigned k = 0;
	for (const struct msg *m = s->head; m && k < lim; m = m->next, k++)
		if (m->max_batch && m->max_batch < lim) /* with it, or without it and the rest */
			lim = k + 1 <= m->max_batch ? m->max_batch : k;
	return lim;
}

/*
 * Is a batch due? Yes when it is full (items or bytes), when its oldest item
 * waited flush_interval, when items came back from a failed or refused
 * request, or when stopping. Otherwise *wait says when the oldest item's time is up.
 */
static bool batch_due(const struct sink *s, int64_t now, int64_t *wait)
{
	if (s->cfg.batch_items <= 1 || s->stopping || s->head->max_batch || s->head->attempts)
		return true; /* (items back from a failed request have waited enough) */
	if (s->qlen >= s->cfg.batch_items || s->qbytes >= s->cfg.batch_bytes)
		return true;
	*wait = s->head->enqueued_ms + s->cfg.flush_ms - now;
	return *wait <= 0;
}

/* Move the next batch from the queue into a new flight. */
static struct flight *batch_take(struct sink *s)
{
	unsigned lim = batch_limit(s);
	struct flight *f = flight_get(s, s->cfg.batch_items);
	struct sink_batch *b = &f->b;
	while (s->head && b->n < lim) {
		if (b->n && b->bytes + s->head->len > s->cfg.batch_bytes)
			break;
		struct msg *m = pop(s);
		b->verdict[b->n] = DELIVERY_UNSET;
		b->items[b->n++] = m;
		b->bytes += m->len;
	}
	return f;
}

/* Put a batch's items back at the head of the queue, in order. */
static void batch_return(struct sink *s, struct flight *f)
{
	for (unsigned i = f->b.n; i-- > 0;)
		push_front(s, f->b.items[i]);
	f->b.n = 0;
}

static int64_t backoff_delay(struct sink *s, int64_t retry_after_ms)
{
	if (retry_after_ms >= 0)
		return MIN(retry_after_ms, (int64_t)RETRY_AFTER_MAX_MS);
	unsigned step = MIN(s->backoff_step, 16u);
	int64_t delay = MIN((int64_t)BACKOFF_BASE_MS << step, (int64_t)BACKOFF_MAX_MS);
	/* jitter: 80%..120% */
	return delay * 8 / 10 + (int64_t)(random_u64() % (uint64_t)(delay * 4 / 10 + 1));
}

/*
 * Settle a finished request: OK items are counted and freed, RETRY items go
 * back to the head of the queue (in order) until their retries run out,
 * SPLIT items go back limited to half the batch, DROP items are counted
 * and freed. One failed request is one backoff step and one log line,
 * however many items it carried.
 */
static void settle(struct sink *s, struct flight *f, enum delivery d, const char *why, int64_t retry_after_ms)
{
	struct sink_batch *b = &f->b;
	int64_t now = now_mono_ms();
	unsigned ok = 0, retry = 0, drop = 0, split = 0, exhausted = 0;
	char bad[sizeof b->items[0]->label] = ""; /* the first troubled item, for the log */
	uint32_t attempts = 0;

	flight_unlink(s, f);
	for (unsigned i = b->n; i-- > 0;) {
		struct msg *m = b->items[i];
		int v = b->verdict[i] == DELIVERY_UNSET ? (int)d : b->verdict[i];
		if (v == DELIVERY_SPLIT && b->n == 1)
			v = DELIVERY_DROP; /* the culprit, alone */
		if (v == DELIVERY_RETRY && m->attempts >= s->cfg.max_retries) {
			v = DELIVERY_DROP;
			exhausted++;
		}
		if (v != DELIVERY_OK)
			memcpy(bad, m->label, sizeof bad);
		switch (v) {
		case DELIVERY_OK:
			ok++;
			log_debug("sink %s: delivered %s", s->name, m->label);
			free(m);
			break;
		case DELIVERY_RETRY:
			retry++;
			m->attempts++;
			attempts = MAX(attempts, m->attempts);
			push_front(s, m);
			break;
		case DELIVERY_SPLIT:
			split++;
			m->max_batch = (b->n + 1) / 2;
			push_front(s, m);
			break;
		default:
			drop++;
			free(m);
			break;
		}
	}
	s->stats.sent += ok;
	s->stats.retried += retry;
	s->stats.failed += drop;
	if (ok) {
		s->last_ok_ms = now;
		s->last_rtt_ms = now - f->started_ms;
		s->stats.last_sent_wall_ms = now_wall_ms();
	}
	int64_t delay = 0;
	if (retry) {
		delay = backoff_delay(s, retry_after_ms);
		s->backoff_step++;
		if (now + delay > s->backoff_until_ms)
			s->backoff_until_ms = now + delay;
	} else if (ok) {
		s->backoff_step = 0;
	}
	unsigned n = b->n;
	b->n = 0;
	flight_put(f);
	if (!bad[0])
		return;
	/* One line per request; its first troubled item names an example. */
	const char *w = why && *why ? why : "failed";
	if (n == 1 && retry)
		log_warn("sink %s: %s, retry %u/%u in %.1fs (%s)", s->name, w, attempts, s->cfg.max_retries,
		         (double)delay / 1000, bad);
	else if (n == 1 && exhausted)
		log_warn("sink %s: dropped %s after %u attempt(s): %s", s->name, bad, s->cfg.max_retries + 1,
		         w);
	else if (n == 1)
		log_warn("sink %s: dropped %s: %s", s->name, bad, w);
	else {
		struct buf m = BUF_INIT(160);
		if (retry)
			buf_printf(&m, ", %u to retry in %.1fs", retry, (double)delay / 1000);
		if (drop)
			buf_printf(&m, ", %u dropped%s", drop, exhausted ? " (out of retries)" : "");
		if (split)
			buf_printf(&m, ", %u to resend in smaller batches", split);
		log_warn("sink %s: %s: %u of %u delivered%s (e.g. %s)", s->name, w, ok, n, buf_str(&m), bad);
		buf_free(&m);
	}
}

void sink_batch_done(struct sink *s, struct sink_batch *b, enum delivery d, const char *why,
                     int64_t retry_after_ms)
{
	struct flight *f = (struct flight *)(void *)((char *)b - offsetof(struct flight, b));
	settle(s, f, d, why, retry_after_ms);
	if (!s->kicking) {
		sink_kick(s);
		progress(s);
	}
}

int sink_batch_concat(const struct sink_batch *b, struct buf *out)
{
	for (unsigned i = 0; i < b->n; i++)
		if (buf_append(out, b->items[i]->body, b->items[i]->len) < 0)
			return -1;
	return 0;
}

/* --- the HTTP transport ---------------------------------------------------- */

static void on_http_done(void *ctx, const struct http_response *r)
{
	struct flight *f = ctx;
	struct sink *s = f->s;
	char why[256] = "";
	int64_t retry_after = r->retry_after_ms;
	enum delivery d = DELIVERY_OK;

	f->req = NULL; /* http.c frees it after this callback */
	if (s->type->classify)
		d = s->type->classify(s, &f->r, r, &f->b, why, sizeof why, &retry_after);
	else
		sink_http_failed(r, &d, why, sizeof why);
	/* The robot counted the message when it arrived, somewhat after we sent
	 * it: keep our window conservative by counting from the answer. */
	if (s->cfg.rate_n)
		s->sent_at[f->rate_slot] = now_mono_ms();
	sink_batch_done(s, &f->b, d, why, retry_after);
}

struct http_req *sink_http_start(struct sink *s, struct http_request *r, http_done_cb done, void *ctx)
{
	if (!r->connect_timeout_ms)
		r->connect_timeout_ms = s->cfg.connect_timeout_ms;
	if (!r->timeout_ms)
		r->timeout_ms = s->cfg.timeout_ms;
	if (!r->tls.ca_file && !r->tls.ca_pem)
		r->tls.ca_file = s->cfg.cacert;
	r->tls.insecure |= s->cfg.insecure;
	return http_start(s->http, r, NULL, done, ctx);
}

char *sink_basic_auth(const char *user, const char *password)
{
	struct buf plain = BUF_INIT(4096), out = BUF_INIT(8192);
	buf_printf(&plain, "%s:%s", user, password);
	buf_puts(&out, "Authorization: Basic ");
	base64_encode(&out, plain.data, plain.len);
	buf_free(&plain);
	return buf_steal(&out);
}

/* Send f over HTTP: SINK_SENT, SINK_LATER, or -1 with err (f's items dropped). */
static int http_send(struct sink *s, struct flight *f, char *err, size_t errlen)
{
	struct sink_req *r = &f->r;
	r->http.max_body = s->type->max_response;
	r->http.headers = r->headers;
	int p = s->type->prepare(s, &f->b, r, err, errlen);
	if (p != 0)
		return p > 0 ? SINK_LATER : -1;
	f->req = sink_http_start(s, &r->http, on_http_done, f);
	if (!f->req) {
		snprintf(err, errlen, "cannot start request");
		return -2;
	}
	return SINK_SENT;
}

void sink_kick(struct sink *s)
{
	if (!s->loop || s->kicking)
		return;
	s->kicking = true;
	int64_t now = now_mono_ms();
	while (s->head && s->inflight < s->cfg.concurrency) {
		int64_t wait = MAX(s->backoff_until_ms - now, rate_wait(s, now));
		if (wait <= 0)
			batch_due(s, now, &wait); /* sets wait > 0 when not due */
		if (wait > 0) {
			wake_in(s, wait);
			break;
		}
		struct flight *f = batch_take(s);
		char err[256] = "";
		f->next = s->flights;
		s->flights = f;
		f->sent = true;
		s->inflight++;
		s->inflight_items += f->b.n;
		s->inflight_bytes += f->b.bytes;
		f->started_ms = now;
		if (!s->first_send_ms)
			s->first_send_ms = now;
		f->rate_slot = s->sent_pos; /* where rate_record() puts it */
		int r = s->type->transport ? s->type->transport->send(s, &f->b, err, sizeof err)
		                           : http_send(s, f, err, sizeof err);
		if (r == SINK_SENT) {
			rate_record(s, now); /* (f may be settled already: a synchronous transport) */
			continue;
		}
		if (r == SINK_LATER) {
			/* not ready: the type kicks us when it is; the timer is a safety
			 * net, and keeps new items from kicking in vain meanwhile */
			flight_unlink(s, f);
			batch_return(s, f);
			flight_put(f);
			wake_in(s, LATER_MS);
			break;
		}
		/* -1: prepare refused the batch; otherwise it could not be started */
		settle(s, f, r == -1 && !s->type->transport ? DELIVERY_DROP : DELIVERY_RETRY, err, -1);
		now = now_mono_ms();
	}
	s->kicking = false;
}

int64_t sink_too_fast_ms(const struct sink *s)
{
	return s->cfg.rate_period_ms ? s->cfg.rate_period_ms : 60000;
}

enum delivery sink_status_verdict(long status)
{
	if (status >= 200 && status < 300)
		return DELIVERY_OK;
	if (status == 408 || status == 429 || status >= 500)
		return DELIVERY_RETRY;
	return DELIVERY_DROP;
}

long sink_status_number(double v)
{
	return v >= 100 && v < 1000 ? (long)v : 0;
}

bool sink_http_failed(const struct http_response *r, enum delivery *d, char *why, size_t n)
{
	if (r->error) {
		snprintf(why, n, "%s", r->error_text ? r->error_text : "transport error");
		*d = DELIVERY_RETRY;
		return true;
	}
	*d = sink_status_verdict(r->status);
	if (*d == DELIVERY_RETRY)
		snprintf(why, n, "HTTP %ld", r->status);
	else if (*d == DELIVERY_DROP)
		snprintf(why, n, "HTTP %ld: %.120s", r->status, r->body ? r->body : "");
	return *d != DELIVERY_OK;
}

void sink_item_result(struct sink *s, struct sink_batch *b, unsigned i, enum delivery v, long status,
                      const char *type, const char *reason, struct sink_items *it, char *why, size_t n)
{
	b->verdict[i] = (signed char)v;
	if (v == DELIVERY_OK)
		return;
	if (!it->failed++)
		snprintf(why, n, "%s HTTP %ld %.120s", it->what, status, *type ? type : reason);
	if (v == DELIVERY_DROP && it->logged++ < ITEM_LOG_MAX)
		log_warn("sink %s: dropped %s: HTTP %ld%s%s: %.200s", s->name, b->items[i]->label, status,
		         *type ? " " : "", type, reason);
}

void sink_list_types(struct buf *out)
{
	for (size_t i = 0; sink_types[i]; i++)
		buf_printf(out, "%s%s", i ? " " : "", sink_types[i]->name);
}
