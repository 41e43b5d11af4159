/*
 * net.h -- a TCP client connection on the event loop, optionally TLS, for
 * the sinks that speak their own protocol (Kafka, MySQL).
 *
 * Names are resolved on a helper thread (getaddrinfo blocks; the loop must
 * not), each address is tried in turn, and TLS (tls.h) runs either from the
 * start or after net_starttls() (MySQL's SSLRequest). Bytes in and out are
 * buffered with hard ceilings. One connection object per connection: after
 * on_close, or after net_close(), it is gone.
 *
 * Callbacks never run from inside a net_*() call, except that net_open()
 * never calls back at all. From inside a callback the owner may call
 * net_send(), net_deadline(), net_starttls() and net_close().
 */
#ifndef KE_NET_H
#define KE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct loop;
struct net;

struct net_opts {
	const char *host; /* a name or an IP address */
	int port;
	int64_t connect_timeout_ms; /* name, TCP and TLS handshake; 0 = 10 s */
	const struct http_tls *tls; /* copied; NULL = plain TCP */
	bool tls_later;             /* plain first, TLS at net_starttls() */
	const char *server_name;    /* to verify and send as SNI; default host */
	size_t in_max, out_max;     /* buffer ceilings; 0 = 1 MiB and 4 MiB */
};

struct net_cb {
	/* Connected (and, with TLS, the handshake done); again after net_starttls() succeeds. */
	void (*on_open)(void *ctx);
	/*
	 * Bytes received and not consumed yet: return how many were consumed
	 * (0: need more), or -1 for a protocol error (the connection closes;
	 * on_close follows). Called again while it consumes something.
	 */
	long (*on_data)(void *ctx, const char *p, size_t n);
	/* The connection is gone: err 0 when the peer closed it cleanly. Exactly once. */
	void (*on_close)(void *ctx, int err, const char *why);
};

/* Start connecting. NULL only when o is unusable (err says why); failures to connect come as on_close. */
struct net *net_open(struct loop *l, const struct net_opts *o, const struct net_cb *cb, void *ctx, char *err,
                     size_t errlen);

/* Queue bytes; they go out as the socket takes them. 0, or -1 past out_max (nothing queued). */
int net_send(struct net *c, const void *p, size_t n);

/* Bytes queued and not sent yet. */
size_t net_pending(const struct net *c);

/* Begin TLS on an open plain connection (tls given in the options). 0 or -1. */
int net_starttls(struct net *c);

/* True once TLS is up. */
bool net_tls_active(const struct net *c);

/* Close with "timed out" unless net_deadline() is called again within ms; 0 = no deadline. */
void net_deadline(struct net *c, int64_t ms);

/*
 * Close now: bytes still queued are written if the socket takes them at
 * once, then TLS close_notify (both best effort); no callbacks afterwards.
 * NULL is fine.
 */
void net_close(struct net *c);

#endif
