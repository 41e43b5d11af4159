/*
 * Unit tests for filter.c. Expected results follow Go's regexp (RE2) rules:
 * MatchString is an unanchored search; `.` does not match "\n"; \d \w \s are
 * ASCII; (?i) is case-insensitive; lazy and greedy agree on yes/no.
 */
#include <locale.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>

#include "event.h"
#include "filter.h"
#include "test.h"

struct rc {
	const char *pattern, *input;
	bool match;
};

static const struct rc cases[] = {
	/* the seed's filter: a negated class, not "not Unhealthy" */
	{ "[^Unhealthy]", "Unhealthy", false },
	{ "[^Unhealthy]", "BackOff", true },
	{ "[^Unhealthy]", "", false },
	{ "[^Unhealthy]", "healthy", false },
	{ "[^Unhealthy]", "Unhealthy2", true },
	/* kube-eventer's documented example */
	{ "[^Failed*]", "FailedStartUp", true },
	{ "[^Failed*]", "Failed", false },
	/* unanchored search */
	{ "Back", "BackOff", true },
	{ "Off$", "BackOff", true },
	{ "^Off", "BackOff", false },
	{ "^BackOff$", "BackOff", true },
	{ "Failed.*", "FailedMount", true },
	{ "Failed.+", "Failed", false },
	/* alternation and groups */
	{ "BackOff|OOM", "SystemOOM", true },
	{ "^(BackOff|OOMKilling)$", "OOMKilling", true },
	{ "^(?:Back|Front)Off$", "FrontOff", true },
	{ "^(?P<r>Back)Off$", "BackOff", true },
	/* case */
	{ "(?i)backoff", "BackOff", true },
	{ "backoff", "BackOff", false },
	{ "(?i)^failed", "FAILEDMOUNT", true },
	/* Perl classes, ASCII as Go */
	{ "^\\d+$", "12345", true },
	{ "^\\d+$", "12a45", false },
	{ "\\w+\\s\\w+", "a b", true },
	{ "^\\W$", "_", false },
	{ "^\\S+$", "a\tb", false },
	{ "^[\\d_]+$", "1_2", true },
	{ "^\\D+$", "abc", true },
	/* dot and newlines: Go's . never matches \n unless (?s) */
	{ "a.b", "a\nb", false },
	{ "(?s)a.b", "a\nb", true },
	{ "a[^x]b", "a\nb", true },
	{ "^a$", "a\n", false },
	/* escapes */
	{ "a\\.b", "a.b", true },
	{ "a\\.b", "axb", false },
	{ "\\(x\\)", "f(x)", true },
	{ "\\x41\\x{42}", "AB", true },
	{ "\\t", "a\tb", true },
	{ "\\Qa.b*\\E", "xa.b*y", true },
	{ "\\Qa.b*\\E", "aab", false },
	{ "\\Aab\\z", "ab", true },
	{ "\\Aab\\z", "xab", false },
	{ "\\101", "A", true },
	/* bracket expressions in POSIX form */
	{ "[\\]]", "]", true },
	{ "[\\]]", "\\", false },
	{ "[]a]", "]", true },
	{ "[a\\-z]", "-", true },
	{ "[a\\-z]", "m", false },
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
	/* repetition, lazy, and literal braces */
	{ "^a{2,3}$", "aaa", true },
	{ "^a{2,3}$", "aaaa", false },
	{ "^a{2}$", "aa", true },
	{ "a+?b", "aab", true },
	{ "a*?", "", true },
	{ "x{,3}", "x{,3}", true },
	{ "a{", "a{", true },
	{ "{foo}", "{foo}", true },
	{ "a}", "a}", true },
	/* word boundaries */
	{ "\\bOOM\\b", "Node OOM here", true },
	{ "\\bOOM\\b", "SystemOOMKill", false },
	/* UTF-8: one character is one character */
	{ "^.{2}$", "\xe4\xb8\xad\xe6\x96\x87", true },
	{ "^.$", "\xe4\xb8\xad", true },
	{ "\xe4\xb8\xad", "x\xe4\xb8\xad\xe6\x96\x87", true },
	/* empty alternatives, as Go allows */
	{ "a|", "b", true },
	{ "(|x)y", "y", true },
};

static void go_semantics_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct goregex *re;
		char err[200];
		if (goregex_compile(cases[i].pattern, &re, err, sizeof err) < 0) {
			test_fail(__FILE__, __LINE__, "pattern %zu \"%s\" failed to compile: %s", i, cases[i].pattern, err);
			return;
		}
		bool m = goregex_search(re, cases[i].input);
		goregex_free(re);
		if (m != cases[i].match) {
			test_fail(__FILE__, __LINE__, "pattern \"%s\" on \"%s\": got %s, Go says %s", cases[i].pattern,
				  cases[i].input, m ? "match" : "no match", cases[i].match ? "match" : "no match");
			return;
		}
	}
}

static void rejected_with_reason(void)
{
	static const struct {
		const char *pattern, *why;
	} bad[] = {
		{ "\\pL", "Unicode classes" },
		{ "\\p{Greek}", "Unicode classes" },
		{ "(a)\\1", "backreferences" },
		{ "\\C", "\\C" },
		{ "a(?i)b", "flag groups" },
		{ "(?m)^a", "flags" },
		{ "(?U)a", "flags" },
		{ "*a", "missing argument" },
		{ "a**", "nested repetition" },
		{ "(a", "missing closing )" },
		{ "a)", "unexpected )" },
		{ "[a", "missing closing ]" },
		{ "[z-a]", "range" },
		{ "\\q", "invalid escape" },
		{ "\\xZZ", "invalid escape" },
		{ "[\\pL]", "not supported" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct goregex *re = NULL;
		char err[200] = "";
		if (goregex_compile(bad[i].pattern, &re, err, sizeof err) == 0) {
			goregex_free(re);
			test_fail(__FILE__, __LINE__, "pattern \"%s\" should be rejected", bad[i].pattern);
			return;
		}
		if (!strstr(err, bad[i].why)) {
			test_fail(__FILE__, __LINE__, "pattern \"%s\": message \"%s\" lacks \"%s\"", bad[i].pattern, err,
				  bad[i].why);
			return;
		}
	}
}

static void translation_is_posix(void)
{
	int fl;
	char err[100];
	char *s = goregex_translate("a.b\\d[\\]\\-]", &fl, err, sizeof err);
	CHECK(s != NULL);
	CHECK_STR(s, "a[^\n]b[0-9][]-]");
	free(s);
	s = goregex_translate("(?i)x", &fl, err, sizeof err);
	CHECK(s && (fl & REG_ICASE));
	free(s);
}

#ifndef __GLIBC__
static void multibyte_ranges_on_musl(void)
{
	struct goregex *re;
	char err[100];
	CHECK_INT(goregex_compile("^[\xe4\xb8\x80-\xe9\xbe\xa5]+$", &re, err, sizeof err), 0); /* CJK block */
	CHECK(goregex_search(re, "\xe4\xb8\xad\xe6\x96\x87"));
	CHECK(!goregex_search(re, "abc"));
	goregex_free(re);
}
#endif

static struct event ev(const char *type, const char *ns, const char *kind, const char *reason, const char *msg)
{
	struct event e = { 0 };
	e.type = type;
	e.namespace = ns;
	e.involved.namespace = kind[0] == 'N' ? "" : ns; /* Nodes are cluster-scoped */
	e.involved.kind = kind;
	e.involved.name = "obj";
	e.reason = reason;
	e.message = msg;
	e.name = e.uid = e.resource_version = "";
	return e;
}

static bool match(const struct filter_opts *o, const struct event *e)
{
	struct filter *f;
	char err[200];
	if (filter_compile(o, &f, err, sizeof err) < 0)
		return false;
	bool m = filter_match(f, e);
	filter_free(f);
	return m;
}

static void levels(void)
{
	struct filter_opts o = { 0 };
	struct event w = ev("Warning", "a", "Pod", "BackOff", ""), n = ev("Normal", "a", "Pod", "Pulled", "");
	struct event x = ev("Custom", "a", "Pod", "X", "");
	CHECK(match(&o, &w));
	CHECK(!match(&o, &n));
	o.level = "Normal";
	CHECK(match(&o, &w) && match(&o, &n) && !match(&o, &x));
	o.level = "Warning";
	CHECK(!match(&o, &n));
	struct filter *f;
	char err[200];
	o.level = "warning";
	CHECK_INT(filter_compile(&o, &f, err, sizeof err), -1);
	CHECK(strstr(err, "level") && strstr(err, "Warning or Normal"));
}

static void namespaces_kinds_and_cluster_scope(void)
{
	struct filter_opts o = { 0 };
	struct event pod = ev("Warning", "team-a", "Pod", "BackOff", "");
	struct event node = ev("Warning", "default", "Node", "NodeNotReady", "");
	o.namespaces = "team-b, team-a";
	CHECK(match(&o, &pod));
	CHECK(!match(&o, &node)); /* a namespaces filter never passes cluster-scoped events */
	o.ns_from_event = true;   /* dingtalk/wechat: the Event's own namespace */
	CHECK(!match(&o, &node));
	o.namespaces = "default";
	CHECK(match(&o, &node));
	o.ns_from_event = false;
	o.namespaces = "";        /* empty value: no filter */
	CHECK(match(&o, &node));
	o.namespaces = NULL;
	o.kinds = "Node,Deployment";
	CHECK(match(&o, &node) && !match(&o, &pod));
	o.kinds = NULL;
	o.exclude_namespaces = "team-a";
	CHECK(!match(&o, &pod) && match(&o, &node));
}

static void reasons_ored_commas_kept_in_braces(void)
{
	const char *r1[] = { "BackOff,OOM" };
	const char *r2[] = { "^a{1,2}$" };
	const char *r3[] = { "Failed", "^Evicted$" };
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
	o.reasons = r2;
	o.nreasons = 1;
	e.reason = "aa";
	CHECK(match(&o, &e)); /* the comma inside {1,2} belongs to the pattern */
	e.reason = "aaa";
	CHECK(!match(&o, &e));
	struct filter *f;
	char err[200];
	const char *bad[] = { "ok,\\pL" };
	o.reasons = bad;
	CHECK_INT(filter_compile(&o, &f, err, sizeof err), -1);
	CHECK(strstr(err, "reason: pattern \"\\pL\"") != NULL);
}

static void message_name_and_exclusions(void)
{
	const char *msg[] = { "(?i)image" };
	const char *xr[] = { "^Pulling$" };
	const char *nm[] = { "^web-" };
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
	o.nnames = 1;
	CHECK(!match(&o, &b)); /* involvedObject.name is "obj" */
}

static void setup_locale(void)
{
	CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
}

const struct test_case test_filter[] = {
	TEST(setup_locale),
	TEST(go_semantics_table),
	TEST(rejected_with_reason),
	TEST(translation_is_posix),
#ifndef __GLIBC__
	TEST(multibyte_ranges_on_musl),
#endif
	TEST(levels),
	TEST(namespaces_kinds_and_cluster_scope),
	TEST(reasons_ored_commas_kept_in_braces),
	TEST(message_name_and_exclusions),
	TEST_END,
};
