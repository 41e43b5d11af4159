/* buf.c -- bounded growable buffer and JSON string escaping. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->overflow = false;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->data)
		b->data[0] = '\0';
}

/* Make room for n more bytes plus the NUL; -1 if that would pass max. */
static int reserve(struct buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n) {
		b->overflow = true;
		return -1;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

char *buf_reserve(struct buf *b, size_t n)
{
	return reserve(b, n) < 0 ? NULL : b->data + b->len;
}

void buf_commit(struct buf *b, size_t k)
{
	b->len += k;
	b->data[b->len] = '\0';
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	/* max may have been lowered below cap: both are checked */
	if ((n >= b->cap - b->len || b->len + n > b->max) && reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	if (b->len + 2 <= b->cap && b->len < b->max) { /* room for c and the NUL, under the ceiling */
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_put_int(struct buf *b, int64_t v)
{
	char d[24], *p = d + sizeof d;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	return buf_append(b, p, (size_t)(d + sizeof d - p));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}

char *buf_steal(struct buf *b)
{
	char *p = b->data ? b->data : xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Bytes JSON strings carry as they are: printable ASCII but '"' and '\\'. */
/* clang-format off */
static const bool json_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* '"' */
	[0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,       /* '\\' */
	[0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,       /* DEL */
};
/* clang-format on */

int buf_json_escape(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0; /* the bytes from run to i go out as they are */
	size_t start_len = b->len;

	for (;;) {
		while (i < n && json_plain[p[i]])
			i++;
		if (i == n)
			break;
		unsigned char c = p[i];
		size_t l;
		if (c >= 0x80 && (l = utf8_len(p + i, n - i)) > 0) {
			i += l;
			continue;
		}
		char u[7] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], '\0' };
		const char *esc = c == '"'    ? "\\\""
		                  : c == '\\' ? "\\\\"
		                  : c == '\n' ? "\\n"
		                  : c == '\r' ? "\\r"
		                  : c == '\t' ? "\\t"
		                  : c >= 0x80 ? "\xef\xbf\xbd" /* not UTF-8: U+FFFD */
		                              : u;
		if ((i > run && buf_append(b, p + run, i - run) < 0) || buf_puts(b, esc) < 0)
			goto toolong;
		run = ++i;
	}
	if (i > run && buf_append(b, p + run, i - run) < 0)
		goto toolong;
	return 0;
toolong:
	b->len = start_len;
	if (b->data)
		b->data[b->len] = '\0';
	return -1;
}

/* A newline and depth spaces. */
static void indent_line(struct buf *b, size_t depth)
{
	static const char spaces[] = "\n                                ";
	buf_append(b, spaces, 1);
	for (size_t k = depth; k;) {
		size_t m = MIN(k, sizeof spaces - 2);
		buf_append(b, spaces + 1, m);
		k -= m;
	}
}

/* Just past the '"' that closes the JSON string whose body starts at i (n if none does). */
static size_t string_end(const char *json, size_t i, size_t n)
{
	for (;;) {
		const char *q = i < n ? memchr(json + i, '"', n - i) : NULL;
		if (!q)
			return n;
		size_t k = (size_t)(q - json), bs = 0;
		while (k - bs > i && json[k - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0) /* not escaped */
			return k + 1;
		i = k + 1;
	}
}

int buf_json_indent(struct buf *b, const char *json, size_t n)
{
	size_t depth = 0;
	bool open = false; /* just after '{' or '[' */
	for (size_t i = 0; i < n;) {
		char c = json[i];
		if (open && c != '}' && c != ']') { /* the first member of a non-empty {} or [] */
			open = false;
			indent_line(b, depth);
		}
		if (c == '"') { /* a string, escapes and all, in one piece */
			size_t j = string_end(json, i + 1, n);
			buf_append(b, json + i, j - i);
			i = j;
			continue;
		}
		switch (c) {
		case '{':
		case '[':
			buf_putc(b, c);
			open = true;
			depth++;
			break;
		case '}':
		case ']':
			depth -= depth > 0; /* (a stray closer in text that is not ours) */
			if (!open)
				indent_line(b, depth);
			open = false;
			buf_putc(b, c);
			break;
		case ',':
			buf_putc(b, c);
			indent_line(b, depth);
			break;
		case ':':
			buf_append(b, ": ", 2);
			break;
		default: { /* a number, true, false or null */
			size_t j = i + 1;
			while (j < n && !strchr(",:{}[]\"", json[j]))
				j++;
			buf_append(b, json + i, j - i);
			i = j;
			continue;
		}
		}
		i++;
	}
	return b->overflow ? -1 : 0;
}

int buf_json_string(struct buf *b, const char *s)
{
	size_t start_len = b->len;
	if (buf_putc(b, '"') < 0 || buf_json_escape(b, s, strlen(s)) < 0 || buf_putc(b, '"') < 0) {
		b->len = start_len;
		if (b->data)
			b->data[b->len] = '\0';
		return -1;
	}
	return 0;
}
