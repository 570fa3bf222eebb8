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
 * Only defender_fdw.c's ImportForeignSchema callback calls this folder; it
 * reads the catalog and the options, and sends through src/remote/.
 *
 * src/import/import.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "commands/defrem.h"
#include "miscadmin.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"
#include "pg_jansson.h"

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
			/* a word starts after a lower-case letter or digit, or at the
			 * last capital of an acronym (AADSignIn: aad_sign_in) */
			if (p != name &&
				(!isupper((unsigned char) p[-1]) ||
				 (p[1] != '\0' && islower((unsigned char) p[1]))) &&
				p[-1] != '_')
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

		/* unquoted names arrive folded to lower case */
		if (pg_strcasecmp(rv->relname, name) == 0)
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
 * live_schema
 *		The table's columns as the tenant has them today: "T | getschema".
 *
 * Uses the importing user's user mapping; costs one hunting call.
 */
static HuntingTable *
live_schema(ForeignServer *server, const char *name)
{
	DefenderOptions *opts = defender_get_options(InvalidOid, server->serverid,
												 GetUserId(), true);
	StringInfoData kql;
	char	   *display;
	char	   *url = defender_resource_url(opts, "hunting", "POST", &display);
	DefenderResponse *response;
	json_t	   *doc;
	json_t	   *rows;
	HuntingTable *table = palloc0(sizeof(HuntingTable));
	size_t		i;

	initStringInfo(&kql);
	defender_append_kql_name(&kql, name);
	appendStringInfoString(&kql, " | getschema");
	response = defender_api_request(opts, opts->graph_url, "POST", url, display,
									defender_hunting_request_body(kql.data, NULL), 0);
	doc = json_loadb(response->http.body, response->http.body_len, 0, NULL);
	defender_response_release(response);
	rows = doc ? json_object_get(doc, "results") : NULL;
	if (!json_is_array(rows))
	{
		json_decref(doc);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("the getschema answer for \"%s\" has no results", name),
				 errcontext("remote request: %s", display)));
	}
	table->name = pstrdup(name);
	table->ncolumns = (int) json_array_size(rows);
	table->columns = palloc0(sizeof(HuntingColumn) * Max(table->ncolumns, 1));
	for (i = 0; i < json_array_size(rows); i++)
	{
		json_t	   *row = json_array_get(rows, i);
		const char *col = json_string_value(json_object_get(row, "ColumnName"));
		const char *type = json_string_value(json_object_get(row, "ColumnType"));

		table->columns[i].name = pstrdup(col ? col : "");
		table->columns[i].kql_type = pstrdup(type ? type : "string");
	}
	json_decref(doc);
	return table;
}

/*
 * import_hunting
 *		One foreign table per documented advanced-hunting table, named in
 *		snake_case (device_process_events), from the shipped schema.
 *		LIMIT TO and EXCEPT name the local (snake_case) tables, as
 *		PostgreSQL checks the created names against them.
 */
static List *
import_hunting(ImportForeignSchemaStmt *stmt, ForeignServer *server)
{
	List	   *commands = NIL;
	ListCell   *lc;
	bool		live = false;

	foreach(lc, stmt->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "live") == 0)
			live = defGetBoolean(def);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid IMPORT FOREIGN SCHEMA option \"%s\"", def->defname),
					 errhint("The valid option is \"live\" (boolean).")));
	}
	if (live && stmt->list_type != FDW_IMPORT_SCHEMA_LIMIT_TO)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("IMPORT FOREIGN SCHEMA hunting with live 'true' needs LIMIT TO"),
				 errhint("Each table named costs one advanced hunting call: IMPORT FOREIGN SCHEMA hunting LIMIT TO (device_process_events) FROM SERVER ... OPTIONS (live 'true').")));

	foreach(lc, hunting_all_tables())
	{
		HuntingTable *table = (HuntingTable *) lfirst(lc);
		char	   *local = snake_case(table->name);
		StringInfoData buf;
		int			i;

		if (!selected(stmt, local))
			continue;
		if (live)
			table = live_schema(server, table->name);
		initStringInfo(&buf);
		appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n", quote_identifier(local));
		for (i = 0; i < table->ncolumns; i++)
			appendStringInfo(&buf, "  %s %s OPTIONS (property %s)%s\n",
							 quote_identifier(snake_case(table->columns[i].name)),
							 hunting_pg_type(table->columns[i].kql_type),
							 quote_literal_cstr(table->columns[i].name),
							 i + 1 < table->ncolumns ? "," : "");
		appendStringInfo(&buf, ") SERVER %s OPTIONS (resource 'hunting', table %s)",
						 quote_identifier(server->servername),
						 quote_literal_cstr(table->name));
		commands = lappend(commands, buf.data);
	}
	return commands;
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

	if (strcmp(stmt->remote_schema, "hunting") == 0)
		return import_hunting(stmt, server);
	if (strcmp(stmt->remote_schema, "graph") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("remote schema \"%s\" does not exist", stmt->remote_schema),
				 errhint("defender_fdw offers the remote schemas \"graph\" (incidents, alerts) and \"hunting\" (the advanced hunting tables).")));

	for (i = 0; graph_resource_at(i) != NULL; i++)
	{
		const GraphResource *res = graph_resource_at(i);
		const GraphProperty *prop;
		StringInfoData buf;

		if (res->max_page_size == 0 || !selected(stmt, res->name))
			continue;			/* hunting tables come from IMPORT ... hunting */
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
