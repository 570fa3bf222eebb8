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
 * tree.  An incremental scanner (json_scanner.c: PostgreSQL's JSON grammar
 * and errors, without copying strings) takes the answer chunk by chunk,
 * defender_hunting_begin() / _feed() / _finish(), and each row goes into the
 * tuplestore (which spills to disk past work_mem) as soon as its closing
 * brace has been read: a caller may feed the bytes as they arrive.  The
 * fields of a row are converted as each ends, from the answer's own bytes;
 * everything a row needs lives in a memory context that is reset after the
 * row is stored, and only the row being read is kept when a chunk ends
 * inside it.  What lasts is the name-to-column map and the schema, both as
 * small as the result's width.
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
 * Values: each field a column wants is converted as it ends, from its raw
 * JSON, by hunting_values.c (the rules are there).
 *
 * Encoding: the answer is UTF-8.  In a UTF-8 database each chunk is verified
 * (pg_verify_mbstr) and scanned in place; in any other, each chunk is
 * converted to the database encoding first (pg_any_to_server), and \u
 * escapes are converted as PostgreSQL's own lexer converts them.  A UTF-8
 * sequence cut by the end of a chunk waits for the next one.  In a chunk,
 * an encoding error is reported before anything the chunk's JSON would
 * report; defender_hunting_result_to_tuplestore() feeds the whole body as
 * one chunk, so there the order is the whole body's.
 *
 * Errors: malformed JSON is the ERROR PostgreSQL's parser would raise for
 * the same body, with json_errdetail()'s detail, at the same token; "At byte
 * N of a M-byte body" counts M as the bytes fed so far (all of them, when
 * the body is fed whole).
 *
 * Called by hunting_scan.c (a hunting table's answer) and, through
 * defender_scan.h, by src/functions/hunt_function.c (defender_hunt());
 * calls json_scanner.c, hunting_values.c and convert.c.
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
#include "defender_json.h"
#include "hunting_values.h"

/* Which top-level member the scanner is in. */
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

struct DefenderHuntingParser
{
	DfwJsonScanner scanner;
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
	bool		utf8;			/* the database encoding is UTF-8 */
	char	   *converted;		/* the last chunk converted, to free */

	/* position */
	bool		top_object;		/* the answer is a JSON object */
	HuntTop		top;			/* the top-level member being read */
	bool		in_results;		/* inside the "results" array */
	bool		in_schema;		/* inside the "schema" array */
	bool		results_seen;	/* a "results" array was found */
	int64		row;			/* 1-based number of the current or last row */
	bool		in_row;			/* inside a row object */
	uint64		row_start;		/* its first byte */

	StringInfoData scratch;		/* a value's text, NUL-terminated */
	StringInfoData namebuf;		/* a name with an escape, decoded */

	/* the row field being read (depth 3) */
	HuntField  *field;			/* NULL when no column wants it */
	uint64		value_start;

	/* the conversion under way, for the error context */
	int			cur_col;		/* index into columns[], or -1 */
	HuntField  *cur_field;

	/* the schema entry being read (depth 2 and 3 in "schema") */
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
	 * always list their fields in the same order, so one memcmp usually
	 * replaces the hash lookup.
	 */
	HuntField **by_position;
	int			npositions;
	int			position;		/* of the current field in its row */
};

static DefenderHuntingParser *begin_parse(TupleDesc desc, Tuplestorestate *store,
										  const char *display, const char *relname);
static void feed_chunk(DefenderHuntingParser *p, const char *chunk, size_t len,
					   bool last);
static void check_result(DefenderHuntingParser *p, JsonParseErrorType result);
static void report_parse_error(DefenderHuntingParser *p, JsonParseErrorType error);
static const char *prepare_chunk(void *state, const char *bytes, size_t len,
								 size_t *outlen);
static JsonParseErrorType convert_code_point(void *state, pg_wchar code_point);
static void hunt_object_start(void *state, int depth, uint64 offset);
static void hunt_object_end(void *state, int depth, uint64 end);
static void hunt_array_start(void *state, int depth, uint64 offset);
static void hunt_array_end(void *state, int depth, uint64 end);
static void hunt_element_start(void *state, int depth, JsonTokenType first);
static void hunt_field_start(void *state, int depth, const char *name,
							 size_t namelen, bool escaped, JsonTokenType first,
							 uint64 value_offset);
static void hunt_field_end(void *state, int depth, uint64 value_end);
static void begin_row(DefenderHuntingParser *p, uint64 offset);
static void end_row(DefenderHuntingParser *p, uint64 end);
static void convert_field(DefenderHuntingParser *p, uint64 value_end);
static HuntField *row_field(DefenderHuntingParser *p, const char *name, int len);
static HuntField *lookup_field(DefenderHuntingParser *p, const char *name, int len);
static const char *field_name(DefenderHuntingParser *p, const char *name,
							  size_t namelen, bool escaped, int *len);
static bool name_is(const char *name, int len, const char *word);
static void resolve_columns(DefenderHuntingParser *p, HuntField *field);
static void hunt_error_callback(void *arg);

static const DfwJsonEvents hunt_events = {
	.object_start = hunt_object_start,
	.array_start = hunt_array_start,
	.object_end = hunt_object_end,
	.array_end = hunt_array_end,
	.element_start = hunt_element_start,
	.field_start = hunt_field_start,
	.field_end = hunt_field_end,
	.prepare = prepare_chunk,
};

/* the same, where \u escapes must be converted to the database encoding */
static const DfwJsonEvents hunt_events_converting = {
	.object_start = hunt_object_start,
	.array_start = hunt_array_start,
	.object_end = hunt_object_end,
	.array_end = hunt_array_end,
	.element_start = hunt_element_start,
	.field_start = hunt_field_start,
	.field_end = hunt_field_end,
	.code_point = convert_code_point,
	.prepare = prepare_chunk,
};

/*
 * defender_hunting_result_to_tuplestore
 *		Append the rows of a runHuntingQuery answer to store.
 *
 * columns[i] (prepared by defender_column_init or defender_column_init_attr)
 * fills attribute slot_attnos[i] of desc; attributes that no column fills
 * are NULL.  display is the request and relname the relation (or function) the
 * rows are for; both appear in error messages.  Allocates in
 * CurrentMemoryContext only what lasts for the call, and frees it.  The
 * whole body at once: defender_hunting_begin() and friends take it in
 * chunks.
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
	DefenderHuntingParser *p = defender_hunting_begin(desc, columns, ncolumns,
													  slot_attnos, store,
													  display, relname);

	defender_hunting_feed_last(p, body, len);
	defender_hunting_finish(p);
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
	DefenderHuntingParser *p = defender_hunting_begin_rows(desc, store, display,
														   relname);

	defender_hunting_feed_last(p, body, len);
	defender_hunting_finish(p);
}

/*
 * defender_hunting_begin
 *		Start reading an answer whose rows go to store as typed columns
 *		(the arguments are defender_hunting_result_to_tuplestore's).
 *
 * The parser lives in a memory context below CurrentMemoryContext, which
 * defender_hunting_finish() deletes (an ERROR leaves it to the caller's
 * context).  The caller's columns, desc, store and strings must outlive it.
 */
DefenderHuntingParser *
defender_hunting_begin(TupleDesc desc, DefenderColumn *columns, int ncolumns,
					   const AttrNumber *slot_attnos, Tuplestorestate *store,
					   const char *display, const char *relname)
{
	DefenderHuntingParser *p = begin_parse(desc, store, display, relname);

	p->columns = columns;
	p->ncolumns = ncolumns;
	p->slot_attnos = slot_attnos;
	return p;
}

/*
 * defender_hunting_begin_rows
 *		Start reading an answer whose rows go to store whole, as
 *		defender_hunting_rows_to_tuplestore() stores them.
 */
DefenderHuntingParser *
defender_hunting_begin_rows(TupleDesc desc, Tuplestorestate *store,
							const char *display, const char *relname)
{
	DefenderHuntingParser *p = begin_parse(desc, store, display, relname);
	Oid			infunc;

	p->whole_rows = true;
	getTypeInputInfo(TupleDescAttr(desc, 0)->atttypid, &infunc, &p->row_ioparam);
	fmgr_info_cxt(infunc, &p->row_input, p->parse_cxt);
	p->row_typmod = TupleDescAttr(desc, 0)->atttypmod;
	return p;
}

static DefenderHuntingParser *
begin_parse(TupleDesc desc, Tuplestorestate *store, const char *display,
			const char *relname)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "defender_fdw hunting result",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(cxt);
	DefenderHuntingParser *p = palloc0(sizeof(DefenderHuntingParser));

	p->parse_cxt = cxt;
	p->row_cxt = AllocSetContextCreate(cxt, "defender_fdw hunting row",
									   ALLOCSET_DEFAULT_SIZES);
	p->desc = desc;
	p->store = store;
	p->display = display;
	p->relname = relname;
	p->utf8 = GetDatabaseEncoding() == PG_UTF8;
	p->values = palloc0(sizeof(Datum) * Max(desc->natts, 1));
	p->nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	p->cur_col = -1;
	p->nslots = 64;
	p->slots = palloc0(sizeof(HuntField *) * p->nslots);
	p->npositions = 64;
	p->by_position = palloc0(sizeof(HuntField *) * p->npositions);
	initStringInfo(&p->scratch);
	initStringInfo(&p->namebuf);
	dfw_json_scanner_init(&p->scanner,
						  p->utf8 ? &hunt_events : &hunt_events_converting,
						  p, GetDatabaseEncoding());
	MemoryContextSwitchTo(caller);
	return p;
}

/*
 * defender_hunting_feed
 *		The next len bytes of the answer, cut anywhere: rows that end in
 *		them are stored before it returns.
 *
 * May ERROR (malformed JSON, a value that does not convert, Ctrl-C), so it
 * must not be called from inside a libcurl callback: a caller that streams
 * keeps what curl hands over and feeds it between curl calls.
 */
void
defender_hunting_feed(DefenderHuntingParser *p, const char *chunk, size_t len)
{
	feed_chunk(p, chunk, len, false);
}

/*
 * defender_hunting_feed_last
 *		The rest of the answer, all of it: the same as _feed(), except that
 *		its encoding is checked whole before any of it is parsed.
 */
void
defender_hunting_feed_last(DefenderHuntingParser *p, const char *chunk, size_t len)
{
	feed_chunk(p, chunk, len, true);
}

/* Scan a chunk in the parser's context, with its error context. */
static void
feed_chunk(DefenderHuntingParser *p, const char *chunk, size_t len, bool last)
{
	ErrorContextCallback errcallback;
	MemoryContext caller = MemoryContextSwitchTo(p->parse_cxt);

	errcallback.callback = hunt_error_callback;
	errcallback.arg = p;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	check_result(p, dfw_json_scanner_feed(&p->scanner, chunk, len, last));

	error_context_stack = errcallback.previous;
	MemoryContextSwitchTo(caller);
}

/*
 * defender_hunting_finish
 *		The answer ended: check that it was whole and had rows, and free the
 *		parser.  Returns the number of rows stored.
 */
int64
defender_hunting_finish(DefenderHuntingParser *p)
{
	ErrorContextCallback errcallback;
	MemoryContext caller = MemoryContextSwitchTo(p->parse_cxt);
	int64		rows;

	errcallback.callback = hunt_error_callback;
	errcallback.arg = p;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (p->scanner.fed == 0 && p->scanner.utf8_tail_len == 0)
	{
		error_context_stack = errcallback.previous;
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph returned an empty body"),
				 errcontext("remote request: %s", p->display)));
	}
	check_result(p, dfw_json_scanner_finish(&p->scanner));

	if (!p->top_object || !p->results_seen)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph's hunting answer has no \"results\" array"),
				 errdetail(p->top_object ?
						   "The answer is a JSON object without a \"results\" member that is an array." :
						   "The answer is not a JSON object.")));

	error_context_stack = errcallback.previous;
	MemoryContextSwitchTo(caller);
	rows = p->row;
	elog(DEBUG2, "defender_fdw: hunting result of " UINT64_FORMAT " bytes: " INT64_FORMAT " rows, %d result columns, %zu bytes of parser memory",
		 p->scanner.fed, p->row, p->nfields,
		 (size_t) MemoryContextMemAllocated(p->parse_cxt, true));
	MemoryContextDelete(p->parse_cxt);
	return rows;
}

/*
 * defender_hunting_abandon
 *		Free a parser whose answer will not be finished (its request is
 *		sent again); the rows it stored stay in the store.
 */
void
defender_hunting_abandon(DefenderHuntingParser *p)
{
	MemoryContextDelete(p->parse_cxt);
}

/* ERROR unless the scanner is content so far. */
static void
check_result(DefenderHuntingParser *p, JsonParseErrorType result)
{
	if (result != JSON_SUCCESS)
		report_parse_error(p, result);
}

/*
 * report_parse_error
 *		ERROR for an answer that is not well-formed JSON.
 *
 * The detail is json_errdetail()'s, from a lexer context that shows it the
 * failing token, so that it reads as PostgreSQL's parser's would.
 */
static void
report_parse_error(DefenderHuntingParser *p, JsonParseErrorType error)
{
	char	   *detail = defender_json_error_detail(&p->scanner, error);

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
			 errdetail("%s At byte " UINT64_FORMAT " of a " UINT64_FORMAT "-byte body.",
					   detail, p->scanner.error_offset, p->scanner.fed)));
}

/*
 * prepare_chunk
 *		Scanner hook: a chunk's bytes (whole UTF-8 sequences) in the
 *		database encoding, verified.
 */
static const char *
prepare_chunk(void *state, const char *bytes, size_t len, size_t *outlen)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;
	char	   *input;

	if (p->converted)
	{
		/* the scanner has kept what it needs of the previous chunk */
		pfree(p->converted);
		p->converted = NULL;
	}
	*outlen = len;
	if (p->utf8)
	{
		(void) pg_verify_mbstr(PG_UTF8, bytes, (int) len, false);
		return bytes;
	}
	input = pg_any_to_server(bytes, (int) len, PG_UTF8);
	if (input != bytes)
	{
		p->converted = input;
		*outlen = strlen(input);
	}
	return input;
}

/*
 * convert_code_point
 *		Scanner hook (databases not in UTF-8): a \u escape's character must
 *		exist in the database encoding, as PostgreSQL's lexer requires.
 */
static JsonParseErrorType
convert_code_point(void *state, pg_wchar code_point)
{
	char		cbuf[MAX_UNICODE_EQUIVALENT_STRING + 1];

#if PG_VERSION_NUM >= 160000
	if (!pg_unicode_to_server_noerror(code_point, (unsigned char *) cbuf))
		return JSON_UNICODE_UNTRANSLATABLE;
#else
	pg_unicode_to_server(code_point, (unsigned char *) cbuf);
#endif
	return JSON_SUCCESS;
}

/*
 * field_name
 *		A member's name (namelen raw bytes between its quotes), decoded when
 *		it holds an escape.  The result is len bytes, not NUL-terminated.
 */
static const char *
field_name(DefenderHuntingParser *p, const char *name, size_t namelen,
		   bool escaped, int *len)
{
	if (!escaped)
	{
		*len = (int) namelen;
		return name;
	}
	defender_json_decode_string(name, namelen, p->utf8, &p->namebuf);
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
 * The events.  depth says where one is: the answer object is depth 0, its
 * members 1, the rows (and schema entries) 2, their fields 3; anything
 * deeper is inside a dynamic value and only matters for where that value
 * ends.
 */
static void
hunt_object_start(void *state, int depth, uint64 offset)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;

	if (depth == 0)
		p->top_object = true;
	else if (depth == 2 && p->in_results)
		begin_row(p, offset);
	else if (depth == 2 && p->in_schema)
	{
		p->in_schema_entry = true;
		p->schema_name = NULL;
		p->schema_type = NULL;
		/* its values are read from the answer when the entry ends */
		dfw_json_scanner_hold(&p->scanner, offset);
	}
}

static void
hunt_object_end(void *state, int depth, uint64 end)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;

	if (depth == 2 && p->in_row)
		end_row(p, end);
	else if (depth == 2 && p->in_schema_entry)
	{
		p->in_schema_entry = false;
		dfw_json_scanner_hold(&p->scanner, PG_UINT64_MAX);
		if (p->schema_name && p->schema_type)
		{
			HuntField  *field = lookup_field(p, p->schema_name,
											 (int) strlen(p->schema_name));

			if (field->kusto_type == NULL)
				field->kusto_type = p->schema_type;
		}
	}
}

static void
hunt_array_start(void *state, int depth, uint64 offset)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;

	if (depth == 1 && p->top == TOP_RESULTS)
	{
		p->in_results = true;
		p->results_seen = true;
	}
	else if (depth == 1 && p->top == TOP_SCHEMA)
		p->in_schema = true;
}

static void
hunt_array_end(void *state, int depth, uint64 end)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;

	if (depth == 1)
	{
		p->in_results = false;
		p->in_schema = false;
	}
}

/*
 * Every element of "results" must be a row object.  The element's first
 * token is known here; a token that cannot start a value at all is left to
 * the scanner, which reports the malformed JSON.
 */
static void
hunt_element_start(void *state, int depth, JsonTokenType first)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;

	if (depth == 2 && p->in_results &&
		(first == JSON_TOKEN_ARRAY_START || first == JSON_TOKEN_STRING ||
		 first == JSON_TOKEN_NUMBER || first == JSON_TOKEN_TRUE ||
		 first == JSON_TOKEN_FALSE || first == JSON_TOKEN_NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("row " INT64_FORMAT " of Microsoft Graph's hunting answer is not a JSON object",
						p->row + 1)));
}

static void
hunt_field_start(void *state, int depth, const char *rawname, size_t rawlen,
				 bool escaped, JsonTokenType first, uint64 value_offset)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;
	const char *name;
	int			len;

	if (depth == 3 && p->in_row)
	{
		p->field = NULL;
		if (p->ncolumns > 0)
		{
			name = field_name(p, rawname, rawlen, escaped, &len);
			p->field = row_field(p, name, len);
			if (p->field->ncols == 0)
				p->field = NULL;
		}
		p->value_start = value_offset;
	}
	else if (depth == 1)
	{
		name = field_name(p, rawname, rawlen, escaped, &len);
		if (name_is(name, len, "results"))
			p->top = TOP_RESULTS;
		else if (name_is(name, len, "schema"))
			p->top = TOP_SCHEMA;
		else
			p->top = TOP_OTHER;
	}
	else if (depth == 3 && p->in_schema_entry)
	{
		name = field_name(p, rawname, rawlen, escaped, &len);
		if (name_is(name, len, "name"))
			p->schema_key = SCHEMA_NAME;
		else if (name_is(name, len, "type"))
			p->schema_key = SCHEMA_TYPE;
		else
			p->schema_key = SCHEMA_OTHER;
		p->value_start = value_offset;
	}
}

static void
hunt_field_end(void *state, int depth, uint64 value_end)
{
	DefenderHuntingParser *p = (DefenderHuntingParser *) state;

	if (depth == 3 && p->in_row)
	{
		if (p->field)
			convert_field(p, value_end);
		p->field = NULL;
	}
	else if (depth == 1)
		p->top = TOP_OTHER;
	else if (depth == 3 && p->in_schema_entry)
	{
		const char *raw = dfw_json_scanner_at(&p->scanner, p->value_start);

		if (p->schema_key != SCHEMA_OTHER && *raw == '"')
		{
			size_t		rawlen = (size_t) (value_end - p->value_start);
			char	   *text;

			defender_json_decode_string(raw + 1, rawlen - 2, p->utf8, &p->namebuf);
			text = pstrdup(p->namebuf.data);
			if (p->schema_key == SCHEMA_NAME)
				p->schema_name = text;
			else
				p->schema_type = text;
		}
		p->schema_key = SCHEMA_OTHER;
	}
}

/*
 * begin_row
 *		A row object starts: everything until its end is allocated in the
 *		row context, and its bytes are held until it is stored.
 */
static void
begin_row(DefenderHuntingParser *p, uint64 offset)
{
	p->row++;
	p->in_row = true;
	p->position = 0;
	p->row_start = offset;
	dfw_json_scanner_hold(&p->scanner, offset);
	memset(p->nulls, true, sizeof(bool) * Max(p->desc->natts, 1));
	MemoryContextSwitchTo(p->row_cxt);
}

/*
 * end_row
 *		The row object ended: store the tuple (tuplestore_putvalues copies
 *		it into the store's memory) and forget the row.
 */
static void
end_row(DefenderHuntingParser *p, uint64 end)
{
	if (p->whole_rows)
	{
		size_t		len = (size_t) (end - p->row_start);

		p->values[0] = InputFunctionCall(&p->row_input,
										 pnstrdup(dfw_json_scanner_at(&p->scanner, p->row_start), len),
										 p->row_ioparam, p->row_typmod);
		p->nulls[0] = false;
	}
	tuplestore_putvalues(p->store, p->desc, p->values, p->nulls);

	p->in_row = false;
	dfw_json_scanner_hold(&p->scanner, PG_UINT64_MAX);
	MemoryContextSwitchTo(p->parse_cxt);
	MemoryContextReset(p->row_cxt);
	CHECK_FOR_INTERRUPTS();
}

/*
 * convert_field
 *		A row field that some column wants has ended: convert its value for
 *		each such column.  The value's raw JSON runs from where the field's
 *		value started to value_end.
 */
static void
convert_field(DefenderHuntingParser *p, uint64 value_end)
{
	HuntField  *field = p->field;
	const char *raw = dfw_json_scanner_at(&p->scanner, p->value_start);
	size_t		rawlen = (size_t) (value_end - p->value_start);
	int			i;

	p->cur_field = field;
	for (i = 0; i < field->ncols; i++)
	{
		int			ci = field->cols[i];
		AttrNumber	attno = p->slot_attnos[ci];

		p->cur_col = ci;
		p->values[attno - 1] = defender_hunting_value(&p->columns[ci], raw, rawlen,
													   p->scanner.value_escaped,
													   p->utf8, &p->scratch,
													   &p->nulls[attno - 1]);
	}
	p->cur_col = -1;
	p->cur_field = NULL;
}

/*
 * row_field
 *		The entry of a row field's name: the one at the same position in
 *		the previous row when the name is the same, else from the table.
 */
static HuntField *
row_field(DefenderHuntingParser *p, const char *name, int len)
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
lookup_field(DefenderHuntingParser *p, const char *name, int len)
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
resolve_columns(DefenderHuntingParser *p, HuntField *field)
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
	DefenderHuntingParser *p = (DefenderHuntingParser *) arg;

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
