/*-------------------------------------------------------------------------
 *
 * time_windows.c
 *		  Time windows of a hunting result past the service's caps, for a
 *		  hunting table and an ad-hoc query alike.
 *
 * A result refused as too large, or answered with exactly the row cap
 * (so possibly cut), is read again in half-open windows [lo, hi) of 100 ns
 * ticks on a time column, so that the windows together are exactly the
 * query.  Here is what does not depend on who asks: the span the windows
 * cover (the query's bounds clipped to the 30-day horizon, open at either
 * end where there is none), how many windows (hunting_window, or a count
 * of the rows), the windows themselves, a window halved when it is still
 * too large, its KQL bounds (written by deparse_kql.c), its Timespan, its
 * text in messages, and whether a 400 is the service's refusal of a
 * result past the caps.  Called by hunting_windows.c and hunting_scan.c
 * (a split hunting table) and hunt_split.c (defender_hunt_split()).
 *
 * src/scan/time_windows.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "time_windows.h"

/* The clock in ticks (100 ns since 2000-01-01, as the KQL writer counts). */
int64
defender_now_ticks(void)
{
	return (int64) GetCurrentTimestamp() * 10;
}

/*
 * defender_window_span
 *		The span the windows cover: the query's own bounds lo and hi
 *		(PG_INT64_MIN, PG_INT64_MAX where there is none), clipped to the
 *		30-day horizon as this clock sees it.  Where the query has no bound
 *		(or one past the horizon) the first or last window stays open, so
 *		no row the whole query could see is outside every window.
 *
 * An upper bound later than now counts as none: the rows are spread over
 * the days up to now, and windows cut evenly up to a bound years ahead
 * (WHERE ts < '9000-01-01') would put them all in the first window and
 * halve it until hunting_max_windows.  The query's own condition still
 * goes with every window, so the open last window adds no row.
 */
void
defender_window_span(HuntWindowPlan *plan, int64 lo, int64 hi)
{
	int64		now = defender_now_ticks();

	plan->open_lo = (lo == PG_INT64_MIN || lo < now - HUNTING_HORIZON_TICKS);
	if (plan->open_lo)
		lo = now - HUNTING_HORIZON_TICKS;
	plan->open_hi = (hi == PG_INT64_MAX || hi > now);
	if (plan->open_hi)
		hi = Max(now, lo) + TICKS_PER_SECOND;
	if (hi - lo < 2)
		lo = hi - 2;
	plan->lo = lo;
	plan->hi = hi;
}

/*
 * defender_window_number
 *		How many windows the span starts with: of width when set (the
 *		option hunting_window), else as many as make each hold three
 *		quarters of the row cap if the count rows were spread evenly.  At
 *		least two, and each at least a tick wide.
 */
void
defender_window_number(HuntWindowPlan *plan, int64 width, int64 count, int max_rows)
{
	int64		n;

	plan->width = width;
	if (width > 0)
		n = (plan->hi - plan->lo + width - 1) / width;
	else
	{
		int64		per_window = Max((int64) max_rows * 3 / 4, 1);

		n = (count + per_window - 1) / per_window;
	}
	n = Max(n, 2);
	plan->n = Min(n, plan->hi - plan->lo);
}

/* A new window, palloc'd in the current memory context. */
static HuntWindow *
new_window(int64 lo, int64 hi, bool open_lo, bool open_hi, bool nulls)
{
	HuntWindow *w = palloc0(sizeof(HuntWindow));

	w->lo = lo;
	w->hi = hi;
	w->open_lo = open_lo;
	w->open_hi = open_hi;
	w->nulls = nulls;
	return w;
}

/*
 * defender_make_windows
 *		The windows of the plan, in the order they are read (latest first
 *		when descending), with the window of nulls first or last; a List of
 *		HuntWindow in the current memory context.
 */
List *
defender_make_windows(const HuntWindowPlan *plan)
{
	List	   *windows = NIL;
	int64		lo = plan->lo;
	int64		hi = plan->hi;
	int64		n = plan->n;
	int64		k;

	for (k = 0; k < n; k++)
	{
		int64		a;
		int64		b;
		HuntWindow *w;

		if (plan->width > 0)
		{
			a = lo + k * plan->width;
			b = (k == n - 1) ? hi : a + plan->width;
		}
		else
		{
			a = lo + (int64) ((double) (hi - lo) * k / n);
			b = (k == n - 1) ? hi : lo + (int64) ((double) (hi - lo) * (k + 1) / n);
		}
		w = new_window(a, b, plan->open_lo && k == 0, plan->open_hi && k == n - 1, false);
		windows = plan->descending ? lcons(w, windows) : lappend(windows, w);
	}
	if (plan->nulls_window)
	{
		HuntWindow *w = new_window(0, 0, false, false, true);

		windows = plan->nulls_first ? lcons(w, windows) : lappend(windows, w);
	}
	return windows;
}

/*
 * defender_halve_window
 *		Put the two halves of w at the head of *pending, in the order they
 *		are read; false when w cannot be halved (the window of nulls, or
 *		one less than two ticks wide).  Allocates in the current memory
 *		context, which must be the one *pending lives in.
 */
bool
defender_halve_window(List **pending, const HuntWindow *w, bool descending)
{
	int64		mid;
	HuntWindow *a;
	HuntWindow *b;

	if (w->nulls || w->hi - w->lo < 2)
		return false;
	mid = w->lo + (w->hi - w->lo) / 2;
	a = new_window(w->lo, mid, w->open_lo, false, false);
	b = new_window(mid, w->hi, false, w->open_hi, false);
	if (descending)
		*pending = lcons(b, lcons(a, *pending));
	else
		*pending = lcons(a, lcons(b, *pending));
	return true;
}

/* A window's bounds as text, "start/end" in ISO 8601 ticks, for messages. */
char *
defender_time_window_text(const char *column, const HuntWindow *w)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (w->nulls)
	{
		appendStringInfo(&buf, "%s is null", column);
		return buf.data;
	}
	if (w->open_lo)
		appendStringInfoString(&buf, "..");
	else
		defender_append_ticks(&buf, w->lo);
	appendStringInfoChar(&buf, '/');
	if (w->open_hi)
		appendStringInfoString(&buf, "..");
	else
		defender_append_ticks(&buf, w->hi);
	return buf.data;
}

/*
 * defender_window_timespan
 *		A window's own Timespan, for a caller that knows its time column is
 *		the one Timespan filters on (a table's Timestamp); whole for the
 *		window of nulls.
 *
 * An open first window starts a day before the 30-day horizon as this
 * clock sees it (the service clips it to its own); an open last one runs
 * to the service's now ("start" alone).  The bounds are inclusive in
 * Timespan, so a row on the window's upper edge is let through and left
 * out by the where, which is half-open.
 */
char *
defender_window_timespan(const HuntWindow *w, const char *whole)
{
	StringInfoData buf;
	int64		now = defender_now_ticks();

	if (w->nulls)
		return (char *) whole;
	initStringInfo(&buf);
	defender_append_ticks(&buf, w->open_lo ? Min(w->lo, now - HUNTING_HORIZON_TICKS - TICKS_PER_DAY) :
						  w->lo);
	if (!w->open_hi)
	{
		appendStringInfoChar(&buf, '/');
		defender_append_ticks(&buf, w->hi);
	}
	return buf.data;
}

/*
 * defender_window_request
 *		Set the window of a KQL request: its bounds on column, or the rows
 *		where column is null.
 */
void
defender_window_request(DefenderKqlRequest *req, const char *column, const HuntWindow *w)
{
	req->window_column = column;
	req->window_nulls = w->nulls;
	req->window.test = w->open_lo ? (w->open_hi ? TICKS_ALL : TICKS_LT) :
		(w->open_hi ? TICKS_GE : TICKS_IN);
	req->window.lo = w->lo;
	req->window.hi = w->hi;
}

/*
 * defender_hunting_too_large
 *		Is Graph's 400 the refusal of a result past a cap?  Kusto's
 *		E_QUERY_RESULT_SET_TOO_LARGE (rows), or the "Result size limit
 *		exceeded" text (bytes), as the reference records them.
 */
bool
defender_hunting_too_large(const DfwGraphError *err)
{
	return strstr(err->message, "E_QUERY_RESULT_SET_TOO_LARGE") != NULL ||
		strstr(err->message, "Result size limit exceeded") != NULL;
}
