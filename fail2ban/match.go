package fail2ban

import (
	"math/bits"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Outcome is what a filter made of a line.
type Outcome uint8

const (
	// Missed: no failregex matched.
	Missed Outcome = iota
	// Failure: a failregex matched and names a host (or failure id).
	Failure
	// Ignored: an ignoreregex matched.
	Ignored
	// NoFail: a failregex matched but marks no failure (<F-NOFAIL>, a
	// multi-line failure that is still waiting for its host, a success).
	NoFail
)

func (o Outcome) String() string {
	switch o {
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	case NoFail:
		return "nofail"
	}
	return "missed"
}

// Result is one failure found in a line.
type Result struct {
	Regex int    // index of the failregex that matched
	Host  string // the host text as matched: address, address/bits or name
	// Addr is the address; Prefix is set when the line gave a CIDR. Both
	// are zero when the host is a name: phalanx never resolves a name read
	// from a log line (an attacker may control its DNS), so a name-only
	// failure cannot lead to a ban.
	Addr     netip.Addr
	Prefix   netip.Prefix
	Name     bool     // the host is a host name
	ID       string   // <F-ID> when it differs from the host
	User     string   // <F-USER> (or <F-ALT_USER> when F-USER is empty)
	Users    []string // users seen for a multi-line failure id
	Attempts int      // lines that make up the failure
	Time     time.Time
	HasTime  bool              // Time was read from the line (or given)
	Groups   map[string]string // the other named groups
}

// Key is what failures are counted by: the F-ID when given, else the host.
func (r *Result) Key() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Host
}

// MatchOptions tune a Matcher.
type MatchOptions struct {
	// Location reads dates that carry no zone; nil means time.Local.
	Location *time.Location
	// CheckAll continues after a failregex that gives no failure (nofail,
	// ignored) to the next, as fail2ban's sample test does; by default the
	// first failregex that matches decides, as fail2ban's daemon does.
	CheckAll bool
	// NoPrefilter runs every expression on every line (for tests).
	NoPrefilter bool
}

// Counters count a matcher's work.
type Counters struct {
	Lines, Failures, Ignored, NoFail, Missed int
	Skipped                                  int // lines the literal prefilter let pass no expression
	Timeouts                                 int // backtracking matches stopped by their budget
	Names                                    int // failures whose host is a name (never banned)
	NoTime                                   int // failures without a readable date
}

type tupleLine struct{ pre, date, post string }

// ring holds the last lines of a multi-line window that are not yet
// split, oldest first: a quiet line costs one store, not a shift of the
// window.
type ring struct {
	lines []pendingLine
	start int
	n     int
}

// push appends l, dropping the oldest line when size lines are held.
func (r *ring) push(l pendingLine, size int) {
	if r.lines == nil {
		r.lines = make([]pendingLine, size)
	}
	// Indices wrap by a compare, not a division (this runs on every line
	// of a group with a multi-line filter).
	if r.n == len(r.lines) {
		r.lines[r.start] = l
		if r.start++; r.start == len(r.lines) {
			r.start = 0
		}
		return
	}
	i := r.start + r.n
	if i >= len(r.lines) {
		i -= len(r.lines)
	}
	r.lines[i] = l
	r.n++
}

// pushLine is push(pendingLine{line: line, now: now}, size), written in
// place, for a ring whose lines never have an at (a Group's hist).
func (r *ring) pushLine(line string, now time.Time, size int) {
	if r.lines == nil {
		r.lines = make([]pendingLine, size)
	}
	i := r.start + r.n
	if r.n == len(r.lines) {
		i = r.start
		if r.start++; r.start == len(r.lines) {
			r.start = 0
		}
	} else {
		r.n++
	}
	if i >= len(r.lines) {
		i -= len(r.lines)
	}
	pl := &r.lines[i]
	pl.line, pl.now = line, now
}

// drop forgets the k oldest lines.
func (r *ring) drop(k int) {
	if k <= 0 {
		return
	}
	k = min(k, r.n)
	r.start = (r.start + k) % len(r.lines)
	r.n -= k
}

// at is the k-th oldest line.
func (r *ring) at(k int) pendingLine { return r.lines[(r.start+k)%len(r.lines)] }

type pendingLine struct {
	line    string
	now, at time.Time
}

func (t tupleLine) text() string { return t.pre + t.post }

// mlfEntry is the state of one multi-line failure id.
type mlfEntry struct {
	groups  map[string]string
	users   []string
	matches int
	nfm     int // nofail matches
	at      time.Time
}

const (
	mlfCacheSize = 100
	mlfCacheTTL  = 5 * time.Minute
)

// Matcher runs one filter over one log stream: it holds the multi-line
// buffer (bounded by maxlines), the state of multi-line failure ids
// (bounded to 100 ids for 5 minutes, as fail2ban's) and the last date seen.
// It is not safe for concurrent use.
type Matcher struct {
	f        *Filter
	o        MatchOptions
	set      *Set // its own prefilter, built on first use (a Group has one for all)
	buf      []tupleLine
	lastDate time.Time
	lastText string
	mlf      map[string]*mlfEntry
	groups   []span
	mask     []bool
	memo     *dateMemo // set by a Group
	dateHint int       // the date template that matched last
	pending  ring      // multi-line: lines not yet split from their date
	sinceHit int       // multi-line: lines since one had a literal
	// parked: a Group stopped feeding this multi-line matcher the lines
	// without its literals after line parkedAt (its window held none of
	// its literals); the Group's history gives them back when one comes.
	parked   bool
	parkedAt uint64
	C        Counters
}

// NewMatcher returns a matcher for f.
func NewMatcher(f *Filter, o MatchOptions) *Matcher {
	if o.Location == nil {
		o.Location = time.Local
	}
	return &Matcher{f: f, o: o, mlf: map[string]*mlfEntry{}, mask: make([]bool, len(f.fail)), sinceHit: f.MaxLines, dateHint: -1}
}

// Filter returns the matcher's filter.
func (m *Matcher) Filter() *Filter { return m.f }

// Line reads one log line (without its newline); now completes dates
// without a year and stands in for a missing one.
func (m *Matcher) Line(line string, now time.Time) (Result, Outcome) {
	if m.set == nil {
		m.set = NewSet(m.f)
	}
	if !m.o.NoPrefilter && !m.set.scan(line) && !m.set.anyAll {
		m.C.Lines++
		m.C.Skipped++
		m.C.Missed++
		return Result{}, Missed
	}
	return m.line(line, now, time.Time{}, m.set, 0)
}

// LineAt reads a line whose time is known (a journal entry): the line is
// not searched for a date.
func (m *Matcher) LineAt(line string, at time.Time) (Result, Outcome) {
	if m.set == nil {
		m.set = NewSet(m.f)
	}
	if !m.o.NoPrefilter && !m.set.scan(line) && !m.set.anyAll {
		m.C.Lines++
		m.C.Skipped++
		m.C.Missed++
		return Result{}, Missed
	}
	return m.line(line, at, at, m.set, 0)
}

// enqueue adds a line to the multi-line window, dropping the oldest
// when the window holds maxlines.
func (m *Matcher) enqueue(pl pendingLine) {
	m.pending.push(pl, m.f.MaxLines)
	if over := len(m.buf) + m.pending.n - m.f.MaxLines; over > 0 {
		// Shift in place, so the buffer keeps its capacity.
		fromBuf := min(over, len(m.buf))
		m.buf = append(m.buf[:0], m.buf[fromBuf:]...)
		m.pending.drop(over - fromBuf)
	}
}

// line runs the filter; set/idx give the literal hits of the scan.
func (m *Matcher) line(line string, now, at time.Time, set *Set, idx int) (Result, Outcome) {
	m.C.Lines++
	f := m.f
	useMask := !m.o.NoPrefilter && f.MaxLines == 1
	if useMask {
		any := set.mask(idx, m.mask)
		if !any {
			m.C.Skipped++
			m.C.Missed++
			return Result{}, Missed
		}
	}
	var date time.Time
	var hasDate bool
	if f.MaxLines > 1 {
		// Multi-line: every line enters the buffer, but dates are read
		// and expressions run only while a line with one of the filter's
		// literals is inside the window.
		relevant := m.o.NoPrefilter || set.relevant(idx)
		m.enqueue(pendingLine{line, now, at})
		if relevant {
			m.sinceHit = 0
		} else {
			m.sinceHit++
		}
		if m.sinceHit >= f.MaxLines {
			m.C.Skipped++
			m.C.Missed++
			return Result{}, Missed
		}
		for k := range m.pending.n {
			pl := m.pending.at(k)
			var tl tupleLine
			tl, date, hasDate = m.split(pl.line, pl.now, pl.at)
			m.buf = append(m.buf, tl)
		}
		m.pending.drop(m.pending.n)
	} else {
		var tl tupleLine
		tl, date, hasDate = m.split(line, now, at)
		m.buf = append(m.buf[:0], tl)
	}
	buf := m.bufText()
	if len(f.ignore) > 0 && len(f.ignore) < len(f.fail)-2 {
		if m.ignored(buf) {
			m.C.Ignored++
			return Result{}, Ignored
		}
	}
	var pre map[string]string
	if f.pref != nil {
		_, _, g, ok, to := f.pref.find(buf, m.groups[:0])
		m.groups = g
		if to {
			m.C.Timeouts++
		}
		if !ok {
			m.C.Missed++
			return Result{}, Missed
		}
		pre = groupMap(f.pref, buf, g)
		if c, ok := pre["content"]; ok {
			delete(pre, "content")
			if c != "" {
				m.buf = append(m.buf[:0], tupleLine{post: c})
				buf = c
				if f.MaxLines > 1 {
					buf += "\n"
				}
			}
		}
	}
	outcome := Missed
	for i, r := range f.fail {
		if useMask && !m.mask[i] {
			continue
		}
		whole, _, g, ok, to := r.find(buf, m.groups[:0])
		m.groups = g
		if to {
			m.C.Timeouts++
		}
		if !ok {
			continue
		}
		groups := groupMap(r, buf, g)
		if len(f.ignore) > 0 {
			text := buf
			if f.MaxLines > 1 {
				text = matchedLines(buf, whole)
			}
			if m.ignored(text) {
				outcome = Ignored
				if m.o.CheckAll {
					continue
				}
				break
			}
		}
		if f.MaxLines > 1 {
			m.dropMatched(buf, whole)
			buf = m.bufText()
		}
		fail := groups
		if pre != nil {
			fail = make(map[string]string, len(pre)+len(groups))
			for k, v := range pre {
				fail[k] = v
			}
			for k, v := range groups {
				fail[k] = v
			}
		}
		res, out := m.failure(fail, now)
		if out == Failure {
			res.Regex = i
			res.Time, res.HasTime = date, hasDate
			m.C.Failures++
			if res.Name {
				m.C.Names++
			}
			if !hasDate {
				m.C.NoTime++
			}
			return res, Failure
		}
		outcome = out
		if !m.o.CheckAll {
			break
		}
	}
	switch outcome {
	case Ignored:
		m.C.Ignored++
	case NoFail:
		m.C.NoFail++
	default:
		m.C.Missed++
	}
	return Result{}, outcome
}

// split cuts the date out of a line, as fail2ban does: the expressions
// see the text before and after it.
func (m *Matcher) split(line string, now, at time.Time) (tl tupleLine, date time.Time, hasDate bool) {
	if !at.IsZero() {
		return tupleLine{post: line}, at, true
	}
	d := m.findDate(line, now)
	if d.start >= 0 {
		tl = tupleLine{line[:d.start], line[d.start:d.end], line[d.end:]}
		switch {
		case d.end > d.start && d.ok:
			date, hasDate = d.t, true
			m.lastDate, m.lastText = d.t, tl.date
		case d.end == d.start:
			if !m.lastDate.IsZero() && m.lastDate.After(now.Add(-time.Minute)) {
				tl = tupleLine{"", m.lastText, line}
				date, hasDate = m.lastDate, true
			} else {
				date, hasDate = now, true
			}
		}
	} else {
		tl = tupleLine{post: line}
	}
	if !hasDate && !m.lastDate.IsZero() && m.lastDate.After(now.Add(-time.Minute)) {
		tl = tupleLine{"", m.lastText, line}
		date, hasDate = m.lastDate, true
	}
	return tl, date, hasDate
}

// dateMemo remembers, within one Group.Line, where each date detector
// found the date, as many filters share a detector.
type dateMemo struct {
	gen     uint32
	entries []dateMemoEntry
}

type dateMemoEntry struct {
	gen  uint32
	line string // a multi-line matcher splits older lines too
	d    *dateDetector
	loc  *time.Location
	now  time.Time
	res  dateFound
}

func (m *Matcher) findDate(line string, now time.Time) dateFound {
	memo := m.memo
	if memo == nil {
		return m.f.dates.find(line, now, m.o.Location, &m.dateHint)
	}
	for i := range memo.entries {
		e := &memo.entries[i]
		if e.gen == memo.gen && e.d == m.f.dates && e.loc == m.o.Location && e.now.Equal(now) && e.line == line {
			return e.res
		}
	}
	res := m.f.dates.find(line, now, m.o.Location, &m.dateHint)
	memo.entries = append(memo.entries, dateMemoEntry{memo.gen, line, m.f.dates, m.o.Location, now, res})
	return res
}

func (m *Matcher) bufText() string {
	if m.f.MaxLines == 1 {
		return m.buf[0].text()
	}
	var b strings.Builder
	for _, t := range m.buf {
		b.WriteString(t.text())
		b.WriteByte('\n')
	}
	return b.String()
}

func (m *Matcher) ignored(text string) bool {
	for _, r := range m.f.ignore {
		_, _, g, ok, to := r.find(text, m.groups[:0])
		m.groups = g
		if to {
			m.C.Timeouts++
		}
		if ok {
			return true
		}
	}
	return false
}

// matchedLines returns the whole lines of buf that the match touches.
func matchedLines(buf string, whole span) string {
	st := strings.LastIndexByte(buf[:whole.start], '\n') + 1
	en := len(buf)
	if whole.end > 0 {
		if i := strings.IndexByte(buf[whole.end-1:], '\n'); i >= 0 {
			en = whole.end - 1 + i + 1
		}
	}
	return buf[st:en]
}

// dropMatched removes the lines a multi-line match used from the buffer.
func (m *Matcher) dropMatched(buf string, whole span) {
	st := strings.LastIndexByte(buf[:whole.start], '\n') + 1
	en := len(buf)
	if whole.end > 0 {
		if i := strings.IndexByte(buf[whole.end-1:], '\n'); i >= 0 {
			en = whole.end - 1 + i + 1
		}
	}
	first := strings.Count(buf[:st], "\n")
	last := strings.Count(buf[:en], "\n")
	if first > len(m.buf) {
		first = len(m.buf)
	}
	if last > len(m.buf) {
		last = len(m.buf)
	}
	m.buf = append(m.buf[:first:first], m.buf[last:]...)
}

func groupMap(r *rx, s string, g []span) map[string]string {
	out := make(map[string]string, len(g))
	for i, sp := range g {
		if sp.start >= 0 {
			out[r.names[i]] = s[sp.start:sp.end]
		}
	}
	for _, k := range []string{"nofail", "mlfgained", "mlfforget"} {
		if v, ok := out[k]; ok && v == "" {
			delete(out, k)
		}
	}
	for k, v := range out {
		if base, ok := strings.CutPrefix(k, "alt_"); ok && v != "" {
			base = trimIndex(base)
			if out[base] == "" {
				out[base] = v
			}
		}
	}
	return out
}

// trimIndex removes a trailing _N of alt_user_2.
func trimIndex(s string) string {
	if i := strings.LastIndexByte(s, '_'); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i]
		}
	}
	return s
}

// failure turns a match's groups into a result, merging multi-line
// failure ids as fail2ban does.
func (m *Matcher) failure(fail map[string]string, now time.Time) (Result, Outcome) {
	attempts := 1
	var users []string
	if id, ok := fail["mlfid"]; ok {
		e := m.mergeMLF(id, fail, now)
		fail = e.groups
		if _, nf := fail["nofail"]; nf {
			return Result{}, NoFail
		}
		attempts, users = e.matches, e.users
	} else if _, nf := fail["nofail"]; nf {
		return Result{}, NoFail
	}
	res := Result{User: fail["user"], Attempts: attempts, Users: users}
	fid := fail["fid"]
	host, cidr := "", fail["cidr"]
	switch {
	case fail["ip4"] != "":
		host = fail["ip4"]
	case fail["ip6"] != "":
		host = fail["ip6"]
	case fail["dns"] != "":
		host = fail["dns"]
		res.Name = true
	case fid != "":
		host = fid
	}
	if host == "" {
		if _, ok := fail["mlfid"]; ok {
			if e := m.mlf[fail["mlfid"]]; e != nil {
				e.groups["mlfpending"] = "1"
			}
			return Result{}, NoFail
		}
		return Result{}, Missed
	}
	res.Host = host
	if a, err := netip.ParseAddr(host); err == nil {
		res.Addr = a.Unmap()
		res.Name = false
		if cidr != "" {
			if bits, err := strconv.Atoi(cidr); err == nil {
				if p, err := res.Addr.Prefix(bits); err == nil {
					res.Prefix = p
					res.Host = p.String()
				}
			}
		}
	} else if fail["ip4"] != "" || fail["ip6"] != "" {
		// Matched the address shape but is no address (999.1.1.1).
		res.Name = false
	} else if host == fid {
		res.Name = false
	}
	if fid != "" && fid != host {
		res.ID = fid
	}
	for k, v := range fail {
		switch k {
		case "ip4", "ip6", "dns", "cidr", "fid", "user", "mlfid", "nofail", "mlfforget", "mlfgained", "mlfpending":
			continue
		}
		if strings.HasPrefix(k, "skiplines") {
			continue
		}
		if res.Groups == nil {
			res.Groups = map[string]string{}
		}
		res.Groups[k] = v
	}
	return res, Failure
}

// mergeMLF merges a match into the state of its multi-line failure id.
// The rules follow fail2ban's: a "gained" match (a success) resets what
// was pending; "forget" ends the id; "nofail" matches are remembered and
// become failures when a failure for the id follows, or when more than one
// user is tried.
func (m *Matcher) mergeMLF(id string, fail map[string]string, now time.Time) *mlfEntry {
	const (
		fNoFail = 1
		fForget = 2
		fPrev   = 4
		fGained = 8
	)
	flags := 0
	if g, ok := fail["mlfgained"]; ok {
		flags |= fGained | fNoFail
		if _, ok := fail["nofail"]; !ok {
			fail["nofail"] = g
		}
	} else if _, ok := fail["nofail"]; ok {
		flags |= fNoFail
	}
	if _, ok := fail["mlfforget"]; ok {
		flags |= fForget
		delete(fail, "mlfforget")
	}
	e := m.mlf[id]
	if e != nil && now.Sub(e.at) > mlfCacheTTL {
		delete(m.mlf, id)
		e = nil
	}
	var cur *mlfEntry
	if e != nil {
		e.users = addUser(e.users, fail["user"])
		if _, ok := e.groups["nofail"]; ok {
			delete(e.groups, "nofail")
			flags |= fPrev
		}
		if _, ok := e.groups["mlfgained"]; ok {
			delete(e.groups, "mlfgained")
			flags |= fPrev
		}
		if flags&fGained != 0 {
			delete(e.groups, "mlfpending")
		}
		if flags&fPrev == 0 && e.groups["mlfpending"] == "" {
			e.matches = 0
		}
		for k, v := range fail {
			e.groups[k] = v
		}
		cur = e
		if flags&fForget != 0 {
			delete(m.mlf, id)
		}
	} else {
		cur = &mlfEntry{groups: fail, at: now}
		cur.users = addUser(nil, fail["user"])
		if flags&fForget == 0 {
			if len(m.mlf) >= mlfCacheSize {
				m.evictOldest()
			}
			m.mlf[id] = cur
		}
	}
	pending := cur.groups["mlfpending"] != ""
	delete(cur.groups, "mlfpending")
	if pending || len(cur.users) > 1 {
		delete(cur.groups, "nofail")
		delete(cur.groups, "mlfgained")
		flags &^= fGained | fNoFail
	}
	if flags&fNoFail == 0 {
		n := cur.nfm + cur.matches
		cur.nfm = 0
		if flags&fGained == 0 {
			n++
		}
		cur.matches = n
	} else if flags&(fNoFail|fForget) == fNoFail {
		cur.nfm++
	}
	return cur
}

func (m *Matcher) evictOldest() {
	var oldest string
	var at time.Time
	for k, e := range m.mlf {
		if oldest == "" || e.at.Before(at) {
			oldest, at = k, e.at
		}
	}
	delete(m.mlf, oldest)
}

func addUser(users []string, u string) []string {
	if u == "" {
		return users
	}
	for _, x := range users {
		if x == u {
			return users
		}
	}
	users = append(users, u)
	sort.Strings(users)
	return users
}

// Group runs several matchers over the same stream (the jails that watch
// one log), scanning each line for literals once.
//
// A multi-line matcher must see every line (its window holds the last
// maxlines), but while its window holds none of its literals it runs
// nothing: the Group then stops feeding it ("parks" it) and keeps the last
// lines once for all of them (hist), from which a parked matcher's window
// is filled again when a line with one of its literals comes. A line
// without any literal so costs the scan and one store into hist once
// every multi-line matcher is parked: a parked matcher is not even
// called (Counters counts the lines it did not see).
type Group struct {
	set *Set
	ms  []*Matcher
	// awake: the matchers that run on lines without literals (multi-line
	// or unconditional), less the parked ones, as a bit map; run: the
	// matchers a line goes to.
	awake, run []uint64
	nAwake     int   // the bits set in awake
	base       []int // each matcher's C.Lines when grouped
	memo       dateMemo
	hist       ring   // the last lines, for parked matchers (hsize of them)
	hsize      int    // the largest maxlines + 1; 0 without multi-line matchers
	lineNo     uint64 // lines read
}

// NewGroup groups matchers.
func NewGroup(ms ...*Matcher) *Group {
	fs := make([]*Filter, len(ms))
	for i, m := range ms {
		fs[i] = m.f
	}
	words := len(ms)/64 + 1
	g := &Group{set: NewSet(fs...), ms: ms, awake: make([]uint64, words), run: make([]uint64, words), base: make([]int, len(ms))}
	for i, m := range ms {
		m.memo = &g.memo
		g.base[i] = m.C.Lines
		if g.set.always[i] {
			g.awake[i/64] |= 1 << (i % 64)
			g.nAwake++
		}
		if m.f.MaxLines > 1 {
			g.hsize = max(g.hsize, m.f.MaxLines+1)
		}
	}
	return g
}

// Matchers returns the group's matchers.
func (g *Group) Matchers() []*Matcher { return g.ms }

// Line runs every matcher that can match line and calls fn for each
// outcome other than Missed.
func (g *Group) Line(line string, now time.Time, fn func(i int, r Result, o Outcome)) {
	g.lineNo++
	if g.hsize > 0 {
		g.hist.pushLine(line, now, g.hsize)
	}
	// Only the matchers that a literal found names, and those that run on
	// every line and are awake, in their order. A parked matcher that no
	// literal names is not called: it would only count the line, which
	// Counters does for it.
	hit := g.set.scan(line)
	if !hit && g.nAwake == 0 {
		return
	}
	g.memo.gen++
	g.memo.entries = g.memo.entries[:0]
	copy(g.run, g.awake)
	if hit {
		g.set.candidates(g.run)
	}
	for w, x := range g.run {
		for x != 0 {
			b := bits.TrailingZeros64(x)
			x &= x - 1
			g.runOne(w*64+b, line, now, hit, fn)
		}
	}
}

// runOne runs matcher i on line; hit tells whether the scan found any
// literal in it.
func (g *Group) runOne(i int, line string, now time.Time, hit bool, fn func(i int, r Result, o Outcome)) {
	m := g.ms[i]
	if ml := m.f.MaxLines; ml > 1 && !m.o.NoPrefilter {
		relevant := g.set.unconditional[i] || hit && g.set.relevant(i)
		if !relevant && m.sinceHit >= ml {
			// Its window holds only lines without its literals (and no
			// longer anything split from its date): nothing to do but
			// to remember where it stopped.
			if !m.parked {
				m.parked, m.parkedAt = true, g.lineNo-1
				g.awake[i/64] &^= 1 << (i % 64)
				g.nAwake--
			}
			m.C.Lines++
			m.C.Skipped++
			m.C.Missed++
			return
		}
		if m.parked {
			// The lines it missed, the newest maxlines of them, oldest
			// first; the current one is hist's newest.
			missed := min(g.lineNo-1-m.parkedAt, uint64(ml))
			for k := int(missed); k >= 1; k-- {
				m.enqueue(g.hist.at(g.hist.n - 1 - k))
			}
			m.parked = false
			g.awake[i/64] |= 1 << (i % 64)
			g.nAwake++
		}
	}
	r, o := m.line(line, now, time.Time{}, g.set, i)
	if o != Missed && fn != nil {
		fn(i, r, o)
	}
}

// Counters returns matcher i's counters, with the lines the group's
// prefilter kept from it.
func (g *Group) Counters(i int) Counters {
	c := g.ms[i].C
	// The lines the group did not hand the matcher: none of its literals.
	if kept := int(g.lineNo) - (c.Lines - g.base[i]); kept > 0 {
		c.Lines += kept
		c.Skipped += kept
		c.Missed += kept
	}
	return c
}
