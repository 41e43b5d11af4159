/*
 * gotime.h -- Go's time formatting: Time.Format with the reference layout
 * (Mon Jan 2 15:04:05 MST 2006) and Time.String().
 *
 * Local times use the process zone as the C library sees it (TZ,
 * /etc/localtime, /usr/share/zoneinfo), as Go's time.Local does; the zero
 * time ({0,0}) is always UTC, as Go's zero Time is.
 */
#ifndef KE_GOTIME_H
#define KE_GOTIME_H

#include <stdbool.h>

#include "buf.h"
#include "event.h"

/* Append t formatted with a Go layout. utc: format in UTC instead of local. 0 or -1 (too long). */
int gotime_format(struct buf *b, struct ktime t, bool utc, const char *layout);
/* Append Go's Time.String(): "2006-01-02 15:04:05.999999999 -0700 MST". */
int gotime_string(struct buf *b, struct ktime t, bool utc);

#endif
