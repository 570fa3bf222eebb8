/*-------------------------------------------------------------------------
 *
 * token_cache_shared.c
 *		  One bearer token per tenant, client, scope and credential for the
 *		  whole cluster.
 *
 * With the shared segment (shared_state.c), auth.c asks this table before
 * Entra: the first backend that needs a token claims the entry, fetches
 * the token and puts it here; every other backend copies it.  Backends
 * that arrive while the first is still fetching wait for it (a poll of
 * the entry every WAIT_STEP_MS, interruptible) instead of sending their
 * own request.  Renewal before expiry is claimed the same way by one
 * backend, while the others keep using the still-valid token.  A 401
 * invalidates the entry, but only the token that failed (its generation):
 * a backend that was refused an old token never throws away the fresh
 * one another backend has just fetched.
 *
 * An entry's key is a salted SHA-256 digest (defender_shared_key) of the
 * login URL, tenant, client, scope, TLS verification and the credential
 * (secret, certificate or metadata endpoint): the secret itself is never
 * in shared memory.  The token is, since sharing it is the point: the
 * segment is readable only by the server's processes, which could ask
 * Entra for the same token with the same credential anyway.
 *
 * The table has DFW_SHARED_TOKENS entries; a new key takes a free entry
 * or else the least recently used one that no backend is fetching.  When
 * every entry is being fetched, or a token is longer than
 * DFW_SHARED_TOKEN_MAX, the backend keeps its token to itself.
 *
 * src/remote/token_cache_shared.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
#endif

#include "defender_remote.h"
#include "shared_state.h"

#define WAIT_STEP_MS		10	/* how often a waiting backend looks again */
#define RECHECK_MS			1000	/* renewal under way: look again this soon */

static SharedToken *find_entry(DefenderSharedState *s, const uint8 *key);
static SharedToken *take_entry(DefenderSharedState *s, const uint8 *key, TimestampTz now);
static void clear_token(SharedToken *e);
static void release_claims_at_exit(int code, Datum arg);

static bool exit_callback_registered = false;

/*
 * defender_shared_token_get
 *		A copy of the shared token for key (palloc'd in TopMemoryContext),
 *		or NULL when the caller must fetch one.
 *
 * On a copy, *valid_ms says how long the caller may keep using it before
 * asking again and *generation which token it is.  On NULL, *claimed says
 * whether the caller now holds the entry's claim: it must then call
 * defender_shared_token_put() with the new token, or
 * defender_shared_token_release() if it could not get one.  NULL with
 * *claimed false means the table cannot share this token: fetch it and
 * keep it.  claim_ms is how long the fetch may take before another
 * backend may try (the caller may die on the way).
 */
char *
defender_shared_token_get(const uint8 *key, long claim_ms, long *valid_ms,
						  uint64 *generation, bool *claimed)
{
	DefenderSharedState *s = defender_shared_state();

	*claimed = false;
	for (;;)
	{
		TimestampTz now;
		SharedToken *e;
		/* allocated before the lock: nothing under it can fail */
		char	   *copy = MemoryContextAlloc(TopMemoryContext, DFW_SHARED_TOKEN_MAX);

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(s->token_lock, LW_EXCLUSIVE);
		now = GetCurrentTimestamp();
		e = find_entry(s, key);
		if (e == NULL)
			e = take_entry(s, key, now);
		if (e == NULL)
		{
			LWLockRelease(s->token_lock);
			pfree(copy);
			return NULL;		/* every entry is being fetched: go alone */
		}
		e->last_used = now;

		if (e->renewing_pid != 0 && now >= e->renewing_until)
			e->renewing_pid = 0;	/* the claim lapsed */

		if (e->token_len > 0 && now < e->expires_at &&
			(now < e->renew_at || e->renewing_pid != 0))
		{
			memcpy(copy, e->token, e->token_len + 1);
			*generation = e->generation;
			if (now < e->renew_at)
				*valid_ms = (long) ((e->renew_at - now) / 1000);
			else
				*valid_ms = Min(RECHECK_MS, (long) ((e->expires_at - now) / 1000));
			LWLockRelease(s->token_lock);
			return copy;
		}
		if (e->renewing_pid == 0)
		{
			/* no token, or one due for renewal: this backend fetches it */
			if (!exit_callback_registered)
			{
				/* a backend that exits mid-fetch (FATAL, terminate) lets go */
				before_shmem_exit(release_claims_at_exit, (Datum) 0);
				exit_callback_registered = true;
			}
			e->renewing_pid = MyProcPid;
			e->renewing_until = TimestampTzPlusMilliseconds(now, claim_ms);
			LWLockRelease(s->token_lock);
			pfree(copy);
			*claimed = true;
			return NULL;
		}
		LWLockRelease(s->token_lock);
		pfree(copy);

		/* another backend is fetching the first token: wait for it */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WAIT_STEP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * defender_shared_token_put
 *		Store the token the caller fetched under its claim; returns the
 *		token's generation.  renew_ms and expires_ms count from now.
 */
uint64
defender_shared_token_put(const uint8 *key, const char *token, long renew_ms,
						  long expires_ms)
{
	DefenderSharedState *s = defender_shared_state();
	size_t		len = strlen(token);
	SharedToken *e;
	uint64		generation = 0;

	LWLockAcquire(s->token_lock, LW_EXCLUSIVE);
	e = find_entry(s, key);
	if (e != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();

		clear_token(e);
		if (len < DFW_SHARED_TOKEN_MAX)
		{
			memcpy(e->token, token, len + 1);
			e->token_len = (int) len;
			e->renew_at = TimestampTzPlusMilliseconds(now, renew_ms);
			e->expires_at = TimestampTzPlusMilliseconds(now, expires_ms);
		}
		e->generation++;
		generation = e->generation;
		e->renewing_pid = 0;
		e->last_used = now;
	}
	LWLockRelease(s->token_lock);
	return generation;
}

/*
 * defender_shared_token_release
 *		Give up a claim without a token (the request failed), so that the
 *		next backend tries at once instead of waiting for the claim to lapse.
 */
void
defender_shared_token_release(const uint8 *key)
{
	DefenderSharedState *s = defender_shared_state();
	SharedToken *e;

	LWLockAcquire(s->token_lock, LW_EXCLUSIVE);
	e = find_entry(s, key);
	if (e != NULL && e->renewing_pid == MyProcPid)
		e->renewing_pid = 0;
	LWLockRelease(s->token_lock);
}

/*
 * defender_shared_token_invalidate
 *		The API refused the token of this generation: drop it, unless a
 *		newer one has replaced it already.
 */
void
defender_shared_token_invalidate(const uint8 *key, uint64 generation)
{
	DefenderSharedState *s = defender_shared_state();
	SharedToken *e;

	LWLockAcquire(s->token_lock, LW_EXCLUSIVE);
	e = find_entry(s, key);
	if (e != NULL && e->generation == generation)
		clear_token(e);
	LWLockRelease(s->token_lock);
}

static SharedToken *
find_entry(DefenderSharedState *s, const uint8 *key)
{
	int			i;

	for (i = 0; i < DFW_SHARED_TOKENS; i++)
		if (s->tokens[i].used && memcmp(s->tokens[i].key, key, DFW_KEY_LEN) == 0)
			return &s->tokens[i];
	return NULL;
}

/*
 * take_entry
 *		A free entry for key, or the least recently used one no backend is
 *		fetching; NULL if there is none.
 */
static SharedToken *
take_entry(DefenderSharedState *s, const uint8 *key, TimestampTz now)
{
	SharedToken *victim = NULL;
	int			i;

	for (i = 0; i < DFW_SHARED_TOKENS; i++)
	{
		SharedToken *e = &s->tokens[i];

		if (!e->used)
		{
			victim = e;
			break;
		}
		if (e->renewing_pid != 0 && now < e->renewing_until)
			continue;
		if (victim == NULL || e->last_used < victim->last_used)
			victim = e;
	}
	if (victim == NULL)
		return NULL;
	clear_token(victim);
	memcpy(victim->key, key, DFW_KEY_LEN);
	victim->used = true;
	victim->renewing_pid = 0;
	return victim;
}

/*
 * release_claims_at_exit
 *		At backend exit, give up any claim this backend still holds, so
 *		that the others need not wait for it to lapse.
 */
static void
release_claims_at_exit(int code, Datum arg)
{
	DefenderSharedState *s = defender_shared_state();
	bool		held = LWLockHeldByMe(s->token_lock);
	int			i;

	if (!held)
		LWLockAcquire(s->token_lock, LW_EXCLUSIVE);
	for (i = 0; i < DFW_SHARED_TOKENS; i++)
		if (s->tokens[i].renewing_pid == MyProcPid)
			s->tokens[i].renewing_pid = 0;
	if (!held)
		LWLockRelease(s->token_lock);
}

/* Wipe an entry's token; the entry stays, without a token. */
static void
clear_token(SharedToken *e)
{
	explicit_bzero(e->token, sizeof(e->token));
	e->token_len = 0;
	e->renew_at = 0;
	e->expires_at = 0;
}
