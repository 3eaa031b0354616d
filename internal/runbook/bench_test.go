package runbook

import (
	"os"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		b.Fatal(err)
	}
	reg := testRegistry(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("valid.yaml", data, reg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlanHash(b *testing.B) {
	rb, err := Load("testdata/valid.yaml", testRegistry(b))
	if err != nil {
		b.Fatal(err)
	}
	params := map[string]string{"ticket": "INC-1"}
	for b.Loop() {
		rb.PlanHash(params)
	}
}
