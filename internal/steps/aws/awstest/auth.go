package awstest

import (
	"net/http"
	"strings"
	"time"
)

// principal is who an access key stands for.
type principal struct {
	arn    string
	userID string
	// token and expires are set for temporary credentials (AssumeRole).
	token   string
	expires time.Time
}

// scope is the SigV4 credential scope of a request.
type scope struct {
	accessKey, date, region, service string
}

// parseScope reads the credential scope from the Authorization header
// (AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/rds/aws4_request,
// SignedHeaders=…, Signature=…) or a presigned URL's X-Amz-Credential.
func parseScope(r *http.Request) (scope, bool) {
	var cred string
	if h := r.Header.Get("Authorization"); h != "" {
		alg, rest, ok := strings.Cut(h, " ")
		if !ok || alg != "AWS4-HMAC-SHA256" {
			return scope{}, false
		}
		var signed bool
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				cred = v
			case "Signature":
				signed = v != ""
			}
		}
		if !signed {
			return scope{}, false
		}
	} else if q := r.URL.Query(); q.Get("X-Amz-Signature") != "" {
		cred = q.Get("X-Amz-Credential")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" {
		return scope{}, false
	}
	return scope{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}, true
}

// authFailure is why a request is refused before its operation runs.
type authFailure int

const (
	authOK authFailure = iota
	authMissing
	authUnknownKey
	authBadToken
	authExpired
)

// authenticate checks the request's access key (and session token for
// temporary credentials).
func (s *Server) authenticate(r *http.Request, sc scope, ok bool) (principal, authFailure) {
	if !ok {
		return principal{}, authMissing
	}
	s.mu.Lock()
	p, known := s.creds[sc.accessKey]
	s.mu.Unlock()
	if !known {
		return principal{}, authUnknownKey
	}
	if p.token != "" {
		tok := r.Header.Get("X-Amz-Security-Token")
		if tok == "" {
			tok = r.URL.Query().Get("X-Amz-Security-Token")
		}
		if tok != p.token {
			return principal{}, authBadToken
		}
		if !s.now().Before(p.expires) {
			return principal{}, authExpired
		}
	}
	return p, authOK
}

// authError is the error each protocol sends for an authentication failure.
func authError(p protocol, f authFailure, accessKey string) *apiError {
	const invalid = "The security token included in the request is invalid."
	switch f {
	case authMissing:
		switch p {
		case protoS3:
			return &apiError{status: 403, code: "AccessDenied", message: "Access Denied"}
		case protoRESTJSON:
			return &apiError{status: 403, code: "MissingAuthenticationTokenException", message: "Missing Authentication Token"}
		case protoJSON10:
			return &apiError{status: 400, code: "MissingAuthenticationTokenException", message: "Request is missing Authentication Token"}
		case protoEC2:
			return &apiError{status: 401, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials"}
		}
		return &apiError{status: 403, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
	case authExpired:
		switch p {
		case protoS3:
			return &apiError{status: 400, code: "ExpiredToken", message: "The provided token has expired."}
		case protoRESTJSON, protoJSON10:
			return &apiError{status: 400, code: "ExpiredTokenException", message: "The security token included in the request is expired"}
		}
		return &apiError{status: 400, code: "ExpiredToken", message: "The security token included in the request is expired"}
	}
	switch p {
	case protoS3:
		if f == authBadToken {
			return &apiError{status: 400, code: "InvalidToken", message: "The provided token is malformed or otherwise invalid."}
		}
		return &apiError{status: 403, code: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.",
			fields: map[string]string{"AWSAccessKeyId": accessKey}}
	case protoRESTJSON:
		return &apiError{status: 403, code: "UnrecognizedClientException", message: invalid}
	case protoJSON10:
		return &apiError{status: 400, code: "UnrecognizedClientException", message: invalid}
	case protoEC2:
		return &apiError{status: 401, code: "AuthFailure", message: "AWS was not able to validate the provided access credentials"}
	}
	return &apiError{status: 403, code: "InvalidClientTokenId", message: invalid}
}
