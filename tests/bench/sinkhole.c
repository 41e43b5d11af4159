/*
 * sinkhole.c -- a fast HTTP/1.1 receiver for benchmarks: accepts keep-alive
 * connections on 127.0.0.1, answers every request "200 {"errcode":0}", and
 * records each request's arrival time (CLOCK_REALTIME, ns) and the value of
 * a JSON key "EventMessage" or "message" in its body.
 *
 *   sinkhole PORTFILE OUTFILE EXPECTED [TIMEOUT_S [DELAY_MS]]
 *
 * Writes the bound port to PORTFILE, then exits after EXPECTED requests (or
 * TIMEOUT_S seconds) writing "arrival_ns message" lines to OUTFILE. With
 * DELAY_MS, each answer goes out DELAY_MS after its request arrived, like a
 * remote robot's; the other connections are served meanwhile (one queue of
 * due answers: the delay is the same for all, so it is in time order). It
 * exits once the EXPECTED-th request is answered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 256
#define BUFSZ (256 * 1024)

struct conn {
	int fd;
	size_t len;
	char *buf;
	unsigned owed; /* answers still due on this connection */
	int closed;    /* the peer left; freed once nothing is owed */
};

/* An answer due at `due` (ns), in arrival order. */
struct due {
	struct conn *c;
	int64_t due;
	struct due *next;
};

struct rec {
	int64_t ns;
	char msg[48];
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void extract(const char *body, size_t n, char *out, size_t outn)
{
	static const char *keys[] = { "\"EventMessage\"", "\"message\"", "\"content\"" };
	out[0] = '\0';
	for (size_t k = 0; k < 3; k++) {
		const char *p = memmem(body, n, keys[k], strlen(keys[k]));
		if (!p)
			continue;
		p = memchr(p + strlen(keys[k]), '"', (size_t)(body + n - p - strlen(keys[k])));
		if (!p)
			continue;
		p++;
		size_t i = 0;
		while (p < body + n && *p != '"' && i + 1 < outn)
			out[i++] = *p++;
		out[i] = '\0';
		return;
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: sinkhole PORTFILE OUTFILE EXPECTED [TIMEOUT_S [DELAY_MS]]\n");
		return 2;
	}
	long expected = strtol(argv[3], NULL, 10);
	long timeout_s = argc > 4 ? strtol(argv[4], NULL, 10) : 60;
	int64_t delay_ns = argc > 5 ? strtol(argv[5], NULL, 10) * 1000000 : 0;
	struct due *dhead = NULL, **dtail = &dhead;
	struct rec *recs = calloc((size_t)expected + 1, sizeof *recs);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 128) < 0) {
		perror("sinkhole: listen");
		return 1;
	}
	socklen_t al = sizeof a;
	getsockname(lfd, (struct sockaddr *)&a, &al);
	FILE *pf = fopen(argv[1], "w");
	fprintf(pf, "%d\n", ntohs(a.sin_port));
	fclose(pf);

	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                           "Content-Length: 27\r\n\r\n{\"errcode\":0,\"errmsg\":\"ok\"}";
	long got = 0;
	int64_t deadline = now_ns() + (int64_t)timeout_s * 1000000000;
	while ((got < expected || dhead) && now_ns() < deadline) {
		struct epoll_event evs[64];
		struct timespec wait = { 0, 200000000 };
		if (dhead) { /* until the first answer is due, to the ns: no ms rounding that splits a batch
			      */
			int64_t d = dhead->due - now_ns();
			wait.tv_sec = d <= 0 ? 0 : d / 1000000000;
			wait.tv_nsec = d <= 0 ? 0 : d % 1000000000;
		}
		int n = epoll_pwait2(ep, evs, 64, &wait, NULL);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct conn *nc = calloc(1, sizeof *nc);
					nc->fd = fd;
					nc->buf = malloc(BUFSZ);
					struct epoll_event e2 = { .events = EPOLLIN, .data.ptr = nc };
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
				}
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - c->len);
			if (r <= 0) {
				close(c->fd);
				c->closed = 1;
				if (!c->owed) {
					free(c->buf);
					free(c);
				}
				continue;
			}
			c->len += (size_t)r;
			for (;;) { /* every complete request in the buffer */
				char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
				if (!end)
					break;
				size_t head = (size_t)(end - c->buf) + 4, body = 0;
				char *cl = memmem(c->buf, head, "Content-Length:", 15);
				if (!cl)
					cl = memmem(c->buf, head, "content-length:", 15);
				if (cl)
					body = strtoul(cl + 15, NULL, 10);
				if (c->len < head + body)
					break;
				int64_t now = now_ns();
				if (got < expected) {
					recs[got].ns = now;
					extract(c->buf + head, body, recs[got].msg, sizeof recs[got].msg);
				}
				got++;
				memmove(c->buf, c->buf + head + body, c->len - head - body);
				c->len -= head + body;
				if (!delay_ns) {
					if (write(c->fd, resp, sizeof resp - 1) < 0)
						break;
					continue;
				}
				struct due *d = malloc(sizeof *d);
				d->c = c;
				d->due = now + delay_ns;
				d->next = NULL;
				*dtail = d;
				dtail = &d->next;
				c->owed++;
			}
		}
		for (int64_t now = now_ns(); dhead && dhead->due <= now;) { /* the answers now due */
			struct due *d = dhead;
			struct conn *c = d->c;
			dhead = d->next;
			if (!dhead)
				dtail = &dhead;
			free(d);
			c->owed--;
			if (!c->closed && write(c->fd, resp, sizeof resp - 1) < 0)
				c->len = 0; /* the read side reports the close */
			if (c->closed && !c->owed) {
				free(c->buf);
				free(c);
			}
		}
	}
	FILE *of = fopen(argv[2], "w");
	for (long i = 0; i < got && i < expected; i++)
		fprintf(of, "%lld %s\n", (long long)recs[i].ns, recs[i].msg);
	fclose(of);
	return got >= expected ? 0 : 1;
}
