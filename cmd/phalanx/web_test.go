package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"phalanx/daemon"
	"phalanx/netns"
	"phalanx/testenv"
)

// The web tests put a real web server (nginx, Apache, Caddy, HAProxy) and a
// real `phalanx run` tailing the server's logs in one network namespace
// ("web"), and the clients in another ("clients"), joined by a veth pair on
// webLAN. Clients need addresses of their own because phalanx never bans
// loopback (127.0.0.0/8 is territory): an attacker on 127.0.0.2 would be
// detected but never banned. The namespaces are fresh, so the servers'
// fixed ports below are free in them whatever the host runs.
var webLAN = netip.MustParsePrefix("10.77.8.0/24")

const (
	webAddr   = "10.77.8.1" // the web server, in the web namespace
	webPort   = "8080"
	filesPort = "8081"      // HAProxy's backend, on 127.0.0.1 in the web namespace
	webUser   = "10.77.8.2" // the normal user: browses, logs in, meets one 404
	webFlood  = "10.77.8.7" // floods nginx's rate-limited /search; attackers are .3 to .8
	latencyLo = 10          // the latency probes come from .10 …
	latencyN  = 20          // … to .29, one probe each

	siteUser     = "alice" // the one account of the basic-auth location
	sitePassword = "wonderland"
	// caddyHash is sitePassword's bcrypt hash at cost 4: the hash `caddy
	// hash-password` makes (cost 14) costs Caddy a second per failed
	// attempt, which would make the basic-auth attack take a minute.
	caddyHash = "$2a$04$IQ5mxjsrH0CBbjMn1Zwz/.DMuPqzQMR0E/JleSUgYL1HcBkB2Ih0q"
)

// cveProbe is the request of CVE-2017-9841 scanners (PHPUnit's eval-stdin).
const cveProbe = "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"

var webURL = "http://" + net.JoinHostPort(webAddr, webPort)

// hit is one request a client makes.
type hit struct {
	path        string
	user, pass  string // basic authentication, when user is set
	agent       string // User-Agent; a browser's when empty
	wantAllowed bool   // a normal user's request: it must not be refused
}

const browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// webAttack is one attacker's requests, from an address of its own, and
// the scenario of the HTTP rule pack they must trip.
type webAttack struct {
	name     string
	from     string
	hits     []hit
	scenario string
	servers  []string // the servers whose logs show it; nil: every server
}

func (a webAttack) on(server string) bool {
	return a.servers == nil || slices.Contains(a.servers, server)
}

func webAttacks() []webAttack {
	var notFound, auth, flood []hit
	for i := range 30 {
		notFound = append(notFound, hit{path: fmt.Sprintf([]string{"/page%02d.html", "/old/%02d/", "/articles/%02d", "/shop/item%02d", "/news/%02d.php"}[i%5], i)})
	}
	for i := range 10 {
		auth = append(auth, hit{path: "/private/", user: siteUser, pass: fmt.Sprintf("guess%d", i)})
	}
	auth = append(auth, hit{path: "/private/", user: "admin", pass: "admin"}, hit{path: "/private/", user: "root", pass: "toor"})
	for range 30 {
		flood = append(flood, hit{path: "/search"})
	}
	sqlmap := "sqlmap/1.7.2#stable (https://sqlmap.org)"
	return []webAttack{
		{name: "CVE probe", from: "10.77.8.3", scenario: "http-cve-probe",
			hits: []hit{{path: cveProbe, agent: "Go-http-client/1.1"}}},
		{name: "burst of distinct 404s", from: "10.77.8.4", scenario: "http-probing", hits: notFound},
		{name: "/.env and other secrets", from: "10.77.8.5", scenario: "http-sensitive-files",
			hits: []hit{{path: "/.env"}, {path: "/.git/config"}, {path: "/.aws/credentials"}, {path: "/wp-config.php.bak"}}},
		// Caddy's access log and HAProxy's httplog do not name the user of
		// a failed basic authentication, and a 401 without a user reads as
		// a browser's first request (httprules: basic-auth-401-with-user).
		{name: "basic-auth failures", from: "10.77.8.6", scenario: "http-auth-bf", hits: auth,
			servers: []string{"nginx", "apache"}},
		{name: "limit_req flood", from: webFlood, scenario: "http-rate-limit", hits: flood, servers: []string{"nginx"}},
		// HAProxy's httplog has no User-Agent.
		{name: "attack tool's user agent", from: "10.77.8.8", scenario: "http-bad-user-agent",
			hits:    []hit{{path: "/", agent: sqlmap}, {path: "/about.html", agent: sqlmap}, {path: "/?id=1", agent: sqlmap}},
			servers: []string{"nginx", "apache", "caddy"}},
	}
}

// browsing is what the normal user does, before and after the attacks.
func browsing() []hit {
	return []hit{
		{path: "/", wantAllowed: true},
		{path: "/about.html", wantAllowed: true},
		{path: "/style.css", wantAllowed: true},
		{path: "/favicon.ico"}, // a 404 every browser meets
		{path: "/private/", user: siteUser, pass: sitePassword, wantAllowed: true},
		{path: "/", wantAllowed: true},
	}
}

// webServer is how to run one web server under test.
type webServer struct {
	name     string
	pkg      string   // the Debian package
	programs []string // its executable, by name or path
	conf     string   // the file in testdata/web, rendered into the test's directory
	// forwardAuth: the server asks phalanx about each request, so a
	// banned client gets 403 from the server itself.
	forwardAuth bool
	// sources are the `--source` values for phalanx, given the directory.
	sources func(dir string) []string
	// prepare writes what the configuration needs besides the site and the
	// htpasswd file (HAProxy's Lua script, Caddy's password hash).
	prepare func(t *testing.T, l *webLab, prog string, v *webVars)
	// command is the server's command line.
	command func(prog, dir string) []string
	// stdoutTo names a file that gets the server's standard output (HAProxy's
	// log); "" keeps it with its standard error for the failure report.
	stdoutTo string
	logs     []string // files in the directory shown when a test fails
}

// webVars fill the configuration templates.
type webVars struct {
	Dir          string // the test's directory: site/, logs, pid file
	Addr         string // the address the server listens on
	Listen       string // the address and port
	API          string // phalanx's API (forward-auth) address
	Files        string // HAProxy's backend address
	User         string // the basic-auth user …
	Password     string // … and password
	CaddyHash    string
	HAProxyRules string // the http-request lines of docs/forward-auth.md
	RunAsRoot    bool
}

var (
	nginxServer = webServer{
		name: "nginx", pkg: "nginx-light", programs: []string{"nginx", "/usr/sbin/nginx"}, conf: "nginx.conf",
		forwardAuth: true,
		sources: func(dir string) []string {
			return []string{"nginx:" + filepath.Join(dir, "access.log"), "nginx:" + filepath.Join(dir, "error.log")}
		},
		command: func(prog, dir string) []string {
			return []string{prog, "-p", dir + "/", "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;"}
		},
		logs: []string{"access.log", "error.log"},
	}
	apacheServer = webServer{
		name: "apache", pkg: "apache2", programs: []string{"apache2", "/usr/sbin/apache2"}, conf: "apache2.conf",
		sources: func(dir string) []string {
			return []string{"apache:" + filepath.Join(dir, "access.log"), "apache:" + filepath.Join(dir, "error.log")}
		},
		command: func(prog, dir string) []string {
			return []string{prog, "-d", dir, "-f", filepath.Join(dir, "apache2.conf"), "-DFOREGROUND"}
		},
		logs: []string{"access.log", "error.log"},
	}
	caddyServer = webServer{
		name: "caddy", pkg: "caddy", programs: []string{"caddy"}, conf: "Caddyfile",
		forwardAuth: true,
		sources: func(dir string) []string {
			return []string{"caddy:" + filepath.Join(dir, "access.log")}
		},
		prepare: func(t *testing.T, l *webLab, prog string, v *webVars) {
			v.CaddyHash = caddyHash
		},
		command: func(prog, dir string) []string {
			return []string{prog, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile"}
		},
		logs: []string{"access.log"},
	}
	haproxyServer = webServer{
		name: "haproxy", pkg: "haproxy", programs: []string{"haproxy", "/usr/sbin/haproxy"}, conf: "haproxy.cfg",
		forwardAuth: true,
		sources: func(dir string) []string {
			return []string{"haproxy:" + filepath.Join(dir, "access.log")}
		},
		prepare: func(t *testing.T, l *webLab, prog string, v *webVars) {
			// The Lua action and the http-request lines exactly as
			// docs/forward-auth.md shows them.
			if err := os.WriteFile(filepath.Join(v.Dir, "phalanx-forward-auth.lua"), []byte(docsBlock(t, "lua")), 0o644); err != nil {
				t.Fatal(err)
			}
			var rules strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(docsBlock(t, "haproxy")), "\n") {
				rules.WriteString("    " + line + "\n")
			}
			v.HAProxyRules = rules.String()
			v.Files = "127.0.0.1:" + filesPort
			l.serveFiles(t, v.Files, filepath.Join(v.Dir, "site"))
		},
		command: func(prog, dir string) []string {
			return []string{prog, "-db", "-f", filepath.Join(dir, "haproxy.cfg")}
		},
		stdoutTo: "access.log",
		logs:     []string{"access.log"},
	}
)

// TestWebNginx, TestWebApache, TestWebCaddy and TestWebHAProxy run one
// real web server each in front of a static site, with `phalanx run
// --enforce none` tailing its logs. A normal user browses (and logs in)
// while attackers, each from an address of its own, probe for a CVE, burst
// through distinct 404s, fetch /.env and other secrets, guess the
// basic-auth password, flood a rate-limited page and scan with an attack
// tool (each where the server's logs show it). Every attacker must end up
// refused by the server itself (403 with phalanx's decision header: nginx's
// auth_request, Caddy's forward_auth, HAProxy's Lua action of
// docs/forward-auth.md) or, for Apache, which has no forward-auth hook,
// banned in phalanx's decisions, by the scenario its attack is for; the
// normal user must still get every page and hold no decision. Then twenty more addresses send one CVE probe each and the
// time from the probe's answer to the first refusal is logged (p50/p99),
// never asserted.
func TestWebNginx(t *testing.T)   { runWeb(t, nginxServer) }
func TestWebApache(t *testing.T)  { runWeb(t, apacheServer) }
func TestWebCaddy(t *testing.T)   { runWeb(t, caddyServer) }
func TestWebHAProxy(t *testing.T) { runWeb(t, haproxyServer) }

func runWeb(t *testing.T, s webServer) {
	if testing.Short() {
		t.Skip("starts a real web server and phalanx in network namespaces")
	}
	l := startWeb(t, s, "none")
	l.browse(t, "before the attacks")
	for _, a := range webAttacks() {
		if !a.on(s.name) {
			continue
		}
		sent := l.send(t, a)
		d := l.waitRefused(t, a.from, sent, 15*time.Second)
		t.Logf("%s from %s: %d requests, refused %v after the last one (%s)", a.name, a.from, len(a.hits), d.Round(100*time.Microsecond), l.decisionSummary(t, a.from))
		l.wantScenario(t, a)
	}
	l.measureLatency(t)
	l.browse(t, "after the attacks")
	l.noDecision(t, webUser)
	t.Logf("phalanx's pipeline: %v", l.status(t).Pipeline)
	ex := l.explain(t, "10.77.8.3")
	if !strings.Contains(ex, "eval-stdin.php") {
		t.Errorf("phalanx explain 10.77.8.3 does not show the probe's log line:\n%s", ex)
	}
}

// TestWebNginxNftables runs nginx and `phalanx run --enforce nftables` in
// the web namespace: once the attacks are detected the attackers' packets
// are dropped by the web namespace's kernel (their connections time out),
// while the normal user on the same link still connects and gets every
// page.
func TestWebNginxNftables(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and phalanx with nftables in network namespaces")
	}
	l := startWeb(t, nginxServer, "nftables")
	if st := l.status(t); st.Enforce != "nftables" {
		t.Fatalf("phalanx enforces with %q (%s), want nftables", st.Enforce, st.EnforceWhy)
	}
	l.browse(t, "before the attacks")
	addr := net.JoinHostPort(webAddr, webPort)
	for _, a := range webAttacks() {
		if !a.on("nginx") {
			continue
		}
		sent := l.send(t, a)
		waitUntil(t, 15*time.Second, a.name+": "+a.from+"'s packets dropped", func() bool {
			return dropped(dialFrom(l.cli, a.from, addr, 200*time.Millisecond))
		})
		t.Logf("%s from %s: its SYNs dropped, seen %v after its last request (%s)", a.name, a.from, time.Since(sent).Round(time.Millisecond), l.decisionSummary(t, a.from))
		l.wantScenario(t, a)
	}
	if err := dialFrom(l.cli, webUser, addr, 2*time.Second); err != nil {
		t.Errorf("the normal user cannot connect once the attackers are dropped: %v", err)
	}
	l.browse(t, "after the attackers were dropped")
	l.noDecision(t, webUser)
}

// webLab is one web test's namespaces, directory and phalanx daemon.
type webLab struct {
	srv, cli *netns.NS
	dir      string // the server's files and logs, daemon.log
	data     string // phalanx's data directory
	p        *proc
	info     daemon.ClientInfo
	admin    *http.Client // keep-alive, inside srv
	clients  map[string]*http.Client
	// fa: the server asks phalanx about each request (forward-auth), so a
	// banned client is refused by the server itself.
	fa bool
}

// newWebLab builds the two namespaces and the link between them, with the
// clients' addresses on the clients' end.
func newWebLab(t *testing.T) *webLab {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "the web tests need root for their network namespaces: phalanx never bans loopback addresses, so the clients need addresses of their own (run as root, e.g. sudo go test)")
	}
	if hostUses(webLAN) {
		testenv.Missing(t, fmt.Sprintf("the host has an address in %s, the web tests' private LAN: pick another prefix in web_test.go", webLAN))
	}
	needTools(t, "ip")
	l := &webLab{srv: netns.New(t), cli: netns.New(t), dir: t.TempDir(), clients: map[string]*http.Client{}}
	l.data = filepath.Join(l.dir, "data")
	_, ifc := netns.Link(t, l.srv, netip.PrefixFrom(netip.MustParseAddr(webAddr), webLAN.Bits()),
		l.cli, netip.PrefixFrom(netip.MustParseAddr(webUser), webLAN.Bits()))
	var addrs []string
	for _, a := range webAttacks() {
		addrs = append(addrs, a.from)
	}
	for i := range latencyN {
		addrs = append(addrs, fmt.Sprintf("10.77.8.%d", latencyLo+i))
	}
	for _, a := range addrs {
		l.cli.AddAddr(t, ifc, netip.PrefixFrom(netip.MustParseAddr(a), webLAN.Bits()))
	}
	return l
}

// startWeb starts phalanx (enforcing as enforce) and the server s in a new
// webLab, and returns once the server serves the site and phalanx reads
// its logs.
func startWeb(t *testing.T, s webServer, enforce string) *webLab {
	t.Helper()
	prog := testenv.Program(t, s.pkg, s.programs...)
	l := newWebLab(t)
	l.fa = s.forwardAuth
	if enforce == "nftables" {
		needNftables(t, l.srv)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.showFile(t, "daemon.log", 80)
			for _, f := range s.logs {
				l.showFile(t, f, 40)
			}
		}
	})
	writeSite(t, l.dir)

	// phalanx first: the server's configuration needs its API address.
	cfg := filepath.Join(l.dir, "phalanx.yaml")
	if err := os.WriteFile(cfg, []byte("forward_auth:\n  trusted_proxies: [127.0.0.1/32]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--enforce", enforce, "--config", cfg}
	for _, src := range s.sources(l.dir) {
		args = append(args, "--source", src)
	}
	l.p = startDaemonIn(t, l.srv, l.data, args...)
	l.admin = keepAliveClientIn(l.srv)
	l.info = waitServingVia(t, l.admin, l.p, l.data)

	v := &webVars{Dir: l.dir, Addr: webAddr, Listen: net.JoinHostPort(webAddr, webPort), API: l.info.Addr,
		User: siteUser, Password: sitePassword, RunAsRoot: os.Geteuid() == 0}
	if s.prepare != nil {
		s.prepare(t, l, prog, v)
	}
	renderTemplate(t, s.conf, filepath.Join(l.dir, s.conf), v)
	srv := l.startServer(t, s, prog)
	l.waitReady(t, srv)
	l.waitReading(t)
	return l
}

// writeSite writes the static site and the htpasswd file under dir, and
// opens dir to the servers' unprivileged workers (Apache's run as
// www-data).
func writeSite(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"site/index.html":         "<!doctype html><title>phalanx web test</title><h1>Welcome</h1>\n",
		"site/about.html":         "<!doctype html><title>about</title><p>A small static site.</p>\n",
		"site/style.css":          "body { font-family: sans-serif; }\n",
		"site/private/index.html": "<!doctype html><title>members</title><p>Members only.</p>\n",
	}
	sum := sha1.Sum([]byte(sitePassword))
	files["htpasswd"] = siteUser + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Join(dir, "tmp"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// t.TempDir makes dir and its parent 0700.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// renderTemplate renders testdata/web/name into dst.
func renderTemplate(t *testing.T, name, dst string, v *webVars) {
	t.Helper()
	tmpl, err := template.New(name).Option("missingkey=error").ParseFiles(filepath.Join("testdata", "web", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// docsBlock returns the first fenced code block of docs/forward-auth.md
// whose info string is info, so that the test runs what the documentation
// shows.
func docsBlock(t *testing.T, info string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "forward-auth.md"))
	if err != nil {
		t.Fatalf("read the documentation: %v", err)
	}
	_, rest, ok := strings.Cut(string(b), "\n```"+info+"\n")
	if !ok {
		t.Fatalf("docs/forward-auth.md has no ```%s block", info)
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("docs/forward-auth.md: unterminated ```%s block", info)
	}
	return block + "\n"
}

// serveFiles serves dir on addr inside the web namespace until the test
// ends: HAProxy's backend.
func (l *webLab) serveFiles(t *testing.T, addr, dir string) {
	t.Helper()
	var ln net.Listener
	if err := l.srv.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, l.srv.Name(), err)
	}
	hs := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
}

// server is a web server process started by a test.
type server struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error // its exit, once done is closed
}

// startServer runs s in the web namespace in its own process group and
// stops it (SIGTERM, then SIGKILL to the group) when the test ends.
func (l *webLab) startServer(t *testing.T, s webServer, prog string) *server {
	t.Helper()
	argv := s.command(prog, l.dir)
	cmd := l.srv.Exec(context.Background(), argv[0], argv[1:]...)
	// Caddy writes its autosave and certificates under HOME and XDG dirs.
	cmd.Env = append(os.Environ(), "HOME="+l.dir, "XDG_DATA_HOME="+l.dir, "XDG_CONFIG_HOME="+l.dir)
	p := &server{name: s.name, cmd: cmd, out: new(testenv.Buffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if s.stdoutTo != "" {
		f, err := os.OpenFile(filepath.Join(l.dir, s.stdoutTo), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // the child has its own descriptor
		cmd.Stdout = f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop on SIGTERM within 10s; killing its process group", s.name)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // workers are in the group
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", s.name, p.out.String())
		}
	})
	return p
}

// waitReady polls the site as the normal user until it answers 200,
// failing if the server exits or the deadline passes.
func (l *webLab) waitReady(t *testing.T, p *server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		code, _, err := l.get(webUser, hit{path: "/"})
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("status %d, error %v", code, err)
		select {
		case <-p.done:
			t.Fatalf("%s exited before it served (%v):\n%s", p.name, p.err, p.out.String())
		case <-time.After(20 * time.Millisecond): // the polling interval
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve %s within 20s; last: %s\n%s", p.name, webURL, last, p.out.String())
		}
	}
}

// waitReading waits until phalanx has read a line of the server's logs
// (the normal user's requests of waitReady are in the access log).
func (l *webLab) waitReading(t *testing.T) {
	t.Helper()
	waitUntil(t, 20*time.Second, "phalanx to read the web server's log", func() bool {
		l.get(webUser, hit{path: "/"})
		var st daemon.Status
		return adminGetVia(l.admin, l.info, "/api/status", &st) == nil && st.Pipeline["lines"] > 0
	})
}

func (l *webLab) status(t *testing.T) daemon.Status {
	t.Helper()
	var st daemon.Status
	if err := adminGetVia(l.admin, l.info, "/api/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// client returns the HTTP client of the address from, in the clients'
// namespace: keep-alive, no redirects followed.
func (l *webLab) client(from string) *http.Client {
	if c, ok := l.clients[from]; ok {
		return c
	}
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := l.cli.Do(func() (err error) { c, err = d.DialContext(ctx, network, addr); return err })
			return c, err
		}}
	// Short: once an attacker is dropped, its last request waits this long.
	c := &http.Client{Transport: tr, Timeout: 2 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	l.clients[from] = c
	return c
}

// get makes h's request from the address from and returns the status and
// phalanx's decision header.
func (l *webLab) get(from string, h hit) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, webURL+h.path, nil)
	if err != nil {
		return 0, "", err
	}
	agent := h.agent
	if agent == "" {
		agent = browser
	}
	req.Header.Set("User-Agent", agent)
	if h.user != "" {
		req.SetBasicAuth(h.user, h.pass)
	}
	resp, err := l.client(from).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("X-Phalanx-Decision"), nil
}

// browse makes the normal user's requests; each it must be allowed must
// answer 200.
func (l *webLab) browse(t *testing.T, when string) {
	t.Helper()
	for _, h := range browsing() {
		code, _, err := l.get(webUser, h)
		if err != nil {
			t.Fatalf("%s: the normal user's GET %s: %v", when, h.path, err)
		}
		if h.wantAllowed && code != http.StatusOK {
			t.Errorf("%s: the normal user's GET %s answered %d, want 200", when, h.path, code)
		}
	}
}

// send makes an attack's requests and returns when the last was answered.
// A request refused already (403) or dropped is fine: the attacker was
// caught early.
func (l *webLab) send(t *testing.T, a webAttack) time.Time {
	t.Helper()
	for _, h := range a.hits {
		if _, _, err := l.get(a.from, h); err != nil {
			t.Logf("%s: GET %s from %s: %v", a.name, h.path, a.from, err)
			break
		}
	}
	return time.Now()
}

// refused reports whether addr is refused: a 403 from the server carrying
// phalanx's decision header where the server asks phalanx (forward-auth),
// otherwise a decision on addr in phalanx.
func (l *webLab) refused(addr string) bool {
	if l.fa {
		code, id, err := l.get(addr, hit{path: "/"})
		return err == nil && code == http.StatusForbidden && id != ""
	}
	var ds []daemon.DecisionView
	return adminGetVia(l.admin, l.info, "/api/decisions?ip="+addr, &ds) == nil &&
		slices.ContainsFunc(ds, func(d daemon.DecisionView) bool { return d.Value == addr })
}

// waitRefused polls (1 ms apart) until addr is refused and returns how
// long after since; it fails the test after limit.
func (l *webLab) waitRefused(t *testing.T, addr string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	deadline := since.Add(limit)
	for {
		if l.refused(addr) {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not refused %v after its attack (%s)", addr, limit, l.decisionSummary(t, addr))
		}
		time.Sleep(time.Millisecond) // the polling interval
	}
}

// measureLatency sends one CVE probe from each of latencyN fresh addresses,
// one after another, and logs the time from the probe's answer (nginx,
// Caddy and HAProxy write the log line as they answer) to the first
// refusal: p50 and p99, never asserted (the target is p99 <=
// 50 ms).
func (l *webLab) measureLatency(t *testing.T) {
	t.Helper()
	type sample struct {
		addr     string
		answered time.Time // the probe's answer
		d        time.Duration
	}
	var ss []sample
	for i := range latencyN {
		addr := fmt.Sprintf("10.77.8.%d", latencyLo+i)
		if code, _, err := l.get(addr, hit{path: "/"}); err != nil || code != http.StatusOK {
			t.Fatalf("%s before its probe: status %d, %v; want 200", addr, code, err)
		}
		if _, _, err := l.get(addr, hit{path: cveProbe, agent: "Go-http-client/1.1"}); err != nil {
			t.Fatalf("%s: probe: %v", addr, err)
		}
		answered := time.Now()
		ss = append(ss, sample{addr, answered, l.waitRefused(t, addr, answered, 15*time.Second)})
	}
	slices.SortFunc(ss, func(a, b sample) int { return cmp.Compare(a.d, b.d) })
	p := func(q float64) time.Duration {
		return ss[min(len(ss)-1, int(q*float64(len(ss))))].d.Round(10 * time.Microsecond)
	}
	what := "a 403 from the server"
	if !l.fa {
		what = "a decision in phalanx's API"
	}
	slow := ss[len(ss)-1]
	t.Logf("CVE probe answered -> %s, %d addresses: p50=%v p99=%v max=%v (issue target: p99 <= 50ms); the slowest, %s: %s",
		what, len(ss), p(0.5), p(0.99), slow.d.Round(10*time.Microsecond), slow.addr, l.timeline(slow.addr, slow.answered))
}

// timeline is phalanx's timeline of addr (`phalanx explain`) as offsets
// from since: where the time of a slow refusal went.
func (l *webLab) timeline(addr string, since time.Time) string {
	var ex daemon.Explanation
	if err := adminGetVia(l.admin, l.info, "/api/explain?address="+addr, &ex); err != nil {
		return err.Error()
	}
	var parts []string
	for _, e := range ex.Timeline {
		parts = append(parts, fmt.Sprintf("%s %+v", e.What, e.Time.Sub(since).Round(10*time.Microsecond)))
	}
	return strings.Join(parts, ", ")
}

// decisionSummary says which decisions phalanx holds on addr.
func (l *webLab) decisionSummary(t *testing.T, addr string) string {
	var ds []daemon.DecisionView
	if err := adminGetVia(l.admin, l.info, "/api/decisions?ip="+addr, &ds); err != nil {
		return "decisions: " + err.Error()
	}
	var parts []string
	for _, d := range ds {
		if d.Value == addr {
			parts = append(parts, fmt.Sprintf("decision %d by %s for %s", d.ID, d.Scenario, d.Duration))
		}
	}
	if len(parts) == 0 {
		return "no decision"
	}
	return strings.Join(parts, "; ")
}

// wantScenario fails the test unless one of phalanx's decisions on a.from
// was made by a.scenario.
func (l *webLab) wantScenario(t *testing.T, a webAttack) {
	t.Helper()
	var ds []daemon.DecisionView
	if err := adminGetVia(l.admin, l.info, "/api/decisions?ip="+a.from, &ds); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ds, func(d daemon.DecisionView) bool { return d.Value == a.from && d.Scenario == a.scenario }) {
		t.Errorf("%s from %s: no decision by %s (%s)", a.name, a.from, a.scenario, l.decisionSummary(t, a.from))
	}
}

// noDecision fails the test if phalanx holds a decision on addr.
func (l *webLab) noDecision(t *testing.T, addr string) {
	t.Helper()
	if s := l.decisionSummary(t, addr); s != "no decision" {
		t.Errorf("the normal user %s: %s, want none", addr, s)
	}
}

// explain runs `phalanx explain ADDR` in the web namespace, the way an
// operator would.
func (l *webLab) explain(t *testing.T, addr string) string {
	t.Helper()
	out, err := phalanxIn(l.srv, "explain", addr, "--data", l.data)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// showFile logs the last n lines of a file of the test's directory.
func (l *webLab) showFile(t *testing.T, name string, n int) {
	b, err := os.ReadFile(filepath.Join(l.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Logf("%s: missing", name)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	t.Logf("last lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-n):], "\n"))
}
