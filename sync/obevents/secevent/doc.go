// Package secevent verifies Open Banking UK security event tokens (RFC 8417 SETs in a compact
// JWS) and holds the RFC 8935/8936 delivery shapes (poll request and answer, error codes).
//
// Verification follows the order that yields the right RFC 8935 error code: shape, header and
// algorithm allow-list (PS256 and ES256 by default; none, HMAC and RS256 are refused before
// any key is looked at), crit (only the three Open Banking extensions, each present), the key
// from the bank's JWKS (fetched from the configured URL without a token, cached, refreshed on
// an unknown kid at most every few minutes), the signature (lestrrat-go/jwx v3 with crit
// validation, the algorithm bound to the key by this package, never inferred), then the
// claims, the issuer and the audience. A permanent verdict is a *Rejection; any other error is
// a temporary failure after which a token must be neither acknowledged nor reported.
//
// The package has no storage dependency, so its parsers fuzz quickly.
package secevent
