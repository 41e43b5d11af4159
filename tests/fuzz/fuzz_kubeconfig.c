/*
 * Fuzz the kubeconfig loader from memory, and the ExecCredential parser with
 * the same bytes (JSON is YAML). No exec plugin is ever run: loading only
 * checks the exec section. Relative paths resolve under a folder that does
 * not exist; absolute ones may name real files, which are only read
 * (regular files, at most 1 MiB).
 *
 * Invariants: a successful load has an http(s) server; a failed one leaves
 * the struct empty and says which input failed; a parsed credential has a
 * token or a certificate and key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_auth a;
	struct kube_cred c;
	char err[300];

	err[0] = '\0';
	if (kubeconfig_load_mem((const char *)data, size, "fuzz", "/nonexistent", NULL, &a, err,
	                        sizeof err) == 0) {
		if (!a.server ||
		    (strncmp(a.server, "https://", 8) != 0 && strncmp(a.server, "http://", 7) != 0))
			abort();
		if ((a.cert_pem == NULL) != (a.key_pem == NULL))
			abort();
		if (a.exec &&
		    (!a.exec->command || !a.exec->api_version || a.exec->args[a.exec->nargs] != NULL))
			abort();
		kube_auth_free(&a);
	} else if (strncmp(err, "fuzz: ", 6) != 0 || a.server || a.exec || a.token || a.ca_pem) {
		abort();
	}

	err[0] = '\0';
	if (kube_cred_parse((const char *)data, size, "client.authentication.k8s.io/v1", &c, err,
	                    sizeof err) == 0) {
		if (!c.token && !(c.cert_pem && c.key_pem))
			abort();
		kube_cred_free(&c);
	} else if (!err[0] || c.token || c.cert_pem) {
		abort();
	}
	return 0;
}
