/* Unit tests for config.c: Go flag conventions and kube-eventer's flags. */
#include "config.h"
#include "test.h"

static int parse(struct config *c, struct buf *e, char **argv)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	buf_reset(e);
	return config_parse(argc, argv, c, e);
}

static void go_flag_forms(void)
{
	struct config c;
	struct buf e = BUF_INIT(4096);
	char *a[] = { "ke",
		      "-source=kubernetes:https://k",
		      "--sink",
		      "log:",
		      "--sink=webhook:http://h",
		      "--frequency",
		      "5s",
		      "-healthz-port=9000",
		      "--event-metrics=false",
		      "-v",
		      "3",
		      "--logtostderr",
		      "--max_procs=2",
		      "--",
		      "ignored",
		      NULL };
	CHECK_INT(parse(&c, &e, a), 0);
	CHECK_STR(c.source, "kubernetes:https://k");
	CHECK_INT(c.nsinks, 2);
	CHECK_STR(c.sinks[1], "webhook:http://h");
	CHECK_INT(c.frequency_ms, 5000);
	CHECK_INT(c.healthz_port, 9000);
	CHECK(!c.event_metrics);
	CHECK_INT(c.verbosity, 3);
	CHECK_INT(c.klog_ignored, 2);
	CHECK_STR(c.healthz_ip, "0.0.0.0");
	buf_free(&e);
}

static void defaults(void)
{
	struct config c;
	struct buf e = BUF_INIT(4096);
	char *a[] = { "ke", "--source=file:-", NULL };
	CHECK_INT(parse(&c, &e, a), 0);
	CHECK_INT(c.frequency_ms, 30000);
	CHECK_INT(c.healthz_port, 8084);
	CHECK(c.event_metrics);
	CHECK_INT(c.nsinks, 0);
	CHECK_INT(c.log_format, LOG_TEXT);
	buf_free(&e);
}

static void errors_name_the_flag(void)
{
	struct config c;
	struct buf e = BUF_INIT(4096);
	char *a1[] = { "ke", "--source=x:", "--nope=1", NULL };
	CHECK_INT(parse(&c, &e, a1), -1);
	CHECK(strstr(buf_str(&e), "flag provided but not defined: -nope") != NULL);
	char *a2[] = { "ke", "--source=x:", "--frequency=3s", NULL };
	CHECK_INT(parse(&c, &e, a2), -1);
	CHECK(strstr(buf_str(&e), "--frequency") != NULL);
	char *a3[] = { "ke", "--source=x:", "--frequency=4m", NULL };
	CHECK_INT(parse(&c, &e, a3), -1);
	char *a4[] = { "ke", "--sink=log:", NULL };
	CHECK_INT(parse(&c, &e, a4), -1);
	CHECK(strstr(buf_str(&e), "--source: required") != NULL);
	char *a5[] = { "ke", "--source=a:", "--source=b:", NULL };
	CHECK_INT(parse(&c, &e, a5), -1);
	CHECK(strstr(buf_str(&e), "more than once") != NULL);
	char *a6[] = { "ke", "--source=a:", "--healthz-port", NULL };
	CHECK_INT(parse(&c, &e, a6), -1);
	CHECK(strstr(buf_str(&e), "flag needs an argument: -healthz-port") != NULL);
	char *a7[] = { "ke", "--source=a:", "--version=maybe", NULL };
	CHECK_INT(parse(&c, &e, a7), -1);
	char *a8[] = { "ke", "---source=a:", NULL };
	CHECK_INT(parse(&c, &e, a8), -1);
	CHECK(strstr(buf_str(&e), "bad flag syntax") != NULL);
	char *a9[] = { "ke", "--source=a:", "--log-format=xml", NULL };
	CHECK_INT(parse(&c, &e, a9), -1);
	char *a10[] = { "ke", "--source=a:", "stray", NULL };
	CHECK_INT(parse(&c, &e, a10), -1);
	CHECK(strstr(buf_str(&e), "unexpected argument") != NULL);
	buf_free(&e);
}

static void help_and_version_need_nothing_else(void)
{
	struct config c;
	struct buf e = BUF_INIT(4096);
	char *a[] = { "ke", "-h", NULL };
	CHECK_INT(parse(&c, &e, a), 0);
	CHECK(c.help);
	char *b[] = { "ke", "--version", NULL };
	CHECK_INT(parse(&c, &e, b), 0);
	CHECK(c.version);
	struct buf u = BUF_INIT(8192);
	config_usage(&u);
	CHECK(strstr(buf_str(&u), "--source") && strstr(buf_str(&u), "--check"));
	buf_free(&u);
	buf_free(&e);
}

const struct test_case test_config[] = {
	TEST(go_flag_forms),
	TEST(defaults),
	TEST(errors_name_the_flag),
	TEST(help_and_version_need_nothing_else),
	TEST_END,
};
