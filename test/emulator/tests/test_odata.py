"""Self-test for the emulator's OData evaluation and alerts_v2 (unittest,
stdlib only).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/emulator/tests -p 'test_*.py'

FilterUnitTests check the parser and evaluator in-process against reference
predicates written by hand; the other classes go through HTTP against one
emulator subprocess per class (see test_emulator.EmulatorTestCase).
"""

import http.client
import json
import re
import statistics
import unittest
import urllib.parse

import test_emulator as base   # noqa: E402  (the shared HTTP helpers; first: the path)
import common                 # noqa: E402
import fixtures               # noqa: E402
import odata                  # noqa: E402
import incidents as incidents_module   # noqa: E402
import alerts as alerts_module         # noqa: E402

SEVERITY_ORDER = ["unknown", "informational", "low", "medium", "high"]
TS7_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
EVIDENCE_BASE = {"@odata.type", "createdDateTime", "detailedRoles", "remediationStatus",
                 "remediationStatusDetails", "roles", "tags", "verdict"}
ALERT_PROPERTIES = {
    "actorDisplayName", "additionalData", "alertPolicyId", "alertWebUrl", "assignedTo", "category",
    "classification", "comments", "createdDateTime", "customDetails", "description", "detectionSource",
    "detectorId", "determination", "evidence", "firstActivityDateTime", "id", "incidentId",
    "incidentWebUrl", "lastActivityDateTime", "lastUpdateDateTime", "mitreTechniques", "productName",
    "providerAlertId", "recommendedActions", "resolvedDateTime", "serviceSource", "severity", "status",
    "systemTags", "tenantId", "threatDisplayName", "threatFamilyName", "title",
}


def q(text):
    """Percent-encode a query value the way the FDW does (all but unreserved)."""
    return urllib.parse.quote(text, safe="-._~")


def odata_string(text):
    """An OData string literal: single quotes, inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def lower(value):
    return None if value is None else value.lower()


# --------------------------------------------------------------------------
# In-process: the parser and evaluator

class FilterUnitTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = fixtures.generate_incidents(130, 1)
        cls.alert_rows = fixtures.generate_alerts(cls.rows, 1)

    def run_filter(self, text, schema=None, rows=None):
        compiled = odata.compile_filter(schema or incidents_module.SCHEMA, text)
        return [r["id"] for r in (rows or self.rows) if compiled.predicate(r)]

    def expect(self, text, reference, schema=None, rows=None):
        rows = rows or self.rows
        want = [r["id"] for r in rows if reference(r)]
        self.assertEqual(self.run_filter(text, schema, rows), want, text)
        return want

    def reject(self, text, *fragments, schema=None):
        with self.assertRaises(odata.ODataError, msg=text) as caught:
            odata.compile_filter(schema or incidents_module.SCHEMA, text)
        err = caught.exception
        self.assertEqual(err.code, "BadRequest")
        self.assertTrue(err.message.startswith("Invalid filter clause: "), err.message)
        for fragment in fragments:
            self.assertIn(fragment, err.message)
        return err.message

    def test_comparison_operators_on_enums(self):
        rank = SEVERITY_ORDER.index
        self.assertTrue(self.expect("status eq 'active'", lambda r: r["status"] == "active"))
        self.assertTrue(self.expect("status ne 'resolved'", lambda r: r["status"] != "resolved"))
        self.assertTrue(self.expect("severity gt 'low'", lambda r: rank(r["severity"]) > 2))
        self.assertTrue(self.expect("severity ge 'low'", lambda r: rank(r["severity"]) >= 2))
        self.assertTrue(self.expect("severity lt 'medium'", lambda r: rank(r["severity"]) < 3))
        self.assertTrue(self.expect("severity le 'informational'", lambda r: rank(r["severity"]) <= 1))
        # incidentStatus member order: active(1) < resolved(2) < inProgress(4) < redirected(64)
        self.expect("status gt 'resolved'", lambda r: r["status"] in ("inProgress", "redirected"))
        # a null enum value is never ordered
        self.expect("classification ge 'unknown'", lambda r: r["classification"] is not None)

    def test_enum_literals_are_case_insensitive(self):
        want = self.expect("status eq 'ACTIVE'", lambda r: r["status"] == "active")
        self.assertEqual(self.run_filter("status eq 'Active'"), want)
        self.assertEqual(self.run_filter("'active' eq status"), want)
        self.assertEqual(self.run_filter("status eq microsoft.graph.security.incidentStatus'active'"), want)
        self.expect("severity gt 'LOW'", lambda r: SEVERITY_ORDER.index(r["severity"]) > 2)

    def test_strings_and_nulls(self):
        self.assertTrue(self.expect("assignedTo eq null", lambda r: r["assignedTo"] is None))
        self.assertTrue(self.expect("assignedTo ne null", lambda r: r["assignedTo"] is not None))
        # OData: null ne 'x' is true, so unassigned rows come back too
        want = self.expect("assignedTo ne 'admin@contoso.com'", lambda r: lower(r["assignedTo"]) != "admin@contoso.com")
        self.assertTrue(any(r["assignedTo"] is None and r["id"] in want for r in self.rows))
        self.assertTrue(self.expect("assignedTo eq 'ADMIN@Contoso.com'",
                                    lambda r: lower(r["assignedTo"]) == "admin@contoso.com"))
        # ordering compares case-insensitively; null is never ordered
        self.assertTrue(self.expect("assignedTo gt 'M'", lambda r: r["assignedTo"] is not None
                                    and r["assignedTo"].lower() > "m"))
        self.expect("assignedTo le 'jane.doe@contoso.com'", lambda r: r["assignedTo"] is not None
                    and r["assignedTo"].lower() <= "jane.doe@contoso.com")
        # not() of a false comparison on null is true (two-valued logic)
        self.expect("not (assignedTo gt 'm')", lambda r: not (r["assignedTo"] is not None
                                                               and r["assignedTo"].lower() > "m"))
        self.expect("null eq null", lambda r: True)
        self.expect("classification eq null and determination eq null",
                    lambda r: r["classification"] is None and r["determination"] is None)

    def test_escaped_quotes_and_awkward_values(self):
        self.assertTrue(self.expect("assignedTo eq 'o''brien@contoso.com'",
                                    lambda r: r["assignedTo"] == "o'brien@contoso.com"))
        for value in sorted({r["assignedTo"] for r in self.rows if r["assignedTo"]}):
            self.assertTrue(self.expect("assignedTo eq " + odata_string(value),
                                        lambda r, v=value: lower(r["assignedTo"]) == v.lower()), value)

    def test_precedence_and_grouping(self):
        def active_or_resolved_high(r):
            return r["status"] == "active" or (r["status"] == "resolved" and r["severity"] == "high")
        self.expect("status eq 'active' or status eq 'resolved' and severity eq 'high'", active_or_resolved_high)
        self.expect("(status eq 'active' or status eq 'resolved') and severity eq 'high'",
                    lambda r: r["status"] in ("active", "resolved") and r["severity"] == "high")
        self.expect("not (status eq 'active') and severity eq 'high'",
                    lambda r: r["status"] != "active" and r["severity"] == "high")
        self.expect("not(status eq 'active' or severity eq 'high')",
                    lambda r: not (r["status"] == "active" or r["severity"] == "high"))
        self.expect("not not (status eq 'active')", lambda r: r["status"] == "active")
        self.expect("not status in ('active', 'resolved')", lambda r: r["status"] not in ("active", "resolved"))
        self.expect("((severity eq 'high'))", lambda r: r["severity"] == "high")
        self.expect("status eq 'active' eq true", lambda r: r["status"] == "active")
        # keywords are case-insensitive, as in the OData ABNF
        self.expect("status EQ 'active' Or NOT (severity Ne 'high') AND assignedTo eq NULL",
                    lambda r: r["status"] == "active" or (r["severity"] == "high" and r["assignedTo"] is None))
        self.reject("not status eq 'active'", "unary operator", "'Not'")

    def test_in(self):
        self.assertTrue(self.expect("status in ('active','inProgress')",
                                    lambda r: r["status"] in ("active", "inProgress")))
        self.assertTrue(self.expect("classification in ('TruePositive', null)",
                                    lambda r: r["classification"] in ("truePositive", None)))
        self.expect("assignedTo in ('ADMIN@contoso.com', 'tier2@contoso.com')",
                    lambda r: lower(r["assignedTo"]) in ("admin@contoso.com", "tier2@contoso.com"))
        self.reject("status in ()", "Expression expected at position 11")
        self.reject("status in ('active' 'resolved')", "')' or ',' expected")
        self.reject("status in ('active', 'bogus')", "The string 'bogus' is not a valid enumeration type constant.")

    def test_datetimes(self):
        row = self.rows[40]
        text = row["createdDateTime"]
        self.assertRegex(text, TS7_RE)
        ticks = row["_created_ticks"]
        self.expect("createdDateTime ge " + text, lambda r: r["_created_ticks"] >= ticks)
        gt = self.expect("createdDateTime gt " + text, lambda r: r["_created_ticks"] > ticks)
        self.assertNotIn(row["id"], gt)
        self.expect("createdDateTime le " + text, lambda r: r["_created_ticks"] <= ticks)
        self.assertEqual(self.run_filter("createdDateTime eq " + text), [row["id"]])
        # one tick less is a different instant: 7 fraction digits matter
        earlier = common.format_ticks(ticks - 1)
        self.assertIn(row["id"], self.run_filter("createdDateTime gt " + earlier))
        self.assertEqual(self.run_filter("createdDateTime eq " + earlier), [])
        # offsets are instants: 12:00+02:00 == 10:00Z
        self.assertEqual(self.run_filter("createdDateTime lt 2025-06-01T12:00:00+02:00"),
                         self.run_filter("createdDateTime lt 2025-06-01T10:00:00Z"))
        self.assertEqual(self.run_filter("createdDateTime lt 2025-06-01T08:00:00.5-02:00"),
                         self.run_filter("createdDateTime lt 2025-06-01T10:00:00.5000000Z"))
        self.expect("lastUpdateDateTime lt 2025-06-01T00:00Z", lambda r: r["lastUpdateDateTime"] < "2025-06-01T")
        self.expect("createdDateTime lt lastUpdateDateTime", lambda r: r["_created_ticks"] < r["_updated_ticks"])
        self.reject("createdDateTime ge 2025-02-07T19:01:26", "Unrecognized 'Edm.DateTimeOffset' literal")
        self.reject("createdDateTime ge 2025-02-30T19:01:26Z", "Unrecognized")
        self.reject("createdDateTime ge 2025-02-07T19:01:26.12345678Z", "Unrecognized")
        self.reject("createdDateTime ge 2025-02-07T19:01:26+15:00", "Unrecognized")
        self.reject("createdDateTime ge '2025-02-07T19:01:26Z'", "incompatible types",
                    "'Edm.DateTimeOffset' and 'Edm.String'", "'GreaterThanOrEqual'")
        self.reject("createdDateTime eq 2025-02-07", "incompatible types", "'Edm.Date'")

    def test_rejections(self):
        for prop in ("displayName", "id", "customTags", "priorityScore", "tenantId", "alerts"):
            self.reject("%s eq 'x'" % prop, "filtering on property '%s' is not supported." % prop)
        self.reject("serviceSource eq 'x'", "Could not find a property named 'serviceSource'")
        self.reject("DisplayName eq 'x'", "filtering on property 'displayName' is not supported.")
        self.reject("title eq 'x'", "filtering on property 'title' is not supported.",
                    schema=alerts_module.SCHEMA)
        self.reject("nosuch eq 'x'", "Could not find a property named 'nosuch' on type "
                    "'microsoft.graph.security.incident'.")
        self.reject("status eq 'bogus'", "The string 'bogus' is not a valid enumeration type constant.")
        self.reject("determination eq 'compromisedUser'", "not a valid enumeration type constant")
        self.reject("status eq 'new'", "not a valid enumeration type constant")
        self.reject("status eq", "Expression expected at position 9 in 'status eq'.")
        self.reject("", "Expression expected at position 0")
        self.reject("status eq 'active", "unterminated string literal at position 10")
        self.reject("status eq 'active' xor severity eq 'high'", "Syntax error at position 19")
        self.reject("(status eq 'active'", "')' or operator expected at position 19")
        self.reject("status eq 'active')", "Syntax error at position 18")
        self.reject("status eq 'active' ;", "character ';' is not valid at position 19")
        self.reject("startswith(assignedTo,'a')", "The function 'startswith' is not supported")
        self.reject("contains(assignedTo,'a')", "The function 'contains' is not supported")
        self.reject("frobnicate(assignedTo)", "An unknown function with name 'frobnicate'")
        self.reject("status has 'active'", "The operator 'has' is not supported")
        self.reject("createdDateTime add duration'P1D' gt 2025-01-01T00:00:00Z", "The operator 'add' is not supported")
        self.reject("status", "must evaluate to a single boolean value")
        self.reject("status eq 'active' and severity", "incompatible types", "'And'")
        self.reject("status eq severity", "incompatible types")
        self.reject("status eq 1", "incompatible types", "'Edm.Int32'")
        self.reject("status like 'active'", "Syntax error at position 7")
        self.reject("evidence/any(e: e/microsoft.graph.security.urlEvidence/url eq 'x')",
                    "not supported", schema=alerts_module.SCHEMA)
        self.reject("microsoft.graph.security.alertStatus'new' eq status", "incompatible types")

    def test_alert_filters(self):
        rows = self.alert_rows
        schema = alerts_module.SCHEMA
        self.assertTrue(self.expect("serviceSource eq 'microsoftDefenderForEndpoint'",
                                    lambda r: r["serviceSource"] == "microsoftDefenderForEndpoint", schema, rows))
        self.assertTrue(self.expect("status eq 'NEW' and severity ge 'medium'",
                                    lambda r: r["status"] == "new" and SEVERITY_ORDER.index(r["severity"]) >= 3,
                                    schema, rows))
        self.reject("status eq 'active'", "not a valid enumeration type constant", schema=schema)

    def test_orderby_select_expand_parsers(self):
        schema = incidents_module.SCHEMA
        self.assertEqual(odata.parse_orderby("createdDateTime desc, lastUpdateDateTime", schema),
                         (("createdDateTime", True), ("lastUpdateDateTime", False)))
        self.assertEqual(odata.parse_orderby("LastUpdateDateTime asc", schema), (("lastUpdateDateTime", False),))
        self.assertEqual(odata.parse_orderby(" createdDateTime DESC ", schema), (("createdDateTime", True),))
        for text, fragment in [("displayName", "Order by 'displayName' is not allowed"),
                               ("severity desc", "Order by 'severity' is not allowed"),
                               ("nosuch", "Could not find a property named 'nosuch'"),
                               ("createdDateTime up", "Syntax error at position 16"),
                               ("createdDateTime,", "Syntax error"),
                               ("createdDateTime,createdDateTime desc", "Duplicate property")]:
            with self.assertRaises(odata.ODataError) as caught:
                odata.parse_orderby(text, schema)
            self.assertIn(fragment, caught.exception.message)
            self.assertTrue(caught.exception.message.startswith(odata.INVALID_QUERY))
        self.assertEqual(odata.parse_select("severity,status", schema), ("status", "severity"))
        self.assertIsNone(odata.parse_select("*", schema))
        self.assertEqual(odata.parse_expand("alerts", schema), ("alerts",))
        self.assertEqual(odata.parse_expand("*", schema), ("alerts",))
        for text in ("comments", "nosuch", "alerts($select=id)"):
            with self.assertRaises(odata.ODataError):
                odata.parse_expand(text, schema)

    def test_bulk_select_agrees_with_predicate(self):
        rows = [dict(r) for r in self.alert_rows]
        odata.prepare_rows(rows, alerts_module.SCHEMA)
        slims = [r["_slim"] for r in rows]
        for text in ("status eq 'new'", "severity ge 'medium' and not (status eq 'resolved')",
                     "assignedTo in ('ADMIN@contoso.com', null) or lastUpdateDateTime lt 2025-05-01T00:00:00Z",
                     "classification ne null and serviceSource ne 'microsoftDefenderForEndpoint'",
                     "createdDateTime lt lastUpdateDateTime", "assignedTo gt 'S' and assignedTo lt 't'"):
            compiled = odata.compile_filter(alerts_module.SCHEMA, text)
            self.assertEqual([s[odata.SLIM_ROW]["id"] for s in compiled.select(slims)],
                             [r["id"] for r in rows if compiled.predicate(r)], text)

    def test_cached_payload_equals_plain_json(self):
        row = self.rows[3]
        odata.prepare_rows([row])
        opts = odata.QueryOptions()
        wire = odata.shape(row, opts, {})
        self.assertEqual(odata._encode({"value": [wire]}), common.dump_json({"value": [wire]}))
        opts.expand = ("alerts",)
        expanded = odata.shape(row, opts, {"alerts": lambda r: [odata.wire_row(a) for a in self.alert_rows[:2]]})
        self.assertEqual(odata._encode({"value": [expanded]}), common.dump_json({"value": [expanded]}))
        expanded["description"] = "changed"          # a damaging fault changes the copy
        self.assertIn(b'"changed"', odata._encode({"value": [expanded]}))
        self.assertEqual(odata._encode({"value": [expanded]}), common.dump_json({"value": [expanded]}))


# --------------------------------------------------------------------------
# Alert fixtures (no server)

class AlertFixtureTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.incidents = fixtures.generate_incidents(130, 1)
        cls.alerts = [fixtures.strip_private(a) for a in fixtures.generate_alerts(cls.incidents, 1)]

    def test_deterministic_and_incidents_untouched(self):
        again = fixtures.generate_incidents(130, 1)
        self.assertEqual([fixtures.strip_private(i) for i in again],
                         [fixtures.strip_private(i) for i in self.incidents])
        self.assertEqual([fixtures.strip_private(a) for a in fixtures.generate_alerts(again, 1)], self.alerts)
        self.assertNotEqual([a["id"] for a in fixtures.generate_alerts(fixtures.generate_incidents(130, 2), 2)],
                            [a["id"] for a in self.alerts])

    def test_alerts_per_incident(self):
        per = {}
        for alert in self.alerts:
            per.setdefault(alert["incidentId"], []).append(alert)
        self.assertEqual(set(per), {i["id"] for i in self.incidents})
        self.assertTrue(all(1 <= len(v) <= 5 for v in per.values()))
        self.assertGreater(len(self.alerts), 2.5 * len(self.incidents))
        self.assertLess(len(self.alerts), 3.6 * len(self.incidents))
        self.assertEqual(len({a["id"] for a in self.alerts}), len(self.alerts))
        created = [a["createdDateTime"] for a in self.alerts]
        self.assertEqual(created, sorted(created, reverse=True))
        by_id = {i["id"]: i for i in self.incidents}
        for alert in self.alerts:
            incident = by_id[alert["incidentId"]]
            self.assertEqual(alert["incidentWebUrl"], incident["incidentWebUrl"])
            self.assertLessEqual(alert["lastUpdateDateTime"], incident["lastUpdateDateTime"])
            self.assertLessEqual(SEVERITY_ORDER.index(alert["severity"]), SEVERITY_ORDER.index(incident["severity"]))

    def test_properties(self):
        sources = set()
        for alert in self.alerts:
            self.assertLessEqual(ALERT_PROPERTIES, set(alert))
            self.assertIn(alert["status"], ("new", "inProgress", "resolved"))
            self.assertEqual(alert["resolvedDateTime"] is not None, alert["status"] == "resolved")
            for key in ("createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"):
                self.assertRegex(alert[key], TS7_RE)
            self.assertLessEqual(alert["firstActivityDateTime"], alert["lastActivityDateTime"])
            self.assertLessEqual(alert["createdDateTime"], alert["lastUpdateDateTime"])
            self.assertIsInstance(alert["additionalData"], dict)
            self.assertIsInstance(alert["customDetails"], dict)
            self.assertIsInstance(alert["mitreTechniques"], list)
            self.assertTrue(alert["evidence"])
            sources.add(alert["serviceSource"])
            if alert["serviceSource"] == "microsoftDefenderForEndpoint":
                self.assertRegex(alert["id"], r"^da\d{18}_-?\d+$")
                self.assertEqual(alert["providerAlertId"], alert["id"])
            else:
                self.assertNotRegex(alert["id"], r"^da\d")
        self.assertGreaterEqual(len(sources), 5)

    def test_evidence(self):
        types = {}
        for alert in self.alerts:
            for ev in alert["evidence"]:
                self.assertLessEqual(EVIDENCE_BASE, set(ev))
                self.assertTrue(ev["@odata.type"].startswith("#microsoft.graph.security."))
                self.assertIn(ev["verdict"], ("unknown", "suspicious", "malicious", "noThreatsFound"))
                types.setdefault(ev["@odata.type"].rsplit(".", 1)[1], []).append(ev)
        for name in ("deviceEvidence", "userEvidence", "urlEvidence", "dnsEvidence", "ipEvidence",
                     "fileEvidence", "processEvidence", "mailboxEvidence"):
            self.assertIn(name, types)
        for ev in types["dnsEvidence"]:
            self.assertEqual({"domainName", "dnsServerIp", "hostIpAddress", "ipAddresses"} - set(ev), set())
            self.assertIn("ipAddress", ev["dnsServerIp"])
        for ev in types["ipEvidence"]:
            self.assertIn("ipAddress", ev)
            self.assertIn("countryLetterCode", ev)
        urls = {ev["url"] for ev in types["urlEvidence"]}
        names = {ev["domainName"] for ev in types["dnsEvidence"]}
        for awkward in ("bücher.example", "xn--bcher-kva.example", ":8080", "WWW.Contoso-Evil.COM", "[2001:db8::1]"):
            self.assertTrue(any(awkward in url for url in urls), awkward)
        self.assertTrue({"Evil.EXAMPLE.com", "trailing.example.com.", "例え.jp"} <= names)


# --------------------------------------------------------------------------
# Through HTTP

class HttpCase(base.EmulatorTestCase):
    def get(self, path, **params):
        """GET with params encoded like the FDW does; returns (status, body)."""
        url = path
        if params:
            url += "?" + "&".join("%s=%s" % (name.replace("_", "$", 1) if name.startswith("_") else name, q(value))
                                  for name, value in params.items())
        status, _, body = self.graph(url, token=self.tok)
        return status, body

    def setUp(self):
        super().setUp()
        self.tok = self.token()

    def fetch_all(self, path, **params):
        """Follow nextLinks; returns (rows, bodies)."""
        status, body = self.get(path, **params)
        self.assertEqual(status, 200, body)
        bodies = [body]
        rows = list(body["value"])
        while "@odata.nextLink" in body:
            link = body["@odata.nextLink"]
            self.assertTrue(link.startswith(self.base), link)
            status, _, body = self.graph(link[len(self.base):], token=self.tok)
            self.assertEqual(status, 200, body)
            bodies.append(body)
            rows.extend(body["value"])
        return rows, bodies

    def fixture_alerts(self):
        return self.control("GET", "alerts")["value"]

    def assert_400(self, path, code, *fragments, **params):
        status, body = self.get(path, **params)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["code"], code, body)
        for fragment in fragments:
            self.assertIn(fragment, body["error"]["message"])
        self.assertIn("request-id", body["error"]["innerError"])
        return body["error"]["message"]


class IncidentQueryTests(HttpCase):
    URL = "/v1.0/security/incidents"

    def test_filtered_paging_returns_each_row_once(self):
        fx = self.fixture_incidents()
        want = [r for r in fx if r["status"] in ("active", "inProgress") and r["severity"] != "low"]
        filt = "status in ('active','inProgress') and severity ne 'low'"
        rows, bodies = self.fetch_all(self.URL, _filter=filt, _top="7", _count="true")
        self.assertEqual(rows, want)
        self.assertEqual(len(bodies), (len(want) + 6) // 7)
        for body in bodies:
            self.assertEqual(body["@odata.count"], len(want))
        link = urllib.parse.urlsplit(bodies[0]["@odata.nextLink"])
        carried = dict(urllib.parse.parse_qsl(link.query))
        self.assertEqual(carried["$filter"], filt)
        self.assertEqual(carried["$count"], "true")
        self.assertEqual(carried["$top"], "7")

    def test_plus_and_percent_encoding(self):
        fx = self.fixture_incidents()
        active = [r for r in fx if r["status"] == "active"]
        status, _, body = self.graph(self.URL + "?$filter=status+eq+'active'", token=self.tok)
        self.assertEqual((status, body["value"]), (200, active[:50]))
        status, _, body = self.graph(self.URL + "?%24filter=status%20eq%20%27active%27", token=self.tok)
        self.assertEqual(body["value"], active[:50])
        plus = [r for r in fx if r["assignedTo"] == "first+filter@contoso.com"]
        self.assertTrue(plus)
        self.assertEqual(self.get(self.URL, _filter="assignedTo eq 'first+filter@contoso.com'")[1]["value"], plus)
        # a raw '+' is a space, so this looks for 'first filter@contoso.com'
        status, _, body = self.graph(self.URL + "?$filter=assignedTo+eq+'first+filter@contoso.com'", token=self.tok)
        self.assertEqual((status, body["value"]), (200, []))
        # the same for a DateTimeOffset offset: '+' must be sent as %2B
        offset = [r for r in fx if r["createdDateTime"] < "2025-06-01T10:00:00.0000000Z"][:50]
        self.assertEqual(self.get(self.URL, _filter="createdDateTime lt 2025-06-01T12:00:00+02:00")[1]["value"],
                         offset)
        status, _, body = self.graph(self.URL + "?$filter=createdDateTime+lt+2025-06-01T12:00:00+02:00",
                                     token=self.tok)
        self.assertEqual(status, 400, body)
        self.assertIn("Unrecognized 'Edm.DateTimeOffset' literal '2025-06-01T12:00:00'", body["error"]["message"])

    def test_awkward_values_round_trip(self):
        fx = self.fixture_incidents()
        values = sorted({r["assignedTo"] for r in fx if r["assignedTo"]})
        for char in ("'", "&", "#", "%", "+", "\\", "é", "山田", '"'):
            self.assertTrue(any(char in v for v in values), char)
        for value in values:
            with self.subTest(value=value):
                want = [r for r in fx if lower(r["assignedTo"]) == value.lower()]
                status, body = self.get(self.URL, _filter="assignedTo eq " + odata_string(value))
                self.assertEqual(status, 200, body)
                self.assertEqual(body["value"], want)
                entry = self.log()[-1]
                self.assertEqual(entry["query"]["$filter"], "assignedTo eq " + odata_string(value))

    def test_case_insensitive_enums_and_strings(self):
        fx = self.fixture_incidents()
        want = [r for r in fx if r["status"] == "resolved"][:50]
        self.assertEqual(self.get(self.URL, _filter="status eq 'Resolved'")[1]["value"], want)
        self.assertEqual(self.get(self.URL, _filter="Status eq 'RESOLVED'")[1]["value"], want)
        want = [r for r in fx if lower(r["assignedTo"]) == "admin@contoso.com"]
        self.assertEqual(self.get(self.URL, _filter="assignedTo eq 'Admin@Contoso.COM'")[1]["value"], want)

    def test_enum_order_and_nulls(self):
        fx = self.fixture_incidents()
        rows, _ = self.fetch_all(self.URL, _filter="severity ge 'medium' and assignedTo eq null")
        self.assertEqual(rows, [r for r in fx if r["severity"] in ("medium", "high") and r["assignedTo"] is None])
        rows, _ = self.fetch_all(self.URL, _filter="assignedTo ne 'admin@contoso.com'")
        self.assertEqual(rows, [r for r in fx if lower(r["assignedTo"]) != "admin@contoso.com"])
        self.assertTrue(any(r["assignedTo"] is None for r in rows))

    def test_datetime_filters(self):
        fx = self.fixture_incidents()
        pivot = fx[60]["createdDateTime"]
        rows, _ = self.fetch_all(self.URL, _filter="createdDateTime ge " + pivot)
        self.assertEqual(rows, fx[:61])
        rows, _ = self.fetch_all(self.URL, _filter="createdDateTime gt " + pivot)
        self.assertEqual(rows, fx[:60])
        edge = fx[70]["lastUpdateDateTime"]
        rows, _ = self.fetch_all(self.URL, _filter="lastUpdateDateTime le %s and createdDateTime lt %s"
                                 % (edge, "2025-09-01T02:00:00+02:00"))
        self.assertEqual(rows, [r for r in fx if r["lastUpdateDateTime"] <= edge
                                and r["createdDateTime"] < "2025-09-01T00:00:00.0000000Z"])

    def test_orderby(self):
        fx = self.fixture_incidents()
        rows, _ = self.fetch_all(self.URL, _orderby="lastUpdateDateTime asc")
        self.assertEqual(rows, sorted(fx, key=lambda r: (r["lastUpdateDateTime"], len(r["id"]), r["id"])))
        rows, bodies = self.fetch_all(self.URL, _orderby="lastUpdateDateTime desc,createdDateTime",
                                      _filter="severity ne 'high'", _top="9")
        ref = sorted(fx, key=lambda r: r["createdDateTime"])
        ref = sorted(ref, key=lambda r: r["lastUpdateDateTime"], reverse=True)
        self.assertEqual(rows, [r for r in ref if r["severity"] != "high"])
        self.assertIn("$orderby=lastUpdateDateTime%20desc,createdDateTime", bodies[0]["@odata.nextLink"])
        rows, _ = self.fetch_all(self.URL, _orderby="createdDateTime")
        self.assertEqual(rows, fx[::-1])
        # elastic's incremental pattern
        cursor = fx[100]["lastUpdateDateTime"]
        rows, _ = self.fetch_all(self.URL, _filter="lastUpdateDateTime ge " + cursor,
                                 _orderby="lastUpdateDateTime asc", _expand="alerts", _top="25")
        self.assertEqual([r["id"] for r in rows],
                         [r["id"] for r in sorted(fx, key=lambda r: (r["lastUpdateDateTime"], len(r["id"]), r["id"]))
                          if r["lastUpdateDateTime"] >= cursor])

    def test_count_skip_top(self):
        fx = self.fixture_incidents()
        want = [r for r in fx if r["status"] != "active"]
        status, body = self.get(self.URL, _filter="status ne 'active'", _count="true", _skip="3", _top="5")
        self.assertEqual(status, 200)
        self.assertEqual(body["@odata.count"], len(want))
        self.assertEqual(body["value"], want[3:8])
        _, _, page2 = self.graph(body["@odata.nextLink"][len(self.base):], token=self.tok)
        self.assertEqual(page2["value"], want[8:13])
        status, body = self.get(self.URL, _filter="status eq 'awaitingAction'", _count="true")
        self.assertEqual((status, body["value"], body["@odata.count"]), (200, [], 0))
        self.assertNotIn("@odata.nextLink", body)
        self.assertEqual(self.get(self.URL, _top="50")[0], 200)
        self.assert_400(self.URL, "", "The limit of '50' for Top query has been exceeded", _top="51")

    def test_expand_alerts(self):
        fx_alerts = self.fixture_alerts()
        rows, bodies = self.fetch_all(self.URL, _expand="alerts", _top="40")
        self.assertEqual(len(rows), 130)
        self.assertIn("$expand=alerts", bodies[0]["@odata.nextLink"])
        seen = []
        for row in rows:
            want = sorted((a for a in fx_alerts if a["incidentId"] == row["id"]),
                          key=lambda a: (a["createdDateTime"], a["id"]))
            self.assertEqual(row["alerts"], want)
            self.assertTrue(1 <= len(row["alerts"]) <= 5)
            seen.extend(a["id"] for a in row["alerts"])
            del row["alerts"]
        self.assertEqual(sorted(seen), sorted(a["id"] for a in fx_alerts))
        self.assertEqual(rows, self.fixture_incidents())
        self.assert_400(self.URL, "", "Could not find a property named 'nosuch'", _expand="nosuch")
        self.assert_400(self.URL, "", "not a navigation property", _expand="comments")
        self.assert_400(self.URL, "", "not supported", _expand="alerts($select=id)")

    def test_select(self):
        fx = self.fixture_incidents()
        rows, bodies = self.fetch_all(self.URL, _select="severity,status", _filter="severity eq 'high'", _top="10")
        self.assertEqual(rows, [{"id": r["id"], "status": r["status"], "severity": r["severity"]}
                                for r in fx if r["severity"] == "high"])
        self.assertTrue(bodies[0]["@odata.context"].endswith("$metadata#security/incidents(status,severity)"))
        self.assertIn("$select=severity,status", bodies[0]["@odata.nextLink"])
        status, body = self.get(self.URL, _select="assignedTo", _expand="alerts", _top="2")
        self.assertEqual(set(body["value"][0]), {"id", "assignedTo", "alerts"})
        self.assertEqual(self.get(self.URL, _select="*", _top="3")[1]["value"], fx[:3])
        self.assert_400(self.URL, "", "Could not find a property named 'nosuch'", _select="id,nosuch")

    def test_filter_errors_over_http(self):
        msg = self.assert_400(self.URL, "BadRequest", "Invalid filter clause: filtering on property "
                              "'displayName' is not supported.", _filter="displayName eq 'x'")
        self.assertTrue(msg.startswith("Invalid filter clause: "))
        self.assert_400(self.URL, "BadRequest", "character '=' is not valid at position 7",
                        _filter="status = 'active'")
        self.assert_400(self.URL, "BadRequest", "The string 'bogus' is not a valid enumeration type constant.",
                        _filter="status eq 'bogus'")
        self.assert_400(self.URL, "BadRequest", "The function 'startswith' is not supported",
                        _filter="startswith(assignedTo,'a')")
        self.assert_400(self.URL, "", "Order by 'displayName' is not allowed", _orderby="displayName")
        self.assert_400(self.URL, "", "Could not find a property named 'nosuch'", _orderby="nosuch desc")
        self.assert_400(self.URL, "", "specified more than once", _filter="status eq 'active'",
                        **{"%24filter": "status eq 'active'"})

    def test_skiptoken_belongs_to_its_query(self):
        _, body = self.get(self.URL, _filter="status eq 'active'", _top="5")
        token = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(body["@odata.nextLink"]).query))["$skiptoken"]
        self.assert_400(self.URL, "", "skip token", _filter="status eq 'resolved'", _skiptoken=token)
        self.assert_400(self.URL, "", "skip token", _skiptoken=token)

    def test_get_by_id_with_expand_and_select(self):
        fx = self.fixture_incidents()[7]
        status, body = self.get(self.URL + "/" + fx["id"], _expand="alerts")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["@odata.context"], self.base + "/v1.0/$metadata#security/incidents/$entity")
        self.assertEqual([a["incidentId"] for a in body["alerts"]], [fx["id"]] * len(body["alerts"]))
        status, body = self.get(self.URL + "/" + fx["id"], _select="status,assignedTo")
        self.assertEqual(body["@odata.context"],
                         self.base + "/v1.0/$metadata#security/incidents(status,assignedTo)/$entity")
        body.pop("@odata.context")
        self.assertEqual(body, {"id": fx["id"], "status": fx["status"], "assignedTo": fx["assignedTo"]})
        self.assert_400(self.URL + "/" + fx["id"], "", "not allowed", _filter="status eq 'active'")
        status, body = self.get(self.URL + "/0", _expand="alerts")
        self.assertEqual((status, body["error"]["code"]), (404, "NotFound"))


class AlertTests(HttpCase):
    URL = "/v1.0/security/alerts_v2"

    def test_list_pages_everything_once(self):
        fx = self.fixture_alerts()
        self.assertEqual(len(fx), len({a["id"] for a in fx}))
        rows, bodies = self.fetch_all(self.URL, _count="true")
        self.assertEqual(rows, fx)
        self.assertEqual([len(b["value"]) for b in bodies][:-1], [100] * (len(bodies) - 1))
        self.assertEqual(bodies[0]["@odata.count"], len(fx))
        self.assertEqual(bodies[0]["@odata.context"], self.base + "/v1.0/$metadata#security/alerts_v2")
        status, headers, _ = self.request("GET", self.URL, headers={"Authorization": "Bearer " + self.tok})
        self.assertEqual(headers["content-type"], "application/json; odata.metadata=minimal")

    def test_top_limits(self):
        fx = self.fixture_alerts()
        status, body = self.get(self.URL, _top="1000")
        self.assertEqual((status, body["value"]), (200, fx[:1000]))
        self.assert_400(self.URL, "", "The limit of '1000' for Top query has been exceeded. The value from "
                        "the incoming request is '1001'.", _top="1001")
        # a service that caps pages lower (config alerts_max_top)
        self.json_request("POST", "/_emulator/config", body={"alerts_max_top": 100})
        try:
            self.assert_400(self.URL, "", "The limit of '100' for Top query has been exceeded. The value from "
                            "the incoming request is '101'.", _top="101")
            status, body = self.get(self.URL, _top="100")
            self.assertEqual((status, body["value"]), (200, fx[:100]))
        finally:
            self.json_request("POST", "/_emulator/config", body={"alerts_max_top": 0})

    def test_filter_orderby_paging(self):
        fx = self.fixture_alerts()
        filt = ("serviceSource eq 'microsoftDefenderForEndpoint' and (status eq 'new' or severity ge 'high')"
                " and assignedTo ne null")
        want = [a for a in fx if a["serviceSource"] == "microsoftDefenderForEndpoint"
                and (a["status"] == "new" or a["severity"] == "high") and a["assignedTo"] is not None]
        want.sort(key=lambda a: a["id"])
        want.sort(key=lambda a: a["lastUpdateDateTime"])
        self.assertGreater(len(want), 10)
        rows, bodies = self.fetch_all(self.URL, _filter=filt, _orderby="lastUpdateDateTime", _top="10",
                                      _count="true")
        self.assertEqual(rows, want)
        self.assertEqual(bodies[-1]["@odata.count"], len(want))
        self.assert_400(self.URL, "BadRequest", "The string 'active' is not a valid enumeration type constant.",
                        _filter="status eq 'active'")
        self.assert_400(self.URL, "BadRequest", "filtering on property 'title' is not supported.",
                        _filter="title eq 'x'")
        self.assert_400(self.URL, "", "not a navigation property", _expand="evidence")

    def test_get_by_id(self):
        fx = self.fixture_alerts()
        mde = next(a for a in fx if a["serviceSource"] == "microsoftDefenderForEndpoint")
        status, body = self.get(self.URL + "/" + mde["id"])
        self.assertEqual(status, 200, body)
        self.assertEqual(body.pop("@odata.context"), self.base + "/v1.0/$metadata#security/alerts_v2/$entity")
        self.assertEqual(body, mde)
        status, body = self.get(self.URL + "/" + mde["id"], _select="title,evidence")
        self.assertEqual(set(body) - {"@odata.context"}, {"id", "title", "evidence"})
        status, body = self.get(self.URL + "/da000_1")
        self.assertEqual((status, body["error"]["code"]), (404, "NotFound"))
        self.assertIn("da000_1", body["error"]["message"])

    def test_reset_regenerates_alerts(self):
        before = self.fixture_alerts()
        self.control("POST", "reset", {"incidents": 9, "seed": 4})
        after = self.fixture_alerts()
        self.assertNotEqual(before, after)
        self.assertEqual({a["incidentId"] for a in after}, {i["id"] for i in self.fixture_incidents()})
        rows, _ = self.fetch_all(self.URL)
        self.assertEqual(rows, after)
        self.control("POST", "reset")
        self.assertEqual(self.fixture_alerts(), before)


class PageCacheTests(HttpCase):
    """A list page's encoded body is cached per data version: the same page
    again is the same bytes, a PATCH is seen at once, and a fault that
    damages a page damages the cached one too."""
    URL = "/v1.0/security/incidents"

    def test_cached_page_follows_the_data_and_faults(self):
        path = self.URL + "?%24select=id%2Cstatus&%24count=true&%24top=5"
        auth = {"Authorization": "Bearer " + self.tok}
        _, _, first = self.request("GET", path, headers=auth)
        _, _, again = self.request("GET", path, headers=auth)
        self.assertEqual(first, again)
        row = json.loads(first)["value"][0]
        new_status = "resolved" if row["status"] != "resolved" else "active"
        status, _, _ = self.graph(self.URL + "/" + row["id"], method="PATCH",
                                  body=json.dumps({"status": new_status}),
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        _, _, after = self.request("GET", path, headers=auth)
        self.assertEqual(json.loads(after)["value"][0]["status"], new_status)
        self.arm({"match": "/security/incidents", "kind": "drop_rows", "rows": 2, "times": 1})
        _, _, dropped = self.request("GET", path, headers=auth)
        self.assertEqual(len(json.loads(dropped)["value"]), 3)
        _, _, whole = self.request("GET", path, headers=auth)
        self.assertEqual(whole, after)
        self.control("POST", "reset")


class PerformanceTests(HttpCase):
    """5,000 incidents and about 15,000 alerts, served page by page."""

    def test_large_data_set_pages_fast(self):
        self.control("POST", "reset", {"incidents": 5000})
        try:
            token = self.tok
            since = self.log()[-1]["seq"] if self.log() else 0
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            auth = {"Authorization": "Bearer " + token}
            urls = ["/v1.0/security/incidents",
                    "/v1.0/security/alerts_v2?$filter=" + q("severity ge 'medium' and status ne 'resolved'"),
                    "/v1.0/security/alerts_v2"]
            total = 0
            for url in urls:
                for _ in range(40 if "alerts" in url else 100):
                    status, _, data = self.request("GET", url, headers=auth, conn=conn)
                    self.assertEqual(status, 200)
                    body = json.loads(data)
                    total += len(body["value"])
                    if "@odata.nextLink" not in body:
                        break
                    url = body["@odata.nextLink"][len(self.base):]
            conn.close()
            entries = [e for e in self.log(since) if e["path"].startswith("/v1.0/")]
            self.assertGreater(total, 8000)
            timings = [e["ms"] for e in entries]
            self.assertLess(statistics.median(timings), 5, timings)
        finally:
            self.control("POST", "reset")


if __name__ == "__main__":
    unittest.main()
