/*-------------------------------------------------------------------------
 *
 * defender_client.h
 *		  The boundary between defender_fdw and its remote libraries.
 *
 * Everything behind this header (defender_client.c: transfers; url.c:
 * URLs and their origins; graph_response.c: error bodies, token answers,
 * Retry-After; wake_fd.c: one descriptor to wait on) uses only libcurl,
 * jansson and the C library; it includes no PostgreSQL header, never
 * raises a PostgreSQL error and never longjmps.  It reports failures as a
 * DfwClientError plus a message, and the PostgreSQL side (connection.c,
 * auth.c) turns those into ERRORs with SQLSTATEs.  This is the same split
 * oracle_fdw makes between oracle_fdw.c and oracle_utils.c: it keeps
 * ereport() out of libcurl's callbacks and lets the client be exercised
 * without a backend.
 *
 * The header exposes no libcurl or jansson type, so PostgreSQL-side files
 * that only send requests need not include either library.
 *
 * src/client/defender_client.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_CLIENT_H
#define DEFENDER_CLIENT_H

#include <stddef.h>

/* What went wrong with a transfer, independent of the HTTP status. */
typedef enum DfwClientError
{
	DFW_CLIENT_OK = 0,
	DFW_CLIENT_OUT_OF_MEMORY,	/* malloc failed inside the client */
	DFW_CLIENT_BAD_URL,			/* malformed URL or a scheme other than http(s) */
	DFW_CLIENT_CONNECT_FAILED,	/* DNS, refused, unreachable, proxy */
	DFW_CLIENT_TLS_FAILED,		/* handshake or certificate verification */
	DFW_CLIENT_TIMED_OUT,		/* the request's own timeout elapsed */
	DFW_CLIENT_TOO_LARGE,		/* body exceeded max_response_bytes */
	DFW_CLIENT_TRANSFER_FAILED,	/* reset, truncated body, protocol error */
	DFW_CLIENT_URL_REFUSED		/* the URL is not on the request's origin */
} DfwClientError;

#define DFW_MESSAGE_SIZE 512
#define DFW_HEADER_VALUE_SIZE 128

/* One HTTP request.  Every pointer is borrowed for the transfer's duration. */
typedef struct DfwHttpRequest
{
	const char *method;			/* GET, POST, PATCH, PUT, DELETE */
	const char *url;			/* absolute http:// or https:// URL */
	const char *origin;			/* a URL whose origin url must have (graph_url,
								 * mde_url, login_url, managed_identity_url);
								 * checked before any I/O, see dfw_url_origin */
	const char *const *headers; /* NULL-terminated "Name: value" strings */
	const char *body;			/* NULL for none */
	size_t		body_len;
	long		timeout_ms;		/* whole transfer */
	long		connect_timeout_ms;
	int			verify_ssl;		/* verify peer and host name */
	const char *ca_file;		/* NULL: the system's trust store */
	size_t		max_response_bytes; /* cap on the body; exceeding is an error */
	const char *user_agent;
	const char *proxy;			/* NULL: libcurl's default (the *_proxy
								 * environment variables); "": no proxy */
	const char *proxy_user;		/* NULL: none */
	const char *proxy_password;
	int			stream_body;	/* the caller drains the body as it arrives
								 * (dfw_client_drain): no buffer sized by
								 * Content-Length, the cap counts every byte */
	size_t		stream_hold_bytes;	/* with stream_body: the transfer pauses
									 * while more than this waits undrained
									 * (0: never), and goes on when drained */
} DfwHttpRequest;

/*
 * What came back.  body is malloc'd and NUL-terminated (body_len excludes
 * the NUL); release it with dfw_response_free_body().  The header fields
 * hold the values defender_fdw reports or acts on.
 *
 * The body is also the transfer's sink while it runs: libcurl's write
 * callback only appends to it, and a caller that streams
 * (DfwHttpRequest.stream_body) takes what has arrived between two
 * dfw_client_step() calls and then empties it with dfw_client_drain().
 * A streamed transfer whose caller does not drain (an answer requested
 * ahead of its turn) pauses once stream_hold_bytes wait, so that it holds
 * no more than that (and one write of libcurl's, at most 16 kB) until its
 * reader comes; the server's further bytes wait in TCP's window.
 * The bytes are handed over outside libcurl's callbacks, so the caller may
 * parse them, raise errors and longjmp as it likes.  status and
 * headers_done are set as soon as the final header block has arrived
 * (before the body), so a caller knows whether the bytes are an answer or
 * an error body before reading them.
 */
typedef struct DfwHttpResponse
{
	long		status;			/* 0 when no status line arrived */
	long		proxy_status;	/* the proxy's answer to CONNECT, 0 if none */
	char	   *body;
	size_t		body_len;
	size_t		body_alloc;
	char		content_type[DFW_HEADER_VALUE_SIZE];
	char		request_id[DFW_HEADER_VALUE_SIZE];
	char		retry_after[DFW_HEADER_VALUE_SIZE];
	DfwClientError error;
	char		error_message[DFW_MESSAGE_SIZE];
	size_t		body_total;		/* body bytes received, drained ones included */
	int			headers_done;	/* the final header block has arrived */
	/* private to the client while a transfer runs */
	size_t		max_bytes;
	int			oom;
	int			too_large;
	int			streaming;		/* the request's stream_body */
	size_t		hold_bytes;		/* the request's stream_hold_bytes */
	int			paused;			/* libcurl holds a write back until drained */
} DfwHttpResponse;

/*
 * One reusable client: a libcurl multi handle (and its connection pool)
 * with up to DFW_MAX_TRANSFERS transfers running at once, one per slot.
 */
#define DFW_MAX_TRANSFERS 96

/*
 * What the caller should wait for before calling dfw_client_step() again:
 * up to DFW_MAX_WAIT_SOCKETS sockets with read/write interest, and a
 * timeout in milliseconds (-1: none, wait on the sockets only).
 *
 * socket_generation changes whenever libcurl opens a socket.  A caller
 * that keeps its wait set between waits (one epoll set per backend) must
 * rebuild it when the generation changes: a new socket can have the number
 * of a closed one, which the kernel has silently dropped from the set.
 */
#define DFW_MAX_WAIT_SOCKETS DFW_MAX_TRANSFERS
typedef struct DfwWait
{
	int			nsockets;
	int			sockets[DFW_MAX_WAIT_SOCKETS];
	int			want_read[DFW_MAX_WAIT_SOCKETS];
	int			want_write[DFW_MAX_WAIT_SOCKETS];
	int			more_sockets;	/* curl has sockets beyond the array */
	long		timeout_ms;
	unsigned long socket_generation;
} DfwWait;

/*
 * A transfer started with dfw_client_start(): its slot, and the slot's
 * serial number at the start, so that a ticket whose transfer was stopped
 * (dfw_client_abort) and whose slot now runs someone else's request is
 * recognised as stale instead of collecting the other request's answer.
 */
typedef struct DfwTicket
{
	int			slot;			/* -1: none */
	unsigned long serial;
} DfwTicket;
typedef struct DfwClient DfwClient;

extern int	dfw_client_global_init(void);
extern DfwClient *dfw_client_create(void);
extern void dfw_client_destroy(DfwClient *client);

/*
 * A transfer is driven by the caller so that it can wait on its own latch
 * and handle interrupts between steps:
 *
 *		dfw_client_begin(...);
 *		while (!dfw_client_step(client, &wait))
 *			wait for wait.sockets or wait.timeout_ms, check interrupts;
 *		dfw_client_end(client);
 *
 * dfw_client_abort() stops every transfer at any point (it is safe to call
 * when none is running) and leaves the client ready for the next request.
 *
 * Several transfers run together by starting each on its own slot with
 * dfw_client_begin_slot(); dfw_client_step() then returns 1 when all of
 * them have finished, and dfw_client_end_slot() collects each one.
 * dfw_client_begin() and dfw_client_end() are the one-transfer case on
 * slot 0.
 */
extern DfwClientError dfw_client_begin(DfwClient *client,
									   const DfwHttpRequest *request,
									   DfwHttpResponse *response);
extern DfwClientError dfw_client_begin_slot(DfwClient *client, int slot,
											const DfwHttpRequest *request,
											DfwHttpResponse *response);
extern int	dfw_client_step(DfwClient *client, DfwWait *wait);

/*
 * Transfers that outlive the call that started them (the pages of a scan
 * requested ahead of the rows being read) use tickets instead of fixed
 * slots, so that other requests can run meanwhile on the free slots:
 *
 *		dfw_client_start(client, &request, &response, &ticket);
 *		...
 *		while (!dfw_client_finished(client, ticket))
 *			dfw_client_step(client, &wait), then wait as above;
 *		dfw_client_collect(client, ticket, &response);
 *
 * dfw_client_cancel() stops one ticket's transfer if it still runs.
 */
extern int	dfw_client_free_slots(const DfwClient *client);
extern DfwClientError dfw_client_start(DfwClient *client, const DfwHttpRequest *request,
									   DfwHttpResponse *response, DfwTicket *ticket);
extern int	dfw_client_finished(DfwClient *client, DfwTicket ticket);
extern DfwClientError dfw_client_collect(DfwClient *client, DfwTicket ticket,
										 DfwHttpResponse *response);
extern void dfw_client_cancel(DfwClient *client, DfwTicket ticket);

/*
 * One descriptor for all of the client's transfers, readable when
 * dfw_client_step() has work (a socket ready, curl's timeout passed) and
 * at least every DFW_WAKE_CEILING_MS; -1 where unsupported (it needs
 * Linux's epoll and timerfd).  Without it a step finds the ready sockets
 * with poll(); building with -DDFW_CLIENT_NO_EPOLL takes that path on
 * Linux too (scripts/test.sh runs the client driver both ways).
 */
#if defined(__linux__) && !defined(DFW_CLIENT_NO_EPOLL)
#define DFW_CLIENT_HAS_WAKE_FD 1
#endif
#define DFW_WAKE_CEILING_MS 1000
extern int	dfw_client_wake_fd(DfwClient *client);
extern DfwClientError dfw_client_end(DfwClient *client);
extern DfwClientError dfw_client_end_slot(DfwClient *client, int slot);
extern void dfw_client_abort(DfwClient *client);

extern void dfw_response_init(DfwHttpResponse *response);
extern void dfw_client_drain(DfwClient *client, DfwHttpResponse *response);
extern void dfw_response_free_body(DfwHttpResponse *response);

/*
 * Percent-encodes every byte outside RFC 3986's unreserved set into out,
 * which must hold len * 3 + 1 bytes; returns the encoded length.
 */
extern size_t dfw_url_encode(const char *text, size_t len, char *out);

/*
 * The origin of an http(s) URL as libcurl reads it (curl_url()): scheme,
 * host in ASCII lower case (an IPv6 literal keeps its brackets) and the
 * effective port.  dfw_url_origin() fills it and returns 1, or returns 0
 * with the reason in why: not http(s), unparsable, user information, a
 * fragment, an IPv6 zone id, a space or control character anywhere, a host
 * that is not plain ASCII letters, digits, '-' and '.', or ends in a dot.
 * rest, when not NULL, receives the path and query ("/a/b?c=d") malloc'd
 * (free() it), or NULL when out of memory (then 0 is returned).
 */
#define DFW_HOST_SIZE 256
typedef struct DfwOrigin
{
	char		scheme[8];
	char		host[DFW_HOST_SIZE];
	long		port;
} DfwOrigin;

extern int	dfw_url_origin(const char *url, DfwOrigin *origin, char **rest,
						   char *why, size_t whysize);

/*
 * 1 when url has the same origin as base (both accepted by
 * dfw_url_origin); else 0 with the reason in why.
 */
extern int	dfw_url_on_origin(const char *url, const char *base, char *why, size_t whysize);

/* Does text start with an RFC 3986 scheme and ':' (an absolute URL)? */
extern int	dfw_url_has_scheme(const char *text);

/*
 * Seconds to wait from a Retry-After value (delta-seconds or HTTP date);
 * -1 if unusable.  At most DFW_RETRY_AFTER_CAP_S: anything longer is
 * capped, before any arithmetic, so callers can multiply it safely.
 */
#define DFW_RETRY_AFTER_CAP_S 86400
extern long dfw_parse_retry_after(const char *value);

/* --- JSON documents that are small enough for jansson ------------------ */

/* Graph's OData error body: {"error":{"code","message","innerError":{...}}} */
typedef struct DfwGraphError
{
	int			parsed;			/* the body had Graph's error shape */
	char		code[DFW_HEADER_VALUE_SIZE];
	char		message[DFW_MESSAGE_SIZE];
	char		request_id[DFW_HEADER_VALUE_SIZE];
	char		client_request_id[DFW_HEADER_VALUE_SIZE];
} DfwGraphError;

extern void dfw_parse_graph_error(const char *body, size_t len, DfwGraphError *err);

/* Microsoft Entra's token endpoint answer, success or error. */
#define DFW_TOKEN_LIFETIME_CAP_S 86400
typedef struct DfwTokenResponse
{
	int			parsed;			/* valid JSON object */
	char	   *access_token;	/* malloc'd; NULL unless success */
	long		expires_in;		/* seconds, 0 to DFW_TOKEN_LIFETIME_CAP_S */
	char		error[DFW_HEADER_VALUE_SIZE];	/* OAuth error, e.g. invalid_client */
	long		aadsts;			/* first of error_codes, 0 if none */
	char		description[DFW_MESSAGE_SIZE];	/* first line of error_description */
	char		trace_id[DFW_HEADER_VALUE_SIZE];
	char		correlation_id[DFW_HEADER_VALUE_SIZE];
} DfwTokenResponse;

extern void dfw_parse_token_response(const char *body, size_t len, DfwTokenResponse *out);
extern void dfw_token_response_free(DfwTokenResponse *out);

#endif							/* DEFENDER_CLIENT_H */
