/*-------------------------------------------------------------------------
 *
 * graph_catalog.c
 *		  The Graph resources defender_fdw exposes and their properties.
 *
 * A static description of each collection: its path, page sizes, and every
 * v1.0 property with the column type it maps to, whether Graph documents
 * $filter and $orderby support for it, whether it can be null, and for
 * enumerations their members, which the pushdown rules need (see
 * shippable.c).  Column-to-property matching lives here too: without a
 * "property" option, a column matches the property whose name equals it
 * ignoring case and underscores, so created_date_time finds createdDateTime.
 *
 * Sources: the v1.0 CSDL of microsoft.graph.security (incident, alert and
 * their enumerations) and the list pages' filter documentation, see
 * ../shared/reference/graph-api.md sections 2, 3 and 8.
 *
 * src/catalog/graph_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "lib/stringinfo.h"

#include "defender_catalog.h"

static const char *const incident_status_members[] = {
	"active", "resolved", "inProgress", "redirected", "unknownFutureValue",
	"awaitingAction", NULL
};
static const char *const alert_status_members[] = {
	"unknown", "new", "inProgress", "resolved", "unknownFutureValue", NULL
};
static const char *const severity_members[] = {
	"unknown", "informational", "low", "medium", "high", "unknownFutureValue", NULL
};
static const char *const classification_members[] = {
	"unknown", "falsePositive", "truePositive", "informationalExpectedActivity",
	"unknownFutureValue", NULL
};
static const char *const determination_members[] = {
	"unknown", "apt", "malware", "securityPersonnel", "securityTesting",
	"unwantedSoftware", "other", "multiStagedAttack", "compromisedAccount",
	"phishing", "maliciousUserActivity", "notMalicious", "notEnoughDataToValidate",
	"confirmedActivity", "lineOfBusinessApplication", "unknownFutureValue", NULL
};
static const char *const service_source_members[] = {
	"unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
	"microsoftDefenderForCloudApps", "microsoftDefenderForOffice365",
	"microsoft365Defender", "azureAdIdentityProtection", "microsoftAppGovernance",
	"dataLossPrevention", "unknownFutureValue", "microsoftDefenderForCloud",
	"microsoftSentinel", "microsoftInsiderRiskManagement",
	"microsoftThreatIntelligence", "microsoftSecurityForAI", NULL
};

/* Shorthands for the property tables. */
#define TEXT(n)			{n, "text", GRAPH_OTHER, true, false, NULL}
#define JSONB(n)		{n, "jsonb", GRAPH_OTHER, true, false, NULL}
#define TEXTS(n)		{n, "text[]", GRAPH_OTHER, true, false, NULL}
#define TIME(n)			{n, "timestamptz", GRAPH_OTHER, true, false, NULL}
#define FILTER_TIME(n)	{n, "timestamptz", GRAPH_DATETIME, false, true, NULL}
#define ENUM(n, m, null) {n, "text", GRAPH_ENUM, null, false, m}

static const GraphProperty incident_properties[] = {
	TEXT("id"),
	TEXT("tenantId"),
	TEXT("displayName"),
	TEXT("description"),
	TEXT("summary"),
	ENUM("status", incident_status_members, false),
	ENUM("severity", severity_members, false),
	ENUM("classification", classification_members, true),
	ENUM("determination", determination_members, true),
	{"assignedTo", "text", GRAPH_STRING, true, false, NULL},
	FILTER_TIME("createdDateTime"),
	FILTER_TIME("lastUpdateDateTime"),
	TEXT("lastModifiedBy"),
	TEXTS("customTags"),
	TEXTS("systemTags"),
	JSONB("comments"),
	TEXT("incidentWebUrl"),
	TEXT("redirectIncidentId"),
	TEXT("resolvingComment"),
	{"priorityScore", "integer", GRAPH_OTHER, true, false, NULL},
	JSONB("alerts"),
	{NULL}
};

static const GraphProperty alert_properties[] = {
	TEXT("id"),
	TEXT("providerAlertId"),
	TEXT("incidentId"),
	TEXT("tenantId"),
	TEXT("title"),
	TEXT("description"),
	ENUM("status", alert_status_members, false),
	ENUM("severity", severity_members, false),
	ENUM("classification", classification_members, true),
	ENUM("determination", determination_members, true),
	ENUM("serviceSource", service_source_members, false),
	TEXT("detectionSource"),
	{"assignedTo", "text", GRAPH_STRING, true, false, NULL},
	FILTER_TIME("createdDateTime"),
	FILTER_TIME("lastUpdateDateTime"),
	TIME("firstActivityDateTime"),
	TIME("lastActivityDateTime"),
	TIME("resolvedDateTime"),
	TEXT("category"),
	TEXTS("categories"),
	TEXT("actorDisplayName"),
	TEXT("alertPolicyId"),
	TEXT("alertWebUrl"),
	TEXT("incidentWebUrl"),
	TEXT("detectorId"),
	TEXT("investigationState"),
	TEXTS("mitreTechniques"),
	TEXT("productName"),
	TEXT("recommendedActions"),
	TEXTS("systemTags"),
	TEXT("threatDisplayName"),
	TEXT("threatFamilyName"),
	JSONB("evidence"),
	JSONB("comments"),
	JSONB("additionalData"),
	JSONB("customDetails"),
	{NULL}
};

/*
 * alerts_v2 takes $top above 50: 100 is seen working in production, and
 * Graph's legacy alert API documents 1000.  Pages of 1000 are asked for;
 * should the service announce a lower cap, the scan learns it and asks
 * again (graph_learn_page_limit).
 */
/* advanced hunting: columns come from the query's result, not a fixed list */
static const GraphProperty hunting_properties[] = {
	{NULL}
};

static const GraphResource graph_resources[] = {
	{"incidents", "security/incidents", 50, 50, 50, incident_properties},
	{"alerts", "security/alerts_v2", 1000, 1000, 100, alert_properties},
	{"hunting", "security/runHuntingQuery", 0, 0, 0, hunting_properties},
	{NULL}
};

/*
 * The $top cap Graph announced for each resource in this backend, 0 while
 * none was (see graph_learn_page_limit).
 */
static int	learned_page_limit[lengthof(graph_resources)];

/*
 * graph_page_size
 *		$top of a list's pages: the table's page_size option if set, else the
 *		resource's default, lowered to any cap Graph has announced.
 */
int
graph_page_size(const GraphResource *resource, int page_size_option)
{
	int			limit = learned_page_limit[resource - graph_resources];

	if (page_size_option > 0)
		return page_size_option;
	if (limit > 0 && limit < resource->default_page_size)
		return limit;
	return resource->default_page_size;
}

/*
 * graph_page_limit_in_message
 *		The cap in Graph's answer to a $top above it ("The limit of '50' for
 *		Top query has been exceeded. ..."), or 0 for any other message.
 */
int
graph_page_limit_in_message(const char *message)
{
	const char *p = message ? strstr(message, "The limit of '") : NULL;
	long		limit;
	char	   *end;

	if (p == NULL || strstr(p, "for Top query has been exceeded") == NULL)
		return 0;
	limit = strtol(p + strlen("The limit of '"), &end, 10);
	if (*end != '\'' || limit < 1 || limit > INT_MAX)
		return 0;
	return (int) limit;
}

/*
 * graph_learn_page_limit
 *		Remember that Graph caps the resource's $top at limit; true when that
 *		lowers the default page size (so asking again can succeed).
 */
bool
graph_learn_page_limit(const GraphResource *resource, int limit)
{
	int		   *learned = &learned_page_limit[resource - graph_resources];

	if (limit < 1 || limit >= graph_page_size(resource, 0))
		return false;
	*learned = limit;
	return true;
}

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

/* The index-th resource, or NULL past the end (for IMPORT FOREIGN SCHEMA). */
const GraphResource *
graph_resource_at(int index)
{
	if (index < 0 || index >= lengthof(graph_resources) - 1)
		return NULL;
	return &graph_resources[index];
}

/* The valid "resource" values, for hints. */
const char *
graph_resource_names(void)
{
	return "incidents, alerts, hunting";
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
 * graph_name_matches
 *		Does name, normalized, equal the already normalized want?  Compares
 *		as it goes, so most names are rejected at their first letter.
 */
bool
graph_name_matches(const char *want, const char *name)
{
	for (; *name; name++)
	{
		if (*name == '_')
			continue;
		if (*want++ != (char) tolower((unsigned char) *name))
			return false;
	}
	return *want == '\0';
}

/*
 * graph_match_property
 *		The resource's property a column name refers to, or NULL.
 */
const GraphProperty *
graph_match_property(const GraphResource *resource, const char *column_name)
{
	char		want[NAMEDATALEN];
	const GraphProperty *prop;

	graph_normalize_name(column_name, want, sizeof(want));
	for (prop = resource->properties; prop->name; prop++)
	{
		if (graph_name_matches(want, prop->name))
			return prop;
	}
	return NULL;
}

/*
 * graph_find_property
 *		The property with exactly this JSON name, or NULL.
 */
const GraphProperty *
graph_find_property(const GraphResource *resource, const char *name)
{
	const GraphProperty *prop;

	for (prop = resource->properties; prop->name; prop++)
		if (strcmp(prop->name, name) == 0)
			return prop;
	return NULL;
}

/*
 * graph_is_enum_member
 *		Is value exactly (case included) one of the enumeration's members?
 */
bool
graph_is_enum_member(const GraphProperty *prop, const char *value)
{
	const char *const *m;

	for (m = prop->members; m && *m; m++)
		if (strcmp(*m, value) == 0)
			return true;
	return false;
}

/*
 * graph_enum_member
 *		The member value stands for, ignoring case, or NULL when it is none.
 *
 * Graph compares enumeration values ignoring case, and Microsoft's own
 * documented responses spell some in PascalCase ("Active", "TruePositive")
 * where v1.0's schema has camelCase members.  Every value read from Graph
 * is put in the schema's spelling with this, so a row always satisfies the
 * clause that fetched it; a value that is no member passes unchanged.
 */
const char *
graph_enum_member(const char *const *members, const char *value)
{
	const char *const *m;

	for (m = members; m && *m; m++)
		if (pg_strcasecmp(*m, value) == 0)
			return *m;
	return NULL;
}

/* The members as "a, b, c", for messages. */
char *
graph_enum_member_list(const char *const *members)
{
	StringInfoData list;
	const char *const *m;

	initStringInfo(&list);
	for (m = members; m && *m; m++)
		appendStringInfo(&list, "%s%s", m == members ? "" : ", ", *m);
	return list.data;
}

/*
 * The values a client may write, per enumeration property (graph-api.md
 * 2.1, 2.5, 3.1).  An incident's status may be active, inProgress, resolved
 * or redirected: the update page documents active/resolved/redirected, but
 * inProgress is a member of the same enumeration that the portal sets;
 * unknownFutureValue and awaitingAction (Defender Experts only) are
 * refused.  determination is not checked against a list: the Graph pages
 * disagree on it, so the spellings they use are mapped to the v1.0 member
 * and anything else is left for Graph to judge (graph-api.md 2.2).
 */
static const char *const incident_status_writable[] = {
	"active", "inProgress", "resolved", "redirected", NULL
};
static const char *const alert_status_writable[] = {
	"new", "inProgress", "resolved", NULL
};
static const char *const severity_writable[] = {
	"unknown", "informational", "low", "medium", "high", NULL
};
static const char *const classification_writable[] = {
	"unknown", "falsePositive", "truePositive", "informationalExpectedActivity", NULL
};
static const char *const determination_aliases[][2] = {
	{"compromisedUser", "compromisedAccount"},
	{"clean", "notMalicious"},
	{"insufficientData", "notEnoughDataToValidate"},
	{"confirmedUserActivity", "confirmedActivity"},
	{NULL, NULL}
};

/*
 * graph_write_value
 *		The value to send when a write sets property of resource to value:
 *		an enumeration's member in Graph's spelling (compared ignoring case),
 *		or an ERROR listing the members a client may write, before anything
 *		is sent.  Properties that are no enumeration keep their value.
 *		where names the write for the message ("defender_update_incident()",
 *		"UPDATE of foreign table \"incidents\"").
 *
 * One check for every write: UPDATE on the foreign tables and the
 * defender_update_* functions.
 */
const char *
graph_write_value(const GraphResource *resource, const char *property,
				  const char *value, const char *where)
{
	const char *const *members = NULL;
	const char *what = property;
	const char *member;
	int			i;

	if (strcmp(property, "status") == 0)
	{
		bool		incident = strcmp(resource->name, "incidents") == 0;

		members = incident ? incident_status_writable : alert_status_writable;
		what = incident ? "incident status" : "alert status";
	}
	else if (strcmp(property, "severity") == 0)
		members = severity_writable;
	else if (strcmp(property, "classification") == 0)
		members = classification_writable;
	else if (strcmp(property, "determination") == 0)
	{
		const GraphProperty *prop = graph_find_property(resource, property);

		for (i = 0; determination_aliases[i][0]; i++)
			if (pg_strcasecmp(value, determination_aliases[i][0]) == 0)
				return determination_aliases[i][1];
		member = prop ? graph_enum_member(prop->members, value) : NULL;
		return member && strcmp(member, "unknownFutureValue") != 0 ? member : value;
	}
	else
		return value;

	member = graph_enum_member(members, value);
	if (member)
		return member;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\" for %s", what, value, where),
			 errdetail("Valid values (compared ignoring case): %s.",
					   graph_enum_member_list(members))));
	return NULL;				/* keep the compiler quiet */
}

/*
 * graph_property_writable
 *		Does PATCH accept the property?  (The update pages of incidents and
 *		alerts_v2; reference section 2.5 and 3.1.)
 */
bool
graph_property_writable(const GraphResource *resource, const char *name)
{
	static const char *const incident_writable[] = {
		"assignedTo", "classification", "customTags", "description", "determination",
		"displayName", "resolvingComment", "severity", "status", "summary", NULL
	};
	static const char *const alert_writable[] = {
		"assignedTo", "classification", "determination", "status", NULL
	};
	const char *const *list;

	if (strcmp(resource->name, "incidents") == 0)
		list = incident_writable;
	else if (strcmp(resource->name, "alerts") == 0)
		list = alert_writable;
	else
		return false;
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

/* The writable properties, for messages. */
const char *
graph_writable_names(const GraphResource *resource)
{
	if (strcmp(resource->name, "incidents") == 0)
		return "assigned_to, classification, custom_tags, description, determination, display_name, resolving_comment, severity, status, summary";
	if (strcmp(resource->name, "alerts") == 0)
		return "assigned_to, classification, determination, status";
	return "none";
}
