/*-------------------------------------------------------------------------
 *
 * hunting_catalog.c
 *		  The advanced-hunting tables and their columns, from the shipped
 *		  schema file.
 *
 * defender_fdw_hunting_schema.txt (installed in SHAREDIR/extension) holds
 * one line per documented advanced-hunting table, "Table(Col:type, ...)",
 * transcribed from Microsoft's published schema reference.  It is read once
 * per backend, when first needed: by IMPORT FOREIGN SCHEMA hunting, and by
 * the planner to find the KQL name and type of a column that has no
 * "property" option.
 *
 * src/catalog/hunting_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "defender_catalog.h"

static List *hunting_tables = NIL;	/* of HuntingTable, in TopMemoryContext */
static bool loaded = false;

static void load_catalog(void);
static HuntingTable *find_loaded(const char *name, bool ignore_case);

/* Trim blanks at both ends, in place. */
static char *
trim(char *s)
{
	char	   *end;

	while (isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	return s;
}

/* Parse "Table(Col:type, Col:type)" into a HuntingTable, or NULL. */
static HuntingTable *
parse_line(char *line)
{
	char	   *open = strchr(line, '(');
	char	   *close = strrchr(line, ')');
	HuntingTable *table;
	char	   *item;
	char	   *saveptr;
	List	   *columns = NIL;
	ListCell   *lc;
	int			i;

	if (open == NULL || close == NULL || close < open)
		return NULL;
	*open = '\0';
	*close = '\0';
	table = palloc0(sizeof(HuntingTable));
	table->name = pstrdup(trim(line));
	for (item = strtok_r(open + 1, ",", &saveptr); item; item = strtok_r(NULL, ",", &saveptr))
	{
		char	   *colon = strchr(item, ':');
		HuntingColumn *col;

		if (colon == NULL)
			continue;
		*colon = '\0';
		col = palloc0(sizeof(HuntingColumn));
		col->name = pstrdup(trim(item));
		col->kql_type = pstrdup(trim(colon + 1));
		columns = lappend(columns, col);
	}
	table->ncolumns = list_length(columns);
	table->columns = palloc(sizeof(HuntingColumn) * Max(table->ncolumns, 1));
	i = 0;
	foreach(lc, columns)
		table->columns[i++] = *(HuntingColumn *) lfirst(lc);
	return table;
}

static void
load_catalog(void)
{
	char		sharepath[MAXPGPATH];
	char	   *path;
	FILE	   *file;
	char		line[65536];
	MemoryContext old;

	if (loaded)
		return;
	get_share_path(my_exec_path, sharepath);
	path = psprintf("%s/extension/defender_fdw_hunting_schema.txt", sharepath);
	file = AllocateFile(path, "r");
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the advanced hunting schema \"%s\": %m", path),
				 errhint("Reinstall defender_fdw (make install).")));
	old = MemoryContextSwitchTo(TopMemoryContext);
	while (fgets(line, sizeof(line), file) != NULL)
	{
		char	   *text = trim(line);
		HuntingTable *table;

		if (text[0] == '\0' || strncmp(text, "//", 2) == 0)
			continue;
		table = parse_line(text);
		/* the reference lists a table twice under two spellings: keep the first */
		if (table && find_loaded(table->name, true) == NULL)
			hunting_tables = lappend(hunting_tables, table);
	}
	MemoryContextSwitchTo(old);
	FreeFile(file);
	loaded = true;
}

/*
 * hunting_find_table
 *		The documented table with this name (exactly, then ignoring case).
 */
const HuntingTable *
hunting_find_table(const char *name)
{
	HuntingTable *table;

	load_catalog();
	table = find_loaded(name, false);
	return table ? table : find_loaded(name, true);
}

static HuntingTable *
find_loaded(const char *name, bool ignore_case)
{
	ListCell   *lc;

	foreach(lc, hunting_tables)
	{
		HuntingTable *table = (HuntingTable *) lfirst(lc);

		if (ignore_case ? pg_strcasecmp(table->name, name) == 0 :
			strcmp(table->name, name) == 0)
			return table;
	}
	return NULL;
}

/* Every documented table, in the file's order. */
List *
hunting_all_tables(void)
{
	load_catalog();
	return hunting_tables;
}

/*
 * hunting_find_column
 *		The table's column a PostgreSQL column name refers to: the same name
 *		ignoring case and underscores (device_name is DeviceName).
 */
const HuntingColumn *
hunting_find_column(const HuntingTable *table, const char *column_name)
{
	char		want[NAMEDATALEN];
	char		have[NAMEDATALEN];
	int			i;

	if (table == NULL)
		return NULL;
	graph_normalize_name(column_name, want, sizeof(want));
	for (i = 0; i < table->ncolumns; i++)
	{
		graph_normalize_name(table->columns[i].name, have, sizeof(have));
		if (strcmp(want, have) == 0)
			return &table->columns[i];
	}
	return NULL;
}

/*
 * hunting_pg_type
 *		The column type IMPORT FOREIGN SCHEMA gives a KQL type.
 */
const char *
hunting_pg_type(const char *kql_type)
{
	if (strcmp(kql_type, "datetime") == 0)
		return "timestamptz";
	if (strcmp(kql_type, "long") == 0)
		return "bigint";
	if (strcmp(kql_type, "int") == 0)
		return "integer";
	if (strcmp(kql_type, "bool") == 0 || strcmp(kql_type, "boolean") == 0)
		return "boolean";
	if (strcmp(kql_type, "real") == 0 || strcmp(kql_type, "double") == 0)
		return "double precision";
	if (strcmp(kql_type, "dynamic") == 0)
		return "jsonb";
	if (strcmp(kql_type, "timespan") == 0)
		return "interval";
	if (strcmp(kql_type, "guid") == 0)
		return "uuid";
	if (strcmp(kql_type, "decimal") == 0)
		return "numeric";
	return "text";
}
