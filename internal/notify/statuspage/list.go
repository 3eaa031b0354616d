package statuspage

import (
	"context"
	"net/http"
	"net/url"
)

// UnresolvedIncidents lists a page's incidents not yet resolved, newest
// first (GET /pages/{page}/incidents/unresolved): how a notifier that may
// have opened an incident before the bot died finds it again.
func (c *Client) UnresolvedIncidents(ctx context.Context, pageID string) ([]Incident, error) {
	const op = "list unresolved incidents"
	if err := checkIDs(op, pageID); err != nil {
		return nil, err
	}
	var out []Incident
	if err := c.do(ctx, op, http.MethodGet, "/pages/"+url.PathEscape(pageID)+"/incidents/unresolved", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}
