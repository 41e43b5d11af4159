/* health.c -- a small, bounded HTTP/1.x server for /healthz and /metrics. */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

struct conn {
	int fd;
	int64_t deadline_ms;
	struct buf in; /* grows with what the client sent, up to HEALTH_MAX_REQ */
	struct buf out;
	size_t out_off;
	bool writing;
};

struct health {
	struct loop *loop;
	int lfd;
	int port;
	health_status_cb status;
	health_metrics_cb metrics;
	void *ctx;
	struct conn **conns; /* indexed by fd, NULL when free */
	size_t nconns_cap;
	size_t nconns;
	struct loop_timer sweep;
};

static bool tchar(char c)
{
	/* c != 0: strchr() would match the terminator */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

int health_parse_request(const char *buf, size_t len, struct http_request_line *out)
{
	size_t i = 0, m = 0, p = 0;

	memset(out, 0, sizeof *out);
	if (len > HEALTH_MAX_REQ)
		len = HEALTH_MAX_REQ + 1;
	/* method */
	while (i < len && buf[i] != ' ') {
		if (!tchar(buf[i]) || m + 1 >= sizeof out->method)
			return -1;
		out->method[m++] = buf[i++];
	}
	if (i == len)
		return len > HEALTH_MAX_REQ ? -1 : -2;
	if (m == 0)
		return -1;
	i++;
	/* target: origin-form only */
	if (i < len && buf[i] != '/')
		return -1;
	bool query = false;
	while (i < len && buf[i] != ' ') {
		unsigned char c = (unsigned char)buf[i];
		if (c <= 0x20 || c == 0x7f)
			return -1;
		if (c == '?')
			query = true;
		if (!query) {
			if (p + 1 >= sizeof out->path)
				return -1;
			out->path[p++] = (char)c;
		}
		i++;
	}
	if (i == len)
		return len > HEALTH_MAX_REQ ? -1 : -2;
	i++;
	/* version */
	static const char ver[] = "HTTP/1.";
	for (size_t k = 0; k < 7; k++, i++) {
		if (i == len)
			return -2;
		if (buf[i] != ver[k])
			return -1;
	}
	if (i == len)
		return -2;
	if (buf[i] != '0' && buf[i] != '1')
		return -1;
	out->minor = buf[i++] - '0';
	/* end of the request line */
	if (i == len)
		return -2;
	if (buf[i] == '\r') {
		if (++i == len)
			return -2;
	}
	if (buf[i++] != '\n')
		return -1;
	/* headers: name ":" value CRLF ... CRLF */
	for (;;) {
		if (i == len)
			return len > HEALTH_MAX_REQ ? -1 : -2;
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return -2;
			if (buf[i + 1] != '\n')
				return -1;
			i += 2;
			break;
		}
		if (buf[i] == '\n') {
			i++;
			break;
		}
		size_t name = 0;
		while (i < len && buf[i] != ':') {
			if (!tchar(buf[i]))
				return -1;
			i++;
			name++;
		}
		if (i == len)
			return len > HEALTH_MAX_REQ ? -1 : -2;
		if (name == 0)
			return -1;
		while (i < len && buf[i] != '\n') {
			unsigned char c = (unsigned char)buf[i];
			if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
				return -1;
			i++;
		}
		if (i == len)
			return len > HEALTH_MAX_REQ ? -1 : -2;
		i++;
	}
	if (i > HEALTH_MAX_REQ)
		return -1;
	return (int)i;
}

static void conn_close(struct health *h, struct conn *c)
{
	loop_fd(h->loop, c->fd, 0, NULL, NULL);
	close(c->fd);
	h->conns[c->fd] = NULL;
	h->nconns--;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void respond(struct health *h, struct conn *c, int code, const char *reason, const char *ctype,
                    const char *body, size_t blen, bool head)
{
	buf_printf(&c->out,
	           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	           "Connection: close\r\nCache-Control: no-store\r\n\r\n",
	           code, reason, ctype, blen);
	if (!head)
		buf_append(&c->out, body, blen);
	c->writing = true;
	c->deadline_ms = now_mono_ms() + HEALTH_REQ_TIMEOUT_MS;
	(void)h;
}

static void handle(struct health *h, struct conn *c, const struct http_request_line *r)
{
	bool head = strcmp(r->method, "HEAD") == 0;
	if (!head && strcmp(r->method, "GET") != 0) {
		respond(h, c, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19, false);
		return;
	}
	if (strcmp(r->path, "/healthz") == 0 || strcmp(r->path, "/healtz") == 0) {
		char why[256] = "";
		if (h->status(h->ctx, why, sizeof why)) {
			respond(h, c, 200, "OK", "text/plain", "ok\n", 3, head);
		} else {
			char body[300];
			int n = snprintf(body, sizeof body, "%s\n", why);
			respond(h, c, 503, "Service Unavailable", "text/plain", body,
			        (size_t)MIN(n, (int)sizeof body - 1), head);
		}
		return;
	}
	if (strcmp(r->path, "/metrics") == 0) {
		struct buf m = BUF_INIT(4 << 20);
		h->metrics(h->ctx, &m);
		respond(h, c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", buf_str(&m), m.len,
		        head);
		buf_free(&m);
		return;
	}
	respond(h, c, 404, "Not Found", "text/plain", "not found\n", 10, head);
}

static void on_conn(struct loop *l, int fd, int events, void *ctx)
{
	struct health *h = ctx;
	struct conn *c = h->conns[fd];
	(void)l;
	if (!c)
		return;
	if (!c->writing && (events & LOOP_READ)) {
		char tmp[HEALTH_MAX_REQ];
		ssize_t n = read(fd, tmp, HEALTH_MAX_REQ - c->in.len);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			conn_close(h, c);
			return;
		}
		buf_append(&c->in, tmp, (size_t)n);
		struct http_request_line r;
		int p = health_parse_request(buf_str(&c->in), c->in.len, &r);
		if (p == -2 && c->in.len < HEALTH_MAX_REQ)
			return;
		if (p < 0)
			respond(h, c, 400, "Bad Request", "text/plain", "bad request\n", 12, false);
		else
			handle(h, c, &r);
		loop_fd(h->loop, fd, LOOP_WRITE, on_conn, h);
		return;
	}
	if (c->writing && (events & (LOOP_WRITE | LOOP_ERROR))) {
		while (c->out_off < c->out.len) {
			ssize_t n = send(fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				break;
			}
			c->out_off += (size_t)n;
		}
		conn_close(h, c);
	}
}

static void on_accept(struct loop *l, int fd, int events, void *ctx)
{
	struct health *h = ctx;
	(void)l;
	(void)events;
	for (int k = 0; k < 64; k++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		if (h->nconns >= HEALTH_MAX_CONN) {
			close(cfd); /* over the limit: shed load */
			continue;
		}
		if ((size_t)cfd >= h->nconns_cap) {
			size_t n = h->nconns_cap ? h->nconns_cap : 64;
			while (n <= (size_t)cfd)
				n *= 2;
			h->conns = xrealloc(h->conns, n * sizeof *h->conns);
			memset(h->conns + h->nconns_cap, 0, (n - h->nconns_cap) * sizeof *h->conns);
			h->nconns_cap = n;
		}
		struct conn *c = xcalloc(1, sizeof *c);
		c->fd = cfd;
		c->deadline_ms = now_mono_ms() + HEALTH_REQ_TIMEOUT_MS;
		buf_init(&c->in, HEALTH_MAX_REQ);
		buf_init(&c->out, (4 << 20) + 4096);
		h->conns[cfd] = c;
		h->nconns++;
		if (loop_fd(h->loop, cfd, LOOP_READ, on_conn, h) < 0)
			conn_close(h, c);
	}
}

static void on_sweep(struct loop *l, void *ctx)
{
	struct health *h = ctx;
	int64_t now = now_mono_ms();
	for (size_t i = 0; i < h->nconns_cap; i++)
		if (h->conns[i] && now >= h->conns[i]->deadline_ms)
			conn_close(h, h->conns[i]);
	loop_timer_arm(l, &h->sweep, 1000);
}

struct health *health_new(struct loop *l, const char *ip, int port, health_status_cb status,
                          health_metrics_cb metrics, void *ctx, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	const char *host = ip;
	char tmp[64];
	if (ip[0] == '[') { /* [::1] */
		snprintf(tmp, sizeof tmp, "%s", ip + 1);
		char *rb = strchr(tmp, ']');
		if (rb)
			*rb = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		slen = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		slen = sizeof *a6;
	} else {
		snprintf(err, errlen, "--healthz-ip: \"%s\" is not an IP address", ip);
		return NULL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 256) < 0) {
		snprintf(err, errlen, "--healthz-ip/--healthz-port: cannot listen on %s:%d: %s", ip, port,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	getsockname(fd, (struct sockaddr *)&ss, &slen);
	struct health *h = xcalloc(1, sizeof *h);
	h->loop = l;
	h->lfd = fd;
	h->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
	h->status = status;
	h->metrics = metrics;
	h->ctx = ctx;
	loop_fd(l, fd, LOOP_READ, on_accept, h);
	loop_timer_init(&h->sweep, on_sweep, h);
	loop_timer_arm(l, &h->sweep, 1000);
	return h;
}

int health_port(const struct health *h)
{
	return h->port;
}

size_t health_connections(const struct health *h)
{
	return h->nconns;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nconns_cap; i++)
		if (h->conns[i])
			conn_close(h, h->conns[i]);
	loop_timer_disarm(h->loop, &h->sweep);
	loop_fd(h->loop, h->lfd, 0, NULL, NULL);
	close(h->lfd);
	free(h->conns);
	free(h);
}
