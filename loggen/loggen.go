// Package loggen writes realistic, deterministic sshd logs for tests and
// benchmarks: RFC 3164 lines as Debian's /var/log/auth.log has them
// ("Nov 27 05:49:28 host sshd[1234]: msg"). The mix holds fast brute-force
// bursts, dictionary attacks, user enumerators, slow attackers, protocol
// scanners, IPv6 attackers that rotate addresses inside one /64, legitimate
// users who sometimes mistype their password, and noise from cron, sudo,
// systemd, systemd-logind and the kernel. The same Config gives the same
// bytes, and Generate reports which addresses attacked (Truth) so that a
// detector's output can be scored. HTTP writes the web tier's equivalent:
// an nginx combined access log of a site's legitimate visitors, crawlers,
// monitors and API clients mixed with scanners, CVE probes and brute force,
// with its own truth (HTTPTruth).
//
// Addresses are random public-looking text. loggen must not send traffic,
// resolve names, read the clock or use a global random source: it only
// writes to the writer it is given.
package loggen

import (
	"bufio"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Defaults applied by Generate to zero Config fields.
const (
	DefaultAttackers = 1000
	DefaultHost      = "srv1"
	// DefaultStart is the time of the first line when Config.Start is zero.
	DefaultStart = "2025-11-27T05:49:28Z"
	// MaxAttackers bounds Config.Attackers (the generator keeps one small
	// record per attacker).
	MaxAttackers = 1 << 20
)

// Config says what to generate. The output depends on nothing else: no
// clock, no global random source, no floating-point library functions whose
// results could differ between machines.
type Config struct {
	Lines     int       // total lines to write (exactly)
	Seed      int64     // same seed, same output, byte for byte
	Start     time.Time // time of the first line (whole seconds); zero means DefaultStart
	Attackers int       // number of attacking hosts; zero means DefaultAttackers; about 10% are IPv6
	Host      string    // syslog host name; empty means DefaultHost
}

// Truth lists who is who in the generated text. Only addresses that appear
// in at least one sshd line written are listed; each list is sorted.
//
// Every sshd line about an attack names an address that is either in
// Attackers or inside one of AttackerPrefixes; every sshd line about a
// legitimate log-in names an address in Legit. Kernel firewall lines name
// other, unrelated scanner addresses and are not covered.
type Truth struct {
	// Attackers are the addresses of attackers that keep one address.
	Attackers []netip.Addr `json:"attackers"`
	// AttackerPrefixes are the /64s of IPv6 attackers that use a fresh
	// address inside their /64 for each connection; their single
	// addresses are not listed in Attackers.
	AttackerPrefixes []netip.Prefix `json:"attacker_prefixes"`
	// Legit are the addresses of legitimate users. Each has at most two
	// failed password attempts in any ten minutes.
	Legit []netip.Addr `json:"legit"`
}

// Rates of the stationary mix, in lines per second of log time: about four
// lines a second, so 1,000,000 lines span about three days; roughly 60%
// attack, 15% legitimate sshd and 25% noise.
const (
	attackRate = 2.4  // sshd lines from attackers
	legitRate  = 0.6  // sshd lines from legitimate users
	kernelRate = 0.15 // kernel firewall lines (the rest of the noise comes with sessions, cron and timers)
)

// Generate writes exactly c.Lines lines to w and returns who attacked. The
// output depends only on c. It returns the first write error, if any.
func Generate(w io.Writer, c Config) (Truth, error) {
	if c.Lines < 0 {
		return Truth{}, fmt.Errorf("lines is %d: give a number of lines, 0 or more", c.Lines)
	}
	if c.Attackers < 0 || c.Attackers > MaxAttackers {
		return Truth{}, fmt.Errorf("attackers is %d: give 1 to %d, or 0 for the default %d", c.Attackers, MaxAttackers, DefaultAttackers)
	}
	if c.Attackers == 0 {
		c.Attackers = DefaultAttackers
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if !validHost(c.Host) {
		return Truth{}, fmt.Errorf("host %q: use a host name of letters, digits, '.', '-' and '_' (at most 255 bytes)", c.Host)
	}
	if c.Start.IsZero() {
		c.Start = defaultStart()
	}
	g := newGen(w, c)
	g.run()
	if err := finish(g.w, g.err); err != nil {
		return Truth{}, err
	}
	return g.truth(), nil
}

func validHost(h string) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

// actor is anything that writes lines over time: a connection, a campaign
// that opens connections, a cron job. step runs at the actor's scheduled time
// (gen.now), writes at most one line, and returns when to run next.
type actor interface {
	step(g *gen) (next int64, more bool)
}

// gen is one run of the generator. Times are milliseconds since the start.
type gen struct {
	w            *bufio.Writer
	rng          *rand.Rand
	left         int // lines still to write
	err          error
	sched[actor] // now is ms since start

	baseSec int64 // Unix seconds of the start
	loc     *time.Location
	zoneOff int64 // seconds east of UTC
	stampAt int64 // second (since start) that stamp holds
	stamp   []byte
	host    string

	pid       int // last pid handed out
	logindPID int
	bootSec   int64 // seconds of uptime at the start
	session   int   // last logind session id
	hostAddr  netip.Addr

	attackers []*attacker
	order     []int // first pass over attackers, so each shows up once early
	campaigns int
	legit     []*legitAddr
	users     []*legitUser
	userSum   int // sum of user weights
	scanners  []netip.Addr
	valid     map[string]bool // user names that exist on the host
	names     names
	free      []*conn
}

func newGen(w io.Writer, c Config) *gen {
	name, off := c.Start.Zone()
	g := &gen{
		w:       bufio.NewWriterSize(w, 256<<10),
		rng:     rand.New(rand.NewPCG(uint64(c.Seed), 0x9e3779b97f4a7c15)),
		left:    c.Lines,
		baseSec: c.Start.Unix(),
		// A fixed zone keeps printed times monotonic across DST changes.
		loc:     time.FixedZone(name, off),
		zoneOff: int64(off),
		stampAt: -1,
		stamp:   make([]byte, 0, 16),
		host:    c.Host,
	}
	g.names = newNames()
	g.pid = 1000 + g.rng.IntN(30000)
	g.logindPID = 400 + g.rng.IntN(300)
	listenerPID := 700 + g.rng.IntN(200)
	g.bootSec = 3600 + g.rng.Int64N(40*86400)
	g.session = g.rng.IntN(5000)
	g.hostAddr = g.publicV4()
	g.setupLegit()
	g.setupAttackers(c.Attackers)
	g.scanners = make([]netip.Addr, 400)
	for i := range g.scanners {
		g.scanners[i] = g.freshV4()
	}

	g.push(0, &listener{pid: listenerPID})
	g.push(0, attackSpawner{})
	g.push(g.rng.Int64N(20000), legitSpawner{})
	g.push(g.rng.Int64N(10000), &kernelNoise{})
	for _, p := range periodicJobs(g) {
		g.push(p.nextRun(g, 0), p)
	}
	return g
}

func (g *gen) run() {
	g.sched.run(func() bool { return g.left > 0 && g.err == nil }, func(a actor) (int64, bool) { return a.step(g) })
}

// nextPID hands out process ids the way a busy kernel does: increasing with
// gaps, wrapping past the static daemons' ids.
func (g *gen) nextPID() int {
	g.pid += 1 + g.rng.IntN(6)
	if g.pid >= 4194304 {
		g.pid = 1000 + g.rng.IntN(100)
	}
	return g.pid
}

// ms returns a uniform duration in [lo, hi] milliseconds.
func (g *gen) ms(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.rng.Int64N(hi-lo+1)
}

// expMS returns a gap of about exponential distribution with the given mean
// in ms. It uses integer arithmetic (a piecewise-linear -log2 of a uniform
// draw) instead of math.Log, whose last bits may differ between
// architectures, so a seed gives the same bytes everywhere.
func (g *gen) expMS(mean float64) int64 {
	m := int64(mean)
	if m <= 0 {
		return 0
	}
	r := g.rng.Uint64()
	z := uint64(bits.LeadingZeros64(r)) // r/2^64 = 2^-(z+1) * (1+f)
	var f uint64                        // f * 2^32
	if z < 63 {
		f = (r << (z + 1)) >> 32
	}
	// -log2(r/2^64) = z + 1 - log2(1+f), taken as z + 1 - f, whose mean is
	// 3/2; scale by 2/3 for the requested mean.
	v := (z+1)<<32 - f
	hi, lo := bits.Mul64(uint64(m)*2, v)
	return int64((hi<<32 | lo>>32) / 3)
}

// begin starts a line at g.now for prog[pid] (no "[pid]" when pid < 0) in
// the writer's free buffer.
func (g *gen) begin(prog string, pid int) []byte {
	sec := g.now / 1000
	if sec != g.stampAt {
		g.stampAt = sec
		g.stamp = time.Unix(g.baseSec+sec, 0).In(g.loc).AppendFormat(g.stamp[:0], time.Stamp)
	}
	b := g.w.AvailableBuffer()
	b = append(b, g.stamp...)
	b = append(b, ' ')
	b = append(b, g.host...)
	b = append(b, ' ')
	b = append(b, prog...)
	if pid >= 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(pid), 10)
		b = append(b, ']')
	}
	return append(b, ':', ' ')
}

// end finishes and writes a line started with begin.
func (g *gen) end(b []byte) {
	b = append(b, '\n')
	if _, err := g.w.Write(b); err != nil && g.err == nil {
		g.err = err
	}
	g.left--
}

func (g *gen) truth() Truth {
	var t Truth
	for _, a := range g.attackers {
		if !a.seen {
			continue
		}
		if a.rotate {
			t.AttackerPrefixes = append(t.AttackerPrefixes, a.prefix)
		} else {
			t.Attackers = append(t.Attackers, a.addr)
		}
	}
	for _, l := range g.legit {
		if l.seen {
			t.Legit = append(t.Legit, l.addr)
		}
	}
	slices.SortFunc(t.Attackers, netip.Addr.Compare)
	slices.SortFunc(t.Legit, netip.Addr.Compare)
	slices.SortFunc(t.AttackerPrefixes, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return t
}

// item is one scheduled step of an actor of type A.
type item[A any] struct {
	at  int64
	seq uint64 // ties run in the order they were scheduled
	a   A
}

// sched runs actors of type A in time order: a clock and a queue.
type sched[A any] struct {
	now int64 // the time of the step being run
	q   queue[A]
	seq uint64
}

// push schedules a at time at.
func (s *sched[A]) push(at int64, a A) {
	s.seq++
	s.q.push(item[A]{at: at, seq: s.seq, a: a})
}

// run steps the earliest actor while ok holds and actors remain: step
// returns when the actor runs next, or false when it is done.
func (s *sched[A]) run(ok func() bool, step func(A) (next int64, more bool)) {
	for ok() && len(s.q) > 0 {
		it := s.q[0]
		s.now = it.at
		next, more := step(it.a)
		// step may push new items; they are never earlier than now and
		// carry a later seq, so the stepped item is still at the root.
		if !more {
			s.q.popTop()
			continue
		}
		s.seq++
		s.q.replaceTop(item[A]{at: max(next, s.now), seq: s.seq, a: it.a})
	}
}

// queue is a binary min-heap of items by (at, seq).
type queue[A any] []item[A]

func (q queue[A]) less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q *queue[A]) push(it item[A]) {
	*q = append(*q, it)
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *queue[A]) popTop() {
	h := *q
	n := len(h) - 1
	h[0] = h[n]
	h[n] = item[A]{}
	*q = h[:n]
	q.down()
}

func (q *queue[A]) replaceTop(it item[A]) {
	(*q)[0] = it
	q.down()
}

func (q *queue[A]) down() {
	h := *q
	n := len(h)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// appendPad appends n in decimal, left-padded with pad to width.
func appendPad(b []byte, n int64, width int, pad byte) []byte {
	digits := 1
	for v := n; v >= 10; v /= 10 {
		digits++
	}
	for ; digits < width; digits++ {
		b = append(b, pad)
	}
	return strconv.AppendInt(b, n, 10)
}

// defaultStart is DefaultStart as a time.
func defaultStart() time.Time {
	t, err := time.Parse(time.RFC3339, DefaultStart)
	if err != nil {
		panic("loggen: DefaultStart is not RFC 3339: " + err.Error()) // a constant: caught by any test
	}
	return t
}

// finish flushes a generator's output and reports the first write error,
// its own (err) or the flush's.
func finish(w *bufio.Writer, err error) error {
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}
