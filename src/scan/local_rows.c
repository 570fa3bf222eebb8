/*-------------------------------------------------------------------------
 *
 * local_rows.c
 *		  What a scan leaves to PostgreSQL: the rows the fallback keeps, and
 *		  the rows of the local aggregation.
 *
 * When Graph rejects a pushed filter, a scan asks again without it and
 * keeps only the rows that pass the conditions it had pushed exactly (the
 * plan's fdw_recheck_quals); when it rejects a summarize, the scan's outer
 * plan aggregates the plain rows instead.  Both the list scan
 * (defender_fdw.c) and the hunting scan (hunting_scan.c) use these.
 *
 * src/scan/local_rows.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"

#include "scan_state.h"

/* Does the fallback keep this row?  (The exactly pushed conditions.) */
bool
defender_passes_pushed_conditions(ForeignScanState *node, TupleTableSlot *slot)
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
