/*
 * uri.h -- kube-eventer's `--source`/`--sink` values: "key:rest".
 *
 * The value is split at the first ':'; `$VAR` / `${VAR}` in rest are expanded
 * from the environment exactly like Go's os.ExpandEnv; rest is then split as
 * Go's url.Parse does (scheme, //userinfo@host, path, ?query, #fragment) and
 * the query follows url.Query(): pairs split on '&', key and value split at
 * the first '=', '+' is a space, %XX decoded, repeated keys kept in order.
 * Deliberate differences from Go: a bad percent escape in the query is an
 * error instead of silently dropping the pair, and ';' is an ordinary
 * character (Go >= 1.17 drops pairs containing it).
 */
#ifndef KE_URI_H
#define KE_URI_H

#include <stdbool.h>
#include <stddef.h>

struct uri_param {
	char *key;
	char *value;
	bool used; /* set by uri_get*(): unused parameters are reported by --check */
};

struct uri {
	char *key;      /* "webhook" */
	char *rest;     /* after environment expansion ("" when absent) */
	char *scheme;   /* "https" or "" */
	char *host;     /* "host:port" or "[::1]:6443" or "" */
	char *userinfo; /* "user:pass" or "" */
	char *path;     /* decoded path or "" */
	char *base;     /* scheme://userinfo@host/path as written, without ?query#frag */
	char *fragment;
	struct uri_param *params;
	size_t nparams;
};

/* Parse a flag value. 0, or -1 with the reason in err. *u is zeroed on error. */
int uri_parse(const char *value, struct uri *u, char *err, size_t errlen);
void uri_free(struct uri *u);

/*
 * Where the parts of a go-sql-driver DSN are (the mysql sink's URI is
 * "mysql:?" + a DSN): "[user[:password]@][net[(addr)]]/dbname[?params]".
 * The password is taken raw, as go-sql-driver takes it: any byte --
 * '%', '#', '@', ':', '&', '?', '/' included -- from the first ':' to the
 * last '@' that is followed by the network part ("tcp(", "tcp4(", "tcp6(",
 * "unix(", "tcp/" or a bare "/"). So only a password or parameter that
 * itself holds such a sequence after an '@' can confuse it. Offsets are
 * into dsn; *_len 0 where a part is absent. -1 when dsn is not a DSN
 * (no network part where one must be, no '/' before the database name).
 */
struct uri_dsn {
	bool has_userinfo, has_password, has_addr, has_params;
	size_t user_len;           /* the user is dsn[0, user_len) */
	size_t pass_off, pass_len; /* the password, raw */
	size_t net_off, net_len;   /* "tcp", "unix", or empty */
	size_t addr_off, addr_len; /* inside the parentheses */
	size_t db_off, db_len;     /* raw (percent-escaped) database name */
	size_t params_off;         /* after the '?' that starts the params (n when none) */
};
int uri_split_dsn(const char *dsn, size_t n, struct uri_dsn *d);

/*
 * Parse "key:" + ["?"] + a DSN (see uri_split_dsn) after environment
 * expansion: userinfo = "user:password" as written, scheme = the network,
 * host = the address, path = the database name (percent-decoded), and
 * params = the DSN's params, split by the Go query rules (a bad percent
 * escape is an error naming the parameter). Errors never quote the DSN: it
 * holds a password. 0, or -1 with err.
 */
int uri_parse_dsn(const char *value, struct uri *u, char *err, size_t errlen);

/* First value of key (Go's Query().Get) or NULL when absent; marks it used. */
const char *uri_get(struct uri *u, const char *key);
/* Every value of key in order: returns the count, fills vals up to max. */
size_t uri_get_all(struct uri *u, const char *key, const char **vals, size_t max);

/* Append s percent-encoded for a URL query (RFC 3986 unreserved kept). */
struct buf;
void uri_query_escape(struct buf *b, const char *s);

/* os.ExpandEnv into a fresh string. */
char *uri_expand_env(const char *s);

/*
 * Percent-decode s[0..n) into a fresh string (plus_is_space for queries).
 * Returns NULL on a bad escape.
 */
char *uri_unescape(const char *s, size_t n, bool plus_is_space);

#endif
