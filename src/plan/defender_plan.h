/*-------------------------------------------------------------------------
 *
 * defender_plan.h
 *		  The planner side: what goes remote, and how the request is written.
 *
 * shippable.c classifies the WHERE conditions (remote exact, remote with a
 * recheck, local, lookup by id) into a filter tree; paths.c offers the
 * paths and their costs (the scan's, count(*), aggregates, LIMIT);
 * scan_plan.c turns the chosen path into the DefenderScanPlan the executor
 * reads; deparse_filter.c walks the filter tree for both languages,
 * deparse_odata.c writes the OData request of a list, deparse_kql.c the
 * KQL of a hunting query and summarize.c its summarize.  Called by
 * defender_fdw.c's planner callbacks and, at execution, by the scan and
 * the functions that write requests.
 *
 * src/plan/defender_plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_PLAN_H
#define DEFENDER_PLAN_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pathnodes.h"

#include "defender_catalog.h"
#include "defender_fdw.h"

/*
 * Planner state of a foreign table (baserel->fdw_private), and of the
 * upper relations (ordered, grouped) built on one.
 */
typedef struct DefenderRelInfo
{
	Oid			relid;			/* the foreign table */
	DefenderOptions *opts;		/* without credentials */
	const GraphResource *resource;
	bool		pushdown;		/* pushdown option and enable_pushdown */

	/* baserestrictinfo, split by shippable.c */
	List	   *remote_conds;	/* pushed, and exact: not rechecked */
	List	   *recheck_conds;	/* pushed as a pre-filter, and rechecked */
	List	   *local_conds;	/* evaluated locally only */
	List	   *lookup_conds;	/* id = value, id = ANY(array): GET by id */

	/* the rows of the list with the pushed filter (lookups left out) */
	double		list_rows;
	bool		list_rows_remote;	/* counted by Graph (use_remote_estimate) */

	/* upper relations: which stage, over which base relation */
	int			stage;			/* UpperRelationKind, or -1 for the base */
	struct RelOptInfo *baserel;

	/* advanced hunting */
	bool		hunting;
	const struct HuntingTable *hunting_table;	/* documented table, or NULL */

	/* enumeration constants that are no member: (column, value) pairs */
	List	   *enum_notices;
} DefenderRelInfo;

/*
 * Comparison operators of a pushed-down leaf, in two-valued (OData) logic:
 * each one is true exactly when the SQL condition it stands for is TRUE,
 * so NOT can be pushed by swapping a leaf for its complement.
 */
typedef enum DefenderFilterOp
{
	DFOP_EQ,
	DFOP_NE,					/* not equal and not null */
	DFOP_LT,
	DFOP_LE,
	DFOP_GT,
	DFOP_GE,
	DFOP_IS_NULL,
	DFOP_NOT_NULL,
	DFOP_EQ_ANY,				/* = ANY(array) */
	DFOP_NE_ALL,				/* <> ALL(array) */
	DFOP_LIKE,					/* KQL only: LIKE 'abc%', '%abc', '%abc%' */
	DFOP_NOT_LIKE,
	DFOP_ILIKE,
	DFOP_NOT_ILIKE
} DefenderFilterOp;

/* What a KQL column holds, which decides its comparisons. */
typedef enum KqlKind
{
	KQL_STRING = 101,			/* never null: "" stands for null */
	KQL_NUMBER,
	KQL_DATETIME,
	KQL_BOOL
} KqlKind;

/*
 * A leaf of a filter tree: one comparison of a Graph property (or a KQL
 * column) with a value, "TRUE exactly when the SQL condition is".
 */
typedef struct DefenderFilterLeaf
{
	const char *name;			/* Graph property, or KQL column */
	DefenderFilterOp op;
	int			kind;			/* GraphPropertyKind, or a KQL column's KqlKind */
	bool		nullable;		/* the property can be null (OData) */
	int32		typmod;			/* the column's, for datetime precision */
	Node	   *value;			/* a Const, Integer n (the n-th fdw_exprs
								 * entry, from 1), or Integer 0 for none */
} DefenderFilterLeaf;

/* What a node of a filter tree is. */
typedef enum DefenderFilterKind
{
	DEFENDER_FILTER_AND,		/* every child is true */
	DEFENDER_FILTER_OR,			/* some child is true */
	DEFENDER_FILTER_LEAF		/* the leaf is true */
} DefenderFilterKind;

/*
 * The conditions a scan sends, as a tree (shippable.c builds it from the
 * pushed conditions, ANDed at the root).  fdw_private holds it as
 * copyable nodes, written by defender_filter_to_node and read back once,
 * with the rest of the plan, by defender_filter_from_node
 * (deparse_filter.c, the one place that knows their layout); the OData
 * and KQL writers and every other reader walk this struct.
 */
typedef struct DefenderFilter
{
	DefenderFilterKind kind;
	List	   *children;		/* AND, OR: DefenderFilter pointers */
	DefenderFilterLeaf leaf;	/* LEAF */
} DefenderFilter;

/* What a scan does at execution. */
typedef enum ScanMode
{
	SCAN_LIST,					/* pages of the collection */
	SCAN_LOOKUP,				/* GET by id, one or more */
	SCAN_COUNT,					/* $count=true&$top=1 or | summarize count() */
	SCAN_HUNT					/* one runHuntingQuery */
} ScanMode;

/*
 * What the planner hands the executor: ForeignScan.fdw_private, written
 * by defender_scan_plan_to_list and read back by
 * defender_scan_plan_from_list (scan_plan.c).  The values that are not
 * constants are fdw_exprs, referred to here by their 1-based index.
 */
typedef struct DefenderScanPlan
{
	ScanMode	mode;
	Oid			relid;			/* the foreign table */
	List	   *columns;		/* Integer pairs (slot attno, table attnum),
								 * attnum 0 for a summarize output */
	DefenderFilter *filter;		/* filter tree, or NULL */
	char	   *orderby;		/* $orderby or KQL sort, "" for none */
	bool		expand_alerts;	/* $expand=alerts */
	List	   *select;			/* String Graph properties for $select, or NIL
								 * for every property (no $select) */
	List	   *select_recheck; /* String properties only the pushed conditions
								 * read: selected too when PostgreSQL evaluates
								 * them (the fallback without a filter) */
	int			limit_param;	/* fdw_exprs index of LIMIT, 0 none */
	int			offset_param;	/* fdw_exprs index of OFFSET, 0 none */
	int			lookup_param;	/* fdw_exprs index of the id(s), 0 none */
	bool		lookup_array;	/* the id value is an array */
	int			lookup_switch;	/* lookups by GET before the list is read once
								 * and the rest answered from it */
	List	   *project;		/* hunting: String KQL columns, or NIL for all */
	char	   *summarize;		/* hunting: "a1 = count() by X", or "" */
	List	   *output_names;	/* hunting summarize: per scan column, (name,
								 * DefenderSummarizeOutput, companion name) */
	int			rows_wanted;	/* most rows the query reads (EXISTS), 0 unknown */
	bool		count_rows;		/* hunting, no column read: "| count" */
	List	   *enum_notices;	/* (column, value): see defender_enum_notices */
	List	   *sort_keys;		/* hunting: the sort's keys as IntLists (table
								 * attnum, descending, nulls first), so that a
								 * split scan can sort its windows' rows itself */
} DefenderScanPlan;

/*
 * How a summarize output column becomes the scan column (the kind in
 * output_names, read by the hunting executor).
 */
typedef enum DefenderSummarizeOutput
{
	OUT_PLAIN,					/* as it comes */
	OUT_SUM,					/* NULL when its companion count is 0 */
	OUT_AVG						/* sum / count with numeric division, as avg() */
} DefenderSummarizeOutput;

/* paths.c: GetForeignRelSize, GetForeignPaths, GetForeignUpperPaths */
extern void defender_plan_base_rel(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid, bool enable_pushdown);
extern void defender_add_base_paths(PlannerInfo *root, RelOptInfo *baserel);
extern void defender_add_upper_paths(PlannerInfo *root, UpperRelationKind stage,
									 RelOptInfo *input_rel, RelOptInfo *output_rel,
									 void *extra);
extern int	defender_rows_wanted(PlannerInfo *root, DefenderRelInfo *fpinfo);
extern bool defender_is_all_count_star(List *tlist);
extern bool defender_path_async_capable(const ForeignPath *path);
extern int	defender_lookup_switch(DefenderRelInfo *fpinfo, List *filter_values);

/* remote_estimate.c: use_remote_estimate's $count at plan time */
extern double defender_remote_estimate(PlannerInfo *root, RelOptInfo *baserel,
									   DefenderRelInfo *fpinfo, List *conds);

/* scan_plan.c: GetForeignPlan, and the plan it hands the executor */
struct ForeignScan;
struct Plan;
extern struct ForeignScan *defender_plan_foreign_scan(PlannerInfo *root,
													  RelOptInfo *foreignrel,
													  ForeignPath *best_path,
													  List *tlist, List *scan_clauses,
													  struct Plan *outer_plan);
extern List *defender_scan_plan_to_list(const DefenderScanPlan *plan);
extern void defender_scan_plan_from_list(List *fdw_private, DefenderScanPlan *plan);

/* summarize.c: a grouped hunting query's summarize */
extern char *defender_kql_summarize(PlannerInfo *root, RelOptInfo *baserel,
									DefenderRelInfo *fpinfo, List *items,
									List **outputs);

/* shippable.c */
extern const GraphProperty *defender_column_graph_property(Oid relid,
														   AttrNumber attnum,
														   const GraphResource *resource);
extern List *defender_enum_notices(RelOptInfo *baserel, DefenderRelInfo *fpinfo);
extern void defender_enum_notice(Oid relid, const GraphResource *resource, List *pair);
extern void defender_classify_conditions(PlannerInfo *root, RelOptInfo *baserel,
										 DefenderRelInfo *fpinfo);
extern bool defender_is_lookup_cond(PlannerInfo *root, RelOptInfo *baserel,
									DefenderRelInfo *fpinfo, Expr *expr,
									Expr **value, bool *is_array);
extern bool defender_is_value_expr(PlannerInfo *root, RelOptInfo *baserel, Expr *expr);
extern DefenderFilter *defender_filter_tree(PlannerInfo *root, RelOptInfo *baserel,
											DefenderRelInfo *fpinfo, List *conds,
											List **fdw_exprs);
extern const GraphProperty *defender_sort_property(PlannerInfo *root,
												   RelOptInfo *baserel,
												   DefenderRelInfo *fpinfo,
												   PathKey *pathkey);
extern char *defender_kql_column(DefenderRelInfo *fpinfo, AttrNumber attnum);
extern char *defender_kql_sort(PlannerInfo *root, RelOptInfo *baserel,
							   DefenderRelInfo *fpinfo, List *pathkeys);
extern List *defender_kql_sort_keys(PlannerInfo *root, RelOptInfo *baserel,
									DefenderRelInfo *fpinfo, List *pathkeys);


/* deparse_odata.c */

/*
 * Values of the non-constant expressions (fdw_exprs) a request refers to.
 * At execution values/nulls/types are set; for EXPLAIN, placeholders holds
 * each expression's text instead, and it is written in place of the value.
 */
typedef struct DefenderParamValues
{
	int			count;
	Datum	   *values;
	bool	   *nulls;
	Oid		   *types;
	char	  **placeholders;
} DefenderParamValues;

/* What a list request asks for, beyond the resource. */
typedef struct DefenderListRequest
{
	DefenderFilter *filter;		/* filter tree, or NULL */
	char	   *orderby;		/* e.g. "createdDateTime desc", or NULL */
	bool		expand_alerts;
	bool		count_only;		/* $count=true&$top=1 */
	bool		count_pages;	/* $count=true, so that pages can go in parallel */
	bool		omit_paging;	/* stop before $count/$skip/$top (a page prefix) */
	List	   *select;			/* String properties for $select, NIL for all */
	int64		top;			/* rows per page, 0 for the resource's page size */
	int64		skip;
	const char *top_text;		/* for EXPLAIN: a placeholder instead of top */
	const char *skip_text;		/* likewise for skip */
} DefenderListRequest;

typedef enum DefenderRender
{
	RENDER_FALSE,				/* no row can match: send nothing */
	RENDER_TRUE,				/* every row matches: no $filter */
	RENDER_FILTER				/* a $filter was written */
} DefenderRender;

/* deparse_filter.c: the language-independent part of writing a filter */
typedef enum DefenderPrecedence
{
	PREC_ATOM,					/* needs no parentheses */
	PREC_AND,					/* a and b */
	PREC_OR						/* a or b */
} DefenderPrecedence;

typedef struct DefenderWritten
{
	DefenderRender render;
	DefenderPrecedence prec;
} DefenderWritten;

extern const DefenderWritten WRITTEN_TRUE;
extern const DefenderWritten WRITTEN_FALSE;
extern const DefenderWritten WRITTEN_ATOM;
extern const DefenderWritten WRITTEN_AND;
extern const DefenderWritten WRITTEN_OR;

/* A leaf's value, resolved (see defender_leaf_value). */
typedef struct DefenderLeafValue
{
	bool		placeholder;	/* EXPLAIN of a non-constant: text shows it */
	const char *text;
	bool		isnull;
	Datum		datum;
	Oid			type;
} DefenderLeafValue;

typedef DefenderWritten (*DefenderLeafWriter) (StringInfo buf,
											   const DefenderFilterLeaf *leaf,
											   const DefenderParamValues *params,
											   void *arg);
typedef DefenderWritten (*DefenderElementWriter) (StringInfo buf, DefenderFilterOp op,
												  Datum value, Oid type, void *arg);

extern DefenderFilter *defender_filter_make(DefenderFilterKind kind, List *children);
extern List *defender_filter_to_node(const DefenderFilter *filter);
extern DefenderFilter *defender_filter_from_node(List *node);
extern DefenderWritten defender_write_tree(StringInfo buf, const DefenderFilter *node,
										   DefenderLeafWriter write_leaf,
										   const DefenderParamValues *params, void *arg);
extern DefenderWritten defender_write_array(StringInfo buf, Datum array, bool is_and,
											DefenderElementWriter write_element, void *arg);
extern DefenderWritten defender_join_parts(StringInfo buf, List *parts, bool is_and);
extern void defender_leaf_value(Node *valnode, const DefenderParamValues *params,
								DefenderLeafValue *v);

extern DefenderRender defender_render_filter(StringInfo buf, const DefenderFilter *tree,
											 const DefenderParamValues *params,
											 const GraphResource *resource);
extern DefenderRender defender_deparse_list(StringInfo buf, bool encode,
											const DefenderOptions *opts,
											const GraphResource *resource,
											const DefenderListRequest *req,
											const DefenderParamValues *params);
extern void defender_append_ticks(StringInfo buf, int64 ticks);

/*
 * "column op x" for a datetime column, as a test on Graph's (and Kusto's)
 * 100 ns ticks: see defender_datetime_comparison.
 */
typedef enum DefenderTickTest
{
	TICKS_NONE,					/* no value satisfies it */
	TICKS_ALL,					/* every value (not null) satisfies it */
	TICKS_LT,					/* ticks < hi */
	TICKS_GE,					/* ticks >= lo */
	TICKS_IN,					/* lo <= ticks < hi */
	TICKS_OUT					/* ticks < lo or ticks >= hi */
} DefenderTickTest;

typedef struct DefenderTickRange
{
	DefenderTickTest test;
	int64		lo;
	int64		hi;
} DefenderTickRange;

extern DefenderTickRange defender_datetime_comparison(TimestampTz x, DefenderFilterOp op,
													  int32 typmod);

/* writes "column >= ticks" (at_or_above) or "column < ticks" */
typedef void (*DefenderBoundWriter) (StringInfo buf, bool at_or_above, int64 ticks, void *arg);
/* writes "column has a value" (or nothing, returning WRITTEN_TRUE) */
typedef DefenderWritten (*DefenderAnyValueWriter) (StringInfo buf, void *arg);

extern DefenderWritten defender_write_tick_range(StringInfo buf, DefenderTickRange r,
												 DefenderBoundWriter write_bound,
												 DefenderAnyValueWriter write_any_value,
												 void *arg);
extern void defender_deparse_lookup(StringInfo buf, bool encode,
									const DefenderOptions *opts,
									const GraphResource *resource,
									const char *id, bool expand_alerts,
									List *select);
extern void defender_deparse_list_text(StringInfo buf, bool encode,
									   const DefenderOptions *opts,
									   const GraphResource *resource,
									   const char *filter, const char *expand,
									   bool count, int64 skip, int64 top);

/* deparse_kql.c */
typedef struct DefenderKqlRequest
{
	const char *source;			/* table name, or a KQL query to wrap */
	bool		source_is_query;
	bool		source_is_statements;	/* the caller's statements, as they
										 * are: the rest follows the last */
	DefenderFilter *filter;		/* filter tree, or NULL */
	List	   *project;		/* KQL column names, or NIL for all */
	const char *sort;			/* "A asc nulls last, ...", or NULL */
	int64		take;			/* 0: none */
	const char *take_text;		/* for EXPLAIN: a placeholder */
	bool		count_only;		/* | summarize count() */
	const char *summarize;		/* | summarize <this>, or NULL */
	bool		count_rows;		/* | count: how many rows, none of their values */
	const char *window_column;	/* a time window on this column, or NULL */
	DefenderTickRange window;	/* its rows: TICKS_IN, _GE, _LT or _ALL */
	bool		window_nulls;	/* the rows whose column is null instead */
} DefenderKqlRequest;

extern DefenderRender defender_deparse_kql(StringInfo buf, const DefenderKqlRequest *req,
										   const DefenderParamValues *params);
extern void defender_append_kql_string(StringInfo buf, const char *text);
extern void defender_append_kql_name(StringInfo buf, const char *name);

#endif							/* DEFENDER_PLAN_H */
