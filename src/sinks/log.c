/*
 * log.c -- `log:` (stderr) and `stdout:` sinks: one line per event, for
 * debugging and CI pipelines. format=text (default) or format=json.
 *
 *   2024-03-05T07:08:09Z Warning BackOff Pod default/web-1 x3: Back-off restarting ...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sink.h"
#include "util.h"

struct logsink {
	FILE *out;
	bool json;
};

static int create(struct sink *s, struct uri *u, FILE *out, char *err, size_t errlen)
{
	struct logsink *l = xcalloc(1, sizeof *l);
	const char *f = uri_get(u, "format");
	s->impl = l;
	l->out = out;
	if (f && strcmp(f, "json") == 0) {
		l->json = true;
	} else if (f && strcmp(f, "text") != 0) {
		snprintf(err, errlen, "format: must be text or json, got \"%s\"", f);
		return -1;
	}
	s->cfg.repeat_interval_s = uri_get(u, "repeat_interval") ? s->cfg.repeat_interval_s : 0;
	s->cfg.concurrency = 1; /* lines in order */
	return 0;
}

static int create_stderr(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	return create(s, u, stderr, err, errlen);
}

static int create_stdout(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	return create(s, u, stdout, err, errlen);
}

static void rfc3339(struct buf *b, struct ktime t)
{
	char ts[32];
	struct tm tm;
	time_t sec = (time_t)t.sec;
	gmtime_r(&sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_puts(b, ts);
}

/* Text with line breaks folded, so that one event stays one line. */
static void one_line(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_putc(b, *s == '\n' || *s == '\r' ? ' ' : *s);
}

static int render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	struct logsink *l = s->impl;
	const char *ns = ev->involved.namespace[0] ? ev->involved.namespace : ev->namespace;
	(void)err;
	(void)errlen;
	if (l->json) {
		buf_puts(out, "{\"time\":\"");
		rfc3339(out, ev->eff_time);
		buf_puts(out, "\",\"type\":");
		buf_json_string(out, ev->type);
		buf_puts(out, ",\"reason\":");
		buf_json_string(out, ev->reason);
		buf_puts(out, ",\"kind\":");
		buf_json_string(out, ev->involved.kind);
		buf_puts(out, ",\"namespace\":");
		buf_json_string(out, ns);
		buf_puts(out, ",\"name\":");
		buf_json_string(out, ev->involved.name);
		buf_printf(out, ",\"count\":%d,\"message\":", ev->eff_count);
		buf_json_string(out, ev->message);
		buf_puts(out, ",\"uid\":");
		buf_json_string(out, ev->uid);
		return buf_puts(out, "}\n") < 0 ? -1 : 0;
	}
	rfc3339(out, ev->eff_time);
	buf_printf(out, " %s %s %s %s%s%s x%d: ", ev->type[0] ? ev->type : "-", ev->reason, ev->involved.kind,
	           ns, ns[0] ? "/" : "", ev->involved.name, ev->eff_count);
	one_line(out, ev->message);
	return buf_putc(out, '\n');
}

/* Writes synchronously: the whole batch (one line) is settled inside send. */
static int send_line(struct sink *s, struct sink_batch *b, char *err, size_t errlen)
{
	struct logsink *l = s->impl;
	const struct msg *m = b->items[0];
	(void)err;
	(void)errlen;
	bool ok = fwrite(m->body, 1, m->len, l->out) == m->len && fflush(l->out) == 0;
	sink_batch_done(s, b, ok ? DELIVERY_OK : DELIVERY_DROP, "write failed", -1);
	return SINK_SENT;
}

static const struct sink_transport line_transport = { .send = send_line };

static void destroy(struct sink *s)
{
	free(s->impl);
}

const struct sink_type sink_log = {
	.name = "log",
	.create = create_stderr,
	.render = render,
	.transport = &line_transport,
	.destroy = destroy,
};

const struct sink_type sink_stdout = {
	.name = "stdout",
	.create = create_stdout,
	.render = render,
	.transport = &line_transport,
	.destroy = destroy,
};
