/*-------------------------------------------------------------------------
 *
 * list_scan.c
 *		  The executor of a list scan: pages of a Graph collection, entities
 *		  by id, and count(*).
 *
 * A list scan's request is written here with the values of the scan's
 * parameters (deparse_odata.c), and its pages come from the pager
 * (src/remote/pager.c); each row object is converted into the scan slot
 * (convert.c).  The pager is the list's row source (row_source.c): a 400
 * to the first page is either Graph capping $top (learned, and the list
 * asked again with pages that size) or Graph refusing the filter (the list
 * asked again without it, every condition then checked locally).  Lookup
 * scans GET each id; count(*) reads @odata.count, or pages the ids when
 * the service leaves it out.  Called by foreign_scan.c only.
 *
 * src/scan/list_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "scan_state.h"
#include "pg_jansson.h"

/* A row of the list read past the lookup switch point, by id. */
typedef struct LookupRow
{
	char	   *id;				/* the key, in lookup_cxt */
	MinimalTuple row;			/* the scan's columns, in lookup_cxt */
} LookupRow;

static DefenderFetch list_next(ForeignScanState *node, DefenderScanState *state,
							   TupleTableSlot *slot);
static void list_restart_with_less(ForeignScanState *node, DefenderScanState *state);
static void conversion_error_callback(void *arg);

/* The list pager as a row source. */
const DefenderRowSource defender_list_source = {
	list_next,
	list_restart_with_less
};

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
 * defender_start_list
 *		Write the list request with the values and begin paging.
 *
 * In fallback the filter, $top, $skip and $count are left out: every
 * condition and the limit are then applied here.
 */
void
defender_start_list(DefenderScanState *state, bool fallback)
{
	DefenderListRequest req;
	DefenderPaging paging;
	int64		page;
	int			rejections = 0;
	StringInfoData url;
	StringInfoData display;
	MemoryContext old = MemoryContextSwitchTo(state->param_cxt);

	memset(&req, 0, sizeof(req));
	req.orderby = state->plan.orderby[0] ? state->plan.orderby : NULL;
	req.expand_alerts = state->plan.expand_alerts;
	req.select = state->plan.select;
	if (state->count_by_paging)
	{
		/* the filter Graph accepted, every page, only the ids */
		req.filter = state->plan.filter;
		req.orderby = NULL;
		req.expand_alerts = false;
		req.select = list_make1(makeString("id"));
	}
	else if (fallback)
	{
		/* the conditions Graph applied are now evaluated here */
		if (req.select)
			req.select = list_concat_copy(req.select, state->plan.select_recheck);
	}
	else
	{
		req.filter = state->plan.filter;
		req.count_only = (state->plan.mode == SCAN_COUNT);
		if (state->limit >= 0)
			req.top = state->limit;
		else if (state->plan.rows_wanted > 0)
			req.top = state->plan.rows_wanted;	/* a first page, not a limit */
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
	if (!fallback && state->plan.filter != NULL)
		rejections |= DEFENDER_PAGER_FILTER;
	if (state->opts->page_size <= 0 && page > state->resource->confirmed_page_size)
		rejections |= DEFENDER_PAGER_PAGE_SIZE;
	state->pager = defender_pager_begin(state->opts, url.data, display.data,
										state->page_cxt, rejections,
										req.count_pages ? &paging : NULL);
	/* in an Append, a page the quota holds back must not stall the others */
	if (state->async)
		defender_pager_hold_not_wait(state->pager);
	state->fallback = fallback;
	/* Graph skips OFFSET's rows unless the fallback left $skip out */
	state->offset_pushed = !fallback && !state->count_by_paging;
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
	defender_start_list(state, false);
	return true;
}

/*
 * list_next
 *		The row source's next: the next row object of the pages, converted
 *		into the slot.
 */
static DefenderFetch
list_next(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	json_t	   *row = defender_pager_next(state->pager);

	if (row == NULL)
		return defender_pager_rejected(state->pager, &state->rejection) ?
			FETCH_REJECTED : FETCH_END;
	MemoryContextReset(state->row_cxt);
	defender_fill_slot(state, slot, row);
	return FETCH_ROW;
}

/*
 * list_restart_with_less
 *		The row source's restart after a 400 to the first page: pages of the
 *		size Graph says it allows, or else no filter (every condition, and
 *		the limit, applied locally).  A 400 to a list without a filter is
 *		no rejection of anything pushed: raised as the error it is.
 */
static void
list_restart_with_less(ForeignScanState *node, DefenderScanState *state)
{
	if (retry_with_page_limit(state))
		return;
	if (state->plan.filter == NULL)
		defender_pager_raise_rejection(state->pager);
	if (state->plan.mode == SCAN_COUNT)
		defender_notice_rejection(state, "filter",
								  "reading without it and counting locally", NULL, false);
	else
		defender_notice_rejection(state, "filter",
								  "reading without it and filtering locally", NULL, true);
	defender_start_list(state, true);
}

/*
 * defender_fill_slot
 *		Convert a row object into the scan slot's columns.
 */
void
defender_fill_slot(DefenderScanState *state, TupleTableSlot *slot, json_t *row)
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
	defender_start_list(state, false);
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
 * defender_list_count
 *		count(*) of a list: @odata.count of a $count=true&$top=1 request,
 *		or, when Graph refuses the filter, the rows of the list without it
 *		that pass the conditions.
 */
int64
defender_list_count(ForeignScanState *node, DefenderScanState *state, TupleTableSlot *slot)
{
	int64		count = 0;

	if (state->pager == NULL)
		return 0;				/* no row can match: nothing was asked */
	for (;;)
	{
		json_t	   *row = defender_pager_next(state->pager);
		json_t	   *n;

		if (row == NULL && defender_pager_rejected(state->pager, &state->rejection))
		{
			list_restart_with_less(node, state);
			if (!state->fallback)
				continue;		/* the same request, smaller pages */
			while (defender_next_row(node, state, slot))
				count++;
			ExecClearTuple(slot);
			return count;
		}
		n = json_object_get(defender_pager_document(state->pager), "@odata.count");
		if (json_is_integer(n))
			return (int64) json_integer_value(n);
		return count_by_paging(state);
	}
}

/*
 * defender_start_lookup
 *		The ids a lookup scan GETs: the value, or each distinct element of
 *		the array, in the parameter context.
 */
void
defender_start_lookup(DefenderScanState *state)
{
	Datum		value = state->params.values[state->plan.lookup_param - 1];
	bool		isnull = state->params.nulls[state->plan.lookup_param - 1];
	MemoryContext old = MemoryContextSwitchTo(state->param_cxt);
	Datum	   *elems;
	bool	   *elemnulls;
	List	   *distinct = NIL;
	ListCell   *lc;
	int			n,
				i;

	state->lookup_ids = NIL;
	if (isnull)
		;						/* id = NULL matches nothing */
	else if (!state->plan.lookup_array)
		state->lookup_ids = list_make1(TextDatumGetCString(value));
	else
	{
		deconstruct_array(DatumGetArrayTypeP(value), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elemnulls, &n);
		for (i = 0; i < n; i++)
		{
			char	   *id;

			if (elemnulls[i])
				continue;
			id = TextDatumGetCString(elems[i]);
			/* each entity once, whatever the array repeats */
			if (!list_member(distinct, makeString(id)))
				distinct = lappend(distinct, makeString(id));
		}
		foreach(lc, distinct)
			state->lookup_ids = lappend(state->lookup_ids, strVal(lfirst(lc)));
	}
	MemoryContextSwitchTo(old);
}

/* dynahash callbacks of the lookup table: the key is a pointer to a string */
static uint32
lookup_key_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
lookup_key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * read_list_for_lookups
 *		Past the switch point: read the list once, with the filter of the
 *		table's other conditions, into lookup_table, a row per id.
 *
 * The rows come through the one row loop (defender_next_row), so a 400 to
 * the filter reads the list without it, as any list scan does; every
 * condition of a lookup scan is checked locally anyway.  The table holds
 * the columns the scan reads, in the scan's memory until it ends: one row
 * per entity the list returns.
 */
static void
read_list_for_lookups(ForeignScanState *node, DefenderScanState *state,
					  TupleTableSlot *slot)
{
	HASHCTL		ctl;
	int64		rows = 0;
	int64		saved_limit = state->limit;
	int64		saved_returned = state->returned;
	MemoryContext old;

	elog(DEBUG1, "defender_fdw: " INT64_FORMAT " lookups by id on foreign table \"%s\" reached the switch point (%d); reading the list once and answering the rest from it",
		 state->lookups_sent, RelationGetRelationName(state->rel), state->plan.lookup_switch);
	state->lookup_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt,
											  "defender_fdw lookup table",
											  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(LookupRow);
	ctl.hash = lookup_key_hash;
	ctl.match = lookup_key_match;
	ctl.hcxt = state->lookup_cxt;
	state->lookup_table = hash_create("defender_fdw lookup table", 1024, &ctl,
									  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	MemoryContextReset(state->page_cxt);
	state->limit = -1;
	state->returned = 0;
	state->finished = false;
	defender_start_list(state, false);
	while (defender_next_row(node, state, slot))
	{
		json_t	   *id = json_object_get(state->current_row, "id");
		char	   *key;
		LookupRow  *entry;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (!json_is_string(id))
			continue;			/* never asked for by id */
		old = MemoryContextSwitchTo(state->lookup_cxt);
		key = pstrdup(json_string_value(id));
		entry = hash_search(state->lookup_table, &key, HASH_ENTER, &found);
		if (!found)
		{
			entry->row = ExecCopySlotMinimalTuple(slot);
			rows++;
		}
		MemoryContextSwitchTo(old);
	}
	ExecClearTuple(slot);
	if (state->pager)
		state->requests += defender_pager_requests(state->pager);
	state->pager = NULL;
	state->fallback = false;
	MemoryContextReset(state->page_cxt);
	state->limit = saved_limit;
	state->returned = saved_returned;
	state->finished = false;
	elog(DEBUG1, "defender_fdw: the list of foreign table \"%s\" holds " INT64_FORMAT " rows for the lookups",
		 RelationGetRelationName(state->rel), rows);
}

/*
 * defender_next_lookup_row
 *		The next entity a lookup scan finds into the slot; false when done.
 *
 * A GET per id until the scan has sent plan.lookup_switch of them (over
 * all its rescans: a join's outer rows); then the list is read once and
 * every later id is answered from it, so a large outer side costs about
 * one list read, not a GET per row.
 */
bool
defender_next_lookup_row(ForeignScanState *node, DefenderScanState *state,
						 TupleTableSlot *slot)
{
	while (state->lookup_ids != NIL)
	{
		char	   *id = linitial(state->lookup_ids);
		StringInfoData path;
		json_t	   *entity;

		state->lookup_ids = list_delete_first(state->lookup_ids);
		if (!defender_id_is_segment(id))
			continue;			/* '', '.', '..': no entity has that id, and
								 * GET .../ would be the whole list */
		if (state->lookup_table == NULL && state->plan.lookup_switch > 0 &&
			state->lookups_sent >= state->plan.lookup_switch)
			read_list_for_lookups(node, state, slot);
		if (state->lookup_table != NULL)
		{
			LookupRow  *entry = hash_search(state->lookup_table, &id, HASH_FIND, NULL);

			state->lookups_answered++;
			if (entry == NULL)
				continue;		/* not in the list: no such entity, no row */
			ExecForceStoreMinimalTuple(entry->row, slot, false);
			return true;
		}
		MemoryContextReset(state->page_cxt);
		initStringInfo(&path);
		defender_deparse_lookup(&path, true, state->opts, state->resource, id,
								state->plan.expand_alerts, state->plan.select);
		entity = defender_fetch_entity(state->opts,
									   psprintf("%s%s", state->opts->graph_url, path.data),
									   psprintf("GET %s", path.data),
									   state->page_cxt);
		state->requests++;
		state->lookups_sent++;
		if (entity == NULL)
			continue;			/* 404: no such entity, no row */
		MemoryContextReset(state->row_cxt);
		defender_fill_slot(state, slot, entity);
		return true;
	}
	return false;
}

/*
 * defender_explain_lookup
 *		A lookup scan's request as EXPLAIN shows it: the GET of the id, or
 *		of each id of an array.
 */
char *
defender_explain_lookup(DefenderScanState *state, const DefenderParamValues *params)
{
	int			k = state->plan.lookup_param - 1;
	StringInfoData buf;
	StringInfoData path;
	Oid			outfn;
	bool		isvarlena;

	initStringInfo(&buf);
	initStringInfo(&path);
	if (params->placeholders[k] == NULL && !params->nulls[k] && !state->plan.lookup_array)
		defender_deparse_lookup(&path, false, state->opts, state->resource,
								TextDatumGetCString(params->values[k]),
								state->plan.expand_alerts, state->plan.select);
	else
		defender_deparse_lookup(&path, false, state->opts, state->resource,
								state->plan.lookup_array ? "{id}" :
								psprintf("{%s}", params->placeholders[k] ?
										 params->placeholders[k] : "NULL"),
								state->plan.expand_alerts, state->plan.select);
	appendStringInfo(&buf, "GET %s", path.data);
	if (state->plan.lookup_array)
	{
		if (params->placeholders[k])
			appendStringInfo(&buf, " for each id in %s", params->placeholders[k]);
		else if (!params->nulls[k])
		{
			getTypeOutputInfo(params->types[k], &outfn, &isvarlena);
			appendStringInfo(&buf, " for each id in %s",
							 OidOutputFunctionCall(outfn, params->values[k]));
		}
	}
	return buf.data;
}

/*
 * defender_explain_list
 *		A list (or $count) scan's first request as EXPLAIN shows it.
 */
char *
defender_explain_list(DefenderScanState *state, const DefenderParamValues *params)
{
	DefenderListRequest req;
	StringInfoData request;

	memset(&req, 0, sizeof(req));
	req.filter = state->plan.filter;
	req.orderby = state->plan.orderby[0] ? state->plan.orderby : NULL;
	req.expand_alerts = state->plan.expand_alerts;
	req.select = state->plan.select;
	req.count_only = (state->plan.mode == SCAN_COUNT);
	if (state->plan.limit_param)
	{
		int			k = state->plan.limit_param - 1;

		if (params->placeholders[k])
			req.top_text = params->placeholders[k];
		else if (DatumGetInt64(params->values[k]) == 0)
			return "none (LIMIT 0)";
		else
			req.top = DatumGetInt64(params->values[k]);
	}
	else if (state->plan.rows_wanted > 0)
		req.top = state->plan.rows_wanted;
	if (state->plan.offset_param)
	{
		int			k = state->plan.offset_param - 1;

		if (params->placeholders[k])
			req.skip_text = params->placeholders[k];
		else
			req.skip = DatumGetInt64(params->values[k]);
	}
	req.count_pages = wants_page_count(state, &req);
	initStringInfo(&request);
	if (defender_deparse_list(&request, false, state->opts, state->resource,
							  &req, params) == RENDER_FALSE)
		return "none (no row can match the conditions)";
	return psprintf("GET %s", request.data);
}
