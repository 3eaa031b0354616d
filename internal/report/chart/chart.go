package chart

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"time"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DPI is the resolution the chart is drawn at.
const DPI = 96

// Options size the picture. Zero values pick a size from the timeline.
type Options struct {
	// Width and Height in pixels (default 1100 wide, 30 pixels per step).
	Width, Height int
}

// Layout says where the chart put things, in image pixels (y grows
// downwards), so that a test can check the bars' geometry.
type Layout struct {
	// DataArea is the rectangle of the time axis and the rows.
	DataArea image.Rectangle
	// XMin and XMax are the seconds since the run's start at the left and
	// right edges of DataArea.
	XMin, XMax float64
	// Rows are the y of each step's bar centre, in Steps order.
	Rows []int
	// MarkerRow is the y of the approvals and gates row (-1 if none).
	MarkerRow int
}

// X returns the pixel column of a time since the run's start.
func (l Layout) X(since time.Duration) int {
	f := (since.Seconds() - l.XMin) / (l.XMax - l.XMin)
	return l.DataArea.Min.X + int(math.Round(f*float64(l.DataArea.Dx())))
}

// Render draws tl as a PNG.
func Render(tl Timeline, o Options) ([]byte, error) {
	img, _, err := Draw(tl, o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("chart: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// Draw draws tl and says where it put things.
func Draw(tl Timeline, o Options) (image.Image, Layout, error) {
	if err := tl.validate(); err != nil {
		return nil, Layout{}, err
	}
	n := len(tl.Steps)
	hasMarkers := len(tl.Markers) > 0
	rows := n
	if hasMarkers {
		rows++
	}
	if o.Width <= 0 {
		o.Width = 1100
	}
	if o.Height <= 0 {
		o.Height = 190 + 30*max(rows, 3)
	}
	px := func(p int) vg.Length { return vg.Length(p) * vg.Inch / DPI }
	w, h := px(o.Width), px(o.Height)
	canvas := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(canvas)

	p := newPlot(&tl, n, hasMarkers)
	legendH := px(66)
	p.Draw(draw.Crop(dc, px(12), -px(16), legendH+px(6), -px(10)))
	drawLegend(draw.Crop(dc, px(110), -px(16), px(8), legendH-h))

	lay := Layout{XMin: p.X.Min, XMax: p.X.Max, MarkerRow: -1}
	da := p.DataCanvas(draw.Crop(dc, px(12), -px(16), legendH+px(6), -px(10)))
	toPx := func(l vg.Length) float64 { return float64(l) * DPI / float64(vg.Inch) }
	lay.DataArea = image.Rect(int(math.Round(toPx(da.Min.X))), int(math.Round(toPx(h-da.Max.Y))),
		int(math.Round(toPx(da.Max.X))), int(math.Round(toPx(h-da.Min.Y))))
	_, ty := p.Transforms(&da)
	for i := range tl.Steps {
		lay.Rows = append(lay.Rows, int(math.Round(toPx(h-ty(rowY(i, n))))))
	}
	if hasMarkers {
		lay.MarkerRow = int(math.Round(toPx(h - ty(float64(n)))))
	}
	return canvas.Image(), lay, nil
}

// sans is the chart's font (embedded in gonum's font cache).
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// rowY is the data y of step i: the first step on top, under the markers.
func rowY(i, n int) float64 { return float64(n - 1 - i) }

func textStyle(size vg.Length, c color.Color, bold bool) text.Style {
	f := font.From(sans, size)
	if bold {
		f.Weight = xfont.WeightBold
	}
	return text.Style{Color: c, Font: f, Handler: plot.DefaultTextHandler, XAlign: draw.XLeft, YAlign: draw.YCenter}
}

func newPlot(tl *Timeline, n int, hasMarkers bool) *plot.Plot {
	p := plot.New()
	start, end := tl.Start, tl.end()
	span := end.Sub(start).Seconds()
	lo, hi := 0.0, span
	for _, m := range tl.Markers {
		lo = math.Min(lo, m.At.Sub(start).Seconds())
		hi = math.Max(hi, m.At.Sub(start).Seconds())
	}
	// A run of a few hundred milliseconds (the lab's) fills the width
	// too; only a run of no time at all gets a 100ms axis.
	if hi-lo < 0.1 {
		hi = lo + 0.1
	}
	// Room on the right for the labels at the bars' ends.
	p.X.Min, p.X.Max = lo-0.02*(hi-lo), hi+0.22*(hi-lo)
	p.Y.Min, p.Y.Max = -0.6, float64(n)-0.4
	if hasMarkers {
		p.Y.Max = float64(n) + 0.6
	}

	p.Title.Text = fmt.Sprintf("%s\nstarted %s · took %s · %d steps", tl.Title,
		start.UTC().Format("2006-01-02 15:04:05 UTC"), formatDuration(end.Sub(start)), n)
	p.Title.TextStyle.Font = font.From(sans, 13)
	p.Title.Padding = vg.Points(8)

	p.X.Label.Text = "time since the run started"
	p.X.Label.TextStyle.Font = font.From(sans, 10)
	p.X.Tick.Label.Font = font.From(sans, 9.5)
	p.X.Tick.Marker = durationTicks{}
	p.X.Padding, p.Y.Padding = 0, 0

	p.Y.Tick.Label.Font = font.From(sans, 10)
	p.Y.Tick.Length = 0
	p.Y.LineStyle.Width = 0
	p.Y.Tick.LineStyle.Width = 0
	p.Y.Tick.Marker = rowTicks(tl.Steps, hasMarkers)

	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	grid.Vertical = draw.LineStyle{Color: color.Gray{Y: 215}, Width: vg.Points(0.5)}
	p.Add(&bands{steps: tl.Steps}, grid, &runLines{span: span}, &markerLines{tl: tl, n: n},
		&bars{tl: tl, n: n}, &markers{tl: tl, n: n})
	return p
}

// rowTicks labels each row with its phase and step name.
func rowTicks(steps []Step, hasMarkers bool) plot.Ticker {
	return plot.TickerFunc(func(_, _ float64) []plot.Tick {
		n := len(steps)
		var ts []plot.Tick
		for i, s := range steps {
			label := s.Name
			if s.Phase != "" {
				label = s.Phase + ": " + s.Name
			}
			ts = append(ts, plot.Tick{Value: rowY(i, n), Label: label})
		}
		if hasMarkers {
			ts = append(ts, plot.Tick{Value: float64(n), Label: "approvals, gates"})
		}
		return ts
	})
}

// durationTicks puts 5–10 ticks on round durations.
type durationTicks struct{}

// Ticks implements plot.Ticker.
func (durationTicks) Ticks(lo, hi float64) []plot.Tick {
	steps := []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if (hi-lo)/s <= 10 {
			step = s
			break
		}
	}
	var ts []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9; k++ {
		v := k * step // not a running sum: 0.05 added six times is not 0.3
		ts = append(ts, plot.Tick{Value: v, Label: formatDuration(time.Duration(math.Round(v * float64(time.Second))))})
	}
	return ts
}
