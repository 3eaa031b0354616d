package awstest

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

var ec2Service = &service{
	name:  "ec2",
	proto: protoEC2,
	ops:   map[string]opFunc{"DescribeRegions": (*Server).ec2DescribeRegions},
}

var stsService = &service{
	name:   "sts",
	proto:  protoQuery,
	global: true,
	xmlns:  "https://sts.amazonaws.com/doc/2011-06-15/",
	ops: map[string]opFunc{
		"GetCallerIdentity": (*Server).stsGetCallerIdentity,
		"AssumeRole":        (*Server).stsAssumeRole,
	},
	resource: func(_ *Server, c *call) string { return c.form.Get("RoleArn") },
}

// indexed returns the values of a Query list parameter (Name.1, Name.2, …).
func indexed(c *call, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := c.form[name+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

func (s *Server) ec2DescribeRegions(c *call) (any, *apiError) {
	names := indexed(c, "RegionName")
	all := c.form.Get("AllRegions") == "true"
	filters := map[string][]string{}
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		name := c.form.Get(p + ".Name")
		if name == "" {
			break
		}
		switch name {
		case "region-name", "opt-in-status", "endpoint":
		default:
			return nil, errorf(400, "InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		filters[name] = append(filters[name], indexed(c, p+".Value")...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if _, ok := s.global.optIn[n]; !ok {
			return nil, errorf(400, "InvalidParameterValue", "Invalid region name: %s", n)
		}
	}
	out := ec2Regions{Xmlns: "http://ec2.amazonaws.com/doc/2016-11-15/", RequestID: c.reqID}
	for _, name := range sortedKeys(s.global.optIn) {
		st := s.global.optIn[name]
		item := ec2Region{RegionName: name, RegionEndpoint: "ec2." + name + ".amazonaws.com", OptInStatus: st}
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		if !all && st == "not-opted-in" {
			continue
		}
		if !matchesFilters(filters, map[string]string{"region-name": name, "opt-in-status": st, "endpoint": item.RegionEndpoint}) {
			continue
		}
		out.Regions = append(out.Regions, item)
	}
	return out, nil
}

func matchesFilters(filters map[string][]string, attrs map[string]string) bool {
	for k, vs := range filters {
		if !slices.Contains(vs, attrs[k]) {
			return false
		}
	}
	return true
}

type ec2Region struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type ec2Regions struct {
	XMLName   xml.Name    `xml:"DescribeRegionsResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	RequestID string      `xml:"requestId"`
	Regions   []ec2Region `xml:"regionInfo>item"`
}

func (s *Server) stsGetCallerIdentity(c *call) (any, *apiError) {
	return callerIdentity{Arn: c.who.arn, UserID: c.who.userID, Account: s.opts.AccountID}, nil
}

func (s *Server) stsAssumeRole(c *call) (any, *apiError) {
	roleARN, session := c.form.Get("RoleArn"), c.form.Get("RoleSessionName")
	if roleARN == "" || session == "" {
		return nil, errorf(400, "ValidationError", "1 validation error detected: RoleArn and RoleSessionName are required")
	}
	svc, _, acct, res, ok := parseARN(roleARN)
	if !ok || svc != "iam" || !strings.HasPrefix(res, "role/") {
		return nil, errorf(400, "ValidationError", "%s is invalid", roleARN)
	}
	if acct != s.opts.AccountID {
		return nil, s.accessDenied(c)
	}
	dur := time.Hour
	if v := c.form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, errorf(400, "ValidationError", "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
		}
		dur = time.Duration(n) * time.Second
	}
	role := res[strings.LastIndex(res, "/")+1:]
	roleID := "AROA" + randomUpper(17)
	key, secret, token := "ASIA"+randomUpper(16), randomHex(40), randomHex(64)
	s.mu.Lock()
	exp := s.now().Add(dur)
	p := principal{
		arn:    fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", acct, role, session),
		userID: roleID + ":" + session, token: token, expires: exp,
	}
	s.creds[key] = p
	s.mu.Unlock()
	return assumeRoleResult{
		AccessKeyID: key, SecretAccessKey: secret, SessionToken: token, Expiration: awsTime(exp),
		AssumedRoleID: p.userID, Arn: p.arn,
	}, nil
}

type callerIdentity struct {
	XMLName xml.Name `xml:"GetCallerIdentityResult"`
	Arn     string
	UserID  string `xml:"UserId"`
	Account string
}

type assumeRoleResult struct {
	XMLName         xml.Name `xml:"AssumeRoleResult"`
	AccessKeyID     string   `xml:"Credentials>AccessKeyId"`
	SecretAccessKey string   `xml:"Credentials>SecretAccessKey"`
	SessionToken    string   `xml:"Credentials>SessionToken"`
	Expiration      string   `xml:"Credentials>Expiration"`
	AssumedRoleID   string   `xml:"AssumedRoleUser>AssumedRoleId"`
	Arn             string   `xml:"AssumedRoleUser>Arn"`
}
