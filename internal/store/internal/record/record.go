// Package record validates and normalizes store records before a backend
// writes them, and encodes their maps, the same way for every backend.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// Time normalizes a time for storage: UTC, to the microsecond
// (PostgreSQL's precision, so that both backends agree). Callers' records
// are normalized in place so that what they hold equals what a later read
// returns.
func Time(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

var runStates = map[store.RunState]bool{
	store.RunPending: true, store.RunRunning: true, store.RunWaiting: true, store.RunPaused: true, store.RunSucceeded: true,
	store.RunFailed: true, store.RunAborted: true, store.RunRejected: true, store.RunExpired: true,
}

var stepStatuses = map[store.StepStatus]bool{
	store.StepPending: true, store.StepChecking: true, store.StepApplying: true, store.StepWaiting: true,
	store.StepDone: true, store.StepFailed: true, store.StepSkipped: true, store.StepReplaced: true,
}

// Run checks a run and normalizes its times.
func Run(r *store.Run) error {
	var errs []error
	if r.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if r.Runbook == "" {
		errs = append(errs, errors.New("runbook is empty"))
	}
	if !runStates[r.State] {
		errs = append(errs, fmt.Errorf("unknown state %q", r.State))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.CreatedAt, r.StartedAt, r.EndedAt = Time(r.CreatedAt), Time(r.StartedAt), Time(r.EndedAt)
	r.LeaseUntil = Time(r.LeaseUntil)
	return nil
}

// Step checks a step state and normalizes its times.
func Step(s *store.StepState) error {
	var errs []error
	if s.RunID == "" {
		errs = append(errs, errors.New("run id is empty"))
	}
	if s.StepID == "" {
		errs = append(errs, errors.New("step id is empty"))
	}
	if !stepStatuses[s.Status] {
		errs = append(errs, fmt.Errorf("unknown status %q", s.Status))
	}
	if s.Attempts < 0 {
		errs = append(errs, fmt.Errorf("attempts %d is negative", s.Attempts))
	}
	s.StartedAt, s.EndedAt = Time(s.StartedAt), Time(s.EndedAt)
	return errors.Join(errs...)
}

// Approval checks a decision and normalizes its time.
func Approval(a *store.Approval) error {
	var errs []error
	if a.RunID == "" {
		errs = append(errs, errors.New("run id is empty"))
	}
	if a.User == "" {
		errs = append(errs, errors.New("user is empty"))
	}
	if a.Decision != store.Approve && a.Decision != store.Reject {
		errs = append(errs, fmt.Errorf("unknown decision %q", a.Decision))
	}
	if a.Via != "" && a.Via != "reaction" && a.Via != "button" {
		errs = append(errs, fmt.Errorf("unknown via %q", a.Via))
	}
	a.At = Time(a.At)
	return errors.Join(errs...)
}

// Event checks an audit event and normalizes its time.
func Event(e *store.AuditEvent) error {
	if e.Type == "" {
		return errors.New("type is empty")
	}
	e.At = Time(e.At)
	return nil
}

// EncodeMap is a map's column value: a JSON object, or nil (NULL) for an
// empty map.
func EncodeMap(m map[string]string) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// DecodeMap reads a column written by EncodeMap; NULL (nil) is a nil map.
func DecodeMap(b []byte) (map[string]string, error) {
	if b == nil {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
