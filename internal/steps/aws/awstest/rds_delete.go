package awstest

import (
	"encoding/xml"
	"time"
)

// rdsDelete serves DeleteDBInstance: the instance is "deleting" for
// Delays.RDSDelete, then gone (DBInstanceNotFound), and its identifier
// free again. A final snapshot is not kept: the call must say
// SkipFinalSnapshot=true or name FinalDBSnapshotIdentifier, as RDS asks.
func (s *Server) rdsDelete(c *call) (any, *apiError) {
	id := c.form.Get("DBInstanceIdentifier")
	if id == "" {
		return nil, errorf(400, "MissingParameter", "The request must contain the parameter DBInstanceIdentifier")
	}
	if c.form.Get("SkipFinalSnapshot") != "true" && c.form.Get("FinalDBSnapshotIdentifier") == "" {
		return nil, errorf(400, "InvalidParameterCombination", "FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	db := s.lookupDB(c.region, id)
	if db == nil {
		return nil, notFoundDB(id)
	}
	if st := db.status.state(now); st == "deleting" {
		return nil, errorf(400, "InvalidDBInstanceState", "DB instance %s is already being deleted.", db.id)
	}
	db.status.set("deleting", now)
	db.goneAt = now.Add(s.Scaled().RDSDelete)
	return deleteDBResult{DBInstance: s.dbXML(db, now)}, nil
}

// pruneDeleted drops the instances whose deletion has ended by now.
func (r *regionState) pruneDeleted(now time.Time) {
	for id, db := range r.dbs {
		if !db.goneAt.IsZero() && !now.Before(db.goneAt) {
			delete(r.dbs, id)
		}
	}
}

type deleteDBResult struct {
	XMLName    xml.Name `xml:"DeleteDBInstanceResult"`
	DBInstance xmlDBInstance
}
