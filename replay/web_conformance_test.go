package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"phalanx"
	"phalanx/crawler"
	"phalanx/parser/parsertest"
	"phalanx/pipeline"
)

// webSample is one of fail2ban's annotated samples for its web filters, and
// the source an operator would declare for such a log.
type webSample struct {
	file    string // under parsertest.Fail2banLogs
	service string // the source is SERVICE:PATH
	// crawlers, when set, is the replay's crawler check
	// (Options.Pipeline.HTTP.Crawlers, what `phalanx replay --resolver`
	// sets): a stand-in for the DNS server.
	crawlers func(netip.Addr, []string) crawler.Verdict
}

// webSamples are the samples of fail2ban's filters for the web servers and
// log shapes phalanx reads. php-url-fopen's is an Apache access log;
// haproxy-http-auth's and the last lines of apache-auth are wrapped by
// syslog, as those servers write them with "log"/"ErrorLog syslog".
var webSamples = []webSample{
	{file: "nginx-http-auth", service: "nginx"},
	{file: "nginx-limit-req", service: "nginx"},
	{file: "nginx-botsearch", service: "nginx"},
	{file: "nginx-bad-request", service: "nginx"},
	{file: "apache-auth", service: "apache"},
	{file: "apache-badbots", service: "apache"},
	{file: "apache-botsearch", service: "apache"},
	{file: "apache-fakegooglebot", service: "apache", crawlers: noCrawlerConfirmed},
	{file: "apache-modsecurity", service: "apache"},
	{file: "apache-nohome", service: "apache"},
	{file: "apache-noscript", service: "apache"},
	{file: "apache-overflows", service: "apache"},
	{file: "apache-shellshock", service: "apache"},
	{file: "php-url-fopen", service: "apache"},
	{file: "traefik-auth", service: "traefik"},
	{file: "haproxy-http-auth", service: "haproxy"},
}

// webOutOfScope are fail2ban's web samples that are not replayed, and why.
var webOutOfScope = map[string]string{
	"lighttpd-auth": "lighttpd's error log: a server phalanx does not read (no lighttpd service or shape)",
	"apache-pass": "not an attack: fail2ban's apache-pass jail opens the firewall for an address that fetched " +
		"a secret knocking URL (the annotated line is an authenticated user's 200 for /knocking/)",
}

// noCrawlerConfirmed plays the DNS server of the fake-Googlebot sample: no
// address there has a reverse name in its claimed crawler's domains that
// resolves back to it, so every claim is Fake. crawler.Verifier, which
// `phalanx replay --resolver` wires in, asks a real server the same
// question.
func noCrawlerConfirmed(netip.Addr, []string) crawler.Verdict { return crawler.Fake }

// webMiss is a line fail2ban matches with an address where phalanx, on
// purpose, yields no event that blames the address.
type webMiss struct {
	file, text string // the sample file, and text that only the lines meant contain
	blames     string // the address phalanx blames instead, "" for no event at all
	why        string
}

// webMisses are the exceptions to "every line fail2ban matches yields an
// event blaming its address".
var webMisses = []webMiss{
	{file: "nginx-bad-request", text: `] "" 400 `,
		why: `an empty request line: the connection sent no request at all, which is what browsers' unused ` +
			`preconnections leave behind; the pack never counts a request that is not there, so that nobody is ` +
			`banned for a connection the browser opened and did not need`},
	{file: "nginx-http-auth", text: `user "test": password mismatch, client: 127.0.0.1,`, blames: "127.0.0.1",
		why: `fail2ban reads the second client field, taking the user name for 'test": password mismatch, ` +
			`client: 127.0.0.1, ...'; but nginx ends a basic-auth user name at its first colon, so no user name ` +
			`holds ", client: ", and the first client field of an auth failure is nginx's own: 127.0.0.1 failed, ` +
			`and wrote the rest of the line in its Host header. Reading the later field would let any client ` +
			`blame any address`},
	{file: "apache-auth", text: "provided via SNI, but no hostname provided in HTTP request",
		why: "AH02031: a TLS request without a Host header, which HTTP/1.0 allows and health checks send; " +
			"Apache refuses it, and nothing says it was an attack"},
	{file: "apache-auth", text: "provided via HTTP have no compatible SSL setup",
		why: "AH02032: SNI and Host name different virtual hosts; browsers cause it when they reuse an HTTP/2 " +
			"connection for another host of the same certificate (Apache answers 421, the browser retries)"},
	{file: "apache-auth", text: "No hostname was provided via SNI for a name based virtual host",
		why: "AH02033: a client that sent no SNI, as every client that connects by IP address does (curl sends " +
			"none for an address), monitors included"},
	{file: "apache-modsecurity", text: `[msg "Request Missing an Accept Header"]`,
		why: "ModSecurity refused / for a request without an Accept header, which is what scripts and monitors " +
			"send; a ModSecurity refusal counts as probe evidence for its path, and the site's root is no probe " +
			"(it is every visitor's first request)"},
	{file: "apache-noscript", text: "Primary script unknown",
		why: "php-fpm names neither the script nor the request: the access log's 404 of the same request is " +
			"the event, with its path (an event without a path counts for nothing: the probing scenario " +
			"counts distinct paths)"},
	{file: "apache-fakegooglebot", text: "Googlebot/2.1",
		why: `the sample's LogFormat is the tester's own ("%h - - - [time without zone] vhost "%r" ... + in out ` +
			`usec"), none of the access-log shapes phalanx reads; a combined line claiming Googlebot from an ` +
			`address the crawler check calls Fake is an http-fake-crawler event (pipeline/http_test.go)`},
	{file: "traefik-auth", text: `10.0.0.2 - - [18/Nov/2018:21:34:30 +0000] "GET /dashboard/ HTTP/2.0" 401`,
		why: "a 401 without a user name, which fail2ban's ddos mode counts: it is also every browser's first " +
			"request to a protected page (the challenge, before any password); the pack counts 401s that carry " +
			"a user (a wrong password)"},
	{file: "haproxy-http-auth", text: "main/<NOSRV> -1/-1/-1/-1/0 401 ",
		why: "HAProxy's own 401 (http-request auth), which logs no user name: the challenge to a browser's first " +
			"request and a wrong password look the same"},
}

// webExtra is a line fail2ban does not match (in any mode) where phalanx
// yields events on purpose, all blaming source.
type webExtra struct {
	file, text, source string
	why                string
}

// webExtras are the lines fail2ban annotates as no match that phalanx
// judges attacks (its pack is broader than any one fail2ban filter).
var webExtras = []webExtra{
	{file: "apache-auth", text: "/srv/http/site/[client 192.168.0.1] user root not found", source: "192.168.33.1",
		why: "192.168.33.1 asked for a file that is not there: probe evidence of its own request; the " +
			"[client 192.168.0.1] its path forges into the message is not read, which is what fail2ban's " +
			"annotation guards"},
	{file: "apache-botsearch", text: "script '/var/www/forum/mail.php' not found", source: "92.43.20.165",
		why: "a script that is not there, probe evidence like any 404 for a path that is not a static asset " +
			"(fail2ban's botsearch filter lists only some names; its noscript filter matches this shape)"},
	{file: "apache-botsearch", text: "client denied by server configuration: /var/www/webmail/.htaccess", source: "122.49.201.178",
		why: "a request for .htaccess, which Apache refuses to everyone: a probe for a secret file"},
	{file: "traefik-auth", text: `10.0.0.2 - username [18/Nov/2018:21:34:30 +0000] "GET /dashboard/ HTTP/2.0" 401`, source: "10.0.0.2",
		why: "a 401 with a user name, a wrong password: fail2ban's normal mode matches it; this annotation " +
			"is for its ddos mode, which counts only 401s without a user"},
}

// webTally counts one sample file's lines.
type webTally struct {
	annotated, expected, covered, missed int
	noMatchEvents, otherMode, extras     int
}

func (a *webTally) add(b webTally) {
	a.annotated += b.annotated
	a.expected += b.expected
	a.covered += b.covered
	a.missed += b.missed
	a.noMatchEvents += b.noMatchEvents
	a.otherMode += b.otherMode
	a.extras += b.extras
}

// TestFail2banWebConformance replays fail2ban's annotated samples for its
// web filters, one file each, through replay.Run with events, as `phalanx
// replay --events SERVICE:FILE` does with the default configuration (and,
// for the fake-Googlebot sample, a crawler check standing in for DNS).
// Every line fail2ban matches with an address must yield an event blaming
// that address, and only that address; a line it matches in no mode must
// yield none. webMisses and webExtras are the exceptions, each with its
// reason; one that no line needs, or that covers a line it need not, fails
// the test.
func TestFail2banWebConformance(t *testing.T) {
	var names []string
	for _, s := range webSamples {
		names = append(names, s.file)
	}
	parsertest.RequireSamples(t, names...)
	usedMiss := make([]bool, len(webMisses))
	usedExtra := make([]bool, len(webExtras))
	var total webTally
	for _, ws := range webSamples {
		samples := parsertest.ReadSamples(t, ws.file)
		events, note := replayWebSamples(t, ws, samples)
		matchedText := map[string]bool{}
		for _, s := range samples {
			if s.Match {
				matchedText[s.Text] = true
			}
		}
		var n webTally
		for i, s := range samples {
			where := fmt.Sprintf("%s:%d", s.File, s.No)
			evs := events[i]
			if s.Annotated {
				n.annotated++
			}
			if !s.Match {
				if len(evs) == 0 {
					continue
				}
				n.noMatchEvents++
				if matchedText[s.Text] {
					// fail2ban matches this very line in another mode of
					// the file (phalanx reads the union of the modes).
					n.otherMode++
					t.Logf("%s: no match in this mode, matched in another, got %s", where, blameList(evs))
					continue
				}
				k := findExtra(ws.file, s.Text)
				if k < 0 {
					t.Errorf("%s: fail2ban matches this line in no mode, but got %s: %s", where, blameList(evs), s.Text)
					continue
				}
				usedExtra[k] = true
				n.extras++
				for _, ev := range evs {
					if ev.Source != webExtras[k].source {
						t.Errorf("%s: documented extra blames %s, got %s: %s", where, webExtras[k].source, blameList(evs), s.Text)
						break
					}
				}
				t.Logf("%s: no match, got %s; judged an attack: %s", where, blameList(evs), webExtras[k].why)
				continue
			}
			if s.Host == "" {
				if len(evs) == 0 {
					t.Errorf("%s: no event, fail2ban matches it: %s", where, s.Text)
				}
				continue
			}
			want, err := netip.ParseAddr(s.Host)
			if err != nil {
				t.Fatalf("%s: failJSON host %q is not an address", where, s.Host)
			}
			n.expected++
			wantS := phalanx.Normalize(want).String()
			blamesWant, blamesOther := false, false
			for _, ev := range evs {
				if ev.Source == wantS {
					blamesWant = true
				} else {
					blamesOther = true
				}
			}
			k := findMiss(ws.file, s.Text)
			switch {
			case blamesWant && !blamesOther && k < 0:
				n.covered++
			case blamesWant && k >= 0:
				t.Errorf("%s: documented miss %q covers a line that yields an event blaming %s: narrow or remove it", where, webMisses[k].text, wantS)
			case blamesWant:
				t.Errorf("%s: events blame %s, and also another address: %s: %s", where, wantS, blameList(evs), s.Text)
			case k < 0 && len(evs) == 0:
				t.Errorf("%s: no event, fail2ban matches %s (%s): %s", where, wantS, note, s.Text)
			case k < 0:
				t.Errorf("%s: got %s, fail2ban blames %s: %s", where, blameList(evs), wantS, s.Text)
			default:
				usedMiss[k] = true
				n.missed++
				ok := true
				for _, ev := range evs {
					ok = ok && ev.Source == webMisses[k].blames
				}
				if len(evs) > 0 && !ok || len(evs) == 0 && webMisses[k].blames != "" {
					t.Errorf("%s: documented miss says %q is blamed, got %s: %s", where, webMisses[k].blames, blameList(evs), s.Text)
				}
				t.Logf("%s: documented miss of %s: %s", where, wantS, webMisses[k].why)
			}
		}
		t.Logf("%s (%s:FILE): %d annotated lines, %d matches with an address, %d yield an event blaming it, %d documented misses; "+
			"%d lines fail2ban does not match yield events (%d matched in another of its modes, %d judged attacks); %s",
			ws.file, ws.service, n.annotated, n.expected, n.covered, n.missed, n.noMatchEvents, n.otherMode, n.extras, note)
		total.add(n)
	}
	for _, f := range slices.Sorted(maps.Keys(webOutOfScope)) {
		t.Logf("%s: not replayed: %s", f, webOutOfScope[f])
	}
	t.Logf("total: %d annotated lines, %d matches with an address, %d yield an event blaming it (%.1f%%), %d documented misses, %d judged extras",
		total.annotated, total.expected, total.covered, 100*float64(total.covered)/float64(max(total.expected, 1)), total.missed, total.extras)
	if t.Failed() {
		return // an exception may look unused only because its line failed otherwise
	}
	for k, used := range usedMiss {
		if !used {
			t.Errorf("documented miss no longer needed (remove it): %s %q", webMisses[k].file, webMisses[k].text)
		}
	}
	for k, used := range usedExtra {
		if !used {
			t.Errorf("documented extra no longer needed (remove it): %s %q", webExtras[k].file, webExtras[k].text)
		}
	}
}

func findMiss(file, text string) int {
	for k, m := range webMisses {
		if m.file == file && strings.Contains(text, m.text) {
			return k
		}
	}
	return -1
}

func findExtra(file, text string) int {
	for k, e := range webExtras {
		if e.file == file && strings.Contains(text, e.text) {
			return k
		}
	}
	return -1
}

// webEvent is one "type":"event" line of `phalanx replay --events`, as this
// test reads it.
type webEvent struct {
	Type    string           `json:"type"`
	Kind    string           `json:"kind"`
	Source  string           `json:"source"`
	Detail  string           `json:"detail"`
	Line    int              `json:"line"`
	Skipped int64            `json:"skipped"`
	By      map[string]int64 `json:"skipped_by_reason"`
}

func blameList(evs []webEvent) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, fmt.Sprintf("%s %s (%s)", ev.Kind, ev.Source, ev.Detail))
	}
	return strings.Join(parts, ", ")
}

// replayWebSamples writes the sample's log lines (not its annotations) to a
// file and replays it as ws.service's source, with events. It returns the
// events of each sample line and a note of what the replay skipped.
func replayWebSamples(t *testing.T, ws webSample, samples []*parsertest.Sample) ([][]webEvent, string) {
	t.Helper()
	var in bytes.Buffer
	for _, s := range samples {
		in.WriteString(s.Text)
		in.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), ws.file+".log")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := pipeline.DefaultConfig()
	cfg.HTTP.Crawlers = ws.crawlers
	var out bytes.Buffer
	if _, err := Run(context.Background(), Options{
		Events: true, Files: []string{ws.service + ":" + path}, Stdout: &out, Location: time.UTC, Pipeline: cfg,
	}); err != nil {
		t.Fatal(err)
	}
	events := make([][]webEvent, len(samples))
	var summary webEvent
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev webEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("output line is not JSON: %v: %q", err, sc.Text())
		}
		switch ev.Type {
		case "summary":
			summary = ev
		case "event":
			if ev.Line < 1 || ev.Line > len(samples) {
				t.Fatalf("event for line %d of %d: %q", ev.Line, len(samples), sc.Text())
			}
			events[ev.Line-1] = append(events[ev.Line-1], ev)
		}
	}
	if summary.Type != "summary" {
		t.Fatal("no summary line")
	}
	return events, fmt.Sprintf("replay skipped %d lines %v", summary.Skipped, summary.By)
}
