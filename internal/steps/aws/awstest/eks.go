package awstest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

var eksService = &service{
	name:  "eks",
	proto: protoRESTJSON,
	ops: map[string]opFunc{
		"DescribeNodegroup":     (*Server).eksDescribeNodegroup,
		"UpdateNodegroupConfig": (*Server).eksUpdateNodegroupConfig,
		"DescribeUpdate":        (*Server).eksDescribeUpdate,
	},
	routes: []restRoute{
		{"GET", "/clusters/{clusterName}/node-groups/{nodegroupName}", "DescribeNodegroup"},
		{"POST", "/clusters/{clusterName}/node-groups/{nodegroupName}/update-config", "UpdateNodegroupConfig"},
		{"GET", "/clusters/{clusterName}/updates/{updateId}", "DescribeUpdate"},
	},
	resource: func(s *Server, c *call) string {
		ng := c.vars["nodegroupName"]
		if ng == "" {
			ng = c.form.Get("nodegroupName")
		}
		return fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/*", c.region, s.opts.AccountID, c.vars["clusterName"], ng)
	},
}

type nodegroup struct {
	cluster, name, region string
	arn                   string
	status                timeline
	min, max, desired     int
	instanceTypes         []string
	created, modified     time.Time
	version, release      string
}

type eksUpdate struct {
	id, cluster, nodegroup string
	created                time.Time
	status                 timeline
	params                 []eksParam
}

// NodegroupSpec seeds an EKS managed node group with SeedNodegroup.
type NodegroupSpec struct {
	Region, Cluster, Name string
	MinSize, MaxSize      int
	DesiredSize           int
	// InstanceTypes (default m6i.xlarge).
	InstanceTypes []string
	// Version of Kubernetes (default 1.31).
	Version string
}

// SeedNodegroup adds an ACTIVE node group (and its cluster).
func (s *Server) SeedNodegroup(spec NodegroupSpec) error {
	if spec.MaxSize < 1 || spec.MinSize < 0 || spec.MinSize > spec.MaxSize || spec.DesiredSize < spec.MinSize || spec.DesiredSize > spec.MaxSize {
		return fmt.Errorf("awstest: node group %s: sizes must satisfy 0 ≤ min ≤ desired ≤ max, 1 ≤ max; got %d/%d/%d", spec.Name, spec.MinSize, spec.DesiredSize, spec.MaxSize)
	}
	if len(spec.InstanceTypes) == 0 {
		spec.InstanceTypes = []string{"m6i.xlarge"}
	}
	if spec.Version == "" {
		spec.Version = "1.31"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(spec.Region)
	key := spec.Cluster + "/" + spec.Name
	if r.nodegroups[key] != nil {
		return fmt.Errorf("awstest: node group %s exists in %s", key, spec.Region)
	}
	now := s.now()
	ng := &nodegroup{
		cluster: spec.Cluster, name: spec.Name, region: spec.Region,
		arn: fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/%s", spec.Region, s.opts.AccountID, spec.Cluster, spec.Name, requestID()),
		min: spec.MinSize, max: spec.MaxSize, desired: spec.DesiredSize, instanceTypes: spec.InstanceTypes,
		created: now, modified: now, version: spec.Version, release: spec.Version + ".0-20250101",
	}
	ng.status.set("ACTIVE", now)
	r.nodegroups[key] = ng
	s.obs.track(Nodegroup(spec.Region, spec.Cluster, spec.Name), &ng.status)
	return nil
}

// findNodegroup returns the node group or EKS's not-found error. Callers
// hold s.mu.
func (s *Server) findNodegroup(c *call, cluster, name string) (*nodegroup, *apiError) {
	r := s.region(c.region)
	if ng := r.nodegroups[cluster+"/"+name]; ng != nil {
		return ng, nil
	}
	for _, ng := range r.nodegroups {
		if ng.cluster == cluster {
			e := errorf(404, "ResourceNotFoundException", "No node group found for name: %s.", name)
			e.fields = map[string]string{"clusterName": cluster, "nodegroupName": name}
			return nil, e
		}
	}
	e := errorf(404, "ResourceNotFoundException", "No cluster found for name: %s.", cluster)
	e.fields = map[string]string{"clusterName": cluster}
	return nil, e
}

func (s *Server) eksDescribeNodegroup(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ng, err := s.findNodegroup(c, c.vars["clusterName"], c.vars["nodegroupName"])
	if err != nil {
		return nil, err
	}
	return map[string]any{"nodegroup": ngJSON(ng, s.now())}, nil
}

type scalingJSON struct {
	MinSize     *int `json:"minSize,omitempty"`
	MaxSize     *int `json:"maxSize,omitempty"`
	DesiredSize *int `json:"desiredSize,omitempty"`
}

func (s *Server) eksUpdateNodegroupConfig(c *call) (any, *apiError) {
	var req struct {
		ScalingConfig *scalingJSON `json:"scalingConfig"`
		Labels        any          `json:"labels"`
		Taints        any          `json:"taints"`
		UpdateConfig  any          `json:"updateConfig"`
	}
	if err := json.Unmarshal(c.body, &req); err != nil {
		return nil, errorf(400, "InvalidParameterException", "The request body is not valid JSON: %v", err)
	}
	if req.ScalingConfig == nil && req.Labels == nil && req.Taints == nil && req.UpdateConfig == nil {
		return nil, errorf(400, "InvalidParameterException", "No changes needed")
	}
	if req.Labels != nil || req.Taints != nil || req.UpdateConfig != nil {
		return nil, errorf(400, "InvalidParameterException", "awstest serves scalingConfig updates only")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ng, err := s.findNodegroup(c, c.vars["clusterName"], c.vars["nodegroupName"])
	if err != nil {
		return nil, err
	}
	if st := ng.status.state(now); st != "ACTIVE" {
		e := errorf(409, "ResourceInUseException", "Nodegroup cannot be updated as it is currently not in Active State")
		e.fields = map[string]string{"clusterName": ng.cluster, "nodegroupName": ng.name}
		return nil, e
	}
	sc := req.ScalingConfig
	mn, mx, ds := ng.min, ng.max, ng.desired
	var params []eksParam
	for _, p := range []struct {
		name string
		v    *int
		dst  *int
	}{{"MinSize", sc.MinSize, &mn}, {"MaxSize", sc.MaxSize, &mx}, {"DesiredSize", sc.DesiredSize, &ds}} {
		if p.v != nil {
			*p.dst = *p.v
			params = append(params, eksParam{Type: p.name, Value: strconv.Itoa(*p.v)})
		}
	}
	switch {
	case len(params) == 0:
		return nil, errorf(400, "InvalidParameterException", "No changes needed")
	case mx < 1:
		return nil, errorf(400, "InvalidParameterException", "Maximum capacity %d can't be less than 1", mx)
	case mn < 0 || ds < 0:
		return nil, errorf(400, "InvalidParameterException", "Minimum and desired capacity can't be negative")
	case mn > mx:
		return nil, errorf(400, "InvalidParameterException", "Minimum capacity %d can't be greater than max size %d", mn, mx)
	case ds > mx:
		return nil, errorf(400, "InvalidParameterException", "desired capacity %d can't be greater than max size %d", ds, mx)
	case ds < mn:
		return nil, errorf(400, "InvalidParameterException", "Desired capacity %d can't be lower than min size %d", ds, mn)
	}
	ng.min, ng.max, ng.desired, ng.modified = mn, mx, ds, now
	done := now.Add(s.Scaled().NodegroupUpdating)
	ng.status.set("UPDATING", now)
	ng.status.set("ACTIVE", done)
	u := &eksUpdate{id: requestID(), cluster: ng.cluster, nodegroup: ng.name, created: now, params: params}
	u.status.set("InProgress", now)
	u.status.set("Successful", done)
	s.region(c.region).updates[u.id] = u
	s.obs.track(NodegroupUpdate(c.region, u.id), &u.status)
	return map[string]any{"update": updateJSON(u, now)}, nil
}

func (s *Server) eksDescribeUpdate(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.vars["updateId"]
	u := s.region(c.region).updates[id]
	if u == nil || u.cluster != c.vars["clusterName"] || (c.form.Get("nodegroupName") != "" && c.form.Get("nodegroupName") != u.nodegroup) {
		e := errorf(404, "ResourceNotFoundException", "No update found for ID: %s", id)
		e.fields = map[string]string{"clusterName": c.vars["clusterName"], "updateId": id}
		return nil, e
	}
	return map[string]any{"update": updateJSON(u, s.now())}, nil
}

type eksParam struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func updateJSON(u *eksUpdate, now time.Time) map[string]any {
	return map[string]any{
		"id": u.id, "status": u.status.state(now), "type": "ConfigUpdate", "params": u.params,
		"createdAt": epoch(u.created), "errors": []any{},
	}
}

func ngJSON(ng *nodegroup, now time.Time) map[string]any {
	mn, mx, ds := ng.min, ng.max, ng.desired
	return map[string]any{
		"nodegroupName": ng.name, "nodegroupArn": ng.arn, "clusterName": ng.cluster,
		"version": ng.version, "releaseVersion": ng.release,
		"createdAt": epoch(ng.created), "modifiedAt": epoch(ng.modified),
		"status": ng.status.state(now), "capacityType": "ON_DEMAND",
		"scalingConfig": scalingJSON{MinSize: &mn, MaxSize: &mx, DesiredSize: &ds},
		"instanceTypes": ng.instanceTypes, "subnets": []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"},
		"amiType": "AL2023_x86_64_STANDARD", "nodeRole": "arn:aws:iam::" + arnAccount(ng.arn) + ":role/" + ng.cluster + "-node",
		"labels": map[string]string{}, "diskSize": 20, "health": map[string]any{"issues": []any{}},
		"updateConfig": map[string]int{"maxUnavailable": 1}, "tags": map[string]string{},
	}
}

func arnAccount(arn string) string {
	_, _, acct, _, _ := parseARN(arn)
	return acct
}
