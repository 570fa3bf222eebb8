/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  Sends requests to Graph and the Defender APIs.
 *
 * The backend keeps one DfwClient (one libcurl handle) for its whole life,
 * so consecutive requests reuse the TCP connection and TLS session.  This
 * file owns what happens around a transfer:
 *
 *	- waiting: the transfer is driven step by step while the backend waits
 *	  on curl's socket and its own latch together, so a cancel, a
 *	  statement_timeout or a terminate is acted on at once, with
 *	  PostgreSQL's own errors (57014, FATAL);
 *	- retries, the one retry rule of every request: 429 always (the
 *	  request was not processed), 503/504 and broken transfers only for
 *	  idempotent requests, honouring Retry-After or else backing off
 *	  exponentially (or by the fixed wait a defender_request() caller
 *	  gave), up to max_retries; every wait is interruptible;
 *	- authentication is not here: request.c puts auth.c's bearer token on
 *	  a request and sends it through this file, and auth.c sends its own
 *	  token requests through it too, so the transport depends on neither;
 *	- errors: transport failures and HTTP error statuses become ERRORs with
 *	  an SQLSTATE, the API's error code and request-id in DETAIL, and the
 *	  request (never a secret) in CONTEXT.
 *
 * The response body is malloc'd by the client; a memory context callback
 * frees it when the caller's context goes away, so no error path leaks it.
 *
 * src/remote/connection.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#endif
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
#endif

#include "defender_catalog.h"
#include "defender_remote.h"
#include "transport.h"

#define RETRY_BASE_MS		1000
#define RETRY_MAX_MS		30000
#define MAX_RETRY_AFTER_S	(DEFENDER_MAX_RETRY_WAIT_MS / 1000)

static DfwClient *backend_client = NULL;
static uint32 transfer_wait_event = 0;

/* The wait set of every transfer wait, and what it holds (see prepare_wait_set). */
static WaitEventSet *transfer_wait_set = NULL;
static struct
{
	unsigned long generation;	/* the client's socket generation */
	Latch	   *latch;
	int			nsockets;
	int			fds[DFW_MAX_WAIT_SOCKETS];
	uint32		events[DFW_MAX_WAIT_SOCKETS];
	int			pos[DFW_MAX_WAIT_SOCKETS];
}			wait_set;

static void run_transfer(const DefenderOptions *opts, const DfwHttpRequest *request,
						 DfwHttpResponse *response);
static void wait_for_transfer(const DfwWait *wait);
static void prepare_wait_set(const DfwWait *wait);
static void free_response_body(void *arg);
static void connection_xact_callback(XactEvent event, void *arg);
static long retry_delay_ms(const DfwHttpResponse *http, int attempt, long fixed_wait_ms);
static char *url_origin(const char *url);
static void report_proxy_error(const DefenderOptions *opts,
							   const DefenderResponse *response,
							   const char *url, const char *display);

/*
 * defender_connection_init
 *		Process-wide setup, from _PG_init.
 */
void
defender_connection_init(void)
{
	if (dfw_client_global_init() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not initialize libcurl")));
	RegisterXactCallback(connection_xact_callback, NULL);
}

DfwClient *
defender_transport_client(void)
{
	if (backend_client == NULL)
	{
		backend_client = dfw_client_create();
		if (backend_client == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory creating an HTTP client")));
	}
	return backend_client;
}

static uint32
get_wait_event(void)
{
	if (transfer_wait_event == 0)
	{
#if PG_VERSION_NUM >= 170000
		transfer_wait_event = WaitEventExtensionNew("DefenderHttpTransfer");
#else
		transfer_wait_event = PG_WAIT_EXTENSION;
#endif
	}
	return transfer_wait_event;
}

/*
 * defender_start_transfer
 *		Put one request on the client, without waiting: the one place where
 *		any request (to the APIs, for a token, or a page requested ahead)
 *		is about to be sent, with the options (server, tenant) it is sent
 *		for.  False when it could not be started; the response then says
 *		why.
 */
bool
defender_start_transfer(const DefenderOptions *opts, DfwClient *client,
						const DfwHttpRequest *request, DfwHttpResponse *response,
						DfwTicket *ticket)
{
	return dfw_client_start(client, request, response, ticket) == DFW_CLIENT_OK;
}

/*
 * run_transfer
 *		One HTTP exchange, interruptible at every wait.  Transfers other
 *		requests have under way (the pages a scan requested ahead) go on.
 */
static void
run_transfer(const DefenderOptions *opts, const DfwHttpRequest *request,
			 DfwHttpResponse *response)
{
	DfwClient  *client = defender_transport_client();
	DfwTicket	ticket;

	if (!defender_start_transfer(opts, client, request, response, &ticket))
		return;					/* the response says why */
	PG_TRY();
	{
		defender_wait_for_ticket(client, ticket);
	}
	PG_CATCH();
	{
		dfw_client_cancel(client, ticket);
		PG_RE_THROW();
	}
	PG_END_TRY();
	(void) dfw_client_collect(client, ticket, response);
}

/*
 * defender_wait_for_ticket
 *		Drive the client until the ticket's transfer is over.
 */
void
defender_wait_for_ticket(DfwClient *client, DfwTicket ticket)
{
	DfwWait		wait;

	while (!dfw_client_finished(client, ticket))
	{
		if (dfw_client_step(client, &wait) || dfw_client_finished(client, ticket))
			break;
		wait_for_transfer(&wait);
	}
}

/*
 * defender_transport_wait
 *		One interruptible wait for what a step asked (a streaming reader
 *		waits for the next bytes, not for the end of the transfer).
 */
void
defender_transport_wait(const DfwWait *wait)
{
	wait_for_transfer(wait);
}

/*
 * wait_for_transfer
 *		Sleep until one of curl's sockets is ready, curl's timer fires, or
 *		our latch is set; then service interrupts.
 *
 * The wait set (our latch, postmaster death and curl's sockets) is kept
 * for the backend's life and rebuilt only when curl's sockets change, so
 * that a lookup on a kept-alive connection costs one epoll_wait instead of
 * creating, filling and closing an epoll set each time.  If curl has more
 * sockets than fit (never, with DFW_MAX_WAIT_SOCKETS = DFW_MAX_TRANSFERS
 * and one socket per transfer), we poll briefly.  A one-second ceiling
 * guards against any missed wakeup.
 */
static void
wait_for_transfer(const DfwWait *wait)
{
	long		timeout = wait->timeout_ms;
	int			rc;

	if (timeout < 0 || timeout > 1000)
		timeout = 1000;

	if (wait->nsockets > 0 && !wait->more_sockets)
	{
		WaitEvent	event;

		prepare_wait_set(wait);
		rc = WaitEventSetWait(transfer_wait_set, timeout, &event, 1, get_wait_event()) > 0 ?
			event.events : WL_TIMEOUT;
	}
	else
	{
		if (wait->nsockets > 0 && timeout > 10)
			timeout = 10;
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   timeout, get_wait_event());
	}
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

static uint32
socket_events(const DfwWait *wait, int i)
{
	return (wait->want_read[i] ? WL_SOCKET_READABLE : 0) |
		(wait->want_write[i] ? WL_SOCKET_WRITEABLE : 0);
}

/*
 * prepare_wait_set
 *		Make transfer_wait_set wait for what *wait asks: the same set with
 *		its events adjusted when curl's sockets are the ones it holds,
 *		else a new set.
 *
 * The kernel drops a closed socket from an epoll set by itself, and a new
 * socket may reuse its number: so a set is reused only while curl has
 * opened no socket since it was built (the client's socket generation).
 */
static void
prepare_wait_set(const DfwWait *wait)
{
	WaitEventSet *set;
	int			i;

	if (transfer_wait_set != NULL &&
		wait_set.generation == wait->socket_generation &&
		wait_set.latch == MyLatch &&
		wait_set.nsockets == wait->nsockets &&
		memcmp(wait_set.fds, wait->sockets, sizeof(int) * wait->nsockets) == 0)
	{
		for (i = 0; i < wait->nsockets; i++)
		{
			uint32		events = socket_events(wait, i);

			if (events != wait_set.events[i])
			{
				ModifyWaitEvent(transfer_wait_set, wait_set.pos[i], events, NULL);
				wait_set.events[i] = events;
			}
		}
		return;
	}

	if (transfer_wait_set != NULL)
		FreeWaitEventSet(transfer_wait_set);
	transfer_wait_set = NULL;
#if PG_VERSION_NUM >= 170000
	set = CreateWaitEventSet(NULL, wait->nsockets + 2);
#else
	set = CreateWaitEventSet(TopMemoryContext, wait->nsockets + 2);
#endif
	PG_TRY();
	{
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		/* a single-user backend has no postmaster to watch (as WaitLatch) */
		if (IsUnderPostmaster)
			AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (i = 0; i < wait->nsockets; i++)
		{
			wait_set.fds[i] = wait->sockets[i];
			wait_set.events[i] = socket_events(wait, i);
			wait_set.pos[i] = AddWaitEventToSet(set, wait_set.events[i],
												wait->sockets[i], NULL, NULL);
		}
	}
	PG_CATCH();
	{
		FreeWaitEventSet(set);
		PG_RE_THROW();
	}
	PG_END_TRY();
	wait_set.nsockets = wait->nsockets;
	wait_set.generation = wait->socket_generation;
	wait_set.latch = MyLatch;
	transfer_wait_set = set;
}

/*
 * defender_sleep_ms
 *		Sleep that a cancel, statement_timeout or terminate cuts short.
 */
void
defender_sleep_ms(long ms)
{
	TimestampTz end = GetCurrentTimestamp() + (TimestampTz) ms * 1000;

	for (;;)
	{
		long		left = (long) ((end - GetCurrentTimestamp()) / 1000);
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (left <= 0)
			break;
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   left, get_wait_event());
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
	}
}

static void
free_response_body(void *arg)
{
	DefenderResponse *response = (DefenderResponse *) arg;

	dfw_response_free_body(&response->http);
}

/*
 * defender_response_release
 *		Free a response's body now rather than with its memory context.
 */
void
defender_response_release(DefenderResponse *response)
{
	if (response)
		dfw_response_free_body(&response->http);
}

bool
defender_status_is_retryable(long status, bool idempotent)
{
	if (status == 429)
		return true;
	return idempotent && (status == 503 || status == 504);
}

/*
 * retry_delay_ms
 *		How long to wait before retry number attempt+1.
 *
 * Retry-After when the service sent it; else fixed_wait_ms when the caller
 * chose a wait (defender_request()'s retry_wait); otherwise 1 s, 2 s,
 * 4 s ... up to 30 s, with up to a quarter added at random so that many
 * backends throttled together do not return together.
 */
static long
retry_delay_ms(const DfwHttpResponse *http, int attempt, long fixed_wait_ms)
{
	long		seconds = http ? dfw_parse_retry_after(http->retry_after) : -1;
	long		ms;
	uint16		jitter = 0;

	if (seconds >= 0)
		return seconds * 1000;
	if (fixed_wait_ms >= 0)
		return fixed_wait_ms;
	ms = RETRY_BASE_MS << Min(attempt, 5);
	if (ms > RETRY_MAX_MS)
		ms = RETRY_MAX_MS;
	if (pg_strong_random(&jitter, sizeof(jitter)))
		ms += (long) (jitter % (ms / 4 + 1));
	return ms;
}

/*
 * defender_retry_delay_ms
 *		The wait before retry number attempt+1 of an answer (Retry-After,
 *		else the backoff, retry_delay_ms above), for a request read as it
 *		arrives (request.c's streams), which decide and count their retries
 *		themselves; defender_retry_delay below also decides whether.
 */
long
defender_retry_delay_ms(const DfwHttpResponse *http, int attempt)
{
	return retry_delay_ms(http, attempt, -1);
}

/*
 * defender_retry_delay
 *		The one retry rule: how many ms to wait before sending again the
 *		request that got this answer as its attempt+1-th, or -1 when it is
 *		not sent again (not retryable, retries spent, or a Retry-After
 *		longer than MAX_RETRY_AFTER_S, which the caller reports).
 *
 * defender_http_send's loop sleeps that long; a page an asynchronous scan
 * requested ahead is held back that long instead (request.c), so that the
 * other scans of the Append go on meanwhile.
 */
long
defender_retry_delay(const DefenderOptions *opts, const DfwHttpResponse *http,
					 int attempt, bool idempotent, long retry_wait_ms)
{
	bool		retry;
	long		delay;

	if (http->error != DFW_CLIENT_OK)
		retry = idempotent && (http->error == DFW_CLIENT_TRANSFER_FAILED ||
							   http->error == DFW_CLIENT_CONNECT_FAILED);
	else
		retry = defender_status_is_retryable(http->status, idempotent);
	/* a proxy's refusal is not transient */
	if (http->proxy_status >= 300 || http->status == 407)
		retry = false;
	if (!retry || attempt >= opts->max_retries)
		return -1;
	delay = retry_delay_ms(http->error == DFW_CLIENT_OK ? http : NULL, attempt,
						   retry_wait_ms);
	return delay > MAX_RETRY_AFTER_S * 1000L ? -1 : delay;
}

/* A response whose body is freed with CurrentMemoryContext. */
DefenderResponse *
defender_new_response(void)
{
	DefenderResponse *response = palloc0(sizeof(DefenderResponse));

	response->free_body.func = free_response_body;
	response->free_body.arg = response;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &response->free_body);
	return response;
}

/* The transfer settings every request takes from the server's options. */
void
defender_init_request(DfwHttpRequest *request, const DefenderOptions *opts,
			 const char *method, const char *url, const char *origin,
			 const char *const *headers, const char *body, size_t body_len)
{
	memset(request, 0, sizeof(DfwHttpRequest));
	request->method = method;
	request->url = url;
	request->origin = origin;
	request->headers = headers;
	request->body = body;
	request->body_len = body_len;
	request->timeout_ms = (long) opts->timeout * 1000;
	request->connect_timeout_ms = Min(request->timeout_ms, 10000);
	request->verify_ssl = opts->verify_ssl;
	request->ca_file = opts->ca_file;
	request->max_response_bytes = (size_t) opts->max_response_mb * 1024 * 1024;
	request->user_agent = DEFENDER_USER_AGENT;
	request->proxy = opts->proxy;
	request->proxy_user = opts->proxy_user;
	/* a proxy_password_file is read only for a request through a proxy */
	request->proxy_password = opts->proxy_user && !(opts->proxy && opts->proxy[0] == '\0') ?
		defender_proxy_password(opts) : opts->proxy_password;
}

/*
 * defender_http_send
 *		Send one request, retrying what is safe to retry.
 *
 * Returns the final response, whatever its HTTP status; transport
 * failures that outlast the retries raise an ERROR.  The response lives in
 * CurrentMemoryContext.  display is how the request appears in messages:
 * method and URL, never a body or header.  origin is the configured URL
 * (graph_url, mde_url, login_url, managed_identity_url) whose scheme, host
 * and port url must have: the client checks the URL it hands libcurl
 * against it before any I/O, and a URL elsewhere is an ERROR.
 *
 * This loop is the one retry rule of defender_fdw (the README's
 * "Retries"): what is retried, how long to wait (retry_wait_ms, or
 * DEFENDER_BACKOFF), up to opts->max_retries.  The decision after each
 * answer, a 429 and its Retry-After included, is taken in one place below.
 */
DefenderResponse *
defender_http_send(const DefenderOptions *opts, const char *method,
				   const char *url, const char *origin, const char *display,
				   const char *const *headers,
				   const char *body, size_t body_len, bool idempotent,
				   long retry_wait_ms)
{
	DefenderResponse *response = defender_new_response();
	DfwHttpRequest request;
	int			attempt;

	display = defender_display_text(display);
	defender_init_request(&request, opts, method, url, origin, headers, body, body_len);

	for (attempt = 0;; attempt++)
	{
		DfwHttpResponse *http = &response->http;
		TimestampTz start = GetCurrentTimestamp();
		long		delay;

		defender_quota_before_send(opts, url);
		run_transfer(opts, &request, http);
		defender_quota_after_response(opts, url, http);

		elog(DEBUG1, "defender_fdw: %s -> %ld%s%s (%ld ms, request-id %s)",
			 display, http->status,
			 http->error != DFW_CLIENT_OK ? ", " : "",
			 http->error != DFW_CLIENT_OK ? http->error_message : "",
			 (long) ((GetCurrentTimestamp() - start) / 1000),
			 http->request_id[0] ? http->request_id : "none");

		/* the answer: retry it (429 and Retry-After here), or return it */
		delay = defender_retry_delay(opts, http, attempt, idempotent, retry_wait_ms);
		if (delay < 0)
		{
			if (opts->proxy && opts->proxy[0] &&
				(http->proxy_status >= 300 || http->status == 407))
				report_proxy_error(opts, response, url, display);
			if (http->error != DFW_CLIENT_OK)
				defender_report_transport_error(opts, response, url, display, attempt,
												idempotent);
			return response;	/* a Retry-After too long: the caller's hint */
		}

		elog(DEBUG1, "defender_fdw: retrying %s in %ld ms (attempt %d of %d)",
			 display, delay, attempt + 1, opts->max_retries);
		dfw_response_free_body(http);
		defender_sleep_ms(delay);
	}
}

/*
 * connection_xact_callback
 *		At the end of a transaction no scan is left to read a transfer's
 *		answer: stop any still running (their memory is about to go).
 */
static void
connection_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		 event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
		 event == XACT_EVENT_PREPARE) && backend_client != NULL)
		dfw_client_abort(backend_client);
}

/*
 * defender_report_transport_error
 *		ERROR for a transfer that produced no usable HTTP response: retries
 *		is how often the request was sent again, idempotent whether it
 *		could have been (a write broken off is never sent again).
 */
void
defender_report_transport_error(const DefenderOptions *opts,
								const DefenderResponse *response, const char *url,
								const char *display, int retries, bool idempotent)
{
	const DfwHttpResponse *http = &response->http;
	char	   *detail = defender_redact(opts, http->error_message);

	switch (http->error)
	{
		case DFW_CLIENT_CONNECT_FAILED:
			if (opts->proxy && opts->proxy[0])
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("could not connect to %s through the proxy %s",
								url_origin(url), opts->proxy),
						 errdetail("%s", detail),
						 errhint("Check the server option proxy and that this host can reach the proxy."),
						 errcontext("remote request: %s", display)));
			if (opts->auth == DEFENDER_AUTH_MANAGED_IDENTITY &&
				strncmp(url, opts->managed_identity_url, strlen(opts->managed_identity_url)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("could not connect to the Azure instance metadata service at %s",
								url_origin(url)),
						 errdetail("%s", detail),
						 errhint("Managed identities work only on Azure virtual machines and other Azure compute; elsewhere use a client secret or a certificate."),
						 errcontext("remote request: %s", display)));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not connect to %s", url_origin(url)),
					 errdetail("%s", detail),
					 errhint("Check the server's URL options (login_url, graph_url, mde_url) and that this host can reach them."),
					 errcontext("remote request: %s", display)));
			break;
		case DFW_CLIENT_TLS_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("TLS connection to %s failed", url_origin(url)),
					 errdetail("%s", detail),
					 errhint("If the service's certificate comes from a private CA, point the server option ca_file at that CA's certificate."),
					 errcontext("remote request: %s", display)));
			break;
		case DFW_CLIENT_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("request timed out after %d seconds", opts->timeout),
					 errdetail("%s", detail),
					 errhint("Raise the server option timeout (at most 120 seconds), or ask for less data."),
					 errcontext("remote request: %s", display)));
			break;
		case DFW_CLIENT_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("response is larger than max_response_mb (%d MB)",
							opts->max_response_mb),
					 errhint("Ask for fewer rows or columns, or raise the server option max_response_mb."),
					 errcontext("remote request: %s", display)));
			break;
		case DFW_CLIENT_OUT_OF_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory during a request"),
					 errdetail("%s", detail),
					 errcontext("remote request: %s", display)));
			break;
		case DFW_CLIENT_URL_REFUSED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("refused to send a request outside the server's configured endpoints"),
					 errdetail("%s; nothing was sent, so that no credential leaves for another host.",
							   detail),
					 errcontext("remote request: %s", display)));
			break;
		case DFW_CLIENT_BAD_URL:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
					 errmsg("invalid request URL"),
					 errdetail("%s", detail),
					 errcontext("remote request: %s", display)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
					 errmsg("the connection failed before a complete response arrived"),
					 errdetail("%s", detail),
					 retries > 0 || idempotent ?
					 errhint("The request was retried %d times.", retries) :
					 errhint("The request was not sent again: a request that changes data may already have taken effect when its answer broke off."),
					 errcontext("remote request: %s", display)));
	}
}

/*
 * report_proxy_error
 *		ERROR for a request the proxy refused: 407 (its credentials) or any
 *		other refusal of a CONNECT tunnel.
 */
static void
report_proxy_error(const DefenderOptions *opts, const DefenderResponse *response,
				   const char *url, const char *display)
{
	const DfwHttpResponse *http = &response->http;
	long		status = http->proxy_status >= 300 ? http->proxy_status : http->status;

	if (status == 407)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the proxy %s refused the request: proxy authentication required (HTTP 407)",
						opts->proxy),
				 opts->proxy_user ?
				 errdetail("The proxy did not accept the credentials of proxy_user \"%s\".",
						   opts->proxy_user) :
				 errdetail("The user mapping has no proxy_user."),
				 errhint("Set the proxy's credentials in the user mapping: ALTER USER MAPPING ... OPTIONS (ADD proxy_user '...', ADD proxy_password '...')."),
				 errcontext("remote request: %s", display)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("the proxy %s refused to connect to %s (HTTP %ld)",
					opts->proxy, url_origin(url), status),
			 errhint("Ask the proxy's administrators to allow this host to reach %s.",
					 url_origin(url)),
			 errcontext("remote request: %s", display)));
}

/* "https://host:port" of a URL, for messages. */
static char *
url_origin(const char *url)
{
	DfwOrigin	origin;
	char	   *why;

	if (!defender_url_origin(url, &origin, NULL, &why))
		return defender_display_text(url);
	return defender_origin_text(&origin);
}

/* "scheme://host[:port]", the port only when it is not the scheme's default */
char *
defender_origin_text(const DfwOrigin *origin)
{
	if (origin->port == (strcmp(origin->scheme, "https") == 0 ? 443 : 80))
		return psprintf("%s://%s", origin->scheme, origin->host);
	return psprintf("%s://%s:%ld", origin->scheme, origin->host, origin->port);
}

/*
 * defender_report_api_error
 *		ERROR for an HTTP error status, with the service's error code,
 *		message and request-id.
 */
void
defender_report_api_error(const DefenderOptions *opts, const DefenderResponse *response,
				 const char *service, const char *display,
				 const char *client_request_id)
{
	const DfwHttpResponse *http = &response->http;
	DfwGraphError gerr;
	const char *request_id;
	StringInfoData detail;
	int			sqlstate;
	char	   *msg;
	char	   *hint = NULL;
	long		retry_after = dfw_parse_retry_after(http->retry_after);
	int			page_limit;

	dfw_parse_graph_error(http->body, http->body_len, &gerr);
	request_id = http->request_id[0] ? http->request_id :
		(gerr.request_id[0] ? gerr.request_id : "none");

	initStringInfo(&detail);
	appendStringInfo(&detail, "HTTP %ld", http->status);
	if (gerr.parsed)
	{
		appendStringInfo(&detail, ", error code \"%s\"", defender_display_text(gerr.code));
		if (gerr.message[0])
			appendStringInfo(&detail, ": %s",
							 defender_display_text(defender_redact(opts, gerr.message)));
	}
	else
		appendStringInfo(&detail, ", %s", defender_body_excerpt(opts, http));
	appendStringInfo(&detail, " (request-id %s, client-request-id %s).",
					 defender_display_text(request_id), client_request_id);

	switch (http->status)
	{
		case 400:
			sqlstate = ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION;
			msg = psprintf("%s rejected the request", service);
			page_limit = graph_page_limit_in_message(gerr.message);
			if (page_limit > 0)
				hint = psprintf("Graph takes pages of at most %d here: lower the table's page_size option, or drop it to let defender_fdw choose.",
								page_limit);
			break;
		case 401:
			sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
			msg = psprintf("%s refused the access token", service);
			hint = "A fresh token was refused too: check that the application has the API permissions this request needs and that an administrator granted consent.";
			break;
		case 403:
			sqlstate = ERRCODE_INSUFFICIENT_PRIVILEGE;
			msg = psprintf("permission denied by %s", service);
			hint = strncmp(display, "GET ", 4) == 0 ?
				"Grant the application the permission the request needs (SecurityIncident.Read.All for incidents, SecurityAlert.Read.All for alerts) and have an administrator consent to it." :
				"Changes need SecurityIncident.ReadWrite.All (incidents) or SecurityAlert.ReadWrite.All (alerts): grant it to the application and have an administrator consent to it.";
			break;
		case 404:
			sqlstate = ERRCODE_FDW_TABLE_NOT_FOUND;
			msg = psprintf("%s found nothing at the requested path", service);
			hint = "Check graph_url and api_version.";
			break;
		case 429:
			sqlstate = ERRCODE_FDW_UNABLE_TO_CREATE_REPLY;
			msg = psprintf("%s is throttling requests", service);
			hint = retry_after >= DFW_RETRY_AFTER_CAP_S ?
				pstrdup("The service asked to wait a day or more, longer than defender_fdw waits; try again later.") :
				retry_after > MAX_RETRY_AFTER_S ?
				psprintf("The service asked to wait %ld seconds, longer than defender_fdw waits; try again later.", retry_after) :
				psprintf("Still throttled after %d retries; try again later or raise the server option max_retries.", opts->max_retries);
			break;
		default:
			sqlstate = http->status >= 500 ? ERRCODE_FDW_UNABLE_TO_CREATE_REPLY : ERRCODE_FDW_ERROR;
			msg = psprintf("%s answered HTTP %ld", service, http->status);
			if (http->status >= 300 && http->status < 400)
			{
				msg = psprintf("%s answered with a redirect (HTTP %ld), which is not followed",
							   service, http->status);
				hint = "defender_fdw never sends the bearer token to another location; check graph_url and mde_url, or the proxy or gateway that redirects.";
			}
			if (http->status == 503 || http->status == 504)
				hint = psprintf("Still failing after %d retries; try again later.", opts->max_retries);
			break;
	}

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", msg),
			 errdetail_internal("%s", detail.data),
			 hint ? errhint("%s", hint) : 0,
			 errcontext("remote request: %s", display)));
}

/*
 * defender_body_excerpt
 *		A short, printable start of a body that is not a Graph error, so
 *		that an HTML error page or a proxy's answer can be recognised:
 *		'text/html body: "<!DOCTYPE ..."', or "empty body".
 *
 * The one excerpt of an error body: defender_report_api_error's, and that
 * of the callers that take a 400 back (DEFENDER_ALLOW_BAD_REQUEST) and
 * report it themselves.  At most 200 bytes, every byte outside printable
 * ASCII written as a blank (no line of its own, no broken UTF-8), the
 * secrets redacted.
 */
char *
defender_body_excerpt(const DefenderOptions *opts, const DfwHttpResponse *http)
{
	StringInfoData buf;
	size_t		i;
	size_t		n = Min(http->body_len, 200);

	initStringInfo(&buf);
	if (http->body_len == 0)
	{
		appendStringInfoString(&buf, "empty body");
		return buf.data;
	}
	appendStringInfo(&buf, "%s body: \"",
					 http->content_type[0] ? defender_display_text(http->content_type) : "untyped");
	for (i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) http->body[i];

		appendStringInfoChar(&buf, (c >= 32 && c < 127) ? (char) c : ' ');
	}
	appendStringInfoString(&buf, http->body_len > n ? "...\"" : "\"");
	return defender_redact(opts, buf.data);
}

/*
 * defender_new_client_request_id
 *		A random (version 4) GUID for the client-request-id header, which
 *		Graph echoes so that a failure can be traced on both sides.
 */
char *
defender_new_client_request_id(void)
{
	uint8		b[16];
	uint64		r[2];

	/*
	 * Unique, not secret: the backend's PRNG (seeded from a strong source
	 * at backend start) spares a system call per request.
	 */
#if PG_VERSION_NUM >= 150000
	r[0] = pg_prng_uint64(&pg_global_prng_state);
	r[1] = pg_prng_uint64(&pg_global_prng_state);
#else
	if (!pg_strong_random(r, sizeof(r)))
		memset(r, 0, sizeof(r));
#endif
	memcpy(b, r, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	return psprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
					b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
					b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/*
 * defender_redact
 *		Copy of text with the client secret and proxy password blanked out.
 *
 * Remote services do not echo secrets, but a message from one is shown
 * to users, so it is scrubbed anyway.
 */
char *
defender_redact(const DefenderOptions *opts, const char *text)
{
	StringInfoData buf;
	const char *secrets[4];
	char	   *out;
	int			i;

	if (text == NULL)
		return pstrdup("");
	out = pstrdup(text);
	secrets[0] = opts ? opts->client_secret : NULL;
	secrets[1] = opts ? opts->proxy_password : NULL;
	/* the files' secrets as last read; nothing is read here */
	secrets[2] = opts && opts->client_secret_file ?
		defender_secret_file_cached(opts->client_secret_file) : NULL;
	secrets[3] = opts && opts->proxy_password_file ?
		defender_secret_file_cached(opts->proxy_password_file) : NULL;
	for (i = 0; i < lengthof(secrets); i++)
	{
		const char *secret = secrets[i];
		size_t		slen;
		const char *p;
		const char *hit;

		if (secret == NULL || (slen = strlen(secret)) == 0)
			continue;
		initStringInfo(&buf);
		for (p = out; (hit = strstr(p, secret)) != NULL; p = hit + slen)
		{
			appendBinaryStringInfo(&buf, p, hit - p);
			appendStringInfoString(&buf, "[redacted]");
		}
		appendStringInfoString(&buf, p);
		out = buf.data;
	}
	return out;
}

/*
 * defender_url_origin
 *		dfw_url_origin() (libcurl's reading of a URL) with palloc'd results:
 *		the path and query in *rest when rest is not NULL, or the reason it
 *		was refused in *why.
 */
bool
defender_url_origin(const char *url, DfwOrigin *origin, char **rest, char **why)
{
	char		reason[DFW_MESSAGE_SIZE];
	char	   *malloced = NULL;

	reason[0] = '\0';
	if (!dfw_url_origin(url, origin, rest ? &malloced : NULL, reason, sizeof(reason)))
	{
		*why = pstrdup(reason);
		return false;
	}
	if (rest)
	{
		*rest = pstrdup(malloced);
		free(malloced);
	}
	*why = NULL;
	return true;
}

/* Same scheme, host and effective port? */
bool
defender_same_origin(const DfwOrigin *a, const DfwOrigin *b)
{
	return strcmp(a->scheme, b->scheme) == 0 &&
		strcmp(a->host, b->host) == 0 &&
		a->port == b->port;
}

/*
 * defender_display_text
 *		text as it may appear in a message or a log line: every control
 *		character (CR and LF included) written as \xNN, so that a value
 *		given by a caller cannot start a fake line of its own.  Text with no
 *		control character is returned as is (not copied).
 */
char *
defender_display_text(const char *text)
{
	StringInfoData buf;
	const unsigned char *p;

	for (p = (const unsigned char *) text; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			break;
	if (*p == '\0')
		return (char *) text;
	initStringInfo(&buf);
	for (p = (const unsigned char *) text; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			appendStringInfo(&buf, "\\x%02X", *p);
		else
			appendStringInfoChar(&buf, (char) *p);
	}
	return buf.data;
}

/*
 * defender_id_is_segment
 *		Can id be one path segment: not empty, not "." or ".."?  The URL
 *		of "{collection}/" + those would name the collection or its parent
 *		(libcurl removes dot segments), not an entity.
 */
bool
defender_id_is_segment(const char *id)
{
	return id[0] != '\0' && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

/*
 * defender_id_segment
 *		The percent-encoded path segment of an entity id, or an ERROR
 *		(22023) for an id that cannot be one: every id that goes into a URL
 *		path passes here, before any request.  what names the id in the
 *		message ("incident id").
 */
char *
defender_id_segment(const char *id, const char *what)
{
	if (!defender_id_is_segment(id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", what, defender_display_text(id)),
				 errdetail("An id must not be empty, \".\" or \"..\": in a URL path it would name the collection or its parent, not one entity.")));
	return defender_url_encode(id);
}

/*
 * defender_url_encode
 *		palloc'd percent-encoding of text.
 */
char *
defender_url_encode(const char *text)
{
	size_t		len = strlen(text);
	char	   *encoded = palloc(len * 3 + 1);

	dfw_url_encode(text, len, encoded);
	return encoded;
}
