/*-------------------------------------------------------------------------
 *
 * shared_state.c
 *		  The shared memory segment of defender_fdw.
 *
 * Loaded with shared_preload_libraries = 'defender_fdw', the library asks
 * the postmaster for one segment and a tranche of two LWLocks (one for
 * the token table, one for the quota table) and fills the segment in at
 * start-up.  PostgreSQL 15 and later take the request in
 * shmem_request_hook; 13 and 14 take it directly in _PG_init (only 15 is
 * built and tested here; the 13/14 branch follows the documented API).
 * Loaded any other way (CREATE EXTENSION, a plain LOAD), there is no
 * segment and defender_shared_state() returns NULL.
 *
 * What the segment holds, and why it holds no credential in the clear
 * but does hold bearer tokens, is said in token_cache_shared.c and in
 * doc/scaling.md.
 *
 * src/remote/shared_state.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "defender_remote.h"
#include "shared_state.h"

#define SEGMENT_NAME "defender_fdw"
#define TRANCHE_NAME "defender_fdw"

static DefenderSharedState *shared_state = NULL;
static bool shared_requested = false;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

/* the salt of keys when there is no segment: one per backend */
static uint8 local_salt[16];
static bool local_salt_set = false;

static void shared_state_request(void);
static void shared_state_startup(void);

/*
 * defender_shared_state_init
 *		From _PG_init: when loaded by shared_preload_libraries, ask for the
 *		segment and its locks.
 */
void
defender_shared_state_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shared_state_request;
#else
	shared_state_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shared_state_startup;
}

/*
 * shared_state_request
 *		Ask for the segment's space and the tranche of its two locks.
 */
static void
shared_state_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(DefenderSharedState)));
	RequestNamedLWLockTranche(TRANCHE_NAME, 2);
	shared_requested = true;
}

/*
 * shared_state_startup
 *		Create (postmaster) or attach to (EXEC_BACKEND child) the segment.
 */
static void
shared_state_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	if (!shared_requested)
		return;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_state = ShmemInitStruct(SEGMENT_NAME, sizeof(DefenderSharedState), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche(TRANCHE_NAME);

		memset(shared_state, 0, sizeof(DefenderSharedState));
		shared_state->token_lock = &locks[0].lock;
		shared_state->quota_lock = &locks[1].lock;
		if (!pg_strong_random(shared_state->salt, sizeof(shared_state->salt)))
			elog(FATAL, "defender_fdw: could not generate a random salt");
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * defender_shared_state
 *		The segment, or NULL when the library was not preloaded.
 */
DefenderSharedState *
defender_shared_state(void)
{
	return shared_state;
}

/*
 * defender_shared_enabled
 *		Whether tokens and quotas are shared by the whole cluster.
 */
bool
defender_shared_enabled(void)
{
	return shared_state != NULL;
}

/*
 * defender_shared_key
 *		The key of a table entry: SHA-256 over a salt and the parts, each
 *		with its terminating NUL (so "ab","c" and "a","bc" differ).
 *
 * The salt is random per cluster start (per backend without a segment),
 * so a key read from memory does not let anyone test guesses of the
 * secret that went into it.
 */
void
defender_shared_key(const char *const *parts, int nparts, uint8 *key)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const uint8 *salt;
	unsigned int len = 0;
	bool		ok;
	int			i;

	if (shared_state)
		salt = shared_state->salt;
	else
	{
		if (!local_salt_set &&
			!pg_strong_random(local_salt, sizeof(local_salt)))
			elog(ERROR, "defender_fdw: could not generate a random salt");
		local_salt_set = true;
		salt = local_salt;
	}
	ok = ctx != NULL &&
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(ctx, salt, sizeof(local_salt)) == 1;
	for (i = 0; ok && i < nparts; i++)
		ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, key, &len) == 1 && len == DFW_KEY_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not compute a SHA-256 digest")));
}
