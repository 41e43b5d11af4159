/* lease.c -- leader election on a coordination.k8s.io/v1 Lease (see lease.h). */
#include "lease.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "event.h"
#include "gotime.h"
#include "http.h"
#include "kube.h"
#include "log.h"
#include "loop.h"
#include "uri.h"
#include "util.h"

#define RV_MAX 128

enum op { OP_NONE, OP_GET, OP_CREATE, OP_UPDATE, OP_RELEASE };

struct lease {
	struct loop *loop;
	struct http *http;
	struct kube *kube;
	char *name, *ns, *identity;
	int64_t duration_ms, renew_deadline_ms, retry_ms;
	lease_cb cb;
	void *ctx;

	bool leader;
	int64_t renewed_ms; /* our last successful renewal (monotonic) */

	/* what we last read: the record, its resourceVersion, and when it changed as we saw it */
	bool exists;
	char rv[RV_MAX];
	char holder[256];
	char observed[512]; /* holder + renewTime + transitions: "changed?" */
	int64_t observed_ms;
	int transitions;
	char acquire_time[40];
	char prev_rv[RV_MAX]; /* the handover record in the annotations */
	int64_t prev_at;

	/* what we record with the next renewal */
	char progress_rv[RV_MAX];
	int64_t progress_at;

	enum op op;
	struct http_req *req;
	struct kube_req kr;
	struct buf body;
	struct loop_timer tick;
	struct loop_timer deadline; /* leading: the renew deadline */
	void (*released)(void *ctx);
	void *released_ctx;
	char last_error[256];
};

static void attempt(struct lease *le);

static void on_tick(struct loop *l, void *ctx)
{
	(void)l;
	attempt(ctx);
}

static void set_leader(struct lease *le, bool leader);

/* Not renewed within the renew deadline: stop before the lease can expire for the others. */
static void on_deadline(struct loop *l, void *ctx)
{
	struct lease *le = ctx;
	(void)l;
	if (!le->last_error[0])
		snprintf(le->last_error, sizeof le->last_error, "no renewal within the renew deadline");
	set_leader(le, false);
}

struct lease *lease_new(struct loop *l, struct http *h, struct kube *k, const struct lease_opts *o,
                        lease_cb cb, void *ctx)
{
	struct lease *le = xcalloc(1, sizeof *le);
	le->loop = l;
	le->http = h;
	le->kube = k;
	le->name = xstrdup(o->name);
	le->ns = xstrdup(o->namespace);
	le->identity = xstrdup(o->identity);
	le->duration_ms = o->duration_ms;
	le->renew_deadline_ms = o->renew_deadline_ms;
	le->retry_ms = o->retry_ms;
	le->cb = cb;
	le->ctx = ctx;
	buf_init(&le->body, 64 * 1024);
	loop_timer_init(&le->tick, on_tick, le);
	loop_timer_init(&le->deadline, on_deadline, le);
	return le;
}

void lease_start(struct lease *le)
{
	loop_timer_arm(le->loop, &le->tick, 0);
}

void lease_note_progress(struct lease *le, const char *rv, int64_t wall_s)
{
	snprintf(le->progress_rv, sizeof le->progress_rv, "%s", rv ? rv : "");
	le->progress_at = wall_s;
}

bool lease_is_leader(const struct lease *le)
{
	return le->leader;
}

const char *lease_last_error(const struct lease *le)
{
	return le->last_error;
}

static void set_leader(struct lease *le, bool leader)
{
	if (le->leader == leader)
		return;
	le->leader = leader;
	if (!leader)
		loop_timer_disarm(le->loop, &le->deadline);
	if (leader) {
		log_info("leader election: %s leads (lease %s/%s)", le->identity, le->ns, le->name);
		le->cb(le->ctx, true, le->prev_rv, le->prev_at);
	} else {
		log_warn("leader election: %s stopped leading%s%s", le->identity,
		         le->last_error[0] ? ": " : "", le->last_error);
		le->cb(le->ctx, false, "", 0);
	}
}

/* "2006-01-02T15:04:05.000000Z" (metav1.MicroTime) of the wall clock. */
static void micro_now(struct buf *b)
{
	int64_t ms = now_wall_ms();
	struct ktime t = { ms / 1000, (int32_t)(ms % 1000) * 1000000 };
	gotime_format(b, t, true, "2006-01-02T15:04:05.000000Z07:00");
}

/* The Lease we want stored: us as holder (or nobody, releasing). */
static void build(struct lease *le, bool release)
{
	struct buf *b = &le->body;
	bool taking = !release && strcmp(le->holder, le->identity) != 0;
	buf_reset(b);
	buf_puts(b, "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":");
	buf_json_string(b, le->name);
	buf_puts(b, ",\"namespace\":");
	buf_json_string(b, le->ns);
	if (le->exists) {
		buf_puts(b, ",\"resourceVersion\":");
		buf_json_string(b, le->rv);
	}
	/* the handover record: ours when leading (or handing over), else the one we found */
	bool ours = (le->leader || release) && le->progress_rv[0];
	const char *rv = ours ? le->progress_rv : le->prev_rv;
	int64_t at = ours ? le->progress_at : le->prev_at;
	if (rv[0]) {
		buf_puts(b, ",\"annotations\":{\"" LEASE_ANN_RV "\":");
		buf_json_string(b, rv);
		buf_puts(b, ",\"" LEASE_ANN_AT "\":\"");
		gotime_format(b, (struct ktime){ at, 0 }, true, "2006-01-02T15:04:05Z07:00");
		buf_puts(b, "\"}");
	}
	buf_puts(b, "},\"spec\":{\"holderIdentity\":");
	buf_json_string(b, release ? "" : le->identity);
	buf_printf(b, ",\"leaseDurationSeconds\":%lld,\"acquireTime\":\"",
	           release ? 1LL : (long long)(le->duration_ms / 1000));
	if (taking || release || !le->acquire_time[0])
		micro_now(b);
	else
		buf_puts(b, le->acquire_time);
	buf_puts(b, "\",\"renewTime\":\"");
	micro_now(b);
	buf_printf(b, "\",\"leaseTransitions\":%d}}", le->transitions + (taking && le->exists ? 1 : 0));
}

static void on_done(void *ctx, const struct http_response *r);

static void request(struct lease *le, enum op op)
{
	struct buf path = BUF_INIT(2048);
	char err[256];
	buf_puts(&path, "/apis/coordination.k8s.io/v1/namespaces/");
	uri_query_escape(&path, le->ns);
	buf_puts(&path, "/leases");
	if (op != OP_CREATE) {
		buf_putc(&path, '/');
		uri_query_escape(&path, le->name);
	}
	int pr = kube_prepare(le->kube, buf_str(&path), &le->kr, err, sizeof err);
	buf_free(&path);
	if (pr != 0) {
		if (pr < 0)
			snprintf(le->last_error, sizeof le->last_error, "%s", err);
		loop_timer_arm(le->loop, &le->tick, pr < 0 ? le->retry_ms : KUBE_PENDING_RETRY_MS);
		return;
	}
	struct http_request *h = &le->kr.http;
	h->timeout_ms = MIN(le->renew_deadline_ms, le->retry_ms * 2 + 1000);
	if (op != OP_GET) {
		build(le, op == OP_RELEASE);
		h->method = op == OP_CREATE ? "POST" : "PUT";
		h->body = le->body.data;
		h->body_len = le->body.len;
		le->kr.headers[h->nheaders++] = "Content-Type: application/json";
	}
	le->op = op;
	le->req = http_start(le->http, h, NULL, on_done, le);
	if (!le->req) {
		le->op = OP_NONE;
		snprintf(le->last_error, sizeof le->last_error, "cannot start a request");
		loop_timer_arm(le->loop, &le->tick, le->retry_ms);
	}
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Take in the Lease the server sent. 0, or -1 when it is not one. */
static int take_record(struct lease *le, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(root, "spec");
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	if (!cJSON_IsObject(md) || !str_of(md, "resourceVersion")[0]) {
		cJSON_Delete(root);
		return -1;
	}
	le->exists = true;
	snprintf(le->rv, sizeof le->rv, "%s", str_of(md, "resourceVersion"));
	snprintf(le->holder, sizeof le->holder, "%s", str_of(spec, "holderIdentity"));
	snprintf(le->acquire_time, sizeof le->acquire_time, "%s", str_of(spec, "acquireTime"));
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
	le->transitions = cJSON_IsNumber(tr) ? tr->valueint : 0;
	snprintf(le->prev_rv, sizeof le->prev_rv, "%s", str_of(ann, LEASE_ANN_RV));
	struct ktime at = { 0, 0 };
	ktime_parse(str_of(ann, LEASE_ANN_AT), &at);
	le->prev_at = at.sec;
	char seen[512];
	snprintf(seen, sizeof seen, "%s|%s|%d", le->holder, str_of(spec, "renewTime"), le->transitions);
	if (strcmp(seen, le->observed) != 0) { /* it changed: its lease counts from now, by our clock */
		snprintf(le->observed, sizeof le->observed, "%s", seen);
		le->observed_ms = now_mono_ms();
	}
	cJSON_Delete(root);
	return 0;
}

static void schedule(struct lease *le, int64_t ms)
{
	loop_timer_arm(le->loop, &le->tick, ms);
}

static void on_done(void *ctx, const struct http_response *r)
{
	struct lease *le = ctx;
	enum op op = le->op;
	le->req = NULL;
	le->op = OP_NONE;
	if (op == OP_RELEASE) {
		if (r->status / 100 == 2)
			log_info("leader election: %s released the lease", le->identity);
		else
			log_warn("leader election: releasing the lease: %s",
			         r->error ? r->error_text : "refused by the API server");
		le->released(le->released_ctx);
		return;
	}
	if (r->error || (r->status != 200 && r->status != 201 && r->status != 404 && r->status != 409)) {
		if (r->status == 401)
			kube_unauthorized(le->kube);
		snprintf(le->last_error, sizeof le->last_error, "lease %s/%s: %s", le->ns, le->name,
		         r->error ? r->error_text : "");
		if (!r->error)
			snprintf(le->last_error, sizeof le->last_error, "lease %s/%s: HTTP %ld: %.120s",
			         le->ns, le->name, r->status, r->body);
		schedule(le, le->retry_ms);
		return;
	}
	if (op == OP_GET) {
		if (r->status == 404) {
			le->exists = false;
			le->holder[0] = le->rv[0] = le->prev_rv[0] = '\0';
			request(le, OP_CREATE);
			return;
		}
		if (r->status != 200 || take_record(le, r->body, r->body_len) < 0) {
			snprintf(le->last_error, sizeof le->last_error, "lease %s/%s: not a Lease", le->ns,
			         le->name);
			schedule(le, le->retry_ms);
			return;
		}
		bool ours = strcmp(le->holder, le->identity) == 0;
		bool valid = le->holder[0] && now_mono_ms() - le->observed_ms < le->duration_ms;
		if (!ours && valid) {
			set_leader(le, false); /* (we may have lost it without noticing) */
			schedule(le, le->retry_ms);
			return;
		}
		request(le, OP_UPDATE); /* renew ours, or take a released or expired one */
		return;
	}
	/* create or update */
	if (r->status == 409) { /* someone else wrote first: read again */
		schedule(le, le->retry_ms);
		return;
	}
	take_record(le, r->body, r->body_len);
	le->renewed_ms = now_mono_ms();
	le->last_error[0] = '\0';
	set_leader(le, true);
	loop_timer_arm(le->loop, &le->deadline, le->renew_deadline_ms);
	schedule(le, le->retry_ms);
}

static void attempt(struct lease *le)
{
	if (!le->req)
		request(le, OP_GET);
}

void lease_release(struct lease *le, void (*done)(void *ctx), void *ctx)
{
	loop_timer_disarm(le->loop, &le->tick);
	bool was = le->leader;
	if (le->req) {
		http_cancel(le->http, le->req);
		le->req = NULL;
	}
	le->leader = false;
	if (!was || !le->exists) {
		done(ctx);
		return;
	}
	loop_timer_disarm(le->loop, &le->deadline);
	le->released = done;
	le->released_ctx = ctx;
	request(le, OP_RELEASE);
	if (!le->req) {
		loop_timer_disarm(le->loop, &le->tick);
		done(ctx);
	}
}

void lease_free(struct lease *le)
{
	if (!le)
		return;
	if (le->req)
		http_cancel(le->http, le->req);
	loop_timer_disarm(le->loop, &le->tick);
	loop_timer_disarm(le->loop, &le->deadline);
	buf_free(&le->body);
	free(le->name);
	free(le->ns);
	free(le->identity);
	free(le);
}
