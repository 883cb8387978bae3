package events

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeSummaryRequest(t *testing.T) {
	tests := []struct {
		name    string // what the case shows
		in      string // request body
		want    Date   // the day asked for
		wantOK  bool   // a day was given
		wantErr string // "syntax", "validation" or ""
		field   string // the field named by the error
	}{
		{name: "empty body", in: ``},
		{name: "only whitespace", in: " \r\n\t"},
		{name: "empty object", in: `{}`},
		{name: "seed day", in: `{"fecha": "13/11/2021"}`, want: Date{2021, 11, 13}, wantOK: true},
		{name: "leap day", in: `{"fecha":"29/02/2024"}`, want: Date{2024, 2, 29}, wantOK: true},
		{name: "escaped digits", in: `{"fecha":"\u0031\u0033/11/2021"}`, want: Date{2021, 11, 13}, wantOK: true},

		{name: "day that does not exist", in: `{"fecha":"31/02/2025"}`, wantErr: "validation", field: "fecha"},
		{name: "29 February of a common year", in: `{"fecha":"29/02/2025"}`, wantErr: "validation", field: "fecha"},
		{name: "ISO format", in: `{"fecha":"2025-11-13"}`, wantErr: "validation", field: "fecha"},
		{name: "single digits", in: `{"fecha":"1/1/2025"}`, wantErr: "validation", field: "fecha"},
		{name: "two-digit year", in: `{"fecha":"13/11/21"}`, wantErr: "validation", field: "fecha"},
		{name: "time attached", in: `{"fecha":"13/11/2021 00:00"}`, wantErr: "validation", field: "fecha"},
		{name: "empty fecha", in: `{"fecha":""}`, wantErr: "validation", field: "fecha"},
		{name: "null fecha", in: `{"fecha":null}`, wantErr: "validation", field: "fecha"},
		{name: "number fecha", in: `{"fecha":13112021}`, wantErr: "validation", field: "fecha"},
		{name: "array fecha", in: `{"fecha":["13/11/2021"]}`, wantErr: "validation", field: "fecha"},
		{name: "object fecha", in: `{"fecha":{"d":13}}`, wantErr: "validation", field: "fecha"},
		{name: "unknown field", in: `{"fecha":"13/11/2021","dia":"14/11/2021"}`, wantErr: "validation", field: "dia"},
		{name: "mistyped fecha", in: `{"Fecha":"13/11/2021"}`, wantErr: "validation", field: "Fecha"},
		{name: "duplicate fecha", in: `{"fecha":"13/11/2021","fecha":"14/11/2021"}`, wantErr: "syntax", field: "fecha"},
		{name: "not JSON", in: `fecha=13/11/2021`, wantErr: "syntax"},
		{name: "array", in: `[]`, wantErr: "syntax"},
		{name: "string", in: `"13/11/2021"`, wantErr: "syntax"},
		{name: "null", in: `null`, wantErr: "syntax"},
		{name: "truncated", in: `{"fecha":`, wantErr: "syntax", field: "fecha"},
		{name: "trailing data", in: `{}{}`, wantErr: "syntax"},
		{name: "invalid UTF-8", in: "{\"fecha\":\"\xff\"}", wantErr: "syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := DecodeSummaryRequest([]byte(tt.in))
			gotErr := ""
			switch {
			case IsSyntax(err):
				gotErr = "syntax"
			case IsValidation(err):
				gotErr = "validation"
			case err != nil:
				gotErr = "other: " + err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("DecodeSummaryRequest(%q) error %v, want kind %q", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if fs := Fields(err); len(fs) != 1 || fs[0].Field != tt.field {
					t.Errorf("fields %+v, want one naming %q", fs, tt.field)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || ok != tt.wantOK {
				t.Errorf("DecodeSummaryRequest: ok = %v, want %v; day (-want, +got):\n%s", ok, tt.wantOK, diff)
			}
		})
	}
}
