package chart

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// swatch is a legend thumbnail: a bar segment, maybe hatched.
type swatch struct {
	fill, hatch color.Color
}

// Thumbnail implements plot.Thumbnailer.
func (s swatch) Thumbnail(c *draw.Canvas) {
	y0, y1 := c.Min.Y+vg.Points(1), c.Max.Y-vg.Points(1)
	fillRect(c, c.Min.X, y0, c.Max.X, y1, s.fill)
	if s.hatch != nil {
		hatch(c, c.Min.X, y0, c.Max.X, y1, s.hatch)
	}
}

// glyph is a legend thumbnail for a marker.
type glyph struct{ style draw.GlyphStyle }

// Thumbnail implements plot.Thumbnailer.
func (g glyph) Thumbnail(c *draw.Canvas) { c.DrawGlyphNoClip(g.style, c.Center()) }

// drawLegend draws the legend in three columns across c.
func drawLegend(c draw.Canvas) {
	oc := func(o Outcome) swatch { return swatch{fill: outcomeColors[o]} }
	columns := [][]struct {
		name  string
		thumb plot.Thumbnailer
	}{
		{{"done", oc(Done)}, {"already done (nothing to change)", oc(AlreadyDone)}, {"failed", oc(Failed)}},
		{{"skipped", oc(Skipped)}, {"replaced", oc(Replaced)}, {"waiting for Check after Apply", swatch{waitTint(Done), outcomeColors[Done]}}},
		{{"retry backoff", swatch{retryFill, retryHatch}},
			{"approval", glyph{draw.GlyphStyle{Color: approvalColor, Radius: vg.Points(4.5), Shape: draw.PyramidGlyph{}}}},
			{"gate", glyph{draw.GlyphStyle{Color: gateColor, Radius: vg.Points(4.5), Shape: diamond{}}}}},
	}
	colW := (c.Max.X - c.Min.X) / vg.Length(len(columns))
	for i, col := range columns {
		l := plot.NewLegend()
		l.Top, l.Left = true, true
		l.TextStyle = textStyle(9.5, labelColor, false)
		l.TextStyle.YAlign = 0
		l.ThumbnailWidth = vg.Points(22)
		l.Padding = vg.Points(4)
		for _, e := range col {
			l.Add(e.name, e.thumb)
		}
		l.Draw(draw.Crop(c, colW*vg.Length(i), -colW*vg.Length(len(columns)-1-i), 0, 0))
	}
}
