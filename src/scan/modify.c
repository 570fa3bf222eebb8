/*-------------------------------------------------------------------------
 *
 * modify.c
 *		  UPDATE on incidents and alerts: one PATCH per row.
 *
 *	UPDATE incidents SET status = 'resolved', classification = 'falsePositive'
 *	WHERE severity = 'low' AND status = 'active' RETURNING id, status;
 *
 * The rows are found by the usual scan (with its pushdown) and each is sent
 * as PATCH /security/{incidents|alerts_v2}/{id} with only the columns the
 * UPDATE assigns; RETURNING shows Graph's answer, the updated entity.
 * Columns Graph does not let one write are refused at plan time.
 *
 * When the PATCH is sent: as each row is updated, not at COMMIT.  Graph has
 * no transactions, so deferring to COMMIT would not make a batch atomic
 * either (a failure on the third PATCH at commit would still leave two
 * applied), and RETURNING could not show what Graph did.  So the user is
 * never unaware of what was changed: if the transaction rolls back after
 * PATCHes were sent (a later row failed, or ROLLBACK), a WARNING lists
 * every entity changed in Defender, which the rollback does not undo.
 *
 * src/scan/modify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/inherit.h"
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/json.h"
#include "utils/rel.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"
#include "pg_jansson.h"

#define ROWID_NAME "defender_id"

/* Execution state of an UPDATE on one foreign table. */
typedef struct DefenderModifyState
{
	Relation	rel;
	DefenderOptions *opts;
	const GraphResource *resource;
	AttrNumber	rowid_attno;	/* the id junk column in the plan's output */
	int			nupdated;
	AttrNumber *updated;		/* columns the UPDATE assigns */
	char	  **updated_props;	/* their Graph properties */
	int			ncolumns;
	DefenderColumn *columns;	/* every column, to read the PATCH's answer */
	MemoryContext row_cxt;
} DefenderModifyState;

/*
 * Entities changed in Defender by the current transaction, for the abort
 * warning, each with the subtransaction level that changed it.
 */
typedef struct Change
{
	char	   *what;			/* "incidents 29" */
	int			level;			/* GetCurrentTransactionNestLevel() */
} Change;

static List *changed_in_xact = NIL;	/* of Change, in TopTransactionContext */
static bool xact_callback_registered = false;

static void modify_xact_callback(XactEvent event, void *arg);
static void modify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static void warn_kept_changes(int from_level);

/* The attribute number of the column that reads "id", or 0. */
static AttrNumber
id_attnum(Relation rel, const GraphResource *resource)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		const GraphProperty *prop;

		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		prop = defender_column_graph_property(RelationGetRelid(rel), i + 1, resource);
		if (prop && strcmp(prop->name, "id") == 0)
			return i + 1;
	}
	return 0;
}

/*
 * defender_is_updatable
 *		IsForeignRelUpdatable: UPDATE on incidents and alerts only.
 */
int
defender_is_updatable(Relation rel)
{
	DefenderOptions *opts = defender_get_options(RelationGetRelid(rel), InvalidOid,
												 InvalidOid, false);
	const GraphResource *resource = graph_find_resource(opts->resource);

	if (strcmp(resource->name, "hunting") == 0 || id_attnum(rel, resource) == 0)
		return 0;
	return 1 << CMD_UPDATE;
}

/*
 * defender_add_update_targets
 *		AddForeignUpdateTargets: the row's id, as a junk column.
 */
#if PG_VERSION_NUM >= 140000
void
defender_add_update_targets(PlannerInfo *root, Index rtindex,
							RangeTblEntry *target_rte, Relation target_relation)
#else
void
defender_add_update_targets(Query *parsetree, RangeTblEntry *target_rte,
							Relation target_relation)
#endif
{
	DefenderOptions *opts = defender_get_options(RelationGetRelid(target_relation),
												 InvalidOid, InvalidOid, false);
	const GraphResource *resource = graph_find_resource(opts->resource);
	AttrNumber	attnum;
	Form_pg_attribute att;
	Var		   *var;

	if (strcmp(resource->name, "hunting") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("foreign table \"%s\" reads advanced hunting results, which cannot be changed",
						RelationGetRelationName(target_relation))));
	attnum = id_attnum(target_relation, resource);
	if (attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no column for the Graph property \"id\"",
						RelationGetRelationName(target_relation)),
				 errhint("UPDATE sends one PATCH per row by id: add a column id text.")));
	att = TupleDescAttr(RelationGetDescr(target_relation), attnum - 1);
#if PG_VERSION_NUM >= 140000
	var = makeVar(rtindex, attnum, att->atttypid, att->atttypmod, att->attcollation, 0);
	add_row_identity_var(root, var, rtindex, ROWID_NAME);
#else
	var = makeVar(parsetree->resultRelation, attnum, att->atttypid, att->atttypmod,
				  att->attcollation, 0);
	parsetree->targetList = lappend(parsetree->targetList,
									makeTargetEntry((Expr *) var,
													list_length(parsetree->targetList) + 1,
													pstrdup(ROWID_NAME), true));
#endif
}

/*
 * defender_plan_modify
 *		PlanForeignModify: check that every assigned column is writable; the
 *		list of assigned columns goes to execution.
 */
List *
defender_plan_modify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					 int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel;
	DefenderOptions *opts;
	const GraphResource *resource;
	Bitmapset  *updated;
	List	   *attnums = NIL;
	int			col = -1;

	if (plan->operation != CMD_UPDATE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("defender_fdw supports UPDATE only"),
				 errdetail("Microsoft Graph does not create or delete incidents or alerts.")));

#if PG_VERSION_NUM >= 150000
	updated = get_rel_all_updated_cols(root, find_base_rel(root, resultRelation));
#else
	updated = bms_union(rte->updatedCols, rte->extraUpdatedCols);
#endif

	rel = table_open(rte->relid, NoLock);
	opts = defender_get_options(rte->relid, InvalidOid, InvalidOid, false);
	resource = graph_find_resource(opts->resource);
	while ((col = bms_next_member(updated, col)) >= 0)
	{
		AttrNumber	attnum = col + FirstLowInvalidHeapAttributeNumber;
		const GraphProperty *prop;

		if (attnum <= 0)
			continue;
		prop = defender_column_graph_property(rte->relid, attnum, resource);
		if (prop == NULL || !graph_property_writable(resource, prop->name))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("column \"%s\" of foreign table \"%s\" cannot be updated",
							get_attname(rte->relid, attnum, false),
							RelationGetRelationName(rel)),
					 errdetail("Microsoft Graph lets one change only these %s properties: %s.",
							   resource->name, graph_writable_names(resource))));
		attnums = lappend_int(attnums, attnum);
	}
	table_close(rel, NoLock);
	return list_make1(attnums);
}

/*
 * defender_begin_modify
 *		BeginForeignModify: options, user mapping, the columns to send and
 *		to read back.
 */
void
defender_begin_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					  List *fdw_private, int subplan_index, int eflags)
{
	DefenderModifyState *state = palloc0(sizeof(DefenderModifyState));
	EState	   *estate = mtstate->ps.state;
	Relation	rel = rinfo->ri_RelationDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *attnums = (List *) linitial(fdw_private);
	Plan	   *subplan = outerPlanState(mtstate)->plan;
	Oid			userid;
	ListCell   *lc;
	int			i;

	rinfo->ri_FdwState = state;
	state->rel = rel;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
	{
		state->opts = defender_get_options(RelationGetRelid(rel), InvalidOid, InvalidOid, false);
		state->resource = graph_find_resource(state->opts->resource);
		return;
	}

#if PG_VERSION_NUM >= 160000
	userid = ExecGetResultRelCheckAsUser(rinfo, estate);
#else
	{
		RangeTblEntry *rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
#endif
	state->opts = defender_get_options(RelationGetRelid(rel), InvalidOid, userid, true);
	state->resource = graph_find_resource(state->opts->resource);

	state->rowid_attno = ExecFindJunkAttributeInTlist(subplan->targetlist, ROWID_NAME);
	if (!AttributeNumberIsValid(state->rowid_attno))
		elog(ERROR, "defender_fdw: could not find the junk column %s", ROWID_NAME);

	state->nupdated = list_length(attnums);
	state->updated = palloc(sizeof(AttrNumber) * Max(state->nupdated, 1));
	state->updated_props = palloc(sizeof(char *) * Max(state->nupdated, 1));
	i = 0;
	foreach(lc, attnums)
	{
		state->updated[i] = (AttrNumber) lfirst_int(lc);
		state->updated_props[i] = (char *)
			defender_column_graph_property(RelationGetRelid(rel), state->updated[i],
										   state->resource)->name;
		i++;
	}

	/* every live column, to turn the PATCH's answer into the RETURNING row */
	state->columns = palloc0(sizeof(DefenderColumn) * Max(desc->natts, 1));
	for (i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		defender_column_init(&state->columns[state->ncolumns++], rel, i + 1, state->resource);
	}
	state->row_cxt = AllocSetContextCreate(estate->es_query_cxt, "defender_fdw modify",
										   ALLOCSET_SMALL_SIZES);

	if (!xact_callback_registered)
	{
		RegisterXactCallback(modify_xact_callback, NULL);
		RegisterSubXactCallback(modify_subxact_callback, NULL);
		xact_callback_registered = true;
	}
}

/* The JSON text of one column's new value. */
static void
append_json_value(StringInfo buf, Datum value, bool isnull, Oid type)
{
	Oid			outfn;
	bool		isvarlena;

	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	if (type == TEXTARRAYOID)
	{
		ArrayType  *array = DatumGetArrayTypeP(value);
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;

		deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		appendStringInfoChar(buf, '[');
		for (i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("a tag array sent to Microsoft Graph must not contain NULL")));
			if (i > 0)
				appendStringInfoChar(buf, ',');
			escape_json(buf, TextDatumGetCString(elems[i]));
		}
		appendStringInfoChar(buf, ']');
		return;
	}
	getTypeOutputInfo(type, &outfn, &isvarlena);
	if (type == JSONBOID || type == JSONOID || type == BOOLOID || type == INT4OID ||
		type == INT8OID || type == INT2OID)
		appendStringInfoString(buf, OidOutputFunctionCall(outfn, value));
	else
		escape_json(buf, OidOutputFunctionCall(outfn, value));
}

/*
 * defender_exec_update
 *		ExecForeignUpdate: PATCH the row's entity with the assigned columns;
 *		the slot gets Graph's answer, for RETURNING.
 */
TupleTableSlot *
defender_exec_update(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					 TupleTableSlot *planSlot)
{
	DefenderModifyState *state = (DefenderModifyState *) rinfo->ri_FdwState;
	TupleDesc	desc = slot->tts_tupleDescriptor;
	MemoryContext old;
	StringInfoData body;
	StringInfoData path;
	bool		isnull;
	Datum		id;
	char	   *idtext;
	json_t	   *entity;
	int			i;

	MemoryContextReset(state->row_cxt);
	old = MemoryContextSwitchTo(state->row_cxt);

	id = ExecGetJunkAttribute(planSlot, state->rowid_attno, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cannot update a row of \"%s\" whose id is NULL",
						RelationGetRelationName(state->rel))));
	idtext = TextDatumGetCString(id);

	slot_getallattrs(slot);
	initStringInfo(&body);
	appendStringInfoChar(&body, '{');
	for (i = 0; i < state->nupdated; i++)
	{
		AttrNumber	attnum = state->updated[i];

		if (i > 0)
			appendStringInfoChar(&body, ',');
		escape_json(&body, state->updated_props[i]);
		appendStringInfoChar(&body, ':');
		if (!slot->tts_isnull[attnum - 1] &&
			TupleDescAttr(desc, attnum - 1)->atttypid == TEXTOID)
		{
			/*
			 * An enumeration's value is checked before anything is sent, and
			 * sent in Graph's spelling: the same check as the
			 * defender_update_* functions.
			 */
			const char *value = TextDatumGetCString(slot->tts_values[attnum - 1]);

			value = graph_write_value(state->resource, state->updated_props[i], value,
									  psprintf("UPDATE of foreign table \"%s\"",
											   RelationGetRelationName(state->rel)));
			escape_json(&body, value);
		}
		else
			append_json_value(&body, slot->tts_values[attnum - 1], slot->tts_isnull[attnum - 1],
							  TupleDescAttr(desc, attnum - 1)->atttypid);
	}
	appendStringInfoChar(&body, '}');

	initStringInfo(&path);
	appendStringInfo(&path, "/%s/%s/", state->opts->api_version, state->resource->path);
	appendStringInfoString(&path,
						   defender_id_segment(idtext, psprintf("id for \"%s\"", RelationGetRelationName(state->rel))));
	entity = defender_patch_entity(state->opts, path.data, body.data, state->row_cxt);

	/* Sent: remember it for the abort warning before anything else can fail. */
	{
		MemoryContext xact = MemoryContextSwitchTo(TopTransactionContext);

		Change	   *change = palloc(sizeof(Change));

		change->what = psprintf("%s %s", state->resource->name, defender_display_text(idtext));
		change->level = GetCurrentTransactionNestLevel();
		changed_in_xact = lappend(changed_in_xact, change);
		MemoryContextSwitchTo(xact);
	}

	/* RETURNING: the entity as Graph now has it */
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	for (i = 0; i < state->ncolumns; i++)
	{
		DefenderColumn *col = &state->columns[i];

		slot->tts_values[col->attnum - 1] =
			defender_json_to_datum(col, defender_column_lookup(col, entity),
								   &slot->tts_isnull[col->attnum - 1]);
	}
	ExecStoreVirtualTuple(slot);
	MemoryContextSwitchTo(old);
	return slot;
}

/*
 * defender_explain_modify
 *		EXPLAIN (VERBOSE): the request each row costs.
 */
void
defender_explain_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						List *fdw_private, int subplan_index, ExplainState *es)
{
	DefenderModifyState *state = (DefenderModifyState *) rinfo->ri_FdwState;

	if (es->verbose && state)
		ExplainPropertyText("Remote request",
							psprintf("PATCH /%s/%s/{id} for each row",
									 state->opts->api_version, state->resource->path), es);
}

/*
 * warn_kept_changes
 *		WARNING listing the changes made at from_level or deeper, which the
 *		rollback under way does not undo in Defender; forget them.
 */
static void
warn_kept_changes(int from_level)
{
	StringInfoData list;
	List	   *kept = NIL;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&list);
	foreach(lc, changed_in_xact)
	{
		Change	   *change = (Change *) lfirst(lc);

		if (change->level >= from_level)
		{
			appendStringInfo(&list, "%s%s", list.len ? ", " : "", change->what);
			n++;
		}
		else
			kept = lappend(kept, change);
	}
	changed_in_xact = kept;
	if (n > 0)
		ereport(WARNING,
				(errmsg("%d change(s) sent to Microsoft Defender are not rolled back", n),
				 errdetail("Changed in Defender: %s.", list.data),
				 errhint("Microsoft Graph has no transactions: each row's PATCH took effect when the row was updated.")));
}

/*
 * modify_xact_callback
 *		On rollback, say what Defender kept: Graph's changes are not undone.
 */
static void
modify_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		warn_kept_changes(0);
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		changed_in_xact = NIL;	/* the list's memory goes with the transaction */
}

/*
 * modify_subxact_callback
 *		A rolled-back savepoint (or a PL/pgSQL exception block) keeps its
 *		changes in Defender too; a committed one hands them to its parent.
 */
static void
modify_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		warn_kept_changes(level);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, changed_in_xact)
		{
			Change	   *change = (Change *) lfirst(lc);

			if (change->level >= level)
				change->level = level - 1;
		}
	}
}
