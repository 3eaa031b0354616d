package chart

import (
	"bytes"
	"flag"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/report/chart/charttest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.png")

func since(t time.Time) time.Duration { return t.Sub(t0) }

// Each bar is where its times say, in its outcome's colour; the wait after
// Apply and the retries are hatched segments at their times; nothing is
// drawn just outside a bar; the markers are at their times.
func TestBarsAreWhereTheirTimesSay(t *testing.T) {
	tl := sample()
	img, l, err := Draw(tl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Rows) != len(tl.Steps) || l.MarkerRow < l.DataArea.Min.Y || l.MarkerRow >= l.Rows[0] {
		t.Fatalf("layout %+v", l)
	}
	const tol = 2 // pixels
	for i, s := range tl.Steps {
		y := l.Rows[i]
		col := outcomeColors[s.Outcome]
		x0, x1 := l.X(since(s.Start)), l.X(since(s.End))
		solidEnd := x1 // the first solid segment ends at the first retry or the wait
		if !s.Wait.IsZero() {
			solidEnd = l.X(since(s.Wait.Start))
		}
		if len(s.Retries) > 0 {
			solidEnd = l.X(since(s.Retries[0].Start))
		}
		if s.End.Equal(s.Start) {
			solidEnd = x0 + 4 // an instant is drawn 3pt (4px) wide
		}
		lo, hi := charttest.RunOf(img, y, l.DataArea.Min.X, l.DataArea.Max.X, col)
		if abs(lo-x0) > tol || abs(hi-solidEnd) > tol {
			t.Errorf("%s: %s pixels span x %d–%d, want %d–%d", s.Name, s.Outcome, lo, hi, x0, solidEnd)
		}
		for _, y2 := range []int{y - 5, y + 5} { // the bar has height
			if !charttest.Near(img.At(x0+2, y2), col, 20) {
				t.Errorf("%s: bar is not %d px tall at x %d", s.Name, 11, x0+2)
			}
		}
		if c := img.At(x0-3, y); charttest.Near(c, col, 60) {
			t.Errorf("%s: drawn before its start: %v", s.Name, c)
		}
		if s.End.After(s.Start) {
			if c := img.At(x1+3, y); !charttest.Near(c, bandColor, 3) && !charttest.Near(c, color.RGBA{255, 255, 255, 255}, 3) {
				t.Errorf("%s: drawn past its end: %v at x %d", s.Name, c, x1+3)
			}
		}
		if !s.Wait.IsZero() {
			w0, w1 := l.X(since(s.Wait.Start))+2, l.X(since(s.Wait.End))-2
			if tint, hatch := charttest.Share(img, y, w0, w1, waitTint(s.Outcome)), charttest.Share(img, y, w0, w1, col); tint < 0.4 || hatch < 0.05 {
				t.Errorf("%s: wait %d–%d is %.0f%% tint and %.0f%% hatch, want a hatched tint", s.Name, w0, w1, 100*tint, 100*hatch)
			}
		}
		for _, r := range s.Retries {
			r0, r1 := l.X(since(r.Start))+2, l.X(since(r.End))-2
			if fill, hatch := charttest.Share(img, y, r0, r1, retryFill), charttest.Share(img, y, r0, r1, retryHatch); fill < 0.4 || hatch < 0.05 {
				t.Errorf("%s: retry %d–%d is %.0f%% fill and %.0f%% hatch", s.Name, r0, r1, 100*fill, 100*hatch)
			}
			if charttest.Share(img, y, r0, r1, col) > 0 {
				t.Errorf("%s: the retry %d–%d shows the outcome's colour", s.Name, r0, r1)
			}
		}
	}
	for _, m := range tl.Markers {
		col := approvalColor
		if m.Kind == Gate {
			col = gateColor
		}
		x := l.X(since(m.At))
		found := false
		for y := l.MarkerRow - 14; y <= l.MarkerRow+14 && !found; y++ {
			if lo, _ := charttest.RunOf(img, y, x-3, x+3, col); lo >= 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s marker at x %d for %s", m.Kind, x, m.At.Format(time.TimeOnly))
		}
	}
	// The legend, under the axis, shows every outcome's colour.
	for o, col := range outcomeColors {
		if o == Running {
			continue
		}
		seen := false
		for y := l.DataArea.Max.Y + 30; y < img.Bounds().Max.Y && !seen; y++ {
			if lo, _ := charttest.RunOf(img, y, 0, img.Bounds().Max.X-1, col); lo >= 0 {
				seen = true
			}
		}
		if !seen {
			t.Errorf("the legend has no %s swatch", o)
		}
	}
}

// The picture, against testdata/timeline.png (go test -update rewrites
// it). Pixels may differ a little (anti-aliasing on another CPU); the
// layout may not.
func TestTheTimelineLooksAsItDid(t *testing.T) {
	got, err := Render(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "timeline.png")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	a, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	b, err := png.Decode(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if a.Bounds() != b.Bounds() {
		t.Fatalf("size %v, golden %v", a.Bounds(), b.Bounds())
	}
	diff := 0
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			r, g, bl, _ := b.At(x, y).RGBA()
			if !charttest.Near(a.At(x, y), color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}, 48) {
				diff++
			}
		}
	}
	total := a.Bounds().Dx() * a.Bounds().Dy()
	if diff > total/500 {
		out := filepath.Join(t.TempDir(), "timeline.got.png")
		_ = os.WriteFile(out, got, 0o644)
		t.Errorf("%d of %d pixels differ from %s; got is %s", diff, total, path, out)
	}
}

func TestTheSameTimelineGivesTheSameBytes(t *testing.T) {
	a, err := Render(sample(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Render(sample(), Options{})
	if !bytes.Equal(a, b) {
		t.Error("two renders differ")
	}
	if !bytes.HasPrefix(a, []byte("\x89PNG\r\n\x1a\n")) {
		t.Error("not a PNG")
	}
}

// No markers: no marker row; a running step's bar goes to the end; the
// size option is honoured.
func TestARunningRunWithoutMarkers(t *testing.T) {
	tl := Timeline{Title: "t", Start: t0, Steps: []Step{
		{Name: "a", Start: at(0), End: at(5), Outcome: Done},
		{Name: "b", Start: at(5), Outcome: Running},
		{Name: "c", Start: at(2), End: at(20), Outcome: Done},
	}}
	img, l, err := Draw(tl, Options{Width: 800, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 800 || img.Bounds().Dy() != 300 || l.MarkerRow != -1 {
		t.Fatalf("bounds %v, layout %+v", img.Bounds(), l)
	}
	_, hi := charttest.RunOf(img, l.Rows[1], l.DataArea.Min.X, l.DataArea.Max.X, outcomeColors[Running])
	if abs(hi-l.X(20*time.Second)) > 2 {
		t.Errorf("running bar ends at x %d, want the timeline's end %d", hi, l.X(20*time.Second))
	}
}

func TestBadTimelinesAreRefused(t *testing.T) {
	ok := Step{Name: "a", Start: at(0), End: at(1), Outcome: Done}
	for _, tc := range []struct {
		name, want string
		tl         Timeline
	}{
		{"no start", "no start", Timeline{Steps: []Step{ok}}},
		{"an end before the start", "ends", Timeline{Start: t0, End: at(-1)}},
		{"a step without a name", "step 1 has no name", Timeline{Start: t0, Steps: []Step{{Start: at(0), Outcome: Done}}}},
		{"an unknown outcome", `outcome "ok"`, Timeline{Start: t0, Steps: []Step{{Name: "a", Start: at(0), Outcome: "ok"}}}},
		{"a step ending before it starts", `step "a" ends before`, Timeline{Start: t0, Steps: []Step{{Name: "a", Start: at(2), End: at(1), Outcome: Done}}}},
		{"a backwards wait", `step "a": an interval`, Timeline{Start: t0, Steps: []Step{{Name: "a", Start: at(0), End: at(3), Outcome: Done, Wait: span(2, 1)}}}},
		{"a half retry", `step "a": an interval`, Timeline{Start: t0, Steps: []Step{{Name: "a", Start: at(0), End: at(3), Outcome: Done, Retries: []Interval{{Start: at(1)}}}}}},
		{"a marker without time", "has no time", Timeline{Start: t0, Markers: []Marker{{Kind: Approval, Who: "x"}}}},
		{"an unknown marker", `marker kind "vote"`, Timeline{Start: t0, Markers: []Marker{{Kind: "vote", At: t0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Render(tc.tl, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Render = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 850 * time.Millisecond: "850ms", 4200 * time.Millisecond: "4.2s", 6 * time.Second: "6s",
		31 * time.Second: "31s", 96 * time.Second: "1m36s", 2 * time.Minute: "2m", -30 * time.Second: "-30s",
		time.Hour + 2*time.Minute: "1h2m", 3 * time.Hour: "3h",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// BenchmarkRender reports how long a report's chart takes to draw and
// encode, and its size.
func BenchmarkRender(b *testing.B) {
	tl := sample()
	var n int
	for b.Loop() {
		png, err := Render(tl, Options{})
		if err != nil {
			b.Fatal(err)
		}
		n = len(png)
	}
	b.ReportMetric(float64(n)/1024, "KiB/png")
}

// A run of a few hundred milliseconds (the lab's) is drawn across the
// width, on a millisecond axis, not squeezed into a one-second one.
func TestAShortRunFillsTheWidth(t *testing.T) {
	tl := Timeline{Title: "lab", Start: t0, End: at(0.3), Steps: []Step{
		{Name: "a", Start: at(0), End: at(0.15), Outcome: Done},
		{Name: "b", Start: at(0.15), End: at(0.3), Outcome: AlreadyDone},
	}}
	img, l, err := Draw(tl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if end := l.X(300 * time.Millisecond); float64(end-l.DataArea.Min.X) < 0.7*float64(l.DataArea.Dx()) {
		t.Errorf("the run ends at x %d of a data area %v: squeezed", end, l.DataArea)
	}
	lo, hi := charttest.RunOf(img, l.Rows[1], l.DataArea.Min.X, l.DataArea.Max.X, outcomeColors[AlreadyDone])
	if abs(lo-l.X(150*time.Millisecond)) > 2 || abs(hi-l.X(300*time.Millisecond)) > 2 {
		t.Errorf("bar b at %d–%d, want %d–%d", lo, hi, l.X(150*time.Millisecond), l.X(300*time.Millisecond))
	}
	var labels []string
	for _, tk := range (durationTicks{}).Ticks(0, 0.3) {
		labels = append(labels, tk.Label)
	}
	if got := strings.Join(labels, " "); got != "0s 50ms 100ms 150ms 200ms 250ms 300ms" {
		t.Errorf("ticks %s", got)
	}
}
