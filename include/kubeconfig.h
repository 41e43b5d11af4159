/*
 * kubeconfig.h -- kubeconfig files (YAML, via libyaml: the only module that
 * includes yaml.h) and exec credential plugins (client.authentication.k8s.io).
 *
 * Supported: current-context (or a named context); clusters[].cluster.server,
 * certificate-authority(-data), insecure-skip-tls-verify, tls-server-name,
 * proxy-url; users[].user.client-certificate(-data), client-key(-data),
 * token, tokenFile, exec (v1 and v1beta1); username/password is refused;
 * contexts[].context.namespace. Relative paths (and exec commands that
 * contain a '/') are resolved against the kubeconfig's folder; a -data field
 * wins over its file (client-go). KUBECONFIG may list several files
 * separated by ':' merged with client-go's rules: missing files are skipped,
 * the first file to set current-context wins, the first definition of each
 * named cluster, user and context wins, and relative paths stay relative to
 * the file that defined them.
 *
 * Every known key is type-checked in every entry (as client-go's decoder
 * does); unknown keys are ignored. Rejected: files over 4 MiB, more than
 * 100000 YAML nodes (aliases counted as expanded), nesting deeper than 64,
 * recursive aliases, merge keys (<<), duplicate mapping keys, duplicate
 * names in a list, more than one YAML document, auth-provider and
 * impersonation (as, as-groups, ...) in the selected user.
 */
#ifndef KE_KUBECONFIG_H
#define KE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* users[].user.exec */
struct kube_exec {
	char *command; /* as configured, or resolved against dir when it contains '/' */
	char **args;   /* nargs entries, NULL-terminated */
	size_t nargs;
	char **env; /* "NAME=VALUE" from env: [{name, value}]; nenv entries */
	size_t nenv;
	char *api_version;  /* client.authentication.k8s.io/v1 or /v1beta1 */
	char *dir;          /* the kubeconfig's folder (absolute when it could be made so) */
	char *install_hint; /* installHint, or NULL; quoted when the command cannot be run */
	char *cluster_info; /* provideClusterInfo: the spec.cluster JSON object, else NULL */
};

/*
 * The credentials of one context. Every pointer is owned by the struct
 * (kube_auth_free). The *_pem buffers are NUL-terminated; their *_len does
 * not count the NUL. When both a file and its -data are given, only *_pem is
 * set (from -data) and *_file stays NULL; when only the file is given both
 * the resolved path and its contents (read at load time) are set.
 */
struct kube_auth {
	char *server; /* clusters[].cluster.server; "https://" added when it has no scheme */
	char *tls_server_name;
	bool insecure; /* insecure-skip-tls-verify */
	char *ca_file, *ca_pem;
	size_t ca_pem_len;
	char *cert_file, *cert_pem;
	size_t cert_pem_len;
	char *key_file, *key_pem;
	size_t key_pem_len;
	char *token;      /* token: as written (no control characters) */
	char *token_file; /* tokenFile, resolved; checked non-empty at load, re-read by the caller */
	char *proxy_url;  /* cluster proxy-url */
	char *namespace;  /* context namespace */
	struct kube_exec *exec;
};

/*
 * Load `path` (NULL: $KUBECONFIG, a ':'-separated list merged as described
 * above; when unset or empty, $HOME/.kube/config) and fill *out for
 * `context` (NULL: current-context). Files the context refers to are read
 * now (at most 1 MiB each, regular files only) so that errors surface at
 * start-up. *out is always initialised; on error it is left empty.
 * Returns 0, or -1 with err set to a message naming the file and the key,
 * e.g. "/x/config: users[0].user.client-key: file /x/key.pem: No such file
 * or directory". Never runs an exec plugin.
 */
int kubeconfig_load(const char *path, const char *context, struct kube_auth *out, char *err, size_t errlen);

/*
 * The same for a kubeconfig held in memory (tests and fuzzing): `name` is
 * used in messages, relative paths resolve against `dir`.
 */
int kubeconfig_load_mem(const char *yaml, size_t len, const char *name, const char *dir, const char *context,
                        struct kube_auth *out, char *err, size_t errlen);

/* Free everything a kube_auth owns and zero it; accepts a half-filled or zeroed struct. */
void kube_auth_free(struct kube_auth *a);

/*
 * Read a bearer token file (a kubeconfig tokenFile, the service account's
 * token): a regular file of at most 1 MiB, surrounding white space trimmed,
 * not empty, no control characters (it goes into a header). The token, or
 * NULL with *why set.
 */
char *kube_token_file_read(const char *path, const char **why);

/* What an exec plugin returned (ExecCredential status). Owned by the struct. */
struct kube_cred {
	char *token;       /* status.token; NULL when only a client certificate was returned */
	int64_t expiry_ms; /* status.expirationTimestamp as Unix ms; 0 when absent */
	char *cert_pem;    /* status.clientCertificateData (PEM), NUL-terminated, or NULL */
	size_t cert_pem_len;
	char *key_pem; /* status.clientKeyData (PEM), set exactly when cert_pem is */
	size_t key_pem_len;
};

/* Free what a kube_cred owns and zero it; accepts a zeroed struct. */
void kube_cred_free(struct kube_cred *c);

/*
 * Parse an exec plugin's stdout (json, len bytes) as an ExecCredential of
 * api_version: kind ExecCredential, the same apiVersion, a status with a
 * token and/or clientCertificateData + clientKeyData, an optional RFC 3339
 * expirationTimestamp. Returns 0 and fills *out (caller frees with
 * kube_cred_free), or -1 with err set; err never contains a credential.
 */
int kube_cred_parse(const char *json, size_t len, const char *api_version, struct kube_cred *out, char *err,
                    size_t errlen);

/*
 * Run the exec plugin synchronously. The command is looked up first (with
 * a '/' as is, else in $PATH, as Go's exec.LookPath) so that "not found"
 * and "not executable" are reported on every libc. It runs with stdin
 * /dev/null, our environment plus x->env (which overrides same-named
 * variables; of repeated names the last wins) plus KUBERNETES_EXEC_INFO (an
 * ExecCredential of the plugin's apiVersion with spec.interactive false
 * and, with provideClusterInfo, spec.cluster), in its own process group,
 * with SIGPIPE and friends at their defaults. While it has not exited, its
 * whole group is killed with SIGKILL when timeout_ms passes or stdout
 * exceeds 1 MiB; once it has exited, descendants still holding its pipes
 * are not waited for. Returns 0 and fills *out (kube_cred_parse), or -1
 * with err naming the command, the exit status or signal and the first
 * line of its stderr; never stdout or the token.
 */
int kube_exec_run_cred(const struct kube_exec *x, int timeout_ms, struct kube_cred *out, char *err,
                       size_t errlen);

/*
 * kube_exec_run_cred for callers that only use bearer tokens: *token (caller
 * frees) and *expiry_ms (Unix ms, 0 when none). A plugin that returns only a
 * client certificate is an error here. Returns 0 or -1 with err set.
 */
/* Free an exec plugin configuration (kube_auth_free does it for the auth it owns). */
void kube_exec_free(struct kube_exec *x);

int kube_exec_run(const struct kube_exec *x, int timeout_ms, char **token, int64_t *expiry_ms, char *err,
                  size_t errlen);

#endif
