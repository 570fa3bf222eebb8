/*-------------------------------------------------------------------------
 *
 * remote_estimate.c
 *		  The size of a list as Graph counts it, asked at plan time when the
 *		  server's or table's use_remote_estimate option is on, and kept per
 *		  backend for a while.
 *
 * With use_remote_estimate (named as postgres_fdw names it), planning an
 * incidents or alerts scan sends one request: the list's own request
 * with the pushed filter, $count=true, one row and only its id (the
 * request a count(*) sends), through the one request path
 * (defender_api_request).  Its @odata.count is the estimate.  The answer
 * is kept in a small per-backend cache keyed by the user, the table and
 * the request's URL, for ESTIMATE_TTL_SECONDS, so that a query planned
 * again (a prepared statement's custom plans, the same report run twice)
 * does not ask again.  A filter whose values are unknown at plan time
 * ($1 of a generic plan, a join's outer value), a 400 (Graph refusing the
 * filter) or an answer without @odata.count give no estimate: the caller
 * keeps its default.  Any other failure raises, as the query itself would.
 * Called by paths.c only.
 *
 * src/plan/remote_estimate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "common/hashfn.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "pg_jansson.h"

/* How long a count is believed, and how many the backend keeps. */
#define ESTIMATE_TTL_SECONDS	300
#define ESTIMATE_CACHE_MAX		256

/* One cached count: the key ("userid relid URL") is the entry's key. */
typedef struct EstimateEntry
{
	char	   *key;			/* in EstimateCacheContext */
	double		rows;
	TimestampTz fetched;
} EstimateEntry;

static HTAB *estimate_cache = NULL;
static MemoryContext EstimateCacheContext = NULL;

static uint32 key_hash(const void *key, Size keysize);
static int	key_match(const void *key1, const void *key2, Size keysize);
static bool plan_time_values(PlannerInfo *root, List *fdw_exprs,
							 DefenderParamValues *params);

/* dynahash callbacks: the key is a pointer to a NUL-terminated string */
static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * estimate_cache_table
 *		The backend's cache, created on first use; emptied when full, so
 *		that it never holds more than ESTIMATE_CACHE_MAX counts.
 */
static HTAB *
estimate_cache_table(void)
{
	HASHCTL		ctl;

	if (estimate_cache != NULL && hash_get_num_entries(estimate_cache) < ESTIMATE_CACHE_MAX)
		return estimate_cache;
	if (EstimateCacheContext == NULL)
		EstimateCacheContext = AllocSetContextCreate(TopMemoryContext,
													 "defender_fdw remote estimates",
													 ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(EstimateCacheContext);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(EstimateEntry);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = EstimateCacheContext;
	estimate_cache = hash_create("defender_fdw remote estimates", 32, &ctl,
								 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	return estimate_cache;
}

/*
 * plan_time_values
 *		The values of the filter's fdw_exprs as the planner can know them
 *		(constants, and now() and the like folded as for selectivity);
 *		false when one is not known before execution.
 */
static bool
plan_time_values(PlannerInfo *root, List *fdw_exprs, DefenderParamValues *params)
{
	int			n = list_length(fdw_exprs);
	ListCell   *lc;
	int			i = 0;

	params->count = n;
	params->values = palloc0(sizeof(Datum) * Max(n, 1));
	params->nulls = palloc0(sizeof(bool) * Max(n, 1));
	params->types = palloc0(sizeof(Oid) * Max(n, 1));
	params->placeholders = NULL;
	foreach(lc, fdw_exprs)
	{
		Node	   *value = estimate_expression_value(root, (Node *) lfirst(lc));

		if (!IsA(value, Const))
			return false;
		params->values[i] = ((Const *) value)->constvalue;
		params->nulls[i] = ((Const *) value)->constisnull;
		params->types[i] = ((Const *) value)->consttype;
		i++;
	}
	return true;
}

/*
 * defender_remote_estimate
 *		Graph's count of the rows of the table's list that pass conds (the
 *		RestrictInfos sent as its $filter), or -1 when there is none to be
 *		had at plan time.
 */
double
defender_remote_estimate(PlannerInfo *root, RelOptInfo *baserel,
						 DefenderRelInfo *fpinfo, List *conds)
{
	List	   *fdw_exprs = NIL;
	DefenderParamValues params;
	DefenderListRequest req;
	DefenderOptions *opts;
	StringInfoData url;
	StringInfoData display;
	Oid			userid;
	char	   *key;
	bool		found;
	EstimateEntry *entry;
	HTAB	   *cache;
	DefenderResponse *response;
	json_t	   *document;
	json_t	   *count;
	MemoryContext cxt;
	MemoryContext old;
	double		rows = -1;

	memset(&req, 0, sizeof(req));
	req.filter = defender_filter_tree(root, baserel, fpinfo, conds, &fdw_exprs);
	if (!plan_time_values(root, fdw_exprs, &params))
		return -1;
	req.count_only = true;
	req.select = list_make1(makeString("id"));

	/* the user the query will run as (a view's owner through a view) */
#if PG_VERSION_NUM >= 160000
	userid = OidIsValid(baserel->userid) ? baserel->userid : GetUserId();
#else
	{
		RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
#endif
	opts = defender_get_options(fpinfo->relid, InvalidOid, userid, true);

	initStringInfo(&url);
	appendStringInfoString(&url, opts->graph_url);
	if (defender_deparse_list(&url, true, opts, fpinfo->resource, &req, &params) == RENDER_FALSE)
		return 0;				/* no row can match */
	initStringInfo(&display);
	appendStringInfoString(&display, "GET ");
	defender_deparse_list(&display, false, opts, fpinfo->resource, &req, &params);

	key = psprintf("%u %u %s", userid, fpinfo->relid, url.data);
	cache = estimate_cache_table();
	entry = hash_search(cache, &key, HASH_FIND, NULL);
	if (entry != NULL &&
		!TimestampDifferenceExceeds(entry->fetched, GetCurrentTimestamp(),
									ESTIMATE_TTL_SECONDS * 1000))
	{
		elog(DEBUG1, "defender_fdw: remote estimate of %s: %.0f rows (cached)",
			 display.data, entry->rows);
		return entry->rows;
	}

	elog(DEBUG1, "defender_fdw: remote estimate: %s", display.data);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "defender_fdw remote estimate",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	response = defender_api_request(opts, opts->graph_url, "GET", url.data, display.data,
									NULL, DEFENDER_ALLOW_BAD_REQUEST);
	if (response->http.status == 200)
	{
		document = defender_response_object(response, DEFENDER_GRAPH_SERVICE,
											display.data, cxt);
		count = json_object_get(document, "@odata.count");
		if (json_is_integer(count) && json_integer_value(count) >= 0)
			rows = (double) json_integer_value(count);
	}
	defender_response_release(response);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	if (rows < 0)
		return -1;				/* a 400, or no count: the default estimate */

	/* the cache may have been emptied and made again: look once more */
	cache = estimate_cache_table();
	old = MemoryContextSwitchTo(EstimateCacheContext);
	key = pstrdup(key);
	MemoryContextSwitchTo(old);
	entry = hash_search(cache, &key, HASH_ENTER, &found);
	entry->rows = rows;
	entry->fetched = GetCurrentTimestamp();
	return rows;
}
