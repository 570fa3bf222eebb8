"""Tests for several tenants (tenants.py), per-tenant quotas (quota.py), the
hunting caps (hunting_caps.py), lazily generated hunting tables
(generated_tables.py) and the bandwidth limit (bandwidth.py).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/emulator/tests -p 'test_*.py'
"""

import bisect
import json
import random
import threading
import time
import unittest
import urllib.parse

from test_emulator import EmulatorTestCase, TENANT, start_emulator   # first: the path
import generated_tables   # noqa: E402
import kql                # noqa: E402
import quota              # noqa: E402
import tenants            # noqa: E402

OTHER = "contoso-mssp-7.onmicrosoft.com"
HOUR = generated_tables.HOUR
DAY = kql.TICKS_PER_DAY


class ScalingTestCase(EmulatorTestCase):
    """An emulator started with EXTRA command-line switches."""

    EXTRA = ()

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port, cls.port_file = start_emulator(*cls.EXTRA)
        cls.base = "http://127.0.0.1:%d" % cls.port

    def token_for(self, tenant):
        return self.token(tenant=tenant)

    def hunt(self, query, token=None, timespan=None, status=200):
        body = {"Query": query}
        if timespan is not None:
            body["Timespan"] = timespan
        code, headers, data = self.graph("/v1.0/security/runHuntingQuery", token=token, method="POST", body=body)
        self.assertEqual(code, status, data)
        return data

    def count(self, query, token=None, timespan=None):
        return self.hunt(query + " | count", token, timespan)["results"][0]["Count"]


# ==========================================================================
# Tenants

class TenantTests(ScalingTestCase):
    EXTRA = ("--tenant", OTHER + ",latency_ms=150,incidents=37", "--tenants", "2")

    def test_token_tenant_chooses_the_data(self):
        default = self.graph("/v1.0/security/incidents?$count=true&$top=1")[2]
        other = self.graph("/v1.0/security/incidents?$count=true&$top=50",
                           token=self.token_for(OTHER))[2]
        self.assertEqual(default["@odata.count"], 130)
        self.assertEqual(default["value"][0]["tenantId"], TENANT)
        self.assertEqual(other["@odata.count"], 37)
        self.assertEqual({i["tenantId"] for i in other["value"]}, {OTHER})
        self.assertTrue(all("tid=" + OTHER in i["incidentWebUrl"] for i in other["value"]))
        # the alerts of a tenant are its own too
        alerts = self.graph("/v1.0/security/alerts_v2?$top=1000", token=self.token_for(OTHER))[2]["value"]
        self.assertEqual({a["tenantId"] for a in alerts}, {OTHER})
        self.assertEqual({a["incidentId"] for a in alerts}, {i["id"] for i in self.control(
            "GET", "tenants/%s/incidents" % OTHER)["value"]})

    def test_generated_tenants_have_derived_counts(self):
        listed = {t["id"]: t for t in self.control("GET", "tenants")["tenants"]}
        for k in (1, 2):
            tid = tenants.generated_id(k)
            expected = tenants.derived_settings(tid)["incidents"]
            body = self.graph("/v1.0/security/incidents?$count=true&$top=1", token=self.token_for(tid))[2]
            self.assertEqual(body["@odata.count"], expected)
            self.assertEqual(listed[tid]["incidents"], expected)
        self.assertEqual(listed[TENANT]["incidents"], 130)
        self.assertEqual(listed[OTHER]["latency_ms"], 150)
        # tokens are counted per tenant (never reset, like GET tokens)
        before = {t["id"]: t["tokens_issued"] for t in self.control("GET", "tenants")["tenants"]}
        self.token_for(tenants.generated_id(2))
        after = {t["id"]: t["tokens_issued"] for t in self.control("GET", "tenants")["tenants"]}
        self.assertEqual(after[tenants.generated_id(2)], before[tenants.generated_id(2)] + 1)
        self.assertEqual(after[tenants.generated_id(1)], before[tenants.generated_id(1)])

    def test_default_tenant_unchanged_by_other_tenants(self):
        # the same bytes as the control API's view of the default fixture
        rows = self.graph("/v1.0/security/incidents?$top=50")[2]["value"]
        self.assertEqual(rows, self.fixture_incidents()[:50])
        self.assertEqual(self.token_request(tenant="emulator.onmicrosoft.com")[0], 200)

    def test_unknown_tenant_is_refused(self):
        status, _, body = self.token_request(tenant="nobody.onmicrosoft.com")
        self.assertEqual(status, 400)
        self.assertEqual(body["error_codes"], [90002])

    def test_each_tenant_has_its_latency(self):
        token_default, token_other = self.token(), self.token_for(OTHER)
        started = time.monotonic()
        self.graph("/v1.0/security/incidents?$top=1", token=token_default)
        fast = time.monotonic() - started
        started = time.monotonic()
        self.graph("/v1.0/security/incidents?$top=1", token=token_other)
        slow = time.monotonic() - started
        self.assertGreaterEqual(slow, 0.15)
        self.assertLess(fast, 0.15)
        # changed through the control API without regenerating the data
        before = self.control("GET", "tenants/%s/incidents" % OTHER)["value"]
        self.control("POST", "config", {"tenants": [{"id": OTHER, "latency_ms": 0, "incidents": 37}]})
        started = time.monotonic()
        self.graph("/v1.0/security/incidents?$top=1", token=token_other)
        self.assertLess(time.monotonic() - started, 0.15)
        self.assertEqual(self.control("GET", "tenants/%s/incidents" % OTHER)["value"], before)

    def test_writes_stay_in_their_tenant_and_reset_restores(self):
        token_other = self.token_for(OTHER)
        target = self.control("GET", "tenants/%s/incidents" % OTHER)["value"][0]["id"]
        status, _, body = self.graph("/v1.0/security/incidents/%s" % target, token=token_other,
                                     method="PATCH", body={"assignedTo": "mssp@example.com"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["tenantId"], OTHER)
        default_row = self.graph("/v1.0/security/incidents/%s" % target)
        if default_row[0] == 200:
            self.assertNotEqual(default_row[2]["assignedTo"], "mssp@example.com")
        self.control("POST", "reset")
        again = self.graph("/v1.0/security/incidents/%s" % target, token=token_other)[2]
        self.assertNotEqual(again["assignedTo"], "mssp@example.com")

    def test_hunting_data_differs_per_tenant(self):
        query = "DeviceProcessEvents | project DeviceName, FileName, ProcessId | take 20"
        mine = self.hunt(query)["results"]
        theirs = self.hunt(query, token=self.token_for(OTHER))["results"]
        self.assertEqual(len(mine), 20)
        self.assertEqual(len(theirs), 20)
        self.assertNotEqual(mine, theirs)
        # deterministic: the same again
        self.assertEqual(self.hunt(query, token=self.token_for(OTHER))["results"], theirs)

    def test_bad_tenant_config_is_refused(self):
        for bad in ({"tenants": [{"id": ""}]}, {"tenants": [{"id": "x", "color": 1}]},
                    {"tenants": [{"id": "x"}, {"id": "X"}]}, {"tenants": -1}, {"tenants": "3"}):
            status, _, body = self.json_request("POST", "/_emulator/config", body=bad)
            self.assertEqual(status, 400, (bad, body))


# ==========================================================================
# Quota

class QuotaTests(ScalingTestCase):
    EXTRA = ("--tenants", "1")

    def setUp(self):
        self.control("POST", "reset", {"quota_hunting": 3, "quota_graph": 4, "quota_window_s": 2})

    def test_hunting_quota_per_tenant(self):
        mine, theirs = self.token(), self.token_for(tenants.generated_id(1))
        for _ in range(3):
            self.hunt("print x = 1", token=mine)
        status, headers, body = self.graph("/v1.0/security/runHuntingQuery", token=mine, method="POST",
                                           body={"Query": "print x = 1"})
        self.assertEqual(status, 429)
        self.assertEqual(body["error"]["code"], "TooManyRequests")
        self.assertEqual(body["error"]["message"], "API calls quota exceeded! maximum allowed 3 per 00:00:02")
        self.assertIn("request-id", body["error"]["innerError"])
        retry_after = int(headers["retry-after"])
        self.assertTrue(1 <= retry_after <= 2, retry_after)
        # another tenant has its own quota
        self.hunt("print x = 1", token=theirs)
        # list calls are another quota
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=mine)[0], 200)
        time.sleep(retry_after)
        self.hunt("print x = 1", token=mine)
        counters = self.control("GET", "quota")
        me = counters["tenants"][TENANT]["hunting"]
        self.assertEqual((me["calls"], me["admitted"], me["throttled"]), (5, 4, 1))
        self.assertEqual(me["max_throttled_in_window"], 1)
        self.assertEqual(counters["tenants"][tenants.generated_id(1)]["hunting"]["throttled"], 0)
        self.assertEqual(counters["limits"], {"hunting": 3, "graph": 4})

    def test_graph_quota_message_and_rejected_calls_count(self):
        token = self.token()
        for _ in range(4):
            self.assertEqual(self.graph("/v1.0/security/alerts_v2?$top=1", token=token)[0], 200)
        for _ in range(2):
            status, headers, body = self.graph("/v1.0/security/incidents/1", token=token)
            self.assertEqual(status, 429)
            self.assertEqual(body["error"]["message"], "Please retry again later.")
            self.assertIn("retry-after", headers)
        stats = self.control("GET", "quota")["tenants"][TENANT]["graph"]
        self.assertEqual(stats["throttled"], 2)
        self.assertEqual(stats["max_throttled_in_window"], 2)
        self.assertEqual(len(stats["throttled_at"]), 2)

    def test_only_admitted_calls_count_when_asked(self):
        self.control("POST", "config", {"quota_count_rejected": 0, "quota_graph": 1, "quota_window_s": 1})
        token = self.token()
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=token)[0], 200)
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=token)[0], 429)
        time.sleep(1.05)
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=token)[0], 200)

    def test_off_by_default_and_peak_concurrency(self):
        self.control("POST", "reset", {"tenants": [{"id": OTHER, "latency_ms": 300}]})
        token = self.token_for(OTHER)
        for _ in range(8):      # no quota: all admitted
            self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=token)[0], 200)
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            self.graph("/v1.0/security/incidents?$top=1", token=token)[0])) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 4)
        stats = self.control("GET", "quota")["tenants"][OTHER]
        self.assertEqual(stats["peak_concurrency"], 4)
        self.assertEqual(stats["in_flight"], 0)
        self.assertEqual(stats["graph"]["calls"], 12)
        self.assertEqual(stats["graph"]["throttled"], 0)

    def test_documented_defaults_on_the_cli(self):
        proc, port, port_file = start_emulator("--quota")
        try:
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/_emulator/quota")
            body = json.loads(conn.getresponse().read())
            conn.close()
            self.assertEqual(body["limits"], {"hunting": 45, "graph": 50})
            self.assertEqual(body["window_s"], 60.0)
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
            proc.stdout.close()
            proc.stderr.close()

    def test_window_formatting_and_sliding_count(self):
        self.assertEqual(quota.format_window(60), "00:01:00")
        self.assertEqual(quota.format_window(3600), "01:00:00")
        self.assertEqual(quota.format_window(2.5), "00:00:02.5")
        self.assertEqual(quota._max_in_window([0.0, 0.5, 1.9, 2.0, 2.1], 2), 4)
        self.assertEqual(quota._max_in_window([0.0, 2.0, 4.0], 2), 1)
        self.assertEqual(quota._max_in_window([], 2), 0)


# ==========================================================================
# Generated tables (no HTTP)

class GeneratedLayoutTests(unittest.TestCase):
    END = kql.parse_datetime("2026-03-10T13:45:12.5Z")

    def table(self, rows=5000, days=2, name="DeviceNetworkEvents"):
        return generated_tables.GeneratedTable(name, rows, days, 7, self.END)

    def test_layout_boundaries_and_order(self):
        t = self.table()
        self.assertEqual(kql.format_datetime(t.end), "2026-03-10T13:00:00.0000000Z")
        self.assertEqual(t.start, t.end - 2 * DAY)
        stamps = [t.timestamp(i) for i in range(t.rows)]
        self.assertEqual(stamps, sorted(stamps))
        on_hours = set(range(t.start, t.end, HOUR))
        self.assertEqual(on_hours - set(stamps), set())           # a row exactly on every hour
        self.assertTrue(all(h + HOUR - 1 in stamps for h in on_hours))   # and 100 ns before the next
        self.assertEqual(len(stamps), 5000)
        self.assertTrue(all(t.start <= s < t.end for s in stamps))

    def test_index_search_matches_brute_force(self):
        t = self.table(rows=3001)
        stamps = [t.timestamp(i) for i in range(t.rows)]
        rng = random.Random(3)
        for _ in range(4000):
            x = rng.randrange(t.start - DAY, t.end + DAY)
            if rng.random() < 0.4:
                x = rng.choice(stamps) + rng.choice((-1, 0, 1))
            self.assertEqual(t.first_at_or_after(x), bisect.bisect_left(stamps, x), x)

    def test_rows_are_computed_from_the_index(self):
        t = self.table()
        rows = t.row_values(0, t.rows)
        self.assertEqual(t.row_values(1234, 1240), rows[1234:1240])
        self.assertEqual(generated_tables.GeneratedTable("DeviceNetworkEvents", 5000, 2, 7, self.END)
                         .row_values(4990, 5000), rows[4990:])
        names = [c for c, _ in t.columns]
        self.assertEqual([r[names.index("ReportId")] for r in rows], list(range(1, 5001)))
        self.assertEqual([r[0] for r in rows], [t.timestamp(i) for i in range(t.rows)])
        self.assertGreater(len({r[names.index("DeviceName")] for r in rows}), 3)

    def test_ground_truth_matches_the_rows(self):
        t = self.table(rows=4321)
        rows = t.row_values(0, t.rows)
        rng = random.Random(5)
        for _ in range(50):
            lo = rng.randrange(t.start - HOUR, t.end + HOUR)
            hi = lo + rng.randrange(0, DAY)
            inside = [r for r in rows if lo <= r[0] < hi]
            truth = t.ground_truth(lo, hi)
            ids = [r[[c for c, _ in t.columns].index("ReportId")] for r in inside]
            self.assertEqual(truth["count"], len(inside))
            self.assertEqual(truth["sum_report_id"], sum(ids))
            self.assertEqual(truth["sum_report_id_squared"], sum(i * i for i in ids))
            self.assertEqual(truth["sum_timestamp_ticks"], sum(r[0] for r in inside))

    def test_floor_sum(self):
        for n, m, a, b in ((0, 3, 5, 1), (10, 7, 3, 2), (1000, 999, 123456789, 0), (17, 1, 0, 5)):
            self.assertEqual(generated_tables.floor_sum(n, m, a, b), sum((a * i + b) // m for i in range(n)))

    def test_streaming_equals_the_engine(self):
        t = self.table(rows=20000, days=2)
        full = kql.Table(t.columns, t.row_values(0, t.rows))
        lo, hi = t.start, t.end
        d1 = kql.format_datetime(t.start + 7 * HOUR)
        d2 = kql.format_datetime(t.start + 30 * HOUR)
        queries = [
            "T | where Timestamp >= datetime(%s) and Timestamp < datetime(%s)" % (d1, d2),
            "T | where Timestamp >= datetime(%s) and Timestamp < datetime(%s) | project ReportId, Timestamp"
            % (d1, d2),
            "T | where datetime(%s) <= Timestamp and RemotePort == 443 | extend x = ReportId * 2 "
            "| project x, Timestamp | take 7" % d1,
            "T | where Timestamp between (datetime(%s) .. datetime(%s)) | count" % (d1, d2),
            "T | where Timestamp > datetime(%s) | summarize count() by bin(Timestamp, 1h)" % d2,
            "T | where Timestamp == datetime(%s) | project ReportId" % d1,
            "T | where Timestamp < datetime(%s) | summarize n = count() by DeviceName | sort by n desc" % d1,
            "T | where Timestamp >= datetime(%s) | sort by ReportId desc | take 3" % d2,
            "T | where DeviceName startswith 'ws' or Timestamp < datetime(%s) | count" % d1,
        ]
        for q in queries:
            streamed = generated_tables.run_streaming(q, {"T": t}, lambda n: None, lo, hi, 0, 10 ** 9)
            expected = kql.run(q, {"T": full}.get, 0)
            self.assertEqual(streamed.columns, expected.columns, q)
            self.assertEqual(streamed.rows, expected.rows, q)

    def test_streaming_stops_at_the_row_limit(self):
        t = self.table(rows=20000, days=2)
        result = generated_tables.run_streaming("T", {"T": t}, lambda n: None, t.start, t.end, 0, 101)
        self.assertEqual(len(result.rows), 101)


# ==========================================================================
# Caps and generated tables over HTTP

class HuntingCapsTests(ScalingTestCase):
    EXTRA = ("--generated-table", "DeviceNetworkEvents:2000000:31")

    def setUp(self):
        super().setUp()
        self.layout = self.control("GET", "hunting/generated")["tables"][0]

    def truth(self, lo, hi):
        return self.control("GET", "hunting/generated/DeviceNetworkEvents?" + urllib.parse.urlencode(
            {"from": kql.format_datetime(lo), "to": kql.format_datetime(hi)}))

    def day(self, k):
        """Midnight (UTC) k days after the first midnight inside the table."""
        start = kql.parse_datetime(self.layout["start"])
        return start - start % DAY + (k + 1) * DAY

    def window(self, lo, hi, tail=""):
        return ("DeviceNetworkEvents | where Timestamp >= datetime(%s) and Timestamp < datetime(%s)%s"
                % (kql.format_datetime(lo), kql.format_datetime(hi), tail))

    def test_half_open_windows_are_exact(self):
        a, b, c = self.day(10), self.day(10) + 5 * HOUR, self.day(10) + 9 * HOUR
        left = self.hunt(self.window(a, b, " | project ReportId, Timestamp"))["results"]
        right = self.hunt(self.window(b, c, " | project ReportId, Timestamp"))["results"]
        truth = self.truth(a, c)
        ids = [r["ReportId"] for r in left + right]
        self.assertEqual(len(ids), truth["count"])
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(sum(ids), truth["sum_report_id"])
        self.assertEqual(left[0]["Timestamp"], kql.format_datetime(a))          # a row exactly on a
        self.assertEqual(right[0]["Timestamp"], kql.format_datetime(b))         # and on b, in the right window
        self.assertEqual(left[-1]["Timestamp"], kql.format_datetime(b - 1))     # 100 ns before b
        on_boundary = self.hunt("DeviceNetworkEvents | where Timestamp == datetime(%s) | project ReportId"
                                % kql.format_datetime(b))["results"]
        self.assertEqual(on_boundary, [{"ReportId": self.truth(b, c)["first_index"] + 1}])

    def test_count_and_summarize_stream(self):
        lo, hi = self.day(3), self.day(4)
        self.assertEqual(self.count(self.window(lo, hi)), self.truth(lo, hi)["count"])
        hours = self.hunt(self.window(lo, lo + 6 * HOUR, " | summarize count() by bin(Timestamp, 1h)"))["results"]
        self.assertEqual([h["count_"] for h in hours],
                         [self.truth(lo + k * HOUR, lo + (k + 1) * HOUR)["count"] for k in range(6)])
        self.assertEqual(len(self.hunt(self.window(lo, hi, " | take 5"))["results"]), 5)
        # a count over most of the 2,000,000 rows answers from the index range
        end = kql.parse_datetime(self.layout["end"])
        started = time.monotonic()
        self.assertEqual(self.count(self.window(lo, end)), self.truth(lo, end)["count"])
        self.assertLess(time.monotonic() - started, 5)

    def test_row_cap_refuse_and_cut(self):
        lo, hi = self.day(3), self.day(5)         # two days: about 133,000 rows
        self.assertGreater(self.truth(lo, hi)["count"], 100_000)
        body = self.hunt(self.window(lo, hi, " | project ReportId"), status=400)
        self.assertEqual(body["error"]["message"], "Query result set has exceeded the internal record count "
                                                   "limit 100000 (E_QUERY_RESULT_SET_TOO_LARGE).")
        self.control("POST", "config", {"hunting_cap_mode": "cut"})
        rows = self.hunt(self.window(lo, hi, " | project ReportId"))["results"]
        first = self.truth(lo, hi)["first_index"]
        self.assertEqual([r["ReportId"] for r in rows], list(range(first + 1, first + 100_001)))
        # a lower cap for tests; exactly the cap is not past it
        self.control("POST", "config", {"hunting_cap_mode": "refuse", "hunting_max_rows": 50})
        self.assertEqual(len(self.hunt(self.window(lo, hi, " | take 50"))["results"]), 50)
        self.assertIn("limit 50 ", self.hunt(self.window(lo, hi, " | take 51"), status=400)["error"]["message"])

    def test_size_cap_refuse_and_cut(self):
        lo = self.day(3)
        self.control("POST", "config", {"hunting_max_result_bytes": 20000})
        body = self.hunt(self.window(lo, lo + HOUR), status=400)
        self.assertTrue(body["error"]["message"].startswith("Result size limit exceeded."))
        self.control("POST", "config", {"hunting_cap_mode": "cut"})
        code, _, raw = self.request("POST", "/v1.0/security/runHuntingQuery",
                                    body={"Query": self.window(lo, lo + HOUR, " | project ReportId")},
                                    headers={"Authorization": "Bearer " + self.token()})
        self.assertEqual(code, 200)
        self.assertLessEqual(len(raw), 20000)
        ids = [r["ReportId"] for r in json.loads(raw)["results"]]
        first = self.truth(lo, lo + HOUR)["first_index"]
        self.assertGreater(len(ids), 100)
        self.assertEqual(ids, list(range(first + 1, first + 1 + len(ids))))

    def test_horizon_and_timespan_intersection(self):
        start = kql.parse_datetime(self.layout["start"])
        # the table covers 31 days: its first day is past the 30-day horizon, even for P90D
        before = kql.parse_datetime(self.hunt("print t = now()")["results"][0]["t"])
        oldest_query = "DeviceNetworkEvents | project Timestamp | take 1"     # rows come in time order
        oldest = kql.parse_datetime(self.hunt(oldest_query, timespan="P90D")["results"][0]["Timestamp"])
        self.assertGreaterEqual(oldest, before - 30 * DAY)
        self.assertGreater(oldest, start + DAY - HOUR)
        self.control("POST", "config", {"hunting_horizon_days": 0})
        oldest = self.hunt(oldest_query, timespan="P90D")["results"][0]["Timestamp"]
        self.assertEqual(kql.parse_datetime(oldest), start)
        # Timespan [d1, d3] and the query's [d2, d4): rows in [d2, d3] (the Timespan's end is inclusive)
        d1, d2, d3, d4 = (self.day(k) for k in (5, 6, 7, 8))
        span = "%s/%s" % (kql.format_datetime(d1), kql.format_datetime(d3))
        self.assertEqual(self.count(self.window(d2, d4), timespan=span), self.truth(d2, d3 + 1)["count"])

    def test_ground_truth_route(self):
        whole = self.control("GET", "hunting/generated/DeviceNetworkEvents")
        self.assertEqual(whole["count"], 2_000_000)
        self.assertEqual(whole["sum_report_id"], 2_000_000 * 2_000_001 // 2)
        self.assertEqual(whole["layout"]["days"], 31)
        status, _, _ = self.request("GET", "/_emulator/hunting/generated/DeviceInfo")
        self.assertEqual(status, 404)
        status, _, _ = self.request("GET", "/_emulator/hunting/DeviceNetworkEvents")
        self.assertEqual(status, 409)

    def test_other_shapes_materialize_small_windows_only(self):
        lo = self.day(3)
        q = "let w = %s; w | count" % self.window(lo, lo + HOUR)
        # a let is not streamed: the table is materialized for the Timespan window, fine when it is small
        span = "%s/%s" % (kql.format_datetime(lo), kql.format_datetime(lo + 2 * HOUR))
        self.assertEqual(self.hunt(q, timespan=span)["results"][0]["Count"], self.truth(lo, lo + HOUR)["count"])
        body = self.hunt(q, status=400)
        self.assertIn("generated table", body["error"]["message"])


# ==========================================================================
# Bandwidth

class BandwidthTests(ScalingTestCase):
    EXTRA = ("--bandwidth", "2000000")

    def test_body_is_written_at_the_limit(self):
        self.control("POST", "config", {"hunting_rows": 400, "hunting_max_result_bytes": 0})
        token = self.token()
        query = {"Query": "DeviceProcessEvents | project ReportId, ProcessCommandLine, FolderPath, SHA256"}
        self.request("POST", "/v1.0/security/runHuntingQuery", body=query,
                     headers={"Authorization": "Bearer " + token})      # warm the cache
        started = time.monotonic()
        status, _, raw = self.request("POST", "/v1.0/security/runHuntingQuery", body=query,
                                      headers={"Authorization": "Bearer " + token})
        elapsed = time.monotonic() - started
        self.assertEqual(status, 200)
        self.assertGreater(len(raw), 60_000)
        self.assertGreaterEqual(elapsed, len(raw) / 2_000_000 * 0.95)
        self.control("POST", "config", {"bandwidth_bytes_per_s": 0})
        started = time.monotonic()
        self.request("POST", "/v1.0/security/runHuntingQuery", body=query,
                     headers={"Authorization": "Bearer " + token})
        self.assertLess(time.monotonic() - started, len(raw) / 2_000_000)


if __name__ == "__main__":
    unittest.main()
