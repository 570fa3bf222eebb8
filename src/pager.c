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
};

static void fetch_page(DefenderPager *pager);
static void free_document(void *arg);
static char *display_for(const DefenderOptions *opts, const char *url);

/*
 * defender_pager_begin
 *		A pager for the collection at first_url; nothing is fetched yet.
 */
DefenderPager *
defender_pager_begin(const DefenderOptions *opts, const char *first_url,
					 const char *display, MemoryContext page_cxt)
{
	DefenderPager *pager = palloc0(sizeof(DefenderPager));

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
	json_error_t jerr;
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
	response = defender_api_request(opts, opts->graph_url, "GET", url,
									display, NULL, 0);

	if (response->http.body_len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph returned an empty body"),
				 errdetail("HTTP %ld, request-id %s.", response->http.status,
						   response->http.request_id[0] ? response->http.request_id : "none"),
				 errcontext("remote request: %s", display)));

	pager->document = json_loadb(response->http.body, response->http.body_len,
								 0, &jerr);
	if (pager->document == NULL)
	{
		const char *ct = response->http.content_type;

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_JSON_TEXT),
				 pg_strncasecmp(ct, "application/json", 16) == 0 ?
				 errmsg("Microsoft Graph returned malformed JSON") :
				 errmsg("Microsoft Graph returned %s instead of JSON", ct[0] ? ct : "an untyped body"),
				 errdetail("%s at line %d, column %d of a %zu-byte body (HTTP %ld, request-id %s).",
						   jerr.text, jerr.line, jerr.column, response->http.body_len,
						   response->http.status,
						   response->http.request_id[0] ? response->http.request_id : "none"),
				 errcontext("remote request: %s", display)));
	}
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
