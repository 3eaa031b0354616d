package awstest

import (
	"sort"
	"strings"
	"time"
)

// Resource names a resource whose states the server records.
type Resource struct {
	// Kind is one of the Kind constants.
	Kind string
	// Region is the resource's region ("" for Route 53).
	Region string
	// Name identifies it within its kind and region.
	Name string
}

// Kinds of resources with recorded states.
const (
	// KindDBInstance is an RDS DB instance (Name: its identifier); states
	// are DBInstanceStatus values.
	KindDBInstance = "rds.db"
	// KindChange is a Route 53 change (Name: its id without /change/);
	// states PENDING, INSYNC.
	KindChange = "route53.change"
	// KindNodegroup is an EKS node group (Name: cluster/nodegroup); states
	// are its status (ACTIVE, UPDATING).
	KindNodegroup = "eks.nodegroup"
	// KindNodegroupUpdate is an EKS update (Name: its id); states
	// InProgress, Successful.
	KindNodegroupUpdate = "eks.update"
)

// DBInstance names an RDS instance for Transitions.
func DBInstance(region, id string) Resource {
	return Resource{Kind: KindDBInstance, Region: region, Name: id}
}

// Change names a Route 53 change for Transitions (with or without the
// /change/ prefix).
func Change(id string) Resource {
	return Resource{Kind: KindChange, Name: strings.TrimPrefix(id, "/change/")}
}

// Nodegroup names an EKS node group for Transitions.
func Nodegroup(region, cluster, nodegroup string) Resource {
	return Resource{Kind: KindNodegroup, Region: region, Name: cluster + "/" + nodegroup}
}

// NodegroupUpdate names an EKS update for Transitions.
func NodegroupUpdate(region, id string) Resource {
	return Resource{Kind: KindNodegroupUpdate, Region: region, Name: id}
}

// Transition is a resource entering a state.
type Transition struct {
	Resource Resource
	State    string
	At       time.Time
}

// Call is one request the server answered (or held, for a hang).
type Call struct {
	At time.Time
	// Op is service:Operation, e.g. rds:DescribeDBInstances.
	Op string
	// Region is the region of the call's credential scope.
	Region    string
	AccessKey string
	// Status is the HTTP status sent (0 when a hang ended unanswered).
	Status int
	// ErrorCode is the AWS error code sent, if any.
	ErrorCode string
	// Action is the IAM action that authorises the call (s3:ListBucket
	// for ListObjectsV2), and Resource the ARN it acts on as IAM sees it
	// (* when the action has no resource-level permission here).
	Action, Resource string
}

type callKey struct{ op, region string }

type observations struct {
	limit  int
	log    []Call
	counts map[callKey]int
	tracks map[Resource]*timeline
}

func (o *observations) init(limit int) {
	o.limit = limit
	o.counts = map[callKey]int{}
	o.tracks = map[Resource]*timeline{}
}

// track records the timeline of r. Callers hold s.mu.
func (o *observations) track(r Resource, tl *timeline) { o.tracks[r] = tl }

func (s *Server) recordCall(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obs.counts[callKey{c.Op, c.Region}]++
	if len(s.obs.log) >= s.obs.limit {
		n := copy(s.obs.log, s.obs.log[len(s.obs.log)/10+1:])
		s.obs.log = s.obs.log[:n]
	}
	s.obs.log = append(s.obs.log, c)
}

// Calls counts the calls of op (service:Operation; service:* or * for
// all) in every region.
func (s *Server) Calls(op string) int { return s.CallsIn("", op) }

// CallsIn counts the calls of op in region ("" for every region).
func (s *Server) CallsIn(region, op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.obs.counts {
		if (region == "" || k.region == region) && opMatches(op, k.op) {
			n += v
		}
	}
	return n
}

// CallsBetween counts the calls of op (any region) that arrived in
// [from, to), from the call log.
func (s *Server) CallsBetween(op string, from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.obs.log {
		if opMatches(op, c.Op) && !c.At.Before(from) && c.At.Before(to) {
			n++
		}
	}
	return n
}

// CallLog returns the recorded calls, oldest first.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.obs.log...)
}

// ResetCalls forgets the calls made so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.obs.log = nil
	s.obs.counts = map[callKey]int{}
}

// Transitions returns the states r has entered by now, oldest first.
func (s *Server) Transitions(r Resource) []Transition {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.obs.tracks[r]
	if tl == nil {
		return nil
	}
	out := tl.past(s.now())
	for i := range out {
		out[i].Resource = r
	}
	return out
}

// EnteredAt returns when r last entered state, if it has by now.
func (s *Server) EnteredAt(r Resource, state string) (time.Time, bool) {
	tr := s.Transitions(r)
	for i := len(tr) - 1; i >= 0; i-- {
		if tr[i].State == state {
			return tr[i].At, true
		}
	}
	return time.Time{}, false
}

// AllTransitions returns every recorded transition that happened by now,
// in time order.
func (s *Server) AllTransitions() []Transition {
	s.mu.Lock()
	now := s.now()
	var out []Transition
	for r, tl := range s.obs.tracks {
		for _, t := range tl.past(now) {
			t.Resource = r
			out = append(out, t)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// opMatches reports whether pattern (an op, service:*, or *) matches op.
func opMatches(pattern, op string) bool {
	switch {
	case pattern == "*" || pattern == op:
		return true
	case strings.HasSuffix(pattern, ":*"):
		return strings.HasPrefix(op, strings.TrimSuffix(pattern, "*"))
	}
	return false
}
