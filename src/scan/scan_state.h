/*-------------------------------------------------------------------------
 *
 * scan_state.h
 *		  The execution state of a foreign scan, shared by defender_fdw.c's
 *		  scan callbacks and the hunting executor (hunting_scan.c).
 *
 * defender_fdw.c begins, iterates, rescans and ends every scan and runs
 * the list and lookup scans itself; a hunting scan's request and rows are
 * hunting_scan.c's.  Nothing else includes this header.
 *
 * src/scan/scan_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_SCAN_STATE_H
#define DEFENDER_SCAN_STATE_H

#include "nodes/execnodes.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"

/* What a scan does at execution. */
typedef enum ScanMode
{
	SCAN_LIST,					/* pages of the collection */
	SCAN_LOOKUP,				/* GET by id, one or more */
	SCAN_COUNT,					/* $count=true&$top=1 or | summarize count() */
	SCAN_HUNT					/* one runHuntingQuery */
} ScanMode;

/*
 * The most rows a hunting result holds (Graph's documented limit; a query
 * with more fails with E_QUERY_RESULT_SET_TOO_LARGE).  A scan that asks
 * "| count" instead of the rows gets a number that no such limit bounds;
 * it refuses a larger one rather than hand out rows the same scan reading
 * a column could never have returned (or loop over a corrupt count).
 */
#define HUNTING_MAX_ROWS	INT64CONST(100000)

/*
 * Execution state of a foreign scan.
 */
typedef struct DefenderScanState
{
	/* from the plan */
	ScanMode	mode;
	Oid			relid;
	List	   *filter;
	char	   *orderby;
	bool		expand_alerts;
	int			limit_param;
	int			rows_wanted;	/* > 0: the first page need hold no more (EXISTS) */
	int			offset_param;
	int			lookup_param;
	bool		lookup_array;
	List	   *project;
	char	   *summarize;
	List	   *output_names;
	bool		hunting;
	bool		count_rows;		/* hunting: ask "| count", emit that many empty rows */

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
	bool		started;
	bool		finished;
	bool		fallback;		/* Graph rejected the filter: all local */
	bool		count_by_paging;	/* count(*) without @odata.count: page ids */
	bool		aggregate_locally;	/* Graph rejected the summarize: outer plan */
	int64		limit;			/* -1: none */
	int64		offset;
	int64		returned;		/* rows handed out (or passed, in fallback) */
	int64		skipped;
	DefenderPager *pager;
	List	   *lookup_ids;		/* remaining ids to GET */
	Tuplestorestate *store;		/* hunting: the result's rows */
	TupleTableSlot *store_slot; /* hunting: reads the store */
	TupleDesc	store_desc;		/* the scan's columns, then summarize companions */
	int64		hunt_count;		/* hunting: the count of a count scan, or of count_rows */
	bool		counted;		/* count_rows: hunt_count is known */
	int64		counted_read;	/* count_rows: empty rows produced so far */
	int			requests;		/* remote requests made, for EXPLAIN ANALYZE */
	int64		quota_waited_at_begin;	/* defender_quota_waited_us() then */
	MemoryContext page_cxt;		/* per page: response, JSON document */
	MemoryContext row_cxt;		/* per row: converted values */

	/* for the error context of a conversion */
	DefenderColumn *current_column;
	struct json_t *current_row;
} DefenderScanState;

/*
 * How a summarize output column becomes the scan column (the kind of
 * summarize_text()'s output spec, read by the hunting executor).
 */
#define OUT_PLAIN	0			/* as it comes */
#define OUT_SUM		1			/* NULL when its companion count is 0 */
#define OUT_AVG		2			/* sum / count with numeric division, as avg() */

/* local_rows.c */
extern bool defender_next_local_aggregate_row(ForeignScanState *node, TupleTableSlot *slot);
extern bool defender_passes_pushed_conditions(ForeignScanState *node, TupleTableSlot *slot);

/* hunting_scan.c */
extern DefenderRender defender_hunting_kql(DefenderScanState *state, StringInfo buf,
										   const DefenderParamValues *params,
										   bool fallback, const char *take_text);
extern char *defender_derived_timespan(List *filter, const DefenderParamValues *params,
									   bool *pending);
extern void defender_add_companion_columns(ForeignScanState *node, DefenderScanState *state);
extern void defender_run_hunt(ForeignScanState *node, DefenderScanState *state);
extern bool defender_next_hunt_row(ForeignScanState *node, DefenderScanState *state,
								   TupleTableSlot *slot);

#endif							/* DEFENDER_SCAN_STATE_H */
