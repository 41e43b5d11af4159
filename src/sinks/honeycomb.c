/*
 * honeycomb.c -- `honeycomb:` sink: upstream's events, in Honeycomb batches.
 *
 *   --sink=honeycomb:?dataset=k8s-events&writekey=KEY[&apihost=https://api.eu1.honeycomb.io/]
 *
 * Upstream's parameters and event fields (DATA-SINKS.md §6): writekey (else
 * the environment's HONEYCOMB_WRITEKEY), dataset "heapster", apihost
 * "https://api.honeycomb.io/"; POST <apihost>/1/batch/<dataset> with
 * X-Honeycomb-Team, a JSON array of events whose data keeps upstream's names:
 *   {"data":{"namespace","kind","name","subobject","source.component",
 *            "source.host","count","type","reason","message"},
 *    "time":"<effective time, RFC 3339 with nanoseconds, UTC>"}
 * What differs, and why:
 * - `data` and `time` are the keys Honeycomb's batch API documents. Upstream
 *   sent `Data` and `Timestamp`; Honeycomb ignores unknown keys, so its events
 *   were stamped with their arrival time, not the event's.
 * - Requests stay within the API's limits (HC_BATCH_MAX below) and the reply
 *   is read: the HTTP status, then the status of each event. 429/5xx events
 *   are sent again alone, other event errors are dropped with a log line; a
 *   request refused whole with 400 or 413 is halved until the event that
 *   caused it travels alone. Honeycomb has no idempotency key: an event whose
 *   answer was lost (a timeout) is sent again and may be stored twice --
 *   delivery is at least once.
 * - samplerate=N keeps one Event in N (chosen by its uid, so every change of
 *   a kept Event is kept) and tells Honeycomb so, which weights its counts.
 * - No compression: Honeycomb takes gzip or zstd bodies, but this build has
 *   neither library, and the limits hold without it.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gotime.h"
#include "http.h"
#include "log.h"
#include "sink.h"
#include "uri.h"
#include "util.h"

/*
 * Honeycomb's limits. A /1/batch request body: 5 MB (libhoney-go
 * transmission.go apiMaxBatchSize = 5000000, "the max json payload size for
 * /1/batch of 5MB defined by the API", libhoney-go#37; Vector's honeycomb sink
 * batches at most 5 MiB). One event: "less than 1 MB of uncompressed JSON",
 * 2000 fields, string fields up to 64 KB (docs.honeycomb.io/api/events,
 * "Create an Event", Limits; longer strings are cut by Honeycomb, not
 * refused). Events per batch: no limit is documented (libhoney's 50 is its
 * own default). An item here is at most max_body (512 KiB) anyway.
 */
#define HC_BATCH_MAX 5000000
#define HC_EVENT_MAX 1000000
#define SAMPLERATE_MAX 1000000

struct honeycomb {
	char *url;  /* <apihost>/1/batch/<dataset> */
	char *team; /* "X-Honeycomb-Team: <writekey>" */
	unsigned samplerate;
};

/* apihost: http(s)://host[:port][/path], without query or fragment; trailing slashes cut. */
static int apihost_ok(const char *v, size_t *len, char *err, size_t errlen)
{
	const char *host = str_starts(v, "https://") ? v + 8 : str_starts(v, "http://") ? v + 7 : NULL;
	if (!host || !*host || *host == '/' || strpbrk(v, "?# ")) {
		snprintf(err, errlen,
		         "apihost: \"%s\" must be an http:// or https:// URL (scheme://host[:port][/path])",
		         v);
		return -1;
	}
	*len = strlen(v);
	while (v[*len - 1] == '/')
		(*len)--;
	return 0;
}

static int parse_writekey(struct honeycomb *h, struct uri *u, char *err, size_t errlen)
{
	const char *key = uri_get(u, "writekey");
	if (!key || !*key)
		key = getenv("HONEYCOMB_WRITEKEY");
	if (!key || !*key) {
		snprintf(err, errlen, "writekey: missing (give writekey= or set HONEYCOMB_WRITEKEY)");
		return -1;
	}
	for (const char *p = key; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "writekey: contains a control character");
			return -1;
		}
	}
	h->team = xasprintf("X-Honeycomb-Team: %s", key);
	return 0;
}

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct honeycomb *h = xcalloc(1, sizeof *h);
	s->impl = h;
	if (parse_writekey(h, u, err, errlen) < 0)
		return -1;

	const char *host = uri_get(u, "apihost"), *dataset = uri_get(u, "dataset");
	size_t hlen;
	if (!host || !*host)
		host = "https://api.honeycomb.io/";
	if (!dataset || !*dataset)
		dataset = "heapster";
	if (apihost_ok(host, &hlen, err, errlen) < 0)
		return -1;
	if (strchr(dataset, '/')) { /* Honeycomb: names may not contain slashes, even encoded */
		snprintf(err, errlen, "dataset: \"%s\" may not contain a slash", dataset);
		return -1;
	}
	struct buf url = BUF_INIT(4096);
	buf_printf(&url, "%.*s/1/batch/", (int)hlen, host);
	uri_query_escape(&url, dataset);
	if (url.overflow) {
		buf_free(&url);
		snprintf(err, errlen, "apihost and dataset make a URL that is too long");
		return -1;
	}
	h->url = buf_steal(&url);

	int64_t rate;
	if (sink_param_int(u, "samplerate", 1, 1, SAMPLERATE_MAX, &rate, err, errlen) < 0)
		return -1;
	h->samplerate = (unsigned)rate;
	if (s->cfg.batch_bytes > HC_BATCH_MAX - 1) { /* the body is the items, plus "[" */
		snprintf(err, errlen, "batch_bytes: at most %d (Honeycomb's limit for a batch request)",
		         HC_BATCH_MAX - 1);
		return -1;
	}
	return 0;
}

/* samplerate=N: is this Event one of the 1 in N kept? The same answer for each of its changes. */
static bool sampled_out(const struct honeycomb *h, const struct event *ev)
{
	return h->samplerate > 1 && hash64(ev->uid, strlen(ev->uid)) % h->samplerate != 0;
}

static void field(struct buf *out, const char *key, const char *value)
{
	buf_puts(out, ",\"");
	buf_puts(out, key);
	buf_puts(out, "\":");
	buf_json_string(out, value);
}

/*
 * An item is one element of the batch array and its comma:
 * {"data":{...},"time":"...","samplerate":N}, -- prepare() adds the brackets.
 */
static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct honeycomb *h = s->impl;
	if (sampled_out(h, ev))
		return 1;
	buf_puts(out, "{\"data\":{\"namespace\":");
	buf_json_string(out, ev->involved.namespace);
	field(out, "kind", ev->involved.kind);
	field(out, "name", ev->involved.name);
	field(out, "subobject", ev->involved.field_path);
	field(out, "source.component", ev->source.component);
	field(out, "source.host", ev->source.host);
	buf_puts(out, ",\"count\":");
	buf_put_int(out, ev->eff_count);
	field(out, "type", ev->type);
	field(out, "reason", ev->reason);
	field(out, "message", ev->message);
	buf_puts(out, "},\"time\":\"");
	gotime_format(out, ev->eff_time, true, "2006-01-02T15:04:05.999999999Z07:00");
	buf_putc(out, '"');
	if (h->samplerate > 1)
		buf_printf(out, ",\"samplerate\":%u", h->samplerate);
	buf_puts(out, "},");
	if (out->len >= HC_EVENT_MAX) {
		snprintf(err, errlen, "the event is larger than Honeycomb takes (1 MB)");
		return -1;
	}
	return out->overflow ? -1 : 0;
}

static int prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err, size_t errlen)
{
	struct honeycomb *h = s->impl;
	struct buf *body = &r->scratch;
	buf_putc(body, '[');
	if (sink_batch_concat(b, body) < 0 || body->overflow) {
		snprintf(err, errlen, "batch too large");
		return -1;
	}
	body->data[body->len - 1] = ']'; /* the last item's comma */
	r->http.url = h->url;
	r->http.method = "POST";
	r->headers[0] = "Content-Type: application/json";
	r->headers[1] = h->team;
	r->http.nheaders = 2;
	r->http.body = body->data;
	r->http.body_len = body->len;
	return 0;
}

/* Each event's status in the reply ([{"status":202},{"status":400,"error":"..."}]): OK or -1. */
static int event_results(struct sink *s, const struct http_response *r, struct sink_batch *b, char *why,
                         size_t n)
{
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) != (int)b->n) {
		cJSON_Delete(root);
		return -1;
	}
	unsigned i = 0;
	struct sink_items res = { .what = "event" };
	for (const cJSON *it = root->child; it; it = it->next, i++) {
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(it, "status");
		const cJSON *error = cJSON_GetObjectItemCaseSensitive(it, "error");
		long st = cJSON_IsNumber(status) ? sink_status_number(status->valuedouble) : 0;
		/* an entry without a status says nothing: send that event again */
		enum delivery v = st ? sink_status_verdict(st) : DELIVERY_RETRY;
		sink_item_result(s, b, i, v, st, "", cJSON_IsString(error) ? error->valuestring : "", &res,
		                 why, n);
	}
	cJSON_Delete(root);
	return 0;
}

static enum delivery classify(struct sink *s, const struct sink_req *rq, const struct http_response *r,
                              struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms)
{
	enum delivery d;
	(void)rq;
	(void)retry_after_ms;
	if (r->status == 401) {
		snprintf(why, n,
		         "HTTP 401: Honeycomb refused the write key (%.100s); check writekey= or "
		         "HONEYCOMB_WRITEKEY",
		         r->body);
		return DELIVERY_DROP;
	}
	if (r->status == 413 || (r->status == 400 && b->n > 1)) {
		/* refused whole (too large, or some event made the body unreadable) */
		sink_http_failed(r, &d, why, n);
		return DELIVERY_SPLIT;
	}
	if (sink_http_failed(r, &d, why, n))
		return d;
	if (r->body_truncated) {
		snprintf(why, n, "batch reply larger than %zu bytes: sending again", r->body_len);
		return DELIVERY_RETRY;
	}
	if (event_results(s, r, b, why, n) < 0) {
		snprintf(why, n, "unexpected batch reply (HTTP %ld: %.120s): sending again", r->status,
		         r->body);
		return DELIVERY_RETRY;
	}
	return DELIVERY_OK;
}

static void destroy(struct sink *s)
{
	struct honeycomb *h = s->impl;
	if (!h)
		return;
	free(h->url);
	free(h->team);
	free(h);
}

const struct sink_type sink_honeycomb = {
	.name = "honeycomb",
	.data = true,
	.default_batch = 1000,
	.max_response = 2 << 20,
	.create = create,
	.render = render,
	.prepare = prepare,
	.classify = classify,
	.destroy = destroy,
};
