package chart

import (
	"image/color"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Colours of the chart (tests read them back from the pixels).
var (
	outcomeColors = map[Outcome]color.RGBA{
		Done:        {0x2e, 0x7d, 0x32, 0xff}, // green
		AlreadyDone: {0x60, 0x7d, 0x8b, 0xff}, // blue grey: nothing to do
		Failed:      {0xc6, 0x28, 0x28, 0xff}, // red
		Skipped:     {0xf9, 0xa8, 0x25, 0xff}, // amber
		Replaced:    {0x6a, 0x1b, 0x9a, 0xff}, // purple
		Running:     {0x15, 0x65, 0xc0, 0xff}, // blue
	}
	// retryFill and retryHatch draw the backoff between attempts.
	retryFill  = color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	retryHatch = color.RGBA{0x42, 0x42, 0x42, 0xff}
	// approvalColor and gateColor draw the markers.
	approvalColor = color.RGBA{0x15, 0x65, 0xc0, 0xff}
	gateColor     = color.RGBA{0x00, 0x83, 0x8f, 0xff}
	bandColor     = color.RGBA{0xf4, 0xf5, 0xf7, 0xff}
	labelColor    = color.RGBA{0x33, 0x33, 0x33, 0xff}
)

// waitTint is the light fill of the wait after Apply for an outcome (the
// outcome's colour, hatched, over this tint).
func waitTint(o Outcome) color.RGBA {
	c := outcomeColors[o]
	mix := func(v uint8) uint8 { return uint8(float64(v) + (255-float64(v))*0.7 + 0.5) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 0xff}
}

const barHalf = 0.3 // half a bar's height, in rows

// bands shades every other phase, so that the phases read as groups.
type bands struct{ steps []Step }

func (b *bands) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	n, group, last := len(b.steps), 0, ""
	for i, s := range b.steps {
		if i == 0 || s.Phase != last {
			group++
			last = s.Phase
		}
		if group%2 == 0 {
			continue
		}
		y := rowY(i, n)
		fillRect(&c, tx(p.X.Min), ty(y-0.5), tx(p.X.Max), ty(y+0.5), bandColor)
	}
}

// runLines marks the run's start and end.
type runLines struct{ span float64 }

func (r *runLines) Plot(c draw.Canvas, p *plot.Plot) {
	tx, _ := p.Transforms(&c)
	sty := draw.LineStyle{Color: color.Gray{Y: 150}, Width: vg.Points(1)}
	c.StrokeLine2(sty, tx(0), c.Min.Y, tx(0), c.Max.Y)
	sty.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	c.StrokeLine2(sty, tx(r.span), c.Min.Y, tx(r.span), c.Max.Y)
}

// markerLines runs a faint line down from each marker through the rows.
type markerLines struct {
	tl *Timeline
	n  int
}

func (m *markerLines) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for _, mk := range m.tl.Markers {
		mc := markerColor(mk.Kind)
		col := color.NRGBA{R: mc.R, G: mc.G, B: mc.B, A: 0x90}
		x := tx(mk.At.Sub(m.tl.Start).Seconds())
		sty := draw.LineStyle{Color: col, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		c.StrokeLine2(sty, x, ty(-0.5), x, ty(float64(m.n)-0.35))
	}
}

// bars draws each step: its span in the outcome's colour, the wait after
// Apply hatched over a tint, the retries hatched grey, a label at the end.
type bars struct {
	tl *Timeline
	n  int
}

func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	end := b.tl.end()
	lbl := textStyle(9.5, labelColor, false)
	for i, s := range b.tl.Steps {
		y := rowY(i, b.n)
		y0, y1 := ty(y-barHalf), ty(y+barHalf)
		sEnd := s.End
		if sEnd.IsZero() {
			sEnd = end
		}
		x0, x1 := tx(s.Start.Sub(b.tl.Start).Seconds()), tx(sEnd.Sub(b.tl.Start).Seconds())
		if minW := vg.Points(3); x1-x0 < minW {
			x1 = x0 + minW // an instant (a skipped step) stays visible
		}
		col := outcomeColors[s.Outcome]
		fillRect(&c, x0, y0, x1, y1, col)
		if !s.Wait.IsZero() {
			w0, w1 := tx(s.Wait.Start.Sub(b.tl.Start).Seconds()), tx(s.Wait.End.Sub(b.tl.Start).Seconds())
			fillRect(&c, w0, y0, w1, y1, waitTint(s.Outcome))
			hatch(&c, w0, y0, w1, y1, col)
		}
		for _, r := range s.Retries {
			r0, r1 := tx(r.Start.Sub(b.tl.Start).Seconds()), tx(r.End.Sub(b.tl.Start).Seconds())
			fillRect(&c, r0, y0, r1, y1, retryFill)
			hatch(&c, r0, y0, r1, y1, retryHatch)
		}
		c.FillText(lbl, vg.Point{X: x1 + vg.Points(5), Y: ty(y)}, barLabel(s, sEnd.Sub(s.Start)))
	}
}

func barLabel(s Step, d time.Duration) string {
	parts := []string{formatDuration(d)}
	switch s.Outcome {
	case AlreadyDone:
		parts = append(parts, "already done")
	case Failed, Skipped, Replaced, Running:
		parts = append(parts, string(s.Outcome))
	}
	if s.Attempts > 1 {
		parts = append(parts, strconv.Itoa(s.Attempts)+" attempts")
	}
	return strings.Join(parts, ", ")
}

// markers draws approvals (triangles) and gates (diamonds) in the top row,
// their labels on two levels so that close ones do not overlap.
type markers struct {
	tl *Timeline
	n  int
}

func (m *markers) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	var right [2]vg.Length // where each level's last label ends
	right[0], right[1] = c.Min.X-1e6, c.Min.X-1e6
	for _, mk := range m.tl.Markers {
		x := tx(mk.At.Sub(m.tl.Start).Seconds())
		col := markerColor(mk.Kind)
		sty := textStyle(9, col, true)
		label := mk.text()
		lw := sty.Width(label)
		level := 0
		if x < right[0]+vg.Points(4) && x >= right[1]+vg.Points(4) {
			level = 1
		}
		y := ty(float64(m.n) + 0.2 - 0.4*float64(level))
		glyph := draw.GlyphStyle{Color: col, Radius: vg.Points(4.5), Shape: draw.PyramidGlyph{}}
		if mk.Kind == Gate {
			glyph.Shape = diamond{}
		}
		c.DrawGlyphNoClip(glyph, vg.Point{X: x, Y: y})
		c.FillText(sty, vg.Point{X: x + vg.Points(7), Y: y}, label)
		right[level] = x + vg.Points(7) + lw
	}
}

func markerColor(k MarkerKind) color.RGBA {
	if k == Gate {
		return gateColor
	}
	return approvalColor
}

// diamond is a filled diamond glyph (gonum has triangles, boxes, circles).
type diamond struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (diamond) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.2
	c.FillPolygon(sty.Color, []vg.Point{{X: pt.X, Y: pt.Y + r}, {X: pt.X + r, Y: pt.Y}, {X: pt.X, Y: pt.Y - r}, {X: pt.X - r, Y: pt.Y}})
}

func fillRect(c *draw.Canvas, x0, y0, x1, y1 vg.Length, col color.Color) {
	if x1 <= x0 || y1 <= y0 {
		return
	}
	c.FillPolygon(col, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
}

// hatch draws 45° lines across a rectangle, clipped to it.
func hatch(c *draw.Canvas, x0, y0, x1, y1 vg.Length, col color.Color) {
	if x1 <= x0 || y1 <= y0 {
		return
	}
	sty := draw.LineStyle{Color: col, Width: vg.Points(1.1)}
	h, gap := y1-y0, vg.Points(5)
	for k := x0 - h; k < x1; k += gap {
		ax, ay := k, y0
		bx, by := k+h, y1
		if ax < x0 {
			ay += x0 - ax
			ax = x0
		}
		if bx > x1 {
			by -= bx - x1
			bx = x1
		}
		if bx > ax {
			c.StrokeLine2(sty, ax, ay, bx, by)
		}
	}
}

// OutcomeColor is the colour of a bar of outcome o, for tests that read
// a chart back from its pixels.
func OutcomeColor(o Outcome) color.RGBA { return outcomeColors[o] }

// WaitColor is the tint under the hatching of a wait after Apply in a bar
// of outcome o.
func WaitColor(o Outcome) color.RGBA { return waitTint(o) }

// RetryColors are the fill and hatching of a retry's backoff.
func RetryColors() (fill, hatching color.RGBA) { return retryFill, retryHatch }

// MarkerColor is the colour of a marker of kind k.
func MarkerColor(k MarkerKind) color.RGBA { return markerColor(k) }
