package awstest

import (
	"time"
)

// Delays are how long resources stay in their intermediate states, before
// Options.TimeScale applies. A zero field takes its default.
type Delays struct {
	// PromoteModifying: a promoted read replica is modifying this long
	// (default 1m), then rebooting for PromoteRebooting (default 30s),
	// then available and no longer a replica.
	PromoteModifying time.Duration
	PromoteRebooting time.Duration
	// ReplicaCreating: a new read replica is creating this long (default
	// 5m), then available.
	ReplicaCreating time.Duration
	// ChangeInsync: a Route 53 change is PENDING this long (default 30s),
	// then INSYNC.
	ChangeInsync time.Duration
	// NodegroupUpdating: an EKS node group is UPDATING this long after
	// UpdateNodegroupConfig (default 90s), then ACTIVE; the update is
	// InProgress, then Successful.
	NodegroupUpdating time.Duration
	// RDSDelete: a deleted RDS instance is deleting this long (default
	// 5m), then gone.
	RDSDelete time.Duration
}

func (d Delays) withDefaults() Delays {
	def := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&d.PromoteModifying, time.Minute)
	def(&d.PromoteRebooting, 30*time.Second)
	def(&d.ReplicaCreating, 5*time.Minute)
	def(&d.ChangeInsync, 30*time.Second)
	def(&d.NodegroupUpdating, 90*time.Second)
	def(&d.RDSDelete, 5*time.Minute)
	return d
}

// Scaled returns the delays as the server applies them (after TimeScale).
func (s *Server) Scaled() Delays {
	d := s.opts.Delays
	f := s.scale
	return Delays{
		PromoteModifying:  f(d.PromoteModifying),
		PromoteRebooting:  f(d.PromoteRebooting),
		ReplicaCreating:   f(d.ReplicaCreating),
		ChangeInsync:      f(d.ChangeInsync),
		NodegroupUpdating: f(d.NodegroupUpdating),
		RDSDelete:         f(d.RDSDelete),
	}
}

func (s *Server) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.opts.TimeScale)
}

// timeline is the schedule of a resource's states: each state holds from
// its time until the next one's. It is only ever appended to, so the past
// stays readable as history and reads need no background goroutine.
type timeline struct {
	steps []Transition
}

// set schedules state at t (t ≥ the last scheduled time).
func (tl *timeline) set(state string, t time.Time) {
	tl.steps = append(tl.steps, Transition{State: state, At: t})
}

// at returns the state in force at now and whether any is.
func (tl *timeline) at(now time.Time) (string, bool) {
	for i := len(tl.steps) - 1; i >= 0; i-- {
		if !tl.steps[i].At.After(now) {
			return tl.steps[i].State, true
		}
	}
	return "", false
}

// state returns the state in force at now ("" before the first).
func (tl *timeline) state(now time.Time) string {
	st, _ := tl.at(now)
	return st
}

// past returns the transitions that happened by now.
func (tl *timeline) past(now time.Time) []Transition {
	var out []Transition
	for _, st := range tl.steps {
		if !st.At.After(now) {
			out = append(out, st)
		}
	}
	return out
}
