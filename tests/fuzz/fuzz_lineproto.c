/*
 * Line-protocol escaping, proved against a reader that follows InfluxDB
 * 1.x's rules as measured on the real server (tests/integration/influx.py):
 * in a tag value a backslash makes the next byte ordinary and only "\,",
 * "\ " and "\=" are unescaped; in a string field only "\\" and "\"" are.
 * Input: tag value, NUL, string field value. The line must read back as one
 * point holding exactly the string, and the tag as lp_escape documents
 * (newlines as spaces, backslash runs before a comma, space, '=', newline
 * or the end dropped; absent when empty).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sinks/influxdb.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a tag value from *p up to an unescaped ',' or ' '; unescape into out. */
static void read_tag(const char **p, struct buf *out)
{
	const char *s = *p;
	while (*s && *s != ',' && *s != ' ' && *s != '\n') {
		if (s[0] == '\\' && s[1]) {
			if (strchr(", =", s[1]))
				buf_putc(out, s[1]);
			else
				buf_append(out, s, 2);
			s += 2;
			continue;
		}
		buf_putc(out, *s++);
	}
	*p = s;
}

/* Read a quoted string field from *p (at the opening quote). -1 if unterminated. */
static int read_string(const char **p, const char *end, struct buf *out)
{
	const char *s = *p + 1;
	while (s < end && *s != '"') {
		if (s[0] == '\\' && s + 1 < end && (s[1] == '\\' || s[1] == '"')) {
			buf_putc(out, s[1]);
			s += 2;
			continue;
		}
		buf_putc(out, *s++);
	}
	if (s >= end)
		return -1;
	*p = s + 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	char *tagv = xstrndup(in, nul ? (size_t)(nul - in) : size);
	char *strv = nul ? xstrndup(nul + 1, size - (size_t)(nul + 1 - in)) : xstrdup("");
	size_t strv_len = strlen(strv); /* a NUL ends it: the sink's strings are C strings */

	/* what the tag should read back as */
	struct buf want = BUF_INIT(1 << 20);
	for (const char *t = tagv; *t; t++) {
		size_t run = strspn(t, "\\");
		if (run) {
			if (t[run] && !strchr(", =\n", t[run]))
				buf_append(&want, t, run);
			t += run - 1;
			continue;
		}
		buf_putc(&want, *t == '\n' ? ' ' : *t);
	}

	struct buf line = BUF_INIT(4 << 20), tag = BUF_INIT(1 << 20), str = BUF_INIT(1 << 20);
	buf_puts(&line, "m");
	if (want.len) {
		buf_puts(&line, ",t=");
		lp_escape(&line, tagv, LP_KEY);
	}
	buf_puts(&line, " f=\"");
	lp_escape(&line, strv, LP_STRING);
	buf_puts(&line, "\" 1\n");

	const char *p = line.data + 1;
	if (want.len) {
		if (strncmp(p, ",t=", 3) != 0)
			abort();
		p += 3;
		read_tag(&p, &tag);
		if (tag.len != want.len || memcmp(buf_str(&tag), buf_str(&want), want.len) != 0)
			abort();
	}
	if (strncmp(p, " f=\"", 3) != 0)
		abort();
	p += 3;
	if (read_string(&p, line.data + line.len, &str) < 0)
		abort();
	if (str.len != strv_len || memcmp(buf_str(&str), strv, strv_len) != 0)
		abort();
	if (strcmp(p, " 1\n") != 0) /* one point, one line */
		abort();

	buf_free(&line);
	buf_free(&tag);
	buf_free(&str);
	buf_free(&want);
	free(tagv);
	free(strv);
	return 0;
}
