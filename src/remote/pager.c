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
 * Following nextLinks is sequential: a 5,000-incident scan at Graph's 50
 * per page is 100 round trips one after another.  When the caller allows
 * it (DefenderPaging), the first request also asks for $count=true; once
 * @odata.count says how many rows there are, the remaining pages are
 * requested by $skip through a sliding window (fill_window): up to
 * paging.parallel pages are in flight or waiting to be read, and each page
 * taken frees a place for the next request at once, so a slow page holds
 * up only its own rows.  Pages are handed out in order, so the rows come
 * in the same order as with nextLinks.  Each page
 * must then hold exactly the rows the count promised; if the collection
 * changed under the scan (a page comes back short) the scan fails with a
 * serialization error rather than return a result with a hole in it.  A
 * last page that still has a nextLink (rows arrived meanwhile) is followed
 * as usual.
 *
 * Everything a page owns (the response body, the jansson document) lives
 * in page_cxt, which is reset for each page; a page requested ahead lives
 * in its own context under window_cxt until it is taken.  Memory context
 * callbacks free the foreign allocations and stop transfers still under
 * way, on error paths and when a scan ends early (a LIMIT) too.
 *
 * src/remote/pager.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <jansson.h>

#include "defender_catalog.h"
#include "defender_remote.h"

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

	/* parallel paging; pages_total is -1 while following nextLinks */
	DefenderPaging paging;		/* paging.parallel 0: never */
	int64		pages_total;	/* pages the scan needs, page 0 the first request */
	int64		rows_total;		/* rows those pages hold */
	int64		next_page;		/* first page not yet requested */
	int64		take_page;		/* first page not yet taken */
	MemoryContext window_cxt;	/* pages requested and not yet taken */
	struct WindowPage *window;	/* paging.parallel places; page p at p % parallel */

	int			rejections;		/* DEFENDER_PAGER_*: may the first page be a 400? */
	bool		rejected;		/* it was, and the caller may recover */
	DfwGraphError rejection;	/* Graph's error for it */
	int			page_limit;		/* the $top cap it announced, or 0 */
	int			requests;		/* pages fetched since begin/rewind */

	/* the page at next_url, when sent ahead by defender_pager_poll */
	MemoryContext pending_cxt;
	DefenderPendingGet *pending;

	/* pages sent ahead are held back, not waited for (DEFENDER_SEND_HOLD) */
	int			send_flags;
};

/* A page requested ahead, in its own memory context. */
typedef struct WindowPage
{
	MemoryContext cxt;
	DefenderPendingGet *get;
	char	   *display;
} WindowPage;

static void fetch_page(DefenderPager *pager);
static int	first_page_flags(DefenderPager *pager);
static void forget_pending(DefenderPager *pager);
static void poll_window(DefenderPager *pager);
static void start_parallel(DefenderPager *pager);
static void fill_window(DefenderPager *pager);
static void take_window_page(DefenderPager *pager);
static void set_page(DefenderPager *pager, DefenderResponse *response, const char *display);
static char *checked_next_link(DefenderPager *pager, const char *display);
static void free_document(void *arg);
static char *display_for(DefenderPager *pager, const char *url);

/*
 * defender_pager_begin
 *		A pager for the collection at first_url; nothing is fetched yet.
 */
DefenderPager *
defender_pager_begin(const DefenderOptions *opts, const char *first_url,
					 const char *display, MemoryContext page_cxt,
					 int rejections, const DefenderPaging *paging)
{
	DefenderPager *pager = palloc0(sizeof(DefenderPager));

	if (paging && paging->parallel > 1)
	{
		pager->paging = *paging;
		pager->paging.prefix = pstrdup(paging->prefix);
		pager->paging.display_prefix = pstrdup(paging->display_prefix);
		pager->window_cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "defender_fdw pages requested ahead",
												  ALLOCSET_SMALL_SIZES);
		pager->window = MemoryContextAllocZero(pager->window_cxt,
											   sizeof(WindowPage) * paging->parallel);
	}
	pager->rejections = rejections;
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
	pager->page_limit = 0;
	pager->requests = 0;
	pager->pages_total = -1;
	pager->next_page = pager->take_page = 0;
	forget_pending(pager);
	if (pager->window_cxt)
	{
		int			i;

		/* deleting a page's context stops its transfer */
		for (i = 0; i < pager->paging.parallel; i++)
		{
			if (pager->window[i].cxt)
				MemoryContextDelete(pager->window[i].cxt);
			pager->window[i].cxt = NULL;
			pager->window[i].get = NULL;
		}
	}
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

/*
 * defender_pager_page_limit
 *		The $top cap Graph announced in its 400 to the first page (only
 *		looked for when begun with DEFENDER_PAGER_PAGE_SIZE), or 0.
 */
int
defender_pager_page_limit(DefenderPager *pager)
{
	return pager->rejected ? pager->page_limit : 0;
}

/*
 * defender_pager_raise_rejection
 *		ERROR for the 400 the first page got, when the caller cannot
 *		recover from it.
 */
void
defender_pager_raise_rejection(DefenderPager *pager)
{
	const DfwGraphError *err = &pager->rejection;

	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
			 errmsg("Microsoft Graph rejected the request"),
			 err->parsed ?
			 errdetail("HTTP 400, error code \"%s\": %s (request-id %s, client-request-id %s).",
					   err->code, defender_redact(pager->opts, err->message),
					   err->request_id[0] ? err->request_id : "none",
					   err->client_request_id[0] ? err->client_request_id : "none") :
			 errdetail("HTTP 400."),
			 errcontext("remote request: %s", pager->first_display)));
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
		if (pager->pages_total > 0 && pager->take_page < pager->pages_total)
			take_window_page(pager);
		else if (pager->started && pager->next_url == NULL)
			return NULL;
		else
			fetch_page(pager);
	}
	return json_array_get(pager->rows, pager->index++);
}

/*
 * defender_pager_poll
 *		Can defender_pager_next() return its next row (or say there is
 *		none) without waiting for the network?
 *
 * When it cannot and start is true, the request it would wait for is
 * under way afterwards: the page at next_url is sent ahead, the window
 * of parallel pages filled.  With start false nothing is sent (the
 * question an asynchronous scan asks while it decides what to wait for).
 * Only the next page is considered: a scan that skips rows may still
 * need one more.
 */
bool
defender_pager_poll(DefenderPager *pager, bool start)
{
	if (pager->rows != NULL && pager->index < json_array_size(pager->rows))
		return true;
	if (pager->pages_total > 0 && pager->take_page < pager->pages_total)
	{
		WindowPage *wp;

		if (start)
		{
			fill_window(pager);
			if (pager->send_flags & DEFENDER_SEND_HOLD)
				poll_window(pager);
		}
		wp = &pager->window[pager->take_page % pager->paging.parallel];
		if (wp->get == NULL)
			return false;
		return start ? defender_api_get_poll(wp->get) : defender_api_get_ready(wp->get);
	}
	if (pager->started && pager->next_url == NULL)
		return true;
	if (pager->pending == NULL)
	{
		MemoryContext caller;
		int			flags;

		if (!start)
			return false;
		flags = first_page_flags(pager);
		pager->pending_cxt = AllocSetContextCreate(pager->pager_cxt,
												   "defender_fdw page sent ahead",
												   ALLOCSET_SMALL_SIZES);
		caller = MemoryContextSwitchTo(pager->pending_cxt);
		pager->pending = defender_api_get_start(pager->opts, pager->opts->graph_url,
												pager->next_url, pager->display,
												flags | pager->send_flags);
		MemoryContextSwitchTo(caller);
	}
	return start ? defender_api_get_poll(pager->pending) :
		defender_api_get_ready(pager->pending);
}

/*
 * poll_window
 *		In hold mode, the window's pages after the next one too: a page
 *		held back whose time has come is sent, a 429 is turned into a hold
 *		at once rather than when its turn comes.
 */
static void
poll_window(DefenderPager *pager)
{
	int64		page;

	for (page = pager->take_page + 1; page < pager->next_page; page++)
	{
		WindowPage *wp = &pager->window[page % pager->paging.parallel];

		if (wp->get)
			(void) defender_api_get_poll(wp->get);
	}
}

/*
 * defender_pager_hold_not_wait
 *		From now on the pages this pager sends ahead are held back, not
 *		waited for, while the tenant's quota or a Retry-After says to wait
 *		(DEFENDER_SEND_HOLD): defender_pager_poll() then answers "not
 *		ready" and defender_pager_held_until() says until when.  For an
 *		asynchronous scan, whose wait would stall the whole Append.
 */
void
defender_pager_hold_not_wait(DefenderPager *pager)
{
	pager->send_flags = DEFENDER_SEND_HOLD;
}

/*
 * defender_pager_held_until
 *		Until when the next page is held back, or 0 when it is not (its
 *		answer is in, its request under way or waiting for a free slot, or
 *		no page is needed).
 */
TimestampTz
defender_pager_held_until(DefenderPager *pager)
{
	if (pager->rows != NULL && pager->index < json_array_size(pager->rows))
		return 0;
	if (pager->pages_total > 0 && pager->take_page < pager->pages_total)
	{
		WindowPage *wp = &pager->window[pager->take_page % pager->paging.parallel];

		return wp->get ? defender_api_get_held_until(wp->get) : 0;
	}
	return pager->pending ? defender_api_get_held_until(pager->pending) : 0;
}

/* DEFENDER_ALLOW_BAD_REQUEST for a first page whose 400 may be recovered from */
static int
first_page_flags(DefenderPager *pager)
{
	return pager->rejections && !pager->started ? DEFENDER_ALLOW_BAD_REQUEST : 0;
}

/* Drop the page sent ahead, stopping its transfer. */
static void
forget_pending(DefenderPager *pager)
{
	if (pager->pending_cxt)
		MemoryContextDelete(pager->pending_cxt);
	pager->pending_cxt = NULL;
	pager->pending = NULL;
}

/*
 * fetch_page
 *		Replace the current page with the one at next_url (its answer
 *		waited for when defender_pager_poll sent it ahead).
 */
static void
fetch_page(DefenderPager *pager)
{
	const DefenderOptions *opts = pager->opts;
	char	   *url = pager->next_url;
	DefenderResponse *response;
	MemoryContext caller = CurrentMemoryContext;
	const char *display;
	int			flags = first_page_flags(pager);

	MemoryContextReset(pager->page_cxt);
	pager->document = NULL;
	pager->rows = NULL;
	pager->index = 0;
	pager->started = true;

	MemoryContextSwitchTo(pager->pager_cxt);
	pager->visited = lappend(pager->visited, pstrdup(url));
	MemoryContextSwitchTo(pager->page_cxt);

	display = pager->display;
	if (pager->pending)
	{
		/* the answer lives in pending_cxt, dropped once the page is read */
		MemoryContextSwitchTo(pager->pending_cxt);
		response = defender_api_get_finish(pager->pending);
		MemoryContextSwitchTo(pager->page_cxt);
	}
	else
		response = defender_api_request(opts, opts->graph_url, "GET", url, display, NULL,
										DEFENDER_CACHEABLE | flags);
	if (!response->from_cache)
		pager->requests++;
	if (response->http.status == 400)
	{
		/*
		 * The caller asks again with a smaller $top, or without its filter;
		 * see defender_pager_rejected.  Any other 400 is an error.
		 */
		dfw_parse_graph_error(response->http.body, response->http.body_len,
							  &pager->rejection);
		if (pager->rejections & DEFENDER_PAGER_PAGE_SIZE)
			pager->page_limit = graph_page_limit_in_message(pager->rejection.message);
		if (pager->page_limit == 0 && !(pager->rejections & DEFENDER_PAGER_FILTER))
			defender_pager_raise_rejection(pager);
		defender_response_release(response);
		forget_pending(pager);
		pager->rejected = true;
		pager->next_url = NULL;
		MemoryContextSwitchTo(caller);
		return;
	}

	set_page(pager, response, display);
	forget_pending(pager);
	pager->next_url = checked_next_link(pager, display);
	if (pager->next_url)
	{
		if (list_length(pager->visited) == 1 && pager->paging.parallel > 1)
			start_parallel(pager);
		else
			pager->display = display_for(pager, pager->next_url);
	}
	MemoryContextSwitchTo(caller);
}

/*
 * set_page
 *		Make a response's "value" array the current page; its body is
 *		freed, the parsed document lives in page_cxt.
 */
static void
set_page(DefenderPager *pager, DefenderResponse *response, const char *display)
{
	MemoryContext caller = MemoryContextSwitchTo(pager->page_cxt);

	pager->document = defender_parse_response(response, DEFENDER_GRAPH_SERVICE, display);
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

	/*
	 * Every row is an object: one rule for all who read pages (scans and
	 * defender_list_incidents), checked before any row of the page is used.
	 */
	{
		size_t		i;

		for (i = 0; i < json_array_size(pager->rows); i++)
			if (!json_is_object(json_array_get(pager->rows, i)))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
						 errmsg("Microsoft Graph returned a row that is not a JSON object"),
						 errdetail("Row %zu of the page's \"value\" array is not an object.", i + 1),
						 errcontext("remote request: %s", display)));
	}
	MemoryContextSwitchTo(caller);
}

/*
 * checked_next_link
 *		The current page's @odata.nextLink (in pager_cxt), or NULL.
 *
 * It is followed only when it points at the server's own graph_url, since
 * the bearer token goes with it, and never to a page already read.
 */
static char *
checked_next_link(DefenderPager *pager, const char *display)
{
	const DefenderOptions *opts = pager->opts;
	json_t	   *next = json_object_get(pager->document, "@odata.nextLink");
	ListCell   *lc;
	const char *link;
	DfwOrigin	graph;
	DfwOrigin	target;
	char	   *graph_path;
	char	   *rest;
	char	   *why = NULL;
	size_t		base_len = 0;
	bool		inside;

	if (next == NULL || json_is_null(next))
		return NULL;
	if (!json_is_string(next))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph's @odata.nextLink is not a string"),
				 errcontext("remote request: %s", display)));

	/*
	 * The token goes with the request: only to the configured service, as
	 * libcurl reads the link (same scheme, host and port, below graph_url's
	 * path).  The link followed is rebuilt on graph_url from the path and
	 * query libcurl read, so it is the same text as every other request's.
	 */
	inside = defender_url_origin(opts->graph_url, &graph, &graph_path, &why) &&
		defender_url_origin(json_string_value(next), &target, &rest, &why) &&
		defender_same_origin(&target, &graph);
	if (inside)
	{
		base_len = strcmp(graph_path, "/") == 0 ? 0 : strlen(graph_path);
		inside = strncmp(rest, graph_path, base_len) == 0 &&
			(rest[base_len] == '/' || rest[base_len] == '?' || rest[base_len] == '\0');
	}
	if (!inside)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
				 errmsg("Microsoft Graph's @odata.nextLink points outside graph_url"),
				 errdetail("The link is not below \"%s\"%s%s; it is not followed, so that the access token is not sent elsewhere.",
						   opts->graph_url, why ? ": " : "", why ? why : ""),
				 errcontext("remote request: %s", display)));
	link = psprintf("%s%s", opts->graph_url, rest + base_len);

	foreach(lc, pager->visited)
	{
		if (strcmp((char *) lfirst(lc), link) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("Microsoft Graph's @odata.nextLink leads back to a page already read"),
					 errdetail("Following it would repeat rows; the scan stops with an error instead of returning a partial result."),
					 errcontext("remote request: %s", display)));
	}
	return MemoryContextStrdup(pager->pager_cxt, link);
}

/*
 * start_parallel
 *		After the first page: from @odata.count, how many more pages the
 *		scan needs; they are then requested through the window instead of by
 *		following nextLinks.  Without a usable count, nextLinks it is.
 */
static void
start_parallel(DefenderPager *pager)
{
	const DefenderPaging *paging = &pager->paging;
	json_t	   *count = json_object_get(pager->document, "@odata.count");
	int64		rows;
	int64		first = (int64) json_array_size(pager->rows);

	if (!json_is_integer(count) || first != paging->page_size)
	{
		pager->display = display_for(pager, pager->next_url);
		return;
	}
	rows = (int64) json_integer_value(count) - paging->first_skip;
	if (paging->row_limit >= 0 && rows > paging->row_limit)
		rows = paging->row_limit;
	if (rows <= first)
	{
		/* the count says the first page was all; the nextLink decides */
		pager->display = display_for(pager, pager->next_url);
		return;
	}
	pager->rows_total = rows;
	pager->pages_total = (rows + paging->page_size - 1) / paging->page_size;
	pager->next_page = pager->take_page = 1;
	pager->next_url = NULL;
	/*
	 * The window opens when the first page is used up, not now: a scan
	 * that stops within the first page (a LIMIT over a condition left to
	 * PostgreSQL) then costs one request, as with nextLinks.
	 */
}

/*
 * fill_window
 *		Request pages until paging.parallel of them are in flight or
 *		waiting to be taken, or none is left to request.
 */
static void
fill_window(DefenderPager *pager)
{
	const DefenderPaging *paging = &pager->paging;
	char		sep = strchr(paging->prefix, '?') ? '&' : '?';
	bool		sent = false;

	while (pager->next_page < pager->pages_total &&
		   pager->next_page < pager->take_page + paging->parallel)
	{
		int64		page = pager->next_page;
		WindowPage *wp = &pager->window[page % paging->parallel];
		int64		skip = paging->first_skip + page * paging->page_size;
		int64		top = Min(paging->page_size, pager->rows_total - page * paging->page_size);
		MemoryContext caller;
		char	   *options;

		Assert(wp->cxt == NULL);
		wp->cxt = AllocSetContextCreate(pager->window_cxt, "defender_fdw page requested ahead",
										ALLOCSET_SMALL_SIZES);
		caller = MemoryContextSwitchTo(wp->cxt);
		options = psprintf("%c$skip=" INT64_FORMAT "&$top=" INT64_FORMAT, sep, skip, top);
		wp->display = psprintf("%s%s", paging->display_prefix, options);
		wp->get = defender_api_get_start(pager->opts, pager->opts->graph_url,
										 psprintf("%s%s", paging->prefix, options),
										 wp->display, DEFENDER_SEND_BATCHED | pager->send_flags);
		MemoryContextSwitchTo(caller);
		pager->next_page++;
		sent = true;
	}
	/* the batch on the wire in one step (a step polls every transfer) */
	if (sent)
		defender_transfer_progress();
}

/*
 * take_window_page
 *		Make the next page current: wait for its answer (the pages after it
 *		keep arriving meanwhile), request the next page in its place, and
 *		check it holds the rows the count promised.
 */
static void
take_window_page(DefenderPager *pager)
{
	int64		page = pager->take_page;
	WindowPage *wp = &pager->window[page % pager->paging.parallel];
	DefenderResponse *response;
	MemoryContext caller;
	int64		expected;
	const char *display;

	fill_window(pager);

	MemoryContextReset(pager->page_cxt);
	pager->document = NULL;
	pager->rows = NULL;
	pager->index = 0;

	caller = MemoryContextSwitchTo(wp->cxt);
	response = defender_api_get_finish(wp->get);
	MemoryContextSwitchTo(caller);
	if (!response->from_cache)
		pager->requests++;
	/* the page's answer and request line go to page_cxt; its context goes */
	display = MemoryContextStrdup(pager->page_cxt, wp->display);
	set_page(pager, response, display);
	MemoryContextDelete(wp->cxt);
	wp->cxt = NULL;
	wp->get = NULL;
	pager->take_page++;
	fill_window(pager);

	expected = Min(pager->paging.page_size,
				   pager->rows_total - page * pager->paging.page_size);
	if ((int64) json_array_size(pager->rows) < expected)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the collection changed while its pages were read in parallel"),
				 errdetail("@odata.count promised " INT64_FORMAT " rows; page " INT64_FORMAT " held %zu of the " INT64_FORMAT " expected.",
						   pager->rows_total + pager->paging.first_skip, page + 1,
						   json_array_size(pager->rows), expected),
				 errhint("Run the query again, or set the option parallel_pages to 1 to follow Graph's nextLinks one page at a time."),
				 errcontext("remote request: %s", display)));

	/* Rows that arrived during the scan: the last page's nextLink has them. */
	if (page == pager->pages_total - 1 && pager->paging.row_limit < 0)
	{
		caller = MemoryContextSwitchTo(pager->pager_cxt);

		pager->next_url = checked_next_link(pager, display);
		if (pager->next_url)
			pager->display = display_for(pager, pager->next_url);
		MemoryContextSwitchTo(caller);
		pager->pages_total = -1;	/* from here on, nextLinks */
	}
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

/* "GET /v1.0/..." for a URL below graph_url; it lives as long as the pager. */
static char *
display_for(DefenderPager *pager, const char *url)
{
	return MemoryContextStrdup(pager->pager_cxt,
							   psprintf("GET %s", url + strlen(pager->opts->graph_url)));
}
