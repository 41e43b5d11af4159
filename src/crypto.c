/* crypto.c -- base64 and SHA-256/HMAC over mbedTLS. */
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
