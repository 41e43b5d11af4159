/*
 * SCRAM-SHA-256/512 (src/scram.c) and the crypto it stands on: PBKDF2
 * against RFC 7914's vector, the whole RFC 7677 SHA-256 exchange, a
 * SHA-512 exchange with the same inputs computed by Python's hashlib/hmac,
 * and the refusals (a nonce that does not extend ours, a wrong server
 * signature, an error from the server, absurd iteration counts).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "scram.h"
#include "test.h"

static void hex(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%02x", p[i]);
}

static void pbkdf2_vectors(void)
{
	uint8_t out[64];
	struct buf h = BUF_INIT(256);
	/* RFC 7914 section 11 */
	crypto_pbkdf2_hmac(CRYPTO_SHA256, "passwd", 6, "salt", 4, 1, out, 64);
	hex(&h, out, 64);
	CHECK_STR(buf_str(&h),
	          "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b6"
	          "45991664b39d77ef317c71b845b1e30bd509112041d3a19783");
	/* SHA-512, 80000 iterations, as Python's hashlib.pbkdf2_hmac gives it */
	buf_reset(&h);
	crypto_pbkdf2_hmac(CRYPTO_SHA512, "password", 8, "NaCl", 4, 80000, out, 64);
	hex(&h, out, 64);
	CHECK_STR(buf_str(&h),
	          "3e3a45fe5c08f2dde35447d357c72a62577dc23cc911f9d35cefa9aad54afc8f6ecafb5eec27d0"
	          "3070ec4809c7089704c9322712577222b78feb7383b826cc4f");
	/* a partial last block */
	uint8_t short_out[20];
	crypto_pbkdf2_hmac(CRYPTO_SHA256, "passwd", 6, "salt", 4, 1, short_out, 20);
	uint8_t full[64];
	crypto_pbkdf2_hmac(CRYPTO_SHA256, "passwd", 6, "salt", 4, 1, full, 64);
	CHECK(memcmp(short_out, full, 20) == 0);
	CHECK_INT(crypto_hash_len(CRYPTO_SHA512), 64);
	CHECK_INT(crypto_hash_len(CRYPTO_SHA256), 32);
	buf_free(&h);
}

static const char server_first[] =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

static void rfc7677_sha256(void)
{
	struct scram s;
	struct buf out = BUF_INIT(4096);
	char err[200];
	memset(&s, 0, sizeof s);
	CHECK_INT(scram_start(&s, CRYPTO_SHA256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO", &out), 0);
	CHECK_STR(buf_str(&out), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
	buf_reset(&out);
	CHECK_INT(scram_final(&s, server_first, strlen(server_first), &out, err, sizeof err), 0);
	CHECK_STR(buf_str(&out), "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                         "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
	CHECK(s.password == NULL); /* not kept past the proof */
	const char *fin = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	CHECK_INT(scram_verify(&s, fin, strlen(fin), err, sizeof err), 0);
	scram_free(&s);
	buf_free(&out);
}

static void sha512_exchange(void)
{
	struct scram s;
	struct buf out = BUF_INIT(4096);
	char err[200];
	memset(&s, 0, sizeof s);
	CHECK_INT(scram_start(&s, CRYPTO_SHA512, "user", "pencil", "rOprNGfwEbeRWgbNEkqO", &out), 0);
	buf_reset(&out);
	CHECK_INT(scram_final(&s, server_first, strlen(server_first), &out, err, sizeof err), 0);
	CHECK_STR(buf_str(&out), "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="
	                         "gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNom"
	                         "v+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==");
	/* a signature that is not the server's */
	const char *bad = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	CHECK_INT(scram_verify(&s, bad, strlen(bad), err, sizeof err), -1);
	CHECK(strstr(err, "signature") != NULL);
	const char *fin =
	    "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==";
	CHECK_INT(scram_verify(&s, fin, strlen(fin), err, sizeof err), 0);
	scram_free(&s);
	buf_free(&out);
}

static void names_and_nonces(void)
{
	struct scram s;
	struct buf out = BUF_INIT(4096);
	memset(&s, 0, sizeof s);
	CHECK_INT(scram_start(&s, CRYPTO_SHA256, "a=b,c", "pw", "N", &out), 0);
	CHECK_STR(buf_str(&out), "n,,n=a=3Db=2Cc,r=N");
	/* random nonces: printable, no commas, and two of them differ */
	char first[64];
	buf_reset(&out);
	CHECK_INT(scram_start(&s, CRYPTO_SHA256, "u", "pw", NULL, &out), 0);
	snprintf(first, sizeof first, "%s", s.nonce);
	CHECK(strlen(first) == 32 && !strchr(first, ','));
	buf_reset(&out);
	CHECK_INT(scram_start(&s, CRYPTO_SHA256, "u", "pw", NULL, &out), 0);
	CHECK(strcmp(first, s.nonce) != 0);
	scram_free(&s);
	buf_free(&out);
}

static void refusals(void)
{
	static const char *const bad[] = {
		"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",          /* not our nonce */
		"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* ours, not extended */
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999",
		"r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096",
		"r=rOprNGfwEbeRWgbNEkqOx,i=4096",
		"m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"e=unknown-user",
		"",
	};
	char err[200];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct scram s;
		struct buf out = BUF_INIT(4096);
		memset(&s, 0, sizeof s);
		CHECK_INT(scram_start(&s, CRYPTO_SHA256, "user", "secret-pw", "rOprNGfwEbeRWgbNEkqO", &out),
		          0);
		buf_reset(&out);
		err[0] = '\0';
		if (scram_final(&s, bad[i], strlen(bad[i]), &out, err, sizeof err) != -1) {
			test_fail(__FILE__, __LINE__, "server-first %zu was taken", i);
			return;
		}
		CHECK(err[0] && !strstr(err, "secret-pw"));
		scram_free(&s);
		buf_free(&out);
	}
	/* out of turn */
	struct scram s;
	memset(&s, 0, sizeof s);
	CHECK_INT(scram_verify(&s, "v=x", 3, err, sizeof err), -1);
	scram_free(&s);
}

const struct test_case test_scram[] = {
	TEST(pbkdf2_vectors),   TEST(rfc7677_sha256), TEST(sha512_exchange),
	TEST(names_and_nonces), TEST(refusals),       TEST_END,
};
