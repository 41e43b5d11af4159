/*
 * log.c -- `log:` (stderr) and `stdout:` sinks: one line per event, for
 * debugging and CI pipelines. format=text (default) or format=json.
 *
 *   2024-03-05T07:08:09Z Warning BackOff Pod default/web-1 x3: Back-off restarting ...
 *
 * A reader that stops reading (a stalled pipe, a paused terminal) must not
 * stall the loop: lines are written without blocking, and wait in the
 * sink's bounded queue like any sink's messages. A pipe or terminal is
 * reopened through /proc/self/fd with O_NONBLOCK of its own (setting it on
 * the inherited descriptor would change it for everyone sharing it); a
 * socket is written with MSG_DONTWAIT; a regular file never stalls and is
 * written as it is (reopening it would lose the shared offset).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "sink.h"
#include "util.h"

struct logsink {
	int target; /* 1 or 2 */
	int fd;     /* what we write to; -1 until start */
	bool own_fd, is_socket;
	bool json;
	struct sink *sink;
	struct sink_batch *busy; /* a line partly written, waiting for the fd */
	size_t off;
};

static int create(struct sink *s, struct uri *u, int target, char *err, size_t errlen)
{
	struct logsink *l = xcalloc(1, sizeof *l);
	const char *f = uri_get(u, "format");
	s->impl = l;
	l->target = target;
	l->fd = -1;
	l->sink = s;
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
	return create(s, u, 2, err, errlen);
}

static int create_stdout(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	return create(s, u, 1, err, errlen);
}

static void start(struct sink *s)
{
	struct logsink *l = s->impl;
	struct stat st;
	char path[32];
	l->fd = l->target;
	if (fstat(l->target, &st) < 0)
		return;
	l->is_socket = S_ISSOCK(st.st_mode);
	if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", l->target);
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd >= 0) {
			l->fd = fd;
			l->own_fd = true;
		}
	}
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

/*
 * Write what is left of the line in flight: 1 done, 0 the fd is full (wait
 * for it), -1 failed (errno).
 */
static int write_some(struct logsink *l)
{
	const struct msg *m = l->busy->items[0];
	while (l->off < m->len) {
		ssize_t w = l->is_socket
		                ? send(l->fd, m->body + l->off, m->len - l->off, MSG_DONTWAIT | MSG_NOSIGNAL)
		                : write(l->fd, m->body + l->off, m->len - l->off);
		if (w > 0)
			l->off += (size_t)w;
		else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		else if (w < 0 && errno == EINTR)
			continue;
		else
			return -1;
	}
	return 1;
}

static void finish_line(struct logsink *l, int r)
{
	struct sink_batch *b = l->busy;
	char why[96];
	l->busy = NULL;
	snprintf(why, sizeof why, "write failed: %s", r < 0 ? strerror(errno) : "");
	sink_batch_done(l->sink, b, r > 0 ? DELIVERY_OK : DELIVERY_DROP, why, -1);
}

static void on_writable(struct loop *lp, int fd, int events, void *ctx)
{
	struct logsink *l = ctx;
	(void)events;
	int r = write_some(l);
	if (r == 0)
		return;
	loop_fd(lp, fd, 0, NULL, NULL);
	finish_line(l, r);
}

/* One line per batch; written at once when the reader keeps up, else when the fd takes it. */
static int send_line(struct sink *s, struct sink_batch *b, char *err, size_t errlen)
{
	struct logsink *l = s->impl;
	(void)err;
	(void)errlen;
	l->busy = b;
	l->off = 0;
	int r = write_some(l);
	if (r == 0)
		loop_fd(s->loop, l->fd, LOOP_WRITE, on_writable, l);
	else
		finish_line(l, r);
	return SINK_SENT;
}

static void cancel_line(struct sink *s, struct sink_batch *b)
{
	struct logsink *l = s->impl;
	if (l->busy == b) {
		loop_fd(s->loop, l->fd, 0, NULL, NULL);
		l->busy = NULL;
	}
}

static const struct sink_transport line_transport = { .send = send_line, .cancel = cancel_line };

static void destroy(struct sink *s)
{
	struct logsink *l = s->impl;
	if (l && l->own_fd)
		close(l->fd);
	free(l);
}

const struct sink_type sink_log = {
	.name = "log",
	.create = create_stderr,
	.render = render,
	.transport = &line_transport,
	.start = start,
	.destroy = destroy,
};

const struct sink_type sink_stdout = {
	.name = "stdout",
	.create = create_stdout,
	.render = render,
	.transport = &line_transport,
	.start = start,
	.destroy = destroy,
};
