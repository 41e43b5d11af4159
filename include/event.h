/*
 * event.h -- the one decoded form of a Kubernetes Event.
 *
 * Both shapes decode into struct event: legacy core/v1 events
 * (firstTimestamp/lastTimestamp/count/source) and events.k8s.io-written ones
 * seen through core/v1 (lastTimestamp null, eventTime with microseconds,
 * series.count, reportingComponent).
 *
 * Ownership: every string points into ev->mem (one allocation per event) and
 * is never NULL -- an absent field is "" (Go's zero value). event_free()
 * releases everything. Only event.c touches cJSON.
 */
#ifndef KE_EVENT_H
#define KE_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* A point in time: Unix seconds + nanoseconds. {0,0} is Go's zero time. */
struct ktime {
	int64_t sec;
	int32_t nsec;
};

static inline bool ktime_is_zero(struct ktime t)
{
	return t.sec == 0 && t.nsec == 0;
}

struct kv {
	const char *key;
	const char *value;
};

struct event {
	/* metadata */
	const char *name, *namespace, *uid, *resource_version;
	struct ktime creation;
	struct kv *labels; /* sorted by key, as Go ranges over maps */
	size_t nlabels;
	struct kv *annotations; /* sorted by key */
	size_t nannotations;

	const char *type, *reason, *message, *action;
	const char *reporting_controller, *reporting_instance;
	int32_t count;   /* the raw .count field (0 when absent) */
	bool has_series; /* .series present */
	int32_t series_count;
	struct ktime series_last_observed;
	struct ktime first_ts, last_ts, event_time;

	struct {
		const char *kind, *namespace, *name, *uid, *api_version;
		const char *resource_version, *field_path;
	} involved;
	struct {
		const char *component, *host;
	} source;

	/* Derived at decode (DESIGN.md §3):
	 * eff_time  = series.lastObservedTime -> lastTimestamp -> eventTime ->
	 *             firstTimestamp -> metadata.creationTimestamp
	 * eff_count = series.count -> count -> 1 */
	struct ktime eff_time;
	int32_t eff_count;

	/*
	 * The object itself, for data sinks that store the whole Event: the
	 * API server's JSON re-encoded compactly (key order kept, kind and
	 * apiVersion dropped, as Go's client hands a typed Event to upstream's
	 * json.Marshal), with where its metadata, involvedObject and source
	 * values sit in it. Only while event_keep_json(true); else empty.
	 */
	const char *json;
	size_t json_len;
	struct json_span {
		uint32_t off, len; /* len 0: absent */
	} json_metadata, json_involved, json_source;

	char *mem;      /* owns all strings and arrays above */
	size_t mem_cap; /* its size (event_free may keep it for the next event) */
};

/*
 * Keep the whole object as JSON (ev->json) in every event decoded from now
 * on: the data sinks need it. Bounded by EVENT_JSON_MAX; a larger object is
 * kept without its metadata.managedFields, and failing that not at all.
 */
#define EVENT_JSON_MAX (512 * 1024)
void event_keep_json(bool keep);

/* Release an event's memory and zero it; safe on a zeroed struct. */
void event_free(struct event *ev);

/*
 * Decode one Event object (JSON text, len bytes). Returns 0, or -1 with a
 * short reason in err (not JSON, not an object, missing metadata.uid, ...).
 */
int event_decode(const char *json, size_t len, struct event *ev, char *err, size_t errlen);

/*
 * kube-eventer's .LastTimestamp: lastTimestamp, else series.lastObservedTime,
 * else eventTime, else now.
 */
struct ktime event_last_time(const struct event *ev, struct ktime now);

/* Parse RFC 3339 ("2024-03-05T07:08:09Z", "...09.764227Z", "+08:00"). 0 or -1. */
int ktime_parse(const char *s, struct ktime *out);

/* Watch stream envelope: {"type": ..., "object": ...}. */
enum watch_type {
	WATCH_ADDED,
	WATCH_MODIFIED,
	WATCH_DELETED,
	WATCH_BOOKMARK,
	WATCH_ERROR,
};

struct watch_msg {
	enum watch_type type;
	struct event ev;          /* ADDED / MODIFIED (and DELETED) */
	char rv[128];             /* BOOKMARK: metadata.resourceVersion; else ev's */
	int status_code;          /* ERROR: Status.code (410 = expired) */
	char status_reason[64];   /* ERROR: Status.reason ("Expired", "Gone") */
	char status_message[256]; /* ERROR: Status.message */
};

/*
 * Decode one watch line. Returns 0 (caller must event_free(&msg->ev)), or -1
 * with err set for malformed input. Unknown "type" values are errors.
 */
int watch_msg_decode(const char *json, size_t len, struct watch_msg *msg, char *err, size_t errlen);

/*
 * Decode a list's "metadata" object: resourceVersion and continue token
 * (either may be empty). Returns 0 or -1.
 */
int list_meta_decode(const char *json, size_t len, char *rv, size_t rvlen, char *cont, size_t contlen);

/*
 * Decode a Status object (an HTTP error body or an in-stream ERROR):
 * code, reason, message. Returns 0 or -1 if it is not a Status.
 */
int status_decode(const char *json, size_t len, int *code, char *reason, size_t rlen, char *msg, size_t mlen);

/*
 * ConfigMaps (sink templates). Decode a ConfigMap object: its
 * metadata.resourceVersion and data[key] (*value NULL when the key is
 * absent; caller frees). 0, or -1 when it is not a ConfigMap object.
 */
int configmap_decode(const char *json, size_t len, const char *key, char **value, char *rv, size_t rvlen);

/*
 * A ConfigMap watch line: *type, and for ADDED/MODIFIED/DELETED the same as
 * configmap_decode; BOOKMARK sets rv; ERROR sets *status_code. 0 or -1.
 */
int configmap_watch_decode(const char *json, size_t len, const char *key, enum watch_type *type, char **value,
                           char *rv, size_t rvlen, int *status_code);

#endif
