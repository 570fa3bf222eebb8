/*-------------------------------------------------------------------------
 *
 * request.c
 *		  Authenticated requests to Graph and the Defender for Endpoint API.
 *
 * The one place where a bearer token meets a request: a token from auth.c,
 * a fresh client-request-id, the response cache of cache_ttl, one more try
 * with a fresh token when the API answers 401, and the API's error turned
 * into an ERROR.  defender_send_request() is the one request function:
 * the scans, the pager, UPDATE, IMPORT, every SQL function, the generic
 * defender_request() included (which takes every answer as a row, its
 * own headers and its own retry count and wait), send through it.
 * Retries of a throttled or broken transfer happen below, in the transport
 * (connection.c's defender_http_send), by one rule for every kind of
 * request.  Pages requested ahead (defender_api_get_start/finish) take the
 * same path when their answer is one a single request would retry.
 *
 * Layering: request.c calls auth.c and connection.c; auth.c calls only
 * connection.c (its token requests are plain transfers); connection.c
 * calls neither.  Everything above src/remote/ sends through this file.
 *
 * src/remote/request.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "defender_catalog.h"
#include "defender_remote.h"
#include "transport.h"

#define API_HEADERS			5	/* api_headers() writes at most 4 and a NULL */
#define TRANSFER_SLOTS_KEPT	2	/* never used for pages requested ahead */

/* GETs started with DEFENDER_SEND_BATCHED and not yet put on the wire */
static bool unstepped_sends = false;

static const char **api_headers(const char *authorization, const char *client_request_id,
								bool json_body, List *extra);
static bool header_given(List *lines, const char *name);
static const char *service_name(const DefenderOptions *opts, const char *audience);

/*
 * api_headers
 *		The headers of an authenticated API request, palloc'd and
 *		NULL-terminated: the Authorization line given, a fresh
 *		client-request-id, Accept, Content-Type when there is a body, and
 *		the caller's extra lines, which replace any of the last three they
 *		name.
 */
static const char **
api_headers(const char *authorization, const char *client_request_id,
			bool json_body, List *extra)
{
	const char **h = palloc(sizeof(char *) * (API_HEADERS + list_length(extra)));
	int			n = 0;
	ListCell   *lc;

	h[n++] = authorization;
	if (!header_given(extra, "client-request-id"))
		h[n++] = psprintf("client-request-id: %s", client_request_id);
	if (!header_given(extra, "accept"))
		h[n++] = "Accept: application/json";
	if (json_body && !header_given(extra, "content-type"))
		h[n++] = "Content-Type: application/json; charset=utf-8";
	foreach(lc, extra)
		h[n++] = (const char *) lfirst(lc);
	h[n] = NULL;
	return h;
}

/* Does one of the header lines ("Name: value" or "Name;") set name? */
static bool
header_given(List *lines, const char *name)
{
	ListCell   *lc;

	foreach(lc, lines)
	{
		const char *line = (const char *) lfirst(lc);
		size_t		len = strcspn(line, ":;");

		if (len == strlen(name) && pg_strncasecmp(line, name, len) == 0)
			return true;
	}
	return false;
}

/* The service an audience names, for messages. */
static const char *
service_name(const DefenderOptions *opts, const char *audience)
{
	return strcmp(audience, opts->mde_url) == 0 ?
		DEFENDER_MDE_SERVICE : DEFENDER_GRAPH_SERVICE;
}

/*
 * defender_api_request
 *		Send an authenticated request to Graph (audience graph_url) or the
 *		Defender for Endpoint API (audience mde_url), with the server's
 *		retries: defender_send_request() with the usual settings.
 */
DefenderResponse *
defender_api_request(const DefenderOptions *opts, const char *audience,
					 const char *method, const char *url, const char *display,
					 const char *body, int flags)
{
	DefenderRequest request;

	memset(&request, 0, sizeof(request));
	request.audience = audience;
	request.method = method;
	request.url = url;
	request.display = display;
	request.body = body;
	request.flags = flags;
	request.headers = NIL;
	request.max_retries = -1;
	request.retry_wait_ms = DEFENDER_BACKOFF;
	return defender_send_request(opts, &request);
}

/*
 * defender_send_request
 *		The one request function: send an authenticated request, retried by
 *		the transport's rule, and return its answer.
 *
 * A 401 gets one fresh token and one more try.  Success (2xx), 404 when
 * DEFENDER_ALLOW_NOT_FOUND is set, 400 when DEFENDER_ALLOW_BAD_REQUEST is,
 * and any status with DEFENDER_ANY_STATUS is returned; any other status
 * raises an ERROR describing it (the one mapping of the APIs' errors,
 * defender_report_api_error).  A failed transfer always raises.
 */
DefenderResponse *
defender_send_request(const DefenderOptions *opts, const DefenderRequest *req)
{
	bool		refreshed = false;
	bool		idempotent = strcmp(req->method, "GET") == 0;
	const char *service = service_name(opts, req->audience);
	const char *display = defender_display_text(req->display);
	DefenderOptions retried;
	const DefenderOptions *send_opts = opts;

	/* a retry count of the caller's: the transport's rule, that many times */
	if (req->max_retries >= 0 && req->max_retries != opts->max_retries)
	{
		retried = *opts;
		retried.max_retries = req->max_retries;
		send_opts = &retried;
	}

	if (req->flags & DEFENDER_CACHEABLE)
	{
		DefenderResponse *cached = defender_new_response();

		if (defender_cache_lookup(opts, req->method, req->url, req->body, cached))
		{
			elog(DEBUG1, "defender_fdw: %s -> %ld from the cache", display, cached->http.status);
			return cached;
		}
	}
	else if (!idempotent)
		defender_cache_forget_all();	/* a write: cached reads may be stale */

	for (;;)
	{
		const char *token = defender_get_token(opts, req->audience, refreshed);
		char	   *client_request_id = defender_new_client_request_id();
		const char **headers;
		DefenderResponse *response;
		long		status;

		headers = api_headers(psprintf("Authorization: Bearer %s", token),
							  client_request_id, req->body != NULL, req->headers);

		response = defender_http_send(send_opts, req->method, req->url, req->audience,
									  display, headers,
									  req->body, req->body ? strlen(req->body) : 0,
									  idempotent, req->retry_wait_ms);
		/* The header held a credential; do not leave it lying in memory. */
		explicit_bzero((char *) headers[0], strlen(headers[0]));
		pfree((char *) headers[0]);

		status = response->http.status;
		if (status == 401 && !refreshed)
		{
			elog(DEBUG1, "defender_fdw: %s answered 401; refreshing the token once", display);
			defender_response_release(response);
			defender_forget_token(opts, req->audience);
			refreshed = true;
			continue;
		}
		if (status >= 200 && status < 300 && (req->flags & DEFENDER_CACHEABLE))
			defender_cache_store(opts, req->method, req->url, req->body, response);
		if ((status >= 200 && status < 300) ||
			(req->flags & DEFENDER_ANY_STATUS) ||
			(status == 404 && (req->flags & DEFENDER_ALLOW_NOT_FOUND)) ||
			(status == 400 && (req->flags & DEFENDER_ALLOW_BAD_REQUEST)))
			return response;

		if (req->retries_spent > 0)
		{
			/* the message counts every retry, the caller's too */
			if (send_opts != &retried)
			{
				retried = *opts;
				send_opts = &retried;
			}
			retried.max_retries += req->retries_spent;
		}
		defender_report_api_error(send_opts, response, service, display, client_request_id);
	}
}

/*
 * Requests sent ahead: defender_api_get_start() sends a GET and returns
 * at once; defender_api_get_finish() waits for its answer, and
 * defender_api_get_poll() says whether it would have to.  Meanwhile the
 * backend does other work (returns the previous page's rows, or another
 * scan's, in an asynchronous Append) and other requests may run on the
 * client's free slots.
 */
struct DefenderPendingGet
{
	const DefenderOptions *opts;
	const char *audience;
	char	   *url;
	char	   *display;
	int			flags;			/* DEFENDER_ALLOW_BAD_REQUEST, or 0 */
	char	   *client_request_id;
	DefenderResponse *response;
	bool		from_cache;		/* answered by cache_ttl's cache */
	bool		sent;			/* started on a slot (else sent at finish) */
	bool		collected;		/* its answer read off the slot (a hold's) */

	/*
	 * DEFENDER_SEND_HOLD: held back, not waited for, while the tenant's
	 * quota or a Retry-After says to wait (until hold_until), and a
	 * retryable answer seen by poll is sent again the same way
	 * (attempts: the retries so far, by defender_retry_delay's rule).
	 */
	bool		hold;
	TimestampTz hold_until;
	int			attempts;
	DfwTicket	ticket;
	TimestampTz started;
	MemoryContextCallback cancel;	/* stops the transfer with the context */
};

static bool hold_for_retry(DefenderPendingGet *get);

static void
cancel_pending_get(void *arg)
{
	DefenderPendingGet *get = (DefenderPendingGet *) arg;

	if (get->sent)
		dfw_client_cancel(defender_transport_client(), get->ticket);
	get->sent = false;
}

/*
 * send_pending_get
 *		Put a pending GET on a free slot, if one can be spared
 *		(TRANSFER_SLOTS_KEPT stay free for ordinary requests).
 */
static void
send_pending_get(DefenderPendingGet *get, bool batched)
{
	DfwClient  *client = defender_transport_client();
	const char **headers;
	char	   *authorization;
	DfwHttpRequest request;
	MemoryContext caller;

	if (get->sent || get->from_cache || get->collected ||
		dfw_client_free_slots(client) <= TRANSFER_SLOTS_KEPT)
		return;

	if (get->hold)
	{
		/* a Retry-After not yet over, or the quota: ask again later */
		if (get->hold_until > GetCurrentTimestamp())
			return;
		if (!defender_quota_try_hold(get->opts, get->url, &get->hold_until))
			return;
		get->hold_until = 0;
	}
	else if (!defender_quota_try_send(get->opts, get->url))
	{
		/*
		 * The quota makes this one wait: the batch started before it goes
		 * on the wire first, not after the wait.
		 */
		if (unstepped_sends)
			defender_transfer_progress();
		defender_quota_before_send(get->opts, get->url);
	}
	caller = MemoryContextSwitchTo(GetMemoryChunkContext(get));
	authorization = psprintf("Authorization: Bearer %s",
							 defender_get_token(get->opts, get->audience, false));
	get->client_request_id = defender_new_client_request_id();
	headers = api_headers(authorization, get->client_request_id, false, NIL);
	defender_init_request(&request, get->opts, "GET", get->url, get->audience, headers,
						  NULL, 0);
	get->started = GetCurrentTimestamp();
	/* libcurl copies the URL and headers: the credential can go now */
	get->sent = defender_start_transfer(get->opts, client, &request, &get->response->http,
										&get->ticket);
	explicit_bzero(authorization, strlen(authorization));
	pfree(authorization);
	MemoryContextSwitchTo(caller);
	if (get->sent && batched)
		unstepped_sends = true;
	else if (get->sent)
	{
		DfwWait		wait;

		/*
		 * Put the request on the wire now, not at the next wait.  A caller
		 * sending several at once asks for one step after the lot
		 * (DEFENDER_SEND_BATCHED, defender_transfer_progress): one step
		 * starts every new transfer (curl's timeout of zero), so the
		 * others' steps would be system calls for nothing.
		 */
		unstepped_sends = false;
		(void) dfw_client_step(client, &wait);
	}
	else
	{
		/* no transfer: send it afresh at finish */
		dfw_response_free_body(&get->response->http);
		dfw_response_init(&get->response->http);
	}
}

/*
 * defender_api_get_start
 *		Send a GET to Graph or the MDE API without waiting for the answer.
 *
 * Everything lives in CurrentMemoryContext; when that context goes away
 * first (the scan ended early, or failed), the transfer is stopped, so
 * libcurl never writes into freed memory.  When the client has no slot to
 * spare, the request is sent later: by defender_api_get_poll() when a
 * slot is free by then, else by defender_api_get_finish().  flags may be
 * DEFENDER_ALLOW_BAD_REQUEST: a 400 is then returned, not raised; and
 * DEFENDER_SEND_BATCHED: the request is put on a slot but not on the wire,
 * which the caller's defender_transfer_progress() after its batch does.
 */
DefenderPendingGet *
defender_api_get_start(const DefenderOptions *opts, const char *audience,
					   const char *url, const char *display, int flags)
{
	DefenderPendingGet *get = palloc0(sizeof(DefenderPendingGet));

	get->opts = opts;
	get->audience = audience;
	get->url = pstrdup(url);
	get->display = pstrdup(defender_display_text(display));
	get->flags = flags & DEFENDER_ALLOW_BAD_REQUEST;
	get->hold = (flags & DEFENDER_SEND_HOLD) != 0;
	get->response = defender_new_response();
	get->ticket.slot = -1;
	get->cancel.func = cancel_pending_get;
	get->cancel.arg = get;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &get->cancel);

	if (defender_cache_lookup(opts, "GET", url, NULL, get->response))
	{
		get->from_cache = true;
		return get;
	}
	send_pending_get(get, (flags & DEFENDER_SEND_BATCHED) != 0);
	return get;
}

/*
 * defender_api_get_poll
 *		Can defender_api_get_finish() return without waiting for the
 *		network?  A GET still waiting for a slot is sent here when one has
 *		come free.  Nothing is waited for, and no ERROR is raised for the
 *		answer (finish does that).
 */
bool
defender_api_get_poll(DefenderPendingGet *get)
{
	if (get->from_cache || get->collected)
		return true;
	if (!get->sent)
		send_pending_get(get, false);
	if (!get->sent)
		return false;
	if (!dfw_client_finished(defender_transport_client(), get->ticket))
		return false;
	return !get->hold || !hold_for_retry(get);
}

/*
 * hold_for_retry
 *		A held GET's answer is in: when it is one to send again (a 429,
 *		a 503, a broken transfer: defender_retry_delay's rule, as the
 *		synchronous loop applies it), hold the request back for the
 *		delay and return true; else false, and finish takes the answer.
 *
 * A 429's Retry-After also blocks the tenant in the quota governor
 * (defender_quota_after_response), so the tenant's other pages are held
 * until then as well.  A delay the statement cannot afford is an ERROR
 * now, saying how long the tenant is blocked.
 */
static bool
hold_for_retry(DefenderPendingGet *get)
{
	DfwHttpResponse *r = &get->response->http;
	long		delay;

	(void) dfw_client_collect(defender_transport_client(), get->ticket, r);
	get->sent = false;
	get->collected = true;
	defender_quota_after_response(get->opts, get->url, r);
	if (r->error == DFW_CLIENT_OK && r->status >= 200 && r->status < 300)
		return false;
	delay = defender_retry_delay(get->opts, r, get->attempts, true, DEFENDER_BACKOFF);
	if (delay < 0)
		return false;

	elog(DEBUG1, "defender_fdw: %s -> %ld%s%s; held back %ld ms before retry %d of %d",
		 get->display, r->status,
		 r->error != DFW_CLIENT_OK ? ", " : "",
		 r->error != DFW_CLIENT_OK ? r->error_message : "",
		 delay, get->attempts + 1, get->opts->max_retries);
	get->attempts++;
	get->hold_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
	defender_quota_check_hold(get->opts, get->url, get->hold_until);
	dfw_response_free_body(r);
	dfw_response_init(r);
	get->collected = false;
	return true;
}

/*
 * defender_api_get_held_until
 *		Until when a GET sent with DEFENDER_SEND_HOLD is held back (for
 *		the tenant's quota or a Retry-After), or 0 when it is not: the time
 *		an asynchronous scan sets its timer for.
 */
TimestampTz
defender_api_get_held_until(DefenderPendingGet *get)
{
	if (!get->hold || get->sent || get->from_cache || get->collected)
		return 0;
	return get->hold_until;
}

/*
 * defender_api_get_ready
 *		defender_api_get_poll() without sending anything: has the answer
 *		arrived?
 */
bool
defender_api_get_ready(DefenderPendingGet *get)
{
	if (get->from_cache || get->collected)
		return true;
	return get->sent && dfw_client_finished(defender_transport_client(), get->ticket);
}

/*
 * defender_api_get_finish
 *		The answer to a defender_api_get_start(), which is a 2xx (or a 400
 *		when the start allowed it); any other outcome is an ERROR, as for
 *		one defender_api_request().
 *
 * What a single request would retry (429, 503, 504, 401, a broken or
 * timed-out transfer: a page requested ahead may have waited long for its
 * turn) is sent again through defender_api_request(), which owns retries,
 * token refresh and their error reports.
 */
DefenderResponse *
defender_api_get_finish(DefenderPendingGet *get)
{
	DfwClient  *client = defender_transport_client();
	DfwHttpResponse *r = &get->response->http;
	const char *service = service_name(get->opts, get->audience);

	if (get->from_cache)
		return get->response;
	if (get->collected)
		get->collected = false; /* hold_for_retry read it, and let it be */
	else if (!get->sent)
		return defender_api_request(get->opts, get->audience, "GET", get->url,
									get->display, NULL, DEFENDER_CACHEABLE | get->flags);
	else
	{
		PG_TRY();
		{
			defender_wait_for_ticket(client, get->ticket);
		}
		PG_CATCH();
		{
			cancel_pending_get(get);
			PG_RE_THROW();
		}
		PG_END_TRY();
		(void) dfw_client_collect(client, get->ticket, r);
		get->sent = false;
		defender_quota_after_response(get->opts, get->url, r);
	}

	elog(DEBUG1, "defender_fdw: %s -> %ld%s%s (%ld ms since sent ahead, request-id %s)",
		 get->display, r->status,
		 r->error != DFW_CLIENT_OK ? ", " : "",
		 r->error != DFW_CLIENT_OK ? r->error_message : "",
		 (long) ((GetCurrentTimestamp() - get->started) / 1000),
		 r->request_id[0] ? r->request_id : "none");

	if (r->error == DFW_CLIENT_OK && r->status >= 200 && r->status < 300)
	{
		defender_cache_store(get->opts, "GET", get->url, NULL, get->response);
		return get->response;
	}
	if (r->error == DFW_CLIENT_OK && r->status == 400 &&
		(get->flags & DEFENDER_ALLOW_BAD_REQUEST))
		return get->response;
	/*
	 * What one request would retry: send it again, alone.  Not a held GET
	 * whose retries defender_retry_delay says are spent (or whose
	 * Retry-After is too long): its error is reported as the synchronous
	 * loop's would be.
	 */
	if ((r->error == DFW_CLIENT_OK ?
		 (r->status == 401 || defender_status_is_retryable(r->status, true)) :
		 (r->error == DFW_CLIENT_TRANSFER_FAILED || r->error == DFW_CLIENT_CONNECT_FAILED ||
		  r->error == DFW_CLIENT_TIMED_OUT)) &&
		!(get->hold && r->status != 401 &&
		  (get->attempts > 0 || r->error == DFW_CLIENT_OK) &&
		  defender_retry_delay(get->opts, r, get->attempts, true, DEFENDER_BACKOFF) < 0))
	{
		defender_response_release(get->response);
		return defender_api_request(get->opts, get->audience, "GET", get->url,
									get->display, NULL, DEFENDER_CACHEABLE | get->flags);
	}
	if (r->error != DFW_CLIENT_OK)
		defender_report_transport_error(get->opts, get->response, get->url, get->display,
										get->attempts, true);
	defender_report_api_error(get->opts, get->response, service, get->display,
							  get->client_request_id);
	return NULL;				/* not reached */
}

/*
 * A request read as it arrives: defender_stream_start() sends it,
 * defender_stream_next() hands out its body's bytes as they come (between
 * two steps of the client, never from inside libcurl's callbacks, so the
 * caller may parse them and raise errors), and defender_stream_finish()
 * settles the outcome.  Only a 2xx answer's bytes are handed out: an
 * error status, a 429 or a 401 arrives whole and finish hands it to the
 * one request path (defender_send_request: its retries, its token
 * refresh, its error mapping), or says to send the request again there.
 * A hunting scan reads its answer this way (hunting_scan.c), so that it
 * parses while the bytes arrive and can hand out rows before the last one.
 */
/*
 * What a streamed answer may hold undrained before its transfer pauses: an
 * answer requested ahead of its turn (the next time window's) waits with
 * this much, not its whole self (up to ~50 MB), while the current one is
 * read; the one being read is drained at every step and never pauses.
 */
#define DEFENDER_STREAM_HOLD_BYTES (256 * 1024)

struct DefenderBodyStream
{
	const DefenderOptions *opts;
	const char *audience;
	char	   *url;
	char	   *display;
	char	   *client_request_id;
	const char *method;
	char	   *body;
	DefenderResponse *response;
	DfwTicket	ticket;
	int			retries_left;	/* for defender_stream_resend */
	bool		sent;			/* on a slot, not yet collected */
	bool		drain;			/* the bytes last handed out are consumed */
	uint64		bytes_out;		/* body bytes handed out */
	TimestampTz started;
	MemoryContextCallback cancel;	/* stops the transfer with the context */
};

static void
cancel_stream(void *arg)
{
	DefenderBodyStream *stream = (DefenderBodyStream *) arg;

	if (stream->sent)
		dfw_client_cancel(defender_transport_client(), stream->ticket);
	stream->sent = false;
}

/*
 * defender_stream_start
 *		Send an authenticated request whose answer is read as it arrives.
 *
 * Everything lives in CurrentMemoryContext; when that context goes first
 * (the scan ended early: a LIMIT met, a cursor closed, an error), the
 * transfer is stopped and its connection closed, so no more bytes come.
 * Nothing is cached (cache_ttl needs the whole answer: its readers use
 * defender_send_request).  A request that cannot start is reported by
 * finish.  The call is counted against the tenant's quota first, waiting
 * for it; or, when !may_wait (a request sent ahead of need), NULL is
 * returned and nothing sent when the quota would make it wait.
 */
DefenderBodyStream *
defender_stream_start(const DefenderOptions *opts, const char *audience,
					  const char *method, const char *url, const char *display,
					  const char *body, bool may_wait)
{
	DefenderBodyStream *stream;
	DfwClient  *client = defender_transport_client();
	const char **headers;
	char	   *authorization;
	DfwHttpRequest request;
	DfwWait		wait;

	if (may_wait)
		defender_quota_before_send(opts, url);
	else if (!defender_quota_try_send(opts, url))
		return NULL;
	stream = palloc0(sizeof(DefenderBodyStream));
	stream->opts = opts;
	stream->audience = audience;
	stream->url = pstrdup(url);
	stream->display = pstrdup(defender_display_text(display));
	stream->method = method;
	stream->body = body ? pstrdup(body) : NULL;
	stream->retries_left = opts->max_retries;
	stream->response = defender_new_response();
	stream->ticket.slot = -1;
	stream->cancel.func = cancel_stream;
	stream->cancel.arg = stream;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &stream->cancel);

	if (strcmp(method, "GET") != 0)
		defender_cache_forget_all();	/* as defender_send_request does */
	authorization = psprintf("Authorization: Bearer %s",
							 defender_get_token(opts, audience, false));
	stream->client_request_id = defender_new_client_request_id();
	headers = api_headers(authorization, stream->client_request_id, body != NULL, NIL);
	defender_init_request(&request, opts, method, stream->url, audience, headers,
						  stream->body, body ? strlen(body) : 0);
	request.stream_body = 1;
	request.stream_hold_bytes = DEFENDER_STREAM_HOLD_BYTES;
	stream->started = GetCurrentTimestamp();
	stream->sent = defender_start_transfer(opts, client, &request,
										   &stream->response->http, &stream->ticket);
	/* libcurl copies the URL and headers: the credential can go now */
	explicit_bzero(authorization, strlen(authorization));
	pfree(authorization);
	if (stream->sent)
		(void) dfw_client_step(client, &wait);	/* on the wire now */
	return stream;
}

/*
 * defender_stream_next
 *		The next bytes of a 2xx answer, waiting (interruptibly) until some
 *		arrive; false when the transfer is over (call finish).  The bytes
 *		stay valid until the next call, which forgets them: the answer is
 *		never held whole, however large.
 */
bool
defender_stream_next(DefenderBodyStream *stream, const char **data, size_t *len)
{
	DfwClient  *client = defender_transport_client();
	DfwHttpResponse *http = &stream->response->http;
	DfwWait		wait;

	if (stream->drain)
	{
		dfw_client_drain(client, http);
		stream->drain = false;
	}
	while (stream->sent)
	{
		(void) dfw_client_step(client, &wait);
		if (http->headers_done && http->status >= 200 && http->status < 300 &&
			http->body_len > 0)
		{
			*data = http->body;
			*len = http->body_len;
			stream->bytes_out += http->body_len;
			stream->drain = true;
			return true;
		}
		if (dfw_client_finished(client, stream->ticket))
			return false;
		defender_transport_wait(&wait);
	}
	return false;
}

/*
 * defender_stream_cancel
 *		Stop the transfer now (a reader that needs no more of the answer).
 */
void
defender_stream_cancel(DefenderBodyStream *stream)
{
	cancel_stream(stream);
}

/*
 * defender_stream_finish
 *		After defender_stream_next() said the transfer is over: its
 *		answer, when it is a 2xx (whose bytes were all handed out) or a 400
 *		(whole, for the caller to read); NULL when the caller should send
 *		the request again, with defender_stream_resend(); any other outcome
 *		is an ERROR.
 *
 * The rule is the transport's (connection.c), counted over both: a 429
 * waits its Retry-After (or the backoff) and is sent again while retries
 * are left; a 401 is sent again once with a fresh token (as
 * defender_send_request does).  A transfer broken on the way is sent
 * again only when may_resend: the caller says so while nothing read from
 * the bytes has left it (no row handed out), since then starting over is
 * invisible.  Once something has left, a broken transfer is an ERROR that
 * says the answer was cut: a partial answer is never passed off as the
 * whole.
 */
DefenderResponse *
defender_stream_finish(DefenderBodyStream *stream, bool may_resend)
{
	DfwClient  *client = defender_transport_client();
	DfwHttpResponse *r = &stream->response->http;
	const char *service = service_name(stream->opts, stream->audience);

	if (stream->sent)
	{
		PG_TRY();
		{
			defender_wait_for_ticket(client, stream->ticket);
		}
		PG_CATCH();
		{
			cancel_stream(stream);
			PG_RE_THROW();
		}
		PG_END_TRY();
		(void) dfw_client_collect(client, stream->ticket, r);
		stream->sent = false;
		defender_quota_after_response(stream->opts, stream->url, r);
	}
	elog(DEBUG1, "defender_fdw: %s -> %ld%s%s (%ld ms, " UINT64_FORMAT " bytes read as they arrived, request-id %s)",
		 stream->display, r->status,
		 r->error != DFW_CLIENT_OK ? ", " : "",
		 r->error != DFW_CLIENT_OK ? r->error_message : "",
		 (long) ((GetCurrentTimestamp() - stream->started) / 1000),
		 stream->bytes_out, r->request_id[0] ? r->request_id : "none");

	if (r->error != DFW_CLIENT_OK)
	{
		bool		broken = r->error == DFW_CLIENT_TRANSFER_FAILED ||
			r->error == DFW_CLIENT_CONNECT_FAILED;

		if (broken && may_resend && stream->retries_left > 0)
		{
			stream->retries_left--;
			defender_response_release(stream->response);
			return NULL;
		}
		if (broken && stream->bytes_out > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("the connection to %s failed after part of the answer had been read",
							service),
					 errdetail("%s, after " UINT64_FORMAT " bytes of the answer (HTTP %ld, request-id %s, client-request-id %s).",
							   defender_redact(stream->opts, r->error_message),
							   (uint64) r->body_total, r->status,
							   defender_display_text(r->request_id[0] ? r->request_id : "none"),
							   stream->client_request_id),
					 errhint("Rows were already returned, so the request is not sent again: run the statement again."),
					 errcontext("remote request: %s", stream->display)));
		defender_report_transport_error(stream->opts, stream->response, stream->url,
										stream->display,
										stream->opts->max_retries - stream->retries_left,
										true);
	}
	if ((r->status >= 200 && r->status < 300) || r->status == 400)
		return stream->response;
	if (r->status == 401)
	{
		defender_forget_token(stream->opts, stream->audience);
		defender_response_release(stream->response);
		return NULL;
	}
	if (defender_status_is_retryable(r->status, false) && stream->retries_left > 0)
	{
		long		delay = defender_retry_delay_ms(r, 0);

		if (delay <= DEFENDER_MAX_RETRY_WAIT_MS)
		{
			elog(DEBUG1, "defender_fdw: retrying %s in %ld ms", stream->display, delay);
			stream->retries_left--;
			defender_response_release(stream->response);
			defender_sleep_ms(delay);
			return NULL;
		}
	}
	defender_report_api_error(stream->opts, stream->response, service, stream->display,
							  stream->client_request_id);
	return NULL;				/* not reached */
}

/*
 * defender_stream_resend
 *		The request of a stream, sent again whole through the one request
 *		function, with the retries the stream left (flags as for
 *		defender_send_request: DEFENDER_ALLOW_BAD_REQUEST, say).
 */
DefenderResponse *
defender_stream_resend(DefenderBodyStream *stream, int flags)
{
	DefenderRequest request;

	memset(&request, 0, sizeof(request));
	request.audience = stream->audience;
	request.method = stream->method;
	request.url = stream->url;
	request.display = stream->display;
	request.body = stream->body;
	request.flags = flags;
	request.headers = NIL;
	request.max_retries = stream->retries_left;
	request.retry_wait_ms = DEFENDER_BACKOFF;
	request.retries_spent = stream->opts->max_retries - stream->retries_left;
	return defender_send_request(stream->opts, &request);
}

/*
 * defender_transfer_wake_fd
 *		The client's wake descriptor (dfw_client_wake_fd): readable when
 *		any transfer under way needs the client driven, or -1.
 */
int
defender_transfer_wake_fd(void)
{
	return dfw_client_wake_fd(defender_transport_client());
}

/*
 * defender_transfer_progress
 *		Drive every transfer under way as far as it goes without waiting.
 */
void
defender_transfer_progress(void)
{
	DfwWait		wait;

	unstepped_sends = false;
	(void) dfw_client_step(defender_transport_client(), &wait);
}

/*
 * defender_resource_url
 *		The URL of a Graph resource of the catalog (graph_catalog.c), below
 *		the server's graph_url and api_version, and in *display how a
 *		message or EXPLAIN shows the request: "METHOD /{api_version}/path".
 */
char *
defender_resource_url(const DefenderOptions *opts, const char *resource,
					  const char *method, char **display)
{
	const GraphResource *r = graph_find_resource(resource);

	if (r == NULL)
		elog(ERROR, "defender_fdw: no Graph resource \"%s\" in the catalog", resource);
	if (display)
		*display = psprintf("%s /%s/%s", method, opts->api_version, r->path);
	return psprintf("%s/%s/%s", opts->graph_url, opts->api_version, r->path);
}
