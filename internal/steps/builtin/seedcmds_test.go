package builtin_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// seedCommand is one shell command of a seed runbook's code blocks.
type seedCommand struct {
	line int    // line of the command's start in the seed
	text string // the command, whitespace collapsed, comments dropped
}

// seedCommands extracts the commands of every fenced code block of a seed:
// lines continued by a trailing backslash or by an open single quote are
// joined, comment lines are dropped, trailing comments are cut.
func seedCommands(t *testing.T, path string) []seedCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open seed: %v", err)
	}
	defer f.Close()
	var (
		out     []seedCommand
		inBlock bool
		cur     strings.Builder
		start   int
	)
	flush := func() {
		if s := strings.Join(strings.Fields(cur.String()), " "); s != "" {
			out = append(out, seedCommand{line: start, text: s})
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock {
			continue
		}
		open := strings.Count(cur.String(), "'")%2 == 1
		if !open && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if !open {
			line = cutComment(line)
		}
		cont := strings.HasSuffix(line, `\`)
		cur.WriteString(strings.TrimSuffix(line, `\`))
		cur.WriteString(" ")
		if cont || strings.Count(cur.String(), "'")%2 == 1 {
			continue
		}
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return out
}

// cutComment drops a trailing " # comment" outside quotes.
func cutComment(line string) string {
	inSingle, inDouble := false, false
	for i, r := range line {
		switch {
		case r == '\'' && !inDouble:
			inSingle = !inSingle
		case r == '"' && !inSingle:
			inDouble = !inDouble
		case r == '#' && !inSingle && !inDouble && i > 0 && line[i-1] == ' ':
			return strings.TrimSpace(line[:i])
		}
	}
	return line
}
