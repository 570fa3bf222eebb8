/*-------------------------------------------------------------------------
 *
 * hunt_split.c
 *		  An ad-hoc hunting query (defender_hunt(), defender_hunt_split()):
 *		  sent, its answer checked against the caps, and, when the caller
 *		  named a time column, read again in time windows past them.
 *
 * runHuntingQuery answers at most 100,000 rows (and about 50 MB) and may,
 * past that, refuse the query or cut the answer without saying so.  An
 * answer refused as too large, or holding exactly the row cap
 * (hunting_max_rows), is never returned as complete:
 *
 *	- without a time column (defender_hunt()), it is an error, 54000, whose
 *	  hint names defender_hunt_split();
 *	- with one (defender_hunt_split()), the query is read again in the
 *	  half-open time windows of a split hunting table (time_windows.c):
 *	  "<the caller's statements>\n | where <window on the column>", one
 *	  request each, a window still too large halved, so that the windows
 *	  together are exactly the query's rows.
 *
 * The window's where goes after the caller's last statement, so that
 * statement must end in rows that each have their own time: what cannot
 * be split exactly (a take or sample anywhere, a sort, top, summarize,
 * count ... at the end) is refused before anything is sent
 * (adhoc_refusal).  Every window sends the whole query's Timespan, not one
 * of its own: the time column of a result need not be the Timestamp a
 * Timespan filters on, and a join's other side must see all of it.
 * Called by src/functions/hunt_function.c; sends through
 * src/remote/request.c, reads the answers with hunting_result.c.
 * See "Ad-hoc queries past the caps" in doc/hunting.md.
 *
 * src/scan/hunt_split.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "scan_state.h"
#include "hunting_scan.h"

/* What one request of an ad-hoc query came back with. */
typedef enum AdhocOutcome
{
	ADHOC_DONE,					/* its rows are in the store */
	ADHOC_TOO_LARGE				/* refused as too large, or exactly the cap */
} AdhocOutcome;

/* The shape of the caller's KQL, as far as it can be read without a parser */
typedef struct AdhocShape
{
	int			end;			/* length without the trailing ";", blanks,
								 * comments */
	char		last_op[32];	/* the last statement's last operator, or "" */
	char		picks[32];		/* a take, limit or sample anywhere, or "" */
} AdhocShape;

/* The last operators whose result is refused, and why (as a detail). */
static const struct
{
	const char *op;
	const char *why;
} refused_endings[] = {
	{"sort", "it orders the rows, and the windows return them window by window"},
	{"order", "it orders the rows, and the windows return them window by window"},
	{"top", "it orders the rows, and the windows return them window by window"},
	{"top-nested", "its rows are aggregates, not rows with a time of their own"},
	{"top-hitters", "its rows are aggregates, not rows with a time of their own"},
	{"summarize", "its rows are aggregates, not rows with a time of their own"},
	{"count", "its row is a count, not rows with a time of their own"},
	{"distinct", "its rows are aggregates, not rows with a time of their own"},
	{"make-series", "its rows are aggregates, not rows with a time of their own"},
	{"reduce", "its rows are aggregates, not rows with a time of their own"},
	{"facet", "its result is several tables"},
	{"fork", "its result is several tables"},
	{"render", "it draws a chart"},
	{"evaluate", "a plugin's result cannot be told to be rows with a time of their own"},
	{"scan", "its rows depend on the rows before them"},
	{"partition", "its subquery's result cannot be told to be rows with a time of their own"},
	{"getschema", "its rows are the columns of the result"},
	{NULL, NULL}
};

/*
 * read_operator
 *		The operator name after a "|" at text[i] (letters, digits, "_" and
 *		"-"), lower-cased into out; returns where it ends.
 */
static int
read_operator(const char *text, int i, char *out, size_t outlen)
{
	size_t		n = 0;

	while (text[i] && isspace((unsigned char) text[i]))
		i++;
	while (text[i] && (isalnum((unsigned char) text[i]) || text[i] == '_' || text[i] == '-'))
	{
		if (n + 1 < outlen)
			out[n++] = (char) tolower((unsigned char) text[i]);
		i++;
	}
	out[n] = '\0';
	return i;
}

/*
 * read_shape
 *		A lexer's reading of the caller's KQL: strings (quoted, verbatim @"",
 *		multi-line ```) and // comments skipped, brackets counted, the
 *		operators after each "|" looked at.  Enough to see how the last
 *		statement ends and whether anything picks arbitrary rows; a name
 *		that hides such an operator (a stored function) is not seen.
 */
static void
read_shape(const char *text, AdhocShape *shape)
{
	int			i = 0;
	int			depth = 0;
	bool		new_statement = false;
	char		op[32];

	memset(shape, 0, sizeof(*shape));
	while (text[i])
	{
		char		c = text[i];

		if (isspace((unsigned char) c))
		{
			i++;
			continue;
		}
		if (c == '/' && text[i + 1] == '/')
		{
			while (text[i] && text[i] != '\n')
				i++;
			continue;
		}
		if (c == ';' && depth == 0)
		{
			/* a statement ends; a trailing ";" starts none */
			new_statement = true;
			i++;
			continue;
		}
		if (new_statement)
		{
			shape->last_op[0] = '\0';
			new_statement = false;
		}
		if (c == '`' && strncmp(text + i, "```", 3) == 0)
		{
			const char *close = strstr(text + i + 3, "```");

			i = close ? (int) (close - text) + 3 : (int) strlen(text);
			shape->end = i;
			continue;
		}
		if (c == '"' || c == '\'' ||
			((c == '@' || c == 'h' || c == 'H') && (text[i + 1] == '"' || text[i + 1] == '\'')))
		{
			bool		verbatim = (c == '@');
			char		quote;

			if (c != '"' && c != '\'')
				i++;
			quote = text[i++];
			while (text[i] && text[i] != quote)
			{
				if (!verbatim && text[i] == '\\' && text[i + 1])
					i++;
				i++;
			}
			if (text[i])
				i++;
			shape->end = i;
			continue;
		}
		if (c == '(' || c == '[' || c == '{')
			depth++;
		else if ((c == ')' || c == ']' || c == '}') && depth > 0)
			depth--;
		else if (c == '|')
		{
			int			next = read_operator(text, i + 1, op, sizeof(op));

			if (strcmp(op, "take") == 0 || strcmp(op, "limit") == 0 ||
				strcmp(op, "sample") == 0 || strcmp(op, "sample-distinct") == 0)
				strlcpy(shape->picks, op, sizeof(shape->picks));
			if (depth == 0)
				strlcpy(shape->last_op, op, sizeof(shape->last_op));
			i = next;
			shape->end = i;
			continue;
		}
		i++;
		shape->end = i;
	}
}

/*
 * adhoc_refusal
 *		Check that the query's rows can be read in time windows exactly;
 *		raise the error when they cannot.  Returns the query without what
 *		ends it (trailing ";", blanks and comments), the source of every
 *		window.
 */
static char *
adhoc_refusal(const char *query, const char *fname)
{
	AdhocShape shape;
	int			k;

	read_shape(query, &shape);
	if (shape.end == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of %s() is empty", fname)));
	if (shape.picks[0])
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the query of %s() cannot be split into time windows exactly: it uses \"%s\"",
						fname, shape.picks),
				 errdetail("\"%s\" picks arbitrary rows, and each window would pick its own.",
						   shape.picks),
				 errhint("Use LIMIT in SQL over %s(), or defender_hunt() for a query whose answer is within the caps.",
						 fname)));
	for (k = 0; refused_endings[k].op; k++)
	{
		if (strcmp(shape.last_op, refused_endings[k].op) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the query of %s() cannot be split into time windows exactly: it ends in \"%s\"",
							fname, shape.last_op),
					 errdetail("A window is a where on the time column after the query's last statement, which must end in rows that each have their own time; \"%s\" does not: %s.",
							   shape.last_op, refused_endings[k].why),
					 errhint("Sort or aggregate in SQL over the rows %s() returns, or use defender_hunt() for a query whose answer is within the caps.",
							 fname)));
	}
	return pnstrdup(query, shape.end);
}

/*
 * adhoc_begin_parse
 *		A parser putting an answer's rows in store as the function returns
 *		them: typed columns, or each row whole (the _jsonb form).
 */
static DefenderHuntingParser *
adhoc_begin_parse(DefenderAdhocHunt *hunt, Tuplestorestate *store, const char *display)
{
	if (hunt->columns == NULL)
		return defender_hunting_begin_rows(hunt->desc, store, display, hunt->fname);
	return defender_hunting_begin(hunt->desc, hunt->columns, hunt->ncolumns,
								  hunt->attnos, store, display, hunt->fname);
}

/*
 * adhoc_stream
 *		Send the request and read a 2xx answer as it arrives, parsing it into
 *		store, so that the answer (up to the service's 50 MB) is never held
 *		whole: NULL when its rows are in store, *nrows of them.  Otherwise
 *		the whole answer to read as before: a 400, an empty body, or the
 *		request sent again whole (a 401, a 429, a transfer broken on the
 *		way; no row has left yet, the function returns them at its end).
 */
static DefenderResponse *
adhoc_stream(DefenderAdhocHunt *hunt, const char *url, const char *display,
			 const char *body, Tuplestorestate *store, int64 *nrows)
{
	DefenderBodyStream *stream = defender_stream_start(hunt->opts, hunt->opts->graph_url,
													   "POST", url, display, body, true);
	DefenderHuntingParser *parser;
	DefenderResponse *response;
	const char *data;
	size_t		len;

	if (!defender_stream_next(stream, &data, &len))
	{
		/* no byte of a 2xx answer: an error, a 400, or an empty body */
		response = defender_stream_finish(stream, true);
		if (response != NULL)
			return response;
		return defender_stream_resend(stream, DEFENDER_ALLOW_BAD_REQUEST);
	}
	parser = adhoc_begin_parse(hunt, store, display);
	defender_hunting_feed(parser, data, len);
	return defender_hunting_read_rest(stream, parser, store, nrows);
}

/*
 * adhoc_send
 *		Send one request of the query (w NULL: the whole query) and put its
 *		rows in store.  ADHOC_TOO_LARGE, with the store emptied, when Graph
 *		refused the result as too large or answered exactly the row cap (so
 *		possibly cut); what said so in *too_large.  Any other failure,
 *		including a 400 and a throttling that does not end, is raised.
 */
static AdhocOutcome
adhoc_send(DefenderAdhocHunt *hunt, const char *source, const HuntWindow *w,
		   Tuplestorestate *store, char **too_large, int64 *nrows)
{
	const DefenderOptions *opts = hunt->opts;
	DefenderKqlRequest req;
	StringInfoData kql;
	char	   *display;
	char	   *url = defender_resource_url(opts, "hunting", "POST", &display);
	char	   *body;
	DefenderResponse *response;

	memset(&req, 0, sizeof(req));
	req.source = source;
	req.source_is_statements = true;
	if (w)
		defender_window_request(&req, hunt->time_column, w);
	initStringInfo(&kql);
	if (w == NULL)
		appendStringInfoString(&kql, hunt->query);	/* as defender_hunt() always sent it */
	else
		(void) defender_deparse_kql(&kql, &req, NULL);
	body = defender_hunting_request_body(kql.data, hunt->timespan);
	if (opts->cache_ttl == 0)
	{
		/* read as it arrives (the cache keeps whole answers) */
		response = adhoc_stream(hunt, url, display, body, store, nrows);
	}
	else
		response = defender_api_request(opts, opts->graph_url, "POST", url, display, body,
										DEFENDER_CACHEABLE | DEFENDER_ALLOW_BAD_REQUEST);
	if (response != NULL && response->http.status == 400)
	{
		DfwGraphError err;
		char	   *request_id;
		char	   *excerpt = NULL;

		dfw_parse_graph_error(response->http.body, response->http.body_len, &err);
		request_id = pstrdup(response->http.request_id[0] ? response->http.request_id :
							 (err.request_id[0] ? err.request_id : "none"));

		/*
		 * A 400 without Graph's error code (a gateway's HTML page, a proxy's
		 * text, JSON of another shape) has no code or message to show: say
		 * what the body was instead, as defender_report_api_error does, and
		 * before the body is released.  Not when its message still says
		 * the result was too large: that is split below.
		 */
		if (err.code[0] == '\0' && !defender_hunting_too_large(&err))
			excerpt = defender_body_excerpt(opts, &response->http);
		defender_response_release(response);
		/* any other 400 reads as every request's does (connection.c) */
		if (excerpt)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
					 w ? errmsg("Microsoft Graph rejected the request of time window %s",
								defender_time_window_text(hunt->time_column, w)) :
					 errmsg("Microsoft Graph rejected the request"),
					 errdetail("HTTP 400, not a Graph JSON error (no error code): %s (request-id %s).",
							   excerpt, defender_display_text(request_id)),
					 errcontext("remote request: %s", display)));
		if (!defender_hunting_too_large(&err))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
					 w ? errmsg("Microsoft Graph rejected the request of time window %s",
								defender_time_window_text(hunt->time_column, w)) :
					 errmsg("Microsoft Graph rejected the request"),
					 errdetail("HTTP 400, error code \"%s\": %s (request-id %s, client-request-id %s).",
							   defender_display_text(err.code),
							   defender_display_text(defender_redact(opts, err.message)),
							   defender_display_text(request_id),
							   err.client_request_id[0] ?
							   defender_display_text(err.client_request_id) : "none"),
					 w ? errhint("A window is the query followed by a where on %s: name a datetime column of its result.",
								 hunt->time_column) : 0,
					 errcontext("remote request: %s", display)));
		*too_large = psprintf("Microsoft Graph refused it as too large: error code \"%s\": %s (request-id %s)",
							  err.code, defender_redact(opts, err.message),
							  err.request_id[0] ? err.request_id : "none");
		return ADHOC_TOO_LARGE;
	}
	if (response != NULL)
	{
		/* a whole answer (cached, or sent again whole): its rows */
		DefenderHuntingParser *parser = adhoc_begin_parse(hunt, store, display);

		defender_hunting_feed_last(parser, response->http.body, response->http.body_len);
		*nrows = defender_hunting_finish(parser);
		defender_response_release(response);
	}
	if (*nrows >= opts->hunting_max_rows)
	{
		tuplestore_clear(store);
		*too_large = psprintf("The answer holds exactly the row cap (" INT64_FORMAT " rows, option \"hunting_max_rows\"), so the service may have cut it",
							  *nrows);
		return ADHOC_TOO_LARGE;
	}
	elog(DEBUG1, "defender_fdw: %s() %s%s: " INT64_FORMAT " rows", hunt->fname,
		 w ? "window " : "query", w ? defender_time_window_text(hunt->time_column, w) : "", *nrows);
	return ADHOC_DONE;
}

/*
 * count_rows
 *		How many rows the whole query answers: "<statements>\n | count",
 *		one number whatever the caps, to size the windows.
 */
static int64
count_rows(DefenderAdhocHunt *hunt, const char *source)
{
	DefenderKqlRequest req;
	StringInfoData kql;

	memset(&req, 0, sizeof(req));
	req.source = source;
	req.source_is_statements = true;
	req.count_rows = true;
	initStringInfo(&kql);
	(void) defender_deparse_kql(&kql, &req, NULL);
	return defender_hunting_send_count(hunt->opts, kql.data, hunt->timespan, NULL);
}

/* The error of an ad-hoc answer past the caps that is not split. */
static void
refuse_adhoc(DefenderAdhocHunt *hunt, const char *refusal, const char *why)
{
	char	   *display;

	(void) defender_resource_url(hunt->opts, "hunting", "POST", &display);
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("the answer of %s() is past the service's caps", hunt->fname),
			 errdetail("%s; %s.  The request: %s with Timespan %s and the query: %s",
					   refusal, why, display,
					   hunt->timespan ? hunt->timespan : "(the API's default)",
					   defender_redact(hunt->opts, hunt->query)),
			 errhint(hunt->time_column == NULL ?
					 "Use defender_hunt_split(query, time_column) to read it in time windows of a datetime column of the result, or add conditions, a take or a summarize." :
					 "Add conditions to the query, or see \"Ad-hoc queries past the caps\" in doc/hunting.md."),
			 errcontext("remote request: %s", display)));
}

/* Append the rows of from to to. */
static void
copy_rows(Tuplestorestate *from, Tuplestorestate *to, TupleTableSlot *slot)
{
	tuplestore_rescan(from);
	while (tuplestore_gettupleslot(from, true, false, slot))
		tuplestore_puttupleslot(to, slot);
	ExecClearTuple(slot);
}

/*
 * split_adhoc
 *		Read the query again in time windows into hunt->store: the span
 *		from the Timespan's start (or the 30-day horizon) to now, the first
 *		and last windows open (the time column of a result may lie
 *		anywhere), a window of the rows without a time last; sized by
 *		hunting_window or by a count; a window still too large halved, up
 *		to hunting_max_windows.
 */
static void
split_adhoc(DefenderAdhocHunt *hunt, const char *source, char *refusal)
{
	const DefenderOptions *opts = hunt->opts;
	HuntWindowPlan plan;
	List	   *pending;
	int			windows;
	int64		count = 0;
	MemoryContext window_cxt;
	MemoryContext old;
	TupleTableSlot *slot;

	if (!opts->hunting_split)
		refuse_adhoc(hunt, refusal, "option \"hunting_split\" is off");

	memset(&plan, 0, sizeof(plan));
	defender_window_span(&plan, hunt->span_start, PG_INT64_MAX);
	plan.open_lo = true;

	/*
	 * Windows of hunting_window start on a multiple of it (since
	 * 2000-01-01 UTC): on the hour for hours, at midnight for days, the
	 * same edges from one call to the next.  The first window is open
	 * below, so moving its start down loses nothing.
	 */
	if (opts->hunting_window > 0)
	{
		int64		r = plan.lo % opts->hunting_window;

		plan.lo -= (r < 0) ? r + opts->hunting_window : r;
	}
	if (opts->hunting_window <= 0)
		count = count_rows(hunt, source);
	defender_window_number(&plan, opts->hunting_window, count, opts->hunting_max_rows);
	plan.nulls_window = true;
	pending = defender_make_windows(&plan);
	windows = list_length(pending);
	if (windows > opts->hunting_max_windows)
	{
		char	   *display;

		(void) defender_resource_url(opts, "hunting", "POST", &display);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the answer of %s() needs %d time windows, more than hunting_max_windows (%d)",
						hunt->fname, windows, opts->hunting_max_windows),
				 errdetail("%s.", refusal),
				 errhint("Raise the server option \"hunting_max_windows\", pass a shorter timespan, or add conditions on %s.",
						 hunt->time_column),
				 errcontext("remote request: %s", display)));
	}
	elog(DEBUG1, "defender_fdw: %s() past the caps (%s): %d time windows on %s",
		 hunt->fname, refusal, windows, hunt->time_column);

	slot = MakeSingleTupleTableSlot(hunt->desc, &TTSOpsMinimalTuple);
	window_cxt = AllocSetContextCreate(CurrentMemoryContext, "defender_hunt_split window",
									   ALLOCSET_DEFAULT_SIZES);
	while (pending != NIL)
	{
		HuntWindow *w = (HuntWindow *) linitial(pending);
		Tuplestorestate *rows;
		int64		nrows = 0;
		char	   *too_large = NULL;
		AdhocOutcome outcome;

		CHECK_FOR_INTERRUPTS();
		pending = list_delete_first(pending);
		old = MemoryContextSwitchTo(window_cxt);
		/* a queue into hunt->store: see DEFENDER_WINDOW_STORE_KB */
		rows = tuplestore_begin_heap(false, false, Min(work_mem, DEFENDER_WINDOW_STORE_KB));
		outcome = adhoc_send(hunt, source, w, rows, &too_large, &nrows);
		if (outcome == ADHOC_DONE)
			copy_rows(rows, hunt->store, slot);
		tuplestore_end(rows);
		if (too_large)
		{
			MemoryContextSwitchTo(old);
			refusal = pstrdup(too_large);
			old = MemoryContextSwitchTo(window_cxt);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(window_cxt);
		if (outcome == ADHOC_DONE)
			continue;

		/* too large: halve it */
		if (windows + 1 > opts->hunting_max_windows ||
			!defender_halve_window(&pending, w, false))
		{
			char	   *display;

			(void) defender_resource_url(opts, "hunting", "POST", &display);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the answer of %s() is past the service's caps even in time windows",
							hunt->fname),
					 errdetail("%s: window %s, after %d windows.", refusal,
							   defender_time_window_text(hunt->time_column, w), windows),
					 errhint(w->nulls || w->hi - w->lo < 2 ?
							 "The rows of one instant cannot be split further: add conditions on other columns." :
							 "Raise the server option \"hunting_max_windows\", or add conditions on the time column."),
					 errcontext("remote request: %s", display)));
		}
		windows++;
	}
	MemoryContextDelete(window_cxt);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * defender_run_adhoc_hunt
 *		Run the caller's query into hunt->store: one request, and when its
 *		answer is past the caps, the error (no time column) or the time
 *		windows.  The query's shape is checked before anything is sent
 *		when it is to be split.
 */
void
defender_run_adhoc_hunt(DefenderAdhocHunt *hunt)
{
	char	   *source = NULL;
	char	   *too_large = NULL;
	int64		nrows = 0;

	if (hunt->time_column)
		source = adhoc_refusal(hunt->query, hunt->fname);
	hunt->span_start = PG_INT64_MIN;
	if (hunt->span > 0)
	{
		StringInfoData buf;

		/* one start for the query and all its windows: the same rows */
		hunt->span_start = defender_now_ticks() - hunt->span;
		initStringInfo(&buf);
		defender_append_ticks(&buf, hunt->span_start);
		hunt->timespan = buf.data;
	}
	if (adhoc_send(hunt, source, NULL, hunt->store, &too_large, &nrows) == ADHOC_DONE)
		return;
	if (hunt->time_column == NULL)
		refuse_adhoc(hunt, too_large, psprintf("%s() returns no partial answer", hunt->fname));
	split_adhoc(hunt, source, too_large);
}
