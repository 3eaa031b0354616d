package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// Times are kept to the microsecond (PostgreSQL's precision, so that both
// backends agree), in UTC. Callers' records are normalized in place so that
// what they hold equals what a later read returns.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

var runStates = map[store.RunState]bool{
	store.RunPending: true, store.RunRunning: true, store.RunPaused: true, store.RunSucceeded: true,
	store.RunFailed: true, store.RunAborted: true, store.RunRejected: true, store.RunExpired: true,
}

var stepStatuses = map[store.StepStatus]bool{
	store.StepPending: true, store.StepChecking: true, store.StepApplying: true, store.StepWaiting: true,
	store.StepDone: true, store.StepFailed: true, store.StepSkipped: true, store.StepReplaced: true,
}

func checkRun(r *store.Run) error {
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
	r.CreatedAt, r.StartedAt, r.EndedAt = norm(r.CreatedAt), norm(r.StartedAt), norm(r.EndedAt)
	r.LeaseUntil = norm(r.LeaseUntil)
	return nil
}

func checkStep(s *store.StepState) error {
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
	s.StartedAt, s.EndedAt = norm(s.StartedAt), norm(s.EndedAt)
	return errors.Join(errs...)
}

func checkApproval(a *store.Approval) error {
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
	a.At = norm(a.At)
	return errors.Join(errs...)
}

func checkEvent(e *store.AuditEvent) error {
	if e.Type == "" {
		return errors.New("type is empty")
	}
	e.At = norm(e.At)
	return nil
}
