/*-------------------------------------------------------------------------
 *
 * defender_catalog.h
 *		  What defender_fdw knows of the services before it sends anything.
 *
 * The Graph resources, their properties and page sizes (graph_catalog.c)
 * and the advanced-hunting schema shipped with the extension
 * (hunting_catalog.c).  Any PostgreSQL-side layer may call it; it calls
 * nothing of defender_fdw's.
 *
 * src/catalog/defender_catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_CATALOG_H
#define DEFENDER_CATALOG_H

#include "nodes/pg_list.h"

/* graph_catalog.c */

/* How a property compares in $filter, which decides what may be pushed. */
typedef enum GraphPropertyKind
{
	GRAPH_OTHER,				/* not filterable */
	GRAPH_STRING,				/* free text: Graph compares ignoring case */
	GRAPH_ENUM,					/* closed set of camelCase members */
	GRAPH_DATETIME				/* DateTimeOffset, 7 fraction digits */
} GraphPropertyKind;

typedef struct GraphProperty
{
	const char *name;			/* Graph's JSON name, e.g. createdDateTime */
	const char *pgtype;			/* column type IMPORT FOREIGN SCHEMA uses */
	GraphPropertyKind kind;		/* GRAPH_OTHER unless $filter supports it */
	bool		nullable;		/* may be null in a response */
	bool		sortable;		/* $orderby accepts it */
	const char *const *members; /* GRAPH_ENUM: NULL-terminated members */
} GraphProperty;

typedef struct GraphResource
{
	const char *name;			/* the resource option, e.g. incidents */
	const char *path;			/* below /{api_version}/ */
	int			max_page_size;	/* largest $top Graph accepts */
	int			default_page_size;	/* $top when page_size is not set */
	int			confirmed_page_size;	/* largest $top known to work */
	const GraphProperty *properties;	/* terminated by a NULL name */
} GraphResource;

/* The Defender for Endpoint API's alerts, below mde_url */
#define MDE_ALERTS_PATH		"api/alerts"

extern const GraphResource *graph_find_resource(const char *name);
extern const GraphResource *graph_resource_at(int index);
extern const char *graph_resource_names(void);
extern int	graph_page_size(const GraphResource *resource, int page_size_option);
extern int	graph_page_limit_in_message(const char *message);
extern bool graph_learn_page_limit(const GraphResource *resource, int limit);
extern const GraphProperty *graph_find_property(const GraphResource *resource,
												const char *name);
extern bool graph_is_enum_member(const GraphProperty *prop, const char *value);
extern const char *graph_enum_member(const char *const *members, const char *value);
extern char *graph_enum_member_list(const char *const *members);
extern const char *graph_write_value(const GraphResource *resource, const char *property,
									 const char *value, const char *where);
extern bool graph_property_writable(const GraphResource *resource, const char *name);
extern const char *graph_writable_names(const GraphResource *resource);
extern const GraphProperty *graph_match_property(const GraphResource *resource,
												 const char *column_name);
extern void graph_normalize_name(const char *name, char *out, size_t outsize);
extern bool graph_name_matches(const char *want, const char *name);

/* hunting_catalog.c */
typedef struct HuntingColumn
{
	char	   *name;			/* KQL name, e.g. DeviceName */
	char	   *kql_type;		/* string, long, datetime, dynamic ... */
} HuntingColumn;

typedef struct HuntingTable
{
	char	   *name;			/* e.g. DeviceProcessEvents */
	int			ncolumns;
	HuntingColumn *columns;
} HuntingTable;

extern const HuntingTable *hunting_find_table(const char *name);
extern List *hunting_all_tables(void);
extern const HuntingColumn *hunting_find_column(const HuntingTable *table,
												const char *column_name);
extern const char *hunting_pg_type(const char *kql_type);

#endif							/* DEFENDER_CATALOG_H */
