package slack

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// The app manifest asks for exactly what the adapter uses: socket mode,
// /failover, the reaction events, interactivity, and one scope per family
// of Web API methods called.
func TestManifestMatchesWhatTheBotUses(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "slack", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				Command string `yaml:"command"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	scopes := slices.Sorted(slices.Values(m.OAuth.Scopes.Bot))
	// commands: /failover; chat:write: chat.postMessage/update/postEphemeral;
	// files:write: files.getUploadURLExternal and completeUploadExternal;
	// reactions:read: reaction events; users:read: users.info;
	// usergroups:read: usergroups.list and usergroups.users.list.
	want := []string{"chat:write", "commands", "files:write", "reactions:read", "usergroups:read", "users:read"}
	if !slices.Equal(scopes, want) {
		t.Errorf("bot scopes = %v, want exactly %v", scopes, want)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/failover" {
		t.Errorf("slash commands = %+v", m.Features.SlashCommands)
	}
	if ev := slices.Sorted(slices.Values(m.Settings.Events.BotEvents)); !slices.Equal(ev, []string{"reaction_added", "reaction_removed"}) {
		t.Errorf("bot events = %v", ev)
	}
	if !m.Settings.SocketMode || !m.Settings.Interactivity.Enabled {
		t.Errorf("socket mode %v, interactivity %v; want both on", m.Settings.SocketMode, m.Settings.Interactivity.Enabled)
	}
}
