"""Self-test of the emulator's write calls (actions.py) and the Defender for
Endpoint domains endpoint (mde.py).

Run from the repository root:
    /usr/bin/python3 -m unittest discover -s test/emulator/tests -p 'test_*.py'
"""

import unittest

from test_emulator import EmulatorTestCase  # first: puts test/emulator/ on the path
import fixtures                             # noqa: E402
import mde                                  # noqa: E402

ENUM_MESSAGE = "The string '%s' is not a valid enumeration type constant."


class PatchTests(EmulatorTestCase):
    def incident(self, index=0):
        return self.fixture_incidents()[index]

    def patch(self, path, body, **kw):
        return self.graph(path, method="PATCH", body=body, **kw)

    def test_patch_incident_applies_and_is_seen(self):
        inc = self.incident()
        path = "/v1.0/security/incidents/" + inc["id"]
        status, _, body = self.patch(path, {"status": "Resolved", "classification": "TRUEPOSITIVE",
                                            "determination": "malware", "customTags": ["a", "b"],
                                            "assignedTo": None, "resolvingComment": "done"})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["@odata.context"].endswith("$metadata#security/incidents/$entity"))
        self.assertEqual((body["status"], body["classification"], body["determination"]),
                         ("resolved", "truePositive", "malware"))
        self.assertEqual(body["customTags"], ["a", "b"])
        self.assertIsNone(body["assignedTo"])
        self.assertEqual(body["lastModifiedBy"], "API-App:11111111-1111-1111-1111-111111111111")
        self.assertGreater(body["lastUpdateDateTime"], inc["lastUpdateDateTime"])
        # later GETs, lists and filters see the change
        self.assertEqual(self.graph(path)[2]["customTags"], ["a", "b"])
        _, _, page = self.graph("/v1.0/security/incidents?$filter=classification%20eq%20'truePositive'"
                                "%20and%20status%20eq%20'resolved'&$top=50")
        self.assertIn(inc["id"], [row["id"] for row in page["value"]])
        _, _, page = self.graph("/v1.0/security/incidents?$orderby=lastUpdateDateTime%20desc&$top=1")
        self.assertEqual(page["value"][0]["id"], inc["id"])
        self.assertEqual(self.fixture_incidents()[0]["status"], "resolved")
        # a reset brings the generated data back
        self.control("POST", "reset")
        self.assertEqual(self.fixture_incidents()[0], inc)

    def test_patch_incident_validation(self):
        path = "/v1.0/security/incidents/" + self.incident()["id"]
        cases = [
            ({"status": "bogus"}, ENUM_MESSAGE % "bogus"),
            ({"status": "unknownFutureValue"}, ENUM_MESSAGE % "unknownFutureValue"),
            ({"status": "awaitingAction"}, ENUM_MESSAGE % "awaitingAction"),
            ({"severity": "critical"}, ENUM_MESSAGE % "critical"),
            ({"id": "1"}, "The property 'id' is read-only and cannot be updated."),
            ({"createdDateTime": "2025-01-01T00:00:00Z"}, "read-only"),
            ({"nosuch": 1}, "The property 'nosuch' does not exist on type "
                            "'microsoft.graph.security.incident'"),
            ({"status": None}, "does not allow null values"),
            ({"displayName": 5}, "Cannot convert the literal '5' to the expected type 'Edm.String'."),
            ({"customTags": "x"}, "'StartArray' node was expected"),
            ({"customTags": [1]}, "Cannot convert the literal '1'"),
            ([], "must be a JSON object"),
            ({}, "nothing to update"),
        ]
        for body, fragment in cases:
            status, _, answer = self.patch(path, body)
            self.assertEqual(status, 400, body)
            self.assertEqual(answer["error"]["code"], "BadRequest")
            self.assertIn(fragment, answer["error"]["message"], body)
        status, _, answer = self.graph(path, method="PATCH", body="{", headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertIn("Unable to read JSON", answer["error"]["message"])
        # nothing changed
        self.assertEqual(self.fixture_incidents()[0], self.incident())
        status, _, answer = self.patch("/v1.0/security/incidents/1", {"status": "active"})
        self.assertEqual((status, answer["error"]["code"]), (404, "NotFound"))

    def test_patch_alert(self):
        alert = self.control("GET", "alerts")["value"][0]
        path = "/v1.0/security/alerts_v2/" + alert["id"]
        status, _, body = self.patch(path, {"status": "resolved", "assignedTo": "me@contoso.com",
                                            "determination": "notMalicious", "classification": "falsePositive"})
        self.assertEqual(status, 200, body)
        self.assertEqual((body["status"], body["assignedTo"]), ("resolved", "me@contoso.com"))
        self.assertIsNotNone(body["resolvedDateTime"])
        status, _, body = self.patch(path, {"status": "inprogress"})
        self.assertEqual((body["status"], body["resolvedDateTime"]), ("inProgress", None))
        for bad, fragment in [({"status": "active"}, ENUM_MESSAGE % "active"),
                              ({"severity": "high"}, "read-only"),
                              ({"determination": "compromisedUser"}, ENUM_MESSAGE % "compromisedUser")]:
            status, _, answer = self.patch(path, bad)
            self.assertEqual(status, 400)
            self.assertIn(fragment, answer["error"]["message"])
        self.assertEqual(self.patch("/v1.0/security/alerts_v2/nope", {"status": "new"})[0], 404)

    def test_comments(self):
        inc = self.incident()
        path = "/v1.0/security/incidents/%s/comments" % inc["id"]
        status, _, body = self.graph(path, method="POST", body={
            "@odata.type": "microsoft.graph.security.alertComment", "comment": "looked at it"})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["value"]), len(inc["comments"]) + 1)
        last = body["value"][-1]
        self.assertEqual((last["comment"], last["createdByDisplayName"]),
                         ("looked at it", "API-App:11111111-1111-1111-1111-111111111111"))
        self.assertEqual(self.fixture_incidents()[0]["comments"], body["value"])
        for bad in [{}, {"comment": ""}, {"comment": 5}, {"comment": "x", "other": 1},
                    {"@odata.type": "microsoft.graph.security.incident", "comment": "x"}]:
            self.assertEqual(self.graph(path, method="POST", body=bad)[0], 400, bad)
        self.assertEqual(self.graph("/v1.0/security/incidents/1/comments", method="POST",
                                    body={"comment": "x"})[0], 404)
        alert = self.control("GET", "alerts")["value"][0]
        status, _, body = self.graph("/v1.0/security/alerts_v2/%s/comments" % alert["id"], method="POST",
                                     body={"comment": "alert note"})
        self.assertEqual((status, body["value"][-1]["comment"]), (200, "alert note"))
        self.assertEqual(self.graph(path)[0], 405)    # GET on comments: POST only

    def test_patch_logged_with_body(self):
        inc = self.incident()
        self.patch("/v1.0/security/incidents/" + inc["id"], {"severity": "low"})
        entry = [e for e in self.log() if e["method"] == "PATCH"][-1]
        self.assertEqual(entry["body"], {"severity": "low"})
        self.assertEqual(entry["status"], 200)

    def test_echo(self):
        status, _, body = self.graph("/v1.0/emulatorEcho/a/b?x=1&y=%20z", method="PUT", body={"k": "v"},
                                     headers={"X-Test": "yes"})
        self.assertEqual(status, 200)
        self.assertEqual((body["method"], body["path"], body["query"], body["body"]),
                         ("PUT", "/v1.0/emulatorEcho/a/b", [["x", "1"], ["y", " z"]], {"k": "v"}))
        self.assertEqual(body["headers"]["x-test"], "yes")
        self.assertNotIn("authorization", body["headers"])
        status, headers, data = self.request("DELETE", "/v1.0/emulatorEcho?echoStatus=204",
                                             headers={"Authorization": "Bearer " + self.token()})
        self.assertEqual((status, data), (204, b""))
        status, headers, data = self.request("GET", "/v1.0/emulatorEcho?echoText=hi%20there&echoStatus=418",
                                             headers={"Authorization": "Bearer " + self.token()})
        self.assertEqual((status, data, headers["content-type"]), (418, b"hi there", "text/plain; charset=utf-8"))


class MdeTests(EmulatorTestCase):
    def mde_token(self):
        return self.token(scope=self.base + "/mde/.default")

    def alerts(self):
        return self.control("GET", "alerts")["value"]

    def test_domains(self):
        mde_alerts = [a for a in self.alerts() if a["serviceSource"] == "microsoftDefenderForEndpoint"]
        with_hosts = [a for a in mde_alerts if mde.alert_hosts(a)]
        self.assertTrue(with_hosts)
        alert = with_hosts[0]
        status, _, body = self.graph("/mde/api/alerts/%s/domains" % alert["id"], token=self.mde_token())
        self.assertEqual(status, 200, body)
        self.assertEqual([v["host"] for v in body["value"]], mde.alert_hosts(alert))
        self.assertTrue(body["@odata.context"].endswith("/mde/api/$metadata#Domains"))

    def test_other_alerts_and_unknown_ids_404(self):
        other = [a for a in self.alerts() if a["serviceSource"] != "microsoftDefenderForEndpoint"][0]
        for alert_id in (other["id"], "da000_1"):
            status, _, body = self.graph("/mde/api/alerts/%s/domains" % alert_id, token=self.mde_token())
            self.assertEqual((status, body["error"]["code"]), (404, "ResourceNotFound"))
            self.assertIn("target", body["error"])

    def test_graph_token_refused(self):
        alert = [a for a in self.alerts() if a["serviceSource"] == "microsoftDefenderForEndpoint"][0]
        status, _, body = self.graph("/mde/api/alerts/%s/domains" % alert["id"])   # Graph token
        self.assertEqual((status, body["error"]["code"]), (401, "InvalidAuthenticationToken"))
        self.assertIn("Invalid audience", body["error"]["message"])

    def test_host_normalisation(self):
        self.assertEqual([mde.url_host(u) for u in fixtures.AWKWARD_URLS], [
            "www.contoso-evil.com", "bücher.example", "xn--bcher-kva.example", "evil.example.com",
            "login.fabrikam-auth.example", "2001:db8::1", "mixed.case.example.org",
            "www.no-scheme.example", "sub.domain.例え.jp", "192.0.2.15"])
        self.assertEqual(mde.alert_hosts({"evidence": [
            {"@odata.type": "#microsoft.graph.security.dnsEvidence", "domainName": "A.example."},
            {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "http://a.EXAMPLE:81/x"},
            {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "10.0.0.1"}]}), ["a.example"])


if __name__ == "__main__":
    unittest.main()
