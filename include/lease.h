/*
 * lease.h -- leader election with a coordination.k8s.io/v1 Lease, as
 * client-go's leaderelection does it, on the loop.
 *
 * Every retry period a candidate reads the Lease. It takes it when it is
 * absent, released (no holder), or not renewed for a lease duration as this
 * process observed it (its own clock: the holder's renewTime is only
 * compared for change, never with our time). Writes carry the
 * resourceVersion read, so of two candidates one wins and the other gets a
 * 409 and reads again. The leader renews every retry period and steps down
 * when it could not renew within the renew deadline -- which is shorter
 * than the lease duration, so it has stopped before anyone else can take
 * over. Releasing (SIGTERM) clears the holder at once so a successor takes
 * over within one retry period.
 *
 * With each renewal the leader records how far it has delivered (the
 * watch's resourceVersion at a moment when no sink had anything pending,
 * and that moment) in the Lease's annotations; a new leader gets them, to
 * resume the watch from there.
 */
#ifndef KE_LEASE_H
#define KE_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct http;
struct kube;
struct lease;

struct lease_opts {
	const char *name, *namespace; /* the Lease */
	const char *identity;         /* holderIdentity: unique per process */
	int64_t duration_ms, renew_deadline_ms, retry_ms;
};

/*
 * Leadership changed. On becoming leader, rv and since_wall_s are the
 * previous leader's record ("" and 0 when there is none).
 */
typedef void (*lease_cb)(void *ctx, bool leader, const char *rv, int64_t since_wall_s);

struct lease *lease_new(struct loop *l, struct http *h, struct kube *k, const struct lease_opts *o,
                        lease_cb cb, void *ctx);
/* Start campaigning (the first attempt is made from the loop). */
void lease_start(struct lease *le);
/* What the next renewal records: delivered up to rv, as of wall_s. */
void lease_note_progress(struct lease *le, const char *rv, int64_t wall_s);
/* Give the Lease up (holder cleared) if we hold it, then call done (also when we do not). */
void lease_release(struct lease *le, void (*done)(void *ctx), void *ctx);
bool lease_is_leader(const struct lease *le);
/* The last error, for logs and /healthz ("" when none). */
const char *lease_last_error(const struct lease *le);
void lease_free(struct lease *le);

/* Annotations of the handover record. */
#define LEASE_ANN_RV "kube-eventer/resource-version"
#define LEASE_ANN_AT "kube-eventer/delivered-at"

#endif
