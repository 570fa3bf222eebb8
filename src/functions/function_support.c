/*-------------------------------------------------------------------------
 *
 * function_support.c
 *		  What the SQL functions of src/functions/ share: their server and
 *		  options, required arguments, text for the wire, JSON checks, and
 *		  the one set-returning setup (materialize mode) of every SRF.
 *
 * Called by actions.c, hunt_function.c and request_function.c only
 * (declared in function_support.h); calls the options layer.
 *
 * src/functions/function_support.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/jsonapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "function_support.h"

/*
 * action_server
 *		The named server, checked: it exists, it is a defender_fdw server,
 *		and the caller has USAGE on it.
 */
static ForeignServer *
action_server(FunctionCallInfo fcinfo, int argno, const char *fname)
{
	const char *servername;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the server of %s() must not be null", fname)));
	servername = NameStr(*PG_GETARG_NAME(argno));
	return defender_function_server(servername);
}

/* The server's options and the caller's user mapping (which must exist). */
DefenderOptions *
defender_function_options(FunctionCallInfo fcinfo, int server_arg, const char *fname)
{
	ForeignServer *server = action_server(fcinfo, server_arg, fname);

	return defender_get_options(InvalidOid, server->serverid, GetUserId(), true);
}

char *
defender_required_text(FunctionCallInfo fcinfo, int argno, const char *fname, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s of %s() must not be null", argname, fname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* text in the server encoding, as UTF-8 (the wire's encoding) */
char *
defender_to_utf8(const char *text)
{
	return pg_server_to_any(text, (int) strlen(text), PG_UTF8);
}

/*
 * defender_is_json_text
 *		Would jsonb_in accept text?  PostgreSQL's own JSON parser, which
 *		reports instead of raising, with escapes checked (\u0000).
 */
bool
defender_is_json_text(char *text, size_t len, char **detail)
{
	JsonLexContext *lex;
	JsonParseErrorType error;

	if (len > INT_MAX)
		return false;
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, text, len, GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen(text, (int) len, GetDatabaseEncoding(), true);
#endif
	error = pg_parse_json(lex, &nullSemAction);
	if (error != JSON_SUCCESS && detail)
		*detail = json_errdetail(error, lex);
	return error == JSON_SUCCESS;
}

/*
 * defender_materialize_context
 *		The caller's ReturnSetInfo, checked to take a set in materialize
 *		mode, the only mode these functions return in.
 */
ReturnSetInfo *
defender_materialize_context(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));
	return rsinfo;
}

/*
 * defender_begin_set
 *		Materialize mode: a tuplestore in per-query memory, with one column
 *		of column_type, or the function's row type when that is InvalidOid
 *		(its declared one, or the caller's column definition list for a
 *		function returning record).
 */
void
defender_begin_set(FunctionCallInfo fcinfo, SetResult *set, Oid column_type, const char *fname)
{
	ReturnSetInfo *rsinfo = defender_materialize_context(fcinfo);
	MemoryContext old;

	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (OidIsValid(column_type))
	{
		set->desc = CreateTemplateTupleDesc(1);
		TupleDescInitEntry(set->desc, (AttrNumber) 1, fname, column_type, -1, 0);
	}
	else if (get_call_result_type(fcinfo, NULL, &set->desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type of %s() must be a row type", fname);
	else
		set->desc = CreateTupleDescCopy(set->desc);
	set->store = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
									   false, work_mem);
	set->rsinfo = rsinfo;
	MemoryContextSwitchTo(old);
}

/* Hand the set to the executor. */
void
defender_end_set(SetResult *set)
{
	set->rsinfo->returnMode = SFRM_Materialize;
	set->rsinfo->setResult = set->store;
	set->rsinfo->setDesc = set->desc;
}
