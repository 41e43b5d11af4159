/*
 * dingtalk.c -- DingTalk custom robots.
 *
 *   --sink=dingtalk:https://oapi.dingtalk.com/robot/send?access_token=T
 *        [&sign=SECRET][&level=][&namespaces=][&kinds=][&label=...]
 *        [&msg_type=text|markdown][&cluster_id=][&region=]
 *        [&at_mobiles=m1,m2][&at_all=true][&template_file=|custom_body_configmap=]
 *        [&api_base=http://127.0.0.1:PORT]
 *
 * Bodies follow kube-eventer's layout. Signing: timestamp (ms) and sign =
 * URL-encoded base64(HMAC-SHA256(secret, "<ms>\n<secret>")). The reply's
 * errcode is checked: 130101 (too fast) is retried a minute later, others
 * are dropped with a log line. 20 messages per minute by default, bodies
 * kept under DingTalk's 20 000-byte limit. namespaces= matches the Event's
 * own namespace, as upstream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sink.h"
#include "sinks/robot.h"
#include "util.h"

#define MAX_MOBILES 32

struct dingtalk {
	struct robot r; /* first: robot.c relies on it */
	char *url;      /* https://host/path, without the query */
	char *token;
	char *secret;
	char *cluster_id;
	char *mobiles[MAX_MOBILES];
	size_t nmobiles;
	bool at_all;
};

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct dingtalk *d = xcalloc(1, sizeof *d);
	s->impl = d;
	const char *tok = uri_get(u, "access_token");
	if (!tok || !*tok) {
		snprintf(err, errlen, "you must provide dingtalk bot access_token");
		return -1;
	}
	d->token = xstrdup(tok);
	const char *sign = uri_get(u, "sign");
	if (sign && *sign)
		d->secret = xstrdup(sign);
	const char *cid = uri_get(u, "cluster_id");
	d->cluster_id = xstrdup(cid ? cid : "");
	uri_get(u, "region"); /* accepted: upstream uses it only in console links */
	if (robot_parse(&d->r, s, u, err, errlen) < 0)
		return -1;
	d->r.max_content = 18000; /* the body must stay under 20 000 bytes */
	if (sink_param_bool(u, "at_all", false, &d->at_all, err, errlen) < 0)
		return -1;
	const char *m = uri_get(u, "at_mobiles");
	while (m && *m) {
		size_t n = strcspn(m, ",");
		if (n) {
			if (d->nmobiles == MAX_MOBILES) {
				snprintf(err, errlen, "at_mobiles: at most %d numbers", MAX_MOBILES);
				return -1;
			}
			d->mobiles[d->nmobiles++] = xstrndup(m, n);
		}
		m += n + (m[n] == ',');
	}
	const char *path = u->path[0] ? u->path : "/robot/send";
	if (d->r.api_base)
		d->url = xasprintf("%s%s", d->r.api_base, path);
	else if (u->host[0])
		d->url = xasprintf("https://%s%s", u->host, path); /* upstream always uses https */
	else
		d->url = xasprintf("https://oapi.dingtalk.com%s", path);
	return 0;
}

static void start(struct sink *s)
{
	struct dingtalk *d = s->impl;
	robot_start(&d->r, s);
}

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct dingtalk *d = s->impl;
	struct buf content = BUF_INIT(1 << 20);
	if (robot_content(&d->r, ev, ROBOT_TIME_LAYOUT, &content, err, errlen) < 0) {
		buf_free(&content);
		return -1;
	}
	/* DingTalk mentions a number only when "@number" appears in the text */
	for (size_t i = 0; i < d->nmobiles; i++)
		buf_printf(&content, " @%s", d->mobiles[i]);
	if (d->r.markdown) {
		char title[160];
		snprintf(title, sizeof title, "Kubernetes(ID:%s) Event", d->cluster_id);
		buf_puts(out, "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":");
		buf_json_string(out, title);
		buf_puts(out, ",\"text\":");
	} else {
		buf_puts(out, "{\"msgtype\":\"text\",\"text\":{\"content\":");
	}
	buf_json_string(out, buf_str(&content));
	buf_puts(out, "},\"at\":{\"atMobiles\":[");
	for (size_t i = 0; i < d->nmobiles; i++) {
		if (i)
			buf_putc(out, ',');
		buf_json_string(out, d->mobiles[i]);
	}
	int r = buf_printf(out, "],\"isAtAll\":%s}}", d->at_all ? "true" : "false");
	buf_free(&content);
	if (r < 0) {
		snprintf(err, errlen, "message too large");
		return -1;
	}
	return 0;
}

void dingtalk_sign(const char *secret, long long ms, struct buf *out)
{
	uint8_t mac[32];
	char *msg = xasprintf("%lld\n%s", ms, secret);
	hmac_sha256(secret, strlen(secret), msg, strlen(msg), mac);
	base64_encode(out, mac, sizeof mac);
	free(msg);
}

static int prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err, size_t errlen)
{
	const struct msg *m = b->items[0];
	struct dingtalk *d = s->impl;
	struct buf url = BUF_INIT(sizeof r->url - 1);
	buf_printf(&url, "%s?access_token=", d->url);
	uri_query_escape(&url, d->token);
	if (d->secret) {
		/* query keys sorted, as upstream: access_token, sign, timestamp */
		long long ms = (long long)now_wall_ms();
		struct buf sig = BUF_INIT(256);
		dingtalk_sign(d->secret, ms, &sig);
		buf_puts(&url, "&sign=");
		uri_query_escape(&url, buf_str(&sig));
		buf_printf(&url, "&timestamp=%lld", ms);
		buf_free(&sig);
	}
	if (url.len == 0 || url.len >= sizeof r->url) {
		buf_free(&url);
		snprintf(err, errlen, "URL too long");
		return -1;
	}
	memcpy(r->url, url.data, url.len + 1);
	buf_free(&url);
	r->http.url = r->url;
	r->http.method = "POST";
	r->headers[0] = "Content-Type: application/json;charset=utf-8";
	r->http.nheaders = 1;
	r->http.body = m->body;
	r->http.body_len = m->len;
	return 0;
}

static enum delivery classify(struct sink *s, const struct sink_req *rq, const struct http_response *r,
                              struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms)
{
	static const int too_fast[] = { 130101, 0 };
	bool expired;
	(void)rq;
	(void)b;
	return robot_classify(r, too_fast, sink_too_fast_ms(s), NULL, &expired, why, n, retry_after_ms);
}

static void destroy(struct sink *s)
{
	struct dingtalk *d = s->impl;
	if (!d)
		return;
	robot_free(&d->r);
	free(d->url);
	free(d->token);
	free(d->secret);
	free(d->cluster_id);
	for (size_t i = 0; i < d->nmobiles; i++)
		free(d->mobiles[i]);
	free(d);
}

const struct sink_type sink_dingtalk = {
	.name = "dingtalk",
	.ns_from_event = true,
	.default_concurrency = 1,
	.default_rate = "20/1m",
	.create = create,
	.render = render,
	.prepare = prepare,
	.classify = classify,
	.start = start,
	.destroy = destroy,
};
