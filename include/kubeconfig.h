/*
 * kubeconfig.h -- kubeconfig files (YAML, via libyaml: the only module that
 * includes yaml.h) and exec credential plugins.
 *
 * Supported: current-context (or a named context); clusters[].cluster.server,
 * certificate-authority(-data), insecure-skip-tls-verify, tls-server-name,
 * proxy-url; users[].user.client-certificate(-data), client-key(-data),
 * token, tokenFile, username/password, exec (client.authentication.k8s.io
 * v1 and v1beta1); contexts[].context.namespace. Relative paths (and exec
 * commands containing '/') are resolved against the kubeconfig's folder;
 * a -data field wins over its file (client-go). KUBECONFIG may list several
 * files separated by ':' (the first to set a value wins, as client-go).
 */
#ifndef KE_KUBECONFIG_H
#define KE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kube_exec {
	char *command;
	char **args;
	size_t nargs;
	char **env; /* "NAME=VALUE" */
	size_t nenv;
	char *api_version;
};

struct kube_auth {
	char *server;
	char *tls_server_name;
	bool insecure;
	char *ca_file, *ca_pem;
	size_t ca_pem_len;
	char *cert_file, *cert_pem;
	size_t cert_pem_len;
	char *key_file, *key_pem;
	size_t key_pem_len;
	char *token, *token_file;
	char *username, *password;
	char *proxy_url;
	char *namespace;
	struct kube_exec *exec;
};

/*
 * Load path (NULL: $KUBECONFIG, else ~/.kube/config) for context (NULL:
 * current-context). Files it names are read now so that errors surface at
 * start-up. 0, or -1 with an error naming the file and the key.
 */
int kubeconfig_load(const char *path, const char *context, struct kube_auth *out, char *err, size_t errlen);
/* The same from memory (tests and fuzzing); dir resolves relative paths. */
int kubeconfig_load_mem(const char *yaml, size_t len, const char *name, const char *dir, const char *context,
			struct kube_auth *out, char *err, size_t errlen);
/* Free everything; accepts a half-filled struct. */
void kube_auth_free(struct kube_auth *a);

/*
 * Run an exec credential plugin (bounded by timeout_ms; killed after it),
 * with KUBERNETES_EXEC_INFO set and the configured env added. Parses the
 * ExecCredential on stdout: *token (caller frees) and *expiry_ms (wall ms,
 * 0 when none). Errors name the command and quote its stderr's first line,
 * never the token. 0 or -1.
 */
int kube_exec_run(const struct kube_exec *x, int timeout_ms, char **token, int64_t *expiry_ms, char *err,
		  size_t errlen);

#endif
