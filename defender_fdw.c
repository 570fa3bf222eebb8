/*-------------------------------------------------------------------------
 *
 * defender_fdw.c
 *		  Foreign-data wrapper for Microsoft Defender XDR through Microsoft Graph.
 *
 * This file holds the FDW callbacks.  A scan's life:
 *
 *	GetForeignRelSize / GetForeignPaths
 *		estimate the scan; every WHERE clause is evaluated locally for now.
 *	GetForeignPlan
 *		writes the remote request once (deparse.c) and stores it, with the
 *		attribute numbers the scan must fill, in fdw_private.
 *	BeginForeignScan
 *		reads the options and user mapping of the user the query runs as,
 *		and prepares one DefenderColumn per column read.  Under plain
 *		EXPLAIN it stops there: no network I/O.
 *	IterateForeignScan
 *		takes the next row from the pager (pager.c), which fetches pages
 *		lazily through connection.c, and converts it (convert.c).
 *
 * src/defender_fdw.h lists which module does what.
 *
 * defender_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "access/table.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "defender_fdw.h"

PG_MODULE_MAGIC;

/* Rough costs: every scan needs at least one round trip. */
#define DEFAULT_STARTUP_COST	100.0
#define DEFAULT_ROW_COST		0.01
#define DEFAULT_ROWS			1000

/*
 * What GetForeignPlan stores in ForeignScan.fdw_private, by index.
 */
enum FdwScanPrivateIndex
{
	/* request relative to graph_url, e.g. /v1.0/security/incidents?$top=50 */
	FdwScanPrivateRequest,
	/* Integer list of the attribute numbers the scan fills */
	FdwScanPrivateRetrievedAttrs
};

/*
 * Execution state of a foreign scan.
 */
typedef struct DefenderScanState
{
	Relation	rel;
	char	   *request;		/* relative request, as EXPLAIN shows it */
	int			ncolumns;
	DefenderColumn *columns;	/* the columns the scan fills */
	DefenderOptions *opts;
	DefenderPager *pager;
	MemoryContext page_cxt;		/* per page: response, JSON document */
	MemoryContext row_cxt;		/* per row: converted values */

	/* for the error context of a conversion */
	DefenderColumn *current_column;
	json_t	   *current_row;
} DefenderScanState;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(defender_fdw_handler);

static void defenderGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
									  Oid foreigntableid);
static void defenderGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
									Oid foreigntableid);
static ForeignScan *defenderGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
										   Oid foreigntableid, ForeignPath *best_path,
										   List *tlist, List *scan_clauses,
										   Plan *outer_plan);
static void defenderBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *defenderIterateForeignScan(ForeignScanState *node);
static void defenderReScanForeignScan(ForeignScanState *node);
static void defenderEndForeignScan(ForeignScanState *node);
static void defenderExplainForeignScan(ForeignScanState *node, ExplainState *es);

static List *retrieved_attrs_for(RelOptInfo *baserel, Relation rel, List *local_exprs);
static void conversion_error_callback(void *arg);

/*
 * _PG_init
 *		Library load: initialize libcurl and reserve our GUC prefix.
 */
void
_PG_init(void)
{
	defender_connection_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("defender_fdw");
#else
	EmitWarningsOnPlaceholders("defender_fdw");
#endif
}

/*
 * defender_fdw_handler
 *		The FdwRoutine with defender_fdw's callbacks.
 */
Datum
defender_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = defenderGetForeignRelSize;
	routine->GetForeignPaths = defenderGetForeignPaths;
	routine->GetForeignPlan = defenderGetForeignPlan;
	routine->BeginForeignScan = defenderBeginForeignScan;
	routine->IterateForeignScan = defenderIterateForeignScan;
	routine->ReScanForeignScan = defenderReScanForeignScan;
	routine->EndForeignScan = defenderEndForeignScan;
	routine->ExplainForeignScan = defenderExplainForeignScan;

	PG_RETURN_POINTER(routine);
}

/*
 * defenderGetForeignRelSize
 *		Estimate the number of rows the scan returns.
 *
 * Graph offers no cheap count, and asking would cost a request at plan
 * time, so the estimate is a constant scaled by the local quals.
 */
static void
defenderGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						  Oid foreigntableid)
{
	Selectivity sel = clauselist_selectivity(root, baserel->baserestrictinfo,
											 0, JOIN_INNER, NULL);

	baserel->rows = clamp_row_est(DEFAULT_ROWS * sel);
}

/*
 * defenderGetForeignPaths
 *		One path: the whole collection, filtered locally.
 */
static void
defenderGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
						Oid foreigntableid)
{
	Cost		startup_cost = DEFAULT_STARTUP_COST;
	Cost		total_cost = startup_cost + DEFAULT_ROWS * DEFAULT_ROW_COST;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel,
									 NULL,	/* default pathtarget */
									 baserel->rows,
									 startup_cost,
									 total_cost,
									 NIL,	/* no pathkeys */
									 baserel->lateral_relids,
									 NULL,	/* no extra plan */
#if PG_VERSION_NUM >= 170000
									 NIL,	/* no fdw_restrictinfo */
#endif
									 NIL));
}

/*
 * defenderGetForeignPlan
 *		Write the remote request and build the ForeignScan node.
 */
static ForeignScan *
defenderGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid, ForeignPath *best_path,
					   List *tlist, List *scan_clauses, Plan *outer_plan)
{
	DefenderOptions *opts = defender_get_options(foreigntableid, InvalidOid,
												 InvalidOid, false);
	const GraphResource *resource = graph_find_resource(opts->resource);
	List	   *local_exprs = extract_actual_clauses(scan_clauses, false);
	Relation	rel;
	List	   *retrieved_attrs;
	List	   *fdw_private;

	rel = table_open(foreigntableid, NoLock);
	retrieved_attrs = retrieved_attrs_for(baserel, rel, local_exprs);
	table_close(rel, NoLock);

	fdw_private = list_make2(makeString(defender_deparse_list_request(opts, resource)),
							 retrieved_attrs);

	return make_foreignscan(tlist, local_exprs, baserel->relid,
							NIL,	/* no expressions to evaluate */
							fdw_private,
							NIL,	/* no custom tlist */
							NIL,	/* no remote quals */
							outer_plan);
}

/*
 * retrieved_attrs_for
 *		Attribute numbers of the columns the query reads: in the target
 *		list or in a local qual.  A whole-row reference reads them all.
 */
static List *
retrieved_attrs_for(RelOptInfo *baserel, Relation rel, List *local_exprs)
{
	Bitmapset  *attrs_used = NULL;
	TupleDesc	desc = RelationGetDescr(rel);
	bool		whole_row;
	List	   *retrieved = NIL;
	int			i;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs_used);
	pull_varattnos((Node *) local_exprs, baserel->relid, &attrs_used);
	whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs_used);

	for (i = 1; i <= desc->natts; i++)
	{
		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		if (whole_row ||
			bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs_used))
			retrieved = lappend_int(retrieved, i);
	}
	return retrieved;
}

/*
 * defenderBeginForeignScan
 *		Prepare the scan; fetch nothing yet.
 */
static void
defenderBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	DefenderScanState *state;
	const GraphResource *resource;
	List	   *retrieved_attrs;
	ListCell   *lc;
	Oid			userid;
	int			i;

	state = palloc0(sizeof(DefenderScanState));
	node->fdw_state = state;
	state->rel = node->ss.ss_currentRelation;
	state->request = strVal(list_nth(fsplan->fdw_private, FdwScanPrivateRequest));

	/* Plain EXPLAIN shows the request without sending it. */
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	/* Run as the view owner when the table is reached through a view. */
#if PG_VERSION_NUM >= 160000
	userid = OidIsValid(fsplan->checkAsUser) ? fsplan->checkAsUser : GetUserId();
#else
	{
		RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, estate);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
#endif
	state->opts = defender_get_options(RelationGetRelid(state->rel), InvalidOid,
									   userid, true);
	resource = graph_find_resource(state->opts->resource);

	retrieved_attrs = (List *) list_nth(fsplan->fdw_private, FdwScanPrivateRetrievedAttrs);
	state->ncolumns = list_length(retrieved_attrs);
	state->columns = palloc0(sizeof(DefenderColumn) * Max(state->ncolumns, 1));
	i = 0;
	foreach(lc, retrieved_attrs)
		defender_column_init(&state->columns[i++], state->rel, lfirst_int(lc), resource);

	state->page_cxt = AllocSetContextCreate(estate->es_query_cxt,
											"defender_fdw page",
											ALLOCSET_DEFAULT_SIZES);
	state->row_cxt = AllocSetContextCreate(estate->es_query_cxt,
										   "defender_fdw row",
										   ALLOCSET_SMALL_SIZES);
	state->pager = defender_pager_begin(state->opts,
										psprintf("%s%s", state->opts->graph_url, state->request),
										psprintf("GET %s", state->request),
										state->page_cxt);
}

/*
 * defenderIterateForeignScan
 *		Return the next row, fetching the next page when needed.
 */
static TupleTableSlot *
defenderIterateForeignScan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	Datum	   *values = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;
	ErrorContextCallback errcallback;
	MemoryContext old;
	json_t	   *row;
	int			i;

	ExecClearTuple(slot);
	MemoryContextReset(state->row_cxt);

	row = defender_pager_next(state->pager);
	if (row == NULL)
		return slot;
	if (!json_is_object(row))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph returned a row that is not a JSON object"),
				 errcontext("foreign table \"%s\"", RelationGetRelationName(state->rel))));

	memset(isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);

	state->current_row = row;
	errcallback.callback = conversion_error_callback;
	errcallback.arg = state;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	old = MemoryContextSwitchTo(state->row_cxt);
	for (i = 0; i < state->ncolumns; i++)
	{
		DefenderColumn *col = &state->columns[i];

		state->current_column = col;
		values[col->attnum - 1] =
			defender_json_to_datum(col, defender_column_lookup(col, row),
								   &isnull[col->attnum - 1]);
	}
	MemoryContextSwitchTo(old);

	error_context_stack = errcallback.previous;
	state->current_column = NULL;

	ExecStoreVirtualTuple(slot);
	return slot;
}

/*
 * conversion_error_callback
 *		Name the column, property and row of a value that failed to convert.
 */
static void
conversion_error_callback(void *arg)
{
	DefenderScanState *state = (DefenderScanState *) arg;
	DefenderColumn *col = state->current_column;
	json_t	   *id;

	if (col == NULL)
		return;
	id = state->current_row ? json_object_get(state->current_row, "id") : NULL;
	if (json_is_string(id))
		errcontext("column \"%s\" of foreign table \"%s\" (Graph property \"%s\", row id \"%s\")",
				   col->name, RelationGetRelationName(state->rel),
				   col->property ? col->property : col->name, json_string_value(id));
	else
		errcontext("column \"%s\" of foreign table \"%s\" (Graph property \"%s\")",
				   col->name, RelationGetRelationName(state->rel),
				   col->property ? col->property : col->name);
}

/*
 * defenderReScanForeignScan
 *		Start over from the first page.
 */
static void
defenderReScanForeignScan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (state->pager)
		defender_pager_rewind(state->pager);
}

/*
 * defenderEndForeignScan
 *		Release the page now rather than at the end of the query.
 */
static void
defenderEndForeignScan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (state && state->page_cxt)
	{
		MemoryContextDelete(state->page_cxt);
		state->page_cxt = NULL;
	}
}

/*
 * defenderExplainForeignScan
 *		With VERBOSE, show the exact request the scan sends.
 */
static void
defenderExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (es->verbose)
		ExplainPropertyText("Remote request", psprintf("GET %s", state->request), es);
}
