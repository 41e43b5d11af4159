/* net.c -- TCP (+TLS) client connections on the loop, names resolved off the loop. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "loop.h"
#include "tls.h"
#include "util.h"

#define READ_CHUNK (16 * 1024)

/* STARTTLS: plain bytes queued before net_starttls() still go out plain, then the handshake. */
enum state { ST_RESOLVING, ST_CONNECTING, ST_STARTTLS, ST_HANDSHAKE, ST_OPEN, ST_DEAD };

/* A lookup on a helper thread; the thread hands it back through a pipe. */
struct dns_job {
	struct net *owner; /* NULL once the connection gave up on it */
	char host[256], port[8];
	struct addrinfo *res;
	int rc;
};

struct net {
	struct loop *loop;
	const struct net_cb *cb;
	void *ctx;
	enum state st;
	int fd;
	struct addrinfo *ai, *next; /* addresses, and the next to try */
	struct dns_job *job;
	char *host, *server_name;
	int port;
	struct http_tls tls_cfg; /* copies */
	bool want_tls, tls_later;
	struct tls *tls;
	int tls_wants; /* LOOP_READ/LOOP_WRITE a TLS call is waiting for */
	struct buf in, out;
	struct loop_timer timer; /* the connect timeout, then net_deadline() */
	struct loop_timer kick;  /* work that must start from the loop, not from a net_*() call */
	int64_t connect_timeout_ms;
	int depth; /* inside our own entry points: free only at depth 0 */
	int last_errno;
};

/* --- names, off the loop -------------------------------------------------- */

static struct {
	int rfd, wfd;
	struct loop *loop;
} dns = { -1, -1, NULL };

static void connect_next(struct net *c);
static void fail(struct net *c, int err, const char *why);
static void release(struct net *c);

static void *dns_thread(void *arg)
{
	struct dns_job *j = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		                  .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_ADDRCONFIG };
	j->rc = getaddrinfo(j->host, j->port, &hints, &j->res);
	ssize_t w;
	do
		w = write(dns.wfd, &j, sizeof j); /* atomic: < PIPE_BUF */
	while (w < 0 && errno == EINTR);
	return NULL;
}

static void on_dns(struct loop *l, int fd, int events, void *ctx)
{
	struct dns_job *j;
	(void)l;
	(void)events;
	(void)ctx;
	while (read(fd, &j, sizeof j) == (ssize_t)sizeof j) {
		struct net *c = j->owner;
		if (!c) { /* abandoned */
			if (j->res)
				freeaddrinfo(j->res);
			free(j);
			continue;
		}
		c->job = NULL;
		c->depth++;
		if (j->rc != 0) {
			char why[300];
			snprintf(why, sizeof why, "cannot resolve %s: %s", c->host, gai_strerror(j->rc));
			fail(c, EHOSTUNREACH, why);
		} else {
			c->ai = c->next = j->res;
			connect_next(c);
		}
		free(j);
		c->depth--;
		release(c);
	}
}

/* Resolve c->host: at once for an address, else on a thread. 0 or -1 (err). */
static int resolve(struct net *c, char *err, size_t errlen)
{
	char port[8];
	snprintf(port, sizeof port, "%d", c->port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	if (getaddrinfo(c->host, port, &hints, &c->ai) == 0) {
		c->next = c->ai;
		return 0;
	}
	if (dns.rfd < 0) {
		int p[2];
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "cannot resolve %s: %m", c->host);
			return -1;
		}
		dns.rfd = p[0];
		dns.wfd = p[1];
	}
	if (dns.loop != c->loop) { /* (tests make and free loops) */
		loop_fd(c->loop, dns.rfd, LOOP_READ, on_dns, NULL);
		dns.loop = c->loop;
	}
	struct dns_job *j = xcalloc(1, sizeof *j);
	snprintf(j->host, sizeof j->host, "%s", c->host);
	memcpy(j->port, port, sizeof port);
	j->owner = c;
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &a, dns_thread, j);
	pthread_attr_destroy(&a);
	if (r != 0) {
		free(j);
		snprintf(err, errlen, "cannot resolve %s: no thread for the lookup", c->host);
		return -1;
	}
	c->job = j;
	return 0;
}

/* --- the connection ------------------------------------------------------- */

static void on_fd(struct loop *l, int fd, int events, void *ctx);

static void watch(struct net *c, int events)
{
	loop_fd(c->loop, c->fd, events, on_fd, c);
}

static void drop_socket(struct net *c)
{
	if (c->tls) {
		if (c->st == ST_OPEN)
			tls_close_notify(c->tls);
		tls_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0) {
		loop_fd(c->loop, c->fd, 0, NULL, NULL);
		close(c->fd);
		c->fd = -1;
	}
}

/* Free c if it is dead and no entry point of ours is running on it. */
static void release(struct net *c)
{
	if (c->st != ST_DEAD || c->depth)
		return;
	loop_timer_disarm(c->loop, &c->timer);
	loop_timer_disarm(c->loop, &c->kick);
	if (c->job)
		c->job->owner = NULL; /* the thread's answer is freed when it comes */
	if (c->ai)
		freeaddrinfo(c->ai);
	free(c->host);
	free(c->server_name);
	free((char *)c->tls_cfg.ca_file);
	free((char *)c->tls_cfg.ca_pem);
	free((char *)c->tls_cfg.cert_file);
	free((char *)c->tls_cfg.key_file);
	free((char *)c->tls_cfg.cert_pem);
	free((char *)c->tls_cfg.key_pem);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* The connection is over: tell the owner once. */
static void fail(struct net *c, int err, const char *why)
{
	if (c->st == ST_DEAD)
		return;
	drop_socket(c);
	c->st = ST_DEAD;
	loop_timer_disarm(c->loop, &c->timer);
	loop_timer_disarm(c->loop, &c->kick);
	c->cb->on_close(c->ctx, err, why);
}

static void on_timer(struct loop *l, void *ctx)
{
	struct net *c = ctx;
	(void)l;
	c->depth++;
	fail(c, ETIMEDOUT, c->st == ST_OPEN ? "timed out" : "connect timed out");
	c->depth--;
	release(c);
}

static void opened(struct net *c)
{
	c->st = ST_OPEN;
	loop_timer_disarm(c->loop, &c->timer); /* the connect timeout is over */
	c->cb->on_open(c->ctx);
	if (c->st == ST_OPEN && c->fd >= 0 && !c->tls_wants)
		watch(c, LOOP_READ | (c->out.len ? LOOP_WRITE : 0));
}

static void handshake(struct net *c)
{
	char err[256];
	int r = tls_handshake(c->tls, err, sizeof err);
	if (r == 0) {
		c->tls_wants = 0;
		opened(c);
	} else if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) {
		watch(c, r == TLS_WANT_READ ? LOOP_READ : LOOP_WRITE);
	} else {
		fail(c, EPROTO, err);
	}
}

static void start_tls(struct net *c)
{
	char err[256];
	c->tls = tls_new(c->fd, &c->tls_cfg, c->server_name, err, sizeof err);
	if (!c->tls) {
		fail(c, EPROTO, err);
		return;
	}
	c->st = ST_HANDSHAKE;
	if (!loop_timer_armed(&c->timer))
		loop_timer_arm(c->loop, &c->timer, c->connect_timeout_ms);
	handshake(c);
}

static void connect_next(struct net *c)
{
	while (c->next) {
		struct addrinfo *a = c->next;
		c->next = a->ai_next;
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->last_errno = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
			c->fd = fd;
			c->st = ST_CONNECTING;
			watch(c, LOOP_WRITE);
			return;
		}
		c->last_errno = errno;
		close(fd);
	}
	char why[320];
	snprintf(why, sizeof why, "cannot connect to %s:%d: %s", c->host, c->port,
	         c->last_errno == ECONNREFUSED ? "connection refused" : strerror(c->last_errno));
	fail(c, c->last_errno ? c->last_errno : ECONNREFUSED, why);
}

static void connected(struct net *c)
{
	int e = 0;
	socklen_t len = sizeof e;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e) { /* this address failed: the next one */
		c->last_errno = e;
		drop_socket(c);
		connect_next(c);
		return;
	}
	if (c->want_tls && !c->tls_later)
		start_tls(c);
	else
		opened(c);
}

/* Hand the owner what came in, while it takes some. */
static void deliver(struct net *c)
{
	while (c->in.len && c->st == ST_OPEN) {
		long n = c->cb->on_data(c->ctx, c->in.data, c->in.len);
		if (c->st == ST_DEAD)
			return;
		if (n > 0 && c->st != ST_OPEN) { /* consumed, then STARTTLS: the rest is the server's TLS */
			buf_consume(&c->in, (size_t)MIN((size_t)n, c->in.len));
			return;
		}
		if (n < 0) {
			fail(c, EPROTO, "protocol error");
			return;
		}
		if (n == 0) {
			if (c->in.len >= c->in.max)
				fail(c, EMSGSIZE, "message too large");
			return;
		}
		buf_consume(&c->in, (size_t)MIN((size_t)n, c->in.len));
	}
}

static void do_read(struct net *c)
{
	char chunk[READ_CHUNK], err[256] = "";
	while (c->st == ST_OPEN) {
		size_t room = MIN(sizeof chunk, c->in.max - c->in.len);
		if (!room) { /* (deliver() fails a full buffer the owner cannot take) */
			fail(c, EMSGSIZE, "message too large");
			return;
		}
		ssize_t r =
		    c->tls ? tls_read(c->tls, chunk, room, err, sizeof err) : recv(c->fd, chunk, room, 0);
		if (r > 0) {
			buf_append(&c->in, chunk, (size_t)r);
			deliver(c);
			continue;
		}
		if (r == 0) {
			fail(c, 0, "closed by the server");
			return;
		}
		if (c->tls && (r == TLS_WANT_READ || r == TLS_WANT_WRITE)) {
			c->tls_wants = r == TLS_WANT_WRITE ? LOOP_WRITE : 0;
			return;
		}
		if (!c->tls && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (!c->tls)
			snprintf(err, sizeof err, "%s",
			         errno == ECONNRESET ? "connection reset" : strerror(errno));
		fail(c, c->tls ? EPROTO : errno, err);
		return;
	}
}

static void do_write(struct net *c)
{
	char err[256] = "";
	while (c->st == ST_OPEN && c->out.len) {
		ssize_t w = c->tls ? tls_write(c->tls, c->out.data, c->out.len, err, sizeof err)
		                   : send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w > 0) {
			buf_consume(&c->out, (size_t)w);
			continue;
		}
		if (c->tls && (w == TLS_WANT_READ || w == TLS_WANT_WRITE))
			return;
		if (!c->tls && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (!c->tls)
			snprintf(err, sizeof err, "%s", errno == EPIPE ? "connection lost" : strerror(errno));
		fail(c, c->tls ? EPROTO : errno, err);
		return;
	}
}

/* STARTTLS: what was queued plain goes out plain, then the handshake starts. */
static void starttls_flush(struct net *c)
{
	while (c->out.len) {
		ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (w > 0) {
			buf_consume(&c->out, (size_t)w);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			watch(c, LOOP_WRITE);
			return;
		} else {
			fail(c, errno, strerror(errno));
			return;
		}
	}
	start_tls(c);
}

static void on_kick(struct loop *l, void *ctx)
{
	struct net *c = ctx;
	(void)l;
	c->depth++;
	if (c->st == ST_RESOLVING)
		connect_next(c); /* an address needs no lookup */
	else if (c->st == ST_STARTTLS)
		starttls_flush(c);
	c->depth--;
	release(c);
}

static void on_fd(struct loop *l, int fd, int events, void *ctx)
{
	struct net *c = ctx;
	(void)l;
	(void)fd;
	c->depth++;
	switch (c->st) {
	case ST_CONNECTING:
		connected(c);
		break;
	case ST_STARTTLS:
		starttls_flush(c);
		break;
	case ST_HANDSHAKE:
		handshake(c);
		break;
	case ST_OPEN:
		c->tls_wants = 0;
		if (events & (LOOP_READ | LOOP_ERROR))
			do_read(c);
		if (c->st == ST_OPEN && (events & LOOP_WRITE || c->out.len))
			do_write(c);
		/* decrypted bytes may wait inside TLS without the socket being readable */
		if (c->st == ST_OPEN && c->tls && tls_pending(c->tls))
			do_read(c);
		if (c->st == ST_OPEN)
			watch(c, LOOP_READ | (c->out.len || c->tls_wants ? LOOP_WRITE : 0));
		break;
	default:
		break;
	}
	c->depth--;
	release(c);
}

static char *dup_or_null(const char *s, size_t n)
{
	return s ? (n ? xstrndup(s, n) : xstrdup(s)) : NULL;
}

struct net *net_open(struct loop *l, const struct net_opts *o, const struct net_cb *cb, void *ctx, char *err,
                     size_t errlen)
{
	if (!o->host || !*o->host || strlen(o->host) >= 256 || o->port <= 0 || o->port > 65535) {
		snprintf(err, errlen, "bad address %s:%d", o->host ? o->host : "", o->port);
		return NULL;
	}
	struct net *c = xcalloc(1, sizeof *c);
	c->loop = l;
	c->cb = cb;
	c->ctx = ctx;
	c->fd = -1;
	c->host = xstrdup(o->host);
	c->port = o->port;
	c->server_name = xstrdup(o->server_name && *o->server_name ? o->server_name : o->host);
	c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
	if (o->tls) {
		const struct http_tls *t = o->tls;
		c->want_tls = true;
		c->tls_later = o->tls_later;
		c->tls_cfg.insecure = t->insecure;
		c->tls_cfg.ca_file = dup_or_null(t->ca_file, 0);
		c->tls_cfg.ca_pem = dup_or_null(t->ca_pem, t->ca_pem_len);
		c->tls_cfg.ca_pem_len = t->ca_pem_len;
		c->tls_cfg.cert_file = dup_or_null(t->cert_file, 0);
		c->tls_cfg.key_file = dup_or_null(t->key_file, 0);
		c->tls_cfg.cert_pem = dup_or_null(t->cert_pem, t->cert_pem_len);
		c->tls_cfg.cert_pem_len = t->cert_pem_len;
		c->tls_cfg.key_pem = dup_or_null(t->key_pem, t->key_pem_len);
		c->tls_cfg.key_pem_len = t->key_pem_len;
	}
	buf_init(&c->in, o->in_max ? o->in_max : 1 << 20);
	buf_init(&c->out, o->out_max ? o->out_max : 4 << 20);
	loop_timer_init(&c->timer, on_timer, c);
	loop_timer_init(&c->kick, on_kick, c);
	c->st = ST_RESOLVING;
	if (resolve(c, err, errlen) < 0) {
		c->st = ST_DEAD;
		release(c);
		return NULL;
	}
	loop_timer_arm(l, &c->timer, c->connect_timeout_ms);
	if (!c->job) /* an address: connect from the loop, not from here (no callbacks in net_open) */
		loop_timer_arm(l, &c->kick, 0);
	return c;
}

int net_send(struct net *c, const void *p, size_t n)
{
	if (c->st == ST_DEAD || buf_append(&c->out, p, n) < 0)
		return -1;
	if (c->st == ST_OPEN && c->fd >= 0 && !c->tls_wants)
		watch(c, LOOP_READ | LOOP_WRITE); /* sent when the socket takes it */
	return 0;
}

size_t net_pending(const struct net *c)
{
	return c->out.len;
}

int net_starttls(struct net *c)
{
	if (c->st != ST_OPEN || c->tls || !c->want_tls)
		return -1;
	c->st = ST_STARTTLS; /* no more plain reads */
	c->tls_later = false;
	loop_fd(c->loop, c->fd, 0, NULL, NULL);
	loop_timer_arm(c->loop, &c->timer, c->connect_timeout_ms);
	loop_timer_arm(c->loop, &c->kick, 0);
	return 0;
}

bool net_tls_active(const struct net *c)
{
	return c->tls && c->st == ST_OPEN;
}

void net_deadline(struct net *c, int64_t ms)
{
	if (c->st != ST_OPEN)
		return; /* connecting: the connect timeout applies */
	if (ms > 0)
		loop_timer_arm(c->loop, &c->timer, ms);
	else
		loop_timer_disarm(c->loop, &c->timer);
}

void net_close(struct net *c)
{
	if (!c)
		return;
	/* what is queued (a goodbye: MySQL's COM_QUIT) goes out if the socket takes it now */
	char err[128];
	while (c->st == ST_OPEN && c->out.len && !c->tls_wants) {
		ssize_t w = c->tls ? tls_write(c->tls, c->out.data, c->out.len, err, sizeof err)
		                   : send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w <= 0)
			break;
		buf_consume(&c->out, (size_t)w);
	}
	drop_socket(c);
	c->st = ST_DEAD;
	release(c);
}
