/*
 * tmpl.h -- a Go text/template subset over the core/v1 Event.
 *
 * Syntax as Go: {{ pipeline }}, comments (slash-star inside the braces),
 * {{- and -}} trimming,
 * if / else if / else / end, range (maps in key order; $k, $v :=; else;
 * break, continue), with / else with / else, variables ($x := , $x = , $),
 * parenthesised pipelines, literals ("..." `...` 'c' 12 1.5 true false nil).
 * Data: the Event with Go field names (.Type .Reason .Message .Count ...,
 * .InvolvedObject.*, .Source.*, .Series.*, .Labels, .Annotations, times).
 * Functions: and or not eq ne lt le gt ge len index print printf println,
 * json upper lower trunc default replace raw; time methods .Format .Unix
 * .UnixMilli .UTC .Local .String .IsZero.
 *
 * Deliberate differences from Go: .Count is the effective count
 * (series.count for events.k8s.io-written events), .LastTimestamp falls back
 * to series.lastObservedTime, eventTime, then now (kube-eventer), and
 * .Series.* of an event without series is zero instead of an error.
 *
 * TMPL_JSON: every action inside a JSON string literal of the template
 * text is JSON-escaped, so any message still yields valid JSON; `raw` as
 * the last command of a pipeline opts out, and `json` output is never
 * escaped again.
 */
#ifndef KE_TMPL_H
#define KE_TMPL_H

#include <stddef.h>

#include "buf.h"
#include "event.h"

enum tmpl_mode { TMPL_TEXT, TMPL_JSON };

struct tmpl;

/* Compile. NULL on error, with "line:col: message" in err. */
struct tmpl *tmpl_compile(const char *src, size_t len, enum tmpl_mode mode, char *err, size_t errlen);

/*
 * Render against ev, appending to out (bounded by out->max); now is the
 * time .LastTimestamp falls back to. 0, or -1 with err (output too large,
 * a runtime error such as comparing a string with a number).
 */
int tmpl_render(const struct tmpl *t, const struct event *ev, struct ktime now, struct buf *out, char *err,
                size_t errlen);

void tmpl_free(struct tmpl *t);

#endif
