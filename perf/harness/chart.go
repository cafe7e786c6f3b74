package harness

import (
	"io"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// series is one set of bars of a panel: a value per row.
type series struct {
	label string
	value func(Row) (float64, bool)
}

// panel is one tile of the chart.
type panel struct {
	title, unit string
	series      []series
}

var panels = []panel{
	{"64-byte round trip p50", "µs", []series{{"p50", contests[0].value}}},
	{"64-byte round trip p99", "µs", []series{{"p99", contests[1].value}}},
	{"connections per second", "conn/s", []series{{"conn/s", contests[3].value}}},
	{"bulk throughput, one connection", "Mbit/s", []series{{"no loss", contests[4].value}, {"{loss}", contests[5].value}}},
}

// WritePNG draws the report as a 2×2 grid of bar charts, one bar (or a
// group of bars) per system.
func (rep *Report) WritePNG(w io.Writer) error {
	names := make([]string, len(rep.Rows))
	for i, r := range rep.Rows {
		names[i] = r.System
	}
	const cols = 2
	grid := make([][]*plot.Plot, (len(panels)+cols-1)/cols)
	for i, pn := range panels {
		p, err := rep.panelPlot(pn, names)
		if err != nil {
			return err
		}
		grid[i/cols] = append(grid[i/cols], p)
	}
	img := vgimg.New(vg.Points(1200), vg.Points(800))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(grid), Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, tiles, dc)
	for j := range grid {
		for i, p := range grid[j] {
			p.Draw(canvases[j][i])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func (rep *Report) panelPlot(pn panel, names []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.Y.Label.Text = pn.unit
	p.Y.Min = 0
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	width := vg.Points(100) / vg.Length(len(pn.series))
	top := 0.0
	for k, s := range pn.series {
		vals := make(plotter.Values, len(rep.Rows))
		var marks plotter.XYLabels
		for i, r := range rep.Rows {
			v, ok := s.value(r)
			if ok {
				vals[i] = v
				top = max(top, v)
			}
			marks.XYs = append(marks.XYs, plotter.XY{X: float64(i), Y: vals[i]})
			marks.Labels = append(marks.Labels, valueLabel(v, ok))
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(k)
		bars.Offset = width * (vg.Length(k) - vg.Length(len(pn.series)-1)/2)
		labels, err := plotter.NewLabels(marks)
		if err != nil {
			return nil, err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].XAlign = text.XCenter
		}
		labels.Offset = vg.Point{X: bars.Offset, Y: vg.Points(3)}
		p.Add(bars, labels)
		if len(pn.series) > 1 {
			p.Legend.Add(rep.heading(column{Head: s.label}), bars)
		}
	}
	p.Legend.Top = true
	if top > 0 {
		p.Y.Max = 1.1 * top // room for the labels over the tallest bar
	}
	return p, nil
}

// valueLabel is the number printed over a bar: small values keep their
// significant digits, large ones are rounded to whole units.
func valueLabel(v float64, ok bool) string {
	switch {
	case !ok:
		return "-"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
