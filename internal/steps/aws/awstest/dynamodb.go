package awstest

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

var dynamodbService = &service{
	name:  "dynamodb",
	proto: protoJSON10,
	ops:   map[string]opFunc{"DescribeTable": (*Server).ddbDescribeTable},
	resource: func(s *Server, c *call) string {
		var req struct{ TableName string }
		_ = json.Unmarshal(c.body, &req)
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", c.region, s.opts.AccountID, req.TableName)
	},
}

// globalTable is a DynamoDB table and its replicas (one region for a
// table that is not global).
type globalTable struct {
	name     string
	created  time.Time
	global   bool
	regions  []string
	status   map[string]string // region → replica status
	tableIDs map[string]string
}

// table is a globalTable as one region holds it.
type table struct{ g *globalTable }

// GlobalTableSpec seeds a DynamoDB table with SeedTable.
type GlobalTableSpec struct {
	Name string
	// Regions holding a replica (one region: a table that is not global).
	Regions []string
}

// SeedTable adds a table in each region, every replica ACTIVE.
func (s *Server) SeedTable(spec GlobalTableSpec) error {
	if spec.Name == "" || len(spec.Regions) == 0 {
		return fmt.Errorf("awstest: a table needs a name and at least one region")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &globalTable{name: spec.Name, created: s.now(), global: len(spec.Regions) > 1,
		regions: slices.Clone(spec.Regions), status: map[string]string{}, tableIDs: map[string]string{}}
	for _, rn := range spec.Regions {
		if s.region(rn).tables[spec.Name] != nil {
			return fmt.Errorf("awstest: table %s exists in %s", spec.Name, rn)
		}
	}
	for _, rn := range spec.Regions {
		g.status[rn] = "ACTIVE"
		g.tableIDs[rn] = requestID()
		s.region(rn).tables[spec.Name] = &table{g: g}
	}
	return nil
}

// SetReplicaStatus sets the status of the replica in region of table name
// (CREATING, CREATION_FAILED, UPDATING, DELETING, ACTIVE, REGION_DISABLED,
// INACCESSIBLE_ENCRYPTION_CREDENTIALS), as the other regions list it.
func (s *Server) SetReplicaStatus(region, name, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.region(region).tables[name]
	if t == nil {
		return fmt.Errorf("awstest: no table %s in %s", name, region)
	}
	t.g.status[region] = status
	return nil
}

func (s *Server) ddbDescribeTable(c *call) (any, *apiError) {
	var req struct{ TableName string }
	if err := json.Unmarshal(c.body, &req); err != nil {
		return nil, errorf(400, "SerializationException", "the request body is not valid JSON")
	}
	if req.TableName == "" {
		return nil, errorf(400, "ValidationException", "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.region(c.region).tables[req.TableName]
	if t == nil {
		return nil, errorf(400, "ResourceNotFoundException", "Requested resource not found: Table: %s not found", req.TableName)
	}
	g := t.g
	st := g.status[c.region]
	switch st {
	case "CREATING", "UPDATING", "DELETING", "ACTIVE", "INACCESSIBLE_ENCRYPTION_CREDENTIALS":
	default:
		st = "ACTIVE"
	}
	arn := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", c.region, s.opts.AccountID, g.name)
	label := g.created.UTC().Format("2006-01-02T15:04:05.000")
	desc := map[string]any{
		"TableName": g.name, "TableStatus": st, "TableArn": arn, "TableId": g.tableIDs[c.region],
		"CreationDateTime":      epoch(g.created),
		"AttributeDefinitions":  []map[string]string{{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}},
		"KeySchema":             []map[string]string{{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}},
		"ProvisionedThroughput": map[string]int{"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
		"BillingModeSummary":    map[string]string{"BillingMode": "PAY_PER_REQUEST"},
		"ItemCount":             0, "TableSizeBytes": 0,
		"DeletionProtectionEnabled": true,
	}
	if g.global {
		desc["GlobalTableVersion"] = "2019.11.21"
		desc["StreamSpecification"] = map[string]any{"StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"}
		desc["LatestStreamLabel"] = label
		desc["LatestStreamArn"] = arn + "/stream/" + label
		// As DynamoDB does, the replicas listed are the other regions';
		// the table's own region is reported by TableStatus.
		var reps []map[string]string
		for _, rn := range g.regions {
			if rn != c.region {
				reps = append(reps, map[string]string{"RegionName": rn, "ReplicaStatus": g.status[rn]})
			}
		}
		desc["Replicas"] = reps
	}
	return map[string]any{"Table": desc}, nil
}
