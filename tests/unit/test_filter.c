/*
 * Unit tests for filter.c.
 *
 * Expected results are Go's regexp semantics (RE2 syntax, golang.org/s/re2syntax
 * and the regexp/syntax package docs), reasoned case by case:
 * - MatchString is an unanchored search; ^ and $ (and \A \z) are the start
 *   and end of the text unless (?m); `$` does not match before a final "\n".
 * - `.` is any character but "\n" unless (?s); a negated class [^x] matches
 *   "\n"; a character is a rune, an invalid UTF-8 byte is one U+FFFD rune.
 * - \d \w \s and [[:name:]] are ASCII: \s is [\t\n\f\r ] (no \v) while
 *   [[:space:]] has \v; (?i) uses Unicode simple folding, in which k, K and
 *   U+212A (Kelvin) are one class, as are s, S and U+017F (long s).
 * - Greedy and lazy repetitions accept the same strings; a { that does not
 *   start a valid {n}, {n,} or {n,m} (no leading zeros) is a literal; counts
 *   above 1000 and nested counts whose product passes 1000 are errors.
 * - Inside brackets a backslash escapes (\] \- \\ \^ \n), `]` first and `-`
 *   first or last are literal.
 */
#include <locale.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "event.h"
#include "filter.h"
#include "test.h"
#include "util.h"

struct rc {
	const char *pattern, *input;
	bool match;
};

static const struct rc cases[] = {
	/* the seed's own filter: a negated class, i.e. "has a character outside
	 * {U,n,h,e,a,l,t,y}", not "is not Unhealthy" */
	{ "[^Unhealthy]", "Unhealthy", false },
	{ "[^Unhealthy]", "BackOff", true },
	{ "[^Unhealthy]", "", false },
	{ "[^Unhealthy]", "healthy", false },
	{ "[^Unhealthy]", "Unhealthy2", true },
	{ "[^Unhealthy]", "\n", true }, /* [^x] matches a newline */
	/* kube-eventer's documented example: S, t, r, U, p are outside {F,a,i,l,e,d,*} */
	{ "[^Failed*]", "FailedStartUp", true },
	{ "[^Failed*]", "Failed", false },
	/* unanchored search and anchors */
	{ "Back", "BackOff", true },
	{ "Off$", "BackOff", true },
	{ "^Off", "BackOff", false },
	{ "^BackOff$", "BackOff", true },
	{ "^BackOff$", "BackOff\n", false }, /* $ is end of text only */
	{ "Failed.*", "FailedMount", true },
	{ "Failed.+", "Failed", false },
	{ "\\Aab\\z", "ab", true },
	{ "\\Aab\\z", "xab", false },
	{ "a^b", "a^b", false }, /* ^ is always an anchor */
	{ "^$", "", true },
	/* alternation and groups */
	{ "BackOff|OOM", "SystemOOM", true },
	{ "^(BackOff|OOMKilling)$", "OOMKilling", true },
	{ "^(BackOff|OOMKilling)$", "OOMKillingX", false },
	{ "^(?:Back|Front)Off$", "FrontOff", true },
	{ "^(?P<r>Back)Off$", "BackOff", true },
	{ "a|", "b", true }, /* an empty alternative matches "" */
	{ "(|x)y", "y", true },
	{ "()", "", true },
	/* case */
	{ "(?i)backoff", "BackOff", true },
	{ "backoff", "BackOff", false },
	{ "(?i)^failed", "FAILEDMOUNT", true },
	{ "(?i:oom)", "OOM", true },
	{ "(?i)k", "\xe2\x84\xaa", true }, /* U+212A KELVIN SIGN folds to k */
	{ "(?i)s", "\xc5\xbf", true },     /* U+017F LATIN SMALL LETTER LONG S */
	{ "(?i)[^k]", "\xe2\x84\xaa", false },
	{ "(?i)[^k]", "K", false },
	{ "(?i)\\W", "\xe2\x84\xaa", false }, /* (?i)\w folds to include K */
	{ "\\w", "\xe2\x84\xaa", false },
	{ "(?i)[a-c]", "B", true },
	{ "(?i)\xc3\xa9", "\xc3\x89", true }, /* é / É */
	{ "(?i)a(?-i)1", "A1", true },        /* (?-i) before a digit changes nothing */
	/* Perl and POSIX classes are ASCII */
	{ "^\\d+$", "12345", true },
	{ "^\\d+$", "12a45", false },
	{ "\\d", "\xd9\xa3", false }, /* ARABIC-INDIC DIGIT THREE */
	{ "\\w+\\s\\w+", "a b", true },
	{ "\\w", "\xc3\xa9", false }, /* é is not an ASCII word character */
	{ "^\\W$", "_", false },
	{ "^\\W$", "\xc3\xa9", true },
	{ "^\\S+$", "a\tb", false },
	{ "\\s", "\v", false },        /* \s has no \v ... */
	{ "[[:space:]]", "\v", true }, /* ... [[:space:]] has */
	{ "^[\\d_]+$", "1_2", true },
	{ "^\\D+$", "abc", true },
	{ "^[\\D]$", "5", false },
	{ "[[:alpha:]]", "\xc3\xa9", false },
	{ "[[:^alpha:]]", "1", true },
	{ "[[:^alpha:]]", "a", false },
	{ "[[:word:]]", "_", true },
	/* dot and newlines */
	{ "a.b", "a\nb", false },
	{ "(?s)a.b", "a\nb", true },
	{ "a(?s:.)b.c", "a\nb\nc", false }, /* (?s:...) is scoped */
	{ "a(?s:.)b.c", "a\nbxc", true },
	{ "a[^x]b", "a\nb", true },
	{ "^a$", "a\n", false },
	/* escapes */
	{ "a\\.b", "a.b", true },
	{ "a\\.b", "axb", false },
	{ "\\(x\\)", "f(x)", true },
	{ "\\x41\\x{42}", "AB", true },
	{ "\\x{263A}", "\xe2\x98\xba", true },
	{ "\\x{0000041}", "A", true }, /* any number of hex digits */
	{ "\\101", "A", true },        /* octal */
	{ "\\t", "a\tb", true },
	{ "\\a", "\a", true },
	{ "\\_", "_", true },
	{ "\\<x\\>", "<x>", true }, /* \< is a literal '<' in Go, not GNU's word start */
	{ "\\Qa.b*\\E", "xa.b*y", true },
	{ "\\Qa.b*\\E", "aab", false },
	{ "\\Qab\\E+", "abbb", true }, /* a quantifier takes the last quoted char */
	{ "\\Q[x]", "[x]", true },     /* \Q without \E quotes to the end */
	{ "\\x00", "x", false },       /* text never holds NUL */
	{ "[^\\x00]", "x", true },
	/* bracket expressions in POSIX form */
	{ "[\\]]", "]", true },
	{ "[\\]]", "\\", false },
	{ "[]a]", "]", true },
	{ "[^]a]", "]", false },
	{ "[a\\-z]", "-", true },
	{ "[a\\-z]", "m", false },
	{ "[a-]", "-", true },
	{ "[a-z]", "m", true },
	{ "[\\\\]", "\\", true },
	{ "[\\^]", "^", true },
	{ "[\\^]", "x", false },
	{ "[^\\^]", "^", false },
	{ "[\\^\\-]", "-", true },
	{ "[\\[:]", ":", true },
	{ "[\\[:]", "[", true },
	{ "[[:digit:]]", "7", true },
	{ "[[:alpha:][:digit:]]", "-", false },
	{ "[\\n]", "\n", true },
	{ "[.]", "x", false },
	{ "[$]", "$", true },
	{ "[^\\x00-\\x{10FFFF}]", "x", false }, /* an empty class */
	/* repetition, lazy, and literal braces */
	{ "^a{2,3}$", "aaa", true },
	{ "^a{2,3}$", "aaaa", false },
	{ "^a{2}$", "aa", true },
	{ "^a{2,}$", "a", false },
	{ "a+?b", "aab", true },
	{ "a*?", "", true },
	{ "a{2,3}?", "aa", true },
	{ "x{,3}", "x{,3}", true },
	{ "x{,3}", "xxx", false },
	{ "a{", "a{", true },
	{ "{foo}", "{foo}", true },
	{ "a{01}", "a{01}", true }, /* no leading zeros: literal */
	{ "a}", "a}", true },
	{ "^a{300}$", "aaa", false }, /* above musl's RE_DUP_MAX of 255 */
	{ "^(ab){2,600}$", "ababab", true },
	{ "^(ab){2,600}$", "ab", false },
	{ "^(?:a{2}){500}$", "aa", false }, /* nested product 1000: allowed */
	{ "a*\\Q\\E*", "aaa", true },       /* \Q\E is a token: not a**, but (a*)* */
	/* repeated anchors, and optional anchored pieces (a musl engine defect) */
	{ "^*a", "ba", true }, /* ^ zero or more times: nothing */
	{ "$+", "x", true },
	{ "(^)?a", "ba", true },
	{ "(^|x)*a", "ba", true },
	{ "(a|^)*b", "cb", true },
	{ "(^|)a", "ba", true },
	{ "(x|^|)a", "ba", true },
	{ "(^a|b)*c", "xc", true },
	{ "(?:^|x)+a", "ba", false },
	{ "^$|^", "x", true },
	/* UTF-8: a character is a character */
	{ "^.{2}$", "\xe4\xb8\xad\xe6\x96\x87", true },
	{ "^.$", "\xe4\xb8\xad", true },
	{ "^[^a]$", "\xe4\xb8\xad", true },
	{ "\xe4\xb8\xad", "x\xe4\xb8\xad\xe6\x96\x87", true },
	{ "^.$", "\xff", true }, /* one invalid byte = one rune */
	{ "x", "\xffx", true },
	{ "^..$", "\xc3\xa9", false },   /* é is one rune */
	{ "^\\x{FFFD}$", "\xfe", true }, /* read as U+FFFD */
	/* empty pattern */
	{ "", "anything", true },
};

static void setup_locale(void)
{
	CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
}

static void go_semantics_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct goregex *re;
		char err[300];
		if (goregex_compile(cases[i].pattern, &re, err, sizeof err) < 0) {
			test_fail(__FILE__, __LINE__, "pattern %zu \"%s\" failed to compile: %s", i,
			          cases[i].pattern, err);
			return;
		}
		bool m = goregex_search(re, cases[i].input);
		goregex_free(re);
		if (m != cases[i].match) {
			test_fail(__FILE__, __LINE__, "pattern \"%s\" on \"%s\": got %s, Go says %s",
			          cases[i].pattern, cases[i].input, m ? "match" : "no match",
			          cases[i].match ? "match" : "no match");
			return;
		}
	}
}

/* Non-ASCII ranges: musl compares code points; glibc 2.36's C.UTF-8 refuses them in regcomp. */
#ifndef __GLIBC__
static void multibyte_ranges_on_musl(void)
{
	struct goregex *re;
	char err[200];
	CHECK_INT(goregex_compile("^[\xe4\xb8\x80-\xe9\xbe\xa5]+$", &re, err, sizeof err), 0); /* CJK block */
	CHECK(goregex_search(re, "\xe4\xb8\xad\xe6\x96\x87"));
	CHECK(!goregex_search(re, "abc"));
	goregex_free(re);
	CHECK_INT(goregex_compile("^[^\\x{100}-\\x{10FFFF}]$", &re, err, sizeof err), 0);
	CHECK(goregex_search(re, "\xc3\xa9")); /* U+00E9 */
	CHECK(!goregex_search(re, "\xe4\xb8\xad"));
	goregex_free(re);
}
#endif

static void rejected_with_reason(void)
{
	static const struct {
		const char *pattern, *why;
	} bad[] = {
		/* Go accepts these; ERE cannot run them faithfully */
		{ "\\pL", "Unicode classes (\\p) are not supported" },
		{ "\\p{Greek}", "Unicode classes (\\p)" },
		{ "\\PL", "Unicode classes (\\P)" },
		{ "[\\pL]", "Unicode classes (\\p)" },
		{ "\\bOOM\\b", "word boundaries (\\b) are not supported" },
		{ "a\\B", "word boundaries (\\B)" },
		{ "(?m)^a", "multi-line flag (?m)" },
		{ "a(?i)b", "(?i) must apply to the whole pattern" },
		{ "(?i:a)b", "(?i) must apply to the whole pattern" },
		{ "a(^|$)", "different anchors" },
		/* Go rejects these too */
		{ "\\C", "\\C (any byte)" },
		{ "(a)\\1", "backreferences (\\1)" },
		{ "(?=a)", "lookaround `(?=`" },
		{ "(?<!a)b", "lookaround `(?<!`" },
		{ "(?>a)", "atomic groups" },
		{ "a*+", "possessive" },
		{ "a**", "invalid nested repetition operator: `**`" },
		{ "a{2}{3}", "invalid nested repetition operator: `{2}{3}`" },
		{ "*a", "missing argument to repetition operator: `*`" },
		{ "{2}", "missing argument to repetition operator: `{2}`" },
		{ "(*a)", "missing argument" },
		{ "a|*", "missing argument" },
		{ "x{1001}", "invalid repeat count: `{1001}`" },
		{ "x{2,1}", "invalid repeat count: `{2,1}`" },
		{ "((a){2}){501}", "invalid repeat count: `{501}`" },
		/* Go accepts it; expanded it is 5000 positions for the engine */
		{ "(abcde){1000}", "too large once its counted repetitions are expanded" },
		{ "(a", "missing closing ): `(a`" },
		{ "a)", "unexpected ): `a)`" },
		{ "[a", "missing closing ]: `[a`" },
		{ "[]", "missing closing ]" },
		{ "[z-a]", "invalid character class range: `z-a`" },
		{ "[[:foo:]]", "invalid character class range: `[:foo:]`" },
		{ "[a-\\d]", "invalid escape sequence: `\\d`" },
		{ "\\q", "invalid escape sequence: `\\q`" },
		{ "\\xZZ", "invalid escape sequence: `\\xZZ`" },
		{ "\\x{110000}", "invalid escape sequence" },
		{ "\\8", "invalid escape sequence: `\\8`" },
		{ "\\Z", "invalid escape sequence: `\\Z`" },
		{ "[\\b]", "\\b inside a character class" },
		{ "ab\\", "trailing backslash" },
		{ "(?P<a b>x)", "invalid named capture" },
		{ "(?P<>x)", "invalid named capture" },
		{ "(?x)a", "invalid or unsupported Perl syntax: `(?x`" },
		{ "(?i-)a", "invalid or unsupported Perl syntax" },
		{ "a\xff", "invalid UTF-8" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct goregex *re = NULL;
		char err[300] = "";
		if (goregex_compile(bad[i].pattern, &re, err, sizeof err) == 0) {
			goregex_free(re);
			test_fail(__FILE__, __LINE__, "pattern \"%s\" should be rejected", bad[i].pattern);
			return;
		}
		if (re != NULL || !strstr(err, bad[i].why)) {
			test_fail(__FILE__, __LINE__, "pattern \"%s\": message \"%s\" lacks \"%s\"",
			          bad[i].pattern, err, bad[i].why);
			return;
		}
	}
}

static void too_long_or_too_deep(void)
{
	char *p = xmalloc(5000), err[200];
	struct goregex *re;
	memset(p, 'a', 4999);
	p[4999] = '\0';
	CHECK_INT(goregex_compile(p, &re, err, sizeof err), -1);
	CHECK(strstr(err, "longer than 4096 bytes") != NULL);
	memset(p, '(', 1001);
	p[1001] = '\0';
	CHECK_INT(goregex_compile(p, &re, err, sizeof err), -1);
	CHECK(strstr(err, "nests too deeply") != NULL);
	free(p);
}

/* The exact ERE for each translation rule: what POSIX gets to see. */
static void translation_is_posix(void)
{
	static const struct {
		const char *go, *ere;
		bool icase;
	} tr[] = {
		{ "a.b", "a[^\n]b", false },
		{ "(?s)a.b", "a.b", false },
		{ "\\d\\D", "[0-9][^0-9]", false },
		{ "\\w", "[0-9A-Z_a-z]", false },
		{ "\\s", "[\t\n\f\r ]", false },
		{ "[\\]\\-]", "[]-]", false },
		{ "[\\^a]", "[a^]", false },
		{ "[\\^\\-]", "[-^]", false },
		{ "[\\^]", "\\^", false },
		{ "[\\[\\]]", "[][]", false },
		{ "[\\\\]", "\\\\", false },
		{ "[^Unhealthy]", "[^Uaehlnty]", false },
		{ "[a-cb-e]", "[a-e]", false },
		{ "[[:digit:]x]", "[0-9x]", false },
		{ "(?:ab)", "(ab)", false },
		{ "(?P<n>ab)", "(ab)", false },
		{ "\\Qa.b\\E", "a\\.b", false },
		{ "\\Aa\\z", "^a$", false },
		{ "\\x41\\t\\x{4E2D}", "A\t\xe4\xb8\xad", false },
		{ "a*?b+?c??", "a*b+c?", false },
		{ "x{,3}", "x\\{,3}", false },
		{ "a{300}", "a{255}a{45}", false },
		{ "a{2,300}", "a{2}a{0,255}a{0,43}", false },
		{ "^*a", "a", false },
		{ "^+a", "^a", false },
		{ "(^)?a", "a", false },            /* matches only "": optional is nothing */
		{ "(^|x)*a", "(|(^|x))*a", false }, /* musl: an empty first alternative */
		{ "(x|^|)a", "(|x|^|)a", false },
		{ "\\x00", "(x^)", false },
		{ "(?i)ab", "ab", true },
		{ "(?i)k", "[Kk\xe2\x84\xaa]", true },
		{ "(?i)[^s]", "[^Ss\xc5\xbf]", true },
	};
	for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++) {
		int fl = 0;
		char err[200];
		char *s = goregex_translate(tr[i].go, &fl, err, sizeof err);
		if (!s || strcmp(s, tr[i].ere) != 0 || !!(fl & REG_ICASE) != tr[i].icase) {
			test_fail(__FILE__, __LINE__, "\"%s\" -> \"%s\" (icase %d), want \"%s\" (icase %d)",
			          tr[i].go, s ? s : err, !!(fl & REG_ICASE), tr[i].ere, tr[i].icase);
			free(s);
			return;
		}
		free(s);
	}
}

/* Matching does not depend on the process locale: the module runs in UTF-8. */
static void independent_of_process_locale(void)
{
	struct goregex *re;
	char err[200];
	CHECK(setlocale(LC_CTYPE, "C") != NULL);
	CHECK_INT(goregex_compile("^.{2}$", &re, err, sizeof err), 0);
	bool m = goregex_search(re, "\xe4\xb8\xad\xe6\x96\x87");
	goregex_free(re);
	CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
	CHECK(m);
}

/* --- filters ------------------------------------------------------------- */

static struct event ev(const char *type, const char *ns, const char *kind, const char *reason,
                       const char *msg)
{
	struct event e;
	memset(&e, 0, sizeof e);
	e.type = type;
	e.namespace = ns;
	e.involved.namespace = kind[0] == 'N' ? "" : ns; /* Nodes are cluster-scoped */
	e.involved.kind = kind;
	e.involved.name = "obj";
	e.reason = reason;
	e.message = msg;
	e.name = e.uid = e.resource_version = e.action = "";
	e.reporting_controller = e.reporting_instance = "";
	e.involved.uid = e.involved.api_version = e.involved.resource_version = e.involved.field_path = "";
	e.source.component = e.source.host = "";
	return e;
}

static bool match(const struct filter_opts *o, const struct event *e)
{
	struct filter *f;
	char err[300];
	if (filter_compile(o, &f, err, sizeof err) < 0)
		return false;
	bool m = filter_match(f, e);
	filter_free(f);
	return m;
}

static bool compile_error(const struct filter_opts *o, const char *want)
{
	struct filter *f = (struct filter *)1;
	char err[300] = "";
	if (filter_compile(o, &f, err, sizeof err) == 0) {
		filter_free(f);
		return false;
	}
	if (f != NULL || !strstr(err, want)) {
		fprintf(stderr, "# got \"%s\", want \"%s\"\n", err, want);
		return false;
	}
	return true;
}

static void levels(void)
{
	struct filter_opts o = { 0 };
	struct event w = ev("Warning", "a", "Pod", "BackOff", ""), n = ev("Normal", "a", "Pod", "Pulled", "");
	struct event x = ev("Custom", "a", "Pod", "X", ""), none = ev("", "a", "Pod", "X", "");
	CHECK(match(&o, &w)); /* default Warning */
	CHECK(!match(&o, &n));
	CHECK(!match(&o, &x));
	o.level = "Normal";
	CHECK(match(&o, &w) && match(&o, &n));
	CHECK(!match(&o, &x) && !match(&o, &none));
	o.level = "Warning";
	CHECK(match(&o, &w) && !match(&o, &n));
	o.level = "warning";
	CHECK(compile_error(&o,
	                    "level: must be Warning or Normal, got \"warning\" (did you mean \"Warning\"?)"));
	o.level = "warn";
	CHECK(compile_error(&o, "got \"warn\" (did you mean \"Warning\"?)"));
	o.level = "normal";
	CHECK(compile_error(&o, "(did you mean \"Normal\"?)"));
	o.level = "Error";
	CHECK(compile_error(&o, "level: must be Warning or Normal, got \"Error\""));
	o.level = "";
	CHECK(compile_error(&o, "got \"\""));
}

static void namespaces_kinds_and_cluster_scope(void)
{
	struct filter_opts o = { 0 };
	struct event pod = ev("Warning", "team-a", "Pod", "BackOff", "");
	struct event node = ev("Warning", "default", "Node", "NodeNotReady", "");
	o.namespaces = "team-b, team-a ";
	CHECK(match(&o, &pod));   /* items trimmed */
	CHECK(!match(&o, &node)); /* a namespaces filter never passes cluster-scoped events */
	o.namespaces = "team";
	CHECK(!match(&o, &pod)); /* exact, not prefix or regex */
	o.ns_from_event = true;  /* dingtalk/wechat: the Event's own namespace */
	o.namespaces = "team-a";
	CHECK(!match(&o, &node));
	o.namespaces = "default";
	CHECK(match(&o, &node));
	o.ns_from_event = false;
	o.namespaces = ""; /* empty value: no filter */
	CHECK(match(&o, &node) && match(&o, &pod));
	o.namespaces = " , ,"; /* nothing but separators: no filter either */
	CHECK(match(&o, &node) && match(&o, &pod));
	o.namespaces = NULL;
	o.kinds = "Node,Deployment";
	CHECK(match(&o, &node) && !match(&o, &pod));
	o.kinds = "pod"; /* exact spelling */
	CHECK(!match(&o, &pod));
	struct event nokind = ev("Warning", "a", "", "X", "");
	o.kinds = "Pod";
	CHECK(!match(&o, &nokind));
	o.kinds = NULL;
	o.exclude_namespaces = "team-a,kube-system";
	CHECK(!match(&o, &pod));
	CHECK(match(&o, &node)); /* cluster-scoped events are never excluded */
	o.ns_from_event = true;
	o.exclude_namespaces = "default";
	CHECK(!match(&o, &node) && match(&o, &pod));
}

static void reasons_ored_and_split(void)
{
	const char *r1[] = { "BackOff,OOM" };
	const char *r2[] = { "^a{1,2}$" };
	const char *r3[] = { "Failed", "^Evicted$" };
	const char *r4[] = { "^[a,b]$" };
	const char *r5[] = { "^(a,b|c)$" };
	const char *r6[] = { "^a\\,b$" };
	const char *r7[] = { "\\Qx,y\\E" };
	const char *r8[] = { ",,Evicted," };
	const char *r9[] = { "" };
	struct filter_opts o = { 0 };
	struct event e = ev("Warning", "a", "Pod", "SystemOOM", "");
	o.reasons = r1;
	o.nreasons = 1;
	CHECK(match(&o, &e));
	e.reason = "Evicted";
	CHECK(!match(&o, &e));
	o.reasons = r3;
	o.nreasons = 2; /* repeated reason= parameters are ORed */
	CHECK(match(&o, &e));
	e.reason = "NotEvicted";
	CHECK(!match(&o, &e));
	o.reasons = r2;
	o.nreasons = 1;
	e.reason = "aa";
	CHECK(match(&o, &e)); /* the comma inside {1,2} belongs to the pattern */
	e.reason = "aaa";
	CHECK(!match(&o, &e));
	o.reasons = r4; /* ... inside [] */
	e.reason = ",";
	CHECK(match(&o, &e));
	o.reasons = r5; /* ... inside () */
	e.reason = "a,b";
	CHECK(match(&o, &e));
	o.reasons = r6; /* ... escaped */
	CHECK(match(&o, &e));
	o.reasons = r7; /* ... quoted */
	e.reason = "x,y";
	CHECK(match(&o, &e));
	e.reason = "x";
	CHECK(!match(&o, &e));
	o.reasons = r8; /* empty pieces are skipped, not match-everything */
	CHECK(!match(&o, &e));
	e.reason = "Evicted";
	CHECK(match(&o, &e));
	o.reasons = r9; /* reason= with no value: no filter */
	e.reason = "Anything";
	CHECK(match(&o, &e));
	o.reasons = r1;
	e.reason = ""; /* kube-eventer: a set reason filter drops an empty reason */
	CHECK(!match(&o, &e));
}

static void seed_filter_in_a_sink(void)
{
	const char *r[] = { "[^Unhealthy]" };
	struct filter_opts o = { 0 };
	o.reasons = r;
	o.nreasons = 1;
	o.level = "Normal";
	struct event a = ev("Warning", "a", "Pod", "Unhealthy", "Readiness probe failed");
	struct event b = ev("Normal", "a", "Pod", "BackOff", "");
	CHECK(!match(&o, &a));
	CHECK(match(&o, &b));
}

static void errors_name_the_parameter(void)
{
	const char *bad[] = { "ok,\\pL" };
	const char *badre[] = { "(" };
	struct filter_opts o = { 0 };
	o.reasons = bad;
	o.nreasons = 1;
	CHECK(compile_error(&o, "reason: pattern \"\\pL\": Unicode classes (\\p) are not supported"));
	memset(&o, 0, sizeof o);
	o.messages = badre;
	o.nmessages = 1;
	CHECK(compile_error(&o, "message: pattern \"(\": missing closing )"));
	memset(&o, 0, sizeof o);
	o.names = badre;
	o.nnames = 1;
	CHECK(compile_error(&o, "name: pattern \"(\""));
	memset(&o, 0, sizeof o);
	o.exclude_reasons = badre;
	o.nexclude_reasons = 1;
	CHECK(compile_error(&o, "exclude_reason: pattern \"(\""));
	memset(&o, 0, sizeof o);
	o.exclude_messages = badre;
	o.nexclude_messages = 1;
	CHECK(compile_error(&o, "exclude_message: pattern \"(\""));
}

static void too_many_patterns_or_names(void)
{
	struct buf b = BUF_INIT(1 << 20);
	const char *r[1];
	struct filter_opts o = { 0 };
	for (int i = 0; i < 65; i++)
		buf_printf(&b, "%sr%d", i ? "," : "", i);
	r[0] = buf_str(&b);
	o.reasons = r;
	o.nreasons = 1;
	CHECK(compile_error(&o, "reason: more than 64 patterns"));
	buf_reset(&b);
	for (int i = 0; i < 257; i++)
		buf_printf(&b, "%sns%d", i ? "," : "", i);
	memset(&o, 0, sizeof o);
	o.namespaces = buf_str(&b);
	CHECK(compile_error(&o, "namespaces: more than 256 entries"));
	buf_free(&b);
}

static void message_name_and_exclusions(void)
{
	const char *msg[] = { "(?i)image" };
	const char *xr[] = { "^Pulling$" };
	const char *nm[] = { "^web-", "^api-" };
	const char *xm[] = { "^$" };
	struct filter_opts o = { 0 };
	o.level = "Normal";
	o.messages = msg;
	o.nmessages = 1;
	o.exclude_reasons = xr;
	o.nexclude_reasons = 1;
	struct event a = ev("Normal", "a", "Pod", "Pulling", "Pulling image nginx");
	struct event b = ev("Warning", "a", "Pod", "Failed", "Failed to pull Image");
	CHECK(!match(&o, &a) && match(&o, &b));
	o.names = nm;
	o.nnames = 2;
	CHECK(!match(&o, &b)); /* involvedObject.name is "obj" */
	b.involved.name = "api-7d9f";
	CHECK(match(&o, &b)); /* name patterns are ORed */
	o.names = NULL;
	o.nnames = 0;
	o.messages = NULL;
	o.nmessages = 0;
	o.exclude_messages = xm;
	o.nexclude_messages = 1;
	b.message = "";
	CHECK(!match(&o, &b)); /* an exclusion is a plain search: ^$ drops empty messages */
	b.message = "x";
	CHECK(match(&o, &b));
	o.exclude_messages = NULL;
	o.nexclude_messages = 0;
	o.messages = msg;
	o.nmessages = 1;
	b.message = ""; /* an include filter never passes an empty field */
	CHECK(!match(&o, &b));
}

static void filter_free_null(void)
{
	filter_free(NULL);
	goregex_free(NULL);
	CHECK(true);
}

const struct test_case test_filter[] = {
	TEST(setup_locale),
	TEST(go_semantics_table),
#ifndef __GLIBC__
	TEST(multibyte_ranges_on_musl),
#endif
	TEST(rejected_with_reason),
	TEST(too_long_or_too_deep),
	TEST(translation_is_posix),
	TEST(independent_of_process_locale),
	TEST(levels),
	TEST(namespaces_kinds_and_cluster_scope),
	TEST(reasons_ored_and_split),
	TEST(seed_filter_in_a_sink),
	TEST(errors_name_the_parameter),
	TEST(too_many_patterns_or_names),
	TEST(message_name_and_exclusions),
	TEST(filter_free_null),
	TEST_END,
};
