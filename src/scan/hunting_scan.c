/*-------------------------------------------------------------------------
 *
 * hunting_scan.c
 *		  A hunting scan's request: its KQL and Timespan, one runHuntingQuery
 *		  sent, and its answer read.
 *
 * A foreign table with resource 'hunting' is read with one request: the
 * KQL written by deparse_kql.c from what the planner pushed (filter,
 * project, sort, take, summarize), the timespan given or derived from the
 * conditions on Timestamp, and the response streamed into a tuplestore
 * by hunting_result.c.  defender_send_hunt() sends that request, or one
 * time window of it, and says what came back: rows in the store (or a
 * count), a 400 the scan can fall back from, or a result past the
 * service's caps (refused as too large, or holding exactly the row cap,
 * so possibly cut).  What to do next is decided above: hunting_source.c
 * hands out the rows (and falls back, or aggregates locally, after a
 * 400), hunting_windows.c reads a result past the caps again in time
 * windows.  The same request body serves defender_hunt() and IMPORT.
 * Called by hunting_source.c, hunting_windows.c and foreign_scan.c (its
 * EXPLAIN), with the scan state of scan_state.h; the request body by
 * src/functions/ and src/import/ too.
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
#include "hunting_scan.h"
#include "pg_jansson.h"

static bool time_bounds(DefenderFilter *filter, const DefenderParamValues *params, const char *column,
						int64 *start, int64 *end, bool *pending);

/*
 * hunting_kql
 *		The scan's KQL with the values (or, for EXPLAIN, placeholders).
 *
 * In fallback the filter and take are left out and every condition is
 * evaluated locally; the sort stays, since the plan relies on it.
 */
static DefenderRender
hunting_kql(DefenderScanState *state, StringInfo buf, const DefenderParamValues *params,
			bool fallback, const char *take_text, const HuntWindow *w)
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
	if (w)
	{
		/*
		 * a window: its bounds, and only the rows the take still needs; or,
		 * when the rows are sorted here, all its rows in any order
		 */
		defender_window_request(&req, state->opts->time_column, w);
		if (state->sort_locally)
		{
			req.sort = NULL;
			req.take = 0;
		}
		else if (req.take > 0)
			req.take -= state->split->rows_before;
	}
	return defender_deparse_kql(buf, &req, params);
}

/*
 * defender_hunting_take
 *		The take the whole query sends (LIMIT plus OFFSET, or what EXISTS
 *		reads), 0 for none; 0 too for the windows of a scan that sorts
 *		their rows itself (they are read whole).
 */
int64
defender_hunting_take(DefenderScanState *state)
{
	if (state->fallback || state->sort_locally)
		return 0;
	if (state->limit > 0)
		return state->limit + state->offset;
	if (state->limit < 0 && state->plan.rows_wanted > 0)
		return state->plan.rows_wanted;
	return 0;
}

/*
 * time_bounds
 *		The bounds the conditions on a datetime column put on it, in ticks:
 *		*start (at or after) and *end (before), false when there is neither.
 *
 * Only top-level conjuncts count (C >= X AND C < Y), with the bounds the
 * KQL itself uses (defender_datetime_comparison).  With params NULL
 * (EXPLAIN), a bound that is not a constant makes the result false and
 * sets *pending.
 */
static bool
time_bounds(DefenderFilter *filter, const DefenderParamValues *params, const char *column,
			int64 *start, int64 *end, bool *pending)
{
	List	   *leaves;
	ListCell   *lc;

	*start = PG_INT64_MIN;
	*end = PG_INT64_MAX;
	if (filter == NULL)
		return false;
	leaves = filter->kind == DEFENDER_FILTER_AND ? filter->children :
		list_make1(filter);
	foreach(lc, leaves)
	{
		DefenderFilter *node = lfirst(lc);
		DefenderFilterLeaf leaf;
		DefenderFilterOp op;
		DefenderLeafValue v;
		DefenderTickRange r;

		if (node->kind != DEFENDER_FILTER_LEAF)
			continue;
		leaf = node->leaf;
		op = leaf.op;
		if (strcmp(leaf.name, column) != 0 || leaf.kind != KQL_DATETIME ||
			(op != DFOP_GE && op != DFOP_GT && op != DFOP_LT && op != DFOP_LE))
			continue;
		defender_leaf_value(leaf.value, params, &v);
		if (v.placeholder)
		{
			if (pending)
				*pending = true;
			*start = PG_INT64_MIN;
			*end = PG_INT64_MAX;
			return false;
		}
		if (v.isnull)
			continue;
		r = defender_datetime_comparison(DatumGetTimestampTz(v.datum), op, leaf.typmod);
		if (r.test == TICKS_GE)
			*start = Max(*start, r.lo);
		else if (r.test == TICKS_LT)
			*end = Min(*end, r.hi);
		/* every row, or none (then nothing is sent at all): no bound */
	}
	return *start != PG_INT64_MIN || *end != PG_INT64_MAX;
}

/*
 * derived_timespan
 *		The Timespan a hunting scan's conditions on Timestamp imply:
 *		"start/end" or "start", or NULL when there is no lower bound.
 *
 * The where clause still filters exactly; the Timespan only stops the
 * service from scanning 30 days for a query about one.  params as for
 * time_bounds.
 */
static char *
derived_timespan(DefenderFilter *filter, const DefenderParamValues *params, bool *pending)
{
	int64		start;
	int64		end;
	StringInfoData buf;

	(void) time_bounds(filter, params, "Timestamp", &start, &end, pending);
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
 * defender_hunting_time_bounds
 *		The bounds the scan's own conditions put on its time column, in
 *		ticks (PG_INT64_MIN, PG_INT64_MAX where there is none): what the time
 *		windows of a split must cover.  In fallback no condition is sent, so
 *		none bounds the query.
 */
void
defender_hunting_time_bounds(DefenderScanState *state, int64 *lo, int64 *hi)
{
	(void) time_bounds(state->fallback ? NULL : state->plan.filter, &state->params,
					   state->opts->time_column, lo, hi, NULL);
}

/*
 * defender_hunting_timespan
 *		The Timespan the whole query sends: the option's, else the one the
 *		conditions on Timestamp imply (none in fallback, which sends no
 *		condition), else NULL for the API's default.
 */
char *
defender_hunting_timespan(DefenderScanState *state)
{
	if (state->opts->timespan)
		return state->opts->timespan;
	return derived_timespan(state->fallback ? NULL : state->plan.filter, &state->params, NULL);
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
 * defender_hunting_row_count
 *		The number a "... | count" query answered.
 *
 * Kusto's count operator returns one row with one long column, Count:
 * {"schema": [{"name": "Count", "type": "Int64"}], "results": [{"Count": 42}]}.
 * Keys are matched ignoring case, as in hunting_result.c.  Anything else,
 * or a count above max, is an error: the rows this number stands for are
 * produced one by one, so it must be one the same query reading a column
 * could have returned: in one answer (max the row cap), or, with
 * split_windows, in as many windows as hunting_max_windows allows (max
 * their rows).  The count itself is exact either way.
 */
int64
defender_hunting_row_count(DefenderResponse *response, const char *display, int64 max,
						   bool split_windows)
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
	if (n > max && split_windows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting query matches " INT64_FORMAT " rows, more than the " INT64_FORMAT " its time windows could read",
						n, max),
				 errdetail("At most hunting_max_windows windows of hunting_max_rows rows each."),
				 errhint("Add conditions or a LIMIT, or raise the option \"hunting_max_windows\"; for the number alone, use count(*)."),
				 errcontext("remote request: %s", display)));
	if (n > max)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting query matches " INT64_FORMAT " rows, more than the " INT64_FORMAT " a hunting result can hold",
						n, max),
				 errhint("Add conditions or a LIMIT; for the number alone, use count(*)."),
				 errcontext("remote request: %s", display)));
	return n;
}

/*
 * defender_hunting_send_count
 *		Send a "... | count" query (kql) with its Timespan and return the
 *		number it answers (defender_hunting_row_count, no cap); *sent, when
 *		given, says whether the request went to the service (not the cache).
 *		The count that sizes time windows, for a hunting table
 *		(hunting_windows.c) and an ad-hoc query (hunt_split.c).
 */
int64
defender_hunting_send_count(const DefenderOptions *opts, const char *kql,
							const char *timespan, bool *sent)
{
	char	   *display;
	char	   *url = defender_resource_url(opts, "hunting", "POST", &display);
	DefenderResponse *response;
	int64		n;

	response = defender_api_request(opts, opts->graph_url, "POST", url, display,
									defender_hunting_request_body(kql, timespan),
									DEFENDER_CACHEABLE);
	if (sent)
		*sent = !response->from_cache;
	n = defender_hunting_row_count(response, display, PG_INT64_MAX, false);
	defender_response_release(response);
	return n;
}

/* Is Graph's 400 the refusal of a result past a cap?  (time_windows.c) */
static bool
is_too_large(const DfwGraphError *err)
{
	return defender_hunting_too_large(err);
}

/*
 * window_timespan
 *		The Timespan of a window: its own bounds when the time column is
 *		the table's Timestamp (the column Timespan itself filters on), the
 *		whole query's otherwise (see defender_window_timespan).
 */
static char *
window_timespan(DefenderScanState *state, const HuntWindow *w, const char *whole)
{
	if (w == NULL || !state->split->narrow_timespan)
		return (char *) whole;
	return defender_window_timespan(w, whole);
}

/*
 * write_hunt
 *		The body of the scan's request, or of one window of it (w), with
 *		what the scan still pushes down (in fallback: no where, no take);
 *		its KQL in *kql.  NULL when no row can match and nothing is sent.
 */
static char *
write_hunt(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
		   StringInfo kql)
{
	initStringInfo(kql);
	if (hunting_kql(state, kql, &state->params, state->fallback, NULL, w) == RENDER_FALSE)
	{
		/*
		 * No row can match: nothing to ask.  An aggregate still answers over
		 * no rows (count 0, sum NULL, and one row when there is no GROUP
		 * BY): PostgreSQL's aggregation over the plain scan, whose
		 * conditions fold the same way, gives exactly that.
		 */
		if (state->plan.summarize[0] && outerPlanState(node) != NULL)
			state->aggregate_locally = true;
		else if (w == NULL)
			state->finished = true;
		return NULL;
	}
	return defender_hunting_request_body(kql->data,
										 window_timespan(state, w,
														 defender_hunting_timespan(state)));
}

/*
 * hunt_refused
 *		Graph answered 400: HUNT_TOO_LARGE when it refused a result past
 *		the caps (what said so in *too_large), HUNT_REJECTED when the scan
 *		can fall back from it (the refused KQL in state->rejected_kql); else
 *		the error.  state->rejection says why in each case.
 */
static HuntOutcome
hunt_refused(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
			 DefenderResponse *response, char *kql, const char *display,
			 char **too_large)
{
	bool		may_fall_back = w == NULL && !state->fallback &&
		(state->plan.summarize[0] ? outerPlanState(node) != NULL :
		 state->plan.filter != NULL || state->limit > 0 ||
		 state->plan.mode == SCAN_COUNT || state->plan.count_rows);

	char	   *excerpt = NULL;
	char	   *request_id = NULL;

	dfw_parse_graph_error(response->http.body, response->http.body_len,
						  &state->rejection);

	/*
	 * A 400 without Graph's error code (a gateway's HTML page, a proxy's
	 * text, JSON of another shape) did not come from Kusto reading the KQL:
	 * nothing to fall back from, and no code or message to show.  Say what
	 * the body was instead (defender_body_excerpt, as every request's error
	 * does), read before the body is released.
	 */
	if (state->rejection.code[0] == '\0' && !is_too_large(&state->rejection))
	{
		excerpt = defender_body_excerpt(state->opts, &response->http);
		request_id = pstrdup(response->http.request_id[0] ? response->http.request_id : "none");
	}
	defender_response_release(response);
	if (excerpt)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
				 w ? errmsg("Microsoft Graph rejected time window %s of the hunting query of foreign table \"%s\"",
							defender_time_window_text(state->opts->time_column, w),
							RelationGetRelationName(state->rel)) :
				 errmsg("Microsoft Graph rejected the hunting query of foreign table \"%s\"",
						RelationGetRelationName(state->rel)),
				 errdetail("HTTP 400, not a Graph JSON error (no error code): %s (request-id %s).",
						   excerpt, defender_display_text(request_id)),
				 errcontext("remote request: %s", display)));
	if (is_too_large(&state->rejection))
	{
		elog(DEBUG1, "defender_fdw: hunting %s%s refused as past the caps: %s",
			 w ? "window " : "query", w ? defender_time_window_text(state->opts->time_column, w) : "",
			 state->rejection.message);
		*too_large = MemoryContextStrdup(node->ss.ps.state->es_query_cxt,
										 psprintf("Microsoft Graph refused it as too large: error code \"%s\": %s (request-id %s)",
												  state->rejection.code,
												  defender_redact(state->opts, state->rejection.message),
												  state->rejection.request_id[0] ? state->rejection.request_id : "none"));
		return HUNT_TOO_LARGE;
	}
	if (w != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting result of foreign table \"%s\" is past the service's caps and cannot be split on %s",
						RelationGetRelationName(state->rel), state->opts->time_column),
				 errdetail("%s; Microsoft Graph rejected the window: HTTP 400, error code \"%s\": %s (request-id %s)",
						   state->split->refusal, state->rejection.code,
						   defender_redact(state->opts, state->rejection.message),
						   state->rejection.request_id[0] ? state->rejection.request_id : "none"),
				 errhint("Name a datetime column of the result in the table option \"time_column\", or add conditions or a LIMIT."),
				 errcontext("remote request: %s", display)));
	if (!may_fall_back)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
				 errmsg("Microsoft Graph rejected the hunting query of foreign table \"%s\"",
						RelationGetRelationName(state->rel)),
				 errdetail("HTTP 400, error code \"%s\": %s (request-id %s)",
						   state->rejection.code,
						   defender_redact(state->opts, state->rejection.message),
						   state->rejection.request_id[0] ? state->rejection.request_id : "none"),
				 errcontext("remote request: %s", display)));
	state->rejected_kql = kql;
	return HUNT_REJECTED;
}

/*
 * read_hunt_count
 *		The count of a count(*) scan ("| summarize count()", whose column
 *		Kusto names count_) into state->hunt_count; an answer without one
 *		is an error.
 */
static void
read_hunt_count(DefenderScanState *state, DefenderResponse *response, const char *display)
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
}

/*
 * empty_store
 *		The scan's tuplestore, emptied (one store for the scan, for one
 *		response's rows at a time), made at the first use.  A scan that is
 *		split into time windows gets a store bounded by
 *		DEFENDER_WINDOW_STORE_KB instead of work_mem.  Returns in
 *		state->page_cxt.
 */
static void
empty_store(ForeignScanState *node, DefenderScanState *state)
{
	bool		windows = state->split != NULL;

	if (state->store)
	{
		ExecClearTuple(state->store_slot);
		if (windows == state->store_for_windows)
		{
			tuplestore_clear(state->store);
			return;
		}
		/* the split has just begun: no parser holds the old store */
		tuplestore_end(state->store);
	}
	MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	state->store = tuplestore_begin_heap(false, false,
										 windows ? Min(work_mem, DEFENDER_WINDOW_STORE_KB) : work_mem);
	state->store_for_windows = windows;
	MemoryContextSwitchTo(state->page_cxt);
}

/*
 * may_be_cut
 *		Can an answer of nrows rows have been cut by the service's row cap
 *		without saying so?  When it holds exactly the cap (or more), and
 *		not because the take asked for at most that many.  With nrows 0:
 *		could any answer of this request be cut, i.e. must its rows wait
 *		until the answer is whole (see defender_send_hunt)?
 */
static bool
may_be_cut(DefenderScanState *state, int64 nrows)
{
	int64		cap = state->opts->hunting_max_rows;
	int64		take = defender_hunting_take(state);
	bool		take_within_cap = take > 0 &&
		take - (state->split ? state->split->rows_before : 0) <= cap;

	return !take_within_cap && (nrows == 0 || nrows >= cap);
}

/*
 * rows_stored
 *		An answer's nrows rows are in the store: HUNT_TOO_LARGE, with the
 *		store emptied again, when the service may have cut it at the row
 *		cap; a window's rows are counted for the take and for EXPLAIN
 *		ANALYZE.  Runs in state->page_cxt.
 */
static HuntOutcome
rows_stored(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
			int64 nrows, char **too_large)
{
	if (nrows > 0 && may_be_cut(state, nrows))
	{
		ExecClearTuple(state->store_slot);
		tuplestore_clear(state->store);
		elog(DEBUG1, "defender_fdw: hunting %s%s answered " INT64_FORMAT " rows, the row cap: possibly cut",
			 w ? "window " : "query", w ? defender_time_window_text(state->opts->time_column, w) : "", nrows);
		*too_large = MemoryContextStrdup(node->ss.ps.state->es_query_cxt,
										 psprintf("The answer holds exactly the row cap (" INT64_FORMAT " rows), so the service may have cut it", nrows));
		return HUNT_TOO_LARGE;
	}
	if (w)
	{
		MemoryContext query_cxt = node->ss.ps.state->es_query_cxt;
		MemoryContext old;

		state->split->rows_before += nrows;
		elog(DEBUG1, "defender_fdw: hunting window %s: " INT64_FORMAT " rows",
			 defender_time_window_text(state->opts->time_column, w), nrows);
		old = MemoryContextSwitchTo(query_cxt);
		state->windows_sent = lappend(state->windows_sent,
									  psprintf("%s: " INT64_FORMAT " rows%s",
											   defender_time_window_text(state->opts->time_column, w), nrows,
											   state->store == NULL || tuplestore_in_memory(state->store) ? "" :
											   " (spilled to a temporary file)"));
		MemoryContextSwitchTo(old);
	}
	return HUNT_DONE;
}

/*
 * store_hunt_rows
 *		Put a whole answer's rows in the scan's tuplestore (emptied first),
 *		then rows_stored.  Runs in state->page_cxt and returns there.
 */
static HuntOutcome
store_hunt_rows(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
				DefenderResponse *response, const char *display, char **too_large)
{
	empty_store(node, state);
	defender_hunting_result_to_tuplestore(response->http.body, response->http.body_len,
										  state->store_desc,
										  state->columns, state->ncolumns, state->slot_attnos,
										  state->store, display,
										  RelationGetRelationName(state->rel));
	defender_response_release(response);
	return rows_stored(node, state, w, tuplestore_tuple_count(state->store), too_large);
}

/*
 * whole_answer
 *		What to do with a whole answer (sent, or sent again after a stream
 *		could not be read): a 400 to hunt_refused, a count read, or the rows
 *		stored.
 */
static HuntOutcome
whole_answer(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
			 DefenderResponse *response, char *kql, const char *display,
			 char **too_large)
{
	if (!response->from_cache)
		state->requests++;
	if (response->http.status == 400)
		return hunt_refused(node, state, w, response, kql, display, too_large);
	if (state->plan.mode == SCAN_COUNT && !state->fallback)
		read_hunt_count(state, response, display);
	else if (state->plan.count_rows && !state->fallback)
	{
		/*
		 * As many empty rows as the same query reading a column could give:
		 * with splitting on, as many as its windows could read.
		 */
		bool		split = state->opts->hunting_split;
		int64		max = (int64) state->opts->hunting_max_rows *
			(split ? state->opts->hunting_max_windows : 1);

		state->hunt_count = defender_hunting_row_count(response, display, max, split);
		state->counted = true;
		state->counted_read = 0;
		defender_response_release(response);
	}
	else
		return store_hunt_rows(node, state, w, response, display, too_large);
	return HUNT_DONE;
}

/*
 * streamed_rows
 *		Read a rows answer as it arrives (defender_stream_start), parsing
 *		each piece into the store as it comes, so that the parse overlaps
 *		the transfer.
 *
 * Rows may leave before the answer ends only when the service's row cap
 * cannot have cut it silently: when the take asks for at most the cap
 * (a pushed LIMIT, EXISTS).  The stream is then kept in
 * state->hunt_stream and the rows come out as hunting_next reads them
 * (defender_hunt_stream_more).  Otherwise an answer may end at exactly
 * the cap, which says nothing about whether it was cut (issue 17's "never
 * a silent cut"), so its rows stay in the store until it is whole and has
 * been checked, as before; the answer is still parsed while it arrives.
 * Asking a "| count" first to know the size would cost a request of the
 * tenant's hunting quota for every such scan, which a result under the
 * cap (the usual case) would pay for nothing: not done.
 *
 * *resent is set when the answer had to be asked for again whole
 * (defender_stream_resend: a 401, 429, or a transfer broken before any row
 * left); the outcome is then that answer's.
 */
static HuntOutcome
streamed_rows(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
			  DefenderBodyStream *stream, char *kql, const char *display,
			  char **too_large)
{
	const char *data;
	size_t		len;
	DefenderResponse *response;
	DefenderHuntingParser *parser;
	HuntStream *hs;
	int64		nrows;

	state->requests++;
	if (!defender_stream_next(stream, &data, &len))
	{
		/* no byte of a 2xx answer: an error, a 400, or an empty body */
		response = defender_stream_finish(stream, true);
		if (response == NULL)
		{
			state->requests--;	/* whole_answer counts the new one */
			response = defender_stream_resend(stream, DEFENDER_ALLOW_BAD_REQUEST);
		}
		else
			state->requests--;
		return whole_answer(node, state, w, response, kql, display, too_large);
	}

	empty_store(node, state);
	parser = defender_hunting_begin(state->store_desc, state->columns, state->ncolumns,
									state->slot_attnos, state->store, display,
									RelationGetRelationName(state->rel));
	defender_hunting_feed(parser, data, len);
	if (!may_be_cut(state, 0))
	{
		/* rows leave as they are read: see defender_hunt_stream_more */
		hs = palloc0(sizeof(HuntStream));
		hs->stream = stream;
		hs->parser = parser;
		hs->kql = kql;
		hs->display = pstrdup(display);
		if (w)
		{
			hs->w = palloc(sizeof(HuntWindow));
			*hs->w = *w;
		}
		state->hunt_stream = hs;
		state->hunt_rows_out = false;
		return HUNT_DONE;
	}

	/* the rows wait for the whole answer, parsed as it comes */
	response = defender_hunting_read_rest(stream, parser, state->store, &nrows);
	if (response != NULL)
	{
		/* broken before any row left: asked again, whole */
		empty_store(node, state);
		state->requests--;		/* whole_answer counts it */
		return whole_answer(node, state, w, response, kql, display, too_large);
	}
	return rows_stored(node, state, w, nrows, too_large);
}

/*
 * defender_hunting_read_rest
 *		Parse the rest of a streamed 2xx answer (defender_stream_next)
 *		into parser and settle it: NULL when it ended whole, with its row
 *		count in *nrows (the parser finished, the buffer freed).  A
 *		transfer broken on the way is asked again: the parser is abandoned,
 *		store emptied, and the answer sent again whole
 *		(defender_stream_resend) returned for the caller to read.  For
 *		callers none of whose rows has left yet: the scan's rows that wait
 *		for the exact-cap check (streamed_rows), and the functions'
 *		(hunt_split.c).
 */
DefenderResponse *
defender_hunting_read_rest(DefenderBodyStream *stream, DefenderHuntingParser *parser,
						   Tuplestorestate *store, int64 *nrows)
{
	const char *data;
	size_t		len;
	DefenderResponse *response;

	while (defender_stream_next(stream, &data, &len))
		defender_hunting_feed(parser, data, len);
	response = defender_stream_finish(stream, true);
	if (response == NULL)
	{
		defender_hunting_abandon(parser);
		tuplestore_clear(store);
		return defender_stream_resend(stream, DEFENDER_ALLOW_BAD_REQUEST);
	}
	*nrows = defender_hunting_finish(parser);
	/* the buffer is libcurl's (malloc): free it now, not with the scan */
	defender_response_release(response);
	return NULL;
}

/*
 * defender_hunt_stream_more
 *		The store of a streaming answer (state->hunt_stream) has been read:
 *		empty it and read on until it holds a row or the answer has ended.
 *		False when there was no stream.
 *
 * At the end the transfer is checked (a broken one, or an error status,
 * is an ERROR once a row has left: never a partial answer taken for the
 * whole) and the JSON finished (an answer cut inside is an ERROR too).
 * Before any row has left, a broken transfer is asked again whole.
 */
bool
defender_hunt_stream_more(ForeignScanState *node, DefenderScanState *state)
{
	HuntStream *hs = state->hunt_stream;
	MemoryContext old;
	const char *data;
	size_t		len;
	DefenderResponse *response;
	char	   *too_large = NULL;

	if (hs == NULL)
		return false;
	old = MemoryContextSwitchTo(state->page_cxt);
	empty_store(node, state);
	while (tuplestore_tuple_count(state->store) == 0 &&
		   defender_stream_next(hs->stream, &data, &len))
		defender_hunting_feed(hs->parser, data, len);
	if (tuplestore_tuple_count(state->store) == 0)
	{
		state->hunt_stream = NULL;
		response = defender_stream_finish(hs->stream, !state->hunt_rows_out);
		if (response == NULL)
		{
			defender_hunting_abandon(hs->parser);
			empty_store(node, state);
			state->requests--;
			response = defender_stream_resend(hs->stream, DEFENDER_ALLOW_BAD_REQUEST);
			if (whole_answer(node, state, hs->w, response, hs->kql, hs->display,
							 &too_large) != HUNT_DONE)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
						 errmsg("Microsoft Graph refused the hunting query of foreign table \"%s\" when it was sent again",
								RelationGetRelationName(state->rel)),
						 errdetail("%s", too_large ? too_large :
								   psprintf("HTTP 400, error code \"%s\": %s",
											state->rejection.code,
											defender_redact(state->opts, state->rejection.message))),
						 errcontext("remote request: %s", hs->display)));
		}
		else
		{
			defender_response_release(response);
			(void) rows_stored(node, state, hs->w, defender_hunting_finish(hs->parser),
							   &too_large);
		}
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * A window's request sent ahead (send_window_ahead): the service works on
 * the next window while the rows of this one are read and handed out.
 */
typedef struct HuntAhead
{
	const HuntWindow *w;		/* the window asked for (split->pending's own) */
	bool		fallback;		/* state->fallback when it was written */
	DefenderBodyStream *stream;
	char	   *kql;
	char	   *display;
} HuntAhead;

/*
 * send_window_ahead
 *		Send the next pending window's request now, before this window's
 *		answer is read, so that the service computes it meanwhile; its
 *		bytes wait in the client until defender_send_hunt takes it up.
 *
 * One window ahead at most: its answer waits in memory while this one is
 * read (at most one window's answer more than reading them one after
 * another), and only when the tenant's quota lets it go at once: it never
 * waits for the quota (defender_stream_start, !may_wait), the window then
 * goes when it is needed, as without a request ahead.  Not with a take:
 * each window asks for the rows still wanted, known only when the one
 * before it has ended.  Not for counts, nor under
 * cache_ttl (both read whole answers).  A window halved later leaves the
 * request ahead valid: it is matched by the window it asks for, and
 * dropped only when the scan falls back to a query without its where.
 * The request is counted when sent.  Runs in state->page_cxt, where the
 * stream lives and with which its transfer stops (rescan, end of scan).
 */
static void
send_window_ahead(ForeignScanState *node, DefenderScanState *state)
{
	DefenderHuntSplit *split = state->split;
	HuntWindow *next;
	HuntAhead  *ahead;
	StringInfoData kql;
	char	   *body;
	char	   *url;

	if (split == NULL || split->ahead != NULL || split->pending == NIL ||
		defender_hunting_take(state) > 0 || state->opts->cache_ttl != 0 ||
		(!state->fallback && (state->plan.mode == SCAN_COUNT || state->plan.count_rows)))
		return;
	next = (HuntWindow *) linitial(split->pending);
	body = write_hunt(node, state, next, &kql);
	if (body == NULL)
		return;					/* no row can match it: nothing to ask */
	ahead = palloc0(sizeof(HuntAhead));
	ahead->w = next;
	ahead->fallback = state->fallback;
	ahead->kql = kql.data;
	url = defender_resource_url(state->opts, "hunting", "POST", &ahead->display);
	ahead->stream = defender_stream_start(state->opts, state->opts->graph_url,
										  "POST", url, ahead->display, body, false);
	if (ahead->stream == NULL)
		return;					/* the quota would hold it: sent when needed */
	state->requests++;
	split->ahead = ahead;
	elog(DEBUG1, "defender_fdw: hunting window %s sent ahead",
		 defender_time_window_text(state->opts->time_column, next));
}

/*
 * taken_ahead
 *		The request sent ahead for window w, taken off the split, or NULL
 *		when none was.  A request written before the scan fell back to a
 *		query without its where is stopped, and NULL returned: w is asked
 *		again as the scan now asks.
 */
static HuntAhead *
taken_ahead(DefenderScanState *state, const HuntWindow *w)
{
	HuntAhead  *ahead = state->split ? state->split->ahead : NULL;

	if (w == NULL || ahead == NULL || ahead->w != w)
		return NULL;
	state->split->ahead = NULL;
	if (ahead->fallback != state->fallback)
	{
		defender_stream_cancel(ahead->stream);
		return NULL;
	}
	return ahead;
}

/*
 * defender_send_hunt
 *		Send the scan's query, or one window of it (w), with what the scan
 *		still pushes down (in fallback: no where, no take), and put the
 *		result's rows in the tuplestore (or, for a count, read the count).
 *
 * A 400 that the scan can fall back from (a where, a take, a summarize
 * with a local aggregation to run instead) sets state->rejection and
 * returns HUNT_REJECTED.  A result past the caps, refused or exactly at
 * the row cap, returns HUNT_TOO_LARGE with the store emptied (none of its
 * rows has been handed out) and what said so in *too_large.  Any other
 * failure is raised.  The steps: write_hunt, the request, then
 * hunt_refused, read_hunt_count, defender_hunting_row_count or
 * store_hunt_rows by what was asked; all in the per-page context.
 *
 * Rows are read as they arrive (streamed_rows), but for a count (one
 * small answer) and under cache_ttl (the cache keeps whole answers): a
 * streamed answer may leave state->hunt_stream set, its rows still
 * coming.
 */
HuntOutcome
defender_send_hunt(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
				   char **too_large)
{
	MemoryContext old = MemoryContextSwitchTo(state->page_cxt);
	char	   *display;
	char	   *url = defender_resource_url(state->opts, "hunting", "POST", &display);
	bool		counting = !state->fallback &&
		(state->plan.mode == SCAN_COUNT || state->plan.count_rows);
	StringInfoData kql;
	char	   *body;
	DefenderResponse *response;
	HuntOutcome outcome;
	HuntAhead  *ahead;
	DefenderBodyStream *stream;

	state->hunt_stream = NULL;
	ahead = taken_ahead(state, w);
	if (ahead)
	{
		/* sent before the window ahead of it was read: read it now */
		send_window_ahead(node, state);
		state->requests--;		/* counted when sent; streamed_rows counts it */
		outcome = streamed_rows(node, state, w, ahead->stream, ahead->kql,
								ahead->display, too_large);
		MemoryContextSwitchTo(old);
		return outcome;
	}
	body = write_hunt(node, state, w, &kql);
	if (body == NULL)
	{
		MemoryContextSwitchTo(old);
		return HUNT_DONE;
	}
	if (!counting && state->opts->cache_ttl == 0)
	{
		stream = defender_stream_start(state->opts, state->opts->graph_url,
									   "POST", url, display, body, true);
		send_window_ahead(node, state);
		outcome = streamed_rows(node, state, w, stream, kql.data, display, too_large);
	}
	else
	{
		response = defender_api_request(state->opts, state->opts->graph_url, "POST", url,
										display, body,
										DEFENDER_CACHEABLE | DEFENDER_ALLOW_BAD_REQUEST);
		outcome = whole_answer(node, state, w, response, kql.data, display, too_large);
	}
	MemoryContextSwitchTo(old);
	return outcome;
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
	if (hunting_kql(state, &buf, params, false, take_text, NULL) == RENDER_FALSE)
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
