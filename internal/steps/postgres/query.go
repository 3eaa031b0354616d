package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Query is a postgres.query step.
type Query struct {
	cfg QueryConfig
	srv *server
}

var _ steps.Probe = (*Query)(nil)

func newQuery(_ context.Context, c *QueryConfig, env steps.Env) (steps.Probe, error) {
	for i, e := range c.Expect {
		for _, v := range []string{e.AtLeast, e.AtMost} {
			if v != "" {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					return nil, steps.Permanentf("postgres.query: expect[%d]: %q is not a number", i, v)
				}
			}
		}
	}
	s, err := fromEnv("postgres.query", env, steps.ParseDuration(c.QueryTimeout))
	if err != nil {
		return nil, err
	}
	return &Query{cfg: *c, srv: s}, nil
}

// Check runs the SQL in a transaction (rolled back unless commit) and
// asserts on the rows of the last statement that returned rows.
func (q *Query) Check(ctx context.Context) (steps.Result, error) {
	var cols []string
	var rows [][]*string
	err := q.srv.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := q.srv.call(ctx)
		defer cancel()
		ms := q.srv.timeout.Milliseconds()
		if _, err := c.Exec(cctx, "BEGIN"); err != nil {
			return err
		}
		if _, err := c.Exec(cctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", ms)); err != nil {
			return err
		}
		results, err := c.PgConn().Exec(cctx, q.cfg.SQL).ReadAll()
		if err == nil {
			for _, r := range results {
				if r.Err != nil {
					err = r.Err
					break
				}
				if len(r.FieldDescriptions) > 0 {
					cols, rows = columns(r.FieldDescriptions), texts(r.Rows)
				}
			}
		}
		end := "ROLLBACK"
		if q.cfg.Commit && err == nil {
			end = "COMMIT"
		}
		if _, eerr := c.Exec(cctx, end); eerr != nil && err == nil {
			err = fmt.Errorf("%s: %w", end, eerr)
		}
		return err
	})
	if q.cfg.ExpectDown {
		return q.down(err), nil
	}
	if err != nil {
		return steps.Result{}, q.srv.wrap(err, "query %s", q.srv.name)
	}
	out := map[string]string{"rows": strconv.Itoa(len(rows)), "value": ""}
	if len(rows) > 0 && len(rows[0]) > 0 && rows[0][0] != nil {
		out["value"] = *rows[0][0]
	}
	if failed := q.assert(cols, rows); len(failed) > 0 {
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s: %d rows; %s", q.srv.name, len(rows), strings.Join(failed, "; "))}, nil
	}
	return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("%s: %d rows, all assertions hold", q.srv.name, len(rows))}, nil
}

// down reports the result of an expectDown check: a server that answered,
// even with an error, is up.
func (q *Query) down(err error) steps.Result {
	out := map[string]string{"rows": "", "value": ""}
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s (%s) answers (expected down)", q.srv.name, q.srv.addr())}
	case errors.As(err, &pe):
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s (%s) answers with an error (%s; expected down)", q.srv.name, q.srv.addr(), pe.Code)}
	}
	reason := q.srv.wrap(err, "query %s", q.srv.name).Error()
	return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("%s (%s) is down: %s", q.srv.name, q.srv.addr(), reason)}
}

func (q *Query) assert(cols []string, rows [][]*string) []string {
	var failed []string
	if q.cfg.ExpectRows != nil && len(rows) != *q.cfg.ExpectRows {
		failed = append(failed, fmt.Sprintf("want %d rows", *q.cfg.ExpectRows))
	}
	if q.cfg.MinRows != nil && len(rows) < *q.cfg.MinRows {
		failed = append(failed, fmt.Sprintf("want at least %d rows", *q.cfg.MinRows))
	}
	for _, e := range q.cfg.Expect {
		where := fmt.Sprintf("row %d column %s", e.Row, e.Column)
		ci := indexOf(cols, e.Column)
		if ci < 0 {
			failed = append(failed, fmt.Sprintf("no column %s (have %s)", e.Column, strings.Join(cols, ", ")))
			continue
		}
		if e.Row >= len(rows) {
			failed = append(failed, fmt.Sprintf("%s: no such row", where))
			continue
		}
		v := rows[e.Row][ci]
		if v == nil {
			if e.NotNull || e.Equals != nil || e.AtLeast != "" || e.AtMost != "" {
				failed = append(failed, where+" is NULL")
			}
			continue
		}
		if e.Equals != nil && *v != *e.Equals {
			failed = append(failed, fmt.Sprintf("%s = %q, want %q", where, *v, *e.Equals))
		}
		if e.AtLeast == "" && e.AtMost == "" {
			continue
		}
		n, err := strconv.ParseFloat(*v, 64)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s = %q, not a number", where, *v))
			continue
		}
		if e.AtLeast != "" {
			if min, _ := strconv.ParseFloat(e.AtLeast, 64); n < min {
				failed = append(failed, fmt.Sprintf("%s = %s, want at least %s", where, *v, e.AtLeast))
			}
		}
		if e.AtMost != "" {
			if max, _ := strconv.ParseFloat(e.AtMost, 64); n > max {
				failed = append(failed, fmt.Sprintf("%s = %s, want at most %s", where, *v, e.AtMost))
			}
		}
	}
	return failed
}

func columns(fds []pgconn.FieldDescription) []string {
	out := make([]string, len(fds))
	for i, f := range fds {
		out[i] = f.Name
	}
	return out
}

func texts(rows [][][]byte) [][]*string {
	out := make([][]*string, len(rows))
	for i, r := range rows {
		out[i] = make([]*string, len(r))
		for j, v := range r {
			if v != nil {
				s := string(v)
				out[i][j] = &s
			}
		}
	}
	return out
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
