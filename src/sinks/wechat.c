/*
 * wechat.c -- WeCom (WeChat Work) application messages.
 *
 *   --sink=wechat:?corp_id=ID&corp_secret=S&agent_id=1000002[&to_user=a,b]
 *        [&to_party=1,2][&to_tag=t][&msg_type=text|markdown][&label=...]
 *        [&level=][&namespaces=][&kinds=][&template_file=|custom_body_configmap=]
 *        [&api_base=http://127.0.0.1:PORT]
 *
 * The access token is fetched once (gettoken) and cached until shortly
 * before its expires_in; errcode 40014/42001/40001 drop it so that the next
 * message fetches one new token (one refresh, not a storm). One message
 * per event with touser "a|b" (upstream sends one per user). Text is cut
 * at a UTF-8 boundary below WeCom's 2048-byte limit (markdown: 4096).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "sink.h"
#include "sinks/robot.h"
#include "uri.h"
#include "util.h"

struct wechat {
	struct robot r; /* first: robot.c relies on it */
	char *base;     /* https://qyapi.weixin.qq.com or api_base */
	char *corp_id, *corp_secret;
	long agent_id;
	char *to_user, *to_party, *to_tag; /* '|'-joined */
	char *token;
	int64_t token_expires_ms; /* monotonic */
	int64_t token_at_ms;
	struct http_req *fetch;
	struct loop_timer retry;
	unsigned fetch_failures;
	uint64_t token_fetches;
	struct sink *sink;
};

/* "a,b" -> "a|b" (WeCom's list separator). */
static char *pipe_list(const char *v, const char *def)
{
	char *s = xstrdup(v && *v ? v : def);
	for (char *p = s; *p; p++)
		if (*p == ',')
			*p = '|';
	return s;
}

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct wechat *w = xcalloc(1, sizeof *w);
	s->impl = w;
	w->sink = s;
	const char *id = uri_get(u, "corp_id"), *secret = uri_get(u, "corp_secret");
	const char *agent = uri_get(u, "agent_id");
	if (!id || !*id) {
		snprintf(err, errlen, "you must provide wechat corpid (corp_id=)");
		return -1;
	}
	if (!secret || !*secret) {
		snprintf(err, errlen, "you must provide wechat corpsecret (corp_secret=)");
		return -1;
	}
	int64_t aid;
	if (!agent || parse_i64(agent, strlen(agent), &aid) < 0 || aid < 0 || aid > 2147483647) {
		snprintf(err, errlen, "agent_id: you must provide wechat agentid as a number");
		return -1;
	}
	w->corp_id = xstrdup(id);
	w->corp_secret = xstrdup(secret);
	w->agent_id = (long)aid;
	const char *tp = uri_get(u, "to_party"), *tt = uri_get(u, "to_tag");
	w->to_user = pipe_list(uri_get(u, "to_user"), (tp && *tp) || (tt && *tt) ? "" : "@all");
	w->to_party = pipe_list(tp, "");
	w->to_tag = pipe_list(tt, "");
	if (robot_parse(&w->r, s, u, err, errlen) < 0)
		return -1;
	w->r.max_content = w->r.markdown ? 4096 : 2048;
	w->base = xstrdup(w->r.api_base ? w->r.api_base : "https://qyapi.weixin.qq.com");
	return 0;
}

static void fetch_token(struct wechat *w);

static void on_retry(struct loop *l, void *ctx)
{
	struct wechat *w = ctx;
	(void)l;
	fetch_token(w);
}

static void token_failed(struct wechat *w, const char *why)
{
	int64_t delay = MIN((int64_t)5000 << MIN(w->fetch_failures, 6u), (int64_t)300000);
	w->fetch_failures++;
	log_warn("sink %s: gettoken failed: %s; retrying in %llds", w->sink->name, why,
	         (long long)(delay / 1000));
	loop_timer_arm(w->sink->loop, &w->retry, delay);
}

static void on_token(void *ctx, const struct http_response *r)
{
	struct wechat *w = ctx;
	char why[200];
	w->fetch = NULL;
	if (r->error || r->status != 200) {
		snprintf(why, sizeof why, "%s", r->error ? r->error_text : "HTTP error");
		if (!r->error)
			snprintf(why, sizeof why, "HTTP %ld", r->status);
		token_failed(w, why);
		return;
	}
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "errcode");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "errmsg");
	if ((cJSON_IsNumber(code) && code->valueint != 0) || !cJSON_IsString(tok) || !tok->valuestring[0]) {
		snprintf(why, sizeof why, "errcode %d: %.100s", cJSON_IsNumber(code) ? code->valueint : -1,
		         cJSON_IsString(msg) ? msg->valuestring : "no access_token in the reply");
		cJSON_Delete(root);
		token_failed(w, why);
		return;
	}
	int64_t ttl = cJSON_IsNumber(exp) && exp->valuedouble > 0 ? (int64_t)exp->valuedouble : 7200;
	free(w->token);
	w->token = xstrdup(tok->valuestring);
	w->token_at_ms = now_mono_ms();
	/* refresh early: at 90% of the lifetime, and at least a minute before */
	w->token_expires_ms = w->token_at_ms + MIN(ttl * 900, MAX(ttl - 60, 1) * 1000);
	w->fetch_failures = 0;
	w->token_fetches++;
	cJSON_Delete(root);
	log_debug("sink %s: got an access token valid for %llds", w->sink->name, (long long)ttl);
	sink_kick(w->sink);
}

static void fetch_token(struct wechat *w)
{
	struct http_request q = { 0 };
	struct buf url = BUF_INIT(4096);
	if (w->fetch)
		return;
	buf_printf(&url, "%s/cgi-bin/gettoken?corpid=", w->base);
	uri_query_escape(&url, w->corp_id);
	buf_puts(&url, "&corpsecret=");
	uri_query_escape(&url, w->corp_secret);
	q.url = buf_str(&url);
	w->fetch = sink_http_start(w->sink, &q, on_token, w);
	buf_free(&url);
	if (!w->fetch)
		token_failed(w, "cannot start the request");
}

static void start(struct sink *s)
{
	struct wechat *w = s->impl;
	loop_timer_init(&w->retry, on_retry, w);
	robot_start(&w->r, s);
}

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct wechat *w = s->impl;
	struct buf content = BUF_INIT(1 << 20);
	if (robot_content(&w->r, ev, ROBOT_TIME_STRING, &content, err, errlen) < 0) {
		buf_free(&content);
		return -1;
	}
	const char *type = w->r.markdown ? "markdown" : "text";
	buf_puts(out, "{\"touser\":");
	buf_json_string(out, w->to_user);
	buf_puts(out, ",\"toparty\":");
	buf_json_string(out, w->to_party);
	buf_puts(out, ",\"totag\":");
	buf_json_string(out, w->to_tag);
	buf_printf(out, ",\"msgtype\":\"%s\",\"agentid\":%ld,\"%s\":{\"content\":", type, w->agent_id, type);
	buf_json_string(out, buf_str(&content));
	int r = buf_puts(out, "},\"safe\":0}");
	buf_free(&content);
	if (r < 0) {
		snprintf(err, errlen, "message too large");
		return -1;
	}
	return 0;
}

static int prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err, size_t errlen)
{
	const struct msg *m = b->items[0];
	struct wechat *w = s->impl;
	if (!w->token || now_mono_ms() >= w->token_expires_ms) {
		if (!loop_timer_armed(&w->retry))
			fetch_token(w);
		return 1; /* on_token kicks the sink */
	}
	int n = snprintf(r->url, sizeof r->url, "%s/cgi-bin/message/send?access_token=%s", w->base, w->token);
	if (n < 0 || (size_t)n >= sizeof r->url) {
		snprintf(err, errlen, "URL too long");
		return -1;
	}
	r->http.url = r->url;
	r->http.method = "POST";
	r->headers[0] = "Content-Type: application/json";
	r->http.nheaders = 1;
	r->http.body = m->body;
	r->http.body_len = m->len;
	return 0;
}

static enum delivery classify(struct sink *s, const struct sink_req *rq, const struct http_response *r,
                              struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms)
{
	static const int too_fast[] = { 45009, 45033, 0 };
	static const int token_codes[] = { 40014, 42001, 40001, 0 };
	struct wechat *w = s->impl;
	bool expired;
	(void)b;
	enum delivery d =
	    robot_classify(r, too_fast, sink_too_fast_ms(s), token_codes, &expired, why, n, retry_after_ms);
	/* Drop the token only if this request used it: answers to requests sent
	 * with an older token must not throw away the fresh one (no storms). */
	const char *used = strstr(rq->url, "access_token=");
	if (expired && w->token && used && strcmp(used + 13, w->token) == 0) {
		free(w->token);
		w->token = NULL; /* the next prepare fetches a new one */
	}
	return d;
}

static void destroy(struct sink *s)
{
	struct wechat *w = s->impl;
	if (!w)
		return;
	if (w->fetch)
		http_cancel(s->http, w->fetch);
	if (s->loop)
		loop_timer_disarm(s->loop, &w->retry);
	robot_free(&w->r);
	free(w->base);
	free(w->corp_id);
	free(w->corp_secret);
	free(w->to_user);
	free(w->to_party);
	free(w->to_tag);
	free(w->token);
	free(w);
}

const struct sink_type sink_wechat = {
	.name = "wechat",
	.ns_from_event = true,
	.default_concurrency = 1,
	.default_rate = "30/1m",
	.create = create,
	.render = render,
	.prepare = prepare,
	.classify = classify,
	.start = start,
	.destroy = destroy,
};
