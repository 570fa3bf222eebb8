/*-------------------------------------------------------------------------
 *
 * hunt_function.c
 *		  defender_hunt() and defender_hunt_jsonb(): run any KQL query;
 *		  defender_hunt_split() and defender_hunt_split_jsonb(): the same,
 *		  read in time windows past the service's caps.
 *
 *	SELECT * FROM defender_hunt('DeviceProcessEvents | take 10')
 *		AS t(timestamp timestamptz, device_name text);
 *	SELECT * FROM defender_hunt_jsonb('DeviceProcessEvents | take 10');
 *
 * The foreign table (resource 'hunting') writes KQL from SQL; these
 * functions send the caller's KQL as it is, for what SQL cannot say
 * (joins inside Defender, summarize, parse, mv-expand ...).  One call is
 * one POST {graph_url}/{api_version}/security/runHuntingQuery with the body
 * {"Query": ..., "Timespan": ...}; the answer is streamed into a tuplestore
 * by hunting_result.c (materialize mode: the rows are all there before the
 * first is returned, as the API answers in one piece anyway).
 *
 * An answer past the caps (refused as too large, or exactly the row cap,
 * so possibly cut) is never returned as complete: defender_hunt() raises
 * 54000, and defender_hunt_split(query, time_column) reads the query
 * again in time windows on that column of the result, as a split hunting
 * table does (src/scan/hunt_split.c).
 *
 * defender_hunt() returns SETOF record: the caller's column definition list
 * says which result columns to read and as what types, matching names
 * ignoring case and underscores (device_name reads DeviceName).
 * defender_hunt_jsonb() returns each row as a jsonb object.
 *
 * Both read the server's options and the caller's user mapping, and need
 * USAGE on the server, like any other use of a foreign server by name.
 * They only read, so EXECUTE stays granted to PUBLIC.
 *
 * src/functions/hunt_function.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_foreign_server.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"

#include "defender_remote.h"
#include "defender_scan.h"
#include "function_support.h"
#include "pg_jansson.h"

PG_FUNCTION_INFO_V1(defender_hunt);
PG_FUNCTION_INFO_V1(defender_hunt_jsonb);
PG_FUNCTION_INFO_V1(defender_hunt_split);
PG_FUNCTION_INFO_V1(defender_hunt_split_jsonb);

static Datum run_hunt(FunctionCallInfo fcinfo, bool as_jsonb, bool split);

/*
 * defender_hunt
 *		defender_hunt(query text, timespan text, server name) RETURNS SETOF record
 */
Datum
defender_hunt(PG_FUNCTION_ARGS)
{
	return run_hunt(fcinfo, false, false);
}

/*
 * defender_hunt_jsonb
 *		defender_hunt_jsonb(query text, timespan text, server name) RETURNS SETOF jsonb
 */
Datum
defender_hunt_jsonb(PG_FUNCTION_ARGS)
{
	return run_hunt(fcinfo, true, false);
}

/*
 * defender_hunt_split
 *		defender_hunt_split(query text, time_column text, timespan interval,
 *							server name) RETURNS SETOF record
 */
Datum
defender_hunt_split(PG_FUNCTION_ARGS)
{
	return run_hunt(fcinfo, false, true);
}

/*
 * defender_hunt_split_jsonb
 *		defender_hunt_split_jsonb(query text, time_column text, timespan
 *								  interval, server name) RETURNS SETOF jsonb
 */
Datum
defender_hunt_split_jsonb(PG_FUNCTION_ARGS)
{
	return run_hunt(fcinfo, true, true);
}

/*
 * span_ticks
 *		The timespan argument of defender_hunt_split() in 100 ns ticks (a
 *		month counts 30 days); it must be positive.
 */
static int64
span_ticks(Interval *iv, const char *fname)
{
	int64		ticks = ((int64) iv->month * 30 + iv->day) * INT64CONST(864000000000) +
		iv->time * 10;

	if (ticks <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the timespan of %s() must be positive", fname),
				 errhint("Pass the span before now to query, for example interval '7 days', or NULL for the server's option \"timespan\" or the API's default.")));
	return ticks;
}

/*
 * run_hunt
 *		Check the arguments, run the query (src/scan/hunt_split.c: one
 *		request, or time windows past the caps), return its rows.
 */
static Datum
run_hunt(FunctionCallInfo fcinfo, bool as_jsonb, bool split)
{
	ReturnSetInfo *rsinfo = defender_materialize_context(fcinfo);
	const char *fname = split ? (as_jsonb ? "defender_hunt_split_jsonb" : "defender_hunt_split") :
		(as_jsonb ? "defender_hunt_jsonb" : "defender_hunt");
	int			server_arg = split ? 3 : 2;
	DefenderAdhocHunt hunt;
	DefenderOptions *opts;
	SetResult	set;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;

	if (!as_jsonb && rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s() needs a column definition list", fname),
				 errdetail("The columns say which result columns to read, and as what types; names match ignoring case and underscores."),
				 errhint(split ?
						 "Call it in FROM, for example: SELECT * FROM defender_hunt_split('DeviceProcessEvents', 'Timestamp') AS t(timestamp timestamptz, device_name text); or use defender_hunt_split_jsonb() for one jsonb object per row." :
						 "Call it in FROM, for example: SELECT * FROM defender_hunt('DeviceProcessEvents | take 10') AS t(timestamp timestamptz, device_name text); or use defender_hunt_jsonb() for one jsonb object per row.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the query of %s() must not be null", fname)));

	memset(&hunt, 0, sizeof(hunt));
	hunt.fname = fname;
	hunt.query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (split)
	{
		char	   *column = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));

		if (column == NULL || column[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the time column of %s() must be named", fname),
					 errhint("Name a datetime column of the query's result, for example 'Timestamp'; for a query without one, use defender_hunt().")));
		hunt.time_column = column;
		if (!PG_ARGISNULL(2))
			hunt.span = span_ticks(PG_GETARG_INTERVAL_P(2), fname);
	}
	else if (!PG_ARGISNULL(1))
		hunt.timespan = text_to_cstring(PG_GETARG_TEXT_PP(1));
	opts = defender_function_options(fcinfo, server_arg, fname);
	if (hunt.timespan == NULL)
		hunt.timespan = opts->timespan; /* may be NULL: the API's default */
	hunt.opts = opts;

	/* The result outlives this call: per-query memory. */
	defender_begin_set(fcinfo, &set, as_jsonb ? JSONBOID : InvalidOid, fname);
	hunt.desc = set.desc;
	hunt.store = set.store;

	/* The responses and the columns go when the call ends (or fails). */
	call_cxt = AllocSetContextCreate(caller, "defender_hunt", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);

	if (!as_jsonb)
	{
		TupleDesc	desc = set.desc;
		int			natts = desc->natts;
		int			i;

		hunt.columns = palloc0(sizeof(DefenderColumn) * Max(natts, 1));
		hunt.attnos = palloc(sizeof(AttrNumber) * Max(natts, 1));
		for (i = 0; i < natts; i++)
		{
			if (TupleDescAttr(desc, i)->attisdropped)
				continue;
			defender_column_init_attr(&hunt.columns[hunt.ncolumns], desc, (AttrNumber) (i + 1));
			hunt.attnos[hunt.ncolumns++] = (AttrNumber) (i + 1);
		}
	}
	defender_run_adhoc_hunt(&hunt);

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(call_cxt);

	defender_end_set(&set);
	return (Datum) 0;
}
