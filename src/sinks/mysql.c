/*
 * mysql.c -- `mysql:` sink: upstream's rows, a batch per INSERT, over our
 * own MySQL/MariaDB client connection on the loop.
 *
 *   --sink=mysql:?user:password@tcp(host:3306)/db?charset=utf8&table=kube_event
 *
 * After "mysql:?" comes go-sql-driver's DSN, as upstream takes it, with
 * our keys among its params (table=, schema=, create_table=, cluster_name=,
 * message_max=, tls=, cacert=, cert=, key=, and the common sink
 * parameters). Upstream's table and columns (DATA-SINKS.md §5):
 *   namespace, kind, name (the involved object), type, reason, message,
 *   event_id (the Event's uid), first_occurrence_time,
 *   last_occurrence_time (Go's Time.String() in the process zone)
 * or, with schema=v2, our table (configs/mysql/v2.sql): utf8mb4, message
 * TEXT, UTC DATETIME(6) times, count, cluster_name and a unique key on
 * (event_id, count). What differs from upstream, and why:
 * - The DSN is read whole: upstream cut it at its first '&' when table=
 *   was given, and lost a password's '#...' (a URL fragment); here the
 *   password may hold any character and is never logged.
 * - Rows are sent as hex literals in one multi-row INSERT per batch (one
 *   statement: atomic in InnoDB), ending in ON DUPLICATE KEY UPDATE
 *   event_id=event_id: on a table with a unique key a batch sent twice
 *   (its answer lost with the connection) writes nothing twice.
 * - A row the server refuses (strict mode: too long, bad string, ...) is
 *   isolated by halving the batch and dropped alone with the server's
 *   error; locks, deadlocks, shutdowns and lost connections are retried;
 *   a missing table or grant drops the batch with the server's words.
 * - The connection is made at start and again whenever it was lost
 *   (server restart, idle timeout), with backoff after failures (a wrong
 *   password is one clear line per attempt, never a spin); while there is
 *   none the rows wait in the queue.
 * - tls=true|skip-verify|preferred (+ cacert=, cert=, key=), auth plugins
 *   mysql_native_password, caching_sha2_password (MySQL 8's default: fast
 *   path, full auth over TLS or with the server's RSA key),
 *   sha256_password, and mysql_clear_password when allowCleartextPasswords.
 * - last_occurrence_time is the effective time (DESIGN.md §3), not now
 *   when an event has no lastTimestamp (upstream even wrote "m=+12.3").
 * One connection, one statement at a time (concurrency is 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gotime.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "sink.h"
#include "sinks/mysql.h"
#include "uri.h"
#include "util.h"

#define RECONNECT_MIN_MS 1000
#define RECONNECT_MAX_MS 60000
#define V2_MESSAGE_BYTES 65535 /* a TEXT column */

enum tls_mode { TLS_OFF, TLS_ON, TLS_SKIP_VERIFY, TLS_PREFERRED };
enum schema { SCHEMA_UPSTREAM, SCHEMA_V2 };

/* Where the connection is: the order matters (< C_READY: still being set up). */
enum cstate { C_IDLE, C_CONNECTING, C_GREETING, C_TLS, C_AUTH, C_SETUP, C_READY, C_QUERY };

struct mysql {
	struct sink *sink;
	/* from the DSN */
	char *user, *password, *db, *host;
	int port;
	char addr[300]; /* host:port for log lines */
	enum tls_mode tls;
	struct http_tls tls_opts;
	bool allow_cleartext, allow_native;
	char *session_sql; /* "SET a=b, c=d" from the DSN's unknown params, or NULL */
	/* ours */
	enum schema schema;
	char *table;       /* quoted */
	char *insert_head; /* "INSERT INTO `t` (...) VALUES " */
	bool create_table, table_done;
	char *cluster_name;
	size_t message_max; /* code points, 0 = all */

	/* the connection */
	struct net *c;
	enum cstate st;
	uint8_t seq; /* the next packet's sequence id */
	struct my_handshake hs;
	enum my_plugin plugin;
	uint8_t scramble[20];
	size_t slen;
	bool switched, pubkey_asked, ever_ready;
	int setup_step;
	struct sink_batch *inflight;
	struct buf pkt; /* the packet being built (header + payload) */
	unsigned failures;
	struct loop_timer retry;
};

/* --- the DSN and our parameters --------------------------------------------- */

/* go-sql-driver's own parameters: read or accepted, never session variables. */
static const char *const driver_params[] = {
	"allowAllFiles",
	"allowCleartextPasswords",
	"allowFallbackToPlaintext",
	"allowNativePasswords",
	"allowOldPasswords",
	"charset",
	"checkConnLiveness",
	"clientFoundRows",
	"collation",
	"columnsWithAlias",
	"compress",
	"connectionAttributes",
	"interpolateParams",
	"loc",
	"maxAllowedPacket",
	"multiStatements",
	"parseTime",
	"readTimeout",
	"rejectReadOnly",
	"serverPubKey",
	"timeTruncate",
	"tls",
	"writeTimeout",
	"cert",
	"key",
	"table",
	"schema",
	"create_table",
	"cluster_name",
	"message_max",
};

static bool driver_param(const char *k)
{
	for (size_t i = 0; i < ARRAY_LEN(driver_params); i++)
		if (strcmp(k, driver_params[i]) == 0)
			return true;
	return false;
}

static int parse_tls(struct uri *u, enum tls_mode *m, char *err, size_t errlen)
{
	const char *v = uri_get(u, "tls");
	bool b;
	*m = TLS_OFF;
	if (!v)
		return 0;
	if (parse_bool(v, &b) == 0)
		*m = b ? TLS_ON : TLS_OFF;
	else if (strcasecmp(v, "skip-verify") == 0)
		*m = TLS_SKIP_VERIFY;
	else if (strcasecmp(v, "preferred") == 0)
		*m = TLS_PREFERRED;
	else {
		snprintf(
		    err, errlen,
		    "tls: \"%s\" is not a TLS mode: true, false, skip-verify or preferred (with cacert=FILE "
		    "for a private CA)",
		    v);
		return -1;
	}
	return 0;
}

/* host[:port] or [v6][:port] -> host, port (3306). 0 or -1. */
static int parse_addr(const char *a, char **host, int *port)
{
	const char *colon = NULL, *h = a;
	size_t hlen;
	if (*a == '[') {
		const char *close = strchr(a, ']');
		if (!close)
			return -1;
		h = a + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':')
			colon = close + 1;
		else if (close[1])
			return -1;
	} else {
		colon = strrchr(a, ':');
		if (colon && strchr(a, ':') != colon)
			return -1; /* a bare IPv6 address needs brackets */
		hlen = colon ? (size_t)(colon - a) : strlen(a);
	}
	int64_t p = 3306;
	if (colon && (parse_i64(colon + 1, strlen(colon + 1), &p) < 0 || p < 1 || p > 65535))
		return -1;
	if (hlen == 0)
		return -1;
	*host = xstrndup(h, hlen);
	*port = (int)p;
	return 0;
}

static const char *const upstream_columns =
    "(`namespace`,`kind`,`name`,`type`,`reason`,`message`,`event_id`,`first_occurrence_time`,"
    "`last_occurrence_time`)";
static const char *const v2_columns =
    "(`cluster_name`,`namespace`,`kind`,`name`,`type`,`reason`,`message`,`event_id`,`count`,"
    "`first_occurrence_time`,`last_occurrence_time`)";

/* The tables of configs/mysql/upstream.sql and v2.sql (tests compare them), for create_table=true. */
static const char *const upstream_ddl = "CREATE TABLE IF NOT EXISTS %s (\n"
                                        "  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n"
                                        "  `namespace` varchar(255) DEFAULT '',\n"
                                        "  `kind` varchar(255) DEFAULT '',\n"
                                        "  `name` varchar(255) DEFAULT '',\n"
                                        "  `type` varchar(255) DEFAULT '',\n"
                                        "  `reason` varchar(255) DEFAULT '',\n"
                                        "  `message` varchar(255) DEFAULT '',\n"
                                        "  `event_id` varchar(255) DEFAULT '',\n"
                                        "  `first_occurrence_time` varchar(255) DEFAULT '',\n"
                                        "  `last_occurrence_time` varchar(255) DEFAULT '',\n"
                                        "  `update_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
                                        "  PRIMARY KEY (`id`)\n"
                                        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char *const v2_ddl = "CREATE TABLE IF NOT EXISTS %s (\n"
                                  "  `id` bigint unsigned NOT NULL AUTO_INCREMENT,\n"
                                  "  `cluster_name` varchar(255) NOT NULL DEFAULT '',\n"
                                  "  `namespace` varchar(255) NOT NULL DEFAULT '',\n"
                                  "  `kind` varchar(255) NOT NULL DEFAULT '',\n"
                                  "  `name` varchar(255) NOT NULL DEFAULT '',\n"
                                  "  `type` varchar(255) NOT NULL DEFAULT '',\n"
                                  "  `reason` varchar(255) NOT NULL DEFAULT '',\n"
                                  "  `message` text NOT NULL,\n"
                                  "  `event_id` varchar(64) NOT NULL DEFAULT '',\n"
                                  "  `count` int NOT NULL DEFAULT 1,\n"
                                  "  `first_occurrence_time` datetime(6) NULL DEFAULT NULL,\n"
                                  "  `last_occurrence_time` datetime(6) NULL DEFAULT NULL,\n"
                                  "  `update_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
                                  "  PRIMARY KEY (`id`),\n"
                                  "  UNIQUE KEY `uk_event_id_count` (`event_id`,`count`),\n"
                                  "  KEY `idx_last_occurrence_time` (`last_occurrence_time`)\n"
                                  ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

static int create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	struct mysql *x = xcalloc(1, sizeof *x);
	s->impl = x;
	x->sink = s;
	loop_timer_init(&x->retry, NULL, NULL);
	buf_init(&x->pkt, s->cfg.batch_bytes + s->cfg.max_body + 65536);

	/* the DSN: user[:password]@tcp(host:port)/db */
	const char *colon = strchr(u->userinfo, ':');
	x->user = colon ? xstrndup(u->userinfo, (size_t)(colon - u->userinfo)) : xstrdup(u->userinfo);
	x->password = xstrdup(colon ? colon + 1 : "");
	x->db = xstrdup(u->path);
	if (strcmp(u->scheme, "unix") == 0) {
		snprintf(err, errlen, "the DSN's network is unix: only tcp(host:port) is supported");
		return -1;
	}
	if (u->scheme[0] && strcmp(u->scheme, "tcp") != 0 && strcmp(u->scheme, "tcp4") != 0 &&
	    strcmp(u->scheme, "tcp6") != 0) {
		snprintf(err, errlen, "the DSN's network \"%s\" is unknown: give tcp(host:port)", u->scheme);
		return -1;
	}
	if (parse_addr(u->host[0] ? u->host : "127.0.0.1:3306", &x->host, &x->port) < 0) {
		snprintf(err, errlen, "the DSN's address \"%s\" is not host:port (IPv6 as [addr]:port)",
		         u->host);
		return -1;
	}
	snprintf(x->addr, sizeof x->addr, strchr(x->host, ':') ? "[%s]:%d" : "%s:%d", x->host, x->port);

	/* TLS */
	if (parse_tls(u, &x->tls, err, errlen) < 0)
		return -1;
	if (s->cfg.cacert && !uri_get(u, "tls"))
		x->tls = TLS_ON; /* a CA file given: TLS was meant */
	const char *cert = uri_get(u, "cert"), *key = uri_get(u, "key");
	if ((cert && *cert) != (key && *key)) {
		snprintf(err, errlen,
		         "cert and key: give both (a client certificate and its key) or neither");
		return -1;
	}
	x->tls_opts.ca_file = s->cfg.cacert;
	x->tls_opts.cert_file = cert && *cert ? xstrdup(cert) : NULL;
	x->tls_opts.key_file = key && *key ? xstrdup(key) : NULL;
	x->tls_opts.insecure = x->tls == TLS_SKIP_VERIFY || x->tls == TLS_PREFERRED || s->cfg.insecure;
	if (x->tls == TLS_OFF && (x->tls_opts.cert_file || s->cfg.insecure)) {
		snprintf(err, errlen, "%s given without tls=true",
		         x->tls_opts.cert_file ? "cert" : "insecure_skip_verify");
		return -1;
	}
	if (sink_param_bool(u, "allowCleartextPasswords", false, &x->allow_cleartext, err, errlen) < 0 ||
	    sink_param_bool(u, "allowNativePasswords", true, &x->allow_native, err, errlen) < 0)
		return -1;

	/* our table */
	const char *v = uri_get(u, "schema");
	if (!v || !*v || strcmp(v, "upstream") == 0) {
		x->schema = SCHEMA_UPSTREAM;
	} else if (strcmp(v, "v2") == 0) {
		x->schema = SCHEMA_V2;
	} else {
		snprintf(err, errlen, "schema: \"%s\" must be upstream (kube-eventer's table) or v2", v);
		return -1;
	}
	v = uri_get(u, "table");
	struct buf t = BUF_INIT(512);
	if (my_ident(&t, v && *v ? v : "kube_event") < 0) {
		buf_free(&t);
		snprintf(err, errlen,
		         "table: \"%s\" is not a table name (name or database.name, 64 characters at most)",
		         v);
		return -1;
	}
	x->table = buf_steal(&t);
	if (!x->db[0] && !strchr(x->table, '.')) {
		snprintf(err, errlen, "the DSN names no database: give .../dbname or table=dbname.table");
		return -1;
	}
	x->insert_head = xasprintf("INSERT INTO %s %s VALUES ", x->table,
	                           x->schema == SCHEMA_V2 ? v2_columns : upstream_columns);
	if (sink_param_bool(u, "create_table", false, &x->create_table, err, errlen) < 0)
		return -1;
	v = uri_get(u, "cluster_name");
	x->cluster_name = xstrdup(v ? v : "default");
	int64_t n;
	if (sink_param_int(u, "message_max", 0, 0, 1 << 24, &n, err, errlen) < 0)
		return -1;
	x->message_max = (size_t)n;

	/* go-sql-driver's parameters: accepted; the rest are session variables, as there */
	for (size_t i = 0; i < u->nparams; i++) {
		struct uri_param *p = &u->params[i];
		if (p->used || driver_param(p->key))
			continue;
		p->used = true;
		if (!p->key[0] ||
		    strspn(p->key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@") !=
		        strlen(p->key)) {
			snprintf(err, errlen, "\"%s\" is neither a parameter nor a session variable name",
			         p->key);
			return -1;
		}
		/* "SET password=..." would change the account's password (and log it) */
		if (is_secret_name(p->key, strlen(p->key))) {
			snprintf(err, errlen,
			         "%s: not a session variable; the password goes in the DSN: "
			         "user:password@tcp(...)",
			         p->key);
			return -1;
		}
		char *prev = x->session_sql;
		x->session_sql = prev ? xasprintf("%s, %s=%s", prev, p->key, p->value)
		                      : xasprintf("SET %s=%s", p->key, p->value);
		free(prev);
	}
	for (size_t i = 0; i < u->nparams; i++)
		u->params[i].used |= driver_param(u->params[i].key);
	if (uri_get(u, "compress") && strcmp(uri_get(u, "compress"), "false") != 0)
		log_warn("sink %s: compress is not supported, the connection is not compressed", s->name);

	/* one connection, one statement at a time */
	s->cfg.concurrency = 1;
	return 0;
}

/* --- rows ------------------------------------------------------------------- */

/* 'YYYY-MM-DD hh:mm:ss.uuuuuu' in UTC, or NULL for the zero time (and what DATETIME cannot hold). */
static void datetime(struct buf *b, struct ktime t)
{
	struct tm tm;
	time_t sec = (time_t)t.sec;
	if (ktime_is_zero(t) || !gmtime_r(&sec, &tm) || tm.tm_year + 1900 < 1000 ||
	    tm.tm_year + 1900 > 9999) {
		buf_puts(b, "NULL");
		return;
	}
	buf_printf(b, "'%04d-%02d-%02d %02d:%02d:%02d.%06d'", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t.nsec / 1000));
}

/* Go's Time.String() in the process zone, as a hex literal. */
static void gotime_hex(struct buf *b, struct ktime t)
{
	static struct buf s = BUF_INIT(128);
	buf_reset(&s);
	gotime_string(&s, t, false);
	my_hex_literal(b, buf_str(&s), 0, 0);
}

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct mysql *x = s->impl;
	(void)err;
	(void)errlen;
	buf_putc(out, '(');
	if (x->schema == SCHEMA_V2) {
		my_hex_literal(out, x->cluster_name, 0, 0);
		buf_putc(out, ',');
	}
	my_hex_literal(out, ev->involved.namespace, 0, 0);
	buf_putc(out, ',');
	my_hex_literal(out, ev->involved.kind, 0, 0);
	buf_putc(out, ',');
	my_hex_literal(out, ev->involved.name, 0, 0);
	buf_putc(out, ',');
	my_hex_literal(out, ev->type, 0, 0);
	buf_putc(out, ',');
	my_hex_literal(out, ev->reason, 0, 0);
	buf_putc(out, ',');
	my_hex_literal(out, ev->message, x->message_max, x->schema == SCHEMA_V2 ? V2_MESSAGE_BYTES : 0);
	buf_putc(out, ',');
	my_hex_literal(out, ev->uid, 0, 0);
	buf_putc(out, ',');
	if (x->schema == SCHEMA_V2) {
		buf_put_int(out, ev->eff_count);
		buf_putc(out, ',');
		datetime(out, !ktime_is_zero(ev->first_ts) ? ev->first_ts : ev->event_time);
		buf_putc(out, ',');
		datetime(out, ev->eff_time);
	} else {
		gotime_hex(out, ev->first_ts);
		buf_putc(out, ',');
		gotime_hex(out, ev->eff_time);
	}
	buf_putc(out, ')');
	return out->overflow ? -1 : 0;
}

/* --- the connection ---------------------------------------------------------- */

static void on_open(void *ctx);
static long on_data(void *ctx, const char *p, size_t n);
static void on_close(void *ctx, int err, const char *why);
static const struct net_cb net_callbacks = { on_open, on_data, on_close };

static void start_connect(struct mysql *x)
{
	struct sink *s = x->sink;
	char err[256];
	if (x->c || loop_timer_armed(&x->retry) || !s->loop)
		return;
	struct net_opts o = {
		.host = x->host,
		.port = x->port,
		.connect_timeout_ms = s->cfg.connect_timeout_ms,
		.tls = x->tls != TLS_OFF ? &x->tls_opts : NULL,
		.tls_later = true,
		.in_max = 1 << 20,
		.out_max = x->pkt.max + 65536,
	};
	x->st = C_CONNECTING;
	x->seq = 0;
	x->switched = x->pubkey_asked = false;
	x->setup_step = 0;
	x->c = net_open(s->loop, &o, &net_callbacks, x, err, sizeof err);
	if (!x->c) {
		x->st = C_IDLE;
		log_error("sink %s: %s", s->name, err);
	}
}

static void on_retry(struct loop *l, void *ctx)
{
	struct mysql *x = ctx;
	(void)l;
	if (sink_pending(x->sink) || !x->ever_ready)
		start_connect(x);
}

/* The connection could not be set up: say why, try again later. */
static void setup_failed(struct mysql *x, const char *why)
{
	struct sink *s = x->sink;
	net_close(x->c);
	x->c = NULL;
	x->st = C_IDLE;
	int64_t delay = MIN((int64_t)RECONNECT_MIN_MS << MIN(x->failures, 10u), (int64_t)RECONNECT_MAX_MS);
	delay = delay * 8 / 10 + (int64_t)(random_u64() % (uint64_t)(delay * 4 / 10 + 1));
	x->failures++;
	log_warn("sink %s: cannot connect to %s: %s; trying again in %.1fs", s->name, x->addr, why,
	         (double)delay / 1000);
	loop_timer_arm(s->loop, &x->retry, delay);
}

/* Send one packet (payload given) with the next sequence id. */
static void send_packet(struct mysql *x, const void *payload, size_t len)
{
	struct buf f = BUF_INIT(len + 64 + len / MY_MAX_PAYLOAD * MY_HEADER);
	my_frame(&f, &x->seq, payload, len);
	if (net_send(x->c, f.data, f.len) < 0)
		log_warn("sink %s: %zu bytes do not fit the connection's buffer", x->sink->name, f.len);
	buf_free(&f);
}

/* A command: a new exchange, sequence ids from 0. */
static void send_command(struct mysql *x, uint8_t cmd, const char *sql)
{
	struct buf p = BUF_INIT(x->pkt.max);
	buf_putc(&p, (char)cmd);
	buf_puts(&p, sql);
	x->seq = 0;
	send_packet(x, p.data, p.len);
	buf_free(&p);
}

/* The auth data for plugin p, into out. 0, or -1 with err. */
static int auth_data(struct mysql *x, enum my_plugin p, struct buf *out, char *err, size_t errlen)
{
	uint8_t r[32];
	size_t n;
	switch (p) {
	case MY_NATIVE:
		if (!x->allow_native) {
			snprintf(err, errlen,
			         "the server wants mysql_native_password, and allowNativePasswords=false");
			return -1;
		}
		n = my_scramble_native(x->password, x->scramble, x->slen, r);
		return buf_append(out, r, n);
	case MY_CACHING_SHA2:
		n = my_scramble_sha2(x->password, x->scramble, x->slen, r);
		return buf_append(out, r, n);
	case MY_SHA256:
		if (!x->password[0])
			return buf_putc(out, '\0');
		if (net_tls_active(x->c))
			return buf_append(out, x->password, strlen(x->password) + 1);
		x->pubkey_asked = true;
		return buf_putc(out, 0x01); /* the server's public key, please */
	case MY_CLEAR:
		if (!x->allow_cleartext) {
			snprintf(err, errlen,
			         "the server wants the password in clear text (mysql_clear_password): "
			         "allowCleartextPasswords=true allows it (use TLS)");
			return -1;
		}
		return buf_append(out, x->password, strlen(x->password) + 1);
	default:
		snprintf(err, errlen, "unsupported auth plugin");
		return -1;
	}
}

/* What we ask for, of what the server offers (the same in the SSLRequest and the login). */
static uint32_t client_caps(const struct mysql *x, bool tls)
{
	uint32_t want = MY_CLIENT_LONG_PASSWORD | MY_CLIENT_LONG_FLAG | MY_CLIENT_PROTOCOL_41 |
	                MY_CLIENT_TRANSACTIONS | MY_CLIENT_SECURE_CONNECTION | MY_CLIENT_MULTI_RESULTS |
	                MY_CLIENT_PLUGIN_AUTH | MY_CLIENT_PLUGIN_AUTH_LENENC |
	                (x->db[0] ? MY_CLIENT_CONNECT_WITH_DB : 0) | (tls ? MY_CLIENT_SSL : 0);
	return want & x->hs.caps;
}

static void send_login(struct mysql *x)
{
	char err[256];
	struct buf auth = BUF_INIT(4096), p = BUF_INIT(8192);
	/* the server's default plugin; one we do not speak: native, and the server may switch us */
	x->plugin = my_plugin_find(x->hs.plugin[0] ? x->hs.plugin : "mysql_native_password");
	if (x->plugin == MY_PLUGIN_UNKNOWN || (x->plugin == MY_CLEAR && !x->allow_cleartext))
		x->plugin = MY_NATIVE;
	if (auth_data(x, x->plugin, &auth, err, sizeof err) < 0) {
		buf_free(&auth);
		setup_failed(x, err);
		return;
	}
	struct my_login l = {
		.caps = client_caps(x, net_tls_active(x->c)),
		.charset = MY_UTF8MB4_GENERAL_CI,
		.user = x->user,
		.db = x->db,
		.plugin = my_plugin_name(x->plugin),
		.auth = (const uint8_t *)auth.data,
		.auth_len = auth.len,
	};
	if (!(x->hs.caps & MY_CLIENT_PLUGIN_AUTH_LENENC) && auth.len > 250)
		l.caps &= ~MY_CLIENT_PLUGIN_AUTH_LENENC;
	my_handshake_response(&p, &l);
	send_packet(x, p.data, p.len);
	memset(auth.data, 0, auth.len);
	buf_free(&auth);
	buf_free(&p);
	x->st = C_AUTH;
}

static void on_open(void *ctx)
{
	struct mysql *x = ctx;
	net_deadline(x->c, x->sink->cfg.timeout_ms); /* the greeting and login must come in time */
	if (x->st == C_TLS) {
		send_login(x); /* TLS is up: the login goes encrypted */
		return;
	}
	x->st = C_GREETING;
}

static void greeting(struct mysql *x, const uint8_t *p, size_t n)
{
	struct my_err e;
	char why[256], t[600];
	int r = my_handshake_decode(p, n, &x->hs, &e, why, sizeof why);
	if (r != 0) {
		if (r > 0)
			my_err_text(&e, t, sizeof t);
		setup_failed(x, r > 0 ? t : why);
		return;
	}
	memcpy(x->scramble, x->hs.scramble, sizeof x->scramble);
	x->slen = x->hs.scramble_len;
	if (x->tls != TLS_OFF && x->hs.caps & MY_CLIENT_SSL) {
		struct buf req = BUF_INIT(64);
		my_ssl_request(&req, client_caps(x, true), MY_UTF8MB4_GENERAL_CI);
		send_packet(x, req.data, req.len);
		buf_free(&req);
		x->st = C_TLS;
		if (net_starttls(x->c) < 0)
			setup_failed(x, "cannot start TLS");
		return;
	}
	if (x->tls == TLS_ON || x->tls == TLS_SKIP_VERIFY) {
		setup_failed(x, "the server does not offer TLS (tls=preferred falls back to plain)");
		return;
	}
	send_login(x);
}

static void ready(struct mysql *x);

/* After login: session variables, then the table; one statement at a time. */
static void setup_next(struct mysql *x)
{
	x->st = C_SETUP;
	if (x->setup_step == 0) {
		x->setup_step = 1;
		if (x->session_sql) {
			send_command(x, MY_COM_QUERY, x->session_sql);
			return;
		}
	}
	if (x->setup_step == 1) {
		x->setup_step = 2;
		if (x->create_table && !x->table_done) {
			char *ddl = xasprintf(x->schema == SCHEMA_V2 ? v2_ddl : upstream_ddl, x->table);
			send_command(x, MY_COM_QUERY, ddl);
			free(ddl);
			return;
		}
	}
	ready(x);
}

static void ready(struct mysql *x)
{
	struct sink *s = x->sink;
	x->st = C_READY;
	net_deadline(x->c, 0);
	const char *ver = x->hs.server_version;
	if (str_starts(ver, "5.5.5-")) /* MariaDB's prefix for old clients */
		ver += 6;
	if (!x->ever_ready || x->failures)
		log_info("sink %s: connected to %s (%s, %s, %s)", s->name, x->addr, ver,
		         net_tls_active(x->c) ? "TLS" : "no TLS", my_plugin_name(x->plugin));
	x->ever_ready = true;
	x->failures = 0;
	sink_kick(s);
}

/* A packet while setting up (session variables, CREATE TABLE). */
static void setup_answer(struct mysql *x, const uint8_t *p, size_t n)
{
	struct my_err e;
	char t[600];
	if (n && p[0] == 0xFF && my_err_decode(p, n, &e) == 0) {
		my_err_text(&e, t, sizeof t);
		if (x->setup_step == 1) { /* the DSN's session variables: nothing will work */
			setup_failed(x, t);
			return;
		}
		log_warn("sink %s: CREATE TABLE %s: %s", x->sink->name, x->table, t);
	} else if (!n || p[0] != 0x00) {
		setup_failed(x, "unexpected answer to a statement");
		return;
	}
	if (x->setup_step == 2)
		x->table_done = true; /* (created, there, or not ours to make: the INSERTs will tell) */
	setup_next(x);
}

/* caching_sha2_password / sha256_password: the password under the server's RSA key. */
static void send_rsa(struct mysql *x, const uint8_t *pem, size_t len)
{
	char err[256];
	struct buf ct = BUF_INIT(4096);
	if (my_rsa_password((const char *)pem, len, x->password, x->scramble, x->slen, &ct, err, sizeof err) <
	    0) {
		buf_free(&ct);
		setup_failed(x, err);
		return;
	}
	send_packet(x, ct.data, ct.len);
	buf_free(&ct);
}

static void auth_answer(struct mysql *x, const uint8_t *p, size_t n)
{
	struct my_auth_reply r;
	char why[256], t[600];
	if (my_auth_reply_decode(p, n, &r, why, sizeof why) < 0) {
		setup_failed(x, why);
		return;
	}
	switch (r.kind) {
	case MY_AUTH_OK:
		setup_next(x);
		return;
	case MY_AUTH_ERR:
		my_err_text(&r.err, t, sizeof t);
		setup_failed(x, t);
		return;
	case MY_AUTH_SWITCH: {
		enum my_plugin np = my_plugin_find(r.plugin);
		if (x->switched || np == MY_PLUGIN_UNKNOWN) {
			snprintf(t, sizeof t, "the server wants auth plugin %s, which is not supported",
			         r.plugin);
			setup_failed(x, x->switched ? "the server switched auth plugins twice" : t);
			return;
		}
		x->switched = true;
		x->plugin = np;
		if (r.data_len) {
			x->slen = MIN(r.data_len, sizeof x->scramble);
			memcpy(x->scramble, r.data, x->slen);
		}
		struct buf a = BUF_INIT(4096);
		if (auth_data(x, np, &a, why, sizeof why) < 0) {
			buf_free(&a);
			setup_failed(x, why);
			return;
		}
		send_packet(x, a.data ? a.data : "", a.len);
		buf_free(&a);
		return;
	}
	case MY_AUTH_MORE:
		break;
	}
	/* AuthMoreData */
	if (x->plugin == MY_CACHING_SHA2 && r.data_len == 1 && r.data[0] == MY_SHA2_FAST_OK)
		return; /* the OK follows */
	if (x->plugin == MY_CACHING_SHA2 && r.data_len == 1 && r.data[0] == MY_SHA2_FULL_AUTH) {
		if (net_tls_active(x->c)) {
			send_packet(x, x->password, strlen(x->password) + 1);
		} else {
			uint8_t ask = MY_SHA2_REQUEST_PUBKEY;
			x->pubkey_asked = true;
			send_packet(x, &ask, 1);
		}
		return;
	}
	if ((x->plugin == MY_CACHING_SHA2 || x->plugin == MY_SHA256) && x->pubkey_asked && r.data_len > 1) {
		send_rsa(x, r.data, r.data_len);
		return;
	}
	setup_failed(x, "unexpected data from the server during authentication");
}

/* The answer to an INSERT. */
static void query_answer(struct mysql *x, const uint8_t *p, size_t n)
{
	struct sink *s = x->sink;
	struct sink_batch *b = x->inflight;
	struct my_err e;
	struct my_ok ok;
	char t[700];
	x->inflight = NULL;
	x->st = C_READY;
	net_deadline(x->c, 0);
	if (n && p[0] == 0x00 && my_ok_decode(p, n, &ok) == 0) {
		if (ok.warnings)
			log_debug("sink %s: %u warning(s) for %u row(s)", s->name, ok.warnings, b ? b->n : 0);
		if (b)
			sink_batch_done(s, b, DELIVERY_OK, NULL, -1);
		return;
	}
	if (n && p[0] == 0xFF && my_err_decode(p, n, &e) == 0) {
		int cls = my_err_class(e.code);
		my_err_text(&e, t, sizeof t);
		if (e.code == 1406 && strstr(e.msg, "'message'") && x->schema == SCHEMA_UPSTREAM &&
		    !x->message_max)
			snprintf(t + strlen(t), sizeof t - strlen(t),
			         " (message_max=255 cuts messages to fit)");
		if (b)
			sink_batch_done(s, b,
			                cls == MY_ERR_ROW      ? DELIVERY_SPLIT
			                : cls == MY_ERR_SCHEMA ? DELIVERY_DROP
			                                       : DELIVERY_RETRY,
			                t, -1);
		return;
	}
	/* a result set or anything else: not what an INSERT answers */
	net_close(x->c);
	x->c = NULL;
	x->st = C_IDLE;
	if (b)
		sink_batch_done(s, b, DELIVERY_RETRY, "unexpected answer to INSERT", -1);
}

static long on_data(void *ctx, const char *data, size_t n)
{
	struct mysql *x = ctx;
	const uint8_t *p;
	size_t len;
	uint8_t seq;
	long used = my_packet((const uint8_t *)data, n, &p, &len, &seq);
	if (used <= 0)
		return used;
	x->seq = (uint8_t)(seq + 1);
	switch (x->st) {
	case C_GREETING:
		greeting(x, p, len);
		break;
	case C_AUTH:
		auth_answer(x, p, len);
		break;
	case C_SETUP:
		setup_answer(x, p, len);
		break;
	case C_QUERY:
		query_answer(x, p, len);
		break;
	default: { /* idle: MySQL 8 says why it will close (4031: inactivity) */
		struct my_err e;
		char t[600];
		if (len && p[0] == 0xFF && my_err_decode(p, len, &e) == 0) {
			my_err_text(&e, t, sizeof t);
			log_info("sink %s: the server closes the connection: %s", x->sink->name, t);
		}
		break;
	}
	}
	return used;
}

static void on_close(void *ctx, int err, const char *why)
{
	struct mysql *x = ctx;
	struct sink *s = x->sink;
	enum cstate st = x->st;
	struct sink_batch *b = x->inflight;
	char t[700];
	x->c = NULL;
	x->st = C_IDLE;
	x->inflight = NULL;
	if (st < C_READY) {
		snprintf(t, sizeof t, "%s",
		         err == 0 && st >= C_GREETING ? "the server closed the connection" : why);
		setup_failed(x, t);
		return;
	}
	if (st == C_QUERY && b) {
		snprintf(t, sizeof t, "connection to %s lost (%s)", x->addr, why);
		sink_batch_done(s, b, DELIVERY_RETRY, t, -1);
		return;
	}
	log_info("sink %s: connection to %s closed while idle (%s); reconnecting when needed", s->name,
	         x->addr, why);
}

/* --- the transport ------------------------------------------------------------ */

static int tr_send(struct sink *s, struct sink_batch *b, char *err, size_t errlen)
{
	struct mysql *x = s->impl;
	if (x->st != C_READY) {
		start_connect(x);
		return SINK_LATER;
	}
	struct buf *q = &x->pkt;
	buf_reset(q);
	buf_append(q, "\0\0\0\0", MY_HEADER); /* the header, filled below */
	buf_putc(q, MY_COM_QUERY);
	buf_puts(q, x->insert_head);
	for (unsigned i = 0; i < b->n; i++) {
		if (i)
			buf_putc(q, ',');
		buf_append(q, b->items[i]->body, b->items[i]->len);
	}
	buf_puts(q, " ON DUPLICATE KEY UPDATE `event_id`=`event_id`");
	if (q->overflow) {
		snprintf(err, errlen, "statement too large");
		return -1;
	}
	size_t len = q->len - MY_HEADER;
	if (len < MY_MAX_PAYLOAD) { /* one packet: the header in place, one copy */
		q->data[0] = (char)len;
		q->data[1] = (char)(len >> 8);
		q->data[2] = (char)(len >> 16);
		q->data[3] = 0;
		if (net_send(x->c, q->data, q->len) < 0) {
			snprintf(err, errlen, "statement too large for the connection's buffer");
			return -1;
		}
	} else {
		x->seq = 0;
		send_packet(x, q->data + MY_HEADER, len);
	}
	x->inflight = b;
	x->st = C_QUERY;
	net_deadline(x->c, s->cfg.timeout_ms);
	if (q->cap > 256 * 1024)
		buf_free(q); /* the connection has its copy: no large scratch kept between batches */
	return SINK_SENT;
}

static void tr_cancel(struct sink *s, struct sink_batch *b)
{
	struct mysql *x = s->impl;
	if (x->inflight == b)
		x->inflight = NULL;
}

static const struct sink_transport transport = { .send = tr_send, .cancel = tr_cancel };

static void start(struct sink *s)
{
	struct mysql *x = s->impl;
	loop_timer_init(&x->retry, on_retry, x);
	if (x->session_sql)
		log_info("sink %s: session variables from the DSN: %s", s->name, x->session_sql + 4);
	start_connect(x); /* early: a wrong password or host shows at start */
}

static void destroy(struct sink *s)
{
	struct mysql *x = s->impl;
	if (!x)
		return;
	if (s->loop)
		loop_timer_disarm(s->loop, &x->retry);
	if (x->c && x->st == C_READY) { /* goodbye, so the server logs no aborted connection */
		uint8_t quit = MY_COM_QUIT;
		x->seq = 0;
		send_packet(x, &quit, 1);
	}
	net_close(x->c);
	if (x->password)
		memset(x->password, 0, strlen(x->password));
	free(x->user);
	free(x->password);
	free(x->db);
	free(x->host);
	free((char *)x->tls_opts.cert_file);
	free((char *)x->tls_opts.key_file);
	free(x->session_sql);
	free(x->table);
	free(x->insert_head);
	free(x->cluster_name);
	buf_free(&x->pkt);
	free(x);
}

const struct sink_type sink_mysql = {
	.name = "mysql",
	.data = true,
	.dsn = true,
	.default_concurrency = 1,
	.default_batch = 1000,
	.create = create,
	.render = render,
	.transport = &transport,
	.start = start,
	.destroy = destroy,
};
