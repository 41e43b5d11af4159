/* crypto.c -- base64, SHA-256/HMAC, SHA-1 and RSA-OAEP over mbedTLS. */
#include "crypto.h"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <stdlib.h>
#include <string.h>

int base64_encode(struct buf *b, const void *src, size_t n)
{
	size_t olen = 0;
	size_t need = 4 * ((n + 2) / 3) + 1;
	char *tmp = xmalloc(need);
	int r = mbedtls_base64_encode((unsigned char *)tmp, need, &olen, src, n);
	if (r == 0)
		r = buf_append(b, tmp, olen);
	free(tmp);
	return r == 0 ? 0 : -1;
}

int base64_decode(struct buf *b, const char *src, size_t n)
{
	/* mbedTLS wants padding and no whitespace: normalise first. */
	char *clean = xmalloc(n + 4);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		clean[m++] = c;
	}
	while (m % 4)
		clean[m++] = '=';
	size_t olen = 0;
	unsigned char *out = xmalloc(m / 4 * 3 + 1);
	int r = mbedtls_base64_decode(out, m / 4 * 3 + 1, &olen, (unsigned char *)clean, m);
	if (r == 0)
		r = buf_append(b, out, olen);
	free(clean);
	free(out);
	return r == 0 ? 0 : -1;
}

void sha256(const void *data, size_t n, uint8_t out[32])
{
	mbedtls_sha256(data, n, out, 0);
}

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, keylen, msg, n, out);
}

/* --- mysql: SHA-1 (mysql_native_password), RSA-OAEP (caching_sha2_password) --- */

#include <errno.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <stdio.h>
#include <sys/random.h>

void sha1(const void *data, size_t n, uint8_t out[20])
{
	mbedtls_sha1(data, n, out);
}

/* OAEP's random seed, straight from the kernel. */
static int os_random(void *ctx, unsigned char *p, size_t n)
{
	(void)ctx;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return MBEDTLS_ERR_RSA_RNG_FAILED;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int rsa_oaep_sha1_encrypt(const char *pem, size_t pemlen, const void *in, size_t n, struct buf *out,
                          char *err, size_t errlen)
{
	mbedtls_pk_context pk;
	char m[128];
	int r = -1;
	/* mbedTLS reads PEM up to a NUL it counts in the length */
	char *z = xmalloc(pemlen + 1);
	memcpy(z, pem, pemlen);
	z[pemlen] = '\0';
	mbedtls_pk_init(&pk);
	int e = mbedtls_pk_parse_public_key(&pk, (const unsigned char *)z, pemlen + 1);
	if (e != 0) {
		mbedtls_strerror(e, m, sizeof m);
		snprintf(err, errlen, "the server's public key: %s", m);
		goto out;
	}
	if (!mbedtls_pk_can_do(&pk, MBEDTLS_PK_RSA)) {
		snprintf(err, errlen, "the server's public key is not an RSA key");
		goto out;
	}
	mbedtls_rsa_context *rsa = mbedtls_pk_rsa(pk);
	size_t klen = mbedtls_rsa_get_len(rsa);
	if (klen < 2 * 20 + 2 || n > klen - 2 * 20 - 2) {
		snprintf(err, errlen, "the password is too long for the server's %zu-bit RSA key", klen * 8);
		goto out;
	}
	unsigned char *ct = xmalloc(klen);
	e = mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA1);
	if (e == 0)
		e = mbedtls_rsa_rsaes_oaep_encrypt(rsa, os_random, NULL, NULL, 0, n, in, ct);
	if (e != 0) {
		mbedtls_strerror(e, m, sizeof m);
		snprintf(err, errlen, "RSA encryption: %s", m);
	} else if (buf_append(out, ct, klen) < 0) {
		snprintf(err, errlen, "RSA encryption: no room");
	} else {
		r = 0;
	}
	free(ct);
out:
	mbedtls_pk_free(&pk);
	free(z);
	return r;
}
