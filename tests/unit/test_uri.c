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

static int parse_dsn(const char *s, struct uri *u, char *err)
{
	err[0] = '\0';
	return uri_parse_dsn(s, u, err, 256);
}

/* The mysql sink's go-sql-driver DSN: upstream's example, and passwords with every troublesome byte. */
static void dsn_like_go_sql_driver(void)
{
	struct uri u;
	char err[256];
	CHECK_INT(
	    parse_dsn(
	        "mysql:?root:transwarp@tcp(172.16.180.132:3306)/kube_eventer?charset=utf8&table=kube_event",
	        &u, err),
	    0);
	CHECK_STR(u.key, "mysql");
	CHECK_STR(u.userinfo, "root:transwarp");
	CHECK_STR(u.scheme, "tcp");
	CHECK_STR(u.host, "172.16.180.132:3306");
	CHECK_STR(u.path, "kube_eventer");
	CHECK_STR(uri_get(&u, "charset"), "utf8");
	CHECK_STR(uri_get(&u, "table"), "kube_event");
	CHECK_INT(u.nparams, 2);
	uri_free(&u);

	/* '%' (a bad escape, kept raw), '#', '@', ':', '&', '?', '/', '+' and parentheses in the password */
	CHECK_INT(parse_dsn("mysql:?u:p%zz#x@y:z&w?/v+(1)@tcp(db:3306)/k8s?table=t&tls=true", &u, err), 0);
	CHECK_STR(u.userinfo, "u:p%zz#x@y:z&w?/v+(1)");
	CHECK_STR(u.host, "db:3306");
	CHECK_STR(u.path, "k8s");
	CHECK_STR(uri_get(&u, "table"), "t");
	CHECK_STR(uri_get(&u, "tls"), "true");
	CHECK_INT(u.nparams, 2);
	uri_free(&u);

	/* the password from the environment: any byte, '$' included, is taken as it is */
	setenv("KE_T_MYPW", "a&b@tcp(x)/c#d%zz$HOME", 1);
	CHECK_INT(parse_dsn("mysql:?ke:${KE_T_MYPW}@tcp([::1]:3307)/d%62?table=a%2Eb+c", &u, err), 0);
	CHECK_STR(u.userinfo, "ke:a&b@tcp(x)/c#d%zz$HOME");
	CHECK_STR(u.host, "[::1]:3307");
	CHECK_STR(u.path, "db");
	CHECK_STR(uri_get(&u, "table"), "a.b c");
	uri_free(&u);

	/* shorter forms: no password, no address, no '?', no network, no user */
	CHECK_INT(parse_dsn("mysql:?root@tcp(h)/db", &u, err), 0);
	CHECK_STR(u.userinfo, "root");
	CHECK_STR(u.host, "h");
	uri_free(&u);
	CHECK_INT(parse_dsn("mysql:u:pw@/db", &u, err), 0);
	CHECK_STR(u.userinfo, "u:pw");
	CHECK_STR(u.scheme, "");
	CHECK_STR(u.host, "");
	CHECK_STR(u.path, "db");
	uri_free(&u);
	CHECK_INT(parse_dsn("mysql:?tcp(h:1)/", &u, err), 0);
	CHECK_STR(u.userinfo, "");
	CHECK_STR(u.path, "");
	uri_free(&u);
	CHECK_INT(parse_dsn("mysql:?u:pw@unix(/run/mysqld/mysqld.sock)/db", &u, err), 0);
	CHECK_STR(u.scheme, "unix");
	CHECK_STR(u.host, "/run/mysqld/mysqld.sock");
	uri_free(&u);
	/* an empty password is a password */
	CHECK_INT(parse_dsn("mysql:?u:@tcp(h)/db", &u, err), 0);
	CHECK_STR(u.userinfo, "u:");
	uri_free(&u);
}

static void dsn_errors_never_quote_it(void)
{
	struct uri u;
	char err[256];
	CHECK_INT(parse_dsn("mysql:", &u, err), -1);
	CHECK(strstr(err, "missing the DSN"));
	CHECK_INT(parse_dsn("mysql:?", &u, err), -1);
	/* the usual mistakes: no tcp(...), no '/' before the database */
	CHECK_INT(parse_dsn("mysql:?root:S3cr3t@localhost:3306/db", &u, err), -1);
	CHECK(strstr(err, "tcp(") && !strstr(err, "S3cr3t"));
	CHECK_INT(parse_dsn("mysql:?root:S3cr3t@tcp(h:3306)db", &u, err), -1);
	CHECK(!strstr(err, "S3cr3t"));
	CHECK_INT(parse_dsn("mysql:?root:S3cr3t@tcp(h:3306/db", &u, err), -1);
	/* a bad escape is an error where the sink reads it: the database name, a parameter */
	CHECK_INT(parse_dsn("mysql:?root:S3cr3t@tcp(h)/d%zz", &u, err), -1);
	CHECK(strstr(err, "database name") && !strstr(err, "S3cr3t"));
	CHECK_INT(parse_dsn("mysql:?root:S3cr3t@tcp(h)/db?table=%zz", &u, err), -1);
	CHECK(strstr(err, "\"table\"") && !strstr(err, "S3cr3t"));
}

static void dsn_split_offsets(void)
{
	struct uri_dsn d;
	const char *s = "u:p@tcp(h:1)/db?a=b";
	CHECK_INT(uri_split_dsn(s, strlen(s), &d), 0);
	CHECK(d.has_userinfo && d.has_password && d.has_addr && d.has_params);
	CHECK_INT(d.user_len, 1);
	CHECK_INT(d.pass_off, 2);
	CHECK_INT(d.pass_len, 1);
	CHECK_INT(d.net_off, 4);
	CHECK_INT(d.net_len, 3);
	CHECK_INT(d.addr_off, 8);
	CHECK_INT(d.addr_len, 3);
	CHECK_INT(d.db_off, 13);
	CHECK_INT(d.db_len, 2);
	CHECK_INT(d.params_off, 16);
	/* only the given length is read */
	CHECK_INT(uri_split_dsn(s, 12, &d), -1);
	CHECK_INT(uri_split_dsn(s, 13, &d), 0);
	CHECK(!d.has_params && d.db_len == 0);
	/* an '@' followed by something that is not a network part belongs to the password */
	s = "u:a@b/c@d@tcp(h)/x";
	CHECK_INT(uri_split_dsn(s, strlen(s), &d), 0);
	CHECK_INT(d.pass_len, strlen("a@b/c@d"));
	/* URLs are not DSNs */
	s = "https://user:pw@host/x";
	CHECK_INT(uri_split_dsn(s, strlen(s), &d), -1);
	s = "nodes=https://elastic:changeme@es:9200";
	CHECK_INT(uri_split_dsn(s, strlen(s), &d), -1);
}

const struct test_case test_uri[] = {
	TEST(dsn_like_go_sql_driver),
	TEST(dsn_errors_never_quote_it),
	TEST(dsn_split_offsets),
	TEST(golden_keys),
	TEST(golden_urls),
	TEST(query_follows_go),
	TEST(env_expansion_follows_go),
	TEST(env_edge_cases),
	TEST_END,
};
