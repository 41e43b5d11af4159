/*
 * Unit tests for kubeconfig.c: the kubeconfig shapes found in the wild (k3s,
 * kind, minikube, EKS, GKE, OpenShift), KUBECONFIG merging, every error
 * naming its file and key, YAML limits, ExecCredential parsing and running
 * real exec plugins (shell scripts in data/kubeconfig/).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "kubeconfig.h"
#include "test.h"
#include "util.h"

#define D FIXTURE("unit/data/kubeconfig/")
#define BETA "client.authentication.k8s.io/v1beta1"
#define V1 "client.authentication.k8s.io/v1"

/* Does buffer (p, n) hold exactly the bytes of the fixture file? */
static bool same_as_file(const char *p, size_t n, const char *file)
{
	size_t len;
	char *want = read_file(file, 1 << 20, &len);
	bool same = want && p && len == n && memcmp(p, want, n) == 0;
	free(want);
	return same;
}

static bool write_text(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fwrite(s, 1, n, f) == n;
	return fclose(f) == 0 && ok;
}

static int load_str(const char *yaml, const char *context, struct kube_auth *a, char *err, size_t errlen)
{
	return kubeconfig_load_mem(yaml, strlen(yaml), "/etc/kc", "/etc", context, a, err, errlen);
}

/* --- the shapes in the wild ---------------------------------------------------------------- */

static void k3s_inline_data_with_ec_key(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "k3s.yaml", NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://127.0.0.1:6443");
	CHECK(same_as_file(a.ca_pem, a.ca_pem_len, D "ca.crt"));
	CHECK(same_as_file(a.cert_pem, a.cert_pem_len, D "client.crt"));
	CHECK(same_as_file(a.key_pem, a.key_pem_len, D "client.key"));
	CHECK(str_starts(a.key_pem, "-----BEGIN EC PRIVATE KEY-----\n"));
	CHECK(a.key_pem[a.key_pem_len] == '\0');
	CHECK(!a.ca_file && !a.cert_file && !a.key_file); /* inline data only */
	CHECK(!a.insecure && !a.token && !a.token_file && !a.exec && !a.namespace);
	kube_auth_free(&a);
	CHECK(a.server == NULL && a.ca_pem == NULL); /* freed and zeroed */
}

static void kind_flow_style_quoted_two_contexts(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "kind.yaml", NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://[::1]:35000");
	CHECK_STR(a.tls_server_name, "kubernetes");
	CHECK_STR(a.namespace, "team-a");
	CHECK(same_as_file(a.ca_pem, a.ca_pem_len, D "ca.crt"));
	CHECK(same_as_file(a.cert_pem, a.cert_pem_len, D "client.crt"));
	CHECK(same_as_file(a.key_pem, a.key_pem_len, D "client.key"));
	CHECK(!a.insecure && !a.token && !a.proxy_url);
	kube_auth_free(&a);

	CHECK_INT(kubeconfig_load(D "kind.yaml", "prod", &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://prod.example:6443"); /* bare host:port gets https */
	CHECK(a.insecure);
	CHECK_STR(a.proxy_url, "http://proxy.example:3128");
	CHECK_STR(a.token, "abc.def");
	CHECK(!a.ca_pem && !a.cert_pem && !a.namespace);
	kube_auth_free(&a);
}

static void minikube_relative_files_resolved_and_read(void)
{
	struct kube_auth a;
	char err[300], cwd[4096];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	char *want_ca = xasprintf("%s/tests/unit/data/kubeconfig/ca.crt", cwd);
	char *want_key = xasprintf("%s/tests/unit/data/kubeconfig/client.key", cwd);
	int r = kubeconfig_load(D "minikube.yaml", NULL, &a, err, sizeof err);
	if (r != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	bool ok = r == 0 && a.ca_file && strcmp(a.ca_file, want_ca) == 0 && a.key_file &&
	          strcmp(a.key_file, want_key) == 0; /* absolute; "../kubeconfig/" folded */
	free(want_ca);
	free(want_key);
	if (r != 0)
		return;
	CHECK(ok);
	CHECK(str_ends(a.cert_file, "/tests/unit/data/kubeconfig/client.crt")); /* "./" folded */
	CHECK(same_as_file(a.ca_pem, a.ca_pem_len, D "ca.crt"));
	CHECK(same_as_file(a.cert_pem, a.cert_pem_len, D "client.crt"));
	CHECK(same_as_file(a.key_pem, a.key_pem_len, D "client.key"));
	CHECK_STR(a.server, "https://192.168.49.2:8443");
	CHECK_STR(a.namespace, "default");
	kube_auth_free(&a);
}

static void openshift_token(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "openshift.yaml", NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://api.crc.testing:6443");
	CHECK_STR(a.token, "sha256~Zm9vYmFyYmF6cXV4X3Rva2VuX2Zvcl90ZXN0aW5n");
	CHECK_STR(a.namespace, "openshift-monitoring");
	CHECK(a.insecure && !a.exec && !a.cert_pem);
	kube_auth_free(&a);
}

static void eks_exec_args_env_null_and_list(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "eks.yaml", NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://0123456789ABCDEF0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com");
	CHECK(same_as_file(a.ca_pem, a.ca_pem_len, D "ca.crt"));
	CHECK(a.exec != NULL && !a.token);
	CHECK_STR(a.exec->command, "aws"); /* no '/': looked up in PATH when run */
	CHECK_STR(a.exec->api_version, BETA);
	CHECK_INT(a.exec->nargs, 8);
	CHECK_STR(a.exec->args[0], "--region");
	CHECK_STR(a.exec->args[3], "get-token");
	CHECK_STR(a.exec->args[7], "json");
	CHECK(a.exec->args[8] == NULL);
	CHECK_INT(a.exec->nenv, 0); /* env: null */
	CHECK(a.exec->cluster_info == NULL);
	CHECK(str_ends(a.exec->dir, "/tests/unit/data/kubeconfig"));
	kube_auth_free(&a);

	CHECK_INT(kubeconfig_load(D "eks.yaml", "profile", &a, err, sizeof err), 0);
	CHECK_INT(a.exec->nargs, 6);
	CHECK_INT(a.exec->nenv, 2);
	CHECK_STR(a.exec->env[0], "AWS_PROFILE=production");
	CHECK_STR(a.exec->env[1], "AWS_STS_REGIONAL_ENDPOINTS=regional");
	CHECK(a.exec->install_hint == NULL);
	kube_auth_free(&a);
}

static void gke_provide_cluster_info_and_install_hint(void)
{
	struct kube_auth a;
	char err[400], *tok = NULL;
	int64_t exp;
	CHECK_INT(kubeconfig_load(D "gke.yaml", NULL, &a, err, sizeof err), 0);
	CHECK(a.exec && a.exec->cluster_info);
	struct buf b64 = BUF_INIT(1 << 20);
	CHECK_INT(base64_encode(&b64, a.ca_pem, a.ca_pem_len), 0);
	char *want = xasprintf("{\"server\":\"https://34.118.10.20\",\"certificate-authority-data\":\"%s\"}",
	                       buf_str(&b64));
	bool same = strcmp(a.exec->cluster_info, want) == 0;
	free(want);
	buf_free(&b64);
	CHECK(same);
	CHECK(str_starts(a.exec->install_hint,
	                 "Install gke-gcloud-auth-plugin for use with kubectl by following "
	                 "https://cloud.google.com/"));
	/* the plugin is not installed: the hint is quoted */
	CHECK_INT(kube_exec_run(a.exec, 2000, &tok, &exp, err, sizeof err), -1);
	CHECK(tok == NULL);
	CHECK(str_starts(err, "exec plugin gke-gcloud-auth-plugin-that-is-not-installed: cannot run: "
	                      "executable file not found in $PATH; Install gke-gcloud-auth-plugin"));
	kube_auth_free(&a);
}

static void relaxed_yaml_forms(void)
{
	struct kube_auth a;
	char err[300];
	/* anonymous, aliases used sensibly, YAML 1.1 booleans, comments, tags */
	const char *y = "# comment\n"
	                "x-server: &srv 'x.example:6443'\n"
	                "current-context: c # trailing comment\n"
	                "contexts: [{name: c, context: {cluster: k}}]\n"
	                "clusters:\n"
	                "- name: k\n"
	                "  cluster:\n"
	                "    server: *srv\n"
	                "    insecure-skip-tls-verify: yes\n"
	                "    tls-server-name: !!str 1234\n"
	                "unknown-key: {anything: [1, 2]}\n";
	CHECK_INT(load_str(y, NULL, &a, err, sizeof err), 0);
	CHECK_STR(a.server, "https://x.example:6443");
	CHECK(a.insecure);
	CHECK_STR(a.tls_server_name, "1234");
	CHECK(!a.token && !a.exec && !a.cert_pem); /* no user: anonymous */
	kube_auth_free(&a);

	/* null spellings are absent; a quoted "null" is a string; "off" is false; "" context unset */
	y = "current-context: \"\"\n"
	    "contexts: [{name: c, context: {cluster: k, user: u, namespace: ~}}]\n"
	    "clusters: [{name: k, cluster: {server: https://k, insecure-skip-tls-verify: off, proxy-url: "
	    "null}}]\n"
	    "users: [{name: u, user: {token: \"null\", username: , password: Null}}]\n";
	CHECK_INT(load_str(y, NULL, &a, err, sizeof err), -1);
	CHECK_STR(err, "/etc/kc: current-context: not set (and no context given)");
	CHECK_INT(load_str(y, "c", &a, err, sizeof err), 0);
	CHECK(!a.insecure && !a.proxy_url && !a.namespace);
	CHECK_STR(a.token, "null");
	kube_auth_free(&a);

	/* -data wins over the file: the missing file is never opened */
	y = "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
	    "clusters: [{name: k, cluster: {server: https://k, certificate-authority: missing.crt,\n"
	    "  certificate-authority-data: LS0tLS1CRUdJTiBYLS0tLS0K}}]\n";
	CHECK_INT(load_str(y, NULL, &a, err, sizeof err), 0);
	CHECK(a.ca_file == NULL);
	CHECK_INT(a.ca_pem_len, 18);
	CHECK_STR(a.ca_pem, "-----BEGIN X-----\n");
	kube_auth_free(&a);

	/* an empty document is an empty config */
	CHECK_INT(load_str("", NULL, &a, err, sizeof err), -1);
	CHECK_STR(err, "/etc/kc: current-context: not set (and no context given)");
	CHECK_INT(load_str("# nothing\n", "x", &a, err, sizeof err), -1);
	CHECK_STR(err, "/etc/kc: context \"x\" not found in contexts");
}

/* --- errors name the file and the key --------------------------------------------------------------- */

#define HEAD "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
#define CL(x) "clusters: [{name: k, cluster: {server: 'https://x'" x "}}]\n"
#define US(x) "users: [{name: u, user: {" x "}}]\n"
#define EXEC(x) US("exec: {command: x, apiVersion: client.authentication.k8s.io/v1" x "}")

static void errors_name_file_and_key(void)
{
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{ "current-context: x\ncontexts: []\n",
		  "/etc/kc: current-context \"x\" not found in contexts" },
		{ "contexts: [{name: c, context: {cluster: k}}]\n", "/etc/kc: current-context: not set" },
		{ "current-context: c\ncontexts: [{name: c, context: {user: u}}]\n",
		  "/etc/kc: contexts[0].context.cluster: missing" },
		{ "current-context: c\ncontexts: [{name: b}, {name: c, context: {cluster: k}}]\n",
		  "/etc/kc: contexts[1].context.cluster: cluster \"k\" not found in clusters" },
		{ HEAD "clusters: [{name: k, cluster: {}}]\n",
		  "/etc/kc: clusters[0].cluster.server: missing" },
		{ HEAD "clusters: [{name: k, cluster: {server: 'ftp://x'}}]\n",
		  "/etc/kc: clusters[0].cluster.server: scheme must be https or http" },
		{ HEAD CL(""), "/etc/kc: contexts[0].context.user: user \"u\" not found in users" },
		{ HEAD CL("") US("client-key: nope.pem"),
		  "/etc/kc: users[0].user.client-key: file /etc/nope.pem: No such file or directory" },
		{ HEAD CL(", certificate-authority: /dev/null"),
		  "/etc/kc: clusters[0].cluster.certificate-authority: file /dev/null: not a regular file" },
		{ HEAD CL(", certificate-authority-data: '!!!'"),
		  "/etc/kc: clusters[0].cluster.certificate-authority-data: not valid base64" },
		{ HEAD CL(", certificate-authority-data: aGVsbG8=") US("token: t"),
		  "/etc/kc: clusters[0].cluster.certificate-authority-data: not PEM" },
		{ HEAD CL("") US("client-certificate-data: LS0tLS1CRUdJTiBYLS0tLS0K"),
		  "/etc/kc: users[0].user: client-certificate without client-key" },
		{ HEAD CL("") US("client-key-data: LS0tLS1CRUdJTiBYLS0tLS0K"),
		  "/etc/kc: users[0].user: client-key without client-certificate" },
		{ HEAD CL("") US("auth-provider: {name: gcp}"),
		  "/etc/kc: users[0].user.auth-provider: not supported" },
		{ HEAD CL("") US("as: admin"), "/etc/kc: users[0].user.as: impersonation is not supported" },
		{ HEAD CL("") US("token: t, username: a, password: b"),
		  "/etc/kc: users[0].user: username/password (basic authentication) is not supported" },
		{ HEAD "clusters: [{name: k, cluster: {server: 'https://u:pw@k:6443'}}]\n" US("token: t"),
		  "/etc/kc: clusters[0].cluster.server: credentials in the URL are not supported" },
		{ HEAD CL(", proxy-url: \"ftp://p:21\"") US("token: t"),
		  "/etc/kc: clusters[0].cluster.proxy-url: scheme must be http, https or socks5" },
		{ HEAD CL("") US("token: \"a\\nb\""),
		  "/etc/kc: users[0].user.token: contains control characters" },
		{ HEAD CL("") US("exec: {apiVersion: client.authentication.k8s.io/v1}"),
		  "/etc/kc: users[0].user.exec.command: missing" },
		{ HEAD CL("") US("exec: {command: x}"), "/etc/kc: users[0].user.exec.apiVersion: missing" },
		{ HEAD CL("") US("exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}"),
		  "/etc/kc: users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not "
		  "supported" },
		{ HEAD CL("") EXEC(", interactiveMode: Always"),
		  "/etc/kc: users[0].user.exec.interactiveMode: Always needs a terminal" },
		{ HEAD CL("") EXEC(", interactiveMode: Sometimes"),
		  "/etc/kc: users[0].user.exec.interactiveMode: \"Sometimes\" is not Never, IfAvailable or "
		  "Always" },
		{ HEAD CL("") EXEC(", env: [{name: A, value: b}, {value: v}]"),
		  "/etc/kc: users[0].user.exec.env[1].name: missing" },
		{ HEAD CL("") EXEC(", env: [{name: 'A=B', value: v}]"),
		  "/etc/kc: users[0].user.exec.env[0].name: contains '='" },
		/* types are checked in every entry, selected or not (client-go's decoder does) */
		{ "clusters: {}\n", "/etc/kc: clusters: expected a list (line 1)" },
		{ "clusters: [x]\n", "/etc/kc: clusters[0]: expected a mapping (line 1)" },
		{ "clusters: [{name: k, cluster: {server: [a]}}]\n",
		  "/etc/kc: clusters[0].cluster.server: expected a string (line 1)" },
		{ "clusters: [{name: [k]}]\n", "/etc/kc: clusters[0].name: expected a string" },
		{ "clusters: [{name: k, cluster: [a]}]\n",
		  "/etc/kc: clusters[0].cluster: expected a mapping" },
		{ "clusters:\n- name: k\n  cluster:\n    insecure-skip-tls-verify: maybe\n",
		  "/etc/kc: clusters[0].cluster.insecure-skip-tls-verify: expected true or false (line 4)" },
		{ "users: [{name: u, user: {exec: {command: x, args: x}}}]\n",
		  "/etc/kc: users[0].user.exec.args: expected a list" },
		{ "users: [{name: u, user: {exec: {command: x, args: [a, [b]]}}}]\n",
		  "/etc/kc: users[0].user.exec.args[1]: expected a string" },
		{ "users: [{name: u, user: {exec: {command: x, env: [x]}}}]\n",
		  "/etc/kc: users[0].user.exec.env[0]: expected a mapping" },
		{ "users: [{name: u, user: {exec: {command: x, env: [{name: [a]}]}}}]\n",
		  "/etc/kc: users[0].user.exec.env[0].name: expected a string" },
		{ "users: [{name: u, user: {exec: {provideClusterInfo: 2}}}]\n",
		  "/etc/kc: users[0].user.exec.provideClusterInfo: expected true or false" },
		{ "contexts: [{name: c, context: {namespace: {a: b}}}]\n",
		  "/etc/kc: contexts[0].context.namespace: expected a string" },
		{ "current-context: \"a\\0b\"\n", "/etc/kc: current-context: contains a NUL byte" },
		{ "kind: Pod\n", "/etc/kc: kind: expected Config, not \"Pod\"" },
		{ "apiVersion: v2\n", "/etc/kc: apiVersion: expected v1" },
		{ "- a\n- b\n", "/etc/kc: not a kubeconfig (the top level is not a mapping)" },
		{ "key: [unclosed\n", "/etc/kc: invalid YAML at line 2" },
		/* duplicates */
		{ "current-context: a\ncurrent-context: b\n",
		  "/etc/kc: duplicate key \"current-context\" (line 2)" },
		{ HEAD "clusters: [{name: k, cluster: {server: a,\n server: b}}]\n",
		  "/etc/kc: clusters[0].cluster: duplicate key \"server\" (line 4)" },
		{ "clusters: [{name: k, cluster: {server: a}}, {name: j}, {name: k, cluster: {server: b}}]\n",
		  "/etc/kc: clusters[2].name: duplicate name \"k\" (also clusters[0])" },
		{ "users: [{user: {}}, {user: {}}]\n",
		  "/etc/kc: users[1].name: duplicate name \"\" (also users[0])" },
		/* YAML features a kubeconfig has no use for */
		{ "a: &a {x: 1}\nb: {<<: *a}\n",
		  "/etc/kc: b: YAML merge keys (<<) are not supported (line 2)" },
		{ "a: *nope\n",
		  "/etc/kc: a: alias *nope refers to no earlier anchor (or to itself) (line 1)" },
		{ "a: [x, &a [*a]]\n", "/etc/kc: a[1][0]: alias *a refers to no earlier anchor" },
		{ "a: 1\n---\nb: 2\n", "/etc/kc: more than one YAML document (line 2)" },
		{ "? [a]\n: b\n", "/etc/kc: a mapping key is not a string (line 1)" },
		{ "a: {? {b: c} : d}\n", "/etc/kc: a: a mapping key is not a string" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct kube_auth a;
		char err[300] = "";
		memset(&a, 0xa5, sizeof a); /* must be reset even on failure */
		int r = load_str(bad[i].yaml, NULL, &a, err, sizeof err);
		if (r != -1 || !str_starts(err, bad[i].want) || a.server || a.exec || a.ca_pem) {
			test_fail(__FILE__, __LINE__, "case %zu: r=%d err=\"%s\" (want \"%s\")", i, r, err,
			          bad[i].want);
			return;
		}
	}
}

static void explicit_context_not_found(void)
{
	struct kube_auth a;
	char err[300];
	CHECK_INT(kubeconfig_load(D "kind.yaml", "staging", &a, err, sizeof err), -1);
	CHECK_STR(err, "tests/unit/data/kubeconfig/kind.yaml: context \"staging\" not found in contexts");
	CHECK_INT(kubeconfig_load("/nonexistent/kc", NULL, &a, err, sizeof err), -1);
	CHECK_STR(err, "/nonexistent/kc: No such file or directory");
}

/* --- limits --------------------------------------------------------------------------------------------- */

static char *repeat(const char *head, const char *s, size_t n, const char *tail)
{
	struct buf b = BUF_INIT(64 << 20);
	buf_puts(&b, head);
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, s);
	buf_puts(&b, tail);
	return buf_steal(&b);
}

static void yaml_limits(void)
{
	struct kube_auth a;
	char err[300];
	/* billion laughs: libyaml shares aliased nodes, but every walk would expand them */
	const char *laughs = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	                     "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
	                     "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";
	int64_t t0 = now_mono_ms();
	CHECK_INT(load_str(laughs, NULL, &a, err, sizeof err), -1);
	CHECK_STR(err, "/etc/kc: e: YAML aliases expand to more than 100000 nodes (line 5)");
	CHECK(now_mono_ms() - t0 < 1000);

	char *y = repeat("a: ", "[", 70, "]");
	CHECK_INT(load_str(y, NULL, &a, err, sizeof err), -1);
	free(y);
	CHECK(str_starts(err, "/etc/kc: a[0][0]"));
	CHECK(strstr(err, ": nested deeper than 64 levels (line 1)") != NULL);

	y = repeat("a: [", "x,", 100001, "x]\n");
	CHECK_INT(load_str(y, NULL, &a, err, sizeof err), -1);
	free(y);
	CHECK_STR(err, "/etc/kc: a[99997]: more than 100000 YAML nodes (line 1)");

	struct buf b = BUF_INIT(1 << 20);
	for (int i = 0; i < 300; i++)
		buf_printf(&b, "k%d: &a%d x\n", i, i);
	CHECK_INT(load_str(buf_str(&b), NULL, &a, err, sizeof err), -1);
	buf_free(&b);
	CHECK_STR(err, "/etc/kc: k256: more than 256 YAML anchors (line 257)");

	size_t big = (4u << 20) + 1;
	y = xmalloc(big);
	memset(y, '#', big);
	CHECK_INT(kubeconfig_load_mem(y, big, "/etc/kc", "/etc", NULL, &a, err, sizeof err), -1);
	CHECK_STR(err, "/etc/kc: larger than 4 MiB");
	y[big - 1] = '\n';
	/* the same on disk, and a 1 MiB + 1 certificate, and an empty token file */
	char dir[] = "/tmp/kc-test-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char *kc = xasprintf("%s/config", dir), *crt = xasprintf("%s/big.crt", dir),
	     *tok = xasprintf("%s/tok", dir);
	bool ok = write_text(kc, y, big);
	free(y);
	memset(err, 0, sizeof err);
	int r1 = ok ? kubeconfig_load(kc, NULL, &a, err, sizeof err) : 0;
	bool m1 = str_ends(err, "/config: larger than 4 MiB");
	char *pem = repeat("-----BEGIN CERTIFICATE-----\n", "A", 1 << 20, "");
	ok = ok && write_text(crt, pem, strlen(pem)) && write_text(tok, "\n \n", 3);
	free(pem);
	const char *cfg = HEAD CL(", certificate-authority: big.crt") US("token: t");
	int r2 = kubeconfig_load_mem(cfg, strlen(cfg), "mem", dir, NULL, &a, err, sizeof err);
	char *want2 =
	    xasprintf("mem: clusters[0].cluster.certificate-authority: file %s: larger than 1 MiB", crt);
	bool m2 = strcmp(err, want2) == 0;
	cfg = HEAD CL("") US("tokenFile: ./tok");
	int r3 = kubeconfig_load_mem(cfg, strlen(cfg), "mem", dir, NULL, &a, err, sizeof err);
	char *want3 = xasprintf("mem: users[0].user.tokenFile: file %s: empty", tok);
	bool m3 = strcmp(err, want3) == 0;
	unlink(kc);
	unlink(crt);
	unlink(tok);
	rmdir(dir);
	free(kc);
	free(crt);
	free(tok);
	free(want2);
	free(want3);
	CHECK(ok);
	CHECK_INT(r1, -1);
	CHECK(m1);
	CHECK_INT(r2, -1);
	CHECK(m2);
	CHECK_INT(r3, -1);
	CHECK(m3);
}

/* --- KUBECONFIG
 * --------------------------------------------------------------------------------------------- */

static void kubeconfig_env_merges_like_client_go(void)
{
	struct kube_auth a;
	char err[300];
	char *saved = getenv("KUBECONFIG") ? xstrdup(getenv("KUBECONFIG")) : NULL;
	setenv("KUBECONFIG",
	       "/nonexistent::" D "merge/first.yaml:" D "merge/second/second.yaml:" D "merge/first.yaml", 1);
	int r1 = kubeconfig_load(NULL, NULL, &a, err, sizeof err);
	/* current-context from the second file (the first has ""); cluster "shared" from the first;
	 * each file's relative paths against its own folder */
	bool ok1 = r1 == 0 && a.server && strcmp(a.server, "https://first.example") == 0 &&
	           str_ends(a.ca_file, "/tests/unit/data/kubeconfig/ca.crt") &&
	           same_as_file(a.ca_pem, a.ca_pem_len, D "ca.crt") &&
	           str_ends(a.token_file, "/tests/unit/data/kubeconfig/merge/second/token2") && !a.token;
	kube_auth_free(&a);
	int r2 = kubeconfig_load(NULL, "ctx2", &a, err, sizeof err);
	bool ok2 = r2 == 0 && a.server && strcmp(a.server, "https://only-second.example") == 0 &&
	           str_ends(a.ca_file, "/tests/unit/data/kubeconfig/ca.crt") && a.token &&
	           strcmp(a.token, "first") == 0;
	kube_auth_free(&a);
	setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
	int r3 = kubeconfig_load(NULL, NULL, &a, err, sizeof err);
	bool ok3 =
	    strcmp(err, "KUBECONFIG=/nonexistent/a:/nonexistent/b: none of the listed files exists") == 0;
	/* a file that exists but cannot be read is an error, not skipped */
	setenv("KUBECONFIG", D "k3s.yaml:" D "merge", 1);
	int r4 = kubeconfig_load(NULL, NULL, &a, err, sizeof err);
	bool ok4 = strcmp(err, "tests/unit/data/kubeconfig/merge: Is a directory") == 0;
	/* an explicit path ignores KUBECONFIG */
	int r5 = kubeconfig_load(D "openshift.yaml", NULL, &a, err, sizeof err);
	kube_auth_free(&a);
	if (saved)
		setenv("KUBECONFIG", saved, 1);
	else
		unsetenv("KUBECONFIG");
	free(saved);
	CHECK_INT(r1, 0);
	CHECK(ok1);
	CHECK_INT(r2, 0);
	CHECK(ok2);
	CHECK_INT(r3, -1);
	CHECK(ok3);
	CHECK_INT(r4, -1);
	CHECK(ok4);
	CHECK_INT(r5, 0);
}

static void home_kube_config_when_kubeconfig_unset(void)
{
	struct kube_auth a;
	char err[300], dir[] = "/tmp/kc-home-XXXXXX";
	char *saved_kc = getenv("KUBECONFIG") ? xstrdup(getenv("KUBECONFIG")) : NULL;
	char *saved_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	size_t len;
	char *text = read_file(D "openshift.yaml", 1 << 20, &len);
	CHECK(text && mkdtemp(dir));
	char *kube = xasprintf("%s/.kube", dir), *cfg = xasprintf("%s/.kube/config", dir);
	bool ok = mkdir(kube, 0700) == 0 && write_text(cfg, text, len);
	free(text);
	unsetenv("KUBECONFIG");
	setenv("HOME", dir, 1);
	int r = kubeconfig_load(NULL, NULL, &a, err, sizeof err);
	bool got = r == 0 && a.token && str_starts(a.token, "sha256~");
	kube_auth_free(&a);
	unlink(cfg);
	rmdir(kube);
	int r2 = kubeconfig_load(NULL, NULL, &a, err, sizeof err);
	char *want2 = xasprintf("%s: No such file or directory", cfg);
	bool got2 = strcmp(err, want2) == 0;
	rmdir(dir);
	free(want2);
	free(kube);
	free(cfg);
	if (saved_kc)
		setenv("KUBECONFIG", saved_kc, 1);
	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	free(saved_kc);
	free(saved_home);
	CHECK(ok);
	CHECK(got);
	CHECK_INT(r2, -1);
	CHECK(got2);
}

/* --- ExecCredential ----------------------------------------------------------------------------------------
 */

static void exec_credential_parse(void)
{
	struct kube_cred c;
	char err[300];
	static const struct {
		const char *json;
		int64_t expiry_ms; /* -1: must fail */
	} cases[] = {
		{ "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}", 0 },
		{ " \n{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}\n\n",
		  1893553445000LL },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-01-02T03:04:05.250+01:00\"}}",
		  1893549845250LL },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2028-02-29T00:00:00.123456789-00:30\"}}",
		  1835397000123LL },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":null}}",
		  0 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-02-29T00:00:00Z\"}}",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-01-02 03:04:05Z\"}}",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-01-02T03:04:05\"}}",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-01-02T24:04:05Z\"}}",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":\"2030-01-02T03:04:05.Z\"}}",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
		  "\"expirationTimestamp\":1893553445}}",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1
		  "\",\"status\":{\"token\":\"t\"}} trailing",
		  -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" BETA "\",\"status\":{\"token\":\"t\"}}",
		  -1 },
		{ "{\"kind\":\"Secret\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\"}}", -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\"}", -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"\"}}", -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":7}}", -1 },
		{ "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1
		  "\",\"status\":{\"token\":\"a\\r\\nX: y\"}}",
		  -1 },
		{ "[1,2]", -1 },
		{ "", -1 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		err[0] = '\0';
		int r = kube_cred_parse(cases[i].json, strlen(cases[i].json), V1, &c, err, sizeof err);
		bool ok = cases[i].expiry_ms < 0 ? r == -1 && err[0] && !c.token
		                                 : r == 0 && c.token && strcmp(c.token, "t") == 0 &&
		                                       c.expiry_ms == cases[i].expiry_ms && !c.cert_pem;
		if (!ok) {
			test_fail(__FILE__, __LINE__, "case %zu: r=%d expiry=%lld err=\"%s\"", i, r,
			          (long long)c.expiry_ms, err);
			kube_cred_free(&c);
			return;
		}
		kube_cred_free(&c);
	}
	/* a client certificate instead of a token; only half of it is an error */
	const char *j = "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{"
	                "\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nA\\n\","
	                "\"clientKeyData\":\"-----BEGIN EC PRIVATE KEY-----\\nB\\n\"}}";
	CHECK_INT(kube_cred_parse(j, strlen(j), V1, &c, err, sizeof err), 0);
	CHECK(c.token == NULL);
	CHECK_STR(c.cert_pem, "-----BEGIN CERTIFICATE-----\nA\n");
	CHECK_INT(c.cert_pem_len, 30);
	CHECK_STR(c.key_pem, "-----BEGIN EC PRIVATE KEY-----\nB\n");
	kube_cred_free(&c);
	j = "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"t\","
	    "\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nA\\n\"}}";
	CHECK_INT(kube_cred_parse(j, strlen(j), V1, &c, err, sizeof err), -1);
	CHECK_STR(err, "status: clientCertificateData and clientKeyData go together");
	/* messages never quote the credential */
	j = "{\"kind\":\"ExecCredential\",\"apiVersion\":\"" BETA "\",\"status\":{\"token\":\"SECRET-1\"}}";
	CHECK_INT(kube_cred_parse(j, strlen(j), V1, &c, err, sizeof err), -1);
	CHECK(strstr(err, "SECRET") == NULL);
	CHECK_STR(err, "the output's apiVersion is not " V1 " as configured");
}

/* --- running plugins
 * ----------------------------------------------------------------------------------------- */

static void exec_plugin_v1beta1_args_env_and_exec_info(void)
{
	struct kube_auth a;
	char err[300], *tok = NULL;
	int64_t exp = -1;
	setenv("PLUGIN_ENV", "from-process", 1); /* overridden by the kubeconfig's env */
	setenv("KC_INHERITED", "inherited", 1);  /* ours reach the plugin */
	setenv("KUBERNETES_EXEC_INFO", "stale", 1);
	void (*old)(int) = signal(SIGPIPE, SIG_IGN); /* as main() does; the plugin gets the default */
	int r = kubeconfig_load(D "exec.yaml", NULL, &a, err, sizeof err);
	int rr = r == 0 ? kube_exec_run(a.exec, 5000, &tok, &exp, err, sizeof err) : -1;
	signal(SIGPIPE, old);
	unsetenv("PLUGIN_ENV");
	unsetenv("KC_INHERITED");
	unsetenv("KUBERNETES_EXEC_INFO");
	CHECK_INT(r, 0);
	CHECK(str_ends(a.exec->command, "/tests/unit/data/kubeconfig/plugin-ok.sh"));
	CHECK(a.exec->command[0] == '/');
	CHECK_STR(a.exec->api_version, BETA);
	CHECK_INT(a.exec->nargs, 2);
	CHECK_INT(a.exec->nenv, 3);
	kube_auth_free(&a);
	if (rr != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	CHECK_INT(rr, 0);
	CHECK_STR(tok, "t|from-kubeconfig|my "
	               "cluster|inherited|stdin=|n=1,1|pipe=0|{\"kind\":\"ExecCredential\",\"apiVersion\":"
	               "\"" BETA "\",\"spec\":{\"interactive\":false}}");
	free(tok);
	CHECK_INT(exp, 1893549845250LL); /* 2030-01-02T03:04:05.250+01:00 */
}

static void exec_plugin_v1_with_cluster_info(void)
{
	struct kube_auth a;
	struct kube_cred c;
	char err[300];
	setenv("PLUGIN_ENV", "from-process", 1);
	int r = kubeconfig_load(D "exec.yaml", "v1", &a, err, sizeof err);
	int rr = r == 0 ? kube_exec_run_cred(a.exec, 5000, &c, err, sizeof err) : -1;
	unsetenv("PLUGIN_ENV");
	CHECK_INT(r, 0);
	CHECK(
	    str_ends(a.exec->command, "/tests/unit/data/kubeconfig/plugin-ok.sh")); /* ../kubeconfig folded */
	CHECK_INT(a.exec->nargs, 0);
	CHECK_INT(a.exec->nenv, 0);
	struct buf b64 = BUF_INIT(1 << 20);
	base64_encode(&b64, a.ca_pem, a.ca_pem_len);
	char *want = xasprintf(
	    "t|from-process|||stdin=|n=1,1|pipe=0|{\"kind\":\"ExecCredential\",\"apiVersion\":\"" V1 "\","
	    "\"spec\":{\"cluster\":{\"server\":\"https://gke.example:443\",\"tls-server-name\":"
	    "\"kubernetes.default\",\"certificate-authority-data\":\"%s\"},\"interactive\":false}}",
	    buf_str(&b64));
	buf_free(&b64);
	kube_auth_free(&a);
	bool same = rr == 0 && c.token && strcmp(c.token, want) == 0;
	if (rr == 0 && !same)
		test_fail(__FILE__, __LINE__, "token %s", c.token);
	else if (rr != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	free(want);
	int64_t exp = c.expiry_ms;
	kube_cred_free(&c);
	if (!same)
		return;
	CHECK_INT(exp, 1893553445000LL);
}

static void exec_plugin_client_certificate(void)
{
	struct kube_auth a;
	struct kube_cred c;
	char err[300], *tok = NULL;
	int64_t exp;
	CHECK_INT(kubeconfig_load(D "exec.yaml", "cert", &a, err, sizeof err), 0);
	int r = kube_exec_run_cred(a.exec, 5000, &c, err, sizeof err);
	if (r != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	bool ok = r == 0 && !c.token && same_as_file(c.cert_pem, c.cert_pem_len, D "client.crt") &&
	          same_as_file(c.key_pem, c.key_pem_len, D "client.key") && c.expiry_ms == 0;
	kube_cred_free(&c);
	/* the token-only entry point refuses it */
	int r2 = kube_exec_run(a.exec, 5000, &tok, &exp, err, sizeof err);
	kube_auth_free(&a);
	CHECK(ok);
	CHECK_INT(r2, -1);
	CHECK(tok == NULL);
	CHECK(strstr(err, "returned a client certificate but no token") != NULL);
}

static void exec_plugin_found_in_path(void)
{
	char *args[] = { "-c",
		         "echo '{\"apiVersion\":\"" V1
		         "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-path\"}}'",
		         NULL };
	struct kube_exec x = { .command = "sh", .args = args, .nargs = 2, .api_version = V1 };
	char err[300], *tok = NULL;
	int64_t exp;
	int r = kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err);
	if (r != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	CHECK_INT(r, 0);
	CHECK_STR(tok, "from-path");
	free(tok);
}

static void exec_plugin_with_sigchld_ignored(void)
{
	struct kube_auth a;
	struct kube_cred c;
	char err[300];
	CHECK_INT(kubeconfig_load(D "exec.yaml", "cert", &a, err, sizeof err), 0);
	void (*old)(int) = signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel: no status */
	int r = kube_exec_run_cred(a.exec, 5000, &c, err, sizeof err);
	signal(SIGCHLD, old);
	kube_auth_free(&a);
	if (r != 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	bool ok = r == 0 && same_as_file(c.cert_pem, c.cert_pem_len, D "client.crt");
	kube_cred_free(&c);
	CHECK(ok);
}

/* Is pid gone (or a zombie waiting for init)? Waits up to a second. */
static bool process_gone(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		char path[64], *stat;
		size_t n;
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		stat = read_file(path, 4096, &n);
		if (!stat)
			return true;
		char *rp = strrchr(stat, ')');
		bool zombie = rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
		free(stat);
		if (zombie)
			return true;
		usleep(10000);
	}
	return false;
}

static pid_t read_pid(const char *file)
{
	size_t n;
	int64_t v = 0;
	char *s = read_file(file, 64, &n);
	while (s && n && (s[n - 1] == '\n'))
		n--;
	if (!s || parse_i64(s, n, &v) < 0)
		v = 0;
	free(s);
	return (pid_t)v;
}

static void exec_plugin_failures(void)
{
	struct kube_exec x = { 0 };
	char err[300], *tok = NULL;
	int64_t exp;
	x.api_version = V1;

	x.command = D "plugin-fail.sh";
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK_STR(err, "exec plugin " D "plugin-fail.sh: exit status 3: error: you must be logged in to the "
	               "server (aws sso login)");

	x.command = D "plugin-signal.sh";
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK_STR(err, "exec plugin " D "plugin-signal.sh: killed by signal 15: about to be killed");

	x.command = D "plugin-garbage.sh";
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK_STR(err, "exec plugin " D "plugin-garbage.sh: the output is not a JSON ExecCredential");

	x.command = D "plugin-wrongver.sh";
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK(strstr(err, "apiVersion is not " V1) != NULL);
	CHECK(strstr(err, "SECRET") == NULL);

	x.command = "/nonexistent/plugin";
	CHECK_INT(kube_exec_run(&x, 1000, &tok, &exp, err, sizeof err), -1);
	CHECK_STR(err, "exec plugin /nonexistent/plugin: cannot run: No such file or directory");

	x.command = D "ca.crt"; /* not executable */
	CHECK_INT(kube_exec_run(&x, 1000, &tok, &exp, err, sizeof err), -1);
	CHECK_STR(err, "exec plugin " D "ca.crt: cannot run: Permission denied");

	x.command = D "plugin-big.sh";
	int64_t t0 = now_mono_ms();
	CHECK_INT(kube_exec_run(&x, 5000, &tok, &exp, err, sizeof err), -1);
	CHECK(now_mono_ms() - t0 < 3000);
	CHECK_STR(err, "exec plugin " D "plugin-big.sh: printed more than 1 MiB on stdout");

	x.command = D "plugin-closed.sh";
	t0 = now_mono_ms();
	CHECK_INT(kube_exec_run(&x, 300, &tok, &exp, err, sizeof err), -1);
	CHECK(now_mono_ms() - t0 < 3000);
	CHECK_STR(err, "exec plugin " D "plugin-closed.sh: no answer within 300 ms (killed)");
	CHECK(tok == NULL);
}

static void exec_plugin_timeout_kills_its_children(void)
{
	struct kube_exec x = { 0 };
	char err[300], err2[300] = "", *tok = NULL, dir[] = "/tmp/kc-exec-XXXXXX";
	int64_t exp;
	CHECK(mkdtemp(dir) != NULL);
	char *pidfile = xasprintf("%s/pid", dir);
	char *env[] = { xasprintf("PLUGIN_PIDFILE=%s", pidfile), NULL };
	x.api_version = V1;
	x.env = env;
	x.nenv = 1;
	x.command = D "plugin-hang.sh";
	int64_t t0 = now_mono_ms();
	int r = kube_exec_run(&x, 400, &tok, &exp, err, sizeof err);
	int64_t took = now_mono_ms() - t0;
	pid_t child = read_pid(pidfile);
	bool gone = child > 0 && process_gone(child);

	/* a plugin that answers and exits is not waited for because its background child holds stdout */
	unlink(pidfile);
	x.command = D "plugin-bg.sh";
	int64_t t1 = now_mono_ms();
	int r2 = kube_exec_run(&x, 10000, &tok, &exp, err2, sizeof err2);
	int64_t took2 = now_mono_ms() - t1;
	pid_t bg = read_pid(pidfile);
	if (bg > 0)
		kill(bg, SIGKILL);
	unlink(pidfile);
	rmdir(dir);
	free(pidfile);
	free(env[0]);

	CHECK_INT(r, -1);
	CHECK(took >= 400 && took < 3000);
	CHECK(str_ends(err, "plugin-hang.sh: no answer within 400 ms (killed)"));
	CHECK(child > 0);
	CHECK(gone);
	if (r2 != 0)
		test_fail(__FILE__, __LINE__, "%s", err2);
	CHECK_INT(r2, 0);
	CHECK(took2 < 3000);
	CHECK_STR(tok, "bg-token");
	CHECK_INT(exp, 0);
	CHECK(bg > 0);
	free(tok);
}

const struct test_case test_kubeconfig[] = {
	TEST(k3s_inline_data_with_ec_key),
	TEST(kind_flow_style_quoted_two_contexts),
	TEST(minikube_relative_files_resolved_and_read),
	TEST(openshift_token),
	TEST(eks_exec_args_env_null_and_list),
	TEST(gke_provide_cluster_info_and_install_hint),
	TEST(relaxed_yaml_forms),
	TEST(errors_name_file_and_key),
	TEST(explicit_context_not_found),
	TEST(yaml_limits),
	TEST(kubeconfig_env_merges_like_client_go),
	TEST(home_kube_config_when_kubeconfig_unset),
	TEST(exec_credential_parse),
	TEST(exec_plugin_v1beta1_args_env_and_exec_info),
	TEST(exec_plugin_v1_with_cluster_info),
	TEST(exec_plugin_client_certificate),
	TEST(exec_plugin_found_in_path),
	TEST(exec_plugin_with_sigchld_ignored),
	TEST(exec_plugin_failures),
	TEST(exec_plugin_timeout_kills_its_children),
	TEST_END,
};
