/*-------------------------------------------------------------------------
 *
 * scan_state.h
 *		  The execution state of a foreign scan, shared by the executor's
 *		  files in src/scan/, and the row-source interface.
 *
 * foreign_scan.c begins, iterates, rescans, ends and explains every scan;
 * list_scan.c runs the list, lookup and count requests, hunting_source.c
 * the hunting query (sent by hunting_scan.c, split into time windows by
 * hunting_windows.c when past the caps; those three share hunting_scan.h);
 * row_source.c hands out the rows of either.  Nothing outside src/scan/
 * includes this header.
 *
 * src/scan/scan_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_SCAN_STATE_H
#define DEFENDER_SCAN_STATE_H

#include "nodes/execnodes.h"
#include "utils/tuplesort.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"

/*
 * The most rows a hunting result holds (Graph's documented limit; a query
 * with more fails with E_QUERY_RESULT_SET_TOO_LARGE).  A scan that asks
 * "| count" instead of the rows gets a number that no such limit bounds;
 * it refuses a larger one rather than hand out rows the same scan reading
 * a column could never have returned (or loop over a corrupt count).
 */
#define HUNTING_MAX_ROWS	INT64CONST(100000)

struct DefenderScanState;

/*
 * A row source: where a list or hunting scan's rows come from, the list
 * pager (list_scan.c) or the hunting result (hunting_source.c).  The loop
 * that hands the rows out, defender_next_row (row_source.c), is written
 * once over it: the 400 fallback, the local recheck, OFFSET and LIMIT.
 */
typedef enum DefenderFetch
{
	FETCH_ROW,					/* a row is in the slot */
	FETCH_END,					/* no more rows */
	FETCH_REJECTED				/* Graph refused the pushed request (400):
								 * state->rejection says why */
} DefenderFetch;

typedef struct DefenderRowSource
{
	/* the next row into the slot, as the request returned it */
	DefenderFetch (*next) (ForeignScanState *node, struct DefenderScanState *state,
						   TupleTableSlot *slot);
	/* after FETCH_REJECTED: say so and start again with less pushed down,
	 * or raise the error when nothing less can be asked */
	void		(*restart_with_less) (ForeignScanState *node,
									  struct DefenderScanState *state);
} DefenderRowSource;

/*
 * Execution state of a foreign scan.
 */
typedef struct DefenderScanState
{
	DefenderScanPlan plan;		/* from the planner: fdw_private */
	bool		hunting;		/* a hunting table: one runHuntingQuery */

	Relation	rel;			/* the foreign table, opened by us if needed */
	bool		close_rel;
	const GraphResource *resource;
	DefenderOptions *opts;
	int			ncolumns;
	DefenderColumn *columns;	/* columns the scan fills */
	AttrNumber *slot_attnos;	/* where each goes in the scan slot */

	/* values of fdw_exprs, recomputed on rescan */
	List	   *param_exprs;	/* ExprState per fdw_exprs entry */
	DefenderParamValues params;
	MemoryContext param_cxt;

	/* progress */
	const DefenderRowSource *source;	/* a list or hunting scan's rows */
	bool		started;
	bool		finished;
	bool		fallback;		/* Graph rejected the filter: all local */
	bool		offset_pushed;	/* the request asks Graph to skip OFFSET's rows */
	bool		rejected;		/* hunting: Graph refused the query (400) */
	DfwGraphError rejection;	/* why Graph refused the pushed request */
	char	   *rejected_kql;	/* hunting: the query it refused */
	bool		count_by_paging;	/* count(*) without @odata.count: page ids */
	bool		aggregate_locally;	/* Graph rejected the summarize: outer plan */
	int64		limit;			/* -1: none */
	int64		offset;
	int64		returned;		/* rows handed out (or passed, in fallback) */
	int64		skipped;
	DefenderPager *pager;
	List	   *lookup_ids;		/* remaining ids to GET */
	int64		lookups_sent;	/* GETs by id so far, over every rescan */
	struct HTAB *lookup_table;	/* past the switch point: the list's rows by
								 * id (LookupRow), else NULL */
	MemoryContext lookup_cxt;	/* holds lookup_table */
	int64		lookups_answered;	/* lookups lookup_table answered */
	Tuplestorestate *store;		/* hunting: the result's rows */
	bool		store_for_windows;	/* made for a split scan (empty_store) */
	bool		sort_locally;	/* split, and the sort does not start with the
								 * time column: the windows' rows are sorted
								 * here (plan.sort_keys), not by KQL */
	Tuplesortstate *local_sort; /* ... into this, once all are read */
	TupleTableSlot *store_slot; /* hunting: reads the store */
	TupleDesc	store_desc;		/* the scan's columns, then summarize companions */
	int64		hunt_count;		/* hunting: the count of a count scan, or of count_rows */
	bool		counted;		/* count_rows: hunt_count is known */
	int64		counted_read;	/* count_rows: empty rows produced so far */
	int			requests;		/* remote requests made, for EXPLAIN ANALYZE */
	int64		quota_waited_at_begin;	/* defender_quota_waited_us() then */

	/* asynchronous execution in an Append (async_scan.c) */
	bool		async;			/* rows are asked for by ForeignAsyncRequest */
	bool		async_starved;	/* Iterate stopped: the next page is not here */
	int			ready_fd;		/* always readable, for a scan whose answer is
								 * in; -1 until needed */
	MemoryContextCallback close_ready_fd;
	int			hold_fd;		/* a timerfd: the end of a hold; -1 until needed */
	MemoryContextCallback close_hold_fd;
	TimestampTz held_since;		/* the next page held back since, or 0 */
	int64		held_us;		/* time the next page was held back, in all */

	struct HuntStream *hunt_stream; /* hunting: an answer still arriving
									 * whose rows leave as they are read,
									 * or NULL (hunting_scan.c) */
	bool		hunt_rows_out;	/* ... and one of its rows has left */
	struct DefenderHuntSplit *split;	/* hunting: the time windows of a
										 * result past the caps, or NULL */
	List	   *windows_sent;	/* hunting: a line per window, for EXPLAIN ANALYZE */
	MemoryContext page_cxt;		/* per page: response, JSON document */
	MemoryContext row_cxt;		/* per row: converted values */

	/* for the error context of a conversion */
	DefenderColumn *current_column;
	struct json_t *current_row;
} DefenderScanState;

/* foreign_scan.c */
extern void defender_scan_start_if_needed(ForeignScanState *node);
extern bool defender_scan_ready(DefenderScanState *state, bool start);
extern TimestampTz defender_scan_held_until(DefenderScanState *state);

/* row_source.c */
extern bool defender_next_row(ForeignScanState *node, DefenderScanState *state,
							  TupleTableSlot *slot);
extern void defender_notice_rejection(DefenderScanState *state, const char *pushed,
									  const char *instead, const char *kql, bool hint);
extern bool defender_next_local_aggregate_row(ForeignScanState *node, TupleTableSlot *slot);

/* list_scan.c */
extern const DefenderRowSource defender_list_source;
extern void defender_start_list(DefenderScanState *state, bool fallback);
extern void defender_fill_slot(DefenderScanState *state, TupleTableSlot *slot,
							   struct json_t *row);
extern int64 defender_list_count(ForeignScanState *node, DefenderScanState *state,
								 TupleTableSlot *slot);
extern void defender_start_lookup(DefenderScanState *state);
extern bool defender_next_lookup_row(ForeignScanState *node, DefenderScanState *state,
									 TupleTableSlot *slot);
extern char *defender_explain_lookup(DefenderScanState *state,
									 const DefenderParamValues *params);
extern char *defender_explain_list(DefenderScanState *state,
								   const DefenderParamValues *params);

/* hunting_source.c: the hunting result as a row source, and count(*) */
extern const DefenderRowSource defender_hunting_source;
extern int64 defender_hunting_count(ForeignScanState *node, DefenderScanState *state,
									TupleTableSlot *slot);

/* hunting_scan.c: the request of a hunting scan, and how EXPLAIN shows it */
extern void defender_add_companion_columns(ForeignScanState *node, DefenderScanState *state);
extern char *defender_explain_hunting_kql(DefenderScanState *state,
										  const DefenderParamValues *params);
extern const char *defender_explain_timespan(DefenderScanState *state);

/* hunting_windows.c: how EXPLAIN shows the time windows */
extern const char *defender_explain_hunting_split(ForeignScanState *node,
												  DefenderScanState *state);

#endif							/* DEFENDER_SCAN_STATE_H */
