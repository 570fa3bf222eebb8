/*-------------------------------------------------------------------------
 *
 * import.c
 *		  IMPORT FOREIGN SCHEMA: foreign tables for Graph's resources.
 *
 * IMPORT FOREIGN SCHEMA graph FROM SERVER s INTO local_schema creates one
 * foreign table per resource (incidents, alerts) with every property as a
 * snake_case column carrying the exact "property" option, so that a later
 * rename of the column keeps working.  LIMIT TO and EXCEPT name the
 * resources.  The statements name the server and the resource, nothing
 * else: no option of the server or user mapping, so no secret, is ever
 * copied into them.
 *
 * src/import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "defender_fdw.h"

/* createdDateTime -> created_date_time; id -> id */
static char *
snake_case(const char *name)
{
	StringInfoData buf;
	const char *p;

	initStringInfo(&buf);
	for (p = name; *p; p++)
	{
		if (isupper((unsigned char) *p))
		{
			if (p != name && !isupper((unsigned char) p[-1]))
				appendStringInfoChar(&buf, '_');
			appendStringInfoChar(&buf, (char) tolower((unsigned char) *p));
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/* Is the resource selected by LIMIT TO / EXCEPT? */
static bool
selected(ImportForeignSchemaStmt *stmt, const char *name)
{
	ListCell   *lc;
	bool		listed = false;

	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);

		if (strcmp(rv->relname, name) == 0)
			listed = true;
	}
	switch (stmt->list_type)
	{
		case FDW_IMPORT_SCHEMA_LIMIT_TO:
			return listed;
		case FDW_IMPORT_SCHEMA_EXCEPT:
			return !listed;
		default:
			return true;
	}
}

/*
 * defender_import_schema
 *		The CREATE FOREIGN TABLE statements for a remote schema.
 */
List *
defender_import_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *commands = NIL;
	int			i;

	if (strcmp(stmt->remote_schema, "graph") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("remote schema \"%s\" does not exist", stmt->remote_schema),
				 errhint("defender_fdw offers the remote schema \"graph\" (incidents, alerts).")));

	for (i = 0; graph_resource_at(i) != NULL; i++)
	{
		const GraphResource *res = graph_resource_at(i);
		const GraphProperty *prop;
		StringInfoData buf;

		if (!selected(stmt, res->name))
			continue;
		initStringInfo(&buf);
		appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n",
						 quote_identifier(res->name));
		for (prop = res->properties; prop->name; prop++)
			appendStringInfo(&buf, "  %s %s OPTIONS (property %s)%s\n",
							 quote_identifier(snake_case(prop->name)), prop->pgtype,
							 quote_literal_cstr(prop->name),
							 prop[1].name ? "," : "");
		appendStringInfo(&buf, ") SERVER %s OPTIONS (resource %s)",
						 quote_identifier(server->servername),
						 quote_literal_cstr(res->name));
		commands = lappend(commands, buf.data);
	}
	return commands;
}
