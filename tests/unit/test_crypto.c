/*
 * crypto.c against published vectors (RFC 1321, RFC 2202, RFC 4231) and
 * AES-CBC ciphertexts made with the openssl CLI (an implementation other
 * than mbedTLS):
 *   printf 'LTAI5tExampleKeyId' | openssl enc -aes-128-cbc \
 *     -K 30313233343536373839616263646566 -iv 000102030405060708090a0b0c0d0e0f
 *   printf '' | openssl enc -aes-256-cbc -K <"0123456789abcdef" twice, hex> \
 *     -iv 0f0e0d0c0b0a09080706050403020100
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "test.h"

static void hex_of(struct buf *b, const void *p, size_t n)
{
	buf_reset(b);
	hex_encode(b, p, n, false);
}

/* Bytes from hex (test data only). */
static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2)
		out[n++] = (uint8_t)(hex_digit(h[0]) << 4 | hex_digit(h[1]));
	return n;
}

static void hashes_and_hmacs(void)
{
	struct buf b = BUF_INIT(1024);
	uint8_t d[32];
	md5("abc", 3, d);
	hex_of(&b, d, 16);
	CHECK_STR(buf_str(&b), "900150983cd24fb0d6963f7d28e17f72"); /* RFC 1321 */
	md5("", 0, d);
	buf_reset(&b);
	hex_encode(&b, d, 16, true);
	CHECK_STR(buf_str(&b), "D41D8CD98F00B204E9800998ECF8427E");
	/* RFC 2202 test case 2 */
	hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex_of(&b, d, 20);
	CHECK_STR(buf_str(&b), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	/* RFC 4231 test case 2 */
	hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex_of(&b, d, 32);
	CHECK_STR(buf_str(&b), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	sha256("", 0, d);
	hex_of(&b, d, 32);
	CHECK_STR(buf_str(&b), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	buf_free(&b);
}

static void aes_cbc_with_pkcs5_padding(void)
{
	uint8_t in[64];
	struct buf out = BUF_INIT(1024);
	size_t n = unhex("000102030405060708090a0b0c0d0e0f"
	                 "415af38d1ba685f7fbe73052f8f9a83ef3361d03de87688043deb1f378eb9e66",
	                 in);
	CHECK_INT(n, 48);
	CHECK_INT(aes_cbc_decrypt("0123456789abcdef", 16, in, n, &out), 0);
	CHECK_STR(buf_str(&out), "LTAI5tExampleKeyId");

	/* an empty plaintext is one block of padding */
	buf_reset(&out);
	n = unhex("0f0e0d0c0b0a09080706050403020100cb65911b100d07e43e875034f3345598", in);
	CHECK_INT(aes_cbc_decrypt("0123456789abcdef0123456789abcdef", 32, in, n, &out), 0);
	CHECK_INT(out.len, 0);

	/* a wrong key leaves padding that does not check out; bad sizes are refused */
	buf_reset(&out);
	n = unhex("000102030405060708090a0b0c0d0e0f"
	          "415af38d1ba685f7fbe73052f8f9a83ef3361d03de87688043deb1f378eb9e66",
	          in);
	CHECK_INT(aes_cbc_decrypt("0123456789abcdeX", 16, in, n, &out), -1);
	CHECK_INT(out.len, 0);
	CHECK_INT(aes_cbc_decrypt("0123456789abcde", 15, in, n, &out), -1);
	CHECK_INT(aes_cbc_decrypt("0123456789abcdef", 16, in, n - 1, &out), -1);
	CHECK_INT(aes_cbc_decrypt("0123456789abcdef", 16, in, 16, &out), -1); /* IV only */
	buf_free(&out);
}

const struct test_case test_crypto[] = {
	TEST(hashes_and_hmacs),
	TEST(aes_cbc_with_pkcs5_padding),
	TEST_END,
};
