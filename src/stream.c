/* stream.c -- bounded line and JSON value splitters for streamed responses. */
#include "stream.h"

#include <string.h>

void lines_init(struct lines *l, size_t max, lines_cb cb, void *ctx)
{
	buf_init(&l->buf, max);
	l->skipping = 0;
	l->oversized = 0;
	l->cb = cb;
	l->ctx = ctx;
}

static void lines_emit(struct lines *l, const char *p, size_t n)
{
	if (n && p[n - 1] == '\r')
		n--;
	if (n)
		l->cb(l->ctx, p, n);
}

void lines_feed(struct lines *l, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (l->skipping) {
			/* nothing kept */
		} else if (l->buf.len == 0 && nl) {
			lines_emit(l, p, take); /* whole line in this chunk: no copy */
		} else if (buf_append(&l->buf, p, take) < 0) {
			l->skipping = 1;
			l->oversized++;
			buf_reset(&l->buf);
		} else if (nl) {
			lines_emit(l, l->buf.data, l->buf.len);
			buf_reset(&l->buf);
		}
		if (!nl)
			return;
		l->skipping = 0;
		p = nl + 1;
		n -= take + 1;
	}
}

void lines_reset(struct lines *l)
{
	buf_reset(&l->buf);
	l->skipping = 0;
}

void lines_free(struct lines *l)
{
	buf_free(&l->buf);
}

void jscan_init(struct jscan *s, size_t max, jscan_cb cb, void *ctx)
{
	memset(s, 0, sizeof *s);
	buf_init(&s->main.buf, max);
	buf_init(&s->meta.buf, 64 * 1024);
	s->cb = cb;
	s->ctx = ctx;
}

void jscan_reset(struct jscan *s)
{
	struct jscan keep = *s;
	memset(s, 0, sizeof *s);
	s->main.buf = keep.main.buf;
	s->meta.buf = keep.meta.buf;
	buf_reset(&s->main.buf);
	buf_reset(&s->meta.buf);
	s->cb = keep.cb;
	s->ctx = keep.ctx;
	s->oversized = keep.oversized;
	s->garbage = keep.garbage;
}

void jscan_free(struct jscan *s)
{
	buf_free(&s->main.buf);
	buf_free(&s->meta.buf);
}

static void cap_open(struct jscan_cap *c, enum jscan_kind kind, int depth, size_t at)
{
	c->active = 1;
	c->oversize = 0;
	c->kind = kind;
	c->depth = depth;
	c->start = at;
	buf_reset(&c->buf);
}

/* Save p[c->start, upto) into the capture. */
static void cap_save(struct jscan_cap *c, const char *p, size_t upto)
{
	if (c->active && !c->oversize && buf_append(&c->buf, p + c->start, upto - c->start) < 0) {
		c->oversize = 1;
		buf_reset(&c->buf);
	}
	c->start = upto;
}

static void cap_drop(struct jscan_cap *c)
{
	c->active = 0;
	c->oversize = 0;
	buf_reset(&c->buf);
}

/* The capture's closing bracket is p[i]: emit (or count) it. */
static void cap_close(struct jscan *s, struct jscan_cap *c, const char *p, size_t i, bool emit)
{
	cap_save(c, p, i + 1);
	if (c->oversize)
		s->oversized++;
	else if (emit)
		s->cb(s->ctx, c->kind, c->buf.data, c->buf.len);
	cap_drop(c);
}

static void on_open(struct jscan *s, char c, size_t i)
{
	if (s->depth == 0) {
		s->is_list = s->in_items = s->key_hit = 0;
		cap_open(&s->main, JSCAN_VALUE, 0, i);
		cap_drop(&s->meta);
	} else if (s->depth == 1 && s->key_hit == 1 && c == '[') {
		/* "items": [ -- a list: its elements are emitted, not the whole. */
		s->is_list = 1;
		s->in_items = 1;
		cap_drop(&s->main);
	} else if (s->depth == 1 && s->key_hit == 2 && c == '{') {
		cap_open(&s->meta, JSCAN_META, 1, i);
	} else if (s->depth == 2 && s->in_items && !s->main.active) {
		cap_open(&s->main, JSCAN_ITEM, 2, i);
	}
	s->depth++;
	if (s->depth == 1)
		s->expect_key = (c == '{');
}

static void on_close(struct jscan *s, char c, const char *p, size_t i)
{
	if (s->depth == 0) {
		s->garbage++;
		return;
	}
	s->depth--;
	if (s->main.active && s->depth == s->main.depth)
		cap_close(s, &s->main, p, i, true);
	if (s->meta.active && s->depth == s->meta.depth) {
		/* Keep it until the top-level object ends: "items" may follow. */
		cap_save(&s->meta, p, i + 1);
		s->meta.active = 0;
		if (s->meta.oversize)
			buf_reset(&s->meta.buf);
	}
	if (s->depth == 1 && s->in_items && c == ']')
		s->in_items = 0;
	if (s->depth == 0) {
		if (s->is_list && s->meta.buf.len)
			s->cb(s->ctx, JSCAN_META, s->meta.buf.data, s->meta.buf.len);
		buf_reset(&s->meta.buf);
		s->is_list = s->in_items = s->key_hit = 0;
	}
}

void jscan_feed(struct jscan *s, const char *p, size_t n)
{
	s->main.start = s->meta.start = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (s->in_str) {
			if (!s->esc && !(s->depth == 1 && s->expect_key)) {
				/* most bytes are string bodies: skip to a quote or backslash */
				while (i < n && p[i] != '"' && p[i] != '\\')
					i++;
				if (i == n)
					break;
				c = p[i];
			}
			if (s->esc) {
				s->esc = 0;
			} else if (c == '\\') {
				s->esc = 1;
			} else if (c == '"') {
				s->in_str = 0;
				if (s->depth == 1 && s->expect_key) {
					s->expect_key = 0;
					s->key_hit = 0;
					if (s->keylen == 5 && memcmp(s->key, "items", 5) == 0)
						s->key_hit = 1;
					else if (s->keylen == 8 && memcmp(s->key, "metadata", 8) == 0)
						s->key_hit = 2;
				}
			} else if (s->depth == 1 && s->expect_key) {
				if (s->keylen < sizeof s->key)
					s->key[s->keylen] = c;
				s->keylen++;
			}
			continue;
		}
		switch (c) {
		case '"':
			if (s->depth == 0) {
				s->garbage++;
				break;
			}
			s->in_str = 1;
			if (s->depth == 1 && s->expect_key)
				s->keylen = 0;
			break;
		case '{':
		case '[':
			on_open(s, c, i);
			break;
		case '}':
		case ']':
			on_close(s, c, p, i);
			break;
		case ',':
			if (s->depth == 1) {
				s->expect_key = 1;
				s->key_hit = 0;
			}
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
		case ':':
			break;
		default:
			if (s->depth == 0)
				s->garbage++;
			break;
		}
	}
	cap_save(&s->main, p, n);
	cap_save(&s->meta, p, n);
}
