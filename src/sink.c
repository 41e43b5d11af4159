/* sink.c -- sink construction, common parameters and the delivery engine. */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#define PAUSE_HIGH 256                /* flow control: queued messages ... */
#define PAUSE_HIGH_BYTES (512 * 1024) /* ... or bytes that pause the source */
#define PAUSE_LOW 64                  /* ... and where it resumes */
#define FAST_MS 200                   /* "draining fast": a success this recently */

/* Parameters every sink understands (besides its type's own). */
static const char *const common_params[] = {
	"level",
	"namespaces",
	"kinds",
	"reason",
	"message",
	"name",
	"exclude_reason",
	"exclude_message",
	"exclude_namespaces",
	"repeat_interval",
	"rate",
	"queue_size",
	"queue_bytes",
	"concurrency",
	"retries",
	"timeout",
	"connect_timeout",
	"cacert",
	"insecure_skip_verify",
	NULL,
};

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

static int parse_common(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct sink_config *c = &s->cfg;
	int64_t v;
	const char *reasons[MAX_REPEAT], *messages[MAX_REPEAT], *names[MAX_REPEAT];
	const char *xreasons[MAX_REPEAT], *xmessages[MAX_REPEAT];
	struct filter_opts fo = { 0 };

	fo.level = uri_get(u, "level");
	fo.namespaces = uri_get(u, "namespaces");
	fo.kinds = uri_get(u, "kinds");
	fo.exclude_namespaces = uri_get(u, "exclude_namespaces");
	fo.ns_from_event = s->type->ns_from_event;
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

	if (sink_param_duration(u, "repeat_interval", 600000, &v, err, errlen) < 0)
		return -1;
	c->repeat_interval_s = v / 1000;
	if (v > 0 && c->repeat_interval_s == 0)
		c->repeat_interval_s = 1;
	if (sink_param_int(u, "queue_size", 1000, 1, 1000000, &v, err, errlen) < 0)
		return -1;
	c->queue_events = (size_t)v;
	if (sink_param_int(u, "queue_bytes", 2 << 20, 4096, (int64_t)1 << 30, &v, err, errlen) < 0)
		return -1;
	c->queue_bytes = (size_t)v;
	unsigned defc = s->type->default_concurrency ? s->type->default_concurrency : 4;
	if (sink_param_int(u, "concurrency", defc, 1, 64, &v, err, errlen) < 0)
		return -1;
	c->concurrency = (unsigned)v;
	if (sink_param_int(u, "retries", 10, 0, 1000, &v, err, errlen) < 0)
		return -1;
	c->max_retries = (unsigned)v;
	if (sink_param_duration(u, "timeout", 15000, &c->timeout_ms, err, errlen) < 0 ||
	    sink_param_duration(u, "connect_timeout", 5000, &c->connect_timeout_ms, err, errlen) < 0)
		return -1;
	if (c->timeout_ms == 0 || c->connect_timeout_ms == 0) {
		snprintf(err, errlen, "timeout and connect_timeout must be greater than 0");
		return -1;
	}
	const char *rate = uri_get(u, "rate");
	if (!rate)
		rate = s->type->default_rate;
	if (rate && strcmp(rate, "0") != 0 && sink_parse_rate(rate, &c->rate_n, &c->rate_period_ms) < 0) {
		snprintf(err, errlen, "rate: \"%s\" must look like N/DURATION, e.g. 20/1m (0 = unlimited)",
		         rate);
		return -1;
	}
	const char *ca = uri_get(u, "cacert");
	c->cacert = ca && *ca ? xstrdup(ca) : NULL; /* u is freed after create */
	if (sink_param_bool(u, "insecure_skip_verify", false, &c->insecure, err, errlen) < 0)
		return -1;
	c->max_body = 64 * 1024;
	return 0;
}

struct sink *sink_create(const char *value, size_t index, struct buf *unknown, char *err, size_t errlen)
{
	struct uri u;
	char e[512];
	if (uri_parse(value, &u, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s", e);
		return NULL;
	}
	const struct sink_type *t = sink_type_find(u.key);
	if (!t) {
		struct buf names = BUF_INIT(1024);
		sink_list_types(&names);
		snprintf(err, errlen, "Sink not recognized: %s (known: %s)", u.key, buf_str(&names));
		buf_free(&names);
		uri_free(&u);
		return NULL;
	}
	struct sink *s = xcalloc(1, sizeof *s);
	s->type = t;
	s->index = index;
	snprintf(s->name, sizeof s->name, "%s[%zu]", t->name, index);
	char red[1024];
	log_redact_url(u.rest, red, sizeof red);
	s->redacted_url = xstrdup(red);
	loop_timer_init(&s->wake, NULL, NULL);

	e[0] = '\0';
	if (parse_common(s, &u, e, sizeof e) < 0 || t->create(s, &u, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s", e);
		sink_destroy(s);
		uri_free(&u);
		return NULL;
	}
	if (s->cfg.rate_n)
		s->sent_at = xcalloc(s->cfg.rate_n, sizeof *s->sent_at);
	for (size_t i = 0; unknown && i < u.nparams; i++) {
		if (u.params[i].used)
			continue;
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= strcmp(u.params[j].key, u.params[i].key) == 0;
		if (!dup)
			buf_printf(unknown, "%s%s", unknown->len ? ", " : "", u.params[i].key);
	}
	uri_free(&u);
	return s;
}

void sink_destroy(struct sink *s)
{
	if (!s)
		return;
	if (s->loop)
		loop_timer_disarm(s->loop, &s->wake);
	if (s->type->destroy)
		s->type->destroy(s);
	while (s->head) {
		struct msg *m = s->head;
		s->head = m->next;
		free(m);
	}
	filter_free(s->filter);
	free(s->cfg.cacert);
	free(s->sent_at);
	free(s->redacted_url);
	free(s);
}

/* --- the engine ---------------------------------------------------------- */

struct flight {
	struct sink *s;
	struct msg *m;
	struct http_req *req;
	struct sink_req r;
	size_t rate_slot; /* where its send time is in the rate window */
	struct flight *next_free;
};

/*
 * In-flight request records are reused: allocating and freeing a 2.4 KB
 * record per event makes musl's allocator map and unmap pages constantly.
 * At most 64 are kept (the highest concurrency a sink may have).
 */
static struct flight *free_flights;
static unsigned nfree_flights;

static struct flight *flight_get(void)
{
	struct flight *f = free_flights;
	if (!f)
		return xcalloc(1, sizeof *f);
	free_flights = f->next_free;
	nfree_flights--;
	memset(f, 0, sizeof *f);
	return f;
}

static void flight_put(struct flight *f)
{
	buf_free(&f->r.scratch);
	if (nfree_flights >= 64) {
		free(f);
		return;
	}
	f->next_free = free_flights;
	free_flights = f;
	nfree_flights++;
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
	if (s->type->start)
		s->type->start(s);
}

static bool drains_fast(const struct sink *s)
{
	int64_t now = now_mono_ms();
	return s->cfg.rate_n == 0 && s->backoff_until_ms <= now && s->last_ok_ms &&
	       now - s->last_ok_ms <= FAST_MS;
}

bool sink_wants_pause(const struct sink *s)
{
	return (s->qlen >= PAUSE_HIGH || s->qbytes >= PAUSE_HIGH_BYTES) && drains_fast(s);
}

bool sink_allows_resume(const struct sink *s)
{
	return s->qlen <= PAUSE_LOW || !drains_fast(s);
}

size_t sink_pending(const struct sink *s)
{
	return s->qlen + s->inflight;
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

bool sink_offer(struct sink *s, const struct event *ev, struct seen *seen, size_t slot, int64_t now_s)
{
	static struct buf body = BUF_INIT(0);
	char err[256];

	if (!filter_match(s->filter, ev))
		return false;
	s->stats.matched++;
	if (seen &&
	    !seen_should_alert(seen, slot, s->index, ev->eff_count, s->cfg.repeat_interval_s, now_s)) {
		s->stats.suppressed++;
		return true;
	}
	body.max = s->cfg.max_body;
	buf_reset(&body);
	err[0] = '\0';
	if (s->type->render(s, ev, &body, err, sizeof err) < 0) {
		s->stats.render_errors++;
		log_warn("sink %s: cannot render event %s/%s: %s", s->name, ev->namespace, ev->name, err);
		return true;
	}
	if (s->qlen >= s->cfg.queue_events ||
	    body.len > s->cfg.queue_bytes - MIN(s->qbytes, s->cfg.queue_bytes)) {
		s->stats.dropped++;
		log_overflow(s);
		return true;
	}
	struct msg *m = xmalloc(sizeof *m + body.len + 1);
	m->next = NULL;
	m->enqueued_ms = now_mono_ms();
	m->attempts = 0;
	m->len = (uint32_t)body.len;
	snprintf(m->label, sizeof m->label, "%s %s/%s %s", ev->involved.kind,
	         ev->involved.namespace[0] ? ev->involved.namespace : ev->namespace,
	         ev->involved.name[0] ? ev->involved.name : ev->name, ev->reason);
	memcpy(m->body, body.data ? body.data : "", body.len);
	m->body[body.len] = '\0';
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->qlen++;
	s->qbytes += body.len;
	s->stats.enqueued++;
	/* keep the static scratch small between bursts of large bodies */
	if (body.cap > 16384)
		buf_free(&body);
	/* Deliver from the loop, not from here: events arrive inside libcurl's
	 * write callback, where no transfer may be started. */
	if (s->loop && !(loop_timer_armed(&s->wake) && s->wake.when <= now_mono_ms()))
		loop_timer_arm(s->loop, &s->wake, 0);
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

static void finish(struct sink *s, struct msg *m, enum delivery d, const char *why, int64_t retry_after_ms);

static void on_done(void *ctx, const struct http_response *r)
{
	struct flight *f = ctx;
	struct sink *s = f->s;
	char why[256] = "";
	int64_t retry_after = r->retry_after_ms;
	enum delivery d;

	if (s->type->classify)
		d = s->type->classify(s, &f->r, r, why, sizeof why, &retry_after);
	else {
		int v = sink_http_verdict(r, why, sizeof why);
		d = v < 0 ? DELIVERY_OK : (enum delivery)v;
	}
	s->inflight--;
	/* The robot counted the message when it arrived, somewhat after we sent
	 * it: keep our window conservative by counting from the answer. */
	if (s->cfg.rate_n)
		s->sent_at[f->rate_slot] = now_mono_ms();
	struct msg *m = f->m;
	flight_put(f);
	finish(s, m, d, why, retry_after);
	sink_kick(s);
	progress(s);
}

static void finish(struct sink *s, struct msg *m, enum delivery d, const char *why, int64_t retry_after_ms)
{
	int64_t now = now_mono_ms();
	if (d == DELIVERY_OK) {
		s->last_ok_ms = now;
		s->stats.sent++;
		s->stats.last_sent_wall_ms = now_wall_ms();
		s->backoff_step = 0;
		log_debug("sink %s: delivered %s", s->name, m->label);
		free(m);
		return;
	}
	if (d == DELIVERY_RETRY && m->attempts < s->cfg.max_retries && !s->stopping) {
		int64_t delay;
		if (retry_after_ms >= 0) {
			delay = MIN(retry_after_ms, (int64_t)RETRY_AFTER_MAX_MS);
		} else {
			unsigned step = MIN(s->backoff_step, 16u);
			delay = MIN((int64_t)BACKOFF_BASE_MS << step, (int64_t)BACKOFF_MAX_MS);
			/* jitter: 80%..120% */
			delay = delay * 8 / 10 + (int64_t)(random_u64() % (uint64_t)(delay * 4 / 10 + 1));
		}
		s->backoff_step++;
		m->attempts++;
		s->stats.retried++;
		if (now + delay > s->backoff_until_ms)
			s->backoff_until_ms = now + delay;
		log_warn("sink %s: %s, retry %u/%u in %.1fs (%s)", s->name, why, m->attempts,
		         s->cfg.max_retries, (double)delay / 1000, m->label);
		push_front(s, m);
		return;
	}
	s->stats.failed++;
	if (d == DELIVERY_RETRY)
		log_warn("sink %s: dropped %s after %u attempt(s): %s", s->name, m->label, m->attempts + 1,
		         why);
	else
		log_warn("sink %s: dropped %s: %s", s->name, m->label, why);
	free(m);
}

void sink_kick(struct sink *s)
{
	if (!s->loop)
		return;
	int64_t now = now_mono_ms();
	while (s->head && s->inflight < s->cfg.concurrency) {
		int64_t wait = s->backoff_until_ms - now;
		int64_t rw = rate_wait(s, now);
		if (rw > wait)
			wait = rw;
		if (wait > 0) {
			if (!loop_timer_armed(&s->wake) || s->wake.when > now + wait)
				loop_timer_arm(s->loop, &s->wake, wait);
			return;
		}
		struct msg *m = pop(s);
		if (s->type->write) {
			rate_record(s, now);
			s->inflight++;
			enum delivery d = s->type->write(s, m);
			s->inflight--;
			finish(s, m, d, "write failed", -1);
			continue;
		}
		struct flight *f = flight_get();
		char err[256] = "";
		f->s = s;
		f->m = m;
		buf_init(&f->r.scratch, 256 * 1024);
		f->r.http.connect_timeout_ms = s->cfg.connect_timeout_ms;
		f->r.http.timeout_ms = s->cfg.timeout_ms;
		f->r.http.tls.ca_file = s->cfg.cacert;
		f->r.http.tls.insecure = s->cfg.insecure;
		f->r.http.headers = f->r.headers;
		int p = s->type->prepare(s, m, &f->r, err, sizeof err);
		if (p != 0) {
			flight_put(f);
			if (p > 0) { /* not ready: the type kicks us again later */
				push_front(s, m);
				return;
			}
			finish(s, m, DELIVERY_DROP, err, -1);
			continue;
		}
		f->rate_slot = rate_record(s, now);
		s->inflight++;
		f->req = http_start(s->http, &f->r.http, NULL, on_done, f);
		if (!f->req) {
			s->inflight--;
			flight_put(f);
			finish(s, m, DELIVERY_RETRY, "cannot start request", -1);
			continue; /* the backoff arms the wake timer above */
		}
	}
}

int64_t sink_too_fast_ms(const struct sink *s)
{
	return s->cfg.rate_period_ms ? s->cfg.rate_period_ms : 60000;
}

int sink_http_verdict(const struct http_response *r, char *why, size_t n)
{
	if (r->error) {
		snprintf(why, n, "%s", r->error_text ? r->error_text : "transport error");
		return DELIVERY_RETRY;
	}
	if (r->status == 408 || r->status == 429 || r->status >= 500) {
		snprintf(why, n, "HTTP %ld", r->status);
		return DELIVERY_RETRY;
	}
	if (r->status < 200 || r->status >= 300) {
		snprintf(why, n, "HTTP %ld: %.120s", r->status, r->body ? r->body : "");
		return DELIVERY_DROP;
	}
	return -1;
}

void sink_list_types(struct buf *out)
{
	for (size_t i = 0; sink_types[i]; i++)
		buf_printf(out, "%s%s", i ? " " : "", sink_types[i]->name);
}

const char *const *sink_common_params(void)
{
	return common_params;
}
