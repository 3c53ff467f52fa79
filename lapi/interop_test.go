package lapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"phalanx"
	"phalanx/netns"
)

// bouncerConfig is crowdsec-firewall-bouncer's configuration for the
// interop test: nftables mode, its own tables, pulls every second, logs to
// a temporary directory, no metrics listener.
const bouncerConfig = `mode: nftables
pid_dir: %[1]s
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: %[1]s
log_level: debug
api_url: %[2]s
api_key: %[3]s
insecure_skip_verify: false
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: phx-bl4
blacklists_ipv6: phx-bl6
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: phx-lapi4
    chain: phx-chain4
  ipv6:
    enabled: true
    set-only: false
    table: phx-lapi6
    chain: phx-chain6
prometheus:
  enabled: false
  listen_addr: 127.0.0.1
  listen_port: 60601
`

// TestFirewallBouncerInterop runs Debian's crowdsec-firewall-bouncer
// against this API inside a throwaway network namespace and checks that
// decisions reach its nftables sets and leave them.
func TestFirewallBouncerInterop(t *testing.T) {
	bin, err := exec.LookPath("crowdsec-firewall-bouncer")
	if err == nil {
		_, err = exec.LookPath("nft")
	}
	if err != nil {
		msg := fmt.Sprintf("crowdsec-firewall-bouncer or nft missing (%v); install them with: apt-get install -y --no-install-recommends crowdsec-firewall-bouncer nftables", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this fails instead of skipping)")
		}
		t.Skip(msg)
	}
	ns := netns.New(t)

	e := newEnv(t, 0)
	e.clock.t = time.Now() // decisions' times are real: the bouncer turns them into kernel timeouts
	e.srv = New(Config{}, e.table, e.journal, e.keys, time.Now)

	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	// A decision that exists before the bouncer starts reaches it through startup=true.
	first := e.ban("192.0.2.7/32", time.Hour, phalanx.OriginSelf, "phalanx/sshd-bruteforce")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "bouncer.yaml")
	url := "http://" + ln.Addr().String() + "/"
	if err := os.WriteFile(cfg, fmt.Appendf(nil, bouncerConfig, dir, url, e.key), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Exec(ctx, bin, "-c", cfg)
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cancel()
			<-exited
		}
		cancel()
		out.Close()
		if t.Failed() {
			for _, name := range []string{"stdout", "crowdsec-firewall-bouncer.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					t.Logf("bouncer %s (last 4 KiB):\n%s", name, tail(b, 4096))
				}
			}
		}
	})

	sets := &nftSets{t: t, ns: ns, exited: exited}
	v4 := setRef{"ip", "phx-lapi4", "phx-bl4"}
	v6 := setRef{"ip6", "phx-lapi6", "phx-bl6"}

	// Startup.
	els := sets.waitFor(v4, "192.0.2.7 from startup=true", func(m map[string]element) bool { _, ok := m["192.0.2.7"]; return ok })
	if to := els["192.0.2.7"].Timeout; to <= 3500 || to > 3600 {
		t.Errorf("192.0.2.7 timeout %ds, want the decision's remaining hour", to)
	}

	// A delta: a new decision, IPv4 and IPv6.
	second := e.ban("192.0.2.8/32", 10*time.Minute, phalanx.OriginAlliance, "phalanx/sshd-enum")
	e.ban("2001:db8::5/128", time.Hour, phalanx.OriginManual, "")
	els = sets.waitFor(v4, "192.0.2.8 from a delta", func(m map[string]element) bool { _, ok := m["192.0.2.8"]; return ok })
	if to := els["192.0.2.8"].Timeout; to <= 500 || to > 600 {
		t.Errorf("192.0.2.8 timeout %ds, want about 600", to)
	}
	sets.waitFor(v6, "2001:db8::5 from a delta", func(m map[string]element) bool { _, ok := m["2001:db8::5"]; return ok })

	// A deletion removes the element.
	e.unban(first.ID)
	sets.waitFor(v4, "192.0.2.7 removed", func(m map[string]element) bool { _, ok := m["192.0.2.7"]; return !ok })

	// An extended decision (same ID, later end) is sent as deleted then
	// new, so the bouncer replaces the element and its timeout.
	longer := second
	longer.Until = time.Now().Add(2 * time.Hour)
	stored, replaced := e.table.Add(longer)
	if replaced == nil || stored.ID != second.ID {
		t.Fatalf("the table did not extend decision %d in place", second.ID)
	}
	e.journal.Record([]phalanx.Decision{stored}, []phalanx.Decision{*replaced})
	sets.waitFor(v4, "192.0.2.8 with the extended timeout", func(m map[string]element) bool { return m["192.0.2.8"].Timeout > 3600 })

	// A Range decision: this bouncer version strips the prefix length and
	// bans the network address alone (its sets have no interval flag).
	e.ban("198.51.100.0/24", time.Hour, phalanx.OriginFeed, "lists:test")
	els = sets.waitFor(v4, "the /24's network address", func(m map[string]element) bool { _, ok := m["198.51.100.0"]; return ok })
	for v := range els {
		if strings.Contains(v, "/") || strings.Contains(v, "-") {
			t.Errorf("set element %q: the bouncer now stores ranges; update the test and PEERS.md", v)
		}
	}
	if _, ok := els["198.51.100.77"]; ok {
		t.Errorf("an address inside the range is in the set: %v", keysOf(els))
	}

	// The bouncer pulled with its own key.
	if l := e.keys.List(); len(l) != 1 || l[0].LastPull.IsZero() {
		t.Errorf("bouncer list %+v: want b1 with a last pull", l)
	}
}

type setRef struct{ family, table, set string }

type element struct {
	Timeout int64 // seconds; 0 when the element has none
}

// nftSets reads the bouncer's sets inside the namespace.
type nftSets struct {
	t      *testing.T
	ns     *netns.NS
	exited chan error
}

// waitFor polls set until cond holds, for up to 30 s (the bouncer pulls
// every second), failing if the bouncer exits meanwhile.
func (s *nftSets) waitFor(ref setRef, what string, cond func(map[string]element) bool) map[string]element {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last map[string]element
	var lastErr error
	for {
		last, lastErr = s.list(ref)
		if lastErr == nil && cond(last) {
			return last
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			s.t.Fatalf("waiting for %s: the bouncer exited: %v", what, err)
		case <-deadline:
			s.t.Fatalf("waiting for %s in %s %s %s: gave up after 30s; set holds %v (error %v)", what, ref.family, ref.table, ref.set, keysOf(last), lastErr)
		case <-tick.C:
		}
	}
}

// list returns the set's elements with `nft -j list set`.
func (s *nftSets) list(ref setRef) (map[string]element, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.ns.Exec(ctx, "nft", "-j", "list", "set", ref.family, ref.table, ref.set).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, err
	}
	return parseNftSet(out)
}

// parseNftSet reads the elements of `nft -j list set` output. An element is
// a bare value, or an object {"elem":{"val":…,"timeout":…}}; a value is a
// string, or a prefix {"prefix":{"addr":…,"len":…}} or a range.
func parseNftSet(out []byte) (map[string]element, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("nft -j output: %w", err)
	}
	m := map[string]element{}
	for _, item := range doc.Nftables {
		if item.Set == nil {
			continue
		}
		for _, raw := range item.Set.Elem {
			var wrapped struct {
				Elem *struct {
					Val     json.RawMessage `json:"val"`
					Timeout int64           `json:"timeout"`
				} `json:"elem"`
			}
			val, el := raw, element{}
			if json.Unmarshal(raw, &wrapped) == nil && wrapped.Elem != nil {
				val, el.Timeout = wrapped.Elem.Val, wrapped.Elem.Timeout
			}
			m[nftValue(val)] = el
		}
	}
	return m, nil
}

func nftValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var p struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string `json:"range"`
	}
	if json.Unmarshal(raw, &p) == nil {
		if p.Prefix != nil {
			return fmt.Sprintf("%s/%d", p.Prefix.Addr, p.Prefix.Len)
		}
		if len(p.Range) == 2 {
			return p.Range[0] + "-" + p.Range[1]
		}
	}
	return string(raw)
}

func keysOf(m map[string]element) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
