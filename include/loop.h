/*
 * loop.h -- the single-threaded event loop (epoll + a timer heap).
 *
 * Everything runs here: libcurl's sockets (the watch and every sink
 * request), the health/metrics listener and its clients, the signal fd, and
 * timers. Callbacks run to completion; nothing blocks.
 *
 * Timers are intrusive: the owner embeds a struct loop_timer and arms or
 * disarms it, so arming never allocates and an owner can always cancel.
 */
#ifndef KE_LOOP_H
#define KE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_READ 1
#define LOOP_WRITE 2
#define LOOP_ERROR 4 /* reported with READ/WRITE on hang-up or error */

struct loop;
typedef void (*loop_fd_cb)(struct loop *l, int fd, int events, void *ctx);
typedef void (*loop_timer_cb)(struct loop *l, void *ctx);

struct loop_timer {
	int64_t when; /* monotonic ms */
	loop_timer_cb cb;
	void *ctx;
	size_t idx; /* position in the heap, SIZE_MAX when disarmed */
};

struct loop *loop_new(void);
/* Free the loop. Registered fds are not closed; armed timers are dropped. */
void loop_free(struct loop *l);

/*
 * Watch fd for events (LOOP_READ|LOOP_WRITE); 0 removes it. Re-registering
 * replaces the callback and interest. 0 or -1 (errno from epoll_ctl).
 * Call loop_fd(l, fd, 0, ...) before closing a watched or parked fd: the
 * loop skips epoll_ctl when an fd number is registered as wanted already.
 */
int loop_fd(struct loop *l, int fd, int events, loop_fd_cb cb, void *ctx);

/*
 * Stop reporting events for fd but leave it registered with epoll, so that
 * watching it again with the same interest costs no system call (libcurl
 * drops and re-adds a keep-alive socket around every request). If the
 * parked fd becomes ready anyway, the loop unregisters it then.
 */
void loop_fd_park(struct loop *l, int fd);

void loop_timer_init(struct loop_timer *t, loop_timer_cb cb, void *ctx);
/* Arm (or re-arm) t to fire once after delay_ms (>= 0). */
void loop_timer_arm(struct loop *l, struct loop_timer *t, int64_t delay_ms);
void loop_timer_disarm(struct loop *l, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

/* Monotonic milliseconds, refreshed once per loop iteration. */
int64_t loop_now(const struct loop *l);

/* Run until loop_stop(). Returns 0, or -1 if epoll_wait fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Run one iteration, waiting at most max_wait_ms (tests and shutdown drains). */
int loop_once(struct loop *l, int64_t max_wait_ms);

#endif
