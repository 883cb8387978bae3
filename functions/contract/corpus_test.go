package contract

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
)

// body is one payload of the differential corpus: which schema judges it
// and the exact bytes a client sends.
type body struct {
	Schema string // file in events/schemas
	Name   string // what the case shows
	Data   []byte
}

// The differential test's clock: 13/11/2025 15:00 in Santiago, with the
// default retention of 72 hours the oldest day dailySummary can summarize
// is 11/11/2025.
const (
	corpusNow    = "2025-11-13T15:00:00-03:00"
	corpusToday  = "13/11/2025"
	corpusOldest = "11/11/2025"
)

// numberSpellings are integer fields' values: integral numbers in every
// spelling, fractions, bounds, and values of other types.
var numberSpellings = []string{
	`15`, `15.0`, `1e1`, `1E1`, `1.5e1`, `150e-1`, `1.50E+1`, `0.15e2`, `15.000000000000000000001`, `15.5`,
	`1`, `1.0`, `0`, `-0`, `0.0`, `0e5`, `-1`, `-1.0`, `1000`, `1000.0`, `1e3`, `10e2`, `1001`, `1.001e3`,
	`9007199254740991`, `9007199254740991.0`, `9.007199254740991e15`, `9007199254740992`, `9007199254740993.0`,
	`9223372036854775807`, `9223372036854775808`, `1e16`, `1e400`, `1e-400`, `2e-1`, `0.5`, `-15`,
	`"15"`, `true`, `null`, `[15]`, `{"n":15}`,
	`01`, `+1`, `.5`, `1.`, `1e`, `NaN`, `Infinity`, `-Infinity`, `0x10`,
}

// emailSpellings are address values (JSON string literals or other JSON),
// valid and invalid.
var emailSpellings = []string{
	`"vendor_tarea2@yopmail.com"`, `"Pedro@EXAMPLE.com"`, `"a@b"`, `"a@b.cl"`, `"a.b.c@d.e.f"`, `"ana+ventas@mail.sopaipillas.cl"`,
	`"!#$%&'*+/=?^_` + "`" + `{|}~-@example.com"`, `"o'brien@example.ie"`, `"user@xn--mller-kva.de"`, `"a@1.2.3.4"`,
	`"a@b-c.cl"`, `"a@b--c.cl"`, `"1@2"`, `"a\u0040b.cl"`, `"\u0061@b.cl"`,
	`"` + strings.Repeat("a", 64) + `@b.cl"`, `"` + strings.Repeat("a", 65) + `@b.cl"`,
	`"a@` + strings.Repeat("b", 63) + `.cl"`, `"a@` + strings.Repeat("b", 64) + `.cl"`,
	`"` + longAddress(254) + `"`, `"` + longAddress(255) + `"`, `"` + longAddress(300) + `"`,
	`"` + strings.Repeat("ñ", 130) + `@b.cl"`, `"` + strings.Repeat("\\u00f1", 130) + `@b.cl"`,
	`"\"john\"@example.com"`, `"\"a b\"@b.cl"`, `"vendor@müller.de"`, `"ñandú@b.cl"`, `"vendor@xn--mller-kva.de"`,
	`"a@[127.0.0.1]"`, `"a@[IPv6:::1]"`, `"Ana <a@b.cl>"`, `"<a@b.cl>"`, `"a@b.cl (Ana)"`, `"a@b.cl, c@d.cl"`, `"a@b.cl;c@d.cl"`,
	`"cocina: a@b.cl, c@d.cl;"`, `"a@b.cl\r\nBcc: x@y.cl"`, `"a@b.cl\n"`, `"a@b.cl\r"`, `"\na@b.cl"`, `"a@b.cl\t"`, `"a\u0000@b.cl"`,
	`"a\u007f@b.cl"`, `" a@b.cl"`, `"a@b.cl "`, `"a b@c.cl"`, `"a@b c.cl"`, `"a\u00a0@b.cl"`, `"a@b.cl\u2028"`,
	`"a..b@c.cl"`, `".a@b.cl"`, `"a.@b.cl"`, `"a@b..cl"`, `"a@.b.cl"`, `"a@b.cl."`, `"a@-b.cl"`, `"a@b-.cl"`, `"a@b_c.cl"`,
	`"a@b@c.cl"`, `"@b.cl"`, `"a@"`, `"@"`, `"a"`, `""`, `"a(b)@c.cl"`, `"a,b@c.cl"`, `"a:b@c.cl"`, `"a\\b@c.cl"`, `"a[b]@c.cl"`,
	`"\ud800@b.cl"`, `"a@b.cl\ud83d\ude00"`, `7`, `null`, `["a@b.cl"]`, `{"a":"b"}`, `true`,
}

// longAddress is a valid-looking address of n characters: a 10-character
// local part and labels of at most 63.
func longAddress(n int) string {
	s := "abcdefghij@"
	for len(s) < n {
		label := min(63, n-len(s))
		if len(s)+label+1 < n && n-len(s)-label-1 < 1 {
			label--
		}
		s += strings.Repeat("d", label)
		if len(s) < n-1 {
			s += "."
		}
	}
	return s[:n]
}

func order(id, vendedor, cocinero, numero, extra string) []byte {
	var b strings.Builder
	b.WriteString("{")
	sep := ""
	for _, kv := range [][2]string{{"order_id", id}, {"email_vendedor", vendedor}, {"email_cocinero", cocinero}, {"numero_sopaipillas", numero}} {
		if kv[1] == "" {
			continue
		}
		fmt.Fprintf(&b, `%s"%s": %s`, sep, kv[0], kv[1])
		sep = ", "
	}
	if extra != "" {
		b.WriteString(sep + extra)
	}
	b.WriteString("}")
	return []byte(b.String())
}

const (
	okID   = `3`
	okVend = `"vendor_tarea2@yopmail.com"`
	okCook = `"asdasdasda@yopmail.com"`
	okNum  = `15`
)

func nest(depth int, leaf string) string {
	return strings.Repeat(`{"a":`, depth) + leaf + strings.Repeat("}", depth)
}

func nestArrays(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// corpus is every body of the differential test.
func corpus() []body {
	var out []body
	add := func(schema, name string, data []byte) {
		out = append(out, body{Schema: schema, Name: name, Data: data})
	}
	o := func(name string, data []byte) { add("order.json", name, data) }

	o("seed", order(okID, okVend, okCook, okNum, ""))
	for _, n := range numberSpellings {
		o("order_id "+n, order(n, okVend, okCook, okNum, ""))
		o("numero_sopaipillas "+n, order(okID, okVend, okCook, n, ""))
	}
	for _, e := range emailSpellings {
		o("email_vendedor "+e, order(okID, e, okCook, okNum, ""))
	}
	for _, e := range emailSpellings[:40] {
		o("email_cocinero "+e, order(okID, okVend, e, okNum, ""))
	}
	for _, d := range []int{0, 1, 2, 7, 8, 9, 10, 16, 100, 999, 9999} {
		o(fmt.Sprintf("extra nested %d objects", d), order(okID, okVend, okCook, okNum, `"nota": `+nest(d, "1")))
		o(fmt.Sprintf("extra nested %d arrays", d), order(okID, okVend, okCook, okNum, `"nota": `+nestArrays(d)))
	}
	o("extra nested 20000 arrays", order(okID, okVend, okCook, okNum, `"nota": `+nestArrays(20000)))
	o("extra 8 levels mixed", order(okID, okVend, okCook, okNum, `"nota": [{"a":[{"b":[{"c":[{"d":1}]}]}]}]`))
	o("extra 9 levels mixed", order(okID, okVend, okCook, okNum, `"nota": [{"a":[{"b":[{"c":[{"d":[1]}]}]}]}]`))
	o("extra brackets in strings", order(okID, okVend, okCook, okNum, `"nota": ["[[[[[[[[[[\"{{{{{{{{{{"]`))
	o("two extras, one too deep", order(okID, okVend, okCook, okNum, `"a": 1, "b": `+nestArrays(9)))
	for _, extra := range []string{
		`"nota": "sin azúcar"`, `"nota": null`, `"nota": 1.5`, `"nota": 1e400`, `"nota": 123456789012345678901234567890`, `"nota": -0.0`,
		`"nota": {}`, `"nota": []`, `"nota": true`, `"Order_ID": 4`, `"ORDER_ID": "x"`, `"order id": 4`, `"": 1`, `"mesa": {"n": [1, 2]}`,
		`"nota": "<b>&</b>"`, `"nota": "\u2028\u2029"`, `"nota": "\ud800"`, `"nota": "\udfff\ud800"`, `"nota": "\ud83d\ude00"`, `"nota": "tab\there"`,
		`"nota": {"a": 1, "a": 2}`, `"nota": [{"x": 1, "x": 1}]`, `"\u00e9": 1`, `"e\u0301": 1`,
	} {
		o("extra "+extra, order(okID, okVend, okCook, okNum, extra))
	}
	seed := string(order(okID, okVend, okCook, okNum, ""))
	for name, data := range sorted(map[string]string{
		"duplicate order_id":              strings.Replace(seed, "{", `{"order_id": 4, `, 1),
		"duplicate identical":             strings.Replace(seed, "{", `{"numero_sopaipillas": 15, `, 1),
		"duplicate escaped key":           strings.Replace(seed, "{", `{"order\u005fid": 3, `, 1),
		"escaped contract key":            strings.Replace(seed, `"order_id"`, `"order\u005fid"`, 1),
		"BOM":                             "\ufeff" + seed,
		"BOM escaped in a value":          strings.Replace(seed, "}", `, "nota": "\ufeff"}`, 1),
		"invalid UTF-8 in a value":        strings.Replace(seed, "}", ", \"nota\": \"\xff\xfe\"}", 1),
		"invalid UTF-8 in a key":          strings.Replace(seed, "}", ", \"\xc3\x28\": 1}", 1),
		"overlong UTF-8":                  strings.Replace(seed, "}", ", \"nota\": \"\xc0\xaf\"}", 1),
		"raw control char in a string":    strings.Replace(seed, "}", ", \"nota\": \"a\x01b\"}", 1),
		"raw tab in a string":             strings.Replace(seed, "}", ", \"nota\": \"a\tb\"}", 1),
		"raw U+2028 in a string":          strings.Replace(seed, "}", ", \"nota\": \"a\u2028b\"}", 1),
		"surrounding whitespace":          " \t\r\n" + seed + "\n\n",
		"form feed before":                "\f" + seed,
		"NBSP before":                     "\u00a0" + seed,
		"trailing comma":                  strings.Replace(seed, "}", ",}", 1),
		"trailing garbage":                seed + "x",
		"two objects":                     seed + seed,
		"trailing NUL":                    seed + "\x00",
		"comment":                         "/* hola */" + seed,
		"single quotes":                   strings.ReplaceAll(seed, `"`, `'`),
		"unquoted keys":                   `{order_id: 3, email_vendedor: "a@b.cl", email_cocinero: "c@d.cl", numero_sopaipillas: 1}`,
		"truncated":                       seed[:40],
		"array of the order":              "[" + seed + "]",
		"empty body":                      "",
		"whitespace only":                 "  \n",
		"null":                            "null",
		"string":                          `"hola"`,
		"number":                          `3`,
		"empty object":                    `{}`,
		"missing order_id":                string(order("", okVend, okCook, okNum, "")),
		"missing email_vendedor":          string(order(okID, "", okCook, okNum, "")),
		"missing email_cocinero":          string(order(okID, okVend, "", okNum, "")),
		"missing numero_sopaipillas":      string(order(okID, okVend, okCook, "", "")),
		"form encoded":                    "order_id=3&numero_sopaipillas=15",
		"UTF-16":                          "\xff\xfe{\x00}\x00",
		"extra and every field wrong":     `{"order_id":"x","email_vendedor":1,"email_cocinero":null,"numero_sopaipillas":1e9,"nota":` + nestArrays(12) + `}`,
		"many extras":                     strings.Replace(seed, "}", strings.Repeat(`, "x": 1`, 1)+`, "y": 2, "z": [1, {"w": null}]}`, 1),
		"uppercase exponent with plus":    string(order(`3E+0`, okVend, okCook, `15E-0`, "")),
		"negative zero fraction exponent": string(order(`3`, okVend, okCook, `-0.0e1`, "")),
	}) {
		o(name, []byte(data))
	}
	o("escaped slash in an address", order(okID, `"a\/b@c.cl"`, okCook, okNum, ""))

	r := func(name string, data string) { add("summary-request.json", name, []byte(data)) }
	for _, d := range []string{
		corpusToday, "12/11/2025", corpusOldest, "10/11/2025", "14/11/2025", "13/11/2021", "01/01/2030", "31/12/9999",
		"31/02/2025", "30/02/2024", "29/02/2024", "29/02/2023", "31/04/2025", "31/11/2025", "00/11/2025", "32/11/2025",
		"13/00/2025", "13/13/2025", "13/11/0000", "01/01/0001", "1/11/2025", "13/1/2025", "13/11/25", "13-11-2025", "2025-11-13",
		"13/11/2025 ", " 13/11/2025", "13/11/2025\n", "13/11/20251", "13/11/202a", "١٣/١١/٢٠٢٥", "13\u002f11\u002f2025", "",
	} {
		r("fecha "+d, `{"fecha": "`+strings.ReplaceAll(d, "\n", `\n`)+`"}`)
	}
	for name, data := range sorted(map[string]string{
		"empty":                 "",
		"whitespace":            " \r\n\t",
		"NBSP":                  "\u00a0",
		"form feed":             "\f",
		"empty object":          "{}",
		"empty object spaced":   " { } ",
		"null":                  "null",
		"array":                 "[]",
		"string":                `"13/11/2025"`,
		"fecha number":          `{"fecha": 13112025}`,
		"fecha null":            `{"fecha": null}`,
		"fecha array":           `{"fecha": ["13/11/2025"]}`,
		"fecha object":          `{"fecha": {"d": "13/11/2025"}}`,
		"unknown field":         `{"dia": "13/11/2025"}`,
		"unknown field besides": `{"fecha": "13/11/2025", "x": 1}`,
		"Fecha capitalised":     `{"Fecha": "13/11/2025"}`,
		"duplicate fecha":       `{"fecha": "13/11/2025", "fecha": "12/11/2025"}`,
		"duplicate same fecha":  `{"fecha": "13/11/2025", "fecha": "13/11/2025"}`,
		"escaped key":           `{"f\u0065cha": "13/11/2025"}`,
		"BOM":                   "\ufeff{}",
		"BOM and fecha":         "\ufeff" + `{"fecha": "13/11/2025"}`,
		"invalid UTF-8":         "{\"fecha\": \"\xff\"}",
		"trailing garbage":      `{}x`,
		"two objects":           `{}{}`,
		"truncated":             `{"fecha": "13/11`,
		"lone surrogate":        `{"fecha": "\ud800"}`,
		"PingSource-like body":  `{"body": "close the day"}`,
	}) {
		r(name, data)
	}

	s := func(name, data string) { add("summary.json", name, []byte(data)) }
	c := func(name, data string) { add("cookreport.json", name, []byte(data)) }
	sales := func(v, n, o string) string {
		return `{"ventas": {` + v + `: {"n_sopaipillas": ` + n + `, "n_ordenes": ` + o + `}}, "fecha": "13/11/2021"}`
	}
	cooks := func(k, v, n, o string) string {
		return `{"cocinero": ` + k + `, "n_sopaipillas": ` + n + `, "n_ordenes": ` + o + `, "vendedores": {` + v + `: {"n_sopaipillas": ` + n + `, "n_ordenes": ` + o + `}}, "fecha": "13/11/2021"}`
	}
	for _, n := range []string{`101`, `101.0`, `1.01e2`, `1`, `0`, `-1`, `1.5`, `9007199254740991`, `9007199254740992`, `9223372036854775807`, `9223372036854775808`, `1e400`, `"101"`, `null`, `true`} {
		s("n_sopaipillas "+n, sales(`"vendor_tarea2@yopmail.com"`, n, `1`))
		s("n_ordenes "+n, sales(`"vendor_tarea2@yopmail.com"`, `9007199254740991`, n))
		c("cook n_sopaipillas "+n, cooks(`"c@d.cl"`, `"a@b.cl"`, n, `1`))
		c("cook n_ordenes "+n, cooks(`"c@d.cl"`, `"a@b.cl"`, `9007199254740991`, n))
	}
	for _, e := range emailSpellings {
		if !strings.HasPrefix(e, `"`) {
			continue
		}
		s("vendor key "+e, sales(e, `2`, `1`))
		c("cook key "+e, cooks(e, `"a@b.cl"`, `2`, `1`))
	}
	for _, e := range emailSpellings[:30] {
		c("cook's vendor key "+e, cooks(`"c@d.cl"`, e, `2`, `1`))
	}
	for _, d := range []string{"13/11/2021", "31/02/2025", "29/02/2023", "29/02/2024", "13/13/2021", "2021-11-13", "13/11/0000", "13/11/2021\n"} {
		s("fecha "+d, `{"ventas": {}, "fecha": "`+strings.ReplaceAll(d, "\n", `\n`)+`"}`)
		c("fecha "+d, `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "`+strings.ReplaceAll(d, "\n", `\n`)+`"}`)
	}
	for name, data := range sorted(map[string]string{
		"seed":                       `{"ventas":{"vendor_tarea2@yopmail.com":{"n_sopaipillas":101,"n_ordenes":1}},"fecha":"13/11/2021"}`,
		"n_ordenes over sopaipillas": sales(`"a@b.cl"`, `1`, `2`),
		"missing ventas":             `{"fecha": "13/11/2021"}`,
		"missing fecha":              `{"ventas": {}}`,
		"ventas null":                `{"ventas": null, "fecha": "13/11/2021"}`,
		"ventas array":               `{"ventas": [], "fecha": "13/11/2021"}`,
		"extra member":               `{"ventas": {}, "fecha": "13/11/2021", "total": 0}`,
		"extra member in sales":      `{"ventas": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1, "x": 1}}, "fecha": "13/11/2021"}`,
		"upper-case member":          `{"ventas": {"a@b.cl": {"N_SOPAIPILLAS": 1, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"missing n_ordenes":          `{"ventas": {"a@b.cl": {"n_sopaipillas": 1}}, "fecha": "13/11/2021"}`,
		"duplicate vendor":           `{"ventas": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}, "a@b.cl": {"n_sopaipillas": 2, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"duplicate fecha":            `{"ventas": {}, "fecha": "13/11/2021", "fecha": "14/11/2021"}`,
		"BOM":                        "\ufeff" + `{"ventas": {}, "fecha": "13/11/2021"}`,
		"not an object":              `[]`,
		"sales null":                 `{"ventas": {"a@b.cl": null}, "fecha": "13/11/2021"}`,
		"two vendors":                `{"fecha":"13/11/2021","ventas":{"a@b.cl":{"n_ordenes":2,"n_sopaipillas":30},"c@d.cl":{"n_sopaipillas":1,"n_ordenes":1}}}`,
	}) {
		s(name, data)
	}
	for name, data := range sorted(map[string]string{
		"missing cocinero":         `{"n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"missing vendedores":       `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "fecha": "13/11/2021"}`,
		"vendedores null":          `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": null, "fecha": "13/11/2021"}`,
		"empty vendedores":         `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {}, "fecha": "13/11/2021"}`,
		"missing fecha":            `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}}`,
		"extra member":             `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "13/11/2021", "x": 1}`,
		"extra member in a vendor": `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1, "x": 1}}, "fecha": "13/11/2021"}`,
		"duplicate vendor":         `{"cocinero": "c@d.cl", "n_sopaipillas": 2, "n_ordenes": 2, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}, "a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"duplicate cocinero":       `{"cocinero": "c@d.cl", "cocinero": "e@f.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"cook over sopaipillas":    cooks(`"c@d.cl"`, `"a@b.cl"`, `1`, `2`),
		"upper-case member":        `{"cocinero": "c@d.cl", "N_SOPAIPILLAS": 1, "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"cocinero not a string":    `{"cocinero": 7, "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": {"a@b.cl": {"n_sopaipillas": 1, "n_ordenes": 1}}, "fecha": "13/11/2021"}`,
		"vendedores an array":      `{"cocinero": "c@d.cl", "n_sopaipillas": 1, "n_ordenes": 1, "vendedores": [], "fecha": "13/11/2021"}`,
		"old shape: cocineros":     `{"cocineros": {}, "fecha": "13/11/2021"}`,
	}) {
		c(name, data)
	}
	return out
}

// sorted iterates a map in key order, so the corpus is the same every run.
func sorted(m map[string]string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
