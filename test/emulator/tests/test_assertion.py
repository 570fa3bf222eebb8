"""Self-test for certificate credentials (assertion.py) and the instance
metadata endpoint (imds.py).  Test keys are made with the openssl CLI in a
temporary directory and signed with `openssl dgst`, so the emulator's
verifier is checked against an independent signer."""

import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

from test_emulator import GOOD_CLIENT, TENANT, start_emulator, stop_emulator  # first: the path
import assertion  # noqa: E402

OPENSSL = shutil.which("openssl")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@unittest.skipUnless(OPENSSL, "needs the openssl command")
class AssertionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="assertion-test-")
        for name in ("good", "other"):
            subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                            "-days", "1", "-subj", "/CN=%s" % name,
                            "-keyout", os.path.join(cls.dir, name + ".key"),
                            "-out", os.path.join(cls.dir, name + ".crt")],
                           check=True, capture_output=True)
        cls.proc, cls.port, cls.port_file = start_emulator()
        cls.base = "http://127.0.0.1:%d" % cls.port
        with open(os.path.join(cls.dir, "good.crt")) as f:
            cls.good_pem = f.read()
        status, body = cls.call("POST", "/_emulator/certificates",
                                json.dumps({"client_id": GOOD_CLIENT, "pem": cls.good_pem}),
                                {"Content-Type": "application/json"})
        assert status == 200, body
        cls.thumbprint = body["thumbprint"]

    @classmethod
    def tearDownClass(cls):
        stop_emulator(cls.proc, cls.port_file)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.dir)

    @classmethod
    def call(cls, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else None

    def make(self, key="good", cert="good", header=None, **claims):
        """A signed assertion; claims override the good defaults."""
        with open(os.path.join(self.dir, cert + ".crt")) as f:
            der = assertion.pem_to_der(f.read())
        now = int(time.time())
        h = {"alg": "RS256", "typ": "JWT", "x5t": b64url(hashlib.sha1(der).digest())}
        h.update(header or {})
        c = {"aud": "%s/%s/oauth2/v2.0/token" % (self.base, TENANT), "iss": GOOD_CLIENT,
             "sub": GOOD_CLIENT, "jti": str(uuid.uuid4()), "nbf": now, "iat": now, "exp": now + 600}
        c.update(claims)
        signing_input = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(c).encode())
        signature = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", os.path.join(self.dir, key + ".key")],
                                   input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + b64url(signature)

    def token(self, client_assertion, client_id=GOOD_CLIENT):
        form = {"grant_type": "client_credentials", "client_id": client_id,
                "scope": self.base + "/.default", "client_assertion": client_assertion,
                "client_assertion_type": assertion.JWT_BEARER}
        return self.call("POST", "/%s/oauth2/v2.0/token" % TENANT, urllib.parse.urlencode(form),
                         {"Content-Type": "application/x-www-form-urlencoded"})

    def assertRefused(self, result, aadsts):
        status, body = result
        self.assertEqual(status, 401, body)
        self.assertEqual(body["error_codes"], [aadsts], body)

    def test_public_key_matches_openssl(self):
        out = subprocess.run([OPENSSL, "x509", "-noout", "-modulus", "-in", os.path.join(self.dir, "good.crt")],
                             check=True, capture_output=True, text=True).stdout
        n, e = assertion.rsa_public_key(assertion.pem_to_der(self.good_pem))
        self.assertEqual(n, int(out.strip().split("=", 1)[1], 16))
        self.assertEqual(e, 65537)

    def test_good_assertion_then_replay(self):
        signed = self.make()
        status, body = self.token(signed)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["access_token"])
        self.assertRefused(self.token(signed), 50013)

    def test_signature_by_another_key(self):
        self.assertRefused(self.token(self.make(key="other")), 700027)

    def test_tampered_claims(self):
        head, claims, sig = self.make().split(".")
        forged = json.loads(base64.urlsafe_b64decode(claims + "=="))
        forged["sub"] = forged["iss"] = GOOD_CLIENT
        forged["exp"] += 3600
        self.assertRefused(self.token(".".join([head, b64url(json.dumps(forged).encode()), sig])), 700027)

    def test_unregistered_certificate(self):
        self.assertRefused(self.token(self.make(key="other", cert="other")), 700027)

    def test_wrong_audience(self):
        self.assertRefused(self.token(self.make(aud="https://login.microsoftonline.com/x/oauth2/v2.0/token")), 50013)

    def test_expired_and_not_yet_valid(self):
        now = int(time.time())
        self.assertRefused(self.token(self.make(nbf=now - 7200, iat=now - 7200, exp=now - 3600)), 700024)
        self.assertRefused(self.token(self.make(nbf=now + 3600, iat=now + 3600, exp=now + 4200)), 700024)

    def test_issuer_is_not_the_client(self):
        self.assertRefused(self.token(self.make(iss="someone-else", sub="someone-else")), 700021)

    def test_malformed_and_unsigned(self):
        self.assertRefused(self.token("not-a-jwt"), 50027)
        self.assertRefused(self.token(self.make(header={"alg": "none"})), 50027)

    def test_log_shows_claims_not_signature(self):
        self.call("POST", "/_emulator/reset")
        self.token(self.make())
        _, log = self.call("GET", "/_emulator/requests")
        logged = log["requests"][-1]["body"]["client_assertion"]
        self.assertEqual(logged["claims"]["iss"], GOOD_CLIENT)
        self.assertEqual(logged["signature"], "<redacted>")


class ImdsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port, cls.port_file = start_emulator()

    @classmethod
    def tearDownClass(cls):
        stop_emulator(cls.proc, cls.port_file)
        cls.proc.stdout.close()
        cls.proc.stderr.close()

    def get(self, query, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/metadata/identity/oauth2/token?" + urllib.parse.urlencode(query),
                     headers=headers if headers is not None else {"Metadata": "true"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        return resp.status, body

    def test_token_numbers_are_strings(self):
        status, body = self.get({"api-version": "2018-02-01", "resource": "https://graph.microsoft.com"})
        self.assertEqual(status, 200, body)
        self.assertIsInstance(body["expires_in"], str)
        self.assertEqual(body["resource"], "https://graph.microsoft.com")

    def test_metadata_header_required(self):
        status, body = self.get({"api-version": "2018-02-01", "resource": "https://graph.microsoft.com"}, {})
        self.assertEqual((status, body["error"]), (400, "invalid_request"))
        self.assertIn("metadata header", body["error_description"])

    def test_unknown_identity_and_missing_resource(self):
        status, body = self.get({"api-version": "2018-02-01", "resource": "https://graph.microsoft.com",
                                 "client_id": "99999999-9999-9999-9999-999999999999"})
        self.assertEqual((status, body["error_description"]), (400, "Identity not found"))
        status, body = self.get({"api-version": "2018-02-01"})
        self.assertEqual(status, 400)
        self.assertIn("resource", body["error_description"])


if __name__ == "__main__":
    unittest.main()
