/* crypto.c -- base64, hashes, HMACs, AES-CBC and RSA-OAEP over mbedTLS. */
#include "crypto.h"

#include <errno.h>
#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/md5.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

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

void hmac_sha1(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[20])
{
	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), key, keylen, msg, n, out);
}

void md5(const void *data, size_t n, uint8_t out[16])
{
	mbedtls_md5(data, n, out);
}

int hex_encode(struct buf *b, const void *src, size_t n, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	const uint8_t *p = src;
	char pair[2];
	for (size_t i = 0; i < n; i++) {
		pair[0] = digits[p[i] >> 4];
		pair[1] = digits[p[i] & 15];
		if (buf_append(b, pair, 2) < 0)
			return -1;
	}
	return 0;
}

int aes_cbc_decrypt(const void *key, size_t keylen, const void *in, size_t n, struct buf *out)
{
	if ((keylen != 16 && keylen != 24 && keylen != 32) || n < 32 || n % 16)
		return -1;
	mbedtls_aes_context ctx;
	unsigned char iv[16];
	size_t len = n - 16;
	unsigned char *plain = xmalloc(len);
	memcpy(iv, in, 16);
	mbedtls_aes_init(&ctx);
	int r = mbedtls_aes_setkey_dec(&ctx, key, (unsigned)keylen * 8);
	if (r == 0)
		r = mbedtls_aes_crypt_cbc(&ctx, MBEDTLS_AES_DECRYPT, len, iv, (const unsigned char *)in + 16,
		                          plain);
	mbedtls_aes_free(&ctx);
	/* PKCS#5: 1..16 bytes, each holding the count */
	size_t pad = r == 0 ? plain[len - 1] : 0;
	bool ok = pad >= 1 && pad <= 16;
	for (size_t i = 0; ok && i < pad; i++)
		ok = plain[len - 1 - i] == pad;
	if (ok)
		ok = buf_append(out, plain, len - pad) == 0;
	mbedtls_platform_zeroize(plain, len);
	free(plain);
	return ok ? 0 : -1;
}

/* --- SCRAM (Kafka SASL): SHA-256/512 digests and HMACs, PBKDF2, random bytes --- */

static const mbedtls_md_info_t *md_of(enum crypto_hash h)
{
	return mbedtls_md_info_from_type(h == CRYPTO_SHA512 ? MBEDTLS_MD_SHA512 : MBEDTLS_MD_SHA256);
}

size_t crypto_hash_len(enum crypto_hash h)
{
	return h == CRYPTO_SHA512 ? 64 : 32;
}

void crypto_hash(enum crypto_hash h, const void *p, size_t n, uint8_t *out)
{
	mbedtls_md(md_of(h), p, n, out);
}

void crypto_hmac(enum crypto_hash h, const void *key, size_t keylen, const void *msg, size_t n, uint8_t *out)
{
	mbedtls_md_hmac(md_of(h), key, keylen, msg, n, out);
}

/* MBEDTLS_PKCS5_C is trimmed out of our mbedTLS (deps.sh): PBKDF2 is a loop over HMAC. */
void crypto_pbkdf2_hmac(enum crypto_hash h, const void *password, size_t pwlen, const void *salt,
                        size_t saltlen, uint32_t iterations, uint8_t *out, size_t outlen)
{
	mbedtls_md_context_t ctx;
	size_t hl = crypto_hash_len(h);
	uint8_t u[CRYPTO_HASH_MAX], t[CRYPTO_HASH_MAX];
	mbedtls_md_init(&ctx);
	mbedtls_md_setup(&ctx, md_of(h), 1);
	mbedtls_md_hmac_starts(&ctx, password, pwlen);
	for (uint32_t block = 1; outlen; block++) {
		uint8_t be[4] = { (uint8_t)(block >> 24), (uint8_t)(block >> 16), (uint8_t)(block >> 8),
			          (uint8_t)block };
		mbedtls_md_hmac_reset(&ctx);
		mbedtls_md_hmac_update(&ctx, salt, saltlen);
		mbedtls_md_hmac_update(&ctx, be, 4);
		mbedtls_md_hmac_finish(&ctx, u);
		memcpy(t, u, hl);
		for (uint32_t i = 1; i < iterations; i++) {
			mbedtls_md_hmac_reset(&ctx);
			mbedtls_md_hmac_update(&ctx, u, hl);
			mbedtls_md_hmac_finish(&ctx, u);
			for (size_t k = 0; k < hl; k++)
				t[k] ^= u[k];
		}
		size_t take = outlen < hl ? outlen : hl;
		memcpy(out, t, take);
		out += take;
		outlen -= take;
	}
	mbedtls_md_free(&ctx);
	mbedtls_platform_zeroize(u, sizeof u);
	mbedtls_platform_zeroize(t, sizeof t);
}

int crypto_random(void *p, size_t n)
{
	unsigned char *c = p;
	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* --- mysql: SHA-1 (mysql_native_password), RSA-OAEP (caching_sha2_password) --- */

void sha1(const void *data, size_t n, uint8_t out[20])
{
	mbedtls_sha1(data, n, out);
}

/* OAEP's random seed, straight from the kernel. */
static int os_random(void *ctx, unsigned char *p, size_t n)
{
	(void)ctx;
	return crypto_random(p, n) == 0 ? 0 : MBEDTLS_ERR_RSA_RNG_FAILED;
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
