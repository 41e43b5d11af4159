/* filesrc.c -- events from a file or stdin, read on the loop. */
#include "filesrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "util.h"

#define CHUNK (64 * 1024)

struct filesrc {
	int fd;
	bool polled; /* a pipe/tty in epoll; else read from a timer */
	bool paused; /* flow control */
	bool finished;
	struct loop *loop;
	struct loop_timer tick;
	struct jscan scan;
	struct seen *seen;
	watch_event_cb cb;
	void *ctx;
	watch_done_cb done;
	void *done_ctx;
	char *path;
	uint64_t events, errors;
	char buf[CHUNK];
};

static void emit(struct filesrc *f, struct event *ev)
{
	size_t slot;
	if (seen_observe(f->seen, ev, now_mono_ms() / 1000, &slot) == SEEN_SAME)
		return;
	f->events++;
	f->cb(f->ctx, ev, slot, SEEN_NEW);
}

static void on_value(void *ctx, enum jscan_kind kind, const char *p, size_t n)
{
	struct filesrc *f = ctx;
	char err[128];
	if (kind == JSCAN_META)
		return;
	if (kind == JSCAN_VALUE && memmem(p, n, "\"object\"", 8)) {
		struct watch_msg m;
		if (watch_msg_decode(p, n, &m, err, sizeof err) == 0) {
			if (m.type == WATCH_ADDED || m.type == WATCH_MODIFIED)
				emit(f, &m.ev);
			event_free(&m.ev);
			return;
		}
	}
	struct event ev;
	if (event_decode(p, n, &ev, err, sizeof err) < 0) {
		f->errors++;
		log_warn("%s: skipped a value (%zu bytes): %s", f->path, n, err);
		return;
	}
	emit(f, &ev);
	event_free(&ev);
}

struct filesrc *filesrc_new(const char *path, struct seen *seen, watch_event_cb cb, void *ctx, char *err,
                            size_t errlen)
{
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "--source: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	struct filesrc *f = xcalloc(1, sizeof *f);
	f->fd = fd;
	f->seen = seen;
	f->cb = cb;
	f->ctx = ctx;
	f->path = xstrdup(strcmp(path, "-") == 0 ? "stdin" : path);
	jscan_init(&f->scan, WATCH_MAX_LINE, on_value, f);
	return f;
}

static void finish(struct filesrc *f, bool ok, const char *err)
{
	f->finished = true;
	if (f->polled)
		loop_fd(f->loop, f->fd, 0, NULL, NULL);
	loop_timer_disarm(f->loop, &f->tick);
	if (f->scan.depth != 0 || f->scan.in_str)
		log_warn("%s: input ended inside a JSON value", f->path);
	f->done(f->done_ctx, ok, err);
}

/* Read one chunk. Returns 1 to continue, 0 at EOF, -1 on error. */
static int read_chunk(struct filesrc *f)
{
	ssize_t n = read(f->fd, f->buf, sizeof f->buf);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 1;
		return -1;
	}
	if (n == 0)
		return 0;
	jscan_feed(&f->scan, f->buf, (size_t)n);
	return 1;
}

static void on_readable(struct loop *l, int fd, int events, void *ctx)
{
	struct filesrc *f = ctx;
	(void)l;
	(void)fd;
	(void)events;
	int r = read_chunk(f);
	if (r <= 0)
		finish(f, r == 0, r < 0 ? strerror(errno) : NULL);
}

static void on_tick(struct loop *l, void *ctx)
{
	struct filesrc *f = ctx;
	int r = read_chunk(f);
	if (r <= 0) {
		finish(f, r == 0, r < 0 ? strerror(errno) : NULL);
		return;
	}
	if (!f->paused)
		loop_timer_arm(l, &f->tick, 0); /* the next slice after other work */
}

void filesrc_start(struct filesrc *f, struct loop *l, watch_done_cb done, void *done_ctx)
{
	f->loop = l;
	f->done = done;
	f->done_ctx = done_ctx;
	loop_timer_init(&f->tick, on_tick, f);
	int fl = fcntl(f->fd, F_GETFL);
	if (fl >= 0)
		fcntl(f->fd, F_SETFL, fl | O_NONBLOCK);
	if (loop_fd(l, f->fd, LOOP_READ, on_readable, f) == 0) {
		f->polled = true;
		return;
	}
	loop_timer_arm(l, &f->tick, 0); /* a regular file: epoll cannot watch it */
}

void filesrc_pause(struct filesrc *f, bool pause)
{
	if (f->paused == pause || f->finished || !f->loop)
		return;
	f->paused = pause;
	if (f->polled)
		loop_fd(f->loop, f->fd, pause ? 0 : LOOP_READ, on_readable, f);
	else if (!pause)
		loop_timer_arm(f->loop, &f->tick, 0);
}

void filesrc_free(struct filesrc *f)
{
	if (!f)
		return;
	if (f->loop) {
		if (f->polled)
			loop_fd(f->loop, f->fd, 0, NULL, NULL);
		loop_timer_disarm(f->loop, &f->tick);
	}
	close(f->fd);
	jscan_free(&f->scan);
	free(f->path);
	free(f);
}

void filesrc_counts(const struct filesrc *f, uint64_t *events, uint64_t *errors, uint64_t *oversized)
{
	*events = f->events;
	*errors = f->errors;
	*oversized = f->scan.oversized;
}
