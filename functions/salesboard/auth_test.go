package salesboard

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testToken = "clave-del-dueno-123"

// TestOwnerOnly: with BOARD_TOKEN set, the board's numbers go only to a
// request with the key's cookie or bearer token; the page shows the form
// to anyone else. Without BOARD_TOKEN everyone gets in.
func TestOwnerOnly(t *testing.T) {
	good := &http.Cookie{Name: cookieName, Value: cookieValue(testToken)}
	cases := []struct {
		name   string
		token  string       // BOARD_TOKEN
		path   string       // asked with GET
		cookie *http.Cookie // sent, if any
		bearer string       // Authorization: Bearer, if any
		twice  bool         // the Authorization field sent twice
		status int
		want   string // in the body
	}{
		{name: "no token configured: API", path: "/api/days/13-11-2021", status: 200, want: `"fecha":"13/11/2021"`},
		{name: "no token configured: page", path: "/", status: 200, want: `id="t-sopaipillas"`},
		{name: "no token configured: stream", path: "/events", status: 200},
		{name: "no cookie: API", token: testToken, path: "/api/days/13-11-2021", status: 401, want: `"status":401`},
		{name: "no cookie: stream", token: testToken, path: "/events", status: 401, want: `"status":401`},
		{name: "no cookie: page shows the form", token: testToken, path: "/", status: 200, want: `name="clave"`},
		{name: "cookie of the key: API", token: testToken, path: "/api/days/13-11-2021", cookie: good, status: 200, want: `"fecha":"13/11/2021"`},
		{name: "cookie of the key: page", token: testToken, path: "/", cookie: good, status: 200, want: `id="t-sopaipillas"`},
		{name: "cookie of the key: stream", token: testToken, path: "/events", cookie: good, status: 200},
		{name: "cookie of another key", token: testToken, path: "/api/days/13-11-2021", cookie: &http.Cookie{Name: cookieName, Value: cookieValue("otra")}, status: 401},
		{name: "cookie holding the key itself", token: testToken, path: "/api/days/13-11-2021", cookie: &http.Cookie{Name: cookieName, Value: testToken}, status: 401},
		{name: "empty cookie", token: testToken, path: "/api/days/13-11-2021", cookie: &http.Cookie{Name: cookieName, Value: ""}, status: 401},
		{name: "wrong key, page", token: testToken, path: "/", cookie: &http.Cookie{Name: cookieName, Value: "x"}, status: 200, want: `name="clave"`},
		{name: "bearer key", token: testToken, path: "/api/days/13-11-2021", bearer: testToken, status: 200},
		{name: "wrong bearer key", token: testToken, path: "/api/days/13-11-2021", bearer: testToken + "x", status: 401},
		{name: "bearer key sent twice", token: testToken, path: "/api/days/13-11-2021", bearer: testToken, twice: true, status: 401,
			want: `{"field":"Authorization","detail":"sent more than once: send one Authorization field"}`},
		{name: "wrong bearer beside a good cookie", token: testToken, path: "/api/days/13-11-2021", cookie: good, bearer: "x", status: 401},
		{name: "static files need no key (the form uses them)", token: testToken, path: "/static/app.css", status: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestBoard(t, newFakeTopic(), tc.token).Handler()
			defer h.Close()
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if tc.twice {
				req.Header.Add("Authorization", "Bearer "+tc.bearer)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.path == "/events" {
				return // a stream does not end
			}
			body, _ := io.ReadAll(res.Body)
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("body lacks %q:\n%.400s", tc.want, body)
			}
		})
	}
}

// TestLogin: the form's key sets the cookie (HttpOnly, SameSite=Strict,
// Secure behind TLS) and goes back to the board; a wrong key is 401.
func TestLogin(t *testing.T) {
	cases := []struct {
		name      string
		token     string
		clave     string
		accept    string
		forwarded string // X-Forwarded-Proto
		tls       bool
		status    int
		cookie    bool // a cookie is set
		secure    bool
		want      string // in the body
	}{
		{name: "right key", token: testToken, clave: testToken, status: 303, cookie: true},
		{name: "right key behind a TLS proxy", token: testToken, clave: testToken, forwarded: "https", status: 303, cookie: true, secure: true},
		{name: "right key over TLS", token: testToken, clave: testToken, tls: true, status: 303, cookie: true, secure: true},
		{name: "wrong key, from the page", token: testToken, clave: "adivina", accept: "text/html", status: 401, want: "La clave no es correcta"},
		{name: "wrong key, from a tool", token: testToken, clave: "adivina", accept: "application/json", status: 401, want: `"field":"clave"`},
		{name: "no key", token: testToken, accept: "text/html", status: 401, want: "La clave no es correcta"},
		{name: "no key configured", clave: "cualquiera", status: 303},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestBoard(t, newFakeTopic(), tc.token).Handler()
			srv := httptest.NewUnstartedServer(h)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := srv.Client()
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			if tc.tls {
				client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
			}
			req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"clave": {tc.clave}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			if tc.forwarded != "" {
				req.Header.Set("X-Forwarded-Proto", tc.forwarded)
			}
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("body lacks %q: %s", tc.want, body)
			}
			if tc.status == 303 && res.Header.Get("Location") != "./" {
				t.Errorf("Location %q, want ./ (relative: the board may be under a prefix)", res.Header.Get("Location"))
			}
			cookies := res.Cookies()
			if !tc.cookie {
				if len(cookies) != 0 {
					t.Errorf("cookies set: %v", cookies)
				}
				return
			}
			if len(cookies) != 1 {
				t.Fatalf("cookies %v, want the key's", cookies)
			}
			c := cookies[0]
			if c.Name != cookieName || c.Value != cookieValue(tc.token) || strings.Contains(c.Value, tc.token) {
				t.Errorf("cookie %s=%s: want a MAC of the key, never the key", c.Name, c.Value)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tc.secure || c.MaxAge <= 0 {
				t.Errorf("cookie HttpOnly %v, SameSite %v, Secure %v (want %v), MaxAge %d", c.HttpOnly, c.SameSite, c.Secure, tc.secure, c.MaxAge)
			}
			// The cookie opens the board.
			req, _ = http.NewRequest("GET", srv.URL+"/api/days/13-11-2021", nil)
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			res2, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res2.Body.Close()
			if res2.StatusCode != 200 {
				t.Errorf("with the cookie set: status %d", res2.StatusCode)
			}
		})
	}
}

// TestLogout forgets the key.
func TestLogout(t *testing.T) {
	srv := httptest.NewServer(newTestBoard(t, newFakeTopic(), testToken).Handler())
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Post(srv.URL+"/logout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cs := res.Cookies()
	if res.StatusCode != 303 || len(cs) != 1 || cs[0].Name != cookieName || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("status %d, cookies %v: want 303 and the cookie deleted", res.StatusCode, cs)
	}
}
