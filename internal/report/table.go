package report

import (
	"strings"
	"unicode/utf8"
)

// table lines up columns of text for a code block: every column as wide
// as its widest cell (counted in characters, not bytes), two spaces
// between columns, the last column unpadded. Cells are kept whole, on
// their line (oneLine).
type table struct {
	head  []string
	rows  [][]string
	right map[int]bool // right-aligned columns (numbers, durations)
}

func newTable(head ...string) *table { return &table{head: head, right: map[int]bool{}} }

// alignRight right-aligns columns i….
func (t *table) alignRight(cols ...int) *table {
	for _, c := range cols {
		t.right[c] = true
	}
	return t
}

func (t *table) add(cells ...string) {
	row := make([]string, len(t.head))
	for i := range row {
		if i < len(cells) {
			row[i] = oneLine(cells[i])
		}
	}
	t.rows = append(t.rows, row)
}

// write puts the table in b, indented by two spaces, in a code block when
// fences is set.
func (t *table) write(b *strings.Builder, fences bool) {
	w := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	if fences {
		b.WriteString(fence + "\n")
	}
	for _, r := range append([][]string{t.head}, t.rows...) {
		var line strings.Builder
		line.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(c))
			last := i == len(r)-1
			switch {
			case t.right[i]:
				line.WriteString(pad + c)
			case last:
				line.WriteString(c)
			default:
				line.WriteString(c + pad)
			}
			if !last {
				line.WriteString("  ")
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	if fences {
		b.WriteString(fence + "\n")
	}
}
