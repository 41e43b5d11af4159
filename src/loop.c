/* loop.c -- epoll-based event loop with an intrusive timer min-heap. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util.h"

struct fdslot {
	loop_fd_cb cb; /* NULL: nothing is reported (unwatched or parked) */
	void *ctx;
	int armed; /* what is registered with epoll */
};

struct loop {
	int ep;
	struct fdslot *fds; /* indexed by fd */
	size_t nfds;
	struct loop_timer **heap;
	size_t nheap, capheap;
	int64_t now;
	bool stop;
};

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof *l);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0) {
		free(l);
		return NULL;
	}
	l->now = now_mono_ms();
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nheap; i++)
		l->heap[i]->idx = SIZE_MAX;
	close(l->ep);
	free(l->fds);
	free(l->heap);
	free(l);
}

int loop_fd(struct loop *l, int fd, int events, loop_fd_cb cb, void *ctx)
{
	if (fd < 0)
		return -1;
	if ((size_t)fd >= l->nfds) {
		size_t n = l->nfds ? l->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		l->fds = xrealloc(l->fds, n * sizeof *l->fds);
		memset(l->fds + l->nfds, 0, (n - l->nfds) * sizeof *l->fds);
		l->nfds = n;
	}
	struct fdslot *s = &l->fds[fd];
	if (events && events == s->armed)
		goto ok; /* registered as wanted already (a parked fd taken up again) */
	if (!events && !s->armed) {
		memset(s, 0, sizeof *s);
		return 0;
	}
	struct epoll_event ev = { 0 };
	ev.data.fd = fd;
	ev.events = (events & LOOP_READ ? EPOLLIN : 0) | (events & LOOP_WRITE ? EPOLLOUT : 0);
	int op = !events ? EPOLL_CTL_DEL : s->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->ep, op, fd, &ev) < 0) {
		/* the fd may have been closed already: forget it either way */
		if (!events) {
			memset(s, 0, sizeof *s);
			return 0;
		}
		if (op == EPOLL_CTL_MOD && errno == ENOENT && epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) == 0)
			goto ok;
		return -1;
	}
ok:
	s->armed = events;
	s->cb = events ? cb : NULL;
	s->ctx = events ? ctx : NULL;
	return 0;
}

void loop_fd_park(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds)
		return;
	struct fdslot *s = &l->fds[fd];
	s->cb = NULL;
	s->ctx = NULL;
}

/* --- timer heap ---------------------------------------------------------- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->idx = a;
	l->heap[b]->idx = b;
}

static void sift_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void sift_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t a = 2 * i + 1, b = a + 1, m = i;
		if (a < l->nheap && l->heap[a]->when < l->heap[m]->when)
			m = a;
		if (b < l->nheap && l->heap[b]->when < l->heap[m]->when)
			m = b;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *ctx)
{
	t->when = 0;
	t->cb = cb;
	t->ctx = ctx;
	t->idx = SIZE_MAX;
}

bool loop_timer_armed(const struct loop_timer *t)
{
	return t->idx != SIZE_MAX;
}

void loop_timer_disarm(struct loop *l, struct loop_timer *t)
{
	size_t i = t->idx;
	if (i == SIZE_MAX)
		return;
	t->idx = SIZE_MAX;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->idx = i;
	sift_down(l, i);
	sift_up(l, i);
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t delay_ms)
{
	loop_timer_disarm(l, t);
	if (delay_ms < 0)
		delay_ms = 0;
	t->when = now_mono_ms() + delay_ms;
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 16;
		l->heap = xrealloc(l->heap, l->capheap * sizeof *l->heap);
	}
	t->idx = l->nheap;
	l->heap[l->nheap++] = t;
	sift_up(l, t->idx);
}

int64_t loop_now(const struct loop *l)
{
	return l->now;
}

static void run_timers(struct loop *l)
{
	/* Only timers due at the start of this pass: a timer re-armed with 0
	 * delay from its own callback runs on the next iteration. */
	int64_t now = now_mono_ms();
	size_t budget = l->nheap;
	while (budget-- && l->nheap && l->heap[0]->when <= now) {
		struct loop_timer *t = l->heap[0];
		loop_timer_disarm(l, t);
		t->cb(l, t->ctx);
	}
}

int loop_once(struct loop *l, int64_t max_wait_ms)
{
	struct epoll_event evs[64];
	int64_t wait = max_wait_ms;

	l->now = now_mono_ms();
	if (l->nheap) {
		int64_t d = l->heap[0]->when - l->now;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	if (wait > 60000)
		wait = 60000;
	int n = epoll_wait(l->ep, evs, (int)ARRAY_LEN(evs), (int)wait);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -1;
	}
	l->now = now_mono_ms();
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if ((size_t)fd >= l->nfds)
			continue;
		if (!l->fds[fd].cb) {
			/* removed by an earlier callback in this batch, or parked: a
			 * parked fd that has something to say is unregistered now */
			if (l->fds[fd].armed)
				loop_fd(l, fd, 0, NULL, NULL);
			continue;
		}
		int e = 0;
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			e |= LOOP_READ;
		if (evs[i].events & (EPOLLOUT | EPOLLERR))
			e |= LOOP_WRITE;
		if (evs[i].events & (EPOLLHUP | EPOLLERR))
			e |= LOOP_ERROR;
		l->fds[fd].cb(l, fd, e, l->fds[fd].ctx);
	}
	run_timers(l);
	return 0;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop)
		if (loop_once(l, -1) < 0)
			return -1;
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
