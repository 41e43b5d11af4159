/*
 * The mysql sink's URI: "mysql:" + a go-sql-driver DSN whose password may
 * hold any byte. The input is the URI's rest. It is split and parsed as a
 * DSN, redacted for the log, and made into a sink (nothing is sent). A
 * password that occurs once in the input must never survive the redaction.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sink.h"
#include "uri.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rest = xstrndup((const char *)data, size);
	size_t n = strlen(rest);
	const char *dsn = rest[0] == '?' ? rest + 1 : rest;
	char red[1024], err[1024];

	struct uri_dsn d;
	if (uri_split_dsn(dsn, strlen(dsn), &d) == 0) {
		if (d.pass_off + d.pass_len > n || d.addr_off + d.addr_len > n || d.db_off + d.db_len > n ||
		    d.params_off > n)
			abort();
		log_redact_url(rest, red, sizeof red);
		if (d.has_password && d.pass_len >= 6) {
			char *pw = xstrndup(dsn + d.pass_off, d.pass_len);
			const char *first = strstr(rest, pw);
			if (first && !strstr(first + 1, pw) && strstr(red, pw))
				abort(); /* the password reached the log */
			free(pw);
		}
	}
	char *uri = xasprintf("mysql:%s", rest);
	struct uri u;
	if (uri_parse_dsn(uri, &u, err, sizeof err) == 0)
		uri_free(&u);
	err[0] = '\0';
	struct buf unknown = BUF_INIT(4096);
	struct sink *s = sink_create(uri, 0, 30000, &unknown, err, sizeof err);
	if (s)
		sink_destroy(s);
	else if (!err[0])
		abort();
	buf_free(&unknown);
	free(uri);
	free(rest);
	return 0;
}
