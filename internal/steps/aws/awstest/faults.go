package awstest

import (
	"fmt"
	"net/http"
	"slices"
)

// FaultKind is what an injected fault does to a call.
type FaultKind int

const (
	// FaultThrottle answers with the service's throttling error
	// (Throttling, ThrottlingException, RequestLimitExceeded,
	// TooManyRequestsException, SlowDown; PriorRequestNotComplete for
	// Route 53 ChangeResourceRecordSets), which the SDK's standard retryer
	// retries.
	FaultThrottle FaultKind = iota + 1
	// FaultServerError answers with the service's 500 error (which the
	// SDK retries too).
	FaultServerError
	// FaultAccessDenied answers with the service's access-denied error,
	// its message naming the caller, the IAM action and the resource ARN.
	FaultAccessDenied
	// FaultHang accepts the call and never answers: it ends only when the
	// client gives up (its context deadline) or the server closes.
	FaultHang
)

// Fault is a failure to inject into matching calls.
type Fault struct {
	// Op is service:Operation (e.g. rds:PromoteReadReplica), service:*, or
	// * for every call.
	Op string
	// Region limits the fault to calls signed for that region. "" matches
	// every region; the global services (Route 53, STS) only match "".
	Region string
	Kind   FaultKind
	// Times is how many calls fail (0: every call until removed).
	Times int
	// Status, Code and Message override the service's defaults.
	Status  int
	Code    string
	Message string
}

// Injected is an injected fault.
type Injected struct {
	s    *Server
	rule *faultRule
}

type faultRule struct {
	f    Fault
	hits int
}

// Inject adds a fault; faults are tried in the order injected.
func (s *Server) Inject(f Fault) *Injected {
	if f.Op == "" {
		f.Op = "*"
	}
	rule := &faultRule{f: f}
	s.mu.Lock()
	s.faults = append(s.faults, rule)
	s.mu.Unlock()
	return &Injected{s: s, rule: rule}
}

// HangRegion makes every call signed for region hang (a region that
// accepts connections and never answers).
func (s *Server) HangRegion(region string) *Injected {
	return s.Inject(Fault{Op: "*", Region: region, Kind: FaultHang})
}

// Hits counts the calls the fault has failed.
func (i *Injected) Hits() int {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.rule.hits
}

// Remove stops the fault (calls already hanging stay so until they end).
func (i *Injected) Remove() {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	i.s.faults = slices.DeleteFunc(i.s.faults, func(r *faultRule) bool { return r == i.rule })
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// injectFault applies the first matching fault to c and reports whether
// it answered (or held) the call.
func (s *Server) injectFault(c *call) bool {
	s.mu.Lock()
	var f *Fault
	for _, r := range s.faults {
		if !opMatches(r.f.Op, c.opName()) || (r.f.Region != "" && (c.svc.global || r.f.Region != c.region)) {
			continue
		}
		if r.f.Times > 0 && r.hits >= r.f.Times {
			continue
		}
		r.hits++
		f = &r.f
		break
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	if f.Kind == FaultHang {
		select {
		case <-c.r.Context().Done():
		case <-s.closed:
		}
		// Abort without a reply: the connection is closed, nothing is sent.
		panic(http.ErrAbortHandler)
	}
	e := s.faultError(c, f.Kind)
	if f.Status != 0 {
		e.status = f.Status
	}
	if f.Code != "" {
		e.code, e.shape = f.Code, ""
	}
	if f.Message != "" {
		e.message = f.Message
	}
	c.fail(e)
	return true
}

// faultError is the service's own error for a fault kind.
func (s *Server) faultError(c *call, k FaultKind) *apiError {
	switch k {
	case FaultThrottle:
		return throttleError(c)
	case FaultServerError:
		return serverError(c.svc)
	}
	return s.accessDenied(c)
}

func throttleError(c *call) *apiError {
	switch c.svc.name {
	case "ec2":
		return errorf(503, "RequestLimitExceeded", "Request limit exceeded.")
	case "route53":
		if c.op == "ChangeResourceRecordSets" {
			return errorf(400, "PriorRequestNotComplete", "The request was rejected because Route 53 was still processing a prior request.")
		}
	case "eks":
		return errorf(429, "ThrottlingException", "Rate exceeded")
	case "kafka":
		return errorf(429, "TooManyRequestsException", "Too Many Requests")
	case "dynamodb":
		return errorf(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
	case "cloudwatch":
		return &apiError{status: 400, code: "Throttling", shape: "ThrottlingException", message: "Rate exceeded"}
	case "s3":
		return errorf(503, "SlowDown", "Please reduce your request rate.")
	}
	return errorf(400, "Throttling", "Rate exceeded")
}

func serverError(svc *service) *apiError {
	switch svc.name {
	case "ec2":
		return errorf(500, "InternalError", "An internal error has occurred")
	case "eks":
		return errorf(500, "ServerException", "Internal service error")
	case "kafka":
		return errorf(500, "InternalServerErrorException", "There was an unexpected internal server error.")
	case "dynamodb":
		return errorf(500, "InternalServerError", "Internal server error")
	case "cloudwatch":
		return &apiError{status: 500, code: "InternalServiceError", shape: "InternalServiceFault", message: "Internal service error"}
	case "s3":
		return errorf(500, "InternalError", "We encountered an internal error. Please try again.")
	}
	return errorf(500, "InternalFailure", "An internal error has occurred. Please try again.")
}

// iamAction is the IAM action an operation is authorised by.
func iamAction(c *call) string {
	if c.svc.name == "s3" {
		switch c.op {
		case "ListObjectsV2", "ListObjects", "HeadBucket":
			return "s3:ListBucket"
		case "HeadObject":
			return "s3:GetObject"
		case "ListBuckets":
			return "s3:ListAllMyBuckets"
		}
	}
	return c.opName()
}

// callResource is the ARN the call acts on as IAM authorises it, or *.
func (s *Server) callResource(c *call) string {
	if c.svc == nil || c.svc.resource == nil {
		return "*"
	}
	return c.svc.resource(s, c)
}

// accessDenied is the service's access-denied error for the caller, as
// IAM words it.
func (s *Server) accessDenied(c *call) *apiError {
	action, res := iamAction(c), s.callResource(c)
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		c.who.arn, action, res, action)
	if res == "*" {
		msg = fmt.Sprintf("User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", c.who.arn, action, action)
	}
	switch c.svc.name {
	case "ec2":
		return errorf(403, "UnauthorizedOperation", "You are not authorized to perform this operation. %s", msg)
	case "eks":
		return errorf(403, "AccessDeniedException", "%s", msg)
	case "kafka":
		return errorf(403, "ForbiddenException", "%s", msg)
	case "dynamodb":
		return errorf(400, "AccessDeniedException", "%s", msg)
	case "cloudwatch":
		return &apiError{status: 403, code: "AccessDenied", shape: "AccessDeniedException", message: msg}
	case "s3":
		return errorf(403, "AccessDenied", "User: %s is not authorized to perform: %s on resource: \"%s\" because no identity-based policy allows the %s action",
			c.who.arn, action, res, action)
	}
	return errorf(403, "AccessDenied", "%s", msg)
}
