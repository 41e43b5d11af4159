/*
 * netprobe -- one net.c connection, for the TLS tests (tests/integration/test_net.py):
 *
 *   netprobe HOST PORT [tls|starttls] [ca=FILE] [insecure] [sni=NAME] [cert=FILE key=FILE]
 *
 * Connects; with starttls sends "STARTTLS\n" in plain and waits for "OK\n"
 * before the handshake. Then sends "ping\n", prints the first line that
 * comes back and exits 0; on a closed connection prints "error: WHY" and
 * exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "net.h"
#include "util.h"

static struct net *c;
static int done = -1;
static int phase; /* 0: plain, before STARTTLS's OK; 1: ready */

static void on_open(void *ctx)
{
	(void)ctx;
	if (phase == 0 && ctx) {
		net_send(c, "STARTTLS\n", 9);
		return;
	}
	phase = 1;
	net_send(c, "ping\n", 5);
}

static long on_data(void *ctx, const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	if (!nl)
		return 0;
	if (phase == 0 && ctx) {
		if (nl - p != 2 || memcmp(p, "OK", 2) != 0)
			return -1;
		phase = 1;
		net_starttls(c);
		return (long)(nl - p + 1);
	}
	printf("%.*s\n", (int)(nl - p), p);
	done = 0;
	return (long)(nl - p + 1);
}

static void on_close(void *ctx, int err, const char *why)
{
	(void)ctx;
	(void)err;
	c = NULL;
	if (done >= 0)
		return; /* the answer came: the server may hang up */
	printf("error: %s\n", why);
	done = 1;
}

int main(int argc, char **argv)
{
	static const struct net_cb cb = { on_open, on_data, on_close };
	struct http_tls tls = { 0 };
	struct net_opts o = { 0 };
	bool use_tls = false, starttls = false;
	char err[256];
	if (argc < 3) {
		fprintf(
		    stderr,
		    "usage: netprobe HOST PORT [tls|starttls] [ca=F] [insecure] [sni=N] [cert=F key=F]\n");
		return 2;
	}
	o.host = argv[1];
	int64_t port;
	if (parse_i64(argv[2], strlen(argv[2]), &port) < 0) {
		fprintf(stderr, "netprobe: bad port %s\n", argv[2]);
		return 2;
	}
	o.port = (int)port;
	o.connect_timeout_ms = 5000;
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "tls"))
			use_tls = true;
		else if (!strcmp(a, "starttls"))
			use_tls = starttls = true;
		else if (!strncmp(a, "ca=", 3))
			tls.ca_file = a + 3;
		else if (!strcmp(a, "insecure"))
			tls.insecure = true;
		else if (!strncmp(a, "sni=", 4))
			o.server_name = a + 4;
		else if (!strncmp(a, "cert=", 5))
			tls.cert_file = a + 5;
		else if (!strncmp(a, "key=", 4))
			tls.key_file = a + 4;
	}
	if (use_tls) {
		o.tls = &tls;
		o.tls_later = starttls;
	}
	phase = starttls ? 0 : 1;
	struct loop *l = loop_new();
	c = net_open(l, &o, &cb, starttls ? (void *)1 : NULL, err, sizeof err);
	if (!c) {
		printf("error: %s\n", err);
		return 1;
	}
	while (done < 0)
		loop_once(l, 1000);
	net_close(c);
	loop_free(l);
	return done;
}
