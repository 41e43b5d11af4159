/*
 * filter.c -- per-sink event filters; Go regexp (RE2) syntax run on the C
 * library's POSIX ERE engine.
 *
 * A pattern is parsed the way Go's regexp/syntax parses it (same errors for
 * the same mistakes) and re-emitted as a POSIX ERE that gives the same
 * yes/no answer for every input. Everything POSIX leaves undefined is
 * avoided: bracket expressions are rebuilt from code point sets, counted
 * repetitions stay within RE_DUP_MAX (255 on musl), repeated anchors are
 * simplified. Two defects of musl's TRE engine are steered around: an
 * optional piece that can match "" only through an anchor (`(^|x)*a`, `(^)?a`)
 * and alternatives that match "" under different anchors (`a(^|$)`) -- see
 * apply_repeat() and close_group().
 */
#include "filter.h"

#include <locale.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#include "buf.h"
#include "event.h"
#include "util.h"

#define MAX_PATTERN_LEN 4096    /* bytes of Go syntax */
#define MAX_ERE_LEN (64 * 1024) /* bytes of translated ERE */
#define MAX_NEST 1000           /* Go: "expression nests too deeply" */
#define MAX_REPEAT 1000         /* Go: largest {n,m} count */
#define ERE_DUP_MAX 255         /* POSIX minimum RE_DUP_MAX; musl's value */
#define MAX_POSITIONS 4096      /* characters to match once {n,m} are expanded */
#define MAX_RUNE 0x10FFFFu
#define KELVIN 0x212Au /* folds with k and K in Go */
#define LONG_S 0x17Fu  /* folds with s and S in Go */

#define MAX_PATTERNS 64 /* per filter parameter */
#define MAX_LIST 256    /* names per comma list */

#define ANCHOR_BOL 1
#define ANCHOR_EOL 2

/*
 * Usually one ERE; the top-level alternatives of a pattern like `^$|^` are
 * compiled one by one (see translate()).
 */
struct goregex {
	regex_t *re;
	size_t n;
	bool always; /* the pattern matches "" without anchors: every string */
};

/* --- UTF-8 and the regex locale ------------------------------------------- */

/*
 * Decode one UTF-8 sequence the way Go's utf8.DecodeRuneInString does: no
 * overlong forms, no surrogates, nothing above U+10FFFF. Returns its length,
 * or 0 when s does not start with a valid sequence (Go: RuneError, width 1).
 */
static size_t u8_decode(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (s[1] < lo || s[1] > hi)
		return 0;
	v = (v << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return n;
}

static bool u8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	while (*p) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t n = u8_decode(p, &cp);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

static void put_cp(struct buf *b, uint32_t cp, bool *overflow)
{
	char u[4];
	if (buf_append(b, u, utf8_encode(cp, u)) < 0)
		*overflow = true;
}

/*
 * Go reads text as runes, an invalid byte being one U+FFFD. musl's regexec
 * refuses a whole string with one invalid byte, so such text is searched as
 * a copy with each invalid byte replaced by U+FFFD.
 */
static char *u8_sanitize(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	while (*p) {
		size_t k = *p < 0x80 ? 1 : u8_decode(p, &cp);
		if (k) {
			memcpy(o, p, k);
			o += k;
			p += k;
		} else {
			memcpy(o, "\xEF\xBF\xBD", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	return out;
}

/*
 * Patterns are compiled and run in a UTF-8 LC_CTYPE whatever the process
 * locale is: musl's regex is byte-based in the "C" locale, and Go matches
 * runes. musl needs no locale files for this; glibc uses its C.UTF-8.
 */
static locale_t utf8_locale(void)
{
	static locale_t loc;
	static bool tried;
	if (!tried) {
		tried = true;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	return loc;
}

static locale_t enter_utf8(void)
{
	locale_t loc = utf8_locale();
	return loc ? uselocale(loc) : (locale_t)0;
}

static void leave_utf8(locale_t old)
{
	if (old)
		uselocale(old);
}

/* --- code point sets ------------------------------------------------------- */

struct rset {
	uint32_t (*r)[2]; /* [lo, hi] inclusive; sorted and merged after rs_norm */
	size_t n, cap;
};

static void rs_add(struct rset *s, uint32_t lo, uint32_t hi)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 8;
		s->r = xrealloc(s->r, s->cap * sizeof *s->r);
	}
	s->r[s->n][0] = lo;
	s->r[s->n][1] = hi;
	s->n++;
}

static void rs_free(struct rset *s)
{
	free(s->r);
	memset(s, 0, sizeof *s);
}

static int rs_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void rs_norm(struct rset *s)
{
	size_t w = 0;
	if (!s->n)
		return;
	qsort(s->r, s->n, sizeof *s->r, rs_cmp);
	for (size_t i = 1; i < s->n; i++) {
		if (s->r[i][0] <= s->r[w][1] + 1) {
			if (s->r[i][1] > s->r[w][1])
				s->r[w][1] = s->r[i][1];
		} else {
			w++;
			s->r[w][0] = s->r[i][0];
			s->r[w][1] = s->r[i][1];
		}
	}
	s->n = w + 1;
}

/* Complement within [0, MAX_RUNE]. */
static void rs_negate(struct rset *s)
{
	struct rset o = { 0 };
	uint32_t next = 0;
	rs_norm(s);
	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i][0] > next)
			rs_add(&o, next, s->r[i][0] - 1);
		next = s->r[i][1] + 1;
	}
	if (next <= MAX_RUNE)
		rs_add(&o, next, MAX_RUNE);
	rs_free(s);
	*s = o;
}

static bool rs_has(const struct rset *s, uint32_t c)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->r[i][0] <= c && c <= s->r[i][1])
			return true;
	return false;
}

/* Remove [lo, hi]; s normalized. */
static void rs_remove(struct rset *s, uint32_t lo, uint32_t hi)
{
	struct rset o = { 0 };
	for (size_t i = 0; i < s->n; i++) {
		uint32_t a = s->r[i][0], b = s->r[i][1];
		if (b < lo || a > hi) {
			rs_add(&o, a, b);
			continue;
		}
		if (a < lo)
			rs_add(&o, a, lo - 1);
		if (b > hi)
			rs_add(&o, hi + 1, b);
	}
	rs_free(s);
	*s = o;
}

static bool rs_equal(const struct rset *a, const struct rset *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->r[i][0] != b->r[i][0] || a->r[i][1] != b->r[i][1])
			return false;
	return true;
}

/*
 * Go's case folding where ASCII is involved: a-z with A-Z, and the two
 * non-ASCII members of ASCII orbits, K (Kelvin sign) with k and
 * long s with s. Other non-ASCII letters are left to REG_ICASE.
 */
static void rs_fold(struct rset *s)
{
	bool k = false, sl = false;
	size_t n = s->n;
	for (size_t i = 0; i < n; i++) {
		uint32_t a = s->r[i][0], b = s->r[i][1];
		uint32_t lo = a > 'A' ? a : 'A', hi = b < 'Z' ? b : 'Z';
		if (lo <= hi)
			rs_add(s, lo + 32, hi + 32);
		lo = a > 'a' ? a : 'a';
		hi = b < 'z' ? b : 'z';
		if (lo <= hi)
			rs_add(s, lo - 32, hi - 32);
	}
	rs_norm(s);
	if (rs_has(s, 'k') || rs_has(s, KELVIN))
		k = true;
	if (rs_has(s, 's') || rs_has(s, LONG_S))
		sl = true;
	if (k) {
		rs_add(s, 'k', 'k');
		rs_add(s, 'K', 'K');
		rs_add(s, KELVIN, KELVIN);
	}
	if (sl) {
		rs_add(s, 's', 's');
		rs_add(s, 'S', 'S');
		rs_add(s, LONG_S, LONG_S);
	}
	rs_norm(s);
}

/* --- translation state ------------------------------------------------------ */

/* A group being parsed; fr[0] is the whole pattern. */
struct frame {
	size_t start;            /* offset of its '(' in the output */
	bool fold, dotall;       /* flags to restore at its ')' */
	bool br_nullable, br_nf; /* the branch being parsed */
	bool consumes;           /* some branch can consume a character */
	unsigned br_anchors;     /* anchors on that branch's empty path */
	bool any_nf;             /* a branch matches "" with no anchor */
	int hazards;             /* branches matching "" only under anchors */
	unsigned hz_anchors;     /* anchors of the first such branch */
	bool hz_conflict;        /* two such branches need different anchors */
	int weight;              /* Go's nested repeat product */
	long cost;               /* positions, repetitions expanded */
};

/* The last atom emitted: what a following quantifier applies to. */
struct atom {
	bool present;    /* Go: something on the stack a repeat can take */
	bool empty;      /* emitted as nothing (e.g. `^*`) */
	bool anchor;     /* a bare ^ or $ */
	bool quantified; /* ends with a quantifier already */
	bool nullable;   /* can match "" */
	bool nf;         /* can match "" with no anchor involved */
	bool consumes;   /* can match a character (else it only matches "") */
	unsigned anchors;
	size_t start; /* its text: out[start, out.len) */
	int weight;
	long cost; /* positions the engine expands it to */
};

struct tr {
	const char *pat, *p;
	struct buf out;
	bool overflow;
	char *err;
	size_t errlen;
	int icase;         /* -1 undecided, 0 case-sensitive, 1 REG_ICASE */
	bool fold, dotall; /* Go flags i and s in force */
	struct frame *fr;
	int depth;
	struct atom a;
	const char *last_rep; /* previous token, when it was a repetition */
	size_t *bars;         /* offsets of the top-level '|' in out */
	size_t nbars;
};

static int fail(struct tr *t, const char *fmt, ...) KE_PRINTF(2, 3);
static int fail(struct tr *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->err, t->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Bytes of s to quote in a message: at most max, never half a character. */
static int quote_len(const char *s, size_t n, size_t max)
{
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return (int)n;
}

/* The pattern text from `from` to `to`, for messages. */
static int span(const char *from, const char *to)
{
	return quote_len(from, (size_t)(to - from), 60);
}

static void emit(struct tr *t, const char *s, size_t n)
{
	if (buf_append(&t->out, s, n) < 0)
		t->overflow = true;
}

static void emits(struct tr *t, const char *s)
{
	emit(t, s, strlen(s));
}

static void emit_insert(struct tr *t, size_t pos, const char *s)
{
	size_t n = strlen(s), len = t->out.len;
	emit(t, s, n);
	if (t->overflow)
		return;
	memmove(t->out.data + pos + n, t->out.data + pos, len - pos);
	memcpy(t->out.data + pos, s, n);
}

/* Fold the finished atom into its branch. */
static void commit(struct tr *t)
{
	struct frame *f = &t->fr[t->depth];
	if (!t->a.present)
		return;
	f->br_nullable = f->br_nullable && t->a.nullable;
	f->br_nf = f->br_nf && t->a.nf;
	f->consumes = f->consumes || t->a.consumes;
	if (t->a.nullable && !t->a.nf)
		f->br_anchors |= t->a.anchors;
	f->weight = MAX(f->weight, t->a.weight);
	f->cost += t->a.cost;
	memset(&t->a, 0, sizeof t->a);
}

/* Start an atom; it consumes a character unless the caller says otherwise. */
static void begin_atom(struct tr *t)
{
	commit(t);
	t->a.present = true;
	t->a.consumes = true;
	t->a.cost = 1;
	t->a.start = t->out.len;
}

static void end_branch(struct tr *t)
{
	struct frame *f = &t->fr[t->depth];
	commit(t);
	if (f->br_nf) {
		f->any_nf = true;
	} else if (f->br_nullable) {
		if (f->hazards && f->hz_anchors != f->br_anchors)
			f->hz_conflict = true;
		if (!f->hazards)
			f->hz_anchors = f->br_anchors;
		f->hazards++;
	}
	f->br_nullable = f->br_nf = true;
	f->br_anchors = 0;
}

/*
 * (?i) needs REG_ICASE, which is all or nothing: the first atom where case
 * matters decides, and a later one under the other setting is an error.
 */
static int case_check(struct tr *t, bool relevant)
{
	if (!relevant)
		return 0;
	if (t->icase < 0)
		t->icase = t->fold;
	if (t->icase != (int)t->fold)
		return fail(t, "(?i) must apply to the whole pattern: put it first; "
		               "case-sensitive and case-insensitive parts cannot be mixed");
	return 0;
}

static bool cp_cased(uint32_t c)
{
	if (c < 0x80)
		return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
	return c == KELVIN || c == LONG_S || towlower((wint_t)c) != c || towupper((wint_t)c) != c;
}

/* Would (?i) change what this set matches? Non-ASCII parts count when partial. */
static bool set_cased(const struct rset *s)
{
	struct rset f = { 0 };
	bool partial = false, changed;
	for (size_t i = 0; i < s->n; i++) {
		rs_add(&f, s->r[i][0], s->r[i][1]);
		if (s->r[i][1] >= 0x80 && !(s->r[i][0] <= 0x80 && s->r[i][1] == MAX_RUNE))
			partial = true;
	}
	rs_fold(&f);
	changed = !rs_equal(&f, s);
	rs_free(&f);
	return changed || partial;
}

/* An atom that never matches: C strings hold no NUL, UTF-8 no surrogates. */
static void emit_never(struct tr *t)
{
	emits(t, "(x^)");
}

static const char ERE_SPECIAL[] = ".[]()*+?{}|^$\\";

static void emit_char(struct tr *t, uint32_t c)
{
	if (c < 0x80 && c != ']' && c != '}' && strchr(ERE_SPECIAL, (int)c))
		emit(t, "\\", 1);
	put_cp(&t->out, c, &t->overflow);
}

static bool bracket_awkward(uint32_t c)
{
	return c == ']' || c == '^' || c == '-' || c == '[';
}

/*
 * Emit a code point set as one ERE atom. POSIX bracket rules: a backslash
 * is literal, ']' goes first, '-' last, '^' anywhere but first, and '[' is
 * kept away from ':', '.' and '=' so it never opens a class name.
 */
static void emit_set(struct tr *t, struct rset *s)
{
	static const uint32_t awk[] = { ']', '[', '^', '-' };
	bool has[4] = { false }, neg, wrote = false;

	rs_norm(s);
	rs_remove(s, 0, 0);
	rs_remove(s, 0xD800, 0xDFFF);
	if (!s->n) {
		emit_never(t);
		return;
	}
	if (s->n == 2 && s->r[0][0] == 1 && s->r[0][1] == 0xD7FF && s->r[1][0] == 0xE000 &&
	    s->r[1][1] == MAX_RUNE) {
		emit(t, ".", 1);
		return;
	}
	neg = s->r[s->n - 1][1] == MAX_RUNE;
	if (neg) {
		rs_negate(s);
		rs_remove(s, 0, 0);
		rs_remove(s, 0xD800, 0xDFFF);
	} else if (s->n == 1 && s->r[0][0] == s->r[0][1]) {
		emit_char(t, s->r[0][0]);
		return;
	}
	for (size_t k = 0; k < 4; k++)
		has[k] = rs_has(s, awk[k]);
	emit(t, neg ? "[^" : "[", neg ? 2 : 1);
	if (has[0]) {
		emit(t, "]", 1);
		wrote = true;
	}
	if (!neg && has[2] && has[3] && !has[0] && !has[1]) {
		/* only awkward items may precede '^': "[-^...]" keeps both literal */
		emit(t, "-", 1);
		has[3] = false;
		wrote = true;
	}
	for (size_t i = 0; i < s->n; i++) {
		uint32_t c = s->r[i][0], hi = s->r[i][1];
		while (c <= hi) {
			if (bracket_awkward(c)) {
				c++;
				continue;
			}
			uint32_t e = c;
			while (e < hi && !bracket_awkward(e + 1))
				e++;
			put_cp(&t->out, c, &t->overflow);
			if (e > c + 1)
				emit(t, "-", 1);
			if (e > c)
				put_cp(&t->out, e, &t->overflow);
			wrote = true;
			c = e + 1;
		}
	}
	if (has[1]) {
		emit(t, "[", 1);
		wrote = true;
	}
	if (has[2]) {
		if (!wrote && !neg) {
			/* a lone '^' (the single-item case returned above) */
			emit(t, "\\^", 2);
			return;
		}
		emit(t, "^", 1);
	}
	if (has[3])
		emit(t, "-", 1);
	emit(t, "]", 1);
}

/* --- escapes and classes -------------------------------------------------- */

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Go's parseEscape: t->p at the backslash; a literal code point. */
static int parse_escape(struct tr *t, uint32_t *cp)
{
	const char *s = t->p;
	char c = s[1];
	uint32_t v = 0;

	if (!c)
		return fail(t, "trailing backslash at end of expression");
	t->p += 2;
	switch (c) {
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		if (*t->p < '0' || *t->p > '7')
			return fail(t, "backreferences (\\%c) are not supported (Go's regexp has none)", c);
		/* \12 is octal */
		/* fall through */
	case '0':
		v = (uint32_t)(c - '0');
		for (int i = 1; i < 3 && *t->p >= '0' && *t->p <= '7'; i++)
			v = v * 8 + (uint32_t)(*t->p++ - '0');
		*cp = v;
		return 0;
	case 'x':
		if (*t->p == '{') {
			int nhex = 0;
			for (t->p++; *t->p != '}'; t->p++) {
				int h = hex_digit(*t->p);
				if (h < 0)
					goto bad;
				v = v * 16 + (uint32_t)h;
				if (v > MAX_RUNE)
					goto bad;
				nhex++;
			}
			if (!nhex)
				goto bad;
			t->p++;
			*cp = v;
			return 0;
		} else {
			int x = hex_digit(t->p[0]), y = x < 0 ? -1 : hex_digit(t->p[1]);
			if (x < 0 || y < 0)
				goto bad;
			t->p += 2;
			*cp = (uint32_t)(x * 16 + y);
			return 0;
		}
	case 'a':
		*cp = '\a';
		return 0;
	case 'f':
		*cp = '\f';
		return 0;
	case 'n':
		*cp = '\n';
		return 0;
	case 'r':
		*cp = '\r';
		return 0;
	case 't':
		*cp = '\t';
		return 0;
	case 'v':
		*cp = '\v';
		return 0;
	default:
		if ((unsigned char)c < 0x80 && !is_alnum(c)) {
			*cp = (unsigned char)c; /* escaped punctuation is itself */
			return 0;
		}
		break;
	}
bad:
	if (c == 'p' || c == 'P')
		return fail(t, "Unicode classes (\\%c) are not supported", c);
	if (c == 'C')
		return fail(t, "\\C (any byte) is not supported (Go rejects it too)");
	if (c == 'b' && t->p == s + 2)
		return fail(t, "\\b inside a character class is not supported (use \\x08 for a backspace)");
	if ((unsigned char)c >= 0x80) {
		uint32_t u;
		size_t n = u8_decode((const unsigned char *)s + 1, &u);
		return fail(t, "invalid escape sequence: `\\%.*s`", (int)(n ? n : 1), s + 1);
	}
	if (c == 'x') { /* show what was read: \x4, \x{12G */
		const char *e = s + 2;
		if (*e == '{')
			while (*e && *e != '}' && e < s + 12)
				e++;
		else
			while (*e && e < s + 4)
				e++;
		return fail(t, "invalid escape sequence: `%.*s`", span(s, e + (*e == '}')), s);
	}
	return fail(t, "invalid escape sequence: `%.*s`", span(s, t->p), s);
}

/* Go's Perl classes, ASCII: \d [0-9], \s [\t\n\f\r ], \w [0-9A-Za-z_]. */
static void perl_class(char k, struct rset *s)
{
	switch (k | 0x20) {
	case 'd':
		rs_add(s, '0', '9');
		break;
	case 's':
		rs_add(s, '\t', '\n');
		rs_add(s, '\f', '\r');
		rs_add(s, ' ', ' ');
		break;
	case 'w':
		rs_add(s, '0', '9');
		rs_add(s, 'A', 'Z');
		rs_add(s, '_', '_');
		rs_add(s, 'a', 'z');
		break;
	}
}

/* Go's POSIX classes, ASCII only (unlike the C library's [:alpha:]). */
static bool posix_class(const char *name, size_t n, struct rset *s)
{
	static const struct {
		const char *name;
		const char *ranges; /* pairs of bytes */
	} tab[] = {
		{ "alnum", "09AZaz" },
		{ "alpha", "AZaz" },
		{ "ascii", "\x01\x7f" },
		{ "blank", "\t\t  " },
		{ "cntrl", "\x01\x1f\x7f\x7f" },
		{ "digit", "09" },
		{ "graph", "!~" },
		{ "lower", "az" },
		{ "print", " ~" },
		{ "punct", "!/:@[`{~" },
		{ "space", "\t\r  " },
		{ "upper", "AZ" },
		{ "word", "09AZ__az" },
		{ "xdigit", "09AFaf" },
	};
	for (size_t i = 0; i < ARRAY_LEN(tab); i++) {
		if (strlen(tab[i].name) != n || strncmp(tab[i].name, name, n) != 0)
			continue;
		for (const char *r = tab[i].ranges; *r; r += 2)
			rs_add(s, (unsigned char)r[0], (unsigned char)r[1]);
		if (!strcmp(tab[i].name, "ascii") || !strcmp(tab[i].name, "cntrl"))
			rs_add(s, 0, 0); /* NUL: written as \x01 above to keep C strings */
		return true;
	}
	return false;
}

/* Add a group (Go's appendGroup): folded when (?i), then maybe negated. */
static void add_group(struct tr *t, struct rset *cls, struct rset *g, bool neg)
{
	if (t->fold)
		rs_fold(g);
	if (neg)
		rs_negate(g);
	for (size_t i = 0; i < g->n; i++)
		rs_add(cls, g->r[i][0], g->r[i][1]);
	rs_free(g);
}

static int class_char(struct tr *t, uint32_t *cp)
{
	if (*t->p == '\\')
		return parse_escape(t, cp);
	t->p += u8_decode((const unsigned char *)t->p, cp); /* validated up front */
	return 0;
}

/* Go's parseClass: t->p at '['; fills *cls (final, negation applied). */
static int parse_class(struct tr *t, struct rset *cls)
{
	const char *start = t->p;
	bool neg = false, first = true;

	t->p++;
	if (*t->p == '^') {
		neg = true;
		t->p++;
	}
	while (*t->p != ']' || first) {
		struct rset g = { 0 };
		uint32_t lo, hi;
		if (!*t->p)
			return fail(t, "missing closing ]: `%.*s`", span(start, t->p), start);
		first = false;
		if (t->p[0] == '[' && t->p[1] == ':' && t->p[2]) {
			const char *end = strstr(t->p + 2, ":]");
			if (end) {
				const char *name = t->p + 2;
				bool gneg = *name == '^';
				if (gneg)
					name++;
				if (!posix_class(name, (size_t)(end - name), &g)) {
					rs_free(&g);
					return fail(t, "invalid character class range: `%.*s`",
					            span(t->p, end + 2), t->p);
				}
				add_group(t, cls, &g, gneg);
				t->p = end + 2;
				continue;
			}
		}
		if (t->p[0] == '\\' && (t->p[1] == 'p' || t->p[1] == 'P'))
			return fail(t, "Unicode classes (\\%c) are not supported", t->p[1]);
		if (t->p[0] == '\\' && t->p[1] && strchr("dDsSwW", t->p[1])) {
			perl_class(t->p[1], &g);
			add_group(t, cls, &g, t->p[1] < 'a');
			t->p += 2;
			continue;
		}
		const char *item = t->p;
		if (class_char(t, &lo) < 0)
			return -1;
		hi = lo;
		if (t->p[0] == '-' && t->p[1] && t->p[1] != ']') {
			t->p++;
			if (class_char(t, &hi) < 0)
				return -1;
			if (hi < lo)
				return fail(t, "invalid character class range: `%.*s`", span(item, t->p),
				            item);
		}
		rs_add(&g, lo, hi);
		add_group(t, cls, &g, false);
	}
	t->p++;
	if (neg)
		rs_negate(cls);
	return 0;
}

/* --- atoms ------------------------------------------------------------------ */

static int class_atom(struct tr *t, struct rset *s)
{
	rs_norm(s);
	if (case_check(t, set_cased(s)) < 0) {
		rs_free(s);
		return -1;
	}
	begin_atom(t);
	emit_set(t, s);
	rs_free(s);
	return 0;
}

static int literal(struct tr *t, uint32_t c)
{
	bool cased = cp_cased(c);
	if (c == 0 || (c >= 0xD800 && c <= 0xDFFF)) {
		begin_atom(t);
		emit_never(t);
		return 0;
	}
	if (case_check(t, cased) < 0)
		return -1;
	begin_atom(t);
	if (t->fold && cased && (c == KELVIN || c == LONG_S || (c | 0x20) == 'k' || (c | 0x20) == 's')) {
		struct rset s = { 0 };
		rs_add(&s, c, c);
		rs_fold(&s);
		emit_set(t, &s);
		rs_free(&s);
		return 0;
	}
	emit_char(t, c);
	return 0;
}

static void anchor(struct tr *t, char c)
{
	begin_atom(t);
	emit(t, &c, 1);
	t->a.anchor = true;
	t->a.consumes = false;
	t->a.cost = 0;
	t->a.nullable = true;
	t->a.anchors = c == '^' ? ANCHOR_BOL : ANCHOR_EOL;
}

/* --- repetition --------------------------------------------------------- */

/* X repeated exactly n times, in chunks POSIX guarantees (<= 255). */
static void emit_times(struct tr *t, const char *x, unsigned n)
{
	char q[16];
	while (n) {
		unsigned k = n > ERE_DUP_MAX ? ERE_DUP_MAX : n;
		emits(t, x);
		if (k > 1) {
			snprintf(q, sizeof q, "{%u}", k);
			emits(t, q);
		}
		n -= k;
	}
}

/* Y (which matches "") repeated up to n times; n < 0: unbounded. */
static void emit_upto(struct tr *t, const char *y, int n)
{
	char q[16];
	if (n < 0) {
		emits(t, y);
		emits(t, "*");
		return;
	}
	while (n > 0) {
		int k = n > ERE_DUP_MAX ? ERE_DUP_MAX : n;
		emits(t, y);
		if (k == 1) {
			emits(t, "?");
		} else {
			snprintf(q, sizeof q, "{0,%d}", k);
			emits(t, q);
		}
		n -= k;
	}
}

/*
 * Apply {min,max} (max -1: unbounded) to the last atom, as Go's p.repeat()
 * does, and rewrite it for the ERE engine.
 *
 * musl's TRE takes the "match nothing" path of an optional piece through
 * the piece's own empty match when it has one, anchors included: `(^)?a`
 * never matches "ba", `(^|x)*a` neither. An optional copy of such a piece is
 * written (|X): its first alternative is empty, which TRE prefers.
 */
static int apply_repeat(struct tr *t, int min, int max, const char *tok, const char *end, bool counted)
{
	struct atom *a = &t->a;
	char *x;

	if (t->last_rep)
		return fail(t, "invalid nested repetition operator: `%.*s`%s", span(t->last_rep, end),
		            t->last_rep, *tok == '+' ? " (possessive quantifiers are not supported)" : "");
	if (!a->present)
		return fail(t, "missing argument to repetition operator: `%.*s`", span(tok, end), tok);
	if (counted && (min >= 2 || max >= 2)) {
		int m = max < 0 ? min : max;
		long w = (long)m * (a->weight > 1 ? a->weight : 1);
		if (m > 0 && w > MAX_REPEAT)
			return fail(t, "invalid repeat count: `%.*s`", span(tok, end), tok);
	}
	if (counted) {
		int m = max < 0 ? min : max;
		a->weight = m == 0 ? 0 : m * (a->weight > 1 ? a->weight : 1);
	}
	if (a->empty)
		return 0;
	if (!a->consumes) {
		/* only matches "" (^, (), (^|$)): repeated at least once is once,
		 * zero times is nothing -- and no work for the engine */
		if (min == 0) {
			t->out.len = a->start;
			t->out.data[a->start] = '\0';
			a->empty = true;
			a->cost = 0;
			a->anchor = false;
			a->nullable = a->nf = true;
			a->anchors = 0;
		}
		return 0;
	}
	if (min == 0 && max == 0) {
		t->out.len = a->start;
		t->out.data[a->start] = '\0';
		a->empty = true;
		a->cost = 0;
		a->consumes = false;
		a->nullable = a->nf = true;
		a->anchors = 0;
		return 0;
	}
	if (min == 1 && max == 1)
		return 0;
	a->cost *= max < 0 ? min + 1 : max;
	if (a->cost > MAX_POSITIONS)
		return fail(t,
		            "pattern too large once its counted repetitions are expanded "
		            "(more than %d characters to match)",
		            MAX_POSITIONS);

	bool hazard = a->nullable && !a->nf;
	if (a->quantified)
		x = xasprintf("(%s)", t->out.data + a->start);
	else
		x = xstrdup(t->out.data + a->start);
	t->out.len = a->start;
	t->out.data[a->start] = '\0';

	if (!hazard && min <= ERE_DUP_MAX && max <= ERE_DUP_MAX) {
		char q[32];
		emits(t, x);
		if (min == 0 && max < 0)
			snprintf(q, sizeof q, "*");
		else if (min == 1 && max < 0)
			snprintf(q, sizeof q, "+");
		else if (min == 0 && max == 1)
			snprintf(q, sizeof q, "?");
		else if (max < 0)
			snprintf(q, sizeof q, "{%d,}", min);
		else if (min == max)
			snprintf(q, sizeof q, "{%d}", min);
		else
			snprintf(q, sizeof q, "{%d,%d}", min, max);
		emits(t, q);
	} else if (hazard && min == 1 && max < 0) {
		emits(t, x); /* X+ is not expanded by TRE: its empty path is X's */
		emits(t, "+");
	} else {
		char *y = hazard ? xasprintf("(|%s)", x) : xstrdup(x);
		emit_times(t, x, (unsigned)min);
		if (max != min)
			emit_upto(t, y, max < 0 ? -1 : max - min);
		free(y);
	}
	free(x);
	a->quantified = true;
	if (min == 0) {
		a->nullable = a->nf = true;
		a->anchors = 0;
	}
	return 0;
}

/* Go's parseRepeat: "{n}", "{n,}", "{n,m}" without leading zeros. */
static bool parse_count(const char **pp, int *out)
{
	const char *p = *pp;
	long n = 0;
	if (*p < '0' || *p > '9')
		return false;
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		if (n < 100000000)
			n = n * 10 + (*p - '0');
	*out = n >= 100000000 ? -2 : (int)n;
	*pp = p;
	return true;
}

static bool parse_braces(const char *s, int *min, int *max, const char **end)
{
	const char *p = s + 1;
	if (!parse_count(&p, min))
		return false;
	if (*p == ',') {
		p++;
		if (*p == '}')
			*max = -1;
		else if (!parse_count(&p, max))
			return false;
	} else {
		*max = *min;
	}
	if (*p != '}')
		return false;
	*end = p + 1;
	return true;
}

/* --- groups ------------------------------------------------------------------ */

static int push_group(struct tr *t, bool fold, bool dotall)
{
	struct frame *f;
	commit(t);
	if (t->depth + 1 > MAX_NEST)
		return fail(t, "expression nests too deeply");
	f = &t->fr[++t->depth];
	memset(f, 0, sizeof *f);
	f->start = t->out.len;
	f->fold = fold;
	f->dotall = dotall;
	f->br_nullable = f->br_nf = true;
	emit(t, "(", 1);
	return 0;
}

static bool name_char(char c)
{
	return c == '_' || is_alnum(c);
}

/* After "(?": a named group, or flags (?flags) / (?flags:re). */
static int perl_group(struct tr *t)
{
	const char *s = t->p, *q = s + 2;
	bool fold = t->fold, dotall = t->dotall, multi = false, neg = false, saw = false;

	if ((q[0] == 'P' && q[1] == '<') || (q[0] == '<' && q[1] != '=' && q[1] != '!')) {
		/* named capture (Python's (?P<n>), and (?<n>) as Go 1.22+) -> ( */
		const char *name = q + (q[0] == 'P' ? 2 : 1), *gt = strchr(name, '>');
		bool ok = gt && gt > name;
		if (!gt)
			return fail(t, "invalid named capture: `%.*s`", span(s, s + strlen(s)), s);
		for (const char *c = name; c < gt; c++)
			ok = ok && name_char(*c);
		if (!ok)
			return fail(t, "invalid named capture: `%.*s`", span(s, gt + 1), s);
		t->p = gt + 1;
		return push_group(t, t->fold, t->dotall);
	}
	for (;; q++) {
		switch (*q) {
		case 'i':
			fold = !neg;
			saw = true;
			continue;
		case 's':
			dotall = !neg;
			saw = true;
			continue;
		case 'm':
			multi = !neg;
			saw = true;
			continue;
		case 'U': /* ungreedy: the same yes/no answer */
			saw = true;
			continue;
		case '-':
			if (neg)
				break;
			neg = true;
			saw = false;
			continue;
		case ':':
		case ')':
			if (neg && !saw)
				break;
			if (multi)
				return fail(
				    t, "the multi-line flag (?m) is not supported: ^ and $ match only at the "
				       "start and end of the text");
			t->p = q + 1;
			if (*q == ':') {
				if (push_group(t, t->fold, t->dotall) < 0)
					return -1;
			}
			t->fold = fold;
			t->dotall = dotall;
			return 0;
		default:
			break;
		}
		break;
	}
	if (*q)
		q++;
	if (s[2] == '=' || s[2] == '!')
		return fail(t, "lookaround `%.3s` is not supported (Go's regexp has none)", s);
	if (s[2] == '<' && (s[3] == '=' || s[3] == '!'))
		return fail(t, "lookaround `%.4s` is not supported (Go's regexp has none)", s);
	if (s[2] == '>')
		return fail(t, "atomic groups `(?>` are not supported (Go's regexp has none)");
	return fail(t, "invalid or unsupported Perl syntax: `%.*s`", span(s, q), s);
}

static int close_group(struct tr *t)
{
	struct frame *f;
	if (t->depth == 0)
		return fail(t, "unexpected ): `%.*s`", span(t->pat, t->p + 1), t->pat);
	end_branch(t);
	f = &t->fr[t->depth];
	if (f->any_nf && f->hazards) {
		emit_insert(t, f->start + 1, "|"); /* TRE takes the first empty path: make it anchor-free */
	} else if (f->hz_conflict) {
		return fail(t, "alternatives that match an empty string only under different anchors, like "
		               "(^|$), are not supported by the ERE engine");
	}
	if (f->cost > MAX_POSITIONS)
		return fail(t,
		            "pattern too large once its counted repetitions are expanded "
		            "(more than %d characters to match)",
		            MAX_POSITIONS);
	emit(t, ")", 1);
	t->fold = f->fold;
	t->dotall = f->dotall;
	t->depth--;
	t->p++;
	memset(&t->a, 0, sizeof t->a);
	t->a.present = true;
	t->a.start = f->start;
	t->a.nullable = f->any_nf || f->hazards > 0;
	t->a.nf = f->any_nf;
	t->a.consumes = f->consumes;
	t->a.cost = f->cost;
	t->a.anchors = f->any_nf ? 0 : f->hz_anchors;
	t->a.weight = f->weight;
	return 0;
}

/* --- the main loop ------------------------------------------------------- */

static int escape(struct tr *t)
{
	char k = t->p[1];
	uint32_t cp;

	switch (k) {
	case 'A':
	case 'z':
		anchor(t, k == 'A' ? '^' : '$');
		t->p += 2;
		return 0;
	case 'b':
	case 'B':
		return fail(t,
		            "word boundaries (\\%c) are not supported: POSIX ERE has no portable equivalent "
		            "(write (^|[^0-9A-Za-z_])word([^0-9A-Za-z_]|$) instead)",
		            k);
	case 'Q': {
		const char *q = t->p + 2, *e = strstr(q, "\\E");
		const char *stop = e ? e : q + strlen(q);
		while (q < stop) {
			q += u8_decode((const unsigned char *)q, &cp);
			if (literal(t, cp) < 0)
				return -1;
		}
		t->p = e ? e + 2 : stop;
		return 0;
	}
	case 'd':
	case 'D':
	case 's':
	case 'S':
	case 'w':
	case 'W': {
		struct rset s = { 0 }, cls = { 0 };
		perl_class(k, &s);
		add_group(t, &cls, &s, k < 'a');
		t->p += 2;
		return class_atom(t, &cls);
	}
	default:
		if (parse_escape(t, &cp) < 0)
			return -1;
		return literal(t, cp);
	}
}

static int step(struct tr *t)
{
	const char *tok = t->p, *end;
	int min, max;
	uint32_t cp;

	switch (*t->p) {
	case '(':
		if (t->p[1] == '?')
			return perl_group(t);
		t->p++;
		return push_group(t, t->fold, t->dotall);
	case ')':
		return close_group(t);
	case '|':
		end_branch(t);
		if (t->depth == 0) {
			t->bars = xrealloc(t->bars, (t->nbars + 1) * sizeof *t->bars);
			t->bars[t->nbars++] = t->out.len;
		}
		emit(t, "|", 1);
		t->p++;
		return 0;
	case '^':
	case '$':
		anchor(t, *t->p);
		t->p++;
		return 0;
	case '.': {
		struct rset s = { 0 };
		rs_add(&s, 0, MAX_RUNE);
		if (!t->dotall)
			rs_remove(&s, '\n', '\n');
		t->p++;
		return class_atom(t, &s);
	}
	case '[': {
		struct rset s = { 0 };
		if (parse_class(t, &s) < 0) {
			rs_free(&s);
			return -1;
		}
		return class_atom(t, &s);
	}
	case '*':
	case '+':
	case '?':
		end = t->p + 1;
		min = *tok == '+';
		max = *tok == '?' ? 1 : -1;
		t->p = end + (*end == '?'); /* lazy: same yes/no answer as greedy */
		return apply_repeat(t, min, max, tok, end, false);
	case '{':
		if (!parse_braces(t->p, &min, &max, &end)) {
			t->p++; /* Go reads a { that starts no repetition literally */
			return literal(t, '{');
		}
		if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || max == -2 || (max >= 0 && min > max))
			return fail(t, "invalid repeat count: `%.*s`", span(tok, end), tok);
		t->p = end + (*end == '?');
		return apply_repeat(t, min, max, tok, end, true);
	case '\\':
		return escape(t);
	default:
		t->p += u8_decode((const unsigned char *)t->p, &cp);
		return literal(t, cp);
	}
}

/*
 * Translate; returns the ERE (caller frees) or NULL with err. *always is set
 * when the pattern matches every string. When top-level alternatives match
 * "" under different anchors (`^$|^`), TRE would keep only one set of
 * anchors: *bars then lists the offsets of the top-level '|' (caller frees)
 * and each alternative must be compiled on its own.
 */
static char *translate(const char *pattern, int *cflags, bool *always, size_t **bars, size_t *nbars,
                       char *err, size_t errlen)
{
	struct tr t;
	char *ere = NULL;

	memset(&t, 0, sizeof t);
	t.pat = t.p = pattern;
	t.err = err;
	t.errlen = errlen;
	t.icase = -1;
	*always = false;
	*bars = NULL;
	*nbars = 0;
	*cflags = REG_EXTENDED | REG_NOSUB;
	if (strlen(pattern) > MAX_PATTERN_LEN) {
		snprintf(err, errlen, "pattern longer than %d bytes", MAX_PATTERN_LEN);
		return NULL;
	}
	if (!u8_valid(pattern)) {
		snprintf(err, errlen, "invalid UTF-8");
		return NULL;
	}
	buf_init(&t.out, MAX_ERE_LEN);
	t.fr = xcalloc(MAX_NEST + 1, sizeof *t.fr);
	t.fr[0].br_nullable = t.fr[0].br_nf = true;
	emit(&t, "", 0);
	while (*t.p) {
		const char *tok = t.p;
		bool rep = *tok == '*' || *tok == '+' || *tok == '?';
		if (*tok == '{') {
			int mn, mx;
			const char *e;
			rep = parse_braces(tok, &mn, &mx, &e);
		}
		if (step(&t) < 0)
			goto out;
		t.last_rep = rep ? tok : NULL;
		if (t.overflow) {
			snprintf(err, errlen, "pattern too complex for the ERE engine");
			goto out;
		}
	}
	if (t.depth) {
		snprintf(err, errlen, "missing closing ): `%.*s`", span(t.pat, t.p), t.pat);
		goto out;
	}
	end_branch(&t);
	if (t.fr[0].cost > MAX_POSITIONS) {
		fail(&t,
		     "pattern too large once its counted repetitions are expanded (more than %d characters "
		     "to match)",
		     MAX_POSITIONS);
		goto out;
	}
	if (t.fr[0].any_nf) {
		*always = true;
	} else if (t.fr[0].hz_conflict) {
		*bars = t.bars;
		*nbars = t.nbars;
		t.bars = NULL;
	}
	if (t.overflow) {
		snprintf(err, errlen, "pattern too complex for the ERE engine");
		goto out;
	}
	if (t.icase == 1)
		*cflags |= REG_ICASE;
	ere = buf_steal(&t.out);
out:
	buf_free(&t.out);
	free(t.fr);
	free(t.bars);
	return ere;
}

char *goregex_translate(const char *pattern, int *cflags, char *err, size_t errlen)
{
	bool always;
	size_t *bars, nbars;
	locale_t old = enter_utf8();
	char *ere = translate(pattern, cflags, &always, &bars, &nbars, err, errlen);
	leave_utf8(old);
	free(bars);
	return ere;
}

int goregex_compile(const char *pattern, struct goregex **out, char *err, size_t errlen)
{
	struct goregex *re;
	int cflags, rc = 0;
	bool always;
	size_t *bars, nbars;
	locale_t old = enter_utf8();
	char *ere = translate(pattern, &cflags, &always, &bars, &nbars, err, errlen);

	*out = NULL;
	if (!ere) {
		leave_utf8(old);
		return -1;
	}
	re = xcalloc(1, sizeof *re);
	re->always = always;
	re->re = xcalloc(nbars + 1, sizeof *re->re);
	for (size_t i = 0; i <= nbars && rc == 0; i++) {
		size_t from = i ? bars[i - 1] + 1 : 0, to = i < nbars ? bars[i] : strlen(ere);
		char *part = xstrndup(ere + from, to - from);
		rc = regcomp(&re->re[i], part, cflags);
		free(part);
		if (rc == 0) {
			re->n++;
		} else {
			char msg[128];
			regerror(rc, &re->re[i], msg, sizeof msg);
			snprintf(err, errlen, "the C library's regcomp refused the translation: %s", msg);
		}
	}
	leave_utf8(old);
	free(ere);
	free(bars);
	if (rc != 0) {
		goregex_free(re);
		return -1;
	}
	*out = re;
	return 0;
}

/* regexec over every part of re; s is valid UTF-8 and the UTF-8 locale is in use. */
static bool search_prepared(const struct goregex *re, const char *s)
{
	if (re->always)
		return true;
	for (size_t i = 0; i < re->n; i++)
		if (regexec(&re->re[i], s, 0, NULL, 0) == 0)
			return true;
	return false;
}

/* Whether any of n patterns matches s: s checked (and mended) once, one locale switch. */
static bool search_any(const struct goregex *const *res, size_t n, const char *s)
{
	char *tmp = NULL;
	bool m = false;
	if (!u8_valid(s))
		s = tmp = u8_sanitize(s);
	locale_t old = enter_utf8();
	for (size_t i = 0; i < n && !m; i++)
		m = search_prepared(res[i], s);
	leave_utf8(old);
	free(tmp);
	return m;
}

bool goregex_search(const struct goregex *re, const char *s)
{
	return search_any(&re, 1, s);
}

void goregex_free(struct goregex *re)
{
	if (!re)
		return;
	for (size_t i = 0; i < re->n; i++)
		regfree(&re->re[i]);
	free(re->re);
	free(re);
}

/* --- filters ------------------------------------------------------------- */

enum level { LEVEL_WARNING, LEVEL_NORMAL, LEVEL_ALL };

struct relist {
	struct goregex *re[MAX_PATTERNS];
	size_t n;
};

struct strlist {
	char *mem;
	const char *item[MAX_LIST];
	size_t n; /* 0: no filter */
};

struct filter {
	enum level level;
	bool ns_from_event;
	struct strlist namespaces, kinds, exclude_namespaces;
	struct relist reasons, messages, names, exclude_reasons, exclude_messages;
};

static int parse_level(const char *v, enum level *out, char *err, size_t errlen)
{
	static const char *const names[] = { "Warning", "Normal" };
	size_t n;

	if (!v || !strcmp(v, "Warning")) {
		*out = LEVEL_WARNING;
		return 0;
	}
	if (!strcmp(v, "Normal")) {
		*out = LEVEL_NORMAL;
		return 0;
	}
	n = strlen(v);
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		if (n && n <= strlen(names[i]) && !strncasecmp(v, names[i], n)) {
			snprintf(err, errlen,
			         "level: must be Warning or Normal, got \"%s\" (did you mean \"%s\"?)", v,
			         names[i]);
			return -1;
		}
	}
	snprintf(err, errlen, "level: must be Warning or Normal, got \"%s\"", v);
	return -1;
}

/* Comma list, items trimmed of spaces; an empty value or only commas: no filter. */
static int split_list(const char *param, const char *v, struct strlist *l, char *err, size_t errlen)
{
	if (!v || !*v)
		return 0;
	l->mem = xstrdup(v);
	for (char *p = l->mem; p;) {
		char *comma = strchr(p, ','), *e;
		if (comma)
			*comma = '\0';
		while (*p == ' ')
			p++;
		e = p + strlen(p);
		while (e > p && e[-1] == ' ')
			*--e = '\0';
		if (*p) {
			if (l->n == MAX_LIST) {
				snprintf(err, errlen, "%s: more than %d entries", param, MAX_LIST);
				return -1;
			}
			l->item[l->n++] = p;
		}
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

static bool in_list(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->item[i], s))
			return true;
	return false;
}

/*
 * Length of the first pattern in a comma-separated parameter value: a comma
 * splits only outside (), [], {} and \Q..\E and when not escaped (Go reads
 * "\," as a literal comma).
 */
static size_t pattern_len(const char *s)
{
	const char *p = s;
	int paren = 0, brace = 0;
	while (*p) {
		switch (*p) {
		case '\\':
			if (p[1] == 'Q') {
				const char *e = strstr(p + 2, "\\E");
				p = e ? e + 2 : p + strlen(p);
				continue;
			}
			p += p[1] ? 2 : 1;
			continue;
		case '[':
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				const char *e;
				if (*p == '\\' && p[1])
					p += 2;
				else if (p[0] == '[' && p[1] == ':' && p[2] && (e = strstr(p + 2, ":]")))
					p = e + 2;
				else
					p++;
			}
			if (*p)
				p++;
			continue;
		case '(':
			paren++;
			break;
		case ')':
			if (paren)
				paren--;
			break;
		case '{':
			brace++;
			break;
		case '}':
			if (brace)
				brace--;
			break;
		case ',':
			if (!paren && !brace)
				return (size_t)(p - s);
			break;
		}
		p++;
	}
	return (size_t)(p - s);
}

static int add_patterns(const char *param, const char *v, struct relist *rl, char *err, size_t errlen)
{
	for (const char *p = v;;) {
		size_t n = pattern_len(p);
		if (n) { /* empty pieces ("a,,b", "a,") are skipped */
			char *pat = xstrndup(p, n);
			char e[256];
			if (rl->n == MAX_PATTERNS) {
				snprintf(err, errlen, "%s: more than %d patterns", param, MAX_PATTERNS);
				free(pat);
				return -1;
			}
			if (goregex_compile(pat, &rl->re[rl->n], e, sizeof e) < 0) {
				snprintf(err, errlen, "%s: pattern \"%.*s\": %s", param,
				         quote_len(pat, n, 200), pat, e);
				free(pat);
				return -1;
			}
			free(pat);
			rl->n++;
		}
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

static int add_all(const char *param, const char *const *v, size_t n, struct relist *rl, char *err,
                   size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && add_patterns(param, v[i], rl, err, errlen) < 0)
			return -1;
	return 0;
}

static bool any_match(const struct relist *rl, const char *s)
{
	return search_any((const struct goregex *const *)rl->re, rl->n, s);
}

int filter_compile(const struct filter_opts *o, struct filter **out, char *err, size_t errlen)
{
	struct filter *f = xcalloc(1, sizeof *f);

	*out = NULL;
	if (parse_level(o->level, &f->level, err, errlen) < 0)
		goto fail;
	if (o->all_types && !o->level)
		f->level = LEVEL_ALL;
	f->ns_from_event = o->ns_from_event;
	if (split_list("namespaces", o->namespaces, &f->namespaces, err, errlen) < 0 ||
	    split_list("kinds", o->kinds, &f->kinds, err, errlen) < 0 ||
	    split_list("exclude_namespaces", o->exclude_namespaces, &f->exclude_namespaces, err, errlen) <
	        0 ||
	    add_all("reason", o->reasons, o->nreasons, &f->reasons, err, errlen) < 0 ||
	    add_all("message", o->messages, o->nmessages, &f->messages, err, errlen) < 0 ||
	    add_all("name", o->names, o->nnames, &f->names, err, errlen) < 0 ||
	    add_all("exclude_reason", o->exclude_reasons, o->nexclude_reasons, &f->exclude_reasons, err,
	            errlen) < 0 ||
	    add_all("exclude_message", o->exclude_messages, o->nexclude_messages, &f->exclude_messages, err,
	            errlen) < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	filter_free(f);
	return -1;
}

/* An include filter never passes an empty field (kube-eventer's rule). */
static bool include(const struct relist *rl, const char *s)
{
	return !rl->n || (s[0] && any_match(rl, s));
}

bool filter_match(const struct filter *f, const struct event *ev)
{
	const char *ns = f->ns_from_event ? ev->namespace : ev->involved.namespace;

	if (f->level != LEVEL_ALL && strcmp(ev->type, "Warning") != 0 &&
	    !(f->level == LEVEL_NORMAL && !strcmp(ev->type, "Normal")))
		return false;
	if (f->namespaces.n && (!ns[0] || !in_list(&f->namespaces, ns)))
		return false;
	if (f->exclude_namespaces.n && ns[0] && in_list(&f->exclude_namespaces, ns))
		return false;
	if (f->kinds.n && (!ev->involved.kind[0] || !in_list(&f->kinds, ev->involved.kind)))
		return false;
	if (!include(&f->reasons, ev->reason) || !include(&f->messages, ev->message) ||
	    !include(&f->names, ev->involved.name))
		return false;
	if (any_match(&f->exclude_reasons, ev->reason) || any_match(&f->exclude_messages, ev->message))
		return false;
	return true;
}

static void relist_free(struct relist *rl)
{
	for (size_t i = 0; i < rl->n; i++)
		goregex_free(rl->re[i]);
}

void filter_free(struct filter *f)
{
	if (!f)
		return;
	free(f->namespaces.mem);
	free(f->kinds.mem);
	free(f->exclude_namespaces.mem);
	relist_free(&f->reasons);
	relist_free(&f->messages);
	relist_free(&f->names);
	relist_free(&f->exclude_reasons);
	relist_free(&f->exclude_messages);
	free(f);
}
