package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"phalanx"
	"phalanx/charter"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/testenv"
)

// consoleLink mints a one-time login link on m (role "" or "viewer") and
// returns the full URL.
func consoleLink(t *testing.T, m *member, role string) string {
	t.Helper()
	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+info.Addr+"/ui/login-link?role="+role, nil)
	req.Header.Set("Authorization", "Bearer "+info.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Path string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("mint a login link: %s %v", resp.Status, err)
	}
	return "http://" + info.Addr + out.Path
}

// findChromium returns the path of Chromium, "" when it is not installed.
func findChromium() string {
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser starts headless Chromium for the test, or skips (fails under CI)
// when the chromium package is not installed.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		testenv.Missing(t, "chromium not found: install the Debian package chromium for the console's browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900), chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// submit submits the form of the element sel and waits for the page it
// leads to.
func submit(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Submit(chromedp.ID(sel)))); err != nil {
		t.Fatalf("submit %s: %v", sel, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// poll waits until js is truthy in the page.
func poll(t *testing.T, ctx context.Context, limit time.Duration, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(limit))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// screenshot saves the page as docs/console/NAME.png when
// PHALANX_CONSOLE_SCREENSHOTS names a directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("PHALANX_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// xssAttack is an ssh brute force whose user names are HTML and script.
func xssAttack(addr string, n int) []string {
	now := time.Now().Format(time.Stamp)
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s web1 sshd[%d]: Failed password for invalid user <img src=x onerror=alert(1)> from %s port %d ssh2", now, 3000+i, addr, 41000+i),
			fmt.Sprintf("%s web1 sshd[%d]: Invalid user </script><script>alert(2)</script> from %s port %d", now, 4000+i, addr, 42000+i))
	}
	return out
}

// TestConsoleInBrowser drives the console of a real three-member alliance
// in headless Chromium: an attack on A shows on C's live view with its
// propagation, attacker-written text stays text, a pardon refused on C
// (not a founding member) says why and one from A's console lifts the ban
// on every member, and the read-only token changes nothing.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("forms a three-member alliance and drives a browser")
	}
	ctx := browser(t)
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a, b, c := al.members[0], al.members[1], al.members[2]

	// No dialog may ever open: that would be injected script running.
	var dialogs atomic.Int64
	dlg := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dlg {
			if err != nil {
				return
			}
			dialogs.Add(1)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	// Sign in on C with a one-time link; the live stream connects.
	link := consoleLink(t, c, "")
	start := time.Now()
	do(t, ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("live")))
	poll(t, ctx, 10*time.Second, "the live stream", `document.getElementById("stream-state").textContent === "live"`)
	t.Logf("first paint of C's live view after sign-in: %v", time.Since(start).Round(time.Millisecond))
	if got := eval[string](t, ctx, `location.pathname`); got != "/ui/" {
		t.Fatalf("after the login link: %s", got)
	}
	// The link was single use.
	do(t, ctx, chromedp.Navigate(link))
	if got := eval[string](t, ctx, `document.getElementById("refused") ? document.getElementById("refused").textContent : ""`); !strings.Contains(got, "already used") {
		t.Fatalf("replayed link: %q", got)
	}
	do(t, ctx, chromedp.Navigate(strings.SplitN(link, "/ui/", 2)[0]+"/ui/"), chromedp.WaitVisible(chromedp.ID("live")))
	poll(t, ctx, 10*time.Second, "the live stream", `document.getElementById("stream-state").textContent === "live"`)

	// A bouncer of C's: the propagation line on C names it.
	var bouncer struct {
		Key string `json:"api_key"`
	}
	if code := c.adminBody("POST", "/api/bouncers", map[string]string{"name": "edge"}, &bouncer); code != 201 || bouncer.Key == "" {
		t.Fatalf("add a bouncer on C: %d", code)
	}

	// An attack on A shows on C with every member's enforcement.
	const attacker = "203.0.113.50"
	a.waitTailing()
	appendLines(t, a.log, xssAttack(attacker, 4)...)
	row := `document.querySelector('#live tr[data-value="` + attacker + `"]')`
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](row+` && `+row+`.querySelectorAll(".hop").length === 3`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		// What each member holds, to tell a missing hop from a missed row.
		t.Logf("the row on C: %q", eval[string](t, ctx, `(`+row+` || {textContent: "none"}).textContent`))
		for i, m := range al.members {
			t.Logf("member %d's enforcement entries: %+v", i, m.entries(attacker, "enforced"))
		}
		t.Fatalf("waiting for the attack on C's live view with three members' enforcement: %v", err)
	}
	text := eval[string](t, ctx, row+`.textContent`)
	if !strings.Contains(text, "ssh") || !strings.Contains(text, "on a at") && !strings.Contains(text, "on ") {
		t.Fatalf("row: %q", text)
	}
	hops := eval[[]string](t, ctx, `Array.from(`+row+`.querySelectorAll(".hop")).map(h => h.textContent)`)
	t.Logf("propagation on C's live view: %q", hops)
	// C's bouncer, until it pulls, then after its pull (kept to the
	// second: a pull in the second of C's enforcement counts at the next).
	edge := row + `.querySelector('.pull[data-bouncer="edge"]')`
	poll(t, ctx, 10*time.Second, "C's bouncer on the propagation line", edge+` && `+edge+`.textContent === "bouncer edge at its next pull"`)
	for i := 0; ; i++ {
		if i == 6 {
			t.Fatalf("the bouncer's pull never showed: %q", eval[string](t, ctx, edge+`.textContent`))
		}
		req, _ := http.NewRequest("GET", "http://"+c.d.Addr()+"/v1/decisions/stream?startup=true", nil)
		req.Header.Set("X-Api-Key", bouncer.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("the bouncer's pull: %v %v", err, resp)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The console looks at the bouncers every 2s.
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](edge+`.className === "pull pulled"`, chromedp.WithPollingTimeout(3*time.Second))); err == nil {
			break
		}
	}
	t.Logf("after the bouncer's pull: %q", eval[string](t, ctx, edge+`.textContent`))
	// Attacker-written text is text: no element was made of it, no
	// script ran, and it shows as written.
	ev := eval[string](t, ctx, row+`.querySelector("pre").textContent`)
	if !strings.Contains(ev, "<img src=x onerror=alert(1)>") || !strings.Contains(ev, "</script><script>alert(2)</script>") {
		t.Fatalf("evidence lines do not show the attacker's text as written: %q", ev)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("img, main script").length`); n != 0 {
		t.Fatalf("the attacker's text made %d elements", n)
	}
	eval[int](t, ctx, `document.querySelectorAll("#live details").forEach(d => d.open = true), 0`)
	screenshot(t, ctx, "live")
	// The server-rendered view after a reload, and the explain drill-down.
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("live")))
	poll(t, ctx, 5*time.Second, "the row after a reload", row)
	if n := eval[int](t, ctx, `document.querySelectorAll("img, main script").length`); n != 0 {
		t.Fatalf("the server-rendered live view: the attacker's text made %d elements", n)
	}
	do(t, ctx, chromedp.Navigate(strings.SplitN(link, "/ui/", 2)[0]+"/ui/explain?addr="+attacker), chromedp.WaitVisible(chromedp.ID("timeline")))
	if n := eval[int](t, ctx, `document.querySelectorAll("img, main script").length`); n != 0 {
		t.Fatalf("explain: the attacker's text made %d elements", n)
	}
	screenshot(t, ctx, "explain")

	// Decision → visible: bans made on A, timed from C's table to C's page.
	base := strings.SplitN(link, "/ui/", 2)[0]
	do(t, ctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("live")))
	poll(t, ctx, 10*time.Second, "the live stream", `document.getElementById("stream-state").textContent === "live"`)
	var lat []time.Duration
	for i := range 20 {
		addr := fmt.Sprintf("198.51.100.%d", 10+i)
		decided := make(chan time.Time, 1)
		go func() {
			deadline := time.Now().Add(20 * time.Second)
			for !banned(c.d, addr) && time.Now().Before(deadline) {
				time.Sleep(200 * time.Microsecond)
			}
			decided <- time.Now()
		}()
		if code := a.adminBody("POST", "/api/decisions", map[string]string{"value": addr, "duration": "1h", "reason": "latency probe"}, nil); code != 201 {
			t.Fatalf("ban %s on A: %d", addr, code)
		}
		poll(t, ctx, 10*time.Second, addr+" on C's page", `document.querySelector('#live tr[data-value="`+addr+`"]')`)
		lat = append(lat, time.Since(<-decided))
	}
	slices.Sort(lat)
	t.Logf("decision on C → visible in C's open page: p50 %v, p99 (max of 20) %v", lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	// The goal (≤ 1 s) is quoted from the log line above; the bound is
	// for a page that stopped updating live.
	if lat[len(lat)-1] > 5*time.Second {
		t.Errorf("a decision took %v to show, want well under 1s (and never 5s)", lat[len(lat)-1])
	}

	// The decisions on C: newest first (the last probe), then sorted by
	// a click on a column's header, and the other way on a second.
	do(t, ctx, chromedp.Navigate(base+"/ui/act"), chromedp.WaitVisible(chromedp.ID("decisions")))
	first := `document.querySelector("#decisions tbody tr").getAttribute("data-value")`
	if got := eval[string](t, ctx, first); got != "198.51.100.29" {
		t.Fatalf("newest decision first: %s", got)
	}
	for _, want := range []string{"198.51.100.10", attacker} {
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`#decisions a[data-sort="value"]`)))); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, ctx, first); got != want {
			t.Fatalf("sorted by value (%s): %s first, want %s", eval[string](t, ctx, `location.search`), got, want)
		}
	}

	// The other views render: the alliance with each member's reports per
	// minute, the sources with their rates.
	for _, v := range []struct{ path, id, name string }{
		{"/ui/alliance", "report-rates", "alliance"}, {"/ui/attacks", "windows", "attacks"},
		{"/ui/act", "decisions", "act"}, {"/ui/sources", "charter", "sources"},
	} {
		do(t, ctx, chromedp.Navigate(base+v.path), chromedp.WaitVisible(chromedp.ID(v.id)))
		screenshot(t, ctx, v.name)
	}
	do(t, ctx, chromedp.Navigate(base+"/ui/alliance"), chromedp.WaitVisible(chromedp.ID("report-rates")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#report-rates tbody tr").length`); n != 3 {
		t.Fatalf("report rates of %d members, want 3", n)
	}
	if n := eval[int](t, ctx, `Number(document.querySelector('#report-rates tr[data-member="`+a.d.ID()+`"] td:nth-child(4)').textContent)`); n == 0 {
		t.Fatal("no report from A in the last hour on C's alliance view")
	}

	// A pardon on C is refused with the charter's reason (C is no founding
	// member); the ban stays everywhere.
	do(t, ctx, chromedp.Navigate(base+"/ui/act"), chromedp.WaitVisible(chromedp.ID("pardon-form")),
		chromedp.SendKeys(chromedp.ID("pardon-value"), attacker))
	submit(t, ctx, "pardon-value")
	if !eval[bool](t, ctx, `!!document.getElementById("refused")`) {
		t.Fatalf("no refusal on C: %s", eval[string](t, ctx, `document.body.innerText`))
	}
	if got := eval[string](t, ctx, `document.getElementById("refused").textContent`); !strings.Contains(got, "founding") {
		t.Fatalf("refusal on C: %q", got)
	}
	if !banned(a.d, attacker) || !banned(c.d, attacker) {
		t.Fatal("a refused pardon lifted the ban")
	}

	// From A's console (a founding member) the pardon lifts it on every
	// member, and C's live view shows it.
	do(t, ctx, chromedp.Navigate(consoleLink(t, a, "")), chromedp.WaitVisible(chromedp.ID("live")),
		chromedp.Navigate(strings.SplitN(consoleLink(t, a, ""), "/ui/", 2)[0]+"/ui/act?q="+attacker), chromedp.WaitVisible(chromedp.ID("pardon-form")))
	// Signing in on A left C's session alone (a cookie per member).
	do(t, ctx, chromedp.SendKeys(chromedp.ID("pardon-value"), attacker))
	submit(t, ctx, "pardon-value")
	poll(t, ctx, 15*time.Second, "the pardon's confirmation on A", `document.getElementById("flash") && document.getElementById("flash").textContent.includes("pardoned")`)
	for _, m := range []*member{a, b, c} {
		waitFor(t, 10*time.Second, "the pardon on "+m.dir, func() bool { return !banned(m.d, attacker) })
	}
	// A's charter history: B's and C's admissions.
	do(t, ctx, chromedp.Navigate(strings.SplitN(consoleLink(t, a, ""), "/ui/", 2)[0]+"/ui/sources"), chromedp.WaitVisible(chromedp.ID("charter-history")))
	history := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#charter-history tbody tr")).map(r => r.textContent)`)
	if len(history) != 2 || !strings.HasPrefix(history[0], "3") || !strings.Contains(history[0], "admitted "+c.d.ID()[:12]) && !strings.Contains(history[0], "("+c.d.ID()[:12]+")") ||
		!strings.HasPrefix(history[1], "2") || !strings.Contains(history[1], b.d.ID()[:12]) {
		t.Fatalf("A's charter history: %q", history)
	}
	screenshot(t, ctx, "charter")

	do(t, ctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("live")))
	poll(t, ctx, 10*time.Second, "the pardon on C's live view", row+` && `+row+`.className.includes("state-pardoned")`)
	if n := eval[int](t, ctx, row+`.querySelectorAll(".pull").length`); n != 0 {
		t.Fatal("a pardoned row still waits for the bouncer")
	}

	// The read-only token: it looks, it changes nothing, even with its
	// own CSRF token from its own page.
	do(t, ctx, chromedp.Navigate(consoleLink(t, c, "viewer")), chromedp.WaitVisible(chromedp.ID("live")),
		chromedp.Navigate(base+"/ui/act"), chromedp.WaitVisible(chromedp.ID("decisions")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#ban-form, #pardon-form, #bouncer-form, button.pardon").length`); n != 0 {
		t.Fatalf("the read-only session is offered %d change forms", n)
	}
	const probe = "192.0.2.99"
	status := eval[int](t, ctx, `(async () => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		const r = await fetch("/ui/act/ban", {method: "POST", body: new URLSearchParams({value: "`+probe+`", csrf: csrf})});
		return r.status; })()`)
	if status != http.StatusForbidden {
		t.Fatalf("read-only ban: %d", status)
	}
	status = eval[int](t, ctx, `(async () => {
		const csrf = document.querySelector('input[name="csrf"]').value;
		const r = await fetch("/ui/bouncers/add", {method: "POST", body: new URLSearchParams({name: "sneaky", csrf: csrf})});
		return r.status; })()`)
	if status != http.StatusForbidden {
		t.Fatalf("read-only bouncer: %d", status)
	}
	if banned(c.d, probe) || banned(a.d, probe) {
		t.Fatal("the read-only session banned")
	}
	var bs []map[string]any
	c.admin("GET", "/api/bouncers", &bs)
	if len(bs) != 1 {
		t.Fatalf("the read-only session added a bouncer: %v", bs)
	}
	if n := dialogs.Load(); n != 0 {
		t.Fatalf("%d dialogs opened: injected script ran", n)
	}
}

// TestConsoleMillionDecisions times the console's pages on a member holding
// 1,000,000 active decisions: paging on the server keeps the main views
// fast. With chromium installed it also measures the first contentful paint
// in the browser.
func TestConsoleMillionDecisions(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table with a million decisions")
	}
	dir := t.TempDir()
	m := startMember(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"))
	now := time.Now()
	tbl := m.d.Table()
	scen := []string{"ssh-bf", "http-probe", "mail-bf", "tcp-scan"}
	for i := range 1_000_000 {
		a := netip.AddrFrom4([4]byte{byte(11 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
		tbl.Add(phalanx.Decision{Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.PrefixFrom(a, 32),
			Scenario: scen[i%4], Start: now, Until: now.Add(time.Hour)})
	}
	if n := tbl.Len(); n != 1_000_000 {
		t.Fatalf("table holds %d", n)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	link := consoleLink(t, m, "")
	resp, err := hc.Get(link)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign in: %v %v", err, resp)
	}
	resp.Body.Close()
	base := strings.SplitN(link, "/ui/", 2)[0]
	for _, c := range []struct {
		path  string
		limit time.Duration
		code  int
	}{
		{"/ui/", 500 * time.Millisecond, 200},
		{"/ui/act", 500 * time.Millisecond, 200}, // newest first: a pass over the table
		{"/ui/alliance", 500 * time.Millisecond, 200},
		{"/ui/act?q=11.0.3.7", 500 * time.Millisecond, 200},
		{"/ui/act?page=100", 500 * time.Millisecond, 200},
		{"/ui/act?sort=value&order=asc", 500 * time.Millisecond, 200},
		{"/ui/act?q=11.1.0.0/16", 0, 200},
		{"/ui/act?q=mail", 0, 200},
		{"/ui/act?page=200&sort=until", 0, 200},
		{"/ui/act?page=19000", 500 * time.Millisecond, 400}, // past the paged depth: refused, says why
	} {
		best, first, size := time.Hour, time.Duration(0), 0
		for range 3 {
			start := time.Now()
			resp, err := hc.Get(base + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(body), "</html>") {
				t.Fatalf("%s: %s, want %d", c.path, resp.Status, c.code)
			}
			best, size = min(best, time.Since(start)), len(body)
			if first == 0 {
				first = time.Since(start)
			}
		}
		t.Logf("1,000,000 decisions: GET %-24s %v (the first of three %v), %d bytes", c.path, best.Round(100*time.Microsecond), first.Round(100*time.Microsecond), size)
		// The goal (c.limit) is a figure to quote, not an assertion: on a
		// machine shared with other tests it is missed now and then. Ten
		// times it means the page is no longer paged on the server.
		if c.limit > 0 && best > 10*c.limit {
			t.Errorf("%s took %v, want about %v (and never 10 times that)", c.path, best, c.limit)
		}
	}
	if findChromium() == "" {
		return
	}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(consoleLink(t, m, "")), chromedp.WaitVisible(chromedp.ID("live")))
	for _, p := range []string{"/ui/", "/ui/act"} {
		start := time.Now()
		do(t, ctx, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main h1, main h2")))
		poll(t, ctx, 5*time.Second, "the first contentful paint of "+p, `performance.getEntriesByName("first-contentful-paint").length > 0`)
		fcp := eval[float64](t, ctx, `performance.getEntriesByName("first-contentful-paint")[0].startTime`)
		// The largest contentful paint: the page's main content (the
		// decisions' table on the act view) on screen.
		lcp := eval[float64](t, ctx, `new Promise(done => new PerformanceObserver(l => { const e = l.getEntries(); done(e[e.length-1].startTime); }).observe({type: "largest-contentful-paint", buffered: true}))`)
		nav := eval[string](t, ctx, `(() => { const n = performance.getEntriesByType("navigation")[0]; return "request " + Math.round(n.requestStart) + " ms, response " + Math.round(n.responseStart) + "–" + Math.round(n.responseEnd) + " ms, DOM ready " + Math.round(n.domContentLoadedEventEnd) + " ms"; })()`)
		t.Logf("1,000,000 decisions: %s in chromium: first contentful paint %.0f ms, largest contentful paint %.0f ms after navigation start (%s; navigate → visible %v)", p, fcp, lcp, nav, time.Since(start).Round(time.Millisecond))
		// The page's answer is what the million decisions could slow; the
		// paint after it is the browser's, on a machine shared with other
		// tests (measured, quoted, not asserted).
		if end := eval[float64](t, ctx, `performance.getEntriesByType("navigation")[0].responseEnd`); end > 5000 {
			t.Errorf("%s: the page's answer ended %.0f ms after navigation start, want about 500 (and never 10 times that)", p, end)
		}
	}
}

// consoleClient signs in on m's console (a one-time link) and returns a
// client with the session and the console's base URL.
func consoleClient(t *testing.T, m *member, role string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	link := consoleLink(t, m, role)
	resp, err := hc.Get(link)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign in: %v %v", err, resp)
	}
	resp.Body.Close()
	return hc, strings.SplitN(link, "/ui/", 2)[0]
}

func getPage(t *testing.T, hc *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rowValues are the data-value attributes of a table's rows, in order.
func rowValues(body, table string) []string {
	i := strings.Index(body, `<table id="`+table+`"`)
	if i < 0 {
		return nil
	}
	body = body[i:]
	body = body[:strings.Index(body, "</table>")]
	var out []string
	for {
		i := strings.Index(body, `<tr data-value="`)
		if i < 0 {
			return out
		}
		body = body[i+len(`<tr data-value="`):]
		out = append(out, body[:strings.IndexByte(body, '"')])
	}
}

// TestConsoleDecisionsSorted: the act view lists a member's decisions
// newest first, sorts them by a column on the server and pages them.
func TestConsoleDecisionsSorted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a member")
	}
	dir := t.TempDir()
	m := startMember(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"))
	now := time.Now()
	tbl := m.d.Table()
	// 120 decisions: started i minutes ago, scenarios in turn, ending in
	// an order of their own.
	scen := []string{"ssh-bf", "http-probe", "mail-bf"}
	for i := range 120 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		tbl.Add(phalanx.Decision{Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.PrefixFrom(a, 32), Scenario: scen[i%3],
			Reason: fmt.Sprintf("Probe %03d", (i*37)%120), Start: now.Add(-time.Duration(i) * time.Minute), Until: now.Add(time.Duration(1+(i*53)%120) * time.Minute)})
	}
	tbl.Add(phalanx.Decision{Origin: phalanx.OriginManual, Type: "ban", Value: netip.MustParsePrefix("203.0.113.0/24"), Scenario: "manual",
		Start: now.Add(-time.Hour - 30*time.Second), Until: now.Add(time.Hour)})
	hc, base := consoleClient(t, m, "viewer")
	addr := func(i int) string { return fmt.Sprintf("198.51.100.%d", i) }

	_, body := getPage(t, hc, base+"/ui/act")
	got := rowValues(body, "decisions")
	if len(got) != 50 || got[0] != addr(0) || got[1] != addr(1) || got[49] != addr(49) {
		t.Fatalf("default order (newest first): %v", got)
	}
	if !strings.Contains(body, "121 match · page 1 of 3") {
		t.Fatal("no count of the matches")
	}
	_, body = getPage(t, hc, base+"/ui/act?page=3")
	if got := rowValues(body, "decisions"); len(got) != 21 || got[0] != addr(99) || got[20] != addr(119) {
		t.Fatalf("page 3, newest first: %v", got)
	}
	// The range (started 60.5 minutes ago) between addresses 60 and 61.
	_, body = getPage(t, hc, base+"/ui/act?page=2")
	if got := rowValues(body, "decisions"); got[10] != addr(60) || got[11] != "203.0.113.0/24" || got[12] != addr(61) {
		t.Fatalf("page 2, newest first: %v", got[8:14])
	}
	_, body = getPage(t, hc, base+"/ui/act?sort=start&order=asc")
	if got := rowValues(body, "decisions"); got[0] != addr(119) || got[1] != addr(118) {
		t.Fatalf("oldest first: %v", got[:2])
	}
	_, body = getPage(t, hc, base+"/ui/act?sort=value&order=desc")
	if got := rowValues(body, "decisions"); got[0] != "203.0.113.0/24" || got[1] != addr(119) || got[2] != addr(118) {
		t.Fatalf("by value, descending: %v", got[:3])
	}
	// Soonest to end first: decision i ends in 1+(i*53)%120 minutes.
	_, body = getPage(t, hc, base+"/ui/act?sort=until&order=asc")
	got = rowValues(body, "decisions")
	want := make([]int, 120)
	for i := range 120 {
		want[(i*53)%120] = i
	}
	for k := range 5 {
		if got[k] != addr(want[k]) {
			t.Fatalf("by until, ascending: %v, want %v…", got[:5], want[:5])
		}
	}
	// By reason, ascending, among the mail-bf decisions only.
	_, body = getPage(t, hc, base+"/ui/act?q=MAIL&sort=reason")
	got = rowValues(body, "decisions")
	if len(got) != 40 || !strings.Contains(body, "40 match") {
		t.Fatalf("mail decisions: %d", len(got))
	}
	for k := 1; k < len(got); k++ {
		var a, b int
		fmt.Sscanf(got[k-1], "198.51.100.%d", &a)
		fmt.Sscanf(got[k], "198.51.100.%d", &b)
		if (a*37)%120 > (b*37)%120 || a%3 != 2 {
			t.Fatalf("by reason: %s before %s", got[k-1], got[k])
		}
	}
	// An address: the decisions covering it.
	_, body = getPage(t, hc, base+"/ui/act?q=203.0.113.7")
	if got := rowValues(body, "decisions"); len(got) != 1 || got[0] != "203.0.113.0/24" {
		t.Fatalf("covering 203.0.113.7: %v", got)
	}
}

// TestConsoleNewestIndex: the act view's first view (newest first) comes
// from an index of the newest decisions, built by one pass over the table
// and then kept up to date by the changes the journal records (a ban, a
// pardon, an expiry): every page shows what a pass over the table shows
// (the search 0.0.0.0/0, which scans), and only a change that bypasses
// the journal makes it pass over the table again.
func TestConsoleNewestIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a member")
	}
	dir := t.TempDir()
	m := startMember(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"))
	now := time.Now()
	tbl := m.d.Table()
	for i := range 120 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		tbl.Add(phalanx.Decision{Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.PrefixFrom(a, 32), Scenario: "ssh-bf",
			Start: now.Add(-time.Duration(i) * time.Minute), Until: now.Add(time.Hour)})
	}
	hc, base := consoleClient(t, m, "viewer")
	same := func(what string, wantFirst string) {
		t.Helper()
		for page := 1; page <= 4; page++ {
			_, body := getPage(t, hc, fmt.Sprintf("%s/ui/act?page=%d", base, page))
			_, scan := getPage(t, hc, fmt.Sprintf("%s/ui/act?q=0.0.0.0/0&page=%d", base, page))
			got, want := rowValues(body, "decisions"), rowValues(scan, "decisions")
			if !slices.Equal(got, want) {
				t.Fatalf("%s, page %d: newest first %v, a pass over the table %v", what, page, got, want)
			}
			if page == 1 && (len(got) == 0 || got[0] != wantFirst) {
				t.Fatalf("%s: the newest is %v, want %s", what, got, wantFirst)
			}
		}
	}
	same("at first", "198.51.100.0")
	if n := m.d.NewestIndexBuilds(); n != 1 {
		t.Fatalf("%d passes over the table for the first view, want 1", n)
	}
	if code := m.adminBody("POST", "/api/decisions", map[string]string{"value": "203.0.113.9", "duration": "2s"}, nil); code != 201 && code != 200 {
		t.Fatalf("ban: HTTP %d", code)
	}
	same("after a ban", "203.0.113.9")
	if code := m.admin("DELETE", "/api/decisions?value=198.51.100.0", nil); code != 200 {
		t.Fatalf("pardon: HTTP %d", code)
	}
	same("after a pardon", "203.0.113.9")
	waitFor(t, 10*time.Second, "the 2 s ban to expire", func() bool { return tbl.Len() == 119 })
	same("after an expiry", "198.51.100.1")
	if n := m.d.NewestIndexBuilds(); n != 1 {
		t.Fatalf("%d passes over the table after changes the journal recorded, want 1", n)
	}
	// A decision stored without the journal: the index cannot know it,
	// sees the table's size differ, and makes itself again.
	tbl.Add(phalanx.Decision{Origin: phalanx.OriginAlliance, Type: "ban", Value: netip.MustParsePrefix("192.0.2.1/32"), Scenario: "ssh-bf",
		Start: time.Now(), Until: time.Now().Add(time.Hour)})
	same("after a change around the journal", "192.0.2.1")
	if n := m.d.NewestIndexBuilds(); n != 2 {
		t.Fatalf("%d passes over the table, want 2", n)
	}
}

// TestConsoleCharterHistory: the charter view lists the amendments this
// member applied, newest first: who signed each, when the stream stored
// it, what it changed (B's admission, the fleet section). The history
// outlives a restart.
func TestConsoleCharterHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]
	// Version 3 turns the fleet scenarios off, or on.
	ch, err := charter.Load(filepath.Join(a.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var fleet *charter.Fleet
	if ch.Fleet == nil {
		fleet = &charter.Fleet{}
	}
	if _, err := a.d.SetFleet(fleet); err != nil {
		t.Fatal(err)
	}
	hc, base := consoleClient(t, a, "viewer")
	var body string
	waitFor(t, 20*time.Second, "the amendment in A's charter history", func() bool {
		_, body = getPage(t, hc, base+"/ui/sources")
		return strings.Contains(body, `<tr data-version="3">`)
	})
	checkHistory := func(body string) {
		t.Helper()
		i, j := strings.Index(body, `<tr data-version="3">`), strings.Index(body, `<tr data-version="2">`)
		if i < 0 || j < i {
			t.Fatalf("history, newest first:\n%s", body[strings.Index(body, "<h2>Amendments"):])
		}
		v3, v2 := body[i:j], body[j:j+strings.Index(body[j:], "</tr>")]
		short := b.d.ID()[:12]
		if !strings.Contains(v3, "fleet scenarios turned ") || !strings.Contains(v2, "admitted ") || !strings.Contains(v2, short) {
			t.Fatalf("what changed:\nv3 %s\nv2 %s", v3, v2)
		}
		if !strings.Contains(body, "version 3 in force") {
			t.Fatal("no version in force")
		}
	}
	checkHistory(body)
	// A restart replays the stream: the amendments are in force already,
	// the history stays as it was.
	dir, log := a.dir, a.log
	a.stop()
	a = startMember(t, dir, log)
	hc, base = consoleClient(t, a, "viewer")
	_, body = getPage(t, hc, base+"/ui/sources")
	checkHistory(body)
	if n := strings.Count(body, "<tr data-version="); n != 2 {
		t.Fatalf("%d amendments after a restart, want 2", n)
	}
}

// TestConsoleCharterHistoryLateJoiner: a member that joins after two
// amendments (B's admission, the fleet section) shows them in its
// console's charter history with its own admission: the inviting member
// hands over the signed amendments from the founding charter on, and the
// joiner verifies them before it keeps them.
func TestConsoleCharterHistoryLateJoiner(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance")
	}
	al := formAlliance(t, 2)
	al.sameCharter(t, 2)
	a, b := al.members[0], al.members[1]
	ch, err := charter.Load(filepath.Join(a.dir, "charter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var fleet *charter.Fleet
	if ch.Fleet == nil {
		fleet = &charter.Fleet{}
	}
	if _, err := a.d.SetFleet(fleet); err != nil {
		t.Fatal(err)
	}
	hc, base := consoleClient(t, a, "viewer")
	waitFor(t, 20*time.Second, "version 3 in A's charter history", func() bool {
		_, body := getPage(t, hc, base+"/ui/sources")
		return strings.Contains(body, `<tr data-version="3">`)
	})
	// C joins through A, the way formAlliance joins B.
	tok, err := daemon.Invite(a.dir, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "c")
	fab := testenv.FreeFabricAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	joined, err := daemon.Join(ctx, dir, daemon.JoinOptions{Token: tok.String(), Fabric: fab, Now: time.Now()})
	cancel()
	if err != nil || !joined {
		t.Fatalf("C's join: joined %v, err %v", joined, err)
	}
	c := startWith(t, dir, filepath.Join(filepath.Dir(dir), "c.log"), func(cf *config.File, _ *daemon.Options) { cf.Daemon.Fabric = fab })
	al.members = append(al.members, c)
	al.sameCharter(t, 3)
	hc, base = consoleClient(t, c, "viewer")
	_, body := getPage(t, hc, base+"/ui/sources")
	row := func(v int) string {
		t.Helper()
		i := strings.Index(body, fmt.Sprintf(`<tr data-version="%d">`, v))
		if i < 0 {
			t.Fatalf("no version %d in C's charter history:\n%s", v, body[max(0, strings.Index(body, "<h2>Amendments")):])
		}
		return body[i : i+strings.Index(body[i:], "</tr>")]
	}
	v4, v3, v2 := row(4), row(3), row(2)
	if !(strings.Index(body, v4) < strings.Index(body, v3) && strings.Index(body, v3) < strings.Index(body, v2)) {
		t.Fatal("C's history is not newest first")
	}
	short := func(m *member) string { return m.d.ID()[:12] }
	for _, c := range []struct{ row, want string }{
		{v2, "admitted "}, {v2, short(b)}, {v2, short(a)}, // B's admission, signed by A
		{v3, "fleet scenarios turned "}, {v3, short(a)},
		{v4, "admitted "}, {v4, short(c)}, {v4, short(a)},
	} {
		if !strings.Contains(c.row, c.want) {
			t.Fatalf("C's history row lacks %q:\n%s", c.want, c.row)
		}
	}
	if n := strings.Count(body, "<tr data-version="); n != 3 {
		t.Fatalf("C's history holds %d amendments, want 3", n)
	}
	// C replays the stream, which holds the same amendments: once each.
	c.stop()
	c = startWith(t, dir, filepath.Join(filepath.Dir(dir), "c.log"), func(cf *config.File, _ *daemon.Options) { cf.Daemon.Fabric = fab })
	hc, base = consoleClient(t, c, "viewer")
	_, body = getPage(t, hc, base+"/ui/sources")
	if n := strings.Count(body, "<tr data-version="); n != 3 {
		t.Fatalf("C's history holds %d amendments after a restart, want 3", n)
	}
}

// TestConsoleSourcesAndRates: a member's console shows each source's
// lines per second and last line, and the reports per minute it received
// from each member (its own included), from its running counters.
func TestConsoleSourcesAndRates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a member")
	}
	dir := t.TempDir()
	m := startMember(t, filepath.Join(dir, "data"), filepath.Join(dir, "auth.log"))
	m.waitTailing()
	hc, base := consoleClient(t, m, "viewer")
	appendLines(t, m.log, append(attack("203.0.113.61", 6), "\x01\x02 not a log line")...)
	waitFor(t, 20*time.Second, "the attack's ban", func() bool { return banned(m.d, "203.0.113.61") })
	source := `<tr data-source="` + m.log + `">`
	var row string
	// The row shows the source's own share of the pipeline: its events
	// and the line it could not read, by reason.
	waitFor(t, 20*time.Second, "the source's rate, last line, events and skipped lines on the sources view", func() bool {
		_, body := getPage(t, hc, base+"/ui/sources")
		i := strings.Index(body, source)
		if i < 0 {
			return false
		}
		row = body[i : i+strings.Index(body[i:], "</tr>")]
		return !strings.Contains(row, `<td class="num rate">0.0</td>`) && strings.Contains(row, time.Now().UTC().Format("2006-01-02 ")) &&
			strings.Contains(row, "events 6") && strings.Contains(row, "format 1")
	})
	t.Logf("source row: %s", row)
	self := `<tr data-member="` + m.d.ID() + `">`
	waitFor(t, 20*time.Second, "this member's reports per minute on the alliance view", func() bool {
		_, body := getPage(t, hc, base+"/ui/alliance")
		i := strings.Index(body, self)
		if i < 0 {
			return false
		}
		row = body[i : i+strings.Index(body[i:], "</tr>")]
		return !strings.Contains(row, `<td class="num">0</td>`) && strings.Contains(row, "<rect")
	})
	t.Logf("report rate row: %s", row)
}
