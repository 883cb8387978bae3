package salesboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sopaipillas/sopaipillas/functions/internal/problem"
)

// TestFormsRefuseCrossSite posts to /login and /logout with every
// combination of Sec-Fetch-Site and Origin a browser (or a tool) sends,
// and checks each against the rule written out here: a request passes iff
// Sec-Fetch-Site is same-origin or none, or, without it, Origin is absent
// or names the board's own host. A refused one is 403 naming the header
// and sets no cookie.
func TestFormsRefuseCrossSite(t *testing.T) {
	h := newTestBoard(t, newFakeTopic(), testToken).Handler()
	defer h.Close()
	const host = "tablero.example:8443"
	fetchSites := []string{"", "same-origin", "none", "same-site", "cross-site", "Same-Origin", "otra"}
	origins := []string{"", "https://" + host, "http://" + host, "https://tablero.example", "https://malo.example", "null", "https://" + host + ".malo.example"}
	for _, path := range []string{"/login", "/logout"} {
		for _, site := range fetchSites {
			for _, origin := range origins {
				passes := site == "same-origin" || site == "none" ||
					(site == "" && (origin == "" || strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://") == host))
				req := httptest.NewRequest(http.MethodPost, "https://"+host+path, strings.NewReader(url.Values{"clave": {testToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if site != "" {
					req.Header.Set("Sec-Fetch-Site", site)
				}
				if origin != "" {
					req.Header.Set("Origin", origin)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				name := path + " Sec-Fetch-Site=" + site + " Origin=" + origin
				if passes {
					if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 1 {
						t.Errorf("%s: %d, cookies %v; want 303 and the cookie", name, w.Code, w.Result().Cookies())
					}
					continue
				}
				var p problem.Details
				_ = json.Unmarshal(w.Body.Bytes(), &p)
				field := "Origin"
				if site != "" {
					field = "Sec-Fetch-Site"
				}
				got := []any{w.Code, w.Header().Get("Content-Type"), len(w.Result().Cookies())}
				if diff := cmp.Diff([]any{403, problem.ContentType, 0}, got); diff != "" || len(p.Errors) != 1 || p.Errors[0].Field != field {
					t.Errorf("%s: [status Content-Type cookies] (-want, +got):\n%s; errors %+v, want one naming %s", name, diff, p.Errors, field)
				}
			}
		}
	}
}

// TestFormsKeepTheDay: /tablero?fecha=... through the key's form, the login
// and the logout comes back to the same day, as sent.
func TestFormsKeepTheDay(t *testing.T) {
	h := newTestBoard(t, newFakeTopic(), testToken).Handler()
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	do := func(method, target, body string, cookie *http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	key := url.Values{"clave": {testToken}}.Encode()
	var got []string
	for _, fecha := range []string{"12-11-2021", "12/11/2021", "hoy"} {
		q := url.Values{"fecha": {fecha}}.Encode()
		_, form := do("GET", "/?"+q, "", nil)
		got = append(got, between(form, `<form method="post" action="`, `"`))
		_, wrong := do("POST", "/login?"+q, "clave=x", nil)
		got = append(got, between(wrong, `<form method="post" action="`, `"`))
		res, _ := do("POST", "/login?"+q, key, nil)
		got = append(got, res.Header.Get("Location"))
		if fecha != "hoy" {
			_, page := do("GET", "/?"+q, "", &http.Cookie{Name: cookieName, Value: cookieValue(testToken)})
			got = append(got, between(page, `<form id="olvidar" method="post" action="`, `"`), between(page, `<option value="12-11-2021"`, `>`))
		}
		res, _ = do("POST", "/logout?"+q, "", nil)
		got = append(got, res.Header.Get("Location"))
	}
	res, _ := do("POST", "/login", key, nil)
	got = append(got, res.Header.Get("Location"))
	want := []string{
		"login?fecha=12-11-2021", "login?fecha=12-11-2021", "./?fecha=12-11-2021", "logout?fecha=12-11-2021", " selected", "./?fecha=12-11-2021",
		"login?fecha=12%2f11%2f2021", "login?fecha=12%2f11%2f2021", "./?fecha=12%2F11%2F2021", "logout?fecha=12%2f11%2f2021", " selected", "./?fecha=12%2F11%2F2021",
		"login?fecha=hoy", "login?fecha=hoy", "./?fecha=hoy", "./?fecha=hoy",
		"./",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("form actions and Locations (-want, +got):\n%s", diff)
	}
}

// between is the text of s after the first before, up to after.
func between(s, before, after string) string {
	_, rest, ok := strings.Cut(s, before)
	if !ok {
		return "(no " + before + ")"
	}
	v, _, _ := strings.Cut(rest, after)
	return v
}

// TestOneDateFormat: the page, the event stream and the day's JSON take a
// day spelled the same ways (events.ParseURLDate): each spelling is taken
// everywhere or nowhere.
func TestOneDateFormat(t *testing.T) {
	b := newTestBoard(t, newFakeTopic(), "")
	h := b.Handler()
	defer h.Close()
	spellings := []string{"12-11-2021", "12/11/2021", "12-11/2021", "12/11-2021", "2021-11-12", "12.11.2021", "12-11-21", "1-11-2021", "12-11-2021 ", "31-02-2021", "10-11-2021"}
	status := func(target string) int {
		req := httptest.NewRequest("GET", target, nil)
		w := httptest.NewRecorder()
		if strings.HasPrefix(target, "/events") {
			// A stream answers 200 and stays open: its status is enough,
			// so the request is over before it starts.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			req = req.WithContext(ctx)
		}
		h.ServeHTTP(w, req)
		return w.Code
	}
	var got, want []string
	for _, s := range spellings {
		taken := map[bool]string{true: "taken", false: "refused"}
		places := []bool{
			status("/?fecha="+url.QueryEscape(s)) == 200,
			status("/events?fecha="+url.QueryEscape(s)) == 200,
			status("/api/days/"+url.PathEscape(s)) == 200,
		}
		got = append(got, s+": "+taken[places[0]]+" "+taken[places[1]]+" "+taken[places[2]])
		ok := s == "12-11-2021" || s == "12/11/2021"
		want = append(want, s+": "+taken[ok]+" "+taken[ok]+" "+taken[ok])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want, +got):\n%s", diff)
	}
}
