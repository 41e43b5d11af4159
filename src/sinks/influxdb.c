/*
 * influxdb.c -- `influxdb:` sink: upstream's points, in line protocol, in batches.
 *
 *   --sink=influxdb:http://influxdb:8086?db=k8s&user=root&pw=root[&withfields=true]
 *
 * Upstream's measurements, tags and fields (DATA-SINKS.md §3), timestamps in
 * nanoseconds of the effective event time:
 *   log/events,cluster_name=..,hostname=..,pod_id=..,pod_name=..,uid=.. value="<event JSON>"
 *   events,cluster_name=..,component=..,hostname=..,kind=..,namespace_name=..,
 *          object_name=..,pod_id=..,reason=..,type=..,uid=.. message="..."  (withfields=true)
 * Tags are sorted, empty ones left out; the JSON is Go's MarshalIndent of
 * the Event, as upstream stores it. What differs, and why:
 * - No fixed rp=default (upstream's writes fail forever on a database
 *   without such a policy): rp= names one, else the server's default.
 * - The database is created once, as upstream names its policy ("default"),
 *   with retention= as its duration (upstream parsed retention and ignored
 *   it); errors inside a 200 answer are read, not ignored.
 * - Batches are retried on 5xx and timeouts; 4xx are dropped with the
 *   server's message; a batch refused for one bad line is split until that
 *   line is alone. Points are idempotent (series + timestamp), so a batch
 *   sent twice writes nothing twice.
 * - token= sends "Authorization: Token" for InfluxDB 2/3's v1 API (and
 *   skips CREATE DATABASE there unless create_db=true).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "loop.h"
#include "sink.h"
#include "sinks/influxdb.h"
#include "uri.h"
#include "util.h"

struct influx {
	struct sink *sink;
	char *base; /* scheme://host[/path] */
	char *db, *rp, *retention, *cluster_name;
	char *auth;      /* Authorization header */
	char *write_url; /* base/write?db=..&rp=..&precision=ns */
	bool withfields;
	bool create_db; /* CREATE DATABASE before the first write */
	bool db_ready;
	struct http_req *side;
	struct loop_timer retry;
	unsigned failures;
};

/* Where each part (a bit each) ends a plain run: the NUL, and the bytes it escapes or rewrites. */
#define LP_NAMES (1 << LP_MEASUREMENT | 1 << LP_KEY)
static const unsigned char lp_stop[256] = {
	[0] = LP_NAMES | 1 << LP_STRING,
	['\\'] = LP_NAMES | 1 << LP_STRING,
	['"'] = 1 << LP_STRING,
	[','] = LP_NAMES,
	[' '] = LP_NAMES,
	['\n'] = LP_NAMES,
	['='] = 1 << LP_KEY,
};

int lp_escape(struct buf *b, const char *s, enum lp_part part)
{
	if (part == LP_STRING) { /* the bulk of a line: one pass into room made once */
		bool overflow = b->overflow;
		char *o = buf_reserve(b, 2 * strlen(s)), *w = o;
		if (o) {
			for (; *s; s++) {
				if (*s == '"' || *s == '\\')
					*w++ = '\\';
				*w++ = *s;
			}
			buf_commit(b, (size_t)(w - o));
			return overflow ? -1 : 0;
		}
		b->overflow = overflow; /* near the ceiling: the loop below goes as far as it fits */
	}
	const char *special = part == LP_STRING ? "\"\\" : part == LP_KEY ? ", =" : ", ";
	unsigned char stop = (unsigned char)(1 << part);
	for (const char *p = s; *p;) {
		size_t plain = 0;
		while (!(lp_stop[(unsigned char)p[plain]] & stop))
			plain++;
		buf_append(b, p, plain);
		p += plain;
		if (!*p)
			break;
		char c = *p;
		if (c == '\\' && part != LP_STRING) {
			/* InfluxDB reads a backslash and the byte after it as one: a run of
			 * them before an escaped byte or the end would swallow the escape
			 * or the separator */
			size_t run = strspn(p, "\\");
			if (p[run] && p[run] != '\n' && !strchr(special, p[run]))
				buf_append(b, p, run);
			p += run;
			continue;
		}
		if (c == '\n')
			c = ' '; /* (not in a string) it would end the line */
		if (strchr(special, c))
			buf_putc(b, '\\');
		buf_putc(b, c);
		p++;
	}
	return b->overflow ? -1 : 0;
}

/* A duration InfluxQL accepts: INF, or digits and units (7d, 1h30m). */
static bool influx_duration_ok(const char *v)
{
	if (strcmp(v, "INF") == 0 || strcmp(v, "inf") == 0)
		return true;
	if (!*v)
		return false;
	for (const char *p = v; *p;) {
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
		size_t u = strspn(p, "nsuµmhdw");
		if (!u)
			return false;
		p += u;
	}
	return true;
}

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct influx *x = xcalloc(1, sizeof *x);
	s->impl = x;
	x->sink = s;
	loop_timer_init(&x->retry, NULL, NULL);

	if (u->scheme[0] && strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) {
		snprintf(err, errlen, "the InfluxDB URL must start with http:// or https://");
		return -1;
	}
	if (!u->scheme[0] && u->rest[0] && u->rest[0] != '?') {
		snprintf(err, errlen, "\"%s\" is not a URL: give influxdb:http://host:8086", u->rest);
		return -1;
	}
	/* upstream: no host means localhost:8086 */
	const char *scheme = u->scheme[0] ? u->scheme : "http";
	const char *host = u->host[0] ? u->host : "localhost:8086";
	size_t plen = strlen(u->path);
	while (plen && u->path[plen - 1] == '/')
		plen--;
	x->base = xasprintf("%s://%s%.*s", scheme, host, (int)plen, u->path);

	const char *v = uri_get(u, "db");
	x->db = xstrdup(v && *v ? v : "k8s");
	v = uri_get(u, "rp");
	x->rp = v && *v ? xstrdup(v) : NULL;
	v = uri_get(u, "retention");
	if (v && *v && strcmp(v, "0") != 0) {
		if (!influx_duration_ok(v)) {
			snprintf(err, errlen,
			         "retention: \"%s\" is not an InfluxQL duration (like 7d, 24h, INF)", v);
			return -1;
		}
		x->retention = xstrdup(v);
	}
	v = uri_get(u, "cluster_name");
	x->cluster_name = xstrdup(v ? v : "default");
	bool insecure;
	if (sink_param_bool(u, "withfields", false, &x->withfields, err, errlen) < 0 ||
	    sink_param_bool(u, "insecuressl", s->cfg.insecure, &insecure, err, errlen) < 0)
		return -1;
	s->cfg.insecure = insecure;
	/* upstream's, parsed and unused there too (its concurrency= is ours) */
	bool unused;
	if (sink_param_bool(u, "disable_counter_metrics", false, &unused, err, errlen) < 0)
		return -1;

	const char *token = uri_get(u, "token");
	if (token && *token) {
		x->auth = xasprintf("Authorization: Token %s", token);
	} else {
		const char *user = uri_get(u, "user"), *pw = uri_get(u, "pw");
		x->auth = sink_basic_auth(user ? user : "root", pw ? pw : "root");
	}
	if (sink_param_bool(u, "create_db", !(token && *token), &x->create_db, err, errlen) < 0)
		return -1;
	x->db_ready = !x->create_db;

	struct buf url = BUF_INIT(4096);
	buf_printf(&url, "%s/write?db=", x->base);
	uri_query_escape(&url, x->db);
	if (x->rp) {
		buf_puts(&url, "&rp=");
		uri_query_escape(&url, x->rp);
	}
	buf_puts(&url, "&precision=ns");
	if (url.overflow || url.len >= sizeof(((struct sink_req *)0)->url)) {
		buf_free(&url);
		snprintf(err, errlen, "the InfluxDB URL is too long");
		return -1;
	}
	x->write_url = buf_steal(&url);
	return 0;
}

/* --- the database --------------------------------------------------------- */

static void create_db(struct influx *x);

static void on_retry(struct loop *l, void *ctx)
{
	(void)l;
	create_db(ctx);
}

/* An InfluxQL identifier in double quotes. */
static void ident(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

/* The first "error" of a /query answer (HTTP 200 or not), into why; false if none. */
static bool query_error(const struct http_response *r, char *why, size_t n)
{
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
	for (const cJSON *c = cJSON_IsArray(res) ? res->child : NULL; c && !cJSON_IsString(e); c = c->next)
		e = cJSON_GetObjectItemCaseSensitive(c, "error");
	bool has = cJSON_IsString(e);
	if (has)
		snprintf(why, n, "%s", e->valuestring);
	cJSON_Delete(root);
	return has;
}

static void on_created(void *ctx, const struct http_response *r)
{
	struct influx *x = ctx;
	struct sink *s = x->sink;
	char why[256] = "";
	x->side = NULL;
	if (r->error || r->status >= 500 || r->status == 429 || r->status == 408) {
		int64_t delay = MIN((int64_t)1000 << MIN(x->failures, 5u), (int64_t)30000);
		x->failures++;
		log_warn("sink %s: creating database %s: %s; retrying in %llds", s->name, x->db,
		         r->error ? r->error_text : "server error", (long long)delay / 1000);
		loop_timer_arm(s->loop, &x->retry, delay);
		return;
	}
	x->failures = 0;
	if (query_error(r, why, sizeof why) || r->status != 200) {
		/* exists with other policies, or not allowed: the writes will tell */
		if (!strstr(why, "already exists") && !strstr(why, "conflicts with an existing policy"))
			log_warn("sink %s: CREATE DATABASE %s: HTTP %ld: %s", s->name, x->db, r->status,
			         why[0] ? why : r->body);
	} else {
		log_info("sink %s: database %s ready", s->name, x->db);
	}
	x->db_ready = true;
	sink_kick(s);
}

static void create_db(struct influx *x)
{
	if (x->side || loop_timer_armed(&x->retry))
		return;
	struct buf q = BUF_INIT(4096), url = BUF_INIT(8192);
	buf_puts(&q, "CREATE DATABASE ");
	ident(&q, x->db);
	buf_puts(&q, " WITH");
	if (x->retention)
		buf_printf(&q, " DURATION %s", x->retention);
	buf_puts(&q, " NAME \"default\"");
	buf_printf(&url, "%s/query?q=", x->base);
	uri_query_escape(&url, buf_str(&q));
	const char *headers[] = { x->auth };
	struct http_request r = { .method = "POST", .url = buf_str(&url), .headers = headers, .nheaders = 1 };
	x->side = sink_http_start(x->sink, &r, on_created, x);
	buf_free(&q);
	buf_free(&url);
	if (!x->side) {
		struct http_response fail = { .error = 1,
			                      .error_text = "cannot start the request",
			                      .body = "" };
		on_created(x, &fail);
	}
}

static void start(struct sink *s)
{
	struct influx *x = s->impl;
	loop_timer_init(&x->retry, on_retry, x);
	if (x->create_db)
		create_db(x);
}

/* --- points ------------------------------------------------------------- */

static void tag(struct buf *b, const char *key, const char *value)
{
	if (!value[strspn(value, "\\")])
		return; /* empty (or nothing but backslashes): the Go client leaves it out */
	buf_putc(b, ',');
	lp_escape(b, key, LP_KEY);
	buf_putc(b, '=');
	lp_escape(b, value, LP_KEY);
}

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct influx *x = s->impl;
	bool pod = strcmp(ev->involved.kind, "Pod") == 0;
	const char *pod_id = pod ? ev->involved.uid : "";
	if (x->withfields) {
		buf_puts(out, "events");
		tag(out, "cluster_name", x->cluster_name);
		tag(out, "component", ev->source.component);
		tag(out, "hostname", ev->source.host);
		tag(out, "kind", ev->involved.kind);
		tag(out, "namespace_name", ev->namespace);
		tag(out, "object_name", ev->involved.name);
		tag(out, "pod_id", pod_id);
		tag(out, "reason", ev->reason);
		tag(out, "type", ev->type);
		tag(out, "uid", ev->uid);
		buf_puts(out, " message=\"");
		lp_escape(out, ev->message, LP_STRING);
	} else {
		if (!ev->json_len) {
			snprintf(err, errlen, "the event is too large to store");
			return -1;
		}
		buf_puts(out, "log/events");
		tag(out, "cluster_name", x->cluster_name);
		tag(out, "hostname", ev->source.host);
		tag(out, "pod_id", pod_id);
		tag(out, "pod_name", pod ? ev->involved.name : "");
		tag(out, "uid", ev->uid);
		buf_puts(out, " value=\"");
		static struct buf indented = BUF_INIT(2 * EVENT_JSON_MAX);
		buf_reset(&indented);
		buf_json_indent(&indented, ev->json, ev->json_len);
		lp_escape(out, buf_str(&indented), LP_STRING);
		if (indented.cap > 64 * 1024)
			buf_free(&indented);
	}
	buf_puts(out, "\" ");
	buf_put_int(out, ev->eff_time.sec * 1000000000LL + ev->eff_time.nsec);
	buf_putc(out, '\n');
	return out->overflow ? -1 : 0;
}

static int prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err, size_t errlen)
{
	struct influx *x = s->impl;
	if (!x->db_ready) {
		create_db(x);
		return 1; /* on_created kicks the sink */
	}
	r->http.url = x->write_url;
	r->http.method = "POST";
	r->headers[0] = "Content-Type: text/plain; charset=utf-8";
	r->headers[1] = x->auth;
	r->http.nheaders = 2;
	if (b->n == 1) {
		r->http.body = b->items[0]->body;
		r->http.body_len = b->items[0]->len;
		return 0;
	}
	if (sink_batch_concat(b, &r->scratch) < 0) {
		snprintf(err, errlen, "batch too large");
		return -1;
	}
	r->http.body = r->scratch.data;
	r->http.body_len = r->scratch.len;
	return 0;
}

/* The server's {"error": "..."} message, or the start of the body. */
static void server_error(const struct http_response *r, char *why, size_t n)
{
	char msg[200] = "";
	if (!query_error(r, msg, sizeof msg))
		snprintf(msg, sizeof msg, "%.160s", r->body);
	snprintf(why, n, "HTTP %ld: %s", r->status, msg);
}

static enum delivery classify(struct sink *s, const struct sink_req *rq, const struct http_response *r,
                              struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms)
{
	struct influx *x = s->impl;
	enum delivery d;
	(void)rq;
	(void)b;
	(void)retry_after_ms;
	if (r->error || r->status / 100 == 2)
		return sink_http_failed(r, &d, why, n) ? d : DELIVERY_OK;
	server_error(r, why, n);
	if (r->status == 404 && strstr(r->body, "database not found")) {
		x->db_ready = !x->create_db; /* create it again, then resend */
		return x->create_db ? DELIVERY_RETRY : DELIVERY_DROP;
	}
	if (r->status == 400 || r->status == 413)
		return DELIVERY_SPLIT; /* a bad point (partial write, unparsable), or too large */
	if (strstr(r->body, "retention policy not found"))
		return DELIVERY_DROP; /* a 500 that never heals: rp= names no policy */
	if (r->status == 408 || r->status == 429 || r->status >= 500)
		return DELIVERY_RETRY;
	return DELIVERY_DROP;
}

static void destroy(struct sink *s)
{
	struct influx *x = s->impl;
	if (!x)
		return;
	if (x->side)
		http_cancel(s->http, x->side);
	if (s->loop)
		loop_timer_disarm(s->loop, &x->retry);
	free(x->base);
	free(x->db);
	free(x->rp);
	free(x->retention);
	free(x->cluster_name);
	free(x->auth);
	free(x->write_url);
	free(x);
}

const struct sink_type sink_influxdb = {
	.name = "influxdb",
	.data = true,
	.whole_event = true,
	.default_batch = 1000,
	.create = create,
	.render = render,
	.prepare = prepare,
	.classify = classify,
	.start = start,
	.destroy = destroy,
};
