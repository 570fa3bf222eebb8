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
 * scan's outer plan.  The result is the hunting scan's row source
 * (row_source.c), as the pager is the list scan's.  Called by
 * foreign_scan.c only, with the scan state of scan_state.h.
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
 * hunting_kql
 *		The scan's KQL with the values (or, for EXPLAIN, placeholders).
 *
 * In fallback the filter and take are left out and every condition is
 * evaluated locally; the sort stays, since the plan relies on it.
 */
static DefenderRender
hunting_kql(DefenderScanState *state, StringInfo buf, const DefenderParamValues *params,
			bool fallback, const char *take_text)
{
	DefenderKqlRequest req;

	memset(&req, 0, sizeof(req));
	req.source = state->opts->hunting_table ? state->opts->hunting_table :
		state->opts->hunting_query;
	req.source_is_query = (state->opts->hunting_table == NULL);
	req.sort = state->plan.orderby[0] ? state->plan.orderby : NULL;
	req.count_only = (state->plan.mode == SCAN_COUNT) && !fallback;
	req.summarize = state->plan.summarize[0] ? state->plan.summarize : NULL;
	req.count_rows = state->plan.count_rows && !fallback;
	if (!fallback)
	{
		req.filter = state->plan.filter;
		req.project = state->plan.project;
		req.take_text = take_text;
		/* OFFSET has no KQL counterpart: take limit + offset, skip here */
		if (state->limit > 0)
			req.take = state->limit + state->offset;
		else if (state->limit < 0 && take_text == NULL && state->plan.rows_wanted > 0)
			req.take = state->plan.rows_wanted;	/* EXISTS: see defender_rows_wanted() */
	}
	return defender_deparse_kql(buf, &req, params);
}

/*
 * derived_timespan
 *		The Timespan a hunting scan's conditions on Timestamp imply:
 *		"start/end" or "start", or NULL when there is no lower bound.
 *
 * Only top-level conjuncts count (Timestamp >= X AND Timestamp < Y), with
 * the bounds the KQL itself uses; the where clause still filters exactly,
 * the Timespan only stops the service from scanning 30 days for a query
 * about one.  With params NULL (EXPLAIN), a bound that is not a constant
 * makes the result NULL and sets *pending.
 */
static char *
derived_timespan(List *filter, const DefenderParamValues *params, bool *pending)
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
		List	   *node = (List *) lfirst(lc);
		DefenderFilterLeaf leaf;
		DefenderFilterOp op;
		DefenderLeafValue v;
		DefenderTickRange r;
		int32		typmod;

		if (intVal(linitial(node)) != FT_LEAF)
			continue;
		defender_filter_leaf_read(node, &leaf);
		op = leaf.op;
		if (strcmp(leaf.name, "Timestamp") != 0 || leaf.kind != KQL_DATETIME ||
			(op != DFOP_GE && op != DFOP_GT && op != DFOP_LT && op != DFOP_LE))
			continue;
		defender_leaf_value(leaf.value, params, &v);
		if (v.placeholder)
		{
			if (pending)
				*pending = true;
			return NULL;
		}
		if (v.isnull)
			continue;
		typmod = leaf.typmod;
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

	foreach(lc, state->plan.output_names)
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
	foreach(lc, state->plan.output_names)
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

	foreach(lc, state->plan.output_names)
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
 * run_hunt
 *		Send the scan's query, with what the scan still pushes down (in
 *		fallback: no where, no take), and put the result's rows in the
 *		tuplestore (or, for a count, read the count).
 *
 * A 400 that the scan can fall back from (a where, a take, a summarize
 * with a local aggregation to run instead) sets state->rejected, Graph's
 * error in state->rejection; any other failure is raised.
 */
static void
run_hunt(ForeignScanState *node, DefenderScanState *state)
{
	MemoryContext old = MemoryContextSwitchTo(state->page_cxt);
	char	   *display;
	char	   *url = defender_resource_url(state->opts, "hunting", "POST", &display);
	bool		fallback = state->fallback;
	bool		may_fall_back = !fallback &&
		(state->plan.summarize[0] ? outerPlanState(node) != NULL :
		 state->plan.filter != NIL || state->limit > 0 ||
		 state->plan.mode == SCAN_COUNT || state->plan.count_rows);
	StringInfoData kql;
	char	   *body;
	DefenderResponse *response;

	initStringInfo(&kql);
	if (hunting_kql(state, &kql, &state->params, fallback, NULL) == RENDER_FALSE)
	{
		/*
		 * No row can match: nothing to ask.  An aggregate still answers over
		 * no rows (count 0, sum NULL, and one row when there is no GROUP
		 * BY): PostgreSQL's aggregation over the plain scan, whose
		 * conditions fold the same way, gives exactly that.
		 */
		if (state->plan.summarize[0] && outerPlanState(node) != NULL)
			state->aggregate_locally = true;
		else
			state->finished = true;
		MemoryContextSwitchTo(old);
		return;
	}
	body = defender_hunting_request_body(kql.data,
										 state->opts->timespan ? state->opts->timespan :
										 fallback ? NULL :
										 derived_timespan(state->plan.filter, &state->params, NULL));
	response = defender_api_request(state->opts, state->opts->graph_url, "POST", url,
									display, body,
									DEFENDER_CACHEABLE |
									(may_fall_back ? DEFENDER_ALLOW_BAD_REQUEST : 0));
	if (!response->from_cache)
		state->requests++;
	if (response->http.status == 400)
	{
		dfw_parse_graph_error(response->http.body, response->http.body_len,
							  &state->rejection);
		state->rejected = true;
		state->rejected_kql = kql.data;
		defender_response_release(response);
		MemoryContextSwitchTo(old);
		return;
	}

	if (state->plan.mode == SCAN_COUNT && !fallback)
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

	if (state->plan.count_rows && !fallback)
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
 * hunting_next
 *		The row source's next: the next row of the hunting result, sending
 *		the query first; the empty rows of a "| count"; or, when Graph
 *		rejected the summarize, the local aggregation's rows.
 */
static DefenderFetch
hunting_next(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	bool		found;
	MemoryContext old;

	if (state->store == NULL && !state->counted && !state->aggregate_locally)
	{
		state->rejected = false;
		run_hunt(node, state);
		if (state->rejected)
			return FETCH_REJECTED;
		if (state->finished ||
			(state->store == NULL && !state->counted && !state->aggregate_locally))
			return FETCH_END;
	}
	if (state->aggregate_locally)
		return defender_next_local_aggregate_row(node, slot) ? FETCH_ROW : FETCH_END;
	if (state->counted)
	{
		/* "| count": rows nobody reads a value of, all columns null */
		if (state->counted_read >= state->hunt_count)
			return FETCH_END;
		state->counted_read++;
		ExecStoreAllNullTuple(slot);
		return FETCH_ROW;
	}

	/*
	 * Iterate runs in the per-tuple context, which is reset row by row; a
	 * tuple read back from a store that spilled to disk is palloc'd and
	 * freed by the slot on the next read, so it must be allocated where the
	 * store lives.
	 */
	old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	found = tuplestore_gettupleslot(state->store, true, false, state->store_slot);
	MemoryContextSwitchTo(old);
	if (!found)
		return FETCH_END;
	/* the scan slot is not a minimal-tuple slot: hand over the values */
	slot_getallattrs(state->store_slot);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, state->store_slot->tts_values,
		   sizeof(Datum) * slot->tts_tupleDescriptor->natts);
	memcpy(slot->tts_isnull, state->store_slot->tts_isnull,
		   sizeof(bool) * slot->tts_tupleDescriptor->natts);
	if (state->plan.summarize[0])
		finish_summarize_row(state, slot);
	ExecStoreVirtualTuple(slot);
	return FETCH_ROW;
}

/*
 * hunting_restart_with_less
 *		The row source's restart after Graph rejected the KQL: a summarize
 *		is left to the scan's outer plan (see local_aggregation_path);
 *		anything else is asked again without its where and take (OFFSET's
 *		rows were never skipped remotely: take covered them).
 */
static void
hunting_restart_with_less(ForeignScanState *node, DefenderScanState *state)
{
	defender_notice_rejection(state, "KQL",
							  state->plan.summarize[0] ?
							  "reading the rows and aggregating locally" :
							  "querying without its where and take and filtering locally",
							  state->rejected_kql, false);
	if (state->plan.summarize[0])
		state->aggregate_locally = true;
	else
		state->fallback = true;
}

/* The hunting result as a row source. */
const DefenderRowSource defender_hunting_source = {
	hunting_next,
	hunting_restart_with_less
};

/*
 * defender_hunting_count
 *		count(*) of a hunting table: "| summarize count()", or, when Graph
 *		rejects the KQL, the rows of the query without its where that pass
 *		the conditions.
 */
int64
defender_hunting_count(ForeignScanState *node, DefenderScanState *state,
					   TupleTableSlot *slot)
{
	int64		count = 0;

	if (state->finished)
		return 0;
	state->rejected = false;
	run_hunt(node, state);
	if (!state->rejected)
		return state->finished ? 0 : state->hunt_count;
	hunting_restart_with_less(node, state);
	while (defender_next_row(node, state, slot))
		count++;
	ExecClearTuple(slot);
	return count;
}

/*
 * defender_explain_hunting_kql
 *		The KQL as EXPLAIN shows it: a LIMIT that is no constant is shown
 *		as its expression in take (plus OFFSET's).
 */
char *
defender_explain_hunting_kql(DefenderScanState *state, const DefenderParamValues *params)
{
	const char *take_text = NULL;
	StringInfoData buf;

	state->limit = -1;
	state->offset = 0;
	if (state->plan.limit_param)
	{
		int			k = state->plan.limit_param - 1;
		int			o = state->plan.offset_param - 1;

		if (params->placeholders[k])
			take_text = state->plan.offset_param ?
				psprintf("%s + %s", params->placeholders[k],
						 params->placeholders[o] ? params->placeholders[o] :
						 psprintf(INT64_FORMAT, DatumGetInt64(params->values[o]))) :
				params->placeholders[k];
		else
		{
			state->limit = DatumGetInt64(params->values[k]);
			if (state->plan.offset_param && !params->placeholders[o])
				state->offset = DatumGetInt64(params->values[o]);
		}
	}
	initStringInfo(&buf);
	if (hunting_kql(state, &buf, params, false, take_text) == RENDER_FALSE)
		return "none (no row can match the conditions)";
	return buf.data;
}

/*
 * defender_explain_timespan
 *		The Timespan as EXPLAIN shows it: the option's, the one derived from
 *		constant bounds on Timestamp, or what decides it.
 */
const char *
defender_explain_timespan(DefenderScanState *state)
{
	bool		from_conditions = false;
	char	   *derived;

	if (state->opts->timespan)
		return state->opts->timespan;
	derived = derived_timespan(state->plan.filter, NULL, &from_conditions);
	return derived ? derived :
		from_conditions ? "from the conditions on Timestamp, computed at execution" :
		"(the API's default: the last 30 days)";
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
