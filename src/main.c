/*
 * kube-eventer -- watch Kubernetes Events, filter them per sink, render a
 * message, deliver it. The whole flow:
 *
 *   flags -> sinks (filters, templates) -> source (list/watch or file)
 *         -> per event: seen table -> each sink: filter, repeat policy,
 *            render, bounded queue -> delivery on the event loop
 *
 * One thread, one loop (loop.c): libcurl's sockets, timers, signals and
 * the /healthz + /metrics listener all live there.
 */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cm.h"
#include "cmwatch.h"
#include "config.h"
#include "event.h"
#include "filesrc.h"
#include "health.h"
#include "http.h"
#include "kube.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "seen.h"
#include "sink.h"
#include "uri.h"
#include "util.h"
#include "watch.h"

#define SEEN_MAX 65536
#define CM_WAIT_MS 10000
#define RESUME_CHECK_MS 100 /* paused and no sink progressed: see whether one stopped draining fast */

static struct app {
	struct config cfg;
	struct sink *sinks[CONFIG_MAX_SINKS];
	size_t nsinks;
	struct seen *seen;
	struct loop *loop;
	struct http *http;
	struct kube *kube;
	struct watch *watch;
	struct filesrc *file;
	struct health *health;
	struct lease *lease; /* --leader-elect */
	int sigfd;
	struct loop_timer start_timer, stop_timer, resume_timer, handover_timer;
	bool source_paused;
	int64_t start_ms, stop_deadline_ms;
	bool stopping;
	uint64_t once_matched;
	int exit_code;
} app;

static bool sinks_allow_resume(void)
{
	for (size_t i = 0; i < app.nsinks; i++)
		if (!sink_allows_resume(app.sinks[i]))
			return false;
	return true;
}

/*
 * Flow control. While paused, every progress of a sink checks whether all
 * sinks are under their low-water mark again (on_sink_progress). A sink
 * that stops draining fast lets the source go too, but no event says so:
 * the check also runs after RESUME_CHECK_MS without any progress. Nothing
 * polls, so a paused source costs no CPU however slow the sinks are.
 */
static void pause_source(bool pause)
{
	app.source_paused = pause;
	/* before the source: resuming the watch may hand it events that pause it again */
	if (pause)
		loop_timer_arm(app.loop, &app.resume_timer, RESUME_CHECK_MS);
	else
		loop_timer_disarm(app.loop, &app.resume_timer);
	if (app.watch)
		watch_pause(app.watch, pause);
	if (app.file)
		filesrc_pause(app.file, pause);
}

static void on_resume_tick(struct loop *l, void *ctx)
{
	(void)ctx;
	if (!sinks_allow_resume()) {
		loop_timer_arm(l, &app.resume_timer, RESUME_CHECK_MS);
		return;
	}
	pause_source(false);
}

/* A sink sent or finished messages (never inside an HTTP callback): resume from the loop. */
static void on_sink_progress(struct sink *s)
{
	(void)s;
	if (app.source_paused && !app.stopping)
		loop_timer_arm(app.loop, &app.resume_timer, sinks_allow_resume() ? 0 : RESUME_CHECK_MS);
}

/* Every new or changed event from the source goes to every sink. */
static void on_event(void *ctx, const struct event *ev, size_t slot, enum seen_result r)
{
	int64_t now_s = now_mono_ms() / 1000;
	(void)ctx;
	(void)r;
	metrics_count_event(ev, app.cfg.event_metrics);
	for (size_t i = 0; i < app.nsinks; i++) {
		if (sink_offer(app.sinks[i], ev, app.seen, slot, now_s) && app.cfg.once)
			app.once_matched++;
		if (!app.source_paused && sink_wants_pause(app.sinks[i]))
			pause_source(true);
	}
}

static bool pending(void)
{
	for (size_t i = 0; i < app.nsinks; i++)
		if (sink_pending(app.sinks[i]))
			return true;
	return false;
}

/*
 * Leading: every second, if nothing waits in any sink, everything the watch
 * has reached is delivered: that is what the next renewal records for a
 * successor to resume from.
 */
#define HANDOVER_MS 1000

static void note_handover(void)
{
	if (app.lease && !pending() && watch_resource_version(app.watch)[0])
		lease_note_progress(app.lease, watch_resource_version(app.watch), now_wall_ms() / 1000);
}

static void on_handover_tick(struct loop *l, void *ctx)
{
	(void)ctx;
	note_handover();
	loop_timer_arm(l, &app.handover_timer, HANDOVER_MS);
}

static void on_leadership(void *ctx, bool leader, const char *rv, int64_t since_wall_s)
{
	(void)ctx;
	if (app.stopping)
		return;
	if (leader) {
		if (rv[0])
			log_info("resuming the watch where the previous leader left off (resourceVersion %s)",
			         rv);
		watch_start_from(app.watch, rv, since_wall_s);
		loop_timer_arm(app.loop, &app.handover_timer, HANDOVER_MS);
		return;
	}
	/* never two leaders sending: stop watching, and leave what waits to the new leader */
	watch_stop(app.watch);
	loop_timer_disarm(app.loop, &app.handover_timer);
	if (app.source_paused)
		pause_source(false);
	for (size_t i = 0; i < app.nsinks; i++)
		sink_discard(app.sinks[i]);
}

static void on_released(void *ctx)
{
	loop_stop(ctx);
}

/* Stopping: deliver what is queued for up to --flush-timeout, then leave. */
static void on_stop_tick(struct loop *l, void *ctx)
{
	(void)ctx;
	if (!pending() || now_mono_ms() >= app.stop_deadline_ms) {
		if (pending())
			log_warn("flush timeout: leaving with undelivered messages");
		if (app.lease && lease_is_leader(app.lease)) {
			/* hand over at once: the next leader resumes from what was delivered */
			note_handover();
			lease_release(app.lease, on_released, l);
			return;
		}
		loop_stop(l);
		return;
	}
	loop_timer_arm(l, &app.stop_timer, 20);
}

static void begin_stop(const char *why)
{
	if (app.stopping)
		return;
	app.stopping = true;
	log_info("stopping (%s)", why);
	if (app.watch)
		watch_stop(app.watch);
	loop_timer_disarm(app.loop, &app.resume_timer);
	loop_timer_disarm(app.loop, &app.handover_timer);
	if (app.file)
		filesrc_pause(app.file, true);
	for (size_t i = 0; i < app.nsinks; i++)
		sink_stop(app.sinks[i]);
	app.stop_deadline_ms = now_mono_ms() + app.cfg.flush_timeout_ms;
	loop_timer_arm(app.loop, &app.stop_timer, 0);
}

static void on_source_done(void *ctx, bool ok, const char *err)
{
	(void)ctx;
	if (!ok) {
		log_error("source: %s", err ? err : "failed");
		app.exit_code = 3;
	}
	if (app.cfg.once && ok) {
		log_info("%llu event(s) matched the sinks' filters", (unsigned long long)app.once_matched);
		app.exit_code = app.once_matched ? 1 : 0;
	}
	begin_stop("end of input");
}

static void on_signal(struct loop *l, int fd, int events, void *ctx)
{
	struct signalfd_siginfo si;
	(void)l;
	(void)events;
	(void)ctx;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: re-reading credentials and ConfigMap templates");
			if (app.kube)
				kube_unauthorized(app.kube);
			cmwatch_refresh();
			continue;
		}
		begin_stop(si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	}
}

static bool health_status(void *ctx, char *why, size_t n)
{
	(void)ctx;
	if (!app.watch)
		return true;
	if (app.lease && !lease_is_leader(app.lease))
		return true; /* standing by is healthy */
	const struct watch_stats *w = watch_get_stats(app.watch);
	int64_t since = w->last_ok_mono_ms ? w->last_ok_mono_ms : app.start_ms;
	if (w->connected || now_mono_ms() - since < app.cfg.healthz_timeout_ms)
		return true;
	snprintf(why, n, "no answer from the API server for %llds: %s",
	         (long long)((now_mono_ms() - since) / 1000), w->last_error);
	return false;
}

static void health_metrics(void *ctx, struct buf *out)
{
	(void)ctx;
	struct metrics_view v = {
		.watch = app.watch ? watch_get_stats(app.watch) : NULL,
		.sinks = app.sinks,
		.nsinks = app.nsinks,
		.seen = app.seen,
		.event_metrics = app.cfg.event_metrics,
		.leader = app.lease ? lease_is_leader(app.lease) : -1,
	};
	metrics_render(out, &v);
}

/* Start the event source once every ConfigMap template had its first answer. */
static void on_start_tick(struct loop *l, void *ctx)
{
	(void)ctx;
	if (!cm_ready() && now_mono_ms() - app.start_ms < CM_WAIT_MS) {
		loop_timer_arm(l, &app.start_timer, 20);
		return;
	}
	if (app.file)
		filesrc_start(app.file, l, on_source_done, NULL);
	else if (app.cfg.once)
		watch_list_once(app.watch,
		                app.cfg.since_ms ? now_wall_ms() / 1000 - app.cfg.since_ms / 1000 : INT64_MIN,
		                on_source_done);
	else if (app.lease)
		lease_start(app.lease); /* the watch starts on becoming leader */
	else
		watch_start(app.watch);
}

/* The pod's namespace from its service account, else kube-system. */
static char *pod_namespace(void)
{
	const char *dir = getenv("KUBE_EVENTER_SERVICEACCOUNT_DIR");
	char *path =
	    xasprintf("%s/namespace", dir && *dir ? dir : "/var/run/secrets/kubernetes.io/serviceaccount");
	size_t n = 0;
	char *ns = read_file(path, 256, &n);
	free(path);
	while (ns && n && (ns[n - 1] == '\n' || ns[n - 1] == ' '))
		ns[--n] = '\0';
	if (!ns || !n) {
		free(ns);
		return xstrdup("kube-system");
	}
	return ns;
}

/* --leader-elect: this process's identity is its pod's name (or host name) and a random suffix. */
static struct lease *make_lease(void)
{
	char host[256] = "";
	const char *pod = getenv("POD_NAME");
	if (!pod || !*pod) {
		gethostname(host, sizeof host - 1);
		pod = host[0] ? host : "kube-eventer";
	}
	char *id = xasprintf("%s_%08llx", pod, (unsigned long long)(random_u64() & 0xffffffffu));
	char *ns = app.cfg.lease_namespace && *app.cfg.lease_namespace ? xstrdup(app.cfg.lease_namespace)
	                                                               : pod_namespace();
	struct lease_opts o = { app.cfg.lease_name, ns, id, app.cfg.lease_ms, app.cfg.renew_deadline_ms,
		                app.cfg.retry_ms };
	struct lease *le = lease_new(app.loop, app.http, app.kube, &o, on_leadership, NULL);
	log_info("leader election: %s campaigns for lease %s/%s", id, ns, app.cfg.lease_name);
	free(id);
	free(ns);
	return le;
}

/* Build the source from --source; with check_only, parse but open nothing. */
static int make_source(struct buf *errors, bool check_only)
{
	struct uri u;
	char err[1024];
	if (uri_parse(app.cfg.source, &u, err, sizeof err) < 0) {
		buf_printf(errors, "--source: %s\n", err);
		return -1;
	}
	int r = 0;
	if (strcmp(u.key, "kubernetes") == 0) {
		if (check_only) {
			/* credentials are the environment's business, not the configuration's */
		} else if (kube_new(&u, &app.kube, err, sizeof err) < 0) {
			buf_printf(errors, "%s\n", err);
			r = -1;
		}
	} else if (strcmp(u.key, "file") == 0 && app.cfg.leader_elect) {
		buf_printf(errors, "--leader-elect: needs the kubernetes source\n");
		r = -1;
	} else if (strcmp(u.key, "file") == 0) {
		const char *path = u.rest[0] ? u.rest : "-";
		if (!check_only &&
		    !(app.file = filesrc_new(path, app.seen, on_event, NULL, err, sizeof err))) {
			buf_printf(errors, "%s\n", err);
			r = -1;
		}
	} else {
		buf_printf(errors, "--source: Source not recognized: %s (known: kubernetes, file)\n", u.key);
		r = -1;
	}
	uri_free(&u);
	return r;
}

static int make_sinks(struct buf *errors, bool report_unknown)
{
	int r = 0;
	for (size_t i = 0; i < app.cfg.nsinks; i++) {
		char err[1024];
		struct buf unknown = BUF_INIT(4096);
		struct sink *s =
		    sink_create(app.cfg.sinks[i], i, app.cfg.frequency_ms, &unknown, err, sizeof err);
		if (!s) {
			buf_printf(errors, "--sink #%zu: %s\n", i + 1, err);
			r = -1;
		} else {
			app.sinks[app.nsinks++] = s;
			if (s->type->whole_event)
				event_keep_json(true); /* it stores the whole Event */
			if (unknown.len && report_unknown)
				printf("sink %s: unknown parameter(s) ignored: %s\n", s->name,
				       buf_str(&unknown));
			else if (unknown.len)
				log_warn("sink %s: unknown parameter(s) ignored: %s", s->name,
				         buf_str(&unknown));
		}
		buf_free(&unknown);
	}
	return r;
}

static void shutdown_all(void)
{
	lease_free(app.lease);
	watch_free(app.watch);
	filesrc_free(app.file);
	cmwatch_shutdown();
	for (size_t i = 0; i < app.nsinks; i++)
		sink_destroy(app.sinks[i]);
	health_free(app.health);
	http_free(app.http);
	kube_free(app.kube);
	seen_free(app.seen);
	metrics_free();
	if (app.loop)
		loop_free(app.loop);
	if (app.sigfd > 0)
		close(app.sigfd);
}

int main(int argc, char **argv)
{
	struct buf errors = BUF_INIT(64 * 1024);
	struct buf text = BUF_INIT(64 * 1024);
	char err[512];
	int code = 0;

	setlocale(LC_CTYPE, "C.UTF-8"); /* regex: one UTF-8 character is one character */
	if (config_parse(argc, argv, &app.cfg, &errors) < 0) {
		fprintf(stderr, "%sRun 'kube-eventer --help' for usage.\n", buf_str(&errors));
		code = 2;
		goto out;
	}
	if (app.cfg.help || app.cfg.version) {
		if (app.cfg.help)
			config_usage(&text);
		else
			buf_printf(&text, "kube-eventer %s (%s)\n", KE_VERSION, KE_GIT_REV);
		fputs(buf_str(&text), stdout);
		goto out;
	}
	log_setup(log_level_from_verbosity((int)app.cfg.verbosity), app.cfg.log_format);
	if (app.cfg.klog_ignored)
		log_warn(
		    "klog flags (--logtostderr, --log_dir, ...) are accepted and ignored; logs go to stderr");

	app.seen = seen_new(app.cfg.nsinks, SEEN_MAX);
	make_sinks(&errors, app.cfg.check);
	make_source(&errors, app.cfg.check);
	if (app.cfg.check) {
		fputs(errors.len ? buf_str(&errors) : "configuration OK\n", errors.len ? stderr : stdout);
		code = errors.len ? 2 : 0;
		goto out;
	}
	if (errors.len) {
		fprintf(stderr, "%s", buf_str(&errors));
		code = 2;
		goto out;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	app.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	app.loop = loop_new();
	app.http = app.loop ? http_new(app.loop) : NULL;
	if (!app.loop || !app.http || app.sigfd < 0) {
		fprintf(stderr, "kube-eventer: cannot set up the event loop\n");
		code = 3;
		goto out;
	}
	loop_fd(app.loop, app.sigfd, LOOP_READ, on_signal, NULL);
	loop_timer_init(&app.start_timer, on_start_tick, NULL);
	loop_timer_init(&app.stop_timer, on_stop_tick, NULL);
	loop_timer_init(&app.resume_timer, on_resume_tick, NULL);
	loop_timer_init(&app.handover_timer, on_handover_tick, NULL);
	sink_progress_hook = on_sink_progress;
	app.start_ms = now_mono_ms();

	if (!app.cfg.once) {
		app.health = health_new(app.loop, app.cfg.healthz_ip, (int)app.cfg.healthz_port,
		                        health_status, health_metrics, NULL, err, sizeof err);
		if (!app.health) {
			fprintf(stderr, "kube-eventer: %s\n", err);
			code = 2;
			goto out;
		}
		log_info("health: listening on %s:%d", app.cfg.healthz_ip, health_port(app.health));
	}
	if (app.kube) {
		log_info("kube-eventer %s: watching events on %s with %zu sink(s)", KE_VERSION,
		         kube_describe(app.kube), app.nsinks);
		cmwatch_init(app.loop, app.http, app.kube);
		app.watch = watch_new(app.loop, app.http, app.kube, app.seen, on_event, NULL);
		if (app.cfg.leader_elect)
			app.lease = make_lease();
	}
	for (size_t i = 0; i < app.nsinks; i++) {
		log_info("sink %s: %s", app.sinks[i]->name, app.sinks[i]->redacted_url);
		sink_start(app.sinks[i], app.loop, app.http);
	}
	loop_timer_arm(app.loop, &app.start_timer, 0);

	if (loop_run(app.loop) < 0)
		log_error("event loop failed");
	code = app.exit_code;
out:
	shutdown_all();
	buf_free(&errors);
	buf_free(&text);
	return code;
}
