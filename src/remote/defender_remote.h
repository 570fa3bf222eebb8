/*-------------------------------------------------------------------------
 *
 * defender_remote.h
 *		  The PostgreSQL side of talking to Graph and the MDE API.
 *
 * From the top: request.c sends an authenticated request (token, 401
 * refresh, cache, the API's errors), the one request function every
 * caller goes through; pager.c walks the pages of a collection through
 * it, and entity.c writes an entity's URL from the catalog, GETs and
 * PATCHes it and reads any answer's JSON document; auth.c gets the bearer tokens; connection.c is
 * the transport (interruptible waits, retries, transport errors) under
 * both; secrets.c reads the credentials kept in files and
 * response_cache.c keeps answers for cache_ttl.  With the library
 * preloaded, shared_state.c holds the cluster's shared memory, where
 * token_cache_shared.c keeps one token per tenant for auth.c and
 * quota_governor.c paces the transport's calls to each tenant's quota.  Called by the scans,
 * UPDATE, the functions, the options and IMPORT; it calls the client
 * layer (src/client/) for the transfers and the catalog.
 *
 * src/remote/defender_remote.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_REMOTE_H
#define DEFENDER_REMOTE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "defender_client.h"
#include "defender_fdw.h"

/* the services, as messages name them */
#define DEFENDER_GRAPH_SERVICE		"Microsoft Graph"
#define DEFENDER_MDE_SERVICE		"Microsoft Defender for Endpoint API"

/* connection.c */
#define DEFENDER_ALLOW_NOT_FOUND	0x01	/* return a 404 instead of raising */
#define DEFENDER_ALLOW_BAD_REQUEST	0x02	/* return a 400 instead of raising */
#define DEFENDER_CACHEABLE			0x04	/* a read whose answer cache_ttl may keep */
#define DEFENDER_ANY_STATUS			0x08	/* return every HTTP answer, raise none */
#define DEFENDER_SEND_BATCHED		0x10	/* get_start: the caller drives curl after its batch */
#define DEFENDER_SEND_HOLD			0x20	/* get_start: hold back, never wait, for quota or Retry-After */

/* defender_http_send's retry_wait_ms: Retry-After, else 1 s, 2 s, 4 s ... */
#define DEFENDER_BACKOFF			(-1L)

/*
 * One response handed back to a caller.  body is malloc'd by the client;
 * it is freed when the memory context the response was created in is
 * reset or deleted, including on error, or earlier by
 * defender_response_release().
 */
typedef struct DefenderResponse
{
	DfwHttpResponse http;
	MemoryContextCallback free_body;
	bool		from_cache;		/* answered by response_cache.c, nothing sent */
} DefenderResponse;

/*
 * An authenticated request to Graph or the MDE API, as
 * defender_send_request() takes it.  defender_api_request() fills in the
 * usual settings; defender_request() sets them all.
 */
typedef struct DefenderRequest
{
	const char *audience;		/* graph_url or mde_url: the token's resource */
	const char *method;
	const char *url;
	const char *display;		/* "METHOD /path?query", for messages */
	const char *body;			/* JSON (UTF-8), or NULL */
	int			flags;			/* DEFENDER_ALLOW_*, _CACHEABLE, _ANY_STATUS */
	List	   *headers;		/* more "Name: value" lines, or NIL */
	int			max_retries;	/* -1: the server's max_retries */
	long		retry_wait_ms;	/* wait without Retry-After, or DEFENDER_BACKOFF */
	int			retries_spent;	/* retries the caller made before (a stream's,
								 * request.c), counted in messages */
} DefenderRequest;

extern DefenderResponse *defender_send_request(const DefenderOptions *opts,
											   const DefenderRequest *request);
extern DefenderResponse *defender_api_request(const DefenderOptions *opts,
											  const char *audience,
											  const char *method,
											  const char *url,
											  const char *display,
											  const char *body,
											  int flags);
extern DefenderResponse *defender_http_send(const DefenderOptions *opts,
											const char *method,
											const char *url,
											const char *origin,
											const char *display,
											const char *const *headers,
											const char *body, size_t body_len,
											bool idempotent, long retry_wait_ms);
typedef struct DefenderPendingGet DefenderPendingGet;
extern DefenderPendingGet *defender_api_get_start(const DefenderOptions *opts,
												  const char *audience,
												  const char *url,
												  const char *display,
												  int flags);
extern bool defender_api_get_poll(DefenderPendingGet *get);
extern bool defender_api_get_ready(DefenderPendingGet *get);
extern TimestampTz defender_api_get_held_until(DefenderPendingGet *get);
extern DefenderResponse *defender_api_get_finish(DefenderPendingGet *get);

/*
 * A request whose answer is read as it arrives (request.c): start it, take
 * its body's bytes as they come, then finish it.  Only a 2xx answer's
 * bytes are handed out; anything else is settled at finish by the one
 * request path.  See defender_stream_start(); with may_wait false it
 * returns NULL, sending nothing, when the tenant's quota would hold it.
 */
typedef struct DefenderBodyStream DefenderBodyStream;
extern DefenderBodyStream *defender_stream_start(const DefenderOptions *opts,
												 const char *audience,
												 const char *method,
												 const char *url,
												 const char *display,
												 const char *body,
												 bool may_wait);
extern bool defender_stream_next(DefenderBodyStream *stream, const char **data,
								 size_t *len);
extern DefenderResponse *defender_stream_finish(DefenderBodyStream *stream,
												bool may_resend);
extern DefenderResponse *defender_stream_resend(DefenderBodyStream *stream, int flags);
extern void defender_stream_cancel(DefenderBodyStream *stream);
extern int	defender_transfer_wake_fd(void);
extern void defender_transfer_progress(void);
extern char *defender_resource_url(const DefenderOptions *opts, const char *resource,
								   const char *method, char **display);
extern void defender_response_release(DefenderResponse *response);
extern void defender_sleep_ms(long ms);
extern long defender_retry_delay(const DefenderOptions *opts, const DfwHttpResponse *http,
								 int attempt, bool idempotent, long retry_wait_ms);
extern char *defender_redact(const DefenderOptions *opts, const char *text);
extern char *defender_url_encode(const char *text);
extern bool defender_url_origin(const char *url, DfwOrigin *origin, char **rest, char **why);
extern bool defender_same_origin(const DfwOrigin *a, const DfwOrigin *b);
extern char *defender_origin_text(const DfwOrigin *origin);
extern char *defender_display_text(const char *text);
extern char *defender_body_excerpt(const DefenderOptions *opts, const DfwHttpResponse *http);
extern bool defender_id_is_segment(const char *id);
extern char *defender_id_segment(const char *id, const char *what);
extern char *defender_new_client_request_id(void);
extern void defender_connection_init(void);

/* response_cache.c */
extern bool defender_cache_lookup(const DefenderOptions *opts, const char *method,
								  const char *url, const char *body,
								  DefenderResponse *response);
extern void defender_cache_store(const DefenderOptions *opts, const char *method,
								 const char *url, const char *body,
								 const DefenderResponse *response);
extern void defender_cache_forget_all(void);

/* auth.c */
extern const char *defender_get_token(const DefenderOptions *opts,
									  const char *resource_url,
									  bool force_refresh);
extern void defender_forget_token(const DefenderOptions *opts,
								  const char *resource_url);

/* shared_state.c: the shared memory segment (shared_preload_libraries) */
extern void defender_shared_state_init(void);
extern bool defender_shared_enabled(void);

/* token_cache_shared.c: one token per tenant, client and scope */
extern char *defender_shared_token_get(const uint8 *key, long claim_ms, long *valid_ms,
									   uint64 *generation, bool *claimed);
extern uint64 defender_shared_token_put(const uint8 *key, const char *token,
										long renew_ms, long expires_ms);
extern void defender_shared_token_release(const uint8 *key);
extern void defender_shared_token_invalidate(const uint8 *key, uint64 generation);

/* quota_governor.c: one quota per tenant */
#define DFW_QUOTA_MAX_CALLS 600 /* the largest hunting_quota or graph_quota */
extern bool defender_quota_governor;	/* GUC defender_fdw.quota_governor */
extern void defender_quota_governor_init(void);
extern void defender_quota_before_send(const DefenderOptions *opts, const char *url);
extern bool defender_quota_try_send(const DefenderOptions *opts, const char *url);
extern bool defender_quota_try_hold(const DefenderOptions *opts, const char *url,
									TimestampTz *until);
extern void defender_quota_check_hold(const DefenderOptions *opts, const char *url,
									  TimestampTz until);
extern void defender_quota_after_response(const DefenderOptions *opts, const char *url,
										  const DfwHttpResponse *http);
extern int64 defender_quota_waited_us(void);

/* secrets.c: credentials kept in files */
struct stat;
extern const char *defender_secret_file(const char *path, const char *option);
extern const char *defender_secret_file_cached(const char *path);
extern const char *defender_client_secret(const DefenderOptions *opts);
extern const char *defender_proxy_password(const DefenderOptions *opts);
extern void defender_check_private_file(const char *path, const struct stat *st,
										const char *what);
extern void defender_on_secret_rotation(void (*callback) (void));

/* pager.c */
struct json_t;
typedef struct DefenderPager DefenderPager;

/*
 * How a pager may fetch pages in parallel: the first request carries
 * $count=true, and once @odata.count is known the remaining pages are
 * asked for as prefix&$skip=N&$top=M, up to parallel at a time.
 */
typedef struct DefenderPaging
{
	int			parallel;		/* pages in flight at once (>= 2) */
	const char *prefix;			/* the request without $count/$skip/$top */
	const char *display_prefix; /* the same for messages */
	int64		page_size;		/* $top of every page */
	int64		first_skip;		/* $skip of the first request */
	int64		row_limit;		/* rows wanted, -1: all */
} DefenderPaging;

extern DefenderPager *defender_pager_begin(const DefenderOptions *opts,
										   const char *first_url,
										   const char *display,
										   MemoryContext page_cxt,
										   int rejections,
										   const DefenderPaging *paging);
/* defender_pager_begin's rejections: what a 400 to the first page may mean */
#define DEFENDER_PAGER_FILTER		0x01	/* the pushed-down filter is refused */
#define DEFENDER_PAGER_PAGE_SIZE	0x02	/* $top is above the service's cap */
extern int	defender_pager_page_limit(DefenderPager *pager);
extern void defender_pager_raise_rejection(DefenderPager *pager);
extern struct json_t *defender_pager_next(DefenderPager *pager);
extern bool defender_pager_poll(DefenderPager *pager, bool start);
extern void defender_pager_hold_not_wait(DefenderPager *pager);
extern TimestampTz defender_pager_held_until(DefenderPager *pager);
extern void defender_pager_rewind(DefenderPager *pager);
extern bool defender_pager_rejected(DefenderPager *pager, DfwGraphError *err);
extern struct json_t *defender_pager_document(DefenderPager *pager);
extern int	defender_pager_requests(DefenderPager *pager);

/* entity.c */
extern char *defender_graph_entity_url(const DefenderOptions *opts, const char *resource,
									   const char *id, const char *what,
									   const char *suffix, const char *method,
									   char **display);
extern char *defender_mde_alert_url(const DefenderOptions *opts, const char *id,
									const char *suffix, const char *method,
									char **display);
extern struct json_t *defender_fetch_entity(const DefenderOptions *opts,
											const char *url, const char *display,
											MemoryContext page_cxt);
extern struct json_t *defender_patch_entity(const DefenderOptions *opts,
											const char *path, const char *body,
											MemoryContext cxt);
extern void defender_require_body(const DefenderResponse *response, const char *service,
								  const char *display);
extern struct json_t *defender_parse_response(const DefenderResponse *response,
											  const char *service,
											  const char *display);
extern struct json_t *defender_response_object(const DefenderResponse *response,
											   const char *service,
											   const char *display,
											   MemoryContext owner);

#endif							/* DEFENDER_REMOTE_H */
