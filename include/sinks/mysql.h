/*
 * mysql.h -- the subset of the MySQL/MariaDB client protocol the mysql sink
 * speaks, as pure functions over bytes (no I/O): packet framing, the
 * server's Initial Handshake v10, SSLRequest and HandshakeResponse41, the
 * auth plugins mysql_native_password, caching_sha2_password (and
 * sha256_password, mysql_clear_password), the answers during auth (OK, ERR,
 * AuthSwitchRequest, AuthMoreData), OK and ERR packets, and the SQL the sink
 * writes (hex literals, quoted identifiers). src/sinks/mysql.c drives them
 * on the loop; the unit tests and fuzz targets call them directly.
 *
 * Every decoder takes untrusted server bytes with their length, reads
 * nothing outside them, and returns -1 for what it cannot make sense of.
 */
#ifndef KE_SINKS_MYSQL_H
#define KE_SINKS_MYSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Capability flags (the subset we look at or send). */
#define MY_CLIENT_LONG_PASSWORD 0x00000001u
#define MY_CLIENT_LONG_FLAG 0x00000004u
#define MY_CLIENT_CONNECT_WITH_DB 0x00000008u
#define MY_CLIENT_PROTOCOL_41 0x00000200u
#define MY_CLIENT_SSL 0x00000800u
#define MY_CLIENT_TRANSACTIONS 0x00002000u
#define MY_CLIENT_SECURE_CONNECTION 0x00008000u
#define MY_CLIENT_MULTI_RESULTS 0x00020000u
#define MY_CLIENT_PLUGIN_AUTH 0x00080000u
#define MY_CLIENT_PLUGIN_AUTH_LENENC 0x00200000u

#define MY_HEADER 4              /* u24 payload length + u8 sequence id */
#define MY_MAX_PAYLOAD 0xFFFFFFu /* a longer payload continues in the next packet */
#define MY_UTF8MB4_GENERAL_CI 45 /* the connection's collation, sent in the handshake */
#define MY_COM_QUIT 0x01
#define MY_COM_QUERY 0x03

/*
 * One packet at the start of p[0..n): returns its size with the header
 * (> 0) and sets *payload, *len and *seq; 0 when more bytes are needed.
 * A payload of MY_MAX_PAYLOAD (a split packet) is -1: nothing the sink
 * asks for is that large.
 */
long my_packet(const uint8_t *p, size_t n, const uint8_t **payload, size_t *len, uint8_t *seq);

/*
 * Append payload as packets with sequence ids from *seq on (split at
 * MY_MAX_PAYLOAD; an exact multiple ends with an empty packet, as the
 * protocol wants); *seq is left at the next id. 0, or -1 when out is full.
 */
int my_frame(struct buf *out, uint8_t *seq, const void *payload, size_t len);

/* The server's Initial Handshake (protocol version 10). */
struct my_handshake {
	char server_version[64];
	uint32_t conn_id;
	uint32_t caps; /* the server's capabilities */
	uint8_t charset;
	uint16_t status;
	uint8_t scramble[20]; /* the auth plugin's data (the "salt") */
	size_t scramble_len;  /* 20 (or 8 from a pre-4.1 server) */
	char plugin[64];      /* "" when the server has no CLIENT_PLUGIN_AUTH */
};

/* The server's ERR packet: code, SQLSTATE ("" when absent) and message. */
struct my_err {
	uint16_t code;
	char state[6];
	char msg[400];
};

/* An OK packet's counts. */
struct my_ok {
	uint64_t affected_rows, insert_id;
	uint16_t status, warnings;
};

/* Decode an ERR packet (p[0] == 0xFF). 0 or -1. */
int my_err_decode(const uint8_t *p, size_t n, struct my_err *e);
/* Decode an OK packet (p[0] == 0x00). 0 or -1. */
int my_ok_decode(const uint8_t *p, size_t n, struct my_ok *ok);
/* "Error 1045 (28000): Access denied ..." (go-sql-driver's form) into out. */
void my_err_text(const struct my_err *e, char *out, size_t n);

/*
 * Decode the server's first packet. 0 for a handshake; 1 for an ERR packet
 * (e filled: "Too many connections", "Host ... is not allowed"); -1 when it
 * is neither (why says what).
 */
int my_handshake_decode(const uint8_t *p, size_t n, struct my_handshake *h, struct my_err *e, char *why,
                        size_t whylen);

/* The auth plugins we speak. */
enum my_plugin { MY_NATIVE, MY_CACHING_SHA2, MY_SHA256, MY_CLEAR, MY_PLUGIN_UNKNOWN };
enum my_plugin my_plugin_find(const char *name);
const char *my_plugin_name(enum my_plugin p);

/*
 * mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
 * Returns the response length: 20, or 0 for an empty password.
 */
size_t my_scramble_native(const char *pw, const uint8_t *scramble, size_t slen, uint8_t out[20]);
/*
 * caching_sha2_password's fast path: SHA256(pw) XOR
 * SHA256(SHA256(SHA256(pw)) + scramble). 32, or 0 for an empty password.
 */
size_t my_scramble_sha2(const char *pw, const uint8_t *scramble, size_t slen, uint8_t out[32]);
/*
 * Full authentication without TLS (caching_sha2_password, sha256_password):
 * (password + NUL) XOR the scramble (repeated), encrypted with RSA-OAEP
 * (SHA-1) under the server's PEM public key. 0, or -1 with err.
 */
int my_rsa_password(const char *pem, size_t pemlen, const char *pw, const uint8_t *scramble, size_t slen,
                    struct buf *out, char *err, size_t errlen);

/* caching_sha2_password's AuthMoreData bytes. */
#define MY_SHA2_REQUEST_PUBKEY 0x02
#define MY_SHA2_FAST_OK 0x03
#define MY_SHA2_FULL_AUTH 0x04

/* The payload of an SSLRequest: the first 32 bytes of a HandshakeResponse41. */
void my_ssl_request(struct buf *out, uint32_t caps, uint8_t charset);

struct my_login {
	uint32_t caps; /* what we use: ours AND the server's */
	uint8_t charset;
	const char *user, *db; /* db "" or NULL: none (CLIENT_CONNECT_WITH_DB off) */
	const char *plugin;    /* the plugin the auth data is for */
	const uint8_t *auth;
	size_t auth_len;
};
/* The payload of a HandshakeResponse41. 0, or -1 (a field too long for the protocol). */
int my_handshake_response(struct buf *out, const struct my_login *l);

/* What the server said during authentication. */
enum my_auth_kind { MY_AUTH_OK, MY_AUTH_ERR, MY_AUTH_SWITCH, MY_AUTH_MORE };
struct my_auth_reply {
	enum my_auth_kind kind;
	struct my_err err;   /* MY_AUTH_ERR */
	char plugin[64];     /* MY_AUTH_SWITCH: the plugin to use now */
	const uint8_t *data; /* SWITCH: its scramble (NUL dropped); MORE: the bytes after 0x01 */
	size_t data_len;
};
/* Decode a packet received while authenticating. 0 or -1 (why). */
int my_auth_reply_decode(const uint8_t *p, size_t n, struct my_auth_reply *r, char *why, size_t whylen);

/*
 * What a failed statement means for its rows, from the server's error code:
 * 1 = a row's data (strict mode: too long, bad string, out of range, bad
 * date, NULL, foreign key, duplicate, packet too large): resend smaller
 * batches until the row is alone, then drop it; 2 = the table or the
 * grants (no table, unknown column, denied, syntax): drop the batch,
 * resending cannot help; 0 = anything else (locks, deadlocks, read-only,
 * shutdown, full disk, ...): retry.
 */
int my_err_class(uint16_t code);
enum { MY_ERR_RETRY = 0, MY_ERR_ROW = 1, MY_ERR_SCHEMA = 2 };

/*
 * Append s as an SQL hex literal X'...': immune to the connection's
 * character set and to NO_BACKSLASH_ESCAPES. Invalid UTF-8 becomes U+FFFD
 * (the server would refuse it in a utf8mb4 column); at most max_chars code
 * points (0 = no limit) and max_bytes bytes (0 = no limit), cut at a
 * character boundary. Returns -1 when b is full.
 */
int my_hex_literal(struct buf *b, const char *s, size_t max_chars, size_t max_bytes);

/*
 * Append a table name as back-quoted identifiers: "t" -> `t`, "db.t" ->
 * `db`.`t` (upstream spliced table= unquoted, so a dot named the
 * database). 0, or -1 when a part is empty or longer than 64 characters.
 */
int my_ident(struct buf *b, const char *name);

#endif
