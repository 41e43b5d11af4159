/* http.c -- libcurl multi-socket requests driven by the event loop. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#define POOL_MAX 16
#define DEFAULT_MAX_BODY (64 * 1024)

struct http_req {
	struct http *h;
	CURL *easy;
	struct curl_slist *hdrs;
	struct curl_slist *connect_to;
	struct buf resp;
	http_data_cb on_data;
	http_done_cb on_done;
	void *ctx;
	bool truncated;
	bool aborted;
	bool paused; /* flow control: take no more data (http_pause) */
	bool held;   /* ... and curl holds a chunk we refused (CURL_WRITEFUNC_PAUSE) */
	char errbuf[CURL_ERROR_SIZE];
	char errtext[CURL_ERROR_SIZE + 128];
	struct http_req *next; /* active list */
	struct http_req *prev;
};

struct http {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer timer;
	struct http_req *active;
	size_t nactive;
	CURL *pool[POOL_MAX];
	size_t npool;
	char user_agent[64];
};

static const char *default_ca;
static bool default_ca_probed;

const char *http_default_ca(void)
{
	static const char *const paths[] = {
		"/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine, our image */
		"/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
		"/etc/ssl/ca-bundle.pem",             /* openSUSE */
		"/etc/pki/tls/cacert.pem",
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		"/etc/ssl/cert.pem", /* Alpine, BSD */
	};
	if (default_ca_probed)
		return default_ca;
	default_ca_probed = true;
	const char *env = getenv("SSL_CERT_FILE");
	if (env && *env) {
		default_ca = env;
		return default_ca;
	}
	for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
		if (access(paths[i], R_OK) == 0) {
			default_ca = paths[i];
			break;
		}
	}
	return default_ca;
}

/* --- proxies, Go's ProxyFromEnvironment rules --------------------------- */

static const char *env2(const char *a, const char *b)
{
	const char *v = getenv(a);
	if (!v || !*v)
		v = getenv(b);
	return v && *v ? v : NULL;
}

/* Host (no brackets, no port) and port of an http(s) URL. */
static void url_host(const char *url, char *host, size_t n, int *port)
{
	const char *p = strstr(url, "://");
	bool https = strncasecmp(url, "https", 5) == 0;
	*port = https ? 443 : 80;
	host[0] = '\0';
	if (!p)
		return;
	p += 3;
	const char *end = p + strcspn(p, "/?#");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	const char *hend;
	if (*p == '[') {
		p++;
		hend = memchr(p, ']', (size_t)(end - p));
		if (!hend)
			hend = end;
	} else {
		hend = memchr(p, ':', (size_t)(end - p));
		if (!hend)
			hend = end;
	}
	snprintf(host, n, "%.*s", (int)(hend - p), p);
	const char *colon = memchr(hend, ':', (size_t)(end - hend));
	if (colon) {
		int64_t v;
		if (parse_i64(colon + 1, (size_t)(end - colon - 1), &v) == 0 && v > 0 && v < 65536)
			*port = (int)v;
	}
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
}

static bool ip_in_cidr(const char *host, const char *cidr, size_t clen)
{
	char net[64];
	const char *slash = memchr(cidr, '/', clen);
	if (!slash || (size_t)(slash - cidr) >= sizeof net)
		return false;
	snprintf(net, sizeof net, "%.*s", (int)(slash - cidr), cidr);
	int64_t bits;
	if (parse_i64(slash + 1, clen - (size_t)(slash - cidr) - 1, &bits) < 0)
		return false;
	unsigned char a[16], b[16];
	size_t len;
	if (inet_pton(AF_INET, host, a) == 1 && inet_pton(AF_INET, net, b) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, host, a) == 1 && inet_pton(AF_INET6, net, b) == 1)
		len = 16;
	else
		return false;
	if (bits < 0 || bits > (int64_t)len * 8)
		return false;
	for (int64_t i = 0; i < bits; i++) {
		int byte = (int)(i / 8), bit = 7 - (int)(i % 8);
		if (((a[byte] >> bit) & 1) != ((b[byte] >> bit) & 1))
			return false;
	}
	return true;
}

static bool no_proxy_match(const char *host, int port, const char *list)
{
	const char *p = list;
	size_t hl = strlen(host);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		const char *e = p + n;
		while (e > p && e[-1] == ' ')
			e--;
		size_t l = (size_t)(e - p);
		if (l == 1 && *p == '*')
			return true;
		char entry[256];
		if (l && l < sizeof entry) {
			snprintf(entry, sizeof entry, "%.*s", (int)l, p);
			/* optional :port on a name entry */
			char *colon = strrchr(entry, ':');
			int eport = 0;
			if (colon && !strchr(entry, ']') && strchr(entry, ':') == colon) {
				int64_t v;
				if (parse_i64(colon + 1, strlen(colon + 1), &v) == 0)
					eport = (int)v;
				*colon = '\0';
			}
			char *name = entry;
			if (*name == '[') {
				name++;
				char *rb = strchr(name, ']');
				if (rb)
					*rb = '\0';
			}
			size_t nl = strlen(name);
			bool match;
			if (strchr(name, '/'))
				match = ip_in_cidr(host, name, nl);
			else if (name[0] == '.')
				match = hl > nl && strcasecmp(host + hl - nl, name) == 0;
			else
				match =
				    strcasecmp(host, name) == 0 || (hl > nl && host[hl - nl - 1] == '.' &&
				                                    strcasecmp(host + hl - nl, name) == 0);
			if (match && (!eport || eport == port))
				return true;
		}
		p += n;
	}
	return false;
}

const char *http_proxy_for(const char *url, char *out, size_t n)
{
	char host[256];
	int port;
	unsigned char ip[16];
	out[0] = '\0';
	url_host(url, host, sizeof host, &port);
	if (!host[0] || strcmp(host, "localhost") == 0)
		return out;
	if (inet_pton(AF_INET, host, ip) == 1 && ip[0] == 127)
		return out;
	if (inet_pton(AF_INET6, host, ip) == 1 && memcmp(ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0)
		return out;
	bool https = strncasecmp(url, "https:", 6) == 0;
	const char *proxy = https ? env2("HTTPS_PROXY", "https_proxy") : env2("HTTP_PROXY", "http_proxy");
	if (!proxy)
		return out;
	const char *np = env2("NO_PROXY", "no_proxy");
	if (np && no_proxy_match(host, port, np))
		return out;
	snprintf(out, n, "%s", proxy);
	return out;
}

/*
 * curl is built without its message table (--disable-verbose keeps the
 * binary small): our own words for the transport errors operators see.
 */
static const char *error_name(CURLcode code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_PROXY:
		return "cannot resolve the proxy";
	case CURLE_COULDNT_RESOLVE_HOST:
		return "cannot resolve the host";
	case CURLE_COULDNT_CONNECT:
		return "connection refused or unreachable";
	case CURLE_OPERATION_TIMEDOUT:
		return "timed out";
	case CURLE_SSL_CONNECT_ERROR:
		return "TLS handshake failed";
	case CURLE_PEER_FAILED_VERIFICATION:
		return "TLS certificate not trusted";
	case CURLE_SSL_CACERT_BADFILE:
		return "cannot load the CA bundle";
	case CURLE_SSL_CERTPROBLEM:
		return "bad client certificate";
	case CURLE_RECV_ERROR:
		return "connection lost while receiving";
	case CURLE_SEND_ERROR:
		return "connection lost while sending";
	case CURLE_GOT_NOTHING:
		return "the server closed the connection without answering";
	case CURLE_PARTIAL_FILE:
		return "the response ended early";
	case CURLE_WRITE_ERROR:
		return "response rejected";
	case CURLE_TOO_MANY_REDIRECTS:
		return "too many redirects";
	case CURLE_URL_MALFORMAT:
		return "malformed URL";
	case CURLE_UNSUPPORTED_PROTOCOL:
		return "unsupported protocol";
	default:
		return "transfer failed";
	}
}

/* --- loop integration ---------------------------------------------------- */

static void check_done(struct http *h);

static void on_fd(struct loop *l, int fd, int events, void *ctx)
{
	struct http *h = ctx;
	int running, flags = 0;
	(void)l;
	if (events & LOOP_READ)
		flags |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & LOOP_ERROR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	check_done(h);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	(void)e;
	(void)socketp;
	int ev = what == CURL_POLL_IN      ? LOOP_READ
	         : what == CURL_POLL_OUT   ? LOOP_WRITE
	         : what == CURL_POLL_INOUT ? LOOP_READ | LOOP_WRITE
	                                   : 0;
	if (!ev) {
		/* Usually a keep-alive connection between two requests: parked, the
		 * next request watches it again without two epoll_ctl calls.
		 * on_close unregisters it for good. */
		loop_fd_park(h->loop, s);
		return 0;
	}
	if (loop_fd(h->loop, s, ev, on_fd, h) < 0)
		log_warn("http: cannot watch socket %d", (int)s);
	return 0;
}

/* curl closes its sockets through here: a parked fd leaves the loop first. */
static int on_close(void *userp, curl_socket_t s)
{
	struct http *h = userp;
	loop_fd(h->loop, s, 0, NULL, NULL);
	return close(s);
}

static void on_timer_fire(struct loop *l, void *ctx)
{
	struct http *h = ctx;
	int running;
	(void)l;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct http *h = userp;
	(void)m;
	if (timeout_ms < 0)
		loop_timer_disarm(h->loop, &h->timer);
	else
		loop_timer_arm(h->loop, &h->timer, timeout_ms);
	return 0;
}

/*
 * libcurl allocates and frees a few dozen small blocks per request, and a
 * 64 KiB send buffer for each one. Under musl's allocator that churn keeps
 * mapping and unmapping pages (an mmap/munmap pair every few requests, the
 * munmap alone ~40 us on a VM). A small cache of freed blocks keeps the hot
 * sizes out of the allocator: 16-byte classes up to 1 KiB, at most 32 blocks
 * each (512 KiB worst case), plus up to CC_BIG larger blocks of at most
 * CC_BIG_MAX bytes reused on an exact size match (curl's buffer sizes are
 * constants). One thread: no locking.
 *
 * Each block starts with a CC_HDR-byte tag: its class (< CC_CLASSES) for a
 * small block, else its exact size (always >= CC_CLASSES * 16).
 */
#define CC_CLASSES 64
#define CC_KEEP 32
#define CC_HDR 16
#define CC_BIG 4
#define CC_BIG_MAX (128 * 1024)

static struct {
	void *head[CC_CLASSES];
	unsigned n[CC_CLASSES];
	char *big[CC_BIG];
	unsigned nbig;
} cc;

static void *cc_malloc(size_t n)
{
	size_t cls = (n + 15) / 16;
	if (cls < CC_CLASSES && cc.head[cls]) {
		char *p = cc.head[cls];
		cc.head[cls] = *(void **)(void *)(p + CC_HDR);
		cc.n[cls]--;
		return p + CC_HDR;
	}
	size_t tag = cls < CC_CLASSES ? cls : n;
	if (cls >= CC_CLASSES) {
		for (unsigned i = 0; i < cc.nbig; i++) {
			if (*(size_t *)(void *)cc.big[i] == n) {
				char *p = cc.big[i];
				cc.big[i] = cc.big[--cc.nbig];
				return p + CC_HDR;
			}
		}
	}
	char *p = malloc((cls < CC_CLASSES ? cls * 16 : n) + CC_HDR);
	if (!p)
		return NULL;
	*(size_t *)(void *)p = tag;
	return p + CC_HDR;
}

static void cc_free(void *ptr)
{
	if (!ptr)
		return;
	char *p = (char *)ptr - CC_HDR;
	size_t tag = *(size_t *)(void *)p;
	if (tag && tag < CC_CLASSES && cc.n[tag] < CC_KEEP) {
		*(void **)(void *)(p + CC_HDR) = cc.head[tag];
		cc.head[tag] = p;
		cc.n[tag]++;
		return;
	}
	if (tag >= CC_CLASSES && tag <= CC_BIG_MAX && cc.nbig < CC_BIG) {
		cc.big[cc.nbig++] = p;
		return;
	}
	free(p);
}

static void *cc_calloc(size_t a, size_t b)
{
	if (b && a > SIZE_MAX / b)
		return NULL;
	void *p = cc_malloc(a * b);
	if (p)
		memset(p, 0, a * b);
	return p;
}

static void *cc_realloc(void *ptr, size_t n)
{
	if (!ptr)
		return cc_malloc(n);
	char *p = (char *)ptr - CC_HDR;
	size_t tag = *(size_t *)(void *)p;
	size_t have = tag < CC_CLASSES ? tag * 16 : tag;
	if (tag && tag < CC_CLASSES && (n + 15) / 16 <= tag)
		return ptr; /* still fits its class */
	void *q = cc_malloc(n);
	if (q) {
		memcpy(q, ptr, have < n ? have : n);
		cc_free(ptr);
	}
	return q;
}

static char *cc_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = cc_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

struct http *http_new(struct loop *l)
{
	static bool global;
	if (!global) {
		if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, cc_malloc, cc_free, cc_realloc, cc_strdup,
		                         cc_calloc) != CURLE_OK)
			return NULL;
		global = true;
	}
	struct http *h = xcalloc(1, sizeof *h);
	h->loop = l;
	h->multi = curl_multi_init();
	loop_timer_init(&h->timer, on_timer_fire, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	snprintf(h->user_agent, sizeof h->user_agent, "kube-eventer/%s", KE_VERSION);
	return h;
}

static void req_unlink(struct http *h, struct http_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		h->active = q->next;
	if (q->next)
		q->next->prev = q->prev;
	h->nactive--;
}

/* Detach from the multi handle, return the easy handle to the pool, free q. */
static void req_release(struct http *h, struct http_req *q)
{
	curl_multi_remove_handle(h->multi, q->easy);
	if (h->npool < POOL_MAX) {
		curl_easy_reset(q->easy);
		h->pool[h->npool++] = q->easy;
	} else {
		curl_easy_cleanup(q->easy);
	}
	curl_slist_free_all(q->hdrs);
	curl_slist_free_all(q->connect_to);
	buf_free(&q->resp);
	free(q);
}

void http_free(struct http *h)
{
	if (!h)
		return;
	while (h->active) {
		struct http_req *q = h->active;
		req_unlink(h, q);
		req_release(h, q);
	}
	for (size_t i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	loop_timer_disarm(h->loop, &h->timer);
	curl_multi_cleanup(h->multi);
	free(h);
}

size_t http_active(const struct http *h)
{
	return h->nactive;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct http_req *q = ctx;
	size_t n = size * nmemb;
	if (q->on_data) {
		if (q->paused) {
			q->held = true;
			return CURL_WRITEFUNC_PAUSE; /* curl keeps p and stops reading */
		}
		long status = 0;
		curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
		if (q->on_data(q->ctx, status, p, n) < 0) {
			q->aborted = true;
			return 0;
		}
		return n;
	}
	if (!q->truncated && buf_append(&q->resp, p, n) < 0) {
		q->truncated = true;
		return 0; /* stop reading a body we would not keep */
	}
	return n;
}

/* Streaming requests learn the status as soon as the headers are in. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct http_req *q = ctx;
	size_t n = size * nmemb;
	if (q->on_data && (n == 2 && p[0] == '\r' && p[1] == '\n')) {
		long status = 0;
		curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && q->on_data(q->ctx, status, "", 0) < 0) {
			q->aborted = true;
			return 0;
		}
	}
	return n;
}

static void check_done(struct http *h)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct http_req *q = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (!q)
			continue;
		CURLcode code = m->data.result;
		struct http_response r = { 0 };
		curl_off_t ra = -1, tt = 0;
		curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_getinfo(q->easy, CURLINFO_RETRY_AFTER, &ra);
		curl_easy_getinfo(q->easy, CURLINFO_TOTAL_TIME_T, &tt);
		/* curl reports 0 both for no header and for "Retry-After: 0": treat both as absent */
		r.retry_after_ms = ra > 0 ? (int64_t)ra * 1000 : -1;
		r.total_us = (int64_t)tt;
		r.body = buf_str(&q->resp);
		r.body_len = q->resp.len;
		r.body_truncated = q->truncated;
		if (code == CURLE_WRITE_ERROR && q->truncated)
			code = CURLE_OK; /* we stopped reading on purpose */
		if (code != CURLE_OK) {
			r.error = (int)code;
			r.timed_out = code == CURLE_OPERATION_TIMEDOUT;
			/* curl's generic description, with its detail when it has one */
			size_t n = strlen(q->errbuf);
			while (n && (q->errbuf[n - 1] == ' ' || q->errbuf[n - 1] == ';' ||
			             q->errbuf[n - 1] == '\n'))
				q->errbuf[--n] = '\0';
			snprintf(q->errtext, sizeof q->errtext, "%s%s%s%s", error_name(code), n ? " (" : "",
			         q->errbuf, n ? ")" : "");
			r.error_text = q->aborted ? "aborted by receiver" : q->errtext;
		}
		req_unlink(h, q);
		/* Keep q alive during the callback (body points into it). */
		q->on_done(q->ctx, &r);
		req_release(h, q);
	}
}

static CURL *easy_get(struct http *h)
{
	if (h->npool)
		return h->pool[--h->npool];
	return curl_easy_init();
}

struct http_req *http_start(struct http *h, const struct http_request *r, http_data_cb on_data,
                            http_done_cb on_done, void *ctx)
{
	struct http_req *q = xcalloc(1, sizeof *q);
	char proxy[512];
	q->h = h;
	q->easy = easy_get(h);
	q->on_data = on_data;
	q->on_done = on_done;
	q->ctx = ctx;
	buf_init(&q->resp, r->max_body ? r->max_body : DEFAULT_MAX_BODY);
	if (!q->easy) {
		free(q);
		return NULL;
	}
	CURL *e = q->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	if (on_data) {
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	}
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
	curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(r->connect_timeout_ms ? r->connect_timeout_ms : 10000));
	if (r->timeout_ms)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	if (r->connect_to) {
		/* curl keeps the pointer: the list lives as long as the request */
		q->connect_to = curl_slist_append(NULL, r->connect_to);
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, q->connect_to);
	}
	if (!r->proxy)
		http_proxy_for(r->url, proxy, sizeof proxy);
	curl_easy_setopt(e, CURLOPT_PROXY, r->no_proxy ? "" : r->proxy ? r->proxy : proxy);
	/* NO_PROXY was applied above (proxy-url ignores it, as in client-go):
	 * curl must not apply it again, nor read the environment per request */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "");

	/* headers: the caller's, then ours (no "Expect: 100-continue", no form Content-Type default) */
	struct curl_slist *hl = NULL;
	bool has_ct = false;
	for (size_t i = 0; i < r->nheaders; i++) {
		hl = curl_slist_append(hl, r->headers[i]);
		has_ct |= strncasecmp(r->headers[i], "Content-Type:", 13) == 0;
	}
	hl = curl_slist_append(hl, "Expect:");
	if (r->body && !has_ct)
		hl = curl_slist_append(hl, "Content-Type:"); /* no form-urlencoded default */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	q->hdrs = hl;

	const char *method = r->method ? r->method : "GET";
	if (r->body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}

	const struct http_tls *t = &r->tls;
	if (t->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (t->ca_pem) {
		struct curl_blob b = { (void *)t->ca_pem, t->ca_pem_len, CURL_BLOB_COPY };
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else {
		const char *ca = t->ca_file ? t->ca_file : http_default_ca();
		if (ca)
			curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	}
	if (t->cert_pem) {
		struct curl_blob b = { (void *)t->cert_pem, t->cert_pem_len, CURL_BLOB_COPY };
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
	} else if (t->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
	}
	if (t->key_pem) {
		/* mbedTLS recognises PEM only with the terminating NUL counted */
		struct buf k = BUF_INIT(t->key_pem_len + 1);
		buf_append(&k, t->key_pem, t->key_pem_len);
		struct curl_blob b = { k.data, k.len + 1, CURL_BLOB_COPY };
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
		buf_free(&k);
	} else if (t->key_file) {
		curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
	}

	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		log_error("http: cannot start request");
		curl_slist_free_all(q->hdrs);
		curl_slist_free_all(q->connect_to);
		curl_easy_cleanup(e);
		buf_free(&q->resp);
		free(q);
		return NULL;
	}
	q->next = h->active;
	if (h->active)
		h->active->prev = q;
	h->active = q;
	h->nactive++;
	return q;
}

/*
 * Pausing refuses the next chunk curl hands over: CURL_WRITEFUNC_PAUSE makes
 * curl keep it, stop watching the socket and leave the transfer alone until
 * curl_easy_pause(CURLPAUSE_CONT) hands the chunk over again.
 *
 * Not curl_easy_pause(CURLPAUSE_RECV) (nor CURLPAUSE_ALL): curl 8.14 then
 * runs the paused transfer again and again through a 0 ms timer for as long
 * as the pause lasts, whenever there was more to read when it paused (in a
 * burst there is). sendrecv_dl() leaves "read again" select bits;
 * Curl_sendrecv() sees the direction paused and returns, keeping them; and
 * state_performing() re-expires the transfer with EXPIRE_RUN_NOW because
 * Curl_xfer_is_blocked() only knows a write callback's pause. Behind a
 * webhook answering in 10 or 40 ms that busy loop cost 1.5 to 8 ms of CPU
 * per delivered event.
 */
void http_pause(struct http *h, struct http_req *q, bool pause)
{
	(void)h;
	if (!q || q->paused == pause)
		return;
	q->paused = pause;
	if (!pause && q->held) {
		q->held = false;
		/* on_write gets the held chunk now, from in here: it may pause again */
		curl_easy_pause(q->easy, CURLPAUSE_CONT);
	}
}

void http_cancel(struct http *h, struct http_req *q)
{
	if (!q)
		return;
	req_unlink(h, q);
	req_release(h, q);
}
