package salesboard

import "github.com/sopaipillas/sopaipillas/functions/internal/vendors"

// Names returns the display name of a vendor's address, or "" when there
// is none: the board shows the name, with the address beneath it.
type Names func(email string) string

// RegistryNames are the names of the registry current gets (a
// vendors.Watcher's Registry, reloaded as the file changes); nil current
// (no VENDORS_FILE) knows no names.
func RegistryNames(current func() *vendors.Registry) Names {
	return func(email string) string {
		if current == nil {
			return ""
		}
		if reg := current(); reg != nil {
			return reg.Name(email)
		}
		return ""
	}
}

// namedDay is a View as GET /api/days/{fecha} and the event "dia" send it:
// each vendor with its name from the registry (api/openapi.yaml, BoardDay).
// The summary and its "ventas", keyed by address, are as dailySummary's.
type namedDay struct {
	View
	Vendedores []namedSales     `json:"vendedores"`
	NoContadas []namedUncounted `json:"no_contadas"`
}

// namedUncounted is an uncounted version with its vendor's name, omitted
// for an address the registry does not name.
type namedUncounted struct {
	Uncounted
	Nombre string `json:"nombre,omitempty"`
}

// namedSales is one line of the ranking with the vendor's name; Nombre is
// omitted for an address the registry does not name.
type namedSales struct {
	VendorSales
	Nombre string `json:"nombre,omitempty"`
}

// Shown is what a person reads for the vendor: the name, or the address
// where there is none.
func (s namedSales) Shown() string {
	if s.Nombre != "" {
		return s.Nombre
	}
	return s.Vendedor
}

// named adds the names to a view.
func (h *Handler) named(v View) namedDay {
	d := namedDay{View: v, Vendedores: make([]namedSales, len(v.Vendedores)), NoContadas: make([]namedUncounted, len(v.NoContadas))}
	for i, s := range v.Vendedores {
		d.Vendedores[i] = namedSales{VendorSales: s}
		if h.names != nil {
			d.Vendedores[i].Nombre = h.names(s.Vendedor)
		}
	}
	for i, u := range v.NoContadas {
		d.NoContadas[i] = namedUncounted{Uncounted: u}
		if h.names != nil {
			d.NoContadas[i].Nombre = h.names(u.Vendedor)
		}
	}
	return d
}
