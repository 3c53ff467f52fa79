package main

// `phalanx demo`: three members on loopback form an alliance the way
// operators do, an attacker brute-forces one of them, and the timeline shows
// the others ban it within milliseconds; then a pardon lifts the ban
// everywhere. It only wires the daemon package together and prints; it must
// not need root, enforce anything in the kernel, or reach beyond loopback.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"phalanx"
	"phalanx/config"
	"phalanx/daemon"
	"phalanx/sighting"
)

const demoUsage = `
Usage: phalanx demo [--attacker ADDRESS] [--keep] [--console]

Shows the alliance at work in about ten seconds, on loopback and without root.
Three members, A, B and C, form an alliance as operators do (alliance init on
A, then an invite and run --join for B and C); an attacker brute-forces sshd
on A; the timeline shows A detect and ban it, and B and C ban it from A's
signed report, in milliseconds. Then a pardon on A lifts the ban everywhere.
Last, the next address spreads its guesses over A, B and C, fewer on each
than any member bans for: the members' signed sightings add up to the
charter's fleet-bf scenario, and every member bans it, saying which members
saw what.

Nothing is blocked on this host: enforcement is off (bans are served by the
members' APIs only). The members' data and logs live in a temporary
directory, removed at the end unless --keep. With --console the members keep
running after the demo, each printing a login link to its web console.
`

// Pacing and limits of the demo.
const (
	demoAttempts   = 6                      // failed passwords: one more than ssh-bf's default capacity
	demoSpread     = 4                      // failed passwords on each member in the distributed attack: under ssh-bf's 5
	demoPace       = 40 * time.Millisecond  // between two attack lines
	demoBanLimit   = 15 * time.Second       // from the first attack line to the ban on B and C
	demoFleetLimit = 40 * time.Second       // from the distributed attack's last line to the fleet ban (sightings wait sighting.Hold)
	demoPardonWait = 15 * time.Second       // from the pardon to no ban anywhere
	demoFormLimit  = 60 * time.Second       // joins, and the report stream's leader elections
	demoGrace      = 2 * time.Second        // for the last timeline entries once the tables agree
	demoStopLimit  = 15 * time.Second       // for a member to stop
	demoTablePoll  = 5 * time.Millisecond   // polling decision tables (in process, cheap)
	demoAPIPoll    = 100 * time.Millisecond // polling the members' admin APIs
)

var errDemoTimeout = errors.New("timed out")

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	attacker := fs.String("attacker", "203.0.113.66", "the attacker's `ADDRESS` (a public address: loopback is never banned)")
	keep := fs.Bool("keep", false, "keep the temporary directory (data directories, logs) and print where it is")
	withConsole := fs.Bool("console", false, "then keep the members running and print a login link to each one's web console, until Ctrl-C")
	usageText(fs, demoUsage)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	addr, err := netip.ParseAddr(*attacker)
	if err != nil {
		return fmt.Errorf("%w: --attacker %q is not an IP address; give one such as 203.0.113.66", errUsage, *attacker)
	}
	addr = phalanx.Normalize(addr)
	if addr.IsLoopback() || addr.IsUnspecified() || addr.IsMulticast() || addr.IsLinkLocalUnicast() {
		return fmt.Errorf("%w: --attacker %s is never banned (loopback, unspecified, multicast or link-local); give a public address such as 203.0.113.66", errUsage, addr)
	}

	base, err := os.MkdirTemp("", "phalanx-demo-")
	if err != nil {
		return fmt.Errorf("create a temporary directory (set TMPDIR to a writable directory): %w", err)
	}
	logPath := filepath.Join(base, "members.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		os.RemoveAll(base)
		return fmt.Errorf("create the members' log: %w", err)
	}
	p := newDemoPrinter(stdout, addr)
	printerDone := make(chan struct{})
	stopPrinter := make(chan struct{})
	go func() { defer close(printerDone); p.run(stopPrinter) }()
	dm := &demo{p: p, attacker: addr, base: base,
		logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}))}

	playErr := dm.play(ctx)
	if playErr == nil && *withConsole {
		playErr = dm.showConsole(ctx)
	}

	interrupted := playErr != nil && ctx.Err() != nil
	if playErr != nil {
		p.printf("\n")
	}
	if interrupted {
		p.printf("interrupted: ")
	}
	if len(dm.members) > 0 {
		p.printf("stopping the members ...")
	}
	stopErr := dm.stop()
	if len(dm.members) > 0 {
		p.printf(" stopped\n")
	}
	p.flush()
	close(stopPrinter)
	<-printerDone
	logf.Close()

	switch {
	case playErr != nil && !interrupted || stopErr != nil:
		// Keep everything for a look at what went wrong.
		fmt.Fprintf(stderr, "the members' log is %s (the temporary directory %s is kept; remove it when done)\n", logPath, base)
	case *keep:
		fmt.Fprintf(stdout, "kept %s: data directories a, b and c, the attacked log a.log, and the members' log members.log\n", base)
	default:
		if err := os.RemoveAll(base); err != nil {
			fmt.Fprintf(stderr, "remove %s: %v\n", base, err)
		}
	}
	switch {
	case interrupted:
		return errors.New("interrupted")
	case playErr != nil:
		return playErr
	case stopErr != nil:
		return fmt.Errorf("stop the members: %w", stopErr)
	}
	return nil
}

// demo is one run of the demonstration.
type demo struct {
	p        *demoPrinter
	attacker netip.Addr
	base     string
	logger   *slog.Logger
	members  []*demoMember // A, B, C as they start
}

// demoMember is one member daemon running in this process.
type demoMember struct {
	letter string
	dir    string
	log    string // the log file it tails
	fabric string
	d      *daemon.Daemon
	api    *client
	cancel context.CancelFunc
	ran    chan struct{} // closed when Run has returned
	runErr error         // Run's result, once ran is closed
}

func (dm *demo) play(ctx context.Context) error {
	p := dm.p
	p.printf("phalanx demo: three members on loopback form an alliance; an attacker brute-forces sshd on A;\n")
	p.printf("A bans it at once and B and C ban it from A's signed report, in milliseconds; then a pardon on A\n")
	p.printf("lifts the ban everywhere; last, an attack spread over the members, under each one's threshold,\n")
	p.printf("is banned by the alliance from their sightings. Nothing is blocked on this host (enforcement none).\n\n")

	if err := dm.form(ctx); err != nil {
		return err
	}
	a, b, c := dm.members[0], dm.members[1], dm.members[2]

	// A tail that starts on an existing file begins at its end: make sure
	// A reads its log before the attack starts.
	err := demoWait(ctx, 10*time.Second, demoAPIPoll, func() bool {
		if demoAppend(a.log, time.Now().Format(time.Stamp)+" demo-a CRON[9]: (root) CMD (true)") != nil {
			return false
		}
		var st daemon.Status
		return a.api.do(ctx, "GET", "/api/status", nil, &st) == nil && st.Pipeline["lines"] > 0
	})
	if err != nil {
		return fmt.Errorf("member A does not read its log %s: %w", a.log, err)
	}

	// The attack, and the timeline as it happens.
	p.printf("\n%s\n", demoHeader("ms since the first attack line"))
	start := time.Now()
	p.setZero(start)
	pace := time.NewTicker(demoPace)
	defer pace.Stop()
	for i := 1; i <= demoAttempts; i++ {
		line := fmt.Sprintf("%s demo-a sshd[%d]: Failed password for root from %s port %d ssh2",
			time.Now().Format(time.Stamp), 4000+i, dm.attacker, 50000+i)
		// Queued for printing before the line is written, so that it is
		// printed before what A makes of it.
		p.attack(time.Now(), fmt.Sprintf("attacker → A: failed password %d/%d", i, demoAttempts))
		if err := demoAppend(a.log, line); err != nil {
			return fmt.Errorf("write A's log: %w", err)
		}
		if i == demoAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-pace.C:
		}
	}
	banned := func(m *demoMember) bool {
		_, ok := m.d.Table().Lookup(dm.attacker, time.Now())
		return ok
	}
	var refused string
	err = demoWait(ctx, demoBanLimit-time.Since(start), demoTablePoll, func() bool {
		if refused = p.refusal(); refused != "" {
			return true
		}
		return banned(b) && banned(c)
	})
	if refused != "" {
		return fmt.Errorf("the alliance refused to ban %s: %s; choose another --attacker", dm.attacker, refused)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("B and C did not ban %s within %v of the first attack line (A detected it: %v, A banned it: %v)",
			dm.attacker, demoBanLimit, p.saw("alert", "A"), banned(a))
	}
	bannedAt := time.Now()
	// The tables agree; give the last timeline entries a moment to arrive.
	demoWait(ctx, demoGrace, demoTablePoll, func() bool {
		for _, m := range dm.members {
			if !p.saw("enforced", m.letter) || !p.saw("decision:"+string(phalanx.OriginAlliance), m.letter) {
				return false
			}
		}
		return true
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	p.flush()
	detected := p.at("alert", "A")
	if detected.IsZero() {
		detected = start
	}
	spread := bannedAt
	if eb, ec := p.at("enforced", "B"), p.at("enforced", "C"); !eb.IsZero() && !ec.IsZero() {
		spread = later(eb, ec)
	}
	banMS := demoMS(spread.Sub(detected))

	// The pardon, from the founding member.
	// A pardon names the banned value exactly: an IPv6 attacker's ban
	// covers its /64.
	held, ok := a.d.Table().Lookup(dm.attacker, time.Now())
	if !ok {
		return fmt.Errorf("A no longer bans %s: nothing to pardon", dm.attacker)
	}
	value, flag := held.Value.String(), "--range"
	if held.Value.IsSingleIP() {
		value, flag = held.Value.Addr().String(), "--ip"
	}
	p.printf("\npardon: the founding member A lifts the ban (what `phalanx decisions delete %s %s` asks of A)\n", flag, value)
	p.printf("%s\n", demoHeader("ms since the pardon on A"))
	pardonStart := time.Now()
	p.setZero(pardonStart)
	var res struct{ Deleted int }
	if err := a.api.do(ctx, "DELETE", "/api/decisions?value="+url.QueryEscape(value), nil, &res); err != nil {
		return fmt.Errorf("pardon %s on A: %w", value, err)
	}
	if res.Deleted == 0 {
		return fmt.Errorf("the pardon of %s on A deleted no decision", value)
	}
	err = demoWait(ctx, demoPardonWait-time.Since(pardonStart), demoTablePoll, func() bool {
		return !banned(a) && !banned(b) && !banned(c)
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("the pardon did not reach every member within %v (still banned on A: %v, B: %v, C: %v)",
			demoPardonWait, banned(a), banned(b), banned(c))
	}
	liftedAt := time.Now()
	demoWait(ctx, demoGrace, demoTablePoll, func() bool {
		for _, m := range dm.members {
			if !p.saw("pardon", m.letter) {
				return false
			}
		}
		return true
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	p.flush()
	if pa, pb, pc := p.at("pardon", "A"), p.at("pardon", "B"), p.at("pardon", "C"); !pa.IsZero() && !pb.IsZero() && !pc.IsZero() {
		liftedAt = later(later(pa, pb), pc)
	}
	pardonMS := demoMS(liftedAt.Sub(pardonStart))

	fleetMS, err := dm.distributed(ctx)
	if err != nil {
		return err
	}

	p.printf("\nsummary\n")
	p.printf("  detected on A → banned on B and C in %s ms\n", banMS)
	p.printf("  pardon on A → lifted on every member in %s ms\n", pardonMS)
	p.printf("  distributed attack (%d on each member, under every member's threshold) → banned on every member %s ms after its last line (%v of it the sightings' hold)\n", demoSpread, fleetMS, sighting.Hold)
	p.printf("\nnext: form an alliance of your own hosts with the README section \"An alliance in five minutes\"\n")
	p.printf("      (phalanx alliance init, phalanx alliance invite, phalanx run --join TOKEN).\n")
	if n := p.dropped.Load(); n > 0 {
		p.printf("(%d timeline entries were not shown: the printer fell behind)\n", n)
	}
	return nil
}

// follow makes the printer show the entries about attacker from now on.
func (p *demoPrinter) follow(attacker netip.Addr) {
	p.mu.Lock()
	p.value, p.attacker = attacker.String(), attacker
	p.mu.Unlock()
}

// otherSource returns an address near a that no scenario groups with it:
// the next IPv4 address, or the same host part in the next IPv6 /64.
func otherSource(a netip.Addr) netip.Addr {
	if a.Is4() {
		if n := a.Next(); n.IsValid() {
			return n
		}
		return a.Prev()
	}
	b := a.As16()
	b[7]++
	return netip.AddrFrom16(b)
}

// distributed plays the second act: the attacker spreads its guesses over
// the three members, fewer on each than any member bans for; the members'
// signed sightings add up to the charter's fleet-bf, and every member bans
// it. It returns the milliseconds from the last attack line to the ban on
// every member.
func (dm *demo) distributed(ctx context.Context) (string, error) {
	p := dm.p
	// A second address: the first one's failures still count on A.
	attacker := otherSource(dm.attacker)
	p.follow(attacker)
	p.printf("\ndistributed attack: %s tries %d passwords on each of A, B and C (%d in all); a member\n", attacker, demoSpread, 3*demoSpread)
	p.printf("alone bans at 5, so none does; their signed sightings add up to the charter's fleet-bf (10 from 3 members)\n")
	p.printf("(a member holds each sighting %v for a log-in that would show the source is its own user's)\n", sighting.Hold)
	for _, m := range dm.members[1:] {
		err := demoWait(ctx, 10*time.Second, demoAPIPoll, func() bool {
			if demoAppend(m.log, time.Now().Format(time.Stamp)+" demo-"+strings.ToLower(m.letter)+" CRON[9]: (root) CMD (true)") != nil {
				return false
			}
			var st daemon.Status
			return m.api.do(ctx, "GET", "/api/status", nil, &st) == nil && st.Pipeline["lines"] > 0
		})
		if err != nil {
			return "", fmt.Errorf("member %s does not read its log %s: %w", m.letter, m.log, err)
		}
	}
	p.printf("%s\n", demoHeader("ms since the first attack line"))
	start := time.Now()
	p.setZero(start)
	pace := time.NewTicker(demoPace)
	defer pace.Stop()
	for i := 1; i <= demoSpread; i++ {
		for _, m := range dm.members {
			line := fmt.Sprintf("%s demo-%s sshd[%d]: Failed password for root from %s port %d ssh2",
				time.Now().Format(time.Stamp), strings.ToLower(m.letter), 5000+i, attacker, 51000+i)
			p.attack(time.Now(), fmt.Sprintf("attacker → %s: failed password %d/%d", m.letter, i, demoSpread))
			if err := demoAppend(m.log, line); err != nil {
				return "", fmt.Errorf("write %s's log: %w", m.letter, err)
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-pace.C:
			}
		}
	}
	last := time.Now()
	banned := func(m *demoMember) bool {
		_, ok := m.d.Table().Lookup(attacker, time.Now())
		return ok
	}
	err := demoWait(ctx, demoFleetLimit, demoTablePoll, func() bool {
		for _, m := range dm.members {
			if !banned(m) {
				return false
			}
		}
		return true
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", fmt.Errorf("the distributed attack was not banned on every member within %v (A: %v, B: %v, C: %v)",
			demoFleetLimit, banned(dm.members[0]), banned(dm.members[1]), banned(dm.members[2]))
	}
	bannedAt := time.Now()
	demoWait(ctx, demoGrace, demoTablePoll, func() bool {
		for _, m := range dm.members {
			if !p.saw("decision:"+string(phalanx.OriginAlliance), m.letter) {
				return false
			}
		}
		return true
	})
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	p.flush()
	return demoMS(bannedAt.Sub(last)), nil
}

// form founds the alliance on A, invites B and C, starts all three, and
// waits until they hold the same charter and the report stream works.
func (dm *demo) form(ctx context.Context) error {
	p := dm.p
	began := time.Now()
	p.printf("forming the alliance:")
	for i, letter := range []string{"A", "B", "C"} {
		lower := strings.ToLower(letter)
		fab, err := demoPortPair()
		if err != nil {
			return err
		}
		m := &demoMember{letter: letter, dir: filepath.Join(dm.base, lower), log: filepath.Join(dm.base, lower+".log"), fabric: fab}
		if i == 0 {
			if _, err := daemon.InitAlliance(m.dir, daemon.InitOptions{Name: "demo", Fabric: fab, Now: time.Now()}); err != nil {
				return fmt.Errorf("found the alliance on A: %w", err)
			}
		} else {
			tok, err := daemon.Invite(dm.members[0].dir, 10*time.Minute, time.Now())
			if err != nil {
				return fmt.Errorf("invite %s: %w", letter, err)
			}
			jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			joined, err := daemon.Join(jctx, m.dir, daemon.JoinOptions{Token: tok.String(), Name: "demo-" + lower, Fabric: fab, Now: time.Now()})
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return fmt.Errorf("%s joins: %w", letter, err)
			}
			if !joined {
				return fmt.Errorf("%s joins: its new data directory %s already belonged to the alliance", letter, m.dir)
			}
		}
		if err := dm.start(ctx, m); err != nil {
			return err
		}
		if i == 0 {
			p.printf(" A founded")
		} else {
			p.printf(", %s joined", letter)
		}
	}
	err := demoWait(ctx, demoFormLimit, demoAPIPoll, func() bool {
		var hash string
		var seq uint64
		for _, m := range dm.members {
			var st daemon.Status
			if m.api.do(ctx, "GET", "/api/status", nil, &st) != nil || st.Members != len(dm.members) || st.FabricSeq == 0 {
				return false
			}
			if hash == "" {
				hash, seq = st.Charter, st.FabricSeq
			} else if st.Charter != hash || st.FabricSeq != seq {
				return false
			}
		}
		return true
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("the members do not agree on a %d-member charter and report stream within %v", len(dm.members), demoFormLimit)
	}
	p.printf("\nthe three hold the same charter and reach the report stream, %.1f s after A's start\n", time.Since(began).Seconds())
	p.printf("(most of it is the fabric electing its leaders as members join)\n")
	return nil
}

// start runs a member daemon on m's data directory and waits until it serves.
func (dm *demo) start(ctx context.Context, m *demoMember) error {
	if err := demoAppend(m.log); err != nil {
		return fmt.Errorf("create %s's log: %w", m.letter, err)
	}
	cfg := config.Default()
	cfg.Daemon.API = "127.0.0.1:0"
	cfg.Daemon.Enforce = "none"
	cfg.Daemon.Sources = []string{m.log}
	cfg.Daemon.Fabric = m.fabric
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("member %s's configuration: %w", m.letter, err)
	}
	// The members outlive ctx: on Ctrl-C they are stopped in order by stop.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d, err := daemon.New(life, daemon.Options{DataDir: m.dir, Config: cfg,
		Logger: dm.logger.With("member", m.letter), Observe: dm.p.observer(m.letter)})
	if err != nil {
		cancel()
		return fmt.Errorf("start member %s: %w", m.letter, err)
	}
	dm.p.name(d.ID(), m.letter)
	m.d, m.cancel, m.ran = d, cancel, make(chan struct{})
	dm.members = append(dm.members, m)
	go func() {
		m.runErr = d.Run(life)
		close(m.ran)
	}()
	limit := time.NewTimer(demoFormLimit)
	defer limit.Stop()
	select {
	case <-d.Ready():
	case <-m.ran:
		return fmt.Errorf("member %s stopped before it was ready: %v", m.letter, m.runErr)
	case <-limit.C:
		return fmt.Errorf("member %s is not ready within %v", m.letter, demoFormLimit)
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := demoWait(ctx, 10*time.Second, demoTablePoll, func() bool { return d.Addr() != "" }); err != nil {
		return fmt.Errorf("member %s does not serve its API: %w", m.letter, err)
	}
	info, err := daemon.ReadClientInfo(m.dir)
	if err != nil {
		return fmt.Errorf("member %s: %w", m.letter, err)
	}
	m.api = &client{base: "http://" + info.Addr, token: info.Token}
	return nil
}

// stop stops every member that started, all at once, and waits for them.
func (dm *demo) stop() error {
	var wg sync.WaitGroup
	errs := make([]error, len(dm.members))
	for i, m := range dm.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.cancel()
			t := time.NewTimer(demoStopLimit)
			defer t.Stop()
			select {
			case <-m.ran:
			case <-t.C:
				errs[i] = fmt.Errorf("member %s did not stop within %v", m.letter, demoStopLimit)
			}
			if err := m.d.Close(); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("member %s: %w", m.letter, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// demoPortPair returns a loopback fabric address whose port and port+1 are
// both free (fabric clients and cluster routes).
func demoPortPair() (string, error) {
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("listen on loopback: %w", err)
		}
		port := l1.Addr().(*net.TCPAddr).Port
		if port+1 > 65535 {
			l1.Close()
			continue
		}
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l1.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return fmt.Sprintf("127.0.0.1:%d", port), nil
	}
	return "", errors.New("found no two free consecutive ports on 127.0.0.1: free some ports and try again")
}

// demoAppend appends lines to the file at path, creating it.
func demoAppend(path string, lines ...string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// demoWait polls cond every interval until it holds, limit passes
// (errDemoTimeout) or ctx ends.
func demoWait(ctx context.Context, limit, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		if !time.Now().Before(deadline) {
			return errDemoTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// demoMS prints a short duration in milliseconds, with a decimal below 10 ms.
func demoMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.1f", max(ms, 0))
	}
	return fmt.Sprintf("%.0f", ms)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// demoDuration prints a ban's length for people: 4h, 1h30m, 90s as 1m30s.
func demoDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func demoHeader(clock string) string {
	return fmt.Sprintf("%7s  %-6s  %s", "ms", "member", "what ("+clock+")")
}

// demoLine is one thing to print on the timeline: a member's entry, an
// attack line (text), or a flush marker (sync).
type demoLine struct {
	at     time.Time
	member string // A, B or C; "" for the attacker
	e      daemon.Entry
	text   string
	sync   chan struct{}
}

// demoPrinter prints the timeline from every member on one goroutine; the
// members' Observe callbacks only hand entries over.
type demoPrinter struct {
	value    string     // the attacker, as entries spell a single address
	attacker netip.Addr // for entries about a range that holds it (IPv6 bans are /64s by default)
	lines    chan demoLine
	dropped  atomic.Int64

	outMu sync.Mutex // guards w: one line at a time
	w     io.Writer

	mu      sync.Mutex // guards the fields below; held briefly, as Observe takes it
	zero    time.Time
	names   map[string]string    // member id -> letter
	first   map[string]time.Time // what+"/"+letter -> first observation
	refused string               // the first refusal's reason

	pending map[string]demoLine // letter -> an "enforced" entry waiting for its decision (printer goroutine only)
	decided map[string]string   // letter -> the length of a decision printed before its "enforced" entry (printer goroutine only)
}

func newDemoPrinter(w io.Writer, attacker netip.Addr) *demoPrinter {
	return &demoPrinter{value: attacker.String(), attacker: attacker, lines: make(chan demoLine, 4096), w: w,
		names: map[string]string{}, first: map[string]time.Time{}, pending: map[string]demoLine{}, decided: map[string]string{}}
}

// observer returns the Observe callback for the member with that letter:
// it never blocks the daemon.
func (p *demoPrinter) observer(letter string) func(daemon.Entry) {
	return func(e daemon.Entry) {
		if !p.about(e.Value) {
			return
		}
		l := demoLine{at: time.Now(), member: letter, e: e}
		select {
		case p.lines <- l: // recorded as the printer takes it (handle)
		default:
			p.dropped.Add(1)
			p.record(l) // never printed, but it happened
		}
	}
}

// about reports whether an entry's value is the attacker or a range that
// holds it.
func (p *demoPrinter) about(value string) bool {
	p.mu.Lock()
	want, attacker := p.value, p.attacker
	p.mu.Unlock()
	if value == want {
		return true
	}
	pfx, err := netip.ParsePrefix(value)
	return err == nil && pfx.Contains(attacker)
}

// record notes when each member first showed each kind of entry, at the
// time it happened (not when printed). The printer records an entry as it
// takes it, so that once saw tells of an entry, a flush prints it: were it
// recorded as it happened, the demo could wait for it, flush and print its
// summary while the entry was still on its way to the printer.
func (p *demoPrinter) record(l demoLine) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.own(l) {
		return
	}
	keys := []string{l.e.What + "/" + l.member}
	if l.e.What == "decision" {
		keys = append(keys, "decision:"+l.e.Origin+"/"+l.member)
	}
	for _, k := range keys {
		if _, ok := p.first[k]; !ok {
			p.first[k] = l.at
		}
	}
	if l.e.What == "refused" && p.refused == "" {
		p.refused = l.e.Detail
		if p.refused == "" {
			p.refused = "no reason given"
		}
	}
}

// own reports whether an entry is about the observing member's own doing,
// rather than a record of another member's enforcement. Callers hold mu.
func (p *demoPrinter) own(l demoLine) bool {
	return l.e.What != "enforced" || p.names[l.e.Member] == l.member
}

func (p *demoPrinter) name(id, letter string) {
	p.mu.Lock()
	p.names[id] = letter
	p.mu.Unlock()
}

func (p *demoPrinter) letter(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l, ok := p.names[id]; ok {
		return l
	}
	return "another member"
}

func (p *demoPrinter) setZero(t time.Time) {
	p.flush()
	p.mu.Lock()
	p.zero = t
	p.mu.Unlock()
}

func (p *demoPrinter) at(what, letter string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first[what+"/"+letter]
}

func (p *demoPrinter) saw(what, letter string) bool { return !p.at(what, letter).IsZero() }

func (p *demoPrinter) refusal() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// attack puts an attack line on the timeline.
func (p *demoPrinter) attack(at time.Time, text string) {
	p.lines <- demoLine{at: at, text: text}
}

// flush returns once everything handed over so far is printed.
func (p *demoPrinter) flush() {
	done := make(chan struct{})
	p.lines <- demoLine{sync: done}
	<-done
}

// printf prints text outside the timeline, after what is already on it.
func (p *demoPrinter) printf(format string, args ...any) {
	p.flush()
	p.outMu.Lock()
	fmt.Fprintf(p.w, format, args...)
	p.outMu.Unlock()
}

// run prints until stop is closed.
func (p *demoPrinter) run(stop <-chan struct{}) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			p.flushPending(time.Now().Add(-20 * time.Millisecond))
		case l := <-p.lines:
			p.handle(l)
		}
	}
}

// handle prints one line. An "enforced" entry comes just before the
// decision it enforces; it waits for it, so that the decision is printed
// first.
func (p *demoPrinter) handle(l demoLine) {
	switch {
	case l.sync != nil:
		p.flushPending(time.Time{})
		close(l.sync)
		return
	case l.text != "":
		p.flushPending(time.Time{})
		p.print(l.at, "", l.text)
		return
	}
	p.record(l)
	e := l.e
	p.mu.Lock()
	own := p.own(l)
	p.mu.Unlock()
	if !own || e.What == "report" {
		return // another member's enforcement record, or the report behind a decision
	}
	if e.What == "enforced" {
		if length, ok := p.decided[l.member]; ok {
			// The decision came first (as members record it): print at once.
			delete(p.decided, l.member)
			p.printEntry(l, length)
			return
		}
		if prev, ok := p.pending[l.member]; ok {
			p.printEntry(prev, "")
		}
		p.pending[l.member] = l
		return
	}
	if e.What != "decision" {
		if prev, ok := p.pending[l.member]; ok {
			delete(p.pending, l.member)
			p.printEntry(prev, "")
		}
		p.printEntry(l, "")
		return
	}
	length := ""
	if !e.Until.IsZero() && !e.Time.IsZero() {
		length = demoDuration(e.Until.Sub(e.Time))
	}
	p.printEntry(l, length)
	if prev, ok := p.pending[l.member]; ok {
		delete(p.pending, l.member)
		prev.at = later(prev.at, l.at)
		p.printEntry(prev, length)
		return
	}
	p.decided[l.member] = length
}

// flushPending prints the "enforced" entries observed before cutoff (all
// of them for a zero cutoff) whose decision did not follow.
func (p *demoPrinter) flushPending(cutoff time.Time) {
	for letter, l := range p.pending {
		if cutoff.IsZero() || l.at.Before(cutoff) {
			delete(p.pending, letter)
			p.printEntry(l, "")
		}
	}
}

func (p *demoPrinter) printEntry(l demoLine, length string) {
	e := l.e
	var what string
	switch e.What {
	case "alert":
		what = fmt.Sprintf("detected %s: %s from %s", e.Scenario, e.Detail, e.Value)
	case "decision":
		switch phalanx.Origin(e.Origin) {
		case phalanx.OriginSelf:
			what = "decided: self-defense ban"
		case phalanx.OriginAlliance:
			what = "decided: alliance ban, from " + p.letter(e.Member) + "'s signed report"
			if strings.HasPrefix(e.Scenario, "fleet-") {
				what = "decided: fleet ban (" + e.Scenario + "), from the members' sightings"
			}
		default:
			what = "decided: " + e.Origin + " ban"
		}
		if length != "" {
			what += ", " + length
		}
	case "enforced":
		what = "enforced"
		if length != "" {
			what += " for " + length
		}
		layer := e.Detail
		if layer == "api" {
			layer = "api: served to bouncers, nothing blocked here"
		}
		if layer != "" {
			what += " (layer " + layer + ")"
		}
	case "pardon":
		what = "pardon from " + p.letter(e.Member) + ": ban lifted"
	case "sighting":
		what = fmt.Sprintf("counts %s's sighting towards %s: %s", p.letter(e.Member), e.Scenario, e.Detail)
	case "refused":
		what = "refused to ban: " + e.Detail
	default:
		what = e.What
		if e.Detail != "" {
			what += ": " + e.Detail
		}
	}
	p.print(l.at, l.member, what)
}

func (p *demoPrinter) print(at time.Time, member, what string) {
	p.mu.Lock()
	zero := p.zero
	p.mu.Unlock()
	ms := int64(0)
	if !zero.IsZero() {
		ms = at.Sub(zero).Milliseconds()
	}
	p.outMu.Lock()
	fmt.Fprintf(p.w, "%7d  %-6s  %s\n", ms, member, what)
	p.outMu.Unlock()
}
