// Package browsertest starts the headless Chromium the browser tests use
// (the mail view of make dev, the sales board).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns Debian's chromium (hack/chromium.sh installs it) or
// SOPAIPILLAS_CHROMIUM. With -short, or without one, the test is skipped, unless
// SOPAIPILLAS_REQUIRE_BROWSER is set (make test sets it), when it fails.
func Path(t testing.TB) string {
	t.Helper()
	if testing.Short() && os.Getenv("SOPAIPILLAS_REQUIRE_BROWSER") == "" {
		t.Skip("a browser test: not run with -short (make check)")
	}
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
	t.Skip("no Chromium at /usr/bin/chromium: run hack/chromium.sh (or set SOPAIPILLAS_CHROMIUM) for the browser tests; make test does")
	return ""
}

// Start starts headless Chromium (Path) with a fresh profile, a window of
// width × height, nothing talking to the network but the pages under test,
// and bounded by timeout so that a stuck browser fails the test instead of
// hanging the run. Everything is stopped when the test ends.
func Start(t testing.TB, width, height int, timeout time.Duration) context.Context {
	t.Helper()
	path := Path(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
		chromedp.WindowSize(width, height),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	return bctx
}
