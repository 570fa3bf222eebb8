/*-------------------------------------------------------------------------
 *
 * json_scanner_check.c
 *		  The incremental JSON scanner against PostgreSQL's own parser, whole
 *		  and cut at every point.
 *
 * For each body: pg_parse_json (libpgcommon, with de-escaping) writes the
 * events it calls and its verdict (error code, token, offset) into a log;
 * src/json/json_scanner.c, compiled in unchanged, must write the same log
 * when fed the body as one piece, as two pieces split at every offset, one
 * byte at a time, and in random pieces.  Splits fall inside tokens, escapes
 * (\uXXXX and surrogate pairs) and UTF-8 sequences.  The bodies are a
 * hunting answer and its variations, well-formed and not; any file named on
 * the command line is checked too.  fuzz/fuzz_json_scanner.c runs the same
 * comparison on libFuzzer's inputs.
 *
 * Built like the fuzz targets (server headers, frontend libpgcommon); run
 * by scripts/test.sh.
 *
 * test/checks/json_scanner_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "../../src/json/json_scanner.c"

#include <stdio.h>
#include <stdlib.h>

#if PG_VERSION_NUM >= 160000
#define CHECK_CB_TYPE JsonParseErrorType
#define CHECK_CB_OK JSON_SUCCESS
#else
#define CHECK_CB_TYPE void
#define CHECK_CB_OK
#endif

/*
 * Besides the events, the log shows the raw text of every object at depth 2
 * (a row) and of every member value inside one, as the hunting parser cuts
 * them from the input: the scanner's side holds the row's bytes (as the
 * hunting parser does) and reads them back by offset when the row ends.
 */
typedef struct CheckLog
{
	StringInfoData text;
	JsonLexContext *lex;		/* PostgreSQL's side */
	const char *row_start;
	const char *value_start;
	DfwJsonScanner *scanner;	/* the scanner's side */
	uint64		row_offset;
	uint64		value_offset;
} CheckLog;

/* Four hex digits' value. */
static int
check_hex4(const char *s)
{
	int			v = 0;
	int			i;

	for (i = 0; i < 4; i++)
		v = v * 16 + (s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
	return v;
}

/* A JSON string's value (UTF-8), the way the de-escaping lexer makes it. */
static void
decode_into(StringInfo out, const char *s, size_t n)
{
	const char *end = s + n;

	while (s < end)
	{
		int			ch;

		if (*s != '\\')
		{
			appendStringInfoChar(out, *s++);
			continue;
		}
		switch (s[1])
		{
			case 'b':
				appendStringInfoChar(out, '\b');
				break;
			case 'f':
				appendStringInfoChar(out, '\f');
				break;
			case 'n':
				appendStringInfoChar(out, '\n');
				break;
			case 'r':
				appendStringInfoChar(out, '\r');
				break;
			case 't':
				appendStringInfoChar(out, '\t');
				break;
			case 'u':
				{
					unsigned char utf8[8];

					ch = check_hex4(s + 2);
					s += 6;
					if (is_utf16_surrogate_first(ch))
					{
						ch = surrogate_pair_to_codepoint(ch, check_hex4(s + 2));
						s += 6;
					}
					unicode_to_utf8(ch, utf8);
					appendBinaryStringInfo(out, (char *) utf8, pg_utf_mblen(utf8));
					continue;
				}
			default:
				appendStringInfoChar(out, s[1]);
				break;
		}
		s += 2;
	}
}

/* ---- PostgreSQL's parser ---- */

static CHECK_CB_TYPE
pg_ostart(void *state)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "{%d\n", log->lex->lex_level);
	if (log->lex->lex_level == 2)
		log->row_start = log->lex->token_start;
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_oend(void *state)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "}%d\n", log->lex->lex_level);
	if (log->lex->lex_level == 2)
		appendStringInfo(&log->text, "row <%.*s>\n",
						 (int) (log->lex->prev_token_terminator - log->row_start),
						 log->row_start);
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_astart(void *state)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "[%d\n", log->lex->lex_level);
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_aend(void *state)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "]%d\n", log->lex->lex_level);
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_aestart(void *state, bool isnull)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "e%d:%d\n", log->lex->lex_level, (int) log->lex->token_type);
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_fstart(void *state, char *fname, bool isnull)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "f%d:%d:%s\n", log->lex->lex_level,
					 (int) log->lex->token_type, fname);
	if (log->lex->lex_level == 3)
		log->value_start = log->lex->token_start;
	pfree(fname);				/* (pg_fend is passed it again: not read) */
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_fend(void *state, char *fname, bool isnull)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "F%d\n", log->lex->lex_level);
	if (log->lex->lex_level == 3 && log->row_start)
		appendStringInfo(&log->text, "value <%.*s>\n",
						 (int) (log->lex->prev_token_terminator - log->value_start),
						 log->value_start);
	return CHECK_CB_OK;
}

static CHECK_CB_TYPE
pg_scalar(void *state, char *token, JsonTokenType type)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "s%d:%d:%s\n", log->lex->lex_level, (int) type, token);
	pfree(token);
	return CHECK_CB_OK;
}

static void
pg_log(const char *body, size_t len, StringInfo out)
{
	CheckLog	log;
	JsonSemAction sem;
	JsonParseErrorType result;
	char	   *copy = pnstrdup(body, len);

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &log;
	sem.object_start = pg_ostart;
	sem.object_end = pg_oend;
	sem.array_start = pg_astart;
	sem.array_end = pg_aend;
	sem.array_element_start = pg_aestart;
	sem.object_field_start = pg_fstart;
	sem.object_field_end = pg_fend;
	sem.scalar = pg_scalar;
#if PG_VERSION_NUM >= 170000
	log.lex = makeJsonLexContextCstringLen(NULL, copy, len, PG_UTF8, true);
#else
	log.lex = makeJsonLexContextCstringLen(copy, (int) len, PG_UTF8, true);
#endif
	log.text = *out;
	log.row_start = NULL;
	result = pg_parse_json(log.lex, &sem);
	if (result != JSON_SUCCESS)
	{
		const char *at = log.lex->token_start ? log.lex->token_start :
			log.lex->token_terminator;

		appendStringInfo(&log.text, "error %d at %d", (int) result, (int) (at - copy));
		if (result != JSON_EXPECTED_MORE && log.lex->token_start)
			appendStringInfo(&log.text, " token <%.*s>",
							 (int) (log.lex->token_terminator - log.lex->token_start),
							 log.lex->token_start);
		appendStringInfoChar(&log.text, '\n');
	}
	*out = log.text;
	if (log.lex->strval)
	{
		pfree(log.lex->strval->data);
		pfree(log.lex->strval);
	}
	pfree(log.lex);
	pfree(copy);
}

/* ---- the scanner ---- */

static void
my_ostart(void *state, int depth, uint64 offset)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "{%d\n", depth);
	if (depth == 2)
	{
		log->row_offset = offset;
		dfw_json_scanner_hold(log->scanner, offset);
	}
}

static void
my_oend(void *state, int depth, uint64 end)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "}%d\n", depth);
	if (depth == 2)
	{
		appendStringInfo(&log->text, "row <%.*s>\n", (int) (end - log->row_offset),
						 dfw_json_scanner_at(log->scanner, log->row_offset));
		dfw_json_scanner_hold(log->scanner, PG_UINT64_MAX);
	}
}

static void
my_astart(void *state, int depth, uint64 offset)
{
	appendStringInfo(&((CheckLog *) state)->text, "[%d\n", depth);
}

static void
my_aend(void *state, int depth, uint64 end)
{
	appendStringInfo(&((CheckLog *) state)->text, "]%d\n", depth);
}

static void
my_estart(void *state, int depth, JsonTokenType first)
{
	appendStringInfo(&((CheckLog *) state)->text, "e%d:%d\n", depth, (int) first);
}

static void
my_fstart(void *state, int depth, const char *name, size_t namelen,
		  bool escaped, JsonTokenType first, uint64 value_offset)
{
	StringInfo	out = &((CheckLog *) state)->text;

	appendStringInfo(out, "f%d:%d:", depth, (int) first);
	decode_into(out, name, namelen);
	appendStringInfoChar(out, '\n');
	if (depth == 3)
		((CheckLog *) state)->value_offset = value_offset;
}

/*
 * The scanner's escape flag of a string value must say whether its raw
 * text holds a backslash (the hunting parser decodes only those); a wrong
 * flag writes a line pg_parse_json's log never has.
 */
static void
check_escape_flag(CheckLog *log, const char *raw, size_t len)
{
	if (len > 0 && raw[0] == '"' &&
		log->scanner->value_escaped != (memchr(raw, '\\', len) != NULL))
		appendStringInfo(&log->text, "escape flag %d wrong for <%.*s>\n",
						 (int) log->scanner->value_escaped, (int) len, raw);
}

static void
my_fend(void *state, int depth, uint64 value_end)
{
	CheckLog   *log = state;

	appendStringInfo(&log->text, "F%d\n", depth);
	if (depth == 3 && log->scanner->hold != PG_UINT64_MAX)
	{
		const char *raw = dfw_json_scanner_at(log->scanner, log->value_offset);

		check_escape_flag(log, raw, (size_t) (value_end - log->value_offset));
		appendStringInfo(&log->text, "value <%.*s>\n",
						 (int) (value_end - log->value_offset), raw);
	}
}

static void
my_scalar(void *state, int depth, JsonTokenType type, const char *text, size_t len)
{
	StringInfo	out = &((CheckLog *) state)->text;

	check_escape_flag((CheckLog *) state, text, len);

	appendStringInfo(out, "s%d:%d:", depth, (int) type);
	if (type == JSON_TOKEN_STRING)
		decode_into(out, text + 1, len - 2);
	else
		appendBinaryStringInfo(out, text, (int) len);
	appendStringInfoChar(out, '\n');
}

static const DfwJsonEvents my_events = {
	.object_start = my_ostart,
	.array_start = my_astart,
	.object_end = my_oend,
	.array_end = my_aend,
	.element_start = my_estart,
	.field_start = my_fstart,
	.field_end = my_fend,
	.scalar = my_scalar,
};

/* The scanner's error, as pg_log() writes PostgreSQL's. */
static void
log_error(StringInfo out, const DfwJsonScanner *s, JsonParseErrorType result)
{
	if (result == JSON_SUCCESS)
		return;
	appendStringInfo(out, "error %d at %d", (int) result, (int) s->error_offset);
	if (result != JSON_EXPECTED_MORE)
		appendStringInfo(out, " token <%.*s>",
						 (int) (s->error_token_end - s->error_token), s->error_token);
	appendStringInfoChar(out, '\n');
}

/*
 * The scanner's log for body fed in pieces: cuts[] are the piece ends
 * (ascending, the last one len).
 */
static void
my_log(const char *body, size_t len, const size_t *cuts, int ncuts,
	   StringInfo out)
{
	CheckLog	log;
	DfwJsonScanner s;
	JsonParseErrorType result = JSON_SUCCESS;
	size_t		from = 0;
	int			i;

	log.text = *out;
	log.scanner = &s;
	dfw_json_scanner_init(&s, &my_events, &log, PG_UTF8);
	for (i = 0; i < ncuts && result == JSON_SUCCESS; i++)
	{
		/* each piece in its own allocation: nothing may read past it */
		char	   *piece = palloc(cuts[i] - from + 1);

		memcpy(piece, body + from, cuts[i] - from);
		result = dfw_json_scanner_feed(&s, piece, cuts[i] - from, false);
		log_error(&log.text, &s, result);
		pfree(piece);
		from = cuts[i];
	}
	if (result == JSON_SUCCESS)
	{
		result = dfw_json_scanner_finish(&s);
		log_error(&log.text, &s, result);
	}
	dfw_json_scanner_free(&s);
	*out = log.text;
}

static int	check_failures = 0;

static void
report(const char *how, const char *body, size_t len, const char *want,
	   const char *got)
{
	check_failures++;
	fprintf(stderr, "json_scanner_check: %s differs from pg_parse_json\nbody (%zu bytes): %.*s\n"
			"pg_parse_json:\n%s\nscanner:\n%s\n", how, len, (int) Min(len, 300), body, want, got);
}

/*
 * check_body
 *		Compare the logs: whole, every split in two, byte by byte, and
 *		nrandom random splits seeded with seed.  Bodies that are not valid
 *		UTF-8 or hold a NUL byte are skipped (the caller verifies first).
 */
static void
check_body(const char *body, size_t len, int nrandom, unsigned seed, bool every_split)
{
	StringInfoData want;
	StringInfoData got;
	size_t	   *cuts;
	size_t		k;
	int			r;

	if (memchr(body, '\0', len) != NULL ||
		pg_encoding_verifymbstr(PG_UTF8, body, (int) len) != (int) len)
		return;
	cuts = palloc(sizeof(size_t) * (len + 2));
	initStringInfo(&want);
	initStringInfo(&got);
	pg_log(body, len, &want);

	cuts[0] = len;
	my_log(body, len, cuts, 1, &got);
	if (strcmp(want.data, got.data) != 0)
		report("one piece", body, len, want.data, got.data);

	for (k = 0; every_split && k <= len && check_failures == 0; k++)
	{
		cuts[0] = k;
		cuts[1] = len;
		resetStringInfo(&got);
		my_log(body, len, cuts, 2, &got);
		if (strcmp(want.data, got.data) != 0)
		{
			char		how[64];

			snprintf(how, sizeof(how), "split at %zu", k);
			report(how, body, len, want.data, got.data);
		}
	}

	for (k = 0; k < len; k++)
		cuts[k] = k + 1;
	resetStringInfo(&got);
	my_log(body, len, cuts, (int) Max(len, 1), &got);
	if (len > 0 && strcmp(want.data, got.data) != 0)
		report("byte by byte", body, len, want.data, got.data);

	for (r = 0; r < nrandom && check_failures == 0; r++)
	{
		int			n = 0;
		size_t		at = 0;

		while (at < len)
		{
			seed = seed * 1103515245 + 12345;
			at += 1 + (seed >> 16) % 24;
			cuts[n++] = Min(at, len);
		}
		resetStringInfo(&got);
		my_log(body, len, cuts, n, &got);
		if (n > 0 && strcmp(want.data, got.data) != 0)
			report("random pieces", body, len, want.data, got.data);
	}
	pfree(want.data);
	pfree(got.data);
	pfree(cuts);
}

/*
 * check_skip_plain
 *		The string scanner's fast skip (SSE2, or the word trick) against the
 *		plain byte loop, from every start to every end of text, each run on
 *		its own copy so that a read past the end is caught by the
 *		sanitizer.  Returns the number of differences.
 */
static int
check_skip_plain(const char *text, size_t len)
{
	int			bad = 0;
	size_t		from;
	size_t		to;
	char	   *copy = palloc(len + 1);

	for (to = 0; to <= len; to++)
	{
		char	   *piece = palloc(Max(to, 1));

		memcpy(piece, text, to);
		for (from = 0; from <= to; from++)
		{
			const char *fast = skip_plain(piece + from, piece + to);
			const char *slow = skip_plain_bytes(piece + from, piece + to);

			if (fast != slow)
			{
				if (bad++ == 0)
					fprintf(stderr, "json_scanner_check: skip_plain stops at %d, the byte loop at %d "
							"(from %zu to %zu of <%.*s>)\n", (int) (fast - piece),
							(int) (slow - piece), from, to, (int) to, piece);
			}
		}
		pfree(piece);
	}
	pfree(copy);
	return bad;
}

/*
 * A generated string body: plain ASCII runs, multibyte UTF-8 (2, 3 and 4
 * bytes), and now and then an escape, a quote inside an escape, or a
 * control character, in strings long enough to span several 16-byte steps
 * and the carry's slices.  (unsigned *seed: the generator's state.)
 */
static void
generated_string(StringInfo out, unsigned *seed, int n, bool controls)
{
	static const char *const pieces[] = {
		"a", "Z", " ", "0", "~", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\\\"", "\\\\", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\/", "\x7f", "\xdf\xbf",
	};
	int			i;

	for (i = 0; i < n; i++)
	{
		int			r;

		*seed = *seed * 1103515245 + 12345;
		r = (*seed >> 16) % 64;
		if (r < 40)
			appendStringInfoChar(out, "abcdefghijklmnopqrstuvwxyzABCD:.-_/0123456789"[(*seed >> 8) % 45]);
		else if (controls && r == 63)
			appendStringInfoChar(out, (char) ((*seed >> 4) % 0x20 ? (*seed >> 4) % 0x20 : 1));
		else
			appendStringInfoString(out, pieces[r % lengthof(pieces)]);
	}
}

#ifndef JSON_SCANNER_CHECK_NO_MAIN

static const char *const bodies[] = {
	"{\"@odata.context\":\"https://graph/$metadata#x\",\"schema\":[{\"name\":\"Timestamp\",\"type\":\"DateTime\"},"
	"{\"name\":\"FileName\",\"type\":\"String\"},{\"name\":\"Size\",\"type\":\"Int64\"}],"
	"\"results\":[{\"Timestamp\":\"2024-05-01T10:00:00.1234567Z\",\"FileName\":\"cmd.exe\",\"Size\":1234},"
	"{\"Timestamp\":\"2024-05-01T10:00:01Z\",\"FileName\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80\",\"Size\":-9007199254740993},"
	"{\"Timestamp\":\"\",\"FileName\":\"q\\\"b\\\\s\\/ \\b\\f\\n\\r\\t\",\"Size\":null,\"Extra\":{\"a\":[1,2.5e+3,true,false,null,{}],\"b\":[]}}]}",
	"  {\"results\" : [ ] , \"schema\" : [ ] }  \n",
	"[1,-0,0.5,1e5,1E-5,-12.25e+2]",
	"\"a lone string\"",
	"123",
	"true",
	"null",
	"",
	"   ",
	"{\"results\":[{\"a\":1},",
	"{\"results\":[{\"a\":tru}]}",
	"{\"results\":[{\"a\":1}, 2]}",
	"{\"results\":[{\"a\":\"x\\u0000y\"}]}",
	"{\"results\":[{\"a\":1,\"b\":\"\\ud800x\"}]}",
	"{\"results\":[{\"a\":1,\"b\":{\"c\":[\"\\udc00\"]}}]}",
	"{\"a\":\"\\ud800\\ud800\"}",
	"{\"a\":\"\\ud800\\n\"}",
	"{\"a\":\"\\ud800\"}",
	"{\"a\":\"\\u12G4\"}",
	"{\"a\":\"\\x\"}",
	"{\"a\":\"\\\xc3\xa9\"}",
	"{\"a\":\"tab\there\"}",
	"{\"a\":\"unterminated",
	"{\"a\":\"esc at end\\",
	"{\"a\":\"\\u12",
	"{\"a\":01}",
	"{\"a\":1.}",
	"{\"a\":-}",
	"{\"a\":1e}",
	"{\"a\":1.5x}",
	"{\"a\":1 \"b\":2}",
	"{\"a\" 1}",
	"{\"a\":}",
	"{,}",
	"{\"a\":1,}",
	"[1,]",
	"[,1]",
	"[1 2]",
	"{} x",
	"{}}",
	"{\"a\":[1,2}",
	"{\"a\":caf\xc3\xa9}",
	"{\"a\":#}",
	"{\"a\":1}\n\n",
	"{\"results\":[{\"a\":\"x\"",
	"{\"results\":[{\"a\":12",
	"{\"results\":[{\"a\":fals",
	"{\"results\":[{\"a\":\"x\"}]",
	"{\"a\":\"\xe2\x82\xac\xe2\x82\xac\",\"\xe2\x82\xac\":\"\\u20ac\\u20AC\"}",
};

/* the ends of the long strings main() builds */
static const char *const long_string_tails[] = {
	"\\u0\xc3\xa9\"}]}",
	"\\\xc3\xa9\"}]}",
	"\\ud83d\xc3\xa9\"}]}",
	"\xc3\xa9\\u12\xc3\xa9\xc3\xa9\"}]}",
};

int
main(int argc, char **argv)
{
	int			i;
	int			checked = 0;

	for (i = 0; i < (int) lengthof(bodies); i++)
	{
		check_body(bodies[i], strlen(bodies[i]), 50, (unsigned) i + 1, true);
		checked++;
	}
	/*
	 * A bad escape followed by a two-byte character, deep in a string long
	 * enough that, split before it, the scanner reads it through its carry
	 * in slices: a slice must not end inside the character.
	 */
	for (i = 0; i < (int) lengthof(long_string_tails); i++)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"results\":[{\"a\":\"");
		appendStringInfoSpaces(&buf, 300);
		appendStringInfoString(&buf, long_string_tails[i]);
		check_body(buf.data, buf.len, 50, (unsigned) i + 1, true);
		checked++;
		pfree(buf.data);
	}

	/*
	 * The fast paths on generated strings: skip_plain against the byte loop
	 * at every start and end, and bodies of rows of such strings (with and
	 * without escapes, multibyte characters at every alignment, now and
	 * then a control character) against pg_parse_json, whole and cut
	 * anywhere, which also checks the escape flag of every value.
	 */
	{
		unsigned	seed = 7;
		int			skip_bad = 0;

		for (i = 0; i < 200; i++)
		{
			StringInfoData buf;
			int			row;

			initStringInfo(&buf);
			generated_string(&buf, &seed, 1 + i % 70, i % 5 == 4);
			skip_bad += check_skip_plain(buf.data, buf.len);
			resetStringInfo(&buf);
			appendStringInfoString(&buf, "{\"results\":[");
			for (row = 0; row < 3; row++)
			{
				appendStringInfoString(&buf, row ? ",{\"a\":\"" : "{\"a\":\"");
				generated_string(&buf, &seed, (i * 7 + row * 13) % 90, i % 5 == 4);
				appendStringInfoString(&buf, "\",\"b\":\"");
				appendStringInfoSpaces(&buf, (i + row) % 17);
				generated_string(&buf, &seed, 5 + row, false);
				appendStringInfoString(&buf, "\"}");
			}
			appendStringInfoString(&buf, "]}");
			check_body(buf.data, buf.len, 10, (unsigned) i + 1, buf.len <= 600 && i % 4 == 0);
			checked++;
			pfree(buf.data);
		}
		if (skip_bad > 0)
		{
			fprintf(stderr, "json_scanner_check: skip_plain differs from the byte loop %d times\n",
					skip_bad);
			check_failures++;
		}
	}
	for (i = 1; i < argc; i++)
	{
		FILE	   *f = fopen(argv[i], "rb");
		StringInfoData buf;
		char		chunk[65536];
		size_t		n;

		if (f == NULL)
		{
			perror(argv[i]);
			return 2;
		}
		initStringInfo(&buf);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			appendBinaryStringInfo(&buf, chunk, (int) n);
		fclose(f);
		/* a large file: whole, byte by byte and random pieces, not every split */
		check_body(buf.data, buf.len, 20, (unsigned) i, buf.len <= 4096);
		checked++;
	}
	printf("json_scanner_check: %d bodies, %d differences from pg_parse_json\n",
		   checked, check_failures);
	return check_failures == 0 ? 0 : 1;
}

#endif							/* JSON_SCANNER_CHECK_NO_MAIN */
