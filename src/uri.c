/* uri.c -- "key:rest" flag values with Go's ExpandEnv, url.Parse and Query rules. */
#include "uri.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

#define URI_MAX (64 * 1024)

static bool shell_special(char c)
{
	return strchr("*#$@!?-", c) != NULL || (c >= '0' && c <= '9');
}

static bool alnum_(char c)
{
	return c == '_' || isalnum((unsigned char)c);
}

/* Go's getShellName: the variable name after '$' and the bytes it spans. */
static size_t shell_name(const char *s, const char **name, size_t *nlen)
{
	*name = s;
	*nlen = 0;
	if (s[0] == '{') {
		if (s[1] && shell_special(s[1]) && s[2] == '}') {
			*name = s + 1;
			*nlen = 1;
			return 3;
		}
		for (size_t i = 1; s[i]; i++) {
			if (s[i] == '}') {
				if (i == 1)
					return 2; /* "${}": bad syntax, eaten */
				*name = s + 1;
				*nlen = i - 1;
				return i + 1;
			}
		}
		return 1; /* "${" without '}': eaten */
	}
	if (shell_special(s[0])) {
		*nlen = 1;
		return 1;
	}
	size_t i = 0;
	while (alnum_(s[i]))
		i++;
	*nlen = i;
	return i;
}

char *uri_expand_env(const char *s)
{
	struct buf b = BUF_INIT(URI_MAX);
	size_t i = 0;
	for (size_t j = 0; s[j]; j++) {
		if (s[j] != '$' || !s[j + 1])
			continue;
		buf_append(&b, s + i, j - i);
		const char *name;
		size_t nlen, w = shell_name(s + j + 1, &name, &nlen);
		if (nlen == 0 && w > 0) {
			/* invalid syntax: the characters are dropped, as Go does */
		} else if (nlen == 0) {
			buf_putc(&b, '$');
		} else {
			char *var = xstrndup(name, nlen);
			const char *val = getenv(var);
			free(var);
			if (val)
				buf_puts(&b, val);
		}
		j += w;
		i = j + 1;
	}
	buf_puts(&b, s + i);
	return buf_steal(&b);
}

void uri_query_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			buf_putc(b, (char)*p);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[*p >> 4]);
			buf_putc(b, hex[*p & 15]);
		}
	}
}

char *uri_unescape(const char *s, size_t n, bool plus_is_space)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int a = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			int b = i + 2 < n ? hex_digit(s[i + 2]) : -1;
			if (a < 0 || b < 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(a * 16 + b);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static bool scheme_char(char c, bool first)
{
	if (isalpha((unsigned char)c))
		return true;
	return !first && (isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.');
}

static int parse_query(struct uri *u, const char *q, size_t n, char *err, size_t errlen)
{
	size_t cap = 0;
	const char *end = q + n;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pend = amp ? amp : end;
		if (pend > q) {
			const char *eq = memchr(q, '=', (size_t)(pend - q));
			const char *kend = eq ? eq : pend;
			char *k = uri_unescape(q, (size_t)(kend - q), true);
			char *v = eq ? uri_unescape(eq + 1, (size_t)(pend - eq - 1), true) : xstrdup("");
			if (!k || !v) {
				snprintf(err, errlen, "invalid percent escape in query parameter \"%.*s\"",
				         (int)MIN((size_t)(kend - q), 64), q);
				free(k);
				free(v);
				return -1;
			}
			if (u->nparams == cap) {
				cap = cap ? cap * 2 : 8;
				u->params = xrealloc(u->params, cap * sizeof *u->params);
			}
			u->params[u->nparams++] = (struct uri_param){ k, v, false };
		}
		q = pend + (amp ? 1 : 0);
	}
	return 0;
}

int uri_parse(const char *value, struct uri *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	if (strlen(value) > URI_MAX) {
		snprintf(err, errlen, "value longer than %d bytes", URI_MAX);
		return -1;
	}
	const char *colon = strchr(value, ':');
	size_t klen = colon ? (size_t)(colon - value) : strlen(value);
	if (klen == 0) {
		snprintf(err, errlen, "missing uri key in '%s'", value);
		return -1;
	}
	u->key = xstrndup(value, klen);
	u->rest = uri_expand_env(colon ? colon + 1 : "");

	const char *s = u->rest;
	const char *hash = strchr(s, '#');
	const char *end = hash ? hash : s + strlen(s);
	u->fragment = xstrdup(hash ? hash + 1 : "");
	const char *qm = memchr(s, '?', (size_t)(end - s));
	const char *before_q = qm ? qm : end;
	u->base = xstrndup(s, (size_t)(before_q - s));

	/* scheme */
	const char *p = s;
	size_t i = 0;
	while (p + i < before_q && scheme_char(p[i], i == 0))
		i++;
	if (i > 0 && p + i < before_q && p[i] == ':') {
		u->scheme = xstrndup(p, i);
		for (char *c = u->scheme; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		p += i + 1;
	} else if (p < before_q && p[0] == ':') {
		snprintf(err, errlen, "missing protocol scheme");
		goto fail;
	} else {
		u->scheme = xstrdup("");
	}
	/* authority */
	if (before_q - p >= 2 && p[0] == '/' && p[1] == '/') {
		p += 2;
		const char *slash = memchr(p, '/', (size_t)(before_q - p));
		const char *aend = slash ? slash : before_q;
		const char *at = NULL;
		for (const char *c = p; c < aend; c++)
			if (*c == '@')
				at = c;
		if (at) {
			u->userinfo = uri_unescape(p, (size_t)(at - p), false);
			if (!u->userinfo) {
				snprintf(err, errlen, "invalid percent escape in userinfo");
				goto fail;
			}
			p = at + 1;
		}
		u->host = xstrndup(p, (size_t)(aend - p));
		if (u->host[0] == '[' && !strchr(u->host, ']')) {
			snprintf(err, errlen, "missing ']' in host");
			goto fail;
		}
		p = aend;
	}
	if (!u->userinfo)
		u->userinfo = xstrdup("");
	if (!u->host)
		u->host = xstrdup("");
	u->path = uri_unescape(p, (size_t)(before_q - p), false);
	if (!u->path) {
		snprintf(err, errlen, "invalid URL escape in \"%.*s\"", (int)MIN((size_t)(before_q - p), 64),
		         p);
		goto fail;
	}
	if (qm && parse_query(u, qm + 1, (size_t)(end - qm - 1), err, errlen) < 0)
		goto fail;
	return 0;
fail:
	uri_free(u);
	return -1;
}

/* The network part at p: [net][(addr)]"/"; its length up to and including the '/', or 0. */
static size_t dsn_net_part(const char *p, const char *end, bool need_known)
{
	static const char *const nets[] = { "", "tcp", "tcp4", "tcp6", "unix" };
	size_t i = 0;
	while (p + i < end && isalnum((unsigned char)p[i]))
		i++;
	bool known = false;
	for (size_t k = 0; k < ARRAY_LEN(nets); k++)
		known |= strlen(nets[k]) == i && strncmp(p, nets[k], i) == 0;
	if (need_known && !known)
		return 0;
	if (p + i < end && p[i] == '(') {
		const char *close = p + i + 1;
		while (close < end && *close != ')' && *close != '(')
			close++;
		if (close >= end || *close != ')')
			return 0;
		i = (size_t)(close - p) + 1;
	}
	return p + i < end && p[i] == '/' ? i + 1 : 0;
}

int uri_split_dsn(const char *dsn, size_t n, struct uri_dsn *d)
{
	const char *end = dsn + n, *rest = dsn;
	memset(d, 0, sizeof *d);
	/* userinfo: up to the last '@' followed by a network part */
	for (size_t j = n; j-- > 0;) {
		if (dsn[j] == '@' && dsn_net_part(dsn + j + 1, end, true)) {
			const char *colon = memchr(dsn, ':', j);
			d->has_userinfo = true;
			d->user_len = colon ? (size_t)(colon - dsn) : j;
			if (colon) {
				d->has_password = true;
				d->pass_off = d->user_len + 1;
				d->pass_len = j - d->pass_off;
			}
			rest = dsn + j + 1;
			break;
		}
	}
	size_t np = dsn_net_part(rest, end, false);
	if (!np)
		return -1;
	d->net_off = (size_t)(rest - dsn);
	while (d->net_len < np - 1 && isalnum((unsigned char)rest[d->net_len]))
		d->net_len++;
	if (rest[d->net_len] == '(') {
		d->has_addr = true;
		d->addr_off = d->net_off + d->net_len + 1;
		d->addr_len = np - 1 - d->net_len - 2;
	}
	d->db_off = (size_t)(rest - dsn) + np;
	const char *q = memchr(dsn + d->db_off, '?', n - d->db_off);
	d->db_len = (size_t)((q ? q : end) - (dsn + d->db_off));
	d->has_params = q != NULL;
	d->params_off = q ? (size_t)(q - dsn) + 1 : n;
	return 0;
}

int uri_parse_dsn(const char *value, struct uri *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	if (strlen(value) > URI_MAX) {
		snprintf(err, errlen, "value longer than %d bytes", URI_MAX);
		return -1;
	}
	const char *colon = strchr(value, ':');
	size_t klen = colon ? (size_t)(colon - value) : strlen(value);
	if (klen == 0) {
		snprintf(err, errlen, "missing uri key");
		return -1;
	}
	u->key = xstrndup(value, klen);
	u->rest = uri_expand_env(colon ? colon + 1 : "");
	const char *dsn = u->rest[0] == '?' ? u->rest + 1 : u->rest;
	size_t n = strlen(dsn);
	struct uri_dsn d;
	if (n == 0) {
		snprintf(err, errlen, "missing the DSN: give %s:?user:password@tcp(host:3306)/database",
		         u->key);
		goto fail;
	}
	if (uri_split_dsn(dsn, n, &d) < 0) {
		snprintf(err, errlen,
		         "the DSN is not [user[:password]@][tcp(host[:port])]/database[?params] "
		         "(is the address inside tcp(...), and a '/' before the database name?)");
		goto fail;
	}
	u->userinfo = xstrndup(dsn, d.has_password ? d.pass_off + d.pass_len : d.user_len);
	u->scheme = xstrndup(dsn + d.net_off, d.net_len);
	u->host = xstrndup(dsn + d.addr_off, d.addr_len);
	u->path = uri_unescape(dsn + d.db_off, d.db_len, false);
	u->base = xstrdup("");
	u->fragment = xstrdup("");
	if (!u->path) {
		snprintf(err, errlen, "invalid percent escape in the database name");
		goto fail;
	}
	if (d.has_params && parse_query(u, dsn + d.params_off, n - d.params_off, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	uri_free(u);
	return -1;
}

void uri_free(struct uri *u)
{
	for (size_t i = 0; i < u->nparams; i++) {
		free(u->params[i].key);
		free(u->params[i].value);
	}
	free(u->params);
	free(u->key);
	free(u->rest);
	free(u->scheme);
	free(u->host);
	free(u->userinfo);
	free(u->path);
	free(u->base);
	free(u->fragment);
	memset(u, 0, sizeof *u);
}

const char *uri_get(struct uri *u, const char *key)
{
	const char *v = NULL;
	uri_get_all(u, key, &v, 1);
	return v;
}

size_t uri_get_all(struct uri *u, const char *key, const char **vals, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < u->nparams; i++) {
		if (strcmp(u->params[i].key, key) != 0)
			continue;
		u->params[i].used = true;
		if (n < max)
			vals[n] = u->params[i].value;
		n++;
	}
	return n;
}
