/*
 * filter.h -- per-sink event filters, compiled once at start-up.
 *
 * kube-eventer's parameters, ANDed: level, namespaces, kinds, reason; plus
 * extensions users asked for: message and name (regexes), exclude_reason
 * and exclude_message (regexes), exclude_namespaces (list).
 *
 * Regexes have Go regexp (RE2) semantics as an unanchored search, run by
 * the C library's POSIX ERE engine: patterns are translated (see goregex_*)
 * and what ERE cannot express faithfully is rejected at start-up.
 */
#ifndef KE_FILTER_H
#define KE_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct event;

/* All strings borrowed (only during filter_compile); NULL = parameter absent. */
struct filter_opts {
	const char *level;              /* "Warning" (NULL) or "Normal" */
	bool all_types;                 /* level unset: every type passes (data sinks) */
	const char *namespaces, *kinds; /* comma lists, exact match */
	const char *const *reasons;     /* repeatable; each may hold comma-separated patterns */
	size_t nreasons;
	bool ns_from_event;          /* match the Event's own namespace (dingtalk, wechat) */
	const char *const *messages; /* message=RE, ORed */
	size_t nmessages;
	const char *const *names; /* name=RE on involvedObject.name, ORed */
	size_t nnames;
	const char *const *exclude_reasons;
	size_t nexclude_reasons;
	const char *const *exclude_messages;
	size_t nexclude_messages;
	const char *exclude_namespaces; /* comma list */
};

struct filter;

/*
 * Compile a sink's filters. Returns 0 with *out (free with filter_free), or
 * -1 with *out NULL and err naming the parameter and the problem, e.g.
 *   reason: pattern "\pL": Unicode classes (\p) are not supported
 *   level: must be Warning or Normal, got "warn" (did you mean "Warning"?)
 *
 * Rules (kube-eventer's unless marked as an extension):
 * - level: Warning passes Type Warning; Normal passes Normal and Warning;
 *   exact spelling. Other Types never pass.
 * - namespaces, kinds, exclude_namespaces: comma lists, exact match, items
 *   trimmed of spaces; an empty value (or only commas) means no filter. A
 *   set namespaces filter never passes a cluster-scoped event (empty
 *   namespace, e.g. Node events); exclude_namespaces never drops one.
 * - reason, message, name: patterns, ORed across commas and repeated
 *   parameters; a comma inside (), [], {} or \Q..\E, or escaped as "\,",
 *   belongs to the pattern; empty pieces ("a,,b") are skipped. A set
 *   include filter never passes an event whose field is empty.
 * - exclude_reason, exclude_message (extensions): an event whose field
 *   matches any of them is dropped (plain search: "^$" drops empty fields).
 */
int filter_compile(const struct filter_opts *o, struct filter **out, char *err, size_t errlen);

/* True when the event passes every filter. No allocation for valid UTF-8 text. */
bool filter_match(const struct filter *f, const struct event *ev);

/* Release a filter; NULL is fine. */
void filter_free(struct filter *f);

/*
 * A Go regexp run as a POSIX ERE, same yes/no answer as Go's MatchString.
 *
 * Supported: the whole RE2 syntax except what is listed below. Leading (or
 * consistently applied) (?i) becomes REG_ICASE, with Go's k/K/U+212A and
 * s/S/U+017F folds spelled out; (?s) and (?U) anywhere; `.` excludes "\n"
 * unless (?s) while [^x] includes it; ^ $ \A \z anchor the text; \d \w \s
 * and [[:alpha:]] etc. are ASCII as in Go, also negated and inside
 * brackets; bracket expressions are rebuilt in POSIX form; \n \t \r \f \v
 * \a \x41 \x{263A} \101 and escaped punctuation are literals; (?:re) and
 * (?P<name>re) / (?<name>re) are plain groups; \Q...\E quotes; lazy
 * quantifiers act as greedy (same answer); {n,m} up to 1000 (split for
 * RE_DUP_MAX 255); a { that starts no repetition is literal. Text that is
 * not valid UTF-8 is searched with each bad byte read as U+FFFD (Go's rule).
 *
 * Rejected with a message: Unicode classes \p \P, \b \B (no portable ERE
 * form), \C, backreferences, (?m), (?i) covering only part of a pattern,
 * lookarounds and atomic groups, alternatives that match "" under
 * different anchors inside a group (`a(^|$)`, a musl engine limit),
 * patterns over 4096 bytes or over 4096 characters to match once {n,m}
 * are expanded (the engine's memory grows with them), and everything Go
 * itself rejects.
 */
struct goregex;

/* 0 with *out (free with goregex_free), or -1 with *out NULL and err. */
int goregex_compile(const char *pattern, struct goregex **out, char *err, size_t errlen);

/* Unanchored search, like Go's MatchString. */
bool goregex_search(const struct goregex *re, const char *s);

/* Release a compiled pattern; NULL is fine. */
void goregex_free(struct goregex *re);

/*
 * The ERE a pattern translates to and its regcomp flags (tests, --check
 * diagnostics), or NULL with err. Caller frees. A pattern that matches
 * every string still gets a valid ERE (goregex_search short-cuts it).
 */
char *goregex_translate(const char *pattern, int *cflags, char *err, size_t errlen);

#endif
