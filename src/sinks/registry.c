/* registry.c -- the table of sink types. One line per sink. */
#include "sinks/registry.h"

#include <string.h>

#include "sink.h"

extern const struct sink_type sink_webhook, sink_dingtalk, sink_wechat, sink_log, sink_stdout,
    sink_elasticsearch, sink_influxdb, sink_honeycomb, sink_sls, sink_kafka, sink_mysql;

const struct sink_type *const sink_types[] = {
	&sink_webhook,  &sink_dingtalk,  &sink_wechat, &sink_log,   &sink_stdout, &sink_elasticsearch,
	&sink_influxdb, &sink_honeycomb, &sink_sls,    &sink_kafka, &sink_mysql,  NULL,
};

const struct sink_type *sink_type_find(const char *key)
{
	for (size_t i = 0; sink_types[i]; i++)
		if (strcmp(sink_types[i]->name, key) == 0)
			return sink_types[i];
	return NULL;
}
