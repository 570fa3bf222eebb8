"""Tests of the emulator switches that reproduce services answering
differently from the emulator's defaults: pascal_enums (enumerations spelled
as Microsoft's documented example responses spell them), omit_odata_count (a
service ignoring $count=true), and faults matching a request body
(body_contains)."""

import unittest

from test_emulator import EmulatorTestCase

ENUMS = ("status", "severity", "classification", "determination", "serviceSource")


class PascalEnumTests(EmulatorTestCase):
    def test_default_is_camel_case(self):
        _, _, body = self.graph("/v1.0/security/incidents?$top=50")
        self.assertIn("inProgress", {r["status"] for r in body["value"]})

    def test_pascal_case_answers_and_case_blind_filters(self):
        stored = self.fixture_incidents()
        self.control("POST", "config", {"pascal_enums": 1})
        token = self.token()
        _, _, body = self.graph("/v1.0/security/incidents?$top=50", token=token)
        for row, original in zip(body["value"], stored):
            for key in ENUMS:
                if isinstance(original.get(key), str):
                    self.assertEqual(row[key], original[key][0].upper() + original[key][1:])
            self.assertEqual(row["id"], original["id"])
        # filters compare ignoring case, as Graph does
        expected = [r["id"] for r in stored if r["status"] == "inProgress"]
        for literal in ("inProgress", "InProgress"):
            _, _, page = self.graph("/v1.0/security/incidents?$top=50&$filter=status%20eq%20%27"
                                    + literal + "%27", token=token)
            self.assertEqual([r["id"] for r in page["value"]], expected[:50])
            self.assertEqual({r["status"] for r in page["value"]}, {"InProgress"})
        # one entity, and alerts_v2 too
        _, _, one = self.graph("/v1.0/security/incidents/%s" % stored[0]["id"], token=token)
        self.assertEqual(one["status"], stored[0]["status"][0].upper() + stored[0]["status"][1:])
        _, _, alerts = self.graph("/v1.0/security/alerts_v2?$top=5", token=token)
        self.assertTrue(all(a["serviceSource"][0].isupper() for a in alerts["value"]))
        # the stored rows keep the schema's spelling
        self.assertEqual(self.fixture_incidents(), stored)


class OmitCountTests(EmulatorTestCase):
    URL = "/v1.0/security/incidents?$count=true&$top=1"

    def test_count_present_by_default(self):
        _, _, body = self.graph(self.URL)
        self.assertEqual(body["@odata.count"], 130)

    def test_count_left_out(self):
        self.control("POST", "config", {"omit_odata_count": 1})
        status, _, body = self.graph(self.URL)
        self.assertEqual(status, 200, body)
        self.assertNotIn("@odata.count", body)
        self.assertEqual(len(body["value"]), 1)
        _, _, ids = self.graph("/v1.0/security/incidents?$select=id&$top=50")
        self.assertEqual(set(ids["value"][0]), {"id"})


class BodyFaultTests(EmulatorTestCase):
    def hunt(self, token, query):
        return self.graph("/v1.0/security/runHuntingQuery", token=token, method="POST",
                          body={"Query": query})

    def test_fault_matches_body_substring(self):
        token = self.token()
        self.arm({"match": "runHuntingQuery", "body_contains": "summarize", "kind": "status",
                  "status": 400, "code": "BadRequest", "message": "no"})
        self.assertEqual(self.hunt(token, "EmailEvents | take 1")[0], 200)
        status, _, body = self.hunt(token, "EmailEvents | summarize count()")
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["code"], "BadRequest")
        self.assertEqual(self.hunt(token, "EmailEvents | summarize count()")[0], 200)

    def test_body_contains_must_be_text(self):
        status, _, _ = self.json_request("POST", "/_emulator/faults",
                                         body={"kind": "status", "status": 400, "body_contains": 1})
        self.assertEqual(status, 400)



class RequestLogCapTests(EmulatorTestCase):
    def test_keeps_the_last_n_entries(self):
        self.control("POST", "reset", {"log_max_entries": 5})
        for _ in range(12):
            self.graph("/v1.0/security/incidents?$top=1")
        entries = self.log()
        self.assertEqual(len(entries), 5)
        seqs = [e["seq"] for e in entries]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 5)))
        # the newest are kept: the last is the last incidents request
        self.assertIn("/security/incidents", entries[-1]["path"])

    def test_zero_keeps_everything(self):
        self.control("POST", "reset", {"log_max_entries": 0})
        for _ in range(8):
            self.graph("/v1.0/security/incidents?$top=1")
        self.assertGreaterEqual(len(self.log()), 8)


if __name__ == "__main__":
    unittest.main()
