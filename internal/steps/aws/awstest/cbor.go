package awstest

import (
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// cborObj is a decoded CBOR structure with typed accessors; a member of
// the wrong type reads as absent.
type cborObj cbor.Map

func cborInput(body []byte) (cborObj, *apiError) {
	if len(body) == 0 {
		return cborObj{}, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, &apiError{status: 400, code: "SerializationException", message: "the request body is not valid CBOR: " + err.Error()}
	}
	m, ok := v.(cbor.Map)
	if !ok {
		return nil, &apiError{status: 400, code: "SerializationException", message: "the request body is not a CBOR map"}
	}
	return cborObj(m), nil
}

func (o cborObj) str(k string) string {
	s, _ := o[k].(cbor.String)
	return string(s)
}

func (o cborObj) int(k string) int64 {
	v, ok := o[k]
	if !ok {
		return 0
	}
	n, err := cbor.AsInt64(v)
	if err != nil {
		return 0
	}
	return n
}

func (o cborObj) time(k string) time.Time {
	v, ok := o[k]
	if !ok {
		return time.Time{}
	}
	t, err := cbor.AsTime(v)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (o cborObj) obj(k string) cborObj {
	m, _ := o[k].(cbor.Map)
	return cborObj(m)
}

func (o cborObj) list(k string) []cborObj {
	l, _ := o[k].(cbor.List)
	var out []cborObj
	for _, v := range l {
		if m, ok := v.(cbor.Map); ok {
			out = append(out, cborObj(m))
		}
	}
	return out
}

func (o cborObj) strs(k string) []string {
	l, _ := o[k].(cbor.List)
	var out []string
	for _, v := range l {
		if s, ok := v.(cbor.String); ok {
			out = append(out, string(s))
		}
	}
	return out
}

// dims reads a list of {Name, Value} dimensions.
func (o cborObj) dims(k string) map[string]string {
	out := map[string]string{}
	for _, d := range o.list(k) {
		out[d.str("Name")] = d.str("Value")
	}
	return out
}

func cborTime(t time.Time) cbor.Value {
	return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1e3)}
}

func cborDims(d map[string]string) cbor.List {
	out := cbor.List{}
	for _, k := range sortedKeys(d) {
		out = append(out, cbor.Map{"Name": cbor.String(k), "Value": cbor.String(d[k])})
	}
	return out
}
