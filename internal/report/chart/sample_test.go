package chart

import "time"

var t0 = time.Date(2026, 11, 25, 3, 12, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func span(a, b float64) Interval { return Interval{Start: at(a), End: at(b)} }

// sample is a failover with every kind of bar and marker.
func sample() Timeline {
	return Timeline{
		Title: "lab-failover · run r42 · succeeded",
		Start: t0, End: at(96),
		Markers: []Marker{
			{Kind: Approval, At: at(-40), Who: "oncall-2"},
			{Kind: Approval, At: at(-31), Who: "oncall-3"},
			{Kind: Gate, At: at(52), Who: "oncall-2", Label: "gate: traffic (oncall-2)"},
		},
		Steps: []Step{
			{Name: "Freeze writes", Phase: "prepare", Start: at(0), End: at(6), Outcome: Done, Attempts: 1, Wait: span(2, 6)},
			{Name: "Check replication lag", Phase: "prepare", Start: at(6), End: at(7.5), Outcome: AlreadyDone, Attempts: 0},
			{Name: "Promote DR database", Phase: "promote", Start: at(7.5), End: at(38), Outcome: Done, Attempts: 3,
				Retries: []Interval{span(10, 15), span(17, 24)}, Wait: span(27, 38)},
			{Name: "Move Redis master", Phase: "promote", Start: at(38), End: at(47), Outcome: Done, Attempts: 1, Wait: span(40, 47)},
			{Name: "Warm caches", Phase: "promote", Start: at(38), End: at(44), Outcome: Failed, Attempts: 2, Retries: []Interval{span(40, 42)}},
			{Name: "Scale old region to 0", Phase: "traffic", Start: at(47), End: at(47), Outcome: Skipped},
			{Name: "Flip Route 53", Phase: "traffic", Start: at(53), End: at(80), Outcome: Done, Attempts: 1, Wait: span(55, 80)},
			{Name: "Notify stakeholders", Phase: "traffic", Start: at(80), End: at(96), Outcome: Replaced, Attempts: 1},
		},
	}
}
