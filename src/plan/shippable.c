/*-------------------------------------------------------------------------
 *
 * shippable.c
 *		  Which WHERE conditions can go to Graph, and how exactly.
 *
 * Each top-level condition of a scan is put in one of four groups
 * (defender_classify_conditions):
 *
 *	- lookup: "id = value" or "id = ANY(array)", served by GET .../{id};
 *	- remote: pushed into $filter, and Graph's answer is exactly what
 *	  PostgreSQL would compute, so it is not evaluated again;
 *	- recheck: pushed into $filter to cut the transfer, but Graph may let
 *	  through rows PostgreSQL would reject, so it is evaluated again;
 *	- local: evaluated by PostgreSQL only.
 *
 * LIMIT, OFFSET and count(*) are pushed only when every condition is
 * remote, since otherwise Graph would count or cut rows PostgreSQL later
 * throws away.
 *
 * The rules, property by property kind (graph_catalog.c):
 *
 *	- enumerations (status, severity, classification, determination,
 *	  serviceSource): =, <>, IN, NOT IN, IS [NOT] NULL, exact.  Graph
 *	  compares enum values ignoring case and answers with the canonical
 *	  camelCase member, so a value that is exactly a member matches the
 *	  same rows as PostgreSQL's text comparison, and any other value matches
 *	  no row at all; the writer folds the latter to false rather than send
 *	  it (Graph would reject a non-member with 400).  Order comparisons are
 *	  not pushed: Graph orders enums by member, PostgreSQL by text.
 *	- DateTimeOffset (createdDateTime, lastUpdateDateTime): all six
 *	  comparisons and IN, exact.  Graph keeps 7 fraction digits and
 *	  PostgreSQL 6, so the writer moves each bound to the first 100 ns tick
 *	  that PostgreSQL reads as that microsecond (deparse_odata.c).
 *	- free text (assignedTo): IS [NOT] NULL exact; =, <>, IN pushed with a
 *	  recheck, because Graph compares ignoring case.
 *	- everything else, and any property without documented $filter
 *	  support: local.
 *
 * Null semantics: OData's comparisons are two-valued (null eq 'x' is
 * false, null ne 'x' is true), SQL's three-valued.  The filter tree is
 * written for "the SQL condition is TRUE": NOT is pushed down to the leaves
 * by De Morgan, and each leaf's complement keeps nulls out (<> becomes
 * "ne 'x' and ne null").
 *
 * Values may be constants, parameters, or any stable expression without
 * the table's columns (now() - interval '7 days'); non-constants go to
 * fdw_exprs and are evaluated once per scan (and rescan), so a join can
 * feed them.
 *
 * src/plan/shippable.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/transam.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "defender_plan.h"

/* A recognised leaf: a column of the table compared with a value. */
typedef struct Leaf
{
	AttrNumber	attnum;
	const GraphProperty *prop;	/* OData: the Graph property */
	const char *remote_name;	/* the property or KQL column compared */
	int			kind;			/* GraphPropertyKind or KqlKind */
	bool		nullable;
	bool		inexact;		/* KQL: pushed, but rechecked */
	DefenderFilterOp op;
	Expr	   *value;			/* NULL for null tests */
	int32		typmod;			/* of the column */
} Leaf;

typedef enum Pushability
{
	PUSH_NONE,
	PUSH_RECHECK,
	PUSH_EXACT
} Pushability;

static Pushability classify_expr(PlannerInfo *root, RelOptInfo *baserel,
								 DefenderRelInfo *fpinfo, Expr *expr, bool negate);
static bool recognize_leaf(PlannerInfo *root, RelOptInfo *baserel,
						   DefenderRelInfo *fpinfo, Expr *expr, Leaf *leaf);
struct Operands;
static bool recognize_odata_leaf(PlannerInfo *root, RelOptInfo *baserel,
								 DefenderRelInfo *fpinfo, const struct Operands *o,
								 Leaf *leaf);
static bool recognize_kql_leaf(PlannerInfo *root, RelOptInfo *baserel,
							   DefenderRelInfo *fpinfo, const struct Operands *o,
							   Leaf *leaf);
static bool like_pattern_pushable(Expr *pattern);
static Var *table_column(RelOptInfo *baserel, Expr *expr);
static int	comparison_of(Oid opno, bool commuted);
static DefenderFilter *build_tree(PlannerInfo *root, RelOptInfo *baserel,
								  DefenderRelInfo *fpinfo, Expr *expr, bool negate,
								  List **fdw_exprs);
static DefenderFilterOp complement(DefenderFilterOp op);

/*
 * defender_column_graph_property
 *		The Graph property a column of the table reads, or NULL.
 */
const GraphProperty *
defender_column_graph_property(Oid relid, AttrNumber attnum,
							   const GraphResource *resource)
{
	char	   *property = defender_column_property(relid, attnum);

	if (property)
		return graph_find_property(resource, property);
	return graph_match_property(resource, get_attname(relid, attnum, false));
}

/*
 * defender_classify_conditions
 *		Split baserel's conditions into lookup, remote, recheck and local.
 */
void
defender_classify_conditions(PlannerInfo *root, RelOptInfo *baserel,
							 DefenderRelInfo *fpinfo)
{
	ListCell   *lc;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		bool		is_array;

		if (!fpinfo->pushdown)
		{
			fpinfo->local_conds = lappend(fpinfo->local_conds, ri);
			continue;
		}
		if (!fpinfo->hunting &&
			defender_is_lookup_cond(root, baserel, fpinfo, ri->clause, &value, &is_array))
		{
			fpinfo->lookup_conds = lappend(fpinfo->lookup_conds, ri);
			continue;
		}
		switch (classify_expr(root, baserel, fpinfo, ri->clause, false))
		{
			case PUSH_EXACT:
				fpinfo->remote_conds = lappend(fpinfo->remote_conds, ri);
				break;
			case PUSH_RECHECK:
				fpinfo->recheck_conds = lappend(fpinfo->recheck_conds, ri);
				break;
			case PUSH_NONE:
				fpinfo->local_conds = lappend(fpinfo->local_conds, ri);
				break;
		}
	}
}

/*
 * classify_expr
 *		How far a condition can be pushed: the weakest of its parts.
 *
 * negate tracks the NOTs above expr.  A free-text comparison is pushed only
 * where Graph's answer can be a superset of the true one: equality ignoring
 * case lets through more rows, which the recheck removes, but inequality
 * ignoring case would drop rows the recheck could not bring back.
 */
static Pushability
classify_expr(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			  Expr *expr, bool negate)
{
	Leaf		leaf;
	DefenderFilterOp op;

	if (IsA(expr, BoolExpr))
	{
		BoolExpr   *b = (BoolExpr *) expr;
		Pushability result = PUSH_EXACT;
		ListCell   *lc;

		foreach(lc, b->args)
		{
			Pushability p = classify_expr(root, baserel, fpinfo, lfirst(lc),
										  b->boolop == NOT_EXPR ? !negate : negate);

			if (p < result)
				result = p;
		}
		return result;
	}
	if (!recognize_leaf(root, baserel, fpinfo, expr, &leaf))
		return PUSH_NONE;
	op = negate ? complement(leaf.op) : leaf.op;
	if (fpinfo->hunting)
	{
		/* a recheck can only remove rows: ILIKE's superset, not NOT ILIKE's */
		if (op == DFOP_NOT_ILIKE)
			return PUSH_NONE;
		return leaf.inexact ? PUSH_RECHECK : PUSH_EXACT;
	}
	if (leaf.prop->kind == GRAPH_STRING)
	{
		if (op == DFOP_IS_NULL || op == DFOP_NOT_NULL)
			return PUSH_EXACT;
		if (op == DFOP_EQ || op == DFOP_EQ_ANY)
			return PUSH_RECHECK;
		return PUSH_NONE;
	}
	return PUSH_EXACT;
}

/*
 * table_column
 *		The Var of baserel that expr is (through binary-compatible casts).
 */
static Var *
table_column(RelOptInfo *baserel, Expr *expr)
{
	while (expr && IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	if (expr && IsA(expr, Var) &&
		((Var *) expr)->varno == baserel->relid &&
		((Var *) expr)->varlevelsup == 0 &&
		((Var *) expr)->varattno > 0)
		return (Var *) expr;
	return NULL;
}

/*
 * defender_is_value_expr
 *		Can expr be computed before the scan, once: no column of this table,
 *		nothing volatile, no subquery, aggregate or set-returning function?
 */
bool
defender_is_value_expr(PlannerInfo *root, RelOptInfo *baserel, Expr *expr)
{
	Relids		varnos;

	if (contain_volatile_functions((Node *) expr) ||
		contain_subplans((Node *) expr) ||
		contain_agg_clause((Node *) expr) ||
		contain_window_function((Node *) expr) ||
		expression_returns_set((Node *) expr))
		return false;
#if PG_VERSION_NUM >= 140000
	varnos = pull_varnos(root, (Node *) expr);
#else
	varnos = pull_varnos((Node *) expr);
#endif
	return !bms_is_member(baserel->relid, varnos);
}

/*
 * comparison_of
 *		The DFOP of a built-in comparison operator, or -1.
 */
static int
comparison_of(Oid opno, bool commuted)
{
	char	   *name;

	if (opno >= FirstGenbkiObjectId)
		return -1;				/* user-defined: meaning unknown */
	name = get_opname(opno);
	if (name == NULL)
		return -1;
	if (strcmp(name, "=") == 0)
		return DFOP_EQ;
	if (strcmp(name, "<>") == 0)
		return DFOP_NE;
	if (strcmp(name, "<") == 0)
		return commuted ? DFOP_GT : DFOP_LT;
	if (strcmp(name, "<=") == 0)
		return commuted ? DFOP_GE : DFOP_LE;
	if (strcmp(name, ">") == 0)
		return commuted ? DFOP_LT : DFOP_GT;
	if (strcmp(name, ">=") == 0)
		return commuted ? DFOP_LE : DFOP_GE;
	return -1;
}

/* Does the column's type fit the property's kind of comparison? */
static bool
column_fits(const GraphProperty *prop, Oid coltype, Oid valtype, Oid collation)
{
	switch (prop->kind)
	{
		case GRAPH_ENUM:
		case GRAPH_STRING:
			/* text equality under a deterministic collation is byte equality */
			return coltype == TEXTOID && valtype == TEXTOID &&
				(!OidIsValid(collation) || get_collation_isdeterministic(collation));
		case GRAPH_DATETIME:
			return coltype == TIMESTAMPTZOID && valtype == TIMESTAMPTZOID;
		default:
			return false;
	}
}

/* The parts of "column op value", "column op ANY(array)" or a null test. */
typedef struct Operands
{
	Var		   *var;			/* the table's column */
	Expr	   *value;			/* NULL for a null test */
	int			op;				/* DefenderFilterOp */
	Oid			valtype;		/* of the value, or of its elements */
	Oid			collation;		/* the comparison's input collation */
} Operands;

/*
 * split_comparison
 *		Take a condition apart into column, operator and value, whatever
 *		side the column is on.  Built-in comparison operators, = ANY,
 *		<> ALL, IS [NOT] NULL and LIKE/ILIKE (and their negations) only.
 */
static bool
split_comparison(RelOptInfo *baserel, Expr *expr, Operands *o)
{
	memset(o, 0, sizeof(Operands));
	o->op = -1;

	if (IsA(expr, OpExpr) && list_length(((OpExpr *) expr)->args) == 2)
	{
		OpExpr	   *opexpr = (OpExpr *) expr;
		Expr	   *right = lsecond(opexpr->args);
		bool		commuted = false;
		char	   *name;

		o->var = table_column(baserel, linitial(opexpr->args));
		if (o->var == NULL)
		{
			o->var = table_column(baserel, right);
			right = linitial(opexpr->args);
			commuted = true;
		}
		if (o->var == NULL)
			return false;
		o->value = right;
		o->collation = opexpr->inputcollid;
		o->valtype = exprType((Node *) right);
		o->op = comparison_of(opexpr->opno, commuted);
		name = opexpr->opno < FirstGenbkiObjectId ? get_opname(opexpr->opno) : NULL;
		if (o->op < 0 && name && !commuted)
		{
			if (strcmp(name, "~~") == 0)
				o->op = DFOP_LIKE;
			else if (strcmp(name, "!~~") == 0)
				o->op = DFOP_NOT_LIKE;
			else if (strcmp(name, "~~*") == 0)
				o->op = DFOP_ILIKE;
			else if (strcmp(name, "!~~*") == 0)
				o->op = DFOP_NOT_ILIKE;
		}
	}
	else if (IsA(expr, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) expr;
		int			cmp;

		o->var = table_column(baserel, linitial(saop->args));
		if (o->var == NULL)
			return false;
		o->value = lsecond(saop->args);
		cmp = comparison_of(saop->opno, false);
		if (cmp == DFOP_EQ && saop->useOr)
			o->op = DFOP_EQ_ANY;
		else if (cmp == DFOP_NE && !saop->useOr)
			o->op = DFOP_NE_ALL;
		o->collation = saop->inputcollid;
		o->valtype = get_element_type(exprType((Node *) o->value));
	}
	else if (IsA(expr, NullTest) && !((NullTest *) expr)->argisrow)
	{
		NullTest   *nt = (NullTest *) expr;

		o->var = table_column(baserel, nt->arg);
		if (o->var == NULL)
			return false;
		o->op = nt->nulltesttype == IS_NULL ? DFOP_IS_NULL : DFOP_NOT_NULL;
	}
	return o->var != NULL && o->op >= 0;
}

/*
 * recognize_leaf
 *		Is expr a comparison of a column with a value that the remote
 *		language can express?  Fills *leaf when it is.
 */
static bool
recognize_leaf(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
			   Expr *expr, Leaf *leaf)
{
	Operands	o;

	memset(leaf, 0, sizeof(Leaf));
	if (!split_comparison(baserel, expr, &o))
		return false;
	leaf->attnum = o.var->varattno;
	leaf->typmod = o.var->vartypmod;
	leaf->op = (DefenderFilterOp) o.op;
	if (fpinfo->hunting)
		return recognize_kql_leaf(root, baserel, fpinfo, &o, leaf);
	if (!recognize_odata_leaf(root, baserel, fpinfo, &o, leaf))
		return false;
	leaf->remote_name = leaf->prop->name;
	leaf->kind = leaf->prop->kind;
	leaf->nullable = leaf->prop->nullable;
	return true;
}

/*
 * recognize_odata_leaf
 *		$filter's share: a filterable Graph property compared the way its
 *		kind allows (see the header comment).  recognize_leaf has taken the
 *		condition apart.
 */
static bool
recognize_odata_leaf(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
					 const Operands *o, Leaf *leaf)
{
	Var		   *var = o->var;
	Expr	   *value = o->value;
	int			op = o->op;

	if (op >= DFOP_LIKE)
		return false;			/* $filter has no LIKE */
	leaf->prop = defender_column_graph_property(fpinfo->relid, var->varattno,
												fpinfo->resource);
	if (leaf->prop == NULL || leaf->prop->kind == GRAPH_OTHER)
		return false;

	if (value != NULL)
	{
		if (!column_fits(leaf->prop, var->vartype, o->valtype, o->collation) ||
			!defender_is_value_expr(root, baserel, value))
			return false;
		/* enumerations and free text are not ordered the same way remotely */
		if (leaf->prop->kind != GRAPH_DATETIME && op != DFOP_EQ && op != DFOP_NE &&
			op != DFOP_EQ_ANY && op != DFOP_NE_ALL)
			return false;
		leaf->value = value;
	}
	else if (leaf->prop->kind == GRAPH_DATETIME ? var->vartype != TIMESTAMPTZOID
			 : var->vartype != TEXTOID)
		return false;
	return true;
}

/*
 * defender_is_lookup_cond
 *		Is expr "id = value" or "id = ANY(array)", which GET .../{id} serves?
 */
bool
defender_is_lookup_cond(PlannerInfo *root, RelOptInfo *baserel,
						DefenderRelInfo *fpinfo, Expr *expr,
						Expr **value, bool *is_array)
{
	Var		   *var = NULL;
	Expr	   *other = NULL;
	Oid			opno;
	Oid			collation;
	const GraphProperty *prop;

	if (IsA(expr, OpExpr) && list_length(((OpExpr *) expr)->args) == 2)
	{
		OpExpr	   *opexpr = (OpExpr *) expr;

		opno = opexpr->opno;
		collation = opexpr->inputcollid;
		var = table_column(baserel, linitial(opexpr->args));
		other = lsecond(opexpr->args);
		if (var == NULL)
		{
			var = table_column(baserel, lsecond(opexpr->args));
			other = linitial(opexpr->args);
		}
		*is_array = false;
	}
	else if (IsA(expr, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) expr)->useOr)
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) expr;

		opno = saop->opno;
		collation = saop->inputcollid;
		var = table_column(baserel, linitial(saop->args));
		other = lsecond(saop->args);
		*is_array = true;
	}
	else
		return false;

	if (var == NULL || var->vartype != TEXTOID || opno != TextEqualOperator ||
		(OidIsValid(collation) && !get_collation_isdeterministic(collation)))
		return false;
	prop = defender_column_graph_property(fpinfo->relid, var->varattno, fpinfo->resource);
	if (prop == NULL || strcmp(prop->name, "id") != 0)
		return false;
	if (!defender_is_value_expr(root, baserel, other))
		return false;
	*value = other;
	return true;
}

/*
 * defender_filter_tree
 *		The filter tree for a list of conditions (implicitly ANDed).
 *
 * An AND node at the root, one child per condition; NULL when there is
 * none.  Non-constant values are appended to *fdw_exprs.  fdw_private
 * holds the tree as nodes (defender_filter_to_node, scan_plan.c).
 */
DefenderFilter *
defender_filter_tree(PlannerInfo *root, RelOptInfo *baserel,
					 DefenderRelInfo *fpinfo, List *conds, List **fdw_exprs)
{
	List	   *children = NIL;
	ListCell   *lc;

	foreach(lc, conds)
	{
		Expr	   *clause = lfirst(lc);

		if (IsA(clause, RestrictInfo))
			clause = ((RestrictInfo *) clause)->clause;
		children = lappend(children,
						   build_tree(root, baserel, fpinfo, clause, false, fdw_exprs));
	}
	return children != NIL ? defender_filter_make(DEFENDER_FILTER_AND, children) : NULL;
}

static DefenderFilterOp
complement(DefenderFilterOp op)
{
	switch (op)
	{
		case DFOP_EQ:
			return DFOP_NE;
		case DFOP_NE:
			return DFOP_EQ;
		case DFOP_LT:
			return DFOP_GE;
		case DFOP_LE:
			return DFOP_GT;
		case DFOP_GT:
			return DFOP_LE;
		case DFOP_GE:
			return DFOP_LT;
		case DFOP_IS_NULL:
			return DFOP_NOT_NULL;
		case DFOP_NOT_NULL:
			return DFOP_IS_NULL;
		case DFOP_EQ_ANY:
			return DFOP_NE_ALL;
		case DFOP_NE_ALL:
			return DFOP_EQ_ANY;
		case DFOP_LIKE:
			return DFOP_NOT_LIKE;
		case DFOP_NOT_LIKE:
			return DFOP_LIKE;
		case DFOP_ILIKE:
			return DFOP_NOT_ILIKE;
		case DFOP_NOT_ILIKE:
			return DFOP_ILIKE;
	}
	return op;
}

/*
 * build_tree
 *		The tree for "expr is TRUE" (or, with negate, "expr is FALSE").
 */
static DefenderFilter *
build_tree(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
		   Expr *expr, bool negate, List **fdw_exprs)
{
	Leaf		leaf;
	DefenderFilter *result;
	Node	   *value;

	if (IsA(expr, BoolExpr))
	{
		BoolExpr   *b = (BoolExpr *) expr;
		List	   *children = NIL;
		ListCell   *lc;

		if (b->boolop == NOT_EXPR)
			return build_tree(root, baserel, fpinfo, linitial(b->args), !negate, fdw_exprs);
		/* De Morgan: NOT (a AND b) is (NOT a) OR (NOT b) */
		foreach(lc, b->args)
			children = lappend(children,
							   build_tree(root, baserel, fpinfo, lfirst(lc), negate, fdw_exprs));
		return defender_filter_make(((b->boolop == AND_EXPR) != negate) ?
									DEFENDER_FILTER_AND : DEFENDER_FILTER_OR,
									children);
	}

	if (!recognize_leaf(root, baserel, fpinfo, expr, &leaf))
		elog(ERROR, "defender_fdw: condition is not pushable");

	if (leaf.value == NULL)
		value = (Node *) makeInteger(0);
	else if (IsA(leaf.value, Const))
		value = (Node *) leaf.value;
	else
	{
		*fdw_exprs = lappend(*fdw_exprs, leaf.value);
		value = (Node *) makeInteger(list_length(*fdw_exprs));
	}

	result = defender_filter_make(DEFENDER_FILTER_LEAF, NIL);
	result->leaf.name = leaf.remote_name;
	result->leaf.op = negate ? complement(leaf.op) : leaf.op;
	result->leaf.kind = leaf.kind;
	result->leaf.nullable = leaf.nullable;
	result->leaf.typmod = leaf.typmod;
	result->leaf.value = value;
	return result;
}

/*
 * defender_sort_property
 *		The property a pathkey sorts by, if Graph's $orderby can do it.
 *
 * Only the documented sortable properties (the two DateTimeOffsets), read
 * by a timestamptz column, with the type's default ordering.  Their values
 * are never null, so NULLS FIRST/LAST does not matter; PostgreSQL's
 * rounding to microseconds keeps Graph's order.
 */
const GraphProperty *
defender_sort_property(PlannerInfo *root, RelOptInfo *baserel,
					   DefenderRelInfo *fpinfo, PathKey *pathkey)
{
	EquivalenceClass *ec = pathkey->pk_eclass;
	ListCell   *lc;

	if (ec->ec_has_volatile ||
		(pathkey->pk_strategy != BTLessStrategyNumber &&
		 pathkey->pk_strategy != BTGreaterStrategyNumber))
		return NULL;

	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = (EquivalenceMember *) lfirst(lc);
		Var		   *var;
		const GraphProperty *prop;
		TypeCacheEntry *tce;

		if (!bms_equal(em->em_relids, baserel->relids))
			continue;
		var = table_column(baserel, em->em_expr);
		if (var == NULL || var->vartype != TIMESTAMPTZOID)
			continue;
		prop = defender_column_graph_property(fpinfo->relid, var->varattno, fpinfo->resource);
		if (prop == NULL || !prop->sortable)
			continue;
		tce = lookup_type_cache(TIMESTAMPTZOID, TYPECACHE_BTREE_OPFAMILY);
		if (pathkey->pk_opfamily != tce->btree_opf)
			continue;
		return prop;
	}
	return NULL;
}


/* ---------------------------------------------------------------------
 * KQL (advanced hunting)
 *
 * The column's declared type decides the comparison: text is a KQL string
 * (never null; defender_fdw reads "" as NULL, so IS NULL is isempty()),
 * integer and numeric types numbers, timestamptz a datetime (100 ns, with
 * the same bound adjustment as OData), boolean a bool.  Exact: = <> IN
 * NOT IN and null tests on all; < <= > >= on numbers and datetimes;
 * LIKE 'abc%', '%abc', '%abc%' as startswith_cs, endswith_cs, contains_cs.
 * Pushed with a recheck: ILIKE (Kusto's and PostgreSQL's case folding
 * differ outside ASCII) and any comparison of a float column (NaN).
 * String order comparisons stay local (KQL orders by code unit).
 * ---------------------------------------------------------------------
 */

/*
 * defender_kql_column
 *		The KQL name of a column: its "property" option, else the documented
 *		column of the table that matches it, else NULL (unknown: the column
 *		is neither filtered nor projected remotely).
 */
char *
defender_kql_column(DefenderRelInfo *fpinfo, AttrNumber attnum)
{
	char	   *property = defender_column_property(fpinfo->relid, attnum);
	const HuntingColumn *col;

	if (property)
		return property;
	col = hunting_find_column(fpinfo->hunting_table,
							  get_attname(fpinfo->relid, attnum, false));
	return col ? pstrdup(col->name) : NULL;
}

static int
kql_kind_of(Oid type)
{
	switch (type)
	{
		case TEXTOID:
			return KQL_STRING;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return KQL_NUMBER;
		case TIMESTAMPTZOID:
			return KQL_DATETIME;
		case BOOLOID:
			return KQL_BOOL;
		default:
			return 0;
	}
}

/* LIKE patterns KQL can say: abc%, %abc, %abc%, abc, with no _ or \ inside. */
static bool
like_pattern_pushable(Expr *pattern)
{
	char	   *p;
	size_t		len;
	size_t		i;

	if (!IsA(pattern, Const) || ((Const *) pattern)->constisnull)
		return false;
	p = TextDatumGetCString(((Const *) pattern)->constvalue);
	len = strlen(p);
	for (i = 0; i < len; i++)
	{
		if (p[i] == '_' || p[i] == '\\')
			return false;
		if (p[i] == '%' && i != 0 && i != len - 1)
			return false;
	}
	return true;
}

/*
 * recognize_kql_leaf
 *		KQL's share: a hunting column with a KQL name, compared the way its
 *		KqlKind allows.  recognize_leaf has taken the condition apart.
 */
static bool
recognize_kql_leaf(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
				   const Operands *o, Leaf *leaf)
{
	Var		   *var = o->var;
	Expr	   *value = o->value;
	int			op = o->op;
	Oid			valtype = o->valtype;
	Oid			collation = o->collation;
	int			kind;

	if (op >= DFOP_LIKE && !like_pattern_pushable(value))
		return false;
	kind = kql_kind_of(var->vartype);
	if (kind == 0)
		return false;
	leaf->remote_name = defender_kql_column(fpinfo, var->varattno);
	if (leaf->remote_name == NULL)
		return false;
	leaf->kind = kind;
	leaf->nullable = true;

	if (value != NULL)
	{
		if (!defender_is_value_expr(root, baserel, value) ||
			kql_kind_of(valtype) != kind)
			return false;
		switch (kind)
		{
			case KQL_STRING:
				if (OidIsValid(collation) && !get_collation_isdeterministic(collation))
					return false;
				if (op == DFOP_LT || op == DFOP_LE || op == DFOP_GT || op == DFOP_GE)
					return false;
				if (op == DFOP_ILIKE || op == DFOP_NOT_ILIKE)
				{
					/* case folding agrees only on ASCII */
					const char *p = TextDatumGetCString(((Const *) value)->constvalue);

					for (; *p; p++)
						if ((unsigned char) *p >= 0x80)
							return false;
					leaf->inexact = true;
				}
				break;
			case KQL_NUMBER:
				if (valtype != var->vartype && (valtype == NUMERICOID) != (var->vartype == NUMERICOID))
					return false;	/* keep mixed numeric/integer comparisons local */
				/* NaN is above everything in PostgreSQL, unordered in KQL */
				if (var->vartype == FLOAT4OID || var->vartype == FLOAT8OID ||
					valtype == FLOAT4OID || valtype == FLOAT8OID ||
					var->vartype == NUMERICOID)
					return false;
				if (op >= DFOP_LIKE)
					return false;
				break;
			case KQL_DATETIME:
				if (op >= DFOP_LIKE)
					return false;
				break;
			case KQL_BOOL:
				if (op != DFOP_EQ && op != DFOP_NE && op != DFOP_EQ_ANY && op != DFOP_NE_ALL)
					return false;
				break;
		}
		leaf->value = value;
	}
	return true;
}

/*
 * kql_sort_column
 *		The column of this table a pathkey sorts by when KQL can sort by it
 *		exactly as PostgreSQL would (its KQL name in *name), or NULL.
 *
 * Numbers, datetimes and booleans sort alike on both sides when the nulls
 * go where PostgreSQL puts them, which is always written out (KQL's
 * defaults differ).  Strings are left to PostgreSQL: KQL orders them by
 * UTF-16 code unit and its "" (our NULL) sorts first.
 */
static Var *
kql_sort_column(RelOptInfo *baserel, DefenderRelInfo *fpinfo, PathKey *pk, char **name)
{
	EquivalenceClass *ec = pk->pk_eclass;
	ListCell   *lm;

	*name = NULL;
	if (ec->ec_has_volatile ||
		(pk->pk_strategy != BTLessStrategyNumber && pk->pk_strategy != BTGreaterStrategyNumber))
		return NULL;
	foreach(lm, ec->ec_members)
	{
		EquivalenceMember *em = (EquivalenceMember *) lfirst(lm);
		Var		   *var;
		TypeCacheEntry *tce;
		int			kind;

		if (!bms_equal(em->em_relids, baserel->relids))
			continue;
		var = table_column(baserel, em->em_expr);
		if (var == NULL)
			continue;
		kind = kql_kind_of(var->vartype);
		if (kind != KQL_NUMBER && kind != KQL_DATETIME && kind != KQL_BOOL)
			continue;
		if (var->vartype == NUMERICOID || var->vartype == FLOAT4OID || var->vartype == FLOAT8OID)
			continue;			/* NaN sorts differently */
		tce = lookup_type_cache(var->vartype, TYPECACHE_BTREE_OPFAMILY);
		if (pk->pk_opfamily != tce->btree_opf)
			continue;
		*name = defender_kql_column(fpinfo, var->varattno);
		if (*name)
			return var;
	}
	return NULL;
}

/*
 * defender_kql_sort
 *		"A asc nulls last, B desc nulls first" for pathkeys KQL can sort by
 *		exactly as PostgreSQL would (kql_sort_column), or NULL.
 */
char *
defender_kql_sort(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
				  List *pathkeys)
{
	StringInfoData buf;
	ListCell   *lc;

	(void) root;
	if (pathkeys == NIL)
		return NULL;
	initStringInfo(&buf);
	foreach(lc, pathkeys)
	{
		PathKey    *pk = (PathKey *) lfirst(lc);
		char	   *name;

		if (kql_sort_column(baserel, fpinfo, pk, &name) == NULL)
			return NULL;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		defender_append_kql_name(&buf, name);
		appendStringInfo(&buf, " %s nulls %s",
						 pk->pk_strategy == BTGreaterStrategyNumber ? "desc" : "asc",
						 pk->pk_nulls_first ? "first" : "last");
	}
	return buf.data;
}

/*
 * defender_kql_sort_keys
 *		The same sort as defender_kql_sort's, as the executor needs it to
 *		sort rows itself: per pathkey an IntList (table attnum, descending,
 *		nulls first); NIL when KQL cannot sort by the pathkeys.  A split
 *		hunting scan whose sort does not start with the time column sorts
 *		its windows' rows with these (hunting_source.c); the columns are of
 *		types whose default btree order is the sort's.
 */
List *
defender_kql_sort_keys(PlannerInfo *root, RelOptInfo *baserel, DefenderRelInfo *fpinfo,
					   List *pathkeys)
{
	List	   *keys = NIL;
	ListCell   *lc;

	(void) root;
	foreach(lc, pathkeys)
	{
		PathKey    *pk = (PathKey *) lfirst(lc);
		char	   *name;
		Var		   *var = kql_sort_column(baserel, fpinfo, pk, &name);

		if (var == NULL)
			return NIL;
		keys = lappend(keys, list_make3_int(var->varattno,
											pk->pk_strategy == BTGreaterStrategyNumber,
											pk->pk_nulls_first));
	}
	return keys;
}


/* ---------------------------------------------------------------------
 * Enumeration constants that are no member
 *
 * "WHERE status = 'Active'" keeps PostgreSQL's meaning (text compared
 * exactly: no row, since values are read in the schema's spelling), but a
 * user who wrote it almost certainly meant 'active'.  The planner collects
 * such constants here, and the scan says so once per statement in a
 * NOTICE (defender_enum_notice), with pushdown on or off alike: the answer
 * is the same either way, and so is the mistake.
 * ---------------------------------------------------------------------
 */

typedef struct EnumNoticeContext
{
	RelOptInfo *baserel;
	DefenderRelInfo *fpinfo;
	List	   *notices;		/* (column, value) pairs of String nodes */
} EnumNoticeContext;

static void
note_enum_value(EnumNoticeContext *cxt, AttrNumber attnum,
				const GraphProperty *prop, Datum value)
{
	char	   *member = TextDatumGetCString(value);
	char	   *column;
	ListCell   *lc;

	if (graph_is_enum_member(prop, member))
		return;
	column = get_attname(cxt->fpinfo->relid, attnum, false);
	foreach(lc, cxt->notices)
	{
		List	   *pair = lfirst(lc);

		if (strcmp(strVal(linitial(pair)), column) == 0 &&
			strcmp(strVal(lsecond(pair)), member) == 0)
			return;				/* once per column and value */
	}
	cxt->notices = lappend(cxt->notices,
						   list_make2(makeString(column), makeString(member)));
}

static bool
enum_notice_walker(Node *node, EnumNoticeContext *cxt)
{
	Operands	o;

	if (node == NULL)
		return false;
	if ((IsA(node, OpExpr) || IsA(node, ScalarArrayOpExpr)) &&
		split_comparison(cxt->baserel, (Expr *) node, &o) &&
		o.value != NULL && IsA(o.value, Const) && !((Const *) o.value)->constisnull &&
		o.var->vartype == TEXTOID && o.valtype == TEXTOID)
	{
		const GraphProperty *prop =
			defender_column_graph_property(cxt->fpinfo->relid, o.var->varattno,
										   cxt->fpinfo->resource);

		if (prop && prop->kind == GRAPH_ENUM)
		{
			Const	   *c = (Const *) o.value;

			if (IsA(node, OpExpr))
				note_enum_value(cxt, o.var->varattno, prop, c->constvalue);
			else
			{
				Datum	   *elems;
				bool	   *nulls;
				int			n;
				int			i;

				deconstruct_array(DatumGetArrayTypeP(c->constvalue), TEXTOID, -1, false,
								  TYPALIGN_INT, &elems, &nulls, &n);
				for (i = 0; i < n; i++)
					if (!nulls[i])
						note_enum_value(cxt, o.var->varattno, prop, elems[i]);
			}
		}
		return false;
	}
	return expression_tree_walker(node, enum_notice_walker, (void *) cxt);
}

/*
 * defender_enum_notices
 *		The (column, value) pairs of baserel's conditions that compare an
 *		enumeration column with a constant that is not exactly a member.
 */
List *
defender_enum_notices(RelOptInfo *baserel, DefenderRelInfo *fpinfo)
{
	EnumNoticeContext cxt;
	ListCell   *lc;

	if (fpinfo->hunting)
		return NIL;
	cxt.baserel = baserel;
	cxt.fpinfo = fpinfo;
	cxt.notices = NIL;
	foreach(lc, baserel->baserestrictinfo)
		enum_notice_walker((Node *) lfirst_node(RestrictInfo, lc)->clause, &cxt);
	return cxt.notices;
}

/*
 * defender_enum_notice
 *		The NOTICE for one (column, value) pair of defender_enum_notices():
 *		the valid members, and the one meant when only the case differs.
 */
void
defender_enum_notice(Oid relid, const GraphResource *resource, List *pair)
{
	const char *column = strVal(linitial(pair));
	const char *value = strVal(lsecond(pair));
	AttrNumber	attnum = get_attnum(relid, column);
	const GraphProperty *prop = defender_column_graph_property(relid, attnum, resource);
	const char *meant;

	if (prop == NULL || prop->kind != GRAPH_ENUM)
		return;
	meant = graph_enum_member(prop->members, value);
	ereport(NOTICE,
			(errmsg("'%s' is not a value of column \"%s\" of foreign table \"%s\"",
					value, column, get_rel_name(relid)),
			 errdetail("Microsoft Graph's %s is one of: %s.  Text is compared exactly, so no row holds '%s'.",
					   prop->name, graph_enum_member_list(prop->members), value),
			 meant ? errhint("Did you mean '%s'?", meant) : 0));
}
