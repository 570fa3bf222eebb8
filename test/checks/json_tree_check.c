/*-------------------------------------------------------------------------
 *
 * json_tree_check.c
 *		  defender_json_load() against jansson's own json_loadb().
 *
 * src/json/json_tree.c builds the jansson tree of a Graph page or entity
 * with the incremental scanner instead of jansson's parser; it promises the
 * tree json_loadb(body, len, 0) builds and a refusal wherever json_loadb
 * refuses.  Here both read the same bodies: generated documents (nested
 * objects and arrays, escapes of every kind, multibyte UTF-8, numbers at
 * the edges of 64-bit integers and doubles, duplicate names, deep nesting
 * around jansson's limit of 2,048) and mutations of them (a byte changed,
 * inserted or removed, a cut, an invalid UTF-8 sequence, a control
 * character, a \u0000, a lone surrogate, a NUL byte).  For every body the
 * verdicts must agree (but for a NUL byte, which jansson takes for the end
 * of the body and defender_json_load refuses) and, when accepted, the trees must print alike
 * (json_dumps, compact, keeping order: the same values, numbers' kinds
 * and members' order).  Any file named on the command line is checked too.
 *
 * Built like json_scanner_check.c (server headers, frontend libpgcommon,
 * jansson); run by scripts/test.sh.  usage: json_tree_check [seed] [files]
 *
 * test/checks/json_tree_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/json/json_scanner.c"
#include "../../src/json/json_tree.c"

#include <stdio.h>
#include <stdlib.h>

/* PG_TRY's state, which the backend defines: nothing raises here */
sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

/*
 * libpgcommon builds json_errdetail() for the backend only; the verdicts
 * are compared here, not the error's wording (the regression tests show it).
 */
char *
json_errdetail(JsonParseErrorType error, JsonLexContext *lex)
{
	return psprintf("JSON error %d.", (int) error);
}

static unsigned long long rng_state;
static long checked,
			accepted,
			failures;

static unsigned
rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned) ((rng_state >> 33) % n);
}

static const char *const numbers[] = {
	"0", "-0", "1", "-1", "42", "9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "-9223372036854775809", "123456789012345678901234",
	"0.5", "-0.0", "1e3", "1E+3", "1e-3", "2.5E-308", "1e-400", "1e308",
	"1.7976931348623157e308", "1.8e308", "-1e999", "3.141592653589793238462643",
	"0.1", "100000000000000000000.0", "4.9e-324", "123.456e2"
};

static const char *const strings[] = {
	"", "a", "plain text", "caf\xc3\xa9", "\xe2\x82\xac 5", "\xf0\x9f\x98\x80",
	"C:\\\\Windows\\\\System32", "line\\nbreak", "tab\\there", "quote \\\" in",
	"\\u00e9t\\u00E9", "\\ud83d\\ude00", "\\u20ac", "\\/slash", "\\b\\f\\r",
	"@odata.nextLink", "value", "2026-12-04T10:11:12.1234567Z", "\\u0041\\u0042"
};

static void gen_value(StringInfo out, int depth);

static void
gen_string(StringInfo out)
{
	appendStringInfoChar(out, '"');
	if (rnd(4) == 0)
	{
		int			n = (int) rnd(40);

		while (n-- > 0)
			appendStringInfoChar(out, (char) ('a' + rnd(26)));
	}
	else
		appendStringInfoString(out, strings[rnd(lengthof(strings))]);
	appendStringInfoChar(out, '"');
}

static void
gen_space(StringInfo out)
{
	static const char *const spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};

	appendStringInfoString(out, spaces[rnd(lengthof(spaces))]);
}

static void
gen_value(StringInfo out, int depth)
{
	int			kind = depth > 6 ? (int) rnd(5) : (int) rnd(8);
	int			n,
				i;

	gen_space(out);
	switch (kind)
	{
		case 0:
			gen_string(out);
			break;
		case 1:
			appendStringInfoString(out, numbers[rnd(lengthof(numbers))]);
			break;
		case 2:
			appendStringInfoString(out, rnd(2) ? "true" : "false");
			break;
		case 3:
			appendStringInfoString(out, "null");
			break;
		case 4:
			if (rnd(3) == 0)
				appendStringInfo(out, "%d", (int) rnd(100000) - 50000);
			else
				gen_string(out);
			break;
		case 5:
		case 6:
			appendStringInfoChar(out, '{');
			n = (int) rnd(6);
			for (i = 0; i < n; i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				gen_space(out);
				/* a small name space, so that names repeat */
				if (rnd(3) == 0)
					appendStringInfo(out, "\"k%d\"", (int) rnd(3));
				else
					gen_string(out);
				gen_space(out);
				appendStringInfoChar(out, ':');
				gen_value(out, depth + 1);
			}
			gen_space(out);
			appendStringInfoChar(out, '}');
			break;
		default:
			appendStringInfoChar(out, '[');
			n = (int) rnd(6);
			for (i = 0; i < n; i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				gen_value(out, depth + 1);
			}
			gen_space(out);
			appendStringInfoChar(out, ']');
			break;
	}
	gen_space(out);
}

static char *
dump(json_t *tree)
{
	return json_dumps(tree, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

/* Both readers on one body: the same verdict, the same tree. */
static void
check_body(const char *body, size_t len, const char *what)
{
	json_error_t jerr;
	DefenderJsonError ours;
	json_t	   *expected = json_loadb(body, len, 0, &jerr);
	json_t	   *got = defender_json_load(body, len, &ours);

	checked++;
	if (got == NULL && expected != NULL && memchr(body, '\0', len) != NULL)
	{
		/*
		 * The one difference (json_tree.c): jansson takes a NUL byte for the
		 * end of the body; defender_json_load refuses it.
		 */
		json_decref(expected);
		expected = NULL;
	}
	else if (got != NULL && memchr(body, '\0', len) != NULL)
	{
		failures++;
		fprintf(stderr, "%s: defender_json_load accepts a body with a NUL byte\n", what);
	}
	if ((expected == NULL) != (got == NULL))
	{
		failures++;
		if (failures <= 10)
			fprintf(stderr, "%s: json_loadb %s (%s), defender_json_load %s (%s); body (%zu bytes): %.*s\n",
					what, expected ? "accepts" : "refuses", expected ? "" : jerr.text,
					got ? "accepts" : "refuses", got ? "" : ours.detail,
					len, (int) Min(len, 300), body);
	}
	else if (expected != NULL)
	{
		char	   *a = dump(expected);
		char	   *b = dump(got);

		accepted++;
		if (strcmp(a, b) != 0)
		{
			failures++;
			if (failures <= 10)
				fprintf(stderr, "%s: trees differ\n  json_loadb:         %.300s\n  defender_json_load: %.300s\n",
						what, a, b);
		}
		free(a);
		free(b);
	}
	json_decref(expected);
	json_decref(got);
}

/* A body changed in one place, as a broken or hostile answer would be. */
static void
check_mutations(const char *body, size_t len)
{
	static const char *const inserts[] = {
		"\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\x01", "\x1f", "\\u0000",
		"\\ud800", "\\udc00", "\\ud800\\u0041", "\"", "\\", ",", ":", "}", "]", "{", "[",
		" ", "0", "-", ".", "e", "1e", "true", "nul", "\xc3\xa9", "\t"
	};
	StringInfoData m;
	int			k;

	initStringInfo(&m);
	for (k = 0; k < 12; k++)
	{
		size_t		at = len ? rnd((unsigned) len) : 0;

		resetStringInfo(&m);
		switch (rnd(4))
		{
			case 0:				/* insert */
				appendBinaryStringInfo(&m, body, (int) at);
				appendStringInfoString(&m, inserts[rnd(lengthof(inserts))]);
				appendBinaryStringInfo(&m, body + at, (int) (len - at));
				break;
			case 1:				/* remove one byte */
				appendBinaryStringInfo(&m, body, (int) at);
				if (at < len)
					appendBinaryStringInfo(&m, body + at + 1, (int) (len - at - 1));
				break;
			case 2:				/* replace one byte */
				appendBinaryStringInfo(&m, body, (int) len);
				if (len)
					m.data[at] = (char) rnd(256);
				break;
			default:			/* cut */
				appendBinaryStringInfo(&m, body, (int) at);
				break;
		}
		check_body(m.data, m.len, "mutated");
	}
	pfree(m.data);
}

static void
check_depth(int depth, bool objects)
{
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	for (i = 0; i < depth; i++)
		appendStringInfoString(&b, objects ? "{\"a\":" : "[");
	appendStringInfoString(&b, "1");
	for (i = 0; i < depth; i++)
		appendStringInfoChar(&b, objects ? '}' : ']');
	check_body(b.data, b.len, "nesting");
	pfree(b.data);
}

static void
check_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	StringInfoData b;
	char		buf[65536];
	size_t		n;

	if (f == NULL)
	{
		perror(path);
		exit(2);
	}
	initStringInfo(&b);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		appendBinaryStringInfo(&b, buf, (int) n);
	fclose(f);
	check_body(b.data, b.len, path);
	check_mutations(b.data, b.len);
	pfree(b.data);
}

int
main(int argc, char **argv)
{
	unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 20261206;
	StringInfoData body;
	int			i;
	static const char *const fixed[] = {
		"{}", "[]", "{\"value\":[]}", " {\"a\":1} ", "1", "\"s\"", "null", "true", "",
		"{\"a\":1}x", "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{'a':1}", "[01]", "[1.]", "[.5]",
		"[-]", "[1e]", "[+1]", "[NaN]", "[Infinity]", "\xef\xbb\xbf{}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}", "{\"a\":\"\\uD834\\uDD1E\"}", "{\"\\u00e9\":1,\"\xc3\xa9\":2}",
		"{\"a\":1,\"b\":2,\"a\":3}", "[\"\\u0000\"]", "{\"\\u0000\":1}", "[\"a\x7f\"]",
		"[1 2]", "{\"a\":{\"b\":[true,false,null]}}", "[9223372036854775807,-9223372036854775808]",
		"[9223372036854775808]", "[1e309]", "[-1e309]", "[1e-400]", "[\"\xed\xa0\x80\"]",
		"[\"\xf4\x90\x80\x80\"]", "[\"\xc0\x80\"]", "{\"a\":[{\"b\":{}}]}"
	};

	for (i = 0; i < (int) lengthof(fixed); i++)
		check_body(fixed[i], strlen(fixed[i]), "fixed");
	for (i = 2040; i <= 2052; i++)
	{
		check_depth(i, false);
		check_depth(i, true);
	}
	for (i = 2; i < argc; i++)
		check_file(argv[i]);

	rng_state = seed;
	initStringInfo(&body);
	for (i = 0; i < 20000; i++)
	{
		resetStringInfo(&body);
		if (rnd(2))
		{
			/* a Graph list page */
			int			rows = (int) rnd(5),
						r;

			appendStringInfoString(&body, "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#security/incidents\",\"value\":[");
			for (r = 0; r < rows; r++)
			{
				if (r > 0)
					appendStringInfoChar(&body, ',');
				gen_value(&body, 5);
			}
			appendStringInfoString(&body, "]}");
		}
		else
			gen_value(&body, 0);
		check_body(body.data, body.len, "generated");
		check_mutations(body.data, body.len);
	}
	printf("json_tree_check (seed %llu): %ld bodies, %ld accepted by both, %ld differences\n",
		   seed, checked, accepted, failures);
	return failures ? 1 : 0;
}
