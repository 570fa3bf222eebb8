/*-------------------------------------------------------------------------
 *
 * pager.c
 *		  Walks the pages of a Graph collection, one page in memory at a time.
 *
 * A page is fetched when the previous one is used up: its body is parsed
 * with jansson (pages are small: 50 incidents), the body is freed, and the
 * rows of "value" are handed out one by one.  The next page is the
 * response's @odata.nextLink, followed verbatim (Graph's paging tokens are
 * opaque), but only when it points at the server's own graph_url, since
 * the bearer token goes with it, and never to a page already read, since
 * a loop would otherwise repeat rows forever.
 *
 * Everything a page owns (the response body, the jansson document) lives
 * in page_cxt, which is reset for each page; memory context callbacks free
 * the foreign allocations, on error paths too.
 *
 * src/pager.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "defender_fdw.h"

struct DefenderPager
{
	const DefenderOptions *opts;
	MemoryContext page_cxt;		/* reset per page */
	MemoryContext pager_cxt;	/* the pager and its list of pages read */
	char	   *first_url;
	char	   *first_display;
	char	   *next_url;		/* NULL when there is no further page */
	char	   *display;		/* request of the current page, for messages */
	List	   *visited;		/* URLs of pages read, to detect loops */
	bool		started;
	json_t	   *document;		/* current page */
	json_t	   *rows;			/* its "value" array */
	size_t		index;
	MemoryContextCallback free_document;

	bool		allow_rejection;	/* may the first page be a 400? */
	bool		rejected;		/* it was */
	DfwGraphError rejection;	/* Graph's error for it */
	int			requests;		/* pages fetched since begin/rewind */
};

static void fetch_page(DefenderPager *pager);
static void decref_document(void *arg);
static json_t *parse_body(const DefenderResponse *response, const char *display);
static json_t *request_entity(const DefenderOptions *opts, const char *method,
							  const char *url, const char *display, const char *body,
							  MemoryContext cxt);
static void free_document(void *arg);
static char *display_for(const DefenderOptions *opts, const char *url);

/*
 * defender_pager_begin
 *		A pager for the collection at first_url; nothing is fetched yet.
 */
DefenderPager *
defender_pager_begin(const DefenderOptions *opts, const char *first_url,
					 const char *display, MemoryContext page_cxt,
					 bool allow_rejection)
{
	DefenderPager *pager = palloc0(sizeof(DefenderPager));

	pager->allow_rejection = allow_rejection;
	pager->opts = opts;
	pager->page_cxt = page_cxt;
	pager->pager_cxt = CurrentMemoryContext;
	pager->first_url = pstrdup(first_url);
	pager->first_display = pstrdup(display);
	defender_pager_rewind(pager);
	return pager;
}

/*
 * defender_pager_rewind
 *		Start again from the first page (for a rescan).
 */
void
defender_pager_rewind(DefenderPager *pager)
{
	MemoryContextReset(pager->page_cxt);
	pager->document = NULL;
	pager->rows = NULL;
	pager->index = 0;
	pager->next_url = pager->first_url;
	pager->display = pager->first_display;
	list_free_deep(pager->visited);
	pager->visited = NIL;
	pager->started = false;
	pager->rejected = false;
	pager->requests = 0;
}

/*
 * defender_pager_rejected
 *		Did Graph answer the first page with 400 (only asked for when the
 *		pager was begun with allow_rejection)?  *err describes it.
 */
bool
defender_pager_rejected(DefenderPager *pager, DfwGraphError *err)
{
	if (pager->rejected && err)
		*err = pager->rejection;
	return pager->rejected;
}

/* The current page's whole document (for @odata.count), or NULL. */
json_t *
defender_pager_document(DefenderPager *pager)
{
	return pager->document;
}

/* How many pages were requested since the pager began or rewound. */
int
defender_pager_requests(DefenderPager *pager)
{
	return pager->requests;
}

/*
 * defender_pager_next
 *		The next row object, or NULL after the last page.
 *
 * The row belongs to the current page: it is valid until the next call.
 */
json_t *
defender_pager_next(DefenderPager *pager)
{
	while (pager->rows == NULL || pager->index >= json_array_size(pager->rows))
	{
		if (pager->started && pager->next_url == NULL)
			return NULL;
		fetch_page(pager);
	}
	return json_array_get(pager->rows, pager->index++);
}

/*
 * fetch_page
 *		Replace the current page with the one at next_url.
 */
static void
fetch_page(DefenderPager *pager)
{
	const DefenderOptions *opts = pager->opts;
	char	   *url = pager->next_url;
	DefenderResponse *response;
	MemoryContext caller = CurrentMemoryContext;
	json_t	   *next;
	const char *display;

	MemoryContextReset(pager->page_cxt);
	pager->document = NULL;
	pager->rows = NULL;
	pager->index = 0;
	pager->started = true;

	MemoryContextSwitchTo(pager->pager_cxt);
	pager->visited = lappend(pager->visited, pstrdup(url));
	MemoryContextSwitchTo(pager->page_cxt);

	display = pager->display;
	response = defender_api_request(opts, opts->graph_url, "GET", url, display, NULL,
									pager->allow_rejection && list_length(pager->visited) == 1 ?
									DEFENDER_ALLOW_BAD_REQUEST : 0);
	pager->requests++;
	if (response->http.status == 400)
	{
		/* the caller retries without its filter; see defender_pager_rejected */
		dfw_parse_graph_error(response->http.body, response->http.body_len,
							  &pager->rejection);
		defender_response_release(response);
		pager->rejected = true;
		pager->next_url = NULL;
		MemoryContextSwitchTo(caller);
		return;
	}

	pager->document = parse_body(response, display);
	pager->free_document.func = free_document;
	pager->free_document.arg = pager;
	MemoryContextRegisterResetCallback(pager->page_cxt, &pager->free_document);
	defender_response_release(response);

	pager->rows = json_object_get(pager->document, "value");
	if (!json_is_object(pager->document) || !json_is_array(pager->rows))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph's answer has no \"value\" array"),
				 errdetail("A collection page is a JSON object with a \"value\" array of rows."),
				 errcontext("remote request: %s", display)));

	next = json_object_get(pager->document, "@odata.nextLink");
	pager->next_url = NULL;
	if (next != NULL && !json_is_null(next))
	{
		ListCell   *lc;
		const char *link;
		size_t		origin_len = strlen(opts->graph_url);

		if (!json_is_string(next))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("Microsoft Graph's @odata.nextLink is not a string"),
					 errcontext("remote request: %s", display)));
		link = json_string_value(next);

		/* The token goes with the request: only to the configured service. */
		if (pg_strncasecmp(link, opts->graph_url, origin_len) != 0 ||
			(link[origin_len] != '/' && link[origin_len] != '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("Microsoft Graph's @odata.nextLink points outside graph_url"),
					 errdetail("The link's host is not \"%s\"; it is not followed, so that the access token is not sent elsewhere.",
							   opts->graph_url),
					 errcontext("remote request: %s", display)));

		foreach(lc, pager->visited)
		{
			if (strcmp((char *) lfirst(lc), link) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
						 errmsg("Microsoft Graph's @odata.nextLink leads back to a page already read"),
						 errdetail("Following it would repeat rows; the scan stops with an error instead of returning a partial result."),
						 errcontext("remote request: %s", display)));
		}

		MemoryContextSwitchTo(pager->pager_cxt);
		pager->next_url = pstrdup(link);
		pager->display = display_for(opts, link);
	}
	MemoryContextSwitchTo(caller);
}

/*
 * defender_fetch_entity
 *		GET one entity (an incident by id, say); NULL when Graph answers 404.
 *
 * The document lives until page_cxt is reset.
 */
json_t *
defender_fetch_entity(const DefenderOptions *opts, const char *url,
					  const char *display, MemoryContext page_cxt)
{
	return request_entity(opts, "GET", url, display, NULL, page_cxt);
}

/*
 * parse_body
 *		The response's JSON document; an ERROR that says what came instead
 *		(an empty body, an HTML page, broken JSON) when it is not JSON.
 *
 * The caller owns the document (json_decref) and must arrange for it to be
 * freed on error paths before anything else can fail.
 */
static json_t *
parse_body(const DefenderResponse *response, const char *display)
{
	const DfwHttpResponse *http = &response->http;
	const char *request_id = http->request_id[0] ? http->request_id : "none";
	json_error_t jerr;
	json_t	   *document;

	if (http->body_len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph returned an empty body"),
				 errdetail("HTTP %ld, request-id %s.", http->status, request_id),
				 errcontext("remote request: %s", display)));

	document = json_loadb(http->body, http->body_len, 0, &jerr);
	if (document == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_JSON_TEXT),
				 pg_strncasecmp(http->content_type, "application/json", 16) == 0 ?
				 errmsg("Microsoft Graph returned malformed JSON") :
				 errmsg("Microsoft Graph returned %s instead of JSON",
						http->content_type[0] ? http->content_type : "an untyped body"),
				 errdetail("%s at line %d, column %d of a %zu-byte body (HTTP %ld, request-id %s).",
						   jerr.text, jerr.line, jerr.column, http->body_len,
						   http->status, request_id),
				 errcontext("remote request: %s", display)));
	return document;
}

/*
 * defender_patch_entity
 *		PATCH an entity with a JSON body; Graph's answer (the updated
 *		entity), which lives until cxt is reset.
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
	MemoryContextCallback *cb;
	json_t	   *document;

	response = defender_api_request(opts, opts->graph_url, method, url, display, body,
									get ? DEFENDER_ALLOW_NOT_FOUND : 0);
	if (get && response->http.status == 404)
	{
		defender_response_release(response);
		MemoryContextSwitchTo(caller);
		return NULL;
	}
	cb = palloc(sizeof(MemoryContextCallback));	/* before the document exists */
	document = parse_body(response, display);
	cb->func = decref_document;
	cb->arg = document;
	MemoryContextRegisterResetCallback(cxt, cb);
	defender_response_release(response);
	if (!json_is_object(document))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph's answer is not a JSON object"),
				 errcontext("remote request: %s", display)));
	MemoryContextSwitchTo(caller);
	return document;
}

static void
decref_document(void *arg)
{
	json_decref((json_t *) arg);
}

static void
free_document(void *arg)
{
	DefenderPager *pager = (DefenderPager *) arg;

	if (pager->document)
		json_decref(pager->document);
	pager->document = NULL;
	pager->rows = NULL;
}

/* "GET /v1.0/..." for a URL below graph_url. */
static char *
display_for(const DefenderOptions *opts, const char *url)
{
	return psprintf("GET %s", url + strlen(opts->graph_url));
}
