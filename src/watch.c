/* watch.c -- the exactly-once list/watch state machine for core/v1 Events. */
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "http.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "uri.h"
#include "util.h"

#define PAGE_SIZE 500
#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define HEALTHY_RESET_MS 120000
#define STALL_GRACE_S 30
#define SKEW_S 120

enum phase { PH_IDLE, PH_LIST_RV, PH_WATCH, PH_RELIST, PH_ONCE, PH_WAIT, PH_STOPPED };

struct watch {
	struct loop *loop;
	struct http *http;
	struct kube *kube;
	struct seen *seen;
	watch_event_cb cb;
	void *ctx;
	watch_done_cb done;

	enum phase phase;  /* what the current request does */
	enum phase resume; /* what to do after a backoff */
	struct http_req *req;
	struct kube_req kr;
	struct lines lines;
	struct jscan scan;
	struct buf errbody;   /* body of a non-200 answer (bounded) */
	char rv[128];         /* last resourceVersion seen */
	char list_rv[128];    /* resourceVersion of the list being read */
	char cont[4096];      /* continue token of the list being read */
	bool meta_bad;        /* the list metadata did not fit */
	bool expired;         /* in-stream 410 */
	char stream_err[200]; /* other in-stream ERROR */
	int timeout_s;
	int64_t req_started_ms;
	int64_t last_byte_ms;
	int64_t healthy_since_ms; /* 0 when not healthy */
	int64_t last_healthy_wall_s;
	int64_t start_wall_s;
	int64_t since_wall_s; /* PH_ONCE watermark */
	unsigned backoff_step;
	bool first_watch_done;
	uint64_t req_lines; /* lines received by the current request */
	bool paused;        /* flow control: not reading */
	struct loop_timer stall, retry;
	struct watch_stats st;
};

static void request(struct watch *w, enum phase ph);
static void fail(struct watch *w, const char *why, int64_t retry_after_ms);

static int64_t now_s(void)
{
	return now_mono_ms() / 1000;
}

static void deliver(struct watch *w, struct event *ev, bool listed)
{
	size_t slot;
	if (listed && !seen_known(w->seen, ev)) {
		int64_t activity = MAX(ev->creation.sec, ev->eff_time.sec);
		int64_t watermark = w->phase == PH_ONCE
		                        ? w->since_wall_s
		                        : MAX(w->start_wall_s - 5, w->last_healthy_wall_s - SKEW_S);
		if (activity < watermark) {
			seen_observe(w->seen, ev, now_s(), &slot); /* remember, do not alert */
			w->st.stale++;
			return;
		}
	}
	enum seen_result r = seen_observe(w->seen, ev, now_s(), &slot);
	if (r == SEEN_SAME) {
		w->st.duplicates++;
		return;
	}
	w->st.events++;
	w->st.last_event_wall_ms = now_wall_ms();
	w->cb(w->ctx, ev, slot, r);
}

static void on_line(void *ctx, const char *line, size_t len)
{
	struct watch *w = ctx;
	struct watch_msg m;
	char err[128];

	if (watch_msg_decode(line, len, &m, err, sizeof err) < 0) {
		w->st.decode_errors++;
		log_warn("watch: skipped a malformed line (%zu bytes): %s", len, err);
		return;
	}
	w->req_lines++;
	w->last_healthy_wall_s = now_wall_ms() / 1000;
	w->st.last_ok_mono_ms = now_mono_ms();
	switch (m.type) {
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		snprintf(w->rv, sizeof w->rv, "%s", m.rv);
		deliver(w, &m.ev, false);
		break;
	case WATCH_DELETED:
		snprintf(w->rv, sizeof w->rv, "%s", m.rv);
		break;
	case WATCH_BOOKMARK:
		snprintf(w->rv, sizeof w->rv, "%s", m.rv);
		w->st.bookmarks++;
		break;
	case WATCH_ERROR:
		if (m.status_code == 410 || strcmp(m.status_reason, "Expired") == 0 ||
		    strcmp(m.status_reason, "Gone") == 0)
			w->expired = true;
		else
			snprintf(w->stream_err, sizeof w->stream_err, "watch ERROR %d %.40s: %.120s",
			         m.status_code, m.status_reason, m.status_message);
		break;
	}
	event_free(&m.ev);
}

static void on_item(void *ctx, enum jscan_kind kind, const char *p, size_t n)
{
	struct watch *w = ctx;
	if (kind == JSCAN_META) {
		char rv[sizeof w->rv];
		if (list_meta_decode(p, n, rv, sizeof rv, w->cont, sizeof w->cont) < 0 ||
		    strlen(w->cont) >= sizeof w->cont - 1 || strlen(rv) >= sizeof rv - 1) {
			w->meta_bad = true;
			return;
		}
		snprintf(w->list_rv, sizeof w->list_rv, "%s", rv);
		return;
	}
	if (w->phase == PH_LIST_RV)
		return; /* limit=1: only the version matters */
	struct event ev;
	char err[128];
	if (event_decode(p, n, &ev, err, sizeof err) < 0) {
		w->st.decode_errors++;
		log_warn("watch: skipped a malformed list item (%zu bytes): %s", n, err);
		return;
	}
	w->st.last_ok_mono_ms = now_mono_ms();
	deliver(w, &ev, true);
	event_free(&ev);
}

static int on_data(void *ctx, long status, const char *p, size_t n)
{
	struct watch *w = ctx;
	w->last_byte_ms = now_mono_ms();
	if (status != 200) {
		if (n && buf_append(&w->errbody, p, n) < 0)
			return -1; /* an error page this large is not worth reading */
		return 0;
	}
	if (w->phase == PH_WATCH) {
		if (!w->healthy_since_ms) {
			w->healthy_since_ms = now_mono_ms();
			w->st.connected = true;
			w->last_healthy_wall_s = now_wall_ms() / 1000;
		}
		if (n)
			lines_feed(&w->lines, p, n);
		w->st.oversized = w->lines.oversized + w->scan.oversized;
	} else if (n) {
		jscan_feed(&w->scan, p, n);
		w->st.oversized = w->lines.oversized + w->scan.oversized;
	}
	return 0;
}

static void start_watch(struct watch *w)
{
	request(w, PH_WATCH);
}

static void start_relist(struct watch *w)
{
	w->cont[0] = '\0';
	request(w, PH_RELIST);
}

static void on_done(void *ctx, const struct http_response *r)
{
	struct watch *w = ctx;
	enum phase ph = w->phase;
	char why[300];

	w->req = NULL;
	loop_timer_disarm(w->loop, &w->stall);
	w->st.connected = false;
	if (ph == PH_WATCH && w->healthy_since_ms && now_mono_ms() - w->healthy_since_ms >= HEALTHY_RESET_MS)
		w->backoff_step = 0;
	w->healthy_since_ms = 0;

	if (r->error) {
		snprintf(why, sizeof why, "%s: %s", ph == PH_WATCH ? "watch" : "list", r->error_text);
		fail(w, why, -1);
		return;
	}
	if (r->status == 410 || (ph == PH_WATCH && w->expired)) {
		if (ph == PH_WATCH) {
			log_info("watch: resourceVersion %s expired, relisting", w->rv);
			w->st.relists++;
			start_relist(w);
		} else if (ph == PH_RELIST || ph == PH_ONCE) {
			log_info("watch: list continue token expired, listing again");
			w->cont[0] = '\0';
			request(w, ph);
		} else {
			fail(w, "list: HTTP 410", -1);
		}
		return;
	}
	if (r->status != 200) {
		int code;
		char reason[64], msg[200];
		if (status_decode(buf_str(&w->errbody), w->errbody.len, &code, reason, sizeof reason, msg,
		                  sizeof msg) < 0)
			snprintf(msg, sizeof msg, "%.120s", buf_str(&w->errbody));
		if (r->status == 401)
			kube_unauthorized(w->kube);
		snprintf(why, sizeof why, "%s: HTTP %ld: %s%s", ph == PH_WATCH ? "watch" : "list", r->status,
		         msg, r->status == 403 ? " (check the RBAC rules: get/list/watch on events)" : "");
		fail(w, why, r->retry_after_ms);
		return;
	}
	w->st.last_ok_mono_ms = now_mono_ms();
	switch (ph) {
	case PH_LIST_RV:
		if (!w->list_rv[0] || w->meta_bad) {
			fail(w, "list: the answer has no resourceVersion", -1);
			return;
		}
		snprintf(w->rv, sizeof w->rv, "%s", w->list_rv);
		w->backoff_step = 0;
		start_watch(w);
		return;
	case PH_RELIST:
	case PH_ONCE:
		if (w->meta_bad) {
			fail(w, "list: metadata too large", -1);
			return;
		}
		if (w->cont[0]) {
			request(w, ph); /* next page */
			return;
		}
		if (ph == PH_ONCE) {
			w->phase = PH_STOPPED;
			w->done(w->ctx, true, NULL);
			return;
		}
		snprintf(w->rv, sizeof w->rv, "%s", w->list_rv);
		w->backoff_step = 0;
		start_watch(w);
		return;
	case PH_WATCH:
		if (w->stream_err[0]) {
			fail(w, w->stream_err, -1);
			return;
		}
		/* A normal end: resume from the last version, no relist. A watch
		 * that ends at once every time would spin: back off instead. */
		if (now_mono_ms() - w->req_started_ms < 1000 && w->req_lines == 0 && w->backoff_step < 3) {
			fail(w, "watch: the server closed the stream at once", -1);
			return;
		}
		log_debug("watch: stream ended normally, resuming from %s", w->rv);
		start_watch(w);
		return;
	default:
		return;
	}
}

static void on_stall(struct loop *l, void *ctx)
{
	struct watch *w = ctx;
	int64_t limit = ((int64_t)w->timeout_s + STALL_GRACE_S) * 1000;
	int64_t idle = now_mono_ms() - w->last_byte_ms;
	(void)l;
	if (idle < limit || w->paused) { /* silence we asked for is not a stall */
		loop_timer_arm(w->loop, &w->stall, limit - idle);
		return;
	}
	log_warn("watch: no data for %llds, the connection is dead; reconnecting", (long long)(idle / 1000));
	http_cancel(w->http, w->req);
	w->req = NULL;
	w->st.connected = false;
	w->healthy_since_ms = 0;
	w->st.errors++;
	start_watch(w);
}

static void on_retry(struct loop *l, void *ctx)
{
	struct watch *w = ctx;
	(void)l;
	request(w, w->resume);
}

static void fail(struct watch *w, const char *why, int64_t retry_after_ms)
{
	enum phase ph = w->phase;
	w->st.errors++;
	snprintf(w->st.last_error, sizeof w->st.last_error, "%s", why);
	if (ph == PH_ONCE && w->backoff_step >= 4) {
		w->phase = PH_STOPPED;
		w->done(w->ctx, false, why);
		return;
	}
	int64_t delay = MIN((int64_t)BACKOFF_MIN_MS << MIN(w->backoff_step, 10u), (int64_t)BACKOFF_MAX_MS);
	delay = delay * 8 / 10 + (int64_t)(random_u64() % (uint64_t)(delay * 4 / 10 + 1));
	if (retry_after_ms >= 0)
		delay = MAX(delay, MIN(retry_after_ms, (int64_t)600000));
	w->backoff_step++;
	log_warn("%s; retrying in %.1fs", why, (double)delay / 1000);
	w->resume = ph == PH_LIST_RV && w->rv[0] ? PH_WATCH : ph;
	w->phase = PH_WAIT;
	loop_timer_arm(w->loop, &w->retry, delay);
}

static void request(struct watch *w, enum phase ph)
{
	struct buf path = BUF_INIT(8192);
	const char *ns = kube_namespace(w->kube);
	const char *fs = kube_field_selector(w->kube);
	char err[256];

	if (ns) {
		buf_puts(&path, "/api/v1/namespaces/");
		uri_query_escape(&path, ns);
		buf_puts(&path, "/events");
	} else {
		buf_puts(&path, "/api/v1/events");
	}
	if (ph == PH_WATCH) {
		w->timeout_s = kube_watch_timeout(w->kube) ? kube_watch_timeout(w->kube)
		                                           : 300 + (int)(random_u64() % 301);
		buf_printf(&path, "?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d&resourceVersion=",
		           w->timeout_s);
		uri_query_escape(&path, w->rv);
		if (w->first_watch_done)
			w->st.reconnects++;
		w->first_watch_done = true;
	} else {
		buf_printf(&path, "?limit=%d", ph == PH_LIST_RV ? 1 : PAGE_SIZE);
		if (w->cont[0]) {
			buf_puts(&path, "&continue=");
			uri_query_escape(&path, w->cont);
		}
	}
	if (fs) {
		buf_puts(&path, "&fieldSelector=");
		uri_query_escape(&path, fs);
	}
	w->phase = ph;
	w->expired = false;
	w->stream_err[0] = '\0';
	w->meta_bad = false;
	w->list_rv[0] = '\0';
	if (ph != PH_RELIST && ph != PH_ONCE)
		w->cont[0] = '\0'; /* for lists, cont carries the next page token */
	w->req_lines = 0;
	buf_reset(&w->errbody);
	lines_reset(&w->lines);
	jscan_reset(&w->scan);
	w->req_started_ms = w->last_byte_ms = now_mono_ms();
	w->paused = false; /* a new request starts unpaused */

	int pr = kube_prepare(w->kube, buf_str(&path), &w->kr, err, sizeof err);
	if (pr != 0) {
		buf_free(&path);
		if (pr < 0) {
			fail(w, err, -1);
		} else { /* credentials on their way: ask again shortly, no error */
			w->resume = ph;
			w->phase = PH_WAIT;
			loop_timer_arm(w->loop, &w->retry, KUBE_PENDING_RETRY_MS);
		}
		return;
	}
	buf_free(&path);
	if (ph == PH_WATCH) {
		w->kr.http.timeout_ms = 0; /* ends by timeoutSeconds or our stall check */
		loop_timer_arm(w->loop, &w->stall, ((int64_t)w->timeout_s + STALL_GRACE_S) * 1000);
	} else {
		w->kr.http.timeout_ms = 120000;
	}
	w->req = http_start(w->http, &w->kr.http, on_data, on_done, w);
	if (!w->req)
		fail(w, "cannot start a request", -1);
}

struct watch *watch_new(struct loop *l, struct http *h, struct kube *k, struct seen *seen, watch_event_cb cb,
                        void *ctx)
{
	struct watch *w = xcalloc(1, sizeof *w);
	w->loop = l;
	w->http = h;
	w->kube = k;
	w->seen = seen;
	w->cb = cb;
	w->ctx = ctx;
	lines_init(&w->lines, WATCH_MAX_LINE, on_line, w);
	jscan_init(&w->scan, WATCH_MAX_LINE, on_item, w);
	buf_init(&w->errbody, 16 * 1024);
	loop_timer_init(&w->stall, on_stall, w);
	loop_timer_init(&w->retry, on_retry, w);
	return w;
}

void watch_start(struct watch *w)
{
	w->start_wall_s = now_wall_ms() / 1000;
	w->last_healthy_wall_s = w->start_wall_s;
	request(w, PH_LIST_RV);
}

void watch_start_from(struct watch *w, const char *rv, int64_t since_wall_s)
{
	if (!rv || !*rv || strlen(rv) >= sizeof w->rv) {
		watch_start(w);
		return;
	}
	snprintf(w->rv, sizeof w->rv, "%s", rv);
	w->start_wall_s = w->last_healthy_wall_s = since_wall_s;
	request(w, PH_WATCH);
}

const char *watch_resource_version(const struct watch *w)
{
	return w->rv;
}

void watch_list_once(struct watch *w, int64_t since_wall_s, watch_done_cb done)
{
	w->since_wall_s = since_wall_s;
	w->done = done;
	w->cont[0] = '\0';
	request(w, PH_ONCE);
}

void watch_pause(struct watch *w, bool pause)
{
	if (w->paused == pause)
		return;
	w->paused = pause;
	if (!pause)
		w->last_byte_ms = now_mono_ms();
	http_pause(w->http, w->req, pause);
}

void watch_stop(struct watch *w)
{
	if (w->req)
		http_cancel(w->http, w->req);
	w->req = NULL;
	loop_timer_disarm(w->loop, &w->stall);
	loop_timer_disarm(w->loop, &w->retry);
	w->phase = PH_STOPPED;
	w->st.connected = false;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	watch_stop(w);
	lines_free(&w->lines);
	jscan_free(&w->scan);
	buf_free(&w->errbody);
	free(w);
}

const struct watch_stats *watch_get_stats(const struct watch *w)
{
	return &w->st;
}
