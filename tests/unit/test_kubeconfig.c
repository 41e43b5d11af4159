/* Unit tests for kubeconfig.c: the usual kubeconfig shapes, errors, exec plugins. */
#include <stdlib.h>

#include "kubeconfig.h"
#include "test.h"
#include "util.h"

#define D FIXTURE("unit/data/kubeconfig/")

static void k3s_inline_data(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "k3s.yaml", NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://127.0.0.1:6443");
	CHECK(a.ca_pem && strstr(a.ca_pem, "BEGIN CERTIFICATE"));
	CHECK_INT(a.cert_pem_len, 4);
	CHECK(memcmp(a.cert_pem, "CERT", 4) == 0);
	CHECK(memcmp(a.key_pem, "KEY", 3) == 0);
	CHECK(!a.insecure && !a.token && !a.exec);
	kube_auth_free(&a);
}

static void kind_files_contexts_flow_style(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "kind.yaml", NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://[::1]:35000");
	CHECK_STR(a.tls_server_name, "kubernetes");
	CHECK_STR(a.namespace, "team-a");
	CHECK(str_ends(a.ca_file, "kubeconfig/ca.crt"));   /* relative to the kubeconfig */
	CHECK(a.ca_pem && strstr(a.ca_pem, "CA"));
	CHECK(str_ends(a.token_file, "kubeconfig/./token"));
	kube_auth_free(&a);
	CHECK_INT(kubeconfig_load(D "kind.yaml", "prod", &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://prod.example:6443");
	CHECK(a.insecure);
	CHECK_STR(a.token, "abc.def");
	kube_auth_free(&a);
}

static void kubeconfig_env_list_merges(void)
{
	struct kube_auth a;
	char err[300];
	setenv("KUBECONFIG", "/nonexistent:" D "kind.yaml:" D "k3s.yaml", 1);
	CHECK_INT(kubeconfig_load(NULL, "default", &a, err, sizeof err), 0); /* context from the second file */
	CHECK_STR(a.server, "https://127.0.0.1:6443");
	kube_auth_free(&a);
	CHECK_INT(kubeconfig_load(NULL, NULL, &a, err, sizeof err), 0); /* first current-context wins */
	CHECK_STR(a.server, "https://[::1]:35000");
	kube_auth_free(&a);
	unsetenv("KUBECONFIG");
}

static void errors_name_file_and_key(void)
{
	struct kube_auth a;
	char err[300];
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{ "current-context: x\ncontexts: []\n", "current-context \"x\" not found" },
		{ "contexts: [{name: c, context: {cluster: k}}]\n", "current-context: not set" },
		{ "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n", "cluster \"k\"" },
		{ "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\nclusters: [{name: k, cluster: {}}]\n",
		  "cluster.server: missing" },
		{ "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
		  "clusters: [{name: k, cluster: {server: 'https://x'}}]\nusers: [{name: u, user: {client-key: nope.pem}}]\n",
		  "client-key: file" },
		{ "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		  "clusters: [{name: k, cluster: {server: 'https://x', certificate-authority-data: '!!!'}}]\n",
		  "certificate-authority-data: not valid base64" },
		{ "key: [unclosed\n", "invalid YAML at line" },
		{ "- a\n- b\n", "not a kubeconfig" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		int r = kubeconfig_load_mem(bad[i].yaml, strlen(bad[i].yaml), "/etc/kc", "/etc", NULL, &a, err,
					    sizeof err);
		if (r != -1 || !strstr(err, bad[i].want) || !strstr(err, "/etc/kc")) {
			test_fail(__FILE__, __LINE__, "case %zu: r=%d err=\"%s\" (want \"%s\")", i, r, err, bad[i].want);
			return;
		}
	}
}

static void yaml_bombs_are_harmless(void)
{
	/* aliases are references in libyaml's document model: no expansion */
	const char *y = "a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b]\n"
			"d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ncurrent-context: *a\n";
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load_mem(y, strlen(y), "bomb", ".", NULL, &a, err, sizeof err), -1);
}

static void exec_plugin_token_and_environment(void)
{
	struct kube_auth a;
	char err[300], *tok;
	int64_t exp;
	setenv("PLUGIN_ENV", "from-process", 1);
	CHECK_INT(kubeconfig_load(D "exec.yaml", NULL, &a, err, sizeof err), 0);
	CHECK(a.exec != NULL);
	CHECK_STR(a.exec->api_version, "client.authentication.k8s.io/v1beta1");
	CHECK_INT(a.exec->nargs, 2);
	CHECK_INT(kube_exec_run(a.exec, 5000, &tok, &exp, err, sizeof err), 0);
	CHECK_STR(tok, "t|from-kubeconfig|my cluster|{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
		       "\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}");
	CHECK_INT(exp, 1893553445000LL); /* 2030-01-02T03:04:05Z */
	free(tok);
	kube_auth_free(&a);
	unsetenv("PLUGIN_ENV");
}

static void exec_plugin_failures(void)
{
	struct kube_exec x = { 0 };
	char err[300], *tok;
	int64_t exp;
	x.api_version = "client.authentication.k8s.io/v1";
	x.command = D "plugin-fail.sh";
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK(strstr(err, "exited with status 3: error: you must be logged in") != NULL);
	CHECK(strstr(err, "second line") == NULL);
	x.command = D "plugin-garbage.sh";
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK(strstr(err, "not an ExecCredential") != NULL);
	x.command = D "plugin-hang.sh";
	int64_t t0 = now_mono_ms();
	CHECK_INT(kube_exec_run(&x, 300, &tok, &exp, err, sizeof err), -1);
	CHECK(now_mono_ms() - t0 < 3000);
	CHECK(strstr(err, "no answer within 300 ms") != NULL);
	x.command = "/nonexistent/plugin";
	CHECK_INT(kube_exec_run(&x, 1000, &tok, &exp, err, sizeof err), -1);
	CHECK(strstr(err, "cannot run") != NULL);
}

const struct test_case test_kubeconfig[] = {
	TEST(k3s_inline_data),
	TEST(kind_files_contexts_flow_style),
	TEST(kubeconfig_env_list_merges),
	TEST(errors_name_file_and_key),
	TEST(yaml_bombs_are_harmless),
	TEST(exec_plugin_token_and_environment),
	TEST(exec_plugin_failures),
	TEST_END,
};
