/*
 * sls.h -- Alibaba Cloud Log Service (SLS) wire pieces, as the sls sink uses
 * them: the LogGroup protobuf, the LZ4 block body, the request signatures
 * (SLS4-HMAC-SHA256 and the older "LOG <ak>:<sig>"), and the readers of the
 * credential documents (ACK's token-config file, the ECS RAM-role answer)
 * and of SLS error replies. Pure functions: no I/O, no clock (exposed for
 * the unit tests and fuzz targets).
 */
#ifndef KE_SINKS_SLS_H
#define KE_SINKS_SLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* --- protobuf (proto2, log.proto of the SLS SDKs) ------------------------ */

/*
 * Append field number `field` as a length-delimited value (wire type 2):
 * tag, length, bytes. 0 or -1 (b full).
 */
int pb_bytes(struct buf *b, unsigned field, const void *p, size_t n);
/* Append a varint. 0 or -1. */
int pb_varint(struct buf *b, uint64_t v);
/* The encoded size of a varint. */
size_t pb_varint_len(uint64_t v);

/* One LogContent{1 Key, 2 Value} of a Log. */
struct sls_content {
	const char *key;
	const char *value;
	size_t value_len;
};

/*
 * Append one LogGroup field-1 entry: tag 0x0A, length, Log{1 Time,
 * 2 Contents...} (Key and Value always present, as the SDK's required
 * strings are). Items rendered this way are concatenated into a LogGroup.
 * 0 or -1 (b full).
 */
int sls_log_entry(struct buf *b, uint32_t time, const struct sls_content *c, size_t n);

/*
 * Append the rest of a LogGroup after its Logs: field 3 Topic and field 4
 * Source, always present (the producer sets both, "" included). 0 or -1.
 */
int sls_group_tail(struct buf *b, const char *topic, const char *source);

/*
 * LZ4-compress raw[0..n) as one raw LZ4 block (no frame) into out
 * (replacing its contents). 0, or -1 when out cannot hold the bound.
 */
int sls_lz4(const void *raw, size_t n, struct buf *out);

/* --- signatures ------------------------------------------------------------ */

struct sls_kv {
	const char *key;
	const char *value;
};

/*
 * Go's url.QueryEscape with "+" written as "%20": every byte but
 * A-Z a-z 0-9 - _ . ~ becomes %XX (uppercase hex). 0 or -1.
 */
int sls_percent_encode(struct buf *b, const char *s);

/*
 * The SLS4-HMAC-SHA256 Authorization header value for a request, as the
 * SDKs' SignerV4 computes it:
 *   canonical request = method \n path \n query \n headers \n signed \n payload hash
 * where query is the (decoded) parameters sorted by key, "k=v" joined by
 * "&" with values percent-encoded (sls_percent_encode) and "=" left out for
 * an empty value; headers are those whose lowercase name is host,
 * content-type or starts with x-log- / x-acs- (not x-log-meta-), as
 * "name:value\n" sorted by name, value as given; signed is their names
 * joined by ";". path is already escaped. date_time is the x-log-date
 * value (YYYYMMDDTHHMMSSZ), which the headers must hold too, and
 * content_sha256 the hex SHA-256 of the body sent (x-log-content-sha256).
 * Returns 0 with "SLS4-HMAC-SHA256 Credential=<ak>/<date>/<region>/sls/
 * aliyun_v4_request,Signature=<hex>" appended to out, or -1 (bad date,
 * too many headers, out full). When canonical is not NULL the canonical
 * request is appended to it (tests).
 */
int sls_sign_v4(struct buf *out, const char *method, const char *path, const struct sls_kv *query,
                size_t nquery, const struct sls_kv *headers, size_t nheaders, const char *content_sha256,
                const char *date_time, const char *region, const char *ak_id, const char *ak_secret,
                struct buf *canonical);

/*
 * The older signature: "LOG <ak>:" + base64(HMAC-SHA1(secret,
 *   method \n content_md5 \n content_type \n date \n canonical headers \n resource))
 * with canonical headers the x-log-* / x-acs-* ones, names lowercased and
 * trimmed, values trimmed, "name:value" sorted and joined by "\n".
 * resource is the escaped path (with "?k=v&..." sorted by key and not
 * encoded, when the request has a query). content_md5 is the uppercase hex MD5 of the body ("" without
 * one), date the Date header (RFC 1123, GMT). 0 or -1.
 */
int sls_sign_v1(struct buf *out, const char *method, const char *content_md5, const char *content_type,
                const char *date, const struct sls_kv *headers, size_t nheaders, const char *resource,
                const char *ak_id, const char *ak_secret);

/* --- credentials and replies ------------------------------------------------ */

/* An access key pair, with an STS token and its expiry when temporary. */
struct sls_creds {
	char *id, *secret, *token; /* token NULL: a long-lived pair */
	int64_t expires_ms;        /* Unix ms; 0 = never */
};

void sls_creds_free(struct sls_creds *c);

/*
 * ACK's /var/addon/token-config: {"access.key.id", "access.key.secret",
 * "security.token": base64 of AES-CBC ciphertexts (IV first, PKCS#5),
 * "keyring": the AES key's bytes, "expiration": "2006-01-02T15:04:05Z"}.
 * Fills c (owned by the caller: sls_creds_free). 0, or -1 with err (never
 * quoting a value).
 */
int sls_parse_token_config(const char *json, size_t n, struct sls_creds *c, char *err, size_t errlen);

/*
 * The ECS metadata answer for a RAM role's credentials:
 * {"AccessKeyId","AccessKeySecret","SecurityToken","Expiration" (RFC 3339),
 * "Code": "Success"}. 0, or -1 with err (no values quoted).
 */
int sls_parse_role_creds(const char *json, size_t n, struct sls_creds *c, char *err, size_t errlen);

/*
 * An SLS error reply {"errorCode": "...", "errorMessage": "..."}: both
 * copied (truncated) into code/msg; "" when absent. 0 when the body was
 * such an object, -1 otherwise (code/msg "").
 */
int sls_parse_error(const char *body, size_t n, char *code, size_t codelen, char *msg, size_t msglen);

#endif
