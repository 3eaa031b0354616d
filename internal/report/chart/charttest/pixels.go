// Package charttest reads a drawn chart's pixels, for the tests that check
// where its bars and markers are.
package charttest

import (
	"image"
	"image/color"
)

// Tolerance is how far, per channel out of 255, a pixel may be from a colour
// and still be that colour (anti-aliasing, PNG round trips).
const Tolerance = 20

// Near reports whether a is within tol of b on each of red, green and blue.
func Near(a color.Color, b color.RGBA, tol int) bool {
	r, g, bl, _ := a.RGBA()
	d := func(x uint32, y uint8) int {
		v := int(x>>8) - int(y)
		if v < 0 {
			return -v
		}
		return v
	}
	return d(r, b.R) <= tol && d(g, b.G) <= tol && d(bl, b.B) <= tol
}

// RunOf returns the first run of pixels near col in row y between x0 and x1:
// its first and last x (-1, -1 when there is none).
func RunOf(img image.Image, y, x0, x1 int, col color.RGBA) (int, int) {
	lo, hi := -1, -1
	for x := x0; x <= x1; x++ {
		switch {
		case Near(img.At(x, y), col, Tolerance) && (lo < 0 || hi == x-1):
			if lo < 0 {
				lo = x
			}
			hi = x
		case lo >= 0:
			return lo, hi
		}
	}
	return lo, hi
}

// Share is the fraction of the pixels of row y in [x0, x1] near col (0 when
// the range is empty).
func Share(img image.Image, y, x0, x1 int, col color.RGBA) float64 {
	if x1 < x0 {
		return 0
	}
	n := 0
	for x := x0; x <= x1; x++ {
		if Near(img.At(x, y), col, Tolerance) {
			n++
		}
	}
	return float64(n) / float64(x1-x0+1)
}
