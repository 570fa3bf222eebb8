/*-------------------------------------------------------------------------
 *
 * transport.h
 *		  What connection.c (the transport) lends request.c, and no one else.
 *
 * request.c builds the authenticated requests on top of the transport: it
 * needs the backend's client, a response tied to a memory context, the
 * transfer settings of a request, the interruptible wait, the retry rule
 * and the error reports, which stay written once, in connection.c.
 *
 * src/remote/transport.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_TRANSPORT_H
#define DEFENDER_TRANSPORT_H

#include "defender_remote.h"

extern DfwClient *defender_transport_client(void);
extern DefenderResponse *defender_new_response(void);
extern void defender_init_request(DfwHttpRequest *request, const DefenderOptions *opts,
								  const char *method, const char *url, const char *origin,
								  const char *const *headers, const char *body,
								  size_t body_len);
extern bool defender_start_transfer(const DefenderOptions *opts, DfwClient *client,
									const DfwHttpRequest *request,
									DfwHttpResponse *response, DfwTicket *ticket);
extern void defender_wait_for_ticket(DfwClient *client, DfwTicket ticket);
extern void defender_transport_wait(const DfwWait *wait);
extern bool defender_status_is_retryable(long status, bool idempotent);
extern long defender_retry_delay_ms(const DfwHttpResponse *http, int attempt);

/* the longest Retry-After a request waits; past it the error is raised */
#define DEFENDER_MAX_RETRY_WAIT_MS	(120 * 1000L)
extern void defender_report_transport_error(const DefenderOptions *opts,
											const DefenderResponse *response,
											const char *url,
											const char *display,
											int retries, bool idempotent);
extern void defender_report_api_error(const DefenderOptions *opts,
									  const DefenderResponse *response,
									  const char *service, const char *display,
									  const char *client_request_id);

#endif							/* DEFENDER_TRANSPORT_H */
