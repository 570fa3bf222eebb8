/*-------------------------------------------------------------------------
 *
 * column_cache.c
 *		  Each foreign table column's conversion set-up, kept per backend
 *		  from one scan to the next.
 *
 * Preparing a column (convert.c's defender_column_build) reads the
 * column's options, its type's input function, base type, element type
 * and category: a dozen catalog lookups per column.  A lookup by id (a
 * nested loop's inner scan, a prepared `WHERE id = $1`) begins a scan per
 * row, so on a 1,000-row join that set-up was about a tenth of the
 * backend's CPU.  Here it is done once per column and kept until the
 * catalogs say it may have changed: a relcache invalidation of the table
 * (ALTER FOREIGN TABLE of a column's type or options, or of the table's
 * options, DROP) forgets that table's columns, and any change to a type
 * (pg_type, e.g. ALTER DOMAIN or ALTER TYPE) forgets them all.
 *
 * What is not kept: the timestamp shortcut's check against the current
 * timezone_abbreviations, which convert.c's defender_column_check_shortcut
 * redoes for every scan, and anything a scan may scribble on (the input
 * function's fn_extra, the strings), which each scan gets its own copy of.
 *
 * Callers: the scan's set-up (foreign_scan.c) and UPDATE (modify.c),
 * through defender_column_init().
 *
 * src/scan/column_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "defender_scan.h"

/* What decides a column's set-up besides the catalogs */
typedef struct ColumnCacheKey
{
	Oid			relid;
	AttrNumber	attnum;
	const GraphResource *resource;	/* static catalog data: stable */
} ColumnCacheKey;

typedef struct ColumnCacheEntry
{
	ColumnCacheKey key;			/* hash key: must be first */
	bool		valid;
	DefenderColumn column;		/* its strings in column_cache_context */
} ColumnCacheEntry;

static HTAB *column_cache = NULL;
static MemoryContext column_cache_context = NULL;

static void column_cache_setup(void);
static void forget_relation(Datum arg, Oid relid);
static void forget_all(Datum arg, int cacheid, uint32 hashvalue);
static void free_column(DefenderColumn *col);

/*
 * defender_column_init
 *		Prepare the conversion of one column of a foreign table: a copy of
 *		the cached set-up, built from the catalogs the first time or after
 *		an invalidation.  The copy is the caller's, in the current memory
 *		context.
 */
void
defender_column_init(DefenderColumn *col, Relation rel, AttrNumber attnum,
					 const GraphResource *resource)
{
	ColumnCacheKey key;
	ColumnCacheEntry *entry;
	bool		found;

	column_cache_setup();
	memset(&key, 0, sizeof(key));
	key.relid = RelationGetRelid(rel);
	key.attnum = attnum;
	key.resource = resource;

	entry = hash_search(column_cache, &key, HASH_FIND, NULL);
	if (entry == NULL || !entry->valid)
	{
		DefenderColumn built;
		MemoryContext oldcxt;

		/*
		 * Built aside first, so that an error on the way leaves no half-made
		 * entry; an invalidation that arrives while building (a catalog read
		 * can accept invalidation messages) only concerns the entry stored
		 * after, which is read from the catalogs as they are now.
		 */
		oldcxt = MemoryContextSwitchTo(column_cache_context);
		defender_column_build(&built, rel, attnum, resource);
		MemoryContextSwitchTo(oldcxt);

		entry = hash_search(column_cache, &key, HASH_ENTER, &found);
		if (found && entry->valid)
			free_column(&built);	/* built twice: keep the first */
		else
		{
			if (found)
				free_column(&entry->column);
			entry->column = built;
			entry->valid = true;
		}
	}

	*col = entry->column;
	col->name = pstrdup(entry->column.name);
	col->property = entry->column.property ? pstrdup(entry->column.property) : NULL;
	fmgr_info_copy(&col->input, &entry->column.input, CurrentMemoryContext);
	defender_column_check_shortcut(col);
}

/*
 * column_cache_setup
 *		The hash table and its invalidation callbacks, on first use.
 */
static void
column_cache_setup(void)
{
	HASHCTL		ctl;

	if (column_cache != NULL)
		return;
	column_cache_context = AllocSetContextCreate(CacheMemoryContext,
												 "defender_fdw column set-up",
												 ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ColumnCacheKey);
	ctl.entrysize = sizeof(ColumnCacheEntry);
	ctl.hcxt = column_cache_context;
	column_cache = hash_create("defender_fdw column set-up", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(forget_relation, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, forget_all, (Datum) 0);
}

/*
 * forget_relation
 *		Relcache invalidation: the table's columns (every table's when relid
 *		is InvalidOid) are read from the catalogs again on next use.  Only
 *		marked here; an invalidation callback must not fail.
 */
static void
forget_relation(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	ColumnCacheEntry *entry;

	(void) arg;
	hash_seq_init(&status, column_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || entry->key.relid == relid)
			entry->valid = false;
}

/* Syscache invalidation of pg_type: every column is read again. */
static void
forget_all(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) cacheid;
	(void) hashvalue;
	forget_relation(arg, InvalidOid);
}

/* The strings of a cached set-up that is replaced. */
static void
free_column(DefenderColumn *col)
{
	if (col->name)
		pfree(col->name);
	if (col->property)
		pfree(col->property);
	col->name = col->property = NULL;
}
