/*-------------------------------------------------------------------------
 *
 * response_cache.c
 *		  The opt-in cache of Graph's answers (option cache_ttl).
 *
 * A dashboard that refreshes every minute asks Graph the same questions
 * again and again, and each costs a request of the tenant's quota.  With
 * cache_ttl set (seconds, on the server or the foreign table) a successful
 * answer to a read (a page of a list, an entity, a hunting query) is kept
 * in the backend and given back, without any request, to the same request
 * from the same user mapping for that many seconds.
 *
 * The key is the whole request as sent (method, URL with every query
 * option, body) together with the server, the user mapping's user and the
 * tenant and client it authenticates as, so two users never share an
 * answer.  The trade-off is staleness: within the TTL a query does not see
 * what changed in Defender.  To keep the extension's own writes visible,
 * every write it sends (UPDATE of a foreign table, the action functions)
 * empties the cache; defender_cache_clear() empties it by hand.
 *
 * The cache is per backend (a pooled connection or a pg_cron worker keeps
 * its own) and holds at most CACHE_MAX_BYTES of bodies; an answer that
 * does not fit after expired entries are dropped is simply not kept.
 *
 * src/remote/response_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "defender_remote.h"

#define CACHE_MAX_BYTES		((Size) 256 * 1024 * 1024)

typedef struct CachedResponse
{
	uint32		hash;			/* hash key: of the key text */
	char	   *key;			/* the key text; entries with equal hashes are told apart by it */
	TimestampTz expires;
	long		status;
	char	   *body;
	size_t		body_len;
	char		content_type[DFW_HEADER_VALUE_SIZE];
	char		request_id[DFW_HEADER_VALUE_SIZE];
} CachedResponse;

static HTAB *cache = NULL;
static MemoryContext cache_cxt = NULL;
static Size cache_bytes = 0;

PG_FUNCTION_INFO_V1(defender_cache_clear);

static char *
cache_key(const DefenderOptions *opts, const char *method, const char *url,
		  const char *body)
{
	StringInfoData key;

	initStringInfo(&key);
	appendStringInfo(&key, "%u\n%u\n%s\n%s\n%s\n%s\n%s",
					 opts->serverid, opts->userid,
					 opts->tenant_id ? opts->tenant_id : "",
					 opts->client_id ? opts->client_id : "",
					 method, url, body ? body : "");
	return key.data;
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (cache)
		return;
	cache_cxt = AllocSetContextCreate(TopMemoryContext, "defender_fdw response cache",
									  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(CachedResponse);
	ctl.hcxt = cache_cxt;
	cache = hash_create("defender_fdw response cache", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static void
drop_entry(CachedResponse *entry)
{
	cache_bytes -= entry->body_len;
	pfree(entry->body);
	pfree(entry->key);
	hash_search(cache, &entry->hash, HASH_REMOVE, NULL);
}

/* Drop the entries whose time is up; with all, every entry.  How many. */
static long
drop_entries(bool all)
{
	HASH_SEQ_STATUS seq;
	CachedResponse *entry;
	TimestampTz now = GetCurrentTimestamp();
	long		dropped = 0;

	if (cache == NULL)
		return 0;
	hash_seq_init(&seq, cache);
	while ((entry = hash_seq_search(&seq)) != NULL)
	{
		if (all || entry->expires <= now)
		{
			drop_entry(entry);
			dropped++;
		}
	}
	return dropped;
}

/*
 * defender_cache_lookup
 *		Fill response with the cached answer to this request, if there is
 *		one still fresh; the body is a malloc'd copy, as from a transfer.
 */
bool
defender_cache_lookup(const DefenderOptions *opts, const char *method,
					  const char *url, const char *body, DefenderResponse *response)
{
	char	   *key;
	uint32		hash;
	CachedResponse *entry;
	DfwHttpResponse *http = &response->http;

	if (opts->cache_ttl <= 0 || cache == NULL)
		return false;
	key = cache_key(opts, method, url, body);
	hash = string_hash(key, strlen(key) + 1);
	entry = hash_search(cache, &hash, HASH_FIND, NULL);
	if (entry == NULL || strcmp(entry->key, key) != 0)
	{
		pfree(key);
		return false;
	}
	pfree(key);
	if (entry->expires <= GetCurrentTimestamp())
	{
		drop_entry(entry);
		return false;
	}

	dfw_response_free_body(http);
	dfw_response_init(http);
	http->body = malloc(entry->body_len + 1);
	if (http->body == NULL)
		return false;
	memcpy(http->body, entry->body, entry->body_len);
	http->body[entry->body_len] = '\0';
	http->body_len = entry->body_len;
	http->body_alloc = entry->body_len + 1;
	http->status = entry->status;
	memcpy(http->content_type, entry->content_type, DFW_HEADER_VALUE_SIZE);
	memcpy(http->request_id, entry->request_id, DFW_HEADER_VALUE_SIZE);
	response->from_cache = true;
	return true;
}

/*
 * defender_cache_store
 *		Keep a successful answer for cache_ttl seconds.
 */
void
defender_cache_store(const DefenderOptions *opts, const char *method,
					 const char *url, const char *body, const DefenderResponse *response)
{
	const DfwHttpResponse *http = &response->http;
	char	   *key;
	uint32		hash;
	CachedResponse *entry;
	bool		found;

	if (opts->cache_ttl <= 0 || response->from_cache ||
		http->status < 200 || http->status >= 300 || http->body == NULL)
		return;
	ensure_cache();
	if (cache_bytes + http->body_len > CACHE_MAX_BYTES)
	{
		(void) drop_entries(false);
		if (cache_bytes + http->body_len > CACHE_MAX_BYTES)
			return;
	}

	key = cache_key(opts, method, url, body);
	hash = string_hash(key, strlen(key) + 1);
	entry = hash_search(cache, &hash, HASH_ENTER, &found);
	if (found)
	{
		/* an older answer, or (rarely) another request with the same hash */
		cache_bytes -= entry->body_len;
		pfree(entry->body);
		pfree(entry->key);
	}
	entry->key = MemoryContextStrdup(cache_cxt, key);
	entry->body = MemoryContextAlloc(cache_cxt, http->body_len + 1);
	memcpy(entry->body, http->body, http->body_len);
	entry->body[http->body_len] = '\0';
	entry->body_len = http->body_len;
	entry->status = http->status;
	memcpy(entry->content_type, http->content_type, DFW_HEADER_VALUE_SIZE);
	memcpy(entry->request_id, http->request_id, DFW_HEADER_VALUE_SIZE);
	entry->expires = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 (int64) opts->cache_ttl * 1000);
	cache_bytes += http->body_len;
	pfree(key);
}

/*
 * defender_cache_forget_all
 *		Empty the cache (after a write: what it holds may be stale now).
 */
void
defender_cache_forget_all(void)
{
	(void) drop_entries(true);
}

/*
 * defender_cache_clear()
 *		SQL: empty this backend's cache; returns how many answers it held.
 */
Datum
defender_cache_clear(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(drop_entries(true));
}
