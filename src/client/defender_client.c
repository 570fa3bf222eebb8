/*-------------------------------------------------------------------------
 *
 * defender_client.c
 *		  HTTP transfers (libcurl): the client handle, its transfer slots,
 *		  stepping them without blocking, and libcurl's callbacks.
 *
 * The rest of the client layer sits beside it: url.c (URLs read with
 * libcurl's URL API, the origin check every transfer passes here first),
 * graph_response.c (error bodies, token answers, Retry-After; jansson),
 * wake_fd.c (one descriptor to wait on for all transfers) and
 * client_assertion.c (certificate credentials; OpenSSL).  Callers: the
 * PostgreSQL side (src/remote/) and test/client/client_driver.c, through
 * defender_client.h.
 *
 * No PostgreSQL header is included here; see defender_client.h for why.
 * The rules that follow from it:
 *
 *	- libcurl callbacks only copy bytes into malloc'd buffers.  When a
 *	  buffer cannot grow (out of memory, or over the caller's cap) the
 *	  callback returns 0, libcurl fails the transfer with CURLE_WRITE_ERROR,
 *	  and dfw_client_end() reports why.
 *	- The transfer runs on the multi interface and never blocks: the caller
 *	  waits on the sockets dfw_client_step() hands back, together with its
 *	  own latch, so Ctrl-C and statement_timeout stay responsive.
 *	- One multi handle lives for the whole backend, with up to
 *	  DFW_MAX_TRANSFERS easy handles (slots) that run at the same time when
 *	  pages are fetched in parallel.  The multi handle's connection pool
 *	  keeps connections (keep-alive), TLS sessions and DNS results across
 *	  requests; curl_easy_reset() between requests drops every option of
 *	  the previous request but keeps those caches.
 *
 * src/client/defender_client.c
 *
 *-------------------------------------------------------------------------
 */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <curl/curl.h>

static size_t write_body(char *data, size_t size, size_t nmemb, void *userdata);
static size_t write_header(char *data, size_t size, size_t nmemb, void *userdata);
static void advise_large_body(char *body, size_t size);
static DfwClientError classify_curl_error(CURLcode code, const DfwHttpResponse *response);
static void release_transfer(DfwClient *client, DfwTransfer *t);
static void collect_finished(DfwClient *client);
static int	note_new_socket(void *clientp, curl_socket_t fd, curlsocktype purpose);
static DfwClientError fail_slot(DfwClient *client, DfwTransfer *t,
								DfwHttpResponse *response, DfwClientError error,
								const char *message);
static int	request_on_origin(const DfwHttpRequest *request, DfwHttpResponse *response);
static int	build_header_list(DfwTransfer *t, const DfwHttpRequest *request);
static int	set_request_options(CURL *easy, DfwTransfer *t,
								const DfwHttpRequest *request,
								DfwHttpResponse *response);
static int	set_transport_options(DfwClient *client, CURL *easy, DfwTransfer *t,
								  const DfwHttpRequest *request);

/*
 * dfw_client_global_init
 *		Initialize libcurl once per process; returns 0 on success.
 */
int
dfw_client_global_init(void)
{
	static int	done = 0;

	if (!done)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -1;
		done = 1;
	}
	return 0;
}

/*
 * dfw_client_create
 *		A client with its multi handle; NULL when out of memory.  Easy
 *		handles are made when a slot is first used.
 */
DfwClient *
dfw_client_create(void)
{
	DfwClient  *client = calloc(1, sizeof(DfwClient));

	if (client == NULL)
		return NULL;
	client->epoll_fd = -1;
	client->timer_fd = -1;
	client->multi = curl_multi_init();
	if (client->multi == NULL || dfw_sockets_init(client) != 0)
	{
		dfw_client_destroy(client);
		return NULL;
	}
	return client;
}

/*
 * dfw_client_destroy
 *		Close the client's connections and free it.
 */
void
dfw_client_destroy(DfwClient *client)
{
	int			i;

	if (client == NULL)
		return;
	dfw_client_abort(client);
	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		if (client->slots[i].easy)
			curl_easy_cleanup(client->slots[i].easy);
	if (client->multi)
		curl_multi_cleanup(client->multi);
	dfw_sockets_free(client);
	free(client);
}

void
dfw_response_init(DfwHttpResponse *response)
{
	memset(response, 0, sizeof(DfwHttpResponse));
}

/*
 * dfw_client_drain
 *		Forget the body bytes taken so far, keeping the buffer: a streaming
 *		caller's "consumed", between two steps (libcurl writes into the
 *		body only inside dfw_client_step and here).  body_total keeps
 *		counting.  A transfer paused for want of room goes on: libcurl may
 *		hand over the write it held back at once.
 */
void
dfw_client_drain(DfwClient *client, DfwHttpResponse *response)
{
	int			i;

	response->body_len = 0;
	if (response->body)
		response->body[0] = '\0';
	if (!response->paused)
		return;
	response->paused = 0;
	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
	{
		DfwTransfer *t = &client->slots[i];

		if (t->response == response && t->running && t->easy)
			(void) curl_easy_pause(t->easy, CURLPAUSE_CONT);
	}
}

void
dfw_response_free_body(DfwHttpResponse *response)
{
	free(response->body);
	response->body = NULL;
	response->body_len = 0;
	response->body_alloc = 0;
}

/*
 * dfw_client_begin
 *		Start one request on slot 0, stopping whatever the client was
 *		doing.
 */
DfwClientError
dfw_client_begin(DfwClient *client, const DfwHttpRequest *request,
				 DfwHttpResponse *response)
{
	dfw_client_abort(client);
	return dfw_client_begin_slot(client, 0, request, response);
}

/*
 * dfw_client_begin_slot
 *		Configure slot's easy handle for one request and start it; other
 *		slots' transfers go on.
 *
 * The response must stay valid until dfw_client_end_slot() or
 * dfw_client_abort(); its previous body, if any, is freed.  The steps:
 * the origin check (nothing is sent off the request's origin), the
 * header list, what the request is (set_request_options), how it travels
 * (set_transport_options), then the handle joins the multi handle.
 */
DfwClientError
dfw_client_begin_slot(DfwClient *client, int slot, const DfwHttpRequest *request,
					  DfwHttpResponse *response)
{
	DfwTransfer *t = &client->slots[slot];
	CURL	   *easy;
	int			ok;

	release_transfer(client, t);
	dfw_response_free_body(response);
	dfw_response_init(response);
	response->max_bytes = request->max_response_bytes;
	response->streaming = request->stream_body;
	response->hold_bytes = request->stream_body ? request->stream_hold_bytes : 0;

	if (!request_on_origin(request, response))
		return fail_slot(client, t, response, DFW_CLIENT_URL_REFUSED, NULL);

	if (t->easy == NULL && (t->easy = curl_easy_init()) == NULL)
		return fail_slot(client, t, response, DFW_CLIENT_OUT_OF_MEMORY,
						 "out of memory creating an HTTP handle");
	easy = t->easy;
	t->response = response;
	t->errbuf[0] = '\0';
	t->done = 0;
	t->result = CURLE_OK;
	t->serial++;

	curl_easy_reset(easy);

	if (!build_header_list(t, request))
		return fail_slot(client, t, response, DFW_CLIENT_OUT_OF_MEMORY,
						 "out of memory building request headers");

	ok = set_request_options(easy, t, request, response);
	ok &= set_transport_options(client, easy, t, request);
	if (!ok)
		return fail_slot(client, t, response, DFW_CLIENT_BAD_URL,
						 "the request could not be configured");

	if (curl_multi_add_handle(client->multi, easy) != CURLM_OK)
		return fail_slot(client, t, response, DFW_CLIENT_OUT_OF_MEMORY,
						 "could not start the transfer");
	t->running = 1;
	return DFW_CLIENT_OK;
}

/*
 * fail_slot
 *		A request that could not start: free what the slot holds for it and
 *		set the response's error; message NULL keeps the one already there.
 */
static DfwClientError
fail_slot(DfwClient *client, DfwTransfer *t, DfwHttpResponse *response,
		  DfwClientError error, const char *message)
{
	release_transfer(client, t);
	response->error = error;
	if (message != NULL)
		dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
						message, (size_t) -1);
	return error;
}

/*
 * request_on_origin
 *		Is the request's URL on its origin?  Else 0, the reason in the
 *		response's error message.
 *
 * The last word on where a request goes, whatever built its URL: the
 * exact string handed to libcurl must be on the request's origin, or
 * nothing is sent (the headers may carry a bearer token).
 */
static int
request_on_origin(const DfwHttpRequest *request, DfwHttpResponse *response)
{
	if (request->origin == NULL)
	{
		dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
						"the request names no origin", (size_t) -1);
		return 0;
	}
	return dfw_url_on_origin(request->url, request->origin,
							 response->error_message, DFW_MESSAGE_SIZE);
}

/*
 * build_header_list
 *		The request's headers as the slot's curl_slist; 0 when out of
 *		memory (the caller releases the part already built).
 */
static int
build_header_list(DfwTransfer *t, const DfwHttpRequest *request)
{
	const char *const *h;

	for (h = request->headers; h && *h; h++)
	{
		struct curl_slist *next = curl_slist_append(t->headers, *h);

		if (next == NULL)
			return 0;
		t->headers = next;
	}
	return 1;
}

/*
 * set_request_options
 *		What is sent: the URL (http and https only, no user name, no
 *		redirect), the method and body, the headers, and where the answer
 *		goes (write_body, write_header).  1 when libcurl took every option.
 */
static int
set_request_options(CURL *easy, DfwTransfer *t, const DfwHttpRequest *request,
					DfwHttpResponse *response)
{
	int			ok = 1;

	/* Only http and https: a URL from a response must not reach file:// etc. */
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	ok &= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	ok &= curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
						   (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
	ok &= curl_easy_setopt(easy, CURLOPT_URL, request->url) == CURLE_OK;
	/* checked by request_on_origin; and libcurl itself refuses user info */
	ok &= curl_easy_setopt(easy, CURLOPT_DISALLOW_USERNAME_IN_URL, 1L) == CURLE_OK;
	/* Never follow redirects: the bearer token must not travel elsewhere. */
	ok &= curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_USERAGENT, request->user_agent) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_WRITEDATA, response) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, write_header) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HEADERDATA, response) == CURLE_OK;

	if (strcmp(request->method, "GET") == 0)
		ok &= curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	else
	{
		if (strcmp(request->method, "POST") != 0)
			ok &= curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
								   request->method) == CURLE_OK;
		if (request->body != NULL || strcmp(request->method, "DELETE") != 0)
		{
			ok &= curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
								   (curl_off_t) (request->body ? request->body_len : 0)) == CURLE_OK;
			ok &= curl_easy_setopt(easy, CURLOPT_POSTFIELDS,
								   request->body ? request->body : "") == CURLE_OK;
		}
	}
	return ok;
}

/*
 * set_transport_options
 *		How it travels: timeouts, TLS verification, keep-alive, the socket
 *		callback the waits count on, the error buffer, and the proxy.
 *		1 when libcurl took every option.
 */
static int
set_transport_options(DfwClient *client, CURL *easy, DfwTransfer *t,
					  const DfwHttpRequest *request)
{
	int			ok = 1;

	ok &= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
						   request->connect_timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER,
						   request->verify_ssl ? 1L : 0L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST,
						   request->verify_ssl ? 2L : 0L) == CURLE_OK;
	if (request->ca_file)
		ok &= curl_easy_setopt(easy, CURLOPT_CAINFO, request->ca_file) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, note_new_socket) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, client) == CURLE_OK;

	/*
	 * A proxy carries every request, tunnelling https with CONNECT.  Its
	 * own TLS (an https:// proxy) is verified like the service's.
	 */
	if (request->proxy)
	{
		ok &= curl_easy_setopt(easy, CURLOPT_PROXY, request->proxy) == CURLE_OK;
		if (request->proxy[0])
		{
			ok &= curl_easy_setopt(easy, CURLOPT_PROXY_SSL_VERIFYPEER,
								   request->verify_ssl ? 1L : 0L) == CURLE_OK;
			ok &= curl_easy_setopt(easy, CURLOPT_PROXY_SSL_VERIFYHOST,
								   request->verify_ssl ? 2L : 0L) == CURLE_OK;
			if (request->ca_file)
				ok &= curl_easy_setopt(easy, CURLOPT_PROXY_CAINFO,
									   request->ca_file) == CURLE_OK;
		}
		if (request->proxy_user)
		{
			ok &= curl_easy_setopt(easy, CURLOPT_PROXYUSERNAME,
								   request->proxy_user) == CURLE_OK;
			ok &= curl_easy_setopt(easy, CURLOPT_PROXYPASSWORD,
								   request->proxy_password ? request->proxy_password : "") == CURLE_OK;
		}
	}
	return ok;
}

/*
 * dfw_client_step
 *		Let libcurl do whatever it can without blocking.
 *
 * Returns 1 when every started transfer has finished (successfully or
 * not), else 0; *wait says what to wait for before the next step.
 *
 * Only the sockets that are ready, and curl's timeout once passed, are
 * handed to libcurl (curl_multi_socket_action, wake_fd.c): a step costs
 * the same whether one transfer runs or sixty, where curl_multi_perform
 * polled every one of them.
 */
int
dfw_client_step(DfwClient *client, DfwWait *wait)
{
	int			failed;
	int			i;
	int			pending = 0;

	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		pending |= client->slots[i].running && !client->slots[i].done;
	if (pending)
	{
		dfw_sockets_drive(client, &failed);
		collect_finished(client);
		pending = 0;
		for (i = 0; i < DFW_MAX_TRANSFERS && !failed; i++)
			pending |= client->slots[i].running && !client->slots[i].done;
	}

	/* also when idle: it re-arms the wake descriptor's timer */
	dfw_sockets_wait(client, wait);
	return !pending;
}

/*
 * note_new_socket
 *		libcurl's callback for each socket it creates: count it (see
 *		DfwWait.socket_generation) and leave the socket's options alone.
 */
static int
note_new_socket(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	DfwClient  *client = clientp;

	(void) fd;
	(void) purpose;
	client->socket_generation++;
	return CURL_SOCKOPT_OK;
}

/* How many slots are idle, i.e. how many transfers could start now. */
int
dfw_client_free_slots(const DfwClient *client)
{
	int			n = 0;
	int			i;

	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		n += !client->slots[i].running;
	return n;
}

/*
 * dfw_client_start
 *		Start a request on an idle slot; *ticket names it.  Other
 *		transfers go on.  The response must stay valid until the ticket is
 *		collected or cancelled, or the client aborted.
 */
DfwClientError
dfw_client_start(DfwClient *client, const DfwHttpRequest *request,
				 DfwHttpResponse *response, DfwTicket *ticket)
{
	int			i;
	DfwClientError err;

	ticket->slot = -1;
	ticket->serial = 0;
	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		if (!client->slots[i].running)
			break;
	if (i == DFW_MAX_TRANSFERS)
	{
		dfw_response_free_body(response);
		dfw_response_init(response);
		response->error = DFW_CLIENT_OUT_OF_MEMORY;
		dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
					"every transfer slot is busy", (size_t) -1);
		return response->error;
	}
	err = dfw_client_begin_slot(client, i, request, response);
	if (err == DFW_CLIENT_OK)
	{
		ticket->slot = i;
		ticket->serial = client->slots[i].serial;
	}
	return err;
}

/* Does the ticket still own its slot's transfer? */
static DfwTransfer *
ticket_transfer(DfwClient *client, DfwTicket ticket)
{
	DfwTransfer *t;

	if (ticket.slot < 0 || ticket.slot >= DFW_MAX_TRANSFERS)
		return NULL;
	t = &client->slots[ticket.slot];
	return t->running && t->serial == ticket.serial ? t : NULL;
}

/*
 * dfw_client_finished
 *		1 when the ticket's transfer is over: finished, or stopped by
 *		dfw_client_abort().
 */
int
dfw_client_finished(DfwClient *client, DfwTicket ticket)
{
	DfwTransfer *t = ticket_transfer(client, ticket);

	if (t == NULL)
		return 1;
	collect_finished(client);
	return t->done;
}

/*
 * dfw_client_collect
 *		The ticket's result into its response (the one given to
 *		dfw_client_start); a transfer stopped before it finished is a
 *		DFW_CLIENT_TRANSFER_FAILED.
 */
DfwClientError
dfw_client_collect(DfwClient *client, DfwTicket ticket, DfwHttpResponse *response)
{
	DfwTransfer *t = ticket_transfer(client, ticket);

	if (t == NULL || t->response != response)
	{
		response->error = DFW_CLIENT_TRANSFER_FAILED;
		dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
					"the transfer was stopped before it finished", (size_t) -1);
		return response->error;
	}
	return dfw_client_end_slot(client, ticket.slot);
}

/* Stop the ticket's transfer, if it is still running. */
void
dfw_client_cancel(DfwClient *client, DfwTicket ticket)
{
	DfwTransfer *t = ticket_transfer(client, ticket);

	if (t != NULL)
		release_transfer(client, t);
}

/*
 * collect_finished
 *		Note each transfer libcurl reports done (its messages are read only
 *		once, so they are kept in the slots).
 */
static void
collect_finished(DfwClient *client)
{
	CURLMsg    *msg;
	int			queued;
	int			i;

	while ((msg = curl_multi_info_read(client->multi, &queued)) != NULL)
	{
		if (msg->msg != CURLMSG_DONE)
			continue;
		for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		{
			DfwTransfer *t = &client->slots[i];

			if (t->running && t->easy == msg->easy_handle)
			{
				t->done = 1;
				t->result = msg->data.result;
			}
		}
	}
}

/*
 * dfw_client_end
 *		Collect the result of slot 0's finished transfer.
 */
DfwClientError
dfw_client_end(DfwClient *client)
{
	return dfw_client_end_slot(client, 0);
}

/*
 * dfw_client_end_slot
 *		Collect the result of a finished transfer into its response.
 */
DfwClientError
dfw_client_end_slot(DfwClient *client, int slot)
{
	DfwTransfer *t = &client->slots[slot];
	DfwHttpResponse *response = t->response;
	CURLcode	result;

	if (!t->running || response == NULL)
		return DFW_CLIENT_OK;

	collect_finished(client);
	result = t->done ? t->result : CURLE_RECV_ERROR;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &response->status);
	curl_easy_getinfo(t->easy, CURLINFO_HTTP_CONNECTCODE, &response->proxy_status);

	if (result != CURLE_OK)
	{
		response->error = classify_curl_error(result, response);
		if (response->error == DFW_CLIENT_TOO_LARGE)
			snprintf(response->error_message, DFW_MESSAGE_SIZE,
					 "the response exceeded %zu bytes", response->max_bytes);
		else if (response->error == DFW_CLIENT_OUT_OF_MEMORY)
			dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
						"out of memory receiving the response", (size_t) -1);
		else if (t->errbuf[0])
			dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
						t->errbuf, (size_t) -1);
		else
			dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
						curl_easy_strerror(result), (size_t) -1);
	}
	else if (response->body == NULL)
	{
		/* Always hand back a NUL-terminated body, even an empty one. */
		response->body = calloc(1, 1);
		if (response->body == NULL)
		{
			response->error = DFW_CLIENT_OUT_OF_MEMORY;
			dfw_copy_string(response->error_message, DFW_MESSAGE_SIZE,
						"out of memory receiving the response", (size_t) -1);
		}
	}

	release_transfer(client, t);
	return response->error;
}

/*
 * dfw_client_abort
 *		Stop every running transfer, if any.
 *
 * Detaching an unfinished easy handle makes libcurl close its connection,
 * so the next request starts on a clean one.  Each response keeps whatever
 * body had arrived; its owner frees it.
 */
void
dfw_client_abort(DfwClient *client)
{
	int			i;

	if (client == NULL)
		return;
	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		release_transfer(client, &client->slots[i]);
}

static void
release_transfer(DfwClient *client, DfwTransfer *t)
{
	if (t->running)
	{
		curl_multi_remove_handle(client->multi, t->easy);
		t->running = 0;
	}
	t->done = 0;
	if (t->headers)
	{
		curl_slist_free_all(t->headers);
		t->headers = NULL;
	}
	t->response = NULL;
}

/*
 * advise_large_body
 *		Ask for huge pages under a large response buffer.
 *
 * A large malloc is fresh memory from the kernel, faulted in page by page
 * as the body is copied into it: for an 80 MB hunting answer that was 20,000
 * page faults, more of the backend's time than parsing the answer (bench/
 * README.md).  With transparent huge pages in "madvise" mode (Debian's
 * default) this makes them 2 MB each.  Only advice: where it is not
 * supported nothing changes.
 */
static void
advise_large_body(char *body, size_t size)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = 2 * 1024 * 1024;
	uintptr_t	from = ((uintptr_t) body + huge - 1) & ~(huge - 1);
	uintptr_t	to = ((uintptr_t) body + size) & ~(huge - 1);

	if (to > from)
		(void) madvise((void *) from, to - from, MADV_HUGEPAGE);
#endif
}

/*
 * write_body
 *		libcurl write callback: append to the response body.
 *
 * Grows the buffer geometrically.  Returning less than asked for makes
 * libcurl fail the transfer, which is how a cap or an allocation failure
 * is reported without leaving the callback abnormally.  A streamed
 * answer (2xx: an error body is read whole) that already holds hold_bytes
 * undrained pauses the transfer instead: libcurl keeps this write and
 * hands it over again after dfw_client_drain.
 */
static size_t
write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	DfwHttpResponse *response = userdata;
	size_t		len = size * nmemb;
	size_t		need = response->body_len + len + 1;

	if (response->hold_bytes && response->body_len > 0 &&
		response->body_len + len > response->hold_bytes &&
		response->status >= 200 && response->status < 300)
	{
		response->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (response->max_bytes && response->body_total + len > response->max_bytes)
	{
		response->too_large = 1;
		return 0;
	}
	if (need > response->body_alloc)
	{
		size_t		newsize = response->body_alloc ? response->body_alloc : 16384;
		char	   *newbody;

		while (newsize < need)
			newsize *= 2;
		newbody = realloc(response->body, newsize);
		if (newbody == NULL)
		{
			response->oom = 1;
			return 0;
		}
		response->body = newbody;
		response->body_alloc = newsize;
		advise_large_body(newbody, newsize);
	}
	memcpy(response->body + response->body_len, data, len);
	response->body_len += len;
	response->body_total += len;
	response->body[response->body_len] = '\0';
	return len;
}

/*
 * write_header
 *		libcurl header callback: keep the headers defender_fdw acts on.
 *
 * A new status line (after a 100 Continue, say) starts a new set.
 * Content-Length sizes the body buffer up front so that a large response
 * is not copied while it grows.
 */
static size_t
write_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	DfwHttpResponse *response = userdata;
	size_t		len = size * nmemb;
	const char *colon;
	size_t		namelen;
	const char *value;
	size_t		valuelen;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
	{
		const char *space = memchr(data, ' ', len);

		response->content_type[0] = '\0';
		response->request_id[0] = '\0';
		response->retry_after[0] = '\0';
		response->headers_done = 0;
		/* the status as it arrives; dfw_client_end_slot reads libcurl's */
		response->status = 0;
		if (space != NULL && data + len - space > 3)
			response->status = strtol(space + 1, NULL, 10);
		return len;
	}
	if ((len == 2 && data[0] == '\r' && data[1] == '\n') || (len == 1 && data[0] == '\n'))
	{
		/* the end of a header block: the body follows, unless a 1xx */
		if (response->status >= 200)
			response->headers_done = 1;
		return len;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	namelen = colon - data;
	value = colon + 1;
	valuelen = len - namelen - 1;
	while (valuelen > 0 && (*value == ' ' || *value == '\t'))
		value++, valuelen--;
	while (valuelen > 0 && (value[valuelen - 1] == '\r' || value[valuelen - 1] == '\n' ||
							value[valuelen - 1] == ' '))
		valuelen--;

#define HEADER_IS(n) (namelen == strlen(n) && strncasecmp(data, n, namelen) == 0)
	if (HEADER_IS("content-type"))
		dfw_copy_string(response->content_type, DFW_HEADER_VALUE_SIZE, value, valuelen);
	else if (HEADER_IS("request-id"))
		dfw_copy_string(response->request_id, DFW_HEADER_VALUE_SIZE, value, valuelen);
	else if (HEADER_IS("retry-after"))
		dfw_copy_string(response->retry_after, DFW_HEADER_VALUE_SIZE, value, valuelen);
	else if (HEADER_IS("content-length") && response->body == NULL && !response->streaming)
	{
		char		digits[32];
		unsigned long long declared;

		dfw_copy_string(digits, sizeof(digits), value, valuelen);
		declared = strtoull(digits, NULL, 10);
		/* Preallocate only within the cap; the cap itself is enforced on write. */
		if (declared > 0 && declared < (unsigned long long) (SIZE_MAX / 2) &&
			(response->max_bytes == 0 || declared <= response->max_bytes))
		{
			response->body = malloc((size_t) declared + 1);
			if (response->body)
			{
				response->body[0] = '\0';
				response->body_alloc = (size_t) declared + 1;
				advise_large_body(response->body, response->body_alloc);
			}
		}
	}
#undef HEADER_IS
	return len;
}

static DfwClientError
classify_curl_error(CURLcode code, const DfwHttpResponse *response)
{
	switch (code)
	{
		case CURLE_WRITE_ERROR:
			if (response->too_large)
				return DFW_CLIENT_TOO_LARGE;
			if (response->oom)
				return DFW_CLIENT_OUT_OF_MEMORY;
			return DFW_CLIENT_TRANSFER_FAILED;
		case CURLE_OUT_OF_MEMORY:
			return DFW_CLIENT_OUT_OF_MEMORY;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			return DFW_CLIENT_BAD_URL;
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
			return DFW_CLIENT_CONNECT_FAILED;
		case CURLE_OPERATION_TIMEDOUT:
			return DFW_CLIENT_TIMED_OUT;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_USE_SSL_FAILED:
			return DFW_CLIENT_TLS_FAILED;
		default:
			return DFW_CLIENT_TRANSFER_FAILED;
	}
}

