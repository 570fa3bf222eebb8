/*-------------------------------------------------------------------------
 *
 * convert.c
 *		  Turns JSON values from Graph into Datums of the declared column type.
 *
 * The column's type decides, not the property's:
 *	- json and jsonb columns receive the raw JSON of any value;
 *	- array columns take a JSON array of scalars, element by element;
 *	- any other type takes a JSON scalar through the type's input function
 *	  (strings as they are, numbers in their shortest exact form, booleans
 *	  as true/false), so text, timestamptz, integer, uuid, numeric ... all
 *	  work and a value that does not fit fails with the type's own message.
 * JSON null and an absent property are SQL NULL.  An object or array where
 * a scalar is expected is an error that names the JSON type and shows the
 * value; the caller's error context names the column.
 *
 * src/convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "defender_fdw.h"
#include "pg_jansson.h"

static const char *json_type_name(json_t *value);
static char *scalar_text(DefenderColumn *col, json_t *value, char *numbuf);
static char *json_excerpt(json_t *value);
static char *from_utf8(const char *text, size_t len);

/*
 * defender_column_init
 *		Prepare the conversion of one column of a foreign table.
 *
 * The Graph property comes from the column's "property" option, else from
 * the resource's property whose name matches ignoring case and
 * underscores; a column matching no known property is matched the same
 * loose way against each row's keys, so new Graph properties can be read
 * before defender_fdw knows them.
 */
void
defender_column_init(DefenderColumn *col, Relation rel, AttrNumber attnum,
					 const GraphResource *resource)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	Oid			infunc;
	Oid			basetype;
	bool		preferred;

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

	if (col->is_array)
	{
		size_t		n = json_array_size(value);
		Datum	   *elems;
		bool	   *nulls;
		int			dims[1];
		int			lbs[1] = {1};
		size_t		i;

		if (!json_is_array(value))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("cannot convert a JSON %s to type %s",
							json_type_name(value), format_type_be(col->typid)),
					 errdetail("The value is %s.", json_excerpt(value)),
					 errhint("Declare the column as jsonb to receive the raw JSON.")));
		elems = palloc(sizeof(Datum) * (n > 0 ? n : 1));
		nulls = palloc(sizeof(bool) * (n > 0 ? n : 1));
		for (i = 0; i < n; i++)
		{
			json_t	   *elem = json_array_get(value, i);

			nulls[i] = json_is_null(elem);
			if (nulls[i])
			{
				elems[i] = (Datum) 0;
				continue;
			}
			if (json_is_object(elem) || json_is_array(elem))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("cannot convert a JSON array holding a JSON %s to type %s",
								json_type_name(elem), format_type_be(col->typid)),
						 errdetail("The value is %s.", json_excerpt(value)),
						 errhint("Declare the column as jsonb to receive the raw JSON.")));
			elems[i] = InputFunctionCall(&col->input, scalar_text(col, elem, numbuf),
										 col->ioparam, -1);
		}
		dims[0] = (int) n;
		return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
												  col->elemtype, col->elemlen,
												  col->elembyval, col->elemalign));
	}

	if (json_is_object(value) || json_is_array(value))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("cannot convert a JSON %s to type %s",
						json_type_name(value), format_type_be(col->typid)),
				 errdetail("The value is %s.", json_excerpt(value)),
				 errhint("Declare the column as jsonb to receive the raw JSON.")));

	return InputFunctionCall(&col->input, scalar_text(col, value, numbuf),
							 col->ioparam, col->typmod);
}

/*
 * scalar_text
 *		Text form of a JSON scalar for a type input function.
 *
 * numbuf (64 bytes) holds numbers.  Doubles are printed in their shortest
 * exact form, as float8out does, so 0.1 stays 0.1.  A JSON number goes only
 * into numeric and string types, a boolean only into boolean and string
 * types: a number read as a timestamp would otherwise fail with a
 * misleading message, or worse, succeed.
 */
static char *
scalar_text(DefenderColumn *col, json_t *value, char *numbuf)
{
	bool		number = json_is_number(value);
	bool		boolean = json_is_boolean(value);

	if ((number && col->category != TYPCATEGORY_NUMERIC &&
		 col->category != TYPCATEGORY_STRING) ||
		(boolean && col->category != TYPCATEGORY_BOOLEAN &&
		 col->category != TYPCATEGORY_STRING))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("cannot convert a JSON %s to type %s",
						json_type_name(value),
						format_type_be(col->is_array ? col->elemtype : col->typid)),
				 errdetail("The value is %s.", json_excerpt(value)),
				 errhint("Declare the column as jsonb to receive the raw JSON.")));

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

static const char *
json_type_name(json_t *value)
{
	switch (json_typeof(value))
	{
		case JSON_OBJECT:
			return "object";
		case JSON_ARRAY:
			return "array";
		case JSON_STRING:
			return "string";
		case JSON_INTEGER:
		case JSON_REAL:
			return "number";
		case JSON_TRUE:
		case JSON_FALSE:
			return "boolean";
		default:
			return "null";
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
