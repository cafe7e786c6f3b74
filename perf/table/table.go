// Package table writes perf's result tables: as aligned text for people
// (names left, numbers right, then the rows' errors and the notes) and as
// CSV with full-precision numbers for tools. Package harness (the first
// table of make perf) and package kclient (the second) both use it.
package table

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Column is one column of a table of rows of type R: its heading in the
// text and in the CSV, the fmt verb of its text cells, and its value for
// a row given the row that the row's ratios are taken against; ok false
// means not measured.
type Column[R any] struct {
	Head, CSV, Format string
	Value             func(r, base R) (v float64, ok bool)
}

// NewColumn returns a Column; its arguments are the fields in order.
func NewColumn[R any](head, csv, format string, value func(r, base R) (float64, bool)) Column[R] {
	return Column[R]{Head: head, CSV: csv, Format: format, Value: value}
}

// Table is a table of rows of type R.
type Table[R any] struct {
	Columns []Column[R]
	Rows    []R
	Name    func(r R) string   // the first column
	Errors  func(r R) []string // why cells of r are missing
	Base    func(r R) R        // the row r's ratios are taken against
	// Heading, when set, gives a column's text heading instead of Head.
	Heading func(c Column[R]) string
}

// WriteText prints the table, a line for each error of each row, and the
// notes.
func (t Table[R]) WriteText(w io.Writer, notes []string) error {
	pad := len("system")
	for _, r := range t.Rows {
		pad = max(pad, len(t.Name(r)))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cells := []string{fmt.Sprintf("%-*s", pad, "system")}
	for _, c := range t.Columns {
		head := c.Head
		if t.Heading != nil {
			head = t.Heading(c)
		}
		cells = append(cells, head)
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	for _, r := range t.Rows {
		cells = []string{fmt.Sprintf("%-*s", pad, t.Name(r))}
		for _, c := range t.Columns {
			cell := "-"
			if v, ok := c.Value(r, t.Base(r)); ok {
				cell = fmt.Sprintf(c.Format, v)
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range t.Rows {
		for _, e := range t.Errors(r) {
			fmt.Fprintf(w, "error: %s: %s\n", t.Name(r), e)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// WriteCSV writes the table with full-precision numbers, an empty cell
// where a value was not measured, and the errors in a last column.
func (t Table[R]) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := []string{"system"}
	for _, c := range t.Columns {
		rec = append(rec, c.CSV)
	}
	if err := cw.Write(append(rec, "errors")); err != nil {
		return err
	}
	for _, r := range t.Rows {
		rec = []string{t.Name(r)}
		for _, c := range t.Columns {
			cell := ""
			if v, ok := c.Value(r, t.Base(r)); ok {
				cell = strconv.FormatFloat(v, 'g', 6, 64)
			}
			rec = append(rec, cell)
		}
		if err := cw.Write(append(rec, strings.Join(t.Errors(r), "; "))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Save prints text to stdout and writes it to dir/name.txt, then writes
// each of files (name -> writer) into dir, which it creates if need be.
func Save(dir, name, text string, stdout io.Writer, files map[string]func(io.Writer) error) error {
	fmt.Fprint(stdout, text)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(text), 0o644); err != nil {
		return err
	}
	for file, write := range files {
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		werr := write(f)
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return fmt.Errorf("%s: %w", file, werr)
		}
	}
	return nil
}
