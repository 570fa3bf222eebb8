/*-------------------------------------------------------------------------
 *
 * hunting_result.c
 *		  Streams a runHuntingQuery answer into a tuplestore.
 *
 * The answer is one JSON object,
 *
 *	{"@odata.context": "...",
 *	 "schema": [{"name": "Timestamp", "type": "DateTime"}, ...],
 *	 "results": [{"Timestamp": "2024-...Z", "FileName": "cmd.exe", ...}, ...]}
 *
 * and can be 50 MB and 100,000 rows or more, so it is never turned into a
 * tree: PostgreSQL's own callback parser (common/jsonapi.h) walks the bytes,
 * the callbacks convert each field of a row as soon as it ends, and each
 * finished row goes into the tuplestore (which spills to disk past
 * work_mem).  Everything a row needs lives in a memory context that is
 * reset after the row is stored; what lasts is only the name-to-column map
 * and the schema, both as small as the result's width.
 *
 * Matching and order:
 *	- top-level keys and the keys of schema entries are matched ignoring
 *	  case ("results"/"Results", "name"/"Name");
 *	- "schema" may come before or after "results": values are converted by
 *	  the column's declared type, and the schema only adds the Kusto type to
 *	  error messages;
 *	- a result column feeds columns[i] when its name equals the column's
 *	  property exactly, or, for a column without one, when it equals the
 *	  column's name ignoring case and underscores.  Each distinct name is
 *	  resolved once, into a small hash table, not once per row.
 *
 * Values (the rules are convert.c's, shared with the incidents path):
 *	- JSON null or an absent field: NULL;
 *	- the empty string "": NULL, except in json and jsonb columns, which
 *	  receive "".  Kusto strings cannot be null: a KQL string column with
 *	  no value (a missing field, an empty extend, a failed parse) is
 *	  written as "", so "" is how "no value" arrives.  Reading it as NULL
 *	  makes IS NULL, count(col) and COALESCE mean what an analyst expects;
 *	- strings, numbers and booleans go through the type's input function
 *	  with their literal text, so a long above 2^53 stays exact in bigint
 *	  and numeric, and a decimal keeps all its digits; numbers go only into
 *	  numeric and string types, booleans into boolean and string types;
 *	- Kusto TimeSpan strings ("1.02:03:04.5000000") fit interval columns;
 *	  DateTime strings go to timestamptz as they are; Guid to uuid or text;
 *	- objects and arrays (Kusto dynamic): json and jsonb columns receive
 *	  the value's raw JSON text, cut from the body between its first and
 *	  last token, never rebuilt; array columns (text[], bigint[] ...) take
 *	  the elements of a JSON array of scalars; any other type is an error
 *	  with the hint to declare the column jsonb;
 *	- a json or jsonb column receives the raw JSON of any value: a string
 *	  as a JSON string, a number as a number.
 * A value that does not convert is an ERROR whose context names the column,
 * the relation, the result column and the row number.
 *
 * Encoding: the body is UTF-8.  In a UTF-8 database it is verified once and
 * parsed in place; in any other, it is converted to the database encoding
 * first (that copy is the one allocation proportional to the body).
 *
 * Reading strings: PostgreSQL's lexer (up to 15) copies every character of
 * every string it de-escapes, one appendStringInfoChar each, and the parser
 * then copies each field name and scalar again: that was most of the cost
 * of a large answer.  In a UTF-8 database, when no escape in the body can
 * make the de-escaping lexer fail (a \u0000, a lone or reversed UTF-16
 * surrogate: one memchr pass finds out), the parser runs without
 * de-escaping and without a scalar callback, which it then only validates;
 * the callbacks read names and values from the body's bytes, decode the
 * rare string with an escape themselves, and convert from there with no
 * copy of their own.  Anything the fast pass rejects is parsed again from
 * the start the old way, so errors are exactly what they were.
 *
 * src/scan/hunting_result.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "defender_remote.h"
#include "defender_scan.h"

/* jsonapi's callbacks return an error code since PostgreSQL 16 */
#if PG_VERSION_NUM >= 160000
#define JSON_CB_TYPE JsonParseErrorType
#define JSON_CB_OK JSON_SUCCESS
#else
#define JSON_CB_TYPE void
#define JSON_CB_OK
#endif

/* Which top-level member the parser is in. */
typedef enum HuntTop
{
	TOP_OTHER,
	TOP_SCHEMA,
	TOP_RESULTS
} HuntTop;

/* Which member of a schema entry. */
typedef enum SchemaKey
{
	SCHEMA_OTHER,
	SCHEMA_NAME,
	SCHEMA_TYPE
} SchemaKey;

/* One result column name seen in the answer (in "results" or "schema"). */
typedef struct HuntField
{
	char	   *name;			/* as the answer spells it */
	int			namelen;
	uint32		hash;
	int			ncols;			/* how many of columns[] it feeds */
	int		   *cols;			/* their indexes */
	char	   *kusto_type;		/* from "schema", or NULL */
} HuntField;

typedef struct HuntParse
{
	JsonLexContext *lex;
	const char *display;		/* the request, for messages */
	const char *relname;		/* where the rows go, for messages */

	/* where rows go */
	TupleDesc	desc;
	DefenderColumn *columns;
	int			ncolumns;
	const AttrNumber *slot_attnos;
	Tuplestorestate *store;
	Datum	   *values;			/* desc->natts of them */
	bool	   *nulls;

	/* whole-row mode: attribute 1 gets each row's raw JSON */
	bool		whole_rows;
	FmgrInfo	row_input;
	Oid			row_ioparam;
	int32		row_typmod;

	MemoryContext parse_cxt;	/* lives for the whole answer */
	MemoryContext row_cxt;		/* reset after each row */

	/* position */
	bool		top_object;		/* the answer is a JSON object */
	HuntTop		top;			/* the top-level member being read */
	bool		in_results;		/* inside the "results" array */
	bool		in_schema;		/* inside the "schema" array */
	bool		results_seen;	/* a "results" array was found */
	int64		row;			/* 1-based number of the current or last row */
	bool		in_row;			/* inside a row object */
	const char *row_start;		/* its first byte */

	/* the fast pass: no de-escaping lexer, names and values from the body */
	bool		fast;
	const char *name_from;		/* the next field name is the first string here */
	StringInfoData scratch;		/* a value's text, NUL-terminated */
	StringInfoData namebuf;		/* a name with an escape, decoded */

	/* the row field being read (lex_level 3) */
	HuntField  *field;			/* NULL when no column wants it */
	const char *value_start;
	DefenderJsonKind value_kind;
	char	   *value_text;		/* scalar: decoded string or literal */

	/* the conversion under way, for the error context */
	int			cur_col;		/* index into columns[], or -1 */
	HuntField  *cur_field;

	/* the schema entry being read (lex_level 2 and 3 in "schema") */
	bool		in_schema_entry;
	SchemaKey	schema_key;
	char	   *schema_name;
	char	   *schema_type;

	/* result column names: open addressing, nslots a power of two */
	HuntField **slots;
	int			nslots;
	int			nfields;

	/*
	 * The field met at each position of the previous rows: rows nearly
	 * always list their fields in the same order, so one strcmp usually
	 * replaces the hash lookup.
	 */
	HuntField **by_position;
	int			npositions;
	int			position;		/* of the current field in its row */
} HuntParse;

/* The elements of one JSON array value, for an array column. */
typedef struct ElementParse
{
	JsonLexContext *lex;
	int			n;
	int			size;
	DefenderJsonKind *kinds;
	char	  **texts;
	DefenderJsonKind nested;	/* the first object or array element's kind */
} ElementParse;

static void parse_answer(HuntParse *p, const char *body, size_t len);
static void report_parse_error(HuntParse *p, JsonParseErrorType error);
static JSON_CB_TYPE hunt_object_start(void *state);
static JSON_CB_TYPE hunt_object_end(void *state);
static JSON_CB_TYPE hunt_array_start(void *state);
static JSON_CB_TYPE hunt_array_end(void *state);
static JSON_CB_TYPE hunt_array_element_start(void *state, bool isnull);
static JSON_CB_TYPE hunt_field_start(void *state, char *fname, bool isnull);
static JSON_CB_TYPE hunt_field_end(void *state, char *fname, bool isnull);
static JSON_CB_TYPE hunt_scalar(void *state, char *token, JsonTokenType tokentype);
static void begin_row(HuntParse *p);
static void end_row(HuntParse *p);
static void convert_field(HuntParse *p);
static Datum convert_value(HuntParse *p, DefenderColumn *col, const char *raw,
						   size_t rawlen, bool *isnull);
static Datum array_to_datum(DefenderColumn *col, const char *raw, size_t rawlen);
static JSON_CB_TYPE element_scalar(void *state, char *token, JsonTokenType tokentype);
static JSON_CB_TYPE element_nested(void *state);
static HuntField *row_field(HuntParse *p, const char *name, int len);
static HuntField *lookup_field(HuntParse *p, const char *name, int len);
static const char *field_name(HuntParse *p, const char *fname, int *len);
static bool name_is(const char *name, int len, const char *word);
static bool escapes_are_plain(const char *body, size_t len);
static void decode_string(const char *s, size_t n, StringInfo out);
static int	hex4(const char *s);
static void reset_position(HuntParse *p);
static void resolve_columns(HuntParse *p, HuntField *field);
static DefenderJsonKind token_kind(JsonTokenType tokentype);
static JsonLexContext *make_lexer(const char *json, size_t len, bool need_escapes);
static void hunt_error_callback(void *arg);

/*
 * defender_hunting_result_to_tuplestore
 *		Append the rows of a runHuntingQuery answer to store.
 *
 * columns[i] (prepared by defender_column_init or defender_column_init_attr)
 * fills attribute slot_attnos[i] of desc; attributes that no column fills
 * are NULL.  display is the request and relname the relation (or function) the
 * rows are for; both appear in error messages.  Allocates in
 * CurrentMemoryContext only what lasts for the call, and frees it.
 */
void
defender_hunting_result_to_tuplestore(const char *body, size_t len,
									  TupleDesc desc,
									  DefenderColumn *columns, int ncolumns,
									  const AttrNumber *slot_attnos,
									  Tuplestorestate *store,
									  const char *display,
									  const char *relname)
{
	HuntParse	p;

	memset(&p, 0, sizeof(p));
	p.desc = desc;
	p.columns = columns;
	p.ncolumns = ncolumns;
	p.slot_attnos = slot_attnos;
	p.store = store;
	p.display = display;
	p.relname = relname;
	parse_answer(&p, body, len);
}

/*
 * defender_hunting_rows_to_tuplestore
 *		Append one tuple per row of a runHuntingQuery answer to store:
 *		attribute 1 of desc (jsonb, json or text) receives the row object's
 *		raw JSON text, keys and values as the answer has them.
 */
void
defender_hunting_rows_to_tuplestore(const char *body, size_t len,
									TupleDesc desc, Tuplestorestate *store,
									const char *display, const char *relname)
{
	HuntParse	p;
	Oid			infunc;

	memset(&p, 0, sizeof(p));
	p.desc = desc;
	p.store = store;
	p.display = display;
	p.relname = relname;
	p.whole_rows = true;
	getTypeInputInfo(TupleDescAttr(desc, 0)->atttypid, &infunc, &p.row_ioparam);
	fmgr_info(infunc, &p.row_input);
	p.row_typmod = TupleDescAttr(desc, 0)->atttypmod;
	parse_answer(&p, body, len);
}

/*
 * parse_answer
 *		Run the callback parser over the whole answer.
 */
static void
parse_answer(HuntParse *p, const char *body, size_t len)
{
	MemoryContext caller = CurrentMemoryContext;
	ErrorContextCallback errcallback;
	JsonSemAction sem;
	JsonParseErrorType result;
	const char *input = body;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph returned an empty body"),
				 errcontext("remote request: %s", p->display)));
	/* jsonapi counts in int before PostgreSQL 17; max_response_mb is far below */
	if (len > (size_t) PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting result is too large to parse (%zu bytes)", len),
				 errcontext("remote request: %s", p->display)));

	p->parse_cxt = AllocSetContextCreate(caller, "defender_fdw hunting result",
										 ALLOCSET_DEFAULT_SIZES);
	p->row_cxt = AllocSetContextCreate(p->parse_cxt, "defender_fdw hunting row",
									   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(p->parse_cxt);

	errcallback.callback = hunt_error_callback;
	errcallback.arg = p;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/* The lexer reads in the database encoding; the answer is UTF-8. */
	if (GetDatabaseEncoding() == PG_UTF8)
		(void) pg_verify_mbstr(PG_UTF8, body, (int) len, false);
	else
	{
		input = pg_any_to_server(body, (int) len, PG_UTF8);
		if (input != body)
			len = strlen(input);
	}

	p->values = palloc0(sizeof(Datum) * Max(p->desc->natts, 1));
	p->nulls = palloc(sizeof(bool) * Max(p->desc->natts, 1));
	p->cur_col = -1;
	p->nslots = 64;
	p->slots = palloc0(sizeof(HuntField *) * p->nslots);
	p->npositions = 64;
	p->by_position = palloc0(sizeof(HuntField *) * p->npositions);
	initStringInfo(&p->scratch);
	initStringInfo(&p->namebuf);

	memset(&sem, 0, sizeof(sem));
	sem.semstate = p;
	sem.object_start = hunt_object_start;
	sem.object_end = hunt_object_end;
	sem.array_start = hunt_array_start;
	sem.array_end = hunt_array_end;
	sem.array_element_start = hunt_array_element_start;
	sem.object_field_start = hunt_field_start;
	sem.object_field_end = hunt_field_end;

	p->fast = GetDatabaseEncoding() == PG_UTF8 && escapes_are_plain(input, len);
	for (;;)
	{
		/* without a scalar callback, the parser copies no scalar's text */
		sem.scalar = (p->whole_rows || p->fast) ? NULL : hunt_scalar;
		p->lex = make_lexer(input, len, !p->fast);
		result = pg_parse_json(p->lex, &sem);
		if (result == JSON_SUCCESS || !p->fast)
			break;
		/* not well-formed: let the de-escaping parser say why, from the start */
		p->fast = false;
		reset_position(p);
		tuplestore_clear(p->store);
	}
	if (result != JSON_SUCCESS)
		report_parse_error(p, result);

	if (!p->top_object || !p->results_seen)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph's hunting answer has no \"results\" array"),
				 errdetail(p->top_object ?
						   "The answer is a JSON object without a \"results\" member that is an array." :
						   "The answer is not a JSON object.")));

	error_context_stack = errcallback.previous;
	MemoryContextSwitchTo(caller);
	elog(DEBUG2, "defender_fdw: hunting result of %zu bytes: " INT64_FORMAT " rows, %d result columns, %zu bytes of parser memory",
		 len, p->row, p->nfields,
		 (size_t) MemoryContextMemAllocated(p->parse_cxt, true));
	MemoryContextDelete(p->parse_cxt);
}

/*
 * report_parse_error
 *		ERROR for an answer that is not well-formed JSON.
 */
static void
report_parse_error(HuntParse *p, JsonParseErrorType error)
{
	char	   *detail = json_errdetail(error, p->lex);
	const char *at = p->lex->token_start ? p->lex->token_start : p->lex->token_terminator;
	size_t		offset = at ? at - p->lex->input : 0;

	/* the detail quotes the bad token, which may run to the end of the body */
	if (strlen(detail) > 200)
		detail = defender_json_excerpt(detail, strlen(detail));

	p->cur_col = -1;
	p->in_row = false;
	if (error == JSON_UNICODE_CODE_POINT_ZERO)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("Microsoft Graph's hunting answer contains a \\u0000 character, which PostgreSQL text cannot hold"),
				 p->row > 0 && p->results_seen ?
				 errdetail("In result row " INT64_FORMAT ".", p->row) : 0));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_JSON_TEXT),
			 errmsg("Microsoft Graph returned malformed JSON"),
			 errdetail("%s At byte %zu of a %zu-byte body.",
					   detail, offset, (size_t) p->lex->input_length)));
}

static JsonLexContext *
make_lexer(const char *json, size_t len, bool need_escapes)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, json, len, GetDatabaseEncoding(), need_escapes);
#else
	return makeJsonLexContextCstringLen(unconstify(char *, json), (int) len,
										GetDatabaseEncoding(), need_escapes);
#endif
}

/*
 * reset_position
 *		Forget where a parse got to, before parsing the answer again.  The
 *		names met so far stay: they are the same names.
 */
static void
reset_position(HuntParse *p)
{
	MemoryContextSwitchTo(p->parse_cxt);
	MemoryContextReset(p->row_cxt);
	p->top_object = false;
	p->top = TOP_OTHER;
	p->in_results = false;
	p->in_schema = false;
	p->results_seen = false;
	p->row = 0;
	p->in_row = false;
	p->field = NULL;
	p->cur_col = -1;
	p->cur_field = NULL;
	p->in_schema_entry = false;
	p->schema_key = SCHEMA_OTHER;
	p->position = 0;
}

/*
 * escapes_are_plain
 *		Can the lexer skip de-escaping this body?  Only the de-escaping
 *		lexer rejects \u0000 and UTF-16 surrogates that do not pair up, so
 *		a body with none of those is accepted or rejected alike either way.
 *
 * In JSON a backslash only appears in a string, starting an escape; one
 * anywhere else makes the body malformed, which the lexer reports anyway.
 */
static bool
escapes_are_plain(const char *body, size_t len)
{
	const char *s = body;
	const char *end = body + len;

	while ((s = memchr(s, '\\', end - s)) != NULL)
	{
		int			ch;

		if (end - s < 2)
			return false;
		if (s[1] != 'u')
		{
			s += 2;
			continue;
		}
		if (end - s < 6 || (ch = hex4(s + 2)) <= 0)
			return false;		/* malformed, or \u0000 */
		if (is_utf16_surrogate_second(ch))
			return false;
		if (is_utf16_surrogate_first(ch))
		{
			int			low;

			if (end - s < 12 || s[6] != '\\' || s[7] != 'u' ||
				(low = hex4(s + 8)) < 0 || !is_utf16_surrogate_second(low))
				return false;
			s += 12;
		}
		else
			s += 6;
	}
	return true;
}

/* Four hex digits' value, or -1. */
static int
hex4(const char *s)
{
	int			v = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		char		c = s[i];

		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (c - 'A' + 10);
		else
			return -1;
	}
	return v;
}

/*
 * decode_string
 *		The value of the JSON string whose text between the quotes is s (n
 *		bytes), as the de-escaping lexer makes it in a UTF-8 database, into
 *		out.  Only for a body escapes_are_plain() accepted and the parser
 *		validated: every escape is well-formed and every surrogate paired.
 */
static void
decode_string(const char *s, size_t n, StringInfo out)
{
	const char *end = s + n;

	resetStringInfo(out);
	while (s < end)
	{
		const char *bs = memchr(s, '\\', end - s);
		char		c;

		if (bs == NULL)
		{
			appendBinaryStringInfo(out, s, end - s);
			break;
		}
		appendBinaryStringInfo(out, s, bs - s);
		switch (bs[1])
		{
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				{
					pg_wchar	ch = (pg_wchar) hex4(bs + 2);
					unsigned char utf8[8];

					s = bs + 6;
					if (is_utf16_surrogate_first(ch))
					{
						ch = surrogate_pair_to_codepoint(ch, (pg_wchar) hex4(bs + 8));
						s = bs + 12;
					}
					unicode_to_utf8(ch, utf8);
					appendBinaryStringInfo(out, (char *) utf8, pg_utf_mblen(utf8));
					continue;
				}
			default:			/* " \ / */
				c = bs[1];
				break;
		}
		appendStringInfoChar(out, c);
		s = bs + 2;
	}
}

/*
 * field_name
 *		The name of the field whose value the lexer is at: the parser's
 *		copy when it made one, else read from the body.
 *
 * Without de-escaping the parser hands over no name, but it has just read
 * it: the name is the first token after name_from (the '{' or ',' before
 * it), and ends at the last quote before the ':' the lexer just passed.
 * The result is len bytes, not NUL-terminated.
 */
static const char *
field_name(HuntParse *p, const char *fname, int *len)
{
	const char *start;
	const char *end;

	if (fname)
	{
		*len = (int) strlen(fname);
		return fname;
	}
	for (start = p->name_from; *start != '"'; start++)
		;
	for (end = p->lex->prev_token_terminator - 2; *end != '"'; end--)
		;
	start++;
	if (memchr(start, '\\', end - start) == NULL)
	{
		*len = (int) (end - start);
		return start;
	}
	decode_string(start, end - start, &p->namebuf);
	*len = p->namebuf.len;
	return p->namebuf.data;
}

/* Is the name (len bytes) this word, ignoring ASCII case? */
static bool
name_is(const char *name, int len, const char *word)
{
	return len == (int) strlen(word) && pg_strncasecmp(name, word, len) == 0;
}

/*
 * The callbacks.  lex_level says where a callback is: the answer object is
 * level 0, its members 1, the rows (and schema entries) 2, their fields 3;
 * anything deeper is inside a dynamic value and only matters for where that
 * value ends.
 */
static JSON_CB_TYPE
hunt_object_start(void *state)
{
	HuntParse  *p = (HuntParse *) state;
	int			level = p->lex->lex_level;

	p->name_from = p->lex->token_start + 1;
	if (level == 0)
		p->top_object = true;
	else if (level == 2 && p->in_results)
		begin_row(p);
	else if (level == 2 && p->in_schema)
	{
		p->in_schema_entry = true;
		p->schema_name = NULL;
		p->schema_type = NULL;
	}
	else if (level == 3 && p->in_row)
		p->value_kind = DFW_JSON_OBJECT;
	return JSON_CB_OK;
}

static JSON_CB_TYPE
hunt_object_end(void *state)
{
	HuntParse  *p = (HuntParse *) state;
	int			level = p->lex->lex_level;

	if (level == 2 && p->in_row)
		end_row(p);
	else if (level == 2 && p->in_schema_entry)
	{
		p->in_schema_entry = false;
		if (p->schema_name && p->schema_type)
		{
			HuntField  *field = lookup_field(p, p->schema_name,
											 (int) strlen(p->schema_name));

			if (field->kusto_type == NULL)
				field->kusto_type = p->schema_type;
		}
	}
	return JSON_CB_OK;
}

static JSON_CB_TYPE
hunt_array_start(void *state)
{
	HuntParse  *p = (HuntParse *) state;
	int			level = p->lex->lex_level;

	if (level == 1 && p->top == TOP_RESULTS)
	{
		p->in_results = true;
		p->results_seen = true;
	}
	else if (level == 1 && p->top == TOP_SCHEMA)
		p->in_schema = true;
	else if (level == 3 && p->in_row)
		p->value_kind = DFW_JSON_ARRAY;
	return JSON_CB_OK;
}

static JSON_CB_TYPE
hunt_array_end(void *state)
{
	HuntParse  *p = (HuntParse *) state;

	if (p->lex->lex_level == 1)
	{
		p->in_results = false;
		p->in_schema = false;
	}
	return JSON_CB_OK;
}

/*
 * Every element of "results" must be a row object.  The element's first
 * token is known here; a token that cannot start a value at all is left to
 * the parser, which reports the malformed JSON.
 */
static JSON_CB_TYPE
hunt_array_element_start(void *state, bool isnull)
{
	HuntParse  *p = (HuntParse *) state;
	JsonTokenType token = p->lex->token_type;

	if (p->lex->lex_level == 2 && p->in_results &&
		(token == JSON_TOKEN_ARRAY_START || token == JSON_TOKEN_STRING ||
		 token == JSON_TOKEN_NUMBER || token == JSON_TOKEN_TRUE ||
		 token == JSON_TOKEN_FALSE || token == JSON_TOKEN_NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("row " INT64_FORMAT " of Microsoft Graph's hunting answer is not a JSON object",
						p->row + 1)));
	return JSON_CB_OK;
}

static JSON_CB_TYPE
hunt_field_start(void *state, char *fname, bool isnull)
{
	HuntParse  *p = (HuntParse *) state;
	int			level = p->lex->lex_level;
	const char *name;
	int			len;

	if (level == 3 && p->in_row)
	{
		if (p->ncolumns > 0)
		{
			name = field_name(p, fname, &len);
			p->field = row_field(p, name, len);
			if (p->field->ncols == 0)
				p->field = NULL;
		}
		else
			p->field = NULL;
		p->value_start = p->lex->token_start;
		p->value_kind = DFW_JSON_NULL;
		p->value_text = NULL;
	}
	else if (level == 1)
	{
		name = field_name(p, fname, &len);
		if (name_is(name, len, "results"))
			p->top = TOP_RESULTS;
		else if (name_is(name, len, "schema"))
			p->top = TOP_SCHEMA;
		else
			p->top = TOP_OTHER;
	}
	else if (level == 3 && p->in_schema_entry)
	{
		name = field_name(p, fname, &len);
		if (name_is(name, len, "name"))
			p->schema_key = SCHEMA_NAME;
		else if (name_is(name, len, "type"))
			p->schema_key = SCHEMA_TYPE;
		else
			p->schema_key = SCHEMA_OTHER;
		p->value_start = p->lex->token_start;
	}
	return JSON_CB_OK;
}

static JSON_CB_TYPE
hunt_field_end(void *state, char *fname, bool isnull)
{
	HuntParse  *p = (HuntParse *) state;
	int			level = p->lex->lex_level;

	if (level == 3 && p->in_row)
	{
		if (p->field)
			convert_field(p);
		p->field = NULL;
	}
	else if (level == 1)
		p->top = TOP_OTHER;
	else if (level == 3 && p->in_schema_entry)
	{
		if (p->fast && p->schema_key != SCHEMA_OTHER && *p->value_start == '"')
		{
			/* no scalar callback: the string from the body */
			const char *raw = p->value_start;
			size_t		rawlen = p->lex->prev_token_terminator - raw;
			char	   *text;

			decode_string(raw + 1, rawlen - 2, &p->namebuf);
			text = pstrdup(p->namebuf.data);
			if (p->schema_key == SCHEMA_NAME)
				p->schema_name = text;
			else
				p->schema_type = text;
		}
		p->schema_key = SCHEMA_OTHER;
	}
	p->name_from = p->lex->token_start + 1;
	return JSON_CB_OK;
}

static JSON_CB_TYPE
hunt_scalar(void *state, char *token, JsonTokenType tokentype)
{
	HuntParse  *p = (HuntParse *) state;
	int			level = p->lex->lex_level;

	if (level == 3 && p->in_row)
	{
		p->value_kind = token_kind(tokentype);
		p->value_text = token;
	}
	else if (level == 3 && p->in_schema_entry && tokentype == JSON_TOKEN_STRING)
	{
		if (p->schema_key == SCHEMA_NAME)
			p->schema_name = token;
		else if (p->schema_key == SCHEMA_TYPE)
			p->schema_type = token;
	}
	return JSON_CB_OK;
}

/*
 * begin_row
 *		A row object starts: everything until its end is allocated in the
 *		row context (the parser's copies of names and tokens included).
 */
static void
begin_row(HuntParse *p)
{
	p->row++;
	p->in_row = true;
	p->position = 0;
	p->row_start = p->lex->token_start;
	memset(p->nulls, true, sizeof(bool) * Max(p->desc->natts, 1));
	MemoryContextSwitchTo(p->row_cxt);
}

/*
 * end_row
 *		The row object ended: store the tuple (tuplestore_putvalues copies
 *		it into the store's memory) and forget the row.
 */
static void
end_row(HuntParse *p)
{
	if (p->whole_rows)
	{
		size_t		len = p->lex->prev_token_terminator - p->row_start;

		p->values[0] = InputFunctionCall(&p->row_input,
										 pnstrdup(p->row_start, len),
										 p->row_ioparam, p->row_typmod);
		p->nulls[0] = false;
	}
	tuplestore_putvalues(p->store, p->desc, p->values, p->nulls);

	p->in_row = false;
	MemoryContextSwitchTo(p->parse_cxt);
	MemoryContextReset(p->row_cxt);
	CHECK_FOR_INTERRUPTS();
}

/*
 * convert_field
 *		A row field that some column wants has ended: convert its value for
 *		each such column.  The value's raw JSON runs from where the field's
 *		value started to the end of the last token read.
 */
static void
convert_field(HuntParse *p)
{
	HuntField  *field = p->field;
	const char *raw = p->value_start;
	size_t		rawlen = p->lex->prev_token_terminator - p->value_start;
	int			i;

	p->cur_field = field;
	for (i = 0; i < field->ncols; i++)
	{
		int			ci = field->cols[i];
		AttrNumber	attno = p->slot_attnos[ci];

		p->cur_col = ci;
		p->values[attno - 1] = convert_value(p, &p->columns[ci], raw, rawlen,
											 &p->nulls[attno - 1]);
	}
	p->cur_col = -1;
	p->cur_field = NULL;
}

/*
 * convert_value
 *		The current field's value as a Datum of col's type (the rules are in
 *		the header comment).
 */
static Datum
convert_value(HuntParse *p, DefenderColumn *col, const char *raw, size_t rawlen,
			  bool *isnull)
{
	DefenderJsonKind kind = p->value_kind;

	/* fast pass: a scalar's kind from its first byte */
	if (p->fast && kind == DFW_JSON_NULL)
		kind = raw[0] == '"' ? DFW_JSON_STRING :
			(raw[0] == 't' || raw[0] == 'f') ? DFW_JSON_BOOLEAN :
			raw[0] == 'n' ? DFW_JSON_NULL : DFW_JSON_NUMBER;

	*isnull = false;
	if (kind == DFW_JSON_NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (col->is_json)
		return InputFunctionCall(&col->input, pnstrdup(raw, rawlen),
								 col->ioparam, col->typmod);
	if (p->fast && kind != DFW_JSON_OBJECT && kind != DFW_JSON_ARRAY)
	{
		/* the text the de-escaping parser would have handed over */
		const char *text = raw;
		size_t		len = rawlen;

		if (kind == DFW_JSON_STRING)
		{
			text = raw + 1;
			len = rawlen - 2;
			if (memchr(text, '\\', len) != NULL)
			{
				decode_string(text, len, &p->scratch);
				text = p->scratch.data;
				len = p->scratch.len;
			}
			if (len == 0)
			{
				*isnull = true; /* Kusto's "no value" */
				return (Datum) 0;
			}
		}
		if (col->is_array)
			defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
								   defender_json_excerpt(raw, rawlen));
		if (col->fast == DFW_FAST_TEXT)
			return PointerGetDatum(cstring_to_text_with_len(text, (int) len));
		if (text != p->scratch.data)
		{
			resetStringInfo(&p->scratch);
			appendBinaryStringInfo(&p->scratch, text, (int) len);
		}
		return defender_scalar_to_datum(col, kind, p->scratch.data, false);
	}
	if (kind == DFW_JSON_STRING && p->value_text[0] == '\0')
	{
		*isnull = true;			/* Kusto's "no value" */
		return (Datum) 0;
	}
	if (col->is_array)
	{
		if (kind != DFW_JSON_ARRAY)
			defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
								   defender_json_excerpt(raw, rawlen));
		return array_to_datum(col, raw, rawlen);
	}
	if (kind == DFW_JSON_OBJECT || kind == DFW_JSON_ARRAY)
		defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
							   defender_json_excerpt(raw, rawlen));
	return defender_scalar_to_datum(col, kind, p->value_text, false);
}

/*
 * array_to_datum
 *		An array column's value from the raw text of a JSON array.
 *
 * The array (a dynamic value, small) is parsed again on its own, collecting
 * the kind and text of each element; elements keep their literal text, so a
 * long above 2^53 stays exact in a bigint[] too.
 */
static Datum
array_to_datum(DefenderColumn *col, const char *raw, size_t rawlen)
{
	ElementParse ep;
	JsonSemAction sem;
	JsonParseErrorType result;

	memset(&ep, 0, sizeof(ep));
	ep.size = 8;
	ep.kinds = palloc(sizeof(DefenderJsonKind) * ep.size);
	ep.texts = palloc(sizeof(char *) * ep.size);
	ep.lex = make_lexer(raw, rawlen, true);

	memset(&sem, 0, sizeof(sem));
	sem.semstate = &ep;
	sem.scalar = element_scalar;
	sem.object_start = element_nested;
	sem.array_start = element_nested;

	result = pg_parse_json(ep.lex, &sem);
	if (result != JSON_SUCCESS)		/* the outer parse accepted it: cannot happen */
		elog(ERROR, "could not parse a JSON array again: %s",
			 json_errdetail(result, ep.lex));
	if (ep.nested != DFW_JSON_NULL)
		defender_unconvertible(col, DFW_JSON_ARRAY, ep.nested, col->typid,
							   defender_json_excerpt(raw, rawlen));
	return defender_elements_to_datum(col, ep.n, ep.kinds, ep.texts);
}

static JSON_CB_TYPE
element_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ElementParse *ep = (ElementParse *) state;

	if (ep->lex->lex_level != 1)
		return JSON_CB_OK;
	if (ep->n == ep->size)
	{
		ep->size *= 2;
		ep->kinds = repalloc(ep->kinds, sizeof(DefenderJsonKind) * ep->size);
		ep->texts = repalloc(ep->texts, sizeof(char *) * ep->size);
	}
	ep->kinds[ep->n] = token_kind(tokentype);
	ep->texts[ep->n] = token;
	ep->n++;
	return JSON_CB_OK;
}

/* An object or array element (lex_level 1), or the array itself (0). */
static JSON_CB_TYPE
element_nested(void *state)
{
	ElementParse *ep = (ElementParse *) state;

	if (ep->lex->lex_level == 1 && ep->nested == DFW_JSON_NULL)
		ep->nested = ep->lex->token_type == JSON_TOKEN_OBJECT_START ?
			DFW_JSON_OBJECT : DFW_JSON_ARRAY;
	return JSON_CB_OK;
}

static DefenderJsonKind
token_kind(JsonTokenType tokentype)
{
	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			return DFW_JSON_STRING;
		case JSON_TOKEN_NUMBER:
			return DFW_JSON_NUMBER;
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			return DFW_JSON_BOOLEAN;
		default:
			return DFW_JSON_NULL;
	}
}

/*
 * row_field
 *		The entry of a row field's name: the one at the same position in
 *		the previous row when the name is the same, else from the table.
 */
static HuntField *
row_field(HuntParse *p, const char *name, int len)
{
	int			pos = p->position++;
	HuntField  *field;

	if (pos < p->npositions && p->by_position[pos] != NULL &&
		p->by_position[pos]->namelen == len &&
		memcmp(p->by_position[pos]->name, name, len) == 0)
		return p->by_position[pos];

	field = lookup_field(p, name, len);
	if (pos >= p->npositions)
	{
		int			n = p->npositions;

		while (pos >= n)
			n *= 2;
		p->by_position = repalloc(p->by_position, sizeof(HuntField *) * n);
		memset(p->by_position + p->npositions, 0,
			   sizeof(HuntField *) * (n - p->npositions));
		p->npositions = n;
	}
	p->by_position[pos] = field;
	return field;
}

/*
 * lookup_field
 *		The entry of a result column name, created (and matched to the
 *		columns) the first time the name is seen.  Entries live in
 *		parse_cxt; name (len bytes, not necessarily NUL-terminated) may be
 *		the parser's copy in the row context, or in the body.
 */
static HuntField *
lookup_field(HuntParse *p, const char *name, int len)
{
	uint32		hash = hash_bytes((const unsigned char *) name, len);
	uint32		mask = (uint32) p->nslots - 1;
	uint32		i;
	HuntField  *field;
	MemoryContext old;

	for (i = hash & mask; p->slots[i] != NULL; i = (i + 1) & mask)
	{
		if (p->slots[i]->hash == hash && p->slots[i]->namelen == len &&
			memcmp(p->slots[i]->name, name, len) == 0)
			return p->slots[i];
	}

	old = MemoryContextSwitchTo(p->parse_cxt);
	field = palloc0(sizeof(HuntField));
	field->name = pnstrdup(name, len);
	field->namelen = len;
	field->hash = hash;
	resolve_columns(p, field);

	if ((p->nfields + 1) * 2 > p->nslots)
	{
		/* keep the table at most half full */
		HuntField **old_slots = p->slots;
		int			old_n = p->nslots;
		int			j;

		p->nslots *= 2;
		p->slots = palloc0(sizeof(HuntField *) * p->nslots);
		mask = (uint32) p->nslots - 1;
		for (j = 0; j < old_n; j++)
		{
			if (old_slots[j] == NULL)
				continue;
			for (i = old_slots[j]->hash & mask; p->slots[i] != NULL; i = (i + 1) & mask)
				;
			p->slots[i] = old_slots[j];
		}
		pfree(old_slots);
		for (i = hash & mask; p->slots[i] != NULL; i = (i + 1) & mask)
			;
	}
	p->slots[i] = field;
	p->nfields++;
	MemoryContextSwitchTo(old);
	return field;
}

/*
 * resolve_columns
 *		Which columns a result column feeds: those whose property is its
 *		name, and those without a property whose name matches ignoring case
 *		and underscores.  Usually one, possibly several, possibly none.
 */
static void
resolve_columns(HuntParse *p, HuntField *field)
{
	char	   *key = palloc(strlen(field->name) + 1);
	int			i;

	graph_normalize_name(field->name, key, strlen(field->name) + 1);
	field->cols = palloc(sizeof(int) * Max(p->ncolumns, 1));
	for (i = 0; i < p->ncolumns; i++)
	{
		DefenderColumn *col = &p->columns[i];

		if (col->property ? strcmp(col->property, field->name) == 0 :
			strcmp(col->match_key, key) == 0)
			field->cols[field->ncols++] = i;
	}
	pfree(key);
}

/*
 * hunt_error_callback
 *		Say which value failed to convert, and which request it came from.
 */
static void
hunt_error_callback(void *arg)
{
	HuntParse  *p = (HuntParse *) arg;

	if (p->cur_col >= 0 && p->cur_field)
	{
		DefenderColumn *col = &p->columns[p->cur_col];

		if (p->cur_field->kusto_type)
			errcontext("column \"%s\" of \"%s\" (hunting result column \"%s\" of type %s, row " INT64_FORMAT ")",
					   col->name, p->relname, p->cur_field->name,
					   p->cur_field->kusto_type, p->row);
		else
			errcontext("column \"%s\" of \"%s\" (hunting result column \"%s\", row " INT64_FORMAT ")",
					   col->name, p->relname, p->cur_field->name, p->row);
	}
	else if (p->in_row)
		errcontext("row " INT64_FORMAT " of the hunting result, for \"%s\"",
				   p->row, p->relname);
	errcontext("remote request: %s", p->display);
}
