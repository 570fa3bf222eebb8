/*-------------------------------------------------------------------------
 *
 * row_source.c
 *		  The rows a list or hunting scan hands out, written once over the
 *		  row source of each: the list pager and the hunting result.
 *
 * A row source (DefenderRowSource, scan_state.h) gives the next row as
 * its request returned it, says when Graph refused the pushed request
 * (400), and starts again with less pushed down.  defender_next_row is the
 * one loop over it: on a rejection it says so (defender_notice_rejection)
 * and has the source restart; in the fallback that follows it keeps only
 * the rows that pass the conditions Graph no longer applies (the plan's
 * fdw_recheck_quals); it skips OFFSET's rows where Graph did not, and
 * stops at LIMIT.  When Graph rejects a summarize, the rows are the scan's
 * outer plan's, the local aggregation (defender_next_local_aggregate_row).
 * Called by foreign_scan.c, list_scan.c and hunting_source.c; it calls the
 * sources only through the interface.
 *
 * src/scan/row_source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"

#include "scan_state.h"

static bool passes_pushed_conditions(ForeignScanState *node, TupleTableSlot *slot);

/*
 * defender_next_row
 *		The scan's next row from its row source into the slot; false when
 *		done.
 *
 * LIMIT is counted here in every case; OFFSET's rows are skipped here
 * unless the request asked Graph to skip them (state->offset_pushed).
 */
bool
defender_next_row(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	for (;;)
	{
		if (state->finished)
			return false;
		if (state->limit >= 0 && state->returned >= state->limit)
			return false;
		switch (state->source->next(node, state, slot))
		{
			case FETCH_ROW:
				break;
			case FETCH_END:
				return false;
			case FETCH_REJECTED:
				state->source->restart_with_less(node, state);
				continue;
		}
		if (state->fallback && !passes_pushed_conditions(node, slot))
			continue;
		if (!state->offset_pushed && state->skipped < state->offset)
		{
			state->skipped++;
			continue;
		}
		state->returned++;
		return true;
	}
}

/*
 * defender_notice_rejection
 *		Say that Graph refused the pushed-down request (state->rejection)
 *		and what the scan does instead.
 *
 * pushed names what was refused ("filter", "KQL"); kql, when not NULL,
 * is the query, for the context; hint, whether to say how to skip the
 * attempt next time.
 */
void
defender_notice_rejection(DefenderScanState *state, const char *pushed,
						  const char *instead, const char *kql, bool hint)
{
	ereport(NOTICE,
			(errmsg("Microsoft Graph rejected the pushed-down %s; %s", pushed, instead),
			 errdetail("HTTP 400, error code \"%s\": %s", state->rejection.code,
					   defender_redact(state->opts, state->rejection.message)),
			 hint ? errhint("Set defender_fdw.enable_pushdown to off, or the table option pushdown to false, to skip the attempt.") : 0,
			 kql ? errcontext("KQL: %s", kql) : 0));
}

/* Does the fallback keep this row?  (The exactly pushed conditions.) */
static bool
passes_pushed_conditions(ForeignScanState *node, TupleTableSlot *slot)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;

	econtext->ecxt_scantuple = slot;
	return ExecQual(node->fdw_recheck_quals, econtext);
}

/*
 * defender_next_local_aggregate_row
 *		The next row of the local aggregation (local_aggregation_path), the
 *		scan's outer plan: its target is the grouped target, as is the scan
 *		tuple's (fdw_scan_tlist), column for column.
 */
bool
defender_next_local_aggregate_row(ForeignScanState *node, TupleTableSlot *slot)
{
	int			natts = slot->tts_tupleDescriptor->natts;
	MemoryContext old;
	TupleTableSlot *outer;

	/*
	 * Iterate runs in the per-tuple context, reset row by row; the plan
	 * below keeps state (its sort, its groups) across rows, so it runs
	 * where every plan node runs, in the query's context.
	 */
	old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	outer = ExecProcNode(outerPlanState(node));
	MemoryContextSwitchTo(old);
	if (TupIsNull(outer))
		return false;
	slot_getallattrs(outer);
	if (outer->tts_tupleDescriptor->natts != natts)
		elog(ERROR, "defender_fdw: the local aggregation returns %d columns, the scan %d",
			 outer->tts_tupleDescriptor->natts, natts);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, outer->tts_values, sizeof(Datum) * natts);
	memcpy(slot->tts_isnull, outer->tts_isnull, sizeof(bool) * natts);
	ExecStoreVirtualTuple(slot);
	return true;
}
