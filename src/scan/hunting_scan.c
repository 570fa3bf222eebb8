/*-------------------------------------------------------------------------
 *
 * hunting_scan.c
 *		  The executor of a hunting scan: one runHuntingQuery, its rows.
 *
 * A foreign table with resource 'hunting' is read with one request: the
 * KQL written by deparse_kql.c from what the planner pushed (filter,
 * project, sort, take, summarize), the timespan given or derived from the
 * conditions on Timestamp, and the response streamed into a tuplestore
 * by hunting_result.c.  When Graph rejects the pushed filter (400) the
 * query is sent again without it and every condition is checked locally;
 * when it rejects a summarize, the rows are aggregated locally by the
 * scan's outer plan.  Called by defender_fdw.c's scan callbacks only,
 * with the scan state of scan_state.h.
 *
 * src/scan/hunting_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "scan_state.h"
#include "pg_jansson.h"

/*
 * defender_hunting_kql
 *		The scan's KQL with the values (or, for EXPLAIN, placeholders).
 *
 * In fallback the filter and take are left out and every condition is
 * evaluated locally; the sort stays, since the plan relies on it.
 */
DefenderRender
defender_hunting_kql(DefenderScanState *state, StringInfo buf, const DefenderParamValues *params,
			bool fallback, const char *take_text)
{
	DefenderKqlRequest req;

	memset(&req, 0, sizeof(req));
	req.source = state->opts->hunting_table ? state->opts->hunting_table :
		state->opts->hunting_query;
	req.source_is_query = (state->opts->hunting_table == NULL);
	req.sort = state->orderby[0] ? state->orderby : NULL;
	req.count_only = (state->mode == SCAN_COUNT) && !fallback;
	req.summarize = state->summarize[0] ? state->summarize : NULL;
	req.count_rows = state->count_rows && !fallback;
	if (!fallback)
	{
		req.filter = state->filter;
		req.project = state->project;
		req.take_text = take_text;
		/* OFFSET has no KQL counterpart: take limit + offset, skip here */
		if (state->limit > 0)
			req.take = state->limit + state->offset;
		else if (state->limit < 0 && take_text == NULL && state->rows_wanted > 0)
			req.take = state->rows_wanted;	/* EXISTS: see rows_wanted() */
	}
	return defender_deparse_kql(buf, &req, params);
}

/*
 * defender_derived_timespan
 *		The Timespan a hunting scan's conditions on Timestamp imply:
 *		"start/end" or "start", or NULL when there is no lower bound.
 *
 * Only top-level conjuncts count (Timestamp >= X AND Timestamp < Y), with
 * the bounds the KQL itself uses; the where clause still filters exactly,
 * the Timespan only stops the service from scanning 30 days for a query
 * about one.  With params NULL (EXPLAIN), a bound that is not a constant
 * makes the result NULL and sets *pending.
 */
char *
defender_derived_timespan(List *filter, const DefenderParamValues *params, bool *pending)
{
	List	   *leaves;
	ListCell   *lc;
	int64		start = PG_INT64_MIN;
	int64		end = PG_INT64_MAX;
	StringInfoData buf;

	if (filter == NIL)
		return NULL;
	leaves = intVal(linitial(filter)) == FT_AND ? list_delete_first(list_copy(filter)) :
		list_make1(filter);
	foreach(lc, leaves)
	{
		List	   *leaf = (List *) lfirst(lc);
		List	   *info;
		DefenderFilterOp op;
		DefenderLeafValue v;
		DefenderTickRange r;
		int32		typmod;

		if (intVal(linitial(leaf)) != FT_LEAF || strcmp(strVal(lsecond(leaf)), "Timestamp") != 0)
			continue;
		op = (DefenderFilterOp) intVal(lthird(leaf));
		info = lfourth(leaf);
		if (intVal(linitial(info)) != KQL_DATETIME ||
			(op != DFOP_GE && op != DFOP_GT && op != DFOP_LT && op != DFOP_LE))
			continue;
		defender_leaf_value(lfourth(info), params, &v);
		if (v.placeholder)
		{
			if (pending)
				*pending = true;
			return NULL;
		}
		if (v.isnull)
			continue;
		typmod = (int32) intVal(lthird(info));
		r = defender_datetime_comparison(DatumGetTimestampTz(v.datum), op, typmod);
		if (r.test == TICKS_GE)
			start = Max(start, r.lo);
		else if (r.test == TICKS_LT)
			end = Min(end, r.hi);
		/* every row, or none (then nothing is sent at all): no bound */
	}
	if (start == PG_INT64_MIN)
		return NULL;
	initStringInfo(&buf);
	defender_append_ticks(&buf, start);
	if (end != PG_INT64_MAX && end > start)
	{
		appendStringInfoChar(&buf, '/');
		defender_append_ticks(&buf, end);
	}
	return buf.data;
}

/*
 * defender_add_companion_columns
 *		For sum and avg, summarize also returns a count of the values; the
 *		store holds it in extra columns after the scan's.
 */
void
defender_add_companion_columns(ForeignScanState *node, DefenderScanState *state)
{
	TupleDesc	scan = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	int			extra = 0;
	int			i;
	ListCell   *lc;
	DefenderColumn *columns;
	AttrNumber *attnos;

	foreach(lc, state->output_names)
		if (intVal(lsecond((List *) lfirst(lc))) != OUT_PLAIN)
			extra++;
	if (extra == 0)
		return;

	state->store_desc = CreateTemplateTupleDesc(scan->natts + extra);
	for (i = 0; i < scan->natts; i++)
		TupleDescCopyEntry(state->store_desc, i + 1, scan, i + 1);
	columns = palloc0(sizeof(DefenderColumn) * (state->ncolumns + extra));
	attnos = palloc0(sizeof(AttrNumber) * (state->ncolumns + extra));
	memcpy(columns, state->columns, sizeof(DefenderColumn) * state->ncolumns);
	memcpy(attnos, state->slot_attnos, sizeof(AttrNumber) * state->ncolumns);

	i = scan->natts;
	foreach(lc, state->output_names)
	{
		List	   *out = (List *) lfirst(lc);
		DefenderColumn *col;

		if (intVal(lsecond(out)) == OUT_PLAIN)
			continue;
		i++;
		TupleDescInitEntry(state->store_desc, i, strVal(lthird(out)), INT8OID, -1, 0);
		col = &columns[state->ncolumns];
		defender_column_init_attr(col, state->store_desc, i);
		col->property = strVal(lthird(out));
		graph_normalize_name(col->property, col->match_key, sizeof(col->match_key));
		attnos[state->ncolumns++] = i;
	}
	state->columns = columns;
	state->slot_attnos = attnos;
}

/*
 * finish_summarize_row
 *		sum: NULL when no value was summed (KQL says 0); avg: sum divided by
 *		count with numeric division, which is what avg() itself computes.
 */
static void
finish_summarize_row(DefenderScanState *state, TupleTableSlot *slot)
{
	int			natts = slot->tts_tupleDescriptor->natts;
	int			companion = natts;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, state->output_names)
	{
		List	   *out = (List *) lfirst(lc);
		int			kind = intVal(lsecond(out));
		int64		n;

		i++;
		if (kind == OUT_PLAIN)
			continue;
		n = state->store_slot->tts_isnull[companion] ? 0 :
			DatumGetInt64(state->store_slot->tts_values[companion]);
		companion++;
		if (n == 0 || slot->tts_isnull[i - 1])
		{
			slot->tts_isnull[i - 1] = true;
			continue;
		}
		if (kind == OUT_AVG)
			slot->tts_values[i - 1] =
				DirectFunctionCall2(numeric_div, slot->tts_values[i - 1],
									DirectFunctionCall1(int8_numeric, Int64GetDatum(n)));
	}
}

/* The member of a JSON object named name, ignoring case; NULL if none. */
static json_t *
object_get_nocase(json_t *object, const char *name)
{
	const char *key;
	json_t	   *value;

	if (!json_is_object(object))
		return NULL;
	json_object_foreach(object, key, value)
	{
		if (pg_strcasecmp(key, name) == 0)
			return value;
	}
	return NULL;
}

/*
 * hunting_row_count
 *		The number a "... | count" query answered.
 *
 * Kusto's count operator returns one row with one long column, Count:
 * {"schema": [{"name": "Count", "type": "Int64"}], "results": [{"Count": 42}]}.
 * Keys are matched ignoring case, as in hunting_result.c.  Anything else,
 * or a count outside 0 .. HUNTING_MAX_ROWS, is an error: the rows this
 * number stands for are produced one by one, so it must be one the same
 * query reading a column could have returned.
 */
static int64
hunting_row_count(DefenderResponse *response, const char *display)
{
	json_t	   *doc = json_loadb(response->http.body, response->http.body_len, 0, NULL);
	json_t	   *rows = object_get_nocase(doc, "results");
	json_t	   *count = NULL;
	int64		n = -1;

	if (json_is_array(rows) && json_array_size(rows) == 1)
		count = object_get_nocase(json_array_get(rows, 0), "Count");
	if (json_is_integer(count))
		n = (int64) json_integer_value(count);
	json_decref(doc);			/* count is gone too */
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("the hunting result holds no count"),
				 errdetail("A query ending in \"| count\" must answer one row with a non-negative integer Count."),
				 errcontext("remote request: %s", display)));
	if (n > HUNTING_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting query matches " INT64_FORMAT " rows, more than the " INT64_FORMAT " a hunting result can hold",
						n, HUNTING_MAX_ROWS),
				 errhint("Add conditions or a LIMIT; for the number alone, use count(*)."),
				 errcontext("remote request: %s", display)));
	return n;
}

/*
 * defender_run_hunt
 *		Send the scan's query and put the result's rows in the tuplestore
 *		(or, for a count, read the count).
 */
void
defender_run_hunt(ForeignScanState *node, DefenderScanState *state)
{
	MemoryContext old = MemoryContextSwitchTo(state->page_cxt);
	char	   *display;
	char	   *url = defender_resource_url(state->opts, "hunting", "POST", &display);
	bool		fallback = false;
	DefenderResponse *response;

	for (;;)
	{
		StringInfoData kql;
		char	   *body;
		bool		may_fall_back = !fallback &&
			(state->summarize[0] ? outerPlanState(node) != NULL :
			 state->filter != NIL || state->limit > 0 ||
			 state->mode == SCAN_COUNT || state->count_rows);

		initStringInfo(&kql);
		if (defender_hunting_kql(state, &kql, &state->params, fallback, NULL) == RENDER_FALSE)
		{
			/*
			 * No row can match: nothing to ask.  An aggregate still answers
			 * over no rows (count 0, sum NULL, and one row when there is no
			 * GROUP BY): PostgreSQL's aggregation over the plain scan, whose
			 * conditions fold the same way, gives exactly that.
			 */
			if (state->summarize[0] && outerPlanState(node) != NULL)
				state->aggregate_locally = true;
			else
				state->finished = true;
			MemoryContextSwitchTo(old);
			return;
		}
		body = defender_hunting_request_body(kql.data,
											 state->opts->timespan ? state->opts->timespan :
											 fallback ? NULL :
											 defender_derived_timespan(state->filter, &state->params, NULL));
		response = defender_api_request(state->opts, state->opts->graph_url, "POST", url,
										display, body,
										DEFENDER_CACHEABLE |
										(may_fall_back ? DEFENDER_ALLOW_BAD_REQUEST : 0));
		if (!response->from_cache)
			state->requests++;
		if (response->http.status != 400)
			break;
		{
			DfwGraphError err;

			dfw_parse_graph_error(response->http.body, response->http.body_len, &err);
			ereport(NOTICE,
					(errmsg("Microsoft Graph rejected the pushed-down KQL; %s",
							state->summarize[0] ?
							"reading the rows and aggregating locally" :
							"querying without its where and take and filtering locally"),
					 errdetail("HTTP 400, error code \"%s\": %s", err.code,
							   defender_redact(state->opts, err.message)),
					 errcontext("KQL: %s", kql.data)));
			defender_response_release(response);
			if (state->summarize[0])
			{
				/* PostgreSQL aggregates: see local_aggregation_path */
				state->aggregate_locally = true;
				MemoryContextSwitchTo(old);
				return;
			}
			fallback = true;
			state->fallback = true;
		}
	}

	if (state->mode == SCAN_COUNT && !fallback)
	{
		json_t	   *doc = json_loadb(response->http.body, response->http.body_len, 0, NULL);
		json_t	   *rows = doc ? json_object_get(doc, "results") : NULL;
		json_t	   *first = json_is_array(rows) ? json_array_get(rows, 0) : NULL;
		json_t	   *count = json_is_object(first) ? json_object_get(first, "count_") : NULL;

		state->hunt_count = json_is_integer(count) ? (int64) json_integer_value(count) : -1;
		json_decref(doc);
		defender_response_release(response);
		if (state->hunt_count < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("the hunting result holds no count"),
					 errcontext("remote request: %s", display)));
		MemoryContextSwitchTo(old);
		return;
	}

	if (state->count_rows && !fallback)
	{
		state->hunt_count = hunting_row_count(response, display);
		state->counted = true;
		state->counted_read = 0;
		defender_response_release(response);
		MemoryContextSwitchTo(old);
		return;
	}

	MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	if (state->store)
		tuplestore_end(state->store);
	state->store = tuplestore_begin_heap(false, false, work_mem);
	MemoryContextSwitchTo(state->page_cxt);
	defender_hunting_result_to_tuplestore(response->http.body, response->http.body_len,
										  state->store_desc,
										  state->columns, state->ncolumns, state->slot_attnos,
										  state->store, display,
										  RelationGetRelationName(state->rel));
	defender_response_release(response);
	MemoryContextSwitchTo(old);
}

/*
 * defender_next_hunt_row
 *		The next row of the hunting result into the slot; false when done.
 */
bool
defender_next_hunt_row(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	if (state->finished)
		return false;
	if (state->store == NULL && !state->counted && !state->aggregate_locally)
	{
		defender_run_hunt(node, state);
		if (state->finished ||
			(state->store == NULL && !state->counted && !state->aggregate_locally))
			return false;
	}
	if (state->aggregate_locally)
		return defender_next_local_aggregate_row(node, slot);
	for (;;)
	{
		if (state->limit >= 0 && state->returned >= state->limit)
			return false;
		if (state->counted)
		{
			/* "| count": rows nobody reads a value of, all columns null */
			if (state->counted_read >= state->hunt_count)
				return false;
			state->counted_read++;
			ExecStoreAllNullTuple(slot);
			if (state->skipped < state->offset)
			{
				state->skipped++;
				continue;
			}
			state->returned++;
			return true;
		}
		/*
		 * Iterate runs in the per-tuple context, which is reset row by row;
		 * a tuple read back from a store that spilled to disk is palloc'd
		 * and freed by the slot on the next read, so it must be allocated
		 * where the store lives.
		 */
		{
			MemoryContext old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
			bool		found = tuplestore_gettupleslot(state->store, true, false,
														state->store_slot);

			MemoryContextSwitchTo(old);
			if (!found)
				return false;
		}
		/* the scan slot is not a minimal-tuple slot: hand over the values */
		slot_getallattrs(state->store_slot);
		ExecClearTuple(slot);
		memcpy(slot->tts_values, state->store_slot->tts_values,
			   sizeof(Datum) * slot->tts_tupleDescriptor->natts);
		memcpy(slot->tts_isnull, state->store_slot->tts_isnull,
			   sizeof(bool) * slot->tts_tupleDescriptor->natts);
		if (state->summarize[0])
			finish_summarize_row(state, slot);
		ExecStoreVirtualTuple(slot);
		if (state->fallback && !defender_passes_pushed_conditions(node, slot))
			continue;
		if (state->skipped < state->offset)
		{
			state->skipped++;	/* take covered the offset: skip it here */
			continue;
		}
		state->returned++;
		return true;
	}
}

/*
 * defender_hunting_request_body
 *		{"Query": query, "Timespan": timespan} as palloc'd JSON text: the
 *		body of every runHuntingQuery, a hunting table's, defender_hunt()'s
 *		and IMPORT's.
 *
 * jansson allocates with malloc; everything it returns is freed before
 * anything here can raise an error.  The object is made by json_pack, not
 * json_object(): the backend exports a function of that name (the SQL
 * json_object), and a call from this library would bind to it.
 */
char *
defender_hunting_request_body(const char *query, const char *timespan)
{
	char	   *query_utf8 = pg_server_to_any(query, (int) strlen(query), PG_UTF8);
	char	   *timespan_utf8 = timespan ?
		pg_server_to_any(timespan, (int) strlen(timespan), PG_UTF8) : NULL;
	json_t	   *object;

	if (timespan_utf8)
		object = json_pack("{s:s, s:s}", "Query", query_utf8, "Timespan", timespan_utf8);
	else
		object = json_pack("{s:s}", "Query", query_utf8);
	return defender_dump_json(object, "the hunting request");
}
