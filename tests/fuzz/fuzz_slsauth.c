/*
 * The documents the sls sink reads credentials from and SLS error replies:
 * ACK's token-config file (JSON with base64 AES-CBC fields), the ECS RAM
 * role credentials answer, and {"errorCode","errorMessage"}. Input: a
 * selector byte (% 3), then the document. A parse either fails with an
 * error and nothing allocated, or succeeds with a complete key pair;
 * nothing may crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/sls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *doc = (const char *)data + 1;
	size_t n = size - 1;
	char err[256], code[64], msg[200];
	struct sls_creds c;
	int r;
	switch (data[0] % 3) {
	case 0:
		r = sls_parse_token_config(doc, n, &c, err, sizeof err);
		break;
	case 1:
		r = sls_parse_role_creds(doc, n, &c, err, sizeof err);
		break;
	default:
		sls_parse_error(doc, n, code, sizeof code, msg, sizeof msg);
		if (strlen(code) >= sizeof code || strlen(msg) >= sizeof msg)
			abort();
		return 0;
	}
	if (r == 0 && (!c.id || !c.secret || !c.id[0] || !c.secret[0] || c.expires_ms <= 0))
		abort();
	if (r < 0 && (c.id || c.secret || c.token || !err[0]))
		abort();
	if (r == 0)
		sls_creds_free(&c);
	return 0;
}
