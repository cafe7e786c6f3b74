package table

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type row struct {
	name string
	v    float64
	errs []string
}

func testTable() Table[row] {
	rows := []row{{name: "base", v: 2}, {name: "longer name", v: 3}, {name: "failed", errs: []string{"boom"}}}
	return Table[row]{
		Columns: []Column[row]{
			NewColumn("value", "value", "%.1f", func(r, _ row) (float64, bool) { return r.v, r.v > 0 }),
			NewColumn("ratio", "ratio", "%.2f×", func(r, b row) (float64, bool) { return r.v / b.v, r.v > 0 }),
		},
		Rows:   rows,
		Name:   func(r row) string { return r.name },
		Errors: func(r row) []string { return r.errs },
		Base:   func(row) row { return rows[0] },
	}
}

func TestWriteText(t *testing.T) {
	var b strings.Builder
	require.NoError(t, testTable().WriteText(&b, []string{"a note"}))
	assert.Equal(t, ""+ // tabwriter's padding also goes before the first cell
		"  system       value  ratio\n"+
		"  base           2.0  1.00×\n"+
		"  longer name    3.0  1.50×\n"+
		"  failed           -      -\n"+
		"error: failed: boom\n"+
		"a note\n", strings.ReplaceAll(b.String(), " \n", "\n"))
}

func TestWriteCSV(t *testing.T) {
	var b strings.Builder
	require.NoError(t, testTable().WriteCSV(&b))
	assert.Equal(t, "system,value,ratio,errors\nbase,2,1,\nlonger name,3,1.5,\nfailed,,,boom\n", b.String())
}

func TestSave(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	var out strings.Builder
	tab := testTable()
	require.NoError(t, Save(dir, "t", "text\n", &out, map[string]func(w io.Writer) error{"t.csv": tab.WriteCSV}))
	assert.Equal(t, "text\n", out.String())
	txt, err := os.ReadFile(filepath.Join(dir, "t.txt"))
	require.NoError(t, err)
	assert.Equal(t, "text\n", string(txt))
	csv, err := os.ReadFile(filepath.Join(dir, "t.csv"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(csv), "system,value"))
}
