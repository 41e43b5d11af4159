/*
 * log.h -- level-gated, one-line-per-message logging to stderr.
 *
 * Two formats: logfmt (default)
 *     time=2026-11-25T06:47:00.123Z level=warn msg="sink webhook[0]: HTTP 500"
 * and JSON lines ({"time":...,"level":...,"msg":...}).
 *
 * Secrets must never reach a log: anything that may carry one (URLs, headers,
 * query strings) goes through log_redact_url() / redact_query() first.
 */
#ifndef KE_LOG_H
#define KE_LOG_H

#include <stddef.h>
#include "util.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };
enum log_format { LOG_TEXT = 0, LOG_JSON };

extern enum log_level log_threshold;

void log_setup(enum log_level level, enum log_format format);
/* Parse "text"/"logfmt"/"json". Returns 0 or -1. */
int log_parse_format(const char *s, enum log_format *out);
/* Map klog -v=N: 0..1 info, 2..3 debug, 4+ trace. */
enum log_level log_level_from_verbosity(int v);

void log_msg(enum log_level level, const char *fmt, ...) KE_PRINTF(2, 3);

#define log_at(lvl, ...)                                                                                     \
	do {                                                                                                 \
		if ((lvl) <= log_threshold)                                                                  \
			log_msg((lvl), __VA_ARGS__);                                                         \
	} while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_at(LOG_TRACE, __VA_ARGS__)

/*
 * True for query/header names that carry secrets: access_token, token, key,
 * sign, secret, corp_secret, corpsecret, password, pw, passwd, writekey,
 * accessKeySecret, esUserSecret, authorization, ... (case-insensitive).
 */
bool is_secret_name(const char *name, size_t n);

/*
 * Copy url into out (size n, always NUL-terminated, truncated if needed)
 * with the values of secret query parameters replaced by "***" and any
 * user:password@ userinfo masked. Returns out.
 */
char *log_redact_url(const char *url, char *out, size_t n);

#endif
