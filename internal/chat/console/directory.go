package console

import (
	"context"
	"fmt"
	"slices"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// StaticDirectory is a commands.Directory from configuration: groups of
// user names (e.g. oncall = oncall-1, oncall-2, oncall-3). In the console
// a user's ID is their name.
type StaticDirectory struct {
	// Groups maps a group name to its members.
	Groups map[string][]string
	// Bots are the names that are bots (they never count as approvers).
	Bots []string
}

// Members returns the members of group; an unknown group is an error.
func (d *StaticDirectory) Members(_ context.Context, group string) ([]string, error) {
	m, ok := d.Groups[group]
	if !ok {
		return nil, fmt.Errorf("unknown group %q", group)
	}
	return m, nil
}

// User returns the user named id.
func (d *StaticDirectory) User(_ context.Context, id string) (chat.User, error) {
	return chat.User{ID: id, Name: id, IsBot: slices.Contains(d.Bots, id)}, nil
}
