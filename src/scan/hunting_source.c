/*-------------------------------------------------------------------------
 *
 * hunting_source.c
 *		  The hunting result as a row source: the query sent, its rows
 *		  handed out.
 *
 * The hunting scan's row source (row_source.c), as the pager is the list
 * scan's: the first next sends the query (hunting_scan.c); a result past
 * the service's caps is read again in time windows (hunting_windows.c);
 * the rows come out of the tuplestore one by one (read on from an answer
 * still arriving when they may leave before its end), or, when windows
 * cannot bring them in the sort's order, out of a tuplesort of all the
 * windows' rows (sort_windows_locally), with sum and avg
 * finished from their companion counts.  When Graph rejects the pushed
 * filter (400) the query is sent again without it and every condition is
 * checked locally; when it rejects a summarize, or its answer is past the
 * caps, the rows are aggregated locally by the scan's outer plan.  count(*) of a hunting table is here
 * too.  Called by foreign_scan.c, and by row_source.c through the
 * row-source interface, with the scan state of scan_state.h.
 *
 * src/scan/hunting_source.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "scan_state.h"
#include "hunting_scan.h"

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

/*
 * next_stored_row
 *		The next row of the answers into state->store_slot: from the store,
 *		reading on from an answer still arriving, then from the next window;
 *		false when there is none left.
 *
 * Iterate runs in the per-tuple context, which is reset row by row; a
 * tuple read back from a store that spilled to disk is palloc'd and freed
 * by the slot on the next read, so it must be allocated where the store
 * lives.
 */
static bool
next_stored_row(ForeignScanState *node, DefenderScanState *state)
{
	for (;;)
	{
		bool		found = false;

		if (state->store)
		{
			MemoryContext old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);

			found = tuplestore_gettupleslot(state->store, true, false, state->store_slot);
			MemoryContextSwitchTo(old);
		}
		if (found)
			return true;
		/* an answer still arriving: read on (hunting_scan.c) */
		if (defender_hunt_stream_more(node, state))
			continue;
		if (state->split == NULL || !defender_next_window(node, state))
			return false;
	}
}

/*
 * sort_windows_locally
 *		Every row of every window into a tuplesort by the plan's sort keys,
 *		then sorted.
 *
 * The plan promised rows in the order of its sort; windows read in time
 * order give it only when the sort starts with the time column.  For any
 * other sort the windows were sent without sort or take (hunting_scan.c),
 * and PostgreSQL's own sort puts their rows in the promised order: the
 * keys are columns of numbers, datetimes or booleans in their type's
 * default order (defender_kql_sort_keys), the order KQL's sort was asked
 * for.  Like a Sort node it keeps work_mem in memory and spills the rest.
 */
static void
sort_windows_locally(ForeignScanState *node, DefenderScanState *state)
{
	TupleDesc	desc = state->store_slot->tts_tupleDescriptor;
	int			nkeys = list_length(state->plan.sort_keys);
	AttrNumber *attnums = palloc(sizeof(AttrNumber) * nkeys);
	Oid		   *operators = palloc(sizeof(Oid) * nkeys);
	Oid		   *collations = palloc(sizeof(Oid) * nkeys);
	bool	   *nulls_first = palloc(sizeof(bool) * nkeys);
	MemoryContext old;
	ListCell   *lc;
	int			i = 0;

	if (nkeys == 0)
		elog(ERROR, "defender_fdw: the sort of \"%s\" has no keys to sort its windows' rows by",
			 RelationGetRelationName(state->rel));
	foreach(lc, state->plan.sort_keys)
	{
		List	   *key = (List *) lfirst(lc);
		Form_pg_attribute att = TupleDescAttr(desc, linitial_int(key) - 1);
		TypeCacheEntry *tce = lookup_type_cache(att->atttypid,
												TYPECACHE_LT_OPR | TYPECACHE_GT_OPR);

		attnums[i] = (AttrNumber) linitial_int(key);
		operators[i] = lsecond_int(key) ? tce->gt_opr : tce->lt_opr;
		collations[i] = att->attcollation;
		nulls_first[i] = lthird_int(key) != 0;
		if (!OidIsValid(operators[i]))
			elog(ERROR, "defender_fdw: no ordering operator for type %s",
				 format_type_be(att->atttypid));
		i++;
	}

	/* the sort lives as long as the scan (defender_end_scan ends it) */
	old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	state->local_sort = tuplesort_begin_heap(desc, nkeys, attnums, operators, collations,
											 nulls_first, work_mem, NULL,
#if PG_VERSION_NUM >= 150000
											 TUPLESORT_NONE);
#else
											 false);
#endif
	MemoryContextSwitchTo(old);
	while (next_stored_row(node, state))
	{
		tuplesort_puttupleslot(state->local_sort, state->store_slot);
		CHECK_FOR_INTERRUPTS();
	}
	elog(DEBUG1, "defender_fdw: the windows' rows of \"%s\" sorted locally (%s)",
		 RelationGetRelationName(state->rel), state->plan.orderby);
	tuplesort_performsort(state->local_sort);
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
		outcome = defender_send_hunt(node, state, NULL, &too_large);
		if (outcome == HUNT_REJECTED)
		{
			state->rejected = true;
			return FETCH_REJECTED;
		}
		if (outcome == HUNT_TOO_LARGE && state->plan.summarize[0] &&
			outerPlanState(node) != NULL)
		{
			/*
			 * A summarize's groups would be cut at window edges, so it is not
			 * split: PostgreSQL aggregates instead, over the plain scan of
			 * the outer plan, which is split in its turn when it is past the
			 * caps too.
			 */
			elog(DEBUG1, "defender_fdw: the summarize of \"%s\" is past the caps (%s): aggregated locally",
				 RelationGetRelationName(state->rel), too_large);
			state->aggregate_locally = true;
		}
		else if (outcome == HUNT_TOO_LARGE)
			defender_start_split(node, state, too_large);
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

	if (state->sort_locally)
	{
		if (state->local_sort == NULL)
			sort_windows_locally(node, state);
		old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
		found = tuplesort_gettupleslot(state->local_sort, true, false, state->store_slot, NULL);
		MemoryContextSwitchTo(old);
	}
	else
		found = next_stored_row(node, state);
	if (!found)
		return FETCH_END;
	if (state->hunt_stream)
		state->hunt_rows_out = true;	/* from now on, never sent again */
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
	outcome = defender_send_hunt(node, state, NULL, &too_large);
	if (outcome == HUNT_TOO_LARGE)
	{
		char	   *display;

		/* one row: not expected from any service, and nothing to split */
		(void) defender_resource_url(state->opts, "hunting", "POST", &display);
		defender_refuse_too_large(state, "a count is one query", too_large, display);
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
