/*
 * crypto.h -- the only module that touches mbedTLS directly (curl uses it
 * for TLS on its own). Base64, SHA-256 and HMAC-SHA256.
 */
#ifndef KE_CRYPTO_H
#define KE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* Append the standard base64 (with padding) of src to b. 0 or -1 (too large). */
int base64_encode(struct buf *b, const void *src, size_t n);
/* Decode standard base64 (padding optional, whitespace ignored) into b. 0 or -1. */
int base64_decode(struct buf *b, const char *src, size_t n);
void sha256(const void *data, size_t n, uint8_t out[32]);
void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]);

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
