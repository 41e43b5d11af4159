/*
 * gotime.h -- Go's time formatting: Time.Format with the reference layout
 * (Mon Jan 2 15:04:05 MST 2006) and Time.String().
 *
 * Local times use the process zone as the C library sees it (TZ,
 * /etc/localtime, /usr/share/zoneinfo), as Go's time.Local does; call
 * tzset() after changing TZ. The zero time ({0,0}) is always UTC, as Go's
 * zero Time is.
 */
#ifndef KE_GOTIME_H
#define KE_GOTIME_H

#include <stdbool.h>

#include "buf.h"
#include "event.h"

/*
 * Append t formatted with a Go layout: 2006 06 01 1 Jan January 02 2 _2
 * 002 __2 15 03 3 04 4 05 5 PM pm Mon Monday MST -0700 -07:00 -07 -070000
 * -07:00:00 Z0700 Z07:00 Z07 Z070000 Z07:00:00 .000 .999 ,000 ,999 (any
 * run of 0s or 9s); everything else is literal, as Go's time.Format.
 * utc: format in UTC instead of the local zone. Allocates nothing beyond
 * growing b. Returns 0, or -1 when b would pass its ceiling (b unchanged).
 */
int gotime_format(struct buf *b, struct ktime t, bool utc, const char *layout);

/*
 * Append Go's Time.String(): layout "2006-01-02 15:04:05.999999999 -0700 MST"
 * (fraction only when non-zero, trailing zeros trimmed). 0, or -1 as above.
 */
int gotime_string(struct buf *b, struct ktime t, bool utc);

#endif
