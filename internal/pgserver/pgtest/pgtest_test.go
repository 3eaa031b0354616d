package pgtest

import "testing"

func TestDatabaseNamesAreValidAndUnique(t *testing.T) {
	for _, tt := range []struct {
		test string
		n    int64
		want string
	}{
		{"TestConformance/runs/CAS", 1, "t_testconformance_runs_cas_1"},
		{"TestX", 12, "t_testx_12"},
		{"TestAVeryLongNameThatGoesOnAndOnBeyondFortyCharacters/sub", 3, "t_testaverylongnamethatgoesonandonbeyondfo_3"},
	} {
		if got := databaseName(tt.test, tt.n); got != tt.want {
			t.Errorf("databaseName(%q, %d) = %q, want %q", tt.test, tt.n, got, tt.want)
		}
	}
}
