package pipeline

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"phalanx"
	"phalanx/crawler"
	"phalanx/httprules"
	"phalanx/logline"
	"phalanx/parser/httplog"
	"phalanx/scenario"
)

// HTTPConfig is the web tier's part of the detection configuration.
type HTTPConfig struct {
	// TrustedProxies are the load balancers, CDNs and reverse proxies in
	// front of the web servers: a line whose peer is one of them blames
	// the client it forwarded for (the last untrusted address of
	// X-Forwarded-For), and a line from one of them that names no
	// readable client blames nobody. Nobody else's forwarded addresses
	// are believed.
	TrustedProxies []netip.Prefix
	// Pack is the HTTP rule pack; nil means the embedded one. Its
	// scenarios run beside Config.Scenarios.
	Pack *httprules.Pack
	// Formats are compiled nginx log_format strings by name, for sources
	// written "nginx/NAME:PATH".
	Formats map[string]*httplog.Format
	// Crawlers checks an address whose user agent claims a search
	// engine's crawler; nil checks none (no claim is believed, none is
	// called fake). It must not block.
	Crawlers func(addr netip.Addr, domains []string) crawler.Verdict
}

// SkipNoClient is the skip reason of web-server lines from a trusted proxy
// that name no client that can be believed.
const SkipNoClient = "no-client"

// webParser reads one stream's web-server lines: the access or error line
// is parsed (httplog), the request classified by the rule pack (httprules),
// and each hit becomes an event. A line may give several events (a probe
// for /.env is an http-probe and an http-sensitive); Next hands out the
// rest.
type webParser struct {
	p       *Pipeline
	stream  *Stream // the stream it parses for (its source's counters); nil for none
	log     *httplog.Parser
	cls     *httprules.Classifier
	req     httplog.Request
	pre     []byte // the line Frame parsed, for Parse to use without parsing it again
	hits    []httprules.Hit
	next    int
	path    []byte
	pathStr string
	user    string
}

// newWebParser reads times written without a zone (nginx and Apache error
// logs) in loc, the stream's.
func (p *Pipeline) newWebParser(format *httplog.Format, loc *time.Location) *webParser {
	return &webParser{
		p:   p,
		log: httplog.New(httplog.Options{Format: format, Trusted: p.trusted, Location: loc}),
		cls: p.pack.NewClassifier(),
	}
}

// Frame parses a whole line that carries no syslog header (a web server's
// own log file): it fills fr from it and keeps the parse for Parse.
func (w *webParser) Frame(line []byte, fr *logline.Frame) bool {
	if !w.log.Parse(line, &w.req) {
		return false
	}
	*fr = logline.Frame{Time: w.req.Time, Message: line}
	w.pre = line
	return true
}

func (w *webParser) Parse(fr *logline.Frame, ev *phalanx.Event) bool {
	pre := w.pre
	w.pre = nil
	if !sameSlice(pre, fr.Message) && !w.log.Parse(fr.Message, &w.req) {
		return false
	}
	r := &w.req
	if !r.Client.IsValid() {
		if r.Peer.IsValid() {
			if w.stream != nil {
				w.stream.skip(3) // SkipNoClient
			} else {
				w.p.t.skipped[3]++
			}
		}
		return false
	}
	w.hits = w.cls.Classify(r, w.hits[:0])
	if len(r.UserAgent) > 0 {
		w.crawler(r)
	}
	if len(w.hits) == 0 {
		return false
	}
	w.path = httprules.Path(r, w.path[:0])
	if len(w.path) == 0 && len(r.Path) > 0 {
		w.path = append(w.path, r.Path...) // an error line that names a file, not the request
	}
	w.pathStr = ""
	if len(w.path) > 0 {
		w.pathStr = string(bounded(w.path, maxPath))
	}
	w.user = ""
	if len(r.User) > 0 {
		w.user = string(bounded(r.User, maxUser))
	}
	w.next = 0
	return w.Next(ev)
}

// crawler applies what is known of a claimed search-engine crawler to the
// hits. A verified crawler is never judged: it follows whatever links it
// finds, and links can be planted to get it banned. A claim not yet
// checked (or with no checker) is judged like anyone, except that its
// 404s are not taken for probing, as a crawler's dead links would be; a
// false claim is an event of its own.
func (w *webParser) crawler(r *httplog.Request) {
	_, domains, ok := w.cls.Crawler(r.UserAgent)
	if !ok {
		return
	}
	verdict := crawler.Unknown
	if check := w.p.cfg.HTTP.Crawlers; check != nil {
		verdict = check(r.Client, domains)
	}
	switch verdict {
	case crawler.Verified:
		w.hits = w.hits[:0]
	case crawler.Fake:
		w.hits = append(w.hits, httprules.Hit{Kind: phalanx.KindHTTPFakeCrawler, Rule: "fake-crawler"})
	default:
		w.hits = slices.DeleteFunc(w.hits, func(h httprules.Hit) bool { return h.Kind == phalanx.KindHTTPProbe })
	}
}

func (w *webParser) Next(ev *phalanx.Event) bool {
	if w.next >= len(w.hits) {
		return false
	}
	h := w.hits[w.next]
	w.next++
	ev.Kind = h.Kind
	ev.Source = w.req.Client
	ev.User = w.user
	ev.Path = w.pathStr
	ev.Detail = h.Rule
	return true
}

// Bounds on the attacker-written strings an HTTP event carries.
const (
	maxPath = 512
	maxUser = 64
)

func bounded(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// sameSlice reports whether a and b are the same bytes of memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}

// trusted reports whether a is one of the configured trusted proxies.
func (p *Pipeline) trusted(a netip.Addr) bool {
	for _, t := range p.cfg.HTTP.TrustedProxies {
		if t.Contains(a) {
			return true
		}
	}
	return false
}

// isWebProgram returns a function that reports whether a syslog program
// name is one of names.
func isWebProgram(names ...string) func([]byte) bool {
	return func(prog []byte) bool {
		if i := bytes.IndexByte(prog, '/'); i > 0 {
			prog = prog[:i] // "httpd/backend1": a tag that names the instance
		}
		for _, n := range names {
			if string(prog) == n { // no allocation
				return true
			}
		}
		return false
	}
}

// combineScenarios returns the scenarios of c followed by the pack's, or an
// error when a name is used by both.
func combineScenarios(own, pack []scenario.Spec) ([]scenario.Spec, error) {
	out := slices.Clone(own)
	for _, s := range pack {
		for _, o := range own {
			if o.Name == s.Name {
				return nil, fmt.Errorf("scenario %q is defined in detection.scenarios and in the HTTP rule pack: rename one (the pack's live in http.rules)", s.Name)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// twinWindow is how far apart in time two streams' lines about one request
// may be written and still count once.
const twinWindow = 2 * time.Second

// maxTwins bounds the events remembered for twin detection.
const maxTwins = 8192

// twins recognises an HTTP event that another stream already gave for the
// same request: a web server writes a failed basic authentication, a rate
// limit or a missing file to its access log and to its error log, and when
// both are watched the request must count once, as fail2ban counts it in
// one of them. The error log may name the file rather than the request's
// path (Apache's "File does not exist: /var/www/html/x.php"): a path that
// ends with the other's at a '/' is the same request.
type twins struct {
	seen map[twinKey]*[twinsPerKey]twinSeen
	fifo []twinEntry // in judging order, for forgetting
	head int
}

// twinsPerKey is how many recent events of one source and kind are kept.
const twinsPerKey = 4

type twinKey struct {
	addr netip.Addr
	kind phalanx.Kind
}

type twinSeen struct {
	stream int
	at     int64
	path   string
	used   bool
}

type twinEntry struct {
	key twinKey
	at  int64
}

// twin reports whether ev, from stream, repeats an event another stream
// gave within twinWindow; otherwise it remembers ev.
func (t *twins) twin(ev *phalanx.Event, stream int) bool {
	if ev.Kind < phalanx.KindHTTPProbe {
		return false
	}
	at := ev.Time.UnixNano()
	k := twinKey{ev.Source, ev.Kind}
	recent := t.seen[k]
	if recent != nil {
		for i := range recent {
			s := &recent[i]
			if s.used && s.stream != stream && at-s.at <= int64(twinWindow) && s.at-at <= int64(twinWindow) && samePath(s.path, ev.Path) {
				s.used = false // one twin per event
				return true
			}
		}
	}
	if t.seen == nil {
		t.seen = map[twinKey]*[twinsPerKey]twinSeen{}
		t.fifo = make([]twinEntry, 0, 64)
	}
	// Forget what is older than the window, or the oldest when full.
	for t.head < len(t.fifo) {
		e := t.fifo[t.head]
		if at-e.at <= int64(twinWindow) && len(t.fifo)-t.head < maxTwins {
			break
		}
		if r := t.seen[e.key]; r != nil && newest(r) <= e.at {
			delete(t.seen, e.key)
		}
		t.fifo[t.head] = twinEntry{}
		t.head++
	}
	if t.head > len(t.fifo)/2 && t.head > 64 {
		t.fifo = append(t.fifo[:0], t.fifo[t.head:]...)
		t.head = 0
	}
	if recent = t.seen[k]; recent == nil {
		recent = new([twinsPerKey]twinSeen)
		t.seen[k] = recent
	}
	oldest := 0
	for i := range recent {
		if !recent[i].used {
			oldest = i
			break
		}
		if recent[i].at < recent[oldest].at {
			oldest = i
		}
	}
	recent[oldest] = twinSeen{stream: stream, at: at, path: ev.Path, used: true}
	t.fifo = append(t.fifo, twinEntry{k, at})
	return false
}

func newest(r *[twinsPerKey]twinSeen) int64 {
	n := int64(math.MinInt64)
	for _, s := range r {
		if s.used && s.at > n {
			n = s.at
		}
	}
	return n
}

// samePath reports whether a and b name one request: equal, or one ends
// with the other, which starts with '/' and is more than "/".
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	return len(b) > 1 && b[0] == '/' && strings.HasSuffix(a, b)
}
