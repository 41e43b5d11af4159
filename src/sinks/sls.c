/*
 * sls.c -- `sls:` sink: Alibaba Cloud Log Service, upstream's logs in LogGroups.
 *
 *   --sink=sls:https://sls.aliyuncs.com?project=P&logStore=L[&topic=T][&regionId=cn-hangzhou]
 *        [&accessKeyId=..&accessKeySecret=..][&internal=false][&label=k,v...]
 *
 * Upstream's parameters and log contents (DATA-SINKS.md §7): one Log per
 * Event change, Time = the effective event time, contents eventId (the
 * whole Event as Go's json.MarshalIndent(ev, "", " ") prints it), hostname,
 * level, pod_id and pod_name for Pods, then the labels; Topic = topic,
 * Source = "". The body is the LogGroup protobuf as one LZ4 block, signed
 * SLS4-HMAC-SHA256 (sign_version=v1: the older "LOG ak:sig"). What differs:
 * - Many logs per request (batch_size 4096 and 512 KiB by default, SLS's
 *   own ceilings 4096 logs and 5 MiB), retried with backoff on transport
 *   errors, 5xx, 429 and the write-quota codes; other refusals are logged
 *   with the server's errorCode and request id and dropped; a 400 that
 *   refuses the whole group because of one log is split until that log is
 *   alone. SLS has no idempotency key: a request whose answer was lost is
 *   sent again, so delivery is at least once.
 * - Endpoint: a URL host that is not an aliyuncs.com name (a private
 *   endpoint, a proxy, an emulator) is used as it is; upstream ignored the
 *   URL, whose manifests carry sls.aliyuncs.com or a region endpoint there,
 *   so those still mean "from the region", as upstream: SLS_ENDPOINT, else
 *   <region>[-intranet].log.aliyuncs.com. An IP address or localhost is
 *   connected to as it is, with Host: <project>.<endpoint>.
 * - Region: env RegionId, regionId=, the region in a
 *   <region>[-intranet|-internal|-vpc|-share].log.aliyuncs.com URL host,
 *   then the ECS metadata service -- asked only when needed.
 * - Credentials: the key pair (parameters or env AccessKeyId/AccessKeySecret),
 *   else ACK's token-config file, else the ECS RAM role (IMDSv2 token when the
 *   service has one), fetched while the sink waits and refreshed before
 *   they expire (10 minutes early, or at half their remaining life), not
 *   after; a 401 for temporary keys fetches new ones once and resends.
 * - event_id=uid writes the uid in eventId and the compact Event JSON in
 *   "event" (opt-in: upstream's dashboards read eventId as JSON).
 * Overrides for tests: KE_SLS_METADATA_URL (or ALIBABA_CLOUD_IMDS_ENDPOINT),
 * KE_SLS_TOKEN_CONFIG; ALIBABA_CLOUD_ECS_METADATA names the role.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "crypto.h"
#include "gotime.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "sink.h"
#include "sinks/sls.h"
#include "uri.h"
#include "util.h"

#define MAX_LABELS 32
#define MAX_LOGS 4096                 /* logs in one PutLogs */
#define MAX_RAW (5 << 20)             /* raw LogGroup bytes in one PutLogs */
#define REFRESH_EARLY_MS (10 * 60000) /* refresh temporary keys this long before they expire */
#define SAFETY_MS 30000               /* ... and stop using them this long before */
#define META_DEFAULT "http://100.100.100.200"
#define TOKEN_CONFIG_DEFAULT "/var/addon/token-config"
#define IMDS_TTL_S 21600
#define USER_AGENT "User-Agent: ack-kube-eventer"

enum step { STEP_IMDS_TOKEN, STEP_REGION, STEP_ROLE, STEP_ROLE_CREDS };
enum cred_src { CRED_PAIR, CRED_FILE, CRED_ROLE };

struct sls {
	struct sink *sink;
	char *project, *logstore, *topic;
	char *label_key[MAX_LABELS], *label_value[MAX_LABELS];
	size_t nlabels;
	bool internal, uid_mode, v1;

	/* where: endpoint NULL until derived from the region */
	char *scheme, *endpoint, *region, *region_hint;
	char *url;      /* scheme://host/logstores/<logstore> */
	char *host_hdr; /* "Host: <project>.<endpoint>" */

	/* credentials */
	struct sls_creds creds; /* id NULL: none yet */
	enum cred_src src;
	bool pair;              /* a long-lived pair was given */
	int64_t fetched_ms;     /* wall clock, when creds came */
	int64_t refresh_at_ms;  /* wall clock; 0 = never */
	bool refetch_after_401; /* these creds came after a 401: another 401 is final */
	char *meta_base, *token_config, *role;
	char *imds_token;
	int64_t imds_token_until; /* monotonic */
	bool imds_v1;             /* the service has no token endpoint */

	/* setup beside the batches: metadata requests, one at a time */
	struct http_req *side;
	enum step step;
	struct loop_timer timer; /* a retry after a failure, or the next refresh */
	int64_t retry_until;     /* monotonic: no setup before this */
	unsigned failures;
	bool announced;

	struct buf raw;  /* the LogGroup being sent, uncompressed */
	struct buf hdrs; /* its header lines, NUL-separated (http.c copies them) */
};

/* --- parameters ------------------------------------------------------------ */

static bool name_ok(const char *s, const char *extra)
{
	if (!*s || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

/* "<region>[-intranet|-internal|-vpc|-share].log.aliyuncs.com[:port]" -> region, else NULL. */
static char *region_of_host(const char *host)
{
	const char *end = strstr(host, ".log.aliyuncs.com");
	if (!end || end == host)
		return NULL;
	size_t n = (size_t)(end - host);
	static const char *const suffixes[] = { "-intranet", "-internal", "-vpc", "-share" };
	for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
		size_t l = strlen(suffixes[i]);
		if (n > l && strncmp(host + n - l, suffixes[i], l) == 0) {
			n -= l;
			break;
		}
	}
	char *r = xstrndup(host, n);
	if (!name_ok(r, "-")) {
		free(r);
		return NULL;
	}
	return r;
}

static bool host_is_address(const char *host)
{
	if (host[0] == '[' || str_starts(host, "localhost"))
		return true;
	size_t n = strcspn(host, ":");
	return strspn(host, "0123456789.") == n;
}

/* scheme://host[/...] or host[/...] (http, as upstream's SDK) into scheme + host. */
static int set_endpoint(struct sls *x, const char *scheme, const char *host, const char *what, char *err,
                        size_t errlen)
{
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(err, errlen, "%s: the endpoint must be http:// or https://", what);
		return -1;
	}
	size_t n = strcspn(host, "/?#");
	if (!n || n > 253) {
		snprintf(err, errlen, "%s: no endpoint host", what);
		return -1;
	}
	x->scheme = xstrdup(scheme);
	x->endpoint = xstrndup(host, n);
	return 0;
}

static int parse_endpoint(struct sls *x, struct uri *u, char *err, size_t errlen)
{
	if (u->host[0] && !str_ends(u->host, ".aliyuncs.com") && !strstr(u->host, ".aliyuncs.com:")) {
		if (u->userinfo[0]) {
			snprintf(err, errlen, "the SLS endpoint URL cannot carry user:password");
			return -1;
		}
		return set_endpoint(x, u->scheme, u->host, "the sink URL", err, errlen);
	}
	if (u->host[0])
		x->region_hint = region_of_host(u->host);
	const char *env = getenv("SLS_ENDPOINT");
	if (env && *env) {
		if (str_starts(env, "https://"))
			return set_endpoint(x, "https", env + 8, "SLS_ENDPOINT", err, errlen);
		return set_endpoint(x, "http", str_starts(env, "http://") ? env + 7 : env, "SLS_ENDPOINT",
		                    err, errlen);
	}
	return 0;
}

static int parse_labels(struct sls *x, struct uri *u, char *err, size_t errlen)
{
	const char *vals[MAX_LABELS + 1];
	size_t n = uri_get_all(u, "label", vals, MAX_LABELS + 1);
	if (n > MAX_LABELS) {
		snprintf(err, errlen, "label: given %zu times, at most %d", n, MAX_LABELS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *comma = strchr(vals[i], ',');
		if (!comma || strchr(comma + 1, ',')) { /* upstream: exactly one comma, else dropped */
			log_warn("sink %s: label \"%s\" is not key,value: ignored", x->sink->name, vals[i]);
			continue;
		}
		char *key = xstrndup(vals[i], (size_t)(comma - vals[i]));
		size_t j = 0;
		while (j < x->nlabels && strcmp(x->label_key[j], key) != 0)
			j++;
		if (j < x->nlabels) { /* a map upstream: the last value wins */
			free(key);
			free(x->label_value[j]);
		} else {
			x->label_key[x->nlabels++] = key;
		}
		x->label_value[j] = xstrdup(comma + 1);
	}
	return 0;
}

static const char *param_or_env(struct uri *u, const char *key, const char *env)
{
	const char *v = uri_get(u, key);
	if (v && *v)
		return v;
	v = getenv(env);
	return v && *v ? v : NULL;
}

static char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return xstrdup(v && *v ? v : def);
}

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct sls *x = xcalloc(1, sizeof *x);
	s->impl = x;
	x->sink = s;
	loop_timer_init(&x->timer, NULL, NULL);
	buf_init(&x->raw, MAX(s->cfg.batch_bytes, s->cfg.max_body) + 64 * 1024);
	buf_init(&x->hdrs, 64 * 1024);

	const char *project = uri_get(u, "project"), *store = uri_get(u, "logStore");
	if (!project || !*project) {
		snprintf(err, errlen, "project: please provide the SLS project name (project=)");
		return -1;
	}
	if (!name_ok(project, "-")) {
		snprintf(err, errlen, "project: \"%s\" is not an SLS project name (letters, digits, -)",
		         project);
		return -1;
	}
	if (!store || !*store) {
		snprintf(err, errlen, "logStore: please provide the SLS logstore name (logStore=)");
		return -1;
	}
	if (!name_ok(store, "-_")) {
		snprintf(err, errlen, "logStore: \"%s\" is not an SLS logstore name (letters, digits, -, _)",
		         store);
		return -1;
	}
	x->project = xstrdup(project);
	x->logstore = xstrdup(store);
	const char *v = uri_get(u, "topic");
	x->topic = xstrdup(v ? v : "");

	/* env RegionId beats the parameter, as upstream */
	const char *region = getenv("RegionId");
	const char *rwhat = "RegionId (environment)";
	if (!region || !*region) {
		region = uri_get(u, "regionId");
		rwhat = "regionId";
	}
	if (region && *region) {
		if (!name_ok(region, "-")) {
			snprintf(err, errlen, "%s: \"%s\" is not a region id (like cn-hangzhou)", rwhat,
			         region);
			return -1;
		}
		x->region = xstrdup(region);
	}
	x->internal = true;
	v = uri_get(u, "internal");
	if (v && parse_bool(v, &x->internal) < 0) /* upstream ignored bad values */
		log_warn("sink %s: internal=\"%s\" is not a boolean: using true", s->name, v);

	const char *id = param_or_env(u, "accessKeyId", "AccessKeyId");
	const char *secret = param_or_env(u, "accessKeySecret", "AccessKeySecret");
	if (!id != !secret) {
		snprintf(err, errlen,
		         "%s: an access key needs both accessKeyId and accessKeySecret "
		         "(or the env AccessKeyId and AccessKeySecret)",
		         id ? "accessKeySecret" : "accessKeyId");
		return -1;
	}
	if (id) {
		x->creds.id = xstrdup(id);
		x->creds.secret = xstrdup(secret);
		x->pair = true;
	}

	v = uri_get(u, "event_id");
	if (v && strcmp(v, "uid") != 0 && strcmp(v, "json") != 0) {
		snprintf(err, errlen, "event_id: \"%s\" must be json (upstream's: the whole event) or uid",
		         v);
		return -1;
	}
	x->uid_mode = v && strcmp(v, "uid") == 0;
	v = uri_get(u, "sign_version");
	if (v && strcmp(v, "v1") != 0 && strcmp(v, "v4") != 0) {
		snprintf(err, errlen, "sign_version: \"%s\" must be v4 or v1", v);
		return -1;
	}
	x->v1 = v && strcmp(v, "v1") == 0;

	if (s->cfg.batch_items > MAX_LOGS) {
		snprintf(err, errlen, "batch_size: at most %d (logs in one SLS PutLogs request)", MAX_LOGS);
		return -1;
	}
	if (s->cfg.batch_bytes > MAX_RAW - 64 * 1024) {
		snprintf(err, errlen, "batch_bytes: at most %d (SLS takes 5 MiB per request)",
		         MAX_RAW - 64 * 1024);
		return -1;
	}
	if (parse_labels(x, u, err, errlen) < 0 || parse_endpoint(x, u, err, errlen) < 0)
		return -1;
	if (!x->region && x->region_hint) { /* before asking the metadata service */
		x->region = x->region_hint;
		x->region_hint = NULL;
	}

	const char *meta = getenv("KE_SLS_METADATA_URL");
	if (!meta || !*meta)
		meta = getenv("ALIBABA_CLOUD_IMDS_ENDPOINT");
	x->meta_base = xstrdup(meta && *meta ? meta : META_DEFAULT);
	for (size_t n = strlen(x->meta_base); n && x->meta_base[n - 1] == '/';)
		x->meta_base[--n] = '\0';
	x->token_config = env_or("KE_SLS_TOKEN_CONFIG", TOKEN_CONFIG_DEFAULT);
	v = getenv("ALIBABA_CLOUD_ECS_METADATA");
	x->role = v && *v ? xstrdup(v) : NULL;
	return 0;
}

/* --- where and with what ---------------------------------------------------- */

static bool needs_region(const struct sls *x)
{
	return !x->v1 || !x->endpoint;
}

/* Usable keys: present, and not about to expire (a quarter of their life, at most 30 s, before). */
static bool creds_ok(const struct sls *x, int64_t wall)
{
	if (!x->creds.id)
		return false;
	if (!x->creds.expires_ms)
		return true;
	int64_t life = x->creds.expires_ms - x->fetched_ms;
	return wall < x->creds.expires_ms - MIN((int64_t)SAFETY_MS, life / 4);
}

static bool ready(const struct sls *x, int64_t wall)
{
	return (!needs_region(x) || x->region) && creds_ok(x, wall);
}

/* The URL and Host, once the region is known (when the endpoint comes from it). */
static void settle_endpoint(struct sls *x)
{
	if (x->url)
		return;
	if (!x->endpoint) {
		x->scheme = xstrdup("https");
		x->endpoint = xasprintf("%s%s.log.aliyuncs.com", x->region, x->internal ? "-intranet" : "");
	}
	char *host = xasprintf("%s.%s", x->project, x->endpoint);
	x->url = xasprintf("%s://%s/logstores/%s", x->scheme,
	                   host_is_address(x->endpoint) ? x->endpoint : host, x->logstore);
	x->host_hdr = xasprintf("Host: %s", host);
	free(host);
}

static const char *source_name(const struct sls *x)
{
	return x->src == CRED_PAIR   ? "the access key pair"
	       : x->src == CRED_FILE ? x->token_config
	                             : "the ECS RAM role";
}

/* New keys: kept, with when to refresh them (10 minutes early, or at half their remaining life). */
static void take_creds(struct sls *x, struct sls_creds *c, enum cred_src src)
{
	int64_t wall = now_wall_ms();
	bool first = !x->creds.id;
	sls_creds_free(&x->creds);
	x->creds = *c;
	memset(c, 0, sizeof *c);
	x->src = src;
	x->fetched_ms = wall;
	x->refresh_at_ms = 0;
	if (x->creds.expires_ms) {
		int64_t left = x->creds.expires_ms - wall;
		x->refresh_at_ms = wall + MAX(left - MIN((int64_t)REFRESH_EARLY_MS, left / 2), (int64_t)5000);
	}
	struct buf when = BUF_INIT(64);
	if (x->creds.expires_ms)
		gotime_format(&when, (struct ktime){ x->creds.expires_ms / 1000, 0 }, true,
		              ", valid until 2006-01-02T15:04:05Z");
	if (first)
		log_info("sink %s: credentials from %s%s", x->sink->name, source_name(x), buf_str(&when));
	else
		log_debug("sink %s: credentials refreshed from %s%s", x->sink->name, source_name(x),
		          buf_str(&when));
	buf_free(&when);
}

/* --- setup: region, credentials (metadata requests beside the batches) ------------ */

static void setup_next(struct sls *x);

static void on_timer(struct loop *l, void *ctx)
{
	(void)l;
	setup_next(ctx);
}

static void setup_failed(struct sls *x, const char *what)
{
	int64_t delay = MIN((int64_t)1000 << MIN(x->failures, 6u), (int64_t)60000);
	x->failures++;
	x->retry_until = now_mono_ms() + delay;
	log_warn("sink %s: %s; retrying in %llds", x->sink->name, what, (long long)delay / 1000);
	loop_timer_arm(x->sink->loop, &x->timer, delay);
}

/* Trimmed text of a metadata answer (its first line for a listing). */
static void first_line(const struct http_response *r, char *out, size_t n)
{
	const char *p = r->body;
	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	size_t l = strcspn(p, "\r\n");
	while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '/'))
		l--;
	snprintf(out, n, "%.*s", (int)MIN(l, n - 1), p);
}

static void on_meta(void *ctx, const struct http_response *r)
{
	struct sls *x = ctx;
	char what[256], text[256];
	x->side = NULL;
	static const char *const names[] = { "metadata token", "region from the ECS metadata",
		                             "RAM role name from the ECS metadata",
		                             "RAM role credentials from the ECS metadata" };
	if (x->step == STEP_IMDS_TOKEN && (r->status == 403 || r->status == 404 || r->status == 405)) {
		x->imds_v1 = true; /* no IMDSv2 here: plain GETs */
		setup_next(x);
		return;
	}
	if (r->status == 401 && x->imds_token && x->step != STEP_IMDS_TOKEN) {
		free(x->imds_token); /* the token expired: a new one, then again */
		x->imds_token = NULL;
		setup_next(x);
		return;
	}
	if (r->error || r->status != 200) {
		if (r->error)
			snprintf(what, sizeof what, "reading the %s (%s): %s", names[x->step], x->meta_base,
			         r->error_text);
		else if (x->step == STEP_ROLE && r->status == 404)
			snprintf(
			    what, sizeof what,
			    "no RAM role attached to this ECS instance (metadata 404): give accessKeyId and "
			    "accessKeySecret, or attach a role");
		else
			snprintf(what, sizeof what, "reading the %s: HTTP %ld", names[x->step], r->status);
		setup_failed(x, what);
		return;
	}
	first_line(r, text, sizeof text);
	switch (x->step) {
	case STEP_IMDS_TOKEN:
		free(x->imds_token);
		x->imds_token = xstrdup(text);
		x->imds_token_until = now_mono_ms() + (int64_t)IMDS_TTL_S * 800;
		break;
	case STEP_REGION:
		if (!name_ok(text, "-")) {
			setup_failed(x, "the ECS metadata region-id is not a region id");
			return;
		}
		x->region = xstrdup(text);
		log_info("sink %s: region %s (ECS metadata)", x->sink->name, x->region);
		break;
	case STEP_ROLE:
		if (!name_ok(text, "-_.@")) {
			setup_failed(x, "the ECS metadata names no RAM role");
			return;
		}
		x->role = xstrdup(text);
		break;
	case STEP_ROLE_CREDS: {
		struct sls_creds c;
		char err[200];
		if (sls_parse_role_creds(r->body, r->body_len, &c, err, sizeof err) < 0) {
			setup_failed(x, err);
			return;
		}
		take_creds(x, &c, CRED_ROLE);
		break;
	}
	}
	x->failures = 0;
	setup_next(x);
}

/* GET (or the token PUT) of a metadata path. */
static void meta_request(struct sls *x, enum step step)
{
	struct http_request q = { 0 };
	struct buf url = BUF_INIT(4096), hdr = BUF_INIT(4096);
	const char *headers[1];
	x->step = step;
	q.no_proxy = true; /* link-local: never through a proxy */
	q.timeout_ms = 10000;
	q.headers = headers;
	if (step == STEP_IMDS_TOKEN) {
		q.method = "PUT";
		buf_printf(&url, "%s/latest/api/token", x->meta_base);
		buf_printf(&hdr, "X-aliyun-ecs-metadata-token-ttl-seconds: %d", IMDS_TTL_S);
	} else {
		const char *path = step == STEP_REGION ? "region-id" : "ram/security-credentials/";
		buf_printf(&url, "%s/latest/meta-data/%s%s", x->meta_base, path,
		           step == STEP_ROLE_CREDS ? x->role : "");
		if (x->imds_token)
			buf_printf(&hdr, "X-aliyun-ecs-metadata-token: %s", x->imds_token);
	}
	if (hdr.len)
		headers[q.nheaders++] = buf_str(&hdr);
	q.url = buf_str(&url);
	x->side = sink_http_start(x->sink, &q, on_meta, x);
	buf_free(&url);
	buf_free(&hdr);
	if (!x->side)
		setup_failed(x, "cannot start a metadata request");
}

static void metadata(struct sls *x, enum step step)
{
	if (!x->imds_v1 && (!x->imds_token || now_mono_ms() >= x->imds_token_until))
		meta_request(x, STEP_IMDS_TOKEN);
	else
		meta_request(x, step);
}

/* ACK's token-config: read and decrypted here (a local file). 0, or -1 after setup_failed. */
static int read_token_config(struct sls *x)
{
	size_t n;
	char err[300];
	char *text = read_file(x->token_config, 64 * 1024, &n);
	if (!text) {
		snprintf(err, sizeof err, "cannot read %s", x->token_config);
		setup_failed(x, err);
		return -1;
	}
	struct sls_creds c;
	int r = sls_parse_token_config(text, n, &c, err, sizeof err);
	free(text);
	if (r == 0 && c.expires_ms <= now_wall_ms()) {
		sls_creds_free(&c);
		snprintf(err, sizeof err, "%s: the credentials in it have expired", x->token_config);
		r = -1;
	}
	if (r < 0) {
		char what[400];
		snprintf(what, sizeof what, "%s (%s)", err, x->token_config);
		setup_failed(x, what);
		return -1;
	}
	take_creds(x, &c, CRED_FILE);
	return 0;
}

/*
 * The next thing to set up: the region (when needed), then credentials
 * (when there are none, they are about to expire, or a refresh is due).
 * When all is there: the next refresh is timed and the sink kicked.
 */
static void setup_next(struct sls *x)
{
	struct sink *s = x->sink;
	int64_t wall = now_wall_ms();
	if (x->side)
		return;
	loop_timer_disarm(s->loop, &x->timer);
	if (needs_region(x) && !x->region) {
		metadata(x, STEP_REGION);
		return;
	}
	if (!x->pair &&
	    (!x->creds.id || (x->refresh_at_ms && wall >= x->refresh_at_ms) || !creds_ok(x, wall))) {
		struct stat st;
		if (stat(x->token_config, &st) == 0) {
			if (read_token_config(x) < 0)
				return;
		} else {
			metadata(x, x->role ? STEP_ROLE_CREDS : STEP_ROLE);
			return;
		}
	}
	x->failures = 0;
	x->retry_until = 0;
	if (x->refresh_at_ms)
		loop_timer_arm(s->loop, &x->timer, MAX(x->refresh_at_ms - wall, (int64_t)1000));
	settle_endpoint(x);
	if (!x->announced) {
		x->announced = true;
		log_info("sink %s: writing to project %s, logstore %s at %s", s->name, x->project,
		         x->logstore, x->url);
	}
	sink_kick(s);
}

/* Go on with the setup unless a request is in flight or a retry is pending. */
static void setup_kick(struct sls *x)
{
	if (!x->side && now_mono_ms() >= x->retry_until)
		setup_next(x);
}

static void start(struct sink *s)
{
	struct sls *x = s->impl;
	loop_timer_init(&x->timer, on_timer, x);
	if (x->pair)
		x->src = CRED_PAIR;
	setup_next(x);
}

/* --- logs ------------------------------------------------------------------ */

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct sls *x = s->impl;
	static struct buf indented = BUF_INIT(2 * EVENT_JSON_MAX);
	struct sls_content c[6 + MAX_LABELS];
	size_t n = 0;
	if (!ev->json_len) {
		snprintf(err, errlen, "the event is too large to store");
		return -1;
	}
	if (x->uid_mode) {
		c[n++] = (struct sls_content){ "eventId", ev->uid, strlen(ev->uid) };
		c[n++] = (struct sls_content){ "event", ev->json, ev->json_len };
	} else {
		buf_reset(&indented);
		buf_json_indent(&indented, ev->json, ev->json_len);
		c[n++] = (struct sls_content){ "eventId", buf_str(&indented), indented.len };
	}
	c[n++] = (struct sls_content){ "hostname", ev->source.host, strlen(ev->source.host) };
	c[n++] = (struct sls_content){ "level", ev->type, strlen(ev->type) };
	if (strcmp(ev->involved.kind, "Pod") == 0) {
		c[n++] = (struct sls_content){ "pod_id", ev->involved.uid, strlen(ev->involved.uid) };
		c[n++] = (struct sls_content){ "pod_name", ev->involved.name, strlen(ev->involved.name) };
	}
	for (size_t i = 0; i < x->nlabels; i++)
		c[n++] =
		    (struct sls_content){ x->label_key[i], x->label_value[i], strlen(x->label_value[i]) };
	uint32_t t = ev->eff_time.sec > 0 && ev->eff_time.sec <= UINT32_MAX ? (uint32_t)ev->eff_time.sec : 0;
	int r = sls_log_entry(out, t, c, n);
	if (indented.cap > 64 * 1024)
		buf_free(&indented);
	return r;
}

/* Header lines are written into x->hdrs, NUL-separated; offsets become pointers at the end. */
static void hdr(struct sls *x, size_t *off, size_t *n, const char *fmt, const char *v)
{
	off[(*n)++] = x->hdrs.len;
	buf_printf(&x->hdrs, fmt, v);
	buf_putc(&x->hdrs, '\0');
}

/* The value part of a header line we wrote ("Name: value"). */
static const char *value_of(const char *line)
{
	return strchr(line, ':') + 2;
}

static int prepare(struct sink *s, const struct sink_batch *b, struct sink_req *r, char *err, size_t errlen)
{
	struct sls *x = s->impl;
	int64_t wall = now_wall_ms();
	if (!ready(x, wall)) {
		setup_kick(x);
		return 1; /* setup_next kicks the sink */
	}
	if (!x->pair && x->refresh_at_ms && wall >= x->refresh_at_ms)
		setup_kick(x); /* early: these keys are still good meanwhile */
	settle_endpoint(x);

	buf_reset(&x->raw);
	if (sink_batch_concat(b, &x->raw) < 0 || sls_group_tail(&x->raw, x->topic, "") < 0 ||
	    sls_lz4(x->raw.data, x->raw.len, &r->scratch) < 0) {
		snprintf(err, errlen, "batch too large (%zu bytes)", x->raw.len);
		return -1;
	}
	size_t rawlen = x->raw.len;
	if (x->raw.cap > 256 * 1024)
		buf_free(&x->raw); /* the compressed copy is what travels: keep RSS low between bursts */
	struct buf t = BUF_INIT(128);
	char rawsize[32], digest[80] = "";
	snprintf(rawsize, sizeof rawsize, "%zu", rawlen);
	if (x->v1) {
		uint8_t d[16];
		md5(r->scratch.data, r->scratch.len, d);
		hex_encode(&t, d, 16, true);
		gotime_format(&t, (struct ktime){ wall / 1000, 0 }, true, " Mon, 02 Jan 2006 15:04:05 GMT");
	} else {
		uint8_t d[32];
		sha256(r->scratch.data, r->scratch.len, d);
		hex_encode(&t, d, 32, false);
		gotime_format(&t, (struct ktime){ wall / 1000, 0 }, true, " 20060102T150405Z");
	}
	size_t dl = strcspn(buf_str(&t), " ");
	snprintf(digest, sizeof digest, "%.*s", (int)dl, buf_str(&t));
	const char *date = buf_str(&t) + dl + 1;

	size_t off[16], n = 0;
	buf_reset(&x->hdrs);
	hdr(x, off, &n, "%s", x->host_hdr);
	hdr(x, off, &n, "Content-Type: %s", "application/x-protobuf");
	hdr(x, off, &n, "x-log-apiversion: %s", "0.6.0");
	hdr(x, off, &n, "x-log-compresstype: %s", "lz4");
	hdr(x, off, &n, "x-log-bodyrawsize: %s", rawsize);
	if (x->v1) {
		hdr(x, off, &n, "Date: %s", date);
		hdr(x, off, &n, "Content-MD5: %s", digest);
		hdr(x, off, &n, "x-log-signaturemethod: %s", "hmac-sha1");
	} else {
		hdr(x, off, &n, "x-log-date: %s", date);
		hdr(x, off, &n, "x-log-content-sha256: %s", digest);
	}
	if (x->creds.token)
		hdr(x, off, &n, "x-acs-security-token: %s", x->creds.token);
	size_t nsigned = n;
	hdr(x, off, &n, "%s", USER_AGENT);

	/* sign what we send: the header lines split into name and value */
	struct sls_kv kv[16];
	char names[16][64];
	for (size_t i = 0; i < nsigned; i++) {
		const char *line = x->hdrs.data + off[i];
		snprintf(names[i], sizeof names[i], "%.*s", (int)strcspn(line, ":"), line);
		kv[i] = (struct sls_kv){ names[i], value_of(line) };
	}
	struct buf auth = BUF_INIT(1024);
	char path[200];
	snprintf(path, sizeof path, "/logstores/%s", x->logstore);
	buf_puts(&auth, "Authorization: ");
	int sr = x->v1 ? sls_sign_v1(&auth, "POST", digest, "application/x-protobuf", date, kv, nsigned, path,
	                             x->creds.id, x->creds.secret)
	               : sls_sign_v4(&auth, "POST", path, NULL, 0, kv, nsigned, digest, date, x->region,
	                             x->creds.id, x->creds.secret, NULL);
	hdr(x, off, &n, "%s", buf_str(&auth));
	buf_free(&auth);
	buf_free(&t);
	if (sr < 0 || x->hdrs.overflow) {
		snprintf(err, errlen, "cannot sign the request");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		r->headers[i] = x->hdrs.data + off[i];
	r->http.nheaders = n;
	snprintf(r->url, sizeof r->url, "%s", x->url);
	r->http.url = r->url;
	r->http.method = "POST";
	r->http.body = r->scratch.data;
	r->http.body_len = r->scratch.len;
	r->http.capture_header = "x-log-requestid";
	return 0;
}

/* A header's value in the request as sent, or NULL. */
static const char *sent_header(const struct sink_req *rq, const char *name)
{
	size_t l = strlen(name);
	for (size_t i = 0; rq && i < rq->http.nheaders; i++)
		if (strncasecmp(rq->headers[i], name, l) == 0 && rq->headers[i][l] == ':')
			return value_of(rq->headers[i]);
	return NULL;
}

/* Mask every occurrence of secret in s (a server's message may echo what it was sent). */
static void mask(char *s, const char *secret)
{
	size_t l = secret ? strlen(secret) : 0;
	if (l < 4)
		return;
	for (char *p = strstr(s, secret); p; p = strstr(p + 3, secret)) {
		memmove(p + 3, p + l, strlen(p + l) + 1);
		memcpy(p, "***", 3);
	}
}

static bool is_code(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(code, *list) == 0)
			return true;
	return false;
}

static enum delivery classify(struct sink *s, const struct sink_req *rq, const struct http_response *r,
                              struct sink_batch *b, char *why, size_t n, int64_t *retry_after_ms)
{
	static const char *const busy[] = { "WriteQuotaExceed",
		                            "ShardWriteQuotaExceed",
		                            "ProjectQuotaExceed",
		                            "ServerBusy",
		                            "InternalServerError",
		                            "RequestTimeExpired",
		                            NULL };
	/* refusals of the request itself, whatever logs it carries */
	static const char *const whole[] = { "MissingContentLength",
		                             "InvalidContentType",
		                             "MissingContentType",
		                             "MissingBodyRawSize",
		                             "InvalidBodyRawSize",
		                             "InvalidCompressType",
		                             "MissingHost",
		                             "MissingDate",
		                             "InvalidDateFormat",
		                             "MissingAPIVersion",
		                             "InvalidAPIVersion",
		                             "MissAccessKeyId",
		                             "MissingSignatureMethod",
		                             "InvalidSignatureMethod",
		                             "InvalidRequestTime",
		                             NULL };
	struct sls *x = s->impl;
	enum delivery d;
	(void)retry_after_ms;
	if (r->error || (r->status >= 200 && r->status < 300)) {
		if (!sink_http_failed(r, &d, why, n)) {
			x->refetch_after_401 = false;
			return DELIVERY_OK;
		}
		return d;
	}
	char code[64], msg[200];
	sls_parse_error(r->body, r->body_len, code, sizeof code, msg, sizeof msg);
	if (!code[0] && !msg[0])
		snprintf(msg, sizeof msg, "%.120s", r->body);
	mask(msg, x->creds.secret);
	mask(msg, x->creds.token);
	const char *auth = sent_header(rq, "Authorization");
	if (auth && strstr(auth, "Signature="))
		mask(msg, strstr(auth, "Signature=") + 10);
	else if (auth && strchr(auth, ':'))
		mask(msg, strchr(auth, ':') + 1);
	const char *rid = r->captured && *r->captured ? r->captured : NULL;
	snprintf(why, n, "HTTP %ld %s: %s%s%s%s", r->status, code[0] ? code : "(no errorCode)", msg,
	         rid ? " (request id " : "", rid ? rid : "", rid ? ")" : "");

	if (is_code(code, busy))
		return DELIVERY_RETRY;
	if (r->status == 401 && !x->pair) {
		/* temporary keys: new ones once, then this is final */
		const char *used = sent_header(rq, "x-acs-security-token");
		bool current = !x->creds.token || (used && strcmp(used, x->creds.token) == 0);
		if (!current)
			return DELIVERY_RETRY; /* signed with older keys: send with the new ones */
		if (!x->refetch_after_401) {
			x->refetch_after_401 = true;
			x->creds.expires_ms = 1; /* unusable: prepare waits for new ones */
			x->refresh_at_ms = 1;
			return DELIVERY_RETRY;
		}
		return DELIVERY_DROP;
	}
	if (r->status == 413 || strcmp(code, "PostBodyTooLarge") == 0)
		return DELIVERY_SPLIT;
	if (r->status == 400 && !is_code(code, whole))
		return b->n > 1 ? DELIVERY_SPLIT : DELIVERY_DROP; /* a log in it: halve until it is alone */
	if (r->status == 408 || r->status == 429 || r->status >= 500)
		return DELIVERY_RETRY;
	return DELIVERY_DROP;
}

static void destroy(struct sink *s)
{
	struct sls *x = s->impl;
	if (!x)
		return;
	if (x->side)
		http_cancel(s->http, x->side);
	if (s->loop)
		loop_timer_disarm(s->loop, &x->timer);
	for (size_t i = 0; i < x->nlabels; i++) {
		free(x->label_key[i]);
		free(x->label_value[i]);
	}
	sls_creds_free(&x->creds);
	free(x->project);
	free(x->logstore);
	free(x->topic);
	free(x->scheme);
	free(x->endpoint);
	free(x->region);
	free(x->region_hint);
	free(x->url);
	free(x->host_hdr);
	free(x->meta_base);
	free(x->token_config);
	free(x->role);
	free(x->imds_token);
	buf_free(&x->raw);
	buf_free(&x->hdrs);
	free(x);
}

const struct sink_type sink_sls = {
	.name = "sls",
	.data = true,
	.whole_event = true,
	.default_batch = MAX_LOGS,
	.create = create,
	.render = render,
	.prepare = prepare,
	.classify = classify,
	.start = start,
	.destroy = destroy,
};
