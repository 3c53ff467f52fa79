package forwardauth

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/testenv"
)

// The proxy tests run a real reverse proxy (nginx, Caddy, HAProxy) in front
// of an upstream "hello" server, with the proxy asking this package's
// handler about each request. Everything listens on 127.0.0.1; clients
// bind other loopback addresses so that the handler sees them as distinct
// clients through the proxy.

const upstreamBody = "hello from the upstream\n"

var (
	bannedClient = netip.MustParseAddr("127.0.0.66")
	otherClient  = netip.MustParseAddr("127.0.0.67")
)

// requireTool returns the path of a proxy binary, or skips the test. With
// required set (nginx) it fails instead when the environment variable CI is
// set, as CI installs it.
func requireTool(t *testing.T, name, install string, required bool) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	msg := fmt.Sprintf("%s is not installed (%s)", name, install)
	if required && os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this fails instead of skipping")
	}
	t.Skip(msg)
	return ""
}

// rig is the handler and the upstream a proxy sits between.
type rig struct {
	table    *decision.Table
	metrics  *Metrics
	auth     string // host:port of the forward-auth endpoint
	upstream string // host:port of the hello server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{table: decision.NewTable(), metrics: new(Metrics)}
	c := DefaultConfig()
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r.auth = serve(t, New(c, r.table, time.Now, r.metrics))
	r.upstream = serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, upstreamBody)
	}))
	return r
}

// serve serves h on 127.0.0.1:0 until the test ends and returns its address.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func (r *rig) ban(t *testing.T, a netip.Addr) uint64 {
	t.Helper()
	now := time.Now()
	d, _ := r.table.Add(phalanx.Decision{Origin: phalanx.OriginManual, Type: "ban", Scenario: "manual",
		Value: netip.PrefixFrom(a, a.BitLen()), Start: now.Add(-time.Minute), Until: now.Add(time.Hour)})
	if d.ID == 0 {
		t.Fatalf("ban on %v not stored", a)
	}
	return d.ID
}

// process is a proxy started by a test.
type process struct {
	name string
	out  *testenv.Buffer
	done chan struct{} // closed when it has exited
	err  error         // its exit, once done is closed
}

// start runs cmd in its own process group and stops it (SIGTERM, then
// SIGKILL to the group after a deadline) when the test ends.
func start(t *testing.T, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, out: new(testenv.Buffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop on SIGTERM within 10s; killing its process group", name)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		// Workers (nginx's) are in the group; make sure none is left.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// clientFrom returns a client whose connections come from the loopback
// address a.
func clientFrom(t *testing.T, a netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)), Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type answer struct {
	code     int
	body     string
	decision string
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, err
	}
	return answer{code: resp.StatusCode, body: string(b), decision: resp.Header.Get(DecisionHeader)}, nil
}

// waitReady polls url until the proxy answers with the upstream's page,
// failing if the proxy exits or the deadline passes.
func waitReady(t *testing.T, p *process, url string) {
	t.Helper()
	c := clientFrom(t, netip.MustParseAddr("127.0.0.1"))
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		a, err := get(t, c, url)
		if err == nil && a.code == http.StatusOK && a.body == upstreamBody {
			return
		}
		last = fmt.Sprintf("%+v %v", a, err)
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, p.err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s within 20s; last answer: %s\n%s", p.name, url, last, p.out.String())
		}
	}
}

// exercise runs the scenario every proxy must pass: a banned client is
// refused, another gets the page, a ban added while the proxy runs applies
// to the next request, a removed one lets the client in again, and forged
// address headers change nothing. checkID says whether the proxy passes
// the decision header on to the client.
func (r *rig) exercise(t *testing.T, url string, checkID bool) {
	t.Helper()
	banned, other := clientFrom(t, bannedClient), clientFrom(t, otherClient)
	before := r.metrics.Counts()
	expect := func(what string, c *http.Client, wantCode int, wantID uint64, hdr ...string) {
		t.Helper()
		a, err := get(t, c, url, hdr...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if a.code != wantCode {
			t.Fatalf("%s: status %d (%q), want %d", what, a.code, a.body, wantCode)
		}
		if wantCode == http.StatusOK && a.body != upstreamBody {
			t.Errorf("%s: body %q, want the upstream's", what, a.body)
		}
		if wantCode != http.StatusOK && strings.Contains(a.body, upstreamBody) {
			t.Errorf("%s: denied but got the upstream's page", what)
		}
		if checkID && wantID != 0 && a.decision != strconv.FormatUint(wantID, 10) {
			t.Errorf("%s: %s %q, want %d", what, DecisionHeader, a.decision, wantID)
		}
	}

	id66 := r.ban(t, bannedClient)
	expect("banned client", banned, http.StatusForbidden, id66)
	expect("banned client again (same connection)", banned, http.StatusForbidden, id66)
	expect("other client", other, http.StatusOK, 0)
	expect("banned client forging its address", banned, http.StatusForbidden, id66,
		"X-Forwarded-For", otherClient.String(), "X-Real-IP", otherClient.String())

	id67 := r.ban(t, otherClient)
	expect("client banned while the proxy runs", other, http.StatusForbidden, id67)

	if _, ok := r.table.Delete(id66); !ok {
		t.Fatal("delete ban")
	}
	expect("client whose ban was removed", banned, http.StatusOK, 0)
	expect("client whose ban was removed, forging a banned address", banned, http.StatusOK, 0,
		"X-Forwarded-For", otherClient.String())

	after := r.metrics.Counts()
	if got := after.Denied - before.Denied; got != 4 {
		t.Errorf("handler denied %d requests, want 4", got)
	}
	if after.BadHeader != 0 {
		t.Errorf("the proxy's headers were counted bad %d times", after.BadHeader)
	}
}

// TestNginxAuthRequest puts nginx's auth_request in front of the upstream,
// with the server block of docs/forward-auth.md (addresses replaced) inside
// an http block whose paths are in a temporary directory.
func TestNginxAuthRequest(t *testing.T) {
	nginx := requireTool(t, "nginx", "apt-get install -y --no-install-recommends nginx-light", true)
	r := newRig(t)
	dir := t.TempDir()
	port := testenv.FreePorts(t, 1)[0]
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the temp paths in dir, which only root may enter
	}
	site := substitute(t, docBlock(t, "nginx"),
		"server 127.0.0.1:8080;", "server "+r.auth+";",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", port),
		"proxy_pass http://app;", "proxy_pass http://"+r.upstream+";")
	conf := fmt.Sprintf(`%[2]s
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[3]s
}
`, dir, user, site)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "nginx", exec.Command(nginx, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;"))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitReady(t, p, url)
	r.exercise(t, url, true)
}

// docBlock returns the first fenced code block of docs/forward-auth.md whose
// info string is info, so that tests run what the documentation shows.
func docBlock(t *testing.T, info string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "forward-auth.md"))
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

// TestCaddyForwardAuth puts Caddy's forward_auth in front of the upstream,
// with the site block of docs/forward-auth.md (addresses replaced). It runs
// where caddy is installed.
func TestCaddyForwardAuth(t *testing.T) {
	caddy := requireTool(t, "caddy", "apt-get install -y caddy", false)
	r := newRig(t)
	dir := t.TempDir()
	port := testenv.FreePorts(t, 1)[0]
	site := substitute(t, docBlock(t, "caddy"),
		"example.org {", fmt.Sprintf("http://127.0.0.1:%d {", port),
		"forward_auth 127.0.0.1:8080 {", "forward_auth "+r.auth+" {",
		"reverse_proxy app:8000", "reverse_proxy "+r.upstream)
	conf := "{\n\tadmin off\n\tauto_https off\n}\n\n" + site
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	p := start(t, "caddy", cmd)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitReady(t, p, url)
	r.exercise(t, url, true)
}

// TestHAProxyLua puts HAProxy in front of the upstream with the Lua action
// from docs/forward-auth.md. It runs where haproxy is installed.
func TestHAProxyLua(t *testing.T) {
	haproxy := requireTool(t, "haproxy", "apt-get install -y haproxy", false)
	r := newRig(t)
	dir := t.TempDir()
	port := testenv.FreePorts(t, 1)[0]
	lua := filepath.Join(dir, "phalanx-forward-auth.lua")
	if err := os.WriteFile(lua, []byte(docBlock(t, "lua")), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global
    setenv PHALANX_FORWARD_AUTH http://%[2]s/v1/forward-auth
    lua-load %[1]s

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend web
    bind 127.0.0.1:%[3]d
%[4]s
    default_backend app

backend app
    server app %[5]s
`, lua, r.auth, port, indent(docBlock(t, "haproxy"), "    "), r.upstream)
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	check := exec.Command(haproxy, "-c", "-f", file)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, conf)
	}
	p := start(t, "haproxy", exec.Command(haproxy, "-db", "-f", file))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitReady(t, p, url)
	r.exercise(t, url, true)
}

// substitute replaces each old string of the pairs, which must occur in s
// exactly once, so that a test notices when the documentation changes.
func substitute(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("the documentation's block holds %q %d times, want once:\n%s", pairs[i], n, s)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = by + strings.TrimLeft(l, " ")
		}
	}
	return strings.Join(lines, "\n")
}
