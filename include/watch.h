/*
 * watch.h -- list/watch of core/v1 Events that never loses or repeats one.
 *
 *  1. LIST ?limit=1 for a resourceVersion (events older than start-up are
 *     not alerted, as kube-eventer).
 *  2. WATCH from it with bookmarks and a random 300..600 s timeoutSeconds;
 *     a normal end resumes from the last resourceVersion (no relist).
 *  3. 410 Gone/Expired (in-stream ERROR or HTTP 410): relist with
 *     pagination, then watch from the list's version. Listed events are
 *     compared with the seen table: a known uid at the same resourceVersion
 *     is a duplicate; an unknown one is delivered only if its last activity
 *     (max of creationTimestamp and the effective time) is not older than
 *     the moment the watch was last healthy (minus 2 min for clock skew and
 *     watch lag) -- so events created or changed while disconnected are
 *     delivered exactly once, and pre-start events never.
 *  4. No bytes for timeoutSeconds + 30 s: the connection is dead, reconnect.
 *  5. Errors: backoff 0.8 s doubling to 30 s with jitter, reset after 2 min
 *     healthy; Retry-After honoured; 401 refreshes credentials.
 * resourceVersion is opaque: stored and sent back, never compared.
 */
#ifndef KE_WATCH_H
#define KE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "seen.h"

struct loop;
struct http;
struct kube;
struct event;
struct watch;

struct watch_stats {
	uint64_t events;     /* delivered to the callback */
	uint64_t duplicates; /* same uid + resourceVersion seen again */
	uint64_t stale;      /* relisted, unknown, older than the watermark */
	uint64_t bookmarks;
	uint64_t reconnects;    /* watch requests after the first */
	uint64_t relists;       /* 410 recoveries */
	uint64_t decode_errors; /* malformed lines/items, skipped */
	uint64_t oversized;     /* lines/items over the size ceiling, skipped */
	uint64_t errors;        /* failed requests */
	int64_t last_event_wall_ms;
	int64_t last_ok_mono_ms; /* last successful response or streamed line */
	bool connected;          /* a watch stream is open */
	char last_error[200];
};

/* Called for every new or changed event; slot is its seen-table handle. */
typedef void (*watch_event_cb)(void *ctx, const struct event *ev, size_t slot, enum seen_result r);
/* One-shot listing finished (ok=false: it failed and err says why). */
typedef void (*watch_done_cb)(void *ctx, bool ok, const char *err);

struct watch *watch_new(struct loop *l, struct http *h, struct kube *k, struct seen *seen, watch_event_cb cb,
                        void *ctx);
void watch_free(struct watch *w);

/* Start the list/watch cycle. */
void watch_start(struct watch *w);
/*
 * Take over from a previous leader that delivered up to rv, as of
 * since_wall_s: watch from rv (no listing); on a 410, relist and deliver
 * what changed since then (minus a few seconds). rv "" = watch_start().
 */
void watch_start_from(struct watch *w, const char *rv, int64_t since_wall_s);
/* The resourceVersion the watch has reached ("" before the first answer). */
const char *watch_resource_version(const struct watch *w);
/* Stop: cancel requests and timers; no more callbacks. */
void watch_stop(struct watch *w);

/*
 * CI gate: list every current event once (all pages) and deliver those whose
 * last activity is at or after since_wall_s (INT64_MIN: all), then call done.
 */
void watch_list_once(struct watch *w, int64_t since_wall_s, watch_done_cb done);

/* Flow control: stop or restart reading the current list/watch response. */
void watch_pause(struct watch *w, bool pause);

const struct watch_stats *watch_get_stats(const struct watch *w);

/* Max line / item size; larger ones are skipped and counted. */
#define WATCH_MAX_LINE (1024 * 1024)

#endif
