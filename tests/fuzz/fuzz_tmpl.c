/* Fuzz the template compiler and renderer: byte 0 picks the mode, the rest
 * is template source. Anything that compiles is rendered into a 64 KiB
 * buffer against a fixed event; nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

static struct kv labels[] = { { "app", "w\"eb" }, { "tier", "\xff" } };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct event e = { 0 };
	e.type = "Warning";
	e.reason = "BackOff";
	e.message = "say \"hi\"\n\xe4\xb8\xad";
	e.name = e.namespace = e.uid = e.resource_version = e.action = "x";
	e.reporting_controller = e.reporting_instance = "";
	e.involved.kind = e.involved.namespace = e.involved.name = e.involved.uid = "o";
	e.involved.api_version = e.involved.resource_version = e.involved.field_path = "";
	e.source.component = e.source.host = "";
	e.labels = labels;
	e.nlabels = 2;
	e.eff_count = 2;
	e.last_ts = (struct ktime){ 1709622489, 5 };
	char err[256];
	struct tmpl *t = tmpl_compile((const char *)data + 1, size - 1, data[0] & 1 ? TMPL_JSON : TMPL_TEXT,
	                              err, sizeof err);
	if (!t)
		return 0;
	struct buf out = BUF_INIT(64 * 1024);
	tmpl_render(t, &e, (struct ktime){ 1, 0 }, &out, err, sizeof err);
	buf_free(&out);
	tmpl_free(t);
	return 0;
}
