package awstest

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// opFunc serves one operation: the reply body (see call.ok) or an error.
type opFunc func(s *Server, c *call) (any, *apiError)

// service is one AWS service of the fake.
type service struct {
	// name is the IAM action prefix (rds, ec2, route53, eks, kafka,
	// dynamodb, cloudwatch, s3, sts).
	name   string
	proto  protocol
	global bool
	xmlns  string
	ops    map[string]opFunc
	routes []restRoute
	// resource names the resource of an operation for AccessDenied.
	resource func(s *Server, c *call) string
}

type restRoute struct {
	method, pattern, op string
}

// Query protocol versions that tell RDS, EC2 and STS apart.
var queryVersions = map[string]*service{
	"2014-10-31": rdsService,
	"2016-11-15": ec2Service,
	"2011-06-15": stsService,
}

// route identifies the service and operation of r and reads its body.
func (s *Server) route(w http.ResponseWriter, r *http.Request) (*call, *apiError) {
	c := &call{w: w, r: r, reqID: requestID(), form: r.URL.Query()}
	path := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810."):
		c.svc = dynamodbService
		c.op = strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	case strings.HasPrefix(path, "/service/GraniteServiceVersion20100801/operation/"):
		c.svc = cloudwatchService
		c.op = strings.TrimPrefix(path, "/service/GraniteServiceVersion20100801/operation/")
	case strings.HasPrefix(path, "/2013-04-01/"):
		c.svc = route53Service
	case strings.HasPrefix(path, "/clusters/"):
		c.svc = eksService
	case strings.HasPrefix(path, "/replication/v1/replicators"):
		c.svc = kafkaService
	case r.Method == http.MethodPost && path == "/" && isForm(r):
		c.svc = rdsService // for an error before the Version is known
		if err := c.readBody(); err != nil {
			return c, err
		}
		form, err := url.ParseQuery(string(c.body))
		if err != nil {
			return c, errorf(400, "MalformedQueryString", "the request body is not a form: %v", err)
		}
		c.form = form
		svc := queryVersions[form.Get("Version")]
		if svc == nil {
			return c, errorf(400, "InvalidParameterValue", "unknown Version %q", form.Get("Version"))
		}
		c.svc, c.op = svc, form.Get("Action")
	default:
		c.svc = s3Service
		c.op, c.vars = s3Operation(r)
		return c, nil
	}
	if len(c.svc.routes) > 0 {
		for _, rt := range c.svc.routes {
			if vars, ok := matchPath(rt.pattern, path); ok && rt.method == r.Method {
				c.op, c.vars = rt.op, vars
				break
			}
		}
	}
	if c.op == "" || c.svc.ops[c.op] == nil {
		return c, unknownOperation(c)
	}
	if c.body == nil {
		if err := c.readBody(); err != nil {
			return c, err
		}
	}
	return c, nil
}

func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

func (c *call) readBody() *apiError {
	b, err := io.ReadAll(c.r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(413, "RequestEntityTooLarge", "the request body is larger than %d bytes", tooBig.Limit)
		}
		return errorf(400, "IncompleteBody", "reading the request body: %v", err)
	}
	if b == nil {
		b = []byte{}
	}
	c.body = b
	return nil
}

func unknownOperation(c *call) *apiError {
	switch c.svc.proto {
	case protoQuery, protoEC2:
		if c.op == "" {
			return errorf(400, "MissingAction", "The request must contain the parameter Action.")
		}
		return errorf(400, "InvalidAction", "The action %s is not valid for this web service.", c.op)
	case protoJSON10:
		return errorf(400, "UnknownOperationException", "")
	}
	return errorf(404, "UnknownOperationException", "awstest does not serve %s %s", c.r.Method, c.r.URL.Path)
}

// matchPath matches an escaped path against a pattern with {name}
// segments; a trailing slash is ignored. Segments are unescaped.
func matchPath(pattern, path string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	vars := map[string]string{}
	for i, p := range ps {
		x, err := url.PathUnescape(xs[i])
		if err != nil {
			return nil, false
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if x == "" {
				return nil, false
			}
			vars[p[1:len(p)-1]] = x
		} else if p != x {
			return nil, false
		}
	}
	return vars, true
}

// serveHTTP is the server's handler: route, authenticate, inject faults,
// run the operation, record the call.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	c, rerr := s.route(w, r)
	sc, signed := parseScope(r)
	c.region = sc.region
	at := s.now()
	defer func() {
		s.recordCall(Call{At: at, Op: c.opName(), Region: c.region, AccessKey: sc.accessKey, Status: c.status, ErrorCode: c.errCode,
			Action: iamAction(c), Resource: s.callResource(c)})
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "awstest call",
			slog.String("op", c.opName()), slog.String("region", c.region), slog.Int("status", c.status), slog.String("error", c.errCode))
	}()
	who, fail := s.authenticate(r, sc, signed)
	if fail != authOK {
		c.fail(authError(c.svc.proto, fail, sc.accessKey))
		return
	}
	c.who = who
	if rerr != nil {
		c.fail(rerr)
		return
	}
	if s.injectFault(c) {
		return
	}
	if c.svc.proto == protoS3 {
		s.serveS3(c)
		return
	}
	v, err := c.svc.ops[c.op](s, c)
	if err != nil {
		c.fail(err)
		return
	}
	c.ok(v)
}
