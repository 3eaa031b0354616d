package awstest

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// regionState is what one region holds.
type regionState struct {
	name        string
	dbs         map[string]*dbInstance
	nodegroups  map[string]*nodegroup // cluster/nodegroup
	updates     map[string]*eksUpdate
	tables      map[string]*table
	replicators []*replicator
	metrics     []*metricSeries
	alarms      map[string]*alarm
}

func newRegionState(name string) *regionState {
	return &regionState{
		name:       name,
		dbs:        map[string]*dbInstance{},
		nodegroups: map[string]*nodegroup{},
		updates:    map[string]*eksUpdate{},
		tables:     map[string]*table{},
		alarms:     map[string]*alarm{},
	}
}

// globalState is what Route 53, STS and the account's region list hold.
type globalState struct {
	zones        []*hostedZone
	changes      map[string]*change
	healthChecks map[string]*healthCheck
	targetHealth map[string]int // health check target → healthy checkers
	optIn        map[string]string
}

// Regions and their opt-in status in a new account (DescribeRegions).
var defaultRegions = map[string]string{
	"us-east-1": "opt-in-not-required", "us-east-2": "opt-in-not-required",
	"us-west-1": "opt-in-not-required", "us-west-2": "opt-in-not-required",
	"ca-central-1": "opt-in-not-required", "sa-east-1": "opt-in-not-required",
	"eu-west-1": "opt-in-not-required", "eu-west-2": "opt-in-not-required",
	"eu-west-3": "opt-in-not-required", "eu-central-1": "opt-in-not-required",
	"eu-north-1": "opt-in-not-required", "ap-south-1": "opt-in-not-required",
	"ap-northeast-1": "opt-in-not-required", "ap-northeast-2": "opt-in-not-required",
	"ap-northeast-3": "opt-in-not-required", "ap-southeast-1": "opt-in-not-required",
	"ap-southeast-2": "opt-in-not-required",
	"af-south-1":     "not-opted-in", "ap-east-1": "not-opted-in", "eu-south-1": "not-opted-in",
	"me-south-1": "not-opted-in", "il-central-1": "not-opted-in",
}

func newGlobalState() *globalState {
	g := &globalState{
		changes:      map[string]*change{},
		healthChecks: map[string]*healthCheck{},
		targetHealth: map[string]int{},
		optIn:        map[string]string{},
	}
	for r, st := range defaultRegions {
		g.optIn[r] = st
	}
	return g
}

// SetRegionOptIn sets a region's opt-in status as DescribeRegions reports
// it (opt-in-not-required, opted-in, not-opted-in); a new name adds a region.
func (s *Server) SetRegionOptIn(region, status string) error {
	switch status {
	case "opt-in-not-required", "opted-in", "not-opted-in":
	default:
		return fmt.Errorf("awstest: opt-in status must be opt-in-not-required, opted-in or not-opted-in, got %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.global.optIn[region] = status
	return nil
}

// awsTime is the ISO 8601 form of timestamps in XML replies.
func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// epoch is the epoch-seconds form of timestamps in JSON replies.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseARN splits arn:partition:service:region:account:resource.
func parseARN(arn string) (service, region, account, resource string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") {
		return "", "", "", "", false
	}
	return parts[2], parts[3], parts[4], parts[5], true
}
