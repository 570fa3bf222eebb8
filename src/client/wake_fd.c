/*-------------------------------------------------------------------------
 *
 * wake_fd.c
 *		  One descriptor to wait on for all of a client's transfers.
 *
 * An asynchronous Append gives each of its scans one event to wait on,
 * but a client may run many transfers on many sockets.  dfw_client_wake_fd()
 * answers with an epoll set that holds curl's sockets (as the last
 * dfw_client_step() asked for them) and a timerfd for curl's timeout; the
 * set is itself readable when one of them is.  Linux only (epoll,
 * timerfd); elsewhere the descriptor is -1 and callers wait on the
 * sockets of a DfwWait instead.
 *
 * Callers: the PostgreSQL side through dfw_client_wake_fd() (declared in
 * defender_client.h); defender_client.c through dfw_wake_fd_sync()
 * (client_internal.h).  No PostgreSQL header.
 *
 * src/client/wake_fd.c
 *
 *-------------------------------------------------------------------------
 */
#include "client_internal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#ifdef DFW_CLIENT_HAS_WAKE_FD
#include <sys/epoll.h>
#include <sys/timerfd.h>
#endif

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
		dfw_wake_fd_sync(client, NULL, 1);
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
 * dfw_wake_fd_sync
 *		Make the wake set watch what *wait asks for (nothing when idle),
 *		and arm its timer.
 *
 * Called by dfw_client_step() after every step, so the set is valid
 * between steps; a no-op until dfw_client_wake_fd() made the set.
 */
void
dfw_wake_fd_sync(DfwClient *client, const DfwWait *wait, int idle)
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
