/*
 * yaml2json FILE -- print every YAML document of FILE as one JSON array
 * (scalars as strings, except unquoted true/false/null and integers), so
 * tests written in Python can read the YAML under configs/. Test tool; uses libyaml.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static void str(const unsigned char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void node(yaml_document_t *d, yaml_node_t *n, int depth)
{
	if (!n || depth > 64) {
		fputs("null", stdout);
		return;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *v = (const char *)n->data.scalar.value;
		size_t l = n->data.scalar.length;
		int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		char *end;
		if (plain && (!strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "null")))
			fputs(v, stdout);
		else if (plain && l && (strtol(v, &end, 10), *end == '\0'))
			fputs(v, stdout);
		else
			str((const unsigned char *)v, l);
		break;
	}
	case YAML_SEQUENCE_NODE:
		putchar('[');
		for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
		     i++) {
			if (i != n->data.sequence.items.start)
				putchar(',');
			node(d, yaml_document_get_node(d, *i), depth + 1);
		}
		putchar(']');
		break;
	case YAML_MAPPING_NODE:
		putchar('{');
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);
			if (p != n->data.mapping.pairs.start)
				putchar(',');
			if (k && k->type == YAML_SCALAR_NODE)
				str(k->data.scalar.value, k->data.scalar.length);
			else
				fputs("\"?\"", stdout);
			putchar(':');
			node(d, yaml_document_get_node(d, p->value), depth + 1);
		}
		putchar('}');
		break;
	default:
		fputs("null", stdout);
	}
}

int main(int argc, char **argv)
{
	FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
	if (!f) {
		fprintf(stderr, "usage: yaml2json FILE\n");
		return 2;
	}
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	putchar('[');
	for (int first = 1;; first = 0) {
		yaml_document_t d;
		if (!yaml_parser_load(&p, &d)) {
			fprintf(stderr, "%s: line %zu: %s\n", argv[1], p.problem_mark.line + 1, p.problem);
			return 1;
		}
		yaml_node_t *root = yaml_document_get_root_node(&d);
		if (!root) {
			yaml_document_delete(&d);
			break;
		}
		if (!first)
			putchar(',');
		node(&d, root, 0);
		yaml_document_delete(&d);
	}
	puts("]");
	yaml_parser_delete(&p);
	fclose(f);
	return 0;
}
