package runbook

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/steps"
)

const overlaidRunbook = `name: drill
approval: {required: 0}
regions:
  primary: {cloudRegion: us-east-1}
connections:
  primary_cluster: {type: kubernetes, region: primary, context: primary-cluster}
  dr_cluster: {type: kubernetes, context: dr-cluster}
  dr_db: {type: postgres, dsn: "${secret:PROD_DSN}"}
phases:
  - id: p
    steps:
      - {id: scale, kind: test.scale, connection: primary_cluster, with: {name: api, replicas: 1}}
`

func overlayIssues(t *testing.T, src string) []string {
	t.Helper()
	_, err := ParseOverlay("lab.yaml", []byte(src), testRegistry(t))
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestOverlayIsStrictlyDecoded(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  string
		want []string
	}{
		{"a good one", "name: lab\nconnections:\n  dr_cluster: {context: lab-dr}\n  dr_db: {type: postgres, dsn: '${secret:LAB_DSN}'}\n", nil},
		{"empty", "", []string{"lab.yaml:1: empty connections overlay (want connections: {name: {field: value}})"}},
		{"no connections", "name: lab\n", []string{"lab.yaml:1: connections: missing: the overlay sets no connection (want connections: {name: {field: value}})"}},
		{"unknown top-level key and bad YAML value", "conections: {}\n", []string{
			`lab.yaml:1: conections: unknown field "conections" (did you mean connections?)`}},
		{"every entry wrong", `connections:
  Bad Name: {context: x}
  a: {region: dr, context: x}
  b: {}
  c: {type: kafka, brokers: x}
  d: {type: kubernetes, contxt: x}
  e: {contxt: x}
  f: {context: [x]}
`, []string{
			`lab.yaml:2: connections.Bad Name: bad connection name "Bad Name": use lower-case letters, digits, _ and -`,
			"lab.yaml:3: connections.a.region: an overlay cannot move a connection to another region; set the fields that reach the other environment",
			"lab.yaml:4: connections.b: sets no field",
			`lab.yaml:5: connections.c.type: unknown connection type "kafka" (known: aws, kubernetes, postgres)`,
			`lab.yaml:6: connections.d.contxt: unknown field "contxt" for connection type kubernetes (did you mean context?)`,
			`lab.yaml:7: connections.e.contxt: unknown field "contxt": no connection type takes it (did you mean context?)`,
			"lab.yaml:8: connections.f.context: must be a string, got a list",
		}},
		{"YAML syntax", "connections:\n  a: {context: x\n", []string{"lab.yaml:2: YAML syntax: did not find expected ',' or '}'"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := overlayIssues(t, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("issues:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestOverlayAppliesToConnectionsAndThePlanHash(t *testing.T) {
	reg := testRegistry(t)
	plain, err := Parse("drill.yaml", []byte(overlaidRunbook), reg)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := ParseOverlay("overlays/lab.yaml", []byte(`name: lab
connections:
  primary_cluster: {context: lab-primary, kubeconfig: /tmp/lab/kubeconfig}
  dr_db: {dsn: "${secret:LAB_DR_DSN}"}
  other_aws: {profile: lab}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Parse("drill.yaml", []byte(overlaidRunbook), reg, WithOverlay(lab))
	if err != nil {
		t.Fatal(err)
	}
	if c := rb.Connections["primary_cluster"]; c.Fields["context"] != "lab-primary" || c.Fields["kubeconfig"] != "/tmp/lab/kubeconfig" || c.Type != "kubernetes" || c.Region != "primary" {
		t.Errorf("primary_cluster: %+v", c)
	}
	if c := rb.Connections["dr_cluster"]; c.Fields["context"] != "dr-cluster" {
		t.Errorf("dr_cluster (not in the overlay): %+v", c)
	}
	if got, want := rb.OverlayDescription(), "lab (overlays/lab.yaml): dr_db.dsn=${secret:LAB_DR_DSN}, primary_cluster.context=lab-primary, primary_cluster.kubeconfig=/tmp/lab/kubeconfig"; got != want {
		t.Errorf("description %q\nwant %q", got, want)
	}
	if plain.OverlayDescription() != "" {
		t.Errorf("no overlay: %q", plain.OverlayDescription())
	}
	// Steps are built on the overlaid connection.
	inst, err := rb.Step("scale").Build(context.Background(), Vars{})
	if err != nil {
		t.Fatal(err)
	}
	if conn := steps.Unwrap(inst).(*fakeStep).conn; conn.Fields["context"] != "lab-primary" {
		t.Errorf("the step's connection: %+v", conn)
	}

	// The hash: a drill's plan is never production's, nor another
	// overlay's; the same overlay gives the same hash.
	again, _ := Parse("drill.yaml", []byte(overlaidRunbook), reg, WithOverlay(lab))
	stage, _ := ParseOverlay("overlays/stage.yaml", []byte("connections:\n  primary_cluster: {context: lab-primary, kubeconfig: /tmp/lab/kubeconfig}\n  dr_db: {dsn: \"${secret:LAB_DR_DSN}\"}\n"), reg)
	other, err := Parse("drill.yaml", []byte(overlaidRunbook), reg, WithOverlay(stage))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Hash == plain.Hash || rb.Hash != again.Hash || other.Hash == rb.Hash {
		t.Errorf("hashes: plain %s, lab %s, lab again %s, stage %s", plain.Hash[:8], rb.Hash[:8], again.Hash[:8], other.Hash[:8])
	}
	// An overlay whose entries a runbook does not have leaves it as it is.
	none, _ := ParseOverlay("x.yaml", []byte("connections:\n  other_aws: {profile: lab}\n"), reg)
	same, err := Parse("drill.yaml", []byte(overlaidRunbook), reg, WithOverlay(none))
	if err != nil || same.Hash != plain.Hash || same.OverlayDescription() != "" {
		t.Errorf("an overlay for other runbooks: %v, hash %s vs %s", err, same.Hash[:8], plain.Hash[:8])
	}
}

func TestOverlayErrorsAreTheOverlays(t *testing.T) {
	reg := testRegistry(t)
	o, err := ParseOverlay("lab.yaml", []byte(`connections:
  primary_cluster: {dsn: x}
  dr_db: {type: kubernetes, context: x}
  dr_cluster: {context: "{{ .params.nope }}"}
`), reg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("drill.yaml", []byte(overlaidRunbook), reg, WithOverlay(o))
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`lab.yaml:2: connections.primary_cluster.dsn: unknown field "dsn" for connection type kubernetes (of primary_cluster in drill) (allowed: type, region, kubeconfig, context)`,
		"lab.yaml:3: connections.dr_db.type: the overlay is for a connection of type kubernetes, and drill's dr_db is of type postgres",
	}
	if len(got) != 3 || !slices.Equal(got[:2], want) || !strings.HasPrefix(got[2], "lab.yaml:4: connections.dr_cluster.context: ") {
		t.Errorf("issues:\n got  %q\n want %q and lab.yaml:4: connections.dr_cluster.context: …", got, want)
	}
}

func TestOverlayCheckFindsEntriesNoRunbookHas(t *testing.T) {
	reg := testRegistry(t)
	rb, err := Parse("drill.yaml", []byte(overlaidRunbook), reg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOverlay("lab.yaml", []byte("connections:\n  dr_cluster: {context: lab-dr}\n  primary_clster: {context: lab-primary}\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	err = o.Check([]*Runbook{rb})
	want := `lab.yaml:3: connections.primary_clster: unknown connection "primary_clster": no runbook has it (did you mean primary_cluster?)`
	if err == nil || err.Error() != want {
		t.Errorf("Check = %v\nwant %s", err, want)
	}
	if err := (*Overlay)(nil).Check([]*Runbook{rb}); err != nil {
		t.Errorf("no overlay: %v", err)
	}
}

// A runbook or an overlay over MaxFileSize is refused unread, saying
// which it is; one at the limit is read (and judged on its content).
func TestFilesOverTheLimitAreNotRead(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("#"+strings.Repeat("x", MaxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(big, testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes (1 MiB), the limit of a runbook") {
		t.Errorf("runbook: %v", err)
	}
	_, err = LoadOverlay(big, testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), "the limit of a connections overlay") {
		t.Errorf("overlay: %v", err)
	}
	atLimit := filepath.Join(dir, "limit.yaml")
	if err := os.WriteFile(atLimit, []byte("#"+strings.Repeat("x", MaxFileSize-1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOverlay(atLimit, testRegistry(t)); err == nil || strings.Contains(err.Error(), "larger than") {
		t.Errorf("an overlay at the limit: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml"), testRegistry(t)); err == nil || !strings.HasPrefix(err.Error(), "load runbook: open ") {
		t.Errorf("missing runbook: %v", err)
	}
}
