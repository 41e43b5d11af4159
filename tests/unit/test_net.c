/*
 * net.c against servers on the same loop (plain TCP on loopback): connect,
 * send and receive in pieces, names resolved off the loop, refused,
 * closed, deadlines, ceilings, and closing from inside a callback. TLS is
 * tested against real TLS servers in tests/integration/test_net.py.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "loop.h"
#include "net.h"
#include "test.h"
#include "util.h"

enum server_mode { ECHO, HANG, SLAM, BLURT };

static struct {
	struct loop *l;
	int lfd, port;
	int cfd; /* the accepted connection */
	enum server_mode mode;
	const char *blurt; /* BLURT: sent at accept */
	size_t echoed;

	/* the client's view */
	struct net *c;
	int opened, closed, close_err;
	char why[256];
	struct buf got;
	bool line_at_a_time; /* consume only whole lines */
	bool close_in_data;
} t;

static void on_client(struct loop *l, int fd, int events, void *ctx)
{
	char b[65536];
	(void)events;
	(void)ctx;
	ssize_t r = read(fd, b, sizeof b);
	if (r <= 0) {
		loop_fd(l, fd, 0, NULL, NULL);
		close(fd);
		t.cfd = -1;
		return;
	}
	if (t.mode == ECHO) {
		for (ssize_t off = 0; off < r;) { /* blocking enough on loopback for these sizes */
			ssize_t w = write(fd, b + off, (size_t)(r - off));
			if (w > 0)
				off += w;
		}
		t.echoed += (size_t)r;
	}
}

static void on_accept(struct loop *l, int fd, int events, void *ctx)
{
	(void)events;
	(void)ctx;
	int c = accept(fd, NULL, NULL);
	if (c < 0)
		return;
	if (t.mode == SLAM) {
		close(c);
		return;
	}
	if (t.mode == BLURT)
		CHECK(write(c, t.blurt, strlen(t.blurt)) == (ssize_t)strlen(t.blurt));
	t.cfd = c;
	loop_fd(l, c, LOOP_READ, on_client, NULL);
}

static void server(enum server_mode mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	t.mode = mode;
	t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bind(t.lfd, (struct sockaddr *)&a, sizeof a);
	listen(t.lfd, 8);
	getsockname(t.lfd, (struct sockaddr *)&a, &len);
	t.port = ntohs(a.sin_port);
	loop_fd(t.l, t.lfd, LOOP_READ, on_accept, NULL);
}

static void on_open(void *ctx)
{
	(void)ctx;
	t.opened++;
}

static long on_data(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	if (t.close_in_data) {
		net_close(t.c);
		t.c = NULL;
		return 0;
	}
	size_t take = n;
	if (t.line_at_a_time) {
		const char *nl = memchr(p, '\n', n);
		if (!nl)
			return 0;
		take = (size_t)(nl - p + 1);
	}
	buf_append(&t.got, p, take);
	return (long)take;
}

static void on_close(void *ctx, int err, const char *why)
{
	(void)ctx;
	t.closed++;
	t.close_err = err;
	snprintf(t.why, sizeof t.why, "%s", why);
	t.c = NULL;
}

static const struct net_cb cbs = { on_open, on_data, on_close };

static void setup(void)
{
	memset(&t, 0, sizeof t);
	t.l = loop_new();
	t.cfd = t.lfd = -1;
	buf_init(&t.got, 16 << 20);
}

static void teardown(void)
{
	net_close(t.c);
	if (t.cfd >= 0) {
		loop_fd(t.l, t.cfd, 0, NULL, NULL);
		close(t.cfd);
	}
	if (t.lfd >= 0) {
		loop_fd(t.l, t.lfd, 0, NULL, NULL);
		close(t.lfd);
	}
	loop_free(t.l);
	buf_free(&t.got);
}

/* Run the loop until cond or 5 s. */
#define RUN_UNTIL(cond)                                                                                      \
	do {                                                                                                 \
		int64_t end_ = now_mono_ms() + 5000;                                                         \
		while (!(cond) && now_mono_ms() < end_)                                                      \
			loop_once(t.l, 20);                                                                  \
	} while (0)

static struct net *open_to(const char *host, int port, size_t in_max, size_t out_max)
{
	char err[256];
	struct net_opts o = { .host = host, .port = port, .in_max = in_max, .out_max = out_max };
	t.c = net_open(t.l, &o, &cbs, NULL, err, sizeof err);
	return t.c;
}

static void connects_sends_and_receives_in_pieces(void)
{
	setup();
	server(ECHO);
	t.line_at_a_time = true;
	CHECK(open_to("127.0.0.1", t.port, 0, 0));
	CHECK_INT(t.opened, 0); /* never from inside net_open */
	CHECK_INT(net_send(t.c, "hel", 3), 0);
	RUN_UNTIL(t.opened);
	CHECK_INT(t.opened, 1);
	CHECK_INT(net_send(t.c, "lo\nwor", 6), 0);
	RUN_UNTIL(t.echoed == 9 && t.got.len >= 6);
	loop_once(t.l, 20);                    /* "wor" arrived too, and waits for its newline */
	CHECK_STR(buf_str(&t.got), "hello\n"); /* "wor" waits for its newline */
	CHECK_INT(net_send(t.c, "ld\n", 3), 0);
	RUN_UNTIL(t.got.len == 12);
	CHECK_STR(buf_str(&t.got), "hello\nworld\n");
	CHECK_INT(t.closed, 0);
	teardown();
}

static void a_name_is_resolved_off_the_loop(void)
{
	setup();
	server(ECHO);
	CHECK(open_to("localhost", t.port, 0, 0));
	net_send(t.c, "x", 1);
	RUN_UNTIL(t.got.len == 1 || t.closed);
	CHECK_INT(t.closed, 0);
	CHECK_STR(buf_str(&t.got), "x");
	teardown();
}

static void refused_is_reported_once(void)
{
	setup();
	server(ECHO); /* find a free port, then close it */
	int port = t.port;
	loop_fd(t.l, t.lfd, 0, NULL, NULL);
	close(t.lfd);
	t.lfd = -1;
	CHECK(open_to("127.0.0.1", port, 0, 0));
	RUN_UNTIL(t.closed);
	CHECK_INT(t.closed, 1);
	CHECK_INT(t.opened, 0);
	CHECK_INT(t.close_err, ECONNREFUSED);
	CHECK(strstr(t.why, "connection refused"));
	teardown();
}

static void a_server_that_closes(void)
{
	setup();
	server(SLAM);
	CHECK(open_to("127.0.0.1", t.port, 0, 0));
	RUN_UNTIL(t.closed);
	CHECK_INT(t.closed, 1);
	CHECK(t.close_err == 0 || t.close_err == ECONNRESET);
	teardown();
}

static void a_deadline_closes_a_silent_connection(void)
{
	setup();
	server(HANG);
	CHECK(open_to("127.0.0.1", t.port, 0, 0));
	RUN_UNTIL(t.opened);
	net_deadline(t.c, 50);
	RUN_UNTIL(t.closed);
	CHECK_INT(t.close_err, ETIMEDOUT);
	CHECK_STR(t.why, "timed out");
	teardown();
}

static void a_message_past_the_ceiling_closes(void)
{
	setup();
	t.blurt = "0123456789012345678901234567890123456789 no newline in sight";
	server(BLURT);
	t.line_at_a_time = true;
	CHECK(open_to("127.0.0.1", t.port, 32, 0));
	RUN_UNTIL(t.closed);
	CHECK_INT(t.close_err, EMSGSIZE);
	teardown();
}

static void sends_are_bounded_and_all_arrive(void)
{
	setup();
	server(ECHO);
	CHECK(open_to("127.0.0.1", t.port, 0, 1 << 20));
	char *big = xmalloc(600 * 1024);
	memset(big, 'b', 600 * 1024);
	CHECK_INT(net_send(t.c, big, 600 * 1024), 0);
	CHECK_INT(net_send(t.c, big, 600 * 1024), -1); /* past out_max: nothing queued */
	CHECK_INT(net_pending(t.c), 600 * 1024);
	RUN_UNTIL(t.got.len == 600 * 1024);
	CHECK_INT(t.got.len, 600 * 1024);
	CHECK_INT(net_pending(t.c), 0);
	free(big);
	teardown();
}

static void closing_inside_a_callback(void)
{
	setup();
	t.blurt = "hello";
	server(BLURT);
	t.close_in_data = true;
	CHECK(open_to("127.0.0.1", t.port, 0, 0));
	RUN_UNTIL(!t.c);
	CHECK(!t.c);
	loop_once(t.l, 10);
	CHECK_INT(t.closed, 0); /* closed by its owner: no on_close */
	teardown();
}

static void bad_addresses_are_refused_at_once(void)
{
	char err[128];
	setup();
	struct net_opts o = { .host = "", .port = 80 };
	CHECK(!net_open(t.l, &o, &cbs, NULL, err, sizeof err));
	o.host = "127.0.0.1";
	o.port = 70000;
	CHECK(!net_open(t.l, &o, &cbs, NULL, err, sizeof err));
	CHECK(strstr(err, "bad address"));
	teardown();
}

/* What was queued just before net_close() still goes out (MySQL's COM_QUIT). */
static void close_sends_what_is_queued(void)
{
	setup();
	server(ECHO);
	CHECK(open_to("127.0.0.1", t.port, 0, 0));
	RUN_UNTIL(t.opened);
	RUN_UNTIL(t.cfd >= 0);
	CHECK_INT(net_send(t.c, "bye", 3), 0);
	net_close(t.c);
	t.c = NULL;
	RUN_UNTIL(t.echoed == 3);
	CHECK_INT(t.echoed, 3);
	CHECK_INT(t.closed, 0); /* and no callback */
	teardown();
}

const struct test_case test_net[] = {
	TEST(close_sends_what_is_queued),
	TEST(connects_sends_and_receives_in_pieces),
	TEST(a_name_is_resolved_off_the_loop),
	TEST(refused_is_reported_once),
	TEST(a_server_that_closes),
	TEST(a_deadline_closes_a_silent_connection),
	TEST(a_message_past_the_ceiling_closes),
	TEST(sends_are_bounded_and_all_arrive),
	TEST(closing_inside_a_callback),
	TEST(bad_addresses_are_refused_at_once),
	TEST_END,
};
