/*-------------------------------------------------------------------------
 *
 * actions.c
 *		  SQL functions that act on Defender: update incidents and alerts,
 *		  comment on them, read incidents, list an alert's domains.
 *
 *	SELECT defender_update_incident('29', status => 'resolved',
 *									classification => 'truePositive');
 *	SELECT defender_add_incident_comment('29', 'contained by the SOC');
 *	SELECT defender_get_incident('29');
 *	SELECT * FROM defender_list_incidents('status eq ''active''', 120);
 *	SELECT * FROM defender_alert_domains('da638...');
 *	SELECT status, body FROM defender_request('GET', 'security/alerts_v2/x');
 *
 * Every function names its server (default 'defender'), needs USAGE on it
 * and sends the caller's user mapping's credentials, like a scan.  The
 * functions that change something in Defender (update, comment, and the
 * generic request, which can do anything) have EXECUTE revoked from PUBLIC
 * by the extension script.
 *
 * Checks come first: every argument is validated, and the request body is
 * written, before anything is sent, so a bad value costs no token request
 * and no API call.  Enumerations (status, severity, classification,
 * determination) go through graph_write_value() (graph_catalog.c), the one
 * check UPDATE on the foreign tables makes too: compared ignoring case,
 * sent in Graph's camelCase, refused with the list of the values a client
 * may write.  An unknown id is an ERROR with
 * SQLSTATE no_data_found (P0002) for the writes, NULL or no rows for the
 * reads.
 *
 * defender_request(), the generic request, is in request_function.c; the
 * helpers the functions share (arguments, options, the set-returning
 * setup) are in function_support.c.
 *
 * Request bodies are built with jansson (json_pack, never json_object(),
 * whose name the backend also exports) and every jansson value is freed,
 * or owned by a memory context callback, before anything can raise.
 *
 * src/functions/actions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "defender_plan.h"
#include "defender_remote.h"
#include "defender_scan.h"
#include "function_support.h"
#include "pg_jansson.h"

PG_FUNCTION_INFO_V1(defender_update_incident);
PG_FUNCTION_INFO_V1(defender_update_alert);
PG_FUNCTION_INFO_V1(defender_add_incident_comment);
PG_FUNCTION_INFO_V1(defender_add_alert_comment);
PG_FUNCTION_INFO_V1(defender_get_incident);
PG_FUNCTION_INFO_V1(defender_list_incidents);
PG_FUNCTION_INFO_V1(defender_alert_domains);

/* Permissions named in the hint of a 403, per call. */
#define PERM_INCIDENT_WRITE "the Microsoft Graph application permission SecurityIncident.ReadWrite.All"
#define PERM_ALERT_WRITE	"the Microsoft Graph application permission SecurityAlert.ReadWrite.All"
#define PERM_INCIDENT_READ	"the Microsoft Graph application permission SecurityIncident.Read.All"
#define PERM_ALERT_READ		"the Microsoft Graph application permission SecurityAlert.Read.All"
#define PERM_MDE_URL		"the WindowsDefenderATP application permission URL.Read.All"

/* What a write call acts on: incidents or alerts (alerts_v2). */
typedef struct EntityKind
{
	const char *noun;			/* for messages: "incident" */
	const char *resource;		/* the catalog's resource (graph_catalog.c) */
	const char *write_permission;
} EntityKind;

static const EntityKind incident_kind = {"incident", "incidents", PERM_INCIDENT_WRITE};
static const EntityKind alert_kind = {"alert", "alerts", PERM_ALERT_WRITE};

/* One property of a request body. */
typedef struct BodyField
{
	const char *key;
	const char *value;			/* UTF-8; NULL for JSON null */
	bool		is_array;		/* an array of strings instead */
	char	  **items;			/* UTF-8 */
	int			nitems;
} BodyField;

/* How an update function's argument becomes a property of the PATCH. */
typedef enum ArgumentUse
{
	ARG_TEXT,					/* the text as given */
	ARG_ENUM,					/* an enumeration member: graph_write_value() */
	ARG_ASSIGNEE				/* as given, '' for null (unassign) */
} ArgumentUse;

/* An argument of an update function and the property it sets. */
typedef struct UpdateArgument
{
	int			argno;			/* 0-based, in the SQL signature */
	const char *property;		/* Graph's name */
	ArgumentUse use;
} UpdateArgument;

/*
 * defender_update_incident's property arguments, in the order their
 * properties are written into the body (the argument numbers follow the
 * signature in defender_fdw--1.0.sql).
 */
static const UpdateArgument incident_arguments[] = {
	{8, "displayName", ARG_TEXT},
	{5, "description", ARG_TEXT},
	{9, "summary", ARG_TEXT},
	{1, "status", ARG_ENUM},
	{7, "severity", ARG_ENUM},
	{3, "classification", ARG_ENUM},
	{4, "determination", ARG_ENUM},
	{2, "assignedTo", ARG_ASSIGNEE},
	{6, "resolvingComment", ARG_TEXT},
};

/* defender_update_alert's */
static const UpdateArgument alert_arguments[] = {
	{1, "status", ARG_ENUM},
	{2, "classification", ARG_ENUM},
	{3, "determination", ARG_ENUM},
	{4, "assignedTo", ARG_ASSIGNEE},
};


static Datum update_entity(FunctionCallInfo fcinfo, const EntityKind *kind,
						   const char *fname, const char *id, BodyField *fields,
						   int nfields, int server_arg);
static Datum add_comment(FunctionCallInfo fcinfo, const EntityKind *kind,
						 const char *fname);
static const char *write_value(const EntityKind *kind, const char *property,
							   const char *value, const char *fname);
static char *optional_text(FunctionCallInfo fcinfo, int argno);
static int	add_argument_fields(FunctionCallInfo fcinfo, const EntityKind *kind,
								const UpdateArgument *arguments, int narguments,
								BodyField *fields, const char *fname);
static void require_some_field(int nfields, const char *fname, const char *id,
							   const char *example);
static void add_text_field(BodyField *fields, int *n, const char *key, const char *value);
static char *build_json_body(const BodyField *fields, int nfields, const char *fname);
static char *entity_url(const DefenderOptions *opts, const EntityKind *kind,
						const char *id, const char *suffix, const char *method,
						char **display);
static char *call_entity(const DefenderOptions *opts, const EntityKind *kind,
						 const char *id, const char *suffix, const char *method,
						 const char *body, const char *permission, bool missing_ok);
static DefenderResponse *call_api(const DefenderOptions *opts, const char *audience,
								  const char *method, const char *url,
								  const char *display, const char *body, int flags,
								  const char *permission);
static void report_not_found(const DefenderResponse *response, const EntityKind *kind,
							 const char *id, const char *display) pg_attribute_noreturn();
static char *response_text(const DefenderResponse *response, const char *service,
						   const char *display);
static Datum text_to_jsonb(char *text);
static char *url_host(const char *url);
static void normalise_host(char *host);
static int	compare_strings(const void *a, const void *b);
static void mde_domains(const DefenderOptions *opts, const char *id, SetResult *set);
static void graph_domains(const DefenderOptions *opts, const char *id, SetResult *set);

/* ----------------------------------------------------------------------
 * Updates
 * ----------------------------------------------------------------------
 */

/*
 * defender_update_incident
 *		defender_update_incident(incident_id, status, assigned_to,
 *		classification, determination, description, resolving_comment,
 *		severity, display_name, summary, custom_tags, server) RETURNS jsonb
 *
 * PATCH /security/incidents/{id} with the non-NULL arguments; returns the
 * updated incident.  assigned_to '' unassigns (sends null).
 */
Datum
defender_update_incident(PG_FUNCTION_ARGS)
{
	const char *fname = "defender_update_incident";
	char	   *id = defender_required_text(fcinfo, 0, fname, "incident_id");
	BodyField	fields[lengthof(incident_arguments) + 1];	/* + custom_tags */
	int			n;

	n = add_argument_fields(fcinfo, &incident_kind, incident_arguments,
							lengthof(incident_arguments), fields, fname);
	if (!PG_ARGISNULL(10))
	{
		ArrayType  *tags = PG_GETARG_ARRAYTYPE_P(10);
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;
		int			i;

		if (ARR_NDIM(tags) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("custom_tags of %s() must be a one-dimensional array", fname)));
		deconstruct_array(tags, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &nelems);
		fields[n].key = "customTags";
		fields[n].value = NULL;
		fields[n].is_array = true;
		fields[n].items = palloc(sizeof(char *) * Max(nelems, 1));
		fields[n].nitems = nelems;
		for (i = 0; i < nelems; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("custom_tags of %s() must not contain NULL", fname),
						 errhint("custom_tags replaces the incident's tags with the array given; '{}' removes them all.")));
			fields[n].items[i] = defender_to_utf8(TextDatumGetCString(elems[i]));
		}
		n++;
	}

	require_some_field(n, fname, id, "status => 'resolved', classification => 'truePositive'");

	return update_entity(fcinfo, &incident_kind, fname, id, fields, n, 11);
}

/*
 * defender_update_alert
 *		defender_update_alert(alert_id, status, classification, determination,
 *		assigned_to, server) RETURNS jsonb
 *
 * PATCH /security/alerts_v2/{id}; the same rules as for incidents.
 */
Datum
defender_update_alert(PG_FUNCTION_ARGS)
{
	const char *fname = "defender_update_alert";
	char	   *id = defender_required_text(fcinfo, 0, fname, "alert_id");
	BodyField	fields[lengthof(alert_arguments)];
	int			n;

	n = add_argument_fields(fcinfo, &alert_kind, alert_arguments,
							lengthof(alert_arguments), fields, fname);
	require_some_field(n, fname, id, "status => 'resolved'");

	return update_entity(fcinfo, &alert_kind, fname, id, fields, n, 5);
}

/*
 * update_entity
 *		Send the PATCH and return Graph's updated entity as jsonb.
 *
 * The body is written before the options are read, so that a value Graph
 * would reject never costs a token request.
 */
static Datum
update_entity(FunctionCallInfo fcinfo, const EntityKind *kind, const char *fname,
			  const char *id, BodyField *fields, int nfields, int server_arg)
{
	char	   *body = build_json_body(fields, nfields, fname);
	DefenderOptions *opts = defender_function_options(fcinfo, server_arg, fname);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	char	   *text;
	Datum		result;

	call_cxt = AllocSetContextCreate(caller, "defender_fdw action", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);
	text = call_entity(opts, kind, id, "", "PATCH", body, kind->write_permission, false);

	MemoryContextSwitchTo(caller);
	result = text_to_jsonb(text);
	MemoryContextDelete(call_cxt);
	PG_RETURN_DATUM(result);
}

/* ----------------------------------------------------------------------
 * Comments
 * ----------------------------------------------------------------------
 */

/*
 * defender_add_incident_comment
 *		defender_add_incident_comment(incident_id, comment, server) RETURNS jsonb
 */
Datum
defender_add_incident_comment(PG_FUNCTION_ARGS)
{
	return add_comment(fcinfo, &incident_kind, "defender_add_incident_comment");
}

/*
 * defender_add_alert_comment
 *		defender_add_alert_comment(alert_id, comment, server) RETURNS jsonb
 */
Datum
defender_add_alert_comment(PG_FUNCTION_ARGS)
{
	return add_comment(fcinfo, &alert_kind, "defender_add_alert_comment");
}

/*
 * add_comment
 *		POST .../{id}/comments; returns the entity's whole comment list
 *		(the "value" array of Graph's answer).
 */
static Datum
add_comment(FunctionCallInfo fcinfo, const EntityKind *kind, const char *fname)
{
	char	   *id = defender_required_text(fcinfo, 0, fname, kind == &incident_kind ? "incident_id" : "alert_id");
	char	   *comment = defender_required_text(fcinfo, 1, fname, "comment");
	BodyField	fields[2];
	int			n = 0;
	char	   *body;
	DefenderOptions *opts;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	char	   *text;
	Jsonb	   *document;
	JsonbValue	value;
	Datum		result;
	const char *p;

	for (p = comment; *p && isspace((unsigned char) *p); p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the comment of %s() must not be empty", fname)));

	add_text_field(fields, &n, "@odata.type", "microsoft.graph.security.alertComment");
	add_text_field(fields, &n, "comment", comment);
	body = build_json_body(fields, n, fname);
	opts = defender_function_options(fcinfo, 2, fname);

	call_cxt = AllocSetContextCreate(caller, "defender_fdw action", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);
	text = call_entity(opts, kind, id, "/comments", "POST", body, kind->write_permission,
					   false);
	document = DatumGetJsonbP(text_to_jsonb(text));

	MemoryContextSwitchTo(caller);
	if (JB_ROOT_IS_OBJECT(document) &&
		getKeyJsonValueFromContainer(&document->root, "value", 5, &value) != NULL)
		result = JsonbPGetDatum(JsonbValueToJsonb(&value));
	else
		result = JsonbPGetDatum(DatumGetJsonbPCopy(JsonbPGetDatum(document)));
	MemoryContextDelete(call_cxt);
	PG_RETURN_DATUM(result);
}

/* ----------------------------------------------------------------------
 * Reading incidents
 * ----------------------------------------------------------------------
 */

/*
 * defender_get_incident
 *		defender_get_incident(incident_id, server) RETURNS jsonb; NULL when
 *		Graph answers 404.  STRICT.
 */
Datum
defender_get_incident(PG_FUNCTION_ARGS)
{
	const char *fname = "defender_get_incident";
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	DefenderOptions *opts = defender_function_options(fcinfo, 1, fname);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	char	   *text;
	Datum		result;

	call_cxt = AllocSetContextCreate(caller, "defender_fdw action", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);
	text = call_entity(opts, &incident_kind, id, "", "GET", NULL, PERM_INCIDENT_READ, true);
	if (text == NULL)
	{
		MemoryContextSwitchTo(caller);
		MemoryContextDelete(call_cxt);
		PG_RETURN_NULL();
	}

	MemoryContextSwitchTo(caller);
	result = text_to_jsonb(text);
	MemoryContextDelete(call_cxt);
	PG_RETURN_DATUM(result);
}

/*
 * defender_list_incidents
 *		defender_list_incidents(filter, max_results, skip, count, expand,
 *		server) RETURNS SETOF jsonb
 *
 * GET /security/incidents with $filter, $expand, $count, $skip and $top
 * (at most 50, Graph's limit), following @odata.nextLink until max_results
 * rows are in (NULL: all of them).  With count, every row carries the
 * collection's "@odata.count" (from the first page).
 */
Datum
defender_list_incidents(PG_FUNCTION_ARGS)
{
	const char *fname = "defender_list_incidents";
	char	   *filter = optional_text(fcinfo, 0);	/* '' counts as NULL */
	bool		unlimited = PG_ARGISNULL(1);
	int64		max_results = unlimited ? 0 : PG_GETARG_INT32(1);
	int64		skip = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	bool		count = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	char	   *expand = optional_text(fcinfo, 4);
	SetResult	set;
	DefenderOptions *opts;
	StringInfoData query;
	StringInfoData shown;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;
	MemoryContext page_cxt;
	MemoryContext row_cxt;
	DefenderPager *pager;
	json_t	   *row;
	int64		rows = 0;
	json_int_t	total = -1;
	const GraphResource *resource = graph_find_resource("incidents");
	int64		top;

	if (!unlimited && max_results < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results of %s() must not be negative", fname),
				 errhint("NULL returns every matching incident.")));
	if (skip < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("skip of %s() must not be negative", fname)));

	defender_begin_set(fcinfo, &set, JSONBOID, fname);
	opts = defender_function_options(fcinfo, 5, fname);
	if (!unlimited && max_results == 0)
	{
		defender_end_set(&set);
		return (Datum) 0;
	}

	call_cxt = AllocSetContextCreate(caller, "defender_fdw action", ALLOCSET_DEFAULT_SIZES);
	page_cxt = AllocSetContextCreate(call_cxt, "defender_list_incidents page",
									 ALLOCSET_DEFAULT_SIZES);
	row_cxt = AllocSetContextCreate(call_cxt, "defender_list_incidents row",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);

	/*
	 * The request, written by the OData writer: percent-encoded as sent,
	 * and as messages show it (decoded).  Pages of the catalog's size for
	 * incidents (Graph's cap), or fewer when fewer rows are wanted.
	 */
	top = graph_page_size(resource, 0);
	if (!unlimited)
		top = Min(top, max_results);
	initStringInfo(&query);
	initStringInfo(&shown);
	appendStringInfoString(&query, opts->graph_url);
	appendStringInfoString(&shown, "GET ");
	defender_deparse_list_text(&query, true, opts, resource,
							   filter ? defender_to_utf8(filter) : NULL,
							   expand ? defender_to_utf8(expand) : NULL, count, skip, top);
	defender_deparse_list_text(&shown, false, opts, resource, filter, expand,
							   count, skip, top);

	pager = defender_pager_begin(opts, query.data, shown.data, page_cxt, 0, NULL);
	while ((unlimited || rows < max_results) && (row = defender_pager_next(pager)) != NULL)
	{
		Datum		value;
		bool		isnull = false;

		if (count && total < 0)
		{
			json_t	   *n = json_object_get(defender_pager_document(pager), "@odata.count");

			total = json_is_integer(n) ? json_integer_value(n) : 0;
		}
		/* the row belongs to the page's document, which page_cxt frees */
		if (count && json_object_set_new(row, "@odata.count", json_integer(total)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory reading incidents")));

		MemoryContextReset(row_cxt);
		MemoryContextSwitchTo(row_cxt);
		value = defender_json_to_jsonb(row);
		tuplestore_putvalues(set.store, set.desc, &value, &isnull);
		MemoryContextSwitchTo(call_cxt);
		rows++;
	}

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(call_cxt);
	defender_end_set(&set);
	return (Datum) 0;
}

/* ----------------------------------------------------------------------
 * Alert domains
 * ----------------------------------------------------------------------
 */

/*
 * defender_alert_domains
 *		defender_alert_domains(alert_id, source, server) RETURNS SETOF text.
 *		STRICT.
 *
 * source 'mde': the Defender for Endpoint API's list for the alert, as it
 * gives it, with a token for mde_url; 'graph': the hosts of the alert's
 * urlEvidence and the names of its dnsEvidence in alerts_v2, normalised as
 * DNS compares names (ASCII lower case, no port, user info or trailing
 * dot), each once, sorted by byte value.  An unknown alert has no rows.
 */
Datum
defender_alert_domains(PG_FUNCTION_ARGS)
{
	const char *fname = "defender_alert_domains";
	char	   *id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		from_mde;
	SetResult	set;
	DefenderOptions *opts;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext call_cxt;

	if (pg_strcasecmp(source, "mde") == 0)
		from_mde = true;
	else if (pg_strcasecmp(source, "graph") == 0)
		from_mde = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid source \"%s\" for %s()", source, fname),
				 errdetail("Valid values: mde (the Defender for Endpoint API), graph (the alert's evidence in alerts_v2).")));

	defender_begin_set(fcinfo, &set, TEXTOID, fname);
	opts = defender_function_options(fcinfo, 2, fname);

	call_cxt = AllocSetContextCreate(caller, "defender_fdw action", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(call_cxt);
	if (from_mde)
		mde_domains(opts, id, &set);
	else
		graph_domains(opts, id, &set);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(call_cxt);
	defender_end_set(&set);
	return (Datum) 0;
}

/*
 * mde_domains
 *		GET {mde_url}/api/alerts/{id}/domains (the catalog's MDE_ALERTS_PATH):
 *		each value[].host.
 */
static void
mde_domains(const DefenderOptions *opts, const char *id, SetResult *set)
{
	char	   *display;
	char	   *url = defender_mde_alert_url(opts, id, "/domains", "GET", &display);
	DefenderResponse *response;
	json_t	   *document;
	json_t	   *values;
	size_t		i;

	response = call_api(opts, opts->mde_url, "GET", url, display, NULL,
						DEFENDER_ALLOW_NOT_FOUND, PERM_MDE_URL);
	if (response->http.status == 404)
		return;
	document = defender_response_object(response, DEFENDER_MDE_SERVICE, display, CurrentMemoryContext);
	values = json_object_get(document, "value");
	if (!json_is_array(values))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("the %s's answer has no \"value\" array", DEFENDER_MDE_SERVICE),
				 errcontext("remote request: %s", display)));
	for (i = 0; i < json_array_size(values); i++)
	{
		json_t	   *host = json_object_get(json_array_get(values, i), "host");
		Datum		value;
		bool		isnull = false;

		if (!json_is_string(host))
			continue;
		value = CStringGetTextDatum(pg_any_to_server(json_string_value(host),
													 (int) json_string_length(host),
													 PG_UTF8));
		tuplestore_putvalues(set->store, set->desc, &value, &isnull);
	}
}

/*
 * graph_domains
 *		The domains in GET /security/alerts_v2/{id}'s evidence.
 */
static void
graph_domains(const DefenderOptions *opts, const char *id, SetResult *set)
{
	DefenderResponse *response;
	char	   *display;
	char	   *url = entity_url(opts, &alert_kind, id, "", "GET", &display);
	json_t	   *document;
	json_t	   *evidence;
	char	  **hosts;
	int			nhosts = 0;
	size_t		i;
	int			j;

	response = call_api(opts, opts->graph_url, "GET", url, display, NULL,
						DEFENDER_ALLOW_NOT_FOUND, PERM_ALERT_READ);
	if (response->http.status == 404)
		return;
	document = defender_response_object(response, DEFENDER_GRAPH_SERVICE, display, CurrentMemoryContext);
	evidence = json_object_get(document, "evidence");
	if (!json_is_array(evidence))
		return;

	hosts = palloc(sizeof(char *) * Max(json_array_size(evidence), 1));
	for (i = 0; i < json_array_size(evidence); i++)
	{
		json_t	   *item = json_array_get(evidence, i);
		const char *type = json_string_value(json_object_get(item, "@odata.type"));
		char	   *host = NULL;

		if (type == NULL)
			continue;
		if (type[0] == '#')
			type++;
		if (pg_strcasecmp(type, "microsoft.graph.security.urlEvidence") == 0)
		{
			const char *url = json_string_value(json_object_get(item, "url"));

			if (url)
				host = url_host(url);
		}
		else if (pg_strcasecmp(type, "microsoft.graph.security.dnsEvidence") == 0)
		{
			const char *name = json_string_value(json_object_get(item, "domainName"));

			if (name)
			{
				host = pstrdup(name);
				normalise_host(host);
			}
		}
		if (host && host[0])
			hosts[nhosts++] = host;
	}

	qsort(hosts, nhosts, sizeof(char *), compare_strings);
	for (j = 0; j < nhosts; j++)
	{
		Datum		value;
		bool		isnull = false;

		if (j > 0 && strcmp(hosts[j], hosts[j - 1]) == 0)
			continue;
		value = CStringGetTextDatum(pg_any_to_server(hosts[j], (int) strlen(hosts[j]), PG_UTF8));
		tuplestore_putvalues(set->store, set->desc, &value, &isnull);
	}
}

/*
 * url_host
 *		The host of a URL, normalised; "" when there is none.
 *
 * Evidence URLs come in every shape: upper case, ports, user info, IPv6
 * literals, a trailing dot, no scheme at all ("www.x.example/path").  The
 * authority is what follows "scheme://" (or the start, without a scheme)
 * up to the first '/', '?' or '#'; the host is that minus user info and
 * port, and an IPv6 literal loses its brackets.
 */
static char *
url_host(const char *url)
{
	const char *p = url;
	const char *q;
	const char *start;
	size_t		len;
	char	   *authority;
	char	   *host;
	char	   *at;

	while (*p && isspace((unsigned char) *p))
		p++;
	q = p;
	if (isalpha((unsigned char) *q))
	{
		while (isalnum((unsigned char) *q) || *q == '+' || *q == '-' || *q == '.')
			q++;
	}
	if (q > p && strncmp(q, "://", 3) == 0)
		start = q + 3;
	else
	{
		start = p;
		while (*start == '/')
			start++;
	}
	len = strcspn(start, "/?#");
	authority = pnstrdup(start, len);
	at = strrchr(authority, '@');
	host = at ? at + 1 : authority;
	if (host[0] == '[')
	{
		char	   *end = strchr(host, ']');

		host++;
		if (end)
			*end = '\0';
	}
	else
		host[strcspn(host, ":")] = '\0';
	normalise_host(host);
	return host;
}

/* DNS compares names ignoring ASCII case; a trailing dot is the root. */
static void
normalise_host(char *host)
{
	size_t		len;
	char	   *p;

	for (p = host; *p; p++)
	{
		if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	}
	len = strlen(host);
	while (len > 0 && (host[len - 1] == '.' || isspace((unsigned char) host[len - 1])))
		host[--len] = '\0';
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* ----------------------------------------------------------------------
 * Shared helpers
 * ----------------------------------------------------------------------
 */

static char *
optional_text(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * add_argument_fields
 *		A body field for every non-NULL argument of an update function;
 *		returns how many.  An enumeration value Graph would reject fails
 *		here, before any request.
 */
static int
add_argument_fields(FunctionCallInfo fcinfo, const EntityKind *kind,
					const UpdateArgument *arguments, int narguments,
					BodyField *fields, const char *fname)
{
	int			n = 0;
	int			i;

	for (i = 0; i < narguments; i++)
	{
		const UpdateArgument *arg = &arguments[i];
		char	   *value = optional_text(fcinfo, arg->argno);

		if (value == NULL)
			continue;
		switch (arg->use)
		{
			case ARG_TEXT:
				add_text_field(fields, &n, arg->property, value);
				break;
			case ARG_ENUM:
				add_text_field(fields, &n, arg->property,
							   write_value(kind, arg->property, value, fname));
				break;
			case ARG_ASSIGNEE:
				add_text_field(fields, &n, arg->property, value[0] ? value : NULL);
				break;
		}
	}
	return n;
}

/* An update given nothing to change is an error, not an empty PATCH. */
static void
require_some_field(int nfields, const char *fname, const char *id, const char *example)
{
	if (nfields == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s() was given nothing to change", fname),
				 errdetail("Every property argument is NULL, and NULL means \"leave unchanged\"."),
				 errhint("Name the properties to change, for example: SELECT %s(%s, %s);",
						 fname, quote_literal_cstr(id), example)));
}

/*
 * write_value
 *		The value to send for an enumeration argument: graph_write_value(),
 *		the check UPDATE on the foreign tables makes too.
 */
static const char *
write_value(const EntityKind *kind, const char *property, const char *value,
			const char *fname)
{
	const GraphResource *resource = graph_find_resource(kind->resource);

	return graph_write_value(resource, property, value, psprintf("%s()", fname));
}

/* A string property (value in the server encoding; NULL for JSON null). */
static void
add_text_field(BodyField *fields, int *n, const char *key, const char *value)
{
	fields[*n].key = key;
	fields[*n].value = value ? defender_to_utf8(value) : NULL;
	fields[*n].is_array = false;
	fields[*n].items = NULL;
	fields[*n].nitems = 0;
	(*n)++;
}

/*
 * build_json_body
 *		The fields as a compact JSON object, palloc'd.
 *
 * Nothing in here raises until every jansson value is freed.
 */
static char *
build_json_body(const BodyField *fields, int nfields, const char *fname)
{
	json_t	   *object = json_pack("{}");
	bool		ok = object != NULL;
	int			i;
	int			j;

	for (i = 0; ok && i < nfields; i++)
	{
		json_t	   *value;

		if (fields[i].is_array)
		{
			value = json_array();
			for (j = 0; value != NULL && j < fields[i].nitems; j++)
			{
				if (json_array_append_new(value, json_string(fields[i].items[j])) != 0)
				{
					json_decref(value);
					value = NULL;
				}
			}
		}
		else if (fields[i].value)
			value = json_string(fields[i].value);
		else
			value = json_null();
		/* json_object_set_new takes the value, also when it fails */
		ok = value != NULL && json_object_set_new(object, fields[i].key, value) == 0;
	}
	if (!ok && object != NULL)
	{
		json_decref(object);
		object = NULL;
	}
	return defender_dump_json(object, "an action request");
}

/*
 * entity_url
 *		The URL of the entity id of kind, with suffix after it, written by
 *		entity.c from the catalog; in *display "METHOD /v1.0/security/
 *		incidents/29{suffix}" (the id as given).
 */
static char *
entity_url(const DefenderOptions *opts, const EntityKind *kind, const char *id,
		   const char *suffix, const char *method, char **display)
{
	return defender_graph_entity_url(opts, kind->resource, id,
									 psprintf("%s id", kind->noun), suffix, method,
									 display);
}

/*
 * call_entity
 *		method on the entity id of kind (suffix after it): Graph's answer,
 *		checked to be JSON, as text in the server encoding.  A 404 is NULL
 *		when missing_ok, else an ERROR that a playbook can catch
 *		(report_not_found).
 */
static char *
call_entity(const DefenderOptions *opts, const EntityKind *kind, const char *id,
			const char *suffix, const char *method, const char *body,
			const char *permission, bool missing_ok)
{
	char	   *display;
	char	   *url = entity_url(opts, kind, id, suffix, method, &display);
	DefenderResponse *response;

	response = call_api(opts, opts->graph_url, method, url, display, body,
						DEFENDER_ALLOW_NOT_FOUND, permission);
	if (response->http.status == 404)
	{
		if (missing_ok)
			return NULL;
		report_not_found(response, kind, id, display);
	}
	return response_text(response, DEFENDER_GRAPH_SERVICE, display);
}

/*
 * call_api
 *		defender_api_request(), with the permission this call needs named
 *		in the hint of a 403.
 *
 * connection.c's hint names the read permission of incidents, which sends
 * the user of a write, an alert or the MDE API the wrong way; the error is
 * otherwise re-thrown as it was.
 */
static DefenderResponse *
call_api(const DefenderOptions *opts, const char *audience, const char *method,
		 const char *url, const char *display, const char *body, int flags,
		 const char *permission)
{
	MemoryContext cxt = CurrentMemoryContext;
	DefenderResponse *volatile response = NULL;

	PG_TRY();
	{
		response = defender_api_request(opts, audience, method, url, display, body, flags);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE)
		{
			FreeErrorData(edata);
			PG_RE_THROW();
		}
		FlushErrorState();
		edata->hint = psprintf("Grant the application %s, and have an administrator consent to it.",
							   permission);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return response;
}

/*
 * report_not_found
 *		ERROR (no_data_found, P0002) for an id Graph does not know, so that
 *		a PL/pgSQL playbook can catch exactly that.
 */
static void
report_not_found(const DefenderResponse *response, const EntityKind *kind,
				 const char *id, const char *display)
{
	const DfwHttpResponse *http = &response->http;
	DfwGraphError gerr;
	const char *request_id;

	dfw_parse_graph_error(http->body, http->body_len, &gerr);
	request_id = http->request_id[0] ? http->request_id :
		(gerr.request_id[0] ? gerr.request_id : "none");
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("%s \"%s\" not found", kind->noun, defender_display_text(id)),
			 gerr.parsed ?
			 errdetail("Microsoft Graph answered HTTP 404, error code \"%s\": %s (request-id %s).",
					   defender_display_text(gerr.code), defender_display_text(gerr.message),
					   defender_display_text(request_id)) :
			 errdetail("Microsoft Graph answered HTTP 404 (request-id %s).", request_id),
			 errcontext("remote request: %s", display)));
}

/*
 * response_text
 *		The body of a successful answer, in the server encoding, checked to
 *		be JSON.
 */
static char *
response_text(const DefenderResponse *response, const char *service, const char *display)
{
	const DfwHttpResponse *http = &response->http;
	const char *request_id = http->request_id[0] ? http->request_id : "none";
	char	   *text;
	char	   *detail = NULL;

	defender_require_body(response, service, display);
	text = pg_any_to_server(http->body, (int) http->body_len, PG_UTF8);
	if (!defender_is_json_text(text, strlen(text), &detail))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_JSON_TEXT),
				 errmsg("%s returned %s instead of JSON", service,
						http->content_type[0] ? http->content_type : "an untyped body"),
				 errdetail("%s (HTTP %ld, %zu bytes, request-id %s).", detail ? detail : "",
						   http->status, http->body_len, request_id),
				 errcontext("remote request: %s", display)));
	return text == http->body ? pnstrdup(text, http->body_len) : text;
}

static Datum
text_to_jsonb(char *text)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(text));
}
