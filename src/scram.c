/* scram.c -- SCRAM-SHA-256/512 client messages (RFC 5802, RFC 7677). */
#include "scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* saslname: '=' and ',' escaped as =3D and =2C. */
static void put_name(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '=')
			buf_puts(b, "=3D");
		else if (*s == ',')
			buf_puts(b, "=2C");
		else
			buf_putc(b, *s);
	}
}

int scram_start(struct scram *s, enum crypto_hash h, const char *user, const char *password,
                const char *nonce, struct buf *out)
{
	scram_free(s);
	s->hash = h;
	if (nonce) {
		snprintf(s->nonce, sizeof s->nonce, "%s", nonce);
	} else {
		unsigned char raw[24];
		struct buf b = BUF_INIT(64);
		if (crypto_random(raw, sizeof raw) < 0)
			return -1;
		base64_encode(&b, raw, sizeof raw);
		snprintf(s->nonce, sizeof s->nonce, "%s", buf_str(&b));
		buf_free(&b);
	}
	s->password = xstrdup(password);
	buf_init(&s->auth, 64 * 1024);
	buf_puts(&s->auth, "n=");
	put_name(&s->auth, user);
	buf_printf(&s->auth, ",r=%s", s->nonce);
	s->first_bare_len = s->auth.len;
	buf_puts(out, "n,,");
	buf_append(out, s->auth.data, s->auth.len);
	s->step = 1;
	return s->auth.overflow || out->overflow ? -1 : 0;
}

/* The value of attribute `a` ("r", "s", "i") in a comma-separated message, or NULL. */
static const char *attr(const char *msg, size_t n, char a, size_t *len)
{
	const char *p = msg, *end = msg + n;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		if (stop - p >= 2 && p[0] == a && p[1] == '=') {
			*len = (size_t)(stop - p - 2);
			return p + 2;
		}
		p = stop + 1;
	}
	return NULL;
}

int scram_final(struct scram *s, const char *in, size_t n, struct buf *out, char *err, size_t errlen)
{
	size_t hl = crypto_hash_len(s->hash);
	size_t rlen = 0, slen = 0, ilen = 0;
	if (s->step != 1) {
		snprintf(err, errlen, "SCRAM: server-first-message out of turn");
		return -1;
	}
	if (n && in[0] == 'm') {
		snprintf(err, errlen, "SCRAM: the server requires an extension we do not know");
		return -1;
	}
	const char *r = attr(in, n, 'r', &rlen), *salt = attr(in, n, 's', &slen),
	           *it = attr(in, n, 'i', &ilen);
	size_t cn = strlen(s->nonce);
	int64_t iter = 0;
	size_t elen = 0;
	const char *e = attr(in, n, 'e', &elen);
	if (e) {
		snprintf(err, errlen, "SCRAM: the server refused: %.*s", (int)MIN(elen, 100), e);
		return -1;
	}
	if (!r || rlen <= cn || memcmp(r, s->nonce, cn) != 0 || memchr(r, ',', rlen)) {
		snprintf(err, errlen, "SCRAM: the server's nonce does not extend ours");
		return -1;
	}
	if (!it || parse_i64(it, ilen, &iter) < 0 || iter < 1 || iter > SCRAM_MAX_ITERATIONS) {
		snprintf(err, errlen, "SCRAM: bad iteration count (1..%d)", SCRAM_MAX_ITERATIONS);
		return -1;
	}
	struct buf saltb = BUF_INIT(1024);
	if (!salt || !slen || base64_decode(&saltb, salt, slen) < 0 || !saltb.len) {
		buf_free(&saltb);
		snprintf(err, errlen, "SCRAM: bad salt");
		return -1;
	}
	uint8_t salted[CRYPTO_HASH_MAX], ckey[CRYPTO_HASH_MAX], stored[CRYPTO_HASH_MAX],
	    csig[CRYPTO_HASH_MAX], skey[CRYPTO_HASH_MAX];
	crypto_pbkdf2_hmac(s->hash, s->password, strlen(s->password), saltb.data, saltb.len, (uint32_t)iter,
	                   salted, hl);
	buf_free(&saltb);
	crypto_hmac(s->hash, salted, hl, "Client Key", 10, ckey);
	crypto_hash(s->hash, ckey, hl, stored);
	crypto_hmac(s->hash, salted, hl, "Server Key", 10, skey);

	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	size_t final_at = out->len;
	buf_puts(out, "c=biws,r="); /* biws = base64("n,,") */
	buf_append(out, r, rlen);
	buf_putc(&s->auth, ',');
	buf_append(&s->auth, in, n);
	buf_putc(&s->auth, ',');
	buf_append(&s->auth, out->data + final_at, out->len - final_at);
	crypto_hmac(s->hash, stored, hl, s->auth.data, s->auth.len, csig);
	crypto_hmac(s->hash, skey, hl, s->auth.data, s->auth.len, s->server_sig);
	for (size_t i = 0; i < hl; i++)
		ckey[i] ^= csig[i]; /* ClientProof */
	buf_puts(out, ",p=");
	base64_encode(out, ckey, hl);
	memset(salted, 0, sizeof salted);
	memset(ckey, 0, sizeof ckey);
	memset(skey, 0, sizeof skey);
	memset(s->password, 0, strlen(s->password));
	free(s->password);
	s->password = NULL;
	s->step = 2;
	if (s->auth.overflow || out->overflow) {
		snprintf(err, errlen, "SCRAM: message too long");
		return -1;
	}
	return 0;
}

int scram_verify(struct scram *s, const char *in, size_t n, char *err, size_t errlen)
{
	size_t len = 0, hl = crypto_hash_len(s->hash);
	if (s->step != 2) {
		snprintf(err, errlen, "SCRAM: server-final-message out of turn");
		return -1;
	}
	const char *e = attr(in, n, 'e', &len);
	if (e) {
		snprintf(err, errlen, "SCRAM: the server refused: %.*s", (int)MIN(len, 100), e);
		return -1;
	}
	const char *v = attr(in, n, 'v', &len);
	struct buf sig = BUF_INIT(256);
	bool ok = v && base64_decode(&sig, v, len) == 0 && sig.len == hl &&
	          memcmp(sig.data, s->server_sig, hl) == 0;
	buf_free(&sig);
	if (!ok) {
		snprintf(err, errlen,
		         "SCRAM: the server's signature does not match (not the server we know)");
		return -1;
	}
	s->step = 3;
	return 0;
}

void scram_free(struct scram *s)
{
	if (s->password) {
		memset(s->password, 0, strlen(s->password));
		free(s->password);
	}
	buf_free(&s->auth);
	memset(s, 0, sizeof *s);
}
