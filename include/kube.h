/*
 * kube.h -- how to reach the API server: configuration and credentials.
 *
 * Built once from --source=kubernetes:URL?options (kube-eventer's meanings):
 *   inClusterConfig (true)  service-account token + CA; host from the URL,
 *                           else KUBERNETES_SERVICE_HOST/_PORT
 *   auth, localKubeConfig   kubeconfig path (selects kubeconfig mode unless
 *                           inClusterConfig=true is given explicitly);
 *                           with inClusterConfig=false and no path: $KUBECONFIG
 *   insecure (false)        skip TLS verification
 *   useServiceAccount       also send the service-account token
 *   namespace, fieldSelector, context, watchTimeout   extensions
 * A URL with scheme and host overrides the configured server.
 *
 * Tokens from files (the service account's, kubeconfig tokenFile) are
 * re-read at least every minute and after a 401; exec-plugin tokens are
 * cached until their expirationTimestamp and re-run after a 401. An exec
 * plugin runs on a helper thread (it may take seconds): the loop goes on,
 * with the previous token while it has one.
 */
#ifndef KE_KUBE_H
#define KE_KUBE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct uri;
struct kube;

/* A request to the API server, ready for http_start(). */
struct kube_req {
	struct http_request http;
	char url[4096];
	char auth[8192];        /* "Authorization: Bearer ..." */
	const char *headers[4]; /* kube_prepare fills two; a caller may add the rest */
	char connect_to[600];
};

/* Resolve the configuration (reads files, no network). 0, or -1 with err. */
int kube_new(struct uri *u, struct kube **out, char *err, size_t errlen);
void kube_free(struct kube *k);

/*
 * Fill r for GET <server><path>. 0; KUBE_PENDING while an exec plugin runs
 * and there is no token to use meanwhile (ask again shortly); or -1 with err
 * (credentials unavailable).
 */
#define KUBE_PENDING 1
#define KUBE_PENDING_RETRY_MS 100
int kube_prepare(struct kube *k, const char *path, struct kube_req *r, char *err, size_t errlen);

/* The server answered 401: refresh credentials before the next request. */
void kube_unauthorized(struct kube *k);

const char *kube_server(const struct kube *k);
/* namespace= (NULL: all namespaces) and fieldSelector= (NULL: none). */
const char *kube_namespace(const struct kube *k);
const char *kube_field_selector(const struct kube *k);
/* watchTimeout= in seconds (extension), 0 = random 300..600 as DESIGN.md says. */
int kube_watch_timeout(const struct kube *k);
/* A one-line description for the start-up log (no secrets). */
const char *kube_describe(const struct kube *k);

#endif
