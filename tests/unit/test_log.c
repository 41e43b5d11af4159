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

const struct test_case test_log[] = {
	TEST(secrets_are_masked),
	TEST_END,
};
