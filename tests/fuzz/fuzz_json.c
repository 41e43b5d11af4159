/*
 * JSON text we write ourselves. buf_json_escape is checked against a model
 * that goes a byte at a time with Unicode's table of well-formed UTF-8
 * (3-7); the result must also parse back (cJSON) to the input, with U+FFFD
 * for each byte that is not UTF-8. buf_json_indent is given cJSON's compact
 * form of any input that parses: the indented text must parse to the same
 * value. The raw input is indented too, for bounds (ASan).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the well-formed UTF-8 sequence at p (Unicode 3-7), 0 if there is none. */
static size_t wellformed(const uint8_t *p, size_t n)
{
	static const struct {
		uint8_t lead_lo, lead_hi, second_lo, second_hi, len;
	} rows[] = {
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 }, { 0xe0, 0xe0, 0xa0, 0xbf, 3 }, { 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 }, { 0xee, 0xef, 0x80, 0xbf, 3 }, { 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 }, { 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		if (p[0] < rows[r].lead_lo || p[0] > rows[r].lead_hi)
			continue;
		size_t len = rows[r].len;
		if (n < len || p[1] < rows[r].second_lo || p[1] > rows[r].second_hi)
			return 0;
		for (size_t i = 2; i < len; i++)
			if (p[i] < 0x80 || p[i] > 0xbf)
				return 0;
		return len;
	}
	return 0;
}

static void model_escape(struct buf *b, const uint8_t *p, size_t n, struct buf *plain)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t l = c >= 0x80 ? wellformed(p + i, n - i) : 0;
		if (l) {
			buf_append(b, p + i, l);
			buf_append(plain, p + i, l);
			i += l;
			continue;
		}
		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c == '\t')
			buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\u%04x", c);
		else if (c >= 0x80)
			buf_puts(b, "\xef\xbf\xbd");
		else
			buf_putc(b, (char)c);
		if (c >= 0x80)
			buf_puts(plain, "\xef\xbf\xbd");
		else
			buf_putc(plain, (char)c);
		i++;
	}
}

static void check_escape(const uint8_t *data, size_t size)
{
	struct buf got = BUF_INIT(1 << 20), want = BUF_INIT(1 << 20), plain = BUF_INIT(1 << 20);
	if (buf_json_escape(&got, (const char *)data, size) < 0)
		abort();
	model_escape(&want, data, size, &plain);
	if (got.len != want.len || memcmp(buf_str(&got), buf_str(&want), got.len) != 0)
		abort();
	/* it reads back: cJSON stops a string at NUL, so only when there is none */
	if (!memchr(data, 0, size)) {
		struct buf quoted = BUF_INIT(1 << 20);
		buf_putc(&quoted, '"');
		buf_append(&quoted, got.data ? got.data : "", got.len);
		buf_putc(&quoted, '"');
		cJSON *v = cJSON_ParseWithLength(buf_str(&quoted), quoted.len);
		if (!v || !cJSON_IsString(v) || strcmp(v->valuestring, buf_str(&plain)) != 0)
			abort();
		cJSON_Delete(v);
		buf_free(&quoted);
	}
	buf_free(&got);
	buf_free(&want);
	buf_free(&plain);
}

static void check_indent(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(1 << 22);
	buf_json_indent(&out, (const char *)data, size); /* any bytes: bounds only */
	buf_free(&out);

	cJSON *in = cJSON_ParseWithLength((const char *)data, size);
	char *compact = in ? cJSON_PrintUnformatted(in) : NULL;
	cJSON_Delete(in);
	/* the value compared is the compact text's (cJSON prints 1e999 as null) */
	cJSON *v = compact ? cJSON_Parse(compact) : NULL;
	if (v) {
		struct buf ind = BUF_INIT(1 << 22);
		if (buf_json_indent(&ind, compact, strlen(compact)) == 0) {
			/* printed again, the same text (cJSON_Compare trips on duplicate keys) */
			cJSON *w = cJSON_ParseWithLength(buf_str(&ind), ind.len);
			char *a = cJSON_PrintUnformatted(v), *b = w ? cJSON_PrintUnformatted(w) : NULL;
			if (!a || !b || strcmp(a, b) != 0)
				abort();
			free(a);
			free(b);
			cJSON_Delete(w);
		}
		buf_free(&ind);
	}
	cJSON_Delete(v);
	free(compact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	check_escape(data, size);
	check_indent(data, size);
	return 0;
}
