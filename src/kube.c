/* kube.c -- API server configuration (in-cluster, kubeconfig, URL) and credentials. */
#include "kube.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "kubeconfig.h"
#include "log.h"
#include "uri.h"
#include "util.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define TOKEN_REREAD_MS 60000
#define EXEC_TIMEOUT_MS 30000
#define REFRESH_RETRY_MS 30000 /* after a failed refresh, keep the old token this long */

/*
 * An exec plugin run on a helper thread. Whoever finishes last frees it:
 * the thread, when kube_free() orphaned it meanwhile (it then owns the exec
 * configuration too), else kube.c when it collects the answer.
 */
enum { JOB_RUNNING, JOB_DONE, JOB_ORPHAN };

struct exec_job {
	struct kube_exec *x;
	_Atomic int state;
	int rc;
	char *token;
	int64_t expiry_ms;
	char err[512];
};

struct kube {
	char *server;             /* scheme://host[:port][/prefix], no trailing '/' */
	char *connect_host;       /* tls-server-name: URL host to verify against */
	struct kube_auth auth;    /* kubeconfig or in-cluster material */
	char *sa_token_file;      /* useServiceAccount / in-cluster */
	char *token;              /* current bearer token */
	int64_t token_read_ms;    /* when token was (re)read */
	int64_t token_expiry_ms;  /* exec plugin expiry (wall), 0 = none */
	bool refresh;             /* forced by a 401 */
	int64_t refresh_after_ms; /* no refresh before this (a failed one keeps the old token) */
	struct exec_job *job;     /* an exec plugin running, or done and not collected */
	char *namespace, *field_selector;
	int watch_timeout_s;
	char describe[512];
};

static const char *sa_dir(void)
{
	/* Overridable for tests and unusual mounts. */
	const char *d = getenv("KUBE_EVENTER_SERVICEACCOUNT_DIR");
	return d && *d ? d : SA_DIR;
}

/* Re-read the token file (a failure keeps the old token: see kube_prepare). */
static int read_token_file(struct kube *k, const char *path, char *err, size_t errlen)
{
	const char *why;
	char *t = kube_token_file_read(path, &why);
	if (!t) {
		snprintf(err, errlen, "token file %s: %s", path, why);
		return -1;
	}
	free(k->token);
	k->token = t;
	k->token_read_ms = now_mono_ms();
	return 0;
}

static void *exec_thread(void *arg)
{
	struct exec_job *j = arg;
	j->rc = kube_exec_run(j->x, EXEC_TIMEOUT_MS, &j->token, &j->expiry_ms, j->err, sizeof j->err);
	if (atomic_exchange(&j->state, JOB_DONE) == JOB_ORPHAN) {
		free(j->token);
		kube_exec_free(j->x);
		free(j);
	}
	return NULL;
}

/* Run the exec plugin off the loop: KUBE_PENDING until its answer is in, then 0 or -1. */
static int refresh_exec(struct kube *k, char *err, size_t errlen)
{
	struct exec_job *j = k->job;
	if (!j) {
		j = xcalloc(1, sizeof *j);
		j->x = k->auth.exec;
		atomic_init(&j->state, JOB_RUNNING);
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		int r = pthread_create(&t, &a, exec_thread, j);
		pthread_attr_destroy(&a);
		if (r != 0) {
			free(j);
			snprintf(err, errlen, "exec plugin %s: no thread to run it", k->auth.exec->command);
			return -1;
		}
		k->job = j;
		return KUBE_PENDING;
	}
	if (atomic_load(&j->state) == JOB_RUNNING)
		return KUBE_PENDING;
	k->job = NULL;
	int rc = j->rc;
	if (rc == 0) {
		free(k->token);
		k->token = j->token;
		k->token_expiry_ms = j->expiry_ms;
		k->token_read_ms = now_mono_ms();
	} else {
		snprintf(err, errlen, "%s", j->err);
		free(j->token);
	}
	free(j);
	return rc;
}

static int refresh_token(struct kube *k, char *err, size_t errlen)
{
	const char *file = k->auth.token_file ? k->auth.token_file : k->sa_token_file;
	if (k->auth.exec)
		return refresh_exec(k, err, errlen);
	if (file)
		return read_token_file(k, file, err, errlen);
	return 0;
}

static bool token_due(const struct kube *k)
{
	if (k->token && now_mono_ms() < k->refresh_after_ms)
		return false;
	if (k->refresh)
		return true;
	if (k->auth.exec)
		return !k->token || (k->token_expiry_ms && now_wall_ms() > k->token_expiry_ms - 10000);
	if (k->auth.token_file || k->sa_token_file)
		return !k->token || now_mono_ms() - k->token_read_ms >= TOKEN_REREAD_MS;
	return false;
}

static char *join_host_port(const char *host, const char *port)
{
	bool v6 = strchr(host, ':') != NULL;
	return xasprintf("https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

static int in_cluster(struct kube *k, struct uri *u, char *err, size_t errlen)
{
	const char *dir = sa_dir();
	char *ca = xasprintf("%s/ca.crt", dir);
	k->sa_token_file = xasprintf("%s/token", dir);
	if (!u->host[0]) {
		const char *h = getenv("KUBERNETES_SERVICE_HOST");
		const char *p = getenv("KUBERNETES_SERVICE_PORT");
		if (!h || !*h || !p || !*p) {
			snprintf(
			    err, errlen,
			    "in-cluster configuration: KUBERNETES_SERVICE_HOST/_PORT are not set and the "
			    "source URL names no server (use --source=kubernetes:https://HOST:PORT, or "
			    "inClusterConfig=false with a kubeconfig)");
			free(ca);
			return -1;
		}
		k->server = join_host_port(h, p);
	}
	if (access(ca, R_OK) == 0)
		k->auth.ca_file = ca;
	else
		free(ca);
	return read_token_file(k, k->sa_token_file, err, errlen);
}

int kube_new(struct uri *u, struct kube **out, char *err, size_t errlen)
{
	struct kube *k = xcalloc(1, sizeof *k);
	bool inc = true, insecure = false, use_sa = false;
	const char *v;
	char e[600];

	*out = NULL;
	const char *kubeconfig = uri_get(u, "auth");
	if (!kubeconfig || !*kubeconfig)
		kubeconfig = uri_get(u, "localKubeConfig");
	if (kubeconfig && !*kubeconfig)
		kubeconfig = NULL;
	v = uri_get(u, "inClusterConfig");
	if (v && parse_bool(v, &inc) < 0) {
		snprintf(err, errlen, "--source: inClusterConfig: \"%s\" is not a boolean", v);
		goto fail;
	}
	if (!v && kubeconfig)
		inc = false; /* a kubeconfig was named: use it */
	v = uri_get(u, "insecure");
	if (v && parse_bool(v, &insecure) < 0) {
		snprintf(err, errlen, "--source: insecure: \"%s\" is not a boolean", v);
		goto fail;
	}
	v = uri_get(u, "useServiceAccount");
	if (v && parse_bool(v, &use_sa) < 0) {
		snprintf(err, errlen, "--source: useServiceAccount: \"%s\" is not a boolean", v);
		goto fail;
	}
	v = uri_get(u, "namespace");
	k->namespace = v && *v ? xstrdup(v) : NULL;
	v = uri_get(u, "fieldSelector");
	k->field_selector = v && *v ? xstrdup(v) : NULL;
	const char *context = uri_get(u, "context");
	v = uri_get(u, "watchTimeout");
	if (v) {
		int64_t ms;
		if (parse_duration_ms(v, &ms) < 0 || ms < 1000 || ms > 3600000) {
			snprintf(err, errlen,
			         "--source: watchTimeout: \"%s\" must be a duration from 1s to 1h", v);
			goto fail;
		}
		k->watch_timeout_s = (int)(ms / 1000);
	}

	if (u->host[0]) {
		const char *scheme = u->scheme[0] ? u->scheme : "https";
		if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
			snprintf(err, errlen, "--source: scheme must be https or http, got \"%s\"", scheme);
			goto fail;
		}
		k->server = xasprintf("%s://%s%s", scheme, u->host, strcmp(u->path, "/") ? u->path : "");
	}

	const char *mode;
	if (inc) {
		mode = "in-cluster";
		if (in_cluster(k, u, e, sizeof e) < 0) {
			snprintf(err, errlen, "--source: %s", e);
			goto fail;
		}
	} else if (kubeconfig || getenv("KUBECONFIG")) {
		mode = "kubeconfig";
		if (kubeconfig_load(kubeconfig, context, &k->auth, e, sizeof e) < 0) {
			snprintf(err, errlen, "--source: %s", e);
			goto fail;
		}
		if (!k->server && k->auth.server)
			k->server = xstrdup(k->auth.server);
		if (k->auth.token)
			k->token = xstrdup(k->auth.token);
		if (k->auth.token_file && refresh_token(k, e, sizeof e) < 0) {
			snprintf(err, errlen, "--source: %s", e);
			goto fail;
		}
	} else {
		mode = "URL";
	}
	if (use_sa && !k->sa_token_file) {
		char *path = xasprintf("%s/token", sa_dir());
		if (access(path, R_OK) == 0) {
			k->sa_token_file = path;
			read_token_file(k, path, e, sizeof e);
		} else {
			free(path);
		}
	}
	if (insecure)
		k->auth.insecure = true;
	if (!k->server || !k->server[0]) {
		snprintf(err, errlen, "--source: invalid kubernetes master url specified (no server)");
		goto fail;
	}
	size_t sl = strlen(k->server);
	while (sl && k->server[sl - 1] == '/')
		k->server[--sl] = '\0';
	if (k->auth.tls_server_name && *k->auth.tls_server_name)
		k->connect_host = xstrdup(k->auth.tls_server_name);
	char server[512]; /* a user:password@ in the URL must not reach the log */
	snprintf(k->describe, sizeof k->describe, "%s (%s%s%s%s)",
	         log_redact_url(k->server, server, sizeof server), mode,
	         k->auth.insecure ? ", TLS verification OFF" : "", k->namespace ? ", namespace " : "",
	         k->namespace ? k->namespace : "");
	*out = k;
	return 0;
fail:
	kube_free(k);
	return -1;
}

void kube_free(struct kube *k)
{
	if (!k)
		return;
	if (k->job) {
		if (atomic_exchange(&k->job->state, JOB_ORPHAN) == JOB_DONE) {
			free(k->job->token);
			free(k->job);
		} else {
			k->auth.exec = NULL; /* the thread frees it, and the job, when it ends */
		}
	}
	free(k->server);
	free(k->connect_host);
	kube_auth_free(&k->auth);
	free(k->sa_token_file);
	free(k->token);
	free(k->namespace);
	free(k->field_selector);
	free(k);
}

void kube_unauthorized(struct kube *k)
{
	k->refresh = true;
}

const char *kube_server(const struct kube *k)
{
	return k->server;
}

const char *kube_namespace(const struct kube *k)
{
	return k->namespace;
}

const char *kube_field_selector(const struct kube *k)
{
	return k->field_selector;
}

int kube_watch_timeout(const struct kube *k)
{
	return k->watch_timeout_s;
}

const char *kube_describe(const struct kube *k)
{
	return k->describe;
}

/* Split "scheme://host[:port]rest" for CONNECT_TO with a tls-server-name. */
static void connect_to(const struct kube *k, struct kube_req *r, const char *path)
{
	const char *s = strstr(k->server, "://") + 3;
	const char *end = s + strcspn(s, "/");
	const char *port_sep = NULL;
	if (*s == '[') {
		const char *rb = memchr(s, ']', (size_t)(end - s));
		port_sep = rb && rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		port_sep = memchr(s, ':', (size_t)(end - s));
	}
	const char *hend = port_sep ? port_sep : end;
	const char *port = port_sep ? port_sep + 1 : (str_starts(k->server, "https") ? "443" : "80");
	int plen = port_sep ? (int)(end - port) : (int)strlen(port);
	snprintf(r->url, sizeof r->url, "%.*s%s:%.*s%s%s", (int)(s - k->server), k->server, k->connect_host,
	         plen, port, end, path);
	snprintf(r->connect_to, sizeof r->connect_to, "%s:%.*s:%.*s:%.*s", k->connect_host, plen, port,
	         (int)(hend - s), s, plen, port);
	r->http.connect_to = r->connect_to;
}

int kube_prepare(struct kube *k, const char *path, struct kube_req *r, char *err, size_t errlen)
{
	memset(&r->http, 0, sizeof r->http);
	if (token_due(k) || k->job) {
		int rc = refresh_token(k, err, errlen);
		if (rc == KUBE_PENDING) {
			/* the plugin runs: go on with the token there is, unless the
			 * server refused it (a 401) or there is none */
			if (!k->token || k->refresh)
				return KUBE_PENDING;
		} else {
			if (rc < 0) {
				if (!k->token)
					return -1;
				/* do not re-run a failing plugin (or re-read a file) per request */
				log_warn("%s; using the previous token, next attempt in %ds", err,
				         REFRESH_RETRY_MS / 1000);
				k->refresh_after_ms = now_mono_ms() + REFRESH_RETRY_MS;
			}
			k->refresh = false;
		}
	}
	if (k->connect_host) {
		connect_to(k, r, path);
	} else {
		int n = snprintf(r->url, sizeof r->url, "%s%s", k->server, path);
		if (n < 0 || (size_t)n >= sizeof r->url) {
			snprintf(err, errlen, "request URL too long");
			return -1;
		}
	}
	r->http.url = r->url;
	r->http.nheaders = 0;
	r->http.headers = r->headers;
	r->headers[r->http.nheaders++] = "Accept: application/json";
	if (k->token && *k->token) {
		snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s", k->token);
		r->headers[r->http.nheaders++] = r->auth;
	}
	struct http_tls *t = &r->http.tls;
	t->insecure = k->auth.insecure;
	t->ca_file = k->auth.ca_file;
	t->ca_pem = k->auth.ca_pem;
	t->ca_pem_len = k->auth.ca_pem_len;
	t->cert_file = k->auth.cert_file;
	t->cert_pem = k->auth.cert_pem;
	t->cert_pem_len = k->auth.cert_pem_len;
	t->key_file = k->auth.key_file;
	t->key_pem = k->auth.key_pem;
	t->key_pem_len = k->auth.key_pem_len;
	r->http.proxy = k->auth.proxy_url;
	r->http.connect_timeout_ms = 10000;
	return 0;
}
