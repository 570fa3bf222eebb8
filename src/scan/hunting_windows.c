/*-------------------------------------------------------------------------
 *
 * hunting_windows.c
 *		  A hunting result past the service's caps, read again in time
 *		  windows.
 *
 * A hunting query refused as too large, or answered with exactly the row
 * cap (so possibly cut), is read again in half-open time windows on the
 * table's time column, one request each (sent by hunting_scan.c), so that
 * the windows together are exactly the query.  Here: whether a scan's
 * shape can be split at all (split_refusal), the plan of the windows
 * (defender_start_split: the query's own bounds, clipped to the 30-day
 * horizon, and a "| count" to size them when hunting_window is not set),
 * the next window, halved while it is still too large
 * (defender_next_window), and how EXPLAIN describes it.  Called by
 * hunting_source.c (and foreign_scan.c for EXPLAIN); calls hunting_scan.c.
 * See "Past the caps: time windows" in doc/hunting.md.
 *
 * src/scan/hunting_windows.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "scan_state.h"
#include "hunting_scan.h"

/*
 * split_refusal
 *		Why this scan's result cannot be split into time windows, or NULL
 *		when it can.
 *
 * Plain rows, with or without a where, split: the windows partition the
 * rows.  A take (LIMIT) splits: the windows are read in order and each
 * asks only for the rows still wanted.  A sort that starts with the time
 * column splits the same way: the windows then come in that order.  Any
 * other sort splits too, but its windows are sent without sort or take
 * and their rows sorted here (sort_locally).  A summarize does not: a
 * group's rows (and so its dcount, arg_max, percentile, avg) would be cut
 * at the window edges; it is aggregated locally instead (hunting_source.c).
 */
static const char *
split_refusal(DefenderScanState *state)
{
	if (!state->opts->hunting_split)
		return "option \"hunting_split\" is off";
	if (state->plan.summarize[0] && !state->aggregate_locally)
		return "a summarize is not split: its groups would be cut at the window edges";
	return NULL;
}

/*
 * sort_by_time
 *		Does the scan's sort start with the time column, so that windows
 *		read in its order give the rows in order?
 */
static bool
sort_by_time(DefenderScanState *state)
{
	const char *sort = state->plan.orderby;
	size_t		len = strlen(state->opts->time_column);

	return strncmp(sort, state->opts->time_column, len) == 0 && sort[len] == ' ';
}

/* A window's bounds as text, for messages (defender_time_window_text). */
char *
defender_window_text(DefenderScanState *state, const HuntWindow *w)
{
	return defender_time_window_text(state->opts->time_column, w);
}

/*
 * defender_refuse_too_large
 *		The error of a result past the caps that is not split.
 */
void
defender_refuse_too_large(DefenderScanState *state, const char *why, const char *refusal,
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
	int64		n = 0;
	bool		sent;

	memset(&req, 0, sizeof(req));
	req.source = state->opts->hunting_table ? state->opts->hunting_table :
		state->opts->hunting_query;
	req.source_is_query = (state->opts->hunting_table == NULL);
	req.filter = state->fallback ? NULL : state->plan.filter;
	req.count_rows = true;
	initStringInfo(&kql);
	if (defender_deparse_kql(&kql, &req, &state->params) != RENDER_FALSE)
	{
		n = defender_hunting_send_count(state->opts, kql.data, timespan, &sent);
		if (sent)
			state->requests++;
	}
	MemoryContextSwitchTo(old);
	return n;
}

/*
 * defender_start_split
 *		The whole query was past the caps: plan its time windows, or raise
 *		the error when the scan's shape cannot be split.
 *
 * The windows cover the query's own bounds on the time column, clipped to
 * the 30-day horizon; where the query has no bound (or one past the
 * horizon), the first and last windows stay open, so no row the whole
 * query could see is outside every window.  Their width is hunting_window
 * when set; otherwise a "| count" of the query sizes them so that each
 * should hold three quarters of the row cap if the rows were spread
 * evenly.  A window that is still too large is halved (defender_next_window).
 */
void
defender_start_split(ForeignScanState *node, DefenderScanState *state, const char *refusal)
{
	const char *why = split_refusal(state);
	char	   *display;
	DefenderHuntSplit *split;
	HuntWindowPlan plan;
	int64		lo;
	int64		hi;
	int64		count = 0;
	bool		narrow;
	const char *sort = state->plan.orderby;
	MemoryContext old;

	(void) defender_resource_url(state->opts, "hunting", "POST", &display);
	if (why)
		defender_refuse_too_large(state, why, refusal, display);

	/* the plan of the windows lives as long as the scan */
	old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	memset(&plan, 0, sizeof(plan));
	narrow = state->opts->hunting_table != NULL && state->opts->timespan == NULL &&
		strcmp(state->opts->time_column, "Timestamp") == 0;
	defender_hunting_time_bounds(state, &lo, &hi);
	defender_window_span(&plan, lo, hi);
	if (state->opts->hunting_window <= 0)
		count = count_matches(state, defender_hunting_timespan(state));
	defender_window_number(&plan, state->opts->hunting_window, count,
						   state->opts->hunting_max_rows);
	plan.nulls_window = !(narrow);
	if (plan.n + (plan.nulls_window ? 1 : 0) > state->opts->hunting_max_windows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the hunting result of foreign table \"%s\" needs " INT64_FORMAT " time windows, more than hunting_max_windows (%d)",
						RelationGetRelationName(state->rel), plan.n + (plan.nulls_window ? 1 : 0),
						state->opts->hunting_max_windows),
				 errdetail("%s.", refusal),
				 errhint("Raise the option \"hunting_max_windows\", or add conditions on %s.",
						 state->opts->time_column),
				 errcontext("remote request: %s", display)));

	split = MemoryContextAllocZero(node->ss.ps.state->es_query_cxt, sizeof(DefenderHuntSplit));
	split->narrow_timespan = narrow;
	split->refusal = pstrdup(refusal);
	state->sort_locally = sort[0] && !sort_by_time(state);
	if (sort[0] && !state->sort_locally)
	{
		const char *dir = sort + strlen(state->opts->time_column) + 1;

		split->descending = strncmp(dir, "desc", 4) == 0;
		plan.nulls_first = strstr(dir, "nulls first") != NULL &&
			(strchr(dir, ',') == NULL || strstr(dir, "nulls first") < strchr(dir, ','));
	}
	plan.descending = split->descending;
	split->pending = defender_make_windows(&plan);
	split->windows = list_length(split->pending);
	elog(DEBUG1, "defender_fdw: hunting query of \"%s\" past the caps (%s): %d time windows on %s",
		 RelationGetRelationName(state->rel), refusal, split->windows, state->opts->time_column);
	state->split = split;
	MemoryContextSwitchTo(old);
}

/*
 * defender_next_window
 *		Send the next pending window; false when none is left.  A window
 *		still past the caps is halved in place (in the order the windows
 *		go), as long as it has two ticks to halve and hunting_max_windows
 *		allows.
 */
bool
defender_next_window(ForeignScanState *node, DefenderScanState *state)
{
	DefenderHuntSplit *split = state->split;
	int64		take = defender_hunting_take(state);

	while (split->pending != NIL)
	{
		HuntWindow *w = (HuntWindow *) linitial(split->pending);
		MemoryContext old;
		bool		halved;

		if (take > 0 && split->rows_before >= take)
		{
			split->pending = NIL;
			return false;
		}
		split->pending = list_delete_first(split->pending);
		if (defender_send_hunt(node, state, w, &split->refusal) == HUNT_DONE)
			return true;

		/* too large: halve it */
		old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
		halved = split->windows + 1 <= state->opts->hunting_max_windows &&
			defender_halve_window(&split->pending, w, split->descending);
		MemoryContextSwitchTo(old);
		if (!halved)
		{
			char	   *display;

			(void) defender_resource_url(state->opts, "hunting", "POST", &display);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the hunting result of foreign table \"%s\" is past the service's caps even in time windows",
							RelationGetRelationName(state->rel)),
					 errdetail("%s: window %s, after %d windows.", split->refusal,
							   defender_window_text(state, w), split->windows),
					 errhint(w->nulls || w->hi - w->lo < 2 ?
							 "The rows of one instant cannot be split further: add conditions on other columns." :
							 "Raise the option \"hunting_max_windows\", or add conditions on the time column."),
					 errcontext("remote request: %s", display)));
		}
		split->windows++;
	}
	return false;
}

/*
 * defender_explain_hunting_split
 *		The time windows as EXPLAIN shows them: whether and how the scan is
 *		split when its result is past the caps (plain EXPLAIN sends
 *		nothing, so which windows are sent is known only with ANALYZE).
 */
const char *
defender_explain_hunting_split(ForeignScanState *node, DefenderScanState *state)
{
	const char *why;
	StringInfoData buf;

	if (state->plan.mode == SCAN_COUNT || state->plan.count_rows)
		return "not needed (one count)";
	if (state->plan.summarize[0] && outerPlanState(node) != NULL)
		return "none: past the caps, the summarize is left to PostgreSQL's aggregation over the plain scan, which is split";
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
	if (state->plan.orderby[0] && sort_by_time(state))
		appendStringInfoString(&buf, ", in the sort's order");
	else if (state->plan.orderby[0])
		appendStringInfoString(&buf, ", their rows sorted locally");
	return buf.data;
}
