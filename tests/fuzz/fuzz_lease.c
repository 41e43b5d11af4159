/* The Lease object the API server returns, decoded for leader election. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lease_record r;
	if (lease_decode((const char *)data, size, &r) == 0) {
		if (!r.rv[0] || memchr(r.holder, '\0', sizeof r.holder) == NULL || r.duration_s < 0 ||
		    r.transitions < 0)
			abort();
	}
	return 0;
}
