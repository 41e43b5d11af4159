/* Fuzz the event decoders: an Event object, a watch envelope, list
 * metadata, a Status, a ConfigMap watch line. Decoded strings must be
 * non-NULL and the effective count positive. */
#include <stdint.h>
#include <stdlib.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char err[128], rv[64], cont[64], reason[32], msg[64];
	int code;
	struct event ev;
	if (event_decode(p, size, &ev, err, sizeof err) == 0) {
		if (!ev.uid || !ev.reason || !ev.message || !ev.involved.kind || ev.eff_count < 1)
			abort();
		for (size_t i = 0; i < ev.nlabels; i++)
			if (!ev.labels[i].key || !ev.labels[i].value)
				abort();
		event_free(&ev);
	}
	struct watch_msg m;
	if (watch_msg_decode(p, size, &m, err, sizeof err) == 0)
		event_free(&m.ev);
	list_meta_decode(p, size, rv, sizeof rv, cont, sizeof cont);
	status_decode(p, size, &code, reason, sizeof reason, msg, sizeof msg);
	enum watch_type t;
	char *value = NULL;
	if (configmap_watch_decode(p, size, "content", &t, &value, rv, sizeof rv, &code) == 0)
		free(value);
	struct ktime kt;
	char s[64];
	size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
	for (size_t i = 0; i < n; i++)
		s[i] = (char)data[i];
	s[n] = '\0';
	ktime_parse(s, &kt);
	return 0;
}
