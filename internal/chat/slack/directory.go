package slack

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Directory answers who is who: users.info (cached) and
// usergroups.users.list (cached briefly).
type Directory struct {
	api    *slack.Client
	log    *slog.Logger
	call   func(ctx context.Context, op string, fn func(context.Context) error) error
	users  *ttlCache[chat.User]
	groups *ttlCache[[]string]
}

func newDirectory(api *slack.Client, cfg Config, log *slog.Logger,
	call func(context.Context, string, func(context.Context) error) error) *Directory {
	return &Directory{api: api, log: log, call: call,
		users:  newTTLCache[chat.User](cfg.UserCacheTTL, 5000, time.Now),
		groups: newTTLCache[[]string](time.Minute, 500, time.Now)}
}

// User returns the workspace member id (name and whether it is a bot).
func (d *Directory) User(ctx context.Context, id string) (chat.User, error) {
	if u, ok := d.users.Get(id); ok {
		return u, nil
	}
	var su *slack.User
	err := d.call(ctx, "users.info "+id, func(ctx context.Context) error {
		var err error
		su, err = d.api.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		return chat.User{ID: id}, fmt.Errorf("look up user %s: %w", id, err)
	}
	u := chat.User{ID: su.ID, Name: su.Name, IsBot: su.IsBot || su.ID == "USLACKBOT"}
	if u.Name == "" {
		u.Name = su.RealName
	}
	d.users.Put(id, u)
	return u, nil
}

// Members returns the user IDs in the user group, named by its ID ("S…")
// or its handle ("oncall" or "@oncall", resolved with usergroups.list).
func (d *Directory) Members(ctx context.Context, group string) ([]string, error) {
	if m, ok := d.groups.Get(group); ok {
		return append([]string(nil), m...), nil
	}
	id, err := d.groupID(ctx, group)
	if err != nil {
		return nil, err
	}
	var ids []string
	err = d.call(ctx, "usergroups.users.list "+group, func(ctx context.Context) error {
		var err error
		ids, err = d.api.GetUserGroupMembersContext(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list members of user group %s: %w", group, err)
	}
	d.groups.Put(group, ids)
	return append([]string(nil), ids...), nil
}

// lookup fills a user for an event; when users.info fails it keeps the ID
// (and the name the event carried) and logs the failure.
func (d *Directory) lookup(ctx context.Context, id, name string) chat.User {
	u, err := d.User(ctx, id)
	if err != nil {
		d.log.Warn("slack user lookup failed; using the ID", "user", id, "err", err)
		u = chat.User{ID: id, Name: name}
		if u.Name == "" {
			u.Name = id
		}
	}
	return u
}

// groupID resolves a user group handle to its ID; IDs pass through.
func (d *Directory) groupID(ctx context.Context, group string) (string, error) {
	handle := strings.TrimPrefix(group, "@")
	if len(group) > 1 && group[0] == 'S' && strings.ToUpper(group) == group {
		return group, nil
	}
	var gs []slack.UserGroup
	err := d.call(ctx, "usergroups.list", func(ctx context.Context) error {
		var err error
		gs, err = d.api.GetUserGroupsContext(ctx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("resolve user group %s: %w", group, err)
	}
	for _, g := range gs {
		if g.Handle == handle {
			return g.ID, nil
		}
	}
	return "", fmt.Errorf("resolve user group %s: no user group with that handle", group)
}
