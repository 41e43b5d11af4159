/* cmwatch.c -- ConfigMap GET + watch for sink templates (implements cm.h). */
#include "cmwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cm.h"
#include "event.h"
#include "http.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "uri.h"
#include "util.h"

#define CM_MAX (1024 * 1024)

enum cm_phase { CM_GET, CM_WATCH, CM_WAIT };

struct cmsub {
	struct cmsub *next;
	char *ns, *name, *key;
	cm_cb cb;
	void *ctx;
	enum cm_phase phase;
	char rv[128];
	char *last;     /* last value delivered */
	bool delivered; /* last is meaningful (NULL = missing was delivered) */
	bool answered;  /* the first answer arrived */
	struct http_req *req;
	struct kube_req kr;
	struct lines lines;
	struct buf body; /* GET body or error body */
	long status;
	unsigned step;
	int64_t started_ms;
	struct loop_timer retry;
};

static struct {
	struct loop *loop;
	struct http *http;
	struct kube *kube;
	struct cmsub *subs;
} cw;

static void cm_request(struct cmsub *c, enum cm_phase ph);

static void deliver(struct cmsub *c, const char *value, const char *why)
{
	c->answered = true;
	if (c->delivered && ((!value && !c->last) || (value && c->last && strcmp(value, c->last) == 0)))
		return;
	free(c->last);
	c->last = value ? xstrdup(value) : NULL;
	c->delivered = true;
	c->cb(c->ctx, value, why);
}

static void backoff(struct cmsub *c, const char *why)
{
	int64_t delay = MIN((int64_t)1000 << MIN(c->step, 6u), (int64_t)60000);
	c->step++;
	if (!c->answered) {
		/* do not hold start-up: report and keep trying */
		c->answered = true;
		log_warn("ConfigMap %s/%s: %s", c->ns, c->name, why);
	} else {
		log_warn("ConfigMap %s/%s: %s; retrying in %llds", c->ns, c->name, why,
		         (long long)(delay / 1000));
	}
	c->phase = CM_WAIT;
	loop_timer_arm(cw.loop, &c->retry, delay);
}

static void on_line(void *ctx, const char *line, size_t len)
{
	struct cmsub *c = ctx;
	enum watch_type type;
	char *value = NULL;
	int code;
	char rv[sizeof c->rv];
	if (configmap_watch_decode(line, len, c->key, &type, &value, rv, sizeof rv, &code) < 0) {
		log_warn("ConfigMap %s/%s: skipped a malformed watch line", c->ns, c->name);
		return;
	}
	if (rv[0])
		snprintf(c->rv, sizeof c->rv, "%s", rv);
	switch (type) {
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		if (value)
			deliver(c, value, NULL);
		else
			deliver(c, NULL, "the ConfigMap has no key \"content\"");
		break;
	case WATCH_DELETED:
		deliver(c, NULL, "the ConfigMap was deleted");
		break;
	case WATCH_ERROR:
		if (code == 410)
			c->rv[0] = '\0'; /* refetch */
		break;
	case WATCH_BOOKMARK:
		break;
	}
	free(value);
}

static int on_data(void *ctx, long status, const char *p, size_t n)
{
	struct cmsub *c = ctx;
	c->status = status;
	if (n == 0)
		return 0; /* end of headers */
	if (c->phase == CM_WATCH && status == 200) {
		lines_feed(&c->lines, p, n);
		return 0;
	}
	return buf_append(&c->body, p, n);
}

static void on_done(void *ctx, const struct http_response *r)
{
	struct cmsub *c = ctx;
	char why[300];
	c->req = NULL;
	if (r->error) {
		snprintf(why, sizeof why, "%s", r->error_text);
		backoff(c, why);
		return;
	}
	if (c->phase == CM_GET) {
		if (r->status == 404) {
			deliver(c, NULL, "not found");
			c->rv[0] = '\0';
			c->step = 0;
			cm_request(c, CM_WATCH); /* it may be created later */
			return;
		}
		if (r->status != 200) {
			if (r->status == 401)
				kube_unauthorized(cw.kube);
			snprintf(why, sizeof why, "HTTP %ld%s", r->status,
			         r->status == 403 ? " (RBAC: get/list/watch on configmaps needed)" : "");
			backoff(c, why);
			return;
		}
		char *value = NULL;
		if (configmap_decode(buf_str(&c->body), c->body.len, c->key, &value, c->rv, sizeof c->rv) <
		    0) {
			backoff(c, "the answer is not a ConfigMap");
			return;
		}
		deliver(c, value, value ? NULL : "the ConfigMap has no key \"content\"");
		free(value);
		c->step = 0;
		cm_request(c, CM_WATCH);
		return;
	}
	/* watch ended */
	if (r->status != 200) {
		snprintf(why, sizeof why, "watch: HTTP %ld", r->status);
		backoff(c, why);
		return;
	}
	if (!c->rv[0] || now_mono_ms() - c->started_ms < 1000) {
		c->phase = CM_WAIT;
		loop_timer_arm(cw.loop, &c->retry, 1000);
		return;
	}
	cm_request(c, CM_WATCH);
}

static void on_retry(struct loop *l, void *ctx)
{
	struct cmsub *c = ctx;
	(void)l;
	cm_request(c, c->rv[0] ? CM_WATCH : CM_GET);
}

static void cm_request(struct cmsub *c, enum cm_phase ph)
{
	struct buf path = BUF_INIT(4096);
	char err[256];
	buf_puts(&path, "/api/v1/namespaces/");
	uri_query_escape(&path, c->ns);
	buf_puts(&path, "/configmaps");
	if (ph == CM_GET) {
		buf_putc(&path, '/');
		uri_query_escape(&path, c->name);
	} else {
		buf_puts(&path, "?watch=1&allowWatchBookmarks=true&timeoutSeconds=");
		buf_printf(&path, "%d&fieldSelector=", 300 + (int)(random_u64() % 301));
		struct buf sel = BUF_INIT(1024);
		buf_printf(&sel, "metadata.name=%s", c->name);
		uri_query_escape(&path, buf_str(&sel));
		buf_free(&sel);
		if (c->rv[0]) {
			buf_puts(&path, "&resourceVersion=");
			uri_query_escape(&path, c->rv);
		}
	}
	c->phase = ph;
	c->status = 0;
	c->started_ms = now_mono_ms();
	buf_reset(&c->body);
	lines_reset(&c->lines);
	int pr = kube_prepare(cw.kube, buf_str(&path), &c->kr, err, sizeof err);
	if (pr != 0) {
		buf_free(&path);
		if (pr < 0) {
			backoff(c, err);
		} else { /* credentials on their way: ask again shortly, no error */
			c->phase = CM_WAIT;
			loop_timer_arm(cw.loop, &c->retry, KUBE_PENDING_RETRY_MS);
		}
		return;
	}
	buf_free(&path);
	c->kr.http.timeout_ms = ph == CM_GET ? 30000 : 0;
	c->req = http_start(cw.http, &c->kr.http, on_data, on_done, c);
	if (!c->req)
		backoff(c, "cannot start a request");
}

void cmwatch_init(struct loop *l, struct http *h, struct kube *k)
{
	cw.loop = l;
	cw.http = h;
	cw.kube = k;
}

int cm_subscribe(const char *ns, const char *name, const char *key, cm_cb cb, void *ctx)
{
	if (!cw.kube)
		return -1;
	struct cmsub *c = xcalloc(1, sizeof *c);
	c->ns = xstrdup(ns);
	c->name = xstrdup(name);
	c->key = xstrdup(key);
	c->cb = cb;
	c->ctx = ctx;
	lines_init(&c->lines, CM_MAX, on_line, c);
	buf_init(&c->body, CM_MAX + 64 * 1024);
	loop_timer_init(&c->retry, on_retry, c);
	c->next = cw.subs;
	cw.subs = c;
	cm_request(c, CM_GET);
	return 0;
}

bool cm_ready(void)
{
	for (struct cmsub *c = cw.subs; c; c = c->next)
		if (!c->answered)
			return false;
	return true;
}

void cmwatch_refresh(void)
{
	for (struct cmsub *c = cw.subs; c; c = c->next) {
		if (c->req)
			http_cancel(cw.http, c->req);
		c->req = NULL;
		loop_timer_disarm(cw.loop, &c->retry);
		c->rv[0] = '\0';
		c->step = 0;
		cm_request(c, CM_GET);
	}
}

void cmwatch_shutdown(void)
{
	while (cw.subs) {
		struct cmsub *c = cw.subs;
		cw.subs = c->next;
		if (c->req)
			http_cancel(cw.http, c->req);
		loop_timer_disarm(cw.loop, &c->retry);
		lines_free(&c->lines);
		buf_free(&c->body);
		free(c->ns);
		free(c->name);
		free(c->key);
		free(c->last);
		free(c);
	}
	cw.kube = NULL;
}
