package salesboard

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strconv"

	"github.com/sopaipillas/sopaipillas/events"
)

// csvHeader is the CSV's one header row, in the board's words.
var csvHeader = []string{"Correo", "Nombre", "Órdenes", "Sopaipillas"}

// utf8BOM starts the CSV: Excel reads a CSV without it in the system's
// legacy code page (Windows-1252), so "Órdenes" and "Pérez" arrive
// garbled; with it, Excel, LibreOffice, Numbers and Google Sheets all read
// UTF-8, and readers that know the BOM (Python's "utf-8-sig") drop it.
const utf8BOM = "\ufeff"

// writeCSV answers the day as CSV (RFC 4180: CRLF line ends, fields quoted
// as needed, one header row): a row per vendor in the board's order, with
// the address, the registry's name ("" without one), orders and
// sopaipillas as plain integers, for a spreadsheet to add up.
func writeCSV(w http.ResponseWriter, day events.Date, v namedDay) {
	var buf bytes.Buffer
	buf.WriteString(utf8BOM)
	c := csv.NewWriter(&buf)
	c.UseCRLF = true
	_ = c.Write(csvHeader)
	for _, s := range v.Vendedores {
		_ = c.Write([]string{cell(s.Vendedor), cell(s.Nombre), strconv.FormatInt(s.NOrdenes, 10), strconv.FormatInt(s.NSopaipillas, 10)})
	}
	c.Flush() // writes to a buffer: no error
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="ventas-`+day.URL()+`.csv"`)
	_, _ = buf.WriteTo(w)
}

// cell defuses a text a spreadsheet would run as a formula (OWASP, "CSV
// Injection"): one starting with =, +, -, @, tab or carriage return gets
// a leading apostrophe. Addresses may start with = or + (RFC 5322 atext),
// names are whatever the registry holds.
func cell(s string) string {
	if s != "" && bytes.ContainsRune([]byte("=+-@\t\r"), rune(s[0])) {
		return "'" + s
	}
	return s
}
