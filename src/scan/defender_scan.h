/*-------------------------------------------------------------------------
 *
 * defender_scan.h
 *		  Where responses become rows, and rows become PATCHes.
 *
 * foreign_scan.c runs the scan callbacks (begin, iterate, rescan, end,
 * explain); list_scan.c runs a list scan (pages, lookups by id, count(*))
 * and hunting_source.c a hunting scan, whose request hunting_scan.c sends
 * (its body is shared with defender_hunt() and IMPORT) and
 * hunting_windows.c splits into time windows past the caps; row_source.c
 * hands out the rows of either through one row-source interface (the 400
 * fallback, the local recheck, OFFSET and LIMIT); hunting_result.c streams
 * a runHuntingQuery response into a tuplestore (json_scanner.c reads its
 * JSON chunk by chunk, hunting_values.c turns each field into a Datum);
 * convert.c turns JSON values into Datums by column type; modify.c runs
 * UPDATE as one PATCH per row.  Called by
 * defender_fdw.c's scan and modify callbacks, the set-returning functions
 * and IMPORT; the scan state and the row-source interface are in
 * scan_state.h, included inside src/scan/ only.
 *
 * src/scan/defender_scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_SCAN_H
#define DEFENDER_SCAN_H

#include "access/tupdesc.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pathnodes.h"
#include "utils/relcache.h"
#include "utils/tuplestore.h"

#include "defender_catalog.h"
#include "defender_fdw.h"

/* foreign_scan.c: the scan callbacks' work */
struct ForeignScanState;
struct ExplainState;
struct TupleTableSlot;
extern void defender_begin_scan(struct ForeignScanState *node, int eflags);
extern struct TupleTableSlot *defender_iterate_scan(struct ForeignScanState *node);
extern void defender_rescan(struct ForeignScanState *node);
extern void defender_end_scan(struct ForeignScanState *node);
extern void defender_explain_scan(struct ForeignScanState *node, struct ExplainState *es);

/* async_scan.c: scans an Append runs concurrently (PostgreSQL 14+) */
#if PG_VERSION_NUM >= 140000
struct AsyncRequest;
extern void defender_async_request(struct AsyncRequest *areq);
extern void defender_async_configure_wait(struct AsyncRequest *areq);
extern void defender_async_notify(struct AsyncRequest *areq);
#endif

/* modify.c: UPDATE, one PATCH per row */
struct ModifyTableState;
struct ResultRelInfo;
struct ModifyTable;
struct ExplainState;
struct EState;
struct TupleTableSlot;
extern int	defender_is_updatable(Relation rel);
#if PG_VERSION_NUM >= 140000
extern void defender_add_update_targets(PlannerInfo *root, Index rtindex,
										RangeTblEntry *target_rte, Relation target_relation);
#else
extern void defender_add_update_targets(Query *parsetree, RangeTblEntry *target_rte,
										Relation target_relation);
#endif
extern List *defender_plan_modify(PlannerInfo *root, struct ModifyTable *plan,
								  Index resultRelation, int subplan_index);
extern void defender_begin_modify(struct ModifyTableState *mtstate,
								  struct ResultRelInfo *rinfo, List *fdw_private,
								  int subplan_index, int eflags);
extern struct TupleTableSlot *defender_exec_update(struct EState *estate,
												   struct ResultRelInfo *rinfo,
												   struct TupleTableSlot *slot,
												   struct TupleTableSlot *planSlot);
extern void defender_explain_modify(struct ModifyTableState *mtstate,
									struct ResultRelInfo *rinfo, List *fdw_private,
									int subplan_index, struct ExplainState *es);

/* convert.c */
struct json_t;
typedef struct DefenderColumn
{
	AttrNumber	attnum;
	char	   *name;			/* column name, for error messages */
	char	   *property;		/* exact JSON key, or NULL to match loosely */
	char		match_key[NAMEDATALEN]; /* lower case, no underscores */
	Oid			typid;
	int32		typmod;
	bool		is_json;		/* json or jsonb: take the raw JSON */
	bool		is_array;
	char		category;		/* typcategory of the type or element */
	Oid			elemtype;		/* for arrays */
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	FmgrInfo	input;			/* input function of the type or element */
	Oid			ioparam;
	int			fast;			/* DefenderFastInput: a shortcut of input */
	const char *const *enum_members;	/* a Graph enumeration's, or NULL */
} DefenderColumn;

/*
 * Input functions convert.c can skip for the forms Graph sends, with
 * results bit-identical to the input function's (anything else still goes
 * through it).
 */
typedef enum DefenderFastInput
{
	DFW_FAST_NONE = 0,
	DFW_FAST_TEXT,				/* textin: the bytes as they are */
	DFW_FAST_INT8,				/* int8in: [-]digits */
	DFW_FAST_INT4,				/* int4in: [-]digits */
	DFW_FAST_BOOL,				/* boolin: true, false */
	DFW_FAST_TIMESTAMPTZ,		/* timestamptz_in: YYYY-MM-DDTHH:MM:SS[.f]Z */
	DFW_FAST_TIMESTAMP			/* timestamp_in: the same */
} DefenderFastInput;

extern void defender_column_init(DefenderColumn *col, Relation rel,
								 AttrNumber attnum,
								 const GraphResource *resource);
extern void defender_column_build(DefenderColumn *col, Relation rel,
								  AttrNumber attnum,
								  const GraphResource *resource);
extern void defender_column_check_shortcut(DefenderColumn *col);
extern struct json_t *defender_column_lookup(DefenderColumn *col,
											 struct json_t *object);
extern Datum defender_json_to_datum(DefenderColumn *col, struct json_t *value,
									bool *isnull);
extern char *defender_dump_json(struct json_t *value, const char *what);
extern Datum defender_json_to_jsonb(struct json_t *value);

/* A JSON value's kind, for readers that see values as text (hunting_result.c) */
typedef enum DefenderJsonKind
{
	DFW_JSON_NULL,
	DFW_JSON_STRING,
	DFW_JSON_NUMBER,
	DFW_JSON_BOOLEAN,
	DFW_JSON_OBJECT,
	DFW_JSON_ARRAY
} DefenderJsonKind;

extern void defender_column_init_attr(DefenderColumn *col, TupleDesc desc,
									  AttrNumber attnum);
extern Datum defender_scalar_to_datum(DefenderColumn *col, DefenderJsonKind kind,
									  const char *text, bool element);
extern Datum defender_scalar_bytes_to_datum(DefenderColumn *col, DefenderJsonKind kind,
											const char *text, size_t len,
											StringInfo scratch);
extern bool defender_parse_iso_utc(const char *text, int64 *result);
extern bool defender_parse_iso_utc_len(const char *text, size_t len, int64 *result);
extern Datum defender_elements_to_datum(DefenderColumn *col, int n,
										const DefenderJsonKind *kinds,
										char *const *texts);
extern void defender_unconvertible(DefenderColumn *col, DefenderJsonKind kind,
								   DefenderJsonKind element, Oid typid,
								   const char *excerpt) pg_attribute_noreturn();
extern const char *defender_json_kind_name(DefenderJsonKind kind);
extern char *defender_json_excerpt(const char *json, size_t len);

/* hunting_scan.c: the body of a runHuntingQuery request */
extern char *defender_hunting_request_body(const char *query, const char *timespan);

/*
 * hunt_split.c: an ad-hoc query (defender_hunt(), defender_hunt_split()),
 * past the caps an error or, on a time column, read in time windows
 */
typedef struct DefenderAdhocHunt
{
	const DefenderOptions *opts;
	const char *query;			/* the caller's KQL */
	const char *time_column;	/* split on it; NULL: past the caps is an error */
	const char *timespan;		/* every request's Timespan, or NULL */
	int64		span;			/* > 0: the last span ticks instead, one
								 * fixed start for every request */
	int64		span_start;		/* set here: where the span starts, or
								 * PG_INT64_MIN (the 30-day horizon) */
	TupleDesc	desc;
	DefenderColumn *columns;	/* NULL: one jsonb per row */
	int			ncolumns;
	AttrNumber *attnos;
	Tuplestorestate *store;		/* where the rows go */
	const char *fname;			/* for messages */
} DefenderAdhocHunt;

extern void defender_run_adhoc_hunt(DefenderAdhocHunt *hunt);

/* hunting_result.c: a runHuntingQuery response, streamed into tuples */
extern void defender_hunting_result_to_tuplestore(const char *body, size_t len,
												  TupleDesc desc,
												  DefenderColumn *columns,
												  int ncolumns,
												  const AttrNumber *slot_attnos,
												  Tuplestorestate *store,
												  const char *display,
												  const char *relname);
extern void defender_hunting_rows_to_tuplestore(const char *body, size_t len,
												TupleDesc desc,
												Tuplestorestate *store,
												const char *display,
												const char *relname);

/* the same, chunk by chunk: begin, feed any number of times, finish */
typedef struct DefenderHuntingParser DefenderHuntingParser;
extern DefenderHuntingParser *defender_hunting_begin(TupleDesc desc,
													 DefenderColumn *columns,
													 int ncolumns,
													 const AttrNumber *slot_attnos,
													 Tuplestorestate *store,
													 const char *display,
													 const char *relname);
extern DefenderHuntingParser *defender_hunting_begin_rows(TupleDesc desc,
														  Tuplestorestate *store,
														  const char *display,
														  const char *relname);
extern void defender_hunting_feed(DefenderHuntingParser *parser,
								  const char *chunk, size_t len);
extern void defender_hunting_feed_last(DefenderHuntingParser *parser,
									   const char *chunk, size_t len);
extern int64 defender_hunting_finish(DefenderHuntingParser *parser);
extern void defender_hunting_abandon(DefenderHuntingParser *parser);

#endif							/* DEFENDER_SCAN_H */
