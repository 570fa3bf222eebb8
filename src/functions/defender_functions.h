/*-------------------------------------------------------------------------
 *
 * defender_functions.h
 *		  What the SQL functions share with the rest of defender_fdw.
 *
 * The SQL-callable functions (actions.c: write actions, read functions,
 * defender_request(); hunt_function.c: defender_hunt(); version.c:
 * defender_fdw_version()) are reached through fmgr; only the hunting
 * request body is shared, with the hunting scan and IMPORT.
 *
 * src/functions/defender_functions.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_FUNCTIONS_H
#define DEFENDER_FUNCTIONS_H

#include "defender_fdw.h"

/* hunt_function.c */
extern char *defender_hunting_request_body(const char *query, const char *timespan);

#endif							/* DEFENDER_FUNCTIONS_H */
