package awstest

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var rdsService = &service{
	name:  "rds",
	proto: protoQuery,
	xmlns: "http://rds.amazonaws.com/doc/2014-10-31/",
	ops: map[string]opFunc{
		"DescribeDBInstances":         (*Server).rdsDescribe,
		"PromoteReadReplica":          (*Server).rdsPromote,
		"CreateDBInstanceReadReplica": (*Server).rdsCreateReplica,
		"DeleteDBInstance":            (*Server).rdsDelete,
	},
	resource: func(s *Server, c *call) string {
		id := c.form.Get("DBInstanceIdentifier")
		if id == "" {
			return fmt.Sprintf("arn:aws:rds:%s:%s:db:*", c.region, s.opts.AccountID)
		}
		return s.rdsARN(c.region, id)
	},
}

// dbInstance is an RDS DB instance.
type dbInstance struct {
	id, region     string
	class, engine  string
	engineVersion  string
	status         timeline
	address        string
	port           int
	storage        int
	created        time.Time
	backupDays     int
	multiAZ        bool
	encrypted      bool
	kmsKeyID       string
	az             string
	resourceID     string
	source         string    // ReadReplicaSourceDBInstanceIdentifier (an ARN when cross-region)
	sourceUntil    time.Time // the replica link ends here (promotion); zero: no end
	backupDaysThen int       // BackupRetentionPeriod from sourceUntil on
	goneAt         time.Time // deleted (DeleteDBInstance): gone from here on; zero: not
}

// DBInstanceSpec seeds an RDS instance with SeedDBInstance.
type DBInstanceSpec struct {
	Region, ID string
	// Class (default db.r6g.large), Engine (default postgres),
	// EngineVersion (default 16.4), Port (default 5432).
	Class, Engine, EngineVersion string
	Port                         int
	// Status (default available).
	Status string
	// ReplicaOf makes it a read replica: the source's identifier (same
	// region) or ARN (another region).
	ReplicaOf string
	// BackupRetentionPeriod in days (default 7; read replicas 0).
	BackupRetentionPeriod *int
	MultiAZ               bool
	// KMSKeyID encrypts it (storage encrypted).
	KMSKeyID string
}

func (s *Server) rdsARN(region, id string) string {
	return fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", region, s.opts.AccountID, id)
}

// SeedDBInstance adds an RDS instance.
func (s *Server) SeedDBInstance(spec DBInstanceSpec) error {
	if !validDBIdentifier(spec.ID) {
		return fmt.Errorf("awstest: %q is not a DB instance identifier", spec.ID)
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&spec.Class, "db.r6g.large")
	def(&spec.Engine, "postgres")
	def(&spec.EngineVersion, "16.4")
	def(&spec.Status, "available")
	if spec.Port == 0 {
		spec.Port = 5432
	}
	days := 7
	if spec.ReplicaOf != "" {
		days = 0
	}
	if spec.BackupRetentionPeriod != nil {
		days = *spec.BackupRetentionPeriod
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(spec.Region)
	if r.dbs[spec.ID] != nil {
		return fmt.Errorf("awstest: DB instance %s already exists in %s", spec.ID, spec.Region)
	}
	if spec.ReplicaOf != "" && s.lookupDB(spec.Region, spec.ReplicaOf) == nil {
		return fmt.Errorf("awstest: the source %s of %s is not seeded", spec.ReplicaOf, spec.ID)
	}
	now := s.now()
	db := s.newDB(spec.Region, spec.ID, spec.Class, spec.Engine, spec.EngineVersion, spec.Port, now)
	db.source, db.backupDays, db.multiAZ = spec.ReplicaOf, days, spec.MultiAZ
	db.encrypted, db.kmsKeyID = spec.KMSKeyID != "", spec.KMSKeyID
	db.status.set(spec.Status, now)
	r.dbs[spec.ID] = db
	return nil
}

func (s *Server) newDB(region, id, class, engine, version string, port int, now time.Time) *dbInstance {
	db := &dbInstance{
		id: id, region: region, class: class, engine: engine, engineVersion: version, port: port,
		address:    fmt.Sprintf("%s.c%s.%s.rds.amazonaws.com", id, strings.ToLower(s.opts.AccountID[:11]), region),
		storage:    100,
		created:    now,
		az:         region + "a",
		resourceID: "db-" + randomUpper(26),
	}
	s.obs.track(DBInstance(region, id), &db.status)
	return db
}

// SetDBInstanceStatus changes an instance's status now (e.g. to failed,
// stopped or storage-full, to stand for a broken primary).
func (s *Server) SetDBInstanceStatus(region, id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	db := s.region(region).dbs[id]
	if db == nil {
		return fmt.Errorf("awstest: no DB instance %s in %s", id, region)
	}
	db.status.set(status, s.now())
	return nil
}

var dbIdentifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,62}$`)

func validDBIdentifier(id string) bool {
	return dbIdentifier.MatchString(id) && !strings.Contains(id, "--") && !strings.HasSuffix(id, "-")
}

func notFoundDB(id string) *apiError {
	return errorf(404, "DBInstanceNotFound", "DBInstance %s not found.", id)
}

// lookupDB finds an instance by identifier in region, or by ARN anywhere
// in the account. Callers hold s.mu.
func (s *Server) lookupDB(region, idOrARN string) *dbInstance {
	if strings.HasPrefix(idOrARN, "arn:") {
		svc, r, acct, res, ok := parseARN(idOrARN)
		if !ok || svc != "rds" || acct != s.opts.AccountID || !strings.HasPrefix(res, "db:") {
			return nil
		}
		region, idOrARN = r, strings.TrimPrefix(res, "db:")
	}
	return s.region(region).dbs[idOrARN]
}

func (s *Server) rdsDescribe(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := describeDBResult{}
	if id := c.form.Get("DBInstanceIdentifier"); id != "" {
		db := s.lookupDB(c.region, id)
		if db == nil {
			return nil, notFoundDB(id)
		}
		out.DBInstances = []xmlDBInstance{s.dbXML(db, now)}
		return out, nil
	}
	dbs := s.region(c.region).dbs
	ids := sortedKeys(dbs)
	max := 100
	if v := c.form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 || n > 100 {
			return nil, errorf(400, "InvalidParameterValue", "Invalid value %s for MaxRecords. Must be between 20 and 100", v)
		}
		max = n
	}
	start := 0
	if m := c.form.Get("Marker"); m != "" {
		for start < len(ids) && ids[start] <= m {
			start++
		}
	}
	for i := start; i < len(ids) && i < start+max; i++ {
		out.DBInstances = append(out.DBInstances, s.dbXML(dbs[ids[i]], now))
	}
	if start+max < len(ids) {
		out.Marker = ids[start+max-1]
	}
	return out, nil
}

func (s *Server) rdsPromote(c *call) (any, *apiError) {
	id := c.form.Get("DBInstanceIdentifier")
	if id == "" {
		return nil, errorf(400, "MissingParameter", "The request must contain the parameter DBInstanceIdentifier")
	}
	days := -1
	if v := c.form.Get("BackupRetentionPeriod"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 35 {
			return nil, errorf(400, "InvalidParameterValue", "Invalid backup retention period: %s. Valid values are 0 to 35.", v)
		}
		days = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	db := s.lookupDB(c.region, id)
	if db == nil {
		return nil, notFoundDB(id)
	}
	if !db.isReplica(now) {
		return nil, errorf(400, "InvalidDBInstanceState", "DB Instance is not a read replica.")
	}
	if st := db.status.state(now); st != "available" {
		return nil, errorf(400, "InvalidDBInstanceState", "DB instance %s is not in available state (it is %s).", db.id, st)
	}
	d := s.Scaled()
	db.status.set("modifying", now)
	db.status.set("rebooting", now.Add(d.PromoteModifying))
	db.sourceUntil = now.Add(d.PromoteModifying + d.PromoteRebooting)
	db.status.set("available", db.sourceUntil)
	db.backupDaysThen = db.backupDays
	if days >= 0 {
		db.backupDaysThen = days
	} else if db.backupDays == 0 {
		db.backupDaysThen = 1 // RDS turns backups on for a promoted replica
	}
	return promoteResult{DBInstance: s.dbXML(db, now)}, nil
}

// isReplica reports whether db still replicates from a source at now.
func (db *dbInstance) isReplica(now time.Time) bool {
	return db.source != "" && (db.sourceUntil.IsZero() || now.Before(db.sourceUntil))
}

func (s *Server) rdsCreateReplica(c *call) (any, *apiError) {
	id, src := c.form.Get("DBInstanceIdentifier"), c.form.Get("SourceDBInstanceIdentifier")
	for name, v := range map[string]string{"DBInstanceIdentifier": id, "SourceDBInstanceIdentifier": src} {
		if v == "" {
			return nil, errorf(400, "MissingParameter", "The request must contain the parameter %s", name)
		}
	}
	if !validDBIdentifier(id) {
		return nil, errorf(400, "InvalidParameterValue", "The parameter DBInstanceIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.")
	}
	kms := c.form.Get("KmsKeyId")
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.region(c.region)
	if r.dbs[id] != nil {
		return nil, errorf(400, "DBInstanceAlreadyExists", "DB instance already exists")
	}
	source := s.lookupDB(c.region, src)
	if source == nil {
		return nil, notFoundDB(src)
	}
	if st := source.status.state(now); st != "available" {
		return nil, errorf(400, "InvalidDBInstanceState", "DB instance %s is not in available state (it is %s).", source.id, st)
	}
	cross := source.region != c.region
	if cross && !strings.HasPrefix(src, "arn:") {
		return nil, notFoundDB(src)
	}
	if kms != "" {
		if _, kr, _, _, ok := parseARN(kms); ok && kr != c.region {
			return nil, errorf(400, "KMSKeyNotAccessibleFault", "The specified KMS key [%s] does not exist, is not enabled or you do not have permissions to access it.", kms)
		}
	}
	if cross && source.encrypted && kms == "" {
		return nil, errorf(400, "InvalidParameterCombination", "A KmsKeyId in the destination region is required to create a cross-region read replica of an encrypted DB instance.")
	}
	class := c.form.Get("DBInstanceClass")
	if class == "" {
		class = source.class
	}
	port := source.port
	if v := c.form.Get("Port"); v != "" {
		port, _ = strconv.Atoi(v)
	}
	db := s.newDB(c.region, id, class, source.engine, source.engineVersion, port, now)
	db.source = source.id
	if cross {
		db.source = s.rdsARN(source.region, source.id)
	}
	db.multiAZ = c.form.Get("MultiAZ") == "true"
	db.encrypted = source.encrypted || kms != ""
	db.kmsKeyID = kms
	if kms == "" && !cross {
		db.kmsKeyID = source.kmsKeyID
	}
	db.status.set("creating", now)
	db.status.set("available", now.Add(s.Scaled().ReplicaCreating))
	r.dbs[id] = db
	return createReplicaResult{DBInstance: s.dbXML(db, now)}, nil
}

// replicasOf lists the identifiers (ARNs across regions) of the instances
// replicating from db at now. Callers hold s.mu.
func (s *Server) replicasOf(db *dbInstance, now time.Time) []string {
	var out []string
	for _, rn := range sortedKeys(s.regions) {
		r := s.regions[rn]
		for _, id := range sortedKeys(r.dbs) {
			o := r.dbs[id]
			if !o.isReplica(now) {
				continue
			}
			if o.region == db.region && o.source == db.id {
				out = append(out, o.id)
			} else if o.source == s.rdsARN(db.region, db.id) {
				out = append(out, s.rdsARN(o.region, o.id))
			}
		}
	}
	return out
}

func (s *Server) dbXML(db *dbInstance, now time.Time) xmlDBInstance {
	st := db.status.state(now)
	x := xmlDBInstance{
		DBInstanceIdentifier: db.id, DBInstanceClass: db.class, Engine: db.engine, EngineVersion: db.engineVersion,
		DBInstanceStatus: st, MasterUsername: "postgres", AllocatedStorage: db.storage,
		InstanceCreateTime: awsTime(db.created), BackupRetentionPeriod: db.backupDays,
		AvailabilityZone: db.az, MultiAZ: db.multiAZ, StorageEncrypted: db.encrypted, KmsKeyID: db.kmsKeyID,
		DbiResourceID: db.resourceID, DBInstanceArn: s.rdsARN(db.region, db.id), DbInstancePort: 0,
		ReadReplicaDBInstanceIdentifiers: s.replicasOf(db, now),
	}
	if st != "creating" {
		x.Endpoint = &xmlEndpoint{Address: db.address, Port: db.port, HostedZoneID: "Z2R2ITUGPM61AM"}
	}
	if db.isReplica(now) {
		x.ReadReplicaSourceDBInstanceIdentifier = db.source
		x.StatusInfos = []xmlStatusInfo{{StatusType: "read replication", Normal: true, Status: "replicating"}}
	} else if !db.sourceUntil.IsZero() {
		x.BackupRetentionPeriod = db.backupDaysThen
	}
	return x
}

type xmlEndpoint struct {
	Address      string
	Port         int
	HostedZoneID string `xml:"HostedZoneId"`
}

type xmlStatusInfo struct {
	StatusType string
	Normal     bool
	Status     string
}

type xmlDBInstance struct {
	DBInstanceIdentifier                  string
	DBInstanceClass                       string
	Engine                                string
	DBInstanceStatus                      string
	MasterUsername                        string
	Endpoint                              *xmlEndpoint
	AllocatedStorage                      int
	InstanceCreateTime                    string
	BackupRetentionPeriod                 int
	AvailabilityZone                      string
	MultiAZ                               bool
	EngineVersion                         string
	ReadReplicaSourceDBInstanceIdentifier string          `xml:",omitempty"`
	ReadReplicaDBInstanceIdentifiers      []string        `xml:"ReadReplicaDBInstanceIdentifiers>ReadReplicaDBInstanceIdentifier"`
	StatusInfos                           []xmlStatusInfo `xml:"StatusInfos>DBInstanceStatusInfo"`
	DbInstancePort                        int
	StorageEncrypted                      bool
	KmsKeyID                              string `xml:"KmsKeyId,omitempty"`
	DbiResourceID                         string `xml:"DbiResourceId"`
	DBInstanceArn                         string
}

type describeDBResult struct {
	XMLName     xml.Name        `xml:"DescribeDBInstancesResult"`
	DBInstances []xmlDBInstance `xml:"DBInstances>DBInstance"`
	Marker      string          `xml:",omitempty"`
}

type promoteResult struct {
	XMLName    xml.Name `xml:"PromoteReadReplicaResult"`
	DBInstance xmlDBInstance
}

type createReplicaResult struct {
	XMLName    xml.Name `xml:"CreateDBInstanceReadReplicaResult"`
	DBInstance xmlDBInstance
}
