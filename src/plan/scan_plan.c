/*-------------------------------------------------------------------------
 *
 * scan_plan.c
 *		  The plan of a scan: what GetForeignPlan hands the executor.
 *
 * For the path the planner chose (paths.c), decide the scan's mode (a
 * list, lookups by id, a count, a hunting query), which clauses Graph
 * applies and which PostgreSQL checks, the filter tree, the columns the
 * scan fills, the sort, and for a hunting query its project or summarize.
 * A list scan and a hunting scan are planned apart (plan_list_scan,
 * plan_hunting_scan) over the clause sorting they share.  Values that are
 * not constants go to fdw_exprs; everything else is a DefenderScanPlan,
 * stored in fdw_private as a list indexed by FdwScanPrivateIndex
 * (defender_scan_plan_to_list) and read back at BeginForeignScan
 * (defender_scan_plan_from_list).  The request itself is written only at
 * execution, when the values are known (src/scan/).  Called by
 * defender_fdw.c's GetForeignPlan, and by src/scan/foreign_scan.c's
 * BeginForeignScan to read the plan back.
 *
 * src/plan/scan_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "utils/rel.h"

#include "defender_plan.h"

/*
 * What ForeignScan.fdw_private holds, by index: a DefenderScanPlan, each
 * member a copyable node (the plan may be copied).
 */
enum FdwScanPrivateIndex
{
	FdwScanPrivateMode,			/* Integer: ScanMode */
	FdwScanPrivateRelid,		/* Integer: OID of the foreign table (its bits) */
	FdwScanPrivateColumns,		/* List of Integer pairs (slot attno, table attnum) */
	FdwScanPrivateFilter,		/* filter tree (defender_filter_to_node), or NIL */
	FdwScanPrivateOrderBy,		/* String, or "" for none */
	FdwScanPrivateExpandAlerts, /* Integer (bool) */
	FdwScanPrivateSelect,		/* List of String: $select, or NIL for all */
	FdwScanPrivateSelectRecheck,	/* List of String: added without the filter */
	FdwScanPrivateLimit,		/* Integer: fdw_exprs index of LIMIT, 0 none */
	FdwScanPrivateOffset,		/* Integer: fdw_exprs index of OFFSET, 0 none */
	FdwScanPrivateLookupValue,	/* Integer: fdw_exprs index of the id(s) */
	FdwScanPrivateLookupArray,	/* Integer (bool): the value is an array */
	FdwScanPrivateLookupSwitch, /* Integer: lookups before the list is read */
	FdwScanPrivateProject,		/* hunting: List of String KQL columns, or NIL */
	FdwScanPrivateSummarize,	/* hunting: String "a1 = count() by X", or "" */
	FdwScanPrivateOutputNames,	/* hunting summarize: result column per scan column */
	FdwScanPrivateRowsWanted,	/* Integer: most rows the query reads (EXISTS), 0 unknown */
	FdwScanPrivateCountRows,	/* Integer (bool): hunting, no column read: "| count" */
	FdwScanPrivateEnumNotices,	/* List of (column, value): see defender_enum_notices */
	FdwScanPrivateSortKeys,		/* List of IntLists (attnum, descending, nulls first): the KQL sort's keys */
	FdwScanPrivateCount			/* the number of slots */
};

/*
 * What GetForeignPlan decides for a scan: what execution reads, and the
 * planner's own lists that go into the ForeignScan's other fields.
 */
typedef struct ScanPlan
{
	DefenderScanPlan exec;		/* fdw_private */
	List	   *fdw_exprs;		/* values computed at execution */
	List	   *fdw_scan_tlist; /* the scan tuple of an upper relation */
	List	   *local_exprs;	/* checked by PostgreSQL on every row */
	List	   *pushed_exprs;	/* applied by Graph exactly: the fallback's */
} ScanPlan;

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

		if (plan->exec.mode == SCAN_LIST && fpinfo->pushdown && !fpinfo->hunting &&
			defender_is_lookup_cond(root, baserel, fpinfo, ri->clause, &value, &is_array))
		{
			plan->exec.mode = SCAN_LOOKUP;
			plan->exec.lookup_array = is_array;
			plan->exec.lookup_param = add_fdw_expr(&plan->fdw_exprs, value);
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

	if (plan->exec.mode == SCAN_LOOKUP)
	{
		/*
		 * GET by id cannot filter: everything else is local.  The filter is
		 * for the list the scan reads instead past its switch point
		 * (defender_lookup_switch).
		 */
		int			first_value = list_length(plan->fdw_exprs);

		plan->exec.filter = defender_filter_tree(root, baserel, fpinfo, remote,
												 &plan->fdw_exprs);
		plan->exec.lookup_switch =
			defender_lookup_switch(fpinfo, list_copy_tail(plan->fdw_exprs, first_value));
		foreach(lc, remote)
		{
			Expr	   *clause = ((RestrictInfo *) lfirst(lc))->clause;

			if (!list_member_ptr(plan->local_exprs, clause))
				plan->local_exprs = lappend(plan->local_exprs, clause);
		}
		return;
	}

	plan->exec.filter = defender_filter_tree(root, baserel, fpinfo, remote, &plan->fdw_exprs);

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
 * grouped_scan_tuple
 *		The scan tuple of an upper relation's scan: the aggregates (and, for
 *		a summarize, the grouping columns) of the path's target, each once.
 */
static List *
grouped_scan_tuple(ForeignPath *best_path)
{
	return add_to_flat_tlist(NIL,
							 pull_var_clause((Node *) best_path->path.pathtarget->exprs,
											 PVC_INCLUDE_AGGREGATES));
}

/*
 * plan_count
 *		The scan of count(*) over the table ($count, "| summarize count()").
 *
 * The scan tuple: the count(*) aggregates, then the columns the pushed
 * conditions read, which only the fallback fills.
 */
static void
plan_count(ForeignPath *best_path, ScanPlan *plan)
{
	List	   *vars;
	AttrNumber	attno;
	ListCell   *lc;

	plan->exec.mode = SCAN_COUNT;
	plan->fdw_scan_tlist = grouped_scan_tuple(best_path);
	vars = pull_var_clause((Node *) plan->pushed_exprs, PVC_RECURSE_PLACEHOLDERS);
	plan->fdw_scan_tlist = add_to_flat_tlist(plan->fdw_scan_tlist, vars);
	attno = 0;
	foreach(lc, plan->fdw_scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		attno++;
		if (IsA(tle->expr, Var))
			plan->exec.columns = lappend(plan->exec.columns,
										 list_make2_int(attno, ((Var *) tle->expr)->varattno));
	}
}

/*
 * plan_summarize
 *		A hunting table's grouping and aggregates as a KQL summarize, which
 *		the outer plan (local_aggregation_path) answers instead if Graph
 *		rejects it.  Each scan column is a summarize output, matched by its
 *		KQL name (table attnum 0).
 */
static void
plan_summarize(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			   ForeignPath *best_path, ScanPlan *plan)
{
	AttrNumber	attno;

	plan->exec.mode = SCAN_HUNT;
	plan->fdw_scan_tlist = grouped_scan_tuple(best_path);
	plan->exec.summarize =
		defender_kql_summarize(root, baserel, fpinfo,
							   (List *) get_tlist_exprs(plan->fdw_scan_tlist, false),
							   &plan->exec.output_names);
	if (plan->exec.summarize == NULL)
		elog(ERROR, "defender_fdw: aggregates not expressible in KQL");
	for (attno = 1; attno <= list_length(plan->fdw_scan_tlist); attno++)
		plan->exec.columns = lappend(plan->exec.columns, list_make2_int(attno, 0));
	plan->pushed_exprs = NIL;
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
		plan->exec.count_rows = true;
	else if (projected == NIL)
		projected = first_kql_column(fpinfo, rel);
	foreach(lc, projected)
	{
		char	   *name = defender_kql_column(fpinfo, lfirst_int(lc));

		if (name == NULL)
		{
			plan->exec.project = NIL;
			break;
		}
		plan->exec.project = lappend(plan->exec.project, makeString(name));
	}
	if (best_path->path.pathkeys)
	{
		plan->exec.orderby = defender_kql_sort(root, baserel, fpinfo, best_path->path.pathkeys);
		plan->exec.sort_keys = defender_kql_sort_keys(root, baserel, fpinfo,
													  best_path->path.pathkeys);
	}
}

/*
 * plan_columns
 *		The scan of a base relation: the columns it fills, and $expand.
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
		plan->exec.columns = lappend(plan->exec.columns,
									 list_make2_int(lfirst_int(lc), lfirst_int(lc)));
	plan->exec.expand_alerts = expand_alerts_needed(fpinfo, rel, attnums);
}

/*
 * add_selected
 *		Add the Graph properties the columns read to *select, each once;
 *		false when a column reads no property the catalog knows (a new
 *		Graph property, matched by name in each row): then no $select can
 *		name it.  "alerts" is not selected but expanded ($expand=alerts
 *		returns it whatever $select says).
 */
static bool
add_selected(DefenderRelInfo *fpinfo, List *attnums, List **select)
{
	ListCell   *lc;

	foreach(lc, attnums)
	{
		const GraphProperty *prop =
			defender_column_graph_property(fpinfo->relid, lfirst_int(lc), fpinfo->resource);

		if (prop == NULL)
			return false;
		if (strcmp(prop->name, "alerts") == 0)
			continue;
		if (!list_member(*select, makeString((char *) prop->name)))
			*select = lappend(*select, makeString(pstrdup(prop->name)));
	}
	return true;
}

/* How many properties of the resource a $select can name. */
static int
selectable_count(const GraphResource *resource)
{
	const GraphProperty *prop;
	int			n = 0;

	for (prop = resource->properties; prop->name; prop++)
		if (strcmp(prop->name, "alerts") != 0)
			n++;
	return n;
}

/*
 * plan_select
 *		The $select of a list, lookup or $count scan: id, and the properties
 *		of the columns PostgreSQL reads.
 *
 * Read are the columns of the scan's output (what the query shows, sorts,
 * groups, aggregates or joins on), of the conditions PostgreSQL checks,
 * and, for a LIMIT done by Graph, of the final target.  A condition Graph
 * applies exactly needs no value back, unless EvalPlanQual may recheck it
 * (UPDATE, FOR UPDATE) or the fallback without a filter evaluates it: its
 * properties go to select_recheck, added only then.  A $count asks for one
 * row, of which nothing is read.  id is always selected: rows are named by
 * it in errors, and whether Graph returns the key unasked is not
 * documented.  When a column reads a property the catalog does not know,
 * there is no $select at all: every property is fetched, as before.
 */
static void
plan_select(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			Relation rel, ForeignPath *best_path, bool is_count, ScanPlan *plan)
{
	bool		recheck = root->parse->commandType != CMD_SELECT ||
		root->rowMarks != NIL;
	List	   *read = NIL;
	List	   *pushed;
	List	   *select = list_make1(makeString("id"));
	List	   *select_recheck = NIL;
	ListCell   *lc;

	if (!is_count && best_path->fdw_private != NIL && !recheck)
	{
		/*
		 * LIMIT done by Graph, so every condition and the whole ORDER BY
		 * went with it: nothing runs above the scan but the final
		 * projection, and a column only sorted by is never looked at.
		 */
		ListCell   *tc;

		foreach(tc, root->processed_tlist)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, tc);

			if (!tle->resjunk)
				read = list_union_int(read,
									  columns_read(root, baserel, rel,
												   list_make1(tle->expr)));
		}
		read = list_union_int(read, columns_read(root, baserel, rel, plan->local_exprs));
	}
	else if (!is_count)
	{
		read = columns_read(root, baserel, rel,
							list_concat(list_copy(baserel->reltarget->exprs),
										list_copy(plan->local_exprs)));
		if (best_path->fdw_private != NIL)
			read = list_union_int(read,
								  columns_read(root, baserel, rel,
											   (List *) root->upper_targets[UPPERREL_FINAL]->exprs));
	}
	pushed = columns_read(root, baserel, rel, plan->pushed_exprs);
	if (recheck)
		read = list_union_int(read, pushed);

	if (!add_selected(fpinfo, read, &select) ||
		!add_selected(fpinfo, pushed, &select_recheck))
		return;					/* no $select: every property */
	foreach(lc, select_recheck)
	{
		if (!list_member(select, lfirst(lc)))
			plan->exec.select_recheck = lappend(plan->exec.select_recheck, lfirst(lc));
	}
	/* every property the catalog knows: the same bytes without $select */
	if (list_length(select) < selectable_count(fpinfo->resource))
		plan->exec.select = select;
	else
		plan->exec.select_recheck = NIL;
}

/*
 * plan_list_scan
 *		The plan of a list (or lookup, or $count) scan, GET requests, once
 *		its clauses are sorted.
 */
static void
plan_list_scan(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			   Relation rel, ForeignPath *best_path, bool is_upper, ScanPlan *plan)
{
	if (is_upper)
		plan_count(best_path, plan);
	else
	{
		plan_columns(root, baserel, fpinfo, rel, best_path, plan);
		/* a lookup's GET by id has no order */
		if (plan->exec.mode == SCAN_LIST)
			plan->exec.orderby = orderby_for_pathkeys(root, baserel, fpinfo,
													  best_path->path.pathkeys);
	}
	plan_select(root, baserel, fpinfo, rel, best_path, is_upper, plan);
}

/*
 * plan_hunting_scan
 *		The plan of a hunting scan, one runHuntingQuery whose KQL ends in a
 *		project, a summarize, "| summarize count()" or "| count", once its
 *		clauses are sorted.
 */
static void
plan_hunting_scan(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
				  Relation rel, ForeignPath *best_path, bool is_upper, ScanPlan *plan)
{
	if (!is_upper)
	{
		plan_columns(root, baserel, fpinfo, rel, best_path, plan);
		plan_hunting_columns(root, baserel, fpinfo, rel, best_path, plan);
	}
	else if (root->parse->groupClause ||
			 !defender_is_all_count_star(grouped_scan_tuple(best_path)))
		plan_summarize(root, baserel, fpinfo, best_path, plan);
	else
		plan_count(best_path, plan);
}

/*
 * defender_plan_foreign_scan
 *		GetForeignPlan: decide the scan's mode and what execution needs to
 *		write its request (which it writes only then), and build the
 *		ForeignScan.
 */
ForeignScan *
defender_plan_foreign_scan(PlannerInfo *root, RelOptInfo *foreignrel,
						   ForeignPath *best_path, List *tlist,
						   List *scan_clauses, Plan *outer_plan)
{
	DefenderRelInfo *info = (DefenderRelInfo *) foreignrel->fdw_private;
	RelOptInfo *baserel = info->baserel;
	DefenderRelInfo *fpinfo = (DefenderRelInfo *) baserel->fdw_private;
	bool		is_upper = IS_UPPER_REL(foreignrel);
	ScanPlan	plan;
	Relation	rel;

	memset(&plan, 0, sizeof(plan));
	plan.exec.relid = fpinfo->relid;
	plan.exec.orderby = "";
	plan.exec.summarize = "";
	plan.exec.enum_notices = fpinfo->enum_notices;

	plan.exec.mode = fpinfo->hunting ? SCAN_HUNT : SCAN_LIST;
	plan_clauses(root, baserel, fpinfo, scan_clauses, is_upper, &plan);
	rel = table_open(fpinfo->relid, NoLock);
	if (fpinfo->hunting)
		plan_hunting_scan(root, baserel, fpinfo, rel, best_path, is_upper, &plan);
	else
		plan_list_scan(root, baserel, fpinfo, rel, best_path, is_upper, &plan);
	table_close(rel, NoLock);

	/* LIMIT/OFFSET, from add_final_path */
	if (best_path->fdw_private != NIL)
	{
		Node	   *count = lsecond(best_path->fdw_private);
		Node	   *offset = lthird(best_path->fdw_private);

		if (count && !(IsA(count, Const) && ((Const *) count)->constisnull))
			plan.exec.limit_param = add_fdw_expr(&plan.fdw_exprs, (Expr *) count);
		if (offset && !(IsA(offset, Const) && ((Const *) offset)->constisnull))
			plan.exec.offset_param = add_fdw_expr(&plan.fdw_exprs, (Expr *) offset);
	}
	if ((plan.exec.mode == SCAN_LIST || plan.exec.mode == SCAN_HUNT) &&
		plan.exec.limit_param == 0)
		plan.exec.rows_wanted = defender_rows_wanted(root, fpinfo);

	return make_foreignscan(tlist, plan.local_exprs, is_upper ? 0 : baserel->relid,
							plan.fdw_exprs, defender_scan_plan_to_list(&plan.exec),
							plan.fdw_scan_tlist, plan.pushed_exprs, outer_plan);
}

/*
 * defender_scan_plan_to_list
 *		The plan as fdw_private: a list in the order of FdwScanPrivateIndex.
 *
 * The OID is stored as an Integer holding its bits, read back as an Oid.
 */
List *
defender_scan_plan_to_list(const DefenderScanPlan *plan)
{
	List	   *l = NIL;

	l = lappend(l, makeInteger(plan->mode));
	l = lappend(l, makeInteger((int) plan->relid));
	l = lappend(l, plan->columns);
	l = lappend(l, defender_filter_to_node(plan->filter));
	l = lappend(l, makeString(plan->orderby));
	l = lappend(l, makeInteger(plan->expand_alerts));
	l = lappend(l, plan->select);
	l = lappend(l, plan->select_recheck);
	l = lappend(l, makeInteger(plan->limit_param));
	l = lappend(l, makeInteger(plan->offset_param));
	l = lappend(l, makeInteger(plan->lookup_param));
	l = lappend(l, makeInteger(plan->lookup_array));
	l = lappend(l, makeInteger(plan->lookup_switch));
	l = lappend(l, plan->project);
	l = lappend(l, makeString(plan->summarize));
	l = lappend(l, plan->output_names);
	l = lappend(l, makeInteger(plan->rows_wanted));
	l = lappend(l, makeInteger(plan->count_rows));
	l = lappend(l, plan->enum_notices);
	l = lappend(l, plan->sort_keys);
	Assert(list_length(l) == FdwScanPrivateCount);
	return l;
}

/*
 * defender_scan_plan_from_list
 *		Read back what defender_scan_plan_to_list wrote.
 */
void
defender_scan_plan_from_list(List *fdw_private, DefenderScanPlan *plan)
{
	Assert(list_length(fdw_private) == FdwScanPrivateCount);
	plan->mode = (ScanMode) intVal(list_nth(fdw_private, FdwScanPrivateMode));
	plan->relid = (Oid) intVal(list_nth(fdw_private, FdwScanPrivateRelid));
	plan->columns = (List *) list_nth(fdw_private, FdwScanPrivateColumns);
	plan->filter = defender_filter_from_node((List *) list_nth(fdw_private,
															   FdwScanPrivateFilter));
	plan->orderby = strVal(list_nth(fdw_private, FdwScanPrivateOrderBy));
	plan->expand_alerts = intVal(list_nth(fdw_private, FdwScanPrivateExpandAlerts)) != 0;
	plan->select = (List *) list_nth(fdw_private, FdwScanPrivateSelect);
	plan->select_recheck = (List *) list_nth(fdw_private, FdwScanPrivateSelectRecheck);
	plan->limit_param = intVal(list_nth(fdw_private, FdwScanPrivateLimit));
	plan->offset_param = intVal(list_nth(fdw_private, FdwScanPrivateOffset));
	plan->lookup_param = intVal(list_nth(fdw_private, FdwScanPrivateLookupValue));
	plan->lookup_array = intVal(list_nth(fdw_private, FdwScanPrivateLookupArray)) != 0;
	plan->lookup_switch = intVal(list_nth(fdw_private, FdwScanPrivateLookupSwitch));
	plan->project = (List *) list_nth(fdw_private, FdwScanPrivateProject);
	plan->summarize = strVal(list_nth(fdw_private, FdwScanPrivateSummarize));
	plan->output_names = (List *) list_nth(fdw_private, FdwScanPrivateOutputNames);
	plan->rows_wanted = intVal(list_nth(fdw_private, FdwScanPrivateRowsWanted));
	plan->count_rows = intVal(list_nth(fdw_private, FdwScanPrivateCountRows)) != 0;
	plan->enum_notices = (List *) list_nth(fdw_private, FdwScanPrivateEnumNotices);
	plan->sort_keys = (List *) list_nth(fdw_private, FdwScanPrivateSortKeys);
}
