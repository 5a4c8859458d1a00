package main

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotCurves writes the training loss and test accuracy per epoch as two
// panels of one PNG.
func plotCurves(path string, res *result) error {
	lossPts, accPts := make(plotter.XYs, len(res.EpochLoss)), make(plotter.XYs, len(res.EpochAccuracy))
	for i, l := range res.EpochLoss {
		lossPts[i] = plotter.XY{X: float64(i + 1), Y: l}
	}
	for i, a := range res.EpochAccuracy {
		accPts[i] = plotter.XY{X: float64(i + 1), Y: 100 * a}
	}
	panel := func(title, ylabel string, pts plotter.XYs) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = ylabel
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		p.Add(line, points, plotter.NewGrid())
		return p, nil
	}
	lp, err := panel(fmt.Sprintf("%s, alpha %g, %s: training loss", res.Dataset, res.Alpha, res.Grad), "cross-entropy", lossPts)
	if err != nil {
		return err
	}
	ap, err := panel("test accuracy", "%", accPts)
	if err != nil {
		return err
	}
	img := vgimg.New(10*vg.Inch, 4*vg.Inch)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter, PadY: vg.Millimeter,
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	canvases := plot.Align([][]*plot.Plot{{lp, ap}}, tiles, draw.New(img))
	lp.Draw(canvases[0][0])
	ap.Draw(canvases[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
