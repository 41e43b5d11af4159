/* log_redact_url: what may carry a secret is masked before it reaches a log. */
#include <string.h>

#include "log.h"
#include "test.h"

static const char *red(const char *url)
{
	static char out[1024];
	return log_redact_url(url, out, sizeof out);
}

static void secrets_are_masked(void)
{
	CHECK_STR(red("https://u:pw@h/x?a=1&password=p&esUserSecret=s&apiKey=k&pw=x&token=t"),
	          "https://u:***@h/x?a=1&password=***&esUserSecret=***&apiKey=***&pw=***&token=***");
	CHECK_STR(red("?nodes=https://elastic:changeme@es:9200&nodes=http://es2:9200&index=x"),
	          "?nodes=https://elastic:***@es:9200&nodes=http://es2:9200&index=x");
	CHECK_STR(red("?nodes=https%3A%2F%2Felastic%3Achangeme%40es%3A9200"),
	          "?nodes=https%3A%2F%2Felastic:***%40es%3A9200");
	CHECK_STR(red("http://h:8086?db=k8s&user=root"), "http://h:8086?db=k8s&user=root");
	CHECK_STR(red("?x=mail@example.org&y=a://b"), "?x=mail@example.org&y=a://b");
}

/* The mysql sink's go-sql-driver DSN: the password masked whatever it holds. */
static void dsn_password_is_masked(void)
{
	CHECK_STR(red("?root:s3cret@tcp(10.0.0.1:3306)/kube?charset=utf8&table=x"),
	          "?root:***@tcp(10.0.0.1:3306)/kube?charset=utf8&table=x");
	/* '#' would end a URL, '&' would split a query, '?' would start one: not here */
	CHECK_STR(red("?u:p%zz#x@y:z&w?/v@tcp(db:3306)/k8s?table=t"), "?u:***@tcp(db:3306)/k8s?table=t");
	CHECK_STR(red("?u:a&password=b@tcp(h)/db"), "?u:***@tcp(h)/db");
	/* the DSN's own parameters are redacted as any query */
	CHECK_STR(red("?u:pw@tcp(h)/db?tls=true&password=x&cacert=/etc/ca.pem"),
	          "?u:***@tcp(h)/db?tls=true&password=***&cacert=/etc/ca.pem");
	CHECK_STR(red("root:pw@/db"), "root:***@/db");
	CHECK_STR(red("mysql:?root:pw@tcp(h)/db"), "mysql:***@tcp(h)/db");
	CHECK_STR(red("?u:@tcp(h)/db"), "?u:***@tcp(h)/db");
	/* no password: nothing to mask */
	CHECK_STR(red("?root@tcp(h:3306)/db?table=t"), "?root@tcp(h:3306)/db?table=t");
	CHECK_STR(red("?tcp(h:3306)/db"), "?tcp(h:3306)/db");
}

const struct test_case test_log[] = {
	TEST(secrets_are_masked),
	TEST(dsn_password_is_masked),
	TEST_END,
};
