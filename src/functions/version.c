/*-------------------------------------------------------------------------
 *
 * version.c
 *		  Which version of defender_fdw is loaded, and which is installed.
 *
 * The shared library and the extension's SQL objects are upgraded apart:
 * a package upgrade replaces defender_fdw.so at once, while every
 * database keeps the SQL objects of the version it was created or last
 * updated at until ALTER EXTENSION defender_fdw UPDATE runs in it.  So
 * the library must keep working through the definitions of every version
 * it can be upgraded from (1.0 onwards): no C entry point may change its
 * arguments, and none may rely on an SQL object newer than 1.0 without
 * checking the installed version first and telling the user to run
 * ALTER EXTENSION defender_fdw UPDATE.  Version 1.1 adds only
 * defender_fdw_version() itself, which a 1.0 database has no way to call,
 * and 1.2 only defender_hunt_split() and defender_hunt_split_jsonb(), new
 * entry points that older databases do not declare; so no such check is
 * needed yet.
 *
 * defender_fdw_version() shows both versions side by side, to diagnose a
 * database whose SQL objects are older than the library.
 *
 * src/functions/version.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "defender_fdw.h"

PG_FUNCTION_INFO_V1(defender_fdw_version);

static char *installed_version(void);

/*
 * installed_version
 *		The version of defender_fdw installed in the current database
 *		(pg_extension.extversion), palloc'd, or NULL when it is not
 *		installed.
 */
static char *
installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("defender_fdw"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		datum = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(datum));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * defender_fdw_version
 *		The loaded library's version and the version of the extension's SQL
 *		objects in this database (NULL when the extension is not installed).
 */
Datum
defender_fdw_version(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *installed = installed_version();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = CStringGetTextDatum(DEFENDER_FDW_VERSION);
	if (installed)
		values[1] = CStringGetTextDatum(installed);
	else
		nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
