/*-------------------------------------------------------------------------
 *
 * shared_state.h
 *		  The shared memory of defender_fdw, for token_cache_shared.c and
 *		  quota_governor.c only.
 *
 * With shared_preload_libraries = 'defender_fdw' the postmaster sets
 * aside one segment (shared_state.c) holding a table of tokens and a
 * table of tenant quotas, each behind its own LWLock.  Without preload
 * there is no segment and defender_shared_state() returns NULL: tokens
 * stay in each backend's cache and the governor keeps its table in the
 * backend's memory.
 *
 * src/remote/shared_state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_SHARED_STATE_H
#define DEFENDER_SHARED_STATE_H

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

#include "defender_remote.h"

#define DFW_KEY_LEN			32	/* a SHA-256 digest */
#define DFW_SHARED_TOKENS	64	/* tokens kept at once (then LRU eviction) */
#define DFW_SHARED_TOKEN_MAX 8192	/* longer tokens are not shared */
#define DFW_SHARED_TENANTS	64	/* tenants governed at once (then LRU) */
#define DFW_QUOTA_KINDS		2	/* hunting, graph */

/* One token, keyed by the digest of everything that decides it. */
typedef struct SharedToken
{
	uint8		key[DFW_KEY_LEN];
	bool		used;
	uint64		generation;		/* bumped by every new token */
	TimestampTz renew_at;		/* one backend renews from here on */
	TimestampTz expires_at;		/* unusable from here on */
	TimestampTz last_used;		/* for eviction */
	int			renewing_pid;	/* the backend fetching a token, or 0 */
	TimestampTz renewing_until; /* its claim lapses then (it may have died) */
	int			token_len;		/* 0: no token (yet, or invalidated) */
	char		token[DFW_SHARED_TOKEN_MAX];
} SharedToken;

/* The calls of one kind sent in the recent past, newest at next - 1. */
typedef struct QuotaLog
{
	int			next;			/* ring position of the next call */
	TimestampTz sent[DFW_QUOTA_MAX_CALLS];
	TimestampTz blocked_until;	/* a 429's Retry-After, for every backend */
} QuotaLog;

/* One tenant's quota, keyed by the digest of graph_url and tenant_id. */
typedef struct TenantQuota
{
	uint8		key[DFW_KEY_LEN];
	bool		used;
	TimestampTz last_used;		/* for eviction */
	QuotaLog	log[DFW_QUOTA_KINDS];
} TenantQuota;

typedef struct DefenderSharedState
{
	LWLock	   *token_lock;
	LWLock	   *quota_lock;
	uint8		salt[16];		/* random per cluster start: keys are not guessable */
	SharedToken tokens[DFW_SHARED_TOKENS];
	TenantQuota tenants[DFW_SHARED_TENANTS];
} DefenderSharedState;

extern DefenderSharedState *defender_shared_state(void);
extern void defender_shared_key(const char *const *parts, int nparts, uint8 *key);

#endif							/* DEFENDER_SHARED_STATE_H */
