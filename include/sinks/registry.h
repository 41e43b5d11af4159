/*
 * registry.h -- every sink type, in one table. Adding a sink is one file in
 * src/sinks/ plus one line in src/sinks/registry.c.
 */
#ifndef KE_SINKS_REGISTRY_H
#define KE_SINKS_REGISTRY_H

struct sink_type;

extern const struct sink_type *const sink_types[]; /* NULL-terminated */

/* The type for a --sink key, or NULL. */
const struct sink_type *sink_type_find(const char *key);

#endif
