/* config.c -- kube-eventer's command line with Go flag semantics. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

enum ftype { F_STR, F_BOOL, F_INT, F_DUR, F_SINK, F_FORMAT, F_IGNORED_STR, F_IGNORED_BOOL, F_IGNORED_INT };

struct flagdef {
	const char *name;
	enum ftype type;
	size_t off; /* offset in struct config (unused for ignored flags) */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct flagdef flags[] = {
	{ "source", F_STR, OFF(source), "event source: kubernetes:URL?options or file:PATH (- = stdin)" },
	{ "sink", F_SINK, 0,
	  "a sink: webhook:URL?..., dingtalk:..., wechat:..., log:, stdout: (repeatable)" },
	{ "frequency", F_DUR, OFF(frequency_ms),
	  "longest time a batching sink may hold events, 5s..3m (default 30s)" },
	{ "healthz-ip", F_STR, OFF(healthz_ip),
	  "address of the /healthz and /metrics endpoint (default 0.0.0.0)" },
	{ "healthz-port", F_INT, OFF(healthz_port),
	  "port of the /healthz and /metrics endpoint (default 8084; 0 = any free port)" },
	{ "event-metrics", F_BOOL, OFF(event_metrics),
	  "per-reason event counters in /metrics (default true)" },
	{ "version", F_BOOL, OFF(version), "print the version and exit" },
	{ "help", F_BOOL, OFF(help), "print this help and exit" },
	{ "h", F_BOOL, OFF(help), NULL },
	{ "check", F_BOOL, OFF(check),
	  "check the configuration, print \"configuration OK\" or every problem, exit 0/2" },
	{ "once", F_BOOL, OFF(once),
	  "CI gate: list current events once, deliver matches, exit 1 if any matched" },
	{ "since", F_DUR, OFF(since_ms), "with --once: only events active within this duration (e.g. 30m)" },
	{ "log-format", F_FORMAT, OFF(log_format), "log format: text (logfmt) or json (default text)" },
	{ "flush-timeout", F_DUR, OFF(flush_timeout_ms),
	  "on SIGTERM, how long to keep delivering queued events (default 5s)" },
	{ "healthz-timeout", F_DUR, OFF(healthz_timeout_ms),
	  "/healthz turns 503 after the API server failed this long (default 3m)" },
	{ "v", F_INT, OFF(verbosity), "log verbosity (klog): 0-1 info, 2-3 debug, 4+ trace" },
	{ "leader-elect", F_BOOL, OFF(leader_elect),
	  "replicas elect a leader with a Lease; only the leader watches and delivers (default false)" },
	{ "leader-elect-lease-duration", F_DUR, OFF(lease_ms),
	  "how long a lease not renewed keeps others out (default 15s)" },
	{ "leader-elect-renew-deadline", F_DUR, OFF(renew_deadline_ms),
	  "a leader that could not renew for this long stops leading (default 10s)" },
	{ "leader-elect-retry-period", F_DUR, OFF(retry_ms),
	  "how often to renew or try to acquire (default 2s)" },
	{ "leader-elect-resource-name", F_STR, OFF(lease_name), "the Lease's name (default kube-eventer)" },
	{ "leader-elect-resource-namespace", F_STR, OFF(lease_namespace),
	  "the Lease's namespace (default: the pod's, else kube-system)" },
	/* accepted so that existing manifests start; ignored with one warning */
	{ "max_procs", F_IGNORED_INT, 0, NULL },
	{ "logtostderr", F_IGNORED_BOOL, 0, NULL },
	{ "alsologtostderr", F_IGNORED_BOOL, 0, NULL },
	{ "stderrthreshold", F_IGNORED_STR, 0, NULL },
	{ "log_dir", F_IGNORED_STR, 0, NULL },
	{ "log_file", F_IGNORED_STR, 0, NULL },
	{ "log_file_max_size", F_IGNORED_INT, 0, NULL },
	{ "log_backtrace_at", F_IGNORED_STR, 0, NULL },
	{ "vmodule", F_IGNORED_STR, 0, NULL },
	{ "skip_headers", F_IGNORED_BOOL, 0, NULL },
	{ "skip_log_headers", F_IGNORED_BOOL, 0, NULL },
	{ "add_dir_header", F_IGNORED_BOOL, 0, NULL },
	{ "one_output", F_IGNORED_BOOL, 0, NULL },
	{ "log-flush-frequency", F_IGNORED_STR, 0, NULL },
};

static const struct flagdef *find(const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(flags); i++)
		if (strlen(flags[i].name) == n && strncmp(flags[i].name, name, n) == 0)
			return &flags[i];
	return NULL;
}

static bool is_bool(enum ftype t)
{
	return t == F_BOOL || t == F_IGNORED_BOOL;
}

static int set(struct config *cfg, const struct flagdef *f, const char *v, struct buf *errors)
{
	char *base = (char *)cfg;
	int64_t n;
	bool b;

	switch (f->type) {
	case F_STR:
		if (strcmp(f->name, "source") == 0 && cfg->source) {
			buf_printf(errors,
			           "--source: given more than once (exactly one source is allowed)\n");
			return -1;
		}
		*(const char **)(void *)(base + f->off) = v;
		return 0;
	case F_SINK:
		if (cfg->nsinks == CONFIG_MAX_SINKS) {
			buf_printf(errors, "--sink: at most %d sinks\n", CONFIG_MAX_SINKS);
			return -1;
		}
		cfg->sinks[cfg->nsinks++] = v;
		return 0;
	case F_BOOL:
		if (parse_bool(v, &b) < 0) {
			buf_printf(errors, "-%s: invalid boolean value \"%s\"\n", f->name, v);
			return -1;
		}
		*(bool *)(void *)(base + f->off) = b;
		return 0;
	case F_INT:
		if (parse_i64(v, strlen(v), &n) < 0) {
			buf_printf(errors, "-%s: invalid integer value \"%s\"\n", f->name, v);
			return -1;
		}
		*(int64_t *)(void *)(base + f->off) = n;
		return 0;
	case F_DUR:
		if (parse_duration_ms(v, &n) < 0) {
			buf_printf(errors, "-%s: invalid duration \"%s\" (examples: 30s, 2m, 1h30m)\n",
			           f->name, v);
			return -1;
		}
		*(int64_t *)(void *)(base + f->off) = n;
		return 0;
	case F_FORMAT:
		if (log_parse_format(v, &cfg->log_format) < 0) {
			buf_printf(errors, "--log-format: must be text or json, got \"%s\"\n", v);
			return -1;
		}
		return 0;
	case F_IGNORED_BOOL:
		if (parse_bool(v, &b) < 0) {
			buf_printf(errors, "-%s: invalid boolean value \"%s\"\n", f->name, v);
			return -1;
		}
		cfg->klog_ignored++;
		return 0;
	case F_IGNORED_INT:
		if (parse_i64(v, strlen(v), &n) < 0) {
			buf_printf(errors, "-%s: invalid integer value \"%s\"\n", f->name, v);
			return -1;
		}
		cfg->klog_ignored++;
		return 0;
	case F_IGNORED_STR:
		cfg->klog_ignored++;
		return 0;
	}
	return -1;
}

int config_parse(int argc, char **argv, struct config *cfg, struct buf *errors)
{
	size_t before = errors->len;
	memset(cfg, 0, sizeof *cfg);
	cfg->frequency_ms = 30000;
	cfg->healthz_ip = "0.0.0.0";
	cfg->healthz_port = 8084;
	cfg->event_metrics = true;
	cfg->flush_timeout_ms = 5000;
	cfg->healthz_timeout_ms = 180000;
	cfg->lease_ms = 15000;
	cfg->renew_deadline_ms = 10000;
	cfg->retry_ms = 2000;
	cfg->lease_name = "kube-eventer";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0') {
			buf_printf(errors, "unexpected argument \"%s\" (flags look like --name=value)\n", a);
			break;
		}
		a++;
		if (*a == '-') {
			a++;
			if (*a == '\0')
				break; /* "--" ends the flags */
		}
		if (*a == '-' || *a == '=') {
			buf_printf(errors, "bad flag syntax: %s\n", argv[i]);
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		const struct flagdef *f = find(a, nlen);
		if (!f) {
			buf_printf(errors, "flag provided but not defined: -%.*s\n", (int)nlen, a);
			continue;
		}
		const char *v;
		if (eq) {
			v = eq + 1;
		} else if (is_bool(f->type)) {
			v = "true";
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			buf_printf(errors, "flag needs an argument: -%s\n", f->name);
			continue;
		}
		set(cfg, f, v, errors);
	}
	if (errors->len != before)
		return -1;
	if (cfg->help || cfg->version)
		return 0;
	if (!cfg->source || !*cfg->source)
		buf_printf(errors,
		           "--source: required (e.g. --source=kubernetes:https://kubernetes.default)\n");
	if (cfg->frequency_ms < 5000 || cfg->frequency_ms > 180000)
		buf_printf(errors, "--frequency: must be between 5s and 3m\n");
	if (cfg->healthz_port < 0 || cfg->healthz_port > 65535)
		buf_printf(errors, "--healthz-port: must be between 0 and 65535\n");
	if (cfg->since_ms && !cfg->once)
		buf_printf(errors, "--since: only meaningful with --once\n");
	if (cfg->healthz_timeout_ms < 1000)
		buf_printf(errors, "--healthz-timeout: at least 1s\n");
	if (cfg->flush_timeout_ms > 600000)
		buf_printf(errors, "--flush-timeout: at most 10m\n");
	/* client-go's rules: the leader must stop before its lease can expire */
	if (cfg->retry_ms < 100)
		buf_printf(errors, "--leader-elect-retry-period: at least 100ms\n");
	else if (cfg->renew_deadline_ms <= cfg->retry_ms)
		buf_printf(errors, "--leader-elect-renew-deadline: must be longer than the retry period\n");
	else if (cfg->lease_ms <= cfg->renew_deadline_ms)
		buf_printf(errors, "--leader-elect-lease-duration: must be longer than the renew deadline\n");
	if (!cfg->lease_name || !*cfg->lease_name)
		buf_printf(errors, "--leader-elect-resource-name: must not be empty\n");
	if (cfg->leader_elect && cfg->once)
		buf_printf(errors, "--leader-elect: not with --once\n");
	return errors->len != before ? -1 : 0;
}

void config_usage(struct buf *out)
{
	buf_puts(out, "Usage: kube-eventer --source=URI [--sink=URI ...] [flags]\n\n"
	              "Watches Kubernetes Events, filters them per sink, and delivers them.\n\nFlags:\n");
	for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
		if (!flags[i].help)
			continue;
		buf_printf(out, "  --%-16s %s\n", flags[i].name, flags[i].help);
	}
	buf_puts(out,
	         "\nAlso accepted and ignored (klog): --logtostderr --alsologtostderr --stderrthreshold\n"
	         "  --log_dir --log_file --vmodule --max_procs and the other klog flags.\n"
	         "\nSee README.md for every sink parameter and the template reference.\n");
}
