package events

import (
	"io/fs"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchemas compiles every embedded schema, format assertions on, and
// returns them by file name.
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	names, err := fs.Glob(Schemas, "schemas/*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded schemas: %v, %v", names, err)
	}
	ids := map[string]string{}
	for _, name := range names {
		f, err := Schemas.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if !strings.HasSuffix(id, "/"+strings.TrimPrefix(name, "schemas/")) {
			t.Errorf("%s: $id %q does not end with its file name", name, id)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ids[strings.TrimPrefix(name, "schemas/")] = id
	}
	out := map[string]*jsonschema.Schema{}
	for name, id := range ids {
		s, err := c.Compile(id)
		if err != nil {
			t.Fatalf("compiling %s: %v", name, err)
		}
		out[name] = s
	}
	if diff := cmp.Diff([]string{"cookreport.json", "email.json", "order.json", "summary-request.json", "summary.json", "vendorreport.json"}, sortedKeys(out)); diff != "" {
		t.Errorf("schemas (-want, +got):\n%s", diff)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

func schemaAccepts(t *testing.T, s *jsonschema.Schema, doc string) bool {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("sample %q is not JSON: %v", doc, err)
	}
	return s.Validate(v) == nil
}

// TestSchemasAgreeWithGo validates samples with both the JSON Schema and the
// Go decoder. Where Go is stricter than a schema can say, the case says why.
func TestSchemasAgreeWithGo(t *testing.T) {
	schemas := compileSchemas(t)
	goOrder := func(doc string) bool { _, err := DecodeOrder([]byte(doc)); return err == nil }
	goRequest := func(doc string) bool { _, _, err := DecodeSummaryRequest([]byte(doc)); return err == nil }
	goSummary := func(doc string) bool {
		e := cloudevents.NewEvent()
		e.SetType(TypeSummaryCreated)
		e.DataEncoded = []byte(doc)
		_, err := SummaryFromEvent(e)
		return err == nil
	}
	goCooks := func(doc string) bool {
		e := cloudevents.NewEvent()
		e.SetType(TypeCookReportCreated)
		e.DataEncoded = []byte(doc)
		_, err := CookReportFromEvent(e)
		return err == nil
	}
	goVendors := func(doc string) bool {
		e := cloudevents.NewEvent()
		e.SetType(TypeVendorReportCreated)
		e.DataEncoded = []byte(doc)
		_, err := VendorReportFromEvent(e)
		return err == nil
	}
	vendor := func(entry string) string { return `{"fecha":"13/11/2021","vendedores":{"a@b.cl":` + entry + `}}` }
	const (
		listed  = `"ordenes":[{"order_id":3,"hora":"2021-11-13T10:15:04-03:00","numero_sopaipillas":15},{"order_id":9,"hora":"2021-11-13T12:01:00.25-03:00","numero_sopaipillas":86}]`
		counted = `"n_sopaipillas":101,"n_ordenes":2,` + listed + `,"ordenes_no_listadas":0`
		none    = `"no_contadas":[]`
		one     = `"no_contadas":[{"order_id":7,"numero_sopaipillas":10,"motivo":"lower_partition","contada":{"email_vendedor":"c@d.cl","numero_sopaipillas":20}}]`
	)
	tests := []struct {
		schema     string            // schema file
		doc        string            // sample payload
		goValid    func(string) bool // the Go validation of that payload
		want       bool              // Go accepts it
		goStricter string            // when set, the schema accepts what Go refuses, and why
	}{
		{schema: "order.json", goValid: goOrder, want: true, doc: seedOrder},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("nota", `{"a":[1,2]}`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("order_id", `9007199254740991`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("numero_sopaipillas", `1000`)},
		{schema: "order.json", goValid: goOrder, doc: `{}`},
		{schema: "order.json", goValid: goOrder, doc: `[]`},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", "")},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `null`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `0`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `-1`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `1.5`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `"3"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `9007199254740992`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("order_id", `9223372036854775808`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("numero_sopaipillas", `0`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("numero_sopaipillas", `1001`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("numero_sopaipillas", `[15]`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"vendor"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `""`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `7`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"Ana <a@b.cl>"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"a@b.cl, c@d.cl"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_cocinero", `"c@d.cl\r\nBcc: x@y.cl"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_cocinero", `"`+strings.Repeat("c", 250)+`@d.cl"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"ñandú@pérez.cl"`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("email_vendedor", `"a@b"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"a@[127.0.0.1]"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"\"a b\"@b.cl"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"a..b@b.cl"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `".a@b.cl"`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("email_vendedor", `"`+strings.Repeat("a", 65)+`@b.cl"`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("email_vendedor", `"`+strings.Repeat("a", 64)+`@b.cl"`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("order_id", `3.0`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("numero_sopaipillas", `1e1`)},
		{schema: "order.json", goValid: goOrder, doc: orderWith("nota", `[[[[[[[[[1]]]]]]]]]`)},
		{schema: "order.json", goValid: goOrder, want: true, doc: orderWith("nota", `[[[[[[[[1]]]]]]]]`)},

		{schema: "summary-request.json", goValid: goRequest, want: true, doc: `{}`},
		{schema: "summary-request.json", goValid: goRequest, want: true, doc: `{"fecha":"13/11/2021"}`},
		{schema: "summary-request.json", goValid: goRequest, want: true, doc: `{"fecha":"29/02/2024"}`},
		{schema: "summary-request.json", goValid: goRequest, doc: `{"fecha":"2021-11-13"}`},
		{schema: "summary-request.json", goValid: goRequest, doc: `{"fecha":"1/1/2025"}`},
		{schema: "summary-request.json", goValid: goRequest, doc: `{"fecha":13}`},
		{schema: "summary-request.json", goValid: goRequest, doc: `{"dia":"13/11/2021"}`},
		{schema: "summary-request.json", goValid: goRequest, doc: `[]`},
		{schema: "summary-request.json", goValid: goRequest, doc: `{"fecha":"31/02/2025"}`, goStricter: "a pattern cannot know the calendar"},
		{schema: "summary-request.json", goValid: goRequest, doc: `{"fecha":null}`},

		{schema: "summary.json", goValid: goSummary, want: true, doc: seedSummary},
		{schema: "summary.json", goValid: goSummary, want: true, doc: `{"ventas":{},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, want: true, doc: `{"fecha":"13/11/2021","ventas":{"a@b.cl":{"n_ordenes":2,"n_sopaipillas":30},"c@d.cl":{"n_sopaipillas":1,"n_ordenes":1}}}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{}}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":null,"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{},"fecha":"2021-11-13"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{},"fecha":"13/11/2021","extra":1}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"vendor":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":0,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":1.5,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, want: true, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":2.0,"n_ordenes":1e0}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":9223372036854775808,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1,"total":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":2}},"fecha":"13/11/2021"}`, goStricter: "a schema cannot compare two fields"},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{},"fecha":"31/02/2025"}`, goStricter: "a pattern cannot know the calendar"},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"n_sopaipillas":3,"n_ordenes":1,"N_SOPAIPILLAS":999}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"a@b.cl":{"N_Sopaipillas":3,"N_Ordenes":1}},"fecha":"13/11/2021"}`},
		// One mailbox, one vendor: a summary naming A@B.CO and a@b.co would mail one box twice.
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"A@B.CL":{"n_sopaipillas":2,"n_ordenes":1},"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "summary.json", goValid: goSummary, doc: `{"ventas":{"Ana@b.cl":{"n_sopaipillas":2,"n_ordenes":1}},"fecha":"13/11/2021"}`},

		{schema: "cookreport.json", goValid: goCooks, want: true, doc: `{"cocinero":"c@d.cl","n_sopaipillas":15,"n_ordenes":2,"vendedores":{"a@b.cl":{"n_sopaipillas":10,"n_ordenes":1},"e@f.cl":{"n_sopaipillas":5,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"c@d.cl","n_sopaipillas":1,"n_ordenes":1,"vendedores":{},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"n_sopaipillas":1,"n_ordenes":1,"vendedores":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"cook","n_sopaipillas":1,"n_ordenes":1,"vendedores":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"c@d.cl","n_sopaipillas":1,"n_ordenes":1,"vendedores":{"vendor":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"c@d.cl","n_sopaipillas":0,"n_ordenes":1,"vendedores":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"c@d.cl","n_sopaipillas":1,"n_ordenes":1,"vendedores":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021","extra":1}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"c@d.cl","N_SOPAIPILLAS":1,"n_sopaipillas":1,"n_ordenes":1,"vendedores":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"13/11/2021"}`},
		{schema: "cookreport.json", goValid: goCooks, doc: `{"cocinero":"c@d.cl","n_sopaipillas":1,"n_ordenes":1,"vendedores":{"a@b.cl":{"n_sopaipillas":1,"n_ordenes":1}},"fecha":"2021-11-13"}`},

		{schema: "vendorreport.json", goValid: goVendors, want: true, doc: vendor(`{` + counted + `,` + one + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, want: true, doc: vendor(`{` + counted + `,` + none + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, want: true, doc: vendor(`{"n_sopaipillas":0,"n_ordenes":0,"ordenes":[],"ordenes_no_listadas":0,` + one + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, want: true, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":3,` + listed + `,"ordenes_no_listadas":1,` + none + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, want: true, doc: vendor(`{` + counted + `,"no_contadas":[{"order_id":7,"numero_sopaipillas":10,"motivo":"later_in_partition"}]}`)},
		{schema: "vendorreport.json", goValid: goVendors, want: true, doc: `{"fecha":"13/11/2021","vendedores":{"a@b.cl":{` + counted + `,` + none + `},"e@f.cl":{"n_sopaipillas":0,"n_ordenes":0,"ordenes":[],"ordenes_no_listadas":0,` + one + `}}}`},
		{schema: "vendorreport.json", goValid: goVendors, doc: `{"fecha":"13/11/2021","vendedores":{}}`},
		{schema: "vendorreport.json", goValid: goVendors, doc: `{"fecha":"13/11/2021"}`},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `,` + none + `,"extra":1}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: `{"fecha":"13/11/2021","vendedores":{"A@b.cl":{` + counted + `,` + none + `}}}`},
		{schema: "vendorreport.json", goValid: goVendors, doc: `{"fecha":"13/11/2021","vendedores":{"vendor":{` + counted + `,` + none + `}}}`},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":-1,"n_ordenes":0,"ordenes":[],"ordenes_no_listadas":0,` + one + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `,"no_contadas":[{"order_id":7,"numero_sopaipillas":10,"motivo":"otro"}]}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `,"no_contadas":[{"order_id":7,"numero_sopaipillas":1001,"motivo":"earlier_day"}]}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `,"no_contadas":[{"order_id":0,"numero_sopaipillas":1,"motivo":"earlier_day"}]}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `,"no_contadas":[{"order_id":7,"numero_sopaipillas":1,"motivo":"earlier_day","contada":{"email_vendedor":"C@d.cl","numero_sopaipillas":1}}]}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{` + counted + `,"no_contadas":[{"order_id":7,"numero_sopaipillas":1,"motivo":"earlier_day","contada":{"numero_sopaipillas":1}}]}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,"ordenes":[{"order_id":3,"hora":"2021-11-13 10:15:04-03:00","numero_sopaipillas":15}],"ordenes_no_listadas":1,` + none + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,"ordenes":[{"order_id":3,"hora":"2021-11-13T10:15:04","numero_sopaipillas":15}],"ordenes_no_listadas":1,` + none + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,"ordenes":[{"order_id":3,"hora":"2021-11-13T10:15:04-03:00","numero_sopaipillas":0}],"ordenes_no_listadas":1,` + none + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,"ordenes":[{"order_id":3,"hora":"2021-11-13T10:15:04-03:00","numero_sopaipillas":15,"vendedor":"a@b.cl"}],"ordenes_no_listadas":1,` + none + `}`)},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,"ordenes":[{"order_id":3,"hora":"2021-11-13T25:15:04-03:00","numero_sopaipillas":15}],"ordenes_no_listadas":1,` + none + `}`), goStricter: "a pattern cannot know the clock"},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,` + listed + `,"ordenes_no_listadas":5,` + none + `}`), goStricter: "a schema cannot compare two fields"},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":0,"n_ordenes":0,"ordenes":[],"ordenes_no_listadas":0,` + none + `}`), goStricter: "a schema cannot compare two fields"},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":1,"n_ordenes":2,` + listed + `,"ordenes_no_listadas":0,` + none + `}`), goStricter: "a schema cannot compare two fields"},
		{schema: "vendorreport.json", goValid: goVendors, doc: vendor(`{"n_sopaipillas":101,"n_ordenes":2,"ordenes":[{"order_id":9,"hora":"2021-11-13T12:01:00-03:00","numero_sopaipillas":86},{"order_id":3,"hora":"2021-11-13T10:15:04-03:00","numero_sopaipillas":15}],"ordenes_no_listadas":0,` + none + `}`), goStricter: "a schema cannot compare array items"},
		{schema: "vendorreport.json", goValid: goVendors, doc: `{"fecha":"31/02/2025","vendedores":{"a@b.cl":{` + counted + `,` + none + `}}}`, goStricter: "a pattern cannot know the calendar"},
	}
	for _, tt := range tests {
		t.Run(tt.schema+" "+tt.doc[:min(len(tt.doc), 60)], func(t *testing.T) {
			gotGo := tt.goValid(tt.doc)
			gotSchema := schemaAccepts(t, schemas[tt.schema], tt.doc)
			if gotGo != tt.want {
				t.Errorf("Go accepts = %v, want %v", gotGo, tt.want)
			}
			wantSchema := tt.want || tt.goStricter != ""
			if gotSchema != wantSchema {
				t.Errorf("schema accepts = %v, want %v (Go accepts = %v)", gotSchema, wantSchema, gotGo)
			}
		})
	}
}
