/*
 * webhook.c -- any HTTP endpoint, with a Go-template body.
 *
 * kube-eventer's parameters: method (GET), header=K=V (repeatable, split at
 * the first '='), custom_body_configmap + custom_body_configmap_namespace
 * (default "default"), key "content", watched for changes. Extensions:
 * custom_body_file=PATH (a local template, for the file source and CI).
 *
 * The request goes to the sink URL without the parameters kube-eventer (and
 * this program) interpret; everything else in the query (e.g. key=) is
 * passed through. Known chat robots (WeCom, DingTalk, Feishu/Lark, Slack)
 * are recognised by URL: their bodies are JSON, their rate limits apply by
 * default, and their reply codes are checked.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm.h"
#include "log.h"
#include "sink.h"
#include "tmpl.h"
#include "util.h"

#define MAX_HEADERS 24

/* kube-eventer's default body (a leading newline and tabs included). */
static const char default_body[] = "\n{\n"
                                   "\t\"EventType\": \"{{ .Type }}\",\n"
                                   "\t\"EventKind\": \"{{ .InvolvedObject.Kind }}\",\n"
                                   "\t\"EventReason\": \"{{ .Reason }}\",\n"
                                   "\t\"EventTime\": \"{{ .LastTimestamp }}\",\n"
                                   "\t\"EventMessage\": \"{{ .Message }}\"\n"
                                   "}";

enum robot { ROBOT_NONE, ROBOT_WECOM, ROBOT_DINGTALK, ROBOT_FEISHU, ROBOT_SLACK };

/*
 * Chat robots, recognised by their API path (so private deployments with
 * their own host names count too); Slack by its host.
 */
static const struct {
	enum robot kind;
	const char *host; /* suffix match, NULL = any host */
	const char *path; /* prefix match */
	const char *rate;
	size_t max_body;
} robots[] = {
	{ ROBOT_WECOM, NULL, "/cgi-bin/webhook/send", "20/1m", 4096 },
	{ ROBOT_DINGTALK, NULL, "/robot/send", "20/1m", 20000 },
	{ ROBOT_FEISHU, NULL, "/open-apis/bot/", "100/1m", 20000 },
	{ ROBOT_SLACK, "hooks.slack.com", "/", "1/1s", 40000 },
};

struct webhook {
	char *url;
	char *method;
	char *headers[MAX_HEADERS];
	size_t nheaders;
	enum tmpl_mode mode;
	struct tmpl *tmpl; /* current template (never NULL after create) */
	char *cm_ns, *cm_name;
	enum robot robot;
	size_t robot_max_body; /* 0 = no robot limit */
};

static bool is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token characters. */
static bool header_name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_unreserved((unsigned char)s[i]) && (!s[i] || !strchr("!#$%&'*+^`|", s[i])))
			return false;
	return true;
}

static enum robot detect_robot(const struct uri *u, size_t *max_body, const char **rate)
{
	const char *host = u->host;
	char name[256];
	size_t hl = strcspn(host, ":");
	snprintf(name, sizeof name, "%.*s", (int)MIN(hl, sizeof name - 1), host);
	for (size_t i = 0; i < ARRAY_LEN(robots); i++) {
		if (robots[i].host) {
			size_t n = strlen(name), m = strlen(robots[i].host);
			if (n < m || strcasecmp(name + n - m, robots[i].host) != 0)
				continue;
			if (n > m && name[n - m - 1] != '.')
				continue;
		}
		if (!str_starts(u->path, robots[i].path))
			continue;
		*max_body = robots[i].max_body;
		*rate = robots[i].rate;
		return robots[i].kind;
	}
	return ROBOT_NONE;
}

static void set_template(struct sink *s, const char *src, const char *origin)
{
	struct webhook *w = s->impl;
	char err[256];
	struct tmpl *t = tmpl_compile(src, strlen(src), w->mode, err, sizeof err);
	if (!t) {
		log_error("sink %s: template from %s is invalid, keeping the previous one: %s", s->name,
		          origin, err);
		return;
	}
	tmpl_free(w->tmpl);
	w->tmpl = t;
	log_info("sink %s: using the template from %s", s->name, origin);
}

static void on_configmap(void *ctx, const char *value, const char *why)
{
	struct sink *s = ctx;
	struct webhook *w = s->impl;
	char origin[300];
	snprintf(origin, sizeof origin, "ConfigMap %s/%s", w->cm_ns, w->cm_name);
	if (!value) {
		log_error("sink %s: %s: %s; using %s", s->name, origin, why,
		          w->tmpl ? "the current template" : "the default body");
		return;
	}
	set_template(s, value, origin);
}

static int webhook_create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct webhook *w = xcalloc(1, sizeof *w);
	const char *hv[MAX_HEADERS + 1];
	const char *rate = NULL;
	bool has_json_ct = false;

	s->impl = w;
	if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) {
		snprintf(err, errlen, "the webhook URL must start with http:// or https://");
		return -1;
	}
	if (!u->host[0]) {
		snprintf(err, errlen, "the webhook URL has no host");
		return -1;
	}
	const char *method = uri_get(u, "method");
	w->method = xstrdup(method && *method ? method : "GET");
	for (char *c = w->method; *c; c++) {
		if (*c < 'A' || *c > 'Z') {
			snprintf(err, errlen, "method: \"%s\" is not an HTTP method", w->method);
			return -1;
		}
	}
	size_t nh = uri_get_all(u, "header", hv, MAX_HEADERS + 1);
	if (nh > MAX_HEADERS) {
		snprintf(err, errlen, "header: at most %d headers", MAX_HEADERS);
		return -1;
	}
	for (size_t i = 0; i < nh; i++) {
		const char *eq = strchr(hv[i], '=');
		if (!eq || !header_name_ok(hv[i], (size_t)(eq - hv[i]))) {
			snprintf(err, errlen, "header: \"%s\" must look like Name=value", hv[i]);
			return -1;
		}
		if (strpbrk(eq + 1, "\r\n")) {
			snprintf(err, errlen, "header: the value of %.*s contains a line break",
			         (int)(eq - hv[i]), hv[i]);
			return -1;
		}
		w->headers[w->nheaders++] = xasprintf("%.*s: %s", (int)(eq - hv[i]), hv[i], eq + 1);
		if (strncasecmp(hv[i], "Content-Type=", 13) == 0 && strstr(eq + 1, "json"))
			has_json_ct = true;
	}

	w->robot = detect_robot(u, &w->robot_max_body, &rate);
	if (w->robot != ROBOT_NONE) {
		/* robots' documented limits apply unless rate= says otherwise */
		if (!uri_get(u, "rate"))
			sink_parse_rate(rate, &s->cfg.rate_n, &s->cfg.rate_period_ms);
		if (!uri_get(u, "concurrency"))
			s->cfg.concurrency = 1; /* keep robot messages in order */
	}

	const char *file = uri_get(u, "custom_body_file");
	const char *cm = uri_get(u, "custom_body_configmap");
	const char *cmns = uri_get(u, "custom_body_configmap_namespace");
	w->mode = TMPL_TEXT;
	if (has_json_ct || w->robot != ROBOT_NONE || (!file && !(cm && *cm)))
		w->mode = TMPL_JSON; /* the default body is JSON too */
	if (file && cm && *cm) {
		snprintf(err, errlen, "custom_body_file and custom_body_configmap cannot both be set");
		return -1;
	}
	if (file) {
		size_t n;
		char *src = read_file(file, 1 << 20, &n);
		if (!src) {
			snprintf(err, errlen, "custom_body_file: cannot read %s: %m", file);
			return -1;
		}
		char terr[256];
		w->tmpl = tmpl_compile(src, n, w->mode, terr, sizeof terr);
		free(src);
		if (!w->tmpl) {
			snprintf(err, errlen, "custom_body_file: %s:%s", file, terr);
			return -1;
		}
	} else {
		char terr[256];
		w->tmpl = tmpl_compile(default_body, strlen(default_body), TMPL_JSON, terr, sizeof terr);
		if (!w->tmpl) {
			snprintf(err, errlen, "internal error: default body: %s", terr);
			return -1;
		}
	}
	if (cm && *cm) {
		w->cm_name = xstrdup(cm);
		w->cm_ns = xstrdup(cmns && *cmns ? cmns : "default");
	}

	/* The receiver gets the URL without the parameters we interpreted. */
	struct buf url = BUF_INIT(8192);
	buf_puts(&url, u->base);
	char sep = '?';
	for (size_t i = 0; i < u->nparams; i++) {
		if (u->params[i].used)
			continue;
		buf_putc(&url, sep);
		sep = '&';
		uri_query_escape(&url, u->params[i].key);
		buf_putc(&url, '=');
		uri_query_escape(&url, u->params[i].value);
	}
	if (url.len >= sizeof(((struct sink_req *)0)->url)) {
		snprintf(err, errlen, "the webhook URL is too long");
		buf_free(&url);
		return -1;
	}
	w->url = buf_steal(&url);
	/* Pass-through parameters are the receiver's: mark them used so that
	 * --check does not call them unknown. */
	for (size_t i = 0; i < u->nparams; i++)
		u->params[i].used = true;
	return 0;
}

static void webhook_start(struct sink *s)
{
	struct webhook *w = s->impl;
	if (w->cm_name && cm_subscribe(w->cm_ns, w->cm_name, "content", on_configmap, s) < 0)
		log_error(
		    "sink %s: custom_body_configmap needs the kubernetes source; using the default body",
		    s->name);
}

static struct ktime wall_now(void)
{
	int64_t ms = now_wall_ms();
	return (struct ktime){ ms / 1000, (int32_t)(ms % 1000) * 1000000 };
}

static int webhook_render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct webhook *w = s->impl;
	if (tmpl_render(w->tmpl, ev, wall_now(), out, err, errlen) < 0)
		return -1;
	if (!w->robot_max_body || out->len <= w->robot_max_body)
		return 0;
	/* Too long for the robot: shorten the message at a UTF-8 boundary. */
	size_t excess = out->len - w->robot_max_body + 8;
	size_t mlen = strlen(ev->message);
	if (excess >= mlen) {
		snprintf(err, errlen, "body of %zu bytes exceeds the robot's %zu-byte limit", out->len,
		         w->robot_max_body);
		return -1;
	}
	size_t keep = mlen - excess;
	while (keep > 0 && ((unsigned char)ev->message[keep] & 0xC0) == 0x80)
		keep--;
	char *shorter = xmalloc(keep + 4);
	memcpy(shorter, ev->message, keep);
	memcpy(shorter + keep, "\xe2\x80\xa6", 4); /* U+2026 */
	struct event copy = *ev;
	copy.message = shorter;
	buf_reset(out);
	int r = tmpl_render(w->tmpl, &copy, wall_now(), out, err, errlen);
	free(shorter);
	return r;
}

static int webhook_prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err,
                           size_t errlen)
{
	struct webhook *w = s->impl;
	const struct msg *m = b->items[0];
	(void)err;
	(void)errlen;
	r->http.url = w->url;
	r->http.method = w->method;
	for (size_t i = 0; i < w->nheaders; i++)
		r->headers[i] = w->headers[i];
	r->http.nheaders = w->nheaders;
	r->http.body = m->body;
	r->http.body_len = m->len;
	return 0;
}

static enum delivery webhook_classify(struct sink *s, const struct sink_req *rq,
                                      const struct http_response *r, struct sink_batch *b, char *why,
                                      size_t n, int64_t *retry_after_ms)
{
	struct webhook *w = s->impl;
	enum delivery d;
	(void)rq;
	(void)b;
	if (sink_http_failed(r, &d, why, n))
		return d;
	/* Robots answer HTTP 200 with an error code: any JSON reply's errcode is
	 * checked; Feishu's "code"/"StatusCode" only for Feishu URLs. */
	if (r->body_len == 0 || r->body[0] != '{')
		return DELIVERY_OK;
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "errcode");
	if (!cJSON_IsNumber(code) && w->robot == ROBOT_FEISHU)
		code = cJSON_GetObjectItemCaseSensitive(root, "code");
	if (!cJSON_IsNumber(code) && w->robot == ROBOT_FEISHU)
		code = cJSON_GetObjectItemCaseSensitive(root, "StatusCode");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "errmsg");
	if (!cJSON_IsString(msg))
		msg = cJSON_GetObjectItemCaseSensitive(root, "msg");
	d = DELIVERY_OK;
	if (cJSON_IsNumber(code) && code->valueint != 0) {
		int c = code->valueint;
		snprintf(why, n, "errcode %d: %.120s", c, cJSON_IsString(msg) ? msg->valuestring : "");
		/* too fast: WeCom 45009, DingTalk 130101, Feishu 9499; busy: -1 */
		if (c == 45009 || c == 130101 || c == 9499 || c == -1) {
			d = DELIVERY_RETRY;
			if (c != -1 && *retry_after_ms < 0)
				*retry_after_ms = sink_too_fast_ms(s);
		} else {
			d = DELIVERY_DROP;
		}
	}
	cJSON_Delete(root);
	return d;
}

static void webhook_destroy(struct sink *s)
{
	struct webhook *w = s->impl;
	if (!w)
		return;
	free(w->url);
	free(w->method);
	for (size_t i = 0; i < w->nheaders; i++)
		free(w->headers[i]);
	tmpl_free(w->tmpl);
	free(w->cm_ns);
	free(w->cm_name);
	free(w);
}

const struct sink_type sink_webhook = {
	.name = "webhook",
	.create = webhook_create,
	.render = webhook_render,
	.prepare = webhook_prepare,
	.classify = webhook_classify,
	.start = webhook_start,
	.destroy = webhook_destroy,
};
