/*
 * event.c -- decode core/v1 Events (both shapes), watch envelopes, list
 * metadata and Status objects. The only source-side user of cJSON.
 */
#include "event.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

/*
 * cJSON allocates every node separately, and musl's allocator makes that
 * the dominant cost of decoding. While an event is parsed, cJSON allocates
 * from a bump arena that is rewound afterwards; outside decoding (and when
 * the arena is full) the hooks fall through to malloc/free, so other cJSON
 * users are unaffected. One thread, so no locking.
 */
#define ARENA_SIZE (128 * 1024)

static struct {
	char *base;
	size_t used;
	bool active;
} arena;

static void *arena_malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (arena.active && n <= ARENA_SIZE - arena.used) {
		void *p = arena.base + arena.used;
		arena.used += n;
		return p;
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	if (arena.base && (char *)p >= arena.base && (char *)p < arena.base + ARENA_SIZE)
		return;
	free(p);
}

static cJSON *parse(const char *json, size_t len)
{
	if (!arena.base) {
		cJSON_Hooks hooks = { arena_malloc, arena_free };
		arena.base = xmalloc(ARENA_SIZE);
		cJSON_InitHooks(&hooks);
	}
	arena.used = 0;
	arena.active = true;
	cJSON *root = cJSON_ParseWithLength(json, len);
	arena.active = false;
	return root;
}

/*
 * Events are decoded, handed on and freed one at a time. Under musl's
 * allocator a malloc/free pair of the same size in a loop can map and unmap
 * a page on every turn (the group holding the one block is released when it
 * empties), so event_free keeps one block, up to SPARE_MAX bytes, for the
 * next event.
 */
#define SPARE_MIN 4096
#define SPARE_MAX (64 * 1024)

static struct {
	char *mem;
	size_t cap;
} spare;

static char *event_mem(struct event *ev, size_t n)
{
	if (spare.mem && spare.cap >= n) {
		ev->mem = spare.mem;
		ev->mem_cap = spare.cap;
		spare.mem = NULL;
		return ev->mem;
	}
	ev->mem_cap = n < SPARE_MIN ? SPARE_MIN : n;
	return ev->mem = xmalloc(ev->mem_cap);
}

void event_free(struct event *ev)
{
	if (ev->mem && ev->mem_cap <= SPARE_MAX && (!spare.mem || spare.cap < ev->mem_cap)) {
		free(spare.mem);
		spare.mem = ev->mem;
		spare.cap = ev->mem_cap;
	} else {
		free(ev->mem);
	}
	memset(ev, 0, sizeof *ev);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* As Go's time.Parse(time.RFC3339, s): the day must exist, no leap second,
 * any number of fraction digits (nanoseconds kept), "Z" or "+HH:MM". */
int ktime_parse(const char *s, struct ktime *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h, m, sec, nsec = 0, off = 0;
	size_t n = strlen(s);

	if (n < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &m) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	bool leap = Y % 4 == 0 && (Y % 100 != 0 || Y % 400 == 0);
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] + (M == 2 && leap) || h > 23 || m > 59 || sec > 59)
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		int scale = 100000000, nd = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (nd++ < 9) {
				nsec += (*p - '0') * scale;
				scale /= 10;
			}
			p++;
		}
		if (nd == 0)
			return -1;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	out->sec = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec - off;
	out->nsec = nsec;
	return 0;
}

struct ktime event_last_time(const struct event *ev, struct ktime now)
{
	if (!ktime_is_zero(ev->last_ts))
		return ev->last_ts;
	if (!ktime_is_zero(ev->series_last_observed))
		return ev->series_last_observed;
	if (!ktime_is_zero(ev->event_time))
		return ev->event_time;
	return now;
}

/* --- the whole object as JSON (data sinks) -------------------------------- */

static bool keep_json;

void event_keep_json(bool keep)
{
	keep_json = keep;
}

static bool skipped(const char *key, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (strcmp(key, *skip) == 0)
			return true;
	return false;
}

/* Compact JSON of v; keys in skip are left out of this object (not of nested ones). */
static int put_json(struct buf *b, const cJSON *v, const char *const *skip)
{
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		bool obj = cJSON_IsObject(v);
		bool first = true;
		buf_putc(b, obj ? '{' : '[');
		for (const cJSON *c = v->child; c; c = c->next) {
			if (obj && (!c->string || skipped(c->string, skip)))
				continue;
			if (!first)
				buf_putc(b, ',');
			first = false;
			if (obj) {
				buf_json_string(b, c->string);
				buf_putc(b, ':');
			}
			put_json(b, c, NULL);
		}
		return buf_putc(b, obj ? '}' : ']');
	}
	if (cJSON_IsString(v))
		return buf_json_string(b, v->valuestring);
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble; /* integers (count, generation) print as such */
		if (d > -9007199254740992.0 && d < 9007199254740992.0 && d == (double)(int64_t)d)
			return buf_put_int(b, (int64_t)d);
		return buf_printf(b, "%.17g", d);
	}
	return buf_puts(b, cJSON_IsTrue(v) ? "true" : cJSON_IsFalse(v) ? "false" : "null");
}

/*
 * The Event object as upstream's json.Marshal of a typed core/v1 Event
 * prints it: the API server's key order, no kind/apiVersion. Spans of
 * metadata, involvedObject and source are recorded for documents that
 * embed them. Returns 0, or -1 when it does not fit out's ceiling.
 */
static int object_json(const cJSON *o, bool skip_managed, struct buf *out, struct json_span *md,
                       struct json_span *io, struct json_span *src)
{
	static const char *const top_skip[] = { "kind", "apiVersion", NULL };
	static const char *const md_skip[] = { "managedFields", NULL };
	bool first = true;
	buf_reset(out);
	buf_putc(out, '{');
	for (const cJSON *c = o->child; c; c = c->next) {
		if (!c->string || skipped(c->string, top_skip))
			continue;
		if (!first)
			buf_putc(out, ',');
		first = false;
		buf_json_string(out, c->string);
		buf_putc(out, ':');
		struct json_span *sp = !strcmp(c->string, "metadata")         ? md
		                       : !strcmp(c->string, "involvedObject") ? io
		                       : !strcmp(c->string, "source")         ? src
		                                                              : NULL;
		size_t start = out->len;
		put_json(out, c, sp == md && skip_managed ? md_skip : NULL);
		if (sp && cJSON_IsObject(c)) {
			sp->off = (uint32_t)start;
			sp->len = (uint32_t)(out->len - start);
		}
	}
	buf_putc(out, '}');
	return out->overflow ? -1 : 0;
}

/* --- arena building: gather source strings, then one allocation --------- */

#define MAX_FIELDS 32

struct strref {
	const char *src;
	const char **dst;
};

struct builder {
	struct strref refs[MAX_FIELDS];
	size_t nrefs;
	size_t bytes;
	const cJSON *labels, *annotations;
	size_t nlabels, nannotations;
};

static const cJSON *obj(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsObject(v) ? v : NULL;
}

static void str(struct builder *b, const cJSON *o, const char *key, const char **dst)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	*dst = "";
	if (!cJSON_IsString(v) || !v->valuestring[0])
		return;
	b->refs[b->nrefs].src = v->valuestring;
	b->refs[b->nrefs].dst = dst;
	b->nrefs++;
	b->bytes += strlen(v->valuestring) + 1;
}

static struct ktime tm(const cJSON *o, const char *key)
{
	struct ktime t = { 0, 0 };
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	if (cJSON_IsString(v) && ktime_parse(v->valuestring, &t) < 0)
		t.sec = t.nsec = 0;
	return t;
}

static int32_t i32(const cJSON *o, const char *key)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0)
		return 0;
	return (int32_t)v->valuedouble;
}

static size_t count_map(const cJSON *m, size_t *bytes)
{
	size_t n = 0;
	for (const cJSON *c = m ? m->child : NULL; c; c = c->next) {
		if (!cJSON_IsString(c) || !c->string)
			continue;
		*bytes += strlen(c->string) + strlen(c->valuestring) + 2;
		n++;
	}
	return n;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static char *copy_map(const cJSON *m, struct kv *kvs, char *p)
{
	size_t i = 0;
	for (const cJSON *c = m ? m->child : NULL; c; c = c->next) {
		if (!cJSON_IsString(c) || !c->string)
			continue;
		size_t kl = strlen(c->string) + 1, vl = strlen(c->valuestring) + 1;
		kvs[i].key = memcpy(p, c->string, kl);
		p += kl;
		kvs[i].value = memcpy(p, c->valuestring, vl);
		p += vl;
		i++;
	}
	if (i > 1)
		qsort(kvs, i, sizeof *kvs, kv_cmp);
	return p;
}

static struct ktime first_set(const struct ktime *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ktime_is_zero(t[i]))
			return t[i];
	return (struct ktime){ 0, 0 };
}

static int decode_object(const cJSON *o, struct event *ev, char *err, size_t errlen)
{
	struct builder b = { 0 };
	memset(ev, 0, sizeof *ev);

	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "event is not a JSON object");
		return -1;
	}
	const cJSON *md = obj(o, "metadata");
	if (!md) {
		snprintf(err, errlen, "event has no metadata");
		return -1;
	}
	const cJSON *io = obj(o, "involvedObject");
	const cJSON *src = obj(o, "source");
	const cJSON *series = obj(o, "series");

	str(&b, md, "name", &ev->name);
	str(&b, md, "namespace", &ev->namespace);
	str(&b, md, "uid", &ev->uid);
	str(&b, md, "resourceVersion", &ev->resource_version);
	str(&b, o, "type", &ev->type);
	str(&b, o, "reason", &ev->reason);
	str(&b, o, "message", &ev->message);
	str(&b, o, "action", &ev->action);
	str(&b, o, "reportingComponent", &ev->reporting_controller);
	str(&b, o, "reportingInstance", &ev->reporting_instance);
	str(&b, io, "kind", &ev->involved.kind);
	str(&b, io, "namespace", &ev->involved.namespace);
	str(&b, io, "name", &ev->involved.name);
	str(&b, io, "uid", &ev->involved.uid);
	str(&b, io, "apiVersion", &ev->involved.api_version);
	str(&b, io, "resourceVersion", &ev->involved.resource_version);
	str(&b, io, "fieldPath", &ev->involved.field_path);
	str(&b, src, "component", &ev->source.component);
	str(&b, src, "host", &ev->source.host);

	b.labels = obj(md, "labels");
	b.annotations = obj(md, "annotations");
	b.nlabels = count_map(b.labels, &b.bytes);
	b.nannotations = count_map(b.annotations, &b.bytes);

	static struct buf json = BUF_INIT(EVENT_JSON_MAX);
	struct json_span mdspan = { 0, 0 }, iospan = { 0, 0 }, srcspan = { 0, 0 };
	if (keep_json && object_json(o, false, &json, &mdspan, &iospan, &srcspan) < 0 &&
	    object_json(o, true, &json, &mdspan, &iospan, &srcspan) < 0)
		buf_reset(&json); /* not even without managedFields: the data sinks skip it */
	size_t jsonbytes = keep_json && json.len ? json.len + 1 : 0;

	size_t kvbytes = (b.nlabels + b.nannotations) * sizeof(struct kv);
	char *p = event_mem(ev, kvbytes + b.bytes + jsonbytes + 1) + kvbytes;
	ev->json = "";
	if (jsonbytes) {
		ev->json = memcpy(p, json.data, jsonbytes);
		ev->json_len = json.len;
		ev->json_metadata = mdspan;
		ev->json_involved = iospan;
		ev->json_source = srcspan;
		p += jsonbytes;
	}
	if (json.cap > 64 * 1024)
		buf_free(&json);
	ev->labels = b.nlabels ? (struct kv *)(void *)ev->mem : NULL;
	ev->nlabels = b.nlabels;
	ev->annotations = b.nannotations ? (struct kv *)(void *)ev->mem + b.nlabels : NULL;
	ev->nannotations = b.nannotations;
	for (size_t i = 0; i < b.nrefs; i++) {
		size_t l = strlen(b.refs[i].src) + 1;
		*b.refs[i].dst = memcpy(p, b.refs[i].src, l);
		p += l;
	}
	p = copy_map(b.labels, ev->labels, p);
	copy_map(b.annotations, ev->annotations, p);

	ev->creation = tm(md, "creationTimestamp");
	ev->first_ts = tm(o, "firstTimestamp");
	ev->last_ts = tm(o, "lastTimestamp");
	ev->event_time = tm(o, "eventTime");
	ev->count = i32(o, "count");
	if (series) {
		ev->has_series = true;
		ev->series_count = i32(series, "count");
		ev->series_last_observed = tm(series, "lastObservedTime");
	}
	struct ktime order[] = { ev->series_last_observed, ev->last_ts, ev->event_time, ev->first_ts,
		                 ev->creation };
	ev->eff_time = first_set(order, ARRAY_LEN(order));
	ev->eff_count = ev->series_count > 0 ? ev->series_count : ev->count > 0 ? ev->count : 1;
	return 0;
}

int event_decode(const char *json, size_t len, struct event *ev, char *err, size_t errlen)
{
	cJSON *root = parse(json, len);
	if (!root) {
		memset(ev, 0, sizeof *ev);
		snprintf(err, errlen, "malformed JSON");
		return -1;
	}
	int r = decode_object(root, ev, err, errlen);
	cJSON_Delete(root);
	return r;
}

static void copy_str(char *dst, size_t n, const cJSON *o, const char *key)
{
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
	snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int status_from(const cJSON *o, int *code, char *reason, size_t rlen, char *msg, size_t mlen)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
	if (!cJSON_IsObject(o) || !cJSON_IsString(kind) || strcmp(kind->valuestring, "Status") != 0)
		return -1;
	*code = cJSON_IsNumber(c) ? c->valueint : 0;
	copy_str(reason, rlen, o, "reason");
	copy_str(msg, mlen, o, "message");
	return 0;
}

int watch_msg_decode(const char *json, size_t len, struct watch_msg *msg, char *err, size_t errlen)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };
	int r = -1;
	cJSON *root = parse(json, len);

	memset(msg, 0, sizeof *msg);
	if (!root) {
		snprintf(err, errlen, "malformed JSON");
		return -1;
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
	const cJSON *object = cJSON_GetObjectItemCaseSensitive(root, "object");
	if (!cJSON_IsString(type) || !cJSON_IsObject(object)) {
		snprintf(err, errlen, "not a watch event (no type/object)");
		goto out;
	}
	size_t t;
	for (t = 0; t < ARRAY_LEN(types); t++)
		if (strcmp(type->valuestring, types[t]) == 0)
			break;
	if (t == ARRAY_LEN(types)) {
		snprintf(err, errlen, "unknown watch event type");
		goto out;
	}
	msg->type = (enum watch_type)t;
	if (msg->type == WATCH_ERROR) {
		if (status_from(object, &msg->status_code, msg->status_reason, sizeof msg->status_reason,
		                msg->status_message, sizeof msg->status_message) < 0) {
			snprintf(err, errlen, "ERROR event without a Status");
			goto out;
		}
		r = 0;
		goto out;
	}
	if (msg->type == WATCH_BOOKMARK) {
		copy_str(msg->rv, sizeof msg->rv, obj(object, "metadata"), "resourceVersion");
		if (!msg->rv[0]) {
			snprintf(err, errlen, "BOOKMARK without resourceVersion");
			goto out;
		}
		r = 0;
		goto out;
	}
	if (decode_object(object, &msg->ev, err, errlen) < 0)
		goto out;
	if (strlen(msg->ev.resource_version) >= sizeof msg->rv) {
		snprintf(err, errlen, "resourceVersion too long");
		event_free(&msg->ev);
		goto out;
	}
	snprintf(msg->rv, sizeof msg->rv, "%s", msg->ev.resource_version);
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

int list_meta_decode(const char *json, size_t len, char *rv, size_t rvlen, char *cont, size_t contlen)
{
	cJSON *root = parse(json, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -1;
	}
	copy_str(rv, rvlen, root, "resourceVersion");
	copy_str(cont, contlen, root, "continue");
	cJSON_Delete(root);
	return 0;
}

int status_decode(const char *json, size_t len, int *code, char *reason, size_t rlen, char *msg, size_t mlen)
{
	cJSON *root = parse(json, len);
	int r = root ? status_from(root, code, reason, rlen, msg, mlen) : -1;
	cJSON_Delete(root);
	return r;
}

static int cm_from(const cJSON *o, const char *key, char **value, char *rv, size_t rvlen)
{
	*value = NULL;
	if (!cJSON_IsObject(o))
		return -1;
	const cJSON *md = obj(o, "metadata");
	copy_str(rv, rvlen, md, "resourceVersion");
	const cJSON *data = obj(o, "data");
	const cJSON *v = data ? cJSON_GetObjectItemCaseSensitive(data, key) : NULL;
	if (cJSON_IsString(v))
		*value = xstrdup(v->valuestring);
	return 0;
}

int configmap_decode(const char *json, size_t len, const char *key, char **value, char *rv, size_t rvlen)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	int r = cm_from(root, key, value, rv, rvlen);
	cJSON_Delete(root);
	return r;
}

int configmap_watch_decode(const char *json, size_t len, const char *key, enum watch_type *type, char **value,
                           char *rv, size_t rvlen, int *status_code)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR" };
	cJSON *root = cJSON_ParseWithLength(json, len);
	int r = -1;
	*value = NULL;
	*status_code = 0;
	rv[0] = '\0';
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "object");
	if (!cJSON_IsString(t) || !cJSON_IsObject(o))
		goto out;
	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		if (strcmp(t->valuestring, types[i]) != 0)
			continue;
		*type = (enum watch_type)i;
		if (*type == WATCH_ERROR) {
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
			*status_code = cJSON_IsNumber(c) ? c->valueint : 0;
			r = 0;
		} else {
			r = cm_from(o, key, value, rv, rvlen);
		}
		break;
	}
out:
	cJSON_Delete(root);
	return r;
}
