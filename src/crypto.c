/* crypto.c -- base64, hashes, HMACs and AES-CBC over mbedTLS. */
#include "crypto.h"

#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/md5.h>
#include <mbedtls/platform_util.h>
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
