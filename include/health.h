/*
 * health.h -- the /healthz and /metrics HTTP endpoint, served from the
 * event loop (no thread).
 *
 * Bounded: at most HEALTH_MAX_CONN connections, a request of at most
 * HEALTH_MAX_REQ bytes that must arrive within HEALTH_REQ_TIMEOUT_MS
 * (slow clients are closed), GET/HEAD only, one request per connection.
 */
#ifndef KE_HEALTH_H
#define KE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define HEALTH_MAX_CONN 1024
#define HEALTH_MAX_REQ 4096
#define HEALTH_REQ_TIMEOUT_MS 5000

struct loop;
struct health;

struct http_request_line {
	char method[8];
	char path[256]; /* without the query */
	int minor;      /* HTTP/1.x */
};

/*
 * Parse an HTTP/1.x request head in buf[0..len). Returns the head's length
 * (through the blank line) on success, -2 when more bytes are needed, -1
 * for a malformed request or one over HEALTH_MAX_REQ.
 */
int health_parse_request(const char *buf, size_t len, struct http_request_line *out);

/* Status for /healthz: true = 200; false = 503 with a one-line reason. */
typedef bool (*health_status_cb)(void *ctx, char *why, size_t n);
/* Append the Prometheus text exposition for /metrics. */
typedef void (*health_metrics_cb)(void *ctx, struct buf *out);

/* Listen on ip:port (IPv4 or IPv6 literal). NULL with err on failure. */
struct health *health_new(struct loop *l, const char *ip, int port, health_status_cb status,
                          health_metrics_cb metrics, void *ctx, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int health_port(const struct health *h);
size_t health_connections(const struct health *h);
void health_free(struct health *h);

#endif
