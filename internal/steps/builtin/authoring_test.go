package builtin_test

import (
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

// The real kinds' configs as a runbook author meets their errors: the
// loader words type errors from each field's Go type and unit tag, and a
// field a kind would ignore where it is written is refused.
func TestRealKindsWordTheirErrorsForTheAuthor(t *testing.T) {
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	const head = "name: t\nregions: {dr: {cloudRegion: us-west-2}}\nconnections:\n  aws: {type: aws, region: dr}\n  db: {type: postgres, dsn: 'postgres://h/db'}\nphases:\n- id: p\n  steps:\n"
	tests := []struct {
		name, step, want string
	}{
		{"a metric threshold written as a duration",
			"  - {id: lag, kind: aws.cloudwatch.metricBelow, connection: aws, with: {namespace: AWS/RDS, metricName: ReplicaLag, threshold: 30s}}\n",
			`t.yaml:9: phases[0].steps[0].with.threshold: must be a number (in the metric's unit, e.g. milliseconds for ReplicationLatency), got "30s"`},
		{"a promotion wait written as a duration",
			"  - {id: promote, kind: postgres.promote, connection: db, with: {waitSeconds: 1m}}\n",
			`t.yaml:9: phases[0].steps[0].with.waitSeconds: must be a whole number (seconds), got "1m"`},
		{"a promotion wait bound that pg_promote would ignore",
			"  - {id: promote, kind: postgres.promote, connection: db, with: {wait: false, waitSeconds: 30}}\n",
			`t.yaml:9: phases[0].steps[0].with.waitSeconds: only applies with wait: true`},
		{"a hold on the last stage of a traffic shift",
			"  - id: shift\n    kind: aws.route53.shiftWeights\n    connection: aws\n    with:\n      zoneName: example.com\n      name: api.example.com\n      type: CNAME\n      ttl: 60\n" +
				"      records: [{setIdentifier: primary, values: [a.example.net]}, {setIdentifier: dr, values: [b.example.net]}]\n" +
				"      stages:\n        - {weights: {primary: 10, dr: 90}, hold: 10m}\n        - {weights: {primary: 100, dr: 0}, hold: 10m}\n" +
				"      healthGate: {alarmNames: [api-5xx]}\n",
			`t.yaml:20: phases[0].steps[0].with.stages[1].hold: the last stage has no hold: no stage follows it (the step is done when its weights are live)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runbook.Parse("t.yaml", []byte(head+tt.step), reg)
			if err == nil || strings.TrimSpace(err.Error()) != tt.want {
				t.Errorf("err:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}
