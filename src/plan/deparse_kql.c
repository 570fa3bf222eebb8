/*-------------------------------------------------------------------------
 *
 * deparse_kql.c
 *		  Writes the KQL of an advanced-hunting scan.
 *
 * A scan becomes one query:
 *
 *	<Table | (saved query)> | where ... | project <columns read>
 *		| sort by ... | take N			(or | summarize count())
 *
 * or, when the scan reads no column at all (EXISTS, SELECT 1, count(*)
 * over a LIMIT), <source> | where ... | take N | count: one number instead
 * of a column of every row.
 *
 * The filter tree (shippable.c) is written as "the SQL condition is TRUE",
 * like the OData writer, with KQL's rules: "!=" is true for a null (so a
 * null guard is added), strings are never null (defender_fdw reads "" as
 * NULL, so "" takes null's place: IS NULL is isempty()), and datetimes have
 * 100 ns ticks (the same bound adjustment as OData).
 *
 * Every string value is a double-quoted literal with \, ", CR, LF, TAB and
 * other control characters escaped, so no value can change the query's
 * structure; column names that are not plain identifiers are bracketed.
 *
 * src/plan/deparse_kql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "defender_plan.h"

/* what write_element needs of the leaf */
typedef struct ElementContext
{
	const char *col;
	int			kind;
	int32		typmod;
} ElementContext;

static DefenderWritten write_leaf(StringInfo buf, const DefenderFilterLeaf *leaf,
								  const DefenderParamValues *params, void *arg);
static DefenderWritten write_element(StringInfo buf, DefenderFilterOp op, Datum value,
									 Oid type, void *arg);
static DefenderWritten write_value_comparison(StringInfo buf, const char *col, int kind,
											  int32 typmod, DefenderFilterOp op,
											  Datum value, Oid type);
static void append_statements(StringInfo buf, const char *source);
static void append_time_window(StringInfo buf, const DefenderKqlRequest *req);
static void write_bound(StringInfo buf, bool at_or_above, int64 ticks, void *arg);
static DefenderWritten write_any_value(StringInfo buf, void *arg);

/*
 * defender_append_kql_string
 *		A double-quoted KQL string literal that holds exactly text.
 */
void
defender_append_kql_string(StringInfo buf, const char *text)
{
	const unsigned char *p;

	appendStringInfoChar(buf, '"');
	for (p = (const unsigned char *) text; *p; p++)
	{
		switch (*p)
		{
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(buf, "\\u%04x", *p);
				else
					appendStringInfoChar(buf, (char) *p);
		}
	}
	appendStringInfoChar(buf, '"');
}

/*
 * defender_append_kql_name
 *		A column or table name: as it is when a plain identifier, else
 *		bracketed (['odd name']).
 */
void
defender_append_kql_name(StringInfo buf, const char *name)
{
	const char *p;
	bool		plain = name[0] != '\0' && (isalpha((unsigned char) name[0]) || name[0] == '_');

	for (p = name; plain && *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '_'))
			plain = false;
	if (plain)
	{
		appendStringInfoString(buf, name);
		return;
	}
	appendStringInfoString(buf, "['");
	for (p = name; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoString(buf, "']");
}

/*
 * append_statements
 *		The caller's KQL statements (defender_hunt_split()), as they are,
 *		without the semicolons and blanks that end them, then a new line:
 *		what follows (" | where <window>") goes on the last statement, which
 *		must be a tabular expression.  A query with "let" statements cannot
 *		be wrapped in parentheses as a saved query is; the new line ends a
 *		"//" comment on the last line.
 */
static void
append_statements(StringInfo buf, const char *source)
{
	int			len = (int) strlen(source);

	while (len > 0 && (source[len - 1] == ';' || isspace((unsigned char) source[len - 1])))
		len--;
	appendBinaryStringInfo(buf, source, len);
	appendStringInfoChar(buf, '\n');
}

/*
 * defender_deparse_kql
 *		The whole query.  Returns RENDER_FALSE, writing nothing, when the
 *		filter can match no row.  params as for defender_render_filter.
 */
DefenderRender
defender_deparse_kql(StringInfo buf, const DefenderKqlRequest *req,
					 const DefenderParamValues *params)
{
	StringInfoData where;
	DefenderRender render = RENDER_TRUE;
	ListCell   *lc;

	initStringInfo(&where);
	if (req->filter != NULL)
		render = defender_write_tree(&where, req->filter, write_leaf, params, NULL).render;
	if (render == RENDER_FALSE)
		return render;

	/*
	 * A saved query is wrapped in parentheses; a "//" comment in it runs to
	 * the end of the line, so the closing one then goes on a line of its
	 * own (a query without "//" keeps the one-line form EXPLAIN shows).
	 */
	if (req->source_is_statements)
		append_statements(buf, req->source);
	else if (req->source_is_query)
		appendStringInfo(buf, strstr(req->source, "//") ? "(%s\n)" : "(%s)", req->source);
	else
		defender_append_kql_name(buf, req->source);
	if (req->window_column)
		append_time_window(buf, req);
	if (render == RENDER_FILTER)
		appendStringInfo(buf, " | where %s", where.data);
	if (req->count_only)
	{
		appendStringInfoString(buf, " | summarize count()");
		return render;
	}
	if (req->summarize)
	{
		appendStringInfo(buf, " | summarize %s", req->summarize);
		return render;
	}
	if (req->count_rows)
	{
		/*
		 * A scan that reads no value: the number of rows is all it needs.
		 * No project (nothing is read) and no sort (the rows are
		 * indistinguishable, and take n of them is n whichever they are).
		 */
		if (req->take_text)
			appendStringInfo(buf, " | take %s", req->take_text);
		else if (req->take > 0)
			appendStringInfo(buf, " | take " INT64_FORMAT, req->take);
		appendStringInfoString(buf, " | count");
		return render;
	}
	if (req->project != NIL)
	{
		appendStringInfoString(buf, " | project ");
		foreach(lc, req->project)
		{
			if (foreach_current_index(lc) > 0)
				appendStringInfoString(buf, ", ");
			defender_append_kql_name(buf, strVal(lfirst(lc)));
		}
	}
	if (req->sort)
		appendStringInfo(buf, " | sort by %s", req->sort);
	if (req->take_text)
		appendStringInfo(buf, " | take %s", req->take_text);
	else if (req->take > 0)
		appendStringInfo(buf, " | take " INT64_FORMAT, req->take);
	return render;
}

/*
 * append_time_window
 *		" | where <the window>": the half-open tick range of a window of a
 *		split hunting scan (hunting_scan.c), written as every datetime test
 *		is, by defender_write_tick_range; or, for the window of the rows
 *		without a time, isnull(C).  It comes first, right after the source,
 *		so that the service (and the emulator) can use it to pick the rows.
 */
static void
append_time_window(StringInfo buf, const DefenderKqlRequest *req)
{
	StringInfoData where;
	DefenderWritten w;

	if (req->window_nulls)
	{
		appendStringInfoString(buf, " | where isnull(");
		defender_append_kql_name(buf, req->window_column);
		appendStringInfoChar(buf, ')');
		return;
	}
	initStringInfo(&where);
	w = defender_write_tick_range(&where, req->window, write_bound, write_any_value,
								  (void *) req->window_column);
	if (w.render == RENDER_FILTER)
		appendStringInfo(buf, " | where %s", where.data);
	pfree(where.data);
}

/* "isnotempty(C)" or "isnotnull(C)": the guard that keeps nulls out. */
static void
append_not_null(StringInfo buf, const char *col, int kind)
{
	appendStringInfoString(buf, kind == KQL_STRING ? "isnotempty(" : "isnotnull(");
	defender_append_kql_name(buf, col);
	appendStringInfoChar(buf, ')');
}

/* A number, boolean or string literal for the value. */
static void
append_literal(StringInfo buf, int kind, Datum value, Oid type)
{
	Oid			outfn;
	bool		isvarlena;

	if (kind == KQL_STRING)
	{
		defender_append_kql_string(buf, TextDatumGetCString(value));
		return;
	}
	if (kind == KQL_BOOL)
	{
		appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
		return;
	}
	getTypeOutputInfo(type, &outfn, &isvarlena);
	appendStringInfoString(buf, OidOutputFunctionCall(outfn, value));
}

static const char *const kql_ops[] = {"==", "!=", "<", "<=", ">", ">="};

/*
 * write_leaf
 *		One leaf: a null test, a LIKE, or comparisons with its value(s).
 */
static DefenderWritten
write_leaf(StringInfo buf, const DefenderFilterLeaf *leaf,
		   const DefenderParamValues *params, void *arg)
{
	const char *col = leaf->name;
	DefenderFilterOp op = leaf->op;
	int			kind = leaf->kind;
	int32		typmod = leaf->typmod;
	DefenderLeafValue v;
	Datum		value;
	ElementContext ctx;

	if (op == DFOP_IS_NULL || op == DFOP_NOT_NULL)
	{
		if (kind == KQL_STRING)
			appendStringInfoString(buf, op == DFOP_IS_NULL ? "isempty(" : "isnotempty(");
		else
			appendStringInfoString(buf, op == DFOP_IS_NULL ? "isnull(" : "isnotnull(");
		defender_append_kql_name(buf, col);
		appendStringInfoChar(buf, ')');
		return WRITTEN_ATOM;
	}

	defender_leaf_value(leaf->value, params, &v);
	if (v.placeholder)
	{
		/* EXPLAIN: the shape, with the value's expression */
		defender_append_kql_name(buf, col);
		if (op == DFOP_EQ_ANY || op == DFOP_NE_ALL)
			appendStringInfo(buf, " %s (%s)", op == DFOP_EQ_ANY ? "in" : "!in", v.text);
		else if (op >= DFOP_LIKE)
			appendStringInfo(buf, " like %s", v.text);
		else
			appendStringInfo(buf, " %s %s", kql_ops[op], v.text);
		return WRITTEN_ATOM;
	}
	if (v.isnull)
		return WRITTEN_FALSE;
	value = v.datum;

	if (op >= DFOP_LIKE)
	{
		char	   *pattern = TextDatumGetCString(value);
		size_t		len = strlen(pattern);
		bool		lead = len > 0 && pattern[0] == '%';
		bool		trail = len > (size_t) (lead ? 1 : 0) && pattern[len - 1] == '%';
		bool		negated = (op == DFOP_NOT_LIKE || op == DFOP_NOT_ILIKE);
		bool		cs = (op == DFOP_LIKE || op == DFOP_NOT_LIKE);
		char	   *core = pnstrdup(pattern + (lead ? 1 : 0),
									len - (lead ? 1 : 0) - (trail ? 1 : 0));
		const char *fn;

		if (!lead && !trail)
		{
			/* no wildcard: plain (in)equality */
			if (core[0] == '\0')
				return negated ? (append_not_null(buf, col, kind), WRITTEN_ATOM) : WRITTEN_FALSE;
			defender_append_kql_name(buf, col);
			appendStringInfo(buf, " %s ", cs ? (negated ? "!=" : "==") : (negated ? "!~" : "=~"));
			defender_append_kql_string(buf, core);
		}
		else
		{
			if (core[0] == '\0')	/* '%' or '%%': any non-null value */
			{
				if (negated)
					return WRITTEN_FALSE;
				append_not_null(buf, col, kind);
				return WRITTEN_ATOM;
			}
			fn = (lead && trail) ? "contains" : (trail ? "startswith" : "endswith");
			defender_append_kql_name(buf, col);
			appendStringInfo(buf, " %s%s%s ", negated ? "!" : "", fn, cs ? "_cs" : "");
			defender_append_kql_string(buf, core);
		}
		if (!negated)
			return WRITTEN_ATOM;
		appendStringInfoString(buf, " and ");
		append_not_null(buf, col, kind);
		return WRITTEN_AND;
	}

	if (op == DFOP_EQ_ANY || op == DFOP_NE_ALL)
	{
		ctx.col = col;
		ctx.kind = kind;
		ctx.typmod = typmod;
		return defender_write_array(buf, value, op == DFOP_NE_ALL, write_element, &ctx);
	}

	return write_value_comparison(buf, col, kind, typmod, op, value, v.type);
}

/* One element of an array leaf. */
static DefenderWritten
write_element(StringInfo buf, DefenderFilterOp op, Datum value, Oid type, void *arg)
{
	ElementContext *ctx = (ElementContext *) arg;

	return write_value_comparison(buf, ctx->col, ctx->kind, ctx->typmod, op, value, type);
}

/* "C >= datetime(ticks)" or "C < datetime(ticks)" (defender_write_tick_range) */
static void
write_bound(StringInfo buf, bool at_or_above, int64 ticks, void *arg)
{
	defender_append_kql_name(buf, (const char *) arg);
	appendStringInfoString(buf, at_or_above ? " >= datetime(" : " < datetime(");
	defender_append_ticks(buf, ticks);
	appendStringInfoChar(buf, ')');
}

/* "C has a value" */
static DefenderWritten
write_any_value(StringInfo buf, void *arg)
{
	append_not_null(buf, (const char *) arg, KQL_DATETIME);
	return WRITTEN_ATOM;
}

/*
 * write_value_comparison
 *		"C op value" for one non-null value, with KQL's null rules.
 */
static DefenderWritten
write_value_comparison(StringInfo buf, const char *col, int kind, int32 typmod,
					   DefenderFilterOp op, Datum value, Oid type)
{
	if (kind == KQL_DATETIME)
	{
		return defender_write_tick_range(buf,
										 defender_datetime_comparison(DatumGetTimestampTz(value),
																	  op, typmod),
										 write_bound, write_any_value, (void *) col);
	}

	if (kind == KQL_STRING && TextDatumGetCString(value)[0] == '\0')
	{
		/* '' is NULL here: equal to nothing, unequal to every other value */
		if (op == DFOP_EQ)
			return WRITTEN_FALSE;
		append_not_null(buf, col, kind);
		return WRITTEN_ATOM;
	}

	defender_append_kql_name(buf, col);
	appendStringInfo(buf, " %s ", kql_ops[op]);
	append_literal(buf, kind, value, type);
	if (op != DFOP_NE)
		return WRITTEN_ATOM;
	/* KQL's != is true for null; SQL's <> is not */
	appendStringInfoString(buf, " and ");
	append_not_null(buf, col, kind);
	return WRITTEN_AND;
}
