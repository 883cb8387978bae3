package problem

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/events"
)

// TestWriteDoesNotEscapeHTML: a problem body reads as written: "Bearer
// <key>" and "&" are not "\u003ckey\u003e" and "\u0026", and the body
// still decodes to the same details.
func TestWriteDoesNotEscapeHTML(t *testing.T) {
	for _, detail := range []string{
		"send Authorization: Bearer <BOARD_TOKEN>",
		"a & b > c",
		"Pérez <ana@feria.cl>",
	} {
		rec := httptest.NewRecorder()
		Write(rec, 401, detail, []events.FieldError{{Field: "Authorization", Detail: "must be Bearer <key>"}})
		body := rec.Body.String()
		if !strings.Contains(body, `"detail":"`+detail+`"`) || !strings.Contains(body, "Bearer <key>") {
			t.Errorf("body %s: want %q as written", body, detail)
		}
		var got Details
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := Details{Type: "about:blank", Title: "Unauthorized", Status: 401, Detail: detail, Errors: []events.FieldError{{Field: "Authorization", Detail: "must be Bearer <key>"}}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("decoded (-want, +got):\n%s", d)
		}
	}
}

func TestMarshal(t *testing.T) {
	b, err := Marshal(map[string]string{"a": "<b>&"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"a":"<b>&"}` {
		t.Errorf("Marshal = %s", b)
	}
}
