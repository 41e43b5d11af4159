/* filter.c -- per-sink filters; Go regexp syntax translated to POSIX ERE. */
#include "filter.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "util.h"

#define MAX_PATTERNS 64
#define MAX_LIST 256
#define MAX_PATTERN_LEN 4096

struct goregex {
	regex_t re;
};

/* --- translation ----------------------------------------------------------- */

struct tr {
	const char *p;     /* cursor */
	struct buf out;
	bool dotall;
	char *err;
	size_t errlen;
	int depth;
	bool can_repeat;   /* an atom precedes: a quantifier may follow */
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

static bool ere_special(char c)
{
	return c && strchr(".[]()*+?{}|^$\\", c) != NULL;
}

static void put_literal_byte(struct tr *t, unsigned char c)
{
	if (ere_special((char)c))
		buf_putc(&t->out, '\\');
	buf_putc(&t->out, (char)c);
}

static void put_utf8(struct buf *b, unsigned cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	buf_append(b, u, n);
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a UTF-8 character at p (no validation beyond length); returns bytes used. */
static size_t utf8_decode(const char *p, unsigned *cp)
{
	unsigned char c = (unsigned char)p[0];
	size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	unsigned v = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
	for (size_t i = 1; i < n; i++) {
		if (((unsigned char)p[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		v = (v << 6) | ((unsigned char)p[i] & 0x3F);
	}
	*cp = v;
	return n;
}

/*
 * A character-class item set: ranges of code points plus POSIX classes
 * (for \d \w \s inside brackets and [:alpha:]). Emitted in POSIX form.
 */
struct cls {
	unsigned lo[128], hi[128];
	size_t n;
	const char *posix[16];
	size_t nposix;
	bool neg;
};

static int cls_add(struct tr *t, struct cls *c, unsigned lo, unsigned hi)
{
	if (c->n == ARRAY_LEN(c->lo))
		return fail(t, "character class too large");
	c->lo[c->n] = lo;
	c->hi[c->n] = hi;
	c->n++;
	return 0;
}

/* Go's Perl classes, ASCII: \d [0-9], \w [0-9A-Za-z_], \s [\t\n\f\r ]. */
static int cls_perl(struct tr *t, struct cls *c, char k)
{
	switch (k) {
	case 'd':
		return cls_add(t, c, '0', '9');
	case 'w':
		if (cls_add(t, c, '0', '9') || cls_add(t, c, 'A', 'Z') || cls_add(t, c, 'a', 'z'))
			return -1;
		return cls_add(t, c, '_', '_');
	case 's':
		if (cls_add(t, c, '\t', '\n') || cls_add(t, c, '\f', '\r'))
			return -1;
		return cls_add(t, c, ' ', ' ');
	}
	return -1;
}

static bool awkward(unsigned cp)
{
	return cp == ']' || cp == '-' || cp == '^' || cp == '[';
}

/*
 * Emit c as a POSIX bracket expression, where a backslash is literal and
 * position matters: ']' goes first, '[' late (so it never starts "[:"),
 * '^' after something else, '-' last.
 */
static void cls_emit(struct tr *t, const struct cls *c)
{
	bool has[128] = { false };
	struct buf *b = &t->out;
	bool wrote = false;

	for (size_t i = 0; i < c->n; i++)
		for (unsigned k = 0; k < 128; k++)
			if (awkward(k) && c->lo[i] <= k && k <= c->hi[i])
				has[k] = true;
	bool only_caret = has['^'] && c->nposix == 0;
	for (size_t i = 0; i < c->n && only_caret; i++)
		if (c->lo[i] != '^' || c->hi[i] != '^')
			only_caret = false;
	if (only_caret && !c->neg) {
		buf_puts(b, "\\^"); /* a class of just '^' is the literal */
		return;
	}
	buf_putc(b, '[');
	if (c->neg)
		buf_putc(b, '^');
	if (has[']']) {
		buf_putc(b, ']');
		wrote = true;
	}
	for (size_t i = 0; i < c->n; i++) {
		unsigned cur = c->lo[i], hi = c->hi[i];
		while (cur <= hi) {
			if (awkward(cur)) {
				cur++;
				continue;
			}
			unsigned end = cur;
			while (end < hi && !awkward(end + 1))
				end++;
			put_utf8(b, cur);
			if (end > cur + 1)
				buf_putc(b, '-');
			if (end > cur)
				put_utf8(b, end);
			wrote = true;
			cur = end + 1;
		}
	}
	for (size_t i = 0; i < c->nposix; i++) {
		buf_printf(b, "[:%s:]", c->posix[i]);
		wrote = true;
	}
	if (has['[']) {
		buf_putc(b, '[');
		wrote = true;
	}
	if (has['^']) {
		if (!wrote && !c->neg && has['-']) {
			buf_puts(b, "-^]"); /* "[-^]": '-' first is literal too */
			return;
		}
		buf_putc(b, '^'); /* after "[^" or after an item: literal */
	}
	if (has['-'])
		buf_putc(b, '-');
	buf_putc(b, ']');
}

static int parse_escape_cp(struct tr *t, unsigned *cp);

/* Parse a Go bracket expression at t->p ('[' consumed) and emit it. */
static int bracket(struct tr *t)
{
	static const char *const posix_names[] = { "alnum", "alpha", "ascii", "blank", "cntrl", "digit",
						   "graph", "lower", "print", "punct", "space", "upper",
						   "word", "xdigit" };
	struct cls c;
	memset(&c, 0, sizeof c);
	if (*t->p == '^') {
		c.neg = true;
		t->p++;
	}
	bool first = true;
	for (;;) {
		if (!*t->p)
			return fail(t, "missing closing ] in character class");
		if (*t->p == ']' && !first) {
			t->p++;
			break;
		}
		first = false;
		if (t->p[0] == '[' && t->p[1] == ':') {
			const char *end = strstr(t->p + 2, ":]");
			bool ok = false;
			if (end) {
				size_t n = (size_t)(end - t->p - 2);
				bool negc = n > 0 && t->p[2] == '^';
				for (size_t i = 0; i < ARRAY_LEN(posix_names) && !negc; i++) {
					if (strlen(posix_names[i]) == n && strncmp(t->p + 2, posix_names[i], n) == 0) {
						if (strcmp(posix_names[i], "word") == 0) {
							cls_perl(t, &c, 'w');
						} else if (strcmp(posix_names[i], "ascii") == 0) {
							cls_add(t, &c, 0, 0x7F);
						} else if (c.nposix < ARRAY_LEN(c.posix)) {
							c.posix[c.nposix++] = posix_names[i];
						}
						ok = true;
					}
				}
				if (negc)
					return fail(t, "negated POSIX classes like [:^alpha:] are not supported");
				if (!ok)
					return fail(t, "invalid POSIX character class name");
				t->p = end + 2;
				continue;
			}
		}
		unsigned lo;
		if (*t->p == '\\') {
			char k = t->p[1];
			if (k == 'd' || k == 'w' || k == 's') {
				cls_perl(t, &c, k);
				t->p += 2;
				continue;
			}
			if (k == 'D' || k == 'W' || k == 'S' || k == 'p' || k == 'P')
				return fail(t, "\\%c inside a character class is not supported", k);
			t->p++;
			if (parse_escape_cp(t, &lo) < 0)
				return -1;
		} else {
			t->p += utf8_decode(t->p, &lo);
		}
		unsigned hi = lo;
		if (t->p[0] == '-' && t->p[1] && t->p[1] != ']') {
			t->p++;
			if (*t->p == '\\') {
				t->p++;
				if (parse_escape_cp(t, &hi) < 0)
					return -1;
			} else {
				t->p += utf8_decode(t->p, &hi);
			}
			if (hi < lo)
				return fail(t, "invalid character class range");
		}
		if (cls_add(t, &c, lo, hi) < 0)
			return -1;
	}
	if (c.n == 0 && c.nposix == 0)
		return fail(t, "empty character class");
	cls_emit(t, &c);
	return 0;
}

/* After a backslash (t->p at the escaped char): a literal code point. */
static int parse_escape_cp(struct tr *t, unsigned *cp)
{
	char k = *t->p;
	switch (k) {
	case 'n': *cp = '\n'; break;
	case 't': *cp = '\t'; break;
	case 'r': *cp = '\r'; break;
	case 'f': *cp = '\f'; break;
	case 'v': *cp = '\v'; break;
	case 'a': *cp = '\a'; break;
	case 'x': {
		unsigned v = 0;
		t->p++;
		if (*t->p == '{') {
			int nd = 0;
			for (t->p++; *t->p && *t->p != '}'; t->p++, nd++) {
				int h = hexv(*t->p);
				if (h < 0 || nd >= 6)
					return fail(t, "invalid escape sequence \\x{...}");
				v = v * 16 + (unsigned)h;
			}
			if (*t->p != '}' || nd == 0 || v > 0x10FFFF)
				return fail(t, "invalid escape sequence \\x{...}");
		} else {
			int a = hexv(t->p[0]), b = a >= 0 ? hexv(t->p[1]) : -1;
			if (a < 0 || b < 0)
				return fail(t, "invalid escape sequence \\x");
			v = (unsigned)(a * 16 + b);
			t->p++;
		}
		*cp = v;
		break;
	}
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
		/* Go: octal only with a leading 0 or three digits; \1..\9 are backreferences */
		int nd = 0;
		unsigned v = 0;
		while (nd < 3 && t->p[nd] >= '0' && t->p[nd] <= '7')
			v = v * 8 + (unsigned)(t->p[nd++] - '0');
		if (k != '0' && nd < 2)
			return fail(t, "backreferences like \\%c are not supported (RE2 syntax)", k);
		t->p += nd - 1;
		*cp = v;
		break;
	}
	default:
		if (k && (unsigned char)k < 0x80 && !((k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z') ||
						      (k >= '0' && k <= '9'))) {
			*cp = (unsigned char)k; /* escaped punctuation */
			break;
		}
		if (k == 'p' || k == 'P')
			return fail(t, "Unicode classes (\\%c) are not supported", k);
		if (k == 'C')
			return fail(t, "\\C (any byte) is not supported");
		return fail(t, "invalid escape sequence \\%c", k ? k : '?');
	}
	t->p++;
	return 0;
}

/* Is "{...}" at p a valid Go repetition? Sets *len to its length. */
static bool repetition(const char *p, size_t *len)
{
	const char *q = p + 1;
	int n = 0, m = -1;
	if (*q < '0' || *q > '9')
		return false;
	while (*q >= '0' && *q <= '9') {
		n = n * 10 + (*q++ - '0');
		if (n > 1000)
			return false;
	}
	if (*q == ',') {
		q++;
		if (*q >= '0' && *q <= '9') {
			m = 0;
			while (*q >= '0' && *q <= '9') {
				m = m * 10 + (*q++ - '0');
				if (m > 1000)
					return false;
			}
			if (m < n)
				return false;
		}
	}
	if (*q != '}')
		return false;
	*len = (size_t)(q - p + 1);
	return true;
}

static int quantifier(struct tr *t, const char *q, size_t n)
{
	if (!t->can_repeat)
		return fail(t, "missing argument to repetition operator %c", q[0]);
	buf_append(&t->out, q, n);
	t->p += n;
	if (*t->p == '?')
		t->p++; /* lazy: the same yes/no answer as greedy */
	if (*t->p == '*' || *t->p == '+' || *t->p == '?')
		return fail(t, "invalid nested repetition operator");
	t->can_repeat = false;
	return 0;
}

static int translate(struct tr *t)
{
	while (*t->p) {
		char c = *t->p;
		size_t n;
		switch (c) {
		case '\\': {
			char k = t->p[1];
			t->p++;
			if (k == 'd' || k == 'w' || k == 's' || k == 'D' || k == 'W' || k == 'S') {
				struct cls cl;
				memset(&cl, 0, sizeof cl);
				cls_perl(t, &cl, (char)(k | 0x20));
				cl.neg = k < 'a';
				cls_emit(t, &cl);
				t->p++;
				t->can_repeat = true;
				continue;
			}
			if (k == 'A' || k == 'z') {
				buf_putc(&t->out, k == 'A' ? '^' : '$');
				t->p++;
				t->can_repeat = false;
				continue;
			}
			if (k == 'b' || k == 'B') {
				buf_putc(&t->out, '\\');
				buf_putc(&t->out, k);
				t->p++;
				t->can_repeat = false;
				continue;
			}
			if (k == 'Q') {
				const char *end = strstr(t->p + 1, "\\E");
				const char *stop = end ? end : t->p + 1 + strlen(t->p + 1);
				for (const char *q = t->p + 1; q < stop; q++)
					put_literal_byte(t, (unsigned char)*q);
				t->p = end ? end + 2 : stop;
				t->can_repeat = true;
				continue;
			}
			unsigned cp;
			if (parse_escape_cp(t, &cp) < 0)
				return -1;
			if (cp < 0x80)
				put_literal_byte(t, (unsigned char)cp);
			else
				put_utf8(&t->out, cp);
			t->can_repeat = true;
			continue;
		}
		case '[':
			t->p++;
			if (bracket(t) < 0)
				return -1;
			t->can_repeat = true;
			continue;
		case '.':
			if (t->dotall)
				buf_putc(&t->out, '.');
			else
				buf_puts(&t->out, "[^\n]"); /* Go: . does not match a newline */
			t->p++;
			t->can_repeat = true;
			continue;
		case '(':
			if (t->p[1] == '?') {
				if (t->p[2] == ':') {
					t->p += 3;
				} else if (t->p[2] == 'P' && t->p[3] == '<') {
					const char *gt = strchr(t->p, '>');
					if (!gt)
						return fail(t, "invalid named capture");
					t->p = gt + 1;
				} else {
					return fail(t, "flag groups like (?%c...) are only supported at the start: (?i) or (?s)",
						    t->p[2] ? t->p[2] : '?');
				}
			} else {
				t->p++;
			}
			buf_putc(&t->out, '(');
			t->depth++;
			t->can_repeat = false;
			continue;
		case ')':
			if (t->depth == 0)
				return fail(t, "unexpected )");
			t->depth--;
			buf_putc(&t->out, ')');
			t->p++;
			t->can_repeat = true;
			continue;
		case '*':
		case '+':
		case '?':
			if (quantifier(t, t->p, 1) < 0)
				return -1;
			continue;
		case '{':
			if (repetition(t->p, &n)) {
				if (quantifier(t, t->p, n) < 0)
					return -1;
				continue;
			}
			buf_puts(&t->out, "\\{"); /* Go reads an invalid repetition literally */
			t->p++;
			t->can_repeat = true;
			continue;
		case '|':
			buf_putc(&t->out, '|');
			t->p++;
			t->can_repeat = false;
			continue;
		case '^':
		case '$':
			buf_putc(&t->out, c);
			t->p++;
			t->can_repeat = false;
			continue;
		case '}':
		case ']':
			buf_putc(&t->out, '\\');
			buf_putc(&t->out, c);
			t->p++;
			t->can_repeat = true;
			continue;
		default: {
			unsigned cp;
			size_t l = utf8_decode(t->p, &cp);
			buf_append(&t->out, t->p, l);
			t->p += l;
			t->can_repeat = true;
			continue;
		}
		}
	}
	if (t->depth)
		return fail(t, "missing closing )");
	return 0;
}

char *goregex_translate(const char *pattern, int *cflags, char *err, size_t errlen)
{
	struct tr t = { 0 };
	t.p = pattern;
	t.err = err;
	t.errlen = errlen;
	buf_init(&t.out, 4 * MAX_PATTERN_LEN + 64);
	*cflags = REG_EXTENDED | REG_NOSUB;
	if (strlen(pattern) > MAX_PATTERN_LEN) {
		snprintf(err, errlen, "pattern longer than %d bytes", MAX_PATTERN_LEN);
		return NULL;
	}
	/* leading flag group: (?i) (?s) (?is) (?si) */
	if (t.p[0] == '(' && t.p[1] == '?') {
		const char *q = t.p + 2;
		bool icase = false, dotall = false, ok = true;
		for (; *q && *q != ')'; q++) {
			if (*q == 'i')
				icase = true;
			else if (*q == 's')
				dotall = true;
			else if (*q == ':')
				break;
			else
				ok = false;
		}
		if (*q == ')') {
			if (!ok || q == t.p + 2) {
				snprintf(err, errlen, "only the flags (?i) and (?s) are supported");
				return NULL;
			}
			if (icase)
				*cflags |= REG_ICASE;
			t.dotall = dotall;
			t.p = q + 1;
		}
	}
	if (translate(&t) < 0) {
		buf_free(&t.out);
		return NULL;
	}
	if (t.out.len > 4 * MAX_PATTERN_LEN) {
		buf_free(&t.out);
		snprintf(err, errlen, "pattern too complex");
		return NULL;
	}
	return buf_steal(&t.out);
}

int goregex_compile(const char *pattern, struct goregex **out, char *err, size_t errlen)
{
	int cflags;
	char *ere = goregex_translate(pattern, &cflags, err, errlen);
	*out = NULL;
	if (!ere)
		return -1;
	struct goregex *re = xcalloc(1, sizeof *re);
	int rc = regcomp(&re->re, ere, cflags);
	free(ere);
	if (rc != 0) {
		char msg[128];
		regerror(rc, &re->re, msg, sizeof msg);
		snprintf(err, errlen, "%s", msg);
		free(re);
		return -1;
	}
	*out = re;
	return 0;
}

bool goregex_search(const struct goregex *re, const char *s)
{
	return regexec(&re->re, s, 0, NULL, 0) == 0;
}

void goregex_free(struct goregex *re)
{
	if (!re)
		return;
	regfree(&re->re);
	free(re);
}

/* --- filters ------------------------------------------------------------- */

enum level { LEVEL_WARNING, LEVEL_NORMAL };

struct relist {
	struct goregex *re[MAX_PATTERNS];
	size_t n;
};

struct strlist {
	char *mem;
	const char *item[MAX_LIST];
	size_t n;
	bool set;
};

struct filter {
	enum level level;
	bool ns_from_event;
	struct strlist namespaces, kinds, exclude_namespaces;
	struct relist reasons, messages, names, exclude_reasons, exclude_messages;
};

static int split_list(const char *param, const char *v, struct strlist *l, char *err, size_t errlen)
{
	if (!v || !*v)
		return 0; /* absent or empty: no filter */
	l->set = true;
	l->mem = xstrdup(v);
	for (char *p = l->mem; *p;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		char *s = p, *e = p + strlen(p);
		while (*s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			*--e = '\0';
		if (*s) {
			if (l->n == MAX_LIST) {
				snprintf(err, errlen, "%s: more than %d entries", param, MAX_LIST);
				return -1;
			}
			l->item[l->n++] = s;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static bool in_list(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->item[i], s) == 0)
			return true;
	return false;
}

/* Split "a,b{1,2},[x,y]" at commas outside {} [] (). */
static int add_patterns(const char *param, const char *v, struct relist *rl, char *err, size_t errlen)
{
	const char *start = v;
	int brace = 0, bracket = 0, paren = 0;
	for (const char *p = v;; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (bracket) {
			if (*p == ']' && p > start && p[-1] != '[' && !(p[-1] == '^' && p[-2] == '['))
				bracket = 0;
			if (*p)
				continue;
		}
		if (*p == '[')
			bracket = 1;
		else if (*p == '{')
			brace++;
		else if (*p == '}' && brace)
			brace--;
		else if (*p == '(')
			paren++;
		else if (*p == ')' && paren)
			paren--;
		if (*p && (*p != ',' || brace || bracket || paren))
			continue;
		size_t n = (size_t)(p - start);
		if (n) {
			if (rl->n == MAX_PATTERNS) {
				snprintf(err, errlen, "%s: more than %d patterns", param, MAX_PATTERNS);
				return -1;
			}
			char *pat = xstrndup(start, n);
			char e[200];
			if (goregex_compile(pat, &rl->re[rl->n], e, sizeof e) < 0) {
				snprintf(err, errlen, "%s: pattern \"%s\": %s", param, pat, e);
				free(pat);
				return -1;
			}
			free(pat);
			rl->n++;
		}
		if (!*p)
			break;
		start = p + 1;
	}
	return 0;
}

static int add_all(const char *param, const char *const *v, size_t n, struct relist *rl, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (add_patterns(param, v[i], rl, err, errlen) < 0)
			return -1;
	return 0;
}

static bool any(const struct relist *rl, const char *s)
{
	for (size_t i = 0; i < rl->n; i++)
		if (goregex_search(rl->re[i], s))
			return true;
	return false;
}

int filter_compile(const struct filter_opts *o, struct filter **out, char *err, size_t errlen)
{
	struct filter *f = xcalloc(1, sizeof *f);
	*out = NULL;
	if (!o->level || strcmp(o->level, "Warning") == 0) {
		f->level = LEVEL_WARNING;
	} else if (strcmp(o->level, "Normal") == 0) {
		f->level = LEVEL_NORMAL;
	} else {
		snprintf(err, errlen, "level: must be Warning or Normal (case matters), got \"%s\"", o->level);
		goto fail;
	}
	f->ns_from_event = o->ns_from_event;
	if (split_list("namespaces", o->namespaces, &f->namespaces, err, errlen) < 0 ||
	    split_list("kinds", o->kinds, &f->kinds, err, errlen) < 0 ||
	    split_list("exclude_namespaces", o->exclude_namespaces, &f->exclude_namespaces, err, errlen) < 0 ||
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

bool filter_match(const struct filter *f, const struct event *ev)
{
	if (strcmp(ev->type, "Warning") != 0 && !(f->level == LEVEL_NORMAL && strcmp(ev->type, "Normal") == 0))
		return false;
	const char *ns = f->ns_from_event ? ev->namespace : ev->involved.namespace;
	/* a namespaces filter never passes cluster-scoped events (kube-eventer) */
	if (f->namespaces.set && (!ns[0] || !in_list(&f->namespaces, ns)))
		return false;
	if (f->exclude_namespaces.set && ns[0] && in_list(&f->exclude_namespaces, ns))
		return false;
	if (f->kinds.set && (!ev->involved.kind[0] || !in_list(&f->kinds, ev->involved.kind)))
		return false;
	if (f->reasons.n && !any(&f->reasons, ev->reason))
		return false;
	if (f->messages.n && !any(&f->messages, ev->message))
		return false;
	if (f->names.n && !any(&f->names, ev->involved.name))
		return false;
	if (f->exclude_reasons.n && any(&f->exclude_reasons, ev->reason))
		return false;
	if (f->exclude_messages.n && any(&f->exclude_messages, ev->message))
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
