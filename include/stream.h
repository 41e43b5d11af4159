/*
 * stream.h -- incremental splitters for what the API server streams.
 *
 * Both are push parsers: feed any chunk of bytes, in any split, and the
 * callback receives each complete unit. Neither holds more than `max` bytes;
 * a unit larger than that is skipped (and counted), never buffered.
 *
 *  - lines: a watch response, one JSON object per '\n'-terminated line.
 *    A malformed line cannot disturb the next one.
 *  - jscan: concatenated JSON values (an EventList, a `kubectl get -w -o json`
 *    stream of pretty-printed objects, or NDJSON). A top-level object with an
 *    "items" array is a list: its elements are emitted one by one as
 *    JSCAN_ITEM and its "metadata" object as JSCAN_META; any other top-level
 *    value is emitted whole as JSCAN_VALUE.
 */
#ifndef KE_STREAM_H
#define KE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

typedef void (*lines_cb)(void *ctx, const char *line, size_t len);

struct lines {
	struct buf buf;
	int skipping;       /* inside an over-long line: drop until '\n' */
	uint64_t oversized; /* lines skipped for length */
	lines_cb cb;
	void *ctx;
};

void lines_init(struct lines *l, size_t max, lines_cb cb, void *ctx);
/* Feed n bytes; complete lines (without '\n', trailing '\r' removed) go to cb. */
void lines_feed(struct lines *l, const char *p, size_t n);
/* Forget any partial line (after a connection is cut). */
void lines_reset(struct lines *l);
void lines_free(struct lines *l);

enum jscan_kind { JSCAN_VALUE, JSCAN_ITEM, JSCAN_META };
typedef void (*jscan_cb)(void *ctx, enum jscan_kind kind, const char *p, size_t n);

/* One capture in progress: bytes from an opening bracket to its match. */
struct jscan_cap {
	struct buf buf;
	int depth;    /* depth outside the captured value */
	size_t start; /* offset in the current chunk where unsaved bytes begin */
	uint8_t active;
	uint8_t oversize; /* overflowed: the value will be skipped */
	enum jscan_kind kind;
};

struct jscan {
	struct jscan_cap main; /* a top-level value or a list item */
	struct jscan_cap meta; /* a top-level object's "metadata" */
	int depth;             /* nesting depth of the current position */
	uint8_t in_str, esc;   /* inside a string literal / after a backslash */
	uint8_t is_list;       /* current top-level object holds "items" */
	uint8_t expect_key;    /* at depth 1, the next string is a key */
	uint8_t in_items;      /* inside the top-level "items" array */
	uint8_t key_hit;       /* last depth-1 key: 1 = "items", 2 = "metadata" */
	char key[8];           /* current depth-1 key (prefix) */
	size_t keylen;
	uint64_t oversized; /* values skipped for length */
	uint64_t garbage;   /* stray bytes outside any value */
	jscan_cb cb;
	void *ctx;
};

void jscan_init(struct jscan *s, size_t max, jscan_cb cb, void *ctx);
void jscan_feed(struct jscan *s, const char *p, size_t n);
void jscan_reset(struct jscan *s);
void jscan_free(struct jscan *s);

#endif
