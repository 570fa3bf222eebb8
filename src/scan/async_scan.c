/*-------------------------------------------------------------------------
 *
 * async_scan.c
 *		  Foreign scans run asynchronously by an Append (PostgreSQL 14+):
 *		  many tenants' tables waited for at once.
 *
 * With the async_capable option, the scans of an Append (a UNION ALL, a
 * partitioned table of one foreign partition per tenant) send their
 * requests without waiting, on the backend's one libcurl multi handle,
 * and the Append waits for all of them together:
 *
 *	ForeignAsyncRequest
 *		start the scan; when its next row is here, hand it out, else make
 *		sure its request is under way and say the answer is pending.
 *	ForeignAsyncConfigureWait
 *		one event per waiting scan, which is all the Append has room for.
 *		A scan whose answer is in registers its own always-readable
 *		eventfd.  A scan whose next page is held back (below) registers its
 *		own timerfd, set for the end of the hold or a second, whichever
 *		comes first.  Of the scans still waiting for a transfer, the first
 *		registers the client's wake descriptor (an epoll set of every
 *		transfer's socket and curl's timer, capped at a second); the others
 *		register nothing, since the same descriptor cannot be in one set
 *		twice.
 *	ForeignAsyncNotify
 *		drive every transfer as far as it goes (when the event was the wake
 *		descriptor), check for interrupts, send what waited for a free
 *		slot, and then answer as Request does.
 *
 * The handle is shared, which is the trap: the Notify of scan A drives
 * curl, which may finish scan B's transfer too, after which B's socket
 * never becomes readable again.  B is not forgotten, because every
 * ConfigureWait looks again at whether its answer is in, and registers
 * B's eventfd then.  The wake descriptor's one-second ceiling is what
 * makes a cancel or statement_timeout act during the wait: the Append
 * waits on its events only, not on the process latch.
 *
 * A page that must wait for the tenant's quota, or for the Retry-After
 * of a 429 (or a 503's backoff) before it is sent again, is held back
 * rather than waited for (pager.c's hold mode, request.c's
 * DEFENDER_SEND_HOLD): the scan answers "pending" and sets its timer,
 * while the other tenants' pages keep coming.  The timer's one-second
 * ceiling keeps cancel and statement_timeout acting within a second; a
 * hold longer than the statement allows fails at once, as a synchronous
 * wait does (quota_governor.c).  EXPLAIN ANALYZE's "Quota wait" of the
 * scan counts the time its next page was held.  The Append waits with
 * its own wait event (IPC / AppendReady): WaitEventSetWait takes the
 * event from its caller, the Append, and nothing an FDW adds to the set
 * changes it, so a hold cannot show DefenderQuotaWait as a synchronous
 * wait does.
 *
 * Errors are raised where a synchronous scan raises them (the one request
 * path, request.c); the abort stops every transfer still under way
 * (connection.c's transaction callback), the other partitions' included.
 *
 * src/scan/async_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#if PG_VERSION_NUM >= 140000

#ifdef __linux__
#include <sys/eventfd.h>			/* DFW_CLIENT_HAS_WAKE_FD's condition */
#include <sys/timerfd.h>
#endif
#include <unistd.h>

#include "executor/execAsync.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "scan_state.h"

static void produce_or_wait(AsyncRequest *areq);
static bool is_ours(AsyncRequest *areq, AsyncRequest *other);
static AsyncRequest *first_waiting(AsyncRequest *areq);
static int	ready_fd(ForeignScanState *node, DefenderScanState *state);
static void close_ready_fd(void *arg);
static int	hold_fd(ForeignScanState *node, DefenderScanState *state, TimestampTz until);
static void close_hold_fd(void *arg);
static void note_hold(DefenderScanState *state);

#define HOLD_STEP_MS	1000	/* a held scan looks at interrupts this often */

/*
 * defender_async_request
 *		ForeignAsyncRequest: the scan's next row, or a pending answer.
 */
void
defender_async_request(AsyncRequest *areq)
{
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;

	state->async = true;
	defender_scan_start_if_needed(node);
	produce_or_wait(areq);
}

/*
 * produce_or_wait
 *		Hand out the next row when it is here (through the node's own
 *		ExecProcNodeReal, so that local conditions and the projection apply),
 *		else leave the request pending with its transfer under way.
 *
 * Not ExecProcNode: under EXPLAIN ANALYZE that counts the row in the
 * node's instrumentation, and ExecAsyncRequest counts it again (each row
 * showed twice), as postgres_fdw's produce_tuple_asynchronously avoids.
 */
static void
produce_or_wait(AsyncRequest *areq)
{
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	TupleTableSlot *result;

	if (!defender_scan_ready(state, true))
	{
		note_hold(state);
		ExecAsyncRequestPending(areq);
		return;
	}
	note_hold(state);
	result = node->ss.ps.ExecProcNodeReal((PlanState *) node);
	if (TupIsNull(result) && state->async_starved)
	{
		/* rows went to local conditions and the next page is not here */
		note_hold(state);
		ExecAsyncRequestPending(areq);
		return;
	}
	ExecAsyncRequestDone(areq, result);
}

/*
 * note_hold
 *		Count the time the scan's next page is held back, for EXPLAIN
 *		ANALYZE's "Quota wait": from when a hold is first seen until it is
 *		seen to be over.
 */
static void
note_hold(DefenderScanState *state)
{
	bool		held = defender_scan_held_until(state) != 0;

	if (held && state->held_since == 0)
		state->held_since = GetCurrentTimestamp();
	else if (!held && state->held_since != 0)
	{
		state->held_us += GetCurrentTimestamp() - state->held_since;
		state->held_since = 0;
	}
}

/*
 * defender_async_configure_wait
 *		ForeignAsyncConfigureWait: the one event of a pending scan.
 */
void
defender_async_configure_wait(AsyncRequest *areq)
{
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	DefenderScanState *state = (DefenderScanState *) node->fdw_state;
	WaitEventSet *set;
	int			fd;
	TimestampTz held_until;

	if (!IsA(areq->requestor, AppendState))
		elog(ERROR, "defender_fdw: unexpected requestor of an asynchronous scan");
	set = ((AppendState *) areq->requestor)->as_eventset;

	if (defender_scan_ready(state, false))
		fd = ready_fd(node, state);
	else if ((held_until = defender_scan_held_until(state)) != 0)
	{
		/* a hold already over: Notify at once, which sends the page */
		if (held_until <= GetCurrentTimestamp())
			fd = ready_fd(node, state);
		else
			fd = hold_fd(node, state, held_until);
	}
	else if (first_waiting(areq) == areq)
	{
		fd = defender_transfer_wake_fd();
		if (fd < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not create the descriptor to wait for transfers on: %m"),
					 errhint("Set the option async_capable to false for this server or table.")));
	}
	else
		return;					/* the first waiting scan's event covers it */
	AddWaitEventToSet(set, WL_SOCKET_READABLE, fd, NULL, areq);
}

/*
 * defender_async_notify
 *		ForeignAsyncNotify: the scan's event fired.
 */
void
defender_async_notify(AsyncRequest *areq)
{
	AppendState *append = (AppendState *) areq->requestor;
	ForeignScanState *node = (ForeignScanState *) areq->requestee;
	int			i = -1;

	/*
	 * Drive curl only when the event was the wake descriptor (the scan's
	 * answer is not in): a scan whose own eventfd fired has its answer, and
	 * a step would only ask the epoll set again.  (When a step still cost
	 * a poll() per transfer under way, with many tenants these Notifies
	 * were the backend's largest cost.)
	 */
	if (!defender_scan_ready((DefenderScanState *) node->fdw_state, false))
		defender_transfer_progress();
	CHECK_FOR_INTERRUPTS();

	/* the requests that waited for a free slot may find one now */
	while ((i = bms_next_member(append->as_asyncplans, i)) >= 0)
	{
		AsyncRequest *other = append->as_asyncrequests[i];

		if (other != areq && other->callback_pending && is_ours(areq, other))
			(void) defender_scan_ready((DefenderScanState *)
									   ((ForeignScanState *) other->requestee)->fdw_state,
									   true);
	}
	produce_or_wait(areq);
}

/* Is other a defender_fdw scan (as areq is)? */
static bool
is_ours(AsyncRequest *areq, AsyncRequest *other)
{
	ForeignScanState *mine = (ForeignScanState *) areq->requestee;
	ForeignScanState *theirs;

	if (!IsA(other->requestee, ForeignScanState))
		return false;
	theirs = (ForeignScanState *) other->requestee;
	return theirs->fdwroutine != NULL &&
		theirs->fdwroutine->ForeignAsyncConfigureWait ==
		mine->fdwroutine->ForeignAsyncConfigureWait;
}

/*
 * first_waiting
 *		The first of the Append's pending defender_fdw scans whose answer
 *		is not in and whose page is not held back (those have their own
 *		timer): the one that waits on the wake descriptor this time.
 *		Nothing is sent or driven while the events are configured, so
 *		every scan finds the same one.
 */
static AsyncRequest *
first_waiting(AsyncRequest *areq)
{
	AppendState *append = (AppendState *) areq->requestor;
	int			i = -1;

	while ((i = bms_next_member(append->as_asyncplans, i)) >= 0)
	{
		AsyncRequest *other = append->as_asyncrequests[i];
		DefenderScanState *state;

		if (!other->callback_pending || !is_ours(areq, other))
			continue;
		state = (DefenderScanState *) ((ForeignScanState *) other->requestee)->fdw_state;
		if (!defender_scan_ready(state, false) && defender_scan_held_until(state) == 0)
			return other;
	}
	return NULL;
}

/*
 * ready_fd
 *		The scan's eventfd, readable from its creation on: registered only
 *		when the scan's answer is in, so that the Append calls its Notify
 *		at once.  Closed with the query's memory, on error too.
 */
static int
ready_fd(ForeignScanState *node, DefenderScanState *state)
{
#ifdef DFW_CLIENT_HAS_WAKE_FD
	if (state->ready_fd < 0)
	{
		state->ready_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		if (state->ready_fd < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not create an eventfd for an asynchronous scan: %m")));
		state->close_ready_fd.func = close_ready_fd;
		state->close_ready_fd.arg = state;
		MemoryContextRegisterResetCallback(node->ss.ps.state->es_query_cxt,
										   &state->close_ready_fd);
	}
	return state->ready_fd;
#else
	elog(ERROR, "defender_fdw: asynchronous scans need Linux");
	return -1;
#endif
}

static void
close_ready_fd(void *arg)
{
	DefenderScanState *state = (DefenderScanState *) arg;

	if (state->ready_fd >= 0)
		close(state->ready_fd);
	state->ready_fd = -1;
}

/*
 * hold_fd
 *		The scan's timerfd, set to become readable at until or in
 *		HOLD_STEP_MS, whichever comes first (setting it again disarms what
 *		had fired).  Closed with the query's memory, on error too.
 */
static int
hold_fd(ForeignScanState *node, DefenderScanState *state, TimestampTz until)
{
#ifdef DFW_CLIENT_HAS_WAKE_FD
	struct itimerspec when;
	long		ms = (long) ((until - GetCurrentTimestamp() + 999) / 1000);

	if (state->hold_fd < 0)
	{
		state->hold_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (state->hold_fd < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not create a timer for an asynchronous scan: %m")));
		state->close_hold_fd.func = close_hold_fd;
		state->close_hold_fd.arg = state;
		MemoryContextRegisterResetCallback(node->ss.ps.state->es_query_cxt,
										   &state->close_hold_fd);
	}
	ms = Max(1, Min(ms, HOLD_STEP_MS));
	memset(&when, 0, sizeof(when));
	when.it_value.tv_sec = ms / 1000;
	when.it_value.tv_nsec = (ms % 1000) * 1000000L;
	if (timerfd_settime(state->hold_fd, 0, &when, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not set the timer of an asynchronous scan: %m")));
	return state->hold_fd;
#else
	elog(ERROR, "defender_fdw: asynchronous scans need Linux");
	return -1;
#endif
}

static void
close_hold_fd(void *arg)
{
	DefenderScanState *state = (DefenderScanState *) arg;

	if (state->hold_fd >= 0)
		close(state->hold_fd);
	state->hold_fd = -1;
}

#endif							/* PG_VERSION_NUM >= 140000 */
