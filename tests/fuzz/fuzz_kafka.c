/*
 * What Kafka brokers send the kafka sink: answer frames and every decoder
 * of an answer body (ApiVersions, Metadata, Produce, InitProducerId, SASL
 * handshake and authenticate) at each version, and the SCRAM server
 * messages. Input: byte 0 picks the decoder, byte 1 the version, the rest
 * is the body. Nothing may crash, leak or read past the end; what a
 * decoder returns must be consistent (counts within bounds, strings ended).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "scram.h"
#include "sinks/kafka.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int which = data[0] % 8, ver = data[1] % 10;
	/* an exact-size copy: reads past the end are the sanitizer's to see */
	char *p = xmalloc(size - 2 + 1);
	memcpy(p, data + 2, size - 2);
	size_t n = size - 2;
	int16_t err, epoch;
	switch (which) {
	case 0: {
		struct kafka_versions v;
		if (kafka_read_api_versions(p, n, ver % 3, &err, &v) == 0)
			for (int api = 0; api < KAFKA_API_MAX; api++) {
				int pick = kafka_pick_version(&v, api, 0, 20);
				if (pick > 20 || (pick >= 0 && pick > v.max[api]))
					abort();
			}
		break;
	}
	case 1: {
		struct kafka_metadata md;
		if (kafka_read_metadata(p, n, ver % 9, "t", &md) == 0) {
			if (md.nbrokers > KAFKA_MAX_BROKERS || md.nparts > KAFKA_MAX_PARTITIONS)
				abort();
			for (size_t i = 0; i < md.nbrokers; i++)
				if (strlen(md.brokers[i].host) >= sizeof md.brokers[i].host ||
				    md.brokers[i].port <= 0)
					abort();
			for (size_t i = 1; i < md.nparts; i++)
				if (md.parts[i - 1].id > md.parts[i].id)
					abort();
			kafka_metadata_free(&md);
		}
		break;
	}
	case 2: {
		struct kafka_produce_result res[8];
		size_t count = 0;
		if (kafka_read_produce(p, n, 3 + ver % 6, "t", res, 8, &count) == 0)
			for (size_t i = 0; i < count; i++)
				if (count > 8 || strlen(res[i].message) >= sizeof res[i].message)
					abort();
		break;
	}
	case 3: {
		int64_t pid;
		kafka_read_init_producer_id(p, n, &err, &pid, &epoch);
		break;
	}
	case 4: {
		char mechs[64];
		if (kafka_read_sasl_handshake(p, n, &err, mechs, sizeof mechs) == 0 &&
		    strlen(mechs) >= sizeof mechs)
			abort();
		break;
	}
	case 5: {
		char msg[64];
		const char *bytes;
		size_t blen;
		int64_t life;
		if (kafka_read_sasl_authenticate(p, n, ver % 2, &err, msg, sizeof msg, &bytes, &blen,
		                                 &life) == 0 &&
		    bytes && (bytes < p || bytes + blen > p + n))
			abort();
		break;
	}
	case 6: {
		int32_t corr;
		const char *body;
		size_t len;
		long used = kafka_frame(p, n, 1 << 20, &corr, &body, &len);
		if (used > 0 && ((size_t)used > n || body + len > p + n))
			abort();
		break;
	}
	default: {
		/* SCRAM: the server-first message, then (if taken) the rest as the server-final */
		struct scram s;
		struct buf out = BUF_INIT(64 * 1024);
		char e[200];
		memset(&s, 0, sizeof s);
		scram_start(&s, ver & 1 ? CRYPTO_SHA512 : CRYPTO_SHA256, "user", "pencil",
		            "rOprNGfwEbeRWgbNEkqO", &out);
		const char *nl = memchr(p, '\n', n);
		size_t first = nl ? (size_t)(nl - p) : n;
		buf_reset(&out);
		if (scram_final(&s, p, first, &out, e, sizeof e) == 0 && nl)
			scram_verify(&s, nl + 1, n - first - 1, e, sizeof e);
		scram_free(&s);
		buf_free(&out);
		break;
	}
	}
	free(p);
	return 0;
}
