/* seen.c -- bounded uid -> (resourceVersion, per-sink alert state) table. */
#include "seen.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

#define IDLE_EVICT_S (2 * 3600)
#define MIN_CAP 256

struct entry {
	uint64_t key;     /* hash of uid; 0 = empty slot */
	uint64_t rv;      /* hash of resourceVersion */
	uint32_t touched; /* monotonic seconds */
	int32_t count;    /* last observed effective count */
};

struct sinkstate {
	uint32_t alerted_at; /* monotonic seconds + 1; 0 = never alerted */
	int32_t count;       /* count carried by the last alert */
};

struct seen {
	struct entry *e;
	struct sinkstate *ss; /* cap * nsinks */
	size_t cap, used, max, nsinks;
	uint64_t evictions;
	uint64_t rng;
};

static uint64_t key_of(const struct event *ev)
{
	/* uid when present, else namespace/name (kubectl output edited by hand) */
	uint64_t h;
	if (ev->uid[0]) {
		h = hash64(ev->uid, strlen(ev->uid));
	} else {
		h = hash64(ev->namespace, strlen(ev->namespace));
		h ^= hash64(ev->name, strlen(ev->name)) * 31;
	}
	return h ? h : 1;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = MIN_CAP;
	while (c < n)
		c *= 2;
	return c;
}

struct seen *seen_new(size_t nsinks, size_t max_entries)
{
	struct seen *s = xcalloc(1, sizeof *s);
	s->nsinks = nsinks;
	s->max = pow2_at_least(max_entries);
	s->cap = MIN_CAP;
	s->e = xcalloc(s->cap, sizeof *s->e);
	s->ss = xcalloc(s->cap * (nsinks ? nsinks : 1), sizeof *s->ss);
	s->rng = random_u64() | 1;
	return s;
}

void seen_free(struct seen *s)
{
	if (!s)
		return;
	free(s->e);
	free(s->ss);
	free(s);
}

static size_t find(const struct seen *s, uint64_t key, bool *found)
{
	size_t mask = s->cap - 1, i = (size_t)(key * 0x9E3779B97F4A7C15ULL >> 7) & mask;
	for (;;) {
		if (s->e[i].key == key) {
			*found = true;
			return i;
		}
		if (s->e[i].key == 0) {
			*found = false;
			return i;
		}
		i = (i + 1) & mask;
	}
}

/* Remove the entry at i, keeping linear-probe chains intact (backward shift). */
static void remove_at(struct seen *s, size_t i)
{
	size_t mask = s->cap - 1, n = s->nsinks;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (s->e[j].key == 0)
			break;
		size_t home = (size_t)(s->e[j].key * 0x9E3779B97F4A7C15ULL >> 7) & mask;
		/* can the entry at j move to the hole at i? */
		bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (between)
			continue;
		s->e[i] = s->e[j];
		if (n)
			memcpy(&s->ss[i * n], &s->ss[j * n], n * sizeof *s->ss);
		i = j;
	}
	memset(&s->e[i], 0, sizeof s->e[i]);
	if (n)
		memset(&s->ss[i * n], 0, n * sizeof *s->ss);
	s->used--;
}

static void rehash(struct seen *s, size_t ncap)
{
	struct entry *old = s->e;
	struct sinkstate *oldss = s->ss;
	size_t oldcap = s->cap, n = s->nsinks;
	s->cap = ncap;
	s->e = xcalloc(ncap, sizeof *s->e);
	s->ss = xcalloc(ncap * (n ? n : 1), sizeof *s->ss);
	s->used = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].key)
			continue;
		bool found;
		size_t j = find(s, old[i].key, &found);
		s->e[j] = old[i];
		if (n)
			memcpy(&s->ss[j * n], &oldss[i * n], n * sizeof *s->ss);
		s->used++;
	}
	free(old);
	free(oldss);
}

static uint64_t rnd(struct seen *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return s->rng;
}

/* Make room for one more entry: drop idle entries, grow, or evict. */
static void make_room(struct seen *s, uint32_t now)
{
	if (s->used + 1 <= s->cap / 2)
		return;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->e[i].key && now - s->e[i].touched > IDLE_EVICT_S) {
			remove_at(s, i);
			s->evictions++;
			i--; /* backward shift may have moved an entry into i */
		}
	}
	if (s->used + 1 <= s->cap / 2)
		return;
	if (s->cap < s->max) {
		rehash(s, s->cap * 2);
		return;
	}
	/* full at the ceiling: evict the least recently touched of a sample */
	size_t victim = SIZE_MAX;
	for (int k = 0; k < 16; k++) {
		size_t i = (size_t)(rnd(s) & (s->cap - 1));
		if (s->e[i].key && (victim == SIZE_MAX || s->e[i].touched < s->e[victim].touched))
			victim = i;
	}
	if (victim == SIZE_MAX) {
		for (victim = 0; !s->e[victim].key; victim++)
			;
	}
	remove_at(s, victim);
	s->evictions++;
}

enum seen_result seen_observe(struct seen *s, const struct event *ev, int64_t now_s, size_t *slot)
{
	uint64_t key = key_of(ev);
	uint64_t rv = hash64(ev->resource_version, strlen(ev->resource_version));
	uint32_t now = (uint32_t)now_s;
	bool found;
	size_t i = find(s, key, &found);
	enum seen_result r;

	if (found) {
		r = s->e[i].rv == rv ? SEEN_SAME : SEEN_CHANGED;
	} else {
		make_room(s, now);
		i = find(s, key, &found);
		s->e[i].key = key;
		s->used++;
		if (s->nsinks)
			memset(&s->ss[i * s->nsinks], 0, s->nsinks * sizeof *s->ss);
		r = SEEN_NEW;
	}
	s->e[i].rv = rv;
	s->e[i].touched = now;
	s->e[i].count = ev->eff_count;
	*slot = i;
	return r;
}

bool seen_known(const struct seen *s, const struct event *ev)
{
	bool found;
	find(s, key_of(ev), &found);
	return found;
}

bool seen_should_alert(struct seen *s, size_t slot, size_t sink, int32_t count, int64_t repeat_s,
                       int64_t now_s, int64_t *hold_until_s)
{
	struct sinkstate *st = &s->ss[slot * s->nsinks + sink];
	uint32_t now = (uint32_t)now_s + 1;
	if (hold_until_s)
		*hold_until_s = 0;
	if (st->alerted_at == 0 || repeat_s == 0 || (int64_t)(now - st->alerted_at) >= repeat_s) {
		if (st->alerted_at && repeat_s != 0 && count <= st->count)
			return false; /* nothing new since the last alert */
		st->alerted_at = now;
		st->count = count;
		return true;
	}
	if (hold_until_s && count > st->count)
		*hold_until_s = (int64_t)st->alerted_at - 1 + repeat_s;
	return false;
}

uint64_t seen_key(const struct event *ev)
{
	return key_of(ev);
}

bool seen_alerted(struct seen *s, uint64_t key, size_t sink, int32_t count, int64_t now_s)
{
	bool found;
	size_t i = find(s, key, &found);
	if (!found)
		return false;
	struct sinkstate *st = &s->ss[i * s->nsinks + sink];
	st->alerted_at = (uint32_t)now_s + 1;
	st->count = count;
	return true;
}

size_t seen_count(const struct seen *s)
{
	return s->used;
}

size_t seen_capacity(const struct seen *s)
{
	return s->cap;
}

size_t seen_entry_bytes(const struct seen *s)
{
	return sizeof(struct entry) + s->nsinks * sizeof(struct sinkstate);
}

uint64_t seen_evictions(const struct seen *s)
{
	return s->evictions;
}
