/*
 * seen.h -- the bounded memory of recently seen events.
 *
 * One open-addressing table keyed by a 64-bit hash of metadata.uid serves
 * two purposes:
 *  - the source's exactly-once rule: an object already seen at the same
 *    resourceVersion is a duplicate (a replayed watch line, a relisted item);
 *  - each sink's repeat_interval: when, and at which count, that sink last
 *    alerted on the event, so a kubelet bumping `count` 111 times pages once
 *    per interval instead of 111 times.
 *
 * Per entry: 24 bytes + 8 per sink. The table grows by doubling up to a
 * ceiling; when full, an entry not touched for the longest time among a
 * small random sample is evicted (Kubernetes keeps events for an hour, so
 * entries idle for two hours are dropped first).
 */
#ifndef KE_SEEN_H
#define KE_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct seen;

enum seen_result {
	SEEN_NEW,     /* first sighting of this uid */
	SEEN_CHANGED, /* known uid, different resourceVersion */
	SEEN_SAME,    /* known uid at the same resourceVersion: a duplicate */
};

/* nsinks: per-sink slots; max_entries: ceiling (rounded up to a power of 2). */
struct seen *seen_new(size_t nsinks, size_t max_entries);
void seen_free(struct seen *s);

/*
 * Record ev (uid, resourceVersion) as seen at now_s (monotonic seconds).
 * Returns what it was; *slot receives a handle for seen_should_alert(),
 * valid until the next seen_observe().
 */
enum seen_result seen_observe(struct seen *s, const struct event *ev, int64_t now_s, size_t *slot);

/* Whether the uid is known (without recording anything). */
bool seen_known(const struct seen *s, const struct event *ev);

/*
 * Repeat policy of one sink for the event at slot: alert on the first
 * sighting; afterwards alert again only when count grew (or the object
 * changed) and at least repeat_s seconds passed since this sink's last
 * alert (repeat_s == 0: every change). Records the alert when it says yes.
 * When it says no to a grown count only because the interval is not over,
 * *hold_until_s (if not NULL) receives when it ends (else 0): the sink then
 * sends one trailing message with the latest count at that time.
 */
bool seen_should_alert(struct seen *s, size_t slot, size_t sink, int32_t count, int64_t repeat_s,
                       int64_t now_s, int64_t *hold_until_s);

/* The key an event is remembered by. */
uint64_t seen_key(const struct event *ev);

/*
 * Record an alert one sink sent for the event with this key (a trailing
 * message). False when the event is not remembered any more.
 */
bool seen_alerted(struct seen *s, uint64_t key, size_t sink, int32_t count, int64_t now_s);

size_t seen_count(const struct seen *s);
size_t seen_capacity(const struct seen *s);
/* Bytes held per entry (for the README's memory figures). */
size_t seen_entry_bytes(const struct seen *s);
uint64_t seen_evictions(const struct seen *s);

#endif
