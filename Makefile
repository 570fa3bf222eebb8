# defender_fdw: foreign-data wrapper for Microsoft Defender XDR via Microsoft Graph
#
# Build and install:  make && make install   (PG_CONFIG=/path/to/pg_config to choose a server)
# Regression tests:   scripts/test.sh        (starts a cluster and the Graph emulator)

MODULE_big = defender_fdw
OBJS = \
	defender_fdw.o \
	src/catalog/graph_catalog.o \
	src/catalog/hunting_catalog.o \
	src/client/client_assertion.o \
	src/client/defender_client.o \
	src/client/graph_response.o \
	src/client/url.o \
	src/client/wake_fd.o \
	src/functions/actions.o \
	src/functions/function_support.o \
	src/functions/hunt_function.o \
	src/functions/request_function.o \
	src/functions/version.o \
	src/import/import.o \
	src/options/option.o \
	src/options/options_read.o \
	src/plan/deparse_filter.o \
	src/plan/deparse_kql.o \
	src/plan/deparse_odata.o \
	src/plan/paths.o \
	src/plan/remote_estimate.o \
	src/plan/scan_plan.o \
	src/plan/shippable.o \
	src/plan/summarize.o \
	src/remote/auth.o \
	src/remote/connection.o \
	src/remote/entity.o \
	src/remote/pager.o \
	src/remote/request.o \
	src/remote/quota_governor.o \
	src/remote/response_cache.o \
	src/remote/secrets.o \
	src/remote/shared_state.o \
	src/remote/token_cache_shared.o \
	src/scan/async_scan.o \
	src/scan/column_cache.o \
	src/scan/convert.o \
	src/scan/foreign_scan.o \
	src/scan/hunting_result.o \
	src/scan/hunting_scan.o \
	src/scan/hunting_source.o \
	src/scan/hunting_values.o \
	src/scan/hunt_split.o \
	src/scan/hunting_windows.o \
	src/scan/time_windows.o \
	src/json/json_scanner.o \
	src/json/json_tree.o \
	src/scan/list_scan.o \
	src/scan/modify.o \
	src/scan/row_source.o

EXTENSION = defender_fdw
DATA = defender_fdw--1.0.sql defender_fdw--1.0--1.1.sql defender_fdw--1.1--1.2.sql \
	defender_fdw_hunting_schema.txt
PGFILEDESC = "defender_fdw - foreign-data wrapper for Microsoft Defender XDR"

REGRESS = setup upgrade options auth scan pushdown requests alerts hunting hunting_windows hunting_stream hunt hunt_split actions update pushdown_exact faults paging costs cancel async tls trust credentials connectivity cookbook security

CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
CRYPTO_CFLAGS := $(shell pkg-config --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null || echo -lcrypto)

# src/ holds the shared headers; each folder under it is one layer (see
# the top comment of its main file), and includes its neighbours' headers
# by name.
SRC_DIRS = src src/client src/json src/remote src/plan src/scan src/functions src/catalog src/options src/import
PG_CPPFLAGS = $(addprefix -I$(srcdir)/,$(SRC_DIRS)) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(CRYPTO_CFLAGS)
SHLIB_LINK = $(CURL_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)

# No LLVM bitcode: JIT inlining buys nothing for network-bound code, and
# it would make clang a build dependency.
override with_llvm := no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
