/*-------------------------------------------------------------------------
 *
 * summarize.c
 *		  The KQL summarize of a grouped hunting query.
 *
 * GROUP BY and the aggregates KQL computes exactly as PostgreSQL does
 * become "| summarize a1 = count(), ... by Key"; the rest stays local.
 * Called by paths.c (may the aggregation go remote?) and scan_plan.c (the
 * text the scan sends); the rows are read back by src/scan/hunting_scan.c
 * with the output spec written here.
 *
 * src/plan/summarize.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "utils/lsyscache.h"

#include "defender_plan.h"

/*
 * append_aggregate
 *		One aggregate of a summarize, "name = ...", appended to aggs; false
 *		when KQL cannot compute exactly what PostgreSQL does (see
 *		defender_kql_summarize for which can).
 *
 * alone says the aggregate is the query's only one (count(DISTINCT col)
 * needs that).  Sets *kind and *companion for sum and avg, and
 * *distinct_col for count(DISTINCT col).
 */
static bool
append_aggregate(StringInfo aggs, Aggref *agg, const char *name, bool alone,
				 RelOptInfo *baserel, DefenderRelInfo *fpinfo,
				 int *kind, char **companion, char **distinct_col)
{
	char	   *fname;
	Var		   *arg;
	char	   *col = NULL;
	Oid			argtype = InvalidOid;
	bool		integer;

	if (agg->aggfilter || agg->aggorder ||
		agg->agglevelsup != 0 || agg->aggkind != AGGKIND_NORMAL ||
		agg->aggfnoid >= FirstGenbkiObjectId)
		return false;
	fname = get_func_name(agg->aggfnoid);
	if (!agg->aggstar)
	{
		TargetEntry *tle;

		if (list_length(agg->args) != 1)
			return false;
		tle = linitial_node(TargetEntry, agg->args);
		if (!IsA(tle->expr, Var) || ((Var *) tle->expr)->varno != baserel->relid)
			return false;
		arg = (Var *) tle->expr;
		argtype = arg->vartype;
		col = defender_kql_column(fpinfo, arg->varattno);
		if (col == NULL)
			return false;
	}
	integer = (argtype == INT2OID || argtype == INT4OID || argtype == INT8OID);
	if (agg->aggdistinct)
	{
		/* count(DISTINCT col) alone: a two-level summarize */
		if (strcmp(fname, "count") != 0 || !alone || col == NULL ||
			!(integer || argtype == TEXTOID || argtype == TIMESTAMPTZOID))
			return false;
		*distinct_col = col;
		appendStringInfo(aggs, "%s = ", name);
		appendStringInfoString(aggs, argtype == TEXTOID ? "countif(isnotempty(" : "countif(isnotnull(");
		defender_append_kql_name(aggs, col);
		appendStringInfoString(aggs, "))");
	}
	else if (strcmp(fname, "count") == 0 && agg->aggstar)
		appendStringInfo(aggs, "%s%s = count()", aggs->len ? ", " : "", name);
	else if (strcmp(fname, "count") == 0)
	{
		appendStringInfo(aggs, "%s%s = ", aggs->len ? ", " : "", name);
		appendStringInfoString(aggs, argtype == TEXTOID ? "countif(isnotempty(" : "countif(isnotnull(");
		defender_append_kql_name(aggs, col);
		appendStringInfoString(aggs, "))");
	}
	else if ((strcmp(fname, "min") == 0 || strcmp(fname, "max") == 0) &&
			 (integer || argtype == TIMESTAMPTZOID))
	{
		appendStringInfo(aggs, "%s%s = %s(", aggs->len ? ", " : "", name, fname);
		defender_append_kql_name(aggs, col);
		appendStringInfoChar(aggs, ')');
	}
	else if ((strcmp(fname, "sum") == 0 || strcmp(fname, "avg") == 0) &&
			 (argtype == INT2OID || argtype == INT4OID))
	{
		*kind = strcmp(fname, "sum") == 0 ? OUT_SUM : OUT_AVG;
		*companion = psprintf("%s_n", name);
		appendStringInfo(aggs, "%s%s = sum(", aggs->len ? ", " : "", name);
		defender_append_kql_name(aggs, col);
		appendStringInfo(aggs, "), %s = countif(isnotnull(", *companion);
		defender_append_kql_name(aggs, col);
		appendStringInfoString(aggs, "))");
	}
	else
		return false;
	return true;
}

/*
 * defender_kql_summarize
 *		"a1 = count(), a2 = max(ProcessId) by DeviceName" for a grouped
 *		hunting query, or NULL when KQL cannot compute exactly the same.
 *
 * items are the Vars (grouping columns) and Aggrefs of the grouped target.
 * Aggregates, each exact:
 *	- count(*) as count(); count(col) as countif(isnotnull(col)), or
 *	  isnotempty for strings (our "" is NULL);
 *	- min and max of integer and timestamp columns;
 *	- sum of smallint and integer columns, with a companion
 *	  countif(isnotnull(col)): KQL's sum of no values is 0, SQL's is NULL.
 *	  PostgreSQL's sum(int2/int4) adds in a 64-bit integer, as Kusto does
 *	  ("Kusto uses 64-bit types for arithmetic"), so both give the same
 *	  bigint;
 *	- avg of smallint and integer columns as that sum and count, divided
 *	  here with numeric division exactly as int4_avg/int8_avg do (KQL's avg
 *	  is a real);
 *	- not sum or avg of bigint: PostgreSQL's are exact numerics, Kusto's
 *	  sum(long) overflows 64 bits, and nothing documented makes a decimal
 *	  sum exact for every input (todecimal() is a 128-bit .NET decimal of
 *	  28-29 digits, its overflow and its JSON form undocumented), so
 *	  PostgreSQL computes them;
 *	- count(DISTINCT col), when it is the only aggregate, as a two-level
 *	  summarize (by the groups and col, then countif by the groups), since
 *	  KQL's dcount is an estimate.
 * Not pushed: min/max of strings (KQL orders by code unit), floats and
 * numerics (NaN, decimal scale), anything with FILTER or ORDER BY.
 *
 * *outputs gets, per item, the list (main name, kind, companion name) that
 * execution uses to fill the scan column (see DefenderSummarizeOutput).
 */
char *
defender_kql_summarize(PlannerInfo *root, RelOptInfo *baserel,
					   DefenderRelInfo *fpinfo, List *items, List **outputs)
{
	StringInfoData aggs;
	StringInfoData by;
	ListCell   *lc;
	int			n = 0;
	char	   *distinct_col = NULL;
	int			naggs = 0;
	List	   *by_names = NIL; /* the group keys' KQL names, as String nodes */

	initStringInfo(&aggs);
	initStringInfo(&by);
	if (outputs)
		*outputs = NIL;
	foreach(lc, items)
		if (IsA(lfirst(lc), Aggref))
			naggs++;

	foreach(lc, items)
	{
		Node	   *item = lfirst(lc);
		char	   *name = NULL;
		int			kind = OUT_PLAIN;
		char	   *companion = "";

		if (IsA(item, Var))
		{
			if (((Var *) item)->varno != baserel->relid)
				return NULL;
			name = defender_kql_column(fpinfo, ((Var *) item)->varattno);
			if (name == NULL)
				return NULL;
			/* each key once: KQL refuses "by A, A" */
			if (!list_member(by_names, makeString(name)))
			{
				by_names = lappend(by_names, makeString(name));
				appendStringInfoString(&by, by.len ? ", " : " by ");
				defender_append_kql_name(&by, name);
			}
		}
		else if (IsA(item, Aggref))
		{
			name = psprintf("a%d", ++n);
			if (!append_aggregate(&aggs, (Aggref *) item, name, naggs == 1,
								  baserel, fpinfo, &kind, &companion, &distinct_col))
				return NULL;
		}
		else
			return NULL;
		if (outputs)
			*outputs = lappend(*outputs, list_make3(makeString(name), makeInteger(kind),
													makeString(companion)));
	}
	if (n == 0)
		return NULL;
	if (distinct_col)
	{
		/* by the groups and the column, then count per group */
		StringInfoData first;

		initStringInfo(&first);
		appendStringInfoString(&first, by.len ? by.data + 1 : "by");
		if (!list_member(by_names, makeString(distinct_col)))
		{
			/* count(DISTINCT g) GROUP BY g: g is a key already */
			appendStringInfoString(&first, by.len ? ", " : " ");
			defender_append_kql_name(&first, distinct_col);
		}
		return psprintf("%s | summarize %s%s", first.data, aggs.data, by.data);
	}
	return psprintf("%s%s", aggs.data, by.data);
}
