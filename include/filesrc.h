/*
 * filesrc.h -- the file:PATH source (- = stdin): an EventList as
 * `kubectl get events -o json` prints it, or a stream of events / watch
 * envelopes as `kubectl get events -w -o json [--output-watch-events]`
 * prints them (pretty or one per line). Every event goes through the same
 * seen table as the API source, so a repeated object is delivered once.
 */
#ifndef KE_FILESRC_H
#define KE_FILESRC_H

#include <stdbool.h>
#include <stdint.h>

#include "watch.h"

struct loop;
struct filesrc;

/* Open path (no reading yet). NULL with err on failure. */
struct filesrc *filesrc_new(const char *path, struct seen *seen, watch_event_cb cb, void *ctx, char *err,
                            size_t errlen);
/* Read everything from the loop; done(ok, err) at end of input. */
void filesrc_start(struct filesrc *f, struct loop *l, watch_done_cb done, void *done_ctx);
/* Flow control: stop or restart reading. */
void filesrc_pause(struct filesrc *f, bool pause);
void filesrc_free(struct filesrc *f);
/* Events delivered, decode errors, oversized values. */
void filesrc_counts(const struct filesrc *f, uint64_t *events, uint64_t *errors, uint64_t *oversized);

#endif
