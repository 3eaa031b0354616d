package commands

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseAcceptsEveryVerb(t *testing.T) {
	tests := []struct {
		text string
		want Command
	}{
		{"", Command{Verb: VerbHelp}},
		{"help", Command{Verb: VerbHelp, Args: []string{}}},
		{"HELP", Command{Verb: VerbHelp, Args: []string{}}},
		{"list", Command{Verb: VerbList, Args: []string{}}},
		{"assess", Command{Verb: VerbAssess, Args: []string{}}},
		{"assess lab-failover", Command{Verb: VerbAssess, Args: []string{"lab-failover"}}},
		{"plan lab", Command{Verb: VerbPlan, Args: []string{"lab"}, Params: map[string]string{}}},
		{"plan lab ticket=INC-1 replicas=3", Command{Verb: VerbPlan, Args: []string{"lab"}, Params: map[string]string{"ticket": "INC-1", "replicas": "3"}}},
		{"start lab", Command{Verb: VerbStart, Args: []string{"lab"}, Params: map[string]string{}}},
		{"start lab ticket=INC-1 primary is down, db=gone", Command{Verb: VerbStart, Args: []string{"lab"},
			Params: map[string]string{"ticket": "INC-1"}, Reason: "primary is down, db=gone"}},
		{`start lab note="two words" region lost`, Command{Verb: VerbStart, Args: []string{"lab"},
			Params: map[string]string{"note": "two words"}, Reason: "region lost"}},
		{"status", Command{Verb: VerbStatus, Args: []string{}}},
		{"status lab-k3x9", Command{Verb: VerbStatus, Args: []string{"lab-k3x9"}}},
		{"pause lab-k3x9", Command{Verb: VerbPause, Args: []string{"lab-k3x9"}}},
		{"resume lab-k3x9", Command{Verb: VerbResume, Args: []string{"lab-k3x9"}}},
		{"abort last", Command{Verb: VerbAbort, Args: []string{"last"}}},
		{"retry lab-k3x9 promote_db", Command{Verb: VerbRetry, Args: []string{"lab-k3x9", "promote_db"}}},
		{"skip lab-k3x9 promote_db", Command{Verb: VerbSkip, Args: []string{"lab-k3x9", "promote_db"}}},
		{"history", Command{Verb: VerbHistory, Args: []string{}}},
		{"report lab-k3x9", Command{Verb: VerbReport, Args: []string{"lab-k3x9"}}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.text, err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.text, *got, tt.want)
			}
		})
	}
}

func TestParseRejectsBadInputWithUsage(t *testing.T) {
	tests := []struct {
		text      string
		wantMsg   string
		wantUsage string // "" means the full help
	}{
		{"frobnicate", `unknown command "frobnicate"`, ""},
		{"list everything", "list takes no arguments", "/failover list"},
		{"help me", "help takes no arguments", "/failover help"},
		{"history 3", "history takes no arguments", "/failover history"},
		{"assess a b", "assess takes at most 1 argument(s), got 2", "/failover assess [runbook]"},
		{"assess Lab_Failover", `"Lab_Failover" is not a runbook name`, "/failover assess [runbook]"},
		{"plan", "plan needs a runbook name", "/failover plan <runbook> [param=value…]"},
		{"plan lab because", `"because" is not a param=value argument`, "/failover plan <runbook>"},
		{"plan lab a=1 a=2", `parameter "a" is given twice`, "/failover plan"},
		{"start", "start needs a runbook name", "/failover start <runbook> [param=value…] [reason…]"},
		{"start ../etc", `"../etc" is not a runbook name`, "/failover start"},
		{"status a b", "status takes at most 1 argument(s), got 2", "/failover status [run]"},
		{"pause", "pause needs a run ID", "/failover pause <run>"},
		{"resume", "resume needs a run ID", "/failover resume <run>"},
		{"abort", "abort needs a run ID", "/failover abort <run>"},
		{"abort a b", "abort takes at most 1 argument(s), got 2", "/failover abort <run>"},
		{"retry lab-1", "retry needs a run and a step", "/failover retry <run> <step>"},
		{"skip lab-1", "skip needs a run and a step", "/failover skip <run> <step>"},
		{"skip lab-1 Promote-DB", `"Promote-DB" is not a step ID`, "/failover skip <run> <step>"},
		{"report", "report needs a run ID", "/failover report <run>"},
		{"report RUN!", `"RUN!" is not a run ID`, "/failover report <run>"},
		{`start lab note="unterminated`, "unterminated quote", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := Parse(tt.text)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %v, want a *UsageError", tt.text, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not say %q", msg, tt.wantMsg)
			}
			if tt.wantUsage == "" {
				if !strings.Contains(msg, "Usage: /failover <verb>") {
					t.Errorf("error %q does not show the help", msg)
				}
			} else if !strings.Contains(msg, "Usage: "+tt.wantUsage) {
				t.Errorf("error %q does not show the usage %q", msg, tt.wantUsage)
			}
		})
	}
}

func TestHelpListsEveryVerb(t *testing.T) {
	help := HelpText()
	for _, s := range grammar {
		if !strings.Contains(help, Usage(s.verb)) {
			t.Errorf("help does not show %q", Usage(s.verb))
		}
	}
}
