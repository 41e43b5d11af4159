/*
 * tls.h -- a TLS client session over a non-blocking socket (mbedTLS 3.6),
 * for the sinks that speak their own protocol on the loop (net.c). curl
 * uses mbedTLS on its own for HTTPS; this module and crypto.c are the only
 * ones of ours that include mbedTLS.
 *
 * Verification is always on unless t->insecure: against t->ca_pem, else
 * t->ca_file, else the default bundle (http_default_ca()). The server name
 * (or IP address: mbedTLS 3.6 checks IP SANs) is verified and sent as SNI.
 * The parsed CA chain is released once the handshake is done: a bundle of
 * 140 certificates costs ~0.5 MiB while it is held.
 */
#ifndef KE_TLS_H
#define KE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http.h"

#define TLS_WANT_READ (-2)
#define TLS_WANT_WRITE (-3)

struct tls;

/* A client session on fd (connected, non-blocking). NULL with err on a bad CA, cert or key. */
struct tls *tls_new(int fd, const struct http_tls *t, const char *server_name, char *err, size_t errlen);
void tls_free(struct tls *s);

/* Drive the handshake: 0 done, TLS_WANT_READ/TLS_WANT_WRITE, or -1 with err. */
int tls_handshake(struct tls *s, char *err, size_t errlen);

/*
 * Read or write application data: bytes (> 0), TLS_WANT_READ/TLS_WANT_WRITE,
 * 0 when the peer closed (read), or -1 with err. A write that wanted more
 * must be repeated with the same bytes.
 */
ssize_t tls_read(struct tls *s, void *p, size_t n, char *err, size_t errlen);
ssize_t tls_write(struct tls *s, const void *p, size_t n, char *err, size_t errlen);

/* Decrypted bytes are waiting inside the session (read again without fd readiness). */
bool tls_pending(const struct tls *s);

/* Send close_notify, best effort (before closing the socket). */
void tls_close_notify(struct tls *s);

#endif
