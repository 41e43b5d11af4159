/*
 * scram.h -- the client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802,
 * RFC 7677) as Kafka's SASL uses it: no channel binding ("n,,"), no
 * SASLprep (Kafka's own clients send the password's UTF-8 bytes as they are).
 *
 *   client-first  ->  server-first  ->  client-final  ->  server-final
 *
 * The password is held only until the client-final message is built, and
 * is never part of an error message.
 */
#ifndef KE_SCRAM_H
#define KE_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"

#define SCRAM_MAX_ITERATIONS 100000 /* a server asking for more is refused (CPU on the loop) */

struct scram {
	enum crypto_hash hash;
	char *password;
	struct buf auth;       /* AuthMessage, built as the exchange goes */
	size_t first_bare_len; /* its client-first-message-bare part */
	char nonce[64];        /* ours */
	uint8_t server_sig[CRYPTO_HASH_MAX];
	int step; /* 0 fresh, 1 first sent, 2 final sent, 3 verified */
};

/*
 * Start an exchange: client-first-message into out. nonce NULL = 24 random
 * bytes in base64 (tests pass RFC 7677's). 0, or -1 (no randomness).
 */
int scram_start(struct scram *s, enum crypto_hash h, const char *user, const char *password,
                const char *nonce, struct buf *out);

/* The server-first-message in, the client-final-message out. 0, or -1 with err (no secrets in it). */
int scram_final(struct scram *s, const char *in, size_t n, struct buf *out, char *err, size_t errlen);

/* The server-final-message: 0 when its signature proves the server knows our key, else -1 with err. */
int scram_verify(struct scram *s, const char *in, size_t n, char *err, size_t errlen);

/* Forget everything (the password wiped). Safe on a zeroed or finished struct. */
void scram_free(struct scram *s);

#endif
