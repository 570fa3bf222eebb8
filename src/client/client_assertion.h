/*-------------------------------------------------------------------------
 *
 * client_assertion.h
 *		  Signed client assertions (RFC 7523 JWTs) for certificate credentials.
 *
 * Like defender_client.h, this is client-layer code: OpenSSL's libcrypto,
 * jansson and the C library, no PostgreSQL header, no ereport.  Failures
 * come back as a DfwAssertionError and a message for auth.c to report.
 *
 * src/client/client_assertion.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CLIENT_ASSERTION_H
#define CLIENT_ASSERTION_H

#include <stddef.h>

typedef enum DfwAssertionError
{
	DFW_ASSERTION_OK = 0,
	DFW_ASSERTION_OUT_OF_MEMORY,
	DFW_ASSERTION_BAD_CERTIFICATE,	/* cannot read or parse the certificate */
	DFW_ASSERTION_BAD_KEY,		/* cannot read or parse the private key */
	DFW_ASSERTION_NOT_RSA,		/* the key is not an RSA key */
	DFW_ASSERTION_KEY_MISMATCH, /* the key does not belong to the certificate */
	DFW_ASSERTION_THUMBPRINT_MISMATCH,	/* certificate_thumbprint names another certificate */
	DFW_ASSERTION_SIGN_FAILED
} DfwAssertionError;

#define DFW_ASSERTION_MESSAGE_SIZE 512
#define DFW_THUMBPRINT_SIZE 41	/* SHA-1 as 40 upper-case hex digits + NUL */

typedef struct DfwAssertionRequest
{
	const char *certificate_file;	/* PEM; may hold the private key too */
	const char *private_key_file;	/* PEM private key, or NULL: certificate_file */
	const char *expected_thumbprint;	/* hex SHA-1, colons/spaces allowed, or NULL */
	const char *audience;		/* the token endpoint URL */
	const char *client_id;		/* iss and sub */
	long		now;			/* seconds since the epoch: nbf and iat */
	long		lifetime;		/* exp = now + lifetime */
} DfwAssertionRequest;

typedef struct DfwAssertionResult
{
	char	   *assertion;		/* malloc'd compact JWS, or NULL on error */
	char		thumbprint[DFW_THUMBPRINT_SIZE];	/* of the certificate read */
	DfwAssertionError error;
	char		message[DFW_ASSERTION_MESSAGE_SIZE];
} DfwAssertionResult;

/*
 * Read the certificate and key, check they belong together (and to the
 * expected thumbprint), and sign an RS256 JWT with header x5t/x5t#S256 and
 * claims aud, iss, sub, jti, nbf, iat, exp.  Free result->assertion with
 * dfw_assertion_free(), which also wipes it.
 */
extern DfwAssertionError dfw_build_client_assertion(const DfwAssertionRequest *request,
													DfwAssertionResult *result);
extern void dfw_assertion_free(DfwAssertionResult *result);

#endif							/* CLIENT_ASSERTION_H */
