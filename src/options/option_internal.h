/*-------------------------------------------------------------------------
 *
 * option_internal.h
 *		  What option.c (the validator) and options_read.c (the options of
 *		  one scan or call) share: the defaults, the limits and the clouds.
 *
 * Included by the files of src/options/ only.
 *
 * src/options/option_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DEFENDER_OPTION_INTERNAL_H
#define DEFENDER_OPTION_INTERNAL_H

#define DEFAULT_LOGIN_URL	"https://login.microsoftonline.com"
#define DEFAULT_GRAPH_URL	"https://graph.microsoft.com"
#define DEFAULT_MDE_URL		"https://api.securitycenter.microsoft.com"
#define DEFAULT_MANAGED_IDENTITY_URL "http://169.254.169.254/metadata/identity/oauth2/token"
#define DEFAULT_API_VERSION "v1.0"
#define DEFAULT_TIMEOUT		15
#define MIN_TIMEOUT			15
#define MAX_TIMEOUT			120
#define DEFAULT_MAX_RETRIES 3
#define MAX_MAX_RETRIES		10
#define DEFAULT_MAX_RESPONSE_MB 256
#define MAX_MAX_RESPONSE_MB 1024
#define DEFAULT_PARALLEL_PAGES 4
#define MAX_PARALLEL_PAGES	8	/* of DFW_MAX_TRANSFERS, leaving some for other requests */
#define MAX_CACHE_TTL 86400
#define DEFAULT_REQUEST_LATENCY 100	/* ms: a round trip to Graph, for costs */
#define MAX_REQUEST_LATENCY 60000
#define DEFAULT_HUNTING_QUOTA 45	/* runHuntingQuery: 45 calls a minute */
#define DEFAULT_GRAPH_QUOTA 50	/* the incidents API: 50 calls a minute */
#define DEFAULT_QUOTA_WINDOW 60
#define MAX_QUOTA_WINDOW	3600
#define DEFAULT_HUNTING_MAX_WINDOWS 64
#define MAX_HUNTING_WINDOWS 10000
#define DEFAULT_HUNTING_MAX_ROWS 100000	/* runHuntingQuery's documented row cap */
#define MAX_HUNTING_MAX_ROWS 10000000
#define DEFAULT_TIME_COLUMN "Timestamp"

extern int64 defender_interval_ticks(const char *option, const char *value);

/*
 * The national clouds defender_fdw can reach, with their hosts (see the
 * reference's "Hosts by cloud"): the server option cloud picks a row, and
 * explicit login_url, graph_url and mde_url options override its columns.
 */
typedef struct DefenderCloud
{
	const char *name;
	const char *login_url;
	const char *graph_url;
	const char *mde_url;
} DefenderCloud;

/* the first is the default, "global" */
extern const DefenderCloud defender_clouds[];

extern const DefenderCloud *defender_check_cloud(const char *value);

#endif							/* DEFENDER_OPTION_INTERNAL_H */
