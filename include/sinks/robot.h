/*
 * robot.h -- what the chat-robot sinks (dingtalk, wechat) share: the
 * kube-eventer message layout, labels, custom content templates, UTF-8-safe
 * truncation and reply classification.
 */
#ifndef KE_SINKS_ROBOT_H
#define KE_SINKS_ROBOT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "sink.h"

struct tmpl;

#define ROBOT_MAX_LABELS 16

struct robot {
	const char *labels[ROBOT_MAX_LABELS]; /* label= values, borrowed from strdup'ed copies */
	char *label_mem[ROBOT_MAX_LABELS];
	size_t nlabels;
	struct tmpl *content;  /* custom content template, or NULL */
	char *cm_ns, *cm_name; /* custom_body_configmap for the content */
	char *api_base;        /* api_base= override (tests, private gateways) */
	bool markdown;
	size_t max_content; /* bytes */
};

/*
 * Parse label (repeatable), msg_type (text|markdown), template_file /
 * custom_body_configmap(+_namespace) and api_base. 0 or -1 with err.
 */
int robot_parse(struct robot *r, struct sink *s, struct uri *u, char *err, size_t errlen);
void robot_free(struct robot *r);
/* Subscribe the content ConfigMap if one is configured. */
void robot_start(struct robot *r, struct sink *s);

enum robot_time { ROBOT_TIME_LAYOUT, ROBOT_TIME_STRING };

/*
 * The message text: the custom template if set, else kube-eventer's
 *   <label>\n... Level:T \nKind:K \nNamespace:NS \nName:N \nReason:R \nTimestamp:TS \nMessage:M
 * (labels last-first, as upstream). Markdown uses upstream's markdown layout.
 * Truncated at a UTF-8 boundary (with an ellipsis) to r->max_content bytes.
 */
int robot_content(struct robot *r, const struct event *ev, enum robot_time tf, struct buf *out, char *err,
                  size_t errlen);

/*
 * Classify a robot reply: HTTP status and the JSON errcode. too_fast codes
 * retry after too_fast_ms; token codes set *token_expired; others drop.
 */
enum delivery robot_classify(const struct http_response *r, const int *too_fast, int64_t too_fast_ms,
                             const int *token_codes, bool *token_expired, char *why, size_t n,
                             int64_t *retry_after_ms);

/* DingTalk's signature: base64(HMAC-SHA256(secret, "<ms>\n<secret>")), not URL-escaped. */
void dingtalk_sign(const char *secret, long long ms, struct buf *out);

/* Copy at most max bytes of s into out, cutting at a UTF-8 boundary. */
void utf8_truncate(struct buf *out, const char *s, size_t len, size_t max);

#endif
