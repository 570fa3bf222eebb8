/*-------------------------------------------------------------------------
 *
 * client_assertion.c
 *		  Build the signed JWT a certificate credential sends to Entra.
 *
 * Microsoft Entra accepts, instead of a client secret, a client assertion:
 * a JWT signed with the private key of a certificate registered on the
 * application (RFC 7523).  Its header names the certificate by thumbprint
 * (x5t: base64url of the SHA-1 of the DER certificate; x5t#S256 the same
 * with SHA-256), and its claims say who signs (iss = sub = client_id), for
 * whom (aud = the token endpoint), when (nbf, iat, exp) and a unique jti.
 *
 * All cryptography is OpenSSL's: PEM parsing, digests, RSA PKCS#1 v1.5
 * signing and random bytes.  This file includes no PostgreSQL header (see
 * defender_client.h); errors come back in DfwAssertionResult.
 *
 * src/client/client_assertion.c
 *
 *-------------------------------------------------------------------------
 */
#include "client_assertion.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

static DfwAssertionError fail(DfwAssertionResult *result, DfwAssertionError error,
							  const char *what, const char *file);
static int	no_passphrase(char *buf, int size, int rwflag, void *userdata);
static char *base64url(const unsigned char *data, size_t len);
static int	thumbprint_matches(const char *expected, const char *actual);
static char *sign_jwt(EVP_PKEY *key, const char *header, const char *claims,
					  DfwAssertionResult *result);

/*
 * dfw_build_client_assertion
 *		Read the certificate and key and return a signed assertion.
 */
DfwAssertionError
dfw_build_client_assertion(const DfwAssertionRequest *request,
						   DfwAssertionResult *result)
{
	const char *key_file = request->private_key_file ?
		request->private_key_file : request->certificate_file;
	BIO		   *bio;
	X509	   *cert = NULL;
	EVP_PKEY   *key = NULL;
	unsigned char *der = NULL;
	int			derlen;
	unsigned char sha1[EVP_MAX_MD_SIZE];
	unsigned char sha256[EVP_MAX_MD_SIZE];
	unsigned int sha1len = 0;
	unsigned int sha256len = 0;
	unsigned char jti_bytes[16];
	char		jti[37];
	char	   *x5t = NULL;
	char	   *x5t256 = NULL;
	json_t	   *header = NULL;
	json_t	   *claims = NULL;
	char	   *header_text = NULL;
	char	   *claims_text = NULL;
	unsigned int i;

	memset(result, 0, sizeof(DfwAssertionResult));
	ERR_clear_error();

	/* the certificate */
	bio = BIO_new_file(request->certificate_file, "r");
	if (bio)
	{
		cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	if (cert == NULL)
		return fail(result, DFW_ASSERTION_BAD_CERTIFICATE,
					"could not read a PEM certificate from", request->certificate_file);

	derlen = i2d_X509(cert, &der);
	if (derlen <= 0 ||
		!EVP_Digest(der, derlen, sha1, &sha1len, EVP_sha1(), NULL) ||
		!EVP_Digest(der, derlen, sha256, &sha256len, EVP_sha256(), NULL))
	{
		OPENSSL_free(der);
		X509_free(cert);
		return fail(result, DFW_ASSERTION_BAD_CERTIFICATE,
					"could not compute the thumbprint of", request->certificate_file);
	}
	OPENSSL_free(der);
	for (i = 0; i < sha1len && i < 20; i++)
		snprintf(result->thumbprint + 2 * i, 3, "%02X", sha1[i]);

	if (request->expected_thumbprint &&
		!thumbprint_matches(request->expected_thumbprint, result->thumbprint))
	{
		X509_free(cert);
		snprintf(result->message, sizeof(result->message),
				 "the certificate in \"%s\" has the SHA-1 thumbprint %s, not %s",
				 request->certificate_file, result->thumbprint,
				 request->expected_thumbprint);
		result->error = DFW_ASSERTION_THUMBPRINT_MISMATCH;
		return result->error;
	}

	/* the private key, never prompting for a passphrase */
	bio = BIO_new_file(key_file, "r");
	if (bio)
	{
		key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	if (key == NULL)
	{
		X509_free(cert);
		return fail(result, DFW_ASSERTION_BAD_KEY,
					"could not read an unencrypted PEM private key from", key_file);
	}
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
	{
		X509_free(cert);
		EVP_PKEY_free(key);
		snprintf(result->message, sizeof(result->message),
				 "the private key in \"%s\" is not an RSA key; Microsoft Entra needs RS256",
				 key_file);
		result->error = DFW_ASSERTION_NOT_RSA;
		return result->error;
	}
	if (X509_check_private_key(cert, key) != 1)
	{
		X509_free(cert);
		EVP_PKEY_free(key);
		ERR_clear_error();
		snprintf(result->message, sizeof(result->message),
				 "the private key in \"%s\" does not belong to the certificate in \"%s\"",
				 key_file, request->certificate_file);
		result->error = DFW_ASSERTION_KEY_MISMATCH;
		return result->error;
	}
	X509_free(cert);

	/* jti: a random version 4 GUID */
	if (RAND_bytes(jti_bytes, sizeof(jti_bytes)) != 1)
	{
		EVP_PKEY_free(key);
		return fail(result, DFW_ASSERTION_SIGN_FAILED, "no random bytes for the jti of", key_file);
	}
	jti_bytes[6] = (jti_bytes[6] & 0x0f) | 0x40;
	jti_bytes[8] = (jti_bytes[8] & 0x3f) | 0x80;
	snprintf(jti, sizeof(jti),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 jti_bytes[0], jti_bytes[1], jti_bytes[2], jti_bytes[3], jti_bytes[4],
			 jti_bytes[5], jti_bytes[6], jti_bytes[7], jti_bytes[8], jti_bytes[9],
			 jti_bytes[10], jti_bytes[11], jti_bytes[12], jti_bytes[13], jti_bytes[14],
			 jti_bytes[15]);

	x5t = base64url(sha1, sha1len);
	x5t256 = base64url(sha256, sha256len);
	if (x5t && x5t256)
		header = json_pack("{s:s, s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
						   "x5t", x5t, "x5t#S256", x5t256);
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
					   "aud", request->audience,
					   "iss", request->client_id,
					   "sub", request->client_id,
					   "jti", jti,
					   "nbf", (json_int_t) request->now,
					   "iat", (json_int_t) request->now,
					   "exp", (json_int_t) (request->now + request->lifetime));
	if (header && claims)
	{
		header_text = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
		claims_text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
	}
	free(x5t);
	free(x5t256);
	json_decref(header);
	json_decref(claims);
	if (header_text == NULL || claims_text == NULL)
	{
		free(header_text);
		free(claims_text);
		EVP_PKEY_free(key);
		return fail(result, DFW_ASSERTION_OUT_OF_MEMORY, "out of memory signing with", key_file);
	}

	result->assertion = sign_jwt(key, header_text, claims_text, result);
	free(header_text);
	free(claims_text);
	EVP_PKEY_free(key);
	return result->error;
}

void
dfw_assertion_free(DfwAssertionResult *result)
{
	if (result->assertion)
	{
		OPENSSL_cleanse(result->assertion, strlen(result->assertion));
		free(result->assertion);
		result->assertion = NULL;
	}
}

/*
 * sign_jwt
 *		base64url(header) "." base64url(claims) "." base64url(RS256 signature).
 */
static char *
sign_jwt(EVP_PKEY *key, const char *header, const char *claims,
		 DfwAssertionResult *result)
{
	char	   *h64 = base64url((const unsigned char *) header, strlen(header));
	char	   *c64 = base64url((const unsigned char *) claims, strlen(claims));
	char	   *input = NULL;
	unsigned char *sig = NULL;
	size_t		siglen = 0;
	char	   *s64 = NULL;
	char	   *jwt = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t		inlen;

	if (h64 == NULL || c64 == NULL)
		goto oom;
	inlen = strlen(h64) + 1 + strlen(c64);
	input = malloc(inlen + 1);
	if (input == NULL)
		goto oom;
	snprintf(input, inlen + 1, "%s.%s", h64, c64);

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL ||
		EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
		EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) input, inlen) != 1 ||
		(sig = malloc(siglen)) == NULL ||
		EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) input, inlen) != 1)
	{
		unsigned long code = ERR_get_error();
		char		reason[256];

		ERR_error_string_n(code, reason, sizeof(reason));
		snprintf(result->message, sizeof(result->message),
				 "could not sign the client assertion: %s", code ? reason : "unknown error");
		result->error = DFW_ASSERTION_SIGN_FAILED;
		goto done;
	}
	s64 = base64url(sig, siglen);
	if (s64 == NULL)
		goto oom;
	jwt = malloc(inlen + 1 + strlen(s64) + 1);
	if (jwt == NULL)
		goto oom;
	sprintf(jwt, "%s.%s", input, s64);
	goto done;

oom:
	snprintf(result->message, sizeof(result->message), "out of memory signing the client assertion");
	result->error = DFW_ASSERTION_OUT_OF_MEMORY;
done:
	EVP_MD_CTX_free(ctx);
	free(h64);
	free(c64);
	free(input);
	free(sig);
	free(s64);
	return jwt;
}

static DfwAssertionError
fail(DfwAssertionResult *result, DfwAssertionError error, const char *what, const char *file)
{
	unsigned long code = ERR_peek_last_error();
	char		reason[256];

	reason[0] = '\0';
	if (code)
		ERR_error_string_n(code, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(result->message, sizeof(result->message), "%s \"%s\"%s%s",
			 what, file, reason[0] ? ": " : "", reason);
	result->error = error;
	return error;
}

/* A passphrase callback that refuses: never prompt on the server's terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	return -1;
}

/* malloc'd unpadded base64url (RFC 4648 section 5) of data. */
static char *
base64url(const unsigned char *data, size_t len)
{
	size_t		outlen = 4 * ((len + 2) / 3) + 1;
	char	   *out = malloc(outlen);
	int			n;
	int			i;

	if (out == NULL)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

/* Compare hex thumbprints ignoring case, colons and spaces. */
static int
thumbprint_matches(const char *expected, const char *actual)
{
	const char *e = expected;
	const char *a = actual;

	for (;;)
	{
		while (*e == ':' || *e == ' ')
			e++;
		if (*e == '\0' || *a == '\0')
			return *e == '\0' && *a == '\0';
		if (toupper((unsigned char) *e) != *a)
			return 0;
		e++;
		a++;
	}
}
