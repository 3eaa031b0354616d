package awstest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aws/smithy-go/encoding/cbor"
)

// protocol is a wire protocol of the AWS services served.
type protocol int

const (
	protoQuery    protocol = iota // awsQuery: form body, XML reply (RDS, STS)
	protoEC2                      // ec2Query: form body, EC2's XML reply
	protoRESTXML                  // restXml (Route 53)
	protoRESTJSON                 // restJson1 (EKS, MSK)
	protoJSON10                   // awsJson1_0 (DynamoDB)
	protoCBOR                     // rpcv2Cbor, AWS-query compatible (CloudWatch)
	protoS3                       // S3's restXml (gofakes3)
)

// apiError is an AWS error reply.
type apiError struct {
	status  int
	code    string
	message string
	// shape is the modeled error's shape name where the wire carries it
	// apart from the code (CloudWatch's CBOR __type; default code).
	shape string
	// messages are the several messages of a Route 53 InvalidChangeBatch.
	messages []string
	// fields are extra members of a JSON error body or S3 error element.
	fields map[string]string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// call is one request being served.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	svc    *service
	op     string // operation name, e.g. DescribeDBInstances
	region string // region of the credential scope
	who    principal
	body   []byte
	form   url.Values // Query protocols: the form; others: the URL query
	vars   map[string]string
	reqID  string

	status  int
	errCode string
}

// opName is service:Operation.
func (c *call) opName() string { return c.svc.name + ":" + c.op }

// fail sends e in the protocol of the call.
func (c *call) fail(e *apiError) {
	c.status, c.errCode = e.status, e.code
	h := c.w.Header()
	switch c.svc.proto {
	case protoQuery:
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		c.writeXML(e.status, "text/xml", queryError{Xmlns: c.svc.xmlns, Type: typ, Code: e.code, Message: e.message, RequestID: c.reqID})
	case protoEC2:
		c.writeXML(e.status, "text/xml;charset=UTF-8", ec2Error{Code: e.code, Message: e.message, RequestID: c.reqID})
	case protoRESTXML:
		if len(e.messages) > 1 {
			c.writeXML(e.status, "text/xml", invalidChangeBatch{Xmlns: c.svc.xmlns, Messages: e.messages, RequestID: c.reqID})
			return
		}
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		c.writeXML(e.status, "text/xml", queryError{Xmlns: c.svc.xmlns, Type: typ, Code: e.code, Message: e.message, RequestID: c.reqID})
	case protoRESTJSON:
		h.Set("X-Amzn-Errortype", e.code)
		body := map[string]string{"message": e.message}
		for k, v := range e.fields {
			body[k] = v
		}
		c.writeJSON(e.status, "application/json", body)
	case protoJSON10:
		c.writeJSON(e.status, "application/x-amz-json-1.0", map[string]string{
			"__type": "com.amazonaws.dynamodb.v20120810#" + e.code, "message": e.message})
	case protoCBOR:
		shape := e.shape
		if shape == "" {
			shape = e.code
		}
		fault := "Sender"
		if e.status >= 500 {
			fault = "Receiver"
		}
		h.Set("X-Amzn-Query-Error", e.code+";"+fault)
		c.writeCBOR(e.status, cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + shape), "message": cbor.String(e.message)})
	case protoS3:
		c.writeXML(e.status, "application/xml", s3Error{Code: e.code, Message: e.message, RequestID: c.reqID, HostID: c.reqID, Extra: e.fields})
	}
}

// ok sends a successful reply: for Query protocols v is the <Op>Result
// element, for the others the whole body.
func (c *call) ok(v any) {
	c.status = http.StatusOK
	switch c.svc.proto {
	case protoQuery:
		c.writeXML(http.StatusOK, "text/xml", queryEnvelope{
			XMLName: xml.Name{Local: c.op + "Response"}, Xmlns: c.svc.xmlns, Result: v, RequestID: c.reqID})
	case protoEC2, protoRESTXML:
		c.writeXML(http.StatusOK, "text/xml", v)
	case protoRESTJSON:
		c.writeJSON(http.StatusOK, "application/json", v)
	case protoJSON10:
		c.writeJSON(http.StatusOK, "application/x-amz-json-1.0", v)
	case protoCBOR:
		c.writeCBOR(http.StatusOK, v.(cbor.Value))
	}
}

func (c *call) writeXML(status int, contentType string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		c.internal(err)
		return
	}
	c.write(status, contentType, append([]byte(xml.Header), b...))
}

func (c *call) writeJSON(status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.internal(err)
		return
	}
	c.write(status, contentType, b)
}

func (c *call) writeCBOR(status int, v cbor.Value) {
	c.w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	c.write(status, "application/cbor", cbor.Encode(v))
}

func (c *call) write(status int, contentType string, body []byte) {
	h := c.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-Requestid", c.reqID)
	if c.svc.proto == protoJSON10 {
		// DynamoDB sends the CRC32 of every body; the SDK checks it.
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// internal reports a bug of the fake as the 500 a client would retry.
func (c *call) internal(err error) {
	http.Error(c.w, "awstest: "+err.Error(), http.StatusInternalServerError)
	c.status, c.errCode = http.StatusInternalServerError, "InternalFailure"
}

type queryEnvelope struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	Result    any
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type queryError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

type ec2Error struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

type invalidChangeBatch struct {
	XMLName   xml.Name `xml:"InvalidChangeBatch"`
	Xmlns     string   `xml:"xmlns,attr"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

type s3Error struct {
	Code      string
	Message   string
	RequestID string
	HostID    string
	Extra     map[string]string
}

// MarshalXML writes <Error><Code>…</Code>…</Error> with the extra members.
func (e s3Error) MarshalXML(enc *xml.Encoder, _ xml.StartElement) error {
	root := xml.StartElement{Name: xml.Name{Local: "Error"}}
	if err := enc.EncodeToken(root); err != nil {
		return err
	}
	elem := func(k, v string) error {
		return enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: k}})
	}
	for _, kv := range [][2]string{{"Code", e.Code}, {"Message", e.Message}} {
		if err := elem(kv[0], kv[1]); err != nil {
			return err
		}
	}
	for k, v := range e.Extra {
		if err := elem(k, v); err != nil {
			return err
		}
	}
	for _, kv := range [][2]string{{"RequestId", e.RequestID}, {"HostId", e.HostID}} {
		if err := elem(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return enc.EncodeToken(root.End())
}
