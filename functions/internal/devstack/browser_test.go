package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sopaipillas/sopaipillas/functions/internal/browsertest"
)

// browser starts headless Chromium for the mail view (browsertest).
func browser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, 1280, 1000, 90*time.Second)
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
