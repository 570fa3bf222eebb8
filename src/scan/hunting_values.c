/*-------------------------------------------------------------------------
 *
 * hunting_values.c
 *		  The value of one field of a hunting result, from its raw JSON to a
 *		  Datum of its column's type.
 *
 * hunting_result.c reads a runHuntingQuery answer without building a tree:
 * a field's value arrives as its raw JSON, the answer's own bytes.  Here
 * that text becomes a Datum: its JSON kind from its first byte, a string
 * de-escaped only when it holds a backslash (as PostgreSQL's de-escaping
 * lexer would), a scalar handed to convert.c as its kind and literal text,
 * a JSON array parsed again for an array column, anything else raw to a
 * json or jsonb column.  Strings are decoded by json_scanner.c's
 * defender_json_decode_string.
 *
 * The rules are convert.c's, shared with the incidents path:
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
 * A value that does not convert is an ERROR whose context (set by
 * hunting_result.c) names the column, the relation, the result column and
 * the row number.
 *
 *
 * Called by hunting_result.c only (declared in hunting_values.h); calls
 * convert.c.
 *
 * src/scan/hunting_values.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "defender_scan.h"
#include "hunting_values.h"
#include "defender_json.h"

/* jsonapi's callbacks return an error code since PostgreSQL 16 */
#if PG_VERSION_NUM >= 160000
#define JSON_CB_TYPE JsonParseErrorType
#define JSON_CB_OK JSON_SUCCESS
#else
#define JSON_CB_TYPE void
#define JSON_CB_OK
#endif

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

static Datum array_to_datum(DefenderColumn *col, const char *raw, size_t rawlen);
static JSON_CB_TYPE element_scalar(void *state, char *token, JsonTokenType tokentype);
static JSON_CB_TYPE element_nested(void *state);
static DefenderJsonKind token_kind(JsonTokenType tokentype);

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
 * defender_hunting_value
 *		A field's value (raw JSON, rawlen bytes of the answer) as a Datum of
 *		col's type (the rules are in the header comment).  escaped says
 *		whether a string value holds a backslash (the scanner saw it, so
 *		the bytes are not searched again); scratch is the reader's buffer
 *		for a value's text; utf8 says the database encoding is UTF-8.
 *
 * A value is read where it lies in the answer: a string without an escape,
 * a number and a boolean reach their type's shortcut (convert.c) with no
 * copy; only a decoded string, or a value left to an input function, goes
 * through scratch.
 */
Datum
defender_hunting_value(DefenderColumn *col, const char *raw, size_t rawlen,
					   bool escaped, bool utf8, StringInfo scratch, bool *isnull)
{
	DefenderJsonKind kind;

	switch (raw[0])
	{
		case '"':
			kind = DFW_JSON_STRING;
			break;
		case 't':
		case 'f':
			kind = DFW_JSON_BOOLEAN;
			break;
		case 'n':
			kind = DFW_JSON_NULL;
			break;
		case '{':
			kind = DFW_JSON_OBJECT;
			break;
		case '[':
			kind = DFW_JSON_ARRAY;
			break;
		default:
			kind = DFW_JSON_NUMBER;
			break;
	}

	*isnull = false;
	if (kind == DFW_JSON_NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (col->is_json)
		return InputFunctionCall(&col->input, pnstrdup(raw, rawlen),
								 col->ioparam, col->typmod);
	if (kind != DFW_JSON_OBJECT && kind != DFW_JSON_ARRAY)
	{
		/* the text the de-escaping parser would have handed over */
		const char *text = raw;
		size_t		len = rawlen;

		if (kind == DFW_JSON_STRING)
		{
			text = raw + 1;
			len = rawlen - 2;
			Assert(escaped == (memchr(text, '\\', len) != NULL));
			if (escaped)
			{
				defender_json_decode_string(text, len, utf8, scratch);
				text = scratch->data;
				len = scratch->len;
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
		return defender_scalar_bytes_to_datum(col, kind, text, len, scratch);
	}
	if (col->is_array)
	{
		if (kind != DFW_JSON_ARRAY)
			defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
								   defender_json_excerpt(raw, rawlen));
		return array_to_datum(col, raw, rawlen);
	}
	defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
						   defender_json_excerpt(raw, rawlen));
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
