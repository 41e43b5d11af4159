/*
 * tmpl.c -- a Go text/template subset: compile once into a typed node
 * tree, render per event without allocating (function results live in a
 * reusable scratch arena).
 */
#include "tmpl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gotime.h"
#include "util.h"

#define MAX_DEPTH 40 /* nesting of control structures and parentheses */
#define MAX_VARS 64  /* variables in one template */
#define MAX_ARGS 16  /* operands in one command */
#define MAX_CMDS 16  /* commands in one pipeline */
#define MAX_CHAIN 8  /* .A.B.C */
#define MAX_SRC (1 << 20)
#define MAX_COMPILED (8 << 20) /* bytes of compiled form: a command takes ~5 KB */
#define SCRATCH_BLOCK 16384
#define SCRATCH_MAX (4 << 20)

/* --- values and the Event schema ----------------------------------------- */

enum vt {
	V_MISSING, /* Go's "<no value>" */
	V_NIL,
	V_BOOL,
	V_INT,
	V_FLOAT,
	V_STR,
	V_TIME,
	V_MAP,
	V_EVENT,
	V_OBJREF,
	V_SOURCE,
	V_SERIES,
	V_META,
	V_TYPEMETA,
	V_ANY, /* static type unknown until render */
};

static const char *const type_names[] = {
	"<no value>",     "nil",
	"bool",           "int",
	"float64",        "string",
	"v1.Time",        "map[string]string",
	"v1.Event",       "v1.ObjectReference",
	"v1.EventSource", "v1.EventSeries",
	"v1.ObjectMeta",  "v1.TypeMeta",
	"interface {}",
};

struct val {
	enum vt t;
	bool utc; /* V_TIME: in UTC (after .UTC) */
	bool raw; /* never JSON-escaped (raw, json) */
	union {
		bool b;
		int64_t i;
		double f;
		struct {
			const char *p;
			size_t n;
		} s;
		struct ktime tm;
		struct {
			const struct kv *kv;
			size_t n;
		} map;
	} u;
};

enum field {
	F_TYPE,
	F_REASON,
	F_MESSAGE,
	F_COUNT,
	F_ACTION,
	F_NAME,
	F_NAMESPACE,
	F_UID,
	F_RV,
	F_CREATION,
	F_LABELS,
	F_ANNOTATIONS,
	F_FIRST,
	F_LAST,
	F_EVENTTIME,
	F_RCONTROLLER,
	F_RINSTANCE,
	F_SERIES,
	F_INVOLVED,
	F_SOURCE,
	F_OBJECTMETA,
	F_TYPEMETA,
	F_KIND,
	F_APIVERSION,
	F_GENERATENAME,
	F_IO_KIND,
	F_IO_NAMESPACE,
	F_IO_NAME,
	F_IO_UID,
	F_IO_APIVERSION,
	F_IO_RV,
	F_IO_FIELDPATH,
	F_SRC_COMPONENT,
	F_SRC_HOST,
	F_SERIES_COUNT,
	F_SERIES_LAST,
	/* time methods */
	M_FORMAT,
	M_UNIX,
	M_UNIXMILLI,
	M_UNIXNANO,
	M_UTC,
	M_LOCAL,
	M_STRING,
	M_ISZERO,
	M_YEAR,
	M_DAY,
	M_HOUR,
	M_MINUTE,
	M_SECOND,
	F_MAPKEY,
};

struct fielddef {
	enum vt owner;
	const char *name;
	enum field id;
	enum vt type;
	int nargs; /* methods: arguments taken */
};

static const struct fielddef fields[] = {
	{ V_EVENT, "Type", F_TYPE, V_STR, 0 },
	{ V_EVENT, "Reason", F_REASON, V_STR, 0 },
	{ V_EVENT, "Message", F_MESSAGE, V_STR, 0 },
	{ V_EVENT, "Count", F_COUNT, V_INT, 0 },
	{ V_EVENT, "Action", F_ACTION, V_STR, 0 },
	{ V_EVENT, "Name", F_NAME, V_STR, 0 },
	{ V_EVENT, "Namespace", F_NAMESPACE, V_STR, 0 },
	{ V_EVENT, "UID", F_UID, V_STR, 0 },
	{ V_EVENT, "ResourceVersion", F_RV, V_STR, 0 },
	{ V_EVENT, "CreationTimestamp", F_CREATION, V_TIME, 0 },
	{ V_EVENT, "Labels", F_LABELS, V_MAP, 0 },
	{ V_EVENT, "Annotations", F_ANNOTATIONS, V_MAP, 0 },
	{ V_EVENT, "GenerateName", F_GENERATENAME, V_STR, 0 },
	{ V_EVENT, "FirstTimestamp", F_FIRST, V_TIME, 0 },
	{ V_EVENT, "LastTimestamp", F_LAST, V_TIME, 0 },
	{ V_EVENT, "EventTime", F_EVENTTIME, V_TIME, 0 },
	{ V_EVENT, "ReportingController", F_RCONTROLLER, V_STR, 0 },
	{ V_EVENT, "ReportingInstance", F_RINSTANCE, V_STR, 0 },
	{ V_EVENT, "Series", F_SERIES, V_SERIES, 0 },
	{ V_EVENT, "InvolvedObject", F_INVOLVED, V_OBJREF, 0 },
	{ V_EVENT, "Source", F_SOURCE, V_SOURCE, 0 },
	{ V_EVENT, "ObjectMeta", F_OBJECTMETA, V_META, 0 },
	{ V_EVENT, "TypeMeta", F_TYPEMETA, V_TYPEMETA, 0 },
	{ V_EVENT, "Kind", F_KIND, V_STR, 0 },
	{ V_EVENT, "APIVersion", F_APIVERSION, V_STR, 0 },
	{ V_META, "Name", F_NAME, V_STR, 0 },
	{ V_META, "Namespace", F_NAMESPACE, V_STR, 0 },
	{ V_META, "UID", F_UID, V_STR, 0 },
	{ V_META, "ResourceVersion", F_RV, V_STR, 0 },
	{ V_META, "CreationTimestamp", F_CREATION, V_TIME, 0 },
	{ V_META, "Labels", F_LABELS, V_MAP, 0 },
	{ V_META, "Annotations", F_ANNOTATIONS, V_MAP, 0 },
	{ V_META, "GenerateName", F_GENERATENAME, V_STR, 0 },
	{ V_TYPEMETA, "Kind", F_KIND, V_STR, 0 },
	{ V_TYPEMETA, "APIVersion", F_APIVERSION, V_STR, 0 },
	{ V_OBJREF, "Kind", F_IO_KIND, V_STR, 0 },
	{ V_OBJREF, "Namespace", F_IO_NAMESPACE, V_STR, 0 },
	{ V_OBJREF, "Name", F_IO_NAME, V_STR, 0 },
	{ V_OBJREF, "UID", F_IO_UID, V_STR, 0 },
	{ V_OBJREF, "APIVersion", F_IO_APIVERSION, V_STR, 0 },
	{ V_OBJREF, "ResourceVersion", F_IO_RV, V_STR, 0 },
	{ V_OBJREF, "FieldPath", F_IO_FIELDPATH, V_STR, 0 },
	{ V_SOURCE, "Component", F_SRC_COMPONENT, V_STR, 0 },
	{ V_SOURCE, "Host", F_SRC_HOST, V_STR, 0 },
	{ V_SERIES, "Count", F_SERIES_COUNT, V_INT, 0 },
	{ V_SERIES, "LastObservedTime", F_SERIES_LAST, V_TIME, 0 },
	{ V_TIME, "Format", M_FORMAT, V_STR, 1 },
	{ V_TIME, "Unix", M_UNIX, V_INT, 0 },
	{ V_TIME, "UnixMilli", M_UNIXMILLI, V_INT, 0 },
	{ V_TIME, "UnixNano", M_UNIXNANO, V_INT, 0 },
	{ V_TIME, "UTC", M_UTC, V_TIME, 0 },
	{ V_TIME, "Local", M_LOCAL, V_TIME, 0 },
	{ V_TIME, "String", M_STRING, V_STR, 0 },
	{ V_TIME, "IsZero", M_ISZERO, V_BOOL, 0 },
	{ V_TIME, "Year", M_YEAR, V_INT, 0 },
	{ V_TIME, "Day", M_DAY, V_INT, 0 },
	{ V_TIME, "Hour", M_HOUR, V_INT, 0 },
	{ V_TIME, "Minute", M_MINUTE, V_INT, 0 },
	{ V_TIME, "Second", M_SECOND, V_INT, 0 },
};

static const struct fielddef *lookup_field(enum vt owner, const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		if (fields[i].owner == owner && strlen(fields[i].name) == n &&
		    memcmp(fields[i].name, name, n) == 0)
			return &fields[i];
	return NULL;
}

/* --- functions --------------------------------------------------------------- */

enum fn {
	FN_AND,
	FN_OR,
	FN_NOT,
	FN_EQ,
	FN_NE,
	FN_LT,
	FN_LE,
	FN_GT,
	FN_GE,
	FN_LEN,
	FN_INDEX,
	FN_PRINT,
	FN_PRINTF,
	FN_PRINTLN,
	FN_JSON,
	FN_UPPER,
	FN_LOWER,
	FN_TRUNC,
	FN_DEFAULT,
	FN_REPLACE,
	FN_RAW,
	FN_CONTAINS,
	FN_HASPREFIX,
	FN_HASSUFFIX,
};

static const struct {
	const char *name;
	int min, max; /* argument counts, max -1 = any */
	enum vt type;
} funcs[] = {
	[FN_AND] = { "and", 1, -1, V_ANY },
	[FN_OR] = { "or", 1, -1, V_ANY },
	[FN_NOT] = { "not", 1, 1, V_BOOL },
	[FN_EQ] = { "eq", 2, -1, V_BOOL },
	[FN_NE] = { "ne", 2, 2, V_BOOL },
	[FN_LT] = { "lt", 2, 2, V_BOOL },
	[FN_LE] = { "le", 2, 2, V_BOOL },
	[FN_GT] = { "gt", 2, 2, V_BOOL },
	[FN_GE] = { "ge", 2, 2, V_BOOL },
	[FN_LEN] = { "len", 1, 1, V_INT },
	[FN_INDEX] = { "index", 2, 2, V_STR },
	[FN_PRINT] = { "print", 0, -1, V_STR },
	[FN_PRINTF] = { "printf", 1, -1, V_STR },
	[FN_PRINTLN] = { "println", 0, -1, V_STR },
	[FN_JSON] = { "json", 1, 1, V_STR },
	[FN_UPPER] = { "upper", 1, 1, V_STR },
	[FN_LOWER] = { "lower", 1, 1, V_STR },
	[FN_TRUNC] = { "trunc", 2, 2, V_STR },
	[FN_DEFAULT] = { "default", 2, 2, V_ANY },
	[FN_REPLACE] = { "replace", 3, 3, V_STR },
	[FN_RAW] = { "raw", 1, 1, V_ANY },
	[FN_CONTAINS] = { "contains", 2, 2, V_BOOL },
	[FN_HASPREFIX] = { "hasPrefix", 2, 2, V_BOOL },
	[FN_HASSUFFIX] = { "hasSuffix", 2, 2, V_BOOL },
};

/* --- the compiled form ---------------------------------------------------- */

struct pipe;

struct chainel {
	const char *name; /* field name (map key), borrowed from the source copy */
	size_t len;
	const struct fielddef *def; /* NULL: resolved at render (V_ANY or map key) */
};

enum okind { O_DOT, O_VAR, O_PIPE, O_STR, O_INT, O_FLOAT, O_BOOL, O_NIL, O_FUNC };

struct operand {
	enum okind k;
	int line, col;
	int var;          /* O_VAR: slot */
	struct pipe *sub; /* O_PIPE */
	enum fn fn;       /* O_FUNC */
	struct val lit;   /* literals */
	struct chainel chain[MAX_CHAIN];
	int nchain;
	enum vt type; /* static type of the whole operand */
};

struct cmd {
	struct operand args[MAX_ARGS];
	int nargs;
	int line, col;
	enum vt type;
};

struct pipe {
	int decl[2]; /* variable slots declared/assigned, -1 none */
	int ndecl;
	bool assign; /* '=' rather than ':=' */
	struct cmd *cmds[MAX_CMDS];
	int ncmds;
	enum vt type;
};

enum nkind { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_BREAK, N_CONTINUE };

struct node {
	enum nkind k;
	struct node *next;
	int line, col;
	const char *text; /* N_TEXT */
	size_t len;
	struct pipe *pipe;
	bool in_string; /* N_ACTION inside a JSON string literal */
	struct node *body, *alt;
};

struct tmpl {
	enum tmpl_mode mode;
	char *src; /* owned copy: texts and names point into it */
	struct node *root;
	int nvars;
	void **allocs; /* everything allocated at compile time */
	size_t nallocs, capallocs;
	size_t bytes; /* their total */
};

/* --- the parser ------------------------------------------------------------ */

enum tok {
	K_EOF,
	K_END_ACTION,
	K_FIELD,
	K_VAR,
	K_IDENT,
	K_STR,
	K_RAWSTR,
	K_CHAR,
	K_NUM,
	K_PIPE,
	K_LPAREN,
	K_RPAREN,
	K_DECLARE,
	K_ASSIGN,
	K_COMMA,
	K_DOT,
	K_ERROR,
};

struct token {
	enum tok k;
	const char *p;
	size_t n;
	int line, col;
	bool space_before;
};

struct var {
	const char *name;
	size_t n;
	int slot;
	enum vt type;
};

struct parser {
	struct tmpl *t;
	const char *src, *end, *p;
	int line, col;
	char *err;
	size_t errlen;
	bool failed;
	struct token tok; /* current token inside an action */
	bool trim_right;  /* the action being parsed ends with -}} */
	struct var vars[MAX_VARS];
	int nvars, nslots;
	enum vt dot[MAX_DEPTH + 2]; /* static type of dot per nesting level */
	int level, depth;
	int loops; /* enclosing range bodies */
	/* JSON lexical state of the literal text so far */
	bool js_in_str, js_esc;
};

static void *talloc(struct tmpl *t, size_t n)
{
	void *p = xcalloc(1, n);
	t->bytes += n;
	if (t->nallocs == t->capallocs) {
		t->capallocs = t->capallocs ? t->capallocs * 2 : 64;
		t->allocs = xrealloc(t->allocs, t->capallocs * sizeof *t->allocs);
	}
	t->allocs[t->nallocs++] = p;
	return p;
}

static void perr(struct parser *ps, int line, int col, const char *fmt, ...) KE_PRINTF(4, 5);
static void perr(struct parser *ps, int line, int col, const char *fmt, ...)
{
	if (ps->failed)
		return;
	ps->failed = true;
	int n = snprintf(ps->err, ps->errlen, "%d:%d: ", line, col);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < ps->errlen)
		vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void advance(struct parser *ps, size_t n)
{
	for (size_t i = 0; i < n && ps->p < ps->end; i++, ps->p++) {
		if (*ps->p == '\n') {
			ps->line++;
			ps->col = 1;
		} else if (((unsigned char)*ps->p & 0xC0) != 0x80) {
			ps->col++;
		}
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool ident_char(char c)
{
	return c == '_' || isalnum((unsigned char)c);
}

/* Lex the next token inside an action. */
static void lex(struct parser *ps)
{
	struct token *t = &ps->tok;
	t->space_before = false;
	while (ps->p < ps->end && is_space(*ps->p)) {
		/* " -}}" ends the action with trimming: leave it for below */
		if (ps->end - ps->p >= 4 && memcmp(ps->p + 1, "-}}", 3) == 0)
			break;
		advance(ps, 1);
		t->space_before = true;
	}
	t->p = ps->p;
	t->line = ps->line;
	t->col = ps->col;
	t->n = 0;
	if (ps->p >= ps->end) {
		t->k = K_EOF;
		return;
	}
	char c = *ps->p;
	if (is_space(c) && ps->end - ps->p >= 4 && memcmp(ps->p + 1, "-}}", 3) == 0) {
		t->k = K_END_ACTION;
		ps->trim_right = true;
		advance(ps, 4);
		return;
	}
	if (c == '}' && ps->p + 1 < ps->end && ps->p[1] == '}') {
		t->k = K_END_ACTION;
		ps->trim_right = false;
		advance(ps, 2);
		return;
	}
	const char *s = ps->p;
	switch (c) {
	case '|':
		t->k = K_PIPE;
		advance(ps, 1);
		break;
	case '(':
		t->k = K_LPAREN;
		advance(ps, 1);
		break;
	case ')':
		t->k = K_RPAREN;
		advance(ps, 1);
		break;
	case ',':
		t->k = K_COMMA;
		advance(ps, 1);
		break;
	case '=':
		t->k = K_ASSIGN;
		advance(ps, 1);
		break;
	case ':':
		if (ps->p + 1 < ps->end && ps->p[1] == '=') {
			t->k = K_DECLARE;
			advance(ps, 2);
		} else {
			t->k = K_ERROR;
			advance(ps, 1);
		}
		break;
	case '.':
		if (ps->p + 1 < ps->end && (isalpha((unsigned char)ps->p[1]) || ps->p[1] == '_')) {
			advance(ps, 1);
			while (ps->p < ps->end && ident_char(*ps->p))
				advance(ps, 1);
			t->k = K_FIELD;
		} else if (ps->p + 1 < ps->end && isdigit((unsigned char)ps->p[1])) {
			goto number;
		} else {
			t->k = K_DOT;
			advance(ps, 1);
		}
		break;
	case '$':
		advance(ps, 1);
		while (ps->p < ps->end && ident_char(*ps->p))
			advance(ps, 1);
		t->k = K_VAR;
		break;
	case '"':
	case '\'':
		advance(ps, 1);
		while (ps->p < ps->end && *ps->p != c && *ps->p != '\n') {
			if (*ps->p == '\\' && ps->p + 1 < ps->end)
				advance(ps, 1);
			advance(ps, 1);
		}
		if (ps->p >= ps->end || *ps->p != c) {
			t->k = K_ERROR;
			break;
		}
		advance(ps, 1);
		t->k = c == '"' ? K_STR : K_CHAR;
		break;
	case '`':
		advance(ps, 1);
		while (ps->p < ps->end && *ps->p != '`')
			advance(ps, 1);
		if (ps->p >= ps->end) {
			t->k = K_ERROR;
			break;
		}
		advance(ps, 1);
		t->k = K_RAWSTR;
		break;
	default:
		if (isdigit((unsigned char)c) || ((c == '-' || c == '+') && ps->p + 1 < ps->end &&
		                                  (isdigit((unsigned char)ps->p[1]) || ps->p[1] == '.'))) {
		number:
			advance(ps, 1);
			while (ps->p < ps->end &&
			       (isalnum((unsigned char)*ps->p) || *ps->p == '.' || *ps->p == '_' ||
			        ((*ps->p == '-' || *ps->p == '+') && (ps->p[-1] == 'e' || ps->p[-1] == 'E'))))
				advance(ps, 1);
			t->k = K_NUM;
		} else if (isalpha((unsigned char)c) || c == '_') {
			while (ps->p < ps->end && ident_char(*ps->p))
				advance(ps, 1);
			t->k = K_IDENT;
		} else {
			t->k = K_ERROR;
			advance(ps, 1);
		}
	}
	t->n = (size_t)(ps->p - s);
}

static bool tok_is(const struct token *t, const char *word)
{
	return t->k == K_IDENT && strlen(word) == t->n && memcmp(t->p, word, t->n) == 0;
}

/* Decode a Go string literal token into a scratch-free owned string. */
static char *unquote(struct parser *ps, const struct token *t, size_t *outlen)
{
	static const char simple_from[] = "ntrabfv\\\"'", simple_to[] = "\n\t\r\a\b\f\v\\\"'";
	char *out = talloc(ps->t, t->n + 1);
	size_t o = 0;
	if (t->k == K_RAWSTR) {
		memcpy(out, t->p + 1, t->n - 2);
		*outlen = t->n - 2;
		return out;
	}
	for (size_t i = 1; i + 1 < t->n; i++) {
		char c = t->p[i];
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		c = t->p[++i];
		const char *e = c ? strchr(simple_from, c) : NULL;
		if (e) {
			out[o++] = simple_to[e - simple_from];
			continue;
		}
		/* \xHH (a byte), \uHHHH, \UHHHHHHHH (a code point, not a surrogate) */
		int nd = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
		uint32_t v = 0;
		for (int k = 0; k < nd; k++) {
			int d = i + 2 < t->n ? hex_digit(t->p[++i]) : -1;
			if (d < 0) {
				nd = 0;
				break;
			}
			v = v * 16 + (uint32_t)d;
		}
		if (!nd || (c != 'x' && (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)))) {
			perr(ps, t->line, t->col, "invalid syntax in string literal");
			return NULL;
		}
		if (c == 'x')
			out[o++] = (char)v;
		else
			o += utf8_encode(v, out + o);
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static struct pipe *parse_pipe(struct parser *ps, bool allow_decl, bool range_decl, bool in_parens);

static int find_var(struct parser *ps, const char *name, size_t n)
{
	for (int i = ps->nvars - 1; i >= 0; i--)
		if (ps->vars[i].n == n && memcmp(ps->vars[i].name, name, n) == 0)
			return i;
	return -1;
}

/* Resolve .Name on a static type; V_ANY defers to render time. */
static bool chain_step(struct parser *ps, struct operand *o, const struct token *t, const char *name,
                       size_t n)
{
	if (o->nchain == MAX_CHAIN) {
		perr(ps, t->line, t->col, "field chain too long");
		return false;
	}
	struct chainel *el = &o->chain[o->nchain++];
	el->name = name;
	el->len = n;
	if (o->type == V_ANY) {
		return true;
	}
	if (o->type == V_MAP) {
		o->type = V_STR; /* .Labels.app */
		return true;
	}
	el->def = lookup_field(o->type, name, n);
	if (!el->def) {
		perr(ps, t->line, t->col, "can't evaluate field %.*s in type %s", (int)n, name,
		     type_names[o->type]);
		return false;
	}
	o->type = el->def->type;
	return true;
}

/* Operand: term followed by adjacent .Field chain. Returns false at end of command. */
static bool parse_operand(struct parser *ps, struct operand *o)
{
	struct token *t = &ps->tok;
	memset(o, 0, sizeof *o);
	o->line = t->line;
	o->col = t->col;
	switch (t->k) {
	case K_DOT:
		o->k = O_DOT;
		o->type = ps->dot[ps->level];
		lex(ps);
		return true;
	case K_FIELD:
		o->k = O_DOT;
		o->type = ps->dot[ps->level];
		break;
	case K_VAR: {
		int v = find_var(ps, t->p, t->n);
		if (v < 0) {
			perr(ps, t->line, t->col, "undefined variable: %.*s", (int)t->n, t->p);
			return false;
		}
		o->k = O_VAR;
		o->var = ps->vars[v].slot;
		o->type = ps->vars[v].type;
		lex(ps);
		break;
	}
	case K_LPAREN: {
		if (++ps->depth > MAX_DEPTH) {
			perr(ps, t->line, t->col, "expression nested too deeply");
			return false;
		}
		lex(ps);
		o->k = O_PIPE;
		o->sub = parse_pipe(ps, false, false, true);
		ps->depth--;
		if (!o->sub)
			return false;
		if (t->k != K_RPAREN) {
			perr(ps, t->line, t->col, "unclosed left paren");
			return false;
		}
		o->type = o->sub->type;
		lex(ps);
		break;
	}
	case K_STR:
	case K_RAWSTR: {
		size_t n;
		const char *s = unquote(ps, t, &n);
		if (!s)
			return false;
		o->k = O_STR;
		o->lit.t = V_STR;
		o->lit.u.s.p = s;
		o->lit.u.s.n = n;
		o->type = V_STR;
		lex(ps);
		return true;
	}
	case K_CHAR: {
		size_t n;
		struct token q = *t;
		const char *s = unquote(ps, &q, &n);
		if (!s)
			return false;
		unsigned cp = n ? (unsigned char)s[0] : 0;
		if (n > 1) { /* a multi-byte character */
			cp = (unsigned char)s[0] & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
			for (size_t i = 1; i < n; i++)
				cp = (cp << 6) | ((unsigned char)s[i] & 0x3F);
		}
		o->k = O_INT;
		o->lit.t = V_INT;
		o->lit.u.i = cp;
		o->type = V_INT;
		lex(ps);
		return true;
	}
	case K_NUM: {
		char tmp[64];
		if (t->n >= sizeof tmp) {
			perr(ps, t->line, t->col, "bad number syntax: %.*s", (int)MIN(t->n, 32), t->p);
			return false;
		}
		memcpy(tmp, t->p, t->n);
		tmp[t->n] = '\0';
		char *end;
		int64_t iv;
		if (parse_i64(tmp, t->n, &iv) == 0) {
			o->k = O_INT;
			o->lit.t = V_INT;
			o->lit.u.i = iv;
			o->type = V_INT;
		} else if (strncmp(tmp, "0x", 2) == 0 || strncmp(tmp, "0X", 2) == 0) {
			unsigned long long u = strtoull(tmp + 2, &end, 16);
			if (*end || end == tmp + 2) {
				perr(ps, t->line, t->col, "bad number syntax: %s", tmp);
				return false;
			}
			o->k = O_INT;
			o->lit.t = V_INT;
			o->lit.u.i = (int64_t)u;
			o->type = V_INT;
		} else {
			double d = strtod(tmp, &end);
			if (*end) {
				perr(ps, t->line, t->col, "bad number syntax: %s", tmp);
				return false;
			}
			o->k = O_FLOAT;
			o->lit.t = V_FLOAT;
			o->lit.u.f = d;
			o->type = V_FLOAT;
		}
		lex(ps);
		return true;
	}
	case K_IDENT:
		if (tok_is(t, "true") || tok_is(t, "false")) {
			o->k = O_BOOL;
			o->lit.t = V_BOOL;
			o->lit.u.b = tok_is(t, "true");
			o->type = V_BOOL;
			lex(ps);
			return true;
		}
		if (tok_is(t, "nil")) {
			o->k = O_NIL;
			o->lit.t = V_NIL;
			o->type = V_NIL;
			lex(ps);
			return true;
		}
		for (size_t i = 0; i < ARRAY_LEN(funcs); i++) {
			if (tok_is(t, funcs[i].name)) {
				o->k = O_FUNC;
				o->fn = (enum fn)i;
				o->type = funcs[i].type;
				lex(ps);
				return true;
			}
		}
		perr(ps, t->line, t->col, "function \"%.*s\" not defined", (int)t->n, t->p);
		return false;
	default:
		return false;
	}
	/* field chain: .A.B directly adjacent */
	while (t->k == K_FIELD && (o->k == O_DOT && o->nchain == 0 ? true : !t->space_before)) {
		if (!chain_step(ps, o, t, t->p + 1, t->n - 1))
			return false;
		lex(ps);
	}
	return true;
}

static struct cmd *parse_cmd(struct parser *ps)
{
	struct token *t = &ps->tok;
	/* Commands are the bulk of the compiled form: bound it (the source may be a ConfigMap). */
	if (ps->t->bytes > MAX_COMPILED) {
		perr(ps, t->line, t->col, "template too large once compiled (over %d MiB)",
		     MAX_COMPILED >> 20);
		return NULL;
	}
	struct cmd *c = talloc(ps->t, sizeof *c);
	c->line = t->line;
	c->col = t->col;
	while (t->k != K_PIPE && t->k != K_END_ACTION && t->k != K_RPAREN && t->k != K_EOF) {
		if (c->nargs == MAX_ARGS) {
			perr(ps, t->line, t->col, "too many arguments");
			return NULL;
		}
		if (t->k == K_ERROR || t->k == K_DECLARE || t->k == K_ASSIGN || t->k == K_COMMA) {
			perr(ps, t->line, t->col, "unexpected \"%.*s\" in command", (int)MIN(t->n, 20), t->p);
			return NULL;
		}
		if (t->k == K_FIELD && c->nargs > 0 && !t->space_before) {
			perr(ps, t->line, t->col, "unexpected field after operand");
			return NULL;
		}
		if (!parse_operand(ps, &c->args[c->nargs]))
			return NULL;
		c->nargs++;
	}
	if (c->nargs == 0) {
		perr(ps, t->line, t->col, "missing value for command");
		return NULL;
	}
	c->type = c->args[0].type;
	return c;
}

/* Check argument counts and work out the command's static type. */
static bool check_cmd(struct parser *ps, struct cmd *c, bool piped)
{
	struct operand *head = &c->args[0];
	int given = c->nargs - 1 + (piped ? 1 : 0);
	if (head->k == O_FUNC) {
		int min = funcs[head->fn].min, max = funcs[head->fn].max;
		if (given < min || (max >= 0 && given > max)) {
			perr(ps, c->line, c->col, "wrong number of args for %s: want %d got %d",
			     funcs[head->fn].name, min, given);
			return false;
		}
		c->type = funcs[head->fn].type;
		if ((head->fn == FN_AND || head->fn == FN_OR || head->fn == FN_DEFAULT) && c->nargs > 1) {
			enum vt ty = c->args[1].type;
			for (int i = 2; i < c->nargs; i++)
				if (c->args[i].type != ty)
					ty = V_ANY;
			c->type = piped ? V_ANY : ty;
		}
		if (head->fn == FN_RAW)
			c->type = c->nargs > 1 ? c->args[1].type : V_ANY;
		return true;
	}
	const struct chainel *last = head->nchain ? &head->chain[head->nchain - 1] : NULL;
	int takes =
	    last && last->def ? last->def->nargs : (last && !last->def && head->type == V_ANY ? -1 : 0);
	if (takes >= 0 && given != takes) {
		if (takes == 0)
			perr(ps, c->line, c->col, "can't give argument to non-function %s",
			     head->k == O_STR ? "string" : "value");
		else
			perr(ps, c->line, c->col, "wrong number of args for %.*s: want %d got %d",
			     (int)last->len, last->name, takes, given);
		return false;
	}
	return true;
}

static struct pipe *parse_pipe(struct parser *ps, bool allow_decl, bool range_decl, bool in_parens)
{
	struct pipe *p = talloc(ps->t, sizeof *p);
	struct token *t = &ps->tok;
	p->decl[0] = p->decl[1] = -1;
	/* $x := / $x = / $k, $v := */
	if (t->k == K_VAR) {
		const char *save = ps->p;
		int sl = ps->line, sc = ps->col;
		struct token first = *t;
		lex(ps);
		struct token second = { 0 };
		bool two = false;
		if (t->k == K_COMMA && range_decl) {
			lex(ps);
			if (t->k == K_VAR) {
				second = *t;
				two = true;
				lex(ps);
			}
		}
		if (t->k == K_DECLARE || (t->k == K_ASSIGN && !two)) {
			if (!allow_decl && !in_parens) {
				perr(ps, first.line, first.col, "variable declaration not allowed here");
				return NULL;
			}
			bool assign = t->k == K_ASSIGN;
			struct token names[2] = { first, second };
			for (int i = 0; i < (two ? 2 : 1); i++) {
				if (assign) {
					int v = find_var(ps, names[i].p, names[i].n);
					if (v < 0) {
						perr(ps, names[i].line, names[i].col,
						     "undefined variable: %.*s", (int)names[i].n, names[i].p);
						return NULL;
					}
					p->decl[i] = ps->vars[v].slot;
				} else {
					if (ps->nvars == MAX_VARS || ps->nslots == MAX_VARS) {
						perr(ps, names[i].line, names[i].col, "too many variables");
						return NULL;
					}
					p->decl[i] = ps->nslots++;
				}
			}
			p->ndecl = two ? 2 : 1;
			p->assign = assign;
			lex(ps);
			/* declare after parsing the pipeline: "$x := $x" refers to the outer one */
			struct pipe *rest = parse_pipe(ps, false, false, in_parens);
			if (!rest)
				return NULL;
			memcpy(p->cmds, rest->cmds, sizeof p->cmds);
			p->ncmds = rest->ncmds;
			p->type = rest->type;
			if (!assign) {
				for (int i = 0; i < p->ndecl; i++) {
					struct var *v = &ps->vars[ps->nvars++];
					v->name = names[i].p;
					v->n = names[i].n;
					v->slot = p->decl[i];
					v->type =
					    range_decl ? V_STR : p->type; /* range: refined by the caller */
				}
			}
			return p;
		}
		/* not a declaration: rewind */
		ps->p = save;
		ps->line = sl;
		ps->col = sc;
		*t = first;
	}
	for (;;) {
		if (p->ncmds == MAX_CMDS) {
			perr(ps, t->line, t->col, "pipeline too long");
			return NULL;
		}
		struct cmd *c = parse_cmd(ps);
		if (!c)
			return NULL;
		if (!check_cmd(ps, c, p->ncmds > 0))
			return NULL;
		p->cmds[p->ncmds++] = c;
		if (t->k != K_PIPE)
			break;
		lex(ps);
	}
	p->type = p->cmds[p->ncmds - 1]->type;
	return p;
}

/* Text between actions: JSON state and trimming. */
static void note_text(struct parser *ps, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!ps->js_in_str) {
			if (c == '"')
				ps->js_in_str = true;
		} else if (ps->js_esc) {
			ps->js_esc = false;
		} else if (c == '\\') {
			ps->js_esc = true;
		} else if (c == '"') {
			ps->js_in_str = false;
		}
	}
}

static struct node *new_node(struct parser *ps, enum nkind k, int line, int col)
{
	struct node *n = talloc(ps->t, sizeof *n);
	n->k = k;
	n->line = line;
	n->col = col;
	return n;
}

enum stop { STOP_EOF, STOP_END, STOP_ELSE, STOP_ERROR };

static enum stop parse_list(struct parser *ps, struct node **head, int line, int col);

/* After "{{ if"/"{{ with"/"{{ range": pipeline, body, optional else, end. */
static struct node *parse_control(struct parser *ps, enum nkind k, int line, int col)
{
	struct node *n = new_node(ps, k, line, col);
	int saved_vars = ps->nvars;
	if (++ps->depth > MAX_DEPTH) {
		perr(ps, line, col, "control structures nested too deeply");
		return NULL;
	}
	n->pipe = parse_pipe(ps, true, k == N_RANGE, false);
	if (!n->pipe)
		return NULL;
	if (ps->tok.k == K_EOF) {
		perr(ps, line, col, "unclosed action");
		return NULL;
	}
	if (ps->tok.k != K_END_ACTION) {
		perr(ps, ps->tok.line, ps->tok.col, "unexpected \"%.*s\" in %s", (int)MIN(ps->tok.n, 20),
		     ps->tok.p,
		     k == N_IF     ? "if"
		     : k == N_WITH ? "with"
		                   : "range");
		return NULL;
	}
	enum vt dot = ps->dot[ps->level];
	if (k == N_WITH)
		dot = n->pipe->type;
	if (k == N_RANGE) {
		enum vt pt = n->pipe->type;
		if (pt != V_MAP && pt != V_ANY && pt != V_NIL && pt != V_MISSING) {
			perr(ps, line, col, "range can't iterate over %s", type_names[pt]);
			return NULL;
		}
		dot = V_STR;
		/* $v (or $k, $v): the key is a string, the value a string */
		for (int i = saved_vars; i < ps->nvars; i++)
			ps->vars[i].type = V_STR;
		ps->loops++;
	}
	if (ps->level + 1 > MAX_DEPTH) {
		perr(ps, line, col, "nested too deeply");
		return NULL;
	}
	ps->dot[++ps->level] = dot;
	enum stop s = parse_list(ps, &n->body, line, col);
	ps->level--;
	if (k == N_RANGE)
		ps->loops--;
	if (s == STOP_ERROR)
		return NULL;
	if (s == STOP_EOF) {
		perr(ps, line, col, "unexpected EOF: missing {{end}}");
		return NULL;
	}
	if (s == STOP_ELSE) {
		/* "else if" / "else with" chain, or a plain else */
		struct token *t = &ps->tok;
		if ((tok_is(t, "if") && k == N_IF) || (tok_is(t, "with") && k == N_WITH)) {
			int l = t->line, c = t->col;
			lex(ps);
			ps->depth--;
			n->alt = parse_control(ps, k, l, c);
			ps->nvars = saved_vars;
			return n->alt ? n : NULL;
		}
		if (t->k != K_END_ACTION) {
			perr(ps, t->line, t->col, "unexpected \"%.*s\" after else", (int)MIN(t->n, 20), t->p);
			return NULL;
		}
		ps->level++;
		ps->dot[ps->level] = ps->dot[ps->level - 1];
		s = parse_list(ps, &n->alt, line, col);
		ps->level--;
		if (s == STOP_ERROR)
			return NULL;
		if (s != STOP_END) {
			perr(ps, line, col,
			     s == STOP_ELSE ? "expected end; found else" : "unexpected EOF: missing {{end}}");
			return NULL;
		}
	}
	ps->depth--;
	ps->nvars = saved_vars; /* variables live until the matching end */
	return n;
}

/* Parse nodes until {{end}}, {{else}} (returned to the caller) or EOF. */
static enum stop parse_list(struct parser *ps, struct node **head, int line, int col)
{
	struct node **tail = head;
	(void)line;
	(void)col;
	bool trim_next = false;
	while (ps->p < ps->end) {
		const char *open = memchr(ps->p, '{', (size_t)(ps->end - ps->p));
		while (open && open + 1 < ps->end && open[1] != '{')
			open = memchr(open + 1, '{', (size_t)(ps->end - open - 1));
		if (open && open + 1 >= ps->end)
			open = NULL;
		const char *text_end = open ? open : ps->end;
		bool trim_left = open && open + 3 < ps->end && open[2] == '-' && is_space(open[3]);
		/* the literal text, trimmed as the markers ask */
		const char *ts = ps->p, *te = text_end;
		if (trim_next)
			while (ts < te && is_space(*ts))
				ts++;
		if (trim_left)
			while (te > ts && is_space(te[-1]))
				te--;
		if (te > ts) {
			struct node *n = new_node(ps, N_TEXT, ps->line, ps->col);
			n->text = ts;
			n->len = (size_t)(te - ts);
			note_text(ps, ts, n->len);
			*tail = n;
			tail = &n->next;
		}
		advance(ps, (size_t)(text_end - ps->p));
		if (!open)
			return STOP_EOF;
		int al = ps->line, ac = ps->col;
		advance(ps, trim_left ? 4 : 2);
		/* comment */
		const char *q = ps->p;
		while (q < ps->end && is_space(*q) && trim_left)
			q++;
		if (q + 1 < ps->end && q[0] == '/' && q[1] == '*') {
			const char *close = NULL;
			for (const char *r = q + 2; r + 1 < ps->end; r++) {
				if (r[0] == '*' && r[1] == '/') {
					close = r;
					break;
				}
			}
			if (!close) {
				perr(ps, al, ac, "unclosed comment");
				return STOP_ERROR;
			}
			advance(ps, (size_t)(close + 2 - ps->p));
			trim_next = false;
			if (ps->end - ps->p >= 4 && is_space(ps->p[0]) && memcmp(ps->p + 1, "-}}", 3) == 0) {
				trim_next = true;
				advance(ps, 4);
			} else if (ps->end - ps->p >= 2 && ps->p[0] == '}' && ps->p[1] == '}') {
				advance(ps, 2);
			} else {
				perr(ps, al, ac, "comment ends before closing delimiter");
				return STOP_ERROR;
			}
			continue;
		}
		lex(ps);
		struct token *t = &ps->tok;
		if (t->k == K_END_ACTION) {
			perr(ps, al, ac, "missing value for command");
			return STOP_ERROR;
		}
		if (tok_is(t, "end") || tok_is(t, "else")) {
			bool is_end = tok_is(t, "end");
			lex(ps);
			if (ps->depth == 0 || (is_end && t->k != K_END_ACTION)) {
				perr(ps, al, ac, "unexpected {{%s}}", is_end ? "end" : "else");
				return STOP_ERROR;
			}
			trim_next = ps->trim_right;
			*tail = NULL;
			if (is_end)
				return STOP_END;
			/* leave the token after else for the caller ("if", "with" or end of action) */
			return STOP_ELSE;
		}
		struct node *n;
		if (tok_is(t, "if") || tok_is(t, "with") || tok_is(t, "range")) {
			enum nkind k = tok_is(t, "if") ? N_IF : tok_is(t, "with") ? N_WITH : N_RANGE;
			lex(ps);
			n = parse_control(ps, k, al, ac);
			if (!n)
				return STOP_ERROR;
		} else if (tok_is(t, "break") || tok_is(t, "continue")) {
			bool brk = tok_is(t, "break");
			if (ps->loops == 0) {
				perr(ps, al, ac, "{{%s}} outside {{range}}", brk ? "break" : "continue");
				return STOP_ERROR;
			}
			lex(ps);
			if (t->k != K_END_ACTION) {
				perr(ps, t->line, t->col, "unexpected \"%.*s\" in %s", (int)MIN(t->n, 20),
				     t->p, brk ? "break" : "continue");
				return STOP_ERROR;
			}
			n = new_node(ps, brk ? N_BREAK : N_CONTINUE, al, ac);
		} else if (tok_is(t, "define") || tok_is(t, "template") || tok_is(t, "block")) {
			perr(ps, al, ac, "{{%.*s}} is not supported", (int)t->n, t->p);
			return STOP_ERROR;
		} else {
			n = new_node(ps, N_ACTION, al, ac);
			n->in_string = ps->js_in_str;
			n->pipe = parse_pipe(ps, true, false, false);
			if (!n->pipe)
				return STOP_ERROR;
			if (t->k != K_END_ACTION) {
				if (t->k == K_EOF)
					perr(ps, al, ac, "unclosed action");
				else
					perr(ps, t->line, t->col, "unexpected \"%.*s\" in operand",
					     (int)MIN(t->n, 20), t->p);
				return STOP_ERROR;
			}
		}
		trim_next = ps->trim_right;
		*tail = n;
		tail = &n->next;
	}
	return STOP_EOF;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nallocs; i++)
		free(t->allocs[i]);
	free(t->allocs);
	free(t->src);
	free(t);
}

struct tmpl *tmpl_compile(const char *src, size_t len, enum tmpl_mode mode, char *err, size_t errlen)
{
	if (len > MAX_SRC) {
		snprintf(err, errlen, "1:1: template larger than %d bytes", MAX_SRC);
		return NULL;
	}
	struct tmpl *t = xcalloc(1, sizeof *t);
	t->mode = mode;
	t->src = xstrndup(src, len);
	struct parser ps = { 0 };
	ps.t = t;
	ps.src = ps.p = t->src;
	ps.end = t->src + len;
	ps.line = ps.col = 1;
	ps.err = err;
	ps.errlen = errlen;
	ps.dot[0] = V_EVENT;
	/* $ is the root */
	ps.vars[0].name = "$";
	ps.vars[0].n = 1;
	ps.vars[0].slot = 0;
	ps.vars[0].type = V_EVENT;
	ps.nvars = ps.nslots = 1;
	enum stop s = parse_list(&ps, &t->root, 1, 1);
	if (!ps.failed && s != STOP_EOF)
		perr(&ps, ps.line, ps.col, "unexpected {{end}}");
	if (ps.failed) {
		tmpl_free(t);
		return NULL;
	}
	t->nvars = ps.nslots;
	return t;
}

/* --- rendering ------------------------------------------------------------- */

struct block {
	struct block *next;
	size_t used, size;
	char data[];
};

struct rctx {
	const struct tmpl *t;
	const struct event *ev;
	struct ktime now;
	struct buf *out;
	char *err;
	size_t errlen;
	bool failed;
	int brk; /* 1 break, 2 continue */
	struct val vars[MAX_VARS];
};

/* Scratch strings for function results: blocks reused across renders. */
static struct block *scratch;
static size_t scratch_total;

static void scratch_reset(void)
{
	struct block *b = scratch;
	if (!b)
		return;
	/* keep the first block; drop extra ones if a render needed many */
	struct block *extra = b->next;
	b->next = NULL;
	b->used = 0;
	while (extra) {
		struct block *n = extra->next;
		free(extra);
		extra = n;
	}
	scratch_total = b->size;
}

static char *scratch_alloc(struct rctx *c, size_t n)
{
	if (scratch && scratch->size - scratch->used >= n) {
		char *p = scratch->data + scratch->used;
		scratch->used += n;
		return p;
	}
	if (scratch_total + n > SCRATCH_MAX) {
		if (!c->failed)
			snprintf(c->err, c->errlen, "template needs too much memory");
		c->failed = true;
		return NULL;
	}
	size_t size = n > SCRATCH_BLOCK ? n : SCRATCH_BLOCK;
	struct block *b = xmalloc(sizeof *b + size);
	b->size = size;
	b->used = n;
	/* a new block becomes current; the old current stays reachable via next */
	b->next = scratch;
	scratch = b;
	scratch_total += size;
	return b->data;
}

static struct val str_val(const char *p, size_t n)
{
	struct val v = { .t = V_STR };
	v.u.s.p = p;
	v.u.s.n = n;
	return v;
}

static struct val cstr(const char *s)
{
	return str_val(s, strlen(s));
}

static void rerr(struct rctx *c, int line, int col, const char *fmt, ...) KE_PRINTF(4, 5);

/* A function's result, from its temporary buffer (which must not have overflowed). */
static struct val buf_val(struct rctx *c, const struct buf *b)
{
	if (b->overflow) {
		rerr(c, 0, 0, "a value longer than %zu bytes", b->max);
		return str_val("", 0);
	}
	char *p = scratch_alloc(c, b->len + 1);
	if (!p)
		return str_val("", 0);
	memcpy(p, buf_str(b), b->len);
	p[b->len] = '\0';
	return str_val(p, b->len);
}

/* A render error at line:col (line 0: no position). */
static void rerr(struct rctx *c, int line, int col, const char *fmt, ...)
{
	if (c->failed)
		return;
	c->failed = true;
	int n = line ? snprintf(c->err, c->errlen, "%d:%d: ", line, col) : 0;
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool truth(const struct val *v)
{
	switch (v->t) {
	case V_BOOL:
		return v->u.b;
	case V_INT:
		return v->u.i != 0;
	case V_FLOAT:
		return v->u.f != 0;
	case V_STR:
		return v->u.s.n > 0;
	case V_MAP:
		return v->u.map.n > 0;
	case V_MISSING:
	case V_NIL:
		return false;
	default:
		return true; /* structs and times */
	}
}

/* Append the value as fmt.Sprint would. */
static void print_val(struct rctx *c, struct buf *b, const struct val *v)
{
	(void)c;
	switch (v->t) {
	case V_MISSING:
		buf_puts(b, "<no value>");
		break;
	case V_NIL:
		buf_puts(b, "<nil>");
		break;
	case V_BOOL:
		buf_puts(b, v->u.b ? "true" : "false");
		break;
	case V_INT:
		buf_put_int(b, v->u.i);
		break;
	case V_FLOAT: {
		char tmp[40];
		snprintf(tmp, sizeof tmp, "%.17g", v->u.f);
		/* Go's %v prints the shortest representation: try shorter ones */
		for (int p = 1; p <= 17; p++) {
			char t2[40];
			snprintf(t2, sizeof t2, "%.*g", p, v->u.f);
			if (strtod(t2, NULL) == v->u.f) {
				memcpy(tmp, t2, sizeof t2);
				break;
			}
		}
		buf_puts(b, tmp);
		break;
	}
	case V_STR:
		buf_append(b, v->u.s.p, v->u.s.n);
		break;
	case V_TIME:
		gotime_string(b, v->u.tm, v->utc);
		break;
	case V_MAP:
		buf_puts(b, "map[");
		for (size_t i = 0; i < v->u.map.n; i++)
			buf_printf(b, "%s%s:%s", i ? " " : "", v->u.map.kv[i].key, v->u.map.kv[i].value);
		buf_putc(b, ']');
		break;
	case V_SERIES:
		buf_printf(b, "&{%d ", c->ev->series_count);
		gotime_string(b, c->ev->series_last_observed, false);
		buf_putc(b, '}');
		break;
	default:
		/* structs: Go would print every field; a name is more useful in a message */
		buf_printf(b, "{%s %s/%s}", type_names[v->t], c->ev->namespace, c->ev->name);
		break;
	}
}

static struct val field_of(struct rctx *c, const struct val *base, const struct chainel *el, int line,
                           int col)
{
	const struct event *ev = c->ev;
	const struct fielddef *d = el->def;
	struct val v = { 0 };
	if (!d) {
		if (base->t == V_MAP) {
			for (size_t i = 0; i < base->u.map.n; i++)
				if (strlen(base->u.map.kv[i].key) == el->len &&
				    memcmp(base->u.map.kv[i].key, el->name, el->len) == 0)
					return cstr(base->u.map.kv[i].value);
			v.t = V_MISSING;
			return v;
		}
		d = lookup_field(base->t, el->name, el->len);
		if (!d) {
			rerr(c, line, col, "can't evaluate field %.*s in type %s", (int)el->len, el->name,
			     type_names[base->t]);
			return v;
		}
	}
	v.t = d->type;
	switch (d->id) {
	case F_TYPE:
		return cstr(ev->type);
	case F_REASON:
		return cstr(ev->reason);
	case F_MESSAGE:
		return cstr(ev->message);
	case F_ACTION:
		return cstr(ev->action);
	case F_NAME:
		return cstr(ev->name);
	case F_NAMESPACE:
		return cstr(ev->namespace);
	case F_UID:
		return cstr(ev->uid);
	case F_RV:
		return cstr(ev->resource_version);
	case F_GENERATENAME:
		return cstr("");
	case F_RCONTROLLER:
		return cstr(ev->reporting_controller);
	case F_RINSTANCE:
		return cstr(ev->reporting_instance);
	case F_KIND:
		return cstr("Event");
	case F_APIVERSION:
		return cstr("v1");
	case F_IO_KIND:
		return cstr(ev->involved.kind);
	case F_IO_NAMESPACE:
		return cstr(ev->involved.namespace);
	case F_IO_NAME:
		return cstr(ev->involved.name);
	case F_IO_UID:
		return cstr(ev->involved.uid);
	case F_IO_APIVERSION:
		return cstr(ev->involved.api_version);
	case F_IO_RV:
		return cstr(ev->involved.resource_version);
	case F_IO_FIELDPATH:
		return cstr(ev->involved.field_path);
	case F_SRC_COMPONENT:
		return cstr(ev->source.component);
	case F_SRC_HOST:
		return cstr(ev->source.host);
	case F_COUNT:
		v.u.i = ev->eff_count;
		return v;
	case F_SERIES_COUNT:
		v.u.i = ev->series_count;
		return v;
	case F_CREATION:
		v.u.tm = ev->creation;
		return v;
	case F_FIRST:
		v.u.tm = ev->first_ts;
		return v;
	case F_LAST:
		v.u.tm = event_last_time(ev, c->now);
		return v;
	case F_EVENTTIME:
		v.u.tm = ev->event_time;
		return v;
	case F_SERIES_LAST:
		v.u.tm = ev->series_last_observed;
		return v;
	case F_LABELS:
		v.u.map.kv = ev->labels;
		v.u.map.n = ev->nlabels;
		return v;
	case F_ANNOTATIONS:
		v.u.map.kv = ev->annotations;
		v.u.map.n = ev->nannotations;
		return v;
	case F_SERIES:
	case F_INVOLVED:
	case F_SOURCE:
	case F_OBJECTMETA:
	case F_TYPEMETA:
		return v;
	case M_UNIX:
		v.u.i = ktime_is_zero(base->u.tm) ? -62135596800LL : base->u.tm.sec;
		return v;
	case M_UNIXMILLI:
		v.u.i = ktime_is_zero(base->u.tm) ? -62135596800000LL
		                                  : base->u.tm.sec * 1000 + base->u.tm.nsec / 1000000;
		return v;
	case M_UNIXNANO:
		/* past year 2262 Go's int64 wraps: do the same, without signed overflow */
		v.u.i = (int64_t)((uint64_t)base->u.tm.sec * 1000000000u + (uint64_t)base->u.tm.nsec);
		return v;
	case M_UTC:
		v = *base;
		v.utc = true;
		return v;
	case M_LOCAL:
		v = *base;
		v.utc = false;
		return v;
	case M_ISZERO:
		v.u.b = ktime_is_zero(base->u.tm);
		return v;
	case M_STRING: {
		struct buf b = BUF_INIT(128);
		gotime_string(&b, base->u.tm, base->utc);
		v = buf_val(c, &b);
		buf_free(&b);
		return v;
	}
	case M_YEAR:
	case M_DAY:
	case M_HOUR:
	case M_MINUTE:
	case M_SECOND: {
		struct buf b = BUF_INIT(16);
		static const char *const lay[] = { "2006", "2", "15", "4", "5" };
		gotime_format(&b, base->u.tm, base->utc, lay[d->id - M_YEAR]);
		parse_i64(buf_str(&b), b.len, &v.u.i);
		buf_free(&b);
		return v;
	}
	case M_FORMAT:
		/* a method with arguments, used as a plain value: (.T.Format) or an argument */
		rerr(c, line, col, "wrong number of args for Format: want 1 got 0");
		return str_val("", 0);
	case F_MAPKEY:
		break;
	}
	return v;
}

static struct val eval_pipe(struct rctx *c, const struct pipe *p, const struct val *dot);

static int cmp_vals(struct rctx *c, const struct val *a, const struct val *b, int line, int col, bool *ok)
{
	*ok = true;
	if ((a->t == V_INT || a->t == V_FLOAT) && (b->t == V_INT || b->t == V_FLOAT)) {
		double x = a->t == V_INT ? (double)a->u.i : a->u.f,
		       y = b->t == V_INT ? (double)b->u.i : b->u.f;
		if (a->t == V_INT && b->t == V_INT)
			return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
		return x < y ? -1 : x > y;
	}
	if (a->t == V_STR && b->t == V_STR) {
		size_t n = MIN(a->u.s.n, b->u.s.n);
		int r = memcmp(a->u.s.p, b->u.s.p, n);
		return r ? (r < 0 ? -1 : 1) : (a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n);
	}
	if (a->t == V_BOOL && b->t == V_BOOL)
		return a->u.b == b->u.b ? 0 : (a->u.b ? 1 : -1);
	*ok = false;
	rerr(c, line, col, "incompatible types for comparison: %s and %s", type_names[a->t],
	     type_names[b->t]);
	return 0;
}

/* The value's text (for string functions): strings as they are, others printed. */
static struct val as_text(struct rctx *c, const struct val *v)
{
	if (v->t == V_STR)
		return *v;
	struct buf b = BUF_INIT(1 << 16);
	print_val(c, &b, v);
	struct val r = buf_val(c, &b);
	buf_free(&b);
	return r;
}

static size_t utf8_len_at(const char *s, size_t n)
{
	unsigned char ch = (unsigned char)s[0];
	size_t l = ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
	return l > n ? n : l;
}

/* Go's printf subset: %v %s %d %q %x %X %t %f %e %g %c %%, flags, width, precision. */
static void go_printf(struct rctx *c, struct buf *b, const struct val *args, int nargs, int line, int col)
{
	struct val f = as_text(c, &args[0]);
	const char *s = f.u.s.p, *e = s + f.u.s.n;
	int ai = 1;
	while (s < e) {
		if (*s != '%') {
			buf_putc(b, *s++);
			continue;
		}
		s++;
		if (s < e && *s == '%') {
			buf_putc(b, '%');
			s++;
			continue;
		}
		char flags[8] = "";
		size_t nf = 0;
		while (s < e && strchr("-+# 0", *s) && nf < sizeof flags - 1)
			flags[nf++] = *s++;
		int width = -1, prec = -1;
		if (s < e && isdigit((unsigned char)*s)) {
			width = 0;
			while (s < e && isdigit((unsigned char)*s) && width < 10000)
				width = width * 10 + (*s++ - '0');
		}
		if (s < e && *s == '.') {
			s++;
			prec = 0;
			while (s < e && isdigit((unsigned char)*s) && prec < 10000)
				prec = prec * 10 + (*s++ - '0');
		}
		if (s >= e) {
			buf_puts(b, "%!(NOVERB)");
			break;
		}
		char verb = *s++;
		if (ai >= nargs) {
			buf_printf(b, "%%!%c(MISSING)", verb);
			continue;
		}
		const struct val *a = &args[ai++];
		struct buf item = BUF_INIT(1 << 16);
		bool left = strchr(flags, '-') != NULL, zero = strchr(flags, '0') != NULL && !left;
		switch (verb) {
		case 'd':
		case 'x':
		case 'X':
		case 'o':
		case 'b':
		case 'c':
			if (a->t == V_INT && verb != 'c' && verb != 'b') {
				char fmt2[40];
				snprintf(fmt2, sizeof fmt2, "%%%s%s%sll%c", flags, width >= 0 ? "*" : "",
				         prec >= 0 ? ".*" : "", verb);
				if (width >= 0 && prec >= 0)
					buf_printf(&item, fmt2, width, prec, (long long)a->u.i);
				else if (width >= 0)
					buf_printf(&item, fmt2, width, (long long)a->u.i);
				else if (prec >= 0)
					buf_printf(&item, fmt2, prec, (long long)a->u.i);
				else
					buf_printf(&item, fmt2, (long long)a->u.i);
				width = -1; /* applied */
			} else if (a->t == V_INT && verb == 'c') {
				/* Go writes U+FFFD for what is not a valid rune */
				int64_t r = a->u.i;
				uint32_t cp = r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)
				                  ? 0xFFFD
				                  : (uint32_t)r;
				char u[4];
				buf_append(&item, u, utf8_encode(cp, u));
			} else if (a->t == V_STR && (verb == 'x' || verb == 'X')) {
				for (size_t i = 0; i < a->u.s.n; i++)
					buf_printf(&item, verb == 'x' ? "%02x" : "%02X",
					           (unsigned char)a->u.s.p[i]);
			} else if (a->t == V_INT && verb == 'b') {
				uint64_t u = (uint64_t)a->u.i;
				char bits[65];
				int n = 0;
				do {
					bits[n++] = (char)('0' + (u & 1));
					u >>= 1;
				} while (u);
				while (n)
					buf_putc(&item, bits[--n]);
			} else {
				buf_printf(&item, "%%!%c(%s=", verb, type_names[a->t]);
				print_val(c, &item, a);
				buf_putc(&item, ')');
			}
			break;
		case 'f':
		case 'F':
		case 'e':
		case 'E':
		case 'g':
		case 'G':
			if (a->t == V_FLOAT || a->t == V_INT) {
				double d = a->t == V_FLOAT ? a->u.f : (double)a->u.i;
				if (a->t == V_INT) {
					buf_printf(&item, "%%!%c(int=%lld)", verb, (long long)a->u.i);
				} else {
					char fmt2[40];
					snprintf(fmt2, sizeof fmt2, "%%%s%s%s%c", flags,
					         width >= 0 ? "*" : "", prec >= 0 ? ".*" : "", verb);
					if (width >= 0 && prec >= 0)
						buf_printf(&item, fmt2, width, prec, d);
					else if (width >= 0)
						buf_printf(&item, fmt2, width, d);
					else if (prec >= 0)
						buf_printf(&item, fmt2, prec, d);
					else
						buf_printf(&item, fmt2, d);
					width = -1;
				}
			} else {
				buf_printf(&item, "%%!%c(%s=", verb, type_names[a->t]);
				print_val(c, &item, a);
				buf_putc(&item, ')');
			}
			break;
		case 't':
			if (a->t == V_BOOL)
				buf_puts(&item, a->u.b ? "true" : "false");
			else
				buf_printf(&item, "%%!t(%s)", type_names[a->t]);
			break;
		case 'q': {
			struct val tv = as_text(c, a);
			buf_putc(&item, '"');
			buf_json_escape(&item, tv.u.s.p, tv.u.s.n);
			buf_putc(&item, '"');
			break;
		}
		case 's':
		case 'v': {
			struct val tv = as_text(c, a);
			size_t n = tv.u.s.n;
			if (prec >= 0) { /* precision counts runes */
				size_t i = 0;
				for (int r = 0; r < prec && i < n; r++)
					i += utf8_len_at(tv.u.s.p + i, n - i);
				n = i;
			}
			buf_append(&item, tv.u.s.p, n);
			break;
		}
		default:
			buf_printf(&item, "%%!%c(%s=", verb, type_names[a->t]);
			print_val(c, &item, a);
			buf_putc(&item, ')');
		}
		/* width, in runes, for what snprintf did not pad */
		size_t runes = 0;
		for (size_t i = 0; i < item.len; i += utf8_len_at(item.data + i, item.len - i))
			runes++;
		if (width > 0 && (size_t)width > runes && !left)
			for (size_t i = runes; i < (size_t)width; i++)
				buf_putc(b, zero ? '0' : ' ');
		buf_append(b, buf_str(&item), item.len);
		if (width > 0 && (size_t)width > runes && left)
			for (size_t i = runes; i < (size_t)width; i++)
				buf_putc(b, ' ');
		if (item.overflow)
			b->overflow = true; /* reported where b becomes a value */
		buf_free(&item);
	}
	if (ai < nargs) {
		buf_puts(b, "%!(EXTRA ");
		for (int i = ai; i < nargs; i++) {
			buf_printf(b, "%s%s=", i > ai ? ", " : "", type_names[args[i].t]);
			print_val(c, b, &args[i]);
		}
		buf_putc(b, ')');
	}
	(void)line;
	(void)col;
}

static void json_val(struct rctx *c, struct buf *b, const struct val *v)
{
	switch (v->t) {
	case V_MISSING:
	case V_NIL:
		buf_puts(b, "null");
		break;
	case V_BOOL:
	case V_INT:
	case V_FLOAT:
		print_val(c, b, v);
		break;
	case V_MAP:
		buf_putc(b, '{');
		for (size_t i = 0; i < v->u.map.n; i++) {
			if (i)
				buf_putc(b, ',');
			buf_json_string(b, v->u.map.kv[i].key);
			buf_putc(b, ':');
			buf_json_string(b, v->u.map.kv[i].value);
		}
		buf_putc(b, '}');
		break;
	case V_TIME: {
		struct buf t = BUF_INIT(64);
		gotime_format(&t, v->u.tm, true, "2006-01-02T15:04:05.999999999Z07:00");
		buf_json_string(b, buf_str(&t));
		buf_free(&t);
		break;
	}
	default: {
		struct val tv = as_text(c, v);
		buf_putc(b, '"');
		buf_json_escape(b, tv.u.s.p, tv.u.s.n);
		buf_putc(b, '"');
	}
	}
}

static struct val call(struct rctx *c, enum fn fn, struct val *a, int n, const struct cmd *cmd,
                       const struct val *dot)
{
	struct val r = { .t = V_BOOL };
	int line = cmd->line, col = cmd->col;
	bool ok;
	(void)dot;
	switch (fn) {
	case FN_AND:
	case FN_OR:
		for (int i = 0; i < n; i++)
			if (truth(&a[i]) == (fn == FN_OR) || i == n - 1)
				return a[i];
		return r;
	case FN_NOT:
		r.u.b = !truth(&a[0]);
		return r;
	case FN_EQ:
		for (int i = 1; i < n; i++) {
			if (a[0].t == V_NIL || a[i].t == V_NIL || a[0].t == V_MISSING ||
			    a[i].t == V_MISSING) {
				r.u.b = a[0].t == a[i].t;
			} else {
				r.u.b = cmp_vals(c, &a[0], &a[i], line, col, &ok) == 0 && ok;
				if (!ok)
					return r;
			}
			if (r.u.b)
				return r;
		}
		return r;
	case FN_NE:
		r.u.b = cmp_vals(c, &a[0], &a[1], line, col, &ok) != 0;
		return r;
	case FN_LT:
		r.u.b = cmp_vals(c, &a[0], &a[1], line, col, &ok) < 0;
		return r;
	case FN_LE:
		r.u.b = cmp_vals(c, &a[0], &a[1], line, col, &ok) <= 0;
		return r;
	case FN_GT:
		r.u.b = cmp_vals(c, &a[0], &a[1], line, col, &ok) > 0;
		return r;
	case FN_GE:
		r.u.b = cmp_vals(c, &a[0], &a[1], line, col, &ok) >= 0;
		return r;
	case FN_LEN:
		r.t = V_INT;
		if (a[0].t == V_STR)
			r.u.i = (int64_t)a[0].u.s.n;
		else if (a[0].t == V_MAP)
			r.u.i = (int64_t)a[0].u.map.n;
		else
			rerr(c, line, col, "error calling len: len of type %s", type_names[a[0].t]);
		return r;
	case FN_INDEX:
		if (a[0].t != V_MAP) {
			if (a[0].t == V_MISSING || a[0].t == V_NIL)
				return cstr("");
			rerr(c, line, col, "error calling index: can't index item of type %s",
			     type_names[a[0].t]);
			return r;
		}
		if (a[1].t != V_STR) {
			rerr(c, line, col, "error calling index: value has type %s; should be string",
			     type_names[a[1].t]);
			return r;
		}
		for (size_t i = 0; i < a[0].u.map.n; i++)
			if (strlen(a[0].u.map.kv[i].key) == a[1].u.s.n &&
			    memcmp(a[0].u.map.kv[i].key, a[1].u.s.p, a[1].u.s.n) == 0)
				return cstr(a[0].u.map.kv[i].value);
		return cstr(""); /* Go: the zero value */
	case FN_PRINT:
	case FN_PRINTLN: {
		struct buf b = BUF_INIT(1 << 16);
		for (int i = 0; i < n; i++) {
			/* Sprint: a space between operands when neither is a string; Sprintln: always */
			if (i && (fn == FN_PRINTLN || (a[i - 1].t != V_STR && a[i].t != V_STR)))
				buf_putc(&b, ' ');
			print_val(c, &b, &a[i]);
		}
		if (fn == FN_PRINTLN)
			buf_putc(&b, '\n');
		r = buf_val(c, &b);
		buf_free(&b);
		return r;
	}
	case FN_PRINTF: {
		struct buf b = BUF_INIT(1 << 16);
		go_printf(c, &b, a, n, line, col);
		r = buf_val(c, &b);
		buf_free(&b);
		return r;
	}
	case FN_JSON: {
		struct buf b = BUF_INIT(1 << 20);
		json_val(c, &b, &a[0]);
		r = buf_val(c, &b);
		buf_free(&b);
		r.raw = true;
		return r;
	}
	case FN_UPPER:
	case FN_LOWER: {
		struct val s = as_text(c, &a[0]);
		char *p = scratch_alloc(c, s.u.s.n + 1);
		if (!p)
			return r;
		for (size_t i = 0; i < s.u.s.n; i++)
			p[i] = (char)(fn == FN_UPPER ? toupper((unsigned char)s.u.s.p[i])
			                             : tolower((unsigned char)s.u.s.p[i]));
		p[s.u.s.n] = '\0';
		return str_val(p, s.u.s.n);
	}
	case FN_TRUNC: {
		if (a[0].t != V_INT) {
			rerr(c, line, col, "error calling trunc: the length must be an integer");
			return r;
		}
		struct val s = as_text(c, &a[1]);
		size_t i = 0;
		for (int64_t k = 0; k < a[0].u.i && i < s.u.s.n; k++)
			i += utf8_len_at(s.u.s.p + i, s.u.s.n - i);
		return str_val(s.u.s.p, a[0].u.i <= 0 ? 0 : i);
	}
	case FN_DEFAULT:
		return truth(&a[1]) ? a[1] : a[0];
	case FN_REPLACE: {
		struct val old = as_text(c, &a[0]), nw = as_text(c, &a[1]), s = as_text(c, &a[2]);
		struct buf b = BUF_INIT(1 << 20);
		for (size_t i = 0; i < s.u.s.n;) {
			if (old.u.s.n && i + old.u.s.n <= s.u.s.n &&
			    memcmp(s.u.s.p + i, old.u.s.p, old.u.s.n) == 0) {
				buf_append(&b, nw.u.s.p, nw.u.s.n);
				i += old.u.s.n;
			} else {
				buf_putc(&b, s.u.s.p[i++]);
			}
		}
		r = buf_val(c, &b);
		buf_free(&b);
		return r;
	}
	case FN_RAW:
		r = a[0];
		r.raw = true;
		return r;
	case FN_CONTAINS:
	case FN_HASPREFIX:
	case FN_HASSUFFIX: {
		/* Sprig argument order: contains SUBSTR S */
		struct val sub = as_text(c, &a[0]), s = as_text(c, &a[1]);
		size_t m = sub.u.s.n;
		if (fn == FN_HASPREFIX)
			r.u.b = m <= s.u.s.n && memcmp(s.u.s.p, sub.u.s.p, m) == 0;
		else if (fn == FN_HASSUFFIX)
			r.u.b = m <= s.u.s.n && memcmp(s.u.s.p + s.u.s.n - m, sub.u.s.p, m) == 0;
		else
			r.u.b = m == 0 || (s.u.s.n >= m && memmem(s.u.s.p, s.u.s.n, sub.u.s.p, m));
		return r;
	}
	}
	return r;
}

static struct val eval_operand(struct rctx *c, const struct operand *o, const struct val *dot, int nchain)
{
	struct val v = { 0 };
	switch (o->k) {
	case O_DOT:
		v = *dot;
		break;
	case O_VAR:
		v = c->vars[o->var];
		break;
	case O_PIPE:
		v = eval_pipe(c, o->sub, dot);
		break;
	case O_STR:
	case O_INT:
	case O_FLOAT:
	case O_BOOL:
	case O_NIL:
		return o->lit;
	case O_FUNC:
		return v;
	}
	for (int i = 0; i < nchain && !c->failed; i++) {
		if (v.t == V_MISSING || v.t == V_NIL) {
			rerr(c, o->line, o->col, "nil pointer evaluating %s.%.*s", type_names[v.t],
			     (int)o->chain[i].len, o->chain[i].name);
			return v;
		}
		v = field_of(c, &v, &o->chain[i], o->line, o->col);
	}
	return v;
}

static struct val eval_cmd(struct rctx *c, const struct cmd *cmd, const struct val *dot,
                           const struct val *piped)
{
	struct val args[MAX_ARGS + 1];
	int n = 0;
	const struct operand *head = &cmd->args[0];
	if (head->k == O_FUNC) {
		/* and/or evaluate lazily */
		if (head->fn == FN_AND || head->fn == FN_OR) {
			struct val v = { 0 };
			int total = cmd->nargs - 1 + (piped ? 1 : 0);
			for (int i = 0; i < total; i++) {
				v = i < cmd->nargs - 1
				        ? eval_operand(c, &cmd->args[i + 1], dot, cmd->args[i + 1].nchain)
				        : *piped;
				if (c->failed)
					return v;
				if (truth(&v) == (head->fn == FN_OR))
					return v;
			}
			return v;
		}
		for (int i = 1; i < cmd->nargs; i++) {
			args[n++] = eval_operand(c, &cmd->args[i], dot, cmd->args[i].nchain);
			if (c->failed)
				return (struct val){ 0 };
		}
		if (piped)
			args[n++] = *piped;
		return call(c, head->fn, args, n, cmd, dot);
	}
	const struct chainel *last = head->nchain ? &head->chain[head->nchain - 1] : NULL;
	/* a method with arguments: Format */
	bool method_args = cmd->nargs > 1 || piped;
	if (last && method_args) {
		struct val base = eval_operand(c, head, dot, head->nchain - 1);
		if (c->failed)
			return base;
		const struct fielddef *d =
		    last->def ? last->def : lookup_field(base.t, last->name, last->len);
		if (!d || d->id != M_FORMAT) {
			rerr(c, cmd->line, cmd->col, "can't give argument to non-function %.*s",
			     (int)last->len, last->name);
			return base;
		}
		struct val layout =
		    cmd->nargs > 1 ? eval_operand(c, &cmd->args[1], dot, cmd->args[1].nchain) : *piped;
		if (layout.t != V_STR) {
			rerr(c, cmd->line, cmd->col, "wrong type for value; expected string; got %s",
			     type_names[layout.t]);
			return base;
		}
		char *lay = scratch_alloc(c, layout.u.s.n + 1);
		if (!lay)
			return base;
		memcpy(lay, layout.u.s.p, layout.u.s.n);
		lay[layout.u.s.n] = '\0';
		struct buf b = BUF_INIT(4096);
		gotime_format(&b, base.u.tm, base.utc, lay);
		struct val r = buf_val(c, &b);
		buf_free(&b);
		return r;
	}
	if (last && last->def && last->def->nargs > 0) {
		rerr(c, cmd->line, cmd->col, "wrong number of args for %.*s: want %d got 0", (int)last->len,
		     last->name, last->def->nargs);
		return (struct val){ 0 };
	}
	if (piped) {
		rerr(c, cmd->line, cmd->col, "can't give argument to non-function");
		return *piped;
	}
	return eval_operand(c, head, dot, head->nchain);
}

static struct val eval_pipe(struct rctx *c, const struct pipe *p, const struct val *dot)
{
	struct val v = { 0 };
	for (int i = 0; i < p->ncmds && !c->failed; i++) {
		struct val prev = v;
		v = eval_cmd(c, p->cmds[i], dot, i ? &prev : NULL);
	}
	for (int i = 0; i < p->ndecl; i++)
		c->vars[p->decl[i]] = v;
	return v;
}

static void emit(struct rctx *c, const struct node *n, const struct val *v)
{
	if (c->t->mode == TMPL_JSON && n->in_string && !v->raw) {
		struct val tv = as_text(c, v);
		if (buf_json_escape(c->out, tv.u.s.p, tv.u.s.n) < 0)
			rerr(c, n->line, n->col, "output larger than %zu bytes", c->out->max);
		return;
	}
	if (v->t == V_STR) {
		if (buf_append(c->out, v->u.s.p, v->u.s.n) < 0)
			rerr(c, n->line, n->col, "output larger than %zu bytes", c->out->max);
		return;
	}
	print_val(c, c->out, v);
}

static void exec_list(struct rctx *c, const struct node *n, const struct val *dot)
{
	for (; n && !c->failed && !c->brk; n = n->next) {
		switch (n->k) {
		case N_TEXT:
			if (buf_append(c->out, n->text, n->len) < 0)
				rerr(c, n->line, n->col, "output larger than %zu bytes", c->out->max);
			break;
		case N_ACTION: {
			struct val v = eval_pipe(c, n->pipe, dot);
			if (!c->failed && n->pipe->ndecl == 0)
				emit(c, n, &v);
			break;
		}
		case N_IF:
		case N_WITH: {
			/* an "else if" is an if node as the whole alternative */
			struct val v = eval_pipe(c, n->pipe, dot);
			if (c->failed)
				return;
			if (truth(&v))
				exec_list(c, n->body, n->k == N_WITH ? &v : dot);
			else
				exec_list(c, n->alt, dot);
			break;
		}
		case N_RANGE: {
			struct val v = eval_pipe(c, n->pipe, dot);
			if (c->failed)
				return;
			if (v.t != V_MAP && v.t != V_NIL && v.t != V_MISSING) {
				rerr(c, n->line, n->col, "range can't iterate over %s", type_names[v.t]);
				return;
			}
			size_t count = v.t == V_MAP ? v.u.map.n : 0;
			for (size_t i = 0; i < count && !c->failed; i++) {
				struct val key = cstr(v.u.map.kv[i].key), val = cstr(v.u.map.kv[i].value);
				if (n->pipe->ndecl == 1) {
					c->vars[n->pipe->decl[0]] = val;
				} else if (n->pipe->ndecl == 2) {
					c->vars[n->pipe->decl[0]] = key;
					c->vars[n->pipe->decl[1]] = val;
				}
				exec_list(c, n->body, &val);
				if (c->brk == 1) {
					c->brk = 0;
					break;
				}
				c->brk = 0;
			}
			if (count == 0)
				exec_list(c, n->alt, dot);
			break;
		}
		case N_BREAK:
			c->brk = 1;
			return;
		case N_CONTINUE:
			c->brk = 2;
			return;
		}
	}
}

int tmpl_render(const struct tmpl *t, const struct event *ev, struct ktime now, struct buf *out, char *err,
                size_t errlen)
{
	struct rctx c;
	size_t start = out->len;
	c.t = t;
	c.ev = ev;
	c.now = now;
	c.out = out;
	c.err = err;
	c.errlen = errlen;
	c.failed = false;
	c.brk = 0;
	memset(c.vars, 0, sizeof c.vars[0] * (size_t)(t->nvars ? t->nvars : 1));
	c.vars[0].t = V_EVENT;
	scratch_reset();
	struct val root = { .t = V_EVENT };
	bool overflowed = out->overflow;
	out->overflow = false;
	exec_list(&c, t->root, &root);
	if (out->overflow && !c.failed) /* a value printed straight into out */
		rerr(&c, 1, 1, "output larger than %zu bytes", out->max);
	out->overflow = overflowed;
	if (c.failed) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}
