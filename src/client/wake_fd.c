/*-------------------------------------------------------------------------
 *
 * wake_fd.c
 *		  curl's sockets and timer as its callbacks report them, the sockets
 *		  that are ready, and one descriptor to wait on for all transfers.
 *
 * The client drives libcurl with curl_multi_socket_action(): libcurl
 * tells us, through CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION,
 * which sockets it wants watched and when its next timeout falls, and a
 * step hands it only the sockets that are ready and the timeout once it
 * has passed.  curl_multi_perform(), used before, looked at every
 * transfer under way on each step, one poll() each: with 60 transfers in
 * an asynchronous Append that was a third of the backend's CPU.
 *
 * The sockets live in a table (a struct pollfd array, in the order libcurl
 * first named them) that is also what a step's DfwWait lists.  While it
 * holds few sockets a step polls the table: one poll() costs what one
 * epoll_wait does, and a lookup on a kept-alive connection then needs no
 * epoll_ctl to add its socket when the request leaves and remove it when
 * the answer is in (two system calls of nine).  On Linux, once the table
 * outgrows DFW_POLL_MAX_SOCKETS, or a caller asks for the wake descriptor,
 * an epoll set holds the sockets as well, kept up to date by the socket
 * callback from then on: a step asks it which are ready (epoll_wait with
 * no timeout, one call however many transfers run), and with a timerfd
 * for curl's timeout added it is the wake descriptor an asynchronous
 * Append waits on (dfw_client_wake_fd).
 *
 * Callers: defender_client.c through client_internal.h; the PostgreSQL
 * side only through dfw_client_wake_fd() (defender_client.h).  The
 * callbacks here only record what libcurl says: no PostgreSQL header, no
 * longjmp.
 *
 * src/client/wake_fd.c
 *
 *-------------------------------------------------------------------------
 */
#include "client_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef DFW_CLIENT_HAS_WAKE_FD
#include <sys/epoll.h>
#include <sys/timerfd.h>
#endif

static int	socket_changed(CURL *easy, curl_socket_t fd, int what, void *clientp,
						   void *socketp);
static int	timer_changed(CURLM *multi, long timeout_ms, void *clientp);
static long long monotonic_ms(void);
static void arm_timer(DfwClient *client);
#ifdef DFW_CLIENT_HAS_WAKE_FD
static void open_epoll_set(DfwClient *client);
#endif

/*
 * Up to this many sockets a step polls the table; past it the epoll set
 * is made (and kept for the client's life).  A lookup, a list scan's pages
 * and a split hunting scan's two windows stay below it.
 */
#define DFW_POLL_MAX_SOCKETS 8

/*
 * dfw_sockets_init
 *		Have libcurl report its sockets and timer to this client.  0 on
 *		success, -1 when libcurl refused the callbacks.  The epoll set is
 *		made later, when first needed (open_epoll_set).
 */
int
dfw_sockets_init(DfwClient *client)
{
	client->nsockets = 0;
	client->socket_alloc = 0;
	client->sockets = NULL;
	client->timer_due_ms = -1;
	client->epoll_fd = -1;
	client->timer_fd = -1;
	if (curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, socket_changed) != CURLM_OK ||
		curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client) != CURLM_OK ||
		curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, timer_changed) != CURLM_OK ||
		curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client) != CURLM_OK)
		return -1;
	return 0;
}

/*
 * dfw_sockets_free
 *		Close the epoll set and timer and free the table; after
 *		curl_multi_cleanup(), whose last socket callbacks still use them.
 */
void
dfw_sockets_free(DfwClient *client)
{
	if (client->epoll_fd >= 0)
		close(client->epoll_fd);
	if (client->timer_fd >= 0)
		close(client->timer_fd);
	client->epoll_fd = client->timer_fd = -1;
	free(client->sockets);
	client->sockets = NULL;
	client->nsockets = client->socket_alloc = 0;
}

#ifdef DFW_CLIENT_HAS_WAKE_FD
/*
 * watch_socket
 *		Add, change or remove one socket of the epoll set.  A failure that
 *		says the set disagrees is answered with the other operation: a
 *		socket closed without being removed has left the set by itself, and
 *		its number may come back as a new socket.
 */
static void
watch_socket(DfwClient *client, int op, int fd, unsigned int events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(client->epoll_fd, op, fd, &ev) != 0)
	{
		if (op == EPOLL_CTL_MOD && errno == ENOENT)
			(void) epoll_ctl(client->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
		else if (op == EPOLL_CTL_ADD && errno == EEXIST)
			(void) epoll_ctl(client->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
	}
}

/* epoll's events for a table entry's poll() events */
static unsigned int
epoll_events(short events)
{
	return ((events & POLLIN) ? EPOLLIN : 0) | ((events & POLLOUT) ? EPOLLOUT : 0);
}

/*
 * open_epoll_set
 *		Make the epoll set and add every socket of the table to it, with the
 *		events libcurl last asked for; from then on the socket callback
 *		keeps it up to date.  A set that cannot be made (out of
 *		descriptors) is not an error: steps go on polling the table, and
 *		there is no wake descriptor.
 */
static void
open_epoll_set(DfwClient *client)
{
	int			i;

	client->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < client->nsockets && client->epoll_fd >= 0; i++)
		watch_socket(client, EPOLL_CTL_ADD, client->sockets[i].fd,
					 epoll_events(client->sockets[i].events));
}
#endif

/*
 * socket_changed
 *		libcurl's socket callback: what it wants of one socket now (read,
 *		write, both, or nothing more).  Updates the table and the epoll set.
 *
 * A socket libcurl has not named before comes with socketp NULL; it is
 * then given this client as its mark (curl_multi_assign), and is added to
 * the epoll set even when the table already holds its number: the old
 * socket of that number may have been closed unseen.  The table grows by
 * doubling; when it cannot, the callback answers -1 and libcurl fails the
 * transfers on that socket (an error, not a hang).
 */
static int
socket_changed(CURL *easy, curl_socket_t fd, int what, void *clientp, void *socketp)
{
	DfwClient  *client = clientp;
	short		events = (short) (((what & CURL_POLL_IN) ? POLLIN : 0) |
								  ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	int			i;

	(void) easy;
	for (i = 0; i < client->nsockets; i++)
		if (client->sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < client->nsockets)
		{
			memmove(&client->sockets[i], &client->sockets[i + 1],
					sizeof(struct pollfd) * (client->nsockets - i - 1));
			client->nsockets--;
		}
#ifdef DFW_CLIENT_HAS_WAKE_FD
		if (client->epoll_fd >= 0)
		{
			struct epoll_event ev;

			memset(&ev, 0, sizeof(ev));
			(void) epoll_ctl(client->epoll_fd, EPOLL_CTL_DEL, fd, &ev);
		}
#endif
		return 0;
	}

	if (i == client->nsockets)
	{
		if (client->nsockets == client->socket_alloc)
		{
			int			alloc = client->socket_alloc ? client->socket_alloc * 2 : 16;
			struct pollfd *grown = realloc(client->sockets, sizeof(struct pollfd) * alloc);

			if (grown == NULL)
				return -1;
			client->sockets = grown;
			client->socket_alloc = alloc;
		}
		client->sockets[i].fd = fd;
		client->sockets[i].events = 0;
		client->sockets[i].revents = 0;
		client->nsockets++;
	}
#ifdef DFW_CLIENT_HAS_WAKE_FD
	if (client->epoll_fd >= 0 && (socketp == NULL || client->sockets[i].events != events))
		watch_socket(client, socketp == NULL ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd,
					 epoll_events(events));
	client->sockets[i].events = events;
	if (client->epoll_fd < 0 && client->nsockets > DFW_POLL_MAX_SOCKETS)
		open_epoll_set(client);
#else
	client->sockets[i].events = events;
#endif
	if (socketp == NULL)
		(void) curl_multi_assign(client->multi, fd, client);
	return 0;
}

/*
 * timer_changed
 *		libcurl's timer callback: its next timeout is timeout_ms from now
 *		(-1: none).  The wake descriptor's timer follows it at once, so that
 *		a transfer added but not yet stepped still wakes its waiter.
 */
static int
timer_changed(CURLM *multi, long timeout_ms, void *clientp)
{
	DfwClient  *client = clientp;

	(void) multi;
	client->timer_due_ms = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
	arm_timer(client);
	return 0;
}

/*
 * dfw_sockets_drive
 *		Hand libcurl the sockets that are ready and, once it has passed, its
 *		timeout; *failed is set when libcurl answers with an error.
 *
 * libcurl's timeout is acted on first: a transfer just added is started
 * by it (libcurl asks for a timeout of 0 to connect or send), so a lookup's
 * request leaves on the step that added it instead of one step later.
 * Which sockets are ready is then asked once for all, without waiting:
 * from the epoll set, else with one poll() over the table, and not at all
 * while libcurl watches no socket.  The ready ones are noted first and
 * acted on after, since an action changes the table.
 */
void
dfw_sockets_drive(DfwClient *client, int *failed)
{
	int			running;
	int			i;

	*failed = 0;
	if (client->timer_due_ms >= 0 && monotonic_ms() >= client->timer_due_ms)
	{
		client->timer_due_ms = -1;
		if (curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0,
									 &running) != CURLM_OK)
			*failed = 1;
	}
	if (*failed || client->nsockets == 0)
		return;
#ifdef DFW_CLIENT_HAS_WAKE_FD
	if (client->epoll_fd >= 0)
	{
		struct epoll_event ready[DFW_MAX_TRANSFERS + 1];
		int			n = epoll_wait(client->epoll_fd, ready, DFW_MAX_TRANSFERS + 1, 0);

		for (i = 0; i < n && !*failed; i++)
		{
			int			mask = 0;

			if (ready[i].data.fd == client->timer_fd)
				continue;
			if (ready[i].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (ready[i].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (ready[i].events & (EPOLLERR | EPOLLHUP))
				mask |= CURL_CSELECT_ERR;
			if (curl_multi_socket_action(client->multi, ready[i].data.fd, mask,
										 &running) != CURLM_OK)
				*failed = 1;
		}
	}
	else
#endif
	if (poll(client->sockets, (nfds_t) client->nsockets, 0) > 0)
	{
		int			n = client->nsockets;
		int			nready = 0;
		curl_socket_t *fds = malloc(sizeof(curl_socket_t) * n);
		int		   *masks = malloc(sizeof(int) * n);

		if (fds == NULL || masks == NULL)
			*failed = 1;
		for (i = 0; i < n && !*failed; i++)
		{
			short		r = client->sockets[i].revents;

			if (r == 0)
				continue;
			fds[nready] = client->sockets[i].fd;
			masks[nready] = ((r & POLLIN) ? CURL_CSELECT_IN : 0) |
				((r & POLLOUT) ? CURL_CSELECT_OUT : 0) |
				((r & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
			nready++;
		}
		for (i = 0; i < nready && !*failed; i++)
			if (curl_multi_socket_action(client->multi, fds[i], masks[i], &running) != CURLM_OK)
				*failed = 1;
		free(fds);
		free(masks);
	}

}

/*
 * dfw_sockets_wait
 *		What a caller waits for before the next step: the table's sockets
 *		(as many as fit) and the time left until libcurl's timeout.  Also
 *		re-arms the wake descriptor's timer, which the step may have let
 *		fire.
 */
void
dfw_sockets_wait(DfwClient *client, DfwWait *wait)
{
	int			i;

	memset(wait, 0, sizeof(DfwWait));
	for (i = 0; i < client->nsockets; i++)
	{
		if (wait->nsockets == DFW_MAX_WAIT_SOCKETS)
		{
			wait->more_sockets = 1;
			break;
		}
		wait->sockets[wait->nsockets] = client->sockets[i].fd;
		wait->want_read[wait->nsockets] = (client->sockets[i].events & POLLIN) != 0;
		wait->want_write[wait->nsockets] = (client->sockets[i].events & POLLOUT) != 0;
		wait->nsockets++;
	}
	if (client->timer_due_ms < 0)
		wait->timeout_ms = -1;
	else
	{
		long long	left = client->timer_due_ms - monotonic_ms();

		wait->timeout_ms = left < 0 ? 0 : (long) left;
	}
	wait->socket_generation = client->socket_generation;
	arm_timer(client);
}

/*
 * dfw_client_wake_fd
 *		A descriptor that becomes readable when dfw_client_step() has
 *		something to do: one of curl's sockets is ready as libcurl last
 *		asked, or curl's timeout (at most DFW_WAKE_CEILING_MS) has passed.
 *		-1 where it cannot be made (not Linux, or out of descriptors).
 *
 * It lets a caller that can watch one descriptor only per waiter (an
 * asynchronous Append gives each of its scans one event) wait for every
 * transfer of the client at once: the epoll set of curl's sockets, which
 * is itself readable when one of them is, with a timerfd inside it.  The
 * socket callback keeps the set up to date at any time; a step re-arms
 * the timer, and the ceiling makes sure the caller gets to run (and check
 * its interrupts) at least that often.
 */
int
dfw_client_wake_fd(DfwClient *client)
{
#ifdef DFW_CLIENT_HAS_WAKE_FD
	if (client->epoll_fd < 0)
		open_epoll_set(client);
	if (client->epoll_fd >= 0 && client->timer_fd < 0)
	{
		struct epoll_event ev;
		int			tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.fd = tfd;
		if (tfd < 0 || epoll_ctl(client->epoll_fd, EPOLL_CTL_ADD, tfd, &ev) != 0)
		{
			if (tfd >= 0)
				close(tfd);
			return -1;
		}
		client->timer_fd = tfd;
		arm_timer(client);
	}
	return client->timer_fd >= 0 ? client->epoll_fd : -1;
#else
	(void) client;
	return -1;
#endif
}

/*
 * arm_timer
 *		Set the wake descriptor's timer to curl's timeout, or to the ceiling
 *		when there is none or it is further; a no-op without one.  Earlier
 *		expirations are read first, so the set is readable only when this
 *		timer fires (or a socket is ready).
 */
static void
arm_timer(DfwClient *client)
{
#ifdef DFW_CLIENT_HAS_WAKE_FD
	struct itimerspec when;
	uint64_t	expirations;
	long long	ms = DFW_WAKE_CEILING_MS;

	if (client->timer_fd < 0)
		return;
	if (client->timer_due_ms >= 0)
	{
		ms = client->timer_due_ms - monotonic_ms();
		if (ms < 0)
			ms = 0;
		if (ms > DFW_WAKE_CEILING_MS)
			ms = DFW_WAKE_CEILING_MS;
	}
	while (read(client->timer_fd, &expirations, sizeof(expirations)) > 0)
		;
	memset(&when, 0, sizeof(when));
	when.it_value.tv_sec = (time_t) (ms / 1000);
	when.it_value.tv_nsec = (long) (ms % 1000) * 1000000L;
	if (ms == 0)
		when.it_value.tv_nsec = 1;	/* zero would disarm it */
	(void) timerfd_settime(client->timer_fd, 0, &when, NULL);
#else
	(void) client;
#endif
}

/* Milliseconds on the monotonic clock, for curl's timeout. */
static long long
monotonic_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
