/*-------------------------------------------------------------------------
 *
 * client_driver.c
 *		Drives the client layer (src/client/: defender_client.c, url.c,
 *		graph_response.c, wake_fd.c) without a backend, for valgrind.
 *
 * The client includes no PostgreSQL header, so it links into this small
 * program with libcurl and jansson alone.  Against the Graph
 * emulator it runs the requests and the failures the extension meets: a
 * token, a page, Graph and Entra error bodies, malformed and empty
 * bodies, a dropped and a truncated body, a body over the size cap, a
 * timeout, a refused connection, a URL with another scheme, an aborted
 * transfer followed by a clean one, and (with a second, HTTPS emulator)
 * a certificate that fails verification and one trusted through
 * ca_file; then many transfers at once on tickets, some cancelled on
 * the way, waited for on the wake descriptor where there is one.  Each
 * case checks what the client reported, so the program also fails when
 * the client misbehaves, not only when valgrind objects.
 *
 *	client_driver EMULATOR_URL [EMULATOR_TLS_URL CA_FILE]
 *
 * scripts/test.sh runs it under valgrind --leak-check=full
 * --error-exitcode=1; exit status 0 means every check passed.
 *
 * test/client/client_driver.c
 *
 *-------------------------------------------------------------------------
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "defender_client.h"
#include "client_internal.h"	/* to see whether the epoll set is made */

static int	failures = 0;
static int	checks = 0;

#define CHECK(cond, what) \
	do { \
		checks++; \
		if (!(cond)) \
		{ \
			failures++; \
			fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, what, #cond); \
		} \
	} while (0)

static const char *base_url;

/* Wait as connection.c does, with poll() in place of the latch. */
static void
wait_for(const DfwWait *wait)
{
	struct pollfd fds[DFW_MAX_WAIT_SOCKETS];
	int			i;
	long		timeout = wait->timeout_ms;

	if (timeout < 0 || timeout > 1000)
		timeout = 1000;
	if (wait->more_sockets && timeout > 10)
		timeout = 10;
	for (i = 0; i < wait->nsockets; i++)
	{
		fds[i].fd = wait->sockets[i];
		fds[i].events = (wait->want_read[i] ? POLLIN : 0) | (wait->want_write[i] ? POLLOUT : 0);
		fds[i].revents = 0;
	}
	(void) poll(fds, (nfds_t) wait->nsockets, (int) timeout);
}

/*
 * The origin check (issue 13, finding 1): which URLs may carry a token
 * meant for base, as libcurl reads them.  1: same origin; 0: refused or
 * elsewhere.
 */
static void
check_origins(void)
{
	static const struct
	{
		const char *url;
		const char *base;
		int			same;
	}			cases[] = {
		{"https://graph.microsoft.com/v1.0/x", "https://graph.microsoft.com", 1},
		{"https://graph.microsoft.com#@attacker.example/x", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com%23@attacker.example/x", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com\\@attacker.example/x", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com/x@attacker.example", "https://graph.microsoft.com", 1},
		{"https://u:p@graph.microsoft.com/x", "https://graph.microsoft.com", 0},
		{"https://u@graph.microsoft.com/x", "https://graph.microsoft.com", 0},
		{"https://GRAPH.Microsoft.COM/v1.0", "https://graph.microsoft.com", 1},
		{"https://graph.microsoft.com./v1.0", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com:443/v1.0", "https://graph.microsoft.com", 1},
		{"https://graph.microsoft.com:8443/v1.0", "https://graph.microsoft.com", 0},
		{"http://graph.microsoft.com/v1.0", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com.attacker.example/", "https://graph.microsoft.com", 0},
		{"https://attacker.example/graph.microsoft.com", "https://graph.microsoft.com", 0},
		{"https://[::1]:443/x", "https://[::1]", 1},
		{"https://[::1]/x", "https://graph.microsoft.com", 0},
		{"https://[fe80::1%25eth0]/x", "https://[fe80::1]", 0},
		{"https://gr\xc3\xa4ph.microsoft.com/", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com/x\r\nX-Injected: 1", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com/x y", "https://graph.microsoft.com", 0},
		{"ftp://graph.microsoft.com/", "https://graph.microsoft.com", 0},
		{"//graph.microsoft.com/", "https://graph.microsoft.com", 0},
		{"https://graph.microsoft.com/?a=b#frag", "https://graph.microsoft.com", 0},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/graph", 1},
		{"http://127.0.0.1:80/x", "http://127.0.0.1", 1},
	};
	size_t		i;
	char		why[DFW_MESSAGE_SIZE];
	DfwOrigin	origin;
	char	   *rest = NULL;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			same = dfw_url_on_origin(cases[i].url, cases[i].base, why, sizeof(why));

		if (same != cases[i].same)
			fprintf(stderr, "origin of \"%s\" against \"%s\": %d (%s)\n",
					cases[i].url, cases[i].base, same, same ? "" : why);
		CHECK(same == cases[i].same, "origin check");
	}
	CHECK(dfw_url_origin("https://Graph.microsoft.com/a/../b?c=d", &origin, &rest, why, sizeof(why)) == 1,
		  "origin parsed");
	CHECK(rest != NULL && strcmp(rest, "/b?c=d") == 0, "path and query as libcurl reads them");
	CHECK(strcmp(origin.host, "graph.microsoft.com") == 0 && origin.port == 443, "host and port");
	free(rest);
	CHECK(dfw_url_has_scheme("https://x") && dfw_url_has_scheme("a+b:") &&
		  !dfw_url_has_scheme("security/incidents") && !dfw_url_has_scheme("1a:b"),
		  "scheme classifier");
}

/* A GET of url (on origin) with the driver's headers, timeouts and cap. */
static void
init_get(DfwHttpRequest *request, const char *url, const char *origin,
		 const char *const *headers, long timeout_ms, size_t max_bytes)
{
	memset(request, 0, sizeof(*request));
	request->method = "GET";
	request->url = url;
	request->origin = origin;
	request->headers = headers;
	request->timeout_ms = timeout_ms;
	request->connect_timeout_ms = 10000;
	request->verify_ssl = 1;
	request->max_response_bytes = max_bytes;
	request->user_agent = "defender_fdw/1.0 client_driver";
}

/* One request, start to end; returns the client's verdict. */
static DfwClientError
run(DfwClient *client, const char *method, const char *url, const char *const *headers,
	const char *body, long timeout_ms, size_t max_bytes, int verify, const char *ca_file,
	DfwHttpResponse *response)
{
	DfwHttpRequest request;
	DfwWait		wait;
	DfwClientError err;

	memset(&request, 0, sizeof(request));
	request.method = method;
	request.url = url;
	request.origin = url;
	request.headers = headers;
	request.body = body;
	request.body_len = body ? strlen(body) : 0;
	request.timeout_ms = timeout_ms;
	request.connect_timeout_ms = timeout_ms < 10000 ? timeout_ms : 10000;
	request.verify_ssl = verify;
	request.ca_file = ca_file;
	request.max_response_bytes = max_bytes;
	request.user_agent = "defender_fdw/1.0 client_driver";

	err = dfw_client_begin(client, &request, response);
	if (err != DFW_CLIENT_OK)
		return err;
	while (!dfw_client_step(client, &wait))
		wait_for(&wait);
	return dfw_client_end(client);
}

static char *
url_of(const char *base, const char *path)
{
	size_t		n = strlen(base) + strlen(path) + 1;
	char	   *url = malloc(n);

	if (url == NULL)
		abort();
	snprintf(url, n, "%s%s", base, path);
	return url;
}

/* POST to the emulator's control API; the body is freed here. */
static void
control(DfwClient *client, const char *method, const char *path, const char *json)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	DfwHttpResponse response;
	char	   *url = url_of(base_url, path);

	dfw_response_init(&response);
	CHECK(run(client, method, url, headers, json, 10000, 1 << 20, 1, NULL, &response) == DFW_CLIENT_OK,
		  "control request");
	CHECK(response.status == 200, "control request answered 200");
	dfw_response_free_body(&response);
	free(url);
}

/* A token from the emulator's Entra endpoint; malloc'd. */
static char *
get_token(DfwClient *client, const char *secret, DfwTokenResponse *token)
{
	static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
	DfwHttpResponse response;
	char	   *url = url_of(base_url, "/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token");
	char		form[512];
	char	   *access = NULL;

	snprintf(form, sizeof(form),
			 "grant_type=client_credentials&client_id=11111111-1111-1111-1111-111111111111"
			 "&client_secret=%s&scope=%s%%2F.default", secret, "https%3A%2F%2Fgraph.microsoft.com");
	dfw_response_init(&response);
	CHECK(run(client, "POST", url, headers, form, 10000, 1 << 20, 1, NULL, &response) == DFW_CLIENT_OK,
		  "token request transfer");
	dfw_parse_token_response(response.body, response.body_len, token);
	if (token->access_token)
		access = strdup(token->access_token);
	dfw_response_free_body(&response);
	free(url);
	return access;
}

/*
 * Many transfers at once (an asynchronous Append's pages): CONCURRENT GETs
 * on tickets against an emulator that answers each after LATENCY_MS, every
 * third one cancelled after the first step.  Waits on the wake descriptor
 * (Linux, with use_wake) or on the sockets of a DfwWait: without the wake
 * descriptor the client polls its sockets until they outgrow
 * DFW_POLL_MAX_SOCKETS and makes its epoll set while the transfers run.  Each
 * survivor must come back whole; together they must take a small multiple
 * of one request's latency, not one latency each (a step that drove only
 * some transfers, or a wake descriptor that missed a ready socket, would
 * serialise them).
 */
#define CONCURRENT 40
#define LATENCY_MS 300
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
static void
check_concurrent(DfwClient *client, const char *const *headers, int use_wake)
{
	DfwHttpRequest request;
	DfwHttpResponse responses[CONCURRENT];
	DfwTicket	tickets[CONCURRENT];
	DfwWait		wait;
	char	   *url = url_of(base_url, "/v1.0/security/incidents?$top=5");
	int			wake = use_wake ? dfw_client_wake_fd(client) : -1;
	struct timespec t0,
				t1;
	double		elapsed;
	int			finished = 0;
	int			i;

	control(client, "POST", "/_emulator/config", "{\"latency_ms\": " STRINGIFY(LATENCY_MS) "}");
	init_get(&request, url, base_url, headers, 20000, 1 << 24);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < CONCURRENT; i++)
	{
		dfw_response_init(&responses[i]);
		CHECK(dfw_client_start(client, &request, &responses[i], &tickets[i]) == DFW_CLIENT_OK,
			  "a ticket started");
	}
	CHECK(dfw_client_free_slots(client) == DFW_MAX_TRANSFERS - CONCURRENT, "one slot each");
	(void) dfw_client_step(client, &wait);
	for (i = 0; i < CONCURRENT; i += 3)
		dfw_client_cancel(client, tickets[i]);

	while (!dfw_client_step(client, &wait))
	{
		if (wake >= 0)
		{
			struct pollfd one = {.fd = wake,.events = POLLIN};

			(void) poll(&one, 1, 5000);
		}
		else
			wait_for(&wait);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	elapsed = (t1.tv_sec - t0.tv_sec) * 1000.0 + (t1.tv_nsec - t0.tv_nsec) / 1e6;

	for (i = 0; i < CONCURRENT; i++)
	{
		CHECK(dfw_client_finished(client, tickets[i]), "every ticket over");
		if (i % 3 == 0)
		{
			CHECK(dfw_client_collect(client, tickets[i], &responses[i]) == DFW_CLIENT_TRANSFER_FAILED,
				  "a cancelled ticket collects as stopped");
		}
		else if (dfw_client_collect(client, tickets[i], &responses[i]) == DFW_CLIENT_OK &&
				 responses[i].status == 200 && responses[i].body != NULL &&
				 strstr(responses[i].body, "\"value\"") != NULL)
			finished++;
		dfw_response_free_body(&responses[i]);
	}
	CHECK(finished == CONCURRENT - (CONCURRENT + 2) / 3, "every other transfer answered whole");
	if (elapsed > 8.0 * LATENCY_MS)
		fprintf(stderr, "%d transfers took %.0f ms at %d ms each\n", CONCURRENT, elapsed, LATENCY_MS);
	CHECK(elapsed <= 8.0 * LATENCY_MS, "the transfers ran together");
#ifdef DFW_CLIENT_HAS_WAKE_FD
	CHECK(client->epoll_fd >= 0, "the epoll set is made once the sockets outgrow a poll()");
#endif
	CHECK(dfw_client_free_slots(client) == DFW_MAX_TRANSFERS, "every slot free again");
	CHECK(dfw_client_step(client, &wait) == 1, "an idle client has nothing to step");
	control(client, "POST", "/_emulator/config", "{\"latency_ms\": 0}");
	free(url);
}

/*
 * check_streamed
 *		The same page read as it arrives (stream_body): the bytes come
 *		only after the status and headers, draining keeps the buffer
 *		small, every byte is counted once, and the cap counts drained
 *		bytes too.
 */
static void
check_streamed(DfwClient *client, const char *url, const char *const *headers,
			   size_t whole_len)
{
	DfwHttpRequest request;
	DfwHttpResponse response;
	DfwTicket	ticket;
	DfwWait		wait;
	size_t		taken = 0;
	int			early = 1;
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		/* the second pass: a cap below the page, met with the buffer drained */
		init_get(&request, url, url, headers, 10000,
				 pass == 0 ? (size_t) 1 << 24 : whole_len / 2);
		request.stream_body = 1;
		dfw_response_init(&response);
		taken = 0;
		CHECK(dfw_client_start(client, &request, &response, &ticket) == DFW_CLIENT_OK,
			  "streamed start");
		while (!dfw_client_finished(client, ticket))
		{
			(void) dfw_client_step(client, &wait);
			if (response.body_len > 0)
			{
				early &= response.headers_done && response.status == 200;
				taken += response.body_len;
				dfw_client_drain(client, &response);
			}
			if (!dfw_client_finished(client, ticket))
				wait_for(&wait);
		}
		if (response.body_len > 0)
			taken += response.body_len;
		if (pass == 0)
		{
			CHECK(dfw_client_collect(client, ticket, &response) == DFW_CLIENT_OK,
				  "streamed transfer");
			CHECK(early, "bytes only after the status and headers");
			CHECK(taken == whole_len && response.body_total == whole_len,
				  "every byte of the page, once");
		}
		else
			CHECK(dfw_client_collect(client, ticket, &response) == DFW_CLIENT_TOO_LARGE,
				  "the cap counts drained bytes");
		dfw_response_free_body(&response);
	}
}

/*
 * check_stream_pause
 *		A streamed answer nobody drains (one requested ahead of its turn)
 *		pauses once stream_hold_bytes wait: it takes no more while paused,
 *		holds at most the hold and one write of libcurl's (16 kB), does not
 *		finish; drained, it goes on, and every byte arrives once.
 */
static void
check_stream_pause(DfwClient *client, const char *url, const char *const *headers,
				   size_t whole_len)
{
	const size_t hold = 2048;
	const size_t most_allowed = hold + 16384;
	DfwHttpRequest request;
	DfwHttpResponse response;
	DfwTicket	ticket;
	DfwWait		wait;
	size_t		taken = 0;
	size_t		most;
	int			paused_once;
	int			i;

	CHECK(whole_len > 2 * most_allowed, "the page is larger than what a paused stream may hold");
	init_get(&request, url, url, headers, 10000, (size_t) 1 << 24);
	request.stream_body = 1;
	request.stream_hold_bytes = hold;
	dfw_response_init(&response);
	CHECK(dfw_client_start(client, &request, &response, &ticket) == DFW_CLIENT_OK,
		  "paused stream: start");

	/* step without draining: the transfer pauses instead of growing */
	for (i = 0; i < 5000 && !response.paused && !dfw_client_finished(client, ticket); i++)
	{
		(void) dfw_client_step(client, &wait);
		if (!response.paused && !dfw_client_finished(client, ticket))
			wait_for(&wait);
	}
	CHECK(response.paused && !dfw_client_finished(client, ticket),
		  "an undrained stream pauses before its end");
	most = response.body_len;
	CHECK(most <= most_allowed, "a paused stream holds at most the hold and one write");
	for (i = 0; i < 50; i++)
		(void) dfw_client_step(client, &wait);
	CHECK(response.body_len == most && !dfw_client_finished(client, ticket),
		  "a paused stream takes no more and does not finish");

	/* drained, it goes on to the end; it may pause again between drains */
	paused_once = 0;
	while (!dfw_client_finished(client, ticket))
	{
		if (response.body_len > most)
			most = response.body_len;
		paused_once |= response.paused;
		taken += response.body_len;
		dfw_client_drain(client, &response);
		(void) dfw_client_step(client, &wait);
		if (!dfw_client_finished(client, ticket) && response.body_len == 0)
			wait_for(&wait);
	}
	taken += response.body_len;
	CHECK(dfw_client_collect(client, ticket, &response) == DFW_CLIENT_OK,
		  "paused stream: the transfer completes after drains");
	CHECK(taken == whole_len && response.body_total == whole_len,
		  "paused stream: every byte of the page, once");
	CHECK(most <= most_allowed, "never more than the hold and one write undrained");
	dfw_response_free_body(&response);
}

int
main(int argc, char **argv)
{
	DfwClient  *client;
	DfwHttpResponse response;
	DfwTokenResponse token;
	DfwGraphError gerr;
	char	   *access;
	char		auth[4096];
	const char *headers[3];
	char	   *url;
	char		encoded[64];
	DfwWait		wait;
	DfwHttpRequest request;

	if (argc != 2 && argc != 4)
	{
		fprintf(stderr, "usage: %s EMULATOR_URL [EMULATOR_TLS_URL CA_FILE]\n", argv[0]);
		return 2;
	}
	base_url = argv[1];
	CHECK(dfw_client_global_init() == 0, "curl_global_init");
	client = dfw_client_create();
	CHECK(client != NULL, "client created");
	if (client == NULL)
		return 1;

	check_origins();

	/* a URL off the request's origin is refused before any I/O */
	{
		DfwHttpResponse refused;
		DfwHttpRequest off;

		dfw_response_init(&refused);
		memset(&off, 0, sizeof(off));
		off.method = "GET";
		off.url = "http://127.0.0.1:1#@127.0.0.1:2/x";
		off.origin = "http://127.0.0.1:1";
		off.user_agent = "defender_fdw/1.0 client_driver";
		CHECK(dfw_client_begin(client, &off, &refused) == DFW_CLIENT_URL_REFUSED,
			  "a fragment is refused before the transfer");
		off.url = "http://127.0.0.1:1/x";
		off.origin = NULL;
		CHECK(dfw_client_begin(client, &off, &refused) == DFW_CLIENT_URL_REFUSED,
			  "a request without an origin is refused");
		dfw_response_free_body(&refused);
	}

	control(client, "POST", "/_emulator/reset", "{\"incidents\": 130, \"seed\": 1}");

	/* a wrong secret: Entra's error, parsed */
	memset(&token, 0, sizeof(token));
	access = get_token(client, "wrong", &token);
	CHECK(access == NULL, "no token for a wrong secret");
	CHECK(token.aadsts == 7000215, "AADSTS7000215 for a wrong secret");
	CHECK(strcmp(token.error, "invalid_client") == 0, "invalid_client");
	dfw_token_response_free(&token);

	/* the right secret */
	memset(&token, 0, sizeof(token));
	access = get_token(client, "test-secret-value", &token);
	CHECK(access != NULL && token.expires_in > 0, "a token");
	dfw_token_response_free(&token);
	if (access == NULL)
		return 1;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", access);
	headers[0] = auth;
	headers[1] = "Accept: application/json";
	headers[2] = NULL;

	/* a page */
	url = url_of(base_url, "/v1.0/security/incidents?$top=50");
	dfw_response_init(&response);
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK,
		  "page transfer");
	CHECK(response.status == 200 && response.body_len > 1000, "a page of incidents");
	CHECK(response.request_id[0] != '\0', "request-id header kept");
	CHECK(strstr(response.body, "@odata.nextLink") != NULL, "a nextLink");

	/* one transfer at a time polls its socket: no epoll set, no epoll_ctl */
	CHECK(client->epoll_fd < 0, "a lone transfer is stepped without an epoll set");
	check_concurrent(client, headers, 0);
	check_concurrent(client, headers, 1);
	check_streamed(client, url, headers, response.body_len);
	check_stream_pause(client, url, headers, response.body_len);

	/* the same response reused: begin frees the previous body */
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK,
		  "second page transfer on the same response");
	dfw_response_free_body(&response);

	/* Graph's error body, parsed; Retry-After read */
	control(client, "POST", "/_emulator/faults",
			"{\"match\": \"/security/incidents\", \"kind\": \"status\", \"status\": 429, \"retry_after\": 7}");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK,
		  "429 transfer");
	CHECK(response.status == 429, "429");
	CHECK(dfw_parse_retry_after(response.retry_after) == 7, "Retry-After: 7");
	dfw_parse_graph_error(response.body, response.body_len, &gerr);
	CHECK(gerr.parsed && strcmp(gerr.code, "TooManyRequests") == 0, "Graph's error code");
	CHECK(gerr.request_id[0] != '\0', "Graph's request-id");
	dfw_response_free_body(&response);

	/* malformed, HTML and empty bodies: transfers succeed, parsing does not */
	control(client, "POST", "/_emulator/faults",
			"[{\"match\": \"/security/incidents\", \"kind\": \"malformed\", \"status\": 500},"
			" {\"match\": \"/security/incidents\", \"kind\": \"html\", \"status\": 502},"
			" {\"match\": \"/security/incidents\", \"kind\": \"empty\", \"status\": 503}]");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK
		  && response.status == 500, "malformed 500");
	dfw_parse_graph_error(response.body, response.body_len, &gerr);
	CHECK(!gerr.parsed, "a malformed body is not Graph's error");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK
		  && response.status == 502, "HTML 502");
	dfw_parse_graph_error(response.body, response.body_len, &gerr);
	CHECK(!gerr.parsed, "an HTML page is not Graph's error");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK
		  && response.status == 503 && response.body_len == 0, "empty 503");
	dfw_parse_graph_error(response.body, response.body_len, &gerr);
	CHECK(!gerr.parsed, "an empty body is not Graph's error");
	dfw_response_free_body(&response);

	/* a body dropped or cut in the middle */
	control(client, "POST", "/_emulator/faults",
			"[{\"match\": \"/security/incidents\", \"kind\": \"truncate\"},"
			" {\"match\": \"/security/incidents\", \"kind\": \"reset\"}]");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_TRANSFER_FAILED,
		  "truncated body");
	CHECK(response.error_message[0] != '\0', "a message for the truncated body");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_TRANSFER_FAILED,
		  "connection reset mid-body");
	dfw_response_free_body(&response);

	/* over the size cap */
	control(client, "POST", "/_emulator/faults",
			"{\"match\": \"/security/incidents\", \"kind\": \"huge\", \"bytes\": 300000}");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 100000, 1, NULL, &response) == DFW_CLIENT_TOO_LARGE,
		  "body over the cap");
	dfw_response_free_body(&response);

	/* headers that never come */
	control(client, "POST", "/_emulator/faults",
			"{\"match\": \"/security/incidents\", \"kind\": \"hang\", \"seconds\": 3}");
	CHECK(run(client, "GET", url, headers, NULL, 1000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_TIMED_OUT,
		  "timeout");
	dfw_response_free_body(&response);

	/* an aborted transfer (what a cancel does), then a clean one */
	control(client, "POST", "/_emulator/faults",
			"{\"match\": \"/security/incidents\", \"kind\": \"hang\", \"seconds\": 3}");
	memset(&request, 0, sizeof(request));
	request.method = "GET";
	request.url = url;
	request.origin = base_url;
	request.headers = headers;
	request.timeout_ms = 10000;
	request.connect_timeout_ms = 10000;
	request.verify_ssl = 1;
	request.max_response_bytes = 1 << 24;
	CHECK(dfw_client_begin(client, &request, &response) == DFW_CLIENT_OK, "begin");
	CHECK(dfw_client_step(client, &wait) == 0, "a transfer under way");
	wait_for(&wait);
	(void) dfw_client_step(client, &wait);
	dfw_client_abort(client);
	dfw_client_abort(client);	/* twice is harmless */
	dfw_response_free_body(&response);
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK
		  && response.status == 200, "a clean request after an abort");
	dfw_response_free_body(&response);
	free(url);

	/* nothing listening; a scheme other than http(s) */
	CHECK(run(client, "GET", "http://127.0.0.1:1/v1.0/security/incidents", headers, NULL, 5000,
			  1 << 24, 1, NULL, &response) == DFW_CLIENT_CONNECT_FAILED, "connection refused");
	dfw_response_free_body(&response);
	CHECK(run(client, "GET", "ftp://127.0.0.1/x", headers, NULL, 5000, 1 << 24, 1, NULL, &response)
		  == DFW_CLIENT_URL_REFUSED, "ftp refused before any transfer");
	dfw_response_free_body(&response);

	/* a redirect is never followed */
	control(client, "POST", "/_emulator/faults",
			"{\"match\": \"/security/alerts_v2\", \"kind\": \"redirect\", \"location\": \"http://127.0.0.1:1/elsewhere\"}");
	url = url_of(base_url, "/v1.0/security/alerts_v2");
	CHECK(run(client, "GET", url, headers, NULL, 10000, 1 << 24, 1, NULL, &response) == DFW_CLIENT_OK
		  && response.status == 302, "a redirect is returned, not followed");
	dfw_response_free_body(&response);
	free(url);

	/* TLS: an unknown certificate fails, ca_file trusts it */
	if (argc == 4)
	{
		url = url_of(argv[2], "/_emulator/config");
		CHECK(run(client, "GET", url, NULL, NULL, 10000, 1 << 20, 1, NULL, &response) == DFW_CLIENT_TLS_FAILED,
			  "self-signed certificate refused");
		dfw_response_free_body(&response);
		CHECK(run(client, "GET", url, NULL, NULL, 10000, 1 << 20, 1, argv[3], &response) == DFW_CLIENT_OK
			  && response.status == 200, "ca_file trusts it");
		dfw_response_free_body(&response);
		CHECK(run(client, "GET", url, NULL, NULL, 10000, 1 << 20, 0, NULL, &response) == DFW_CLIENT_OK
			  && response.status == 200, "verify_ssl off");
		dfw_response_free_body(&response);
		free(url);
	}

	/* the pure helpers */
	CHECK(dfw_url_encode("a b'&/\xc3\xa9", 8, encoded) == strlen("a%20b%27%26%2F%C3%A9")
		  && strcmp(encoded, "a%20b%27%26%2F%C3%A9") == 0, "percent-encoding");
	CHECK(dfw_parse_retry_after("120") == 120, "Retry-After seconds");
	CHECK(dfw_parse_retry_after("soon") == -1, "Retry-After garbage");
	dfw_parse_graph_error("{\"error\": 1}", 12, &gerr);
	CHECK(!gerr.parsed, "an error member of the wrong type");
	memset(&token, 0, sizeof(token));
	dfw_parse_token_response("{\"access_token\": 5}", 19, &token);
	CHECK(token.access_token == NULL, "a token of the wrong type");
	dfw_token_response_free(&token);

	control(client, "DELETE", "/_emulator/faults", NULL);
	dfw_client_destroy(client);
	free(access);
	curl_global_cleanup();

	printf("client_driver: %d checks, %d failed\n", checks, failures);
	return failures == 0 ? 0 : 1;
}
