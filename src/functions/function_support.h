/*-------------------------------------------------------------------------
 *
 * function_support.h
 *		  What the SQL functions of src/functions/ share: their arguments,
 *		  their options, the set-returning setup.
 *
 * Defined in function_support.c; included by the files of src/functions/
 * only.
 *
 * src/functions/function_support.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_FUNCTION_SUPPORT_H
#define DEFENDER_FUNCTION_SUPPORT_H

#include "fmgr.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

#include "defender_fdw.h"

/* A set-returning function's result, materialized. */
typedef struct SetResult
{
	ReturnSetInfo *rsinfo;
	TupleDesc	desc;
	Tuplestorestate *store;
} SetResult;

extern DefenderOptions *defender_function_options(FunctionCallInfo fcinfo, int server_arg,
												  const char *fname);
extern char *defender_required_text(FunctionCallInfo fcinfo, int argno, const char *fname,
									const char *argname);
extern char *defender_to_utf8(const char *text);
extern bool defender_is_json_text(char *text, size_t len, char **detail);
extern ReturnSetInfo *defender_materialize_context(FunctionCallInfo fcinfo);
extern void defender_begin_set(FunctionCallInfo fcinfo, SetResult *set, Oid column_type,
							   const char *fname);
extern void defender_end_set(SetResult *set);

#endif							/* DEFENDER_FUNCTION_SUPPORT_H */
