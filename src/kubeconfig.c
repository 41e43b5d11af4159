/* kubeconfig.c -- kubeconfig files (libyaml) and exec credential plugins. */
#include "kubeconfig.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"
#include "crypto.h"
#include "event.h"
#include "util.h"

#define FILE_MAX (4 << 20)
#define REF_MAX (1 << 20)   /* certificates, keys, token files */
#define NODES_MAX 200000
#define FILES_MAX 16
#define EXEC_OUT_MAX (1 << 20)

extern char **environ;

struct kcfile {
	yaml_document_t doc;
	bool loaded;
	char *name; /* for messages */
	char *dir;  /* for relative paths */
};

struct kc {
	struct kcfile f[FILES_MAX];
	size_t n;
	char *err;
	size_t errlen;
};

/* --- YAML access --------------------------------------------------------- */

static yaml_node_t *root(struct kcfile *f)
{
	return f->loaded ? yaml_document_get_root_node(&f->doc) : NULL;
}

static const char *scalar(struct kcfile *f, yaml_node_t *n)
{
	(void)f;
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static yaml_node_t *get(struct kcfile *f, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = scalar(f, yaml_document_get_node(&f->doc, p->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(&f->doc, p->value);
	}
	return NULL;
}

static const char *get_str(struct kcfile *f, yaml_node_t *map, const char *key)
{
	const char *s = scalar(f, get(f, map, key));
	return s && *s && strcmp(s, "null") != 0 && strcmp(s, "~") != 0 ? s : NULL;
}

/* The entry named `name` in a top-level list (clusters, users, contexts); returns its inner map. */
static yaml_node_t *named(struct kcfile *f, const char *list, const char *inner, const char *name)
{
	yaml_node_t *seq = get(f, root(f), list);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(&f->doc, *i);
		const char *n = get_str(f, item, "name");
		if (n && strcmp(n, name) == 0) {
			yaml_node_t *m = get(f, item, inner);
			return m && m->type == YAML_MAPPING_NODE ? m : NULL;
		}
	}
	return NULL;
}

static int load_doc(struct kc *c, const char *yaml, size_t len, const char *name, const char *dir)
{
	struct kcfile *f = &c->f[c->n];
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		snprintf(c->err, c->errlen, "%s: out of memory", name);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&p, &f->doc)) {
		snprintf(c->err, c->errlen, "%s: invalid YAML at line %zu column %zu: %s", name,
			 p.problem_mark.line + 1, p.problem_mark.column + 1, p.problem ? p.problem : "error");
		yaml_parser_delete(&p);
		return -1;
	}
	yaml_parser_delete(&p);
	f->loaded = true;
	f->name = xstrdup(name);
	f->dir = xstrdup(dir);
	c->n++;
	if (f->doc.nodes.top - f->doc.nodes.start > NODES_MAX) {
		snprintf(c->err, c->errlen, "%s: too many YAML nodes", name);
		return -1;
	}
	yaml_node_t *r = root(f);
	if (r && r->type != YAML_MAPPING_NODE) {
		snprintf(c->err, c->errlen, "%s: not a kubeconfig (the top level is not a mapping)", name);
		return -1;
	}
	return 0;
}

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int load_file(struct kc *c, const char *path)
{
	size_t len;
	if (c->n == FILES_MAX) {
		snprintf(c->err, c->errlen, "KUBECONFIG: more than %d files", FILES_MAX);
		return -1;
	}
	char *yaml = read_file(path, FILE_MAX, &len);
	if (!yaml) {
		snprintf(c->err, c->errlen, "%s: %s", path, errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
		return -1;
	}
	char *dir = dirname_of(path);
	int r = load_doc(c, yaml, len, path, dir);
	free(dir);
	free(yaml);
	return r;
}

static void kc_free(struct kc *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->f[i].loaded)
			yaml_document_delete(&c->f[i].doc);
		free(c->f[i].name);
		free(c->f[i].dir);
	}
}

/* --- building kube_auth ---------------------------------------------------- */

static char *resolve(const char *dir, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	return xasprintf("%s/%s", dir, path);
}

/* Read a referenced file now, so a missing certificate is a start-up error. */
static int read_ref(struct kc *c, struct kcfile *f, const char *key, const char *path, char **file, char **data,
		    size_t *len)
{
	*file = resolve(f->dir, path);
	if (!data)
		return 0;
	*data = read_file(*file, REF_MAX, len);
	if (!*data) {
		snprintf(c->err, c->errlen, "%s: %s: file %s: %s", f->name, key, *file, strerror(errno));
		return -1;
	}
	return 0;
}

static int decode_data(struct kc *c, struct kcfile *f, const char *key, const char *b64, char **data, size_t *len)
{
	struct buf b = BUF_INIT(REF_MAX);
	if (base64_decode(&b, b64, strlen(b64)) < 0 || b.len == 0) {
		buf_free(&b);
		snprintf(c->err, c->errlen, "%s: %s: not valid base64", f->name, key);
		return -1;
	}
	*len = b.len;
	*data = buf_steal(&b);
	return 0;
}

/* Fill one certificate-like item from "<base>" and "<base>-data". */
static int pem_item(struct kc *c, struct kcfile *f, yaml_node_t *m, const char *base, char **file, char **data,
		    size_t *len)
{
	char key[64];
	snprintf(key, sizeof key, "%s-data", base);
	const char *d = get_str(f, m, key);
	if (d)
		return decode_data(c, f, key, d, data, len); /* -data wins */
	const char *p = get_str(f, m, base);
	if (p)
		return read_ref(c, f, base, p, file, data, len);
	return 0;
}

static int parse_exec(struct kc *c, struct kcfile *f, yaml_node_t *x, struct kube_auth *a)
{
	struct kube_exec *e = xcalloc(1, sizeof *e);
	a->exec = e;
	const char *cmd = get_str(f, x, "command");
	if (!cmd) {
		snprintf(c->err, c->errlen, "%s: users[].user.exec.command: missing", f->name);
		return -1;
	}
	e->command = strchr(cmd, '/') ? resolve(f->dir, cmd) : xstrdup(cmd);
	const char *v = get_str(f, x, "apiVersion");
	e->api_version = xstrdup(v ? v : "client.authentication.k8s.io/v1");
	if (!str_starts(e->api_version, "client.authentication.k8s.io/")) {
		snprintf(c->err, c->errlen, "%s: users[].user.exec.apiVersion: unsupported \"%s\"", f->name,
			 e->api_version);
		return -1;
	}
	yaml_node_t *args = get(f, x, "args");
	if (args && args->type == YAML_SEQUENCE_NODE) {
		size_t n = (size_t)(args->data.sequence.items.top - args->data.sequence.items.start);
		e->args = xcalloc(n + 1, sizeof *e->args);
		for (size_t i = 0; i < n; i++) {
			const char *s = scalar(f, yaml_document_get_node(&f->doc, args->data.sequence.items.start[i]));
			if (!s) {
				snprintf(c->err, c->errlen, "%s: users[].user.exec.args[%zu]: not a string", f->name, i);
				return -1;
			}
			e->args[e->nargs++] = xstrdup(s);
		}
	}
	yaml_node_t *env = get(f, x, "env");
	if (env && env->type == YAML_SEQUENCE_NODE) {
		size_t n = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
		e->env = xcalloc(n + 1, sizeof *e->env);
		for (size_t i = 0; i < n; i++) {
			yaml_node_t *it = yaml_document_get_node(&f->doc, env->data.sequence.items.start[i]);
			const char *name = get_str(f, it, "name");
			const char *value = scalar(f, get(f, it, "value"));
			if (!name) {
				snprintf(c->err, c->errlen, "%s: users[].user.exec.env[%zu].name: missing", f->name, i);
				return -1;
			}
			e->env[e->nenv++] = xasprintf("%s=%s", name, value ? value : "");
		}
	}
	return 0;
}

/* The first file (in KUBECONFIG order) defining name in list. */
static yaml_node_t *find(struct kc *c, const char *list, const char *inner, const char *name, struct kcfile **where)
{
	for (size_t i = 0; i < c->n; i++) {
		yaml_node_t *m = named(&c->f[i], list, inner, name);
		if (m) {
			*where = &c->f[i];
			return m;
		}
	}
	return NULL;
}

static int build(struct kc *c, const char *context, struct kube_auth *a)
{
	const char *ctx = context;
	struct kcfile *f;
	memset(a, 0, sizeof *a);
	for (size_t i = 0; !ctx && i < c->n; i++)
		ctx = get_str(&c->f[i], root(&c->f[i]), "current-context");
	if (!ctx) {
		snprintf(c->err, c->errlen, "%s: current-context: not set (and no context= given)", c->f[0].name);
		return -1;
	}
	yaml_node_t *cm = find(c, "contexts", "context", ctx, &f);
	if (!cm) {
		snprintf(c->err, c->errlen, "%s: current-context \"%s\" not found in contexts", c->f[0].name, ctx);
		return -1;
	}
	const char *cluster = get_str(f, cm, "cluster"), *user = get_str(f, cm, "user");
	const char *ns = get_str(f, cm, "namespace");
	if (ns)
		a->namespace = xstrdup(ns);
	if (!cluster) {
		snprintf(c->err, c->errlen, "%s: contexts[%s].context.cluster: missing", f->name, ctx);
		return -1;
	}
	yaml_node_t *cl = find(c, "clusters", "cluster", cluster, &f);
	if (!cl) {
		snprintf(c->err, c->errlen, "%s: cluster \"%s\" (of context \"%s\") not found in clusters",
			 c->f[0].name, cluster, ctx);
		return -1;
	}
	const char *s = get_str(f, cl, "server");
	if (!s) {
		snprintf(c->err, c->errlen, "%s: clusters[%s].cluster.server: missing", f->name, cluster);
		return -1;
	}
	a->server = xstrdup(s);
	if ((s = get_str(f, cl, "tls-server-name")))
		a->tls_server_name = xstrdup(s);
	if ((s = get_str(f, cl, "proxy-url")))
		a->proxy_url = xstrdup(s);
	if ((s = get_str(f, cl, "insecure-skip-tls-verify")))
		a->insecure = strcmp(s, "true") == 0 || strcmp(s, "True") == 0;
	if (pem_item(c, f, cl, "certificate-authority", &a->ca_file, &a->ca_pem, &a->ca_pem_len) < 0)
		return -1;
	if (!user)
		return 0; /* anonymous */
	yaml_node_t *u = find(c, "users", "user", user, &f);
	if (!u) {
		snprintf(c->err, c->errlen, "%s: user \"%s\" (of context \"%s\") not found in users", c->f[0].name,
			 user, ctx);
		return -1;
	}
	if (pem_item(c, f, u, "client-certificate", &a->cert_file, &a->cert_pem, &a->cert_pem_len) < 0 ||
	    pem_item(c, f, u, "client-key", &a->key_file, &a->key_pem, &a->key_pem_len) < 0)
		return -1;
	if ((a->cert_pem == NULL) != (a->key_pem == NULL)) {
		snprintf(c->err, c->errlen, "%s: users[%s].user: client-certificate and client-key go together",
			 f->name, user);
		return -1;
	}
	if ((s = get_str(f, u, "token")))
		a->token = xstrdup(s);
	if ((s = get_str(f, u, "tokenFile"))) {
		char *data = NULL;
		size_t len;
		if (read_ref(c, f, "tokenFile", s, &a->token_file, &data, &len) < 0)
			return -1;
		free(data); /* the caller re-reads it; here we only check it exists */
	}
	if ((s = get_str(f, u, "username")))
		a->username = xstrdup(s);
	if ((s = get_str(f, u, "password")))
		a->password = xstrdup(s);
	yaml_node_t *x = get(f, u, "exec");
	if (x && x->type == YAML_MAPPING_NODE && parse_exec(c, f, x, a) < 0)
		return -1;
	if (get(f, u, "auth-provider")) {
		snprintf(c->err, c->errlen, "%s: users[%s].user.auth-provider: not supported (use an exec plugin)",
			 f->name, user);
		return -1;
	}
	return 0;
}

int kubeconfig_load_mem(const char *yaml, size_t len, const char *name, const char *dir, const char *context,
			struct kube_auth *out, char *err, size_t errlen)
{
	struct kc c = { .err = err, .errlen = errlen };
	int r = load_doc(&c, yaml, len, name, dir);
	if (r == 0)
		r = build(&c, context, out);
	if (r < 0)
		kube_auth_free(out);
	kc_free(&c);
	return r;
}

int kubeconfig_load(const char *path, const char *context, struct kube_auth *out, char *err, size_t errlen)
{
	struct kc c = { .err = err, .errlen = errlen };
	int r = 0;
	memset(out, 0, sizeof *out);
	if (path) {
		r = load_file(&c, path);
	} else {
		const char *env = getenv("KUBECONFIG");
		if (env && *env) {
			char *list = xstrdup(env);
			for (char *p = list; p && r == 0;) {
				char *colon = strchr(p, ':');
				if (colon)
					*colon = '\0';
				if (*p && access(p, R_OK) == 0)
					r = load_file(&c, p);
				p = colon ? colon + 1 : NULL;
			}
			free(list);
		} else {
			const char *home = getenv("HOME");
			char *p = xasprintf("%s/.kube/config", home ? home : "");
			r = load_file(&c, p);
			free(p);
		}
		if (r == 0 && c.n == 0) {
			snprintf(err, errlen, "KUBECONFIG: none of the listed files exists");
			r = -1;
		}
	}
	if (r == 0)
		r = build(&c, context, out);
	if (r < 0)
		kube_auth_free(out);
	kc_free(&c);
	return r;
}

static void free_exec(struct kube_exec *e)
{
	if (!e)
		return;
	free(e->command);
	for (size_t i = 0; i < e->nargs; i++)
		free(e->args[i]);
	free(e->args);
	for (size_t i = 0; i < e->nenv; i++)
		free(e->env[i]);
	free(e->env);
	free(e->api_version);
	free(e);
}

void kube_auth_free(struct kube_auth *a)
{
	free(a->server);
	free(a->tls_server_name);
	free(a->ca_file);
	free(a->ca_pem);
	free(a->cert_file);
	free(a->cert_pem);
	free(a->key_file);
	free(a->key_pem);
	free(a->token);
	free(a->token_file);
	free(a->username);
	free(a->password);
	free(a->proxy_url);
	free(a->namespace);
	free_exec(a->exec);
	memset(a, 0, sizeof *a);
}

/* --- exec plugins ---------------------------------------------------------- */

static void first_line(const char *s, size_t n, char *out, size_t outn)
{
	size_t l = 0;
	while (l < n && s[l] != '\n' && l + 1 < outn)
		l++;
	memcpy(out, s, l);
	out[l] = '\0';
}

int kube_exec_run(const struct kube_exec *x, int timeout_ms, char **token, int64_t *expiry_ms, char *err,
		  size_t errlen)
{
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc = -1;
	char **argv = NULL, **envp = NULL;
	struct buf o = BUF_INIT(EXEC_OUT_MAX), e = BUF_INIT(64 * 1024);

	*token = NULL;
	*expiry_ms = 0;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "exec plugin %s: pipe: %s", x->command, strerror(errno));
		goto done;
	}
	argv = xcalloc(x->nargs + 2, sizeof *argv);
	argv[0] = x->command;
	for (size_t i = 0; i < x->nargs; i++)
		argv[i + 1] = x->args[i];
	size_t nenv = 0;
	while (environ[nenv])
		nenv++;
	envp = xcalloc(nenv + x->nenv + 2, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (!str_starts(environ[i], "KUBERNETES_EXEC_INFO="))
			envp[k++] = environ[i];
	for (size_t i = 0; i < x->nenv; i++)
		envp[k++] = x->env[i];
	char *info = xasprintf("KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
			       "\"spec\":{\"interactive\":false}}",
			       x->api_version);
	envp[k++] = info;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	int sr = posix_spawnp(&pid, x->command, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(info);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	if (sr != 0) {
		snprintf(err, errlen, "exec plugin %s: cannot run: %s", x->command, strerror(sr));
		goto done;
	}

	int64_t deadline = now_mono_ms() + timeout_ms;
	bool out_open = true, err_open = true, timed_out = false;
	while (out_open || err_open) {
		struct pollfd p[2] = { { out_open ? out[0] : -1, POLLIN, 0 }, { err_open ? errp[0] : -1, POLLIN, 0 } };
		int64_t left = deadline - now_mono_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			break;
		char chunk[4096];
		if (p[0].revents) {
			ssize_t n = read(out[0], chunk, sizeof chunk);
			if (n <= 0 || buf_append(&o, chunk, (size_t)n) < 0)
				out_open = false;
		}
		if (p[1].revents) {
			ssize_t n = read(errp[0], chunk, sizeof chunk);
			if (n <= 0)
				err_open = false;
			else
				buf_append(&e, chunk, (size_t)n);
		}
	}
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	char line[200];
	first_line(buf_str(&e), e.len, line, sizeof line);
	if (timed_out) {
		snprintf(err, errlen, "exec plugin %s: no answer within %d ms", x->command, timeout_ms);
		goto done;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !line[0]) {
		/* some posix_spawn implementations report a failed exec this way */
		snprintf(err, errlen, "exec plugin %s: cannot run (not found or not executable)", x->command);
		goto done;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "exec plugin %s: exited with status %d%s%s", x->command,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), line[0] ? ": " : "", line);
		goto done;
	}
	cJSON *j = cJSON_ParseWithLength(o.data ? o.data : "", o.len);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(st, "token");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0 || !cJSON_IsString(tok) ||
	    !tok->valuestring[0]) {
		snprintf(err, errlen, "exec plugin %s: the output is not an ExecCredential with status.token",
			 x->command);
		cJSON_Delete(j);
		goto done;
	}
	if (cJSON_IsString(exp)) {
		struct ktime t;
		if (ktime_parse(exp->valuestring, &t) == 0)
			*expiry_ms = t.sec * 1000 + t.nsec / 1000000;
	}
	*token = xstrdup(tok->valuestring);
	cJSON_Delete(j);
	rc = 0;
done:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(argv);
	free(envp);
	buf_free(&o);
	buf_free(&e);
	return rc;
}
