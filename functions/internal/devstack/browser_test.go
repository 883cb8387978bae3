package devstack

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (hack/chromium.sh installs it), or
// SOPAIPILLAS_CHROMIUM. Without one the browser tests are skipped, unless
// SOPAIPILLAS_REQUIRE_BROWSER is set (make test sets it), when they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("SOPAIPILLAS_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	if os.Getenv("SOPAIPILLAS_REQUIRE_BROWSER") != "" {
		t.Fatal("SOPAIPILLAS_REQUIRE_BROWSER is set but there is no Chromium at /usr/bin/chromium (or SOPAIPILLAS_CHROMIUM): run hack/chromium.sh")
	}
	t.Skip("no Chromium at /usr/bin/chromium: run hack/chromium.sh (or set SOPAIPILLAS_CHROMIUM) to check the mail view in a browser; make test does")
	return ""
}

// browser starts a headless Chromium with a fresh profile and nothing
// talking to the network but the pages under test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1000),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	return bctx
}

// shownMail is what a person sees of the selected email in the mail view.
type shownMail struct {
	Page, Frame string // the page's text, the HTML part's text as rendered
	Sandbox     string // the iframe's sandbox attribute
	Screenshot  []byte
}

// viewInBrowser opens url (the mail view) and reads what it shows.
// Navigate returns after the load event, which waits for the iframe too.
func viewInBrowser(t *testing.T, ctx context.Context, url string) shownMail {
	t.Helper()
	var got shownMail
	err := chromedp.Do(ctx, chromedp.Navigate(url))
	if err == nil {
		got.Page, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	}
	if err != nil {
		t.Fatalf("opening %s in Chromium: %v", url, err)
	}
	iframes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("iframe"), chromedp.AtLeast(0)))
	if err != nil || len(iframes) != 1 {
		t.Fatalf("the mail view shows %d iframes (%v), want 1 (the HTML part); page text:\n%s", len(iframes), err, got.Page)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("iframe"), "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	got.Sandbox = attr.Value
	if !attr.Exists {
		got.Sandbox = "(none)"
	}
	if got.Screenshot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	got.Frame = frameText(t, ctx, iframes[0])
	got.Frame = strings.Join(strings.Fields(got.Frame), " ")
	got.Page = strings.Join(strings.Fields(got.Page), " ")
	return got
}

// frameText reads the text the iframe shows. Chrome may run a sandboxed
// iframe in a process of its own (a target of type "iframe"), or in the
// page's (then its document is under the iframe's node).
func frameText(t *testing.T, ctx context.Context, iframe *chromedp.Node) string {
	t.Helper()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.Type == "iframe" && strings.HasSuffix(info.URL, "/html") {
			// Not cancelled here: cancelling closes the target it is on.
			fctx, _ := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
			text, err := chromedp.Run(fctx, chromedp.Text(chromedp.CSS("body")))
			if err != nil {
				t.Fatalf("reading the iframe's target: %v", err)
			}
			return text
		}
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"), chromedp.FromNode(iframe)))
	if err != nil {
		t.Fatalf("reading the iframe: %v", err)
	}
	return text
}
