package ui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"
)

// Export choices of the Usage view.
const (
	exportThisMeter   = "This meter"
	exportAllMeters   = "Every meter"
	exportChecked     = "The series shown"
	exportAllSeries   = "Every series"
	exportPeriodView  = "The period in view"
	exportPeriodWhole = "All time"
)

// exportFormats maps the format names shown to the export's format and file extension.
var exportFormats = map[string][2]string{
	"CSV": {"csv", ".csv"}, "JSON Lines": {"json", ".jsonl"}, "Parquet": {"parquet", ".parquet"},
}

// exportRequest builds the export request for the choices made in the export dialog.
func (v *usageView) exportRequest(format, meters, series, period string) ExportRequest {
	req := ExportRequest{Format: exportFormats[format][0]}
	if meters == exportThisMeter {
		req.Meter = v.meter.Key
		if series == exportChecked {
			for _, id := range v.checkedIDs() {
				for _, s := range v.series {
					if s.ID == id {
						req.Series = append(req.Series, s.Key)
					}
				}
			}
		}
	}
	if period == exportPeriodView {
		req.From, req.To = v.chart.View()
	}
	return req
}

// exportFileName suggests a file name for an export: the meter and the period's first day.
func (v *usageView) exportFileName(req ExportRequest, ext string) string {
	name := "custody"
	if req.Meter != "" {
		name += "-" + strings.Trim(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, shortKey(req.Meter)), "-")
	}
	if req.From != 0 {
		name += "-" + time.Unix(req.From, 0).UTC().Format("2006-01-02")
	}
	return name + ext
}

// exportDialog asks what to export (meter, series, period, format) and where, then writes it
// off the UI goroutine with progress shown.
func (v *usageView) exportDialog() {
	if v.m.deps.Export == nil {
		dialog.ShowInformation("Export", "Exporting is not available in this session.", v.m.Window)
		return
	}
	format := widget.NewRadioGroup([]string{"CSV", "JSON Lines", "Parquet"}, nil)
	format.Horizontal = true
	format.SetSelected("CSV")
	meters := widget.NewRadioGroup([]string{exportThisMeter, exportAllMeters}, nil)
	meters.SetSelected(exportThisMeter)
	series := widget.NewRadioGroup([]string{exportChecked, exportAllSeries}, nil)
	series.SetSelected(exportChecked)
	period := widget.NewRadioGroup([]string{exportPeriodView, exportPeriodWhole}, nil)
	period.SetSelected(exportPeriodView)
	meters.OnChanged = func(s string) {
		if s == exportAllMeters {
			series.Disable()
		} else {
			series.Enable()
		}
	}
	items := []*widget.FormItem{
		widget.NewFormItem("Format", format),
		widget.NewFormItem("Meters", meters),
		widget.NewFormItem("Series", series),
		widget.NewFormItem("Period", period),
	}
	d := dialog.NewForm("Export readings", "Choose file…", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		req := v.exportRequest(format.Selected, meters.Selected, series.Selected, period.Selected)
		save := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
			if err != nil {
				dialog.ShowError(err, v.m.Window)
				return
			}
			if w != nil {
				v.m.ExportRequestTo(w, req)
			}
		}, v.m.Window)
		save.SetFileName(v.exportFileName(req, exportFormats[format.Selected][1]))
		save.Show()
	}, v.m.Window)
	d.Resize(fyne.NewSize(520, 320))
	d.Show()
}

// ExportRequestTo writes the readings req selects to w and closes it, with progress shown.
func (m *MainWindow) ExportRequestTo(w io.WriteCloser, req ExportRequest) {
	m.exportWith(w, strings.ToUpper(req.Format), func(ctx context.Context, cw io.Writer) error {
		return m.deps.Export.Export(ctx, cw, req)
	})
}

// exportWith runs export into w off the UI goroutine with the progress bar shown, closes w,
// and says how much was written of what (CSV, JSON, PARQUET) or what went wrong.
func (m *MainWindow) exportWith(w io.WriteCloser, what string, export func(context.Context, io.Writer) error) {
	m.progress.Min, m.progress.Max = 0, 1
	m.progress.SetValue(0)
	m.progLbl.SetText("Exporting…")
	m.progBox.Show()
	backgroundFor(m, 0, func(ctx context.Context) (int64, error) {
		cw := &countingWriter{w: w}
		err := export(ctx, cw)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return cw.n, err
	}, func(n int64, err error) {
		m.progBox.Hide()
		if err != nil {
			dialog.ShowError(fmt.Errorf("export: %w", err), m.Window)
			return
		}
		m.status.SetText(fmt.Sprintf("Exported %s kB of %s.", fmtInt((n+1023)/1024), what))
	})
}

// ImportFolderDialog asks for a folder and imports every Green Button, CIM and Eloverblik file
// in it (the files ending in .xml or .json), several at once.
func (m *MainWindow) ImportFolderDialog() {
	d := dialog.NewFolderOpen(func(dir fyne.ListableURI, err error) {
		if err != nil {
			dialog.ShowError(err, m.Window)
			return
		}
		if dir == nil {
			return
		}
		items, err := dir.List()
		if err != nil {
			dialog.ShowError(fmt.Errorf("list %s: %w", dir.Path(), err), m.Window)
			return
		}
		m.ImportFiles(importable(items))
	}, m.Window)
	d.Show()
}

// importable keeps the paths of the files an import can read, by their extension.
func importable(items []fyne.URI) []string {
	var paths []string
	for _, u := range items {
		ext := strings.ToLower(u.Extension())
		if u.Scheme() == "file" && (ext == ".xml" || ext == ".json") {
			if ok, _ := storage.CanList(u); !ok {
				paths = append(paths, u.Path())
			}
		}
	}
	return paths
}
