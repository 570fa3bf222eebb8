/*-------------------------------------------------------------------------
 *
 * hunting_scan.c
 *		  The executor of a hunting scan: one runHuntingQuery, its rows.
 *
 * A foreign table with resource 'hunting' is read with one request: the
 * KQL written by deparse_kql.c from what the planner pushed (filter,
 * project, sort, take, summarize), the timespan given or derived from the
 * conditions on Timestamp, and the response streamed into a tuplestore
 * by hunting_result.c.  A result past the service's caps (refused as
 * too large, or holding exactly the row cap, so possibly cut) is read
 * again in half-open time windows on the time column, one request each
 * (see "Time windows" below).  When Graph rejects the pushed filter (400) the
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

#define TICKS_PER_SECOND INT64CONST(10000000)
#define TICKS_PER_DAY (INT64CONST(86400) * TICKS_PER_SECOND)

/* The data runHuntingQuery sees: the last 30 days */
#define HUNTING_HORIZON_TICKS (30 * TICKS_PER_DAY)

/* The answer to one request of a hunting scan (send_hunt). */
typedef enum HuntOutcome
{
	HUNT_DONE,					/* rows in the store, a count, or nothing to ask */
	HUNT_REJECTED,				/* a 400 the scan falls back from */
	HUNT_TOO_LARGE				/* past the caps: refused, or exactly at the
								 * row cap and so possibly cut */
} HuntOutcome;

/*
 * One time window of a split scan: the rows whose time column is in
 * [lo, hi), in 100 ns ticks.  The first window also takes every earlier
 * time and the last every later one when the query itself does not bound
 * them (open_lo, open_hi), so that the windows together are exactly the
 * query.  A window of nulls holds the rows without a time instead.
 */
typedef struct HuntWindow
{
	int64		lo;
	int64		hi;
	bool		open_lo;
	bool		open_hi;
	bool		nulls;
} HuntWindow;

/* A hunting scan split into windows: state->split. */
typedef struct DefenderHuntSplit
{
	List	   *pending;		/* HuntWindow *, in the order they are sent */
	int			windows;		/* windows made so far, sent or pending */
	bool		descending;		/* ORDER BY the time column DESC */
	bool		narrow_timespan;	/* each window sends its own Timespan */
	int64		rows_before;	/* rows the windows read so far returned */
	char	   *refusal;		/* why the last query or window was too large */
} DefenderHuntSplit;

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
		/* a window: its bounds, and only the rows the take still needs */
		req.window_column = state->opts->time_column;
		req.window_nulls = w->nulls;
		req.window.test = w->open_lo ? (w->open_hi ? TICKS_ALL : TICKS_LT) :
			(w->open_hi ? TICKS_GE : TICKS_IN);
		req.window.lo = w->lo;
		req.window.hi = w->hi;
		if (req.take > 0)
			req.take -= state->split->rows_before;
	}
	return defender_deparse_kql(buf, &req, params);
}

/*
 * hunting_take
 *		The take the whole query sends (LIMIT plus OFFSET, or what EXISTS
 *		reads), 0 for none.
 */
static int64
hunting_take(DefenderScanState *state)
{
	if (state->fallback)
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
 * or a count above max (the row cap), is an error: the rows this number
 * stands for are produced one by one, so it must be one the same query
 * reading a column could have returned in one answer.  (With splitting,
 * windows could read more, but only where the result has the time
 * column: a count is not split.)
 */
static int64
hunting_row_count(DefenderResponse *response, const char *display, int64 max)
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
 * is_too_large
 *		Is Graph's 400 the refusal of a result past a cap?  Kusto's
 *		E_QUERY_RESULT_SET_TOO_LARGE (rows), or the "Result size limit
 *		exceeded" text (bytes), as the reference records them.
 */
static bool
is_too_large(const DfwGraphError *err)
{
	return strstr(err->message, "E_QUERY_RESULT_SET_TOO_LARGE") != NULL ||
		strstr(err->message, "Result size limit exceeded") != NULL;
}

/*
 * split_refusal
 *		Why this scan's result cannot be split into time windows, or NULL
 *		when it can.
 *
 * Plain rows, with or without a where, split: the windows partition the
 * rows.  A take (LIMIT) splits: the windows are read in order and each
 * asks only for the rows still wanted.  A sort splits only when it starts
 * with the time column: the windows then come in that order.  A
 * summarize does not: a group's rows (and so its dcount, arg_max,
 * percentile, avg) would be cut at the window edges.
 */
static const char *
split_refusal(DefenderScanState *state)
{
	const char *sort = state->plan.orderby;
	size_t		len = strlen(state->opts->time_column);

	if (!state->opts->hunting_split)
		return "option \"hunting_split\" is off";
	if (state->plan.summarize[0] && !state->aggregate_locally)
		return "a summarize is not split: its groups would be cut at the window edges";
	if (sort[0] &&
		(strncmp(sort, state->opts->time_column, len) != 0 || sort[len] != ' '))
		return "the sort does not start with the time column";
	return NULL;
}

/*
 * refuse_too_large
 *		The error of a result past the caps that is not split.
 */
static void
refuse_too_large(DefenderScanState *state, const char *why, const char *refusal,
				 const char *display)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("the hunting result of foreign table \"%s\" is past the service's caps",
					RelationGetRelationName(state->rel)),
			 errdetail("%s; %s.", refusal, why),
			 errhint("Add conditions on %s or a LIMIT, aggregate less finely, or see \"Past the caps: time windows\" in doc/hunting.md for the queries that are split.",
					 state->opts->time_column),
			 errcontext("remote request: %s", display)));
}

/* A window's bounds as text, "start/end" in ISO 8601 ticks, for messages. */
static char *
window_text(DefenderScanState *state, const HuntWindow *w)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (w->nulls)
	{
		appendStringInfo(&buf, "%s is null", state->opts->time_column);
		return buf.data;
	}
	if (w->open_lo)
		appendStringInfoString(&buf, "..");
	else
		defender_append_ticks(&buf, w->lo);
	appendStringInfoChar(&buf, '/');
	if (w->open_hi)
		appendStringInfoString(&buf, "..");
	else
		defender_append_ticks(&buf, w->hi);
	return buf.data;
}

/*
 * window_timespan
 *		The Timespan of a window: its own bounds when the time column is
 *		the table's Timestamp (the column Timespan itself filters on), the
 *		whole query's otherwise.
 *
 * An open first window starts a day before the 30-day horizon as this
 * clock sees it (the service clips it to its own); an open last one runs
 * to the service's now ("start" alone).  The bounds are inclusive in
 * Timespan, so a row on the window's upper edge is let through and left
 * out by the where, which is half-open.
 */
static char *
window_timespan(DefenderScanState *state, const HuntWindow *w, const char *whole)
{
	StringInfoData buf;
	int64		now = (int64) GetCurrentTimestamp() * 10;

	if (w == NULL || !state->split->narrow_timespan || w->nulls)
		return (char *) whole;
	initStringInfo(&buf);
	defender_append_ticks(&buf, w->open_lo ? Min(w->lo, now - HUNTING_HORIZON_TICKS - TICKS_PER_DAY) :
						  w->lo);
	if (!w->open_hi)
	{
		appendStringInfoChar(&buf, '/');
		defender_append_ticks(&buf, w->hi);
	}
	return buf.data;
}

/*
 * send_hunt
 *		Send the scan's query, or one window of it (w), with what the scan
 *		still pushes down (in fallback: no where, no take), and put the
 *		result's rows in the tuplestore (or, for a count, read the count).
 *
 * A 400 that the scan can fall back from (a where, a take, a summarize
 * with a local aggregation to run instead) sets state->rejection and
 * returns HUNT_REJECTED.  A result past the caps, refused or exactly at
 * the row cap, returns HUNT_TOO_LARGE with the store emptied (none of its
 * rows has been handed out) and what said so in *too_large.  Any other
 * failure is raised.
 */
static HuntOutcome
send_hunt(ForeignScanState *node, DefenderScanState *state, const HuntWindow *w,
		  char **too_large)
{
	MemoryContext old = MemoryContextSwitchTo(state->page_cxt);
	char	   *display;
	char	   *url = defender_resource_url(state->opts, "hunting", "POST", &display);
	bool		fallback = state->fallback;
	bool		may_fall_back = w == NULL && !fallback &&
		(state->plan.summarize[0] ? outerPlanState(node) != NULL :
		 state->plan.filter != NULL || state->limit > 0 ||
		 state->plan.mode == SCAN_COUNT || state->plan.count_rows);
	int64		cap = state->opts->hunting_max_rows;
	int64		take = hunting_take(state);
	StringInfoData kql;
	char	   *body;
	DefenderResponse *response;
	int64		nrows;

	initStringInfo(&kql);
	if (hunting_kql(state, &kql, &state->params, fallback, NULL, w) == RENDER_FALSE)
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
		MemoryContextSwitchTo(old);
		return HUNT_DONE;
	}
	body = defender_hunting_request_body(kql.data,
										 window_timespan(state, w,
														 state->opts->timespan ? state->opts->timespan :
														 fallback ? NULL :
														 derived_timespan(state->plan.filter, &state->params, NULL)));
	response = defender_api_request(state->opts, state->opts->graph_url, "POST", url,
									display, body,
									DEFENDER_CACHEABLE | DEFENDER_ALLOW_BAD_REQUEST);
	if (!response->from_cache)
		state->requests++;
	if (response->http.status == 400)
	{
		dfw_parse_graph_error(response->http.body, response->http.body_len,
							  &state->rejection);
		defender_response_release(response);
		if (is_too_large(&state->rejection))
		{
			elog(DEBUG1, "defender_fdw: hunting %s%s refused as past the caps: %s",
				 w ? "window " : "query", w ? window_text(state, w) : "",
				 state->rejection.message);
			*too_large = MemoryContextStrdup(node->ss.ps.state->es_query_cxt,
											 psprintf("Microsoft Graph refused it as too large: error code \"%s\": %s (request-id %s)",
													  state->rejection.code,
													  defender_redact(state->opts, state->rejection.message),
													  state->rejection.request_id[0] ? state->rejection.request_id : "none"));
			MemoryContextSwitchTo(old);
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
		state->rejected_kql = kql.data;
		MemoryContextSwitchTo(old);
		return HUNT_REJECTED;
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
		return HUNT_DONE;
	}

	if (state->plan.count_rows && !fallback)
	{
		state->hunt_count = hunting_row_count(response, display, state->opts->hunting_max_rows);
		state->counted = true;
		state->counted_read = 0;
		defender_response_release(response);
		MemoryContextSwitchTo(old);
		return HUNT_DONE;
	}

	/* one store for the scan, emptied for each window: one response's rows */
	if (state->store)
		tuplestore_clear(state->store);
	else
	{
		MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
		state->store = tuplestore_begin_heap(false, false, work_mem);
		MemoryContextSwitchTo(state->page_cxt);
	}
	defender_hunting_result_to_tuplestore(response->http.body, response->http.body_len,
										  state->store_desc,
										  state->columns, state->ncolumns, state->slot_attnos,
										  state->store, display,
										  RelationGetRelationName(state->rel));
	defender_response_release(response);
	nrows = tuplestore_tuple_count(state->store);

	/*
	 * Exactly the row cap, and not because the take asked for that many:
	 * the service may have cut the result there without saying so.
	 */
	if (nrows >= cap && !(take > 0 && take - (state->split ? state->split->rows_before : 0) <= cap))
	{
		tuplestore_clear(state->store);
		elog(DEBUG1, "defender_fdw: hunting %s%s answered " INT64_FORMAT " rows, the row cap: possibly cut",
			 w ? "window " : "query", w ? window_text(state, w) : "", nrows);
		*too_large = MemoryContextStrdup(node->ss.ps.state->es_query_cxt,
										 psprintf("The answer holds exactly the row cap (" INT64_FORMAT " rows), so the service may have cut it", nrows));
		MemoryContextSwitchTo(old);
		return HUNT_TOO_LARGE;
	}
	if (w)
	{
		MemoryContext query_cxt = node->ss.ps.state->es_query_cxt;

		state->split->rows_before += nrows;
		elog(DEBUG1, "defender_fdw: hunting window %s: " INT64_FORMAT " rows",
			 window_text(state, w), nrows);
		MemoryContextSwitchTo(query_cxt);
		state->windows_sent = lappend(state->windows_sent,
									  psprintf("%s: " INT64_FORMAT " rows",
											   window_text(state, w), nrows));
	}
	MemoryContextSwitchTo(old);
	return HUNT_DONE;
}

/* A new window, palloc'd where the scan lives. */
static HuntWindow *
new_window(ForeignScanState *node, int64 lo, int64 hi, bool open_lo, bool open_hi, bool nulls)
{
	HuntWindow *w = MemoryContextAllocZero(node->ss.ps.state->es_query_cxt, sizeof(HuntWindow));

	w->lo = lo;
	w->hi = hi;
	w->open_lo = open_lo;
	w->open_hi = open_hi;
	w->nulls = nulls;
	return w;
}

/*
 * count_matches
 *		How many rows the whole query matches: the same source and where,
 *		"| count".  One number, however many rows: the service answers it
 *		whatever the caps.
 */
static int64
count_matches(DefenderScanState *state, const char *timespan)
{
	MemoryContext old = MemoryContextSwitchTo(state->page_cxt);
	DefenderKqlRequest req;
	StringInfoData kql;
	char	   *display;
	char	   *url = defender_resource_url(state->opts, "hunting", "POST", &display);
	DefenderResponse *response;
	int64		n;

	memset(&req, 0, sizeof(req));
	req.source = state->opts->hunting_table ? state->opts->hunting_table :
		state->opts->hunting_query;
	req.source_is_query = (state->opts->hunting_table == NULL);
	req.filter = state->fallback ? NULL : state->plan.filter;
	req.count_rows = true;
	initStringInfo(&kql);
	if (defender_deparse_kql(&kql, &req, &state->params) == RENDER_FALSE)
	{
		MemoryContextSwitchTo(old);
		return 0;
	}
	response = defender_api_request(state->opts, state->opts->graph_url, "POST", url, display,
									defender_hunting_request_body(kql.data, timespan),
									DEFENDER_CACHEABLE);
	if (!response->from_cache)
		state->requests++;
	n = hunting_row_count(response, display, PG_INT64_MAX);
	defender_response_release(response);
	MemoryContextSwitchTo(old);
	return n;
}

/*
 * start_split
 *		The whole query was past the caps: plan its time windows, or raise
 *		the error when the scan's shape cannot be split.
 *
 * The windows cover the query's own bounds on the time column, clipped to
 * the 30-day horizon; where the query has no bound (or one past the
 * horizon), the first and last windows stay open, so no row the whole
 * query could see is outside every window.  Their width is hunting_window
 * when set; otherwise a "| count" of the query sizes them so that each
 * should hold three quarters of the row cap if the rows were spread
 * evenly.  A window that is still too large is halved (next_window).
 */
static void
start_split(ForeignScanState *node, DefenderScanState *state, const char *refusal)
{
	const char *why = split_refusal(state);
	char	   *display;
	DefenderHuntSplit *split;
	int64		now = (int64) GetCurrentTimestamp() * 10;
	int64		lo;
	int64		hi;
	bool		open_lo;
	bool		open_hi;
	int64		n;
	int64		k;
	bool		narrow;
	const char *sort = state->plan.orderby;
	List	   *windows = NIL;
	MemoryContext old;
	bool		nulls_window;
	bool		nulls_first = false;

	(void) defender_resource_url(state->opts, "hunting", "POST", &display);
	if (why)
		refuse_too_large(state, why, refusal, display);

	/* the plan of the windows lives as long as the scan */
	old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	narrow = state->opts->hunting_table != NULL && state->opts->timespan == NULL &&
		strcmp(state->opts->time_column, "Timestamp") == 0;
	(void) time_bounds(state->fallback ? NULL : state->plan.filter, &state->params,
					   state->opts->time_column, &lo, &hi, NULL);
	open_lo = (lo == PG_INT64_MIN || lo < now - HUNTING_HORIZON_TICKS);
	if (open_lo)
		lo = now - HUNTING_HORIZON_TICKS;
	open_hi = (hi == PG_INT64_MAX);
	if (open_hi)
		hi = Max(now, lo) + TICKS_PER_SECOND;
	if (hi - lo < 2)
		lo = hi - 2;

	if (state->opts->hunting_window > 0)
		n = (hi - lo + state->opts->hunting_window - 1) / state->opts->hunting_window;
	else
	{
		int64		count = count_matches(state,
										  state->opts->timespan ? state->opts->timespan :
										  derived_timespan(state->fallback ? NULL : state->plan.filter,
														   &state->params, NULL));
		int64		per_window = Max(state->opts->hunting_max_rows * 3 / 4, 1);

		n = (count + per_window - 1) / per_window;
	}
	n = Max(n, 2);
	n = Min(n, hi - lo);		/* every window at least a tick wide */
	nulls_window = !(narrow);
	if (n + (nulls_window ? 1 : 0) > state->opts->hunting_max_windows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting result of foreign table \"%s\" needs " INT64_FORMAT " time windows, more than hunting_max_windows (%d)",
						RelationGetRelationName(state->rel), n + (nulls_window ? 1 : 0),
						state->opts->hunting_max_windows),
				 errdetail("%s.", refusal),
				 errhint("Raise the option \"hunting_max_windows\", or add conditions on %s.",
						 state->opts->time_column),
				 errcontext("remote request: %s", display)));

	split = MemoryContextAllocZero(node->ss.ps.state->es_query_cxt, sizeof(DefenderHuntSplit));
	split->narrow_timespan = narrow;
	split->refusal = pstrdup(refusal);
	if (sort[0])
	{
		const char *dir = sort + strlen(state->opts->time_column) + 1;

		split->descending = strncmp(dir, "desc", 4) == 0;
		nulls_first = strstr(dir, "nulls first") != NULL &&
			(strchr(dir, ',') == NULL || strstr(dir, "nulls first") < strchr(dir, ','));
	}
	for (k = 0; k < n; k++)
	{
		int64		a;
		int64		b;
		HuntWindow *w;

		if (state->opts->hunting_window > 0)
		{
			a = lo + k * state->opts->hunting_window;
			b = (k == n - 1) ? hi : a + state->opts->hunting_window;
		}
		else
		{
			a = lo + (int64) ((double) (hi - lo) * k / n);
			b = (k == n - 1) ? hi : lo + (int64) ((double) (hi - lo) * (k + 1) / n);
		}
		w = new_window(node, a, b, open_lo && k == 0, open_hi && k == n - 1, false);
		/* in the order they are read: latest first for a descending sort */
		windows = split->descending ? lcons(w, windows) : lappend(windows, w);
	}
	if (nulls_window)
	{
		HuntWindow *w = new_window(node, 0, 0, false, false, true);

		windows = nulls_first ? lcons(w, windows) : lappend(windows, w);
	}
	split->windows = list_length(windows);
	elog(DEBUG1, "defender_fdw: hunting query of \"%s\" past the caps (%s): %d time windows on %s",
		 RelationGetRelationName(state->rel), refusal, split->windows, state->opts->time_column);
	state->split = split;
	split->pending = windows;
	MemoryContextSwitchTo(old);
}

/*
 * next_window
 *		Send the next pending window; false when none is left.  A window
 *		still past the caps is halved in place (in the order the windows
 *		go), as long as it has two ticks to halve and hunting_max_windows
 *		allows.
 */
static bool
next_window(ForeignScanState *node, DefenderScanState *state)
{
	DefenderHuntSplit *split = state->split;
	int64		take = hunting_take(state);

	while (split->pending != NIL)
	{
		HuntWindow *w = (HuntWindow *) linitial(split->pending);
		HuntWindow *a;
		HuntWindow *b;
		int64		mid;
		MemoryContext old;

		if (take > 0 && split->rows_before >= take)
		{
			split->pending = NIL;
			return false;
		}
		split->pending = list_delete_first(split->pending);
		if (send_hunt(node, state, w, &split->refusal) == HUNT_DONE)
			return true;

		/* too large: halve it */
		if (w->nulls || w->hi - w->lo < 2 || split->windows + 1 > state->opts->hunting_max_windows)
		{
			char	   *display;

			(void) defender_resource_url(state->opts, "hunting", "POST", &display);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the hunting result of foreign table \"%s\" is past the service's caps even in time windows",
							RelationGetRelationName(state->rel)),
					 errdetail("%s: window %s, after %d windows.", split->refusal,
							   window_text(state, w), split->windows),
					 errhint(w->nulls || w->hi - w->lo < 2 ?
							 "The rows of one instant cannot be split further: add conditions on other columns." :
							 "Raise the option \"hunting_max_windows\", or add conditions on the time column."),
					 errcontext("remote request: %s", display)));
		}
		mid = w->lo + (w->hi - w->lo) / 2;
		a = new_window(node, w->lo, mid, w->open_lo, false, false);
		b = new_window(node, mid, w->hi, false, w->open_hi, false);
		old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
		if (split->descending)
			split->pending = lcons(b, lcons(a, split->pending));
		else
			split->pending = lcons(a, lcons(b, split->pending));
		MemoryContextSwitchTo(old);
		split->windows++;
	}
	return false;
}

/*
 * hunting_next
 *		The row source's next: the next row of the hunting result, sending
 *		the query first (and its windows, when it was past the caps); the
 *		empty rows of a "| count"; or, when Graph rejected the summarize,
 *		the local aggregation's rows.
 */
static DefenderFetch
hunting_next(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	bool		found;
	MemoryContext old;

	if (state->store == NULL && !state->counted && !state->aggregate_locally &&
		state->split == NULL)
	{
		HuntOutcome outcome;
		char	   *too_large = NULL;

		state->rejected = false;
		outcome = send_hunt(node, state, NULL, &too_large);
		if (outcome == HUNT_REJECTED)
		{
			state->rejected = true;
			return FETCH_REJECTED;
		}
		if (outcome == HUNT_TOO_LARGE)
			start_split(node, state, too_large);
		else if (state->finished ||
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
	for (;;)
	{
		found = false;
		if (state->store)
		{
			old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
			found = tuplestore_gettupleslot(state->store, true, false, state->store_slot);
			MemoryContextSwitchTo(old);
		}
		if (found)
			break;
		if (state->split == NULL || !next_window(node, state))
			return FETCH_END;
	}
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
	char	   *too_large = NULL;
	HuntOutcome outcome;

	if (state->finished)
		return 0;
	state->rejected = false;
	outcome = send_hunt(node, state, NULL, &too_large);
	if (outcome == HUNT_TOO_LARGE)
	{
		char	   *display;

		/* one row: not expected from any service, and nothing to split */
		(void) defender_resource_url(state->opts, "hunting", "POST", &display);
		refuse_too_large(state, "a count is one query", too_large, display);
	}
	if (outcome == HUNT_DONE)
		return state->finished ? 0 : state->hunt_count;
	state->rejected = true;
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
	if (hunting_kql(state, &buf, params, false, take_text, NULL) == RENDER_FALSE)
		return "none (no row can match the conditions)";
	return buf.data;
}

/*
 * defender_explain_hunting_split
 *		The time windows as EXPLAIN shows them: whether and how the scan is
 *		split when its result is past the caps (plain EXPLAIN sends
 *		nothing, so which windows are sent is known only with ANALYZE).
 */
const char *
defender_explain_hunting_split(DefenderScanState *state)
{
	const char *why;
	StringInfoData buf;

	if (state->plan.mode == SCAN_COUNT || state->plan.count_rows)
		return "not needed (one count)";
	why = split_refusal(state);
	if (why)
		return psprintf("none (%s)", why);
	initStringInfo(&buf);
	appendStringInfo(&buf, "on %s past the caps (%d rows), ",
					 state->opts->time_column, state->opts->hunting_max_rows);
	if (state->opts->hunting_window > 0)
	{
		Interval	iv;

		memset(&iv, 0, sizeof(iv));
		iv.day = (int32) (state->opts->hunting_window / TICKS_PER_DAY);
		iv.time = (state->opts->hunting_window % TICKS_PER_DAY) / 10;
		appendStringInfo(&buf, "windows of %s",
						 DatumGetCString(DirectFunctionCall1(interval_out,
															 IntervalPGetDatum(&iv))));
	}
	else
		appendStringInfoString(&buf, "windows sized by a count");
	appendStringInfo(&buf, ", at most %d", state->opts->hunting_max_windows);
	if (state->plan.orderby[0])
		appendStringInfoString(&buf, ", in the sort's order");
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
