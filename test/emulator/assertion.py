"""Client assertions (RFC 7523) for certificate credentials: the registry of
certificates uploaded to applications, and the checks Entra makes on the
signed JWT a client sends instead of a secret.

Standard library only.  The RSA public key comes out of the certificate with
a small DER walker; an RS256 signature is checked as PKCS#1 v1.5 does it:
pow(signature, e, n) must equal 00 01 FF..FF 00 || DigestInfo(SHA-256) || hash.
"""

import base64
import binascii
import hashlib
import json
import re
import threading
import time

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
CLOCK_SKEW_S = 300          # Entra tolerates five minutes of skew

_lock = threading.Lock()
_certificates = {}          # client_id -> {x5t (base64url SHA-1): (n, e, hex thumbprint)}
_seen_jti = set()


class AssertionError_(Exception):
    """An assertion Entra refuses: (status, OAuth error, AADSTS code, text)."""

    def __init__(self, status, error, aadsts, text):
        super().__init__(text)
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.text = text


# --------------------------------------------------------------------------
# Certificates

def pem_to_der(pem):
    """The DER bytes of the first CERTIFICATE block of a PEM text."""
    found = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)
    if not found:
        raise ValueError("no CERTIFICATE block in the PEM text")
    return base64.b64decode("".join(found.group(1).split()))


def _der_item(data, pos):
    """(tag, content start, content end) of the DER item at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return tag, pos, pos + length


def _children(data, start, end):
    items = []
    while start < end:
        tag, cstart, cend = _der_item(data, start)
        items.append((tag, cstart, cend))
        start = cend
    return items


def rsa_public_key(der):
    """(n, e) of an X.509 certificate's RSA subjectPublicKeyInfo."""
    _, start, end = _der_item(der, 0)                      # Certificate
    tbs = _children(der, start, end)[0]                     # tbsCertificate
    fields = _children(der, tbs[1], tbs[2])
    if fields[0][0] == 0xA0:                               # [0] version
        fields = fields[1:]
    spki = fields[5]                                       # serial, sigAlg, issuer, validity, subject, spki
    _, bit_start, bit_end = _children(der, spki[1], spki[2])[1]
    key = der[bit_start + 1:bit_end]                       # skip the unused-bits byte
    _, kstart, kend = _der_item(key, 0)
    (_, nstart, nend), (_, estart, eend) = _children(key, kstart, kend)[:2]
    return int.from_bytes(key[nstart:nend], "big"), int.from_bytes(key[estart:eend], "big")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def register(client_id, pem):
    """Upload a certificate's public part to an application.  Returns its
    hex SHA-1 thumbprint."""
    der = pem_to_der(pem)
    n, e = rsa_public_key(der)
    sha1 = hashlib.sha1(der).digest()
    with _lock:
        _certificates.setdefault(client_id.lower(), {})[b64url(sha1)] = (n, e, sha1.hex().upper())
    return sha1.hex().upper()


def registered(client_id):
    with _lock:
        return sorted(v[2] for v in _certificates.get(client_id.lower(), {}).values())


# --------------------------------------------------------------------------
# The assertion

def decode(assertion):
    """(header, claims) of a compact JWS, without checking anything; raises
    ValueError when it is not one."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise ValueError("not three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, binascii.Error) as err:
        raise ValueError(str(err))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("header or claims not a JSON object")
    return header, claims


def _signature_ok(n, e, signing_input, signature):
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    digest = SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(digest)) + b"\x00" + digest
    return em == expected


def verify(assertion, client_id, token_url, now=None):
    """Check a client assertion as Entra does; raises AssertionError_."""
    now = time.time() if now is None else now
    try:
        header, claims = decode(assertion)
        signature = b64url_decode(assertion.rsplit(".", 1)[1])
    except (ValueError, binascii.Error, IndexError):
        raise AssertionError_(401, "invalid_client", 50027,
                              "JWT token is invalid or malformed.")
    if header.get("alg") != "RS256":
        raise AssertionError_(401, "invalid_client", 50027,
                              "JWT token is invalid or malformed: unsupported algorithm '%s'."
                              % header.get("alg"))
    x5t = header.get("x5t", "")
    with _lock:
        key = _certificates.get(client_id.lower(), {}).get(x5t)
    if key is None:
        try:
            thumb = b64url_decode(x5t).hex().upper()
        except (ValueError, binascii.Error):
            thumb = "?"
        raise AssertionError_(401, "invalid_client", 700027,
                              "The certificate with identifier used to sign the client assertion is "
                              "not registered on application. [Reason - The key was not found., "
                              "Thumbprint of key used by client: '%s']" % thumb)
    n, e, _ = key
    signing_input = assertion.rsplit(".", 1)[0].encode("ascii")
    if not _signature_ok(n, e, signing_input, signature):
        raise AssertionError_(401, "invalid_client", 700027,
                              "Client assertion failed signature validation.")
    if claims.get("iss") != claims.get("sub") or str(claims.get("sub", "")).lower() != client_id.lower():
        raise AssertionError_(401, "invalid_client", 700021,
                              "Client assertion application identifier doesn't match 'client_id' parameter.")
    if str(claims.get("aud", "")).rstrip("/").lower() != token_url.rstrip("/").lower():
        raise AssertionError_(401, "invalid_client", 50013,
                              "Assertion is invalid: the audience '%s' is not the token endpoint '%s'."
                              % (claims.get("aud"), token_url))
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)) or \
            now > exp + CLOCK_SKEW_S or now < nbf - CLOCK_SKEW_S:
        raise AssertionError_(401, "invalid_client", 700024,
                              "Client assertion is not within its valid time range. Current time: %d, "
                              "assertion valid from %s, expiry time of assertion %s."
                              % (now, nbf, exp))
    jti = claims.get("jti")
    if not jti:
        raise AssertionError_(401, "invalid_client", 50013,
                              "Assertion is invalid: it has no jti claim.")
    with _lock:
        if (client_id.lower(), jti) in _seen_jti:
            raise AssertionError_(401, "invalid_client", 50013,
                                  "Assertion is invalid: the jti '%s' has already been used." % jti)
        _seen_jti.add((client_id.lower(), jti))
    return header, claims
