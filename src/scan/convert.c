/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  Turns JSON values from Graph into Datums of the declared column type.
 *
 * The column's type decides, not the property's:
 *	- json and jsonb columns receive the raw JSON of any value;
 *	- array columns take a JSON array of scalars, element by element;
 *	- any other type takes a JSON scalar through the type's input function
 *	  (strings as they are, numbers in an exact decimal form, booleans as
 *	  true/false), so text, timestamptz, integer, uuid, numeric ... all
 *	  work and a value that does not fit fails with the type's own message;
 *	  a number goes only into numeric and string types, a boolean only into
 *	  boolean and string types;
 *	- an interval also takes Kusto's TimeSpan text ("1.02:03:04.5000000").
 * The input functions of text, bigint, integer, boolean, timestamptz and
 * timestamp are skipped for the forms Graph sends (plain digits, true and
 * false, "2025-03-01T12:34:56.1234567Z"): a hunting result holds hundreds
 * of thousands of such values, and the general parsers (timestamptz_in
 * above all) cost more than everything else done per value.  Each shortcut
 * computes exactly what the input function would, and hands anything it
 * does not recognise to the input function; sql/hunt.sql compares the
 * two on thousands of values.
 * JSON null and an absent property are SQL NULL.  An object or array where
 * a scalar is expected is an error that names the JSON type and shows the
 * value; the caller's error context names the column.
 *
 * Two readers share these rules: defender_json_to_datum() for values of a
 * jansson document (incidents and alerts pages), and the streaming reader
 * of hunting results (hunting_result.c), which never builds a document and
 * hands over each scalar as its kind and literal text (so a long above
 * 2^53 stays exact).  Both end up in defender_scalar_to_datum() and
 * defender_elements_to_datum(), so a value converts the same way whichever
 * reader saw it.
 *
 * src/scan/convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "defender_scan.h"
#include "pg_jansson.h"

static void column_init_type(DefenderColumn *col, Form_pg_attribute att);
static DefenderJsonKind jansson_kind(json_t *value);
static char *jansson_scalar_text(json_t *value, char *numbuf);
static char *json_excerpt(json_t *value);
static char *from_utf8(const char *text, size_t len);
static char *kusto_timespan_to_interval(const char *text);
static int	fast_input_for(Oid typid);
static bool parse_int_digits(const char *text, size_t len, int maxdigits,
							 int64 *result);
static int64 iso_fraction_usecs(const char *digits, int n);
static inline bool fast_scalar(DefenderColumn *col, const char *text, size_t len,
							   bool element, Datum *result);

/*
 * defender_column_build
 *		Prepare the conversion of one column of a foreign table, from the
 *		catalogs; column_cache.c keeps the result for the next scan
 *		(callers use defender_column_init, which asks the cache first).
 *
 * The Graph property comes from the column's "property" option, else from
 * the resource's property whose name matches ignoring case and
 * underscores; a column matching no known property is matched the same
 * loose way against each row's keys, so new Graph properties can be read
 * before defender_fdw knows them.
 */
void
defender_column_build(DefenderColumn *col, Relation rel, AttrNumber attnum,
					  const GraphResource *resource)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

	memset(col, 0, sizeof(DefenderColumn));
	col->attnum = attnum;
	col->name = pstrdup(NameStr(att->attname));
	col->property = defender_column_property(RelationGetRelid(rel), attnum);
	if (col->property == NULL && resource != NULL)
	{
		const GraphProperty *prop = graph_match_property(resource, col->name);

		if (prop)
			col->property = pstrdup(prop->name);
	}
	graph_normalize_name(col->property ? col->property : col->name,
						 col->match_key, sizeof(col->match_key));
	column_init_type(col, att);
	if (col->property && resource != NULL && !col->is_json && !col->is_array)
	{
		const GraphProperty *prop = graph_find_property(resource, col->property);

		if (prop && prop->kind == GRAPH_ENUM)
			col->enum_members = prop->members;
	}
}

/*
 * defender_column_init_attr
 *		Prepare the conversion of one attribute of a bare TupleDesc (a
 *		function's column definition list): no property, so the column
 *		matches JSON keys by its name ignoring case and underscores.
 */
void
defender_column_init_attr(DefenderColumn *col, TupleDesc desc, AttrNumber attnum)
{
	Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);

	memset(col, 0, sizeof(DefenderColumn));
	col->attnum = attnum;
	col->name = pstrdup(NameStr(att->attname));
	col->property = NULL;
	graph_normalize_name(col->name, col->match_key, sizeof(col->match_key));
	column_init_type(col, att);
	defender_column_check_shortcut(col);
}

/*
 * The type half of a column's set-up: input function, category,
 * array-ness, and the shortcut its type could take (checked per scan).
 */
static void
column_init_type(DefenderColumn *col, Form_pg_attribute att)
{
	Oid			infunc;
	Oid			basetype;
	bool		preferred;

	col->typid = att->atttypid;
	col->typmod = att->atttypmod;
	basetype = getBaseType(col->typid);
	col->is_json = (basetype == JSONBOID || basetype == JSONOID);
	col->elemtype = col->is_json ? InvalidOid : get_element_type(col->typid);
	col->is_array = OidIsValid(col->elemtype);

	if (col->is_array)
	{
		get_typlenbyvalalign(col->elemtype, &col->elemlen, &col->elembyval,
							 &col->elemalign);
		getTypeInputInfo(col->elemtype, &infunc, &col->ioparam);
	}
	else
		getTypeInputInfo(col->typid, &infunc, &col->ioparam);
	fmgr_info(infunc, &col->input);
	get_type_category_preferred(getBaseType(col->is_array ? col->elemtype : col->typid),
								&col->category, &preferred);
	col->fast = col->is_json ? DFW_FAST_NONE :
		fast_input_for(col->is_array ? col->elemtype : col->typid);
}

/*
 * fast_input_for
 *		Which shortcut of its input function a type has (DFW_FAST_NONE for
 *		a domain or any other type: its own input function runs).  The
 *		timestamp shortcuts still have to pass defender_column_check_shortcut
 *		in the scan that uses them.
 */
static int
fast_input_for(Oid typid)
{
	switch (typid)
	{
		case TEXTOID:
			return DFW_FAST_TEXT;
		case INT8OID:
			return DFW_FAST_INT8;
		case INT4OID:
			return DFW_FAST_INT4;
		case BOOLOID:
			return DFW_FAST_BOOL;
		case TIMESTAMPTZOID:
			return DFW_FAST_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return DFW_FAST_TIMESTAMP;
		default:
			return DFW_FAST_NONE;
	}
}

/*
 * defender_column_check_shortcut
 *		Turn a column's timestamp shortcut off when it would not compute
 *		what the input function computes now.
 *
 * The shortcut reads "Z" as UTC, which is what the input functions do
 * unless timezone_abbreviations redefines Z.  That setting can change
 * between two scans of one session, so this runs at the start of every
 * scan, cached column or not: a probe value is converted both ways, and
 * any difference turns the shortcut off for this scan.
 */
void
defender_column_check_shortcut(DefenderColumn *col)
{
	const char *probe = "2000-02-29T23:59:59.1234565Z";
	Oid			typid = col->is_array ? col->elemtype : col->typid;
	int64		fast;
	Datum		slow;

	if (col->fast != DFW_FAST_TIMESTAMPTZ && col->fast != DFW_FAST_TIMESTAMP)
		return;
	if (!defender_parse_iso_utc(probe, &fast))
	{
		col->fast = DFW_FAST_NONE;
		return;
	}
	slow = InputFunctionCall(&col->input, unconstify(char *, probe), typid, -1);
	if (DatumGetInt64(slow) != fast)
		col->fast = DFW_FAST_NONE;
}

/*
 * parse_int_digits
 *		"[-]d..." (len bytes) with 1 to maxdigits digits and nothing else, so
 *		that the value cannot overflow; false for anything else (a sign +,
 *		spaces, more digits, an exponent), which the input function then
 *		reads or rejects.
 */
static bool
parse_int_digits(const char *text, size_t len, int maxdigits, int64 *result)
{
	const char *p = text;
	const char *end = text + len;
	bool		negative = false;
	int64		value = 0;

	if (p < end && *p == '-')
	{
		negative = true;
		p++;
	}
	if (p == end || end - p > maxdigits)
		return false;
	for (; p < end; p++)
	{
		if (*p < '0' || *p > '9')
			return false;
		value = value * 10 + (*p - '0');
	}
	*result = negative ? -value : value;
	return true;
}

/*
 * iso_fraction_usecs
 *		The microseconds of a fraction of a second given as n digits (1 to
 *		9), as PostgreSQL's date/time parser makes them:
 *		rint(strtod(".ddd") * 1000000).
 *
 * Without strtod: the digits as an integer divided by 10^n is the double
 * nearest to the decimal fraction (both operands are exact, and IEEE
 * division rounds correctly, as glibc's strtod does), so the product and
 * its rounding, ties included, are the same.  test/checks/convert_check.c
 * compares the two on every fraction of up to 7 digits and on random ones
 * of 8 and 9.
 */
static int64
iso_fraction_usecs(const char *digits, int n)
{
	static const double pow10[] = {1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
	int64		v = 0;
	int			i;

	for (i = 0; i < n; i++)
		v = v * 10 + (digits[i] - '0');
	return (int64) rint(((double) v / pow10[n]) * 1000000);
}

/*
 * defender_parse_iso_utc
 *		"YYYY-MM-DDTHH:MM:SS[.f...]Z" (years 1 to 9999, up to 9 fraction
 *		digits), the form Graph writes every DateTime in, as the Timestamp
 *		timestamptz_in and timestamp_in make of it; false for anything else.
 *		defender_parse_iso_utc_len reads len bytes, no terminator needed.
 *
 * The fraction is rounded to microseconds the way PostgreSQL's date/time
 * parser does, rint(strtod(".fffffff") * 1000000) (iso_fraction_usecs), so
 * that 7 fraction digits (Graph's 100 ns ticks) and ties round exactly
 * alike.  Hour 24 and second 60, which PostgreSQL accepts and carries, are
 * left to it.
 */
bool
defender_parse_iso_utc(const char *text, int64 *result)
{
	return defender_parse_iso_utc_len(text, strlen(text), result);
}

bool
defender_parse_iso_utc_len(const char *text, size_t len, int64 *result)
{
	const char *p = text;
	const char *end = text + len;
	int			year,
				mon,
				mday,
				hour,
				min,
				sec;
	int64		fsec = 0;

#define DIGIT(k) ((unsigned char) (p[k] - '0') <= 9)
	if (len < 20 ||
		p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' ||
		!(DIGIT(0) && DIGIT(1) && DIGIT(2) && DIGIT(3) && DIGIT(5) && DIGIT(6) &&
		  DIGIT(8) && DIGIT(9) && DIGIT(11) && DIGIT(12) && DIGIT(14) &&
		  DIGIT(15) && DIGIT(17) && DIGIT(18)))
		return false;
#undef DIGIT
#define D2(k) ((p[k] - '0') * 10 + (p[(k) + 1] - '0'))
	year = D2(0) * 100 + D2(2);
	mon = D2(5);
	mday = D2(8);
	hour = D2(11);
	min = D2(14);
	sec = D2(17);
#undef D2
	if (year < 1 || mon < 1 || mon > MONTHS_PER_YEAR || mday < 1 ||
		mday > day_tab[isleap(year)][mon - 1] ||
		hour >= HOURS_PER_DAY || min >= MINS_PER_HOUR || sec >= SECS_PER_MINUTE)
		return false;
	p += 19;
	if (*p == '.')
	{
		const char *frac = ++p;
		int			n;

		while (p < end && *p >= '0' && *p <= '9')
			p++;
		n = (int) (p - frac);
		if (n < 1 || n > 9)
			return false;
		fsec = iso_fraction_usecs(frac, n);
	}
	if (end - p != 1 || *p != 'Z')
		return false;
	*result = (int64) (date2j(year, mon, mday) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		((int64) ((hour * MINS_PER_HOUR + min) * SECS_PER_MINUTE + sec)) * USECS_PER_SEC +
		fsec;
	return true;
}

/*
 * defender_column_lookup
 *		The column's value in a row object; NULL when absent.
 */
json_t *
defender_column_lookup(DefenderColumn *col, json_t *object)
{
	const char *key;
	json_t	   *value;
	char		normalized[NAMEDATALEN];

	if (col->property)
	{
		value = json_object_get(object, col->property);
		if (value)
			return value;
	}
	json_object_foreach(object, key, value)
	{
		graph_normalize_name(key, normalized, sizeof(normalized));
		if (strcmp(normalized, col->match_key) == 0)
			return value;
	}
	return NULL;
}

/*
 * defender_json_to_datum
 *		Convert a JSON value to the column's type, in CurrentMemoryContext.
 */
Datum
defender_json_to_datum(DefenderColumn *col, json_t *value, bool *isnull)
{
	char		numbuf[64];
	DefenderJsonKind kind;

	*isnull = (value == NULL || json_is_null(value));
	if (*isnull)
		return (Datum) 0;

	if (col->is_json)
	{
		size_t		size = json_dumpb(value, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
		char	   *text = palloc(size + 1);

		json_dumpb(value, text, size, JSON_ENCODE_ANY | JSON_COMPACT);
		text[size] = '\0';
		return InputFunctionCall(&col->input, from_utf8(text, size),
								 col->ioparam, col->typmod);
	}

	kind = jansson_kind(value);
	if (col->is_array)
	{
		size_t		n = json_array_size(value);
		DefenderJsonKind *kinds;
		char	  **texts;
		size_t		i;

		if (kind != DFW_JSON_ARRAY)
			defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
								   json_excerpt(value));
		kinds = palloc(sizeof(DefenderJsonKind) * (n > 0 ? n : 1));
		texts = palloc(sizeof(char *) * (n > 0 ? n : 1));
		for (i = 0; i < n; i++)
		{
			json_t	   *elem = json_array_get(value, i);

			kinds[i] = jansson_kind(elem);
			if (kinds[i] == DFW_JSON_OBJECT || kinds[i] == DFW_JSON_ARRAY)
				defender_unconvertible(col, DFW_JSON_ARRAY, kinds[i], col->typid,
									   json_excerpt(value));
			texts[i] = kinds[i] == DFW_JSON_NULL ? NULL :
				pstrdup(jansson_scalar_text(elem, numbuf));
		}
		return defender_elements_to_datum(col, (int) n, kinds, texts);
	}

	if (kind == DFW_JSON_OBJECT || kind == DFW_JSON_ARRAY)
		defender_unconvertible(col, kind, DFW_JSON_NULL, col->typid,
							   json_excerpt(value));

	if (kind == DFW_JSON_STRING && col->enum_members)
	{
		/* the schema's spelling of an enumeration's member (graph_enum_member) */
		const char *member = graph_enum_member(col->enum_members, json_string_value(value));

		if (member)
			return defender_scalar_to_datum(col, kind, member, false);
	}
	return defender_scalar_to_datum(col, kind, jansson_scalar_text(value, numbuf),
									false);
}

/*
 * defender_scalar_to_datum
 *		Convert a JSON scalar, given as its kind and text, to the column's
 *		type (or, with element, to its element type), in
 *		CurrentMemoryContext.
 *
 * text is in the server encoding: a string's decoded value, or a number's
 * or boolean's literal.  A number goes only into numeric and string types,
 * a boolean only into boolean and string types: a number read as a
 * timestamp would otherwise fail with a misleading message, or worse,
 * succeed.  A string goes through the type's input function as it is,
 * except that an interval takes Kusto's TimeSpan form ("1.02:03:04.5") too.
 * kind must not be DFW_JSON_NULL, DFW_JSON_OBJECT or DFW_JSON_ARRAY.
 */
Datum
defender_scalar_to_datum(DefenderColumn *col, DefenderJsonKind kind,
						 const char *text, bool element)
{
	Oid			typid = col->is_array ? col->elemtype : col->typid;
	Datum		fast;

	if ((kind == DFW_JSON_NUMBER && col->category != TYPCATEGORY_NUMERIC &&
		 col->category != TYPCATEGORY_STRING) ||
		(kind == DFW_JSON_BOOLEAN && col->category != TYPCATEGORY_BOOLEAN &&
		 col->category != TYPCATEGORY_STRING))
		defender_unconvertible(col, kind, DFW_JSON_NULL, typid, text);

	if (kind == DFW_JSON_STRING && col->category == TYPCATEGORY_TIMESPAN &&
		getBaseType(typid) == INTERVALOID)
	{
		char	   *converted = kusto_timespan_to_interval(text);

		if (converted)
			text = converted;
	}

	if (fast_scalar(col, text, strlen(text), element, &fast))
		return fast;
	return InputFunctionCall(&col->input, unconstify(char *, text), col->ioparam,
							 element ? -1 : col->typmod);
}

/*
 * defender_scalar_bytes_to_datum
 *		defender_scalar_to_datum for a scalar's text given as len bytes with
 *		no terminator (the hunting reader's values, where they lie in the
 *		response): the shortcuts read the bytes in place; only a value left
 *		to an input function, or one that fails, is copied (into scratch)
 *		and goes the whole way.
 */
Datum
defender_scalar_bytes_to_datum(DefenderColumn *col, DefenderJsonKind kind,
							   const char *text, size_t len, StringInfo scratch)
{
	Datum		fast;

	/* the shortcuts' types take what they recognise of any kind but these */
	if (!((kind == DFW_JSON_NUMBER && col->category != TYPCATEGORY_NUMERIC &&
		   col->category != TYPCATEGORY_STRING) ||
		  (kind == DFW_JSON_BOOLEAN && col->category != TYPCATEGORY_BOOLEAN &&
		   col->category != TYPCATEGORY_STRING)) &&
		fast_scalar(col, text, len, false, &fast))
		return fast;
	if (text != scratch->data)
	{
		resetStringInfo(scratch);
		appendBinaryStringInfo(scratch, text, (int) len);
	}
	return defender_scalar_to_datum(col, kind, scratch->data, false);
}

/*
 * fast_scalar
 *		The column type's shortcut (fast_input_for) on len bytes of text:
 *		true and *result when it recognises the text, false to leave it to
 *		the input function.  No interval here: its shortcut is a rewrite for
 *		the input function (and an interval column has no fast input).
 */
static inline bool
fast_scalar(DefenderColumn *col, const char *text, size_t len, bool element,
			Datum *result)
{
	int64		v;

	switch (col->fast)
	{
		case DFW_FAST_TEXT:
			*result = PointerGetDatum(cstring_to_text_with_len(text, (int) len));
			return true;
		case DFW_FAST_INT8:
			if (parse_int_digits(text, len, 18, &v))
			{
				*result = Int64GetDatum(v);
				return true;
			}
			break;
		case DFW_FAST_INT4:
			if (parse_int_digits(text, len, 9, &v))
			{
				*result = Int32GetDatum((int32) v);
				return true;
			}
			break;
		case DFW_FAST_BOOL:
			if (len == 4 && memcmp(text, "true", 4) == 0)
			{
				*result = BoolGetDatum(true);
				return true;
			}
			if (len == 5 && memcmp(text, "false", 5) == 0)
			{
				*result = BoolGetDatum(false);
				return true;
			}
			break;
		case DFW_FAST_TIMESTAMPTZ:
		case DFW_FAST_TIMESTAMP:
			/* a typmod rounds further: left to the input function */
			if ((element || col->typmod < 0 || col->typmod == MAX_TIMESTAMP_PRECISION) &&
				defender_parse_iso_utc_len(text, len, &v))
			{
				*result = Int64GetDatum(v);
				return true;
			}
			break;
	}
	return false;
}

/*
 * defender_elements_to_datum
 *		An array of the column's type from the scalars of a JSON array
 *		(kinds[i] DFW_JSON_NULL for a null element, texts[i] then unused).
 */
Datum
defender_elements_to_datum(DefenderColumn *col, int n,
						   const DefenderJsonKind *kinds, char *const *texts)
{
	Datum	   *elems = palloc(sizeof(Datum) * (n > 0 ? n : 1));
	bool	   *nulls = palloc(sizeof(bool) * (n > 0 ? n : 1));
	int			dims[1];
	int			lbs[1] = {1};
	int			i;

	Assert(col->is_array);
	for (i = 0; i < n; i++)
	{
		nulls[i] = (kinds[i] == DFW_JSON_NULL);
		elems[i] = nulls[i] ? (Datum) 0 :
			defender_scalar_to_datum(col, kinds[i], texts[i], true);
	}
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  col->elemtype, col->elemlen,
											  col->elembyval, col->elemalign));
}

/*
 * defender_unconvertible
 *		ERROR: a JSON value of this kind (an array holding an element of
 *		kind element, when element is not DFW_JSON_NULL) cannot become type
 *		typid.  excerpt shows the value, in the server encoding.
 */
void
defender_unconvertible(DefenderColumn *col, DefenderJsonKind kind,
					   DefenderJsonKind element, Oid typid, const char *excerpt)
{
	if (element != DFW_JSON_NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("cannot convert a JSON %s holding a JSON %s to type %s",
						defender_json_kind_name(kind),
						defender_json_kind_name(element), format_type_be(typid)),
				 errdetail("The value is %s.", excerpt),
				 errhint("Declare the column as jsonb to receive the raw JSON.")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("cannot convert a JSON %s to type %s",
					defender_json_kind_name(kind), format_type_be(typid)),
			 errdetail("The value is %s.", excerpt),
			 errhint("Declare the column as jsonb to receive the raw JSON.")));
}

/* "object", "number", ... as messages name a JSON value's type */
const char *
defender_json_kind_name(DefenderJsonKind kind)
{
	switch (kind)
	{
		case DFW_JSON_STRING:
			return "string";
		case DFW_JSON_NUMBER:
			return "number";
		case DFW_JSON_BOOLEAN:
			return "boolean";
		case DFW_JSON_OBJECT:
			return "object";
		case DFW_JSON_ARRAY:
			return "array";
		case DFW_JSON_NULL:
			break;
	}
	return "null";
}

/*
 * defender_json_excerpt
 *		JSON text (server encoding) for a message: cut at 100 bytes.
 */
char *
defender_json_excerpt(const char *json, size_t len)
{
	char	   *text;
	int			keep;

	if (len <= 100)
		return pnstrdup(json, len);
	keep = pg_mbcliplen(json, 100, 97);
	text = palloc(keep + 4);
	memcpy(text, json, keep);
	strcpy(text + keep, "...");
	return text;
}

static DefenderJsonKind
jansson_kind(json_t *value)
{
	switch (json_typeof(value))
	{
		case JSON_OBJECT:
			return DFW_JSON_OBJECT;
		case JSON_ARRAY:
			return DFW_JSON_ARRAY;
		case JSON_STRING:
			return DFW_JSON_STRING;
		case JSON_INTEGER:
		case JSON_REAL:
			return DFW_JSON_NUMBER;
		case JSON_TRUE:
		case JSON_FALSE:
			return DFW_JSON_BOOLEAN;
		default:
			return DFW_JSON_NULL;
	}
}

/*
 * jansson_scalar_text
 *		Text form of a jansson scalar, in the server encoding.
 *
 * numbuf (64 bytes) holds numbers.  jansson has already parsed them, so
 * integers are printed back exactly and doubles in their shortest exact
 * form, as float8out does, so 0.1 stays 0.1.
 */
static char *
jansson_scalar_text(json_t *value, char *numbuf)
{
	switch (json_typeof(value))
	{
		case JSON_STRING:
			if (strlen(json_string_value(value)) != json_string_length(value))
				ereport(ERROR,
						(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
						 errmsg("JSON string contains a \\u0000 character, which PostgreSQL text cannot hold")));
			return from_utf8(json_string_value(value), json_string_length(value));
		case JSON_INTEGER:
			snprintf(numbuf, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
			return numbuf;
		case JSON_REAL:
			double_to_shortest_decimal_buf(json_real_value(value), numbuf);
			return numbuf;
		case JSON_TRUE:
			return "true";
		case JSON_FALSE:
			return "false";
		default:
			return "";			/* objects, arrays and null never get here */
	}
}

/* The value as compact JSON, cut at 100 bytes. */
static char *
json_excerpt(json_t *value)
{
	size_t		size = json_dumpb(value, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT);
	char	   *text = palloc(size + 1);

	json_dumpb(value, text, size, JSON_ENCODE_ANY | JSON_COMPACT);
	text[size] = '\0';
	if (size > 100)
		strcpy(text + pg_mbcliplen(text, (int) size, 97), "...");
	return from_utf8(text, strlen(text));
}

/*
 * from_utf8
 *		JSON text is UTF-8; the database may use another encoding.
 */
static char *
from_utf8(const char *text, size_t len)
{
	if (GetDatabaseEncoding() == PG_UTF8)
		return (char *) text;
	return pg_any_to_server(text, (int) len, PG_UTF8);
}

/*
 * kusto_timespan_to_interval
 *		Kusto's TimeSpan text "[-][d.]hh:mm:ss[.fffffff]" in a form
 *		interval_in reads, or NULL when text is not in that form.
 *
 * interval_in gives each field its own sign ("-1 day 02:00" is 22 hours
 * back), while Kusto's leading minus applies to the whole value, so a
 * negative value is written with the minus on both fields:
 * "-1.02:03:04.5" becomes "-1 days -02:03:04.5".  The days stay days
 * (not 26 hours), as Kusto counts them; the seven fraction digits are
 * rounded to microseconds by interval_in.
 */
static char *
kusto_timespan_to_interval(const char *text)
{
	const char *p = text;
	const char *days = NULL;
	size_t		ndays = 0;
	const char *clock;
	const char *frac = NULL;
	size_t		nfrac = 0;
	bool		negative = false;
	const char *q;

	if (*p == '-')
	{
		negative = true;
		p++;
	}
	/* digits, then either '.' (they were days) or ':' (they were hours) */
	for (q = p; isdigit((unsigned char) *q); q++)
		;
	if (q == p || q - p > 9)
		return NULL;
	if (*q == '.')
	{
		days = p;
		ndays = q - p;
		p = q + 1;
	}
	clock = p;
	/* hh:mm:ss, two digits each */
	if (!(isdigit((unsigned char) p[0]) && isdigit((unsigned char) p[1]) && p[2] == ':' &&
		  isdigit((unsigned char) p[3]) && isdigit((unsigned char) p[4]) && p[5] == ':' &&
		  isdigit((unsigned char) p[6]) && isdigit((unsigned char) p[7])))
		return NULL;
	if ((p[0] - '0') * 10 + (p[1] - '0') > 23 ||
		(p[3] - '0') * 10 + (p[4] - '0') > 59 ||
		(p[6] - '0') * 10 + (p[7] - '0') > 59)
		return NULL;
	p += 8;
	if (*p == '.')
	{
		frac = ++p;
		while (isdigit((unsigned char) *p))
			p++;
		nfrac = p - frac;
		if (nfrac == 0 || nfrac > 7)
			return NULL;
	}
	if (*p != '\0')
		return NULL;

	return psprintf("%s%.*s days %s%.8s%s%.*s",
					negative ? "-" : "",
					days ? (int) ndays : 1, days ? days : "0",
					negative ? "-" : "",
					clock,
					frac ? "." : "", (int) nfrac, frac ? frac : "");
}

/*
 * json_text_copy
 *		Compact JSON text of a jansson value (any value, not only a
 *		container), in palloc'd memory, or NULL when memory ran out on
 *		either side; with release, the value (which may be NULL, after a
 *		failed build) is released either way.  Nothing here raises, so no
 *		foreign memory is left behind by the caller's out-of-memory error.
 *
 * The one copy from jansson's memory into PostgreSQL's.
 */
static char *
json_text_copy(json_t *value, bool release)
{
	char	   *dumped = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char	   *result = NULL;

	if (value && release)
		json_decref(value);
	if (dumped != NULL)
	{
		size_t		len = strlen(dumped);

		result = palloc_extended(len + 1, MCXT_ALLOC_NO_OOM);
		if (result)
			memcpy(result, dumped, len + 1);
		free(dumped);
	}
	return result;
}

/*
 * defender_dump_json
 *		Compact JSON text of a jansson value, in palloc'd memory; the value
 *		(which may be NULL, after a failed build) is released either way.
 */
char *
defender_dump_json(json_t *value, const char *what)
{
	char	   *result = json_text_copy(value, true);

	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building %s", what)));
	return result;
}

/*
 * defender_json_to_jsonb
 *		A jansson value (owned elsewhere, and left alone) as a jsonb Datum.
 */
Datum
defender_json_to_jsonb(json_t *value)
{
	char	   *text = json_text_copy(value, false);

	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory converting a JSON value")));
	text = pg_any_to_server(text, (int) strlen(text), PG_UTF8);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
}
