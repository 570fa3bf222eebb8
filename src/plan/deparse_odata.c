/*-------------------------------------------------------------------------
 *
 * deparse_odata.c
 *		  Writes Graph requests: the OData query of a list, the path of a
 *		  GET by id.
 *
 * A request is written relative to the server's graph_url
 * ("/v1.0/security/incidents?$filter=...&$top=50").  It is written twice:
 * at plan time for EXPLAIN, with non-constant values shown as $1, $2 ...,
 * and at execution with their values; only the latter is sent, with every
 * query value percent-encoded (option names keep their literal "$").
 *
 * The filter tree (shippable.c) is written as "the SQL condition is TRUE".
 * Leaves whose outcome is already known are folded: an enum compared with a
 * value that is not exactly one of its members matches no row; a NULL
 * value matches no row; an empty IN list matches no row.  A filter that
 * folds to false means the scan sends nothing at all.
 *
 * DateTimeOffset bounds: Graph keeps 100 ns ticks, PostgreSQL reads them
 * rounded to its column's precision.  "created_date_time >= X" must select
 * the Graph values that PostgreSQL reads as X or later, so the bound sent
 * is the first tick that the column's own input function reads as X or
 * later (found by bisection).  Equality becomes a half-open range.
 *
 * src/plan/deparse_odata.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "defender_plan.h"
#include "defender_remote.h"

/* 100 ns ticks since the PostgreSQL epoch */
typedef int64 Ticks;

#define TICKS_PER_SECOND INT64CONST(10000000)

/*
 * Graph's (and Kusto's) first instant, 0001-01-01T00:00:00Z, and one past
 * its last, 9999-12-31T23:59:59.9999999Z, in Ticks.  PostgreSQL reads that
 * last instant, rounded to microseconds, as 10000-01-01 00:00:00.
 */
#define FIRST_GRAPH_TICK (INT64CONST(-63082281600000000) * 10)
#define END_GRAPH_TICK (INT64CONST(252455616000000000) * 10)

/* what write_element needs of the leaf */
typedef struct ElementContext
{
	const GraphProperty *property;
	int32		typmod;
} ElementContext;

static DefenderWritten write_leaf(StringInfo buf, const DefenderFilterLeaf *leaf,
								  const DefenderParamValues *params, void *arg);
static DefenderWritten write_element(StringInfo buf, DefenderFilterOp op, Datum value,
									 Oid type, void *arg);
static DefenderWritten write_comparison(StringInfo buf, const GraphProperty *prop,
										int32 typmod, DefenderFilterOp op, Datum value);
static void append_quoted(StringInfo buf, const char *text);
#define append_ticks defender_append_ticks
static Ticks first_tick_at_or_after(TimestampTz x, int32 typmod);
static void append_encoded(StringInfo buf, const char *text, bool encode);

static const char *const op_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};

/*
 * defender_render_filter
 *		Write a filter tree as an OData $filter expression.
 *
 * params NULL, or with placeholders, means EXPLAIN: a non-constant value
 * is written as its placeholder text (or $n).
 */
DefenderRender
defender_render_filter(StringInfo buf, const DefenderFilter *tree,
					   const DefenderParamValues *params,
					   const GraphResource *resource)
{
	if (tree == NULL)
		return RENDER_TRUE;
	return defender_write_tree(buf, tree, write_leaf, params, (void *) resource).render;
}

/*
 * write_leaf
 *		One comparison, or an OR/AND chain for an array.
 */
static DefenderWritten
write_leaf(StringInfo buf, const DefenderFilterLeaf *leaf,
		   const DefenderParamValues *params, void *arg)
{
	const GraphResource *resource = (const GraphResource *) arg;
	const char *prop = leaf->name;
	const GraphProperty *property = graph_find_property(resource, prop);
	DefenderFilterOp op = leaf->op;
	bool		nullable = leaf->nullable;
	ElementContext ctx;
	DefenderLeafValue v;

	if (property == NULL)
		elog(ERROR, "defender_fdw: unknown property \"%s\"", prop);
	ctx.property = property;
	ctx.typmod = leaf->typmod;

	if (op == DFOP_IS_NULL || op == DFOP_NOT_NULL)
	{
		appendStringInfo(buf, "%s %s null", prop, op == DFOP_IS_NULL ? "eq" : "ne");
		return WRITTEN_ATOM;
	}

	defender_leaf_value(leaf->value, params, &v);
	if (v.placeholder)
	{
		/* EXPLAIN: the shape of what will be sent, with the value's expression */
		if (op == DFOP_EQ_ANY || op == DFOP_NE_ALL)
			appendStringInfo(buf, "%s %s %s", prop,
							 op == DFOP_EQ_ANY ? "eq any of" : "ne all of", v.text);
		else
			appendStringInfo(buf, "%s %s %s", prop, op_names[op], v.text);
		if ((op == DFOP_NE || op == DFOP_NE_ALL) && nullable)
		{
			appendStringInfo(buf, " and %s ne null", prop);
			return WRITTEN_AND;
		}
		return WRITTEN_ATOM;
	}

	/* SQL: a comparison with NULL is never true */
	if (v.isnull)
		return WRITTEN_FALSE;
	if (op == DFOP_EQ_ANY || op == DFOP_NE_ALL)
		return defender_write_array(buf, v.datum, op == DFOP_NE_ALL, write_element, &ctx);
	return write_comparison(buf, property, ctx.typmod, op, v.datum);
}

/* One element of an array leaf. */
static DefenderWritten
write_element(StringInfo buf, DefenderFilterOp op, Datum value, Oid type, void *arg)
{
	ElementContext *ctx = (ElementContext *) arg;

	return write_comparison(buf, ctx->property, ctx->typmod, op, value);
}

/* "prop ge ticks" or "prop lt ticks" (defender_write_tick_range) */
static void
write_bound(StringInfo buf, bool at_or_above, int64 ticks, void *arg)
{
	const GraphProperty *property = (const GraphProperty *) arg;

	appendStringInfo(buf, "%s %s ", property->name, at_or_above ? "ge" : "lt");
	append_ticks(buf, ticks);
}

/* "prop has a value": always, or "prop ne null" (SQL's NULL compares to nothing) */
static DefenderWritten
write_any_value(StringInfo buf, void *arg)
{
	const GraphProperty *property = (const GraphProperty *) arg;

	if (!property->nullable)
		return WRITTEN_TRUE;
	appendStringInfo(buf, "%s ne null", property->name);
	return WRITTEN_ATOM;
}

/*
 * write_comparison
 *		"prop op value" for one non-null value, folded where the outcome is
 *		known.
 */
static DefenderWritten
write_comparison(StringInfo buf, const GraphProperty *property, int32 typmod,
				 DefenderFilterOp op, Datum value)
{
	const char *prop = property->name;
	bool		nullable = property->nullable;

	if (property->kind == GRAPH_DATETIME)
	{
		return defender_write_tick_range(buf,
										 defender_datetime_comparison(DatumGetTimestampTz(value),
																	  op, typmod),
										 write_bound, write_any_value, (void *) property);
	}
	else
	{
		char	   *literal = TextDatumGetCString(value);

		if (op != DFOP_EQ && op != DFOP_NE)
			elog(ERROR, "defender_fdw: unexpected operator %d", (int) op);

		/*
		 * Graph answers with canonical members only, so a value that is not
		 * exactly a member equals no row (and Graph would reject it).
		 */
		if (property->kind == GRAPH_ENUM && !graph_is_enum_member(property, literal))
		{
			if (op == DFOP_EQ)
				return WRITTEN_FALSE;
			if (!nullable)
				return WRITTEN_TRUE;
			appendStringInfo(buf, "%s ne null", prop);
			return WRITTEN_ATOM;
		}
		appendStringInfo(buf, "%s %s ", prop, op_names[op]);
		append_quoted(buf, literal);
		if (op == DFOP_NE && nullable)
		{
			appendStringInfo(buf, " and %s ne null", prop);
			return WRITTEN_AND;
		}
		return WRITTEN_ATOM;
	}
}

/* An OData string literal: single quotes, a quote inside doubled. */
static void
append_quoted(StringInfo buf, const char *text)
{
	const char *p;

	appendStringInfoChar(buf, '\'');
	for (p = text; *p; p++)
	{
		if (*p == '\'')
			appendStringInfoChar(buf, '\'');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '\'');
}

/* A DateTimeOffset literal in UTC with 7 fraction digits (KQL's too). */
void
append_ticks(StringInfo buf, int64 ticks)
{
	Ticks		seconds = ticks / TICKS_PER_SECOND;
	Ticks		fraction = ticks % TICKS_PER_SECOND;
	struct pg_tm tm;
	fsec_t		fsec;

	if (fraction < 0)
	{
		fraction += TICKS_PER_SECOND;
		seconds -= 1;
	}
	if (timestamp2tm((Timestamp) (seconds * USECS_PER_SEC), NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	appendStringInfo(buf, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ",
					 tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fraction);
}

/* What the column's input function makes of a Graph value of ticks. */
static TimestampTz
read_as_postgres(Ticks ticks, int32 typmod)
{
	StringInfoData text;
	Datum		d;

	initStringInfo(&text);
	append_ticks(&text, ticks);
	d = DirectFunctionCall3(timestamptz_in, CStringGetDatum(text.data),
							ObjectIdGetDatum(InvalidOid), Int32GetDatum(typmod));
	pfree(text.data);
	return DatumGetTimestampTz(d);
}

/*
 * first_tick_at_or_after
 *		The smallest Graph value that PostgreSQL reads as x or later:
 *		FIRST_GRAPH_TICK when every value does, END_GRAPH_TICK when none does.
 *
 * Reading is monotonic, and rounds by at most half a unit of the column's
 * precision (a second at worst), so bisecting a window of two seconds
 * around x finds it.  The window stays within Graph's instants: there is
 * no value outside them, no year 0 to read back, and x * 10 would overflow
 * for timestamps far beyond them.
 */
static Ticks
first_tick_at_or_after(TimestampTz x, int32 typmod)
{
	Ticks		lo;
	Ticks		hi;

	if (TIMESTAMP_IS_NOBEGIN(x) || read_as_postgres(FIRST_GRAPH_TICK, typmod) >= x)
		return FIRST_GRAPH_TICK;
	if (TIMESTAMP_IS_NOEND(x) || read_as_postgres(END_GRAPH_TICK - 1, typmod) < x)
		return END_GRAPH_TICK;
	lo = Max((Ticks) x * 10 - 2 * TICKS_PER_SECOND, FIRST_GRAPH_TICK);
	hi = Min((Ticks) x * 10 + 2 * TICKS_PER_SECOND, END_GRAPH_TICK - 1);

	/* invariant: read(lo) < x <= read(hi) */
	while (hi - lo > 1)
	{
		Ticks		mid = lo + (hi - lo) / 2;

		if (read_as_postgres(mid, typmod) >= x)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* "ticks < bound", folded where Graph's range decides it */
static DefenderTickRange
ticks_below(Ticks bound)
{
	DefenderTickRange r = {TICKS_LT, 0, bound};

	if (bound <= FIRST_GRAPH_TICK)
		r.test = TICKS_NONE;
	else if (bound >= END_GRAPH_TICK)
		r.test = TICKS_ALL;
	return r;
}

/* "ticks >= bound", folded where Graph's range decides it */
static DefenderTickRange
ticks_at_or_above(Ticks bound)
{
	DefenderTickRange r = {TICKS_GE, bound, 0};

	if (bound <= FIRST_GRAPH_TICK)
		r.test = TICKS_ALL;
	else if (bound >= END_GRAPH_TICK)
		r.test = TICKS_NONE;
	return r;
}

/*
 * defender_datetime_comparison
 *		"column op x" for a datetime column of typmod, as a test on the
 *		100 ns ticks Graph and Kusto hold: exact for every x, finite or not.
 *
 * With lower the first tick PostgreSQL reads as x or later and upper the
 * first it reads as later than x, "column < x" is "ticks < lower", "<= x"
 * is "ticks < upper", and so on.  A bound at either end of Graph's range
 * folds the test to every row or none: PostgreSQL's 'infinity' is greater
 * than every value ("<> 'infinity'" keeps every row, "= 'infinity'" none),
 * and Graph's last instant reads as 10000-01-01, a value a column can hold.
 * Both the OData and the KQL writers use this, so they cannot disagree.
 */
DefenderTickRange
defender_datetime_comparison(TimestampTz x, DefenderFilterOp op, int32 typmod)
{
	Ticks		lower = first_tick_at_or_after(x, typmod);
	Ticks		upper = TIMESTAMP_NOT_FINITE(x) ? lower :
		first_tick_at_or_after(x + 1, typmod);
	DefenderTickRange r = {TICKS_NONE, 0, 0};
	DefenderTickRange a;
	DefenderTickRange b;

	switch (op)
	{
		case DFOP_LT:
			return ticks_below(lower);
		case DFOP_LE:
			return ticks_below(upper);
		case DFOP_GT:
			return ticks_at_or_above(upper);
		case DFOP_GE:
			return ticks_at_or_above(lower);
		case DFOP_EQ:
			if (lower >= upper)
			{
				r.test = TICKS_NONE;
				return r;
			}
			a = ticks_at_or_above(lower);
			b = ticks_below(upper);
			if (a.test == TICKS_ALL)
				return b;
			if (b.test == TICKS_ALL)
				return a;
			r.test = TICKS_IN;
			r.lo = lower;
			r.hi = upper;
			return r;
		case DFOP_NE:
			/* the complement of "=": SQL's <> is false for NULL as = is */
			r = defender_datetime_comparison(x, DFOP_EQ, typmod);
			switch (r.test)
			{
				case TICKS_NONE:
					r.test = TICKS_ALL;
					break;
				case TICKS_ALL:
					r.test = TICKS_NONE;
					break;
				case TICKS_LT:
					r.test = TICKS_GE;
					r.lo = r.hi;
					break;
				case TICKS_GE:
					r.test = TICKS_LT;
					r.hi = r.lo;
					break;
				case TICKS_IN:
					r.test = TICKS_OUT;
					break;
				case TICKS_OUT:
					r.test = TICKS_IN;
					break;
			}
			return r;
		default:
			elog(ERROR, "defender_fdw: unexpected operator %d", (int) op);
	}
	pg_unreachable();
}

/* Append text, percent-encoded when encode is set. */
static void
append_encoded(StringInfo buf, const char *text, bool encode)
{
	if (encode)
		appendStringInfoString(buf, defender_url_encode(text));
	else
		appendStringInfoString(buf, text);
}

/*
 * append_select
 *		"$select=a,b" after sep.  The names are Graph property names from
 *		the catalog (letters and digits), so nothing needs encoding.
 */
static void
append_select(StringInfo buf, char sep, List *select)
{
	ListCell   *lc;

	appendStringInfo(buf, "%c$select=", sep);
	foreach(lc, select)
		appendStringInfo(buf, "%s%s", lc == list_head(select) ? "" : ",",
						 strVal(lfirst(lc)));
}

/*
 * defender_deparse_list
 *		A list request: path and query options.
 *
 * With encode, the values are percent-encoded as sent; without, the text
 * is what EXPLAIN shows.  Returns RENDER_FALSE, and writes nothing, when
 * the filter can match no row.
 */
DefenderRender
defender_deparse_list(StringInfo buf, bool encode, const DefenderOptions *opts,
					  const GraphResource *resource, const DefenderListRequest *req,
					  const DefenderParamValues *params)
{
	StringInfoData filter;
	DefenderRender render;
	int64		page = graph_page_size(resource, opts->page_size);
	char		sep = '?';

	initStringInfo(&filter);
	render = defender_render_filter(&filter, req->filter, params, resource);
	if (render == RENDER_FALSE)
		return render;

	appendStringInfo(buf, "/%s/%s", opts->api_version, resource->path);
	if (render == RENDER_FILTER)
	{
		appendStringInfo(buf, "%c$filter=", sep);
		append_encoded(buf, filter.data, encode);
		sep = '&';
	}
	if (req->orderby)
	{
		appendStringInfo(buf, "%c$orderby=", sep);
		append_encoded(buf, req->orderby, encode);
		sep = '&';
	}
	if (req->expand_alerts)
	{
		appendStringInfo(buf, "%c$expand=alerts", sep);
		sep = '&';
	}
	if (req->select)
	{
		append_select(buf, sep, req->select);
		sep = '&';
	}
	if (req->omit_paging)
		return render;
	if (req->count_only)
	{
		appendStringInfo(buf, "%c$count=true&$top=1", sep);
		return render;
	}
	if (req->count_pages)
	{
		appendStringInfo(buf, "%c$count=true", sep);
		sep = '&';
	}
	if (req->skip_text)
	{
		appendStringInfo(buf, "%c$skip=%s", sep, req->skip_text);
		sep = '&';
	}
	else if (req->skip > 0)
	{
		appendStringInfo(buf, "%c$skip=" INT64_FORMAT, sep, req->skip);
		sep = '&';
	}
	if (req->top_text)
		appendStringInfo(buf, "%c$top=%s", sep, req->top_text);
	else if (req->top > 0)
		appendStringInfo(buf, "%c$top=" INT64_FORMAT, sep, Min(req->top, page));
	else
		appendStringInfo(buf, "%c$top=" INT64_FORMAT, sep, page);
	return render;
}

/*
 * defender_deparse_lookup
 *		GET of one entity by id; the id is one path segment, so it is
 *		always encoded ("/" and all).
 */
void
defender_deparse_lookup(StringInfo buf, bool encode, const DefenderOptions *opts,
						const GraphResource *resource, const char *id,
						bool expand_alerts, List *select)
{
	char		sep = '?';

	appendStringInfo(buf, "/%s/%s/", opts->api_version, resource->path);
	append_encoded(buf, id, encode);
	if (expand_alerts)
	{
		appendStringInfoString(buf, "?$expand=alerts");
		sep = '&';
	}
	if (select)
		append_select(buf, sep, select);
}

/*
 * defender_deparse_list_text
 *		A list request whose $filter and $expand are OData text a caller
 *		gave (defender_list_incidents()), not a filter tree: path and query
 *		options, in defender_deparse_list's order, $top always.
 *
 * With encode, the texts (UTF-8) are percent-encoded as sent; without,
 * they are written as given, as messages show them.
 */
void
defender_deparse_list_text(StringInfo buf, bool encode, const DefenderOptions *opts,
						   const GraphResource *resource, const char *filter,
						   const char *expand, bool count, int64 skip, int64 top)
{
	char		sep = '?';

	appendStringInfo(buf, "/%s/%s", opts->api_version, resource->path);
	if (filter && filter[0])
	{
		appendStringInfo(buf, "%c$filter=", sep);
		append_encoded(buf, filter, encode);
		sep = '&';
	}
	if (expand && expand[0])
	{
		appendStringInfo(buf, "%c$expand=", sep);
		append_encoded(buf, expand, encode);
		sep = '&';
	}
	if (count)
	{
		appendStringInfo(buf, "%c$count=true", sep);
		sep = '&';
	}
	if (skip > 0)
	{
		appendStringInfo(buf, "%c$skip=" INT64_FORMAT, sep, skip);
		sep = '&';
	}
	appendStringInfo(buf, "%c$top=" INT64_FORMAT, sep, top);
}
