"""Self-test for the Graph emulator (unittest, stdlib only).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/emulator/tests -p 'test_*.py'

One emulator subprocess serves the whole suite (reset before each test);
the CLI/shutdown tests start their own.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

# The emulator's modules live one folder up (test/emulator/); every test
# module imports this one first, which puts them on the import path.
EMULATOR_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if EMULATOR_DIR not in sys.path:
    sys.path.insert(0, EMULATOR_DIR)
SCRIPT = os.path.join(EMULATOR_DIR, "graph_emulator.py")
TENANT = "00000000-0000-0000-0000-000000000001"
GOOD_CLIENT = "11111111-1111-1111-1111-111111111111"
GOOD_SECRET = "test-secret-value"
EXPIRED_CLIENT = "22222222-2222-2222-2222-222222222222"
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS7_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
TOP_MESSAGE = ("The query specified in the URI is not valid. The limit of '50' for Top query has "
               "been exceeded. The value from the incoming request is '%d'.")


def start_emulator(*extra):
    """Start the CLI on port 0; return (process, port, port_file)."""
    fd, port_file = tempfile.mkstemp(prefix="graph-emu-", suffix=".port")
    os.close(fd)
    os.unlink(port_file)
    proc = subprocess.Popen([sys.executable, SCRIPT, "--host", "127.0.0.1", "--port", "0",
                             "--port-file", port_file] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            with open(port_file) as f:
                text = f.read()
            if text.endswith("\n"):
                return proc, int(text), port_file
        if proc.poll() is not None:
            raise RuntimeError("emulator died: %s" % proc.stderr.read().decode())
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("emulator did not write its port file")


def stop_emulator(proc, port_file):
    """SIGTERM; return (exit code, stdout, stderr)."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    if os.path.exists(port_file):
        os.unlink(port_file)
    return proc.returncode, out, err


class EmulatorTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port, cls.port_file = start_emulator()
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        code, out, err = stop_emulator(cls.proc, cls.port_file)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        assert code == 0, "emulator exit code %r, stderr %r" % (code, err)
        assert out == b"", "emulator wrote to stdout: %r" % out

    def setUp(self):
        status, _, body = self.request("POST", "/_emulator/reset")
        self.assertEqual(status, 200, body)

    # ---- helpers ------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, conn=None, timeout=60):
        """Send one request; returns (status, headers dict lower-cased, body bytes)."""
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict(headers or {}, **{"Content-Type": "application/json"})
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            if own:
                conn.close()

    def json_request(self, method, path, **kw):
        status, headers, data = self.request(method, path, **kw)
        return status, headers, json.loads(data) if data else None

    def token_request(self, **fields):
        form = {"client_id": GOOD_CLIENT, "client_secret": GOOD_SECRET,
                "scope": self.base + "/.default", "grant_type": "client_credentials"}
        form.update(fields)
        form = {k: v for k, v in form.items() if v is not None}
        tenant = form.pop("tenant", TENANT)
        return self.json_request(
            "POST", "/%s/oauth2/v2.0/token" % tenant, body=urllib.parse.urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def token(self, **fields):
        status, _, body = self.token_request(**fields)
        self.assertEqual(status, 200, body)
        return body["access_token"]

    def graph(self, path, token=None, **kw):
        headers = dict(kw.pop("headers", {}))
        if token is not False:
            headers["Authorization"] = "Bearer " + (token or self.token())
        return self.json_request(kw.pop("method", "GET"), path, headers=headers, **kw)

    def control(self, method, path, body=None):
        status, _, data = self.json_request(method, "/_emulator/" + path, body=body)
        self.assertEqual(status, 200, data)
        return data

    def arm(self, *faults):
        self.control("POST", "faults", list(faults))

    def log(self, since=0):
        return self.control("GET", "requests?since=%d" % since)["requests"]

    def fixture_incidents(self):
        return self.control("GET", "incidents")["value"]


class TokenTests(EmulatorTestCase):
    def test_success(self):
        status, headers, body = self.token_request()
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3599)
        self.assertEqual(body["ext_expires_in"], 3599)
        self.assertRegex(body["access_token"], r"^emu_[0-9a-f]{40}$")
        self.assertIn(body["access_token"], self.control("GET", "tokens")["tokens"])

    def assert_entra_error(self, result, status, error, code):
        got_status, _, body = result
        self.assertEqual(got_status, status, body)
        self.assertEqual(body["error"], error)
        self.assertEqual(body["error_codes"], [code])
        self.assertTrue(body["error_description"].startswith("AADSTS%d: " % code))
        self.assertIn("\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: " %
                      (body["trace_id"], body["correlation_id"]), body["error_description"])
        self.assertRegex(body["trace_id"], GUID_RE)
        self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")
        self.assertEqual(body["error_uri"], "https://login.microsoftonline.com/error?code=%d" % code)

    def test_errors(self):
        cases = [
            (dict(client_secret="wrong"), 401, "invalid_client", 7000215),
            (dict(client_id=EXPIRED_CLIENT, client_secret="expired-secret-value"), 401, "invalid_client", 7000222),
            (dict(client_id="33333333-3333-3333-3333-333333333333"), 400, "unauthorized_client", 700016),
            (dict(tenant="99999999-9999-9999-9999-999999999999"), 400, "invalid_request", 90002),
            (dict(tenant="common"), 400, "invalid_request", 9001023),
            (dict(grant_type=None), 400, "invalid_request", 900144),
            (dict(client_id=None), 400, "invalid_request", 900144),
            (dict(scope=None), 400, "invalid_request", 900144),
            (dict(client_secret=None), 400, "invalid_request", 900144),
            (dict(grant_type="password"), 400, "unsupported_grant_type", 70003),
            (dict(scope=self.base), 400, "invalid_scope", 70011),
            (dict(scope=self.base + "/.default " + self.base + "/mde/.default"), 400, "invalid_scope", 70011),
            (dict(scope="not-a-url/.default"), 400, "invalid_resource", 500011),
        ]
        for fields, status, error, code in cases:
            with self.subTest(fields=fields):
                self.assert_entra_error(self.token_request(**fields), status, error, code)

    def test_missing_parameter_named(self):
        _, _, body = self.token_request(scope=None)
        self.assertIn("'scope'", body["error_description"])

    def test_basic_auth_credentials(self):
        import base64
        creds = base64.b64encode(("%s:%s" % (GOOD_CLIENT, GOOD_SECRET)).encode()).decode()
        status, _, body = self.json_request(
            "POST", "/%s/oauth2/v2.0/token" % TENANT,
            body=urllib.parse.urlencode({"scope": self.base + "/.default",
                                         "grant_type": "client_credentials"}),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Authorization": "Basic " + creds})
        self.assertEqual(status, 200, body)

    def test_token_lifetime_config(self):
        self.control("POST", "config", {"token_lifetime": 120})
        _, _, body = self.token_request()
        self.assertEqual(body["expires_in"], 120)

    def test_client_secret_rotation(self):
        app = "55555555-5555-5555-5555-555555555555"
        self.assertEqual(self.token_request(client_id=app, client_secret="one")[0], 400)
        self.control("POST", "clients", {"client_id": app, "secret": "one"})
        self.token(client_id=app, client_secret="one")
        self.control("POST", "clients", {"client_id": app, "secret": "two"})
        status, _, body = self.token_request(client_id=app, client_secret="one")
        self.assertEqual(status, 401, body)
        self.assertEqual(body["error_codes"][0], 7000215)
        self.token(client_id=app, client_secret="two")


class GraphAuthTests(EmulatorTestCase):
    def assert_401(self, result, fragment):
        status, headers, body = result
        self.assertEqual(status, 401, body)
        self.assertEqual(body["error"]["code"], "InvalidAuthenticationToken")
        self.assertIn(fragment, body["error"]["message"])
        self.assertTrue(headers["www-authenticate"].startswith("Bearer"))

    def test_missing_and_unknown_token(self):
        self.assert_401(self.graph("/v1.0/security/incidents", token=False), "empty")
        self.assert_401(self.graph("/v1.0/security/incidents", token="emu_nope"), "Invalid token")

    def test_revoked(self):
        old = self.token()
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=old)[0], 200)
        self.control("POST", "revoke_tokens")
        self.assert_401(self.graph("/v1.0/security/incidents?$top=1", token=old), "Revocation")
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1")[0], 200)
        self.control("POST", "reset")     # reset clears revocations
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=old)[0], 200)

    def test_expired(self):
        self.control("POST", "config", {"token_lifetime": 0})
        self.assert_401(self.graph("/v1.0/security/incidents"), "expired")

    def test_audience(self):
        mde = self.token(scope="http://localhost:1/mde/.default")
        self.assert_401(self.graph("/v1.0/security/incidents", token=mde), "Invalid audience")
        other_host = self.token(scope="https://graph.microsoft.com/.default")
        self.assertEqual(self.graph("/v1.0/security/incidents?$top=1", token=other_host)[0], 200)
        by_app_id = self.token(scope="00000003-0000-0000-c000-000000000000/.default")
        self.assertEqual(self.graph("/beta/security/incidents?$top=1", token=by_app_id)[0], 200)

    def test_token_ok_logged(self):
        self.graph("/v1.0/security/incidents?$top=1", token="emu_bad")
        self.graph("/v1.0/security/incidents?$top=1")
        entries = [e for e in self.log() if "incidents" in e["path"]]
        self.assertEqual([e["token_ok"] for e in entries], [False, True])


class IncidentTests(EmulatorTestCase):
    def test_paging_over_three_pages(self):
        token = self.token()
        url = "/v1.0/security/incidents"
        pages, rows = [], []
        while url:
            status, headers, body = self.graph(url, token=token)
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["content-type"], "application/json; odata.metadata=minimal")
            self.assertEqual(body["@odata.context"], self.base + "/v1.0/$metadata#security/incidents")
            pages.append(len(body["value"]))
            rows.extend(body["value"])
            link = body.get("@odata.nextLink")
            if link:
                self.assertTrue(link.startswith(self.base + "/v1.0/security/incidents?"), link)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
                self.assertEqual(query["$top"], ["50"])
                self.assertFalse(query["$skiptoken"][0].isdigit())
                url = link[len(self.base):]
            else:
                url = None
        self.assertEqual(pages, [50, 50, 30])
        ids = [r["id"] for r in rows]
        self.assertEqual(len(set(ids)), 130)
        self.assertEqual(rows, self.fixture_incidents())

    def test_top_skip_count_and_encoded_dollar(self):
        status, _, body = self.graph("/beta/security/incidents?%24top=7&%24skip=3&%24count=true")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["@odata.count"], 130)
        fixtures = self.fixture_incidents()
        self.assertEqual(body["value"], fixtures[3:10])
        link = body["@odata.nextLink"]
        self.assertIn("$count=true", link)
        _, _, page2 = self.graph(link[len(self.base):])
        self.assertEqual(page2["value"], fixtures[10:17])
        self.assertEqual(page2["@odata.count"], 130)

    def test_top_limit(self):
        for top in (51, 100):
            status, _, body = self.graph("/v1.0/security/incidents?$top=%d" % top)
            self.assertEqual(status, 400)
            self.assertEqual(body["error"]["code"], "")
            self.assertEqual(body["error"]["message"], TOP_MESSAGE % top)

    def test_bad_options(self):
        for query in ("$search=%22phish%22", "$apply=groupby((status))", "$foo=1", "$top=-1", "$top=abc",
                      "$count=maybe", "$skiptoken=garbage", "$top=1&$top=2"):
            with self.subTest(query=query):
                status, _, body = self.graph("/v1.0/security/incidents?" + query)
                self.assertEqual(status, 400, body)
                self.assertTrue(body["error"]["message"].startswith(
                    "The query specified in the URI is not valid."))
        self.assertEqual(self.graph("/v1.0/security/incidents?custom=1&$top=1")[0], 200)

    def test_get_by_id(self):
        fixture = self.fixture_incidents()[5]
        status, _, body = self.graph("/v1.0/security/incidents/" + fixture["id"])
        self.assertEqual(status, 200)
        body.pop("@odata.context")
        self.assertEqual(body, fixture)
        status, _, body = self.graph("/v1.0/security/incidents/999999999")
        self.assertEqual(status, 404)
        self.assertEqual(body["error"]["code"], "NotFound")

    def test_graph_headers_and_error_shape(self):
        status, headers, body = self.graph("/v1.0/security/nothing",
                                           headers={"client-request-id": "abc-123"})
        self.assertEqual(status, 404)
        self.assertEqual(body["error"]["code"], "ResourceNotFound")
        inner = body["error"]["innerError"]
        self.assertEqual(inner["client-request-id"], "abc-123")
        self.assertEqual(headers["client-request-id"], "abc-123")
        self.assertEqual(inner["request-id"], headers["request-id"])
        self.assertRegex(headers["request-id"], GUID_RE)
        self.assertRegex(inner["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
        self.assertIn("date", headers)
        status, headers, _ = self.graph("/v1.0/security/incidents")
        self.assertRegex(headers["client-request-id"], GUID_RE)

    def test_method_not_allowed(self):
        status, headers, body = self.graph("/v1.0/security/incidents", method="DELETE")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["allow"])

    def test_reset_regenerates(self):
        self.control("POST", "reset", {"incidents": 7, "seed": 2})
        rows = self.fixture_incidents()
        self.assertEqual(len(rows), 7)
        _, _, body = self.graph("/v1.0/security/incidents")
        self.assertEqual(body["value"], rows)
        self.assertNotIn("@odata.nextLink", body)
        self.control("POST", "reset")
        self.assertEqual(len(self.fixture_incidents()), 130)


class FixtureTests(unittest.TestCase):
    """Pure checks of fixtures.generate_incidents (no server)."""

    @classmethod
    def setUpClass(cls):
        import fixtures
        cls.fixtures = fixtures
        cls.rows = [fixtures.strip_private(i) for i in fixtures.generate_incidents(130, 1)]

    def test_deterministic(self):
        again = [self.fixtures.strip_private(i) for i in self.fixtures.generate_incidents(130, 1)]
        self.assertEqual(self.rows, again)
        other = [self.fixtures.strip_private(i) for i in self.fixtures.generate_incidents(130, 2)]
        self.assertNotEqual(self.rows, other)

    def test_properties(self):
        ids = [r["id"] for r in self.rows]
        self.assertEqual(len(set(ids)), len(ids))
        created = [r["createdDateTime"] for r in self.rows]
        self.assertEqual(created, sorted(created, reverse=True))
        statuses = set()
        for r in self.rows:
            statuses.add(r["status"])
            self.assertTrue(r["id"].isdigit())
            self.assertIn(r["status"], ("active", "resolved", "inProgress", "redirected"))
            self.assertIn(r["severity"], ("unknown", "informational", "low", "medium", "high"))
            self.assertRegex(r["createdDateTime"], TS7_RE)
            self.assertRegex(r["lastUpdateDateTime"], TS7_RE)
            self.assertGreaterEqual(r["lastUpdateDateTime"], r["createdDateTime"])
            self.assertEqual(r["redirectIncidentId"] is not None, r["status"] == "redirected")
            if r["redirectIncidentId"]:
                self.assertIn(r["redirectIncidentId"], ids)
            self.assertEqual(r["resolvingComment"] is not None, r["status"] == "resolved")
            self.assertTrue(r["priorityScore"] is None or 0 <= r["priorityScore"] <= 100)
            self.assertIsInstance(r["customTags"], list)
            self.assertIn(r["systemTags"], ([], ["Defender Experts"]))
            for c in r["comments"]:
                self.assertEqual(set(c), {"comment", "createdByDisplayName", "createdDateTime"})
        self.assertEqual(statuses, {"active", "resolved", "inProgress", "redirected"})
        self.assertTrue(any(r["systemTags"] for r in self.rows))
        self.assertTrue(any(r["comments"] for r in self.rows))
        self.assertTrue(any(r["priorityScore"] is None for r in self.rows))

    def test_awkward_characters(self):
        text = json.dumps(self.rows, ensure_ascii=False)
        for ch in ("'", '\\"', "&", "#", "%", "+", "\\\\", "é", "日本"):
            self.assertIn(ch, text)
        names = " ".join(r["displayName"] for r in self.rows)
        tags = " ".join(t for r in self.rows for t in r["customTags"])
        people = " ".join(r["assignedTo"] or "" for r in self.rows)
        for part in (names, tags, people):
            for ch in ("'", "&", "#", "%", "+", "\\", "é"):
                self.assertIn(ch, part)


class FaultTests(EmulatorTestCase):
    URL = "/v1.0/security/incidents?$top=2"

    def test_status_429_once_with_retry_after(self):
        token = self.token()
        self.arm({"match": "/security/incidents", "kind": "status", "status": 429, "retry_after": 2})
        status, headers, body = self.graph(self.URL, token=token)
        self.assertEqual(status, 429)
        self.assertEqual(headers["retry-after"], "2")
        self.assertEqual(body["error"]["code"], "TooManyRequests")
        self.assertEqual(self.graph(self.URL, token=token)[0], 200)
        faults = self.control("GET", "faults")["faults"]
        self.assertEqual((faults[0]["applied"], faults[0]["active"]), (1, False))
        self.assertEqual([e["fault"] for e in self.log() if "incidents" in e["path"]],
                         ["status", None])

    def test_skip_times_order_and_overrides(self):
        token = self.token()
        self.arm({"match": "/security/incidents", "skip": 1, "times": 2, "kind": "status",
                  "status": 503, "retry_after": 1},
                 {"match": "/security/incidents", "method": "GET", "kind": "status", "status": 500,
                  "code": "Custom", "message": "boom"})
        got = [self.graph(self.URL, token=token) for _ in range(5)]
        self.assertEqual([g[0] for g in got], [500, 503, 503, 200, 200])
        self.assertEqual(got[0][2]["error"]["code"], "Custom")
        self.assertEqual(got[1][2]["error"]["code"], "ServiceUnavailable")
        self.control("DELETE", "faults")
        self.assertEqual(self.control("GET", "faults")["faults"], [])

    def test_status_raw_body_and_unknown_error(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "status", "status": 502, "body": "Bad Gateway"},
                 {"match": "incidents", "kind": "status", "status": 504})
        self.assertEqual(self.request("GET", self.URL, headers={"Authorization": "Bearer " + token})[2],
                         b"Bad Gateway")
        status, _, body = self.graph(self.URL, token=token)
        self.assertEqual((status, body["error"]["code"], body["error"]["message"]), (504, "UnknownError", ""))

    def test_status_on_token_endpoint_is_entra_shaped(self):
        self.arm({"match": "/oauth2/v2.0/token", "kind": "status", "status": 503, "retry_after": 5})
        status, headers, body = self.token_request()
        self.assertEqual(status, 503)
        self.assertEqual(headers["retry-after"], "5")
        self.assertEqual(body["error"], "temporarily_unavailable")
        self.assertEqual(self.token_request()[0], 200)

    def test_delay_and_latency(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "delay", "seconds": 0.3})
        start = time.monotonic()
        self.assertEqual(self.graph(self.URL, token=token)[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.control("POST", "config", {"latency_ms": 200})
        start = time.monotonic()
        self.assertEqual(self.graph(self.URL, token=token)[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.2)
        start = time.monotonic()
        self.control("GET", "incidents")           # control calls are not delayed
        self.assertLess(time.monotonic() - start, 0.2)

    def test_hang_drops_connection(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "hang", "seconds": 0.3})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.graph(self.URL, token=token)
        self.arm({"match": "incidents", "kind": "hang", "seconds": 5})
        with self.assertRaises(socket.timeout):
            self.graph(self.URL, token=token, timeout=0.3)
        entry = [e for e in self.log() if "incidents" in e["path"]][0]
        self.assertEqual((entry["fault"], entry["status"]), ("hang", None))

    def test_malformed_empty_html(self):
        token = self.token()
        auth = {"Authorization": "Bearer " + token}
        self.arm({"match": "incidents", "kind": "malformed"},
                 {"match": "incidents", "kind": "empty"},
                 {"match": "incidents", "kind": "html", "status": 502})
        status, _, data = self.request("GET", self.URL, headers=auth)
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(data)
        status, headers, data = self.request("GET", self.URL, headers=auth)
        self.assertEqual((status, data, headers["content-length"]), (200, b"", "0"))
        status, headers, data = self.request("GET", self.URL, headers=auth)
        self.assertEqual(status, 502)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn(b"<html>", data)

    def test_truncate(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "truncate"})
        with self.assertRaises(http.client.IncompleteRead):
            self.graph(self.URL, token=token)
        self.assertEqual(self.graph(self.URL, token=token)[0], 200)

    def test_reset(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "reset"})
        with self.assertRaises((ConnectionResetError, http.client.IncompleteRead)):
            self.graph(self.URL, token=token)
        self.assertEqual(self.graph(self.URL, token=token)[0], 200)

    def test_wrong_type(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "wrong_type"})
        _, _, body = self.graph(self.URL, token=token)
        first = body["value"][0]
        self.assertIsInstance(first["createdDateTime"], (int, float))
        self.assertIsInstance(first["customTags"], str)
        self.assertIsInstance(body["value"][1]["createdDateTime"], str)

    def test_loop(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "loop"})
        _, _, body = self.graph(self.URL, token=token)
        self.assertEqual(body["@odata.nextLink"], self.base + self.URL)

    def test_huge(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "huge", "bytes": 3_000_000})
        status, headers, data = self.request("GET", self.URL, headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 200)
        self.assertEqual(len(data), 3_000_000)
        self.assertEqual(len(json.loads(data)["value"]), 2)

    def test_fault_matches_query(self):
        token = self.token()
        self.arm({"match": "incidents", "query": "$skip=50&", "kind": "status", "status": 503})
        auth = {"Authorization": "Bearer " + token}
        self.assertEqual(self.request("GET", self.URL, headers=auth)[0], 200)
        self.assertEqual(self.request("GET", "/v1.0/security/incidents?$skip=5&$top=5", headers=auth)[0], 200)
        self.assertEqual(self.request("GET", "/v1.0/security/incidents?%24skip=50&$top=5", headers=auth)[0], 503)
        self.assertEqual(self.request("GET", "/v1.0/security/incidents?$skip=50&$top=5", headers=auth)[0], 200)

    def test_drop_rows(self):
        token = self.token()
        self.arm({"match": "incidents", "kind": "drop_rows", "rows": 2})
        _, _, body = self.graph("/v1.0/security/incidents?$top=5", token=token)
        self.assertEqual(len(body["value"]), 3)
        _, _, body = self.graph("/v1.0/security/incidents?$top=5", token=token)
        self.assertEqual(len(body["value"]), 5)

    def test_bad_fault_spec(self):
        status, _, body = self.json_request("POST", "/_emulator/faults", body={"kind": "nope"})
        self.assertEqual(status, 400)
        self.assertIn("unknown fault kind", body["error"])


class ConnectionAndLogTests(EmulatorTestCase):
    def test_keep_alive_shares_conn(self):
        token = self.token()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            auth = {"Authorization": "Bearer " + token}
            for _ in range(3):
                self.assertEqual(self.request("GET", "/v1.0/security/incidents?$top=1",
                                              headers=auth, conn=conn)[0], 200)
            # a POST with a body on the same connection too
            status, _, _ = self.request("POST", "/%s/oauth2/v2.0/token" % TENANT, conn=conn,
                                        body="grant_type=client_credentials",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 400)
            self.assertEqual(self.request("GET", "/v1.0/security/incidents/1", headers=auth,
                                          conn=conn)[0], 404)
        finally:
            conn.close()
        self.graph("/v1.0/security/incidents?$top=1", token=token)
        entries = self.log()[1:]
        conns = [e["conn"] for e in entries]
        self.assertEqual(len(set(conns[:5])), 1, conns)
        self.assertNotEqual(conns[5], conns[0])

    def test_log_redacts_and_records(self):
        token = self.token()
        self.graph("/v1.0/security/incidents?%24top=3&x=a%20b", token=token,
                   headers={"client-request-id": "my-id"})
        self.json_request("POST", "/_emulator/config", body={"latency_ms": 0})   # not logged
        entries = self.log()
        self.assertEqual(len(entries), 2)
        tok_entry, get_entry = entries
        self.assertEqual(tok_entry["body"]["client_secret"], "<redacted>")
        self.assertEqual(tok_entry["body"]["client_id"], GOOD_CLIENT)
        self.assertIsNone(tok_entry["token_ok"])
        self.assertEqual(get_entry["headers"]["authorization"], "Bearer <redacted>")
        self.assertEqual(get_entry["headers"]["client-request-id"], "my-id")
        self.assertEqual(get_entry["path"], "/v1.0/security/incidents")
        self.assertEqual(get_entry["query"], {"$top": "3", "x": "a b"})
        self.assertEqual(get_entry["raw_target"], "/v1.0/security/incidents?%24top=3&x=a%20b")
        self.assertEqual((get_entry["status"], get_entry["fault"], get_entry["token_ok"]), (200, None, True))
        self.assertIsInstance(get_entry["ms"], float)
        raw = json.dumps(self.control("GET", "requests"))
        self.assertNotIn(GOOD_SECRET, raw)
        self.assertNotIn(token, raw)
        self.assertEqual(self.log(since=entries[0]["seq"]), [entries[1]])

    def test_response_bytes_logged(self):
        token = self.token()
        status, _, data = self.request("GET", "/v1.0/security/incidents?$top=7",
                                       headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 200)
        self.arm({"match": "/incidents", "kind": "truncate"})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", "/v1.0/security/incidents?$top=7",
                         headers={"Authorization": "Bearer " + token})
            resp = conn.getresponse()
            with self.assertRaises(http.client.IncompleteRead):
                resp.read()
        finally:
            conn.close()
        self.request("HEAD", "/v1.0/security/incidents?$top=7",
                     headers={"Authorization": "Bearer " + token})
        token_entry, full, truncated, head = self.log()
        self.assertGreater(token_entry["bytes"], 0)
        self.assertEqual(full["bytes"], len(data))
        self.assertEqual(truncated["bytes"], len(data) // 2)
        self.assertEqual(head["bytes"], 0)

    def test_connections_counted(self):
        before = self.control("GET", "connections")["accepted"]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(3):
                self.request("GET", "/v1.0/security/incidents/1", conn=conn)
        finally:
            conn.close()
        self.request("GET", "/v1.0/security/incidents/1")
        # the three requests shared one connection, the fourth had its own,
        # and each control request (this one too) opened one
        self.assertEqual(self.control("GET", "connections")["accepted"] - before, 3)

    def test_json_body_logged_parsed(self):
        self.request("POST", "/v1.0/security/incidents", body={"a": 1})
        self.assertEqual(self.log()[0]["body"], {"a": 1})


class CliTests(unittest.TestCase):
    def test_sigterm_during_hang_exits_zero_quietly(self):
        proc, port, port_file = start_emulator("--incidents", "5", "--seed", "3")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/_emulator/faults", body=json.dumps({"kind": "hang"}),
                         headers={"Content-Type": "application/json"})
            self.assertEqual(conn.getresponse().read()[:11], b'{"ok":true,')
            conn.request("GET", "/_emulator/incidents")
            self.assertEqual(len(json.loads(conn.getresponse().read())["value"]), 5)
            conn.close()
            hung = socket.create_connection(("127.0.0.1", port))
            hung.sendall(b"GET /v1.0/security/incidents HTTP/1.1\r\nHost: x\r\n\r\n")
            idle = socket.create_connection(("127.0.0.1", port))   # idle keep-alive connection
            time.sleep(0.2)
            start = time.monotonic()
            code, out, err = stop_emulator(proc, port_file)
            self.assertLess(time.monotonic() - start, 3)
            self.assertEqual((code, out, err), (0, b"", b""))
            hung.close()
            idle.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


class RedirectFaultTests(EmulatorTestCase):
    def test_redirect_fault(self):
        target = self.base + "/v1.0/emulatorEcho/elsewhere"
        self.arm({"kind": "redirect", "match": "/security/incidents", "location": target},
                 {"kind": "redirect", "status": 307, "match": "/oauth2/", "location": target})
        status, headers, body = self.request("GET", "/v1.0/security/incidents")
        self.assertEqual((status, headers["location"], body), (302, target, b""))
        status, headers, _ = self.token_request()
        self.assertEqual((status, headers["location"]), (307, target))
        self.assertEqual([e["fault"] for e in self.log()], ["redirect", "redirect"])

    def test_redirect_needs_location(self):
        for spec in ({"kind": "redirect"}, {"kind": "redirect", "location": "/x", "status": 200}):
            status, _, _ = self.request("POST", "/_emulator/faults", body=spec)
            self.assertEqual(status, 400, spec)


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl CLI")
class TlsTests(unittest.TestCase):
    """--tls-cert/--tls-key: HTTPS with a self-signed certificate."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="graph-emu-tls-")
        cls.cert = os.path.join(cls.dir, "cert.pem")
        key = os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cls.cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.proc, cls.port, cls.port_file = start_emulator("--tls-cert", cls.cert, "--tls-key", key)

    @classmethod
    def tearDownClass(cls):
        code, _, err = stop_emulator(cls.proc, cls.port_file)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, "emulator exit code %r, stderr %r" % (code, err)

    def https(self, context, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def test_trusted_and_untrusted(self):
        trusted = ssl.create_default_context(cafile=self.cert)
        status, body = self.https(trusted, "GET", "/_emulator/requests")
        self.assertEqual(status, 200, body)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.https(ssl.create_default_context(), "GET", "/_emulator/requests")
        # the failed handshake did not disturb the server
        self.assertEqual(self.https(trusted, "GET", "/_emulator/requests")[0], 200)

    def test_next_link_is_https(self):
        trusted = ssl.create_default_context(cafile=self.cert)
        base = "https://127.0.0.1:%d" % self.port
        form = urllib.parse.urlencode({"client_id": GOOD_CLIENT, "client_secret": GOOD_SECRET,
                                       "scope": base + "/.default",
                                       "grant_type": "client_credentials"})
        status, body = self.https(trusted, "POST", "/%s/oauth2/v2.0/token" % TENANT, form,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 200, body)
        token = json.loads(body)["access_token"]
        status, body = self.https(trusted, "GET", "/v1.0/security/incidents?$top=1",
                                  headers={"Authorization": "Bearer " + token})
        self.assertEqual(status, 200, body)
        self.assertTrue(json.loads(body)["@odata.nextLink"].startswith(base + "/v1.0/"))

    def test_plain_http_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /_emulator/requests HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                data = b""
        self.assertNotIn(b"HTTP/1.1 200", data)


if __name__ == "__main__":
    unittest.main()
