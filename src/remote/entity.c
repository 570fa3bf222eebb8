/*-------------------------------------------------------------------------
 *
 * entity.c
 *		  Requests about one entity: its URL, GET and PATCH, and the JSON
 *		  document of an answer.
 *
 * An entity's URL is written here from the catalog (graph_catalog.c):
 * {graph_url}/{api_version}/{resource path}/{id}{suffix} for Graph, and
 * {mde_url}/{MDE path}/{id}{suffix} for the Defender for Endpoint API,
 * the id always one percent-encoded path segment.  defender_fetch_entity
 * (a scan's lookup by id) and defender_patch_entity (UPDATE) send through
 * request.c and keep the answer's document until a memory context goes;
 * the pager and the SQL functions read their answers with the same
 * parser, so every "not JSON" error reads the same.
 *
 * Called by the scans, UPDATE, the pager and the SQL functions; calls
 * request.c and the catalog.
 *
 * src/remote/entity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "mb/pg_wchar.h"

#include "defender_catalog.h"
#include "defender_json.h"
#include "defender_remote.h"

static char *entity_url(const char *base_url, const char *shown_base, const char *path,
						const char *id, const char *what, const char *suffix,
						const char *method, char **display);
static json_t *request_entity(const DefenderOptions *opts, const char *method,
							  const char *url, const char *display, const char *body,
							  MemoryContext cxt);
static void decref_document(void *arg);

/*
 * entity_url
 *		{base_url}/{path}/{id, one encoded segment}{suffix}, and in *display
 *		"METHOD {shown_base}/{path}/{id as given}{suffix}".
 *
 * id is in the server encoding and sent in UTF-8; an id that cannot be one
 * path segment is an ERROR naming it as what ("incident id").
 */
static char *
entity_url(const char *base_url, const char *shown_base, const char *path,
		   const char *id, const char *what, const char *suffix,
		   const char *method, char **display)
{
	char	   *utf8 = pg_server_to_any(id, (int) strlen(id), PG_UTF8);

	if (display)
		*display = psprintf("%s %s/%s/%s%s", method, shown_base, path,
							defender_display_text(id), suffix);
	return psprintf("%s/%s/%s%s", base_url, path, defender_id_segment(utf8, what), suffix);
}

/*
 * defender_graph_entity_url
 *		The URL of the entity id of a Graph resource of the catalog
 *		("incidents", "alerts"), with suffix ("", "/comments") after it.
 */
char *
defender_graph_entity_url(const DefenderOptions *opts, const char *resource,
						  const char *id, const char *what, const char *suffix,
						  const char *method, char **display)
{
	const GraphResource *r = graph_find_resource(resource);

	if (r == NULL)
		elog(ERROR, "defender_fdw: no Graph resource \"%s\" in the catalog", resource);
	return entity_url(psprintf("%s/%s", opts->graph_url, opts->api_version),
					  psprintf("/%s", opts->api_version), r->path,
					  id, what, suffix, method, display);
}

/*
 * defender_mde_alert_url
 *		The URL of an alert of the Defender for Endpoint API (the catalog's
 *		MDE_ALERTS_PATH below mde_url), with suffix ("/domains") after it.
 */
char *
defender_mde_alert_url(const DefenderOptions *opts, const char *id, const char *suffix,
					   const char *method, char **display)
{
	return entity_url(opts->mde_url, "", MDE_ALERTS_PATH, id, "alert id", suffix,
					  method, display);
}

/*
 * defender_fetch_entity
 *		GET one entity: Graph's answer, which lives until page_cxt is reset,
 *		or NULL when Graph answers 404.
 */
json_t *
defender_fetch_entity(const DefenderOptions *opts, const char *url,
					  const char *display, MemoryContext page_cxt)
{
	return request_entity(opts, "GET", url, display, NULL, page_cxt);
}

/*
 * defender_patch_entity
 *		PATCH an entity with a JSON body; Graph's answer (the updated
 *		entity), which lives until cxt is reset.  path is below graph_url.
 */
json_t *
defender_patch_entity(const DefenderOptions *opts, const char *path, const char *body,
					  MemoryContext cxt)
{
	return request_entity(opts, "PATCH", psprintf("%s%s", opts->graph_url, path),
						  psprintf("PATCH %s", path), body, cxt);
}

/*
 * request_entity
 *		One request whose answer is one JSON object, kept until cxt is
 *		reset; NULL for a GET answered 404.
 */
static json_t *
request_entity(const DefenderOptions *opts, const char *method, const char *url,
			   const char *display, const char *body, MemoryContext cxt)
{
	MemoryContext caller = MemoryContextSwitchTo(cxt);
	bool		get = strcmp(method, "GET") == 0;
	DefenderResponse *response;
	json_t	   *document;

	response = defender_api_request(opts, opts->graph_url, method, url, display, body,
									get ? DEFENDER_ALLOW_NOT_FOUND | DEFENDER_CACHEABLE : 0);
	if (get && response->http.status == 404)
	{
		defender_response_release(response);
		MemoryContextSwitchTo(caller);
		return NULL;
	}
	document = defender_response_object(response, DEFENDER_GRAPH_SERVICE, display, cxt);
	defender_response_release(response);
	MemoryContextSwitchTo(caller);
	return document;
}

/*
 * defender_require_body
 *		ERROR for an answer with an empty body, where one was due.
 */
void
defender_require_body(const DefenderResponse *response, const char *service,
					  const char *display)
{
	const DfwHttpResponse *http = &response->http;

	if (http->body_len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("%s returned an empty body", service),
				 errdetail("HTTP %ld, request-id %s.", http->status,
						   http->request_id[0] ? http->request_id : "none"),
				 errcontext("remote request: %s", display)));
}

/*
 * defender_parse_response
 *		The response's JSON document; an ERROR that says what came instead
 *		(an empty body, an HTML page, broken JSON) when it is not JSON.
 *		service names the API in messages.
 *
 * The caller owns the document (json_decref) and must arrange for it to be
 * freed on error paths before anything else can fail.
 */
json_t *
defender_parse_response(const DefenderResponse *response, const char *service,
						const char *display)
{
	const DfwHttpResponse *http = &response->http;
	const char *request_id = http->request_id[0] ? http->request_id : "none";
	DefenderJsonError jerr;
	json_t	   *document;

	defender_require_body(response, service, display);
	document = defender_json_load(http->body, http->body_len, &jerr);
	if (document == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_JSON_TEXT),
				 pg_strncasecmp(http->content_type, "application/json", 16) == 0 ?
				 errmsg("%s returned malformed JSON", service) :
				 errmsg("%s returned %s instead of JSON", service,
						http->content_type[0] ? http->content_type : "an untyped body"),
				 errdetail("%s At byte " UINT64_FORMAT " of a %zu-byte body (HTTP %ld, request-id %s).",
						   jerr.detail, jerr.offset, http->body_len,
						   http->status, request_id),
				 errcontext("remote request: %s", display)));
	return document;
}

/*
 * defender_response_object
 *		The response's JSON object, freed when owner is reset or deleted;
 *		an ERROR when the answer is not JSON or not an object.
 */
json_t *
defender_response_object(const DefenderResponse *response, const char *service,
						 const char *display, MemoryContext owner)
{
	/* allocated before the document exists, so nothing fails in between */
	MemoryContextCallback *cb = MemoryContextAlloc(owner, sizeof(MemoryContextCallback));
	json_t	   *document = defender_parse_response(response, service, display);

	cb->func = decref_document;
	cb->arg = document;
	MemoryContextRegisterResetCallback(owner, cb);
	if (!json_is_object(document))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("%s's answer is not a JSON object", service),
				 errcontext("remote request: %s", display)));
	return document;
}

static void
decref_document(void *arg)
{
	json_decref((json_t *) arg);
}
