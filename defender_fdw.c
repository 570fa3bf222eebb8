/*-------------------------------------------------------------------------
 *
 * defender_fdw.c
 *		  Foreign-data wrapper for Microsoft Defender XDR through Microsoft Graph.
 *
 * This file holds the library's entry points only: _PG_init, the FDW
 * handler and its callbacks, each of which hands its work to the layer
 * below (the layers are listed top to bottom in src/defender_fdw.h).  A
 * scan's life:
 *
 *	GetForeignRelSize, GetForeignPaths, GetForeignUpperPaths
 *		src/plan/paths.c: the WHERE conditions are split (shippable.c) into
 *		lookups by id, conditions pushed exactly, pushed with a local
 *		recheck, and local ones; then the paths: the list, a list sorted by
 *		Graph, lookups by id for joins, count(*), a hunting table's
 *		aggregates as a KQL summarize, LIMIT/OFFSET.
 *	GetForeignPlan
 *		src/plan/scan_plan.c: a list plan or a hunting plan, handed to the
 *		executor as a DefenderScanPlan in fdw_private; values that are not
 *		constants go to fdw_exprs.  No request is written here.
 *	BeginForeignScan, IterateForeignScan, ReScanForeignScan,
 *	EndForeignScan, ExplainForeignScan
 *		src/scan/foreign_scan.c: the options and user mapping of the user
 *		the query runs as, the parameters' values, then the request written
 *		with them (src/plan/deparse_odata.c, deparse_kql.c) and sent at the
 *		first row.  Rows come from a row source (src/scan/row_source.c):
 *		the list pager (list_scan.c, over src/remote/pager.c) or the
 *		hunting result (hunting_source.c); or from lookups by id, or are a
 *		count.  Plain EXPLAIN sends nothing; EXPLAIN VERBOSE writes the
 *		request with placeholders.
 *	ImportForeignSchema
 *		src/import/import.c.
 *	UPDATE
 *		src/scan/modify.c, one PATCH per row.
 *
 * If Graph rejects a pushed filter with 400, the scan says so in a NOTICE
 * and runs again without it, evaluating every condition (and the limit)
 * locally: slower, never wrong.
 *
 * defender_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "utils/guc.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"

PG_MODULE_MAGIC;

bool		defender_enable_pushdown = true;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(defender_fdw_handler);

static void defenderGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
									  Oid foreigntableid);
static void defenderGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
									Oid foreigntableid);
static void defenderGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
										 RelOptInfo *input_rel, RelOptInfo *output_rel,
										 void *extra);
static ForeignScan *defenderGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
										   Oid foreigntableid, ForeignPath *best_path,
										   List *tlist, List *scan_clauses,
										   Plan *outer_plan);
static void defenderBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *defenderIterateForeignScan(ForeignScanState *node);
static void defenderReScanForeignScan(ForeignScanState *node);
static void defenderEndForeignScan(ForeignScanState *node);
static void defenderExplainForeignScan(ForeignScanState *node, ExplainState *es);
static List *defenderImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);
#if PG_VERSION_NUM >= 140000
static bool defenderIsForeignPathAsyncCapable(ForeignPath *path);
static void defenderForeignAsyncRequest(AsyncRequest *areq);
static void defenderForeignAsyncConfigureWait(AsyncRequest *areq);
static void defenderForeignAsyncNotify(AsyncRequest *areq);
#endif

/*
 * _PG_init
 *		Library load: initialize libcurl, define our settings.
 */
void
_PG_init(void)
{
	defender_connection_init();
	defender_shared_state_init();
	defender_quota_governor_init();

	DefineCustomBoolVariable("defender_fdw.enable_pushdown",
							 "Push WHERE, ORDER BY, LIMIT and count(*) down to Microsoft Graph.",
							 "When off, every scan reads the whole collection and PostgreSQL "
							 "does all filtering, for comparison or as an escape hatch.",
							 &defender_enable_pushdown,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
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
	routine->GetForeignUpperPaths = defenderGetForeignUpperPaths;
	routine->GetForeignPlan = defenderGetForeignPlan;
	routine->BeginForeignScan = defenderBeginForeignScan;
	routine->IterateForeignScan = defenderIterateForeignScan;
	routine->ReScanForeignScan = defenderReScanForeignScan;
	routine->EndForeignScan = defenderEndForeignScan;
	routine->ExplainForeignScan = defenderExplainForeignScan;
	routine->ImportForeignSchema = defenderImportForeignSchema;

#if PG_VERSION_NUM >= 140000
	/* scans an Append runs concurrently: see async_scan.c */
	routine->IsForeignPathAsyncCapable = defenderIsForeignPathAsyncCapable;
	routine->ForeignAsyncRequest = defenderForeignAsyncRequest;
	routine->ForeignAsyncConfigureWait = defenderForeignAsyncConfigureWait;
	routine->ForeignAsyncNotify = defenderForeignAsyncNotify;
#endif

	/* UPDATE, one PATCH per row: see modify.c */
	routine->IsForeignRelUpdatable = defender_is_updatable;
	routine->AddForeignUpdateTargets = defender_add_update_targets;
	routine->PlanForeignModify = defender_plan_modify;
	routine->BeginForeignModify = defender_begin_modify;
	routine->ExecForeignUpdate = defender_exec_update;
	routine->ExplainForeignModify = defender_explain_modify;

	PG_RETURN_POINTER(routine);
}

/* ---------------------------------------------------------------------
 * Planning: src/plan/
 * ---------------------------------------------------------------------
 */

/*
 * defenderGetForeignRelSize
 *		Classify the conditions and estimate the rows (paths.c).
 */
static void
defenderGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						  Oid foreigntableid)
{
	defender_plan_base_rel(root, baserel, foreigntableid, defender_enable_pushdown);
}

/*
 * defenderGetForeignPaths
 *		The list path, a sorted one if useful, and id lookups for joins
 *		(paths.c).
 */
static void
defenderGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
						Oid foreigntableid)
{
	defender_add_base_paths(root, baserel);
}

/*
 * defenderGetForeignUpperPaths
 *		count(*), a hunting table's aggregates, and LIMIT/OFFSET done by
 *		Graph (paths.c).
 */
static void
defenderGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
							 RelOptInfo *input_rel, RelOptInfo *output_rel,
							 void *extra)
{
	defender_add_upper_paths(root, stage, input_rel, output_rel, extra);
}

/*
 * defenderGetForeignPlan
 *		The ForeignScan of the chosen path, with the DefenderScanPlan that
 *		execution writes its request from (scan_plan.c).
 */
static ForeignScan *
defenderGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
					   Oid foreigntableid, ForeignPath *best_path,
					   List *tlist, List *scan_clauses, Plan *outer_plan)
{
	return defender_plan_foreign_scan(root, foreignrel, best_path, tlist,
									  scan_clauses, outer_plan);
}

/* ---------------------------------------------------------------------
 * Execution: src/scan/
 * ---------------------------------------------------------------------
 */

/*
 * defenderBeginForeignScan
 *		Read the plan and the options; send nothing yet (foreign_scan.c).
 */
static void
defenderBeginForeignScan(ForeignScanState *node, int eflags)
{
	defender_begin_scan(node, eflags);
}

/*
 * defenderIterateForeignScan
 *		The next row, asking Graph when needed (foreign_scan.c).
 */
static TupleTableSlot *
defenderIterateForeignScan(ForeignScanState *node)
{
	return defender_iterate_scan(node);
}

/*
 * defenderReScanForeignScan
 *		Start over with new values (foreign_scan.c).
 */
static void
defenderReScanForeignScan(ForeignScanState *node)
{
	defender_rescan(node);
}

/*
 * defenderEndForeignScan
 *		Release the scan's pages and store (foreign_scan.c).
 */
static void
defenderEndForeignScan(ForeignScanState *node)
{
	defender_end_scan(node);
}

/*
 * defenderExplainForeignScan
 *		With VERBOSE, the request the scan sends; with ANALYZE, how many
 *		(foreign_scan.c).
 */
static void
defenderExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	defender_explain_scan(node, es);
}

/*
 * defenderImportForeignSchema
 *		IMPORT FOREIGN SCHEMA: see import.c.
 */
static List *
defenderImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	return defender_import_schema(stmt, serverOid);
}

#if PG_VERSION_NUM >= 140000
/* ---------------------------------------------------------------------
 * Asynchronous execution in an Append: src/scan/async_scan.c
 * ---------------------------------------------------------------------
 */

/*
 * defenderIsForeignPathAsyncCapable
 *		With the async_capable option, a list or count(*) scan (paths.c).
 */
static bool
defenderIsForeignPathAsyncCapable(ForeignPath *path)
{
	return defender_path_async_capable(path);
}

/*
 * defenderForeignAsyncRequest
 *		The next row if it is here, else the request sent and pending.
 */
static void
defenderForeignAsyncRequest(AsyncRequest *areq)
{
	defender_async_request(areq);
}

/*
 * defenderForeignAsyncConfigureWait
 *		The event the Append waits on for this scan.
 */
static void
defenderForeignAsyncConfigureWait(AsyncRequest *areq)
{
	defender_async_configure_wait(areq);
}

/*
 * defenderForeignAsyncNotify
 *		Drive the transfers, then answer as Request does.
 */
static void
defenderForeignAsyncNotify(AsyncRequest *areq)
{
	defender_async_notify(areq);
}
#endif
