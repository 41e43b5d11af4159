/*
 * cmwatch.h -- the Kubernetes implementation of cm.h: each subscribed
 * ConfigMap is fetched (GET) and then watched (fieldSelector on its name),
 * so template edits apply without a restart. Errors back off and refetch.
 */
#ifndef KE_CMWATCH_H
#define KE_CMWATCH_H

struct loop;
struct http;
struct kube;

/* Enable cm_subscribe() against this API server. Call before sinks start. */
void cmwatch_init(struct loop *l, struct http *h, struct kube *k);
/* Fetch every subscribed ConfigMap again (SIGHUP). */
void cmwatch_refresh(void);

/* Cancel everything and free the subscriptions. */
void cmwatch_shutdown(void);

#endif
