/* Unit tests for seen.c: duplicates, changes, the repeat policy, eviction. */
#include "event.h"
#include "seen.h"
#include "test.h"
#include "util.h"

#include <stdio.h>

static struct event ev_of(const char *uid, const char *rv, int32_t count)
{
	struct event e = { 0 };
	e.uid = uid;
	e.resource_version = rv;
	e.namespace = e.name = "";
	e.eff_count = count;
	return e;
}

static void duplicates_and_changes(void)
{
	struct seen *s = seen_new(1, 1024);
	size_t slot;
	struct event a = ev_of("u1", "10", 1);
	CHECK_INT(seen_observe(s, &a, 0, &slot), SEEN_NEW);
	CHECK_INT(seen_observe(s, &a, 1, &slot), SEEN_SAME);
	struct event a2 = ev_of("u1", "11", 2);
	CHECK_INT(seen_observe(s, &a2, 2, &slot), SEEN_CHANGED);
	CHECK_INT(seen_observe(s, &a2, 3, &slot), SEEN_SAME);
	/* resourceVersion is opaque: "9" after "10" is just different */
	struct event a3 = ev_of("u1", "9", 3);
	CHECK_INT(seen_observe(s, &a3, 4, &slot), SEEN_CHANGED);
	CHECK(seen_known(s, &a3));
	struct event b = ev_of("u2", "10", 1);
	CHECK(!seen_known(s, &b));
	CHECK_INT(seen_count(s), 1);
	seen_free(s);
}

static void repeat_policy(void)
{
	struct seen *s = seen_new(2, 1024);
	size_t slot;
	struct event e = ev_of("u", "1", 1);
	seen_observe(s, &e, 100, &slot);
	/* first sighting alerts, per sink */
	CHECK(seen_should_alert(s, slot, 0, 1, 600, 100, NULL));
	CHECK(seen_should_alert(s, slot, 1, 1, 0, 100, NULL));
	/* the kubelet bumps count: sink 0 (10 min) stays quiet, sink 1 (0) alerts every change */
	for (int c = 2; c <= 111; c++) {
		struct event b = ev_of("u", "x", c);
		char rv[16];
		snprintf(rv, sizeof rv, "%d", c);
		b.resource_version = rv;
		CHECK_INT(seen_observe(s, &b, 100 + c, &slot), SEEN_CHANGED);
		bool a0 = seen_should_alert(s, slot, 0, c, 600, 100 + c, NULL);
		CHECK(!a0);
		CHECK(seen_should_alert(s, slot, 1, c, 0, 100 + c, NULL));
	}
	/* after the interval, a grown count alerts again, once */
	CHECK(seen_should_alert(s, slot, 0, 112, 600, 700, NULL));
	CHECK(!seen_should_alert(s, slot, 0, 113, 600, 701, NULL));
	/* after another interval, the same count does not */
	CHECK(!seen_should_alert(s, slot, 0, 112, 600, 1400, NULL));
	seen_free(s);
}

/* A held-back count says when its interval ends; a trailing alert starts the next one. */
static void held_back_counts_and_trailing_alerts(void)
{
	struct seen *s = seen_new(1, 1024);
	size_t slot;
	int64_t until;
	struct event e = ev_of("t", "1", 1);
	seen_observe(s, &e, 100, &slot);
	CHECK(seen_should_alert(s, slot, 0, 1, 600, 100, &until));
	CHECK_INT(until, 0);
	CHECK(!seen_should_alert(s, slot, 0, 1, 600, 150, &until));
	CHECK_INT(until, 0); /* nothing new: nothing to trail */
	CHECK(!seen_should_alert(s, slot, 0, 5, 600, 160, &until));
	CHECK_INT(until, 700);
	CHECK(seen_alerted(s, seen_key(&e), 0, 5, 700)); /* the trailing message went out at 700 */
	CHECK(!seen_should_alert(s, slot, 0, 5, 600, 710, &until));
	CHECK_INT(until, 0);
	CHECK(!seen_should_alert(s, slot, 0, 6, 600, 720, &until));
	CHECK_INT(until, 1300);
	struct event other = ev_of("gone", "1", 1);
	CHECK(!seen_alerted(s, seen_key(&other), 0, 1, 720));
	seen_free(s);
}

static void bounded_with_eviction(void)
{
	struct seen *s = seen_new(1, 512);
	size_t slot;
	char uid[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(uid, sizeof uid, "uid-%d", i);
		struct event e = ev_of(uid, "1", 1);
		CHECK_INT(seen_observe(s, &e, i, &slot), SEEN_NEW);
	}
	CHECK(seen_capacity(s) <= 512);
	CHECK(seen_count(s) <= 256);
	CHECK(seen_evictions(s) >= 5000 - 256);
	/* the most recent ones are still known */
	struct event last = ev_of("uid-4999", "1", 1);
	CHECK_INT(seen_observe(s, &last, 5000, &slot), SEEN_SAME);
	CHECK_INT(seen_entry_bytes(s), 24 + 8);
	seen_free(s);
}

static void idle_entries_expire(void)
{
	struct seen *s = seen_new(0, 1 << 16);
	size_t slot;
	char uid[32];
	for (int i = 0; i < 200; i++) {
		snprintf(uid, sizeof uid, "old-%d", i);
		struct event e = ev_of(uid, "1", 1);
		seen_observe(s, &e, 0, &slot);
	}
	/* three hours later, growth first drops what has been idle for two */
	for (int i = 0; i < 200; i++) {
		snprintf(uid, sizeof uid, "new-%d", i);
		struct event e = ev_of(uid, "1", 1);
		seen_observe(s, &e, 3 * 3600, &slot);
	}
	struct event old = ev_of("old-1", "1", 1);
	CHECK(!seen_known(s, &old));
	CHECK_INT(seen_count(s), 200);
	seen_free(s);
}

const struct test_case test_seen[] = {
	TEST(duplicates_and_changes),
	TEST(repeat_policy),
	TEST(bounded_with_eviction),
	TEST(idle_entries_expire),
	TEST(held_back_counts_and_trailing_alerts),
	TEST_END,
};
