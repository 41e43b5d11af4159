/*
 * Unit tests for tmpl.c. Golden outputs follow Go's text/template and fmt
 * rules (reasoned per case), with this project's documented differences
 * (.Count effective, .LastTimestamp fallback, JSON-string escaping).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "test.h"
#include "tmpl.h"

static struct kv labels[] = { { "app", "web" }, { "tier", "front" } };

static struct event sample(void)
{
	struct event e = { 0 };
	e.type = "Warning";
	e.reason = "BackOff";
	e.message = "Back-off restarting failed container";
	e.action = "";
	e.name = "web-1.17b";
	e.namespace = "shop";
	e.uid = "u1";
	e.resource_version = "42";
	e.reporting_controller = "";
	e.reporting_instance = "";
	e.count = 3;
	e.eff_count = 3;
	e.involved.kind = "Pod";
	e.involved.namespace = "shop";
	e.involved.name = "web-1";
	e.involved.uid = "p1";
	e.involved.api_version = "v1";
	e.involved.resource_version = "";
	e.involved.field_path = "spec.containers{web}";
	e.source.component = "kubelet";
	e.source.host = "node-1";
	e.labels = labels;
	e.nlabels = 2;
	e.last_ts = (struct ktime){ 1709622489, 0 };  /* 2024-03-05T07:08:09Z */
	e.first_ts = (struct ktime){ 1709622000, 0 }; /* 07:00:00 */
	e.creation = e.first_ts;
	e.eff_time = e.last_ts;
	return e;
}

static const struct ktime NOW = { 1800000000, 0 };

/* Render src against ev in mode; returns a static copy of the output or of "ERR: <error>". */
static const char *render_ev(const char *src, enum tmpl_mode mode, const struct event *ev)
{
	static char out[8192];
	char err[256];
	struct tmpl *t = tmpl_compile(src, strlen(src), mode, err, sizeof err);
	if (!t) {
		snprintf(out, sizeof out, "ERR: %s", err);
		return out;
	}
	struct buf b = BUF_INIT(8000);
	if (tmpl_render(t, ev, NOW, &b, err, sizeof err) < 0)
		snprintf(out, sizeof out, "ERR: %s", err);
	else
		snprintf(out, sizeof out, "%s", buf_str(&b));
	buf_free(&b);
	tmpl_free(t);
	return out;
}

static const char *render(const char *src)
{
	struct event e = sample();
	return render_ev(src, TMPL_TEXT, &e);
}

static void setup_utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

static void fields_and_times(void)
{
	setup_utc();
	CHECK_STR(render("{{ .Reason }}"), "BackOff");
	CHECK_STR(render("{{ .InvolvedObject.Kind }}/{{.InvolvedObject.Name}}"), "Pod/web-1");
	CHECK_STR(render("{{ .Count }} {{ .Series.Count }}"), "3 0");
	CHECK_STR(render("{{ .LastTimestamp }}"), "2024-03-05 07:08:09 +0000 UTC");
	CHECK_STR(render("{{ .LastTimestamp.Format \"2006-01-02 15:04\" }}"), "2024-03-05 07:08");
	CHECK_STR(render("{{ .LastTimestamp.Unix }}"), "1709622489");
	CHECK_STR(render("{{ .FirstTimestamp.UTC.Format \"15:04\" }}"), "07:00");
	CHECK_STR(render("{{ .EventTime }}"), "0001-01-01 00:00:00 +0000 UTC");
	CHECK_STR(render("{{ .Kind }} {{ .APIVersion }} {{ .ObjectMeta.Name }} {{ .TypeMeta.Kind }}"),
	          "Event v1 web-1.17b Event");
	CHECK_STR(render("{{ .Source.Component }}@{{ .Source.Host }} {{ .InvolvedObject.FieldPath }}"),
	          "kubelet@node-1 spec.containers{web}");
	CHECK_STR(render("{{ \"2006\" | .LastTimestamp.Format }}"), "2024");
	CHECK_STR(render("{{ .EventTime.IsZero }} {{ .LastTimestamp.Year }}"), "true 2024");
}

static void last_timestamp_falls_back(void)
{
	setup_utc();
	struct event e = sample();
	e.last_ts = (struct ktime){ 0, 0 };
	e.event_time = (struct ktime){ 1689053684, 764227000 };
	CHECK_STR(render_ev("{{ .LastTimestamp }}", TMPL_TEXT, &e), "2023-07-11 05:34:44.764227 +0000 UTC");
	e.event_time = (struct ktime){ 0, 0 };
	CHECK_STR(render_ev("{{ .LastTimestamp.Unix }}", TMPL_TEXT, &e), "1800000000"); /* now */
	/* a timestamp an event author may set: Go's int64 wraps past 2262 (no undefined behaviour here) */
	struct event far = sample();
	far.last_ts = (struct ktime){ 253402300799, 0 }; /* 9999-12-31T23:59:59Z */
	CHECK_STR(render_ev("{{ .LastTimestamp.UnixNano }}", TMPL_TEXT, &far), "-4852116232933722624");
	e.has_series = true;
	e.series_count = 9;
	e.eff_count = 9;
	e.series_last_observed = (struct ktime){ 1700000000, 0 };
	CHECK_STR(render_ev("{{ .LastTimestamp.Unix }} {{ .Count }} {{ .Series.Count }}", TMPL_TEXT, &e),
	          "1700000000 9 9");
}

static void control_structures(void)
{
	CHECK_STR(
	    render("{{ if eq .Type \"Warning\" }}W{{ else if eq .Type \"Normal\" }}N{{ else }}?{{ end }}"),
	    "W");
	CHECK_STR(render("{{ if eq .Type \"x\" }}W{{ else if eq .Reason \"BackOff\" }}B{{ else }}?{{ end }}"),
	          "B");
	CHECK_STR(render("{{ if .Action }}A{{ else }}none{{ end }}"), "none");
	CHECK_STR(render("{{ range $k, $v := .Labels }}{{ $k }}={{ $v }};{{ end }}"), "app=web;tier=front;");
	CHECK_STR(render("{{ range .Labels }}[{{ . }}]{{ end }}"), "[web][front]");
	CHECK_STR(render("{{ range .Annotations }}x{{ else }}none{{ end }}"), "none");
	CHECK_STR(render("{{ with .Labels.app }}[{{ . }}]{{ end }}"), "[web]");
	CHECK_STR(render("{{ with .Labels.nope }}x{{ else }}missing{{ end }}"), "missing");
	CHECK_STR(render("{{ with .Action }}x{{ else with .Reason }}r={{ . }}{{ end }}"), "r=BackOff");
	CHECK_STR(render("{{ with .InvolvedObject }}{{ $.Reason }} {{ .Name }}{{ end }}"), "BackOff web-1");
	CHECK_STR(
	    render(
	        "{{ range $k, $v := .Labels }}{{ if eq $k \"tier\" }}{{ break }}{{ end }}{{ $k }}{{ end }}"),
	    "app");
	CHECK_STR(render("{{ range $k, $v := .Labels }}{{ if eq $k \"app\" }}{{ continue }}{{ end }}{{ $k "
	                 "}}{{ end }}"),
	          "tier");
	CHECK_STR(render("{{ if .Reason }}{{ if .Action }}a{{ else }}b{{ end }}{{ end }}"), "b");
}

static void variables_and_maps(void)
{
	CHECK_STR(render("{{ $x := .Reason }}{{ $x }}"), "BackOff");
	CHECK_STR(render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"), "2");
	CHECK_STR(render("{{ .Labels.nope }}|{{ index .Labels \"nope\" }}|{{ index .Labels \"app\" }}"),
	          "<no value>||web");
	CHECK_STR(render("{{ .Labels }}"), "map[app:web tier:front]");
	CHECK_STR(render("{{ len .Labels }} {{ len .Message }}"), "2 36");
	CHECK_STR(render("{{ (index .Labels \"app\") | upper }}"), "WEB");
	CHECK_STR(render("{{ (.LastTimestamp.UTC).Unix }}"), "1709622489");
}

static void trimming_and_comments(void)
{
	CHECK_STR(render("a  {{- .Reason -}}  b"), "aBackOffb");
	CHECK_STR(render("a {{- /* c */ -}} b"), "ab");
	CHECK_STR(render("{{/* comment */}}x"), "x");
	CHECK_STR(render("x\n{{- if true }}\n  y\n{{- end }}\n"), "x\n  y\n");
	CHECK_STR(render("{{ `raw\\n` }}"), "raw\\n");
	CHECK_STR(render("{{ \"esc\\t\\\"\\u4e2d\" }}"), "esc\t\"\xe4\xb8\xad");
	CHECK_STR(render("{{ \"\\x41\\a\\\\\\U0001F600\\u00e9\" }}"), "A\a\\\xf0\x9f\x98\x80\xc3\xa9");
	CHECK_STR(render("{{ printf \"%c%c%c\" 233 55296 -1 }}"), "\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(render("{{-3}}"), "-3"); /* no space after the dash: a number, not a trim */
}

static void functions(void)
{
	CHECK_STR(
	    render("{{ printf \"%s x%d %5s|%-5s|%05d %q %x %t %.2f %c\" .Reason .Count \"ab\" \"cd\" 42 "
	           "\"q\\\"\" 255 true 1.5 65 }}"),
	    "BackOff x3    ab|cd   |00042 \"q\\\"\" ff true 1.50 A");
	CHECK_STR(render("{{ print \"a\" 1 2 \"b\" }}"), "a1 2b"); /* spaces only between non-strings */
	CHECK_STR(render("{{ println \"a\" 1 }}"), "a 1\n");
	CHECK_STR(render("{{ printf \"%d %s\" 1 }}"), "1 %!s(MISSING)");
	CHECK_STR(render("{{ .Message | upper }}"), "BACK-OFF RESTARTING FAILED CONTAINER");
	CHECK_STR(render("{{ lower \"ABC\" }} {{ trunc 4 .Message }} {{ .Message | trunc 4 }}"),
	          "abc Back Back");
	CHECK_STR(render("{{ trunc 2 \"\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\" }}"),
	          "\xe4\xb8\xad\xe6\x96\x87");
	CHECK_STR(render("{{ default \"none\" .Action }} {{ .Reason | default \"x\" }}"), "none BackOff");
	CHECK_STR(render("{{ .Message | replace \" \" \"_\" }}"), "Back-off_restarting_failed_container");
	CHECK_STR(render("{{ json .Message }} {{ json .Labels }} {{ json .Count }}"),
	          "\"Back-off restarting failed container\" {\"app\":\"web\",\"tier\":\"front\"} 3");
	CHECK_STR(render("[{{ and .Reason .Action }}] {{ or .Action .Reason }} {{ not .Action }}"),
	          "[] BackOff true");
	CHECK_STR(render("{{ lt .Count 5 }} {{ ge .Count 3 }} {{ eq .Reason \"A\" \"BackOff\" }} {{ ne .Type "
	                 "\"Normal\" }}"),
	          "true true true true");
	CHECK_STR(render("{{ contains \"off\" .Message }} {{ hasPrefix \"Back\" .Reason }}"), "true true");
	CHECK_STR(render("{{ 1.5 }} {{ 0x10 }} {{ 'a' }} {{ nil }} {{ true }}"), "1.5 16 97 <nil> true");
}

static void compile_errors_have_positions(void)
{
	static const struct {
		const char *src, *err;
	} bad[] = {
		{ "{{ .Foo }}", "ERR: 1:4: can't evaluate field Foo in type v1.Event" },
		{ "line1\n  {{ .InvolvedObject.Bar }}",
		  "ERR: 2:21: can't evaluate field Bar in type v1.ObjectReference" },
		{ "{{ .Reason.Len }}", "ERR: 1:11: can't evaluate field Len in type string" },
		{ "{{ nosuch 1 }}", "ERR: 1:4: function \"nosuch\" not defined" },
		{ "{{ if .Reason }}x", "ERR: 1:1: unexpected EOF: missing {{end}}" },
		{ "a{{ end }}", "ERR: 1:2: unexpected {{end}}" },
		{ "{{ $y }}", "ERR: 1:4: undefined variable: $y" },
		{ "{{ .Reason 1 }}", "ERR: 1:4: can't give argument to non-function value" },
		{ "{{ .LastTimestamp.Format }}", "ERR: 1:4: wrong number of args for Format: want 1 got 0" },
		{ "{{ range .Reason }}{{ end }}", "ERR: 1:1: range can't iterate over string" },
		{ "{{ break }}", "ERR: 1:1: {{break}} outside {{range}}" },
		{ "{{/* unclosed }}", "ERR: 1:1: unclosed comment" },
		{ "{{ printf }}", "ERR: 1:4: wrong number of args for printf: want 1 got 0" },
		{ "{{ template \"x\" }}", "ERR: 1:1: {{template}} is not supported" },
		{ "{{ .Reason ", "ERR: 1:1: unclosed action" },
		{ "{{ \"\\ud800\" }}", "ERR: 1:4: invalid syntax in string literal" },
		{ "{{ \"\\x4\" }}", "ERR: 1:4: invalid syntax in string literal" },
		{ "{{ \"\\q\" }}", "ERR: 1:4: invalid syntax in string literal" },
		{ "{{ \"\\U00110000\" }}", "ERR: 1:4: invalid syntax in string literal" },
		{ "{{ if .Reason ", "ERR: 1:1: unclosed action" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *got = render(bad[i].src);
		if (strncmp(got, bad[i].err, strlen(bad[i].err)) != 0) {
			test_fail(__FILE__, __LINE__, "\"%s\": got \"%s\", want \"%s\"", bad[i].src, got,
			          bad[i].err);
			return;
		}
	}
}

/* The compiled form is bounded: a 1 MiB template of tiny actions is refused, not 900 MB. */
static void compiled_size_is_bounded(void)
{
	size_t n = 200000, len = n * 5;
	char *src = malloc(len + 1);
	CHECK(src != NULL);
	for (size_t i = 0; i < n; i++)
		memcpy(src + i * 5, "{{.}}", 5);
	src[len] = '\0';
	char err[256];
	struct tmpl *t = tmpl_compile(src, len, TMPL_TEXT, err, sizeof err);
	free(src);
	if (t)
		tmpl_free(t);
	CHECK(t == NULL);
	CHECK(strstr(err, "too large once compiled") != NULL);
}

static void runtime_errors(void)
{
	CHECK(strstr(render("{{ eq .Reason 1 }}"), "incompatible types for comparison") != NULL);
	CHECK(strstr(render("{{ len .Count }}"), "len of type int") != NULL);
	/* a method that takes an argument, passed on as a value (found by fuzzing) */
	CHECK(strstr(render("{{ lt .LastTimestamp.UTC.Format \"x\" }}"), "wrong number of args for Format") !=
	      NULL);
	/* output over the ceiling is an error, not a truncated body */
	struct event e = sample();
	char err[128];
	struct tmpl *t = tmpl_compile("{{ .Message }}{{ .Message }}", 28, TMPL_TEXT, err, sizeof err);
	CHECK(t != NULL);
	struct buf b = BUF_INIT(40);
	CHECK_INT(tmpl_render(t, &e, NOW, &b, err, sizeof err), -1);
	CHECK(strstr(err, "output larger") != NULL);
	CHECK_INT(b.len, 0);
	buf_free(&b);
	tmpl_free(t);
	/* ... also for values printed straight into the output (numbers, times) */
	t = tmpl_compile("0123456789{{ .Count }}", 22, TMPL_TEXT, err, sizeof err);
	CHECK(t != NULL);
	b = (struct buf)BUF_INIT(10);
	CHECK_INT(tmpl_render(t, &e, NOW, &b, err, sizeof err), -1);
	CHECK(strstr(err, "output larger") != NULL);
	CHECK(!b.overflow);
	buf_free(&b);
	tmpl_free(t);
	/* ... and for a function's result past its own ceiling: an error, never an empty string */
	static char big[70000];
	memset(big, 'x', sizeof big - 1);
	e.message = big;
	CHECK(strstr(render_ev("{{ printf \"%s\" .Message }}", TMPL_TEXT, &e), "a value longer than") !=
	      NULL);
}

/* --- JSON mode -------------------------------------------------------------- */

/* A strict RFC 8259 validator; decodes the first string value of key `want`. */
struct jv {
	const unsigned char *p, *e;
	const char *want;
	struct buf *got;
	bool in_want;
};

static bool jv_value(struct jv *v);

static void jv_ws(struct jv *v)
{
	while (v->p < v->e && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static size_t utf8_ok(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len = c < 0x80                   ? 1
	             : (c >= 0xC2 && c <= 0xDF) ? 2
	             : (c >= 0xE0 && c <= 0xEF) ? 3
	             : (c >= 0xF0 && c <= 0xF4) ? 4
	                                        : 0;
	if (!len || len > n)
		return 0;
	unsigned cp = len == 1 ? c : c & (0x3F >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static bool jv_string(struct jv *v, struct buf *dec)
{
	if (v->p >= v->e || *v->p != '"')
		return false;
	v->p++;
	while (v->p < v->e && *v->p != '"') {
		if (*v->p < 0x20)
			return false; /* raw control character */
		if (*v->p == '\\') {
			v->p++;
			if (v->p >= v->e)
				return false;
			char c = (char)*v->p++;
			const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
			const char *k = c ? strchr(from, c) : NULL;
			if (k) {
				if (dec)
					buf_putc(dec, to[k - from]);
				continue;
			}
			if (c != 'u' || v->e - v->p < 4)
				return false;
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) {
				char h = (char)*v->p++;
				int d = h >= '0' && h <= '9'   ? h - '0'
				        : h >= 'a' && h <= 'f' ? h - 'a' + 10
				        : h >= 'A' && h <= 'F' ? h - 'A' + 10
				                               : -1;
				if (d < 0)
					return false;
				cp = cp * 16 + (unsigned)d;
			}
			if (dec && cp < 0x80)
				buf_putc(dec, (char)cp);
			continue;
		}
		size_t l = utf8_ok(v->p, (size_t)(v->e - v->p));
		if (!l)
			return false;
		if (dec)
			buf_append(dec, v->p, l);
		v->p += l;
	}
	if (v->p >= v->e)
		return false;
	v->p++;
	return true;
}

static bool jv_value(struct jv *v)
{
	jv_ws(v);
	if (v->p >= v->e)
		return false;
	if (*v->p == '{') {
		v->p++;
		jv_ws(v);
		if (v->p < v->e && *v->p == '}') {
			v->p++;
			return true;
		}
		for (;;) {
			jv_ws(v);
			struct buf key = BUF_INIT(256);
			bool ok = jv_string(v, &key);
			bool hit = ok && v->want && strcmp(buf_str(&key), v->want) == 0 && v->got &&
			           v->got->len == 0;
			buf_free(&key);
			if (!ok)
				return false;
			jv_ws(v);
			if (v->p >= v->e || *v->p++ != ':')
				return false;
			jv_ws(v);
			if (hit && v->p < v->e && *v->p == '"') {
				if (!jv_string(v, v->got))
					return false;
			} else if (!jv_value(v)) {
				return false;
			}
			jv_ws(v);
			if (v->p < v->e && *v->p == ',') {
				v->p++;
				continue;
			}
			if (v->p < v->e && *v->p == '}') {
				v->p++;
				return true;
			}
			return false;
		}
	}
	if (*v->p == '[') {
		v->p++;
		jv_ws(v);
		if (v->p < v->e && *v->p == ']') {
			v->p++;
			return true;
		}
		for (;;) {
			if (!jv_value(v))
				return false;
			jv_ws(v);
			if (v->p < v->e && *v->p == ',') {
				v->p++;
				continue;
			}
			if (v->p < v->e && *v->p == ']') {
				v->p++;
				return true;
			}
			return false;
		}
	}
	if (*v->p == '"')
		return jv_string(v, NULL);
	static const char *const lits[] = { "true", "false", "null" };
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(lits[i]);
		if ((size_t)(v->e - v->p) >= l && memcmp(v->p, lits[i], l) == 0) {
			v->p += l;
			return true;
		}
	}
	const unsigned char *s = v->p;
	if (v->p < v->e && *v->p == '-')
		v->p++;
	while (v->p < v->e && *v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > s && v->p[-1] != '-';
}

/* Valid JSON as a whole; *got receives the decoded string at key want. */
static bool json_valid(const char *s, const char *want, struct buf *got)
{
	struct jv v = { (const unsigned char *)s, (const unsigned char *)s + strlen(s), want, got, false };
	if (!jv_value(&v))
		return false;
	jv_ws(&v);
	return v.p == v.e;
}

static const char default_body[] =
    "\n{\n\t\"EventType\": \"{{ .Type }}\",\n\t\"EventKind\": \"{{ .InvolvedObject.Kind }}\",\n"
    "\t\"EventReason\": \"{{ .Reason }}\",\n\t\"EventTime\": \"{{ .LastTimestamp }}\",\n"
    "\t\"EventMessage\": \"{{ .Message }}\"\n}";
static const char wecom[] =
    "{\"msgtype\": \"text\",\"text\": {\"content\": \"EventType:{{ .Type }}\\nEventKind:"
    "{{ .InvolvedObject.Kind }}\\nEventObject:{{ .InvolvedObject.Name }}\\nEventReason:"
    "{{ .Reason }}\\nEventTime:{{ .LastTimestamp }}\\nEventMessage:{{ .Message }}\","
    "\"mentioned_list\":[\"wangqing\",\"@all\"]}}";

static void json_mode_escapes_inside_strings_only(void)
{
	struct event e = sample();
	e.message = "say \"hi\"\n\tC:\\dir";
	CHECK_STR(render_ev("{\"m\":\"{{ .Message }}\",\"n\":{{ .Count }}}", TMPL_JSON, &e),
	          "{\"m\":\"say \\\"hi\\\"\\n\\tC:\\\\dir\",\"n\":3}");
	CHECK_STR(render_ev("{\"m\":\"{{ raw .Reason }}\"}", TMPL_JSON, &e), "{\"m\":\"BackOff\"}");
	CHECK_STR(render_ev("{\"m\":{{ json .Message }}}", TMPL_JSON, &e),
	          "{\"m\":\"say \\\"hi\\\"\\n\\tC:\\\\dir\"}");
	/* an escaped quote in the template text does not end the string */
	CHECK_STR(render_ev("{\"m\":\"x\\\"{{ .Message }}\"}", TMPL_JSON, &e),
	          "{\"m\":\"x\\\"say \\\"hi\\\"\\n\\tC:\\\\dir\"}");
	/* text mode leaves values alone */
	CHECK_STR(render_ev("\"{{ .Message }}\"", TMPL_TEXT, &e), "\"say \"hi\"\n\tC:\\dir\"");
	struct buf got = BUF_INIT(4096);
	CHECK(json_valid(render_ev(wecom, TMPL_JSON, &e), "content", &got));
	CHECK(strstr(buf_str(&got), "EventMessage:say \"hi\"\n\tC:\\dir") != NULL);
	buf_free(&got);
}

/* What a message must decode to: invalid UTF-8 bytes become U+FFFD. */
static void expected_text(const unsigned char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n;) {
		size_t l = utf8_ok(s + i, n - i);
		if (!l) {
			buf_puts(out, "\xef\xbf\xbd");
			i++;
		} else {
			buf_append(out, s + i, l);
			i += l;
		}
	}
}

static void json_property_random_messages(void)
{
	static const char *const pieces[] = { "\"",
		                              "\\",
		                              "\n",
		                              "\t",
		                              "\r",
		                              "\x01",
		                              "\x1f",
		                              "\x7f",
		                              "/",
		                              "{{",
		                              "}}",
		                              "\xe4\xb8\xad",
		                              "\xf0\x9f\x9a\x80",
		                              "\xc3\xa9",
		                              "\xff",
		                              "\xc3",
		                              "\xed\xa0\x80",
		                              "a",
		                              " ",
		                              "\\u0000",
		                              "'",
		                              "%s",
		                              "\xe2\x80\xa8" };
	struct tmpl *tb, *tw;
	char err[200];
	tb = tmpl_compile(default_body, strlen(default_body), TMPL_JSON, err, sizeof err);
	tw = tmpl_compile(wecom, strlen(wecom), TMPL_JSON, err, sizeof err);
	CHECK(tb && tw);
	srand(12345);
	for (int iter = 0; iter < 2000; iter++) {
		char msg[512];
		size_t n = 0;
		int parts = rand() % 24;
		for (int k = 0; k < parts; k++) {
			const char *p = pieces[rand() % (int)(sizeof pieces / sizeof pieces[0])];
			size_t l = strlen(p);
			if (n + l >= sizeof msg)
				break;
			memcpy(msg + n, p, l);
			n += l;
		}
		msg[n] = '\0';
		struct event e = sample();
		e.message = msg;
		e.reason = iter % 2 ? msg : "BackOff";
		struct buf out = BUF_INIT(1 << 16), got = BUF_INIT(4096), want = BUF_INIT(4096);
		CHECK_INT(tmpl_render(tb, &e, NOW, &out, err, sizeof err), 0);
		if (!json_valid(buf_str(&out), "EventMessage", &got)) {
			test_fail(__FILE__, __LINE__, "invalid JSON for message #%d: %s", iter,
			          buf_str(&out));
			break;
		}
		expected_text((const unsigned char *)msg, n, &want);
		if (strcmp(buf_str(&got), buf_str(&want)) != 0) {
			test_fail(__FILE__, __LINE__, "message #%d decoded differently", iter);
			break;
		}
		buf_reset(&out);
		CHECK_INT(tmpl_render(tw, &e, NOW, &out, err, sizeof err), 0);
		if (!json_valid(buf_str(&out), NULL, NULL)) {
			test_fail(__FILE__, __LINE__, "invalid WeCom JSON for message #%d", iter);
			break;
		}
		buf_free(&out);
		buf_free(&got);
		buf_free(&want);
	}
	tmpl_free(tb);
	tmpl_free(tw);
}

static void render_speed_sanity(void)
{
	/* not a benchmark (see make bench): only that rendering stays cheap enough to loop */
	struct event e = sample();
	char err[200];
	struct tmpl *t = tmpl_compile(default_body, strlen(default_body), TMPL_JSON, err, sizeof err);
	CHECK(t != NULL);
	struct buf out = BUF_INIT(4096);
	for (int i = 0; i < 10000; i++) {
		buf_reset(&out);
		CHECK_INT(tmpl_render(t, &e, NOW, &out, err, sizeof err), 0);
	}
	CHECK(json_valid(buf_str(&out), NULL, NULL));
	buf_free(&out);
	tmpl_free(t);
}

const struct test_case test_tmpl[] = {
	TEST(fields_and_times),
	TEST(last_timestamp_falls_back),
	TEST(control_structures),
	TEST(variables_and_maps),
	TEST(trimming_and_comments),
	TEST(functions),
	TEST(compile_errors_have_positions),
	TEST(runtime_errors),
	TEST(compiled_size_is_bounded),
	TEST(json_mode_escapes_inside_strings_only),
	TEST(json_property_random_messages),
	TEST(render_speed_sanity),
	TEST_END,
};
