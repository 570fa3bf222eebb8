/*-------------------------------------------------------------------------
 *
 * foreign_scan.c
 *		  The executor of a foreign scan: begin, iterate, rescan, end and
 *		  explain.
 *
 * BeginForeignScan reads the DefenderScanPlan the planner left in
 * fdw_private (src/plan/scan_plan.c), the options and user mapping of the
 * user the query runs as, and prepares the columns and the parameters;
 * under plain EXPLAIN it sends nothing.  The first Iterate computes the
 * parameters' values and starts the request; the rows then come from the
 * scan's row source (row_source.c over list_scan.c's pager or
 * hunting_source.c's result), from lookups by id, or are the one row of a
 * count.  ReScan starts over with new values, or reads a hunting result
 * again when nothing changed.  EXPLAIN VERBOSE shows the request as
 * execution writes it, with each non-constant value as its expression.
 * Called by defender_fdw.c's scan callbacks only.
 *
 * src/scan/foreign_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "scan_state.h"

/*
 * read_options
 *		The options a scan talks to Graph with, and what they make of it:
 *		its resource, and which row source a list or hunting scan reads.
 */
static void
read_options(DefenderScanState *state, Oid userid, bool need_credentials)
{
	state->opts = defender_get_options(state->plan.relid, InvalidOid, userid,
									   need_credentials);
	state->resource = graph_find_resource(state->opts->resource);
	state->hunting = (strcmp(state->resource->name, "hunting") == 0);
	state->source = state->hunting ? &defender_hunting_source : &defender_list_source;
}

/*
 * init_columns
 *		The columns the scan fills: a table column, converted by its type
 *		from the property it reads, or a summarize output, matched by its
 *		KQL name.
 */
static void
init_columns(ForeignScanState *node, DefenderScanState *state)
{
	ListCell   *lc;
	int			i = 0;

	state->ncolumns = list_length(state->plan.columns);
	state->columns = palloc0(sizeof(DefenderColumn) * Max(state->ncolumns, 1));
	state->slot_attnos = palloc0(sizeof(AttrNumber) * Max(state->ncolumns, 1));
	foreach(lc, state->plan.columns)
	{
		List	   *pair = (List *) lfirst(lc);

		state->slot_attnos[i] = (AttrNumber) linitial_int(pair);
		if (lsecond_int(pair) == 0)
		{
			/* a summarize output column: matched by its KQL name */
			DefenderColumn *col = &state->columns[i];

			defender_column_init_attr(col, node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
									  state->slot_attnos[i]);
			col->property = strVal(linitial((List *) list_nth(state->plan.output_names, i)));
			graph_normalize_name(col->property, col->match_key, sizeof(col->match_key));
		}
		else
			defender_column_init(&state->columns[i], state->rel,
								 (AttrNumber) lsecond_int(pair), state->resource);
		i++;
	}
}

/*
 * init_params
 *		The executable fdw_exprs and room for their values.
 */
static void
init_params(ForeignScanState *node, DefenderScanState *state, List *fdw_exprs)
{
	ListCell   *lc;
	int			i = 0;

	state->param_exprs = ExecInitExprList(fdw_exprs, (PlanState *) node);
	state->params.count = list_length(fdw_exprs);
	state->params.values = palloc0(sizeof(Datum) * Max(state->params.count, 1));
	state->params.nulls = palloc0(sizeof(bool) * Max(state->params.count, 1));
	state->params.types = palloc0(sizeof(Oid) * Max(state->params.count, 1));
	foreach(lc, fdw_exprs)
		state->params.types[i++] = exprType((Node *) lfirst(lc));
}

/*
 * defender_begin_scan
 *		BeginForeignScan: prepare the scan; send nothing yet.
 */
void
defender_begin_scan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	DefenderScanState *state;
	ListCell   *lc;
	Oid			userid;

	state = palloc0(sizeof(DefenderScanState));
	state->quota_waited_at_begin = defender_quota_waited_us();
	state->ready_fd = -1;
	state->hold_fd = -1;
	node->fdw_state = state;
	defender_scan_plan_from_list(fsplan->fdw_private, &state->plan);

	/*
	 * Constants that are no member of an enumeration: said once per
	 * statement, here rather than per row or rescan (and for EXPLAIN too).
	 */
	foreach(lc, state->plan.enum_notices)
	{
		const GraphResource *resource =
			graph_find_resource(defender_get_options(state->plan.relid, InvalidOid,
													 InvalidOid, false)->resource);

		defender_enum_notice(state->plan.relid, resource, lfirst(lc));
	}

	/* Plain EXPLAIN shows the request without sending it. */
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
	{
		read_options(state, InvalidOid, false);
		return;
	}

	/* Run as the view owner when the table is reached through a view. */
#if PG_VERSION_NUM >= 160000
	userid = OidIsValid(fsplan->checkAsUser) ? fsplan->checkAsUser : GetUserId();
#else
	{
		Index		rtindex = fsplan->scan.scanrelid > 0 ? fsplan->scan.scanrelid :
			(Index) bms_next_member(fsplan->fs_relids, -1);
		RangeTblEntry *rte = exec_rt_fetch(rtindex, estate);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
#endif
	read_options(state, userid, true);

	if (node->ss.ss_currentRelation)
		state->rel = node->ss.ss_currentRelation;
	else
	{
		state->rel = table_open(state->plan.relid, AccessShareLock);
		state->close_rel = true;
	}
	init_columns(node, state);
	init_params(node, state, fsplan->fdw_exprs);

	state->store_desc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	if (state->hunting && state->plan.summarize[0])
		defender_add_companion_columns(node, state);
	if (state->hunting)
		state->store_slot = MakeSingleTupleTableSlot(state->store_desc, &TTSOpsMinimalTuple);
	state->param_cxt = AllocSetContextCreate(estate->es_query_cxt,
											 "defender_fdw parameters",
											 ALLOCSET_SMALL_SIZES);
	state->page_cxt = AllocSetContextCreate(estate->es_query_cxt,
											"defender_fdw page",
											ALLOCSET_DEFAULT_SIZES);
	state->row_cxt = AllocSetContextCreate(estate->es_query_cxt,
										   "defender_fdw row",
										   ALLOCSET_SMALL_SIZES);
}

/*
 * compute_params
 *		Evaluate fdw_exprs: parameters, join values, now() - interval ...
 */
static void
compute_params(ForeignScanState *node, DefenderScanState *state)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old;
	ListCell   *lc;
	int			i = 0;

	MemoryContextReset(state->param_cxt);
	foreach(lc, state->param_exprs)
	{
		ExprState  *es = (ExprState *) lfirst(lc);
		int16		typlen;
		bool		typbyval;
		Datum		value;

		value = ExecEvalExpr(es, econtext, &state->params.nulls[i]);
		get_typlenbyval(state->params.types[i], &typlen, &typbyval);
		old = MemoryContextSwitchTo(state->param_cxt);
		state->params.values[i] = state->params.nulls[i] ? (Datum) 0 :
			datumCopy(value, typbyval, typlen);
		MemoryContextSwitchTo(old);
		i++;
	}
	ResetExprContext(econtext);
}

/* A LIMIT or OFFSET value; NULL means none (-1). */
static int64
param_int8(DefenderScanState *state, int paramno, const char *what)
{
	int64		v;

	if (paramno == 0 || state->params.nulls[paramno - 1])
		return -1;
	v = DatumGetInt64(state->params.values[paramno - 1]);
	if (v < 0)
		ereport(ERROR,
				(errcode(strcmp(what, "LIMIT") == 0 ?
						 ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE :
						 ERRCODE_INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE),
				 errmsg("%s must not be negative", what)));
	return v;
}

/*
 * start_scan
 *		First call of Iterate after Begin or ReScan: compute the values and
 *		decide what to ask.
 */
static void
start_scan(ForeignScanState *node, DefenderScanState *state)
{
	compute_params(node, state);
	state->started = true;
	state->finished = false;
	state->returned = 0;
	state->skipped = 0;
	state->limit = param_int8(state, state->plan.limit_param, "LIMIT");
	state->offset = Max(param_int8(state, state->plan.offset_param, "OFFSET"), 0);

	if (state->plan.mode == SCAN_LOOKUP)
	{
		defender_start_lookup(state);
		return;
	}

	if (state->limit == 0)
	{
		state->finished = true; /* LIMIT 0 */
		return;
	}
	if (state->hunting)
		return;					/* sent on the first row asked for (hunting_source.c) */
	defender_start_list(state, false);
}

/*
 * defender_scan_start_if_needed
 *		Start the scan (its values, its first request written) unless it
 *		is under way: what the first Iterate does, for a scan run
 *		asynchronously (async_scan.c).
 */
void
defender_scan_start_if_needed(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (!state->started)
		start_scan(node, state);
}

/*
 * defender_scan_ready
 *		Can the scan's next row (or its end) come without waiting for the
 *		network?
 *
 * For a list or a list's count(*), whose requests can be sent ahead: the
 * pager's answer (defender_pager_poll; with start, the request waited
 * for is sent when it is not yet).  Every other scan (a hunting query, a
 * lookup by id) sends its request when it needs it, and counts as ready:
 * it then waits as a synchronous scan does.
 */
bool
defender_scan_ready(DefenderScanState *state, bool start)
{
	if (!state->started || state->finished || state->pager == NULL || state->hunting)
		return true;
	switch (state->plan.mode)
	{
		case SCAN_LIST:
			if (state->limit >= 0 && state->returned >= state->limit)
				return true;
			return defender_pager_poll(state->pager, start);
		case SCAN_COUNT:
			if (state->returned > 0 || state->count_by_paging)
				return true;
			return defender_pager_poll(state->pager, start);
		default:
			return true;
	}
}

/*
 * defender_scan_held_until
 *		Until when the scan's next page is held back for the tenant's
 *		quota or a Retry-After (only ever for a scan run asynchronously,
 *		see defender_pager_hold_not_wait), or 0 when it is not.
 */
TimestampTz
defender_scan_held_until(DefenderScanState *state)
{
	if (!state->started || state->finished || state->pager == NULL || state->hunting ||
		(state->plan.mode != SCAN_LIST && state->plan.mode != SCAN_COUNT))
		return 0;
	return defender_pager_held_until(state->pager);
}

/*
 * count_row
 *		The one row of a count(*) scan: the count in the count(*) columns;
 *		the others served the fallback only.
 */
static void
count_row(DefenderScanState *state, TupleTableSlot *slot, int64 count)
{
	int			i;

	for (i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		bool		is_column = false;
		int			c;

		for (c = 0; c < state->ncolumns; c++)
			if (state->slot_attnos[c] == i + 1)
				is_column = true;
		slot->tts_isnull[i] = is_column;
		slot->tts_values[i] = is_column ? (Datum) 0 : Int64GetDatum(count);
	}
	ExecStoreVirtualTuple(slot);
}

/*
 * defender_iterate_scan
 *		IterateForeignScan: the next row, asking Graph when needed.
 */
TupleTableSlot *
defender_iterate_scan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	int64		count;

	if (!state->started)
		start_scan(node, state);

	/*
	 * Run asynchronously, a scan hands back an empty slot instead of
	 * waiting for its next page: async_scan.c then waits for it together
	 * with the other scans of the Append.
	 */
	state->async_starved = false;
	if (state->async && !defender_scan_ready(state, true))
	{
		state->async_starved = true;
		return ExecClearTuple(slot);
	}

	switch (state->plan.mode)
	{
		case SCAN_LIST:
		case SCAN_HUNT:
			if (!defender_next_row(node, state, slot))
				ExecClearTuple(slot);
			return slot;

		case SCAN_LOOKUP:
			if (!defender_next_lookup_row(node, state, slot))
				ExecClearTuple(slot);
			return slot;

		case SCAN_COUNT:
			ExecClearTuple(slot);
			if (state->returned > 0)
				return slot;	/* the one row is out */
			count = state->hunting ? defender_hunting_count(node, state, slot) :
				defender_list_count(node, state, slot);
			state->finished = true;
			state->returned = 1;
			count_row(state, slot, count);
			return slot;
	}
	return slot;
}

/*
 * defender_rescan
 *		ReScanForeignScan: start over: new values (a join's next outer row), new requests.
 */
void
defender_rescan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (state->pager)
	{
		state->requests += defender_pager_requests(state->pager);
		state->pager = NULL;
	}
	if (state->aggregate_locally && state->param_exprs == NIL)
		return;					/* the same summarize would be rejected again;
								 * the executor rescans the outer plan */
	if ((state->store || state->counted) && state->param_exprs == NIL && !state->fallback &&
		state->split == NULL)
	{
		/* the same query again: read the same rows, spend no quota */
		if (state->store)
			tuplestore_rescan(state->store);
		state->counted_read = 0;
		state->returned = 0;
		state->skipped = 0;
		state->finished = false;
		return;
	}
	state->counted = false;
	state->split = NULL;		/* windows, if any, are read again */
	state->sort_locally = false;
	if (state->local_sort)
	{
		tuplesort_end(state->local_sort);
		state->local_sort = NULL;
	}
	state->hunt_stream = NULL;	/* its transfer stops with page_cxt */
	if (state->store)
	{
		tuplestore_end(state->store);
		state->store = NULL;
	}
	state->started = false;
	state->fallback = false;
	state->aggregate_locally = false;
	state->count_by_paging = false;
	MemoryContextReset(state->page_cxt);
}

/*
 * defender_end_scan
 *		EndForeignScan: release the page now rather than at the end of the query.
 */
void
defender_end_scan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (state == NULL)
		return;
	if (state->pager)
	{
		state->requests += defender_pager_requests(state->pager);
		state->pager = NULL;
	}
	if (state->store)
		tuplestore_end(state->store);
	state->store = NULL;
	if (state->local_sort)
		tuplesort_end(state->local_sort);
	state->local_sort = NULL;
	if (state->store_slot)
		ExecDropSingleTupleTableSlot(state->store_slot);
	state->store_slot = NULL;
	if (state->page_cxt)
		MemoryContextDelete(state->page_cxt);
	state->page_cxt = NULL;
	if (state->close_rel && state->rel)
		table_close(state->rel, NoLock);
	state->rel = NULL;
}

/*
 * explain_params
 *		The fdw_exprs as EXPLAIN writes them: a constant's value, or each
 *		other expression's text as a placeholder.
 */
static void
explain_params(ForeignScanState *node, ExplainState *es, DefenderParamValues *params)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	ListCell   *lc;
	int			i = 0;
	int			n = list_length(fsplan->fdw_exprs);

	params->count = n;
	params->values = palloc0(sizeof(Datum) * Max(n, 1));
	params->nulls = palloc0(sizeof(bool) * Max(n, 1));
	params->types = palloc0(sizeof(Oid) * Max(n, 1));
	params->placeholders = palloc0(sizeof(char *) * Max(n, 1));
	foreach(lc, fsplan->fdw_exprs)
	{
		Expr	   *expr = (Expr *) lfirst(lc);

		params->types[i] = exprType((Node *) expr);
		if (IsA(expr, Const))
		{
			params->values[i] = ((Const *) expr)->constvalue;
			params->nulls[i] = ((Const *) expr)->constisnull;
		}
		else
			params->placeholders[i] = deparse_expression((Node *) expr, es->deparse_cxt,
														 true, false);
		i++;
	}
}

/*
 * defender_explain_scan
 *		ExplainForeignScan: with VERBOSE, the request the scan sends; with
 *		ANALYZE, how many.
 */
void
defender_explain_scan(ForeignScanState *node, ExplainState *es)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	DefenderParamValues params;

	if (es->verbose)
		explain_params(node, es, &params);
	if (es->verbose && state->hunting)
	{
		char	   *display;

		(void) defender_resource_url(state->opts, "hunting", "POST", &display);
		ExplainPropertyText("Remote request", display, es);
		ExplainPropertyText("KQL", defender_explain_hunting_kql(state, &params), es);
		ExplainPropertyText("Timespan", defender_explain_timespan(state), es);
		ExplainPropertyText("Time windows", defender_explain_hunting_split(node, state), es);
	}
	else if (es->verbose)
		ExplainPropertyText("Remote request",
							state->plan.mode == SCAN_LOOKUP ?
							defender_explain_lookup(state, &params) :
							defender_explain_list(state, &params), es);

	/*
	 * Lookups that can be many (a join's, an array's): after how many GETs
	 * the scan reads the list instead, and the list's request.
	 */
	if (es->verbose && state->plan.mode == SCAN_LOOKUP && state->plan.lookup_switch > 0 &&
		(state->plan.lookup_array || params.placeholders[state->plan.lookup_param - 1]))
	{
		ExplainPropertyInteger("Lookup switch point", NULL, state->plan.lookup_switch, es);
		ExplainPropertyText("List request past it", defender_explain_list(state, &params), es);
	}
	if (es->analyze && state->lookup_table != NULL)
		ExplainPropertyInteger("Lookups answered from the list", NULL,
							   state->lookups_answered, es);
	if (es->analyze)
		ExplainPropertyInteger("Remote requests", NULL,
							   state->requests +
							   (state->pager ? defender_pager_requests(state->pager) : 0),
							   es);
	/* waits of the backend, and the time this scan's next page was held back */
	if (es->analyze &&
		defender_quota_waited_us() - state->quota_waited_at_begin + state->held_us > 0)
		ExplainPropertyInteger("Quota wait", "ms",
							   (defender_quota_waited_us() - state->quota_waited_at_begin +
								state->held_us) / 1000,
							   es);
	if (es->analyze && state->windows_sent != NIL)
		ExplainPropertyList("Time windows sent", state->windows_sent, es);
}
