/*
 * kubeconfig.c -- kubeconfig files (libyaml) and exec credential plugins.
 *
 * The YAML is turned into a small tree of our own from libyaml's event
 * stream (not its document loader) so that every limit holds while parsing:
 * node count, nesting depth, alias expansion and duplicate keys. The tree is
 * then type-checked against the kubeconfig schema for every entry, like
 * client-go's decoder, and only the selected context's entries are resolved
 * (files read, exec plugin checked).
 */
#include "kubeconfig.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"
#include "crypto.h"
#include "event.h"
#include "util.h"

#define FILE_MAX (4u << 20)   /* one kubeconfig file */
#define TOTAL_MAX (16u << 20) /* all the files of a KUBECONFIG list */
#define REF_MAX (1u << 20)    /* a certificate, key or token file */
#define NODES_MAX 100000      /* YAML nodes of all files, and each document with aliases expanded */
#define ANCHORS_MAX 256
#define DEPTH_MAX 64
#define FILES_MAX 64
#define PATH_LEN 256 /* key paths in messages, e.g. users[0].user.exec.env[1].name */
#define EXEC_OUT_MAX (1u << 20)
#define EXEC_ERR_MAX (64u << 10)
#define EXEC_POLL_MS 50

extern char **environ;

/* --- a bounded YAML tree ---------------------------------------------------- */

enum ytype { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
	enum ytype type;
	bool plain;    /* unquoted scalar: "", ~ and null mean null */
	unsigned line; /* 1-based, for messages */
	char *s;       /* scalar value, NUL-terminated */
	size_t len;
	struct ynode **kid; /* sequence items; mapping keys and values alternate */
	size_t n, cap;
	uint64_t weight; /* this node and everything below it, aliases expanded */
};

struct ydoc {
	char *name;         /* the file as the user named it, for messages */
	char *dir;          /* its folder, for relative paths */
	struct ynode *root; /* NULL for an empty document */
	struct ynode **all; /* every node, once, for freeing */
	size_t nall, capall;
};

struct anchor {
	char *name;
	struct ynode *node;
};

struct frame {
	struct ynode *node;
	char *anchor; /* registered when the collection ends, so an alias cannot reach its own parent */
};

struct ybuild {
	struct ydoc *d;
	struct frame st[DEPTH_MAX];
	size_t depth;
	struct anchor anc[ANCHORS_MAX];
	size_t nanc;
	size_t *nodes_left;
	char *err;
	size_t errlen;
};

static void put_printable(struct buf *b, const char *s, size_t n, size_t max)
{
	for (size_t i = 0; i < n && i < max; i++)
		buf_putc(b, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
	if (n > max)
		buf_puts(b, "...");
}

/*
 * The key path of the innermost element, from the first `upto` frames. With
 * pending, that element is about to be attached to frame upto-1 (not yet in
 * its kid array).
 */
static void ybuild_path(const struct ybuild *b, size_t upto, bool pending, struct buf *p)
{
	for (size_t i = 0; i < upto; i++) {
		const struct ynode *f = b->st[i].node;
		bool next = pending && i + 1 == upto;
		if (!next && f->n == 0)
			continue;
		size_t j = next ? f->n : f->n - 1;
		if (f->type == Y_SEQ) {
			buf_printf(p, "[%zu]", j);
		} else if (j % 2 == 1) {
			if (p->len)
				buf_putc(p, '.');
			put_printable(p, f->kid[j - 1]->s, f->kid[j - 1]->len, 64);
		}
	}
}

KE_PRINTF(5, 6)
static int ybuild_fail(struct ybuild *b, size_t upto, bool pending, unsigned line, const char *fmt, ...)
{
	struct buf p = BUF_INIT(PATH_LEN);
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ybuild_path(b, upto, pending, &p);
	snprintf(b->err, b->errlen, "%s: %s%s%s (line %u)", b->d->name, buf_str(&p), p.len ? ": " : "", msg,
	         line);
	buf_free(&p);
	return -1;
}

static struct ynode *ynode_new(struct ybuild *b, enum ytype type, unsigned line)
{
	if (*b->nodes_left == 0) {
		ybuild_fail(b, b->depth, true, line, "more than %d YAML nodes", NODES_MAX);
		return NULL;
	}
	(*b->nodes_left)--;
	struct ydoc *d = b->d;
	struct ynode *n = xcalloc(1, sizeof *n);
	n->type = type;
	n->line = line;
	n->weight = 1;
	if (d->nall == d->capall) {
		d->capall = d->capall ? d->capall * 2 : 64;
		d->all = xrealloc(d->all, d->capall * sizeof *d->all);
	}
	d->all[d->nall++] = n;
	return n;
}

static bool is_merge_key(const struct ynode *n)
{
	return n->type == Y_SCALAR && n->plain && strcmp(n->s, "<<") == 0;
}

/* Attach node (new, or an alias target) under the innermost open collection. */
static int yattach(struct ybuild *b, struct ynode *node, unsigned line)
{
	if (b->depth == 0) {
		b->d->root = node;
		return 0;
	}
	struct ynode *f = b->st[b->depth - 1].node;
	if (f->type == Y_MAP && f->n % 2 == 0) {
		if (node->type != Y_SCALAR)
			return ybuild_fail(b, b->depth, true, line, "a mapping key is not a string");
		if (is_merge_key(node))
			return ybuild_fail(b, b->depth, true, line, "YAML merge keys (<<) are not supported");
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 4;
		f->kid = xrealloc(f->kid, f->cap * sizeof *f->kid);
	}
	f->kid[f->n++] = node;
	return 0;
}

static int yanchor(struct ybuild *b, const yaml_char_t *name, struct ynode *node, unsigned line)
{
	if (!name)
		return 0;
	if (b->nanc == ANCHORS_MAX)
		return ybuild_fail(b, b->depth, false, line, "more than %d YAML anchors", ANCHORS_MAX);
	b->anc[b->nanc].name = xstrdup((const char *)name);
	b->anc[b->nanc++].node = node;
	return 0;
}

static int on_scalar(struct ybuild *b, const yaml_event_t *ev, unsigned line)
{
	struct ynode *n = ynode_new(b, Y_SCALAR, line);
	if (!n)
		return -1;
	n->len = ev->data.scalar.length;
	n->s = xmalloc(n->len + 1);
	memcpy(n->s, ev->data.scalar.value, n->len);
	n->s[n->len] = '\0';
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (yattach(b, n, line) < 0)
		return -1;
	return yanchor(b, ev->data.scalar.anchor, n, line);
}

static int on_alias(struct ybuild *b, const yaml_event_t *ev, unsigned line)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct ynode *target = NULL;
	for (size_t i = b->nanc; i-- > 0;) {
		if (strcmp(b->anc[i].name, name) == 0) {
			target = b->anc[i].node;
			break;
		}
	}
	if (!target)
		return ybuild_fail(b, b->depth, true, line,
		                   "alias *%.64s refers to no earlier anchor (or to itself)", name);
	/* An alias takes a slot like a node: count it so slot arrays stay bounded too. */
	if (*b->nodes_left == 0)
		return ybuild_fail(b, b->depth, true, line, "more than %d YAML nodes", NODES_MAX);
	(*b->nodes_left)--;
	return yattach(b, target, line);
}

static int on_start(struct ybuild *b, const yaml_event_t *ev, unsigned line)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	struct ynode *n = ynode_new(b, map ? Y_MAP : Y_SEQ, line);
	if (!n || yattach(b, n, line) < 0)
		return -1;
	if (b->depth == DEPTH_MAX)
		return ybuild_fail(b, b->depth, false, line, "nested deeper than %d levels", DEPTH_MAX);
	const yaml_char_t *anchor = map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	b->st[b->depth].node = n;
	b->st[b->depth].anchor = anchor ? xstrdup((const char *)anchor) : NULL;
	b->depth++;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct ynode *x = *(const struct ynode *const *)a, *y = *(const struct ynode *const *)b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	int c = memcmp(x->s, y->s, x->len);
	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int on_end(struct ybuild *b, unsigned line)
{
	struct frame *fr = &b->st[b->depth - 1];
	struct ynode *f = fr->node;
	for (size_t i = 0; i < f->n; i++)
		f->weight += f->kid[i]->weight;
	if (f->weight > NODES_MAX)
		return ybuild_fail(b, b->depth - 1, false, line, "YAML aliases expand to more than %d nodes",
		                   NODES_MAX);
	if (f->type == Y_MAP && f->n > 2) {
		size_t nk = f->n / 2;
		struct ynode **keys = xmalloc(nk * sizeof *keys);
		for (size_t i = 0; i < nk; i++)
			keys[i] = f->kid[2 * i];
		qsort(keys, nk, sizeof *keys, key_cmp);
		for (size_t i = 1; i < nk; i++) {
			if (keys[i]->len == keys[i - 1]->len &&
			    memcmp(keys[i]->s, keys[i - 1]->s, keys[i]->len) == 0) {
				struct buf k = BUF_INIT(100);
				put_printable(&k, keys[i]->s, keys[i]->len, 64);
				ybuild_fail(b, b->depth - 1, false, keys[i]->line, "duplicate key \"%s\"",
				            buf_str(&k));
				buf_free(&k);
				free(keys);
				return -1;
			}
		}
		free(keys);
	}
	char *anchor = fr->anchor;
	fr->anchor = NULL;
	b->depth--;
	int r = 0;
	if (anchor)
		r = yanchor(b, (const yaml_char_t *)anchor, f, line);
	free(anchor);
	return r;
}

static void ydoc_free(struct ydoc *d)
{
	for (size_t i = 0; i < d->nall; i++) {
		free(d->all[i]->s);
		free(d->all[i]->kid);
		free(d->all[i]);
	}
	free(d->all);
	free(d->name);
	free(d->dir);
	memset(d, 0, sizeof *d);
}

/* Parse text into d (name and dir already set). 0, or -1 with err set. */
static int ydoc_parse(struct ydoc *d, const char *text, size_t len, size_t *nodes_left, char *err,
                      size_t errlen)
{
	struct ybuild b = { .d = d, .nodes_left = nodes_left, .err = err, .errlen = errlen };
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = -1, docs = 0;
	bool done = false;

	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "%s: out of memory", d->name);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			snprintf(err, errlen, "%s: invalid YAML at line %zu column %zu: %s", d->name,
			         p.problem_mark.line + 1, p.problem_mark.column + 1,
			         p.problem ? p.problem : "syntax error");
			goto out;
		}
		unsigned line = (unsigned)MIN(ev.start_mark.line + 1, (size_t)UINT_MAX);
		int r = 0;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				r = ybuild_fail(&b, 0, false, line, "more than one YAML document");
			break;
		case YAML_SCALAR_EVENT:
			r = on_scalar(&b, &ev, line);
			break;
		case YAML_ALIAS_EVENT:
			r = on_alias(&b, &ev, line);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			r = on_start(&b, &ev, line);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			r = on_end(&b, line);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	yaml_parser_delete(&p);
	for (size_t i = 0; i < b.nanc; i++)
		free(b.anc[i].name);
	for (size_t i = 0; i < b.depth; i++)
		free(b.st[i].anchor);
	return rc;
}

/* --- access ------------------------------------------------------------------ */

static bool is_null(const struct ynode *n)
{
	if (!n)
		return true;
	if (n->type != Y_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
	       strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0;
}

/* The value of key in map; NULL when map is not a mapping, or the key is absent or null. */
static struct ynode *yget(const struct ynode *map, const char *key)
{
	if (!map || map->type != Y_MAP)
		return NULL;
	size_t kl = strlen(key);
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kid[i];
		if (k->len == kl && memcmp(k->s, key, kl) == 0)
			return is_null(map->kid[i + 1]) ? NULL : map->kid[i + 1];
	}
	return NULL;
}

/* A string value (already type-checked): NULL when absent, null or "". */
static const char *ystr(const struct ynode *map, const char *key)
{
	const struct ynode *v = yget(map, key);
	return v && v->type == Y_SCALAR && v->len ? v->s : NULL;
}

/* YAML 1.1 booleans, as sigs.k8s.io/yaml (go-yaml v2) reads them. -1 when not a boolean. */
static int ybool(const struct ynode *v)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
		                           "on",   "On",   "ON",   "y",   "Y" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
		                          "off",   "Off",   "OFF",   "n",  "N" };
	if (!v)
		return 0;
	if (v->type != Y_SCALAR)
		return -1;
	size_t lim = v->plain ? ARRAY_LEN(yes) : 3; /* quoted: only true/false */
	for (size_t i = 0; i < lim; i++) {
		if (strcmp(v->s, yes[i]) == 0)
			return 1;
		if (strcmp(v->s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* --- loading state and messages ------------------------------------------------ */

struct kc {
	struct ydoc f[FILES_MAX];
	size_t n;
	size_t nodes_left, bytes_left;
	char *err;
	size_t errlen;
};

KE_PRINTF(4, 5) static int kerr(struct kc *c, const struct ydoc *d, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s: %s%s%s", d->name, path, *path ? ": " : "", msg);
	return -1;
}

/* --- schema: every known key of every entry is type-checked ------------------------ */

enum ykind {
	K_STR,  /* a scalar */
	K_BOOL, /* a YAML boolean */
	K_MAP,  /* a mapping, checked against sub when given */
	K_SEQ,  /* a sequence of anything */
	K_STRS, /* a sequence of scalars */
	K_LIST, /* a sequence of mappings, each checked against sub */
};

struct yfield {
	const char *key;
	enum ykind kind;
	const struct yfield *sub;
};

static const struct yfield env_fields[] = {
	{ "name", K_STR, NULL },
	{ "value", K_STR, NULL },
	{ NULL, K_STR, NULL },
};

static const struct yfield exec_fields[] = {
	{ "command", K_STR, NULL },
	{ "args", K_STRS, NULL },
	{ "env", K_LIST, env_fields },
	{ "apiVersion", K_STR, NULL },
	{ "installHint", K_STR, NULL },
	{ "provideClusterInfo", K_BOOL, NULL },
	{ "interactiveMode", K_STR, NULL }, /* Never, IfAvailable, Always */
	{ NULL, K_STR, NULL },
};

static const struct yfield cluster_fields[] = {
	{ "server", K_STR, NULL },
	{ "certificate-authority", K_STR, NULL },
	{ "certificate-authority-data", K_STR, NULL },
	{ "insecure-skip-tls-verify", K_BOOL, NULL },
	{ "tls-server-name", K_STR, NULL },
	{ "proxy-url", K_STR, NULL },
	{ "disable-compression", K_BOOL, NULL },
	{ "extensions", K_SEQ, NULL },
	{ NULL, K_STR, NULL },
};

static const struct yfield user_fields[] = {
	{ "client-certificate", K_STR, NULL },
	{ "client-certificate-data", K_STR, NULL },
	{ "client-key", K_STR, NULL },
	{ "client-key-data", K_STR, NULL },
	{ "token", K_STR, NULL },
	{ "tokenFile", K_STR, NULL },
	{ "as", K_STR, NULL },
	{ "as-uid", K_STR, NULL },
	{ "as-groups", K_STRS, NULL },
	{ "as-user-extra", K_MAP, NULL },
	{ "username", K_STR, NULL },
	{ "password", K_STR, NULL },
	{ "auth-provider", K_MAP, NULL },
	{ "exec", K_MAP, exec_fields },
	{ "extensions", K_SEQ, NULL },
	{ NULL, K_STR, NULL },
};

static const struct yfield context_fields[] = {
	{ "cluster", K_STR, NULL },    { "user", K_STR, NULL }, { "namespace", K_STR, NULL },
	{ "extensions", K_SEQ, NULL }, { NULL, K_STR, NULL },
};

static const struct yfield cluster_entry[] = {
	{ "name", K_STR, NULL },
	{ "cluster", K_MAP, cluster_fields },
	{ NULL, K_STR, NULL },
};

static const struct yfield user_entry[] = {
	{ "name", K_STR, NULL },
	{ "user", K_MAP, user_fields },
	{ NULL, K_STR, NULL },
};

static const struct yfield context_entry[] = {
	{ "name", K_STR, NULL },
	{ "context", K_MAP, context_fields },
	{ NULL, K_STR, NULL },
};

static const struct yfield top_fields[] = {
	{ "apiVersion", K_STR, NULL },
	{ "kind", K_STR, NULL },
	{ "current-context", K_STR, NULL },
	{ "clusters", K_LIST, cluster_entry },
	{ "users", K_LIST, user_entry },
	{ "contexts", K_LIST, context_entry },
	{ "preferences", K_MAP, NULL },
	{ "extensions", K_SEQ, NULL },
	{ NULL, K_STR, NULL },
};

/* Key paths for messages: out has PATH_LEN bytes; longer paths are cut. */
KE_PRINTF(2, 3) static void path_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, PATH_LEN, fmt, ap);
	va_end(ap);
}

static void path_join(char *out, const char *base, const char *key)
{
	path_fmt(out, "%s%s%s", base, *base ? "." : "", key);
}

static int check_scalar(struct kc *c, const struct ydoc *d, const char *path, const struct ynode *v)
{
	if (v->type != Y_SCALAR)
		return kerr(c, d, path, "expected a string (line %u)", v->line);
	if (strlen(v->s) != v->len)
		return kerr(c, d, path, "contains a NUL byte (line %u)", v->line);
	return 0;
}

static int check_map(struct kc *c, const struct ydoc *d, const char *path, const struct ynode *m,
                     const struct yfield *fields);

static int check_value(struct kc *c, const struct ydoc *d, const char *path, const struct ynode *v,
                       const struct yfield *fl)
{
	char sub[PATH_LEN];
	if (is_null(v))
		return 0;
	switch (fl->kind) {
	case K_STR:
		return check_scalar(c, d, path, v);
	case K_BOOL:
		if (ybool(v) < 0)
			return kerr(c, d, path, "expected true or false (line %u)", v->line);
		return 0;
	case K_MAP:
		if (v->type != Y_MAP)
			return kerr(c, d, path, "expected a mapping (line %u)", v->line);
		return fl->sub ? check_map(c, d, path, v, fl->sub) : 0;
	case K_SEQ:
	case K_STRS:
	case K_LIST:
		if (v->type != Y_SEQ)
			return kerr(c, d, path, "expected a list (line %u)", v->line);
		for (size_t i = 0; fl->kind != K_SEQ && i < v->n; i++) {
			const struct ynode *it = v->kid[i];
			path_fmt(sub, "%s[%zu]", path, i);
			if (fl->kind == K_STRS && !is_null(it) && check_scalar(c, d, sub, it) < 0)
				return -1;
			if (fl->kind == K_LIST && it->type != Y_MAP)
				return kerr(c, d, sub, "expected a mapping (line %u)", it->line);
			if (fl->kind == K_LIST && check_map(c, d, sub, it, fl->sub) < 0)
				return -1;
		}
		return 0;
	}
	return 0;
}

static int check_map(struct kc *c, const struct ydoc *d, const char *path, const struct ynode *m,
                     const struct yfield *fields)
{
	char sub[PATH_LEN];
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct ynode *k = m->kid[i];
		for (const struct yfield *fl = fields; fl->key; fl++) {
			if (k->len != strlen(fl->key) || memcmp(k->s, fl->key, k->len) != 0)
				continue;
			path_join(sub, path, fl->key);
			if (check_value(c, d, sub, m->kid[i + 1], fl) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

struct name_ref {
	const char *name;
	size_t idx;
};

static int name_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* client-go refuses a file that names two clusters (users, contexts) the same. */
static int check_unique_names(struct kc *c, const struct ydoc *d, const char *list)
{
	const struct ynode *seq = yget(d->root, list);
	if (!seq || seq->n < 2)
		return 0;
	struct name_ref *v = xmalloc(seq->n * sizeof *v);
	for (size_t i = 0; i < seq->n; i++) {
		const char *s = ystr(seq->kid[i], "name");
		v[i].name = s ? s : "";
		v[i].idx = i;
	}
	qsort(v, seq->n, sizeof *v, name_cmp);
	int r = 0;
	for (size_t i = 1; i < seq->n && r == 0; i++) {
		if (strcmp(v[i].name, v[i - 1].name) == 0) {
			char path[PATH_LEN];
			path_fmt(path, "%s[%zu].name", list, v[i].idx);
			r = kerr(c, d, path, "duplicate name \"%.100s\" (also %s[%zu])", v[i].name, list,
			         v[i - 1].idx);
		}
	}
	free(v);
	return r;
}

static int check_doc(struct kc *c, const struct ydoc *d)
{
	const struct ynode *r = d->root;
	if (is_null(r))
		return 0; /* an empty file is an empty config (client-go) */
	if (r->type != Y_MAP)
		return kerr(c, d, "", "not a kubeconfig (the top level is not a mapping)");
	if (check_map(c, d, "", r, top_fields) < 0)
		return -1;
	const char *s = ystr(r, "kind");
	if (s && strcmp(s, "Config") != 0)
		return kerr(c, d, "kind", "expected Config, not \"%.64s\"", s);
	s = ystr(r, "apiVersion");
	if (s && strcmp(s, "v1") != 0)
		return kerr(c, d, "apiVersion", "expected v1, not \"%.64s\"", s);
	if (check_unique_names(c, d, "clusters") < 0 || check_unique_names(c, d, "users") < 0 ||
	    check_unique_names(c, d, "contexts") < 0)
		return -1;
	return 0;
}

/* --- paths ------------------------------------------------------------------------- */

/* Lexical cleaning as Go's filepath.Clean: no "." components, ".." folded, no "//". */
static char *path_clean(const char *p)
{
	size_t n = strlen(p), o = 0, base;
	char *out = xmalloc(n + 2);
	bool abs = p[0] == '/';
	if (abs)
		out[o++] = '/';
	base = o; /* ".." never climbs above this */
	for (const char *s = p; *s;) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == 1 && s[0] == '.') {
			/* nothing */
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (o > base) {
				while (o > base && out[o - 1] != '/')
					o--;
				if (o > base)
					o--;
			} else if (!abs) {
				if (o > 0)
					out[o++] = '/';
				out[o++] = '.';
				out[o++] = '.';
				base = o;
			}
		} else {
			if (o > 0 && out[o - 1] != '/')
				out[o++] = '/';
			memcpy(out + o, s, l);
			o += l;
		}
		s += l;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return out;
}

/* The folder of a kubeconfig, absolute when the working directory is known (filepath.Abs). */
static char *dir_of(const char *file)
{
	char cwd[PATH_MAX];
	char *full =
	    file[0] != '/' && getcwd(cwd, sizeof cwd) ? xasprintf("%s/%s", cwd, file) : xstrdup(file);
	char *clean = path_clean(full);
	free(full);
	char *slash = strrchr(clean, '/');
	if (!slash) {
		free(clean);
		return xstrdup(".");
	}
	if (slash == clean)
		slash[1] = '\0';
	else
		*slash = '\0';
	return clean;
}

/* path as written when absolute, else cleaned and relative to dir (client-go ResolvePath). */
static char *resolve(const char *dir, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	char *j = xasprintf("%s/%s", dir, path);
	char *r = path_clean(j);
	free(j);
	return r;
}

/*
 * Read a referenced file: regular files only (never blocks on a FIFO or a
 * terminal), at most REF_MAX bytes. NULL with *why set on error.
 */
static char *read_ref(const char *path, size_t *len, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	struct buf b = BUF_INIT(REF_MAX);
	*why = NULL;
	if (fd < 0) {
		*why = strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
	} else if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
	} else if (st.st_size > (off_t)REF_MAX) {
		*why = "larger than 1 MiB";
	} else {
		char chunk[4096];
		for (;;) {
			ssize_t r = read(fd, chunk, sizeof chunk);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				*why = strerror(errno);
				break;
			}
			if (r == 0)
				break;
			if (buf_append(&b, chunk, (size_t)r) < 0) {
				*why = "larger than 1 MiB";
				break;
			}
		}
	}
	close(fd);
	if (*why) {
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return buf_steal(&b);
}

static bool has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

char *kube_token_file_read(const char *path, const char **why)
{
	size_t len;
	char *t = read_ref(path, &len, why);
	if (!t)
		return NULL;
	size_t b = 0, e = len;
	while (b < e && (t[b] == ' ' || t[b] == '\t' || t[b] == '\n' || t[b] == '\r'))
		b++;
	while (e > b && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\n' || t[e - 1] == '\r'))
		e--;
	if (b == e || has_ctl(t + b, e - b)) {
		*why = b == e ? "empty" : "the token contains control characters";
		free(t);
		return NULL;
	}
	memmove(t, t + b, e - b);
	t[e - b] = '\0';
	return t;
}

static bool is_pem(const char *s, size_t n)
{
	return memmem(s, n, "-----BEGIN ", 11) != NULL;
}

/* --- building kube_auth --------------------------------------------------------------- */

/*
 * One certificate-like item from "<base>" (a file) and "<base>-data"
 * (base64): -data wins; a file is resolved and read now. Both must hold PEM.
 */
static int pem_item(struct kc *c, const struct ydoc *d, const char *path, const struct ynode *m,
                    const char *base, char **file, char **data, size_t *len)
{
	char key[64], kpath[PATH_LEN];
	snprintf(key, sizeof key, "%s-data", base);
	const char *b64 = ystr(m, key), *fname = ystr(m, base);
	if (b64) {
		path_join(kpath, path, key);
		size_t bl = strlen(b64);
		if (bl > REF_MAX / 3 * 4 + REF_MAX / 16) /* room for line breaks */
			return kerr(c, d, kpath, "larger than 1 MiB");
		struct buf b = BUF_INIT(REF_MAX);
		if (base64_decode(&b, b64, bl) < 0 || b.len == 0) {
			buf_free(&b);
			return kerr(c, d, kpath, "not valid base64");
		}
		*len = b.len;
		*data = buf_steal(&b);
		if (!is_pem(*data, *len))
			return kerr(c, d, kpath, "not PEM (no \"-----BEGIN\" line after base64 decoding)");
		return 0;
	}
	if (!fname)
		return 0;
	path_join(kpath, path, base);
	const char *why;
	*file = resolve(d->dir, fname);
	*data = read_ref(*file, len, &why);
	if (!*data)
		return kerr(c, d, kpath, "file %s: %s", *file, why);
	if (!is_pem(*data, *len))
		return kerr(c, d, kpath, "file %s: not PEM (no \"-----BEGIN\" line)", *file);
	return 0;
}

/* The entry named name in list, first file first (client-go merge): its inner map via *inner. */
static bool find_named(struct kc *c, const char *list, const char *inner_key, const char *name,
                       const struct ydoc **where, size_t *idx, const struct ynode **inner)
{
	for (size_t f = 0; f < c->n; f++) {
		const struct ynode *seq = yget(c->f[f].root, list);
		for (size_t i = 0; seq && i < seq->n; i++) {
			const char *s = ystr(seq->kid[i], "name");
			if (strcmp(s ? s : "", name) == 0) {
				*where = &c->f[f];
				*idx = i;
				*inner = yget(seq->kid[i], inner_key);
				return true;
			}
		}
	}
	return false;
}

/* spec.cluster of KUBERNETES_EXEC_INFO (provideClusterInfo), as client-go's v1 Cluster. */
static char *cluster_info_json(const struct kube_auth *a)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "server", a->server);
	if (a->tls_server_name)
		cJSON_AddStringToObject(o, "tls-server-name", a->tls_server_name);
	if (a->insecure)
		cJSON_AddBoolToObject(o, "insecure-skip-tls-verify", 1);
	if (a->ca_pem) {
		struct buf b = BUF_INIT(2 * REF_MAX);
		base64_encode(&b, a->ca_pem, a->ca_pem_len);
		cJSON_AddStringToObject(o, "certificate-authority-data", buf_str(&b));
		buf_free(&b);
	}
	if (a->proxy_url)
		cJSON_AddStringToObject(o, "proxy-url", a->proxy_url);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s) {
		fputs("kube-eventer: out of memory\n", stderr);
		abort();
	}
	char *r = xstrdup(s);
	cJSON_free(s);
	return r;
}

static int build_exec(struct kc *c, const struct ydoc *d, const char *upath, const struct ynode *x,
                      struct kube_auth *a)
{
	char path[PATH_LEN], sub[PATH_LEN];
	struct kube_exec *e = xcalloc(1, sizeof *e);
	a->exec = e;
	path_join(path, upath, "exec");

	const char *cmd = ystr(x, "command");
	path_join(sub, path, "command");
	if (!cmd)
		return kerr(c, d, sub, "missing");
	e->command = strchr(cmd, '/') ? resolve(d->dir, cmd) : xstrdup(cmd);
	e->dir = xstrdup(d->dir);

	const char *v = ystr(x, "apiVersion");
	path_join(sub, path, "apiVersion");
	if (!v)
		return kerr(c, d, sub, "missing (client.authentication.k8s.io/v1 or v1beta1)");
	if (strcmp(v, "client.authentication.k8s.io/v1") != 0 &&
	    strcmp(v, "client.authentication.k8s.io/v1beta1") != 0)
		return kerr(c, d, sub,
		            "\"%.80s\" is not supported (client.authentication.k8s.io/v1 or v1beta1)", v);
	e->api_version = xstrdup(v);

	/* Missing is accepted for v1 too: without a terminal IfAvailable and Never are the same. */
	const char *im = ystr(x, "interactiveMode");
	path_join(sub, path, "interactiveMode");
	if (im && strcmp(im, "Never") != 0 && strcmp(im, "IfAvailable") != 0 && strcmp(im, "Always") != 0)
		return kerr(c, d, sub, "\"%.40s\" is not Never, IfAvailable or Always", im);
	if (im && strcmp(im, "Always") == 0)
		return kerr(c, d, sub, "Always needs a terminal; kube-eventer runs plugins without one");

	const char *hint = ystr(x, "installHint");
	if (hint)
		e->install_hint = xstrdup(hint);

	const struct ynode *args = yget(x, "args");
	e->args = xcalloc((args ? args->n : 0) + 1, sizeof *e->args);
	for (size_t i = 0; args && i < args->n; i++)
		e->args[e->nargs++] = xstrdup(is_null(args->kid[i]) ? "" : args->kid[i]->s);

	const struct ynode *env = yget(x, "env");
	e->env = xcalloc((env ? env->n : 0) + 1, sizeof *e->env);
	for (size_t i = 0; env && i < env->n; i++) {
		const char *name = ystr(env->kid[i], "name"), *value = ystr(env->kid[i], "value");
		path_fmt(sub, "%s.env[%zu].name", path, i);
		if (!name)
			return kerr(c, d, sub, "missing");
		if (strchr(name, '='))
			return kerr(c, d, sub, "contains '='");
		e->env[e->nenv++] = xasprintf("%s=%s", name, value ? value : "");
	}

	if (ybool(yget(x, "provideClusterInfo")) == 1)
		e->cluster_info = cluster_info_json(a);
	return 0;
}

static int build_user(struct kc *c, const struct ydoc *d, size_t idx, const struct ynode *u,
                      struct kube_auth *a)
{
	char path[PATH_LEN], sub[PATH_LEN];
	const char *s;
	path_fmt(path, "users[%zu].user", idx);

	if (yget(u, "auth-provider")) {
		path_join(sub, path, "auth-provider");
		return kerr(c, d, sub, "not supported (use an exec credential plugin)");
	}
	static const char *const imp[] = { "as", "as-uid", "as-groups", "as-user-extra" };
	for (size_t i = 0; i < ARRAY_LEN(imp); i++) {
		const struct ynode *v = yget(u, imp[i]);
		if (v && !(v->type == Y_SCALAR && v->len == 0) && !(v->type != Y_SCALAR && v->n == 0)) {
			path_join(sub, path, imp[i]);
			return kerr(c, d, sub, "impersonation is not supported");
		}
	}
	if (pem_item(c, d, path, u, "client-certificate", &a->cert_file, &a->cert_pem, &a->cert_pem_len) < 0)
		return -1;
	if (pem_item(c, d, path, u, "client-key", &a->key_file, &a->key_pem, &a->key_pem_len) < 0)
		return -1;
	if (a->cert_pem && !a->key_pem)
		return kerr(c, d, path, "client-certificate without client-key");
	if (a->key_pem && !a->cert_pem)
		return kerr(c, d, path, "client-key without client-certificate");

	if ((s = ystr(u, "token"))) {
		path_join(sub, path, "token");
		if (has_ctl(s, strlen(s)))
			return kerr(c, d, sub, "contains control characters");
		a->token = xstrdup(s);
	}
	if ((s = ystr(u, "tokenFile"))) {
		const char *why;
		path_join(sub, path, "tokenFile");
		a->token_file = resolve(d->dir, s);
		char *t = kube_token_file_read(a->token_file, &why);
		if (!t)
			return kerr(c, d, sub, "file %s: %s", a->token_file, why);
		free(t); /* checked now; the source re-reads it as it rotates */
	}
	if (ystr(u, "username") || ystr(u, "password"))
		return kerr(c, d, path,
		            "username/password (basic authentication) is not supported: Kubernetes removed "
		            "it in 1.19; use a token, a client certificate or an exec plugin");

	const struct ynode *x = yget(u, "exec");
	if (x && build_exec(c, d, path, x, a) < 0)
		return -1;
	return 0;
}

static int build_cluster(struct kc *c, const struct ydoc *d, size_t idx, const struct ynode *cl,
                         struct kube_auth *a)
{
	char path[PATH_LEN], sub[PATH_LEN];
	const char *s;
	path_fmt(path, "clusters[%zu].cluster", idx);
	path_join(sub, path, "server");
	if (!(s = ystr(cl, "server")))
		return kerr(c, d, sub, "missing");
	if (has_ctl(s, strlen(s)) || strchr(s, ' '))
		return kerr(c, d, sub, "contains spaces or control characters");
	const char *sep = strstr(s, "://");
	const char *host = sep ? sep + 3 : s;
	const char *at = strchr(host, '@');
	if (at && at < host + strcspn(host, "/?#"))
		return kerr(c, d, sub,
		            "credentials in the URL are not supported (use the user's token or certificate)");
	if (!sep) {
		a->server = xasprintf("https://%s", s); /* client-go's default for a bare host:port */
	} else if ((sep - s == 5 && memcmp(s, "https", 5) == 0) ||
	           (sep - s == 4 && memcmp(s, "http", 4) == 0)) {
		a->server = xstrdup(s);
	} else {
		return kerr(c, d, sub, "scheme must be https or http");
	}
	if ((s = ystr(cl, "tls-server-name")))
		a->tls_server_name = xstrdup(s);
	if ((s = ystr(cl, "proxy-url"))) {
		path_join(sub, path, "proxy-url");
		if (!str_starts(s, "http://") && !str_starts(s, "https://") && !str_starts(s, "socks5://"))
			return kerr(c, d, sub, "scheme must be http, https or socks5");
		if (has_ctl(s, strlen(s)) || strchr(s, ' '))
			return kerr(c, d, sub, "contains spaces or control characters");
		a->proxy_url = xstrdup(s);
	}
	a->insecure = ybool(yget(cl, "insecure-skip-tls-verify")) == 1;
	return pem_item(c, d, path, cl, "certificate-authority", &a->ca_file, &a->ca_pem, &a->ca_pem_len);
}

static int build(struct kc *c, const char *context, struct kube_auth *a)
{
	const struct ydoc *src = &c->f[0], *d;
	const struct ynode *ctx, *cl, *u;
	size_t ci, i;
	char path[PATH_LEN];
	const char *name = context && *context ? context : NULL;

	for (size_t f = 0; !name && f < c->n; f++) {
		if ((name = ystr(c->f[f].root, "current-context")))
			src = &c->f[f];
	}
	if (!name)
		return kerr(c, src, "current-context", "not set (and no context given)");
	if (!find_named(c, "contexts", "context", name, &d, &ci, &ctx))
		return kerr(c, src, "", "%s \"%.100s\" not found in contexts",
		            context && *context ? "context" : "current-context", name);
	const char *cluster = ystr(ctx, "cluster"), *user = ystr(ctx, "user"), *ns = ystr(ctx, "namespace");
	path_fmt(path, "contexts[%zu].context.cluster", ci);
	if (!cluster)
		return kerr(c, d, path, "missing");
	const struct ydoc *cd;
	if (!find_named(c, "clusters", "cluster", cluster, &cd, &i, &cl))
		return kerr(c, d, path, "cluster \"%.100s\" not found in clusters", cluster);
	if (ns)
		a->namespace = xstrdup(ns);
	if (build_cluster(c, cd, i, cl, a) < 0)
		return -1;
	if (!user)
		return 0; /* anonymous */
	path_fmt(path, "contexts[%zu].context.user", ci);
	const struct ydoc *ud;
	if (!find_named(c, "users", "user", user, &ud, &i, &u))
		return kerr(c, d, path, "user \"%.100s\" not found in users", user);
	return build_user(c, ud, i, u, a);
}

/* --- loading ------------------------------------------------------------------------------ */

static int kc_add(struct kc *c, const char *text, size_t len, const char *name, const char *dir)
{
	struct ydoc *d = &c->f[c->n++];
	d->name = xstrdup(name);
	d->dir = xstrdup(dir);
	if (ydoc_parse(d, text, len, &c->nodes_left, c->err, c->errlen) < 0)
		return -1;
	return check_doc(c, d);
}

/* Add one file; a missing one is skipped when skip_missing (KUBECONFIG lists). */
static int kc_add_file(struct kc *c, const char *path, bool skip_missing)
{
	size_t len;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->f[i].name, path) == 0)
			return 0; /* listed twice */
	if (c->n == FILES_MAX) {
		snprintf(c->err, c->errlen, "KUBECONFIG: more than %d files", FILES_MAX);
		return -1;
	}
	char *text = read_file(path, FILE_MAX, &len);
	if (!text) {
		if (errno == ENOENT && skip_missing)
			return 0;
		snprintf(c->err, c->errlen, "%s: %s", path,
		         errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
		return -1;
	}
	if (len > c->bytes_left) {
		free(text);
		snprintf(c->err, c->errlen, "%s: the kubeconfig files add up to more than 16 MiB", path);
		return -1;
	}
	c->bytes_left -= len;
	char *dir = dir_of(path);
	int r = kc_add(c, text, len, path, dir);
	free(dir);
	free(text);
	return r;
}

static int kc_finish(struct kc *c, int r, const char *context, struct kube_auth *out)
{
	if (r == 0)
		r = build(c, context, out);
	if (r < 0)
		kube_auth_free(out);
	for (size_t i = 0; i < c->n; i++)
		ydoc_free(&c->f[i]);
	return r;
}

int kubeconfig_load_mem(const char *yaml, size_t len, const char *name, const char *dir, const char *context,
                        struct kube_auth *out, char *err, size_t errlen)
{
	struct kc c = { .nodes_left = NODES_MAX, .bytes_left = TOTAL_MAX, .err = err, .errlen = errlen };
	memset(out, 0, sizeof *out);
	if (len > FILE_MAX) {
		snprintf(err, errlen, "%s: larger than 4 MiB", name);
		return -1;
	}
	return kc_finish(&c, kc_add(&c, yaml, len, name, dir), context, out);
}

int kubeconfig_load(const char *path, const char *context, struct kube_auth *out, char *err, size_t errlen)
{
	struct kc c = { .nodes_left = NODES_MAX, .bytes_left = TOTAL_MAX, .err = err, .errlen = errlen };
	const char *env = getenv("KUBECONFIG");
	int r = 0;
	memset(out, 0, sizeof *out);
	if (path) {
		r = kc_add_file(&c, path, false);
	} else if (env && *env) {
		char *list = xstrdup(env);
		for (char *p = list; p && r == 0;) {
			char *colon = strchr(p, ':');
			if (colon)
				*colon = '\0';
			if (*p)
				r = kc_add_file(&c, p, true);
			p = colon ? colon + 1 : NULL;
		}
		free(list);
		if (r == 0 && c.n == 0) {
			snprintf(err, errlen, "KUBECONFIG=%s: none of the listed files exists", env);
			r = -1;
		}
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			snprintf(err, errlen, "no kubeconfig: neither KUBECONFIG nor HOME is set");
			r = -1;
		} else {
			char *p = xasprintf("%s/.kube/config", home);
			r = kc_add_file(&c, p, false);
			free(p);
		}
	}
	return kc_finish(&c, r, context, out);
}

void kube_exec_free(struct kube_exec *e)
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
	free(e->dir);
	free(e->install_hint);
	free(e->cluster_info);
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
	free(a->proxy_url);
	free(a->namespace);
	kube_exec_free(a->exec);
	memset(a, 0, sizeof *a);
}

/* --- ExecCredential ------------------------------------------------------------------------------ */

void kube_cred_free(struct kube_cred *c)
{
	free(c->token);
	free(c->cert_pem);
	free(c->key_pem);
	memset(c, 0, sizeof *c);
}

/* A string member: 1 and *out when a non-empty string, 0 when absent/null/empty, -1 otherwise. */
static int json_str(const cJSON *o, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -1;
	if (!v->valuestring[0])
		return 0;
	*out = v->valuestring;
	return 1;
}

int kube_cred_parse(const char *json, size_t len, const char *api_version, struct kube_cred *out, char *err,
                    size_t errlen)
{
	const char *end = NULL, *kind, *ver, *tok, *exp, *cert, *key;
	cJSON *j = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	size_t lead = 0;
	while (lead < len &&
	       (json[lead] == ' ' || json[lead] == '\t' || json[lead] == '\r' || json[lead] == '\n'))
		lead++;
	if (lead == len) {
		snprintf(err, errlen, "printed nothing on stdout (expected an ExecCredential)");
		return -1;
	}
	j = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (j && end) {
		while (end < json + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
			end++;
	}
	if (!j || !end || end != json + len) {
		snprintf(err, errlen, "the output is not a JSON ExecCredential");
		goto out;
	}
	if (!cJSON_IsObject(j) || json_str(j, "kind", &kind) != 1 || strcmp(kind, "ExecCredential") != 0) {
		snprintf(err, errlen, "the output is not an ExecCredential (kind)");
		goto out;
	}
	if (json_str(j, "apiVersion", &ver) != 1 || strcmp(ver, api_version) != 0) {
		snprintf(err, errlen, "the output's apiVersion is not %s as configured", api_version);
		goto out;
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (!cJSON_IsObject(st)) {
		snprintf(err, errlen, "the output has no status");
		goto out;
	}
	if (json_str(st, "token", &tok) < 0 || json_str(st, "expirationTimestamp", &exp) < 0 ||
	    json_str(st, "clientCertificateData", &cert) < 0 || json_str(st, "clientKeyData", &key) < 0) {
		snprintf(err, errlen,
		         "status: token, expirationTimestamp, clientCertificateData and "
		         "clientKeyData must be strings");
		goto out;
	}
	if (!cert != !key) {
		snprintf(err, errlen, "status: clientCertificateData and clientKeyData go together");
		goto out;
	}
	if (!tok && !cert) {
		snprintf(err, errlen, "status.token: missing (and no client certificate)");
		goto out;
	}
	if (tok && has_ctl(tok, strlen(tok))) {
		snprintf(err, errlen, "status.token: contains control characters");
		goto out;
	}
	if (cert && (!is_pem(cert, strlen(cert)) || !is_pem(key, strlen(key)))) {
		snprintf(err, errlen, "status: clientCertificateData and clientKeyData must be PEM");
		goto out;
	}
	struct ktime t;
	if (exp && ktime_parse(exp, &t) < 0) {
		snprintf(err, errlen, "status.expirationTimestamp: not an RFC 3339 time");
		goto out;
	}
	if (exp)
		out->expiry_ms = t.sec * 1000 + t.nsec / 1000000;
	if (tok)
		out->token = xstrdup(tok);
	if (cert) {
		out->cert_pem = xstrdup(cert);
		out->cert_pem_len = strlen(cert);
		out->key_pem = xstrdup(key);
		out->key_pem_len = strlen(key);
	}
	rc = 0;
out:
	cJSON_Delete(j);
	if (rc < 0)
		kube_cred_free(out);
	return rc;
}

/* --- running a plugin ------------------------------------------------------------------------------ */

/* The first line of s (n bytes), printable, at most outn-1 bytes. */
static void first_line(const char *s, size_t n, char *out, size_t outn)
{
	size_t l = 0;
	while (l < n && l + 1 < outn && s[l] != '\n' && s[l] != '\r') {
		out[l] = (unsigned char)s[l] < 0x20 || s[l] == 0x7f ? '?' : s[l];
		l++;
	}
	out[l] = '\0';
}

static bool env_overridden(const char *var, const struct kube_exec *x)
{
	const char *eq = strchr(var, '=');
	size_t n = eq ? (size_t)(eq - var) : strlen(var);
	if (n == 20 && memcmp(var, "KUBERNETES_EXEC_INFO", 20) == 0)
		return true;
	for (size_t i = 0; i < x->nenv; i++)
		if (strncmp(x->env[i], var, n) == 0 && x->env[i][n] == '=')
			return true;
	return false;
}

static bool executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/*
 * The file to run, found before spawning as Go's exec.LookPath does: a
 * command with a '/' as is, else the first executable in $PATH. Failing
 * here gives a clear message on every libc (a failed exec inside
 * posix_spawn is not always reported). NULL with *why set.
 */
static char *look_path(const char *cmd, const char **why)
{
	if (strchr(cmd, '/')) {
		if (access(cmd, X_OK) < 0) {
			*why = strerror(errno);
			return NULL;
		}
		return xstrdup(cmd);
	}
	const char *path = getenv("PATH");
	for (const char *p = path ? path : "/usr/local/bin:/bin:/usr/bin"; p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = n ? xasprintf("%.*s/%s", (int)n, p, cmd) : xasprintf("./%s", cmd);
		if (executable(cand))
			return cand;
		free(cand);
		p = colon ? colon + 1 : NULL;
	}
	*why = "executable file not found in $PATH";
	return NULL;
}

/* KUBERNETES_EXEC_INFO=<ExecCredential>, field order as client-go marshals it. */
static char *exec_info(const struct kube_exec *x)
{
	struct buf b = BUF_INIT(4 * REF_MAX);
	buf_puts(&b, "KUBERNETES_EXEC_INFO={\"kind\":\"ExecCredential\",\"apiVersion\":");
	buf_json_string(&b, x->api_version);
	buf_puts(&b, ",\"spec\":{");
	if (x->cluster_info)
		buf_printf(&b, "\"cluster\":%s,", x->cluster_info);
	buf_puts(&b, "\"interactive\":false}}");
	return buf_steal(&b);
}

int kube_exec_run_cred(const struct kube_exec *x, int timeout_ms, struct kube_cred *out, char *err,
                       size_t errlen)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	pid_t pid;
	int rc = -1, status = 0;
	char **argv = NULL, **envp = NULL, *info = NULL, *file = NULL;
	const char *why = NULL;
	struct buf o = BUF_INIT(EXEC_OUT_MAX), e = BUF_INIT(EXEC_ERR_MAX);
	bool exited = false, timed_out = false, gave_up = false, oo = true, eo = true;

	memset(out, 0, sizeof *out);
	if (!(file = look_path(x->command, &why))) {
		char hint[200] = "";
		if (x->install_hint)
			first_line(x->install_hint, strlen(x->install_hint), hint, sizeof hint);
		snprintf(err, errlen, "exec plugin %s: cannot run: %s%s%s", x->command, why,
		         hint[0] ? "; " : "", hint);
		goto done;
	}
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "exec plugin %s: pipe: %s", x->command, strerror(errno));
		goto done;
	}
	argv = xcalloc(x->nargs + 2, sizeof *argv);
	argv[0] = x->command;
	for (size_t i = 0; i < x->nargs; i++)
		argv[i + 1] = x->args[i];
	size_t nenv = 0, k = 0;
	while (environ[nenv])
		nenv++;
	envp = xcalloc(nenv + x->nenv + 2, sizeof *envp);
	for (size_t i = 0; i < nenv; i++)
		if (!env_overridden(environ[i], x))
			envp[k++] = environ[i];
	for (size_t i = 0; i < x->nenv; i++) {
		bool later = false; /* of repeated names the last wins, as in Go */
		size_t n = strcspn(x->env[i], "=");
		for (size_t j = i + 1; j < x->nenv && !later; j++)
			later = strncmp(x->env[j], x->env[i], n + 1) == 0;
		if (!later)
			envp[k++] = x->env[i];
	}
	info = exec_info(x);
	envp[k++] = info;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0); /* its own group: a timeout kills its children too */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int sr = posix_spawn(&pid, file, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (sr != 0) {
		snprintf(err, errlen, "exec plugin %s: cannot run: %s", x->command, strerror(sr));
		goto done;
	}

	/*
	 * Poll the pipes and the child in slices: once it has exited, take what
	 * is buffered and stop, rather than wait for descendants that hold the
	 * pipes open. When SIGCHLD is ignored (ECHILD) the kernel reaps it for
	 * us; then the pipes closing is the end and the status is unknown (0).
	 */
	int64_t deadline = now_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	bool waitable = true;
	for (;;) {
		if (!exited && waitable) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				exited = true;
			else if (w < 0 && errno == ECHILD)
				waitable = false;
		}
		if ((exited || !waitable) && !oo && !eo) {
			exited = true;
			break;
		}
		int64_t left = deadline - now_mono_ms();
		if (left <= 0) {
			timed_out = !exited;
			break;
		}
		struct pollfd p[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { eo ? pe[0] : -1, POLLIN, 0 } };
		int pr = poll(p, 2, exited ? 0 : (int)MIN(left, EXEC_POLL_MS));
		if (pr < 0 && errno != EINTR) {
			snprintf(err, errlen, "exec plugin %s: poll: %s", x->command, strerror(errno));
			gave_up = true;
			break;
		}
		if (pr == 0 && exited)
			break;
		char chunk[4096];
		if (oo && p[0].revents) {
			ssize_t n = read(po[0], chunk, sizeof chunk);
			if (n > 0 && buf_append(&o, chunk, (size_t)n) < 0) {
				snprintf(err, errlen, "exec plugin %s: printed more than 1 MiB on stdout",
				         x->command);
				gave_up = true;
				break;
			}
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				oo = false;
		}
		if (eo && p[1].revents) {
			ssize_t n = read(pe[0], chunk, sizeof chunk);
			if (n > 0)
				buf_append(&e, chunk, (size_t)n); /* beyond 64 KiB: drained, not kept */
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				eo = false;
		}
	}
	if (!exited && waitable) {
		/* not reaped yet, so neither its pid nor its group id can have been reused */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	char line[200];
	first_line(buf_str(&e), e.len, line, sizeof line);
	const char *sep = line[0] ? ": " : "";
	if (gave_up)
		goto done;
	if (timed_out) {
		snprintf(err, errlen, "exec plugin %s: no answer within %d ms (killed)%s%s", x->command,
		         timeout_ms, sep, line);
		goto done;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !line[0]) {
		/* some posix_spawn implementations report a failed exec this way */
		snprintf(err, errlen, "exec plugin %s: cannot run (exit status 127)", x->command);
		goto done;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "exec plugin %s: killed by signal %d%s%s", x->command, WTERMSIG(status),
		         sep, line);
		goto done;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "exec plugin %s: exit status %d%s%s", x->command, WEXITSTATUS(status),
		         sep, line);
		goto done;
	}
	char perr[256];
	if (kube_cred_parse(buf_str(&o), o.len, x->api_version, out, perr, sizeof perr) < 0) {
		snprintf(err, errlen, "exec plugin %s: %s", x->command, perr);
		goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(file);
	free(argv);
	free(envp);
	free(info);
	buf_free(&o);
	buf_free(&e);
	return rc;
}

int kube_exec_run(const struct kube_exec *x, int timeout_ms, char **token, int64_t *expiry_ms, char *err,
                  size_t errlen)
{
	struct kube_cred c;
	*token = NULL;
	*expiry_ms = 0;
	if (kube_exec_run_cred(x, timeout_ms, &c, err, errlen) < 0)
		return -1;
	if (!c.token) {
		snprintf(err, errlen,
		         "exec plugin %s: returned a client certificate but no token (not supported here)",
		         x->command);
		kube_cred_free(&c);
		return -1;
	}
	*token = c.token;
	*expiry_ms = c.expiry_ms;
	c.token = NULL;
	kube_cred_free(&c);
	return 0;
}
