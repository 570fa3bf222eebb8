/*-------------------------------------------------------------------------
 *
 * hunting_scan.h
 *		  What the three files of a hunting scan share, and nothing else
 *		  includes.
 *
 * hunting_source.c hands out the rows (the row source of scan_state.h);
 * it sends the query through hunting_scan.c (one request and its answer)
 * and, when the result is past the service's caps, reads it again in
 * time windows through hunting_windows.c, which sends each window through
 * hunting_scan.c too.  The calls go that way only: source, windows,
 * request.  hunt_split.c (an ad-hoc query) reads a "| count" with
 * defender_hunting_row_count too.
 *
 * src/scan/hunting_scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_HUNTING_SCAN_H
#define DEFENDER_HUNTING_SCAN_H

#include "scan_state.h"
#include "time_windows.h"

/*
 * The memory a window's rows may take in a tuplestore before it spills to
 * a temporary file, in kB (or work_mem, when smaller).  A window's rows
 * wait in a store only until its answer has ended and been checked
 * against the row cap, and are then read once, in order: the store is a
 * queue, not a sort, and keeping work_mem of them in memory buys nothing
 * (bench section 8: the same time at 64 kB as at 4 MB, the file staying in
 * the kernel's cache), while a window's answer is what issue 17 bounds a
 * split scan's memory by.  The same as the hold of an answer sent ahead
 * (DEFENDER_STREAM_HOLD_BYTES in request.c).  Used by the scan's store
 * (hunting_scan.c) and by defender_hunt_split()'s window store
 * (hunt_split.c).
 */
#define DEFENDER_WINDOW_STORE_KB 256

/* The answer to one request of a hunting scan (defender_send_hunt). */
typedef enum HuntOutcome
{
	HUNT_DONE,					/* rows in the store, a count, or nothing to ask */
	HUNT_REJECTED,				/* a 400 the scan falls back from */
	HUNT_TOO_LARGE				/* past the caps: refused, or exactly at the
								 * row cap and so possibly cut */
} HuntOutcome;

/* A hunting scan split into windows: state->split. */
typedef struct DefenderHuntSplit
{
	List	   *pending;		/* HuntWindow *, in the order they are sent */
	int			windows;		/* windows made so far, sent or pending */
	bool		descending;		/* ORDER BY the time column DESC */
	bool		narrow_timespan;	/* each window sends its own Timespan */
	int64		rows_before;	/* rows the windows read so far returned */
	char	   *refusal;		/* why the last query or window was too large */
	struct HuntAhead *ahead;	/* the next window's request, sent while
								 * this one is read, or NULL (hunting_scan.c) */
} DefenderHuntSplit;

/*
 * An answer read as it arrives whose rows leave before its end
 * (state->hunt_stream): the request, the parser that puts its rows in the
 * store, and the window it answers (NULL: the whole query).
 */
typedef struct HuntStream
{
	DefenderBodyStream *stream;
	DefenderHuntingParser *parser;
	HuntWindow *w;
	char	   *kql;
	char	   *display;
} HuntStream;

/* hunting_scan.c: one request, the whole query's or one window's */
extern HuntOutcome defender_send_hunt(ForeignScanState *node, DefenderScanState *state,
									  const HuntWindow *w, char **too_large);
extern bool defender_hunt_stream_more(ForeignScanState *node, DefenderScanState *state);
extern int64 defender_hunting_take(DefenderScanState *state);
extern void defender_hunting_time_bounds(DefenderScanState *state, int64 *lo, int64 *hi);
extern char *defender_hunting_timespan(DefenderScanState *state);
extern int64 defender_hunting_row_count(DefenderResponse *response, const char *display,
										int64 max, bool split_windows);
extern DefenderResponse *defender_hunting_read_rest(DefenderBodyStream *stream,
													 DefenderHuntingParser *parser,
													 Tuplestorestate *store, int64 *nrows);
extern int64 defender_hunting_send_count(const DefenderOptions *opts, const char *kql,
										 const char *timespan, bool *sent);

/* hunting_windows.c: a result past the caps, read again in time windows */
extern char *defender_window_text(DefenderScanState *state, const HuntWindow *w);
extern void defender_refuse_too_large(DefenderScanState *state, const char *why,
									  const char *refusal, const char *display);
extern void defender_start_split(ForeignScanState *node, DefenderScanState *state,
								 const char *refusal);
extern bool defender_next_window(ForeignScanState *node, DefenderScanState *state);

#endif							/* DEFENDER_HUNTING_SCAN_H */
