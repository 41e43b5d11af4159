/* Fuzz the kubeconfig loader from memory (no exec plugin is run). A
 * successful load always has a server. */
#include <stdint.h>
#include <stdlib.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_auth a;
	char err[300];
	if (kubeconfig_load_mem((const char *)data, size, "fuzz", "/nonexistent", NULL, &a, err, sizeof err) == 0) {
		if (!a.server)
			abort();
		kube_auth_free(&a);
	}
	return 0;
}
