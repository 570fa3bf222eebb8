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
	 * The wake descriptor (dfw_client_wake_fd, wake_fd.c): an epoll set
	 * holding curl's sockets, as the last step asked for them, and a timer
	 * for curl's timeout.  -1 until first asked for.
	 */
	int			wake_fd;
	int			timer_fd;
	int			nwatched;
	int			watched_fds[DFW_MAX_WAIT_SOCKETS];
	unsigned int watched_events[DFW_MAX_WAIT_SOCKETS];
	unsigned long watched_generation;
};

/*
 * wake_fd.c: make the wake set watch what *wait asks for (nothing when
 * idle) and arm its timer; dfw_client_step() calls it after every step.
 */
extern void dfw_wake_fd_sync(DfwClient *client, const DfwWait *wait, int idle);

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
