/*
 * util.h -- allocation wrappers and small helpers used everywhere.
 *
 * Allocation failure is not recoverable in a 2 MiB daemon: the x*() wrappers
 * abort with a message instead of returning NULL, so callers never check.
 */
#ifndef KE_UTIL_H
#define KE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define KE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define KE_NORETURN __attribute__((noreturn))
#else
#define KE_PRINTF(f, a)
#define KE_NORETURN
#endif

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) KE_PRINTF(1, 2);

/* Monotonic and wall clocks in milliseconds. */
int64_t now_mono_ms(void);
int64_t now_wall_ms(void);
/* Tests: now_mono_ms() returns *t while t is set (NULL: the real clock again). */
void now_mono_fake(const int64_t *t);

/* Strict decimal parse of [s, s+n): optional '-', digits only, no overflow.
 * Returns 0 and sets *out, or -1. */
int parse_i64(const char *s, size_t n, int64_t *out);

/*
 * Go time.ParseDuration subset: "300ms", "1.5s", "2m30s", "1h", "0".
 * Units ns us µs ms s m h. Returns 0 and the duration in milliseconds
 * (sub-millisecond parts truncated), or -1 on syntax error / overflow.
 */
int parse_duration_ms(const char *s, int64_t *out_ms);

/* Go strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
int parse_bool(const char *s, bool *out);

/* True when s starts with / ends with the given string. */
bool str_starts(const char *s, const char *prefix);
bool str_ends(const char *s, const char *suffix);

/*
 * Read a whole file (at most max bytes; larger is an error with errno EFBIG).
 * Returns a NUL-terminated allocation and its length in *len, or NULL with errno.
 */
char *read_file(const char *path, size_t max, size_t *len);

/* Random 64-bit value from the OS (getrandom), falling back to time^pid. */
uint64_t random_u64(void);

/* 64-bit FNV-1a of n bytes. */
uint64_t hash64(const void *p, size_t n);

/* The value of a hexadecimal digit, or -1. */
int hex_digit(char c);

/* UTF-8 encoding of code point cp (U+FFFD above U+10FFFF) into out; returns
 * its length, 1 to 4. Surrogates are encoded as they are: callers that follow
 * Go's fmt replace them first. */
size_t utf8_encode(uint32_t cp, char out[4]);

#endif
