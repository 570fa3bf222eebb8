/*-------------------------------------------------------------------------
 *
 * quota_governor.c
 *		  One quota per tenant: calls paced before they are sent, and a
 *		  429's Retry-After honoured by every backend.
 *
 * Graph limits each tenant: runHuntingQuery to 45 calls a minute, the
 * incidents API to 50.  Without a governor every backend learns that on
 * its own, from its own 429s, and a dozen sessions make a 429 storm that
 * spends everyone's retries.  The governor keeps, per tenant (graph_url
 * and tenant_id) and per kind of call (hunting: runHuntingQuery; graph:
 * every other request under /{version}/security/), the times of the last
 * calls sent and a "blocked until" time:
 *
 *	- before a call is sent, the transport asks defender_quota_before_send:
 *	  the call may go when fewer than the server's hunting_quota (or
 *	  graph_quota) calls were sent in the last quota_window seconds; else
 *	  the backend waits until the oldest of them leaves the window.  This
 *	  is a token bucket whose tokens come back one window after they were
 *	  spent: the same sliding window the service counts in, so a burst
 *	  never overruns it (a bucket refilled at a constant rate would let
 *	  through up to twice the quota in one window);
 *	- when Graph answers 429 with Retry-After, defender_quota_after_response
 *	  sets "blocked until" for the tenant and kind, and every backend waits
 *	  for that time instead of sending a call that would be refused.
 *
 * With shared_preload_libraries = 'defender_fdw' the table is in shared
 * memory (shared_state.c) and the whole cluster keeps to one quota per
 * tenant; without it, the table is in the backend and each backend keeps
 * to the quota on its own.  defender_fdw.quota_governor = off turns the
 * governor off (the test suite does, for its thousands of quick calls).
 *
 * Waits are steps of WaitLatch of at most a second, with
 * CHECK_FOR_INTERRUPTS between them, and show the wait event
 * DefenderQuotaWait (PG_WAIT_EXTENSION before PostgreSQL 17).  A wait
 * that would outlast statement_timeout fails at once, with SQLSTATE 57014
 * (query_canceled, what statement_timeout itself raises) and how long the
 * tenant is blocked; one longer than MAX_QUOTA_WAIT_S (the transport's
 * limit on Retry-After) fails as a throttled request does.  The time
 * waited is counted for EXPLAIN ANALYZE.
 *
 * src/remote/quota_governor.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/formatting.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
#endif

#include "defender_catalog.h"
#include "defender_remote.h"
#include "shared_state.h"

#define KIND_HUNTING		0
#define KIND_GRAPH			1
#define LOCAL_TENANTS		8	/* the table of a backend without the segment */
#define WAIT_STEP_MS		1000
#define MAX_QUOTA_WAIT_S	120
#define SEND_MARGIN_MS		100 /* calls arrive later than they are sent */

bool		defender_quota_governor = true;

static TenantQuota *local_tenants = NULL;
static int64 waited_us = 0;
static uint32 quota_wait_event = 0;

/* what the error context of a wait names */
typedef struct QuotaWait
{
	const DefenderOptions *opts;
	const char *kind;
	TimestampTz until;
	bool		blocked;		/* by a 429, not by the pacing */
} QuotaWait;

static int	call_kind(const DefenderOptions *opts, const char *url);
static int	url_kind(const DefenderOptions *opts, const char *url);
static void check_wait(const QuotaWait *w, TimestampTz now);
static TenantQuota *lock_tenant(const DefenderOptions *opts);
static void unlock_tenant(void);
static TimestampTz next_slot(const QuotaLog *log, int limit, long window_ms, TimestampTz now);
static bool take_slot(const DefenderOptions *opts, int kind, int limit, long window_ms,
					  TimestampTz now, QuotaWait *w);
static void report_long_wait(const QuotaWait *w, TimestampTz now, bool statement_timeout);
static void quota_wait_context(void *arg);
static uint32 get_wait_event(void);

/*
 * defender_quota_before_send
 *		Wait until the tenant's quota lets this call go, and count it.
 */
void
defender_quota_before_send(const DefenderOptions *opts, const char *url)
{
	int			kind = call_kind(opts, url);
	int			limit;
	long		window_ms;
	ErrorContextCallback errcb;
	QuotaWait	w;

	if (kind < 0)
		return;
	limit = kind == KIND_HUNTING ? opts->hunting_quota : opts->graph_quota;
	window_ms = (long) opts->quota_window * 1000L;
	w.opts = opts;
	w.kind = kind == KIND_HUNTING ? "hunting" : "graph";
	errcb.callback = quota_wait_context;
	errcb.arg = &w;
	errcb.previous = NULL;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz start;

		if (take_slot(opts, kind, limit, window_ms, now, &w))
			break;

		/* a wait the statement cannot afford fails now, saying why */
		check_wait(&w, now);

		elog(DEBUG1, "defender_fdw: waiting %ld ms for the %s quota of tenant %s",
			 (long) ((w.until - now) / 1000), w.kind, opts->tenant_id);
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		start = now;
		while (now < w.until)
		{
			long		step = Min(WAIT_STEP_MS, (long) ((w.until - now + 999) / 1000));

			CHECK_FOR_INTERRUPTS();
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 step, get_wait_event());
			ResetLatch(MyLatch);
			now = GetCurrentTimestamp();
			/* a backend that sees another 429 may push the time further */
			waited_us += now - start;
			start = now;
		}
		CHECK_FOR_INTERRUPTS();
		error_context_stack = errcb.previous;
	}
}

/*
 * defender_quota_try_send
 *		Count the call when the tenant's quota lets it go now; false, and
 *		nothing counted, when defender_quota_before_send() would wait.
 *
 * For a caller that has transfers to put on the wire before it waits
 * (request.c's batch of pages sent ahead).
 */
bool
defender_quota_try_send(const DefenderOptions *opts, const char *url)
{
	int			kind = call_kind(opts, url);
	QuotaWait	w;

	if (kind < 0)
		return true;
	w.opts = opts;
	w.kind = kind == KIND_HUNTING ? "hunting" : "graph";
	return take_slot(opts, kind,
					 kind == KIND_HUNTING ? opts->hunting_quota : opts->graph_quota,
					 (long) opts->quota_window * 1000L, GetCurrentTimestamp(), &w);
}

/*
 * defender_quota_try_hold
 *		defender_quota_try_send() for a caller that holds the call back
 *		instead of waiting (an asynchronous scan's page, request.c): true
 *		when the call may go now, and is counted; else false and in *until
 *		when to ask again.
 *
 * A wait the statement cannot afford fails here as it does in
 * defender_quota_before_send(): the caller would only hold the page until
 * statement_timeout cut it short.
 */
bool
defender_quota_try_hold(const DefenderOptions *opts, const char *url, TimestampTz *until)
{
	int			kind = call_kind(opts, url);
	TimestampTz now = GetCurrentTimestamp();
	QuotaWait	w;

	*until = 0;
	if (kind < 0)
		return true;
	w.opts = opts;
	w.kind = kind == KIND_HUNTING ? "hunting" : "graph";
	if (take_slot(opts, kind,
				  kind == KIND_HUNTING ? opts->hunting_quota : opts->graph_quota,
				  (long) opts->quota_window * 1000L, now, &w))
		return true;
	check_wait(&w, now);
	*until = w.until;
	return false;
}

/*
 * defender_quota_check_hold
 *		ERROR when a call held back until "until" by a 429's Retry-After
 *		would outlast the statement: the check of a wait, for the hold of
 *		a page retried without the governor (request.c).
 */
void
defender_quota_check_hold(const DefenderOptions *opts, const char *url, TimestampTz until)
{
	QuotaWait	w;

	w.opts = opts;
	w.kind = url_kind(opts, url) == KIND_HUNTING ? "hunting" : "graph";
	w.until = until;
	w.blocked = true;
	check_wait(&w, GetCurrentTimestamp());
}

/*
 * check_wait
 *		ERROR for a wait until w->until that the statement cannot afford,
 *		or that is longer than defender_fdw waits at all.
 */
static void
check_wait(const QuotaWait *w, TimestampTz now)
{
	if (StatementTimeout > 0 &&
		w->until > TimestampTzPlusMilliseconds(GetCurrentStatementStartTimestamp(),
											   StatementTimeout))
		report_long_wait(w, now, true);
	if (w->until - now > (TimestampTz) MAX_QUOTA_WAIT_S * USECS_PER_SEC)
		report_long_wait(w, now, false);
}

/*
 * take_slot
 *		Under the tenant's lock: count a call at now and return true when
 *		neither a 429's "blocked until" nor the pacing holds it back, else
 *		say in *w until when it must wait.
 */
static bool
take_slot(const DefenderOptions *opts, int kind, int limit, long window_ms,
		  TimestampTz now, QuotaWait *w)
{
	TenantQuota *t = lock_tenant(opts);
	QuotaLog   *log = &t->log[kind];

	w->until = 0;
	w->blocked = false;
	if (log->blocked_until > now)
		w->until = log->blocked_until, w->blocked = true;
	else if (limit > 0)
	{
		TimestampTz slot = next_slot(log, limit, window_ms, now);

		if (slot > now)
			w->until = slot;
	}
	if (w->until == 0 && limit > 0)
	{
		log->sent[log->next] = now;
		log->next = (log->next + 1) % DFW_QUOTA_MAX_CALLS;
	}
	unlock_tenant();
	return w->until == 0;
}

/*
 * defender_quota_after_response
 *		A 429 with Retry-After blocks the tenant's calls of that kind for
 *		every backend until then.
 */
void
defender_quota_after_response(const DefenderOptions *opts, const char *url,
							  const DfwHttpResponse *http)
{
	int			kind;
	long		seconds;
	TenantQuota *t;
	TimestampTz until;

	if (http->error != DFW_CLIENT_OK || http->status != 429)
		return;
	kind = call_kind(opts, url);
	seconds = dfw_parse_retry_after(http->retry_after);
	if (kind < 0 || seconds <= 0)
		return;
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), seconds * 1000L);
	t = lock_tenant(opts);
	if (t->log[kind].blocked_until < until)
		t->log[kind].blocked_until = until;
	unlock_tenant();
	elog(DEBUG1, "defender_fdw: %s calls of tenant %s blocked for %ld s (Retry-After)",
		 kind == KIND_HUNTING ? "hunting" : "graph", opts->tenant_id, seconds);
}

/*
 * defender_quota_governor_init
 *		From _PG_init: the setting defender_fdw.quota_governor.
 */
void
defender_quota_governor_init(void)
{
	DefineCustomBoolVariable("defender_fdw.quota_governor",
							 "Pace calls to each tenant's Graph quota and honour a 429's Retry-After in every backend.",
							 "With shared_preload_libraries = 'defender_fdw' the whole cluster keeps to one quota "
							 "per tenant; without it, each backend keeps to it on its own.",
							 &defender_quota_governor,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * defender_quota_waited_us
 *		How long this backend has waited for quotas, in all (EXPLAIN
 *		ANALYZE shows the difference over a scan).
 */
int64
defender_quota_waited_us(void)
{
	return waited_us;
}

/*
 * call_kind
 *		KIND_HUNTING, KIND_GRAPH or -1 (not governed: tokens, the MDE API,
 *		anything outside graph_url's /{version}/security/, or the governor
 *		off).  The URLs compared are the ones defender_fdw builds from
 *		graph_url and the catalog, so a prefix tells them apart.
 */
static int
call_kind(const DefenderOptions *opts, const char *url)
{
	if (!defender_quota_governor || opts->tenant_id == NULL)
		return -1;
	return url_kind(opts, url);
}

/* call_kind() whether or not the governor is on */
static int
url_kind(const DefenderOptions *opts, const char *url)
{
	char	   *security;
	char	   *hunting;
	size_t		len;
	int			kind = -1;

	security = psprintf("%s/%s/security/", opts->graph_url, opts->api_version);
	hunting = psprintf("%s%s", security,
					   graph_find_resource("hunting")->path + strlen("security/"));
	len = strlen(hunting);
	if (strncmp(url, hunting, len) == 0 && (url[len] == '\0' || url[len] == '?'))
		kind = KIND_HUNTING;
	else if (strncmp(url, security, strlen(security)) == 0)
		kind = KIND_GRAPH;
	pfree(security);
	pfree(hunting);
	return kind;
}

/*
 * lock_tenant
 *		The tenant's entry, with the table locked (the shared one) until
 *		unlock_tenant().  A new tenant takes a free entry or the least
 *		recently used one (which forgets that tenant's recent calls).
 */
static TenantQuota *
lock_tenant(const DefenderOptions *opts)
{
	DefenderSharedState *s = defender_shared_state();
	TenantQuota *table;
	int			n;
	uint8		key[DFW_KEY_LEN];
	char	   *tenant = asc_tolower(opts->tenant_id, strlen(opts->tenant_id));
	const char *parts[2];
	TenantQuota *victim = NULL;
	int			i;

	parts[0] = opts->graph_url;
	parts[1] = tenant;
	defender_shared_key(parts, 2, key);
	pfree(tenant);

	if (s)
	{
		table = s->tenants;
		n = DFW_SHARED_TENANTS;
		LWLockAcquire(s->quota_lock, LW_EXCLUSIVE);
	}
	else
	{
		if (local_tenants == NULL)
			local_tenants = MemoryContextAllocZero(TopMemoryContext,
												   sizeof(TenantQuota) * LOCAL_TENANTS);
		table = local_tenants;
		n = LOCAL_TENANTS;
	}
	for (i = 0; i < n; i++)
	{
		TenantQuota *t = &table[i];

		if (t->used && memcmp(t->key, key, DFW_KEY_LEN) == 0)
		{
			t->last_used = GetCurrentTimestamp();
			return t;
		}
		if (victim == NULL || !t->used ||
			(victim->used && t->last_used < victim->last_used))
			victim = t;
	}
	memset(victim, 0, sizeof(TenantQuota));
	memcpy(victim->key, key, DFW_KEY_LEN);
	victim->used = true;
	victim->last_used = GetCurrentTimestamp();
	return victim;
}

static void
unlock_tenant(void)
{
	DefenderSharedState *s = defender_shared_state();

	if (s)
		LWLockRelease(s->quota_lock);
}

/*
 * next_slot
 *		When the next call may go: now if fewer than limit calls were sent
 *		in the window, else when the limit-th newest of them leaves it.
 */
static TimestampTz
next_slot(const QuotaLog *log, int limit, long window_ms, TimestampTz now)
{
	TimestampTz horizon = now - (TimestampTz) (window_ms + SEND_MARGIN_MS) * 1000;
	int			i;
	int			pos = log->next;

	for (i = 0; i < limit; i++)
	{
		pos = (pos + DFW_QUOTA_MAX_CALLS - 1) % DFW_QUOTA_MAX_CALLS;
		if (log->sent[pos] <= horizon)
			return now;			/* fewer than limit calls in the window */
	}
	return TimestampTzPlusMilliseconds(log->sent[pos], window_ms + SEND_MARGIN_MS);
}

/*
 * report_long_wait
 *		ERROR for a wait longer than the statement may last, or longer
 *		than defender_fdw waits at all.
 */
static void
report_long_wait(const QuotaWait *w, TimestampTz now, bool statement_timeout)
{
	double		seconds = (double) (w->until - now) / USECS_PER_SEC;
	char	   *why = w->blocked ?
		psprintf("Microsoft Graph answered 429 and asked to wait; the %s calls of tenant \"%s\" are blocked until %s.",
				 w->kind, w->opts->tenant_id, timestamptz_to_str(w->until)) :
		psprintf("The %s calls of tenant \"%s\" have spent their quota of %d per %d s (server \"%s\").",
				 w->kind, w->opts->tenant_id,
				 strcmp(w->kind, "hunting") == 0 ? w->opts->hunting_quota : w->opts->graph_quota,
				 w->opts->quota_window, w->opts->servername);

	if (statement_timeout)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("tenant \"%s\" is throttled for another %.1f s, longer than statement_timeout allows",
						w->opts->tenant_id, seconds),
				 errdetail_internal("%s", why),
				 errhint("Raise statement_timeout, or run the statement again after %s.",
						 timestamptz_to_str(w->until))));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_REPLY),
			 errmsg("tenant \"%s\" is throttled for another %.1f s, longer than defender_fdw waits",
					w->opts->tenant_id, seconds),
			 errdetail_internal("%s", why),
			 errhint("Try again after %s.", timestamptz_to_str(w->until))));
}

/* Error context of a wait: a cancel or timeout names what it cut short. */
static void
quota_wait_context(void *arg)
{
	QuotaWait  *w = (QuotaWait *) arg;

	errcontext("waiting for the %s quota of tenant \"%s\" (%s until %s)",
			   w->kind, w->opts->tenant_id,
			   w->blocked ? "blocked by a 429" : "quota spent",
			   timestamptz_to_str(w->until));
}

static uint32
get_wait_event(void)
{
	if (quota_wait_event == 0)
	{
#if PG_VERSION_NUM >= 170000
		quota_wait_event = WaitEventExtensionNew("DefenderQuotaWait");
#else
		quota_wait_event = PG_WAIT_EXTENSION;
#endif
	}
	return quota_wait_event;
}
