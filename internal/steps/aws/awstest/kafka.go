package awstest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var kafkaService = &service{
	name:  "kafka",
	proto: protoRESTJSON,
	ops: map[string]opFunc{
		"ListReplicators":    (*Server).kafkaListReplicators,
		"DescribeReplicator": (*Server).kafkaDescribeReplicator,
	},
	routes: []restRoute{
		{"GET", "/replication/v1/replicators", "ListReplicators"},
		{"GET", "/replication/v1/replicators/{ReplicatorArn}", "DescribeReplicator"},
	},
	resource: func(s *Server, c *call) string {
		if arn := c.vars["ReplicatorArn"]; arn != "" {
			return arn
		}
		return fmt.Sprintf("arn:aws:kafka:%s:%s:replicator/*", c.region, s.opts.AccountID)
	},
}

// replicator is an MSK Replicator; it lives in its target region and is
// listed as a reference in its source region.
type replicator struct {
	name, arn, region string
	sourceRegion      string
	sourceCluster     string
	targetCluster     string
	state             string
	created           time.Time
}

// ReplicatorSpec seeds an MSK Replicator with SeedReplicator.
type ReplicatorSpec struct {
	// Name, e.g. maip-prod-east-to-west.
	Name string
	// SourceRegion and TargetRegion (the replicator lives in the target).
	SourceRegion, TargetRegion string
	// SourceCluster and TargetCluster are the MSK cluster names.
	SourceCluster, TargetCluster string
	// State (default RUNNING): CREATING, RUNNING, UPDATING, DELETING, FAILED.
	State string
}

// SeedReplicator adds an MSK Replicator and returns its ARN.
func (s *Server) SeedReplicator(spec ReplicatorSpec) (string, error) {
	if spec.State == "" {
		spec.State = "RUNNING"
	}
	if spec.Name == "" || spec.SourceRegion == "" || spec.TargetRegion == "" {
		return "", fmt.Errorf("awstest: a replicator needs a name, a source and a target region")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clusterARN := func(region, name string) string {
		return fmt.Sprintf("arn:aws:kafka:%s:%s:cluster/%s/%s-2", region, s.opts.AccountID, name, requestID())
	}
	rp := &replicator{
		name: spec.Name, region: spec.TargetRegion, sourceRegion: spec.SourceRegion, state: spec.State,
		arn:           fmt.Sprintf("arn:aws:kafka:%s:%s:replicator/%s/%s-2", spec.TargetRegion, s.opts.AccountID, spec.Name, requestID()),
		sourceCluster: clusterARN(spec.SourceRegion, spec.SourceCluster),
		targetCluster: clusterARN(spec.TargetRegion, spec.TargetCluster),
		created:       s.now(),
	}
	r := s.region(spec.TargetRegion)
	r.replicators = append(r.replicators, rp)
	return rp.arn, nil
}

// SetReplicatorState sets the state of the replicator named name in region.
func (s *Server) SetReplicatorState(region, name, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rp := range s.region(region).replicators {
		if rp.name == name {
			rp.state = state
			return nil
		}
	}
	return fmt.Errorf("awstest: no replicator %s in %s", name, region)
}

// listed are the replicators ListReplicators shows in region: its own and
// references to those replicating from it. Callers hold s.mu.
func (s *Server) listed(region string) []*replicator {
	out := append([]*replicator(nil), s.region(region).replicators...)
	for _, rn := range sortedKeys(s.regions) {
		if rn == region {
			continue
		}
		for _, rp := range s.regions[rn].replicators {
			if rp.sourceRegion == region {
				out = append(out, rp)
			}
		}
	}
	return out
}

func (s *Server) kafkaListReplicators(c *call) (any, *apiError) {
	max := 10
	if v := c.form.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, kafkaBadRequest("maxResults", "maxResults must be between 1 and 100")
		}
		max = n
	}
	start := 0
	if t := c.form.Get("nextToken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, kafkaBadRequest("nextToken", "The provided nextToken is not valid")
		}
		start = n
	}
	filter := c.form.Get("replicatorNameFilter")
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*replicator
	for _, rp := range s.listed(c.region) {
		if strings.HasPrefix(rp.name, filter) {
			all = append(all, rp)
		}
	}
	out := map[string]any{}
	var list []map[string]any
	for i := start; i < len(all) && i < start+max; i++ {
		list = append(list, s.replicatorSummary(all[i], c.region))
	}
	if list == nil {
		list = []map[string]any{}
	}
	out["replicators"] = list
	if start+max < len(all) {
		out["nextToken"] = strconv.Itoa(start + max)
	}
	return out, nil
}

func kafkaBadRequest(param, msg string) *apiError {
	e := errorf(400, "BadRequestException", "%s", msg)
	e.fields = map[string]string{"invalidParameter": param}
	return e
}

func (s *Server) replicatorSummary(rp *replicator, region string) map[string]any {
	ref := rp.region != region
	return map[string]any{
		"creationTime": rp.created.UTC().Format(time.RFC3339Nano), "currentVersion": "K3AEGXETSR30VB",
		"isReplicatorReference": ref,
		"kafkaClustersSummary": []any{
			map[string]any{"amazonMskCluster": map[string]string{"mskClusterArn": rp.sourceCluster}, "kafkaClusterAlias": "source"},
			map[string]any{"amazonMskCluster": map[string]string{"mskClusterArn": rp.targetCluster}, "kafkaClusterAlias": "target"},
		},
		"replicationInfoSummaryList": []any{map[string]string{"sourceKafkaClusterAlias": "source", "targetKafkaClusterAlias": "target"}},
		"replicatorArn":              rp.arn, "replicatorName": rp.name, "replicatorResourceArn": rp.arn,
		"replicatorState": rp.state,
	}
}

func (s *Server) kafkaDescribeReplicator(c *call) (any, *apiError) {
	arn := c.vars["ReplicatorArn"]
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rp := range s.region(c.region).replicators {
		if rp.arn != arn {
			continue
		}
		out := s.replicatorSummary(rp, c.region)
		delete(out, "kafkaClustersSummary")
		delete(out, "replicationInfoSummaryList")
		out["kafkaClusters"] = []any{
			map[string]any{"amazonMskCluster": map[string]string{"mskClusterArn": rp.sourceCluster}, "kafkaClusterAlias": "source",
				"vpcConfig": map[string][]string{"subnetIds": {"subnet-0a1b2c3d4e5f60011"}, "securityGroupIds": {"sg-0a1b2c3d4e5f60011"}}},
			map[string]any{"amazonMskCluster": map[string]string{"mskClusterArn": rp.targetCluster}, "kafkaClusterAlias": "target",
				"vpcConfig": map[string][]string{"subnetIds": {"subnet-0a1b2c3d4e5f60021"}, "securityGroupIds": {"sg-0a1b2c3d4e5f60021"}}},
		}
		out["replicationInfoList"] = []any{map[string]any{
			"sourceKafkaClusterAlias": "source", "targetKafkaClusterAlias": "target", "targetCompressionType": "NONE",
			"topicReplication":         map[string]any{"topicsToReplicate": []string{".*"}, "copyTopicConfigurations": true, "detectAndCopyNewTopics": true},
			"consumerGroupReplication": map[string]any{"consumerGroupsToReplicate": []string{".*"}, "synchroniseConsumerGroupOffsets": true},
		}}
		out["replicatorDescription"] = "awstest replicator " + rp.name
		out["serviceExecutionRoleArn"] = fmt.Sprintf("arn:aws:iam::%s:role/msk-replicator", s.opts.AccountID)
		out["tags"] = map[string]string{}
		if rp.state == "FAILED" {
			out["stateInfo"] = map[string]string{"code": "ReplicationFailed", "message": "The replicator cannot reach the source cluster."}
		}
		return out, nil
	}
	e := errorf(404, "NotFoundException", "The replicator %s does not exist.", arn)
	e.fields = map[string]string{"invalidParameter": "replicatorArn"}
	return nil, e
}
