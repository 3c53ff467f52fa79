package httprules

import (
	"bytes"
	"hash/maphash"

	"phalanx/parser/httplog"
)

// Sizes of a Classifier's memo.
const (
	memoSlots  = 128 // direct-mapped slots
	memoKeyMax = 320 // longer header values are scanned every time
	memoGroups = 6   // groups one header value may prove and still be memoized
)

// Classifier classifies the requests of one stream (a tailed log, one
// pipeline goroutine) with the same results as Pack.Classify, faster: it
// remembers what the pack found in recently seen User-Agent and Referer
// values, which repeat from line to line (one client's requests, a
// monitor's checks, a site's own pages as referers), and scans each
// remembered value once instead of on every line. The memo is a fixed
// table of about 45 KiB allocated by NewClassifier; Classify allocates
// nothing. A Classifier is not safe for concurrent use: give each
// goroutine its own.
type Classifier struct {
	p    *Pack
	seed maphash.Seed
	memo [memoSlots]memoEntry
}

// memoEntry is what scanning one header value proved.
type memoEntry struct {
	n       uint16 // key length; valid when set is true
	set     bool
	field   mode  // modeAgent or modeReferer
	crawler int16 // index of the crawler the value names, or -1
	ng      uint8
	groups  [memoGroups]uint16
	key     [memoKeyMax]byte
}

// NewClassifier returns a Classifier for p.
func (p *Pack) NewClassifier() *Classifier {
	return &Classifier{p: p, seed: maphash.MakeSeed()}
}

// Pack returns the pack c classifies with.
func (c *Classifier) Pack() *Pack { return c.p }

// Classify is Pack.Classify, with the memo.
func (c *Classifier) Classify(r *httplog.Request, dst []Hit) []Hit {
	var m match
	if len(r.URI) > 0 {
		connect := isConnect(r.Method)
		c.p.scanURI(r.URI, connect, &m)
	} else if r.Error != httplog.ErrNone && len(r.Path) > 0 {
		c.p.scanFile(r.Path, &m)
	}
	if len(r.UserAgent) > 0 {
		if e := c.entry(r.UserAgent, modeAgent); e != nil {
			e.apply(&m)
		} else {
			c.p.scanHeaders(r.UserAgent, nil, &m)
		}
	}
	if len(r.Referer) > 0 {
		if e := c.entry(r.Referer, modeReferer); e != nil {
			e.apply(&m)
		} else {
			c.p.scanHeaders(nil, r.Referer, &m)
		}
	}
	return c.p.decide(r, &m, dst)
}

// Crawler is Pack.Crawler, with the memo.
func (c *Classifier) Crawler(ua []byte) (name string, domains []string, ok bool) {
	e := c.entry(ua, modeAgent)
	if e == nil {
		return c.p.Crawler(ua)
	}
	if e.crawler < 0 {
		return "", nil, false
	}
	cr := &c.p.crawlers[e.crawler]
	return cr.name, cr.domains, true
}

// entry returns what the header value v (of field modeAgent or
// modeReferer) proves, from the memo or by scanning it into the memo; nil
// when v cannot be remembered (too long, or it proves too many groups).
func (c *Classifier) entry(v []byte, field mode) *memoEntry {
	v = v[:min(len(v), MaxHeaderScan)]
	if len(v) > memoKeyMax {
		return nil
	}
	h := maphash.Bytes(c.seed, v)
	e := &c.memo[(h^uint64(field))%memoSlots]
	if e.set && e.field == field && int(e.n) == len(v) && bytes.Equal(e.key[:e.n], v) {
		return e
	}
	if !c.p.scanField(v, field, e) {
		e.set = false
		return nil
	}
	e.set, e.field, e.n = true, field, uint16(len(v))
	copy(e.key[:], v)
	return e
}

// apply records what e proves in m.
func (e *memoEntry) apply(m *match) {
	for _, g := range e.groups[:e.ng] {
		m.set(int(g))
	}
	if e.crawler >= 0 && e.field == modeAgent {
		m.crawler = true
	}
}

// scanField runs one header value through the header automaton and records
// its groups and crawler in e; false when it proves more groups than e
// holds (e is then incomplete and must not be used).
func (p *Pack) scanField(v []byte, field mode, e *memoEntry) bool {
	_, a := p.automata()
	next, class := a.next, &a.class
	e.ng, e.crawler = 0, -1
	ok := true
	var s uint32
	for _, ch := range v {
		s = next[s&^outFlag+uint32(class[ch])]
		if s&outFlag == 0 {
			continue
		}
		for _, en := range a.scanEntries(s) {
			switch en.mode {
			case modeCrawler:
				if field == modeAgent && (e.crawler < 0 || int16(en.group) < e.crawler) {
					e.crawler = int16(en.group)
				}
				continue
			case modeHeader, field:
			default:
				continue
			}
			if !hasGroup(e.groups[:e.ng], en.group) {
				if int(e.ng) == memoGroups {
					ok = false
					continue
				}
				e.groups[e.ng] = en.group
				e.ng++
			}
		}
	}
	return ok
}

func hasGroup(gs []uint16, g uint16) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}
