package salesboard

import (
	"testing"

	"github.com/sopaipillas/sopaipillas/functions/internal/dayread"
)

// TestUncountedText: each reason, and what counts when it is known, said
// in Spanish, with the Chilean thousands and singular for one.
func TestUncountedText(t *testing.T) {
	tests := []struct {
		u             Uncounted
		texto, porQue string
	}{
		{Uncounted{Vendedor: "a@x.cl", Enviadas: 1500, Motivo: dayread.ReasonLaterInPartition},
			"Envió 1.500 sopaipillas; cuenta la primera versión que llegó, con otros datos.",
			"Este número de orden ya había llegado con otros datos: cada orden cuenta una sola vez, tal como llegó primero."},
		{Uncounted{Vendedor: "a@x.cl", Enviadas: 10, Contadas: 20, ContadasPor: "a@x.cl", Motivo: dayread.ReasonEarlierDay},
			"Envió 10 sopaipillas; cuenta la versión con 20 sopaipillas.",
			"Este número de orden ya había llegado un día antes: cuenta la primera, en su día."},
		{Uncounted{Vendedor: "a@x.cl", Enviadas: 1, Contadas: 1, ContadasPor: "b@x.cl", Motivo: dayread.ReasonLowerPartition},
			"Envió 1 sopaipilla; cuenta la de b@x.cl, con 1 sopaipilla.",
			"Este número de orden llegó el mismo día dos veces con otros datos: cuenta una sola de ellas."},
	}
	for _, tt := range tests {
		texto, porQue := uncountedText(tt.u)
		if texto != tt.texto || porQue != tt.porQue {
			t.Errorf("%+v:\n got %q %q\nwant %q %q", tt.u, texto, porQue, tt.texto, tt.porQue)
		}
	}
}
