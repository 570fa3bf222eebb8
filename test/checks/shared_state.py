#!/usr/bin/python3
"""Issue 16's shared state: one token and one quota per tenant.

Runs against two clusters of the same build: the preload cluster
(shared_preload_libraries = 'defender_fdw', started by scripts/test.sh for
this check) and the suite's main cluster, which does not preload the
library (defender_fdw.quota_governor is off there and turned on per
session here).  Checks, each a FAIL line when it does not hold:

  preload: N short sessions, sequential and concurrent, cost one token
           request, also when none has a token yet; a 401 after a revocation costs one new token for all
           backends; renewal before expiry happens once for many backends;
           concurrent sessions against the emulator's hunting quota fail no
           statement, get no 429 beyond one per window, and take at least
           the quota's minimum time; a wait longer than statement_timeout
           fails at once with 57014 and says how long the tenant is blocked;
           a cancelled wait shows the wait event and stops within a second;
           EXPLAIN ANALYZE shows the time waited;
  no preload: N sessions cost N token requests, and the per-backend
           governor paces one backend's calls without a 429.

usage: shared_state.py EMULATOR_URL SOCKET_DIR MAIN_PORT PRELOAD_PORT
"""

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from emulator_control import emulator  # noqa: E402
from verdict import report  # noqa: E402

import psycopg2  # noqa: E402  (Debian's python3-psycopg2)

URL, SOCKET, MAIN_PORT, PRELOAD_PORT = sys.argv[1:5]
TENANT = "00000000-0000-0000-0000-000000000001"
problems = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        problems.append(what)


def connect(port):
    conn = psycopg2.connect(host=SOCKET, port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    return conn


def run(port, sql, setup=()):
    """One short session: connect, run sql, disconnect; the rows."""
    conn = connect(port)
    try:
        cur = conn.cursor()
        for s in setup:
            cur.execute(s)
        cur.execute(sql)
        return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def tokens():
    return len(emulator(URL, "GET", "/_emulator/tokens")["tokens"])


def setup_database(port):
    conn = connect(port)
    cur = conn.cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("DROP EXTENSION IF EXISTS defender_fdw CASCADE")
    cur.execute("CREATE EXTENSION defender_fdw")
    for name, quota in (("shared", "45"), ("paced", "5"), ("strict", "1")):
        cur.execute("""CREATE SERVER {n} FOREIGN DATA WRAPPER defender_fdw OPTIONS (
            tenant_id '{t}', login_url '{u}', graph_url '{u}',
            hunting_quota '{q}', quota_window '{w}')""".format(
            n=name, t=TENANT, u=URL, q=quota, w="30" if name == "strict" else "2"))
        cur.execute("""CREATE USER MAPPING FOR CURRENT_USER SERVER {n} OPTIONS (
            client_id '11111111-1111-1111-1111-111111111111',
            client_secret 'test-secret-value')""".format(n=name))
    cur.execute("CREATE FOREIGN TABLE incidents (id text) SERVER shared OPTIONS (resource 'incidents')")
    # verify_ssl is part of a token's key: a server of its own, with no token yet
    cur.execute("""CREATE SERVER cold FOREIGN DATA WRAPPER defender_fdw OPTIONS (
        tenant_id '{t}', login_url '{u}', graph_url '{u}', verify_ssl 'false')""".format(t=TENANT, u=URL))
    cur.execute("""CREATE USER MAPPING FOR CURRENT_USER SERVER cold OPTIONS (
        client_id '11111111-1111-1111-1111-111111111111', client_secret 'test-secret-value')""")
    cur.execute("CREATE FOREIGN TABLE cold_incidents (id text) SERVER cold OPTIONS (resource 'incidents')")
    cur.execute("""CREATE FOREIGN TABLE strict_hunt (DeviceName text) SERVER strict
                   OPTIONS (resource 'hunting', query 'DeviceProcessEvents | take 1')""")
    conn.close()


HUNT = "SELECT count(*) FROM defender_hunt_jsonb('DeviceProcessEvents | take 1', NULL, '{}')"


def concurrently(n, work):
    """Run work(i) in n threads; the exceptions raised."""
    errors = []

    def body(i):
        try:
            work(i)
        except Exception as e:  # noqa: BLE001 - every failure counts
            errors.append(e)
    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def token_checks(port, preload):
    label = "preload" if preload else "no preload"
    emulator(URL, "POST", "/_emulator/reset", {})
    setup = () if preload else ("SET defender_fdw.quota_governor = on",)
    before = tokens()
    for _ in range(20):
        run(port, "SELECT count(*) FROM incidents", setup)
    errors = concurrently(8, lambda i: run(port, "SELECT count(*) FROM incidents", setup))
    used = tokens() - before
    check(not errors, "%s: 28 short sessions run without error (%s)" % (label, errors[:1]))
    expected = 1 if preload else 28
    check(used == expected, "%s: 28 short sessions cost %d token requests (expected %d)"
          % (label, used, expected))


def cold_start_check(port):
    """Sessions that all need a token no one has yet: one fetches, the
    others wait for it (the emulator answers the token request slowly)."""
    emulator(URL, "POST", "/_emulator/reset", {"latency_ms": 300})
    before = tokens()
    errors = concurrently(8, lambda i: run(port, "SELECT count(*) FROM cold_incidents"))
    check(not errors and tokens() - before == 1,
          "preload: 8 concurrent sessions without a token: %d token requests (expected 1), errors %s"
          % (tokens() - before, errors[:1]))
    emulator(URL, "POST", "/_emulator/reset", {})


def invalidation_checks(port):
    a, b = connect(port), connect(port)
    for c in (a, b):
        c.cursor().execute("SELECT count(*) FROM incidents")
    # the next token lives 4 s: renewal is due after 2 s
    emulator(URL, "POST", "/_emulator/config", {"token_lifetime": 4})
    emulator(URL, "POST", "/_emulator/revoke_tokens")
    before = tokens()
    a.cursor().execute("SELECT count(*) FROM incidents")
    b.cursor().execute("SELECT count(*) FROM incidents")
    check(tokens() - before == 1,
          "preload: after a revocation two backends' 401s cost one new token (got %d)"
          % (tokens() - before))
    a.close()
    b.close()
    time.sleep(2.5)
    before = tokens()
    errors = concurrently(6, lambda i: run(port, "SELECT count(*) FROM incidents"))
    check(not errors and tokens() - before == 1,
          "preload: renewal before expiry: 6 concurrent sessions, %d new tokens (expected 1), errors %s"
          % (tokens() - before, errors[:1]))
    emulator(URL, "POST", "/_emulator/config", {"token_lifetime": 3599})


def quota_storm(port, label, sessions, per_session, setup=()):
    """sessions x per_session hunting calls on server paced (5 per 2 s)
    against the emulator's quota of 5 per 2 s."""
    emulator(URL, "POST", "/_emulator/reset",
             {"quota_hunting": 5, "quota_window_s": 2})
    start = time.monotonic()

    def work(i):
        conn = connect(port)
        try:
            cur = conn.cursor()
            for s in setup:
                cur.execute(s)
            for _ in range(per_session):
                cur.execute(HUNT.format("paced"))
                cur.fetchall()
        finally:
            conn.close()
    errors = concurrently(sessions, work)
    elapsed = time.monotonic() - start
    q = emulator(URL, "GET", "/_emulator/quota")["tenants"].get(TENANT, {}).get("hunting", {})
    calls = sessions * per_session
    minimum = 2.0 * ((calls - 1) // 5)
    check(not errors, "%s: %d sessions x %d hunting calls, no failed statement (%s)"
          % (label, sessions, per_session, errors[:1]))
    check(q.get("max_throttled_in_window", 99) <= 1,
          "%s: at most one 429 per window (%s)" % (label, q))
    check(elapsed >= minimum - 0.5,
          "%s: paced to the quota: %.1f s for %d calls (minimum %.1f s)" % (label, elapsed, calls, minimum))
    check(elapsed <= minimum * 1.5 + 2,
          "%s: no slower than 1.5 x the quota's minimum: %.1f s (minimum %.1f s)" % (label, elapsed, minimum))
    emulator(URL, "POST", "/_emulator/reset", {})


def wait_checks(port):
    emulator(URL, "POST", "/_emulator/reset", {})
    conn = connect(port)
    cur = conn.cursor()
    cur.execute(HUNT.format("strict"))            # the one call of 30 s is spent
    cur.execute("SET statement_timeout = '3s'")
    start = time.monotonic()
    try:
        cur.execute(HUNT.format("strict"))
        check(False, "a wait longer than statement_timeout fails")
    except psycopg2.Error as e:
        took = time.monotonic() - start
        check(e.pgcode == "57014" and "throttled for another" in e.pgerror and took < 1.0,
              "a wait longer than statement_timeout fails at once with 57014 and the time blocked "
              "(%s, %.1f s): %s" % (e.pgcode, took, (e.pgerror or "").splitlines()[0]))
    cur.execute("RESET statement_timeout")
    conn.close()

    # a wait within the statement's budget, cancelled: the wait event, then 57014
    waiter = connect(port)
    pid = waiter.get_backend_pid()
    outcome = {}

    def wait_in_background():
        try:
            waiter.cursor().execute(HUNT.format("strict"))
            outcome["error"] = None
        except psycopg2.Error as e:
            outcome["error"] = e
            outcome["at"] = time.monotonic()
    t = threading.Thread(target=wait_in_background)
    t.start()
    time.sleep(1.5)
    watcher = connect(port)
    wc = watcher.cursor()
    wc.execute("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = %s", (pid,))
    event = wc.fetchone()
    cancelled = time.monotonic()
    wc.execute("SELECT pg_cancel_backend(%s)", (pid,))
    t.join(10)
    check(event is not None and event[0] == "Extension",
          "a backend waiting for quota shows wait event type Extension (%s)" % (event,))
    e = outcome.get("error")
    check(e is not None and e.pgcode == "57014" and "waiting for the hunting quota" in (e.pgerror or "")
          and outcome["at"] - cancelled < 1.5,
          "a cancelled quota wait stops within a second with 57014 and says what it waited for (%s)"
          % ((e.pgerror or "").replace("\n", " | ") if e else outcome))
    waiter.close()

    # EXPLAIN ANALYZE of a scan that waited shows the wait
    emulator(URL, "POST", "/_emulator/reset", {})
    wc.execute("ALTER SERVER strict OPTIONS (SET quota_window '2')")
    wc.execute(HUNT.format("strict"))
    wc.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM strict_hunt")
    plan = "\n".join(r[0] for r in wc.fetchall())
    check("Quota wait:" in plan, "EXPLAIN ANALYZE shows the time waited for quota:\n" + plan)
    wc.execute("ALTER SERVER strict OPTIONS (SET quota_window '30')")
    watcher.close()


def main():
    for port in (PRELOAD_PORT, MAIN_PORT):
        setup_database(port)
    token_checks(PRELOAD_PORT, True)
    cold_start_check(PRELOAD_PORT)
    invalidation_checks(PRELOAD_PORT)
    quota_storm(PRELOAD_PORT, "preload", 4, 5)
    wait_checks(PRELOAD_PORT)
    token_checks(MAIN_PORT, False)
    quota_storm(MAIN_PORT, "no preload, one backend", 1, 11,
                ("SET defender_fdw.quota_governor = on",))
    conn = connect(MAIN_PORT)
    conn.cursor().execute("DROP EXTENSION defender_fdw CASCADE")
    conn.close()
    emulator(URL, "POST", "/_emulator/reset", {})
    sys.exit(report("shared_state", problems, "tokens and quotas shared as documented"))


if __name__ == "__main__":
    main()
