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
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *fname = as_jsonb ? "defender_hunt_jsonb" : "defender_hunt";
	char	   *query;
	char	   *timespan;
	ForeignServer *server;
	DefenderOptions *opts;
	char	   *body;
	char	   *url;
	char	   *display;
	TupleDesc	desc;
	Tuplestorestate *store;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	DefenderResponse *response;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));
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
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the server of %s() must not be null", fname)));

	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	timespan = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	server = defender_function_server(NameStr(*PG_GETARG_NAME(2)));
	opts = defender_get_options(InvalidOid, server->serverid, GetUserId(), true);
	if (timespan == NULL)
		timespan = opts->timespan;	/* may be NULL: the API's default */

	body = defender_hunting_request_body(query, timespan);
	url = defender_resource_url(opts, "hunting", "POST", &display);

	/* The result outlives this call: per-query memory. */
	MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (as_jsonb)
	{
		desc = CreateTemplateTupleDesc(1);
		TupleDescInitEntry(desc, (AttrNumber) 1, fname, JSONBOID, -1, 0);
	}
	else
		desc = CreateTupleDescCopy(rsinfo->expectedDesc);
	store = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
								  false, work_mem);

	/* The response and the columns go when the call ends (or fails). */
	call_cxt = AllocSetContextCreate(caller, "defender_hunt", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);

	response = defender_api_request(opts, opts->graph_url, "POST", url, display,
									body, DEFENDER_CACHEABLE);
	if (as_jsonb)
		defender_hunting_rows_to_tuplestore(response->http.body,
											response->http.body_len,
											desc, store, display, fname);
	else
	{
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
											  store, display, fname);
	}
	defender_response_release(response);

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(call_cxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = desc;
	return (Datum) 0;
}
