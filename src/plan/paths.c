/*-------------------------------------------------------------------------
 *
 * paths.c
 *		  The paths of a scan and of the upper relations built on it, and
 *		  their costs.
 *
 * GetForeignRelSize (defender_plan_base_rel) classifies the conditions and
 * estimates the rows; GetForeignPaths (defender_add_base_paths) offers the
 * list path, a path sorted by Graph ($orderby, or KQL's sort) when the
 * query's order can use it, and parameterized paths that look up ids fed
 * by a join, one GET per outer row up to a switch point past which the
 * scan reads the list once instead (list_scan.c); GetForeignUpperPaths
 * (defender_add_upper_paths) offers count(*) as $count or "| summarize
 * count()", grouped aggregates as a KQL summarize (with a local
 * aggregation as the outer plan, in case Graph rejects it), and
 * LIMIT/OFFSET as $top/$skip or take, only when every condition went
 * remote exactly.
 *
 * Costs count what a scan waits for: round trips to Graph, each costed at
 * the request_latency option (milliseconds, 100 cost units each), a list's
 * pages (its page size) sent parallel_pages at a time after the first,
 * and a small cost per row.  A list's size is Graph's own count with
 * use_remote_estimate (remote_estimate.c), else DEFAULT_ROWS scaled by the
 * conditions' selectivity.  Called by defender_fdw.c's planner callbacks
 * and, for the lookup switch point, by scan_plan.c; the plan of the chosen
 * path is scan_plan.c's.
 *
 * src/plan/paths.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_class.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "defender_client.h"	/* DFW_CLIENT_HAS_WAKE_FD */
#include "defender_plan.h"

/*
 * Costs, in units of a sequential page read, which on current hardware
 * stand for some 10 us of work (a tuple's cpu_tuple_cost of 0.01, a tenth
 * of a microsecond).  A round trip to Graph costs the request_latency
 * option's milliseconds at that rate, 10,000 units for the default 100 ms:
 * against PostgreSQL's own CPU costs, a request weighs what it takes.  A
 * row read from Graph costs ROW_COST, its JSON parsed and converted (a
 * few microseconds).
 */
#define COST_PER_MS		100.0
#define ROW_COST		0.5
#define DEFAULT_ROWS	1000

/* a hunting request is one call, but it counts against a tenant quota */
#define HUNT_REQUESTS	10

/*
 * An aggregate computed remotely returns a row per group instead of every
 * row: cheaper by a margin the planner's fuzzy cost comparison cannot miss.
 */
#define AGG_DISCOUNT	0.5

static void add_count_path(PlannerInfo *root, RelOptInfo *input_rel,
						   RelOptInfo *grouped_rel, DefenderRelInfo *base,
						   GroupPathExtraData *extra);
static void add_final_path(PlannerInfo *root, RelOptInfo *input_rel,
						   RelOptInfo *final_rel, FinalPathExtraData *extra);
static bool all_conditions_remote(DefenderRelInfo *fpinfo);
static bool group_keys_are_columns(PlannerInfo *root);
static PathTarget *scan_tuple_target(PlannerInfo *root, PathTarget *grouped);
static Cost request_cost(DefenderRelInfo *fpinfo);
static double list_rounds(DefenderRelInfo *fpinfo, double rows);
static Path *local_aggregation_path(PlannerInfo *root, RelOptInfo *input_rel,
									RelOptInfo *grouped_rel, GroupPathExtraData *extra);

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
 * defender_plan_base_rel
 *		GetForeignRelSize: classify the conditions and estimate the rows.
 *
 * The list's size is Graph's $count of the pushed filter when the
 * use_remote_estimate option is on (one request at plan time, cached),
 * else DEFAULT_ROWS scaled by the conditions' selectivity: planning then
 * touches no network.  A lookup by id returns a row per id.
 */
void
defender_plan_base_rel(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid, bool enable_pushdown)
{
	DefenderRelInfo *fpinfo = palloc0(sizeof(DefenderRelInfo));
	List	   *list_conds;
	double		counted = -1;

	fpinfo->relid = foreigntableid;
	fpinfo->opts = defender_get_options(foreigntableid, InvalidOid, InvalidOid, false);
	fpinfo->resource = graph_find_resource(fpinfo->opts->resource);
	fpinfo->pushdown = enable_pushdown && fpinfo->opts->pushdown;
	fpinfo->stage = -1;
	fpinfo->baserel = baserel;
	fpinfo->hunting = (strcmp(fpinfo->resource->name, "hunting") == 0);
	if (fpinfo->hunting && fpinfo->opts->hunting_table)
		fpinfo->hunting_table = hunting_find_table(fpinfo->opts->hunting_table);
	baserel->fdw_private = fpinfo;

	defender_classify_conditions(root, baserel, fpinfo);
	fpinfo->enum_notices = defender_enum_notices(baserel, fpinfo);

	/* what the list's $filter holds: the conditions sent, exact or not */
	list_conds = list_concat_copy(fpinfo->remote_conds, fpinfo->recheck_conds);
	/* a GET by one id reads no list: nothing to ask */
	if (fpinfo->opts->use_remote_estimate && !fpinfo->hunting &&
		!(fpinfo->lookup_conds != NIL && lookup_count(fpinfo) <= 1))
		counted = defender_remote_estimate(root, baserel, fpinfo, list_conds);
	if (counted >= 0)
	{
		fpinfo->list_rows = clamp_row_est(counted);
		fpinfo->list_rows_remote = true;
	}
	else
		fpinfo->list_rows = clamp_row_est(DEFAULT_ROWS *
										  clauselist_selectivity(root, list_conds,
																 0, JOIN_INNER, NULL));

	if (fpinfo->lookup_conds)
		baserel->rows = lookup_count(fpinfo);
	else if (fpinfo->list_rows_remote)
		baserel->rows = clamp_row_est(fpinfo->list_rows *
									  clauselist_selectivity(root, fpinfo->local_conds,
															 0, JOIN_INNER, NULL));
	else
		baserel->rows = clamp_row_est(DEFAULT_ROWS *
									  clauselist_selectivity(root, baserel->baserestrictinfo,
															 0, JOIN_INNER, NULL));
}

/* What one round trip to Graph costs: the request_latency option. */
static Cost
request_cost(DefenderRelInfo *fpinfo)
{
	return COST_PER_MS * fpinfo->opts->request_latency;
}

/*
 * list_rounds
 *		How many round trips reading rows of a list waits for: the first
 *		page, then the others parallel_pages at a time (pager.c).
 */
static double
list_rounds(DefenderRelInfo *fpinfo, double rows)
{
	int			page = graph_page_size(fpinfo->resource, fpinfo->opts->page_size);
	double		pages = Max(1.0, ceil(rows / page));

	return 1.0 + ceil((pages - 1.0) / Max(1, fpinfo->opts->parallel_pages));
}

/* Cost of reading rows from a list (or of a hunting query). */
static Cost
list_cost(DefenderRelInfo *fpinfo, double rows)
{
	if (fpinfo->hunting)
		return HUNT_REQUESTS * request_cost(fpinfo) + ROW_COST * rows;
	return request_cost(fpinfo) * list_rounds(fpinfo, rows) + ROW_COST * rows;
}

/* expression_tree_walker callback: does the expression hold a PARAM_EXEC? */
static bool
contains_exec_param(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		return true;
	return expression_tree_walker(node, contains_exec_param, context);
}

/*
 * switch_point
 *		As many GETs as reading the list waits round trips: past that point
 *		the lookups have cost what the list would have, so a scan never
 *		costs more than twice the cheaper of the two, whatever the outer
 *		side holds.
 */
static double
switch_point(DefenderRelInfo *fpinfo)
{
	return Min(list_rounds(fpinfo, fpinfo->list_rows), (double) INT_MAX);
}

/*
 * defender_lookup_switch
 *		How many lookups by id a scan makes before it reads the list once
 *		instead and answers the rest from it (list_scan.c), or 0 for never.
 *
 * filter_values are the values the list's $filter reads.  One computed by
 * the executor (a PARAM_EXEC: a correlated subquery's or LATERAL
 * reference to the outer row, an initplan) may change from one rescan to
 * the next, and a list read with one outer row's value would miss the
 * rows another's matches: such a scan keeps to one GET per id.
 */
int
defender_lookup_switch(DefenderRelInfo *fpinfo, List *filter_values)
{
	if (contains_exec_param((Node *) filter_values, NULL))
		return 0;
	return (int) switch_point(fpinfo);
}

/*
 * lookups_cost
 *		Cost of looking up n ids: a GET each up to the switch point, then
 *		one list read, the rest answered from it.
 */
static Cost
lookups_cost(DefenderRelInfo *fpinfo, double n)
{
	double		switch_at = switch_point(fpinfo);
	Cost		total = Min(n, switch_at) * (request_cost(fpinfo) + ROW_COST);

	if (n > switch_at)
		total += list_cost(fpinfo, fpinfo->list_rows) +
			(n - switch_at) * cpu_operator_cost;
	return total;
}

/*
 * size_is_a_guess
 *		Is a local relation's row estimate PostgreSQL's guess for a table
 *		never vacuumed or analyzed, and smaller than ten pages?  It then
 *		assumes ten pages, thousands of rows, whatever the table holds.
 */
static bool
size_is_a_guess(PlannerInfo *root, RelOptInfo *rel)
{
	RangeTblEntry *rte = root->simple_rte_array[rel->relid];
	HeapTuple	tuple;
	bool		guess;

	if (rte == NULL || rte->rtekind != RTE_RELATION ||
		(rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_MATVIEW) ||
		rel->pages > 10)
		return false;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(rte->relid));
	if (!HeapTupleIsValid(tuple))
		return false;
#if PG_VERSION_NUM >= 140000
	guess = ((Form_pg_class) GETSTRUCT(tuple))->reltuples < 0;
#else
	guess = ((Form_pg_class) GETSTRUCT(tuple))->relpages == 0;
#endif
	guess = guess && !((Form_pg_class) GETSTRUCT(tuple))->relhassubclass;
	ReleaseSysCache(tuple);
	return guess;
}

/*
 * outer_rows
 *		The rows the planner expects from the relations a parameterized path
 *		takes its values from (the largest of them), and whether one of them
 *		is sized by PostgreSQL's guess (size_is_a_guess).
 */
static double
outer_rows(PlannerInfo *root, Relids required_outer, bool *guessed)
{
	double		rows = 1;
	int			relid = -1;

	*guessed = false;
	while ((relid = bms_next_member(required_outer, relid)) >= 0)
	{
		RelOptInfo *rel;

		if (relid >= root->simple_rel_array_size ||
			(rel = root->simple_rel_array[relid]) == NULL)
			continue;
		rows = Max(rows, rel->rows);
		if (size_is_a_guess(root, rel))
			*guessed = true;
	}
	return rows;
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
 * defender_add_base_paths
 *		GetForeignPaths: the list path, a sorted one if useful, and id
 *		lookups for joins.
 */
void
defender_add_base_paths(PlannerInfo *root, RelOptInfo *baserel)
{
	DefenderRelInfo *fpinfo = (DefenderRelInfo *) baserel->fdw_private;
	Cost		total;
	AttrNumber	id_attnum;
	List	   *candidates = NIL;
	double		loops;
	bool		guessed;
	ListCell   *lc;

	if (fpinfo->lookup_conds)
	{
		/* one GET per id (up to the switch point) beats any scan */
		total = lookups_cost(fpinfo, baserel->rows);
		add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
											 Min(request_cost(fpinfo), total), total, NIL,
											 baserel->lateral_relids));
		return;
	}

	total = list_cost(fpinfo, fpinfo->hunting ? baserel->rows : fpinfo->list_rows);
	add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
										 (fpinfo->hunting ? HUNT_REQUESTS : 1) *
										 request_cost(fpinfo),
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
												 HUNT_REQUESTS * request_cost(fpinfo),
												 total + 1.0,
												 root->query_pathkeys,
												 baserel->lateral_relids));
		return;
	}

	if (fpinfo->pushdown && root->query_pathkeys != NIL &&
		defender_sort_property(root, baserel, fpinfo, linitial(root->query_pathkeys)))
		add_path(baserel, (Path *) make_path(root, baserel, baserel->rows,
											 request_cost(fpinfo), total + 1.0,
											 list_make1(linitial(root->query_pathkeys)),
											 baserel->lateral_relids));

	if (!fpinfo->pushdown)
		return;

	/*
	 * Joins on id: a parameterized path does one GET per outer row, which
	 * beats reading the whole collection when the outer side is small, and
	 * past the switch point reads the list once (lookups_cost): costed for
	 * the whole join, that is, per outer row a share of it.
	 *
	 * An outer side PostgreSQL sizes by its guess for a table never
	 * vacuumed or analyzed (ten pages, thousands of rows, whatever it
	 * holds) is taken at half the switch point instead.  PostgreSQL guesses
	 * large so that a nested loop cannot run away on a table that grew;
	 * here the switch already bounds that case (the switch point's GETs
	 * and the list read: at most twice the list), and anywhere from no row
	 * to the switch point the lookups cost at most the list, so the middle
	 * of that range stands for a size nobody measured.  Three rows then
	 * cost three GETs instead of the whole list.
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
		loops = outer_rows(root, required_outer, &guessed);
		total = lookups_cost(fpinfo, guessed ?
							 Min(loops, ceil(switch_point(fpinfo) / 2.0)) :
							 loops) / loops;
		add_path(baserel, (Path *) make_path(root, baserel, 1,
											 Min(request_cost(fpinfo), total), total,
											 NIL, required_outer));
	}
}

/*
 * defender_path_async_capable
 *		IsForeignPathAsyncCapable: may the path's scan run concurrently
 *		with the other scans of an Append?
 *
 * When the table's or server's async_capable option says so, for a list
 * or count(*) of incidents or alerts: their requests are sent ahead and
 * answered on the backend's one libcurl multi handle, so an Append over
 * many tenants' tables waits for all of them at once.  A hunting query
 * and a lookup by id (one GET per value, a parameterized path's per outer
 * row) run synchronously, as they would outside an Append.  Without a
 * wake descriptor (dfw_client_wake_fd: Linux only) no scan is.
 */
bool
defender_path_async_capable(const ForeignPath *path)
{
	DefenderRelInfo *fpinfo = (DefenderRelInfo *) path->path.parent->fdw_private;

#ifdef DFW_CLIENT_HAS_WAKE_FD
	return fpinfo != NULL && fpinfo->opts->async_capable && !fpinfo->hunting &&
		fpinfo->lookup_conds == NIL && path->path.param_info == NULL;
#else
	(void) fpinfo;
	return false;
#endif
}

/* Did every condition go to Graph exactly? */
static bool
all_conditions_remote(DefenderRelInfo *fpinfo)
{
	return fpinfo->local_conds == NIL && fpinfo->recheck_conds == NIL &&
		fpinfo->lookup_conds == NIL;
}

/*
 * defender_rows_wanted
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
int
defender_rows_wanted(PlannerInfo *root, DefenderRelInfo *fpinfo)
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
 * defender_add_upper_paths
 *		GetForeignUpperPaths: count(*), a hunting table's grouped
 *		aggregates, and LIMIT/OFFSET (with or without ORDER BY) done by
 *		Graph.
 *
 * Upper relations built on our scan get a DefenderRelInfo that points
 * back at the scan's relation, so that later stages can find it.
 */
void
defender_add_upper_paths(PlannerInfo *root, UpperRelationKind stage,
						 RelOptInfo *input_rel, RelOptInfo *output_rel,
						 void *extra)
{
	DefenderRelInfo *in = (DefenderRelInfo *) input_rel->fdw_private;
	DefenderRelInfo *out;

	if (in == NULL || !in->pushdown || output_rel->fdw_private != NULL)
		return;
	if (stage != UPPERREL_GROUP_AGG && stage != UPPERREL_ORDERED &&
		stage != UPPERREL_FINAL && stage != UPPERREL_PARTIAL_GROUP_AGG)
		return;

	/*
	 * A partition's share of a partitionwise count(*) (PostgreSQL asks with
	 * enable_partitionwise_aggregate on): its partial count is the count
	 * itself, which the Finalize Aggregate above the Append adds up, so
	 * each tenant's partition asks Graph for its $count.  Only count(*)
	 * without GROUP BY, of a list table.
	 */
	if (stage == UPPERREL_PARTIAL_GROUP_AGG &&
		(in->hunting || root->parse->groupClause != NIL))
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
		case UPPERREL_PARTIAL_GROUP_AGG:
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
bool
defender_is_all_count_star(List *tlist)
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
				defender_kql_summarize(root, input_rel, base, aggs, NULL) == NULL)
				return;
			/* what the scan runs if Graph rejects the summarize (see below) */
			local = local_aggregation_path(root, input_rel, grouped_rel, extra);
			if (local == NULL)
				return;
			add_path(grouped_rel, (Path *)
					 create_foreign_upper_path(root, grouped_rel, grouped_rel->reltarget,
											   clamp_row_est(input_rel->rows * 0.1),
											   AGG_DISCOUNT * list_cost(base, 0),
											   AGG_DISCOUNT * list_cost(base, 0) + ROW_COST,
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
									   1, AGG_DISCOUNT * list_cost(base, 0),
									   AGG_DISCOUNT * list_cost(base, 0) + ROW_COST,
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
 * instead when Graph rejects the summarize or its answer is past the caps
 * (hunting_source.c).  Sorted grouping, since it serves DISTINCT
 * aggregates too, sorted locally; the input is the table's cheapest
 * unsorted scan, itself falling back if Graph rejects its where, and
 * split into time windows when it is past the caps too.
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
	Path	   *input = NULL;
	PathTarget *target = scan_tuple_target(root, grouped_rel->reltarget);
	ListCell   *lc;

	/*
	 * The plain scan, unsorted: the aggregation runs when Graph rejects the
	 * summarize or its answer is past the caps, and a hunting scan past the
	 * caps is split into time windows only without a remote sort (other
	 * than on the time column), so the rows are sorted here.
	 */
	foreach(lc, input_rel->pathlist)
	{
		Path	   *path = (Path *) lfirst(lc);

		if (path->param_info == NULL &&
			(input == NULL || path->total_cost < input->total_cost))
			input = path;
	}
	if (input == NULL || !IsA(input, ForeignPath))
		return NULL;
	/* a sorted path that dominated the plain one: the same, unsorted */
	if (input->pathkeys != NIL)
		input = (Path *) make_path(root, input_rel, input->rows, input->startup_cost,
								   input->total_cost, NIL, NULL);
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
	 * pages under a local Limit, which also reads full pages.  The planner
	 * prices that Limit as a share of the whole list's cost, linear in the
	 * rows, while the rounds of a list are not (its later pages go in
	 * parallel): so the smaller of the two, then the discount.
	 */
	rows = extra->count_est > 0 ? Min(extra->count_est + extra->offset_est, baserel->rows) :
		clamp_row_est(baserel->rows * 0.1);
	total = list_cost(base, base->hunting ? baserel->rows : base->list_rows);
	total = request_cost(base) + (total - request_cost(base)) * rows / Max(baserel->rows, 1);
	total = Min(total, list_cost(base, rows)) * 0.9;

	add_path(final_rel, (Path *)
			 create_foreign_upper_path(root, baserel,
									   root->upper_targets[UPPERREL_FINAL],
									   rows, Min(request_cost(base), total), total,
									   pathkeys, NULL,
#if PG_VERSION_NUM >= 170000
									   NIL,
#endif
									   list_make3(makeInteger(pathkeys != NIL),
												  copyObject(parse->limitCount),
												  copyObject(parse->limitOffset))));
}
