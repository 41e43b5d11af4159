/*
 * elasticsearch.c -- `elasticsearch:` sink: upstream's documents, in bulk.
 *
 *   --sink=elasticsearch:http://es:9200?index=heapster&cluster_name=prod
 *   --sink=elasticsearch:?nodes=https://es1:9200&nodes=https://es2:9200&esUserName=u&esUserSecret=p
 *
 * Upstream's parameters, index names and document fields (DATA-SINKS.md §2):
 * one document per Event change in <index>[-<namespace>]-YYYY.MM.DD (the
 * effective time in UTC), aliased <index>-events; fields Count, Metadata,
 * InvolvedObject, Source, FirstOccurrenceTimestamp, LastOccurrenceTimestamp,
 * Message, Reason, Type, EventTags{cluster_name, eventID, hostname, pod_id,
 * pod_name}. What differs, and why:
 * - The server's version comes from GET / (ver= is the fallback when that is
 *   forbidden): `_type` is sent only to Elasticsearch 6 and older, never to
 *   7+, 8 (which rejects it) or OpenSearch.
 * - Each index is checked (HEAD), created (PUT) and aliased once, then
 *   remembered; upstream did that per event.
 * - `create` actions with _id = <uid>-<resourceVersion>: a batch sent again
 *   after a timeout never duplicates (409 conflict = already there).
 * - Per-item results: 429/5xx items are retried, other item errors dropped
 *   with a log line; a reply too large to read retries the batch (the ids
 *   make that safe); a whole request refused with 400 or 413 is halved
 *   until the item that caused it travels alone, and only that is dropped.
 * - write_alias= / data_stream= write every document to one fixed target
 *   managed by index templates/ILM (data streams also get @timestamp).
 * - cacert=, insecure=true, apiKey=; sniff is ignored (in a cluster the
 *   sniffed node addresses are usually unreachable).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gotime.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "sink.h"
#include "uri.h"
#include "util.h"

#define MAX_NODES 16
#define KNOWN_MAX 128 /* indices remembered as ready */
#define INDEX_MAX 200
#define BULK_QUERY "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"

enum setup { SETUP_HEAD, SETUP_PUT, SETUP_ALIAS };

struct es {
	struct sink *sink;
	char *nodes[MAX_NODES]; /* base URLs, no trailing slash */
	size_t nnodes, next_node;
	char *index;  /* base name, "heapster" */
	char *target; /* write_alias= or data_stream=: the one fixed target */
	bool data_stream, use_namespace;
	char *cluster_name, *pipeline;
	char *auth; /* an Authorization header, or NULL */
	int ver_param;
	int major; /* the server's major version; 0 = not known yet */
	bool opensearch;

	/* setup work beside the batches: the version probe, then each new index */
	struct http_req *side;
	struct buf side_body; /* its body: http.c borrows it until the answer */
	struct loop_timer retry;
	unsigned failures;
	char setup_index[INDEX_MAX + 1];
	enum setup step;
	char known[KNOWN_MAX][INDEX_MAX + 1]; /* a ring */
	size_t nknown, known_pos;
};

static bool index_name_ok(const char *s)
{
	if (!*s || strlen(s) > INDEX_MAX - 40 || *s == '-' || *s == '_' || *s == '+')
		return false;
	for (; *s; s++)
		if (isupper((unsigned char)*s) || strchr("\\/*?\"<>| ,#:", *s) || (unsigned char)*s < 0x20)
			return false;
	return true;
}

static int add_node(struct es *e, const char *url, char *err, size_t errlen)
{
	if (e->nnodes == MAX_NODES) {
		snprintf(err, errlen, "nodes: at most %d", MAX_NODES);
		return -1;
	}
	if (!str_starts(url, "http://") && !str_starts(url, "https://")) {
		snprintf(err, errlen, "nodes: \"%s\" must start with http:// or https://", url);
		return -1;
	}
	const char *host = strstr(url, "://") + 3;
	if (!*host || *host == '/' || strchr(url, '?') || strchr(url, '#')) {
		snprintf(err, errlen, "nodes: \"%s\" is not a node URL (scheme://host:port[/path])", url);
		return -1;
	}
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	e->nodes[e->nnodes++] = xstrndup(url, n);
	return 0;
}

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct es *e = xcalloc(1, sizeof *e);
	s->impl = e;
	e->sink = s;
	loop_timer_init(&e->retry, NULL, NULL);

	const char *nodes[MAX_NODES + 1];
	size_t nn = uri_get_all(u, "nodes", nodes, MAX_NODES + 1);
	for (size_t i = 0; i < nn && i <= MAX_NODES; i++)
		if (add_node(e, nodes[i], err, errlen) < 0)
			return -1;
	if (!nn) {
		if (!u->scheme[0] || !u->host[0]) {
			snprintf(err, errlen,
			         "no Elasticsearch node: give elasticsearch:http://host:9200 or nodes=URL");
			return -1;
		}
		if (add_node(e, u->base, err, errlen) < 0)
			return -1;
	}
	if (uri_get(u, "sigv4")) {
		snprintf(err, errlen, "sigv4: AWS request signing is not supported");
		return -1;
	}

	const char *v = uri_get(u, "ver");
	if (v) {
		int64_t ver;
		if (parse_i64(v, strlen(v), &ver) < 0 || (ver != 2 && (ver < 5 || ver > 8))) {
			snprintf(err, errlen, "ver: \"%s\" must be 2, 5, 6, 7 or 8", v);
			return -1;
		}
		e->ver_param = (int)ver;
	}
	v = uri_get(u, "index");
	e->index = xstrdup(v && *v ? v : "heapster");
	if (!index_name_ok(e->index)) {
		snprintf(err, errlen,
		         "index: \"%s\" is not a valid index name (lowercase, no spaces or \\/*?\"<>|,#:)",
		         e->index);
		return -1;
	}
	e->use_namespace = uri_get(u, "use_namespace") != NULL; /* present = on, as upstream */
	v = uri_get(u, "cluster_name");
	e->cluster_name = xstrdup(v ? v : "default");
	v = uri_get(u, "pipeline");
	e->pipeline = v && *v ? xstrdup(v) : NULL;

	const char *alias = uri_get(u, "write_alias"), *ds = uri_get(u, "data_stream");
	if (alias && ds) {
		snprintf(err, errlen, "write_alias and data_stream cannot both be set");
		return -1;
	}
	if (alias || ds) {
		e->target = xstrdup(alias ? alias : ds);
		e->data_stream = ds != NULL;
		if (!index_name_ok(e->target)) {
			snprintf(err, errlen, "%s: \"%s\" is not a valid index name",
			         alias ? "write_alias" : "data_stream", e->target);
			return -1;
		}
	}

	const char *user = uri_get(u, "esUserName"), *pass = uri_get(u, "esUserSecret");
	const char *key = uri_get(u, "apiKey");
	if (key && *key && user && *user) {
		snprintf(err, errlen, "apiKey and esUserName/esUserSecret cannot both be set");
		return -1;
	}
	if (key && *key)
		e->auth = xasprintf("Authorization: ApiKey %s", key);
	else if (user && *user && pass && *pass) /* only both, as upstream */
		e->auth = sink_basic_auth(user, pass);
	else if ((user && *user) != (pass && *pass)) {
		snprintf(err, errlen, "esUserName and esUserSecret must be given together");
		return -1;
	}

	bool b;
	int64_t i;
	if (sink_param_bool(u, "insecure", s->cfg.insecure, &b, err, errlen) < 0)
		return -1;
	s->cfg.insecure = b;
	/* Upstream's client settings: checked, then left to the engine. */
	if (sink_param_bool(u, "sniff", false, &b, err, errlen) < 0)
		return -1;
	if (b)
		log_warn("sink %s: sniff=true is ignored: the nodes given are used as they are", s->name);
	if (sink_param_bool(u, "healthCheck", true, &b, err, errlen) < 0 ||
	    sink_param_int(u, "startupHealthcheckTimeout", 5, 0, 3600, &i, err, errlen) < 0 ||
	    sink_param_int(u, "maxRetries", 0, 0, 1000, &i, err, errlen) < 0 ||
	    sink_param_int(u, "bulkWorkers", 5, 1, 64, &i, err, errlen) < 0)
		return -1;
	if (uri_get(u, "bulkWorkers") && !uri_get(u, "concurrency"))
		s->cfg.concurrency = (unsigned)i;
	return 0;
}

/* --- setup: the server's version, then each new index ------------------- */

static void setup_next(struct es *e);

static bool known(const struct es *e, const char *index)
{
	for (size_t i = 0; i < e->nknown; i++)
		if (strcmp(e->known[i], index) == 0)
			return true;
	return false;
}

static void remember(struct es *e, const char *index)
{
	snprintf(e->known[e->known_pos], sizeof e->known[0], "%s", index);
	e->known_pos = (e->known_pos + 1) % KNOWN_MAX;
	if (e->nknown < KNOWN_MAX)
		e->nknown++;
}

static void on_retry(struct loop *l, void *ctx)
{
	(void)l;
	setup_next(ctx);
}

/* A setup request failed in transit or with a 5xx: try again later. */
static void setup_failed(struct es *e, const char *what, const struct http_response *r)
{
	int64_t delay = MIN((int64_t)1000 << MIN(e->failures, 5u), (int64_t)30000);
	e->failures++;
	if (r->error)
		log_warn("sink %s: %s: %s; retrying in %llds", e->sink->name, what, r->error_text,
		         (long long)delay / 1000);
	else
		log_warn("sink %s: %s: HTTP %ld: %.160s; retrying in %llds", e->sink->name, what, r->status,
		         r->body, (long long)delay / 1000);
	loop_timer_arm(e->sink->loop, &e->retry, delay);
}

/* Sets e->major from a GET / reply; 0 or -1. */
static int parse_root(struct es *e, const struct http_response *r)
{
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(ver, "number");
	const cJSON *dist = cJSON_GetObjectItemCaseSensitive(ver, "distribution");
	int64_t major = 0;
	if (cJSON_IsString(num))
		parse_i64(num->valuestring, strcspn(num->valuestring, "."), &major);
	e->opensearch = cJSON_IsString(dist) && strcmp(dist->valuestring, "opensearch") == 0;
	cJSON_Delete(root);
	if (major <= 0)
		return -1;
	e->major = (int)major;
	return 0;
}

static void on_setup(void *ctx, const struct http_response *r)
{
	struct es *e = ctx;
	struct sink *s = e->sink;
	e->side = NULL;
	buf_free(&e->side_body);
	if (!e->major) { /* GET / */
		if (r->error || r->status >= 500 || r->status == 429 || r->status == 408) {
			setup_failed(e, "reading the server version", r);
			return;
		}
		if (r->status == 200 && parse_root(e, r) == 0) {
			log_info("sink %s: %s %d%s", s->name, e->opensearch ? "OpenSearch" : "Elasticsearch",
			         e->major,
			         !e->opensearch && e->major < 7 ? ": documents get _type \"events\"" : "");
		} else {
			/* a writer may lack the monitor privilege GET / needs */
			e->major = e->ver_param ? e->ver_param : 7;
			log_warn("sink %s: cannot read the server version (HTTP %ld: %.120s); assuming %d%s",
			         s->name, r->status, r->body, e->major,
			         e->ver_param ? " (ver=)" : "; set ver=6 for Elasticsearch 6");
		}
		e->failures = 0;
		sink_kick(s);
		return;
	}
	char what[INDEX_MAX + 64];
	snprintf(what, sizeof what, "preparing index %s", e->setup_index);
	if (r->error || r->status >= 500 || r->status == 429 || r->status == 408) {
		setup_failed(e, what, r);
		return;
	}
	e->failures = 0;
	bool done = false;
	switch (e->step) {
	case SETUP_HEAD:
		if (r->status == 200)
			e->step = SETUP_ALIAS;
		else if (r->status == 404)
			e->step = SETUP_PUT;
		else
			done = true;
		break;
	case SETUP_PUT:
		/* 400 resource_already_exists_exception: someone else was faster */
		if (r->status / 100 == 2 || strstr(r->body, "already_exists"))
			e->step = SETUP_ALIAS;
		else
			done = true;
		break;
	case SETUP_ALIAS:
		done = true;
		if (r->status / 100 == 2)
			r = NULL;
		break;
	}
	if (done) {
		if (r) /* not fatal: the bulk request may still create the index */
			log_warn("sink %s: %s: HTTP %ld: %.160s; writing to it anyway", s->name, what,
			         r->status, r->body);
		remember(e, e->setup_index);
		e->setup_index[0] = '\0';
		sink_kick(s);
		return;
	}
	setup_next(e);
}

static const char *node(struct es *e)
{
	return e->nodes[e->next_node++ % e->nnodes];
}

/* Start the next setup request: GET /, or the current index's next step. */
static void setup_next(struct es *e)
{
	struct http_request q = { 0 };
	struct buf url = BUF_INIT(4096), *body = &e->side_body;
	const char *headers[2];
	if (e->side)
		return;
	if (e->auth)
		headers[q.nheaders++] = e->auth;
	q.headers = headers;
	buf_puts(&url, node(e));
	if (!e->major) {
		buf_putc(&url, '/');
	} else if (e->step == SETUP_HEAD) {
		q.method = "HEAD";
		buf_printf(&url, "/%s", e->setup_index);
	} else if (e->step == SETUP_PUT) {
		q.method = "PUT";
		buf_printf(&url, "/%s", e->setup_index);
	} else {
		q.method = "POST";
		buf_puts(&url, "/_aliases");
		buf_init(body, 4096);
		buf_printf(body, "{\"actions\":[{\"add\":{\"index\":\"%s\",\"alias\":\"%s-events\"}}]}",
		           e->setup_index, e->index);
		headers[q.nheaders++] = "Content-Type: application/json";
		q.body = body->data;
		q.body_len = body->len;
	}
	q.url = buf_str(&url);
	e->side = sink_http_start(e->sink, &q, on_setup, e);
	buf_free(&url);
	if (!e->side) {
		buf_free(&e->side_body);
		struct http_response r = { .error = 1, .error_text = "cannot start the request", .body = "" };
		setup_failed(e, "setup", &r);
	}
}

/* Go on with the setup unless a request is in flight or a retry is pending. */
static void setup_kick(struct es *e)
{
	if (!e->side && !loop_timer_armed(&e->retry))
		setup_next(e);
}

static void start(struct sink *s)
{
	struct es *e = s->impl;
	loop_timer_init(&e->retry, on_retry, e);
	setup_next(e);
}

/* --- documents ---------------------------------------------------------- */

/*
 * An item is "<index> <_id>\n<document>\n": the action line is written when
 * the batch is sent, once the server's version (and so _type) is known.
 */
static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct es *e = s->impl;
	if (!ev->json_len) {
		snprintf(err, errlen, "the event is too large to store");
		return -1;
	}
	if (e->target) {
		buf_puts(out, e->target);
	} else {
		buf_puts(out, e->index);
		if (e->use_namespace && ev->namespace[0])
			buf_printf(out, "-%s", ev->namespace);
		gotime_format(out, ev->eff_time, true, "-2006.01.02");
	}
	buf_putc(out, ' ');
	buf_json_escape(out, ev->uid, strlen(ev->uid));
	buf_putc(out, '-');
	buf_json_escape(out, ev->resource_version, strlen(ev->resource_version));
	buf_putc(out, '\n');

	buf_putc(out, '{');
	if (e->data_stream) {
		buf_puts(out, "\"@timestamp\":\"");
		gotime_format(out, ev->eff_time, true, "2006-01-02T15:04:05.999999999Z07:00");
		buf_puts(out, "\",");
	}
	buf_puts(out, "\"Count\":");
	buf_put_int(out, ev->eff_count);
	buf_puts(out, ",\"Metadata\":");
	const struct json_span *sp[] = { &ev->json_metadata, &ev->json_involved, &ev->json_source };
	const char *names[] = { "Metadata", "InvolvedObject", "Source" };
	for (size_t i = 0; i < 3; i++) {
		if (i)
			buf_printf(out, ",\"%s\":", names[i]);
		if (sp[i]->len)
			buf_append(out, ev->json + sp[i]->off, sp[i]->len);
		else
			buf_puts(out, "{}");
	}
	/* FirstTimestamp as Go prints a zero time; LastOccurrence = the effective time */
	buf_puts(out, ",\"FirstOccurrenceTimestamp\":\"");
	if (ktime_is_zero(ev->first_ts))
		buf_puts(out, "0001-01-01T00:00:00Z");
	else
		gotime_format(out, ev->first_ts, true, "2006-01-02T15:04:05.999999999Z07:00");
	buf_puts(out, "\",\"LastOccurrenceTimestamp\":\"");
	gotime_format(out, ev->eff_time, true, "2006-01-02T15:04:05.999999999Z07:00");
	buf_puts(out, "\",\"Message\":");
	buf_json_string(out, ev->message);
	buf_puts(out, ",\"Reason\":");
	buf_json_string(out, ev->reason);
	buf_puts(out, ",\"Type\":");
	buf_json_string(out, ev->type);
	buf_puts(out, ",\"EventTags\":{\"cluster_name\":");
	buf_json_string(out, e->cluster_name);
	buf_puts(out, ",\"eventID\":");
	buf_json_string(out, ev->uid);
	buf_puts(out, ",\"hostname\":");
	buf_json_string(out, ev->source.host);
	if (strcmp(ev->involved.kind, "Pod") == 0) {
		buf_puts(out, ",\"pod_id\":");
		buf_json_string(out, ev->involved.uid);
		buf_puts(out, ",\"pod_name\":");
		buf_json_string(out, ev->involved.name);
	}
	return buf_puts(out, "}}\n");
}

/* The index an item goes to (its first word), into out. */
static void item_index(const struct msg *m, char *out, size_t n)
{
	size_t l = strcspn(m->body, " ");
	snprintf(out, n, "%.*s", (int)MIN(l, n - 1), m->body);
}

static int prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err, size_t errlen)
{
	struct es *e = s->impl;
	(void)err;
	(void)errlen;
	if (!e->major || e->side || e->setup_index[0]) {
		setup_kick(e);
		return 1; /* on_setup kicks the sink */
	}
	for (unsigned i = 0; i < b->n && !e->target; i++) {
		char index[INDEX_MAX + 1];
		item_index(b->items[i], index, sizeof index);
		if (!known(e, index)) {
			snprintf(e->setup_index, sizeof e->setup_index, "%s", index);
			e->step = SETUP_HEAD;
			setup_kick(e);
			return 1;
		}
	}
	struct buf *body = &r->scratch;
	for (unsigned i = 0; i < b->n; i++) {
		const struct msg *m = b->items[i];
		const char *sp = strchr(m->body, ' '), *nl = strchr(m->body, '\n');
		buf_printf(body, "{\"create\":{\"_index\":\"%.*s\",\"_id\":\"%.*s\"", (int)(sp - m->body),
		           m->body, (int)(nl - sp - 1), sp + 1);
		if (!e->opensearch && e->major < 7)
			buf_puts(body, ",\"_type\":\"events\"");
		if (e->pipeline && (e->opensearch || e->major >= 5)) {
			buf_puts(body, ",\"pipeline\":");
			buf_json_string(body, e->pipeline);
		}
		buf_puts(body, "}}\n");
		buf_append(body, nl + 1, m->len - (size_t)(nl + 1 - m->body));
	}
	if (body->overflow) {
		snprintf(err, errlen, "bulk request too large");
		return -1;
	}
	snprintf(r->url, sizeof r->url, "%s" BULK_QUERY, node(e));
	r->http.url = r->url;
	r->http.method = "POST";
	size_t nh = 0;
	r->headers[nh++] = "Content-Type: application/x-ndjson";
	if (e->auth)
		r->headers[nh++] = e->auth;
	r->http.nheaders = nh;
	r->http.body = body->data;
	r->http.body_len = body->len;
	return 0;
}

/* An item's status: 2xx and 409 (created before: a resent batch) are done. */
static enum delivery item_verdict(long status)
{
	return status == 409 ? DELIVERY_OK : sink_status_verdict(status);
}

static enum delivery classify(struct sink *s, const struct sink_req *rq, const struct http_response *r,
                              struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms)
{
	enum delivery d;
	(void)rq;
	(void)retry_after_ms;
	if (r->status == 413) {
		snprintf(why, n, "HTTP 413: the bulk request is too large");
		return DELIVERY_SPLIT;
	}
	if (r->status == 400 && b->n > 1) {
		/* the whole request refused (bulk items are judged one by one, so
		 * some item made it invalid): halve until that item is alone */
		sink_http_failed(r, &d, why, n);
		return DELIVERY_SPLIT;
	}
	if (sink_http_failed(r, &d, why, n))
		return d;
	if (r->body_truncated) {
		snprintf(why, n, "bulk reply larger than %zu bytes: sending again", r->body_len);
		return DELIVERY_RETRY;
	}
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
	if (cJSON_IsFalse(errors)) {
		cJSON_Delete(root);
		return DELIVERY_OK;
	}
	if (!cJSON_IsTrue(errors) || !cJSON_IsArray(items) || cJSON_GetArraySize(items) != (int)b->n) {
		snprintf(why, n, "unexpected bulk reply: %.120s", r->body);
		cJSON_Delete(root);
		return DELIVERY_RETRY;
	}
	unsigned i = 0;
	struct sink_items res = { .what = "bulk item" };
	for (const cJSON *it = items->child; it; it = it->next, i++) {
		const cJSON *op = it->child; /* {"create":{...}} */
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(op, "status");
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(op, "error");
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(err, "type");
		const cJSON *reason = cJSON_GetObjectItemCaseSensitive(err, "reason");
		long st = cJSON_IsNumber(status) ? sink_status_number(status->valuedouble) : 0;
		sink_item_result(s, b, i, item_verdict(st), st, cJSON_IsString(type) ? type->valuestring : "",
		                 cJSON_IsString(reason) ? reason->valuestring : "", &res, why, n);
	}
	cJSON_Delete(root);
	return DELIVERY_OK;
}

static void destroy(struct sink *s)
{
	struct es *e = s->impl;
	if (!e)
		return;
	if (e->side)
		http_cancel(s->http, e->side);
	buf_free(&e->side_body);
	if (s->loop)
		loop_timer_disarm(s->loop, &e->retry);
	for (size_t i = 0; i < e->nnodes; i++)
		free(e->nodes[i]);
	free(e->index);
	free(e->target);
	free(e->cluster_name);
	free(e->pipeline);
	free(e->auth);
	free(e);
}

const struct sink_type sink_elasticsearch = {
	.name = "elasticsearch",
	.data = true,
	.whole_event = true,
	.default_batch = 500,
	.max_response = 4 << 20,
	.create = create,
	.render = render,
	.prepare = prepare,
	.classify = classify,
	.start = start,
	.destroy = destroy,
};
