/*
 * cm.h -- ConfigMap templates for sinks, kept current by a watch.
 *
 * A sink subscribes to one ConfigMap key; the callback receives the value
 * at start-up and again after every change (NULL when the ConfigMap or the
 * key is missing). The Kubernetes source provides the implementation
 * (cmwatch.c); with another source, cm_subscribe() fails.
 */
#ifndef KE_CM_H
#define KE_CM_H

#include <stdbool.h>

/* value: the key's content, or NULL with why ("not found", "no key content"). */
typedef void (*cm_cb)(void *ctx, const char *value, const char *why);

/* 0, or -1 when ConfigMaps are not available (no Kubernetes source). */
int cm_subscribe(const char *ns, const char *name, const char *key, cm_cb cb, void *ctx);

/* True once every subscription has had its first answer (or gave up). */
bool cm_ready(void);

#endif
