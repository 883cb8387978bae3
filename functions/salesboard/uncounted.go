package salesboard

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
)

// Uncounted is a version of an order that the day does not count (a
// conflict, dayread.Conflict: the order_id came again with another body),
// as the board tells the owner (issue 23 §6): what the vendor sent, what
// counts instead and why, in Spanish.
type Uncounted struct {
	OrderID int64 `json:"order_id"`
	// Vendedor (canonical) and Enviadas are what this version sent.
	Vendedor string `json:"email_vendedor"`
	Enviadas int64  `json:"enviadas"`
	// Contadas and ContadasPor are the sopaipillas and the vendor of the
	// version that counts, omitted when the day read does not know them:
	// for a later version in the same partition it keeps only a hash of
	// the first one.
	Contadas    int64  `json:"contadas,omitempty"`
	ContadasPor string `json:"contadas_por,omitempty"`
	// Motivo is why (dayread's Reason*: later_in_partition, earlier_day,
	// lower_partition).
	Motivo string `json:"motivo"`
	// Texto says what was sent and what counts; PorQue says why: the
	// sentences the page shows.
	Texto  string `json:"texto"`
	PorQue string `json:"por_que"`
}

// uncounted is the day's conflicts as the board shows them: by vendor,
// then order_id, then where they are.
func uncounted(cs []dayread.Conflict) []Uncounted {
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b dayread.Conflict) int {
		return cmp.Or(cmp.Compare(a.EmailVendedor, b.EmailVendedor), cmp.Compare(a.OrderID, b.OrderID))
	})
	out := make([]Uncounted, 0, len(cs))
	for _, c := range cs {
		u := Uncounted{OrderID: c.OrderID, Vendedor: c.EmailVendedor, Enviadas: c.NumeroSopaipillas,
			Contadas: c.Counted.NumeroSopaipillas, ContadasPor: c.Counted.EmailVendedor, Motivo: c.Reason}
		u.Texto, u.PorQue = uncountedText(u)
		out = append(out, u)
	}
	return out
}

// uncountedText says, in Spanish, what a version sent and what counts
// instead, and why it does not count.
func uncountedText(u Uncounted) (texto, porQue string) {
	texto = fmt.Sprintf("Envió %s %s; ", miles(u.Enviadas), plural(u.Enviadas, "sopaipilla", "sopaipillas"))
	switch {
	case u.Contadas == 0:
		texto += "cuenta la primera versión que llegó, con otros datos."
	case u.ContadasPor != "" && u.ContadasPor != u.Vendedor:
		texto += fmt.Sprintf("cuenta la de %s, con %s %s.", u.ContadasPor, miles(u.Contadas), plural(u.Contadas, "sopaipilla", "sopaipillas"))
	default:
		texto += fmt.Sprintf("cuenta la versión con %s %s.", miles(u.Contadas), plural(u.Contadas, "sopaipilla", "sopaipillas"))
	}
	switch u.Motivo {
	case dayread.ReasonLaterInPartition:
		porQue = "Este número de orden ya había llegado con otros datos: cada orden cuenta una sola vez, tal como llegó primero."
	case dayread.ReasonEarlierDay:
		porQue = "Este número de orden ya había llegado un día antes: cuenta la primera, en su día."
	case dayread.ReasonLowerPartition:
		porQue = "Este número de orden llegó el mismo día dos veces con otros datos: cuenta una sola de ellas."
	default:
		porQue = "Este número de orden llegó más de una vez con otros datos: cuenta una sola."
	}
	return texto, porQue
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
