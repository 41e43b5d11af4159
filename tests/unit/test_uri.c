/* Unit tests for uri.c: kube-eventer's (heapster's) Uri.Set golden cases and Go's query rules. */
#include "test.h"
#include "uri.h"

#include <stdlib.h>

static int parse(const char *s, struct uri *u)
{
	char err[256];
	return uri_parse(s, u, err, sizeof err);
}

static void golden_keys(void)
{
	struct uri u;
	/* heapster common/flags TestUriSet */
	CHECK_INT(parse("", &u), -1);
	CHECK_INT(parse(":", &u), -1);
	CHECK_INT(parse(":foo", &u), -1);
	CHECK_INT(parse("key:incorrect%url", &u), -1);
	CHECK_INT(parse("foo", &u), 0);
	CHECK_STR(u.key, "foo");
	CHECK_STR(u.rest, "");
	CHECK_INT(u.nparams, 0);
	uri_free(&u);
	CHECK_INT(parse("foo:", &u), 0);
	CHECK_STR(u.key, "foo");
	CHECK_STR(u.host, "");
	uri_free(&u);
	CHECK_INT(parse("foo:?q", &u), 0);
	CHECK_STR(u.key, "foo");
	CHECK_INT(u.nparams, 1);
	CHECK_STR(u.params[0].key, "q");
	CHECK_STR(u.params[0].value, "");
	uri_free(&u);
}

static void golden_urls(void)
{
	struct uri u;
	CHECK_INT(parse("foo:http://host:1234/path?key=value&key2=value2", &u), 0);
	CHECK_STR(u.scheme, "http");
	CHECK_STR(u.host, "host:1234");
	CHECK_STR(u.path, "/path");
	CHECK_STR(u.base, "http://host:1234/path");
	CHECK_STR(uri_get(&u, "key"), "value");
	CHECK_STR(uri_get(&u, "key2"), "value2");
	CHECK(uri_get(&u, "key3") == NULL);
	uri_free(&u);

	CHECK_INT(parse("kubernetes:https://[::1]:6443?inClusterConfig=false", &u), 0);
	CHECK_STR(u.host, "[::1]:6443");
	CHECK_STR(uri_get(&u, "inClusterConfig"), "false");
	uri_free(&u);

	CHECK_INT(parse("mysql:?user:pw@tcp(host:3306)/db?charset=utf8", &u), 0);
	CHECK_STR(u.scheme, "");
	CHECK_STR(u.params[0].key, "user:pw@tcp(host:3306)/db?charset");
	CHECK_STR(u.params[0].value, "utf8");
	uri_free(&u);

	CHECK_INT(parse("es:http://user:p%40ss@h:9200/x#frag", &u), 0);
	CHECK_STR(u.userinfo, "user:p@ss");
	CHECK_STR(u.host, "h:9200");
	CHECK_STR(u.fragment, "frag");
	uri_free(&u);
}

static void query_follows_go(void)
{
	struct uri u;
	const char *vals[4];
	CHECK_INT(parse("webhook:https://h/p?header=Content-Type=application/json&header=X-A=b%3Dc"
	                "&reason=a+b&reason=%2B&empty=&&level=Normal&sc=a;b",
	                &u),
	          0);
	CHECK_INT(uri_get_all(&u, "header", vals, 4), 2);
	CHECK_STR(vals[0], "Content-Type=application/json");
	CHECK_STR(vals[1], "X-A=b=c");
	CHECK_INT(uri_get_all(&u, "reason", vals, 4), 2);
	CHECK_STR(vals[0], "a b");
	CHECK_STR(vals[1], "+");
	CHECK_STR(uri_get(&u, "empty"), "");
	CHECK_STR(uri_get(&u, "sc"), "a;b");
	CHECK(u.params[0].used);
	uri_free(&u);

	CHECK_INT(parse("webhook:https://h/?bad=%zz", &u), -1);
	CHECK_INT(parse("webhook:https://h/?bad=%4", &u), -1);
}

static void env_expansion_follows_go(void)
{
	struct uri u;
	setenv("KE_T_KEY", "s3cr3t", 1);
	setenv("KE_T_B", "x", 1);
	unsetenv("KE_T_UNSET");
	CHECK_INT(parse("webhook:https://h/send?key=$KE_T_KEY&b=${KE_T_B}y&c=$KE_T_UNSET.&d=$", &u), 0);
	CHECK_STR(uri_get(&u, "key"), "s3cr3t");
	CHECK_STR(uri_get(&u, "b"), "xy");
	CHECK_STR(uri_get(&u, "c"), ".");
	CHECK_STR(uri_get(&u, "d"), "$");
	uri_free(&u);

	char *s = uri_expand_env("a${}b${c$%d");
	/* Go: "${}" is eaten, an unclosed "${" is eaten (leaving "c"), "$%" keeps '$' */
	CHECK_STR(s, "abc$%d");
	free(s);
}

static void env_edge_cases(void)
{
	char *s;
	s = uri_expand_env("cost$$5");
	/* "$$" is the special variable "$" (unset) then "5" */
	CHECK_STR(s, "cost5");
	free(s);
	s = uri_expand_env("a$%b");
	/* '$' not followed by a name: kept */
	CHECK_STR(s, "a$%b");
	free(s);
	s = uri_expand_env("${KE_T_KEY}/$KE_T_KEY_x");
	CHECK_STR(s, "s3cr3t/");
	free(s);
}

const struct test_case test_uri[] = {
	TEST(golden_keys),    TEST(golden_urls), TEST(query_follows_go), TEST(env_expansion_follows_go),
	TEST(env_edge_cases), TEST_END,
};
