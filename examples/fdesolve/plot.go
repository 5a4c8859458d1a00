package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gofde/gofde/fode"
)

// plotTrajectory draws up to four components of the numerical trajectory
// (markers) against the exact solution (lines) and writes a PNG.
func plotTrajectory(path string, c config, sol *fode.Solution, ex exactFunc) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: D^%g x = f, method %s, %d steps", c.problem, c.alpha, c.method, sol.Steps)
	p.X.Label.Text = "t"
	p.Y.Label.Text = "x(t)"
	p.Legend.Top = true
	grid := sol.Grid()
	// Thin the markers to at most 200 per component.
	stride := max(1, len(grid)/200)
	colors := []color.Color{
		color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255},
		color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 148, G: 103, B: 189, A: 255},
	}
	for i := 0; i < min(sol.Dim, len(colors)); i++ {
		var pts plotter.XYs
		for j := 0; j < len(grid); j += stride {
			pts = append(pts, plotter.XY{X: grid[j], Y: sol.State(j)[i]})
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = colors[i]
		sc.GlyphStyle.Radius = vg.Points(1.5)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("x_%d (%s)", i, c.method), sc)
		if ex == nil {
			continue
		}
		var line plotter.XYs
		const samples = 400
		for k := 0; k <= samples; k++ {
			t := c.T * float64(k) / samples
			line = append(line, plotter.XY{X: t, Y: ex(i, t)})
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return err
		}
		l.Color = colors[i]
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("x_%d exact", i), l)
	}
	if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("writing plot: %w", err)
	}
	return nil
}
