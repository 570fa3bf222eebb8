/*-------------------------------------------------------------------------
 *
 * defender_client.c
 *		  HTTP transfers (libcurl) and small JSON documents (jansson).
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
#include "defender_client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#ifdef DFW_CLIENT_HAS_WAKE_FD
#include <sys/epoll.h>
#include <sys/timerfd.h>
#endif

#include <curl/curl.h>
#include <jansson.h>

/* One transfer slot: an easy handle and the request it is running. */
typedef struct DfwTransfer
{
	CURL	   *easy;
	int			running;		/* attached to the multi handle */
	int			done;			/* libcurl reported it finished */
	CURLcode	result;			/* ... with this result */
	struct curl_slist *headers; /* of the running request */
	DfwHttpResponse *response;	/* of the running request */
	unsigned long serial;		/* bumped at each start: see DfwTicket */
	char		errbuf[CURL_ERROR_SIZE];
} DfwTransfer;

struct DfwClient
{
	CURLM	   *multi;
	unsigned long socket_generation;	/* bumped for each new socket */
	DfwTransfer slots[DFW_MAX_TRANSFERS];

	/*
	 * The wake descriptor (dfw_client_wake_fd): an epoll set holding
	 * curl's sockets, as the last step asked for them, and a timer for
	 * curl's timeout.  -1 until first asked for.
	 */
	int			wake_fd;
	int			timer_fd;
	int			nwatched;
	int			watched_fds[DFW_MAX_WAIT_SOCKETS];
	unsigned int watched_events[DFW_MAX_WAIT_SOCKETS];
	unsigned long watched_generation;
};

static size_t write_body(char *data, size_t size, size_t nmemb, void *userdata);
static size_t write_header(char *data, size_t size, size_t nmemb, void *userdata);
static void advise_large_body(char *body, size_t size);
static DfwClientError classify_curl_error(CURLcode code, const DfwHttpResponse *response);
static void copy_string(char *dst, size_t dstsize, const char *src, size_t srclen);
static void release_transfer(DfwClient *client, DfwTransfer *t);
static void collect_finished(DfwClient *client);
static int	note_new_socket(void *clientp, curl_socket_t fd, curlsocktype purpose);
static void sync_wake_fd(DfwClient *client, const DfwWait *wait, int idle);

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
	client->wake_fd = -1;
	client->timer_fd = -1;
	client->multi = curl_multi_init();
	if (client->multi == NULL)
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
	if (client->wake_fd >= 0)
		close(client->wake_fd);
	if (client->timer_fd >= 0)
		close(client->timer_fd);
	free(client);
}

void
dfw_response_init(DfwHttpResponse *response)
{
	memset(response, 0, sizeof(DfwHttpResponse));
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
 * dfw_client_abort(); its previous body, if any, is freed.
 */
DfwClientError
dfw_client_begin_slot(DfwClient *client, int slot, const DfwHttpRequest *request,
					  DfwHttpResponse *response)
{
	DfwTransfer *t = &client->slots[slot];
	CURL	   *easy;
	const char *const *h;
	int			ok = 1;

	release_transfer(client, t);
	dfw_response_free_body(response);
	dfw_response_init(response);
	response->max_bytes = request->max_response_bytes;

	/*
	 * The last word on where a request goes, whatever built its URL: the
	 * exact string handed to libcurl below must be on the request's origin,
	 * or nothing is sent (the headers may carry a bearer token).
	 */
	if (request->origin == NULL ||
		!dfw_url_on_origin(request->url, request->origin,
						   response->error_message, DFW_MESSAGE_SIZE))
	{
		if (request->origin == NULL)
			copy_string(response->error_message, DFW_MESSAGE_SIZE,
						"the request names no origin", (size_t) -1);
		response->error = DFW_CLIENT_URL_REFUSED;
		return response->error;
	}

	if (t->easy == NULL && (t->easy = curl_easy_init()) == NULL)
	{
		response->error = DFW_CLIENT_OUT_OF_MEMORY;
		copy_string(response->error_message, DFW_MESSAGE_SIZE,
					"out of memory creating an HTTP handle", (size_t) -1);
		return response->error;
	}
	easy = t->easy;
	t->response = response;
	t->errbuf[0] = '\0';
	t->done = 0;
	t->result = CURLE_OK;
	t->serial++;

	curl_easy_reset(easy);

	for (h = request->headers; h && *h; h++)
	{
		struct curl_slist *next = curl_slist_append(t->headers, *h);

		if (next == NULL)
		{
			release_transfer(client, t);
			response->error = DFW_CLIENT_OUT_OF_MEMORY;
			copy_string(response->error_message, DFW_MESSAGE_SIZE,
						"out of memory building request headers", (size_t) -1);
			return response->error;
		}
		t->headers = next;
	}

	/* Only http and https: a URL from a response must not reach file:// etc. */
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	ok &= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	ok &= curl_easy_setopt(easy, CURLOPT_PROTOCOLS,
						   (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
	ok &= curl_easy_setopt(easy, CURLOPT_URL, request->url) == CURLE_OK;
	/* checked above; and libcurl itself refuses user info in the URL */
	ok &= curl_easy_setopt(easy, CURLOPT_DISALLOW_USERNAME_IN_URL, 1L) == CURLE_OK;
	/* Never follow redirects: the bearer token must not travel elsewhere. */
	ok &= curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_USERAGENT, request->user_agent) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request->timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
						   request->connect_timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER,
						   request->verify_ssl ? 1L : 0L) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST,
						   request->verify_ssl ? 2L : 0L) == CURLE_OK;
	if (request->ca_file)
		ok &= curl_easy_setopt(easy, CURLOPT_CAINFO, request->ca_file) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_WRITEDATA, response) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, write_header) == CURLE_OK;
	ok &= curl_easy_setopt(easy, CURLOPT_HEADERDATA, response) == CURLE_OK;
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

	if (!ok)
	{
		release_transfer(client, t);
		response->error = DFW_CLIENT_BAD_URL;
		copy_string(response->error_message, DFW_MESSAGE_SIZE,
					"the request could not be configured", (size_t) -1);
		return response->error;
	}

	if (curl_multi_add_handle(client->multi, easy) != CURLM_OK)
	{
		release_transfer(client, t);
		response->error = DFW_CLIENT_OUT_OF_MEMORY;
		copy_string(response->error_message, DFW_MESSAGE_SIZE,
					"could not start the transfer", (size_t) -1);
		return response->error;
	}
	t->running = 1;
	return DFW_CLIENT_OK;
}

/*
 * dfw_client_step
 *		Let libcurl do whatever it can without blocking.
 *
 * Returns 1 when every started transfer has finished (successfully or
 * not), else 0 and fills *wait with what to wait for before the next step.
 */
int
dfw_client_step(DfwClient *client, DfwWait *wait)
{
	int			still_running = 0;
	fd_set		readfds,
				writefds,
				excfds;
	int			maxfd = -1;
	long		timeout = -1;
	int			fd;
	int			i;
	int			pending = 0;

	for (i = 0; i < DFW_MAX_TRANSFERS; i++)
		pending |= client->slots[i].running && !client->slots[i].done;
	if (!pending)
	{
		sync_wake_fd(client, NULL, 1);
		return 1;
	}

	if (curl_multi_perform(client->multi, &still_running) != CURLM_OK)
	{
		sync_wake_fd(client, NULL, 1);
		return 1;
	}
	collect_finished(client);
	if (still_running == 0)
	{
		sync_wake_fd(client, NULL, 1);
		return 1;
	}

	memset(wait, 0, sizeof(DfwWait));
	FD_ZERO(&readfds);
	FD_ZERO(&writefds);
	FD_ZERO(&excfds);
	curl_multi_fdset(client->multi, &readfds, &writefds, &excfds, &maxfd);
	curl_multi_timeout(client->multi, &timeout);

	for (fd = 0; fd <= maxfd; fd++)
	{
		int			r = FD_ISSET(fd, &readfds);
		int			w = FD_ISSET(fd, &writefds);

		if (!r && !w)
			continue;
		if (wait->nsockets == DFW_MAX_WAIT_SOCKETS)
		{
			wait->more_sockets = 1;
			break;
		}
		wait->sockets[wait->nsockets] = fd;
		wait->want_read[wait->nsockets] = r;
		wait->want_write[wait->nsockets] = w;
		wait->nsockets++;
	}
	wait->timeout_ms = timeout;
	wait->socket_generation = client->socket_generation;
	sync_wake_fd(client, wait, 0);
	return 0;
}

/*
 * dfw_client_wake_fd
 *		A descriptor that becomes readable when dfw_client_step() has
 *		something to do: one of curl's sockets is ready as the last step
 *		asked, or curl's timeout (at most DFW_WAKE_CEILING_MS) has passed.
 *		-1 where it cannot be made (not Linux, or out of descriptors).
 *
 * It lets a caller that can watch one descriptor only per waiter (an
 * asynchronous Append gives each of its scans one event) wait for every
 * transfer of the client at once: an epoll set holding curl's sockets,
 * which is itself readable when one of them is, and a timerfd inside it.
 * Every dfw_client_step() brings the set up to date, so it is valid
 * between steps; a step also reads the timer, and the ceiling makes sure
 * the caller gets to run (and check its interrupts) at least that often.
 */
int
dfw_client_wake_fd(DfwClient *client)
{
#ifdef DFW_CLIENT_HAS_WAKE_FD
	if (client->wake_fd < 0)
	{
		struct epoll_event ev;
		int			efd = epoll_create1(EPOLL_CLOEXEC);
		int			tfd = efd >= 0 ? timerfd_create(CLOCK_MONOTONIC,
													TFD_NONBLOCK | TFD_CLOEXEC) : -1;

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = tfd;
		if (tfd < 0 || epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev) != 0)
		{
			if (tfd >= 0)
				close(tfd);
			if (efd >= 0)
				close(efd);
			return -1;
		}
		client->wake_fd = efd;
		client->timer_fd = tfd;
		client->nwatched = 0;
		sync_wake_fd(client, NULL, 1);
	}
	return client->wake_fd;
#else
	(void) client;
	return -1;
#endif
}

#ifdef DFW_CLIENT_HAS_WAKE_FD
/* Add, change or remove one socket of the wake set; errors are ignored:
 * a socket closed meanwhile has left the set by itself. */
static void
watch_socket(DfwClient *client, int op, int fd, unsigned int events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(client->wake_fd, op, fd, &ev) != 0)
	{
		/* a number reused by a new socket: it is not in the set yet */
		if (op == EPOLL_CTL_MOD && errno == ENOENT)
			(void) epoll_ctl(client->wake_fd, EPOLL_CTL_ADD, fd, &ev);
		else if (op == EPOLL_CTL_ADD && errno == EEXIST)
			(void) epoll_ctl(client->wake_fd, EPOLL_CTL_MOD, fd, &ev);
	}
}
#endif

/*
 * sync_wake_fd
 *		Make the wake set watch what *wait asks for (nothing when idle),
 *		and arm its timer.
 */
static void
sync_wake_fd(DfwClient *client, const DfwWait *wait, int idle)
{
#ifdef DFW_CLIENT_HAS_WAKE_FD
	struct itimerspec when;
	uint64_t	expirations;
	long		ms;
	int			i,
				j;
	int			n = idle ? 0 : wait->nsockets;

	if (client->wake_fd < 0)
		return;

	/* a new socket may carry a closed one's number: start the set afresh */
	if (!idle && wait->socket_generation != client->watched_generation)
	{
		for (i = 0; i < client->nwatched; i++)
			watch_socket(client, EPOLL_CTL_DEL, client->watched_fds[i], 0);
		client->nwatched = 0;
		client->watched_generation = wait->socket_generation;
	}
	for (i = 0; i < client->nwatched; i++)
	{
		for (j = 0; j < n; j++)
			if (wait->sockets[j] == client->watched_fds[i])
				break;
		if (j == n)
			watch_socket(client, EPOLL_CTL_DEL, client->watched_fds[i], 0);
	}
	for (j = 0; j < n; j++)
	{
		unsigned int events = (wait->want_read[j] ? EPOLLIN : 0) |
			(wait->want_write[j] ? EPOLLOUT : 0);

		for (i = 0; i < client->nwatched; i++)
			if (client->watched_fds[i] == wait->sockets[j])
				break;
		if (i == client->nwatched)
			watch_socket(client, EPOLL_CTL_ADD, wait->sockets[j], events);
		else if (client->watched_events[i] != events)
			watch_socket(client, EPOLL_CTL_MOD, wait->sockets[j], events);
	}
	client->nwatched = n;
	for (j = 0; j < n; j++)
	{
		client->watched_fds[j] = wait->sockets[j];
		client->watched_events[j] = (wait->want_read[j] ? EPOLLIN : 0) |
			(wait->want_write[j] ? EPOLLOUT : 0);
	}

	/* the timer: curl's timeout, sooner when some sockets are not watched */
	ms = idle || wait->timeout_ms < 0 ? DFW_WAKE_CEILING_MS : wait->timeout_ms;
	if (!idle && wait->more_sockets && ms > 10)
		ms = 10;
	if (ms > DFW_WAKE_CEILING_MS)
		ms = DFW_WAKE_CEILING_MS;
	while (read(client->timer_fd, &expirations, sizeof(expirations)) > 0)
		;
	memset(&when, 0, sizeof(when));
	when.it_value.tv_sec = ms / 1000;
	when.it_value.tv_nsec = (ms % 1000) * 1000000L;
	if (ms == 0)
		when.it_value.tv_nsec = 1;	/* zero would disarm it */
	(void) timerfd_settime(client->timer_fd, 0, &when, NULL);
#else
	(void) client;
	(void) wait;
	(void) idle;
#endif
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
		copy_string(response->error_message, DFW_MESSAGE_SIZE,
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
		copy_string(response->error_message, DFW_MESSAGE_SIZE,
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
			copy_string(response->error_message, DFW_MESSAGE_SIZE,
						"out of memory receiving the response", (size_t) -1);
		else if (t->errbuf[0])
			copy_string(response->error_message, DFW_MESSAGE_SIZE,
						t->errbuf, (size_t) -1);
		else
			copy_string(response->error_message, DFW_MESSAGE_SIZE,
						curl_easy_strerror(result), (size_t) -1);
	}
	else if (response->body == NULL)
	{
		/* Always hand back a NUL-terminated body, even an empty one. */
		response->body = calloc(1, 1);
		if (response->body == NULL)
		{
			response->error = DFW_CLIENT_OUT_OF_MEMORY;
			copy_string(response->error_message, DFW_MESSAGE_SIZE,
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
 * is reported without leaving the callback abnormally.
 */
static size_t
write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	DfwHttpResponse *response = userdata;
	size_t		len = size * nmemb;
	size_t		need = response->body_len + len + 1;

	if (response->max_bytes && response->body_len + len > response->max_bytes)
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
		response->content_type[0] = '\0';
		response->request_id[0] = '\0';
		response->retry_after[0] = '\0';
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
		copy_string(response->content_type, DFW_HEADER_VALUE_SIZE, value, valuelen);
	else if (HEADER_IS("request-id"))
		copy_string(response->request_id, DFW_HEADER_VALUE_SIZE, value, valuelen);
	else if (HEADER_IS("retry-after"))
		copy_string(response->retry_after, DFW_HEADER_VALUE_SIZE, value, valuelen);
	else if (HEADER_IS("content-length") && response->body == NULL)
	{
		char		digits[32];
		unsigned long long declared;

		copy_string(digits, sizeof(digits), value, valuelen);
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

/*
 * dfw_url_encode
 *		Percent-encode all but RFC 3986 unreserved characters.
 */
size_t
dfw_url_encode(const char *text, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char	   *p = out;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char) c;
		else
		{
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return (size_t) (p - out);
}

/*
 * dfw_parse_retry_after
 *		Seconds from now that a Retry-After header asks for.
 *
 * RFC 9110 allows delta-seconds or an HTTP date; -1 means absent or
 * unusable (the caller then backs off on its own schedule).
 */
long
dfw_parse_retry_after(const char *value)
{
	char	   *end;
	long		seconds;
	time_t		when;

	if (value == NULL || value[0] == '\0')
		return -1;
	errno = 0;
	seconds = strtol(value, &end, 10);
	if (end != value && *end == '\0')
	{
		if (seconds < 0)
			return -1;
		/* "99999999999999999999" is ERANGE and LONG_MAX: capped alike */
		return (errno == ERANGE || seconds > DFW_RETRY_AFTER_CAP_S) ?
			DFW_RETRY_AFTER_CAP_S : seconds;
	}
	when = curl_getdate(value, NULL);
	if (when == -1)
		return -1;
	if (when <= time(NULL))
		return 0;
	return (when - time(NULL) > DFW_RETRY_AFTER_CAP_S) ?
		DFW_RETRY_AFTER_CAP_S : (long) (when - time(NULL));
}

/*
 * dfw_url_has_scheme
 *		Does text start with "scheme:" (RFC 3986: a letter, then letters,
 *		digits, '+', '-', '.'), which makes it an absolute URL rather than a
 *		relative path?  Only a classifier: an absolute URL is then read by
 *		dfw_url_origin(), i.e. by libcurl.
 */
int
dfw_url_has_scheme(const char *text)
{
	const char *p = text;

	if (!isalpha((unsigned char) *p))
		return 0;
	while (isalnum((unsigned char) *p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

/* Is one URL part present?  (curl_url_get answers CURLUE_NO_xxx when not.) */
static int
url_part_present(CURLU *handle, CURLUPart part)
{
	char	   *value = NULL;
	CURLUcode	rc = curl_url_get(handle, part, &value, 0);

	curl_free(value);
	return rc == CURLUE_OK;
}

/*
 * dfw_url_origin
 *		Scheme, host and effective port of an http(s) URL, read by libcurl's
 *		URL API, with everything that could make two readers disagree about
 *		the host refused.
 *
 * The URL is parsed with the flags libcurl's own transfer uses (minus
 * guessing a scheme), so the host seen here is the host libcurl connects
 * to.  Refused on top of what curl_url() refuses: a space or control
 * character anywhere (CR/LF would split a request line or a log line);
 * user information or login options ("graph.microsoft.com%23@attacker" is
 * a user name); a fragment (never sent, so never meant); an IPv6 zone id;
 * a host with anything but ASCII letters, digits, '-' and '.' (no
 * percent-encoding, no Unicode: an IDN must be given in its punycode
 * form), or an IPv6 literal of hex digits, ':' and '.'; a host ending in a
 * dot ("graph.microsoft.com." is the same DNS name, but refusing it means
 * one spelling per origin, and TLS names carry no dot).
 */
int
dfw_url_origin(const char *url, DfwOrigin *origin, char **rest, char *why, size_t whysize)
{
	CURLU	   *handle;
	CURLUcode	rc;
	char	   *part = NULL;
	const unsigned char *p;
	size_t		len;
	int			ok = 0;

	memset(origin, 0, sizeof(DfwOrigin));
	if (rest)
		*rest = NULL;
	for (p = (const unsigned char *) url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
		{
			snprintf(why, whysize, "the URL contains a space or a control character");
			return 0;
		}

	handle = curl_url();
	if (handle == NULL)
	{
		snprintf(why, whysize, "out of memory parsing a URL");
		return 0;
	}
	rc = curl_url_set(handle, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (rc != CURLUE_OK)
	{
#if CURL_AT_LEAST_VERSION(7, 80, 0)
		snprintf(why, whysize, "not a URL libcurl can read (%s)", curl_url_strerror(rc));
#else
		snprintf(why, whysize, "not a URL libcurl can read (error %d)", (int) rc);
#endif
		goto done;
	}

	if (curl_url_get(handle, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
		(strcmp(part, "http") != 0 && strcmp(part, "https") != 0))
	{
		snprintf(why, whysize, "only http and https URLs are allowed");
		goto done;
	}
	copy_string(origin->scheme, sizeof(origin->scheme), part, (size_t) -1);
	curl_free(part);
	part = NULL;

	if (url_part_present(handle, CURLUPART_USER) ||
		url_part_present(handle, CURLUPART_PASSWORD) ||
		url_part_present(handle, CURLUPART_OPTIONS))
	{
		snprintf(why, whysize, "the URL has user information (a user name or password before '@')");
		goto done;
	}
	if (url_part_present(handle, CURLUPART_FRAGMENT) || strchr(url, '#') != NULL)
	{
		snprintf(why, whysize, "the URL has a fragment ('#')");
		goto done;
	}
#if CURL_AT_LEAST_VERSION(7, 65, 0)
	if (url_part_present(handle, CURLUPART_ZONEID))
	{
		snprintf(why, whysize, "the URL has an IPv6 zone id");
		goto done;
	}
#endif

	if (curl_url_get(handle, CURLUPART_HOST, &part, 0) != CURLUE_OK ||
		(len = strlen(part)) == 0 || len >= DFW_HOST_SIZE)
	{
		snprintf(why, whysize, "the URL has no usable host");
		goto done;
	}
	for (p = (const unsigned char *) part; *p; p++)
	{
		int			fine = part[0] == '[' ?
			(isxdigit(*p) || *p == ':' || *p == '.' ||
			 (p == (const unsigned char *) part) || (*p == ']' && p[1] == '\0')) :
			(*p < 0x80 && (isalnum(*p) || *p == '-' || *p == '.'));

		if (!fine)
		{
			snprintf(why, whysize, "the URL's host may hold only ASCII letters, digits, '-' and '.' (or be an IPv6 literal)");
			goto done;
		}
	}
	if (part[len - 1] == '.' || part[0] == '.')
	{
		snprintf(why, whysize, "the URL's host starts or ends with a dot");
		goto done;
	}
	for (len = 0; part[len]; len++)
		origin->host[len] = (char) tolower((unsigned char) part[len]);
	origin->host[len] = '\0';
	curl_free(part);
	part = NULL;

	if (curl_url_get(handle, CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) != CURLUE_OK)
	{
		snprintf(why, whysize, "the URL has no usable port");
		goto done;
	}
	origin->port = strtol(part, NULL, 10);
	curl_free(part);
	part = NULL;
	if (origin->port <= 0 || origin->port > 65535)
	{
		snprintf(why, whysize, "the URL's port is out of range");
		goto done;
	}

	if (rest)
	{
		char	   *path = NULL;
		char	   *query = NULL;

		if (curl_url_get(handle, CURLUPART_PATH, &path, 0) != CURLUE_OK)
			path = NULL;
		if (curl_url_get(handle, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL;
		*rest = malloc((path ? strlen(path) : 1) + (query ? strlen(query) + 1 : 0) + 1);
		if (*rest)
			snprintf(*rest, (path ? strlen(path) : 1) + (query ? strlen(query) + 1 : 0) + 1,
					 "%s%s%s", path ? path : "/", query ? "?" : "", query ? query : "");
		curl_free(path);
		curl_free(query);
		if (*rest == NULL)
		{
			snprintf(why, whysize, "out of memory parsing a URL");
			goto done;
		}
	}
	ok = 1;

done:
	curl_free(part);
	curl_url_cleanup(handle);
	if (!ok)
		memset(origin, 0, sizeof(DfwOrigin));
	return ok;
}

/*
 * dfw_url_on_origin
 *		Is url on base's origin: the same scheme, host and effective port?
 */
int
dfw_url_on_origin(const char *url, const char *base, char *why, size_t whysize)
{
	DfwOrigin	target;
	DfwOrigin	allowed;

	if (!dfw_url_origin(base, &allowed, NULL, why, whysize))
		return 0;
	if (!dfw_url_origin(url, &target, NULL, why, whysize))
		return 0;
	if (strcmp(target.scheme, allowed.scheme) != 0 ||
		strcmp(target.host, allowed.host) != 0 ||
		target.port != allowed.port)
	{
		snprintf(why, whysize, "%s://%s:%ld is not %s://%s:%ld",
				 target.scheme, target.host, target.port,
				 allowed.scheme, allowed.host, allowed.port);
		return 0;
	}
	return 1;
}

/* Copy at most srclen bytes (or up to the NUL when srclen is (size_t) -1). */
static void
copy_string(char *dst, size_t dstsize, const char *src, size_t srclen)
{
	size_t		n;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	n = (srclen == (size_t) -1) ? strlen(src) : strnlen(src, srclen);
	if (n >= dstsize)
		n = dstsize - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
copy_json_string(char *dst, size_t dstsize, json_t *value)
{
	if (json_is_string(value))
		copy_string(dst, dstsize, json_string_value(value), json_string_length(value));
	else
		dst[0] = '\0';
}

/*
 * dfw_parse_graph_error
 *		Pick code, message and request ids out of a Graph error body.
 *
 * Anything that is not Graph's shape leaves err->parsed at 0, and the
 * caller reports the raw status instead.
 */
void
dfw_parse_graph_error(const char *body, size_t len, DfwGraphError *err)
{
	json_t	   *root;
	json_t	   *error;
	json_t	   *inner;

	memset(err, 0, sizeof(DfwGraphError));
	if (body == NULL || len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (root == NULL)
		return;
	error = json_object_get(root, "error");
	if (json_is_object(error))
	{
		err->parsed = 1;
		copy_json_string(err->code, sizeof(err->code), json_object_get(error, "code"));
		copy_json_string(err->message, sizeof(err->message), json_object_get(error, "message"));
		inner = json_object_get(error, "innerError");
		if (!json_is_object(inner))
			inner = json_object_get(error, "innererror");
		if (json_is_object(inner))
		{
			copy_json_string(err->request_id, sizeof(err->request_id),
							 json_object_get(inner, "request-id"));
			copy_json_string(err->client_request_id, sizeof(err->client_request_id),
							 json_object_get(inner, "client-request-id"));
		}
		/* Defender for Endpoint puts its correlation id in "target". */
		if (err->request_id[0] == '\0')
			copy_json_string(err->request_id, sizeof(err->request_id),
							 json_object_get(error, "target"));
	}
	json_decref(root);
}

/*
 * dfw_parse_token_response
 *		Read a token endpoint answer: the token, or Entra's error fields.
 *
 * Only the first line of error_description is kept: the rest repeats the
 * trace and correlation ids, which are reported separately.
 */
void
dfw_parse_token_response(const char *body, size_t len, DfwTokenResponse *out)
{
	json_t	   *root;
	json_t	   *value;

	memset(out, 0, sizeof(DfwTokenResponse));
	if (body == NULL || len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (root == NULL)
		return;
	if (!json_is_object(root))
	{
		json_decref(root);
		return;
	}
	out->parsed = 1;

	value = json_object_get(root, "access_token");
	if (json_is_string(value) && json_string_length(value) > 0)
	{
		out->access_token = strdup(json_string_value(value));
		value = json_object_get(root, "expires_in");
		if (json_is_integer(value))
			out->expires_in = json_integer_value(value) > DFW_TOKEN_LIFETIME_CAP_S ?
				DFW_TOKEN_LIFETIME_CAP_S : (long) json_integer_value(value);
		else if (json_is_string(value))
		{
			errno = 0;
			out->expires_in = strtol(json_string_value(value), NULL, 10);
			if (errno == ERANGE || out->expires_in > DFW_TOKEN_LIFETIME_CAP_S)
				out->expires_in = DFW_TOKEN_LIFETIME_CAP_S;
		}
		else
			out->expires_in = 3599;
		/* the caller multiplies it into milliseconds: keep it small */
		if (out->expires_in < 0)
			out->expires_in = 0;
	}

	copy_json_string(out->error, sizeof(out->error), json_object_get(root, "error"));
	value = json_object_get(root, "error_description");
	if (json_is_string(value))
	{
		const char *text = json_string_value(value);
		size_t		line = strcspn(text, "\r\n");

		copy_string(out->description, sizeof(out->description), text, line);
	}
	value = json_object_get(root, "error_codes");
	if (json_is_array(value) && json_array_size(value) > 0 &&
		json_is_integer(json_array_get(value, 0)))
		out->aadsts = (long) json_integer_value(json_array_get(value, 0));
	copy_json_string(out->trace_id, sizeof(out->trace_id), json_object_get(root, "trace_id"));
	copy_json_string(out->correlation_id, sizeof(out->correlation_id),
					 json_object_get(root, "correlation_id"));
	json_decref(root);
}

void
dfw_token_response_free(DfwTokenResponse *out)
{
	if (out->access_token)
	{
		/* It is a credential: do not leave it in freed memory. */
		memset(out->access_token, 0, strlen(out->access_token));
		free(out->access_token);
		out->access_token = NULL;
	}
}
