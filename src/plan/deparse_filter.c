/*-------------------------------------------------------------------------
 *
 * deparse_filter.c
 *		  The filter tree (DefenderFilter, built by shippable.c): its node
 *		  form for fdw_private, and writing it in either remote language.
 *
 * The shape is the same for OData's $filter and KQL's where: AND and OR
 * nodes, leaves, and an array leaf that becomes an OR chain (= ANY) or an
 * AND chain (<> ALL).  This file owns that shape: folding parts whose
 * outcome is known (a false part of an AND makes it false, a true part of
 * an OR makes it true), parentheses where "or" sits inside "and", and the
 * resolution of a leaf's value (a constant, a computed parameter, or for
 * EXPLAIN the expression's text).  deparse_odata.c and deparse_kql.c write
 * the leaves.
 *
 * src/plan/deparse_filter.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/value.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "defender_plan.h"

const DefenderWritten WRITTEN_TRUE = {RENDER_TRUE, PREC_ATOM};
const DefenderWritten WRITTEN_FALSE = {RENDER_FALSE, PREC_ATOM};
const DefenderWritten WRITTEN_ATOM = {RENDER_FILTER, PREC_ATOM};
const DefenderWritten WRITTEN_AND = {RENDER_FILTER, PREC_AND};
const DefenderWritten WRITTEN_OR = {RENDER_FILTER, PREC_OR};

/* Add a written part to parts, parenthesized if it is an OR inside an AND. */
static void
add_part(List **parts, StringInfo part, DefenderWritten w, bool is_and)
{
	if (w.prec == PREC_OR && is_and)
	{
		StringInfo	wrapped = makeStringInfo();

		appendStringInfo(wrapped, "(%s)", part->data);
		part = wrapped;
	}
	*parts = lappend(*parts, part);
}

/*
 * defender_join_parts
 *		Write parts joined by " and " or " or ".
 */
DefenderWritten
defender_join_parts(StringInfo buf, List *parts, bool is_and)
{
	ListCell   *lc;

	if (parts == NIL)
		return is_and ? WRITTEN_TRUE : WRITTEN_FALSE;
	foreach(lc, parts)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, is_and ? " and " : " or ");
		appendStringInfoString(buf, ((StringInfo) lfirst(lc))->data);
	}
	if (list_length(parts) == 1)
		return WRITTEN_ATOM;
	return is_and ? WRITTEN_AND : WRITTEN_OR;
}

/*
 * The node form of a filter tree, as fdw_private stores it (copyable
 * nodes, since a plan may be copied):
 *	(FILTER_NODE_AND child ...), (FILTER_NODE_OR child ...), and leaves
 *	(FILTER_NODE_LEAF "name" op (kind nullable typmod value)).
 * Only defender_filter_to_node and defender_filter_from_node know it.
 */
#define FILTER_NODE_AND		1
#define FILTER_NODE_OR		2
#define FILTER_NODE_LEAF	3

/*
 * defender_filter_make
 *		A new AND or OR node with these children (DefenderFilter pointers),
 *		or an empty leaf for the caller to fill.
 */
DefenderFilter *
defender_filter_make(DefenderFilterKind kind, List *children)
{
	DefenderFilter *filter = palloc0(sizeof(DefenderFilter));

	filter->kind = kind;
	filter->children = children;
	return filter;
}

/*
 * defender_filter_to_node
 *		The tree as copyable nodes for fdw_private; NIL for no tree.
 */
List *
defender_filter_to_node(const DefenderFilter *filter)
{
	List	   *node;
	ListCell   *lc;

	if (filter == NULL)
		return NIL;
	if (filter->kind == DEFENDER_FILTER_LEAF)
	{
		const DefenderFilterLeaf *leaf = &filter->leaf;

		return list_make4(makeInteger(FILTER_NODE_LEAF),
						  makeString(pstrdup(leaf->name)),
						  makeInteger(leaf->op),
						  list_make4(makeInteger(leaf->kind),
									 makeInteger(leaf->nullable),
									 makeInteger(leaf->typmod),
									 leaf->value));
	}
	node = list_make1(makeInteger(filter->kind == DEFENDER_FILTER_AND ?
								  FILTER_NODE_AND : FILTER_NODE_OR));
	foreach(lc, filter->children)
		node = lappend(node, defender_filter_to_node(lfirst(lc)));
	return node;
}

/*
 * defender_filter_from_node
 *		Read back what defender_filter_to_node wrote; NULL for NIL.
 *
 * Called once per scan, when its plan is read (scan_plan.c).  The leaves'
 * names and values point into the plan's nodes, which outlive the scan.
 */
DefenderFilter *
defender_filter_from_node(List *node)
{
	DefenderFilter *filter;
	ListCell   *lc;

	if (node == NIL)
		return NULL;
	switch (intVal(linitial(node)))
	{
		case FILTER_NODE_LEAF:
			{
				List	   *info = lfourth(node);
				DefenderFilterLeaf *leaf;

				filter = defender_filter_make(DEFENDER_FILTER_LEAF, NIL);
				leaf = &filter->leaf;
				leaf->name = strVal(lsecond(node));
				leaf->op = (DefenderFilterOp) intVal(lthird(node));
				leaf->kind = intVal(linitial(info));
				leaf->nullable = intVal(lsecond(info)) != 0;
				leaf->typmod = (int32) intVal(lthird(info));
				leaf->value = lfourth(info);
				return filter;
			}
		case FILTER_NODE_AND:
			filter = defender_filter_make(DEFENDER_FILTER_AND, NIL);
			break;
		case FILTER_NODE_OR:
			filter = defender_filter_make(DEFENDER_FILTER_OR, NIL);
			break;
		default:
			elog(ERROR, "defender_fdw: unexpected filter node %d",
				 intVal(linitial(node)));
			pg_unreachable();
	}
	for_each_from(lc, node, 1)
		filter->children = lappend(filter->children,
								   defender_filter_from_node(lfirst(lc)));
	return filter;
}

/*
 * defender_write_tree
 *		Write an AND/OR tree; write_leaf writes its leaves.
 */
DefenderWritten
defender_write_tree(StringInfo buf, const DefenderFilter *node,
					DefenderLeafWriter write_leaf,
					const DefenderParamValues *params, void *arg)
{
	bool		is_and = (node->kind == DEFENDER_FILTER_AND);
	List	   *parts = NIL;
	DefenderWritten last = WRITTEN_ATOM;
	ListCell   *lc;

	if (node->kind == DEFENDER_FILTER_LEAF)
		return write_leaf(buf, &node->leaf, params, arg);

	foreach(lc, node->children)
	{
		StringInfo	part;
		DefenderWritten w;

		part = makeStringInfo();
		w = defender_write_tree(part, lfirst(lc), write_leaf, params, arg);
		if (w.render == RENDER_FALSE && is_and)
			return WRITTEN_FALSE;
		if (w.render == RENDER_TRUE && !is_and)
			return WRITTEN_TRUE;
		if (w.render == RENDER_FILTER)
		{
			add_part(&parts, part, w, is_and);
			last = (w.prec == PREC_OR && is_and) ? WRITTEN_ATOM : w;
		}
	}

	/*
	 * One part left (the others folded away) is that part, with its own
	 * precedence: "a or b" left alone in an OR is still an OR, which an
	 * enclosing AND must parenthesize.
	 */
	if (list_length(parts) == 1)
	{
		appendStringInfoString(buf, ((StringInfo) linitial(parts))->data);
		return last;
	}
	return defender_join_parts(buf, parts, is_and);
}

/*
 * defender_write_array
 *		= ANY(array) as an OR chain, <> ALL(array) as an AND chain of the
 *		elements' comparisons, written by write_element.
 *
 * SQL: a NULL element never makes = ANY true, and makes <> ALL never true.
 */
DefenderWritten
defender_write_array(StringInfo buf, Datum array_datum, bool is_and,
					 DefenderElementWriter write_element, void *arg)
{
	ArrayType  *array = DatumGetArrayTypeP(array_datum);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	int			i;
	List	   *parts = NIL;

	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	deconstruct_array(array, elemtype, elemlen, elembyval, elemalign,
					  &elems, &elemnulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		StringInfo	part;
		DefenderWritten w;

		if (elemnulls[i])
		{
			if (is_and)
				return WRITTEN_FALSE;
			continue;
		}
		part = makeStringInfo();
		w = write_element(part, is_and ? DFOP_NE : DFOP_EQ, elems[i], elemtype, arg);
		if (w.render == RENDER_FALSE && is_and)
			return WRITTEN_FALSE;
		if (w.render == RENDER_TRUE && !is_and)
			return WRITTEN_TRUE;
		if (w.render == RENDER_FILTER)
		{
			/* each element's comparison is one operand of the chain */
			if (w.prec != PREC_ATOM)
			{
				StringInfo	wrapped = makeStringInfo();

				appendStringInfo(wrapped, "(%s)", part->data);
				part = wrapped;
			}
			parts = lappend(parts, part);
		}
	}
	return defender_join_parts(buf, parts, is_and);
}

/*
 * defender_leaf_value
 *		A leaf's value: a Const, the n-th computed parameter, or for EXPLAIN
 *		the expression's text ("$n" when none is given).
 */
void
defender_leaf_value(Node *valnode, const DefenderParamValues *params,
					DefenderLeafValue *v)
{
	int			n;

	memset(v, 0, sizeof(DefenderLeafValue));
	if (IsA(valnode, Const))
	{
		v->isnull = ((Const *) valnode)->constisnull;
		v->datum = ((Const *) valnode)->constvalue;
		v->type = ((Const *) valnode)->consttype;
		return;
	}
	n = intVal(valnode);
	if (n <= 0)
		return;					/* no value: a null test */
	if (params == NULL || (params->placeholders && params->placeholders[n - 1]))
	{
		v->placeholder = true;
		v->text = params ? params->placeholders[n - 1] : psprintf("$%d", n);
		return;
	}
	v->isnull = params->nulls[n - 1];
	v->datum = params->values[n - 1];
	v->type = params->types[n - 1];
}

/*
 * defender_write_tick_range
 *		A datetime test (defender_datetime_comparison) in the target
 *		language, whose writers put one bound or "has a value".
 */
DefenderWritten
defender_write_tick_range(StringInfo buf, DefenderTickRange r,
						  DefenderBoundWriter write_bound,
						  DefenderAnyValueWriter write_any_value, void *arg)
{
	switch (r.test)
	{
		case TICKS_NONE:
			return WRITTEN_FALSE;
		case TICKS_ALL:
			return write_any_value(buf, arg);
		case TICKS_LT:
			write_bound(buf, false, r.hi, arg);
			return WRITTEN_ATOM;
		case TICKS_GE:
			write_bound(buf, true, r.lo, arg);
			return WRITTEN_ATOM;
		case TICKS_IN:
			write_bound(buf, true, r.lo, arg);
			appendStringInfoString(buf, " and ");
			write_bound(buf, false, r.hi, arg);
			return WRITTEN_AND;
		case TICKS_OUT:
			write_bound(buf, false, r.lo, arg);
			appendStringInfoString(buf, " or ");
			write_bound(buf, true, r.hi, arg);
			return WRITTEN_OR;
	}
	elog(ERROR, "defender_fdw: unexpected datetime test %d", (int) r.test);
	pg_unreachable();
}
