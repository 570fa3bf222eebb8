/*-------------------------------------------------------------------------
 *
 * defender_fdw.c
 *		  Foreign-data wrapper for Microsoft Defender XDR through Microsoft Graph.
 *
 * This file holds the FDW handler and its callbacks; the work is done in
 * the layers under src/ (listed top to bottom in src/defender_fdw.h).  A
 * scan's life:
 *
 *	GetForeignRelSize
 *		splits the WHERE conditions (src/plan/shippable.c) into lookups by
 *		id, conditions pushed exactly, pushed with a local recheck, and
 *		local ones.
 *	GetForeignPaths
 *		the list path, a path sorted by Graph ($orderby, or KQL's sort) when
 *		the query's order can use it, and parameterized paths that look up
 *		ids fed by a join, one GET per outer row.
 *	GetForeignUpperPaths
 *		count(*) as $count or "| summarize count()", grouped aggregates as a
 *		KQL summarize (with a local aggregation as the outer plan, in case
 *		Graph rejects it), and LIMIT/OFFSET as $top/$skip or take, only when
 *		every condition went remote exactly.
 *	GetForeignPlan
 *		stores in fdw_private what execution needs to write the request:
 *		the scan mode, the filter tree, the columns, the sort, the KQL
 *		project or summarize; values that are not constants go to
 *		fdw_exprs.  The request itself is not written here.
 *	BeginForeignScan / ReScanForeignScan
 *		read the options and user mapping of the user the query runs as and
 *		compute the fdw_exprs values.  Under plain EXPLAIN: nothing, no
 *		network; EXPLAIN VERBOSE writes the request with placeholders.
 *	IterateForeignScan
 *		writes the request with the values (src/plan/deparse_odata.c or
 *		deparse_kql.c) at the first row, then hands out rows: pages from
 *		the pager (src/remote/pager.c), entities by id, the count, or a
 *		hunting result (src/scan/hunting_scan.c); conversion in
 *		src/scan/convert.c.
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

#include <math.h>

#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"
#include "scan_state.h"
#include "pg_jansson.h"

PG_MODULE_MAGIC;

/*
 * Costs, in units of a sequential page read: a round trip to Graph is
 * expensive, a row cheap.  The absolute values only need to make the
 * planner prefer fewer requests.
 */
#define REQUEST_COST	100.0
#define ROW_COST		0.01
#define DEFAULT_ROWS	1000

bool		defender_enable_pushdown = true;


/* a hunting request is one call, but it counts against a tenant quota */
#define HUNT_COST		(10 * REQUEST_COST)


/*
 * An aggregate computed remotely returns a row per group instead of every
 * row: cheaper by a margin the planner's fuzzy cost comparison cannot miss.
 */
#define AGG_DISCOUNT	0.5

/*
 * What GetForeignPlan stores in ForeignScan.fdw_private, by index.
 */
enum FdwScanPrivateIndex
{
	FdwScanPrivateMode,			/* Integer: ScanMode */
	FdwScanPrivateRelid,		/* String: OID of the foreign table */
	FdwScanPrivateColumns,		/* List of Integer pairs (slot attno, table attnum) */
	FdwScanPrivateFilter,		/* filter tree, or NIL */
	FdwScanPrivateOrderBy,		/* String, or "" for none */
	FdwScanPrivateExpandAlerts, /* Integer (bool) */
	FdwScanPrivateLimit,		/* Integer: fdw_exprs index of LIMIT, 0 none */
	FdwScanPrivateOffset,		/* Integer: fdw_exprs index of OFFSET, 0 none */
	FdwScanPrivateLookupValue,	/* Integer: fdw_exprs index of the id(s) */
	FdwScanPrivateLookupArray,	/* Integer (bool): the value is an array */
	FdwScanPrivateProject,		/* hunting: List of String KQL columns, or NIL */
	FdwScanPrivateSummarize,	/* hunting: String "a1 = count() by X", or "" */
	FdwScanPrivateOutputNames,	/* hunting summarize: result column per scan column */
	FdwScanPrivateRowsWanted,	/* Integer: most rows the query reads (EXISTS), 0 unknown */
	FdwScanPrivateCountRows,	/* Integer (bool): hunting, no column read: "| count" */
	FdwScanPrivateEnumNotices	/* List of (column, value): see defender_enum_notices */
};


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

static void add_count_path(PlannerInfo *root, RelOptInfo *input_rel,
						   RelOptInfo *grouped_rel, DefenderRelInfo *base,
						   GroupPathExtraData *extra);
static void add_final_path(PlannerInfo *root, RelOptInfo *input_rel,
						   RelOptInfo *final_rel, FinalPathExtraData *extra);
static bool all_conditions_remote(DefenderRelInfo *fpinfo);
static bool group_keys_are_columns(PlannerInfo *root);
static PathTarget *scan_tuple_target(PlannerInfo *root, PathTarget *grouped);
static Path *local_aggregation_path(PlannerInfo *root, RelOptInfo *input_rel,
									RelOptInfo *grouped_rel, GroupPathExtraData *extra);
static int	rows_wanted(PlannerInfo *root, DefenderRelInfo *fpinfo);
static char *summarize_text(PlannerInfo *root, RelOptInfo *baserel,
							DefenderRelInfo *fpinfo, List *items, List **outputs);
static char *orderby_for_pathkeys(PlannerInfo *root, RelOptInfo *baserel,
								  DefenderRelInfo *fpinfo, List *pathkeys);
static List *first_kql_column(DefenderRelInfo *fpinfo, Relation rel);
static List *columns_read(PlannerInfo *root, RelOptInfo *baserel, Relation rel,
						  List *exprs);
static int	add_fdw_expr(List **fdw_exprs, Expr *expr);
static bool expand_alerts_needed(DefenderRelInfo *fpinfo, Relation rel, List *columns);
static void compute_params(ForeignScanState *node, DefenderScanState *state);
static void start_scan(ForeignScanState *node, DefenderScanState *state);
static void start_list(DefenderScanState *state, bool fallback);
static int64 count_by_paging(DefenderScanState *state);
static bool retry_with_page_limit(DefenderScanState *state);
static void fill_slot(DefenderScanState *state, TupleTableSlot *slot, json_t *row);
static void conversion_error_callback(void *arg);
static int64 param_int8(DefenderScanState *state, int paramno, const char *what);
static char *explain_request(ForeignScanState *node, ExplainState *es);

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
 * Planning
 * ---------------------------------------------------------------------
 */

/* Number of ids an "id = ..." condition asks for, as far as known. */
static double
lookup_count(DefenderRelInfo *fpinfo)
{
	RestrictInfo *ri = linitial(fpinfo->lookup_conds);
	Expr	   *clause = ri->clause;

	if (IsA(clause, ScalarArrayOpExpr))
	{
		Expr	   *array = lsecond(((ScalarArrayOpExpr *) clause)->args);

		if (IsA(array, Const) && !((Const *) array)->constisnull)
			return Max(1, ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(((Const *) array)->constvalue)),
										 ARR_DIMS(DatumGetArrayTypeP(((Const *) array)->constvalue))));
		return 10;
	}
	return 1;
}

/*
 * defenderGetForeignRelSize
 *		Classify the conditions and estimate the rows.
 *
 * Graph offers no cheap count, and asking would cost a request at plan
 * time, so the estimate is a constant scaled by the conditions.
 */
static void
defenderGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						  Oid foreigntableid)
{
	DefenderRelInfo *fpinfo = palloc0(sizeof(DefenderRelInfo));

	fpinfo->relid = foreigntableid;
	fpinfo->opts = defender_get_options(foreigntableid, InvalidOid, InvalidOid, false);
	fpinfo->resource = graph_find_resource(fpinfo->opts->resource);
	fpinfo->pushdown = defender_enable_pushdown && fpinfo->opts->pushdown;
	fpinfo->stage = -1;
	fpinfo->baserel = baserel;
	fpinfo->hunting = (strcmp(fpinfo->resource->name, "hunting") == 0);
	if (fpinfo->hunting && fpinfo->opts->hunting_table)
		fpinfo->hunting_table = hunting_find_table(fpinfo->opts->hunting_table);
	baserel->fdw_private = fpinfo;

	defender_classify_conditions(root, baserel, fpinfo);
	fpinfo->enum_notices = defender_enum_notices(baserel, fpinfo);

	if (fpinfo->lookup_conds)
		baserel->rows = lookup_count(fpinfo);
	else
		baserel->rows = clamp_row_est(DEFAULT_ROWS *
									  clauselist_selectivity(root, baserel->baserestrictinfo,
															 0, JOIN_INNER, NULL));
}

/* Cost of reading rows from a list: one request per page. */
static Cost
list_cost(DefenderRelInfo *fpinfo, double rows)
{
	int			page = graph_page_size(fpinfo->resource, fpinfo->opts->page_size);
	double		pages;

	if (fpinfo->hunting)
		return HUNT_COST + ROW_COST * rows;
	pages = Max(1.0, ceil(rows / page));

	return REQUEST_COST * pages + ROW_COST * rows;
}

static ForeignPath *
make_path(PlannerInfo *root, RelOptInfo *rel, double rows, Cost startup, Cost total,
		  List *pathkeys, Relids required_outer)
{
	return create_foreignscan_path(root, rel, NULL, rows, startup, total, pathkeys,
								   required_outer,
								   NULL,	/* no outer plan */
#if PG_VERSION_NUM >= 170000
								   NIL, /* no fdw_restrictinfo */
#endif
								   NIL);
}

/* generate_implied_equalities_for_column callback: the table's id column. */
static bool
ec_member_is_id(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
				EquivalenceMember *em, void *arg)
{
	AttrNumber	id_attnum = *(AttrNumber *) arg;
	Expr	   *expr = em->em_expr;

	while (IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	return IsA(expr, Var) && ((Var *) expr)->varno == rel->relid &&
		((Var *) expr)->varattno == id_attnum && ((Var *) expr)->varlevelsup == 0;
}

/* Attribute number of the column that reads "id", or InvalidAttrNumber. */
static AttrNumber
id_column(DefenderRelInfo *fpinfo, RelOptInfo *baserel)
{
	AttrNumber	attnum;

	for (attnum = 1; attnum <= baserel->max_attr; attnum++)
	{
		const GraphProperty *prop;

		if (get_attname(fpinfo->relid, attnum, true) == NULL)
			continue;
		prop = defender_column_graph_property(fpinfo->relid, attnum, fpinfo->resource);
		if (prop && strcmp(prop->name, "id") == 0)
			return attnum;
	}
	return InvalidAttrNumber;
}

/*
 * defenderGetForeignPaths
 *		The list path, a sorted one if useful, and id lookups for joins.
 */
static void
defenderGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
						Oid foreigntableid)
{
	DefenderRelInfo *fpinfo = (DefenderRelInfo *) baserel->fdw_private;
	Cost		total;
	AttrNumber	id_attnum;
	List	   *candidates = NIL;
	ListCell   *lc;

	if (fpinfo->lookup_conds)
	{
		/* one GET per id beats any scan */
		total = REQUEST_COST * baserel->rows + ROW_COST * baserel->rows;
		add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
											 REQUEST_COST, total, NIL,
											 baserel->lateral_relids));
		return;
	}

	total = list_cost(fpinfo, baserel->rows);
	add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
										 fpinfo->hunting ? HUNT_COST : REQUEST_COST,
										 total, NIL, baserel->lateral_relids));

	/*
	 * Sorted by Graph: the query's first sort key, if $orderby can do it.
	 * A longer ORDER BY still gains, through an incremental sort.
	 */
	if (fpinfo->hunting)
	{
		/* KQL sorts by several keys; the whole ORDER BY or nothing */
		if (fpinfo->pushdown &&
			defender_kql_sort(root, baserel, fpinfo, root->query_pathkeys) != NULL)
			add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
												 HUNT_COST, total + 1.0,
												 root->query_pathkeys,
												 baserel->lateral_relids));
		return;
	}

	if (fpinfo->pushdown && root->query_pathkeys != NIL &&
		defender_sort_property(root, baserel, fpinfo, linitial(root->query_pathkeys)))
		add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
											 REQUEST_COST, total + 1.0,
											 list_make1(linitial(root->query_pathkeys)),
											 baserel->lateral_relids));

	if (!fpinfo->pushdown)
		return;

	/*
	 * Joins on id: a parameterized path does one GET per outer row, which
	 * beats reading the whole collection when the outer side is small.
	 */
	id_attnum = id_column(fpinfo, baserel);
	if (id_attnum == InvalidAttrNumber)
		return;
	candidates = generate_implied_equalities_for_column(root, baserel, ec_member_is_id,
														&id_attnum,
														baserel->lateral_referencers);
	candidates = list_concat(candidates, list_copy(baserel->joininfo));
	foreach(lc, candidates)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Relids		required_outer;
		ParamPathInfo *ppi;
		Expr	   *value;
		bool		is_array;

		if (!join_clause_is_movable_to(ri, baserel) ||
			!defender_is_lookup_cond(root, baserel, fpinfo, ri->clause, &value, &is_array) ||
			is_array)
			continue;
		required_outer = bms_union(bms_difference(ri->clause_relids, baserel->relids),
								   baserel->lateral_relids);
		if (bms_is_empty(required_outer))
			continue;
		ppi = get_baserel_parampathinfo(root, baserel, required_outer);
		(void) ppi;
		add_path(baserel, (Path *) make_path(root, baserel, 1,
											 REQUEST_COST, REQUEST_COST + ROW_COST,
											 NIL, required_outer));
	}
}

/* Did every condition go to Graph exactly? */
static bool
all_conditions_remote(DefenderRelInfo *fpinfo)
{
	return fpinfo->local_conds == NIL && fpinfo->recheck_conds == NIL &&
		fpinfo->lookup_conds == NIL;
}

/*
 * rows_wanted
 *		How many rows the query will read from the scan at most, when the
 *		planner knows (0 when it does not).
 *
 * An EXISTS subquery is planned to fetch one row (tuple_fraction 1) and
 * the executor stops at the first; when the scan is all there is to it
 * (one table, every condition sent, no aggregate, grouping, sort or set
 * operation) no more rows than that are read.  A list's first page then
 * asks $top=1 instead of 50 (not a limit: the nextLinks would go on), and
 * a hunting query ends in "| take 1".
 */
static int
rows_wanted(PlannerInfo *root, DefenderRelInfo *fpinfo)
{
	Query	   *parse = root->parse;

	if (root->tuple_fraction < 1.0 || root->tuple_fraction > 1000.0 ||
		!all_conditions_remote(fpinfo) ||
		bms_membership(root->all_baserels) != BMS_SINGLETON ||
		parse->hasAggs || parse->groupClause != NIL || parse->groupingSets != NIL ||
		parse->distinctClause != NIL || parse->hasWindowFuncs ||
		parse->setOperations != NULL || parse->sortClause != NIL ||
		parse->havingQual != NULL || parse->hasTargetSRFs)
		return 0;
	return (int) ceil(root->tuple_fraction);
}

/*
 * defenderGetForeignUpperPaths
 *		count(*) and LIMIT/OFFSET (with or without ORDER BY) done by Graph.
 *
 * Upper relations built on our scan get a DefenderRelInfo that points
 * back at the scan's relation, so that later stages can find it.
 */
static void
defenderGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
							 RelOptInfo *input_rel, RelOptInfo *output_rel,
							 void *extra)
{
	DefenderRelInfo *in = (DefenderRelInfo *) input_rel->fdw_private;
	DefenderRelInfo *out;

	if (in == NULL || !in->pushdown || output_rel->fdw_private != NULL)
		return;
	if (stage != UPPERREL_GROUP_AGG && stage != UPPERREL_ORDERED &&
		stage != UPPERREL_FINAL)
		return;

	/*
	 * Each stage builds only on the scan itself, or for LIMIT on the scan's
	 * own order: never on a grouped relation, whose rows are groups, not
	 * the table's.  (An ORDERED relation above the grouping once passed for
	 * the scan's own order, and LIMIT was planned on the scan with the
	 * aggregates in its target: "Aggref found in non-Agg plan node".)
	 */
	if (in->stage != -1 &&
		!(stage == UPPERREL_FINAL && in->stage == UPPERREL_ORDERED))
		return;

	out = palloc(sizeof(DefenderRelInfo));
	*out = *in;
	out->stage = stage;
	output_rel->fdw_private = out;

	switch (stage)
	{
		case UPPERREL_GROUP_AGG:
			add_count_path(root, input_rel, output_rel, in,
						   (GroupPathExtraData *) extra);
			break;
		case UPPERREL_ORDERED:
			/* the scan's sorted path serves it; remember where it came from */
			break;
		case UPPERREL_FINAL:
			add_final_path(root, input_rel, output_rel, (FinalPathExtraData *) extra);
			break;
		default:
			break;
	}
}

/* Is expr count(*), without FILTER, DISTINCT or ORDER BY? */
static bool
is_count_star(Node *expr)
{
	Aggref	   *agg;
	char	   *name;

	if (!IsA(expr, Aggref))
		return false;
	agg = (Aggref *) expr;
	if (!agg->aggstar || agg->aggfilter || agg->aggdistinct || agg->aggorder ||
		agg->agglevelsup != 0 || agg->aggkind != AGGKIND_NORMAL ||
		agg->aggfnoid >= FirstGenbkiObjectId)
		return false;
	name = get_func_name(agg->aggfnoid);
	return name && strcmp(name, "count") == 0;
}

/* Are all the scan tlist's entries count(*)? */
static bool
list_is_all_count_star(List *tlist)
{
	ListCell   *lc;

	foreach(lc, tlist)
		if (!is_count_star((Node *) lfirst_node(TargetEntry, lc)->expr))
			return false;
	return true;
}

/*
 * add_count_path
 *		SELECT count(*) FROM t WHERE <all remote>: one request, $count=true.
 */
static void
add_count_path(PlannerInfo *root, RelOptInfo *input_rel, RelOptInfo *grouped_rel,
			   DefenderRelInfo *base, GroupPathExtraData *extra)
{
	Query	   *parse = root->parse;
	List	   *aggs;
	ListCell   *lc;

	if (parse->groupingSets || parse->havingQual ||
		!all_conditions_remote(base) || !bms_is_empty(input_rel->lateral_relids))
		return;

	/* every aggregate is count(*), and nothing else reads the table */
	aggs = pull_var_clause((Node *) grouped_rel->reltarget->exprs,
						   PVC_INCLUDE_AGGREGATES);
	if (aggs == NIL)
		return;
	foreach(lc, aggs)
	{
		if (parse->groupClause || !is_count_star(lfirst(lc)))
		{
			Path	   *local;

			/* KQL's summarize can do more; OData's $count cannot */
			if (!base->hunting || !group_keys_are_columns(root) ||
				summarize_text(root, input_rel, base, aggs, NULL) == NULL)
				return;
			/* what the scan runs if Graph rejects the summarize (see below) */
			local = local_aggregation_path(root, input_rel, grouped_rel, extra);
			if (local == NULL)
				return;
			add_path(grouped_rel, (Path *)
					 create_foreign_upper_path(root, grouped_rel, grouped_rel->reltarget,
											   clamp_row_est(input_rel->rows * 0.1),
											   AGG_DISCOUNT * HUNT_COST,
											   AGG_DISCOUNT * HUNT_COST + ROW_COST,
											   NIL, local,
#if PG_VERSION_NUM >= 170000
											   NIL,
#endif
											   NIL));
			return;
		}
	}

	add_path(grouped_rel, (Path *)
			 create_foreign_upper_path(root, grouped_rel, grouped_rel->reltarget,
									   1, AGG_DISCOUNT * (base->hunting ? HUNT_COST : REQUEST_COST),
									   AGG_DISCOUNT * (base->hunting ? HUNT_COST : REQUEST_COST) + ROW_COST,
									   NIL, NULL,
#if PG_VERSION_NUM >= 170000
									   NIL,
#endif
									   NIL));
}

/*
 * group_keys_are_columns
 *		Is every GROUP BY key a plain column?  summarize groups by the
 *		columns an expression reads, which is the expression's grouping only
 *		when the expression is the column itself (GROUP BY url_count / 2
 *		would give one row per url_count, several per key).
 */
static bool
group_keys_are_columns(PlannerInfo *root)
{
	ListCell   *lc;

	foreach(lc, root->parse->groupClause)
	{
		Node	   *expr = get_sortgroupclause_expr(lfirst_node(SortGroupClause, lc),
													root->parse->targetList);

		if (!IsA(expr, Var))
			return false;
	}
	return true;
}

/*
 * scan_tuple_target
 *		The grouped target as the scan tuple holds it: its Vars and Aggrefs,
 *		each once, in the order GetForeignPlan's fdw_scan_tlist has them
 *		(pull_var_clause, then add_to_flat_tlist, which drops repeats), with
 *		the grouping columns' sortgrouprefs.
 *
 * The local aggregation must return exactly the scan tuple's columns:
 * "count(*), count(*), sum(x)" is three columns in the grouped target but
 * two in the scan tuple.
 */
static PathTarget *
scan_tuple_target(PlannerInfo *root, PathTarget *grouped)
{
	List	   *flat = add_to_flat_tlist(NIL, pull_var_clause((Node *) grouped->exprs,
															 PVC_INCLUDE_AGGREGATES));
	PathTarget *target = create_empty_pathtarget();
	ListCell   *lc;

	foreach(lc, flat)
	{
		Expr	   *expr = ((TargetEntry *) lfirst(lc))->expr;
		Index		sortgroupref = 0;
		ListCell   *lc2;
		int			i = 0;

		foreach(lc2, grouped->exprs)
		{
			if (equal(lfirst(lc2), expr))
			{
				sortgroupref = get_pathtarget_sortgroupref(grouped, i);
				break;
			}
			i++;
		}
		add_column_to_pathtarget(target, expr, sortgroupref);
	}
	return set_pathtarget_cost_width(root, target);
}

/*
 * local_aggregation_path
 *		The same aggregation done by PostgreSQL over the table's scan: the
 *		fdw_outerpath of a pushed summarize, or NULL when none can be built.
 *
 * A 400 to a pushed request is retried with less pushed down, for every
 * shape.  For a summarize, "less" is the plain scan with PostgreSQL
 * aggregating, and a foreign scan cannot run an aggregate by itself: so the
 * pushed path carries the local plan as its outer plan (initialized with
 * the scan, sending nothing unless it runs), and the scan returns its rows
 * instead when Graph rejects the summarize (defender_next_hunt_row).  Sorted
 * grouping, since it serves DISTINCT aggregates too; the input is the
 * table's cheapest scan, itself falling back if Graph rejects its where.
 */
static Path *
local_aggregation_path(PlannerInfo *root, RelOptInfo *input_rel,
					   RelOptInfo *grouped_rel, GroupPathExtraData *extra)
{
#if PG_VERSION_NUM >= 160000
	List	   *group_clause = root->processed_groupClause;
#else
	List	   *group_clause = root->parse->groupClause;
#endif
	Path	   *input = input_rel->cheapest_total_path;
	PathTarget *target = scan_tuple_target(root, grouped_rel->reltarget);

	if (input == NULL || input->param_info != NULL)
		return NULL;
	if (group_clause == NIL)
		return (Path *) create_agg_path(root, grouped_rel, input, target,
										AGG_PLAIN, AGGSPLIT_SIMPLE, NIL, NIL,
										&extra->agg_final_costs, 1);
	if (!grouping_is_sortable(group_clause))
		return NULL;
	if (root->group_pathkeys != NIL &&
		!pathkeys_contained_in(root->group_pathkeys, input->pathkeys))
		input = (Path *) create_sort_path(root, input_rel, input, root->group_pathkeys, -1.0);
	return (Path *) create_agg_path(root, grouped_rel, input, target,
									AGG_SORTED, AGGSPLIT_SIMPLE, group_clause, NIL,
									&extra->agg_final_costs,
									clamp_row_est(input_rel->rows * 0.1));
}

/*
 * summarize_text
 *		"a1 = count(), a2 = max(ProcessId) by DeviceName" for a grouped
 *		hunting query, or NULL when KQL cannot compute exactly the same.
 *
 * items are the Vars (grouping columns) and Aggrefs of the grouped target.
 * Aggregates, each exact:
 *	- count(*) as count(); count(col) as countif(isnotnull(col)), or
 *	  isnotempty for strings (our "" is NULL);
 *	- min and max of integer and timestamp columns;
 *	- sum of smallint and integer columns, with a companion
 *	  countif(isnotnull(col)): KQL's sum of no values is 0, SQL's is NULL.
 *	  PostgreSQL's sum(int2/int4) adds in a 64-bit integer, as Kusto does
 *	  ("Kusto uses 64-bit types for arithmetic"), so both give the same
 *	  bigint;
 *	- avg of smallint and integer columns as that sum and count, divided
 *	  here with numeric division exactly as int4_avg/int8_avg do (KQL's avg
 *	  is a real);
 *	- not sum or avg of bigint: PostgreSQL's are exact numerics, Kusto's
 *	  sum(long) overflows 64 bits, and nothing documented makes a decimal
 *	  sum exact for every input (todecimal() is a 128-bit .NET decimal of
 *	  28-29 digits, its overflow and its JSON form undocumented), so
 *	  PostgreSQL computes them;
 *	- count(DISTINCT col), when it is the only aggregate, as a two-level
 *	  summarize (by the groups and col, then countif by the groups), since
 *	  KQL's dcount is an estimate.
 * Not pushed: min/max of strings (KQL orders by code unit), floats and
 * numerics (NaN, decimal scale), anything with FILTER or ORDER BY.
 *
 * *outputs gets, per item, the list (main name, kind, companion name) that
 * execution uses to fill the scan column (see OUT_*).
 */
static char *
summarize_text(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			   List *items, List **outputs)
{
	StringInfoData aggs;
	StringInfoData by;
	ListCell   *lc;
	int			n = 0;
	char	   *distinct_col = NULL;
	int			naggs = 0;
	List	   *by_names = NIL; /* the group keys' KQL names, as String nodes */

	initStringInfo(&aggs);
	initStringInfo(&by);
	if (outputs)
		*outputs = NIL;
	foreach(lc, items)
		if (IsA(lfirst(lc), Aggref))
			naggs++;

	foreach(lc, items)
	{
		Node	   *item = lfirst(lc);
		char	   *name = NULL;
		int			kind = OUT_PLAIN;
		char	   *companion = "";

		if (IsA(item, Var))
		{
			if (((Var *) item)->varno != baserel->relid)
				return NULL;
			name = defender_kql_column(fpinfo, ((Var *) item)->varattno);
			if (name == NULL)
				return NULL;
			/* each key once: KQL refuses "by A, A" */
			if (!list_member(by_names, makeString(name)))
			{
				by_names = lappend(by_names, makeString(name));
				appendStringInfoString(&by, by.len ? ", " : " by ");
				defender_append_kql_name(&by, name);
			}
		}
		else if (IsA(item, Aggref))
		{
			Aggref	   *agg = (Aggref *) item;
			char	   *fname;
			Var		   *arg = NULL;
			char	   *col = NULL;
			Oid			argtype = InvalidOid;
			bool		integer;

			if (agg->aggfilter || agg->aggorder ||
				agg->agglevelsup != 0 || agg->aggkind != AGGKIND_NORMAL ||
				agg->aggfnoid >= FirstGenbkiObjectId)
				return NULL;
			fname = get_func_name(agg->aggfnoid);
			if (!agg->aggstar)
			{
				TargetEntry *tle;

				if (list_length(agg->args) != 1)
					return NULL;
				tle = linitial_node(TargetEntry, agg->args);
				if (!IsA(tle->expr, Var) || ((Var *) tle->expr)->varno != baserel->relid)
					return NULL;
				arg = (Var *) tle->expr;
				argtype = arg->vartype;
				col = defender_kql_column(fpinfo, arg->varattno);
				if (col == NULL)
					return NULL;
			}
			integer = (argtype == INT2OID || argtype == INT4OID || argtype == INT8OID);
			name = psprintf("a%d", ++n);
			if (agg->aggdistinct)
			{
				/* count(DISTINCT col) alone: a two-level summarize */
				if (strcmp(fname, "count") != 0 || naggs != 1 || col == NULL ||
					!(integer || argtype == TEXTOID || argtype == TIMESTAMPTZOID))
					return NULL;
				distinct_col = col;
				appendStringInfo(&aggs, "%s = ", name);
				appendStringInfoString(&aggs, argtype == TEXTOID ? "countif(isnotempty(" : "countif(isnotnull(");
				defender_append_kql_name(&aggs, col);
				appendStringInfoString(&aggs, "))");
			}
			else if (strcmp(fname, "count") == 0 && agg->aggstar)
				appendStringInfo(&aggs, "%s%s = count()", aggs.len ? ", " : "", name);
			else if (strcmp(fname, "count") == 0)
			{
				appendStringInfo(&aggs, "%s%s = ", aggs.len ? ", " : "", name);
				appendStringInfoString(&aggs, argtype == TEXTOID ? "countif(isnotempty(" : "countif(isnotnull(");
				defender_append_kql_name(&aggs, col);
				appendStringInfoString(&aggs, "))");
			}
			else if ((strcmp(fname, "min") == 0 || strcmp(fname, "max") == 0) &&
					 (integer || argtype == TIMESTAMPTZOID))
			{
				appendStringInfo(&aggs, "%s%s = %s(", aggs.len ? ", " : "", name, fname);
				defender_append_kql_name(&aggs, col);
				appendStringInfoChar(&aggs, ')');
			}
			else if ((strcmp(fname, "sum") == 0 || strcmp(fname, "avg") == 0) &&
					 (argtype == INT2OID || argtype == INT4OID))
			{
				kind = strcmp(fname, "sum") == 0 ? OUT_SUM : OUT_AVG;
				companion = psprintf("%s_n", name);
				appendStringInfo(&aggs, "%s%s = sum(", aggs.len ? ", " : "", name);
				defender_append_kql_name(&aggs, col);
				appendStringInfo(&aggs, "), %s = countif(isnotnull(", companion);
				defender_append_kql_name(&aggs, col);
				appendStringInfoString(&aggs, "))");
			}
			else
				return NULL;
		}
		else
			return NULL;
		if (outputs)
			*outputs = lappend(*outputs, list_make3(makeString(name), makeInteger(kind),
													makeString(companion)));
	}
	if (n == 0)
		return NULL;
	if (distinct_col)
	{
		/* by the groups and the column, then count per group */
		StringInfoData first;

		initStringInfo(&first);
		appendStringInfoString(&first, by.len ? by.data + 1 : "by");
		if (!list_member(by_names, makeString(distinct_col)))
		{
			/* count(DISTINCT g) GROUP BY g: g is a key already */
			appendStringInfoString(&first, by.len ? ", " : " ");
			defender_append_kql_name(&first, distinct_col);
		}
		return psprintf("%s | summarize %s%s", first.data, aggs.data, by.data);
	}
	return psprintf("%s%s", aggs.data, by.data);
}

/* Is a LIMIT or OFFSET expression something we can compute at execution? */
static bool
limit_expr_ok(PlannerInfo *root, RelOptInfo *baserel, Node *expr)
{
	if (expr == NULL)
		return true;
	if (contain_var_clause(expr))
		return false;
	return defender_is_value_expr(root, baserel, (Expr *) expr);
}

/*
 * add_final_path
 *		LIMIT/OFFSET as $top/$skip, on the whole query.
 *
 * Only when every condition went remote exactly, the order (if any) is one
 * Graph can produce, and the LIMIT has no WITH TIES, FOR UPDATE or
 * set-returning functions around it.  The path's parent is the scan's
 * relation, so GetForeignPlan sees it as a scan with extra duties.
 */
static void
add_final_path(PlannerInfo *root, RelOptInfo *input_rel, RelOptInfo *final_rel,
			   FinalPathExtraData *extra)
{
	Query	   *parse = root->parse;
	DefenderRelInfo *in = (DefenderRelInfo *) input_rel->fdw_private;
	RelOptInfo *baserel = in->baserel;
	DefenderRelInfo *base = (DefenderRelInfo *) baserel->fdw_private;
	List	   *pathkeys = NIL;
	double		rows;
	Cost		total;

	if (!extra->limit_needed || parse->commandType != CMD_SELECT ||
		parse->rowMarks || parse->hasTargetSRFs ||
		parse->hasAggs || parse->groupClause || parse->groupingSets ||
		parse->distinctClause || parse->hasWindowFuncs || parse->setOperations ||
		!all_conditions_remote(base) || !bms_is_empty(baserel->lateral_relids))
		return;
#if PG_VERSION_NUM >= 130000
	if (parse->limitOption == LIMIT_OPTION_WITH_TIES)
		return;
#endif
	if (in->stage == UPPERREL_ORDERED)
	{
		if (base->hunting ?
			defender_kql_sort(root, baserel, base, root->sort_pathkeys) == NULL :
			(list_length(root->sort_pathkeys) != 1 ||
			 !defender_sort_property(root, baserel, base, linitial(root->sort_pathkeys))))
			return;
		pathkeys = root->sort_pathkeys;
	}
	else if (parse->sortClause)
		return;
	if (!limit_expr_ok(root, baserel, parse->limitCount) ||
		!limit_expr_ok(root, baserel, parse->limitOffset))
		return;

	/*
	 * The pages up to the limit (10% of the rows when the limit is not
	 * known yet, as the planner assumes), a little cheaper than the same
	 * pages under a local Limit, which also reads full pages.
	 */
	rows = extra->count_est > 0 ? Min(extra->count_est + extra->offset_est, baserel->rows) :
		clamp_row_est(baserel->rows * 0.1);
	total = list_cost(base, rows) * 0.9;

	add_path(final_rel, (Path *)
			 create_foreign_upper_path(root, baserel,
									   root->upper_targets[UPPERREL_FINAL],
									   rows, Min(REQUEST_COST, total), total,
									   pathkeys, NULL,
#if PG_VERSION_NUM >= 170000
									   NIL,
#endif
									   list_make3(makeInteger(pathkeys != NIL),
												  copyObject(parse->limitCount),
												  copyObject(parse->limitOffset))));
}

/* $orderby text for pathkeys Graph can sort by ("createdDateTime desc"). */
static char *
orderby_for_pathkeys(PlannerInfo *root, RelOptInfo *baserel,
					 DefenderRelInfo *fpinfo, List *pathkeys)
{
	PathKey    *pk;
	const GraphProperty *prop;

	if (pathkeys == NIL)
		return "";
	pk = linitial(pathkeys);
	prop = defender_sort_property(root, baserel, fpinfo, pk);
	if (prop == NULL)
		return "";
	return psprintf("%s %s", prop->name,
					pk->pk_strategy == BTGreaterStrategyNumber ? "desc" : "asc");
}

/* Append expr to fdw_exprs; its 1-based index. */
static int
add_fdw_expr(List **fdw_exprs, Expr *expr)
{
	*fdw_exprs = lappend(*fdw_exprs, expr);
	return list_length(*fdw_exprs);
}

/*
 * first_kql_column
 *		One column with a KQL name, as a one-element list (NIL if none):
 *		what a hunting scan that reads no column projects, so the service
 *		sends one small value per row rather than every column.
 */
static List *
first_kql_column(DefenderRelInfo *fpinfo, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			first = 0;
	int			i;

	/* a number or boolean is the fewest bytes per row; else the first */
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i - 1);

		if (attr->attisdropped || defender_kql_column(fpinfo, i) == NULL)
			continue;
		if (attr->atttypid == INT8OID || attr->atttypid == INT4OID ||
			attr->atttypid == BOOLOID)
			return list_make1_int(i);
		if (first == 0)
			first = i;
	}
	return first ? list_make1_int(first) : NIL;
}

/*
 * columns_read
 *		Attribute numbers of the table's columns that exprs reference.
 *		A whole-row reference reads them all.
 */
static List *
columns_read(PlannerInfo *root, RelOptInfo *baserel, Relation rel, List *exprs)
{
	Bitmapset  *attrs_used = NULL;
	TupleDesc	desc = RelationGetDescr(rel);
	bool		whole_row;
	List	   *retrieved = NIL;
	int			i;

	pull_varattnos((Node *) exprs, baserel->relid, &attrs_used);
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

/* $expand=alerts only when a column reading "alerts" is filled. */
static bool
expand_alerts_needed(DefenderRelInfo *fpinfo, Relation rel, List *columns)
{
	ListCell   *lc;

	if (!graph_find_property(fpinfo->resource, "alerts"))
		return false;
	foreach(lc, columns)
	{
		const GraphProperty *prop =
			defender_column_graph_property(fpinfo->relid, lfirst_int(lc), fpinfo->resource);

		if (prop && strcmp(prop->name, "alerts") == 0)
			return true;
	}
	return false;
}

/*
 * What GetForeignPlan decides for a scan, before it is flattened into
 * fdw_private (scan_plan_private) and fdw_exprs.
 */
typedef struct ScanPlan
{
	ScanMode	mode;
	List	   *fdw_exprs;		/* values computed at execution */
	List	   *fdw_scan_tlist; /* the scan tuple of an upper relation */
	List	   *local_exprs;	/* checked by PostgreSQL on every row */
	List	   *pushed_exprs;	/* applied by Graph exactly: the fallback's */
	List	   *columns;		/* pairs (slot attno, table attnum) */
	List	   *filter;			/* filter tree, or NIL */
	List	   *project;		/* hunting: KQL columns, or NIL for all */
	List	   *output_names;	/* hunting summarize: result column per scan column */
	char	   *summarize;		/* hunting: "a1 = count() by X", or NULL */
	char	   *orderby;		/* $orderby or KQL sort, "" for none */
	bool		expand;			/* $expand=alerts */
	int			limit_param;	/* fdw_exprs index of LIMIT, 0 none */
	int			offset_param;	/* fdw_exprs index of OFFSET, 0 none */
	int			lookup_param;	/* fdw_exprs index of the id(s), 0 none */
	bool		lookup_array;	/* the id value is an array */
	bool		count_rows;		/* hunting, no column read: "| count" */
} ScanPlan;

/*
 * plan_clauses
 *		Sort the scan's clauses.  They are the table's own conditions, plus,
 *		on a parameterized path, join clauses; a join clause on id is what
 *		the path is for (a lookup scan).  Sets the mode (list or lookup),
 *		the filter tree and which clauses stay local.
 */
static void
plan_clauses(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			 List *scan_clauses, bool is_count, ScanPlan *plan)
{
	List	   *remote = NIL;
	ListCell   *lc;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		bool		is_array;

		if (plan->mode == SCAN_LIST && fpinfo->pushdown && !fpinfo->hunting &&
			defender_is_lookup_cond(root, baserel, fpinfo, ri->clause, &value, &is_array))
		{
			plan->mode = SCAN_LOOKUP;
			plan->lookup_array = is_array;
			plan->lookup_param = add_fdw_expr(&plan->fdw_exprs, value);
			/* cheap to recheck, and keeps id's exact text semantics */
			plan->local_exprs = lappend(plan->local_exprs, ri->clause);
		}
		else if (list_member_ptr(fpinfo->remote_conds, ri))
			remote = lappend(remote, ri);
		else if (list_member_ptr(fpinfo->recheck_conds, ri))
		{
			remote = lappend(remote, ri);
			plan->local_exprs = lappend(plan->local_exprs, ri->clause);
		}
		else
			plan->local_exprs = lappend(plan->local_exprs, ri->clause);
	}
	if (is_count)
		remote = list_copy(fpinfo->remote_conds);

	if (plan->mode == SCAN_LOOKUP)
	{
		/* GET by id cannot filter: everything else is local */
		foreach(lc, remote)
		{
			Expr	   *clause = ((RestrictInfo *) lfirst(lc))->clause;

			if (!list_member_ptr(plan->local_exprs, clause))
				plan->local_exprs = lappend(plan->local_exprs, clause);
		}
		return;
	}

	plan->filter = defender_filter_tree(root, baserel, fpinfo, remote, &plan->fdw_exprs);

	/*
	 * The conditions Graph applies exactly go to fdw_recheck_quals: the
	 * fallback evaluates them when Graph rejects the filter.
	 */
	foreach(lc, remote)
	{
		Expr	   *clause = ((RestrictInfo *) lfirst(lc))->clause;

		if (!list_member_ptr(plan->local_exprs, clause))
			plan->pushed_exprs = lappend(plan->pushed_exprs, clause);
	}
}

/*
 * plan_aggregate
 *		The scan of an upper relation: count(*) ($count, "| summarize
 *		count()"), or for hunting any grouping and aggregates as a KQL
 *		summarize, which the outer plan (local_aggregation_path) answers
 *		instead if Graph rejects it.
 */
static void
plan_aggregate(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			   ForeignPath *best_path, ScanPlan *plan)
{
	List	   *vars;
	AttrNumber	attno;
	ListCell   *lc;

	/*
	 * The scan tuple: the count(*) aggregates, then the columns the pushed
	 * conditions read, which only the fallback fills.
	 */
	plan->mode = SCAN_COUNT;
	plan->fdw_scan_tlist = add_to_flat_tlist(NIL,
											 pull_var_clause((Node *) best_path->path.pathtarget->exprs,
															 PVC_INCLUDE_AGGREGATES));
	if (fpinfo->hunting &&
		(root->parse->groupClause ||
		 !list_is_all_count_star(plan->fdw_scan_tlist)))
	{
		/* summarize: grouping columns and aggregates */
		plan->mode = SCAN_HUNT;
		plan->summarize = summarize_text(root, baserel, fpinfo,
										 (List *) get_tlist_exprs(plan->fdw_scan_tlist, false),
										 &plan->output_names);
		if (plan->summarize == NULL)
			elog(ERROR, "defender_fdw: aggregates not expressible in KQL");
		attno = 0;
		foreach(lc, plan->fdw_scan_tlist)
			plan->columns = lappend(plan->columns, list_make2_int(++attno, 0));
		plan->pushed_exprs = NIL;
		return;
	}
	vars = pull_var_clause((Node *) plan->pushed_exprs, PVC_RECURSE_PLACEHOLDERS);
	plan->fdw_scan_tlist = add_to_flat_tlist(plan->fdw_scan_tlist, vars);
	attno = 0;
	foreach(lc, plan->fdw_scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		attno++;
		if (IsA(tle->expr, Var))
			plan->columns = lappend(plan->columns,
									list_make2_int(attno, ((Var *) tle->expr)->varattno));
	}
}

/*
 * plan_hunting_columns
 *		What a hunting scan of a base relation asks for: the project (or
 *		"| count" when no column is read) and the KQL sort.
 *
 * Project the columns read, if every one has a known KQL name.  Those only
 * the pushed conditions use are left out (the service evaluates them; the
 * fallback without a filter asks for every column), unless EvalPlanQual
 * may recheck them (an UPDATE or FOR UPDATE joining this table: then the
 * whole row is read anyway); with none left, one column keeps the rows.
 */
static void
plan_hunting_columns(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
					 Relation rel, ForeignPath *best_path, ScanPlan *plan)
{
	bool		recheck = root->parse->commandType != CMD_SELECT ||
		root->rowMarks != NIL;
	List	   *projected = columns_read(root, baserel, rel,
										 list_concat(list_copy(baserel->reltarget->exprs),
													 list_copy(recheck ? plan->pushed_exprs : plan->local_exprs)));
	ListCell   *lc;

	if (recheck)
		projected = list_union_int(projected, columns_read(root, baserel, rel, plan->local_exprs));

	if (best_path->fdw_private != NIL)
		projected = list_union_int(projected,
								   columns_read(root, baserel, rel,
												(List *) root->upper_targets[UPPERREL_FINAL]->exprs));

	/*
	 * No column read at all, and every condition sent: only the number of
	 * rows matters, so ask for it ("| count").  With a condition left to
	 * PostgreSQL the rows' values are needed to evaluate it, so one column
	 * is projected instead.
	 */
	if (projected == NIL && fpinfo->pushdown && plan->local_exprs == NIL && !recheck)
		plan->count_rows = true;
	else if (projected == NIL)
		projected = first_kql_column(fpinfo, rel);
	plan->mode = SCAN_HUNT;
	foreach(lc, projected)
	{
		char	   *name = defender_kql_column(fpinfo, lfirst_int(lc));

		if (name == NULL)
		{
			plan->project = NIL;
			break;
		}
		plan->project = lappend(plan->project, makeString(name));
	}
	if (best_path->path.pathkeys)
		plan->orderby = defender_kql_sort(root, baserel, fpinfo, best_path->path.pathkeys);
}

/*
 * plan_columns
 *		The scan of a base relation: the columns it fills, $expand, and what
 *		a hunting scan projects or a list scan sorts by.
 */
static void
plan_columns(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			 Relation rel, ForeignPath *best_path, ScanPlan *plan)
{
	List	   *attnums = columns_read(root, baserel, rel,
									   list_concat(list_copy(baserel->reltarget->exprs),
												   list_concat(list_copy(plan->local_exprs),
															   plan->pushed_exprs)));
	ListCell   *lc;

	if (best_path->fdw_private != NIL)
		attnums = list_union_int(attnums,
								 columns_read(root, baserel, rel,
											  (List *) root->upper_targets[UPPERREL_FINAL]->exprs));
	foreach(lc, attnums)
		plan->columns = lappend(plan->columns, list_make2_int(lfirst_int(lc), lfirst_int(lc)));
	plan->expand = expand_alerts_needed(fpinfo, rel, attnums);
	if (fpinfo->hunting)
		plan_hunting_columns(root, baserel, fpinfo, rel, best_path, plan);
	else if (plan->mode == SCAN_LIST)
		plan->orderby = orderby_for_pathkeys(root, baserel, fpinfo, best_path->path.pathkeys);
}

/*
 * scan_plan_private
 *		The ForeignScan's fdw_private: the plan, in the order of enum
 *		FdwScanPrivateIndex (read back by defenderBeginForeignScan).
 */
static List *
scan_plan_private(PlannerInfo *root, DefenderRelInfo *fpinfo, const ScanPlan *plan)
{
	List	   *fdw_private;

	fdw_private = list_make3(makeInteger(plan->mode),
							 makeString(psprintf("%u", fpinfo->relid)),
							 plan->columns);
	fdw_private = lappend(fdw_private, plan->filter);
	fdw_private = lappend(fdw_private, makeString(plan->orderby));
	fdw_private = lappend(fdw_private, makeInteger(plan->expand));
	fdw_private = lappend(fdw_private, makeInteger(plan->limit_param));
	fdw_private = lappend(fdw_private, makeInteger(plan->offset_param));
	fdw_private = lappend(fdw_private, makeInteger(plan->lookup_param));
	fdw_private = lappend(fdw_private, makeInteger(plan->lookup_array));
	fdw_private = lappend(fdw_private, plan->project);
	fdw_private = lappend(fdw_private, makeString(plan->summarize ? plan->summarize : ""));
	fdw_private = lappend(fdw_private, plan->output_names);
	fdw_private = lappend(fdw_private,
						  makeInteger((plan->mode == SCAN_LIST || plan->mode == SCAN_HUNT) &&
									  plan->limit_param == 0 ?
									  rows_wanted(root, fpinfo) : 0));
	fdw_private = lappend(fdw_private, makeInteger(plan->count_rows));
	fdw_private = lappend(fdw_private, fpinfo->enum_notices);
	return fdw_private;
}

/*
 * defenderGetForeignPlan
 *		Decide the scan's mode and what execution needs to write its
 *		request (which it writes only then), and build the ForeignScan.
 */
static ForeignScan *
defenderGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
					   Oid foreigntableid, ForeignPath *best_path,
					   List *tlist, List *scan_clauses, Plan *outer_plan)
{
	DefenderRelInfo *info = (DefenderRelInfo *) foreignrel->fdw_private;
	RelOptInfo *baserel = info->baserel;
	DefenderRelInfo *fpinfo = (DefenderRelInfo *) baserel->fdw_private;
	bool		is_count = IS_UPPER_REL(foreignrel);
	Index		scan_relid = is_count ? 0 : baserel->relid;
	ScanPlan	plan;
	Relation	rel;

	memset(&plan, 0, sizeof(plan));
	plan.mode = SCAN_LIST;
	plan.orderby = "";

	rel = table_open(fpinfo->relid, NoLock);
	plan_clauses(root, baserel, fpinfo, scan_clauses, is_count, &plan);
	if (is_count)
		plan_aggregate(root, baserel, fpinfo, best_path, &plan);
	else
		plan_columns(root, baserel, fpinfo, rel, best_path, &plan);
	table_close(rel, NoLock);

	/* LIMIT/OFFSET, from add_final_path */
	if (best_path->fdw_private != NIL)
	{
		Node	   *count = lsecond(best_path->fdw_private);
		Node	   *offset = lthird(best_path->fdw_private);

		if (count && !(IsA(count, Const) && ((Const *) count)->constisnull))
			plan.limit_param = add_fdw_expr(&plan.fdw_exprs, (Expr *) count);
		if (offset && !(IsA(offset, Const) && ((Const *) offset)->constisnull))
			plan.offset_param = add_fdw_expr(&plan.fdw_exprs, (Expr *) offset);
	}

	return make_foreignscan(tlist, plan.local_exprs, scan_relid, plan.fdw_exprs,
							scan_plan_private(root, fpinfo, &plan),
							plan.fdw_scan_tlist, plan.pushed_exprs, outer_plan);
}

/* ---------------------------------------------------------------------
 * Execution
 * ---------------------------------------------------------------------
 */

/*
 * defenderBeginForeignScan
 *		Prepare the scan; send nothing yet.
 */
static void
defenderBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	List	   *priv = fsplan->fdw_private;
	DefenderScanState *state;
	List	   *columns;
	ListCell   *lc;
	Oid			userid;
	int			i;

	state = palloc0(sizeof(DefenderScanState));
	state->quota_waited_at_begin = defender_quota_waited_us();
	node->fdw_state = state;
	state->mode = (ScanMode) intVal(list_nth(priv, FdwScanPrivateMode));
	state->relid = (Oid) strtoul(strVal(list_nth(priv, FdwScanPrivateRelid)), NULL, 10);
	state->filter = (List *) list_nth(priv, FdwScanPrivateFilter);
	state->orderby = strVal(list_nth(priv, FdwScanPrivateOrderBy));
	state->expand_alerts = intVal(list_nth(priv, FdwScanPrivateExpandAlerts)) != 0;
	state->limit_param = intVal(list_nth(priv, FdwScanPrivateLimit));
	state->offset_param = intVal(list_nth(priv, FdwScanPrivateOffset));
	state->lookup_param = intVal(list_nth(priv, FdwScanPrivateLookupValue));
	state->lookup_array = intVal(list_nth(priv, FdwScanPrivateLookupArray)) != 0;
	state->project = (List *) list_nth(priv, FdwScanPrivateProject);
	state->summarize = strVal(list_nth(priv, FdwScanPrivateSummarize));
	state->output_names = (List *) list_nth(priv, FdwScanPrivateOutputNames);
	state->rows_wanted = intVal(list_nth(priv, FdwScanPrivateRowsWanted));
	state->count_rows = intVal(list_nth(priv, FdwScanPrivateCountRows)) != 0;

	/*
	 * Constants that are no member of an enumeration: said once per
	 * statement, here rather than per row or rescan (and for EXPLAIN too).
	 */
	foreach(lc, (List *) list_nth(priv, FdwScanPrivateEnumNotices))
	{
		const GraphResource *resource =
			graph_find_resource(defender_get_options(state->relid, InvalidOid,
													 InvalidOid, false)->resource);

		defender_enum_notice(state->relid, resource, lfirst(lc));
	}

	/* Plain EXPLAIN shows the request without sending it. */
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
	{
		state->opts = defender_get_options(state->relid, InvalidOid, InvalidOid, false);
		state->resource = graph_find_resource(state->opts->resource);
		state->hunting = (strcmp(state->resource->name, "hunting") == 0);
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
	state->opts = defender_get_options(state->relid, InvalidOid, userid, true);
	state->resource = graph_find_resource(state->opts->resource);
	state->hunting = (strcmp(state->resource->name, "hunting") == 0);

	if (node->ss.ss_currentRelation)
		state->rel = node->ss.ss_currentRelation;
	else
	{
		state->rel = table_open(state->relid, AccessShareLock);
		state->close_rel = true;
	}

	columns = (List *) list_nth(priv, FdwScanPrivateColumns);
	state->ncolumns = list_length(columns);
	state->columns = palloc0(sizeof(DefenderColumn) * Max(state->ncolumns, 1));
	state->slot_attnos = palloc0(sizeof(AttrNumber) * Max(state->ncolumns, 1));
	i = 0;
	foreach(lc, columns)
	{
		List	   *pair = (List *) lfirst(lc);

		state->slot_attnos[i] = (AttrNumber) linitial_int(pair);
		if (lsecond_int(pair) == 0)
		{
			/* a summarize output column: matched by its KQL name */
			DefenderColumn *col = &state->columns[i];

			defender_column_init_attr(col, node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
									  state->slot_attnos[i]);
			col->property = strVal(linitial((List *) list_nth(state->output_names, i)));
			graph_normalize_name(col->property, col->match_key, sizeof(col->match_key));
		}
		else
			defender_column_init(&state->columns[i], state->rel,
								 (AttrNumber) lsecond_int(pair), state->resource);
		i++;
	}

	state->param_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
	state->params.count = list_length(fsplan->fdw_exprs);
	state->params.values = palloc0(sizeof(Datum) * Max(state->params.count, 1));
	state->params.nulls = palloc0(sizeof(bool) * Max(state->params.count, 1));
	state->params.types = palloc0(sizeof(Oid) * Max(state->params.count, 1));
	i = 0;
	foreach(lc, fsplan->fdw_exprs)
		state->params.types[i++] = exprType((Node *) lfirst(lc));

	state->store_desc = node->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	if (state->hunting && state->summarize[0])
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

/* $top of a list scan's pages. */
static int64
list_page_size(DefenderScanState *state)
{
	return graph_page_size(state->resource, state->opts->page_size);
}

/*
 * wants_page_count
 *		Can the scan need more than one page, and may those go in parallel?
 *		Then the first request asks for $count=true (see pager.c).
 */
static bool
wants_page_count(DefenderScanState *state, const DefenderListRequest *req)
{
	return state->opts->parallel_pages > 1 && !req->count_only &&
		(req->top <= 0 || req->top > list_page_size(state));
}

/*
 * start_list
 *		Write the list request with the values and begin paging.
 *
 * In fallback the filter, $top, $skip and $count are left out: every
 * condition and the limit are then applied here.
 */
static void
start_list(DefenderScanState *state, bool fallback)
{
	DefenderListRequest req;
	DefenderPaging paging;
	int64		page;
	int			rejections = 0;
	StringInfoData url;
	StringInfoData display;
	MemoryContext old = MemoryContextSwitchTo(state->param_cxt);

	memset(&req, 0, sizeof(req));
	req.orderby = state->orderby[0] ? state->orderby : NULL;
	req.expand_alerts = state->expand_alerts;
	if (state->count_by_paging)
	{
		/* the filter Graph accepted, every page, only the ids */
		req.filter = state->filter;
		req.orderby = NULL;
		req.expand_alerts = false;
		req.select_id = true;
	}
	else if (!fallback)
	{
		req.filter = state->filter;
		req.count_only = (state->mode == SCAN_COUNT);
		if (state->limit >= 0)
			req.top = state->limit;
		else if (state->rows_wanted > 0)
			req.top = state->rows_wanted;	/* a first page, not a limit */
		if (state->offset > 0)
			req.skip = state->offset;
	}
	page = list_page_size(state);
	/* a service that leaves out @odata.count cannot plan parallel pages */
	req.count_pages = !state->count_by_paging && wants_page_count(state, &req);

	initStringInfo(&url);
	appendStringInfoString(&url, state->opts->graph_url);
	initStringInfo(&display);
	appendStringInfoString(&display, "GET ");
	if (defender_deparse_list(&url, true, state->opts, state->resource, &req,
							  &state->params) == RENDER_FALSE)
	{
		/* no row can match: nothing to ask */
		state->finished = true;
		MemoryContextSwitchTo(old);
		return;
	}
	defender_deparse_list(&display, false, state->opts, state->resource, &req,
						  &state->params);

	if (req.count_pages)
	{
		/* the same request without $count/$skip/$top, for the later pages */
		StringInfoData prefix;
		StringInfoData display_prefix;

		req.omit_paging = true;
		initStringInfo(&prefix);
		appendStringInfoString(&prefix, state->opts->graph_url);
		defender_deparse_list(&prefix, true, state->opts, state->resource, &req,
							  &state->params);
		initStringInfo(&display_prefix);
		appendStringInfoString(&display_prefix, "GET ");
		defender_deparse_list(&display_prefix, false, state->opts, state->resource, &req,
							  &state->params);
		paging.parallel = state->opts->parallel_pages;
		paging.prefix = prefix.data;
		paging.display_prefix = display_prefix.data;
		paging.page_size = page;
		paging.first_skip = req.skip;
		paging.row_limit = req.top > 0 ? req.top : -1;
	}

	if (state->pager)
		state->requests += defender_pager_requests(state->pager);
	/*
	 * A 400 to the first page may be Graph refusing the filter (then read
	 * without it) or announcing a lower $top cap than the default page size
	 * (then ask again with pages that size).
	 */
	if (!fallback && state->filter != NIL)
		rejections |= DEFENDER_PAGER_FILTER;
	if (state->opts->page_size <= 0 && page > state->resource->confirmed_page_size)
		rejections |= DEFENDER_PAGER_PAGE_SIZE;
	state->pager = defender_pager_begin(state->opts, url.data, display.data,
										state->page_cxt, rejections,
										req.count_pages ? &paging : NULL);
	state->fallback = fallback;
	MemoryContextSwitchTo(old);
}

/*
 * retry_with_page_limit
 *		After Graph refused the first page's $top and said what it allows:
 *		remember that for the backend and start the list again with pages
 *		that size.  False when there is nothing to learn.
 */
static bool
retry_with_page_limit(DefenderScanState *state)
{
	int			limit = defender_pager_page_limit(state->pager);

	if (limit <= 0 || !graph_learn_page_limit(state->resource, limit))
		return false;
	elog(DEBUG1, "defender_fdw: Microsoft Graph caps $top at %d for %s; using pages of %d",
		 limit, state->resource->name, limit);
	start_list(state, false);
	return true;
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
	state->limit = param_int8(state, state->limit_param, "LIMIT");
	state->offset = Max(param_int8(state, state->offset_param, "OFFSET"), 0);

	if (state->mode == SCAN_LOOKUP)
	{
		Datum		value = state->params.values[state->lookup_param - 1];
		bool		isnull = state->params.nulls[state->lookup_param - 1];
		MemoryContext old = MemoryContextSwitchTo(state->param_cxt);

		state->lookup_ids = NIL;
		if (isnull)
			;					/* id = NULL matches nothing */
		else if (!state->lookup_array)
			state->lookup_ids = list_make1(TextDatumGetCString(value));
		else
		{
			Datum	   *elems;
			bool	   *elemnulls;
			int			n,
						i;

			deconstruct_array(DatumGetArrayTypeP(value), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &elemnulls, &n);
			for (i = 0; i < n; i++)
			{
				char	   *id;

				if (elemnulls[i])
					continue;
				id = TextDatumGetCString(elems[i]);
				/* each entity once, whatever the array repeats */
				if (!list_member(state->lookup_ids, makeString(id)))
					state->lookup_ids = lappend(state->lookup_ids, makeString(id));
			}
			/* back to plain strings */
			{
				List	   *ids = NIL;
				ListCell   *lc;

				foreach(lc, state->lookup_ids)
					ids = lappend(ids, strVal(lfirst(lc)));
				state->lookup_ids = ids;
			}
		}
		MemoryContextSwitchTo(old);
		return;
	}

	if (state->limit == 0)
	{
		state->finished = true; /* LIMIT 0 */
		return;
	}
	if (state->hunting)
		return;					/* defender_run_hunt sends it, on the first row asked for */
	start_list(state, false);
}

/*
 * fill_slot
 *		Convert a row object into the scan slot's columns.
 */
static void
fill_slot(DefenderScanState *state, TupleTableSlot *slot, json_t *row)
{
	Datum	   *values = slot->tts_values;
	bool	   *isnull = slot->tts_isnull;
	ErrorContextCallback errcallback;
	MemoryContext old;
	int			i;

	if (!json_is_object(row))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph returned a row that is not a JSON object"),
				 errcontext("foreign table \"%s\"", RelationGetRelationName(state->rel))));

	ExecClearTuple(slot);
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
		AttrNumber	attno = state->slot_attnos[i];

		state->current_column = col;
		values[attno - 1] = defender_json_to_datum(col, defender_column_lookup(col, row),
												   &isnull[attno - 1]);
	}
	MemoryContextSwitchTo(old);

	error_context_stack = errcallback.previous;
	state->current_column = NULL;
	ExecStoreVirtualTuple(slot);
}

/*
 * next_list_row
 *		The next row of a list into the slot; false when done.
 */
static bool
next_list_row(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	for (;;)
	{
		json_t	   *row;
		DfwGraphError err;

		if (state->finished)
			return false;
		if (!state->fallback && state->limit >= 0 && state->returned >= state->limit)
			return false;		/* Graph applied the offset; stop at the limit */

		row = defender_pager_next(state->pager);
		if (row == NULL)
		{
			if (defender_pager_rejected(state->pager, &err))
			{
				if (retry_with_page_limit(state))
					continue;
				if (state->filter == NIL)
					defender_pager_raise_rejection(state->pager);
				ereport(NOTICE,
						(errmsg("Microsoft Graph rejected the pushed-down filter; reading without it and filtering locally"),
						 errdetail("HTTP 400, error code \"%s\": %s", err.code,
								   defender_redact(state->opts, err.message)),
						 errhint("Set defender_fdw.enable_pushdown to off, or the table option pushdown to false, to skip the attempt.")));
				start_list(state, true);
				continue;
			}
			state->finished = true;
			return false;
		}

		MemoryContextReset(state->row_cxt);
		fill_slot(state, slot, row);

		if (state->fallback)
		{
			if (!defender_passes_pushed_conditions(node, slot))
				continue;
			if (state->skipped < state->offset)
			{
				state->skipped++;
				continue;
			}
			if (state->limit >= 0 && state->returned >= state->limit)
			{
				state->finished = true;
				return false;
			}
		}
		state->returned++;
		return true;
	}
}

/*
 * count_by_paging
 *		count(*) from a service that ignored $count=true: the same filter,
 *		every page, with $select=id, and the rows counted here.  Slower, but
 *		the right number, never an error.
 */
static int64
count_by_paging(DefenderScanState *state)
{
	int64		count = 0;
	json_t	   *row;

	elog(DEBUG1, "defender_fdw: Microsoft Graph's answer to $count=true on foreign table \"%s\" has no @odata.count; counting the rows page by page",
		 RelationGetRelationName(state->rel));
	state->count_by_paging = true;
	start_list(state, false);
	while (!state->finished && (row = defender_pager_next(state->pager)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		count++;
	}
	if (!state->finished)
	{
		DfwGraphError err;

		if (defender_pager_rejected(state->pager, &err))
			defender_pager_raise_rejection(state->pager);
	}
	return count;
}

/*
 * defenderIterateForeignScan
 *		Return the next row, asking Graph when needed.
 */
static TupleTableSlot *
defenderIterateForeignScan(ForeignScanState *node)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!state->started)
		start_scan(node, state);

	switch (state->mode)
	{
		case SCAN_LIST:
			if (!next_list_row(node, state, slot))
				ExecClearTuple(slot);
			return slot;

		case SCAN_HUNT:
			if (!defender_next_hunt_row(node, state, slot))
				ExecClearTuple(slot);
			return slot;

		case SCAN_LOOKUP:
			while (state->lookup_ids != NIL)
			{
				char	   *id = linitial(state->lookup_ids);
				StringInfoData path;
				json_t	   *entity;

				state->lookup_ids = list_delete_first(state->lookup_ids);
				if (!defender_id_is_segment(id))
					continue;	/* '', '.', '..': no entity has that id, and
								 * GET .../ would be the whole list */
				MemoryContextReset(state->page_cxt);
				initStringInfo(&path);
				defender_deparse_lookup(&path, true, state->opts, state->resource, id,
										state->expand_alerts);
				entity = defender_fetch_entity(state->opts,
											   psprintf("%s%s", state->opts->graph_url, path.data),
											   psprintf("GET %s", path.data),
											   state->page_cxt);
				state->requests++;
				if (entity == NULL)
					continue;	/* 404: no such entity, no row */
				MemoryContextReset(state->row_cxt);
				fill_slot(state, slot, entity);
				return slot;
			}
			ExecClearTuple(slot);
			return slot;

		case SCAN_COUNT:
			{
				int64		count = 0;
				int			i;

				ExecClearTuple(slot);
				if (state->returned > 0)
					return slot;	/* the one row is out */
				if (state->hunting && !state->finished)
				{
					defender_run_hunt(node, state);
					if (state->fallback)
					{
						while (defender_next_hunt_row(node, state, slot))
							count++;
						ExecClearTuple(slot);
					}
					else if (!state->finished)
						count = state->hunt_count;
				}
				else if (state->pager)
				{
					json_t	   *row = defender_pager_next(state->pager);
					DfwGraphError err;

					if (row == NULL && defender_pager_rejected(state->pager, &err) &&
						retry_with_page_limit(state))
						row = defender_pager_next(state->pager);
					if (row == NULL && defender_pager_rejected(state->pager, &err))
					{
						if (state->filter == NIL)
							defender_pager_raise_rejection(state->pager);
						ereport(NOTICE,
								(errmsg("Microsoft Graph rejected the pushed-down filter; reading without it and counting locally"),
								 errdetail("HTTP 400, error code \"%s\": %s", err.code,
										   defender_redact(state->opts, err.message))));
						start_list(state, true);
						while (next_list_row(node, state, slot))
							count++;
						ExecClearTuple(slot);
					}
					else
					{
						json_t	   *n = json_object_get(defender_pager_document(state->pager),
														"@odata.count");

						if (json_is_integer(n))
							count = (int64) json_integer_value(n);
						else
							count = count_by_paging(state);
					}
				}
				state->finished = true;
				state->returned = 1;
				/* the count(*) columns; the others served the fallback only */
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
				return slot;
			}
	}
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
 *		Start over: new values (a join's next outer row), new requests.
 */
static void
defenderReScanForeignScan(ForeignScanState *node)
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
	if ((state->store || state->counted) && state->param_exprs == NIL && !state->fallback)
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
 * defenderEndForeignScan
 *		Release the page now rather than at the end of the query.
 */
static void
defenderEndForeignScan(ForeignScanState *node)
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
 * explain_request
 *		The request as EXPLAIN shows it: written the way execution writes it,
 *		but with each non-constant value shown as its expression.
 */
static char *
explain_request(ForeignScanState *node, ExplainState *es)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	DefenderParamValues params;
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;
	int			n = list_length(fsplan->fdw_exprs);

	params.count = n;
	params.values = palloc0(sizeof(Datum) * Max(n, 1));
	params.nulls = palloc0(sizeof(bool) * Max(n, 1));
	params.types = palloc0(sizeof(Oid) * Max(n, 1));
	params.placeholders = palloc0(sizeof(char *) * Max(n, 1));
	foreach(lc, fsplan->fdw_exprs)
	{
		Expr	   *expr = (Expr *) lfirst(lc);

		params.types[i] = exprType((Node *) expr);
		if (IsA(expr, Const))
		{
			params.values[i] = ((Const *) expr)->constvalue;
			params.nulls[i] = ((Const *) expr)->constisnull;
		}
		else
			params.placeholders[i] = deparse_expression((Node *) expr, es->deparse_cxt,
														true, false);
		i++;
	}

	initStringInfo(&buf);
	if (state->hunting)
	{
		const char *take_text = NULL;

		state->limit = -1;
		state->offset = 0;
		if (state->limit_param)
		{
			int			k = state->limit_param - 1;

			if (params.placeholders[k])
				take_text = state->offset_param ?
					psprintf("%s + %s", params.placeholders[k],
							 params.placeholders[state->offset_param - 1] ?
							 params.placeholders[state->offset_param - 1] :
							 psprintf(INT64_FORMAT, DatumGetInt64(params.values[state->offset_param - 1]))) :
					params.placeholders[k];
			else
			{
				state->limit = DatumGetInt64(params.values[k]);
				if (state->offset_param && !params.placeholders[state->offset_param - 1])
					state->offset = DatumGetInt64(params.values[state->offset_param - 1]);
			}
		}
		if (defender_hunting_kql(state, &buf, &params, false, take_text) == RENDER_FALSE)
			return "none (no row can match the conditions)";
		return buf.data;
	}
	if (state->mode == SCAN_LOOKUP)
	{
		int			k = state->lookup_param - 1;
		StringInfoData path;
		Oid			outfn;
		bool		isvarlena;

		initStringInfo(&path);
		if (params.placeholders[k] == NULL && !params.nulls[k] && !state->lookup_array)
			defender_deparse_lookup(&path, false, state->opts, state->resource,
									TextDatumGetCString(params.values[k]), state->expand_alerts);
		else
			defender_deparse_lookup(&path, false, state->opts, state->resource,
									state->lookup_array ? "{id}" :
									psprintf("{%s}", params.placeholders[k] ? params.placeholders[k] : "NULL"),
									state->expand_alerts);
		appendStringInfo(&buf, "GET %s", path.data);
		if (state->lookup_array)
		{
			if (params.placeholders[k])
				appendStringInfo(&buf, " for each id in %s", params.placeholders[k]);
			else if (!params.nulls[k])
			{
				getTypeOutputInfo(params.types[k], &outfn, &isvarlena);
				appendStringInfo(&buf, " for each id in %s",
								 OidOutputFunctionCall(outfn, params.values[k]));
			}
		}
		return buf.data;
	}
	else
	{
		DefenderListRequest req;
		StringInfoData request;

		memset(&req, 0, sizeof(req));
		req.filter = state->filter;
		req.orderby = state->orderby[0] ? state->orderby : NULL;
		req.expand_alerts = state->expand_alerts;
		req.count_only = (state->mode == SCAN_COUNT);
		if (state->limit_param)
		{
			int			k = state->limit_param - 1;

			if (params.placeholders[k])
				req.top_text = params.placeholders[k];
			else if (DatumGetInt64(params.values[k]) == 0)
				return "none (LIMIT 0)";
			else
				req.top = DatumGetInt64(params.values[k]);
		}
		else if (state->rows_wanted > 0)
			req.top = state->rows_wanted;
		if (state->offset_param)
		{
			int			k = state->offset_param - 1;

			if (params.placeholders[k])
				req.skip_text = params.placeholders[k];
			else
				req.skip = DatumGetInt64(params.values[k]);
		}
		req.count_pages = wants_page_count(state, &req);
		initStringInfo(&request);
		if (defender_deparse_list(&request, false, state->opts, state->resource,
								  &req, &params) == RENDER_FALSE)
			return "none (no row can match the conditions)";
		appendStringInfo(&buf, "GET %s", request.data);
		return buf.data;
	}
}

/*
 * defenderExplainForeignScan
 *		With VERBOSE, the request the scan sends; with ANALYZE, how many.
 */
static void
defenderExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	if (es->verbose && state->hunting)
	{
		char	   *display;

		(void) defender_resource_url(state->opts, "hunting", "POST", &display);
		ExplainPropertyText("Remote request", display, es);
		ExplainPropertyText("KQL", explain_request(node, es), es);
		{
			bool		from_conditions = false;
			char	   *derived = state->opts->timespan ? NULL :
				defender_derived_timespan(state->filter, NULL, &from_conditions);

			ExplainPropertyText("Timespan",
								state->opts->timespan ? state->opts->timespan :
								derived ? derived :
								from_conditions ? "from the conditions on Timestamp, computed at execution" :
								"(the API's default: the last 30 days)", es);
		}
	}
	else if (es->verbose)
		ExplainPropertyText("Remote request", explain_request(node, es), es);
	if (es->analyze)
		ExplainPropertyInteger("Remote requests", NULL,
							   state->requests +
							   (state->pager ? defender_pager_requests(state->pager) : 0),
							   es);
	if (es->analyze && defender_quota_waited_us() > state->quota_waited_at_begin)
		ExplainPropertyInteger("Quota wait", "ms",
							   (defender_quota_waited_us() - state->quota_waited_at_begin) / 1000,
							   es);
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
