/*
 * The mysql sink's protocol pieces (src/sinks/mysql_proto.c) and its
 * parameters and rows (src/sinks/mysql.c), without a server.
 *
 * The auth vectors were computed independently in Python 3 (hashlib),
 * from the plugins' definitions:
 *   native(pw, s) = SHA1(pw) XOR SHA1(s + SHA1(SHA1(pw)))
 *   sha2(pw, s)   = SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + s)
 *     import hashlib
 *     def native(pw, s):
 *         s1 = hashlib.sha1(pw).digest(); s2 = hashlib.sha1(s1).digest()
 *         return bytes(a ^ b for a, b in zip(hashlib.sha1(s + s2).digest(), s1))
 *     def sha2(pw, s):
 *         m1 = hashlib.sha256(pw).digest(); m1h = hashlib.sha256(m1).digest()
 *         return bytes(a ^ b for a, b in zip(m1, hashlib.sha256(m1h + s).digest()))
 * with (pw, s) = (b"secret", bytes(range(1, 21))),
 * ("p%zz#x@y:z&w?/v".encode(), b"abcdefghijklmnopqrst") and
 * ("\u4e2d\u6587\U0001F600".encode(), bytes(range(100, 120))).
 * The RSA-OAEP ciphertext is decrypted by the openssl command line tool
 * (another implementation) with SHA-1 OAEP and the key pair in
 * tests/unit/data/mysql_rsa_{key,pub}.pem (made by openssl genpkey).
 * The MariaDB greeting is a capture from Debian's mariadb-server 10.11.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "event.h"
#include "sink.h"
#include "sinks/mysql.h"
#include "test.h"
#include "util.h"

/* Hex string -> bytes (the length is returned). */
static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2)
		out[n++] = (uint8_t)(hex_digit(h[0]) * 16 + hex_digit(h[1]));
	return n;
}

static const char *tohex(const uint8_t *p, size_t n)
{
	static char s[1024];
	for (size_t i = 0; i < n && i < 500; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	s[2 * MIN(n, (size_t)500)] = '\0';
	return s;
}

static void packets_are_framed(void)
{
	const uint8_t pkt[] = { 3, 0, 0, 7, 'a', 'b', 'c', 0xEE };
	const uint8_t *p;
	size_t len;
	uint8_t seq;
	for (size_t cut = 0; cut < 7; cut++)
		CHECK_INT(my_packet(pkt, cut, &p, &len, &seq), 0);
	CHECK_INT(my_packet(pkt, sizeof pkt, &p, &len, &seq), 7);
	CHECK_INT(len, 3);
	CHECK_INT(seq, 7);
	CHECK(memcmp(p, "abc", 3) == 0);
	const uint8_t huge[] = { 0xFF, 0xFF, 0xFF, 0 };
	CHECK_INT(my_packet(huge, sizeof huge, &p, &len, &seq), -1);

	struct buf b = BUF_INIT(64);
	uint8_t s = 5;
	CHECK_INT(my_frame(&b, &s, "\x03SELECT 1", 9), 0);
	CHECK_INT(s, 6);
	CHECK_INT(b.len, 13);
	CHECK(memcmp(b.data, "\x09\x00\x00\x05\x03SELECT 1", 13) == 0);
	/* full: nothing appended */
	b.max = 20;
	CHECK_INT(my_frame(&b, &s, "0123456789", 10), -1);
	CHECK_INT(b.len, 13);
	CHECK_INT(s, 6);
	buf_free(&b);

	/* 16 MiB - 1 and more: split, an exact multiple ends with an empty packet */
	size_t n = MY_MAX_PAYLOAD + 5;
	char *big = xcalloc(1, n);
	struct buf f = BUF_INIT(n + 64);
	s = 0;
	CHECK_INT(my_frame(&f, &s, big, MY_MAX_PAYLOAD), 0);
	CHECK_INT(s, 2);
	CHECK_INT(f.len, MY_MAX_PAYLOAD + 2 * MY_HEADER);
	CHECK(memcmp(f.data + MY_HEADER + MY_MAX_PAYLOAD, "\0\0\0\x01", 4) == 0);
	buf_reset(&f);
	s = 0;
	CHECK_INT(my_frame(&f, &s, big, n), 0);
	CHECK_INT(f.len, n + 2 * MY_HEADER);
	CHECK(memcmp(f.data, "\xff\xff\xff\x00", 4) == 0);
	CHECK(memcmp(f.data + MY_HEADER + MY_MAX_PAYLOAD, "\x05\0\0\x01", 4) == 0);
	buf_free(&f);
	free(big);
}

/* Captured from mariadbd 10.11.19 (Debian 12) on loopback: the whole packet, header included. */
static const char mariadb_greeting[] =
    "640000000a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000b0000004359776b3563"
    "723300fef7080200ff81150000000000001d000000474d2c31502151553a5e4d48006d7973716c5f6e61746976655f70"
    "617373776f726400";

static void mariadb_handshake(void)
{
	uint8_t raw[256];
	size_t n = unhex(mariadb_greeting, raw);
	const uint8_t *p;
	size_t len;
	uint8_t seq;
	CHECK_INT(my_packet(raw, n, &p, &len, &seq), (long)n);
	CHECK_INT(seq, 0);
	struct my_handshake h;
	struct my_err e;
	char why[128];
	CHECK_INT(my_handshake_decode(p, len, &h, &e, why, sizeof why), 0);
	CHECK_STR(h.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
	CHECK_INT(h.conn_id, 11);
	CHECK_INT(h.caps, 0x81fff7fe);
	CHECK(!(h.caps & MY_CLIENT_SSL)); /* (that server had no certificate) */
	CHECK_INT(h.charset, 8);
	CHECK_INT(h.status, 2);
	CHECK_INT(h.scramble_len, 20);
	CHECK(memcmp(h.scramble, "CYwk5cr3GM,1P!QU:^MH", 20) == 0);
	CHECK_STR(h.plugin, "mysql_native_password");
	/* every truncation is refused or read within bounds (ASan watches) */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = xmalloc(cut + 1);
		memcpy(copy, p, cut);
		int r = my_handshake_decode(copy, cut, &h, &e, why, sizeof why);
		CHECK(r == 0 || r == -1);
		free(copy);
	}
}

/* MySQL 8's greeting, built field by field from the protocol documentation. */
static void mysql8_handshake(void)
{
	struct buf b = BUF_INIT(512);
	buf_putc(&b, 10);
	buf_append(&b, "8.0.36\0", 7);
	buf_append(&b, "\x2a\0\0\0", 4); /* connection 42 */
	buf_append(&b, "ABCDEFGH\0", 9); /* scramble part 1 + filler */
	buf_append(&b, "\xff\xff", 2);   /* capabilities, lower */
	buf_putc(&b, (char)255);         /* utf8mb4_0900_ai_ci */
	buf_append(&b, "\x02\x00", 2);   /* status */
	buf_append(&b, "\xff\xdf", 2);   /* capabilities, upper */
	buf_putc(&b, 21);                /* auth data length */
	buf_append(&b, "\0\0\0\0\0\0\0\0\0\0", 10);
	buf_append(&b, "IJKLMNOPQRST\0", 13); /* scramble part 2 + NUL */
	buf_append(&b, "caching_sha2_password\0", 22);
	struct my_handshake h;
	struct my_err e;
	char why[128];
	CHECK_INT(my_handshake_decode((const uint8_t *)b.data, b.len, &h, &e, why, sizeof why), 0);
	CHECK_STR(h.server_version, "8.0.36");
	CHECK_INT(h.conn_id, 42);
	CHECK_INT(h.caps, 0xdfffffff);
	CHECK(memcmp(h.scramble, "ABCDEFGHIJKLMNOPQRST", 20) == 0);
	CHECK_STR(h.plugin, "caching_sha2_password");
	CHECK_INT(my_plugin_find(h.plugin), MY_CACHING_SHA2);
	/* MySQL 5.5.7-5.5.9 end the plugin name with the packet, not a NUL */
	b.len--;
	CHECK_INT(my_handshake_decode((const uint8_t *)b.data, b.len, &h, &e, why, sizeof why), 0);
	CHECK_STR(h.plugin, "caching_sha2_password");
	/* not protocol 4.1: too old */
	b.data[1 + 7 + 4 + 9] = 0;
	b.data[1 + 7 + 4 + 9 + 1] &= ~0x02;
	CHECK_INT(my_handshake_decode((const uint8_t *)b.data, b.len, &h, &e, why, sizeof why), -1);
	CHECK(strstr(why, "too old"));
	/* protocol 9, or not MySQL at all */
	b.data[0] = 9;
	CHECK_INT(my_handshake_decode((const uint8_t *)b.data, b.len, &h, &e, why, sizeof why), -1);
	CHECK(strstr(why, "protocol version 9"));
	CHECK_INT(my_handshake_decode((const uint8_t *)"HTTP/1.1 400", 12, &h, &e, why, sizeof why), -1);
	buf_free(&b);
}

static void errors_instead_of_a_greeting(void)
{
	struct my_handshake h;
	struct my_err e;
	char why[128], t[600];
	/* sent before the handshake: no SQLSTATE */
	const char host[] = "\xff\x6a\x04Host '10.0.0.9' is not allowed to connect to this MariaDB server";
	CHECK_INT(my_handshake_decode((const uint8_t *)host, sizeof host - 1, &h, &e, why, sizeof why), 1);
	CHECK_INT(e.code, 1130);
	CHECK_STR(e.state, "");
	my_err_text(&e, t, sizeof t);
	CHECK_STR(t, "Error 1130: Host '10.0.0.9' is not allowed to connect to this MariaDB server");
	const char many[] = "\xff\x10\x04#08004Too many connections";
	CHECK_INT(my_handshake_decode((const uint8_t *)many, sizeof many - 1, &h, &e, why, sizeof why), 1);
	CHECK_INT(e.code, 1040);
	my_err_text(&e, t, sizeof t);
	CHECK_STR(t, "Error 1040 (08004): Too many connections");
	CHECK_INT(my_handshake_decode((const uint8_t *)"\xff\x10", 2, &h, &e, why, sizeof why), -1);
	/* control bytes in a message do not reach a log line */
	const char ctl[] = "\xff\x15\x04#28000bad\n\0x";
	CHECK_INT(my_err_decode((const uint8_t *)ctl, sizeof ctl - 1, &e), 0);
	CHECK_INT(e.code, 1045);
	CHECK(memcmp(e.msg, "bad  x", 7) == 0);
}

static void ok_packets(void)
{
	struct my_ok ok;
	CHECK_INT(my_ok_decode((const uint8_t *)"\x00\x03\x00\x02\x00\x01\x00", 7, &ok), 0);
	CHECK_INT(ok.affected_rows, 3);
	CHECK_INT(ok.status, 2);
	CHECK_INT(ok.warnings, 1);
	/* length-encoded counts of 2, 3 and 8 bytes */
	CHECK_INT(my_ok_decode((const uint8_t *)"\x00\xfc\xe8\x03\xfd\x01\x02\x03\x02\x00\x00\x00", 12, &ok),
	          0);
	CHECK_INT(ok.affected_rows, 1000);
	CHECK_INT(ok.insert_id, 0x030201);
	CHECK_INT(my_ok_decode((const uint8_t *)"\x00\xfe\x01\0\0\0\0\0\0\x01\x00", 11, &ok), 0);
	CHECK(ok.affected_rows == 0x0100000000000001ULL);
	/* truncated, NULL, or not OK */
	CHECK_INT(my_ok_decode((const uint8_t *)"\x00\xfc\xe8", 3, &ok), -1);
	CHECK_INT(my_ok_decode((const uint8_t *)"\x00\xfb\x00", 3, &ok), -1);
	CHECK_INT(my_ok_decode((const uint8_t *)"\x00", 1, &ok), -1);
	CHECK_INT(my_ok_decode((const uint8_t *)"\xfe\x00\x00", 3, &ok), -1);
}

static void scrambles_match_python(void)
{
	uint8_t out[32], s[32];
	size_t sl = unhex("0102030405060708090a0b0c0d0e0f1011121314", s);
	CHECK_INT(my_scramble_native("secret", s, sl, out), 20);
	CHECK_STR(tohex(out, 20), "b32bb3a583e1340c0a1108d58b1be49781ad8c2f");
	CHECK_INT(my_scramble_sha2("secret", s, sl, out), 32);
	CHECK_STR(tohex(out, 32), "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9");

	const uint8_t *s2 = (const uint8_t *)"abcdefghijklmnopqrst";
	CHECK_INT(my_scramble_native("p%zz#x@y:z&w?/v", s2, 20, out), 20);
	CHECK_STR(tohex(out, 20), "4f9276c1d4bcd05a38e22bf7f28efa10c4341fe2");
	CHECK_INT(my_scramble_sha2("p%zz#x@y:z&w?/v", s2, 20, out), 32);
	CHECK_STR(tohex(out, 32), "a48d22fb5c0056234b38e08e612a01b46b6059aef336a0186e37e91ef1468f98");

	sl = unhex("6465666768696a6b6c6d6e6f7071727374757677", s);
	CHECK_INT(my_scramble_native("\xe4\xb8\xad\xe6\x96\x87\xf0\x9f\x98\x80", s, sl, out), 20);
	CHECK_STR(tohex(out, 20), "d66abac7532df17fe4f03910223151d9ae1d7a9a");
	CHECK_INT(my_scramble_sha2("\xe4\xb8\xad\xe6\x96\x87\xf0\x9f\x98\x80", s, sl, out), 32);
	CHECK_STR(tohex(out, 32), "85d929d1230c1fd49fdd0aa11d41762f6da3af64c8922c016ca441b3ebaf11a4");

	/* an empty password sends no auth data */
	CHECK_INT(my_scramble_native("", s, sl, out), 0);
	CHECK_INT(my_scramble_sha2("", s, sl, out), 0);
	/* a 21-byte scramble (the NUL kept) is read as its 20 bytes */
	CHECK_INT(my_scramble_native("secret",
	                             (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"
	                                              "\x0e\x0f\x10\x11\x12\x13\x14\x00",
	                             21, out),
	          20);
	CHECK_STR(tohex(out, 20), "b32bb3a583e1340c0a1108d58b1be49781ad8c2f");
}

static char *slurp(const char *path, size_t *n)
{
	char *p = read_file(path, 1 << 20, n);
	return p;
}

static void rsa_password_decrypts_with_openssl(void)
{
	size_t pn;
	char *pub = slurp(FIXTURE("unit/data/mysql_rsa_pub.pem"), &pn);
	CHECK(pub);
	const uint8_t *scr = (const uint8_t *)"abcdefghijklmnopqrst";
	const char *pw = "p%zz#x@y:z&w?/v-and-some-more-to-wrap-the-scramble";
	struct buf ct = BUF_INIT(4096);
	char err[256] = "";
	CHECK_INT(my_rsa_password(pub, pn, pw, scr, 20, &ct, err, sizeof err), 0);
	CHECK_INT(ct.len, 256);
	char ctpath[] = "/tmp/ke-mysql-ct-XXXXXX";
	int fd = mkstemp(ctpath);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, ct.data, ct.len), (long)ct.len);
	close(fd);
	char cmd[512];
	snprintf(
	    cmd, sizeof cmd,
	    "openssl pkeyutl -decrypt -inkey %s -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 "
	    "-pkeyopt rsa_mgf1_md:sha1 -in %s 2>&1",
	    FIXTURE("unit/data/mysql_rsa_key.pem"), ctpath);
	FILE *f = popen(cmd, "r");
	CHECK(f);
	uint8_t plain[512];
	size_t got = fread(plain, 1, sizeof plain, f);
	pclose(f);
	unlink(ctpath);
	/* (password + NUL) XOR the scramble, repeated */
	size_t want = strlen(pw) + 1;
	CHECK_INT(got, want);
	for (size_t i = 0; i < want; i++)
		CHECK_INT(plain[i] ^ scr[i % 20], (uint8_t)pw[i]);
	/* OAEP is randomised: the same input encrypts differently */
	struct buf ct2 = BUF_INIT(4096);
	CHECK_INT(my_rsa_password(pub, pn, pw, scr, 20, &ct2, err, sizeof err), 0);
	CHECK(ct2.len == ct.len && memcmp(ct2.data, ct.data, ct.len) != 0);

	/* what is not a usable key */
	buf_reset(&ct);
	CHECK_INT(my_rsa_password("garbage", 7, pw, scr, 20, &ct, err, sizeof err), -1);
	CHECK(strstr(err, "public key"));
	char *longpw = xcalloc(1, 300);
	memset(longpw, 'x', 250);
	CHECK_INT(my_rsa_password(pub, pn, longpw, scr, 20, &ct, err, sizeof err), -1);
	CHECK(strstr(err, "too long"));
	free(longpw);
	buf_free(&ct);
	buf_free(&ct2);
	free(pub);
}

static void login_packets(void)
{
	struct buf b = BUF_INIT(4096);
	my_ssl_request(&b, MY_CLIENT_PROTOCOL_41 | MY_CLIENT_SECURE_CONNECTION, MY_UTF8MB4_GENERAL_CI);
	CHECK_INT(b.len, 32);
	CHECK(memcmp(b.data, "\x00\x8a\x00\x00\x00\x00\x00\x01\x2d", 9) == 0);
	for (int i = 9; i < 32; i++)
		CHECK_INT(b.data[i], 0);
	buf_reset(&b);

	const uint8_t auth[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	struct my_login l = { .caps = MY_CLIENT_PROTOCOL_41 | MY_CLIENT_SECURE_CONNECTION |
		                      MY_CLIENT_PLUGIN_AUTH | MY_CLIENT_PLUGIN_AUTH_LENENC |
		                      MY_CLIENT_CONNECT_WITH_DB,
		              .charset = 45,
		              .user = "ke",
		              .db = "k8s",
		              .plugin = "mysql_native_password",
		              .auth = auth,
		              .auth_len = 20 };
	CHECK_INT(my_handshake_response(&b, &l), 0);
	/* caps, max packet, charset, 23 zero bytes, "ke\0", lenenc 20 + auth, "k8s\0", plugin\0 */
	CHECK_INT(b.len, 32 + 3 + 1 + 20 + 4 + 22);
	CHECK(memcmp(b.data, "\x08\x82\x28\x00\x00\x00\x00\x01\x2d", 9) == 0);
	CHECK(memcmp(b.data + 32, "ke\0\x14\x01\x02", 6) == 0);
	CHECK(memcmp(b.data + 32 + 3 + 1 + 20, "k8s\0mysql_native_password\0", 26) == 0);
	buf_reset(&b);
	/* no database, no lenenc: a one-byte length; too long for it is refused */
	l.caps = MY_CLIENT_PROTOCOL_41 | MY_CLIENT_SECURE_CONNECTION;
	l.auth_len = 0;
	CHECK_INT(my_handshake_response(&b, &l), 0);
	CHECK_INT(b.len, 32 + 3 + 1);
	CHECK(memcmp(b.data + 32, "ke\0\0", 4) == 0);
	l.auth_len = 256;
	CHECK_INT(my_handshake_response(&b, &l), -1);
	buf_free(&b);
}

static void auth_replies(void)
{
	struct my_auth_reply r;
	char why[128];
	CHECK_INT(
	    my_auth_reply_decode((const uint8_t *)"\x00\x00\x00\x02\x00\x00\x00", 7, &r, why, sizeof why), 0);
	CHECK_INT(r.kind, MY_AUTH_OK);
	const char denied[] =
	    "\xff\x15\x04#28000Access denied for user 'ke'@'127.0.0.1' (using password: YES)";
	CHECK_INT(my_auth_reply_decode((const uint8_t *)denied, sizeof denied - 1, &r, why, sizeof why), 0);
	CHECK_INT(r.kind, MY_AUTH_ERR);
	CHECK_INT(r.err.code, 1045);
	CHECK_STR(r.err.state, "28000");
	CHECK_STR(r.err.msg, "Access denied for user 'ke'@'127.0.0.1' (using password: YES)");
	/* AuthSwitchRequest: plugin, scramble, the trailing NUL dropped */
	const char sw[] = "\xfe"
	                  "caching_sha2_password\0"
	                  "abcdefghijklmnopqrst\0";
	CHECK_INT(my_auth_reply_decode((const uint8_t *)sw, sizeof sw - 1, &r, why, sizeof why), 0);
	CHECK_INT(r.kind, MY_AUTH_SWITCH);
	CHECK_STR(r.plugin, "caching_sha2_password");
	CHECK_INT(r.data_len, 20);
	CHECK(memcmp(r.data, "abcdefghijklmnopqrst", 20) == 0);
	CHECK_INT(my_auth_reply_decode((const uint8_t *)"\xfe", 1, &r, why, sizeof why), 0);
	CHECK_STR(r.plugin, "mysql_old_password");
	CHECK_INT(my_plugin_find(r.plugin), MY_PLUGIN_UNKNOWN);
	CHECK_INT(my_auth_reply_decode((const uint8_t *)"\xfe"
	                                                "abc",
	                               4, &r, why, sizeof why),
	          -1);
	/* AuthMoreData: caching_sha2's fast-path OK and full-auth request, a PEM key */
	CHECK_INT(my_auth_reply_decode((const uint8_t *)"\x01\x03", 2, &r, why, sizeof why), 0);
	CHECK_INT(r.kind, MY_AUTH_MORE);
	CHECK(r.data_len == 1 && r.data[0] == MY_SHA2_FAST_OK);
	CHECK_INT(my_auth_reply_decode((const uint8_t *)"\x01-----BEGIN", 11, &r, why, sizeof why), 0);
	CHECK_INT(r.data_len, 10);
	CHECK_INT(my_auth_reply_decode((const uint8_t *)"\x05", 1, &r, why, sizeof why), -1);
	CHECK_INT(my_auth_reply_decode((const uint8_t *)"", 0, &r, why, sizeof why), -1);
}

static void error_classes(void)
{
	CHECK_INT(my_err_class(1406), MY_ERR_ROW);
	CHECK_INT(my_err_class(1366), MY_ERR_ROW);
	CHECK_INT(my_err_class(1264), MY_ERR_ROW);
	CHECK_INT(my_err_class(1153), MY_ERR_ROW);
	CHECK_INT(my_err_class(1146), MY_ERR_SCHEMA);
	CHECK_INT(my_err_class(1054), MY_ERR_SCHEMA);
	CHECK_INT(my_err_class(1142), MY_ERR_SCHEMA);
	CHECK_INT(my_err_class(1205), MY_ERR_RETRY);
	CHECK_INT(my_err_class(1213), MY_ERR_RETRY);
	CHECK_INT(my_err_class(1290), MY_ERR_RETRY);
	CHECK_INT(my_err_class(1927), MY_ERR_RETRY);
}

static const char *hexlit(const char *s, size_t max_chars, size_t max_bytes)
{
	static struct buf b = BUF_INIT(4096);
	buf_reset(&b);
	my_hex_literal(&b, s, max_chars, max_bytes);
	return buf_str(&b);
}

static void hex_literals(void)
{
	CHECK_STR(hexlit("", 0, 0), "X''");
	CHECK_STR(hexlit("a'b\\c\"", 0, 0), "X'6127625C6322'");
	/* UTF-8 kept, 4-byte characters too */
	CHECK_STR(hexlit("\xe4\xb8\xad\xf0\x9f\x98\x80", 0, 0), "X'E4B8ADF09F9880'");
	/* invalid UTF-8: a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
	CHECK_STR(hexlit("a\x80"
	                 "b",
	                 0, 0),
	          "X'61EFBFBD62'");
	CHECK_STR(hexlit("\xc0\xaf", 0, 0), "X'EFBFBDEFBFBD'");
	CHECK_STR(hexlit("\xed\xa0\x80", 0, 0), "X'EFBFBDEFBFBDEFBFBD'");
	CHECK_STR(hexlit("x\xf0\x9f\x98", 0, 0), "X'78EFBFBDEFBFBDEFBFBD'");
	/* cut at characters, or at bytes on a character boundary */
	CHECK_STR(hexlit("ab\xe4\xb8\xad"
	                 "cd",
	                 3, 0),
	          "X'6162E4B8AD'");
	CHECK_STR(hexlit("ab\xe4\xb8\xad"
	                 "cd",
	                 0, 4),
	          "X'6162'");
	CHECK_STR(hexlit("ab\xe4\xb8\xad"
	                 "cd",
	                 0, 5),
	          "X'6162E4B8AD'");
	/* long input: the local chunking is seamless */
	char lng[1001];
	memset(lng, 'z', 1000);
	lng[1000] = '\0';
	const char *h = hexlit(lng, 0, 0);
	CHECK_INT(strlen(h), 2003);
	CHECK(strspn(h + 2, "7A") == 2000);
}

static const char *ident(const char *s)
{
	static struct buf b = BUF_INIT(1024);
	buf_reset(&b);
	return my_ident(&b, s) < 0 ? NULL : buf_str(&b);
}

static void identifiers(void)
{
	CHECK_STR(ident("kube_event"), "`kube_event`");
	CHECK_STR(ident("k8s.kube_event"), "`k8s`.`kube_event`");
	CHECK_STR(ident("a`b"), "`a``b`");
	CHECK_STR(ident("`my-table`"), "`my-table`");
	CHECK_STR(ident("`a.b`.`c``d`"), "`a.b`.`c``d`");
	CHECK_STR(ident("\xe4\xba\x8b\xe4\xbb\xb6"), "`\xe4\xba\x8b\xe4\xbb\xb6`");
	CHECK(ident("") == NULL);
	CHECK(ident("a.") == NULL);
	CHECK(ident(".a") == NULL);
	CHECK(ident("a.b.c") == NULL);
	CHECK(ident("`unclosed") == NULL);
	CHECK(ident("`a`x") == NULL);
	char lng[80];
	memset(lng, 't', 65);
	lng[65] = '\0';
	CHECK(ident(lng) == NULL);
	lng[64] = '\0';
	CHECK(ident(lng) != NULL);
}

/* --- the sink: parameters and rows ------------------------------------------ */

static struct sink *make(const char *uri, char *err)
{
	err[0] = '\0';
	return sink_create(uri, 0, 30000, NULL, err, 512);
}

static void sink_parameters(void)
{
	char err[512];
	struct sink *s;
	const char *good[] = {
		"mysql:?root:transwarp@tcp(172.16.180.132:3306)/kube_eventer?charset=utf8&table=kube_event",
		"mysql:?u:p%zz#x@y:z&w?/v@tcp(db:3306)/k8s?table=t&tls=true",
		"mysql:?u:pw@tcp([::1]:3307)/k8s?tls=skip-verify&schema=v2&create_table=true",
		"mysql:?u:pw@tcp(db)/k8s?tls=preferred&cacert=/etc/ca.pem",
		"mysql:?u:pw@/k8s?tls=false&parseTime=true&loc=Local&timeout=5s&sql_mode=%27TRADITIONAL%27",
		"mysql:?u:pw@tcp(db:3306)/?table=k8s.events&message_max=255&cluster_name=prod",
		"mysql:?u:pw@tcp(db:3306)/k8s?tls=true&cert=/c.pem&key=/"
		"k.pem&batch_size=500&flush_interval=2s",
	};
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		s = make(good[i], err);
		if (!s)
			printf("#   %s: %s\n", good[i], err);
		CHECK(s);
		CHECK_INT(s->cfg.concurrency, 1);
		CHECK_INT(s->cfg.repeat_interval_s, 0); /* every change, as upstream */
		sink_destroy(s);
	}
	s = make(good[6], err);
	CHECK_INT(s->cfg.batch_items, 500);
	CHECK_INT(s->cfg.flush_ms, 2000);
	/* the password never reaches the redacted URL */
	CHECK_STR(s->redacted_url,
	          "?u:***@tcp(db:3306)/k8s?tls=true&cert=/c.pem&key=***&batch_size=500&flush_interval=2s");
	sink_destroy(s);
	s = make("mysql:?u:pw@tcp(db:3306)/k8s?concurrency=8", err);
	CHECK_INT(s->cfg.concurrency, 1); /* one connection */
	sink_destroy(s);

	/* bad input: each an error naming what is wrong, never the password */
	struct {
		const char *uri, *says;
	} bad[] = {
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?tls=maybe", "tls: \"maybe\"" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?tls=custom", "skip-verify or preferred" },
		{ "mysql:?u:S3cr3t@localhost:3306/k8s", "tcp(" },
		{ "mysql:?u:S3cr3t@unix(/run/mysqld.sock)/k8s", "unix" },
		{ "mysql:?u:S3cr3t@udp(h)/k8s", "not [user" },
		{ "mysql:?u:S3cr3t@tcp(h:99999)/k8s", "address" },
		{ "mysql:?u:S3cr3t@tcp(::1)/k8s", "IPv6" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?schema=v3", "schema" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?table=a.b.c", "table" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?table=%zz", "\"table\"" },
		{ "mysql:?u:S3cr3t@tcp(h)/?table=events", "names no database" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?create_table=maybe", "create_table" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?message_max=-1", "message_max" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?cert=/c.pem", "cert and key" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?cert=/c.pem&key=/k.pem", "without tls" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?allowCleartextPasswords=yes", "allowCleartextPasswords" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?a;b=1", "session variable" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?password=S3cr3t", "password goes in the DSN" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?@@session.token=x", "not a session variable" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?batch_size=0", "batch_size" },
		{ "mysql:?u:S3cr3t@tcp(h)/k8s?level=Fatal", "level" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		s = make(bad[i].uri, err);
		if (s || !strstr(err, bad[i].says) || strstr(err, "S3cr3t"))
			printf("#   %s: %s\n", bad[i].uri, s ? "accepted" : err);
		CHECK(!s);
		CHECK(strstr(err, bad[i].says));
		CHECK(!strstr(err, "S3cr3t"));
	}
}

static const char row_event[] =
    "{\"metadata\":{\"name\":\"web-1.17b\",\"namespace\":\"shop\",\"uid\":\"e-uid-1\",\"resourceVersion\":"
    "\"4711\",\"creationTimestamp\":\"2024-03-05T07:00:00Z\"},\"involvedObject\":{\"kind\":\"Pod\","
    "\"namespace\":\"shop\",\"name\":\"web-1\",\"uid\":\"pod-uid\"},\"reason\":\"BackOff\",\"message\":"
    "\"it's \\\"x\\\" \\\\ \\u4e2d\",\"source\":{\"component\":\"kubelet\",\"host\":\"n1\"},"
    "\"firstTimestamp\":\"2024-03-05T07:01:00Z\",\"lastTimestamp\":\"2024-03-05T23:59:59Z\",\"count\":7,"
    "\"type\":\"Warning\"}";

/* The hex literal of s, for building expected rows. */
static void lit(struct buf *b, const char *s)
{
	my_hex_literal(b, s, 0, 0);
}

static void rows_as_upstream_and_v2(void)
{
	char err[512];
	struct event ev;
	CHECK_INT(event_decode(row_event, strlen(row_event), &ev, err, sizeof err), 0);
	CHECK_STR(ev.message, "it's \"x\" \\ \xe4\xb8\xad");
	char *oldtz = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
	setenv("TZ", "Asia/Shanghai", 1);
	tzset();

	struct sink *s = make("mysql:?u:pw@tcp(h)/k8s", err);
	CHECK(s);
	struct buf got = BUF_INIT(1 << 20), want = BUF_INIT(1 << 20);
	CHECK_INT(s->type->render(s, &ev, &got, err, sizeof err), 0);
	/* upstream: involved object's namespace, kind, name; type, reason, message, uid; Go's Time.String()
	 */
	buf_putc(&want, '(');
	const char *cols[] = { "shop",
		               "Pod",
		               "web-1",
		               "Warning",
		               "BackOff",
		               ev.message,
		               "e-uid-1",
		               "2024-03-05 15:01:00 +0800 CST",
		               "2024-03-06 07:59:59 +0800 CST" };
	for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
		if (i)
			buf_putc(&want, ',');
		lit(&want, cols[i]);
	}
	buf_putc(&want, ')');
	CHECK_STR(buf_str(&got), buf_str(&want));
	sink_destroy(s);

	/* v2: cluster_name, count, UTC DATETIME(6) */
	s = make("mysql:?u:pw@tcp(h)/k8s?schema=v2&cluster_name=prod", err);
	CHECK(s);
	buf_reset(&got);
	buf_reset(&want);
	CHECK_INT(s->type->render(s, &ev, &got, err, sizeof err), 0);
	buf_putc(&want, '(');
	const char *cols2[] = { "prod", "shop", "Pod", "web-1", "Warning", "BackOff", ev.message, "e-uid-1" };
	for (size_t i = 0; i < ARRAY_LEN(cols2); i++) {
		lit(&want, cols2[i]);
		buf_putc(&want, ',');
	}
	buf_puts(&want, "7,'2024-03-05 07:01:00.000000','2024-03-05 23:59:59.000000')");
	CHECK_STR(buf_str(&got), buf_str(&want));
	sink_destroy(s);

	/* message_max cuts characters; the zero first time is Go's zero time (upstream), NULL (v2) */
	ev.first_ts = (struct ktime){ 0, 0 };
	s = make("mysql:?u:pw@tcp(h)/k8s?message_max=6", err);
	buf_reset(&got);
	CHECK_INT(s->type->render(s, &ev, &got, err, sizeof err), 0);
	buf_reset(&want);
	lit(&want, "it's \"");
	CHECK(strstr(buf_str(&got), buf_str(&want)));
	buf_reset(&want);
	lit(&want, "0001-01-01 00:00:00 +0000 UTC");
	CHECK(strstr(buf_str(&got), buf_str(&want)));
	sink_destroy(s);
	s = make("mysql:?u:pw@tcp(h)/k8s?schema=v2", err);
	buf_reset(&got);
	CHECK_INT(s->type->render(s, &ev, &got, err, sizeof err), 0);
	CHECK(str_ends(buf_str(&got), ",7,NULL,'2024-03-05 23:59:59.000000')"));
	sink_destroy(s);

	if (oldtz)
		setenv("TZ", oldtz, 1);
	else
		unsetenv("TZ");
	free(oldtz);
	tzset();
	buf_free(&got);
	buf_free(&want);
	event_free(&ev);
}

const struct test_case test_mysql[] = {
	TEST(sink_parameters),
	TEST(rows_as_upstream_and_v2),
	TEST(packets_are_framed),
	TEST(mariadb_handshake),
	TEST(mysql8_handshake),
	TEST(errors_instead_of_a_greeting),
	TEST(ok_packets),
	TEST(scrambles_match_python),
	TEST(rsa_password_decrypts_with_openssl),
	TEST(login_packets),
	TEST(auth_replies),
	TEST(error_classes),
	TEST(hex_literals),
	TEST(identifiers),
	TEST_END,
};
