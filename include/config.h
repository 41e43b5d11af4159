/*
 * config.h -- the command line, parsed with Go's flag conventions:
 * -x and --x are the same; -x=v and -x v both work (booleans only take
 * -x or -x=v); "--" ends the flags; an unknown flag, a missing value or a
 * bad value is an error naming the flag (exit code 2).
 */
#ifndef KE_CONFIG_H
#define KE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "log.h"

#define CONFIG_MAX_SINKS 32

struct config {
	const char *source; /* --source (exactly one) */
	const char *sinks[CONFIG_MAX_SINKS];
	size_t nsinks;
	int64_t frequency_ms;   /* --frequency, 5s..3m */
	const char *healthz_ip; /* --healthz-ip */
	int64_t healthz_port;   /* --healthz-port */
	bool event_metrics;     /* --event-metrics */
	bool version, help, check;
	bool once;                  /* --once: CI gate */
	int64_t since_ms;           /* --since (with --once), 0 = all */
	int64_t verbosity;          /* klog -v */
	enum log_format log_format; /* --log-format */
	int64_t flush_timeout_ms;   /* --flush-timeout on SIGTERM */
	int64_t healthz_timeout_ms; /* --healthz-timeout: API silence before 503 */
	size_t klog_ignored;        /* accepted-but-ignored klog flags seen */
	bool leader_elect;          /* --leader-elect: replicas share the work through a Lease */
	int64_t lease_ms, renew_deadline_ms, retry_ms; /* --leader-elect-lease-duration, ... */
	const char *lease_name, *lease_namespace;      /* --leader-elect-resource-{name,namespace} */
};

/*
 * Parse argv into cfg (pointers borrow argv). Returns 0, or -1 after
 * appending one line per problem to errors.
 */
int config_parse(int argc, char **argv, struct config *cfg, struct buf *errors);

/* The --help text. */
void config_usage(struct buf *out);

#endif
