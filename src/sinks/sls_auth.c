/*
 * sls_auth.c -- the documents the sls sink reads its credentials from, and
 * SLS error replies. See sinks/sls.h.
 *
 * Sources: upstream kube-eventer sinks/utils/aliyun_util.go (the
 * token-config fields, AES-CBC with the keyring bytes as key and the first
 * block as IV, PKCS#5, expiration layout 2006-01-02T15:04:05Z) and the
 * ack-ram-tool ecsmetadata client it vendors (ram.go: the role credential
 * fields, Expiration in RFC 3339). Error messages name fields, never values.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "event.h"
#include "sinks/sls.h"
#include "util.h"

void sls_creds_free(struct sls_creds *c)
{
	free(c->id);
	free(c->secret);
	free(c->token);
	memset(c, 0, sizeof *c);
}

static const char *str_item(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int expiry(const char *s, int64_t *ms)
{
	struct ktime t;
	if (!s || ktime_parse(s, &t) < 0 || t.sec <= 0)
		return -1;
	*ms = t.sec * 1000 + t.nsec / 1000000;
	return 0;
}

/* One encrypted token-config field, decrypted into a new string. */
static char *decrypt_field(const cJSON *root, const char *name, const char *keyring, char *err, size_t errlen)
{
	const char *v = str_item(root, name);
	struct buf raw = BUF_INIT(64 * 1024), plain = BUF_INIT(64 * 1024);
	char *out = NULL;
	if (!v)
		snprintf(err, errlen, "token-config: no \"%s\"", name);
	else if (base64_decode(&raw, v, strlen(v)) < 0)
		snprintf(err, errlen, "token-config: \"%s\" is not base64", name);
	else if (aes_cbc_decrypt(keyring, strlen(keyring), raw.data, raw.len, &plain) < 0)
		snprintf(err, errlen, "token-config: \"%s\" cannot be decrypted with the keyring (AES-CBC)",
		         name);
	else if (memchr(plain.data ? plain.data : "", '\0', plain.len))
		snprintf(err, errlen, "token-config: \"%s\" decrypts to binary data", name);
	else
		out = buf_steal(&plain);
	buf_free(&raw);
	buf_free(&plain);
	return out;
}

int sls_parse_token_config(const char *json, size_t n, struct sls_creds *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	cJSON *root = cJSON_ParseWithLength(json, n);
	int r = -1;
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "token-config: not a JSON object");
		goto out;
	}
	const char *keyring = str_item(root, "keyring");
	size_t kl = keyring ? strlen(keyring) : 0;
	if (kl != 16 && kl != 24 && kl != 32) {
		snprintf(err, errlen, "token-config: \"keyring\" must be an AES key of 16, 24 or 32 bytes");
		goto out;
	}
	if (expiry(str_item(root, "expiration"), &c->expires_ms) < 0) {
		snprintf(err, errlen, "token-config: \"expiration\" is not a time like 2006-01-02T15:04:05Z");
		goto out;
	}
	if (!(c->id = decrypt_field(root, "access.key.id", keyring, err, errlen)) ||
	    !(c->secret = decrypt_field(root, "access.key.secret", keyring, err, errlen)) ||
	    !(c->token = decrypt_field(root, "security.token", keyring, err, errlen)))
		goto out;
	if (!c->id[0] || !c->secret[0]) {
		snprintf(err, errlen, "token-config: an empty access key");
		goto out;
	}
	if (!c->token[0]) {
		free(c->token);
		c->token = NULL;
	}
	r = 0;
out:
	cJSON_Delete(root);
	if (r < 0)
		sls_creds_free(c);
	return r;
}

int sls_parse_role_creds(const char *json, size_t n, struct sls_creds *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	cJSON *root = cJSON_ParseWithLength(json, n);
	int r = -1;
	const char *code = str_item(root, "Code");
	const char *id = str_item(root, "AccessKeyId"), *secret = str_item(root, "AccessKeySecret");
	const char *token = str_item(root, "SecurityToken");
	if (!cJSON_IsObject(root))
		snprintf(err, errlen, "role credentials: not a JSON object");
	else if (code && strcmp(code, "Success") != 0)
		snprintf(err, errlen, "role credentials: Code is \"%.60s\", not Success", code);
	else if (!id || !*id || !secret || !*secret)
		snprintf(err, errlen, "role credentials: no AccessKeyId or AccessKeySecret");
	else if (expiry(str_item(root, "Expiration"), &c->expires_ms) < 0)
		snprintf(err, errlen, "role credentials: \"Expiration\" is not an RFC 3339 time");
	else
		r = 0;
	if (r == 0) {
		c->id = xstrdup(id);
		c->secret = xstrdup(secret);
		c->token = token && *token ? xstrdup(token) : NULL;
	}
	cJSON_Delete(root);
	return r;
}

int sls_parse_error(const char *body, size_t n, char *code, size_t codelen, char *msg, size_t msglen)
{
	cJSON *root = cJSON_ParseWithLength(body, n);
	const char *c = str_item(root, "errorCode"), *m = str_item(root, "errorMessage");
	snprintf(code, codelen, "%s", c ? c : "");
	snprintf(msg, msglen, "%s", m ? m : "");
	cJSON_Delete(root);
	return c || m ? 0 : -1;
}
