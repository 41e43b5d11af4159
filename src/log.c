/* log.c -- one line per message on stderr, logfmt or JSON; URL redaction. */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "uri.h"

enum log_level log_threshold = LOG_INFO;
static enum log_format log_fmt = LOG_TEXT;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

void log_setup(enum log_level level, enum log_format format)
{
	log_threshold = level;
	log_fmt = format;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0 || strcmp(s, "logfmt") == 0)
		*out = LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

enum log_level log_level_from_verbosity(int v)
{
	if (v >= 4)
		return LOG_TRACE;
	if (v >= 2)
		return LOG_DEBUG;
	return LOG_INFO;
}

/* logfmt value quoting: quote when empty or containing space, '"', '=' or controls. */
static void logfmt_value(struct buf *b, const char *s)
{
	bool quote = *s == '\0';
	for (const char *p = s; *p && !quote; p++)
		quote = *p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20;
	if (!quote) {
		buf_puts(b, s);
		return;
	}
	buf_json_string(b, s); /* JSON string escaping is valid logfmt quoting */
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048];
	char ts[40];
	struct timespec now;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

	struct buf b = BUF_INIT(8192);
	if (log_fmt == LOG_JSON) {
		buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
		buf_json_string(&b, msg);
		buf_puts(&b, "}\n");
	} else {
		buf_printf(&b, "time=%s level=%s msg=", ts, level_names[level]);
		logfmt_value(&b, msg);
		buf_putc(&b, '\n');
	}
	fwrite(b.data, 1, b.len, stderr);
	buf_free(&b);
}

bool is_secret_name(const char *name, size_t n)
{
	static const char *const names[] = {
		"access_token",     "token",       "key",          "sign",
		"secret",           "corp_secret", "corpsecret",   "password",
		"passwd",           "pw",          "pass",         "writekey",
		"accessKeySecret",  "accessKeyId", "esUserSecret", "authorization",
		"x-honeycomb-team", "api_key",     "apikey",       "client_secret",
		"signature",
	};
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
			return true;
	/* Anything named like *token, *secret or *password. */
	static const char *const suffixes[] = { "token", "secret", "password" };
	for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
		size_t l = strlen(suffixes[i]);
		if (n >= l && strncasecmp(name + n - l, suffixes[i], l) == 0)
			return true;
	}
	return false;
}

/* A path segment that looks like a credential (Slack/Feishu hook paths). */
static bool tokenish(const char *s, size_t n)
{
	if (n < 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/*
 * Append [p, end) with the password of a "scheme://user:pass@host" in it
 * masked; ':', '/' and '@' may be written raw or percent-encoded.
 */
static void mask_userinfo(struct buf *b, const char *p, const char *end)
{
	size_t n = (size_t)(end - p);
	const char *s = memmem(p, n, "://", 3), *skip = s ? s + 3 : NULL;
	if (!s && (s = memmem(p, n, "%3A%2F%2F", 9)))
		skip = s + 9;
	const char *at = NULL;
	for (const char *q = skip; q && q < end && *q != '/' && !at; q++)
		if (*q == '@' || (end - q >= 3 && strncasecmp(q, "%40", 3) == 0))
			at = q;
	if (!at) {
		buf_append(b, p, n);
		return;
	}
	const char *colon = NULL;
	for (const char *q = skip; q < at && !colon; q++)
		if (*q == ':' || (at - q >= 3 && strncasecmp(q, "%3A", 3) == 0))
			colon = q;
	buf_append(b, p, (size_t)((colon ? colon : skip) - p));
	buf_puts(b, colon ? ":***" : "***");
	buf_append(b, at, (size_t)(end - at));
}

/* Append the query [p, qend) (p at its '?') with secret values masked. */
static void redact_query(struct buf *b, const char *p, const char *qend)
{
	while (p < qend) {
		buf_putc(b, *p++); /* '?' or '&' */
		const char *kv_end = memchr(p, '&', (size_t)(qend - p));
		if (!kv_end)
			kv_end = qend;
		const char *eq = memchr(p, '=', (size_t)(kv_end - p));
		if (eq && is_secret_name(p, (size_t)(eq - p))) {
			buf_append(b, p, (size_t)(eq - p + 1));
			buf_puts(b, "***");
		} else if (eq) {
			/* a URL as a value (nodes=https://user:pass@host) */
			buf_append(b, p, (size_t)(eq - p + 1));
			mask_userinfo(b, eq + 1, kv_end);
		} else {
			buf_append(b, p, (size_t)(kv_end - p));
		}
		p = kv_end;
	}
}

/*
 * A go-sql-driver DSN (the mysql sink's "?user:password@tcp(host)/db?params"):
 * the password masked, wherever '#', '?', '&' or '%' are in it. False when
 * s is no DSN with a password.
 */
static bool redact_dsn(struct buf *b, const char *s)
{
	struct uri_dsn d;
	const char *dsn = s[0] == '?' ? s + 1 : s;
	size_t n = strlen(dsn);
	if (uri_split_dsn(dsn, n, &d) < 0 || !d.has_password)
		return false;
	const char *pass_end = dsn + d.pass_off + d.pass_len;
	const char *params = d.has_params ? dsn + d.params_off - 1 : dsn + n;
	buf_append(b, s, (size_t)(dsn - s) + d.pass_off);
	buf_puts(b, "***");
	buf_append(b, pass_end, (size_t)(params - pass_end));
	redact_query(b, params, dsn + n);
	return true;
}

char *log_redact_url(const char *url, char *out, size_t n)
{
	struct buf b = BUF_INIT(n ? n - 1 : 0);
	const char *p = url;
	const char *q = strchr(url, '?');
	const char *frag = strchr(url, '#');
	const char *end = q ? q : (frag ? frag : url + strlen(url));
	const char *scheme = strstr(url, "://");

	if (n == 0)
		return out;
	if (redact_dsn(&b, url))
		goto out;
	/* userinfo: scheme://user:pass@host */
	if (scheme && scheme < end) {
		const char *auth = scheme + 3;
		const char *slash = auth + strcspn(auth, "/?#");
		const char *at = memchr(auth, '@', (size_t)(slash - auth));
		if (at) {
			const char *colon = memchr(auth, ':', (size_t)(at - auth));
			buf_append(&b, url, (size_t)(auth - url));
			if (colon) {
				buf_append(&b, auth, (size_t)(colon - auth));
				buf_puts(&b, ":***");
			} else {
				buf_puts(&b, "***");
			}
			p = at;
		}
	}
	/* path segments that look like tokens */
	while (p < end) {
		const char *seg = p;
		if (*seg == '/')
			seg++;
		const char *segend = memchr(seg, '/', (size_t)(end - seg));
		if (!segend)
			segend = end;
		buf_append(&b, p, (size_t)(seg - p));
		if (tokenish(seg, (size_t)(segend - seg)))
			buf_puts(&b, "***");
		else
			buf_append(&b, seg, (size_t)(segend - seg));
		p = segend;
	}
	if (q)
		redact_query(&b, q, frag ? frag : q + strlen(q));
out:;
	size_t len = b.len < n - 1 ? b.len : n - 1;
	if (len)
		memcpy(out, b.data, len);
	out[len] = '\0';
	buf_free(&b);
	return out;
}
