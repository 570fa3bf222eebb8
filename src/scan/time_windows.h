/*-------------------------------------------------------------------------
 *
 * time_windows.h
 *		  Time windows of a hunting result past the service's caps: what a
 *		  split hunting table (hunting_windows.c) and a split ad-hoc query
 *		  (hunt_split.c) share.
 *
 * Included inside src/scan/ only.
 *
 * src/scan/time_windows.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_TIME_WINDOWS_H
#define DEFENDER_TIME_WINDOWS_H

#include "nodes/pg_list.h"

#include "defender_client.h"
#include "defender_plan.h"

#define TICKS_PER_SECOND INT64CONST(10000000)
#define TICKS_PER_DAY (INT64CONST(86400) * TICKS_PER_SECOND)

/* The data runHuntingQuery sees: the last 30 days */
#define HUNTING_HORIZON_TICKS (30 * TICKS_PER_DAY)

/*
 * One time window of a split scan: the rows whose time column is in
 * [lo, hi), in 100 ns ticks.  The first window also takes every earlier
 * time and the last every later one when the query itself does not bound
 * them (open_lo, open_hi), so that the windows together are exactly the
 * query.  A window of nulls holds the rows without a time instead.
 */
typedef struct HuntWindow
{
	int64		lo;
	int64		hi;
	bool		open_lo;
	bool		open_hi;
	bool		nulls;
} HuntWindow;

/* The span the windows of a split cover, and how many to start with. */
typedef struct HuntWindowPlan
{
	int64		lo;
	int64		hi;
	bool		open_lo;
	bool		open_hi;
	int64		width;			/* hunting_window, 0: n equal windows */
	int64		n;				/* windows of the span */
	bool		descending;		/* read latest first */
	bool		nulls_window;	/* one more window: the rows without a time */
	bool		nulls_first;	/* ... read first */
} HuntWindowPlan;

extern int64 defender_now_ticks(void);
extern void defender_window_span(HuntWindowPlan *plan, int64 lo, int64 hi);
extern void defender_window_number(HuntWindowPlan *plan, int64 width, int64 count,
								   int max_rows);
extern List *defender_make_windows(const HuntWindowPlan *plan);
extern bool defender_halve_window(List **pending, const HuntWindow *w, bool descending);
extern char *defender_time_window_text(const char *column, const HuntWindow *w);
extern char *defender_window_timespan(const HuntWindow *w, const char *whole);
extern void defender_window_request(DefenderKqlRequest *req, const char *column,
									const HuntWindow *w);
extern bool defender_hunting_too_large(const DfwGraphError *err);

#endif							/* DEFENDER_TIME_WINDOWS_H */
