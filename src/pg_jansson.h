/*-------------------------------------------------------------------------
 *
 * pg_jansson.h
 *		  Include jansson together with PostgreSQL's function prototypes.
 *
 * utils/builtins.h (through fmgrprotos.h) declares the SQL functions
 * json_object() and json_typeof(), whose names jansson uses for its own
 * function and macro.  PostgreSQL-side files that need both include this
 * header instead of <jansson.h>, after their PostgreSQL headers.
 *
 * src/pg_jansson.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_JANSSON_H
#define PG_JANSSON_H

#ifdef BUILTINS_H
#error "include pg_jansson.h instead of utils/builtins.h in files that use jansson"
#endif

/* Rename the SQL-callable prototypes out of jansson's way. */
#define json_object pg_sql_json_object
#define json_typeof pg_sql_json_typeof
#include "utils/builtins.h"
#undef json_object
#undef json_typeof

#include <jansson.h>

#endif							/* PG_JANSSON_H */
