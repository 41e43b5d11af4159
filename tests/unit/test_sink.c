/*
 * The delivery engine with a fake transport and a fake clock: batching,
 * flush by time and size, per-item retry, split, overflow, flush on stop,
 * pause/resume, backoff per request, transports that are not ready or that
 * finish inside send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "seen.h"
#include "sink.h"
#include "test.h"
#include "util.h"

#define MAXB 64

/* The fake transport: every batch it was given, the ones still open, and
 * what it should answer. */
static struct {
	int64_t now;
	struct sink_batch *open[MAXB]; /* not settled yet */
	size_t nopen;
	unsigned sizes[MAXB]; /* items per batch, in order of sending */
	char first[MAXB][32]; /* first item of each batch (up to a space) */
	char whole[MAXB][48]; /* ... and its start, spaces and all */
	size_t nbatches;
	int later;    /* answer SINK_LATER this many times */
	bool sync_ok; /* settle inside send */
	unsigned cancelled;
	const char *poison; /* a batch holding this item is refused with SPLIT */
} ft;

static int fake_send(struct sink *s, struct sink_batch *b, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (ft.later > 0) {
		ft.later--;
		return SINK_LATER;
	}
	if (ft.nbatches < MAXB) {
		ft.sizes[ft.nbatches] = b->n;
		snprintf(ft.first[ft.nbatches], sizeof ft.first[0], "%.*s",
		         (int)strcspn(b->items[0]->body, " "), b->items[0]->body);
		snprintf(ft.whole[ft.nbatches], sizeof ft.whole[0], "%s", b->items[0]->body);
		ft.nbatches++;
	}
	if (ft.poison) {
		for (unsigned i = 0; i < b->n; i++) {
			if (strncmp(b->items[i]->body, ft.poison, strlen(ft.poison)) == 0 &&
			    b->items[i]->body[strlen(ft.poison)] == ' ') {
				sink_batch_done(s, b, DELIVERY_SPLIT, "poison", -1);
				return SINK_SENT;
			}
		}
	}
	if (ft.sync_ok) {
		sink_batch_done(s, b, DELIVERY_OK, NULL, -1);
		return SINK_SENT;
	}
	ft.open[ft.nopen++] = b;
	return SINK_SENT;
}

static void fake_cancel(struct sink *s, struct sink_batch *b)
{
	(void)s;
	for (size_t i = 0; i < ft.nopen; i++) {
		if (ft.open[i] == b) {
			ft.open[i] = ft.open[--ft.nopen];
			ft.cancelled++;
			return;
		}
	}
}

static const struct sink_transport fake_transport = { .send = fake_send, .cancel = fake_cancel };

static int fake_create(struct sink *s, struct uri *u, char *err, size_t errlen)
{
	(void)s;
	(void)u;
	(void)err;
	(void)errlen;
	return 0;
}

/* An item is the event's name, padded with spaces to its annotation-free
 * "size" label when one is given (for the byte bounds). */
static int fake_render(struct sink *s, const struct event *ev, struct buf *out, char *err, size_t errlen)
{
	(void)s;
	(void)err;
	(void)errlen;
	buf_printf(out, "%s #%d", ev->name, ev->eff_count);
	int64_t pad = 0;
	if (ev->message[0])
		parse_i64(ev->message, strlen(ev->message), &pad);
	while (pad-- > 0)
		buf_putc(out, ' ');
	return 0;
}

static const struct sink_type fake_type = {
	.name = "fake",
	.data = true,
	.default_batch = 3,
	.create = fake_create,
	.render = fake_render,
	.transport = &fake_transport,
};

static const struct sink_type fake_single = {
	.name = "fake1",
	.create = fake_create,
	.render = fake_render,
	.transport = &fake_transport,
};

static struct loop *lp;

static struct sink *setup(const struct sink_type *t, const char *params)
{
	char err[256];
	char uri[512];
	memset(&ft, 0, sizeof ft);
	ft.now = 1000000;
	now_mono_fake(&ft.now);
	lp = loop_new();
	snprintf(uri, sizeof uri, "fake:?%s", params);
	struct sink *s = sink_create_as(t, uri, 0, 30000, NULL, err, sizeof err);
	if (!s) {
		printf("#   sink_create_as: %s\n", err);
		return NULL;
	}
	sink_start(s, lp, NULL);
	return s;
}

static void teardown(struct sink *s)
{
	sink_destroy(s);
	loop_free(lp);
	lp = NULL;
	now_mono_fake(NULL);
}

/* Offer an event named name (an item of pad extra bytes), with count and a seen table. */
static void offer_seen(struct sink *s, const char *name, int pad, int count, struct seen *seen);

static void offer(struct sink *s, const char *name, int pad)
{
	offer_seen(s, name, pad, 1, NULL);
}

static void offer_seen(struct sink *s, const char *name, int pad, int count, struct seen *seen)
{
	char p[16];
	snprintf(p, sizeof p, "%d", pad);
	struct event ev;
	memset(&ev, 0, sizeof ev);
	ev.name = name;
	ev.namespace = ev.uid = ev.resource_version = ev.reason = ev.action = "";
	ev.type = "Warning";
	ev.message = pad ? p : "";
	ev.reporting_controller = ev.reporting_instance = "";
	ev.involved.kind = ev.involved.namespace = ev.involved.name = ev.involved.uid = "";
	ev.involved.api_version = ev.involved.resource_version = ev.involved.field_path = "";
	ev.source.component = ev.source.host = "";
	ev.uid = name;
	ev.resource_version = "rv";
	ev.eff_count = count;
	size_t slot = 0;
	if (seen) {
		char rv[16];
		snprintf(rv, sizeof rv, "%d", count);
		ev.resource_version = rv;
		seen_observe(seen, &ev, ft.now / 1000, &slot);
		sink_offer(s, &ev, seen, slot, ft.now / 1000);
		return;
	}
	sink_offer(s, &ev, NULL, 0, ft.now / 1000);
}

/* Advance the clock and run what is due. */
static void advance(int64_t ms)
{
	ft.now += ms;
	loop_once(lp, 0);
}

/* Settle the oldest open batch: d for every item, or verdicts from v ("O", "R", "D", "S" per item). */
static void finish(struct sink *s, enum delivery d, const char *v)
{
	struct sink_batch *b = ft.open[0];
	memmove(ft.open, ft.open + 1, (ft.nopen - 1) * sizeof ft.open[0]);
	ft.nopen--;
	for (unsigned i = 0; v && i < b->n && v[i]; i++)
		b->verdict[i] = v[i] == 'O'   ? DELIVERY_OK
		                : v[i] == 'R' ? DELIVERY_RETRY
		                : v[i] == 'D' ? DELIVERY_DROP
		                : v[i] == 'S' ? DELIVERY_SPLIT
		                              : DELIVERY_UNSET;
	sink_batch_done(s, b, d, "test", -1);
}

static void full_batches_go_at_once_and_the_rest_waits_for_flush_interval(void)
{
	struct sink *s = setup(&fake_type, "batch_size=3&flush_interval=1s&concurrency=4");
	CHECK(s);
	for (int i = 0; i < 7; i++) {
		char n[16];
		snprintf(n, sizeof n, "e%d", i);
		offer(s, n, 0);
	}
	advance(0);
	CHECK_INT(ft.nbatches, 2);
	CHECK_INT(ft.sizes[0], 3);
	CHECK_INT(ft.sizes[1], 3);
	CHECK_STR(ft.first[1], "e3");
	CHECK_INT(s->qlen, 1);
	advance(999);
	CHECK_INT(ft.nbatches, 2);
	advance(1);
	CHECK_INT(ft.nbatches, 3);
	CHECK_INT(ft.sizes[2], 1);
	CHECK_STR(ft.first[2], "e6");
	CHECK_INT(sink_pending(s), 7);
	while (ft.nopen)
		finish(s, DELIVERY_OK, NULL);
	CHECK_INT(s->stats.sent, 7);
	CHECK_INT(sink_pending(s), 0);
	teardown(s);
}

static void an_item_waits_at_most_flush_interval(void)
{
	struct sink *s = setup(&fake_type, "batch_size=100&flush_interval=250ms");
	CHECK(s);
	offer(s, "a", 0);
	advance(100);
	offer(s, "b", 0);
	advance(149);
	CHECK_INT(ft.nbatches, 0);
	advance(1); /* a waited 250 ms: a and b leave together */
	CHECK_INT(ft.nbatches, 1);
	CHECK_INT(ft.sizes[0], 2);
	finish(s, DELIVERY_OK, NULL);
	teardown(s);
}

static void a_batch_is_bounded_by_bytes(void)
{
	struct sink *s = setup(&fake_type, "batch_size=100&batch_bytes=4096&flush_interval=1s&concurrency=1");
	CHECK(s);
	offer(s, "a", 1500);
	offer(s, "b", 1500);
	advance(0);
	CHECK_INT(ft.nbatches, 0); /* 3 KB: not full yet */
	offer(s, "c", 1500);       /* 4.5 KB queued: a batch is due, a+b fit */
	advance(0);
	CHECK_INT(ft.nbatches, 1);
	CHECK_INT(ft.sizes[0], 2);
	CHECK_INT(s->qlen, 1);
	/* an item larger than batch_bytes still travels, alone */
	finish(s, DELIVERY_OK, NULL);
	offer(s, "big", 5000);
	advance(0);
	CHECK_INT(ft.nbatches, 2);
	CHECK_INT(ft.sizes[1], 1);
	CHECK_STR(ft.first[1], "c");
	finish(s, DELIVERY_OK, NULL);
	advance(0);
	CHECK_INT(ft.nbatches, 3);
	CHECK_INT(ft.sizes[2], 1);
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(s->stats.sent, 4);
	teardown(s);
}

static void only_failed_items_are_resent_after_one_backoff(void)
{
	struct sink *s = setup(&fake_type, "batch_size=4&flush_interval=1s&concurrency=1");
	CHECK(s);
	offer(s, "a", 0);
	offer(s, "b", 0);
	offer(s, "c", 0);
	offer(s, "d", 0);
	advance(0);
	CHECK_INT(ft.nbatches, 1);
	finish(s, DELIVERY_OK, "ORDO"); /* b retried, c dropped */
	CHECK_INT(s->stats.sent, 2);
	CHECK_INT(s->stats.failed, 1);
	CHECK_INT(s->stats.retried, 1);
	CHECK_INT(s->backoff_step, 1);
	/* backoff 500 ms +-20%, once for the request, not per item */
	int64_t wait = s->backoff_until_ms - ft.now;
	CHECK(wait >= 400 && wait <= 600);
	CHECK_INT(s->qlen, 1);
	CHECK_STR(s->head->body, "b #1");
	offer(s, "e", 0); /* joins b: a batch is due once b's backoff is over */
	advance(wait - 1);
	CHECK_INT(ft.nbatches, 1);
	advance(1);
	CHECK_INT(ft.nbatches, 2);
	CHECK_INT(ft.sizes[1], 2);
	CHECK_STR(ft.first[1], "b");
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(s->stats.sent, 4);
	CHECK_INT(s->backoff_step, 0);
	teardown(s);
}

static void a_failed_batch_is_one_backoff_step(void)
{
	struct sink *s = setup(&fake_type, "batch_size=5&flush_interval=1s&concurrency=1&retries=2");
	CHECK(s);
	for (int i = 0; i < 5; i++)
		offer(s, "x", 0);
	advance(0);
	finish(s, DELIVERY_RETRY, NULL);
	CHECK_INT(s->backoff_step, 1);
	CHECK_INT(s->stats.retried, 5);
	advance(700);
	CHECK_INT(ft.nbatches, 2);
	CHECK_INT(ft.sizes[1], 5);
	finish(s, DELIVERY_RETRY, NULL);
	CHECK_INT(s->backoff_step, 2);
	advance(1300);
	CHECK_INT(ft.nbatches, 3);
	finish(s, DELIVERY_RETRY, NULL); /* third failure: out of retries */
	CHECK_INT(s->stats.failed, 5);
	CHECK_INT(sink_pending(s), 0);
	teardown(s);
}

static void a_poison_item_is_isolated_by_halving(void)
{
	struct sink *s = setup(&fake_type, "batch_size=8&flush_interval=1s&concurrency=1");
	CHECK(s);
	ft.sync_ok = true;
	ft.poison = "p5";
	for (int i = 0; i < 8; i++) {
		char n[16];
		snprintf(n, sizeof n, "p%d", i);
		offer(s, n, 0);
	}
	for (int i = 0; i < 10; i++)
		advance(0);
	/* 8 refused -> 4 ok, 4 refused -> 2 refused -> 1 ok, 1 dropped; 2 ok */
	CHECK_INT(s->stats.sent, 7);
	CHECK_INT(s->stats.failed, 1);
	CHECK_INT(s->stats.retried, 0);
	CHECK_INT(sink_pending(s), 0);
	CHECK_INT(ft.nbatches, 7);
	unsigned want[] = { 8, 4, 4, 2, 1, 1, 2 };
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		CHECK_INT(ft.sizes[i], want[i]);
	CHECK_STR(ft.first[4], "p4");
	CHECK_STR(ft.first[5], "p5");
	CHECK_STR(ft.first[6], "p6");
	CHECK_INT(s->backoff_step, 0); /* a refusal is not a failure of the backend */
	teardown(s);
}

static void new_items_do_not_join_split_items(void)
{
	struct sink *s = setup(&fake_type, "batch_size=4&flush_interval=1s&concurrency=1");
	CHECK(s);
	for (int i = 0; i < 4; i++)
		offer(s, "a", 0);
	advance(0);
	finish(s, DELIVERY_SPLIT, NULL);
	for (int i = 0; i < 4; i++)
		offer(s, "n", 0);
	advance(0);
	CHECK_INT(ft.nbatches, 2);
	CHECK_INT(ft.sizes[1], 2);
	finish(s, DELIVERY_OK, NULL);
	advance(0);
	CHECK_INT(ft.sizes[2], 2);
	finish(s, DELIVERY_OK, NULL);
	advance(0);
	CHECK_INT(ft.sizes[3], 4);
	CHECK_STR(ft.first[3], "n");
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(s->stats.sent, 8);
	teardown(s);
}

static void overflow_is_counted(void)
{
	struct sink *s = setup(&fake_type, "batch_size=100&flush_interval=5s&queue_size=5");
	CHECK(s);
	for (int i = 0; i < 8; i++)
		offer(s, "o", 0);
	CHECK_INT(s->qlen, 5);
	CHECK_INT(s->stats.enqueued, 5);
	CHECK_INT(s->stats.dropped, 3);
	teardown(s);
}

static void stopping_flushes_a_partial_batch(void)
{
	struct sink *s = setup(&fake_type, "batch_size=100&flush_interval=10s");
	CHECK(s);
	offer(s, "a", 0);
	offer(s, "b", 0);
	advance(5);
	CHECK_INT(ft.nbatches, 0);
	sink_stop(s);
	CHECK_INT(ft.nbatches, 1);
	CHECK_INT(ft.sizes[0], 2);
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(sink_pending(s), 0);
	teardown(s);
}

static void pause_when_above_high_water_and_draining_fast(void)
{
	struct sink *s = setup(&fake_type, "batch_size=200&flush_interval=1s&concurrency=1");
	CHECK(s);
	for (int i = 0; i < 200; i++)
		offer(s, "f", 0);
	advance(0);
	CHECK_INT(ft.nbatches, 1);
	advance(10);
	finish(s, DELIVERY_OK, NULL); /* a success: draining fast */
	for (int i = 0; i < 399; i++)
		offer(s, "f", 0);
	CHECK(!sink_wants_pause(s)); /* the one just sent is in flight; 399 queued < 400 */
	offer(s, "f", 0);
	CHECK(sink_wants_pause(s));
	CHECK(!sink_allows_resume(s));
	advance(0);
	finish(s, DELIVERY_OK, NULL);
	advance(0);
	finish(s, DELIVERY_OK, NULL);
	CHECK(sink_allows_resume(s));
	/* a failing sink never holds the source back */
	for (int i = 0; i < 400; i++)
		offer(s, "f", 0);
	advance(0);
	finish(s, DELIVERY_RETRY, NULL);
	CHECK(!sink_wants_pause(s));
	CHECK(sink_allows_resume(s));
	teardown(s);
}

/* Full batches in flight count: the source pauses with a quarter of the
 * bounds still free for the rest of a read already in hand. */
static void pause_leaves_room_beside_what_is_in_flight(void)
{
	/* 64 KiB bounds, 16 KiB batches, 2 in flight: the queue high-water
	 * alone (32 KiB) would leave no room at all */
	struct sink *s = setup(&fake_type, "queue_bytes=65536&batch_size=1000&batch_bytes=16384"
	                                   "&flush_interval=1s&concurrency=2");
	CHECK(s);
	for (int i = 0; i < 16; i++) /* items of 1 KiB: "f #1" and 1020 spaces */
		offer(s, "f", 1020);
	advance(0);
	advance(10);
	finish(s, DELIVERY_OK, NULL); /* a success: draining fast */
	for (int i = 0; i < 32; i++)
		offer(s, "f", 1020);
	advance(0);
	CHECK_INT(ft.nopen, 2); /* 32 KiB in flight */
	int before_pause = 0;
	while (!sink_wants_pause(s) && before_pause < 64) {
		offer(s, "f", 1020);
		before_pause++;
	}
	CHECK(sink_wants_pause(s));
	CHECK_INT(before_pause, 16); /* held reached 48 KiB; the queue alone would wait for 32 */
	CHECK_INT(s->stats.dropped, 0);
	for (int i = 0; i < 12; i++) /* the rest of a 12 KiB read still fits */
		offer(s, "f", 1020);
	CHECK_INT(s->stats.dropped, 0);
	CHECK(!sink_allows_resume(s));
	finish(s, DELIVERY_OK, NULL);
	finish(s, DELIVERY_OK, NULL);
	advance(0);
	while (ft.nopen)
		finish(s, DELIVERY_OK, NULL), advance(0);
	CHECK(sink_allows_resume(s));
	teardown(s);
}

static void a_transport_that_is_not_ready_keeps_the_order(void)
{
	struct sink *s = setup(&fake_single, "concurrency=1");
	CHECK(s);
	ft.later = 1;
	offer(s, "a", 0);
	offer(s, "b", 0);
	advance(0);
	CHECK_INT(ft.nbatches, 0);
	CHECK_INT(s->qlen, 2);
	CHECK_INT(s->inflight, 0);
	sink_kick(s); /* the transport is ready now */
	CHECK_INT(ft.nbatches, 1);
	CHECK_STR(ft.first[0], "a");
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(ft.nbatches, 2);
	CHECK_STR(ft.first[1], "b");
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(s->stats.sent, 2);
	teardown(s);
}

static void a_transport_may_finish_inside_send(void)
{
	struct sink *s = setup(&fake_single, "concurrency=1");
	CHECK(s);
	ft.sync_ok = true;
	for (int i = 0; i < 50; i++)
		offer(s, "s", 0);
	advance(0);
	CHECK_INT(ft.nbatches, 50);
	CHECK_INT(s->stats.sent, 50);
	CHECK_INT(s->inflight, 0);
	teardown(s);
}

static void alert_sinks_send_one_item_per_request(void)
{
	struct sink *s = setup(&fake_single, "concurrency=2");
	CHECK(s);
	CHECK_INT(s->cfg.batch_items, 1);
	CHECK_INT(s->cfg.repeat_interval_s, 600);
	for (int i = 0; i < 3; i++)
		offer(s, "w", 0);
	advance(0);
	CHECK_INT(ft.nbatches, 2); /* concurrency 2 */
	CHECK_INT(ft.sizes[0], 1);
	finish(s, DELIVERY_OK, NULL);
	CHECK_INT(ft.nbatches, 3);
	teardown(s);
}

static void destroy_cancels_what_is_in_flight(void)
{
	struct sink *s = setup(&fake_type, "batch_size=2&flush_interval=1s&concurrency=2");
	CHECK(s);
	for (int i = 0; i < 5; i++)
		offer(s, "d", 0);
	advance(0);
	CHECK_INT(ft.nopen, 2);
	sink_destroy(s); /* leak checkers see the rest */
	CHECK_INT(ft.cancelled, 2);
	loop_free(lp);
	now_mono_fake(NULL);
}

/* repeat_interval holds count bumps back; the last one goes out when it ends. */
static void held_back_repeats_end_with_one_trailing_message(void)
{
	struct sink *s = setup(&fake_single, "repeat_interval=10s&concurrency=1");
	CHECK(s);
	struct seen *seen = seen_new(1, 1024);
	ft.sync_ok = true;
	offer_seen(s, "pod", 0, 1, seen);
	advance(0);
	CHECK_INT(ft.nbatches, 1);
	CHECK_STR(ft.whole[0], "pod #1");
	advance(1000);
	offer_seen(s, "pod", 0, 2, seen);
	advance(1000);
	offer_seen(s, "pod", 0, 3, seen);
	CHECK_INT(s->stats.suppressed, 2);
	advance(7000); /* 9 s after the alert */
	CHECK_INT(ft.nbatches, 1);
	advance(1000); /* the interval is over: the last count, once */
	advance(0);
	CHECK_INT(ft.nbatches, 2);
	CHECK_STR(ft.whole[1], "pod #3");
	CHECK_INT(s->stats.trailers, 1);
	/* the trailing message started a new interval */
	advance(1000);
	offer_seen(s, "pod", 0, 4, seen);
	advance(0);
	CHECK_INT(ft.nbatches, 2);
	advance(9000);
	advance(0);
	CHECK_INT(ft.nbatches, 3);
	CHECK_STR(ft.whole[2], "pod #4");
	advance(20000);
	CHECK_INT(ft.nbatches, 3); /* nothing held back since: nothing more */
	/* a bump after a quiet interval alerts at once, and no trailer follows it */
	offer_seen(s, "pod", 0, 5, seen);
	advance(0);
	CHECK_INT(ft.nbatches, 4);
	CHECK_STR(ft.whole[3], "pod #5");
	advance(30000);
	CHECK_INT(ft.nbatches, 4);
	CHECK_INT(s->stats.trailers, 2);
	teardown(s);
	seen_free(seen);
}

static void flush_interval_is_bounded_by_frequency(void)
{
	char err[256];
	now_mono_fake(NULL);
	struct sink *s =
	    sink_create_as(&fake_type, "fake:?flush_interval=40s", 0, 30000, NULL, err, sizeof err);
	CHECK(!s);
	CHECK(strstr(err, "flush_interval") && strstr(err, "--frequency"));
	s = sink_create_as(&fake_type, "fake:?batch_size=0", 0, 30000, NULL, err, sizeof err);
	CHECK(!s);
	CHECK(strstr(err, "batch_size"));
	s = sink_create_as(&fake_type, "fake:?", 0, 30000, NULL, err, sizeof err);
	CHECK(s);
	CHECK_INT(s->cfg.batch_items, 3);
	CHECK_INT(s->cfg.flush_ms, 1000);
	CHECK_INT(s->cfg.repeat_interval_s, 0); /* data sinks record every change */
	sink_destroy(s);
}

const struct test_case test_sink[] = {
	TEST(full_batches_go_at_once_and_the_rest_waits_for_flush_interval),
	TEST(an_item_waits_at_most_flush_interval),
	TEST(a_batch_is_bounded_by_bytes),
	TEST(only_failed_items_are_resent_after_one_backoff),
	TEST(a_failed_batch_is_one_backoff_step),
	TEST(a_poison_item_is_isolated_by_halving),
	TEST(new_items_do_not_join_split_items),
	TEST(overflow_is_counted),
	TEST(stopping_flushes_a_partial_batch),
	TEST(pause_when_above_high_water_and_draining_fast),
	TEST(pause_leaves_room_beside_what_is_in_flight),
	TEST(a_transport_that_is_not_ready_keeps_the_order),
	TEST(a_transport_may_finish_inside_send),
	TEST(alert_sinks_send_one_item_per_request),
	TEST(destroy_cancels_what_is_in_flight),
	TEST(held_back_repeats_end_with_one_trailing_message),
	TEST(flush_interval_is_bounded_by_frequency),
	TEST_END,
};
