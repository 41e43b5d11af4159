/*
 * filter.h -- per-sink event filters, compiled once at start-up.
 *
 * kube-eventer's parameters, ANDed: level, namespaces, kinds, reason; plus
 * extensions users asked for: message, name (regexes), exclude_reason,
 * exclude_message (regexes) and exclude_namespaces (list).
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

struct filter_opts {                 /* strings borrowed; NULL = parameter absent */
	const char *level;               /* NULL -> "Warning" */
	const char *namespaces, *kinds;  /* comma lists, exact match */
	const char *const *reasons;      /* repeatable, each may hold comma-separated patterns */
	size_t nreasons;
	bool ns_from_event;              /* match the Event's own namespace (dingtalk, wechat) */
	const char *const *messages;
	size_t nmessages;
	const char *const *names;        /* involvedObject.name */
	size_t nnames;
	const char *const *exclude_reasons;
	size_t nexclude_reasons;
	const char *const *exclude_messages;
	size_t nexclude_messages;
	const char *exclude_namespaces;  /* comma list */
};

struct filter;

/* 0, or -1 with err naming the parameter and the problem. */
int filter_compile(const struct filter_opts *o, struct filter **out, char *err, size_t errlen);
bool filter_match(const struct filter *f, const struct event *ev);
void filter_free(struct filter *f);

/*
 * A Go regexp compiled for POSIX ERE. Translation: a leading (?i) or (?s)
 * flag group; `.` never matches "\n" (Go's default); \d \w \s and their
 * negations (ASCII, as Go) inside and outside brackets; bracket expressions
 * re-emitted in POSIX form; escapes \n \t \r \f \v \a \xHH \x{HHHH} and
 * escaped punctuation as literals; (?: as a plain group; \A and \z as ^ $;
 * \Q...\E quoted; lazy quantifiers as greedy (same yes/no answer); invalid
 * repetitions Go reads literally (a{, x{,3}) escaped. Rejected: Unicode
 * classes (\p \P), backreferences, \C, other flags, mid-pattern flag
 * groups, and everything ERE or Go itself refuses.
 */
struct goregex;
int goregex_compile(const char *pattern, struct goregex **out, char *err, size_t errlen);
/* Unanchored search, like Go's MatchString. */
bool goregex_search(const struct goregex *re, const char *s);
void goregex_free(struct goregex *re);
/* The ERE a pattern translates to (for tests), or NULL with err. Caller frees. */
char *goregex_translate(const char *pattern, int *cflags, char *err, size_t errlen);

#endif
