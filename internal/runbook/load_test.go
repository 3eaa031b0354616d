package runbook

import "testing"

func TestLoadValidRunbook(t *testing.T) {
	if _, err := Load("testdata/valid.yaml", testRegistry(t)); err != nil {
		t.Fatal(err)
	}
}
