/* robot.c -- the message layout and reply handling shared by chat-robot sinks. */
#include "sinks/robot.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm.h"
#include "gotime.h"
#include "log.h"
#include "tmpl.h"
#include "util.h"

static void on_content_cm(void *ctx, const char *value, const char *why)
{
	struct sink *s = ctx;
	struct robot *r = s->impl; /* every robot sink's impl begins with its struct robot */
	char err[256];
	if (!value) {
		log_error("sink %s: ConfigMap %s/%s: %s; using %s", s->name, r->cm_ns, r->cm_name, why,
		          r->content ? "the current template" : "the default message");
		return;
	}
	struct tmpl *t = tmpl_compile(value, strlen(value), TMPL_TEXT, err, sizeof err);
	if (!t) {
		log_error("sink %s: ConfigMap %s/%s: invalid template, keeping the previous one: %s", s->name,
		          r->cm_ns, r->cm_name, err);
		return;
	}
	tmpl_free(r->content);
	r->content = t;
	log_info("sink %s: using the message template from ConfigMap %s/%s", s->name, r->cm_ns, r->cm_name);
}

int robot_parse(struct robot *r, struct sink *s, struct uri *u, char *err, size_t errlen)
{
	const char *labels[ROBOT_MAX_LABELS + 1];
	size_t n = uri_get_all(u, "label", labels, ROBOT_MAX_LABELS + 1);
	(void)s;
	if (n > ROBOT_MAX_LABELS) {
		snprintf(err, errlen, "label: at most %d labels", ROBOT_MAX_LABELS);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		r->label_mem[i] = xstrdup(labels[i]);
		r->labels[i] = r->label_mem[i];
	}
	r->nlabels = n;
	const char *mt = uri_get(u, "msg_type");
	if (mt && strcmp(mt, "markdown") == 0) {
		r->markdown = true;
	} else if (mt && *mt && strcmp(mt, "text") != 0) {
		snprintf(err, errlen, "msg_type: must be text or markdown, got \"%s\"", mt);
		return -1;
	}
	const char *base = uri_get(u, "api_base");
	if (base && *base) {
		if (!str_starts(base, "http://") && !str_starts(base, "https://")) {
			snprintf(err, errlen, "api_base: must start with http:// or https://");
			return -1;
		}
		r->api_base = xstrdup(base);
		size_t l = strlen(r->api_base);
		while (l && r->api_base[l - 1] == '/')
			r->api_base[--l] = '\0';
	}
	const char *file = uri_get(u, "template_file");
	const char *cm = uri_get(u, "custom_body_configmap");
	const char *cmns = uri_get(u, "custom_body_configmap_namespace");
	if (file && cm && *cm) {
		snprintf(err, errlen, "template_file and custom_body_configmap cannot both be set");
		return -1;
	}
	if (file) {
		size_t len;
		char terr[256];
		char *src = read_file(file, 1 << 20, &len);
		if (!src) {
			snprintf(err, errlen, "template_file: cannot read %s: %m", file);
			return -1;
		}
		r->content = tmpl_compile(src, len, TMPL_TEXT, terr, sizeof terr);
		free(src);
		if (!r->content) {
			snprintf(err, errlen, "template_file: %s:%s", file, terr);
			return -1;
		}
	}
	if (cm && *cm) {
		r->cm_name = xstrdup(cm);
		r->cm_ns = xstrdup(cmns && *cmns ? cmns : "default");
	}
	return 0;
}

void robot_start(struct robot *r, struct sink *s)
{
	if (r->cm_name && cm_subscribe(r->cm_ns, r->cm_name, "content", on_content_cm, s) < 0)
		log_error(
		    "sink %s: custom_body_configmap needs the kubernetes source; using the default message",
		    s->name);
}

void robot_free(struct robot *r)
{
	for (size_t i = 0; i < r->nlabels; i++)
		free(r->label_mem[i]);
	tmpl_free(r->content);
	free(r->cm_ns);
	free(r->cm_name);
	free(r->api_base);
}

void utf8_truncate(struct buf *out, const char *s, size_t len, size_t max)
{
	if (len <= max) {
		buf_append(out, s, len);
		return;
	}
	static const char ell[] = "\xe2\x80\xa6"; /* U+2026 */
	size_t keep = max > 3 ? max - 3 : 0;
	while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80)
		keep--; /* never split a multi-byte character */
	buf_append(out, s, keep);
	if (max >= 3)
		buf_puts(out, ell);
}

static struct ktime wall_now(void)
{
	int64_t ms = now_wall_ms();
	return (struct ktime){ ms / 1000, (int32_t)(ms % 1000) * 1000000 };
}

static void default_text(struct robot *r, const struct event *ev, enum robot_time tf, struct buf *b)
{
	struct ktime t = event_last_time(ev, wall_now());
	for (size_t i = r->nlabels; i-- > 0;)
		buf_printf(b, "%s\n", r->labels[i]);
	buf_printf(b, "Level:%s \nKind:%s \nNamespace:%s \nName:%s \nReason:%s \nTimestamp:", ev->type,
	           ev->involved.kind, ev->namespace, ev->name, ev->reason);
	if (tf == ROBOT_TIME_LAYOUT)
		gotime_format(b, t, false, "2006-01-02 15:04:05");
	else
		gotime_string(b, t, false);
	buf_printf(b, " \nMessage:%s", ev->message);
}

static void default_markdown(struct robot *r, const struct event *ev, struct buf *b)
{
	struct ktime t = event_last_time(ev, wall_now());
	for (size_t i = 0; i < r->nlabels; i++)
		buf_printf(b, "label[%zu]:**%s**\n\n", i, r->labels[i]);
	buf_printf(
	    b, "Level:**%s** \n\nKind:**%s** \n\nNamespace:%s \n\nName:%s \n\nReason:**%s** \n\nTimestamp:**",
	    ev->type, ev->involved.kind, ev->namespace, ev->name, ev->reason);
	gotime_string(b, t, false);
	buf_printf(b, "** \n\nMessage:**%s**", ev->message);
}

int robot_content(struct robot *r, const struct event *ev, enum robot_time tf, struct buf *out, char *err,
                  size_t errlen)
{
	struct buf full = BUF_INIT(1 << 20);
	int rc = 0;
	if (r->content)
		rc = tmpl_render(r->content, ev, wall_now(), &full, err, errlen);
	else if (r->markdown)
		default_markdown(r, ev, &full);
	else
		default_text(r, ev, tf, &full);
	if (rc == 0)
		utf8_truncate(out, buf_str(&full), full.len, r->max_content ? r->max_content : full.len);
	buf_free(&full);
	return rc;
}

static bool in_list(int c, const int *list)
{
	for (; list && *list; list++)
		if (*list == c)
			return true;
	return false;
}

enum delivery robot_classify(const struct http_response *r, const int *too_fast, int64_t too_fast_ms,
                             const int *token_codes, bool *token_expired, char *why, size_t n,
                             int64_t *retry_after_ms)
{
	enum delivery d;
	*token_expired = false;
	if (sink_http_failed(r, &d, why, n))
		return d;
	cJSON *root = cJSON_ParseWithLength(r->body, r->body_len);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "errcode");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "errmsg");
	d = DELIVERY_OK;
	if (!cJSON_IsNumber(code)) {
		snprintf(why, n, "unexpected reply: %.100s", r->body);
		d = DELIVERY_DROP;
	} else if (code->valueint != 0) {
		int c = code->valueint;
		snprintf(why, n, "errcode %d: %.120s", c, cJSON_IsString(msg) ? msg->valuestring : "");
		if (in_list(c, too_fast)) {
			d = DELIVERY_RETRY;
			if (*retry_after_ms < 0)
				*retry_after_ms = too_fast_ms;
		} else if (in_list(c, token_codes)) {
			*token_expired = true;
			d = DELIVERY_RETRY;
			*retry_after_ms = 0;
		} else if (c == -1) {
			d = DELIVERY_RETRY; /* "system busy" */
		} else {
			d = DELIVERY_DROP;
		}
	}
	cJSON_Delete(root);
	return d;
}
