/*
 * http.h -- HTTP(S) requests on the event loop. The only module that
 * includes curl/curl.h.
 *
 * Requests run concurrently through one libcurl multi handle whose sockets
 * and timers live in the loop; connections are kept alive and reused across
 * requests to the same host. A request either buffers its response (bounded
 * by max_body) or streams it to on_data (the watch).
 *
 * TLS is always verified unless tls.insecure is set. With no CA given, the
 * CA bundle is SSL_CERT_FILE, else the first of the usual system paths.
 * Proxies follow Go's http.ProxyFromEnvironment: HTTPS_PROXY/https_proxy for
 * https URLs, HTTP_PROXY/http_proxy for http, NO_PROXY/no_proxy exclusions,
 * and never for localhost or loopback addresses.
 */
#ifndef KE_HTTP_H
#define KE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct http;
struct http_req;

struct http_tls {
	const char *ca_file; /* PEM bundle path */
	const char *ca_pem;  /* or PEM data (wins over ca_file) */
	size_t ca_pem_len;
	const char *cert_file, *key_file;
	const char *cert_pem, *key_pem; /* PEM data (win over the files) */
	size_t cert_pem_len, key_pem_len;
	bool insecure; /* skip verification: only when asked */
};

struct http_request {
	const char *method; /* NULL = GET */
	const char *url;
	const char *const *headers; /* "Name: value" */
	size_t nheaders;
	const char *body; /* borrowed until the request completes */
	size_t body_len;
	int64_t connect_timeout_ms; /* 0 = 10 s */
	int64_t timeout_ms;         /* 0 = none (streams) */
	size_t max_body;            /* buffered response ceiling; 0 = 64 KiB */
	const char *connect_to;     /* curl CONNECT_TO entry, e.g. tls-server-name */
	struct http_tls tls;
	const char *proxy; /* this proxy, whatever the environment says (kubeconfig proxy-url) */
	bool no_proxy;     /* never use a proxy for this request */
};

struct http_response {
	long status;            /* 0 when no HTTP response was received */
	int error;              /* 0, or a transport error (see error_text) */
	const char *error_text; /* curl's message for transport errors */
	bool timed_out;
	const char *body; /* buffered body (NUL-terminated), "" when streaming */
	size_t body_len;
	bool body_truncated;    /* the body went past max_body */
	int64_t retry_after_ms; /* Retry-After header, -1 when absent */
	int64_t total_us;       /* transfer time */
};

/*
 * Streaming callback: a chunk of the response body with the HTTP status.
 * Called once with n == 0 when the response headers are complete. Return
 * 0 to continue, -1 to abort the transfer (done then reports an error). It
 * must not start or cancel requests itself.
 */
typedef int (*http_data_cb)(void *ctx, long status, const char *p, size_t n);
/* Completion callback: called exactly once per started request (unless cancelled). */
typedef void (*http_done_cb)(void *ctx, const struct http_response *r);

struct http *http_new(struct loop *l);
/* Cancel every request (no callbacks) and free. */
void http_free(struct http *h);

/*
 * Start a request. Every string in r is copied except body (borrowed until
 * done). on_data NULL = buffer the body. Returns a handle valid until done
 * fires or http_cancel() is called, or NULL if the request could not be set
 * up (error logged).
 */
struct http_req *http_start(struct http *h, const struct http_request *r, http_data_cb on_data,
                            http_done_cb on_done, void *ctx);
/* Abort a request; its done callback will not run. Not from inside on_data. */
void http_cancel(struct http *h, struct http_req *q);

/*
 * Stop (pause=true) or restart reading a streaming response: flow control
 * for the source. Allowed from inside on_data, which still gets the rest of
 * the chunk at hand; the next chunk waits in curl, and the socket is not
 * read, until the restart. The restart hands that chunk to on_data at once,
 * from inside this call (so not from inside on_data); on_data may pause
 * again there. A paused request costs nothing: no timer, no polling.
 */
void http_pause(struct http *h, struct http_req *q, bool pause);

/* Requests in flight. */
size_t http_active(const struct http *h);

/* The default CA bundle path chosen at start-up, or NULL when none exists. */
const char *http_default_ca(void);

/* The proxy URL Go's rules pick for url ("" = direct). For logs and tests. */
const char *http_proxy_for(const char *url, char *out, size_t n);

#endif
