/*
 * buf.h -- a growable byte buffer with a hard ceiling.
 *
 * Every buffer that the network, the API server or a user can fill has a
 * maximum size; appending past it fails with -1 and leaves the buffer as it
 * was, so callers report "too large" instead of growing without bound.
 * data is always NUL-terminated (when non-NULL) so it can be used as a string.
 */
#ifndef KE_BUF_H
#define KE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include "util.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;    /* allocated bytes, including the terminating NUL */
	size_t max;    /* ceiling on len */
	bool overflow; /* an append failed since the last init or reset */
};

#define BUF_INIT(maxbytes)                                                                                   \
	{                                                                                                    \
		NULL, 0, 0, (maxbytes), false                                                                \
	}

void buf_init(struct buf *b, size_t max);
/* Release memory; the buffer can be reused (empty, same max). */
void buf_free(struct buf *b);
/* Empty the buffer, keeping its allocation. */
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) KE_PRINTF(2, 3);
/* v in decimal (as "%lld", without printf's cost on hot paths). */
int buf_put_int(struct buf *b, int64_t v);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/*
 * Writing in place (an encoder that writes into memory itself): buf_reserve
 * makes room for n more bytes and returns where they go (data + len), or
 * NULL past the ceiling (overflow set); buf_commit(b, k) then adds the k <= n
 * bytes written there.
 */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t k);
/* Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Contents as a C string ("" when empty). */
const char *buf_str(const struct buf *b);
/* Take ownership of the data (NUL-terminated, never NULL); b becomes empty. */
char *buf_steal(struct buf *b);

/*
 * JSON string body escaping: append s[0..n) so that it is valid inside a
 * JSON string literal (quotes not added). Invalid UTF-8 bytes become U+FFFD.
 */
int buf_json_escape(struct buf *b, const char *s, size_t n);
/* Append "s" as a complete JSON string literal, quotes included. */
int buf_json_string(struct buf *b, const char *s);

/*
 * Append compact JSON json[0..n) indented as Go's json.MarshalIndent(v, "",
 * " ") prints it: one space per level, "key": value, {} and [] kept empty.
 * The input must be valid compact JSON (the program's own output).
 */
int buf_json_indent(struct buf *b, const char *json, size_t n);

#endif
