/* tls.c -- TLS client sessions over non-blocking sockets, on mbedTLS. */
#include "tls.h"

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

struct tls {
	int fd;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_x509_crt ca; /* released after the handshake */
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	bool ca_held;
};

/* One random generator for every session: one thread. */
static struct {
	bool ready;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
} rng;

static int rng_init(void)
{
	if (rng.ready)
		return 0;
	if (psa_crypto_init() != PSA_SUCCESS) /* TLS 1.3 runs on PSA */
		return -1;
	mbedtls_entropy_init(&rng.entropy);
	mbedtls_ctr_drbg_init(&rng.drbg);
	if (mbedtls_ctr_drbg_seed(&rng.drbg, mbedtls_entropy_func, &rng.entropy,
	                          (const unsigned char *)"kube-eventer", 12) != 0)
		return -1;
	rng.ready = true;
	return 0;
}

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
	ssize_t w = send(*(int *)ctx, p, n, MSG_NOSIGNAL);
	if (w >= 0)
		return (int)w;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
	ssize_t r = recv(*(int *)ctx, p, n, 0);
	if (r >= 0)
		return (int)r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* err = what + mbedTLS's words for code. */
static void describe(char *err, size_t errlen, const char *what, int code)
{
	char m[128];
	mbedtls_strerror(code, m, sizeof m);
	snprintf(err, errlen, "%s: %s", what, m);
}

/* mbedTLS wants PEM data with its terminating NUL counted. */
static int parse_pem_or_file(mbedtls_x509_crt *crt, const char *pem, size_t pem_len, const char *file)
{
	if (!pem)
		return mbedtls_x509_crt_parse_file(crt, file);
	char *z = xstrndup(pem, pem_len);
	int r = mbedtls_x509_crt_parse(crt, (const unsigned char *)z, pem_len + 1);
	free(z);
	return r;
}

struct tls *tls_new(int fd, const struct http_tls *t, const char *server_name, char *err, size_t errlen)
{
	struct tls *s = xcalloc(1, sizeof *s);
	int r;
	s->fd = fd;
	mbedtls_ssl_config_init(&s->conf);
	mbedtls_ssl_init(&s->ssl);
	mbedtls_x509_crt_init(&s->ca);
	mbedtls_x509_crt_init(&s->cert);
	mbedtls_pk_init(&s->key);
	if (rng_init() < 0) {
		snprintf(err, errlen, "TLS: cannot seed the random generator");
		goto fail;
	}
	if ((r = mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                     MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		describe(err, errlen, "TLS", r);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &rng.drbg);
	if (t && t->insecure) {
		mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_NONE);
	} else {
		const char *file = t && t->ca_file ? t->ca_file : http_default_ca();
		if (!(t && t->ca_pem) && !file) {
			snprintf(err, errlen, "TLS: no CA bundle (set cacert= or SSL_CERT_FILE)");
			goto fail;
		}
		r = parse_pem_or_file(&s->ca, t ? t->ca_pem : NULL, t ? t->ca_pem_len : 0, file);
		if (r < 0 || !s->ca.version) { /* > 0: some certificates skipped, the rest loaded */
			describe(err, errlen, t && t->ca_pem ? "TLS: CA" : file, r);
			goto fail;
		}
		s->ca_held = true;
		mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		mbedtls_ssl_conf_ca_chain(&s->conf, &s->ca, NULL);
	}
	if (t && (t->cert_file || t->cert_pem)) {
		r = parse_pem_or_file(&s->cert, t->cert_pem, t->cert_pem_len, t->cert_file);
		if (r != 0) {
			describe(err, errlen, "TLS: client certificate", r);
			goto fail;
		}
		if (t->key_pem) {
			char *z = xstrndup(t->key_pem, t->key_pem_len);
			r = mbedtls_pk_parse_key(&s->key, (const unsigned char *)z, t->key_pem_len + 1, NULL,
			                         0, mbedtls_ctr_drbg_random, &rng.drbg);
			free(z);
		} else if (t->key_file) {
			r = mbedtls_pk_parse_keyfile(&s->key, t->key_file, NULL, mbedtls_ctr_drbg_random,
			                             &rng.drbg);
		} else {
			r = MBEDTLS_ERR_PK_KEY_INVALID_FORMAT;
		}
		if (r != 0 || (r = mbedtls_ssl_conf_own_cert(&s->conf, &s->cert, &s->key)) != 0) {
			describe(err, errlen, "TLS: client key", r);
			goto fail;
		}
	}
	if ((r = mbedtls_ssl_setup(&s->ssl, &s->conf)) != 0 ||
	    (server_name && *server_name && (r = mbedtls_ssl_set_hostname(&s->ssl, server_name)) != 0)) {
		describe(err, errlen, "TLS", r);
		goto fail;
	}
	mbedtls_ssl_set_bio(&s->ssl, &s->fd, bio_send, bio_recv, NULL);
	return s;
fail:
	tls_free(s);
	return NULL;
}

void tls_free(struct tls *s)
{
	if (!s)
		return;
	mbedtls_ssl_free(&s->ssl);
	mbedtls_ssl_config_free(&s->conf);
	mbedtls_x509_crt_free(&s->ca);
	mbedtls_x509_crt_free(&s->cert);
	mbedtls_pk_free(&s->key);
	free(s);
}

static int want(int r)
{
	if (r == MBEDTLS_ERR_SSL_WANT_READ)
		return TLS_WANT_READ;
	if (r == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TLS_WANT_WRITE;
	return 0;
}

int tls_handshake(struct tls *s, char *err, size_t errlen)
{
	int r = mbedtls_ssl_handshake(&s->ssl);
	if (r == 0) {
		/* verified: the chain is not needed any more (no renegotiation) */
		if (s->ca_held) {
			mbedtls_ssl_conf_ca_chain(&s->conf, NULL, NULL);
			mbedtls_x509_crt_free(&s->ca);
			s->ca_held = false;
		}
		return 0;
	}
	if (want(r))
		return want(r);
	uint32_t flags = mbedtls_ssl_get_verify_result(&s->ssl);
	if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH))
		snprintf(err, errlen, "TLS certificate not valid for this host name");
	else if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && (flags & MBEDTLS_X509_BADCERT_EXPIRED))
		snprintf(err, errlen, "TLS certificate expired");
	else if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		snprintf(err, errlen, "TLS certificate not trusted");
	else
		describe(err, errlen, "TLS handshake failed", r);
	return -1;
}

ssize_t tls_read(struct tls *s, void *p, size_t n, char *err, size_t errlen)
{
	int r;
	do /* TLS 1.3 session tickets arrive as "received a ticket": read on */
		r = mbedtls_ssl_read(&s->ssl, p, n);
	while (r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET);
	if (r >= 0)
		return r;
	if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	if (want(r))
		return want(r);
	describe(err, errlen, "TLS read", r);
	return -1;
}

ssize_t tls_write(struct tls *s, const void *p, size_t n, char *err, size_t errlen)
{
	int r = mbedtls_ssl_write(&s->ssl, p, n);
	if (r >= 0)
		return r;
	if (want(r))
		return want(r);
	describe(err, errlen, "TLS write", r);
	return -1;
}

bool tls_pending(const struct tls *s)
{
	return mbedtls_ssl_get_bytes_avail(&s->ssl) > 0 || mbedtls_ssl_check_pending(&s->ssl);
}

void tls_close_notify(struct tls *s)
{
	mbedtls_ssl_close_notify(&s->ssl);
}
