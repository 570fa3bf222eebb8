/*-------------------------------------------------------------------------
 *
 * hunt_function.c
 *		  defender_hunt() and defender_hunt_jsonb(): run any KQL query.
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
#include "utils/syscache.h"

#include "defender_remote.h"
#include "defender_scan.h"
#include "function_support.h"
#include "pg_jansson.h"

PG_FUNCTION_INFO_V1(defender_hunt);
PG_FUNCTION_INFO_V1(defender_hunt_jsonb);

static Datum run_hunt(FunctionCallInfo fcinfo, bool as_jsonb);

/*
 * defender_hunt
 *		defender_hunt(query text, timespan text, server name) RETURNS SETOF record
 */
Datum
defender_hunt(PG_FUNCTION_ARGS)
{
	return run_hunt(fcinfo, false);
}

/*
 * defender_hunt_jsonb
 *		defender_hunt_jsonb(query text, timespan text, server name) RETURNS SETOF jsonb
 */
Datum
defender_hunt_jsonb(PG_FUNCTION_ARGS)
{
	return run_hunt(fcinfo, true);
}

/*
 * run_hunt
 *		Send the query, stream the answer into a tuplestore, return it.
 */
static Datum
run_hunt(FunctionCallInfo fcinfo, bool as_jsonb)
{
	ReturnSetInfo *rsinfo = defender_materialize_context(fcinfo);
	const char *fname = as_jsonb ? "defender_hunt_jsonb" : "defender_hunt";
	char	   *query;
	char	   *timespan;
	DefenderOptions *opts;
	char	   *body;
	char	   *url;
	char	   *display;
	SetResult	set;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	DefenderResponse *response;

	if (!as_jsonb && rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("defender_hunt() needs a column definition list"),
				 errdetail("The columns say which result columns to read, and as what types; names match ignoring case and underscores."),
				 errhint("Call it in FROM, for example: SELECT * FROM defender_hunt('DeviceProcessEvents | take 10') AS t(timestamp timestamptz, device_name text); or use defender_hunt_jsonb() for one jsonb object per row.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the query of %s() must not be null", fname)));

	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	timespan = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	opts = defender_function_options(fcinfo, 2, fname);
	if (timespan == NULL)
		timespan = opts->timespan;	/* may be NULL: the API's default */

	body = defender_hunting_request_body(query, timespan);
	url = defender_resource_url(opts, "hunting", "POST", &display);

	/* The result outlives this call: per-query memory. */
	defender_begin_set(fcinfo, &set, as_jsonb ? JSONBOID : InvalidOid, fname);

	/* The response and the columns go when the call ends (or fails). */
	call_cxt = AllocSetContextCreate(caller, "defender_hunt", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);

	response = defender_api_request(opts, opts->graph_url, "POST", url, display,
									body, DEFENDER_CACHEABLE);
	if (as_jsonb)
		defender_hunting_rows_to_tuplestore(response->http.body,
											response->http.body_len,
											set.desc, set.store, display, fname);
	else
	{
		TupleDesc	desc = set.desc;
		int			natts = desc->natts;
		DefenderColumn *columns = palloc0(sizeof(DefenderColumn) * Max(natts, 1));
		AttrNumber *attnos = palloc(sizeof(AttrNumber) * Max(natts, 1));
		int			ncolumns = 0;
		int			i;

		for (i = 0; i < natts; i++)
		{
			if (TupleDescAttr(desc, i)->attisdropped)
				continue;
			defender_column_init_attr(&columns[ncolumns], desc, (AttrNumber) (i + 1));
			attnos[ncolumns++] = (AttrNumber) (i + 1);
		}
		defender_hunting_result_to_tuplestore(response->http.body,
											  response->http.body_len,
											  desc, columns, ncolumns, attnos,
											  set.store, display, fname);
	}
	defender_response_release(response);

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(call_cxt);

	defender_end_set(&set);
	return (Datum) 0;
}
