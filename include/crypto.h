/*
 * crypto.h -- the only module that touches mbedTLS directly (curl uses it
 * for TLS on its own). Base64, hex, SHA-256, SHA-1/MD5 (for the old SLS
 * signature), HMACs, and AES-CBC decryption (ACK's token-config file).
 */
#ifndef KE_CRYPTO_H
#define KE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* Append the standard base64 (with padding) of src to b. 0 or -1 (too large). */
int base64_encode(struct buf *b, const void *src, size_t n);
/* Decode standard base64 (padding optional, whitespace ignored) into b. 0 or -1. */
int base64_decode(struct buf *b, const char *src, size_t n);
void sha256(const void *data, size_t n, uint8_t out[32]);
void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]);
void hmac_sha1(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[20]);
void md5(const void *data, size_t n, uint8_t out[16]);
/* Append the hex of src[0..n) to b, lowercase (upper: uppercase). 0 or -1. */
int hex_encode(struct buf *b, const void *src, size_t n, bool upper);

/*
 * AES-CBC decryption with PKCS#5/#7 padding, as Go's crypto/cipher code in
 * ACK's token-config reader does it: key is 16, 24 or 32 bytes (AES-128/
 * 192/256), the first 16 bytes of in are the IV, the rest the ciphertext
 * (a whole number of blocks). The plaintext without its padding is
 * appended to out. 0, or -1 for a bad key length, a short or ragged input,
 * or padding that does not check out (a wrong key, most likely).
 */
int aes_cbc_decrypt(const void *key, size_t keylen, const void *in, size_t n, struct buf *out);

/* --- SCRAM (Kafka SASL): SHA-256/512 digests and HMACs, PBKDF2, random bytes --- */

enum crypto_hash { CRYPTO_SHA256, CRYPTO_SHA512 };
#define CRYPTO_HASH_MAX 64 /* bytes of the longest digest */

/* Digest length of h in bytes (32 or 64). */
size_t crypto_hash_len(enum crypto_hash h);
/* out receives crypto_hash_len(h) bytes. */
void crypto_hash(enum crypto_hash h, const void *p, size_t n, uint8_t *out);
void crypto_hmac(enum crypto_hash h, const void *key, size_t keylen, const void *msg, size_t n, uint8_t *out);
/* PBKDF2 with HMAC-h (RFC 8018): outlen bytes of key derived from password and salt. */
void crypto_pbkdf2_hmac(enum crypto_hash h, const void *password, size_t pwlen, const void *salt,
                        size_t saltlen, uint32_t iterations, uint8_t *out, size_t outlen);
/* n bytes from the kernel's CSPRNG (getrandom). 0, or -1 when it cannot give them. */
int crypto_random(void *p, size_t n);

/* --- for the mysql sink's auth plugins --- */
void sha1(const void *data, size_t n, uint8_t out[20]);
/*
 * Encrypt in[0..n) with RSA-OAEP (SHA-1, MGF1-SHA-1, no label) under the
 * RSA public key in pem[0..pemlen) ("BEGIN PUBLIC KEY" or "BEGIN RSA PUBLIC
 * KEY"); the ciphertext is appended to out. 0, or -1 with err.
 */
int rsa_oaep_sha1_encrypt(const char *pem, size_t pemlen, const void *in, size_t n, struct buf *out,
                          char *err, size_t errlen);

#endif
