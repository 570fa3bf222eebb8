/*-------------------------------------------------------------------------
 *
 * client_internal.h
 *		  The client's private parts: a DfwClient's insides and the helpers
 *		  the files of src/client/ share.
 *
 * Only the files of src/client/ include this header; everyone else sees a
 * DfwClient through defender_client.h as an opaque handle.  It names
 * libcurl types, which defender_client.h deliberately does not.  Like
 * every file here it includes no PostgreSQL header.
 *
 * src/client/client_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_INTERNAL_H
#define CLIENT_INTERNAL_H

#include "defender_client.h"

#include <poll.h>
#include <string.h>

#include <curl/curl.h>

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
	 * curl's sockets and timer, as its callbacks report them (wake_fd.c):
	 * the sockets in the order libcurl first named them, with the events it
	 * wants; when its timeout falls (CLOCK_MONOTONIC milliseconds, -1 for
	 * none); the epoll set that also holds the sockets (Linux; -1 until the
	 * table outgrows DFW_POLL_MAX_SOCKETS or the wake descriptor is asked
	 * for, see wake_fd.c) and the timerfd that makes it the wake descriptor
	 * (-1 until dfw_client_wake_fd is first asked).
	 */
	struct pollfd *sockets;
	int			nsockets;
	int			socket_alloc;
	long long	timer_due_ms;
	int			epoll_fd;
	int			timer_fd;
};

/*
 * wake_fd.c, for defender_client.c: have libcurl report its sockets and
 * timer to the client (0, or -1 when it refuses) and free what that
 * holds; in a step, hand libcurl the ready sockets and a passed timeout,
 * then say what to wait for.
 */
extern int	dfw_sockets_init(DfwClient *client);
extern void dfw_sockets_free(DfwClient *client);
extern void dfw_sockets_drive(DfwClient *client, int *failed);
extern void dfw_sockets_wait(DfwClient *client, DfwWait *wait);

/*
 * dfw_copy_string
 *		Copy at most srclen bytes (or up to the NUL when srclen is
 *		(size_t) -1) into a fixed-size field, always NUL-terminated.
 *
 * Inline so that each file of the client links on its own (the fuzz
 * targets and the client driver take only the files they need).
 */
static inline void
dfw_copy_string(char *dst, size_t dstsize, const char *src, size_t srclen)
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

#endif							/* CLIENT_INTERNAL_H */
