/*-------------------------------------------------------------------------
 *
 * graph_catalog.c
 *		  The Graph resources defender_fdw exposes and their properties.
 *
 * A static description of each collection: its path, the largest page
 * Graph accepts, and every property with the column type it maps to and
 * whether Graph documents $filter support for it.  Column-to-property
 * matching lives here too: without a "property" option, a column matches
 * the property whose name equals it ignoring case and underscores, so
 * created_date_time finds createdDateTime.
 *
 * Source: the v1.0 incident resource (see ../shared/reference/graph-api.md,
 * section 2.1, and the CSDL beside it).
 *
 * src/graph_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "defender_fdw.h"

static const GraphProperty incident_properties[] = {
	{"id", "text", false},
	{"tenantId", "text", false},
	{"displayName", "text", false},
	{"description", "text", false},
	{"summary", "text", false},
	{"status", "text", true},
	{"severity", "text", true},
	{"classification", "text", true},
	{"determination", "text", true},
	{"assignedTo", "text", true},
	{"createdDateTime", "timestamptz", true},
	{"lastUpdateDateTime", "timestamptz", true},
	{"lastModifiedBy", "text", false},
	{"customTags", "text[]", false},
	{"systemTags", "text[]", false},
	{"comments", "jsonb", false},
	{"incidentWebUrl", "text", false},
	{"redirectIncidentId", "text", false},
	{"resolvingComment", "text", false},
	{"priorityScore", "integer", false},
	{"alerts", "jsonb", false},
	{NULL, NULL, false}
};

static const GraphResource graph_resources[] = {
	{"incidents", "security/incidents", 50, incident_properties},
	{NULL, NULL, 0, NULL}
};

/*
 * graph_find_resource
 *		The resource named by a table's "resource" option, or NULL.
 */
const GraphResource *
graph_find_resource(const char *name)
{
	const GraphResource *res;

	for (res = graph_resources; res->name; res++)
		if (strcmp(res->name, name) == 0)
			return res;
	return NULL;
}

/* The valid "resource" values, for hints. */
const char *
graph_resource_names(void)
{
	return "incidents";
}

/*
 * graph_normalize_name
 *		Lower-case name without underscores: the key columns match by.
 */
void
graph_normalize_name(const char *name, char *out, size_t outsize)
{
	size_t		n = 0;

	for (; *name && n + 1 < outsize; name++)
	{
		if (*name == '_')
			continue;
		out[n++] = (char) tolower((unsigned char) *name);
	}
	out[n] = '\0';
}

/*
 * graph_match_property
 *		The resource's property a column name refers to, or NULL.
 */
const GraphProperty *
graph_match_property(const GraphResource *resource, const char *column_name)
{
	char		want[NAMEDATALEN];
	char		have[NAMEDATALEN];
	const GraphProperty *prop;

	graph_normalize_name(column_name, want, sizeof(want));
	for (prop = resource->properties; prop->name; prop++)
	{
		graph_normalize_name(prop->name, have, sizeof(have));
		if (strcmp(want, have) == 0)
			return prop;
	}
	return NULL;
}
