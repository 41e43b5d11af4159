/* mysql_proto.c -- MySQL/MariaDB client protocol pieces for the mysql sink: bytes in, bytes out. */
#include "sinks/mysql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

static uint32_t get_u16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get_u24(const uint8_t *p)
{
	return get_u16(p) | (uint32_t)p[2] << 16;
}

static uint32_t get_u32(const uint8_t *p)
{
	return get_u24(p) | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A length-encoded integer at p[0..n): its size in bytes (0 = malformed or NULL), value in *v. */
static size_t get_lenenc(const uint8_t *p, size_t n, uint64_t *v)
{
	if (n < 1)
		return 0;
	size_t w = p[0] < 0xFB ? 0 : p[0] == 0xFC ? 2 : p[0] == 0xFD ? 3 : p[0] == 0xFE ? 8 : SIZE_MAX;
	if (w == SIZE_MAX || n < 1 + w)
		return 0;
	if (w == 0) {
		*v = p[0];
		return 1;
	}
	*v = 0;
	for (size_t i = 0; i < w; i++)
		*v |= (uint64_t)p[1 + i] << (8 * i);
	return 1 + w;
}

static int put_lenenc(struct buf *b, uint64_t v)
{
	uint8_t t[9];
	size_t w;
	if (v < 0xFB) {
		t[0] = (uint8_t)v;
		return buf_append(b, t, 1);
	}
	t[0] = v <= 0xFFFF ? 0xFC : v <= 0xFFFFFF ? 0xFD : 0xFE;
	w = t[0] == 0xFC ? 2 : t[0] == 0xFD ? 3 : 8;
	for (size_t i = 0; i < w; i++)
		t[1 + i] = (uint8_t)(v >> (8 * i));
	return buf_append(b, t, 1 + w);
}

/* A bounded copy of p[0..n) up to its first NUL into out (size outlen). */
static void copy_str(char *out, size_t outlen, const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);
	size_t len = z ? (size_t)(z - p) : n;
	snprintf(out, outlen, "%.*s", (int)MIN(len, outlen - 1), (const char *)p);
}

/* --- packets -------------------------------------------------------------- */

long my_packet(const uint8_t *p, size_t n, const uint8_t **payload, size_t *len, uint8_t *seq)
{
	if (n < MY_HEADER)
		return 0;
	uint32_t l = get_u24(p);
	if (l == MY_MAX_PAYLOAD)
		return -1;
	if (n < MY_HEADER + (size_t)l)
		return 0;
	*payload = p + MY_HEADER;
	*len = l;
	*seq = p[3];
	return (long)(MY_HEADER + l);
}

int my_frame(struct buf *out, uint8_t *seq, const void *payload, size_t len)
{
	const uint8_t *p = payload;
	size_t start = out->len;
	for (;;) {
		size_t chunk = MIN(len, (size_t)MY_MAX_PAYLOAD);
		uint8_t h[MY_HEADER] = { (uint8_t)chunk, (uint8_t)(chunk >> 8), (uint8_t)(chunk >> 16),
			                 *seq };
		if (buf_append(out, h, sizeof h) < 0 || buf_append(out, p, chunk) < 0) {
			out->len = start;
			if (out->data)
				out->data[start] = '\0';
			return -1;
		}
		(*seq)++;
		p += chunk;
		len -= chunk;
		if (chunk < MY_MAX_PAYLOAD)
			return 0;
	}
}

/* --- OK, ERR -------------------------------------------------------------- */

int my_err_decode(const uint8_t *p, size_t n, struct my_err *e)
{
	memset(e, 0, sizeof *e);
	if (n < 3 || p[0] != 0xFF)
		return -1;
	e->code = (uint16_t)get_u16(p + 1);
	size_t off = 3;
	/* the SQLSTATE marker; absent in errors sent before the handshake */
	if (n >= 9 && p[3] == '#') {
		memcpy(e->state, p + 4, 5);
		for (int i = 0; i < 5; i++)
			if ((unsigned char)e->state[i] < 0x20 || (unsigned char)e->state[i] > 0x7E)
				e->state[i] = '?';
		off = 9;
	}
	size_t mlen = MIN(n - off, sizeof e->msg - 1);
	memcpy(e->msg, p + off, mlen);
	e->msg[mlen] = '\0';
	/* a log line's worth: no control bytes (a NUL would end it early) */
	for (size_t i = 0; i < mlen; i++)
		if ((unsigned char)e->msg[i] < 0x20)
			e->msg[i] = ' ';
	return 0;
}

void my_err_text(const struct my_err *e, char *out, size_t n)
{
	if (e->state[0])
		snprintf(out, n, "Error %u (%s): %s", e->code, e->state, e->msg);
	else
		snprintf(out, n, "Error %u: %s", e->code, e->msg);
}

int my_ok_decode(const uint8_t *p, size_t n, struct my_ok *ok)
{
	memset(ok, 0, sizeof *ok);
	if (n < 1 || p[0] != 0x00)
		return -1;
	size_t off = 1, w;
	if (!(w = get_lenenc(p + off, n - off, &ok->affected_rows)))
		return -1;
	off += w;
	if (!(w = get_lenenc(p + off, n - off, &ok->insert_id)))
		return -1;
	off += w;
	if (n - off >= 4) {
		ok->status = (uint16_t)get_u16(p + off);
		ok->warnings = (uint16_t)get_u16(p + off + 2);
	}
	return 0;
}

/* --- the handshake ---------------------------------------------------------- */

int my_handshake_decode(const uint8_t *p, size_t n, struct my_handshake *h, struct my_err *e, char *why,
                        size_t whylen)
{
	memset(h, 0, sizeof *h);
	if (n >= 1 && p[0] == 0xFF) {
		if (my_err_decode(p, n, e) < 0) {
			snprintf(why, whylen, "malformed error packet");
			return -1;
		}
		return 1;
	}
	if (n < 1 || p[0] != 10) {
		snprintf(why, whylen, "not a MySQL server (protocol version %d, want 10)", n ? p[0] : -1);
		return -1;
	}
	const uint8_t *z = memchr(p + 1, 0, n - 1);
	if (!z) {
		snprintf(why, whylen, "malformed handshake (server version)");
		return -1;
	}
	copy_str(h->server_version, sizeof h->server_version, p + 1, (size_t)(z - p - 1));
	size_t off = (size_t)(z - p) + 1;
	/* connection id, 8 bytes of scramble, a filler, the lower capabilities */
	if (n - off < 4 + 8 + 1 + 2) {
		snprintf(why, whylen, "malformed handshake (too short)");
		return -1;
	}
	h->conn_id = get_u32(p + off);
	memcpy(h->scramble, p + off + 4, 8);
	h->scramble_len = 8;
	off += 4 + 8 + 1;
	h->caps = get_u16(p + off);
	off += 2;
	if (n - off >= 1 + 2 + 2 + 1 + 10) {
		h->charset = p[off];
		h->status = (uint16_t)get_u16(p + off + 1);
		h->caps |= get_u16(p + off + 3) << 16;
		size_t alen = p[off + 5];
		off += 1 + 2 + 2 + 1 + 10;
		if (h->caps & MY_CLIENT_SECURE_CONNECTION) {
			/* the rest of the scramble: max(13, alen - 8) bytes, the last a NUL */
			size_t part2 = alen > 8 + 13 ? alen - 8 : 13;
			if (n - off < 12) {
				snprintf(why, whylen, "malformed handshake (scramble)");
				return -1;
			}
			memcpy(h->scramble + 8, p + off, 12);
			h->scramble_len = 20;
			off += MIN(part2, n - off);
		}
		/* the plugin name: NUL-terminated (some 5.5/5.6 servers end it with the packet) */
		if (h->caps & MY_CLIENT_PLUGIN_AUTH && off < n)
			copy_str(h->plugin, sizeof h->plugin, p + off, n - off);
	}
	if (!(h->caps & MY_CLIENT_PROTOCOL_41)) {
		snprintf(why, whylen, "server %s is too old (no protocol 4.1)", h->server_version);
		return -1;
	}
	return 0;
}

void my_ssl_request(struct buf *out, uint32_t caps, uint8_t charset)
{
	uint8_t p[32] = { 0 };
	put_u32(p, caps | MY_CLIENT_SSL);
	put_u32(p + 4, 1u << 24); /* max packet: 16 MiB */
	p[8] = charset;
	buf_append(out, p, sizeof p);
}

int my_handshake_response(struct buf *out, const struct my_login *l)
{
	uint8_t head[32] = { 0 };
	put_u32(head, l->caps);
	put_u32(head + 4, 1u << 24);
	head[8] = l->charset;
	buf_append(out, head, sizeof head);
	buf_puts(out, l->user ? l->user : "");
	buf_putc(out, '\0');
	if (l->caps & MY_CLIENT_PLUGIN_AUTH_LENENC) {
		put_lenenc(out, l->auth_len);
	} else {
		if (l->auth_len > 255)
			return -1;
		buf_putc(out, (char)l->auth_len);
	}
	buf_append(out, l->auth, l->auth_len);
	if (l->caps & MY_CLIENT_CONNECT_WITH_DB) {
		buf_puts(out, l->db ? l->db : "");
		buf_putc(out, '\0');
	}
	if (l->caps & MY_CLIENT_PLUGIN_AUTH) {
		buf_puts(out, l->plugin ? l->plugin : "");
		buf_putc(out, '\0');
	}
	return out->overflow ? -1 : 0;
}

int my_auth_reply_decode(const uint8_t *p, size_t n, struct my_auth_reply *r, char *why, size_t whylen)
{
	memset(r, 0, sizeof *r);
	if (n < 1) {
		snprintf(why, whylen, "empty packet during authentication");
		return -1;
	}
	switch (p[0]) {
	case 0x00:
		r->kind = MY_AUTH_OK;
		return 0;
	case 0xFF:
		r->kind = MY_AUTH_ERR;
		if (my_err_decode(p, n, &r->err) < 0) {
			snprintf(why, whylen, "malformed error packet");
			return -1;
		}
		return 0;
	case 0x01:
		r->kind = MY_AUTH_MORE;
		r->data = p + 1;
		r->data_len = n - 1;
		return 0;
	case 0xFE:
		r->kind = MY_AUTH_SWITCH;
		if (n == 1) { /* the pre-4.1 "old auth switch" */
			snprintf(r->plugin, sizeof r->plugin, "mysql_old_password");
			return 0;
		}
		const uint8_t *z = memchr(p + 1, 0, n - 1);
		if (!z) {
			snprintf(why, whylen, "malformed auth switch request");
			return -1;
		}
		copy_str(r->plugin, sizeof r->plugin, p + 1, (size_t)(z - p - 1));
		r->data = z + 1;
		r->data_len = n - (size_t)(z + 1 - p);
		if (r->data_len && r->data[r->data_len - 1] == 0)
			r->data_len--;
		return 0;
	default:
		snprintf(why, whylen, "unexpected packet 0x%02x during authentication", p[0]);
		return -1;
	}
}

/* --- auth plugins ------------------------------------------------------------ */

static const char *const plugin_names[] = { "mysql_native_password", "caching_sha2_password",
	                                    "sha256_password", "mysql_clear_password" };

enum my_plugin my_plugin_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(plugin_names); i++)
		if (strcmp(name, plugin_names[i]) == 0)
			return (enum my_plugin)i;
	return MY_PLUGIN_UNKNOWN;
}

const char *my_plugin_name(enum my_plugin p)
{
	return (size_t)p < ARRAY_LEN(plugin_names) ? plugin_names[p] : "unknown";
}

size_t my_scramble_native(const char *pw, const uint8_t *scramble, size_t slen, uint8_t out[20])
{
	uint8_t stage1[20], stage2[20], mix[20 + 20];
	if (!*pw)
		return 0;
	slen = MIN(slen, (size_t)20);
	sha1(pw, strlen(pw), stage1);
	sha1(stage1, 20, stage2);
	memcpy(mix, scramble, slen);
	memcpy(mix + slen, stage2, 20);
	sha1(mix, slen + 20, out);
	for (int i = 0; i < 20; i++)
		out[i] ^= stage1[i];
	return 20;
}

size_t my_scramble_sha2(const char *pw, const uint8_t *scramble, size_t slen, uint8_t out[32])
{
	uint8_t m1[32], m1h[32], mix[32 + 20];
	if (!*pw)
		return 0;
	slen = MIN(slen, (size_t)20);
	sha256(pw, strlen(pw), m1);
	sha256(m1, 32, m1h);
	memcpy(mix, m1h, 32);
	memcpy(mix + 32, scramble, slen);
	sha256(mix, 32 + slen, out);
	for (int i = 0; i < 32; i++)
		out[i] ^= m1[i];
	return 32;
}

int my_rsa_password(const char *pem, size_t pemlen, const char *pw, const uint8_t *scramble, size_t slen,
                    struct buf *out, char *err, size_t errlen)
{
	if (!slen) {
		snprintf(err, errlen, "no scramble to encrypt the password with");
		return -1;
	}
	size_t n = strlen(pw) + 1;
	uint8_t *plain = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		plain[i] = (uint8_t)pw[i] ^ scramble[i % slen]; /* pw[n - 1] is the NUL */
	int r = rsa_oaep_sha1_encrypt(pem, pemlen, plain, n, out, err, errlen);
	memset(plain, 0, n);
	free(plain);
	return r;
}

/* --- errors ------------------------------------------------------------------ */

int my_err_class(uint16_t code)
{
	switch (code) {
	case 1048: /* column cannot be null */
	case 1062: /* duplicate entry (a unique key ON DUPLICATE KEY cannot cover) */
	case 1153: /* packet bigger than max_allowed_packet: smaller batches fit */
	case 1264: /* out of range */
	case 1265: /* data truncated */
	case 1292: /* incorrect datetime value */
	case 1300: /* invalid character string */
	case 1366: /* incorrect string value (4-byte UTF-8 in a utf8mb3 column) */
	case 1367: /* illegal value for type */
	case 1406: /* data too long for column (strict mode) */
	case 1411: /* incorrect value for function */
	case 1451:
	case 1452: /* foreign key */
	case 3140: /* invalid JSON text (MySQL JSON column) */
	case 3819: /* MySQL check constraint */
	case 4025: /* MariaDB check constraint */
		return MY_ERR_ROW;
	case 1044: /* access denied to the database */
	case 1045: /* access denied */
	case 1046: /* no database selected */
	case 1049: /* unknown database */
	case 1054: /* unknown column */
	case 1064: /* syntax error */
	case 1102: /* incorrect database name */
	case 1103: /* incorrect table name */
	case 1109: /* unknown table */
	case 1110: /* column specified twice */
	case 1136: /* column count does not match */
	case 1142: /* command denied on the table */
	case 1143: /* column denied */
	case 1146: /* table does not exist */
	case 1166: /* incorrect column name */
	case 1227: /* needs a privilege */
	case 1288: /* not updatable */
	case 1347: /* not a base table */
	case 1364: /* a column without a default we do not write */
	case 1471: /* not insertable */
		return MY_ERR_SCHEMA;
	default:
		return MY_ERR_RETRY;
	}
}

/* --- SQL ------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at p[0..n), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
	if (!len || n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || /* overlong, surrogates */
	    (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))   /* overlong, > U+10FFFF */
		return 0;
	return len;
}

int my_hex_literal(struct buf *b, const char *s, size_t max_chars, size_t max_bytes)
{
	static const char hex[] = "0123456789ABCDEF";
	static const unsigned char fffd[] = { 0xEF, 0xBF, 0xBD };
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), chars = 0, bytes = 0;
	char tmp[512];
	size_t t = 0;
	buf_puts(b, "X'");
	while (n) {
		const unsigned char *c = p;
		size_t len = utf8_seq(p, n), adv = len ? len : 1;
		if (!len) {
			c = fffd;
			len = 3;
		}
		if ((max_chars && chars == max_chars) || (max_bytes && bytes + len > max_bytes))
			break;
		if (t + 2 * len > sizeof tmp) {
			buf_append(b, tmp, t);
			t = 0;
		}
		for (size_t i = 0; i < len; i++) {
			tmp[t++] = hex[c[i] >> 4];
			tmp[t++] = hex[c[i] & 15];
		}
		chars++;
		bytes += len;
		p += adv;
		n -= adv;
	}
	buf_append(b, tmp, t);
	buf_putc(b, '\'');
	return b->overflow ? -1 : 0;
}

int my_ident(struct buf *b, const char *name)
{
	const char *p = name;
	for (int part = 0;; part++) {
		if (part)
			buf_putc(b, '.');
		buf_putc(b, '`');
		size_t chars = 0;
		if (*p == '`') { /* already quoted: `a``b` */
			for (p++;;) {
				if (!*p)
					return -1;
				if (*p == '`' && p[1] != '`') {
					p++;
					break;
				}
				if (*p == '`') {
					buf_puts(b, "``");
					p += 2;
					chars++;
					continue;
				}
				buf_putc(b, *p);
				chars += (*p & 0xC0) != 0x80;
				p++;
			}
		} else {
			for (; *p && *p != '.'; p++) {
				if (*p == '`')
					buf_putc(b, '`');
				buf_putc(b, *p);
				chars += (*p & 0xC0) != 0x80;
			}
		}
		buf_putc(b, '`');
		if (chars == 0 || chars > 64 || part > 1)
			return -1;
		if (!*p)
			return b->overflow ? -1 : 0;
		if (*p != '.')
			return -1;
		p++;
	}
}
