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
