/*
 * influxdb.h -- InfluxDB line protocol, as the influxdb sink writes it
 * (exposed for its unit tests and fuzz target).
 */
#ifndef KE_SINKS_INFLUXDB_H
#define KE_SINKS_INFLUXDB_H

#include "buf.h"

enum lp_part {
	LP_MEASUREMENT, /* commas and spaces escaped */
	LP_KEY,         /* a tag key, tag value or field key: commas, '=' and spaces escaped */
	LP_STRING,      /* a string field value, inside its quotes: '"' and '\' escaped */
};

/*
 * Append s escaped for its part of a line. InfluxDB 1.x cannot carry a
 * newline in a measurement, key or tag value (the line would end there):
 * it becomes a space. InfluxDB reads a backslash and the byte after it as
 * one, and unescapes only "\,", "\ " and "\=": so a run of backslashes
 * right before a comma, space, '=', newline or the end (where it would eat
 * the escape or the separator) is dropped, and every other byte is kept and
 * reads back as it was.
 * String field values keep everything. 0, or -1 when b is full.
 */
int lp_escape(struct buf *b, const char *s, enum lp_part part);

#endif
