package console

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pageData is what every page has besides its content.
type pageData struct {
	Title   string
	Flash   string
	Refused string // a refused action and why
}

// nav is the header's navigation, in order.
var nav = []struct {
	name  string
	path  markup
	label markup
}{
	{"live", "/ui/", "Live"},
	{"alliance", "/ui/alliance", "Alliance"},
	{"attacks", "/ui/attacks", "Attacks"},
	{"act", "/ui/act", "Act"},
	{"sources", "/ui/sources", "Sources &amp; charter"},
}

// render writes a whole page: the layout around content. s is nil before
// sign-in; name is the page's entry in nav.
func (c *Console) render(w http.ResponseWriter, code int, name string, s *session, d pageData, content func(p *page)) {
	p := &page{b: make([]byte, 0, 16<<10)}
	if s != nil {
		p.admin, p.csrf = s.role == roleAdmin, s.csrf
	}
	if d.Title == "" {
		d.Title = name
	}
	p.m("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"same-origin\">\n<title>phalanx · ")
	p.text(d.Title)
	p.m("</title>\n<link rel=\"stylesheet\" href=\"/ui/static/app.css\">\n<script src=\"/ui/static/app.js\" defer></script>\n</head>\n<body>\n<header>\n<span class=\"brand\">phalanx</span>\n")
	if s != nil {
		p.m("<nav>\n")
		for _, n := range nav {
			p.m(`<a`)
			p.attr("href", string(n.path))
			if n.name == name {
				p.m(` class="on"`)
			}
			p.m(`>`)
			p.m(n.label)
			p.m("</a>\n")
		}
		p.m("</nav>\n<form method=\"post\" action=\"/ui/logout\" class=\"logout\">")
		p.hidden("csrf", s.csrf)
		p.m(`<span`)
		p.attr("class", "role role-"+s.role)
		p.m(`>`)
		p.text(s.role)
		p.m("</span> <button type=\"submit\">sign out</button></form>\n")
	}
	p.m("</header>\n<main>\n")
	if d.Flash != "" {
		p.el(`p class="flash" id="flash"`, d.Flash)
		p.m("\n")
	}
	if d.Refused != "" {
		p.el(`p class="refused" id="refused"`, "Refused: "+d.Refused)
		p.m("\n")
	}
	content(p)
	p.m("\n</main>\n</body>\n</html>\n")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := p.write(w, code); err != nil {
		c.log.Debug("console: write page", "page", name, "err", err)
	}
}

// csrfField writes the session's CSRF token as a hidden field.
func (p *page) csrfField() { p.hidden("csrf", p.csrf) }

// explainLink links a decision's value (an address or a range) to the
// explain view of its address.
func (p *page) explainLink(value string) {
	addr := value
	if pf, err := netip.ParsePrefix(value); err == nil {
		addr = pf.Addr().String()
	}
	p.link("/ui/explain", url.Values{"addr": {addr}}, value)
}

// counts writes a table of counters sorted by name; id may be "".
func (p *page) counts(id string, m map[string]int64) {
	p.m(`<table`)
	if id != "" {
		p.attr("id", id)
	}
	p.m(`>`)
	for _, k := range sortedKeys(m) {
		p.m(`<tr>`)
		p.td(k)
		p.tdNum(m[k])
		p.m(`</tr>`)
	}
	p.m(`</table>`)
}

// joinCounts writes counters on one line, by name: "a 1 · b 2"; only
// those not zero.
func joinCounts(m map[string]int64) string {
	var out []string
	for _, k := range sortedKeys(m) {
		if m[k] != 0 {
			out = append(out, k+" "+strconv.FormatInt(m[k], 10))
		}
	}
	return strings.Join(out, " · ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func loginContent(p *page) {
	p.m("<h1>Sign in</h1>\n<p>Open the one-time link that <code>phalanx console</code> prints, or give a token: the admin token\n" +
		"(<code>admin.token</code> in the member's data directory) may change things, the read-only token\n" +
		"(<code>console-readonly.token</code>) may only look.</p>\n" +
		"<form method=\"post\" action=\"/ui/login\" class=\"card\">\n" +
		"<label>Token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" required></label>\n" +
		"<button type=\"submit\" id=\"signin\">Sign in</button>\n</form>")
}

func messageContent(p *page) { p.m(`<p><a href="/ui/">back to the console</a></p>`) }

func liveContent(p *page, d liveData) {
	p.m(`<h1>Live <small>on `)
	p.text(d.Status.MemberName + " · " + d.Status.Alliance + " · " + strconv.Itoa(d.Status.Decisions) + " decisions in force")
	p.m("</small></h1>\n<p class=\"hint\">Bans as they spread through the alliance: who detected the attack, when, and how long each member took to enforce it. " +
		"<span id=\"stream-state\" class=\"stream\">connecting…</span></p>\n" +
		"<table class=\"live\" id=\"live\" data-stream=\"/ui/events\">\n" +
		"<thead><tr><th>Address</th><th>State</th><th>Scenario</th><th>Service</th><th>Origin</th><th>Detected</th><th>Propagation</th><th>Evidence</th></tr></thead>\n<tbody>\n")
	for _, r := range d.Rows {
		p.m(`<tr`)
		p.attr("data-value", r.Value)
		p.attr("class", "state-"+r.State)
		p.m(">\n<td class=\"val\">")
		p.link("/ui/explain", url.Values{"addr": {r.Value}}, r.Value)
		p.m("</td>\n<td class=\"state\">")
		p.text(r.State)
		if r.Note != "" {
			p.m(` `)
			p.el(`span class="note"`, r.Note)
		}
		p.m("</td>\n")
		p.td(r.Scenario)
		p.td(r.Service)
		p.td(r.Origin)
		p.m("\n")
		p.el(`td class="det"`, "on "+r.DetectedOn+" at "+r.Detected)
		p.m("\n<td class=\"hops\">")
		for _, h := range r.Hops {
			p.m(`<span class="hop"`)
			p.attr("data-member", h.Member)
			p.m(`>`)
			p.text(h.Name + " " + h.After + " ")
			p.el("small", h.Layer)
			p.m(`</span> `)
		}
		for _, pl := range r.Pulls {
			p.m(`<span`)
			if pl.Pulled {
				p.m(` class="pull pulled"`)
			} else {
				p.m(` class="pull"`)
			}
			p.attr("data-bouncer", pl.Bouncer)
			p.m(`>`)
			if pl.Bouncer != "" {
				p.text("bouncer " + pl.Bouncer + " ")
			}
			p.text(pl.Text)
			p.m(`</span> `)
		}
		p.m("</td>\n<td class=\"ev\">")
		if len(r.Evidence) > 0 {
			p.m(`<details><summary>`)
			p.num(int64(len(r.Evidence)))
			p.m(` line(s)</summary><pre>`)
			for _, l := range r.Evidence {
				p.text(l)
				p.m("\n")
			}
			p.m(`</pre></details>`)
		}
		p.m("</td>\n</tr>\n")
	}
	p.m("</tbody>\n</table>\n")
	if len(d.Rows) == 0 {
		p.m(`<p class="empty" id="empty">No bans yet. They appear here as they happen.</p>`)
	}
}

func allianceContent(p *page, d allianceData) {
	st := d.Status
	p.m(`<h1>Alliance `)
	p.text(st.Alliance)
	p.m(` <small>charter `)
	p.text(st.Charter)
	p.m("</small></h1>\n<p>This member: <b>")
	p.text(st.MemberName)
	p.m(`</b> · `)
	note := ""
	if st.EnforceNote != "" {
		note = " (" + st.EnforceNote + ")"
	}
	p.text("up " + st.Uptime + " · enforcement " + st.Enforce + note + " · " + strconv.Itoa(st.Decisions) + " decisions")
	p.m("</p>\n<table id=\"members\">\n<thead><tr><th>Member</th><th>Id</th><th>Role</th><th>Fabric</th><th>State</th><th>Reports received</th><th>Lag</th><th>Missing</th><th>Last heard</th></tr></thead>\n<tbody>\n")
	for _, m := range st.Members {
		p.m("<tr>\n<td>")
		p.text(m.Name)
		if m.Self {
			p.m(` <small>(this member)</small>`)
		}
		p.m("</td>\n<td>")
		p.el("code", m.ID)
		p.m("</td>\n<td>")
		if m.Founding {
			p.m("founding")
		} else {
			p.m("member")
		}
		if m.Leader {
			p.m(" · stream leader")
		}
		p.m("</td>\n")
		p.td(m.Fabric)
		switch {
		case m.Self:
			p.td("here")
		case m.Missing > 0:
			p.td("lagging by " + strconv.FormatUint(m.Missing, 10) + " reports")
		case m.LastReport.IsZero():
			p.td("silent")
		default:
			p.td("connected")
		}
		p.td(strconv.FormatInt(m.Reports, 10))
		p.td(dur(m.Lag))
		p.td(strconv.FormatUint(m.Missing, 10))
		p.td(when(m.LastReport))
		p.m("\n</tr>\n")
	}
	p.m("</tbody>\n</table>\n")
	reportRates(p, d.Rates, d.Since)
	p.m("<div class=\"cols\">\n<section><h2>Reports</h2>")
	p.counts("", st.Reports)
	p.m("</section>\n<section><h2>Refusals and rejections by reason</h2>")
	if len(st.Rejected) > 0 {
		p.counts("rejected", st.Rejected)
	} else {
		p.m(`<p class="empty">none</p>`)
	}
	p.m("</section>\n<section><h2>Detection</h2>")
	p.counts("", st.Pipeline)
	p.m("</section>\n</div>\n")

	pr := d.Propagation
	p.m("<section><h2>Propagation over the last hour <small>from a ban's detection to each other member's enforcement</small></h2>\n")
	if pr.N > 0 {
		p.el(`p id="propagation"`, strconv.Itoa(pr.N)+" enforcements · p50 "+dur(pr.P50)+" · p99 "+dur(pr.P99)+" · max "+dur(pr.Max))
		p.m("\n")
		p.top(pr.Buckets, false)
	} else {
		p.m(`<p class="empty">no ban has spread in the last hour</p>`)
	}
	p.m("</section>\n")

	cc := d.Console
	p.m("<section><h2>Console</h2><table id=\"console-counters\">\n")
	for _, r := range []struct {
		label string
		n     int64
	}{
		{"sessions", int64(cc.Sessions)},
		{"sign-ins", cc.Logins},
		{"sign-ins refused", cc.LoginsRefused},
		{"login links minted", cc.LinksMinted},
		{"login links refused (expired, used, forged)", cc.LinksRefused},
		{"changes refused (CSRF, other origin)", cc.CSRFRefused},
		{"changes refused (no session, read-only)", cc.Forbidden},
		{"live streams open", cc.Streams},
		{"live streams refused (too many)", cc.StreamsRefused},
		{"live streams dropped (too slow)", cc.StreamsDropped},
		{"live feed resubscribed (fell behind the timeline)", cc.Resubscribed},
		{"timeline subscribers dropped by the member (too slow)", st.Dropped},
	} {
		p.m(`<tr>`)
		p.td(r.label)
		p.tdNum(r.n)
		p.m("</tr>\n")
	}
	p.m("</table></section>")
}

// reportRates writes the reports received per minute from each member.
func reportRates(p *page, rs []memberRate, since time.Time) {
	p.m(`<section><h2>Reports per minute, by member <small>`)
	p.text("received here; sampled every " + sampleEvery.String() + " since " + when(since))
	p.m("</small></h2>\n<table id=\"report-rates\"><thead><tr><th>Member</th><th>Last minute</th><th>Last 10 minutes</th><th>Last hour</th><th>Per minute over the last hour</th></tr></thead>\n<tbody>")
	top := int64(1)
	for _, r := range rs {
		for _, n := range r.PerMinute {
			top = max(top, n)
		}
	}
	for _, r := range rs {
		p.m(`<tr`)
		p.attr("data-member", r.ID)
		p.m(`>`)
		p.td(r.Name)
		p.tdNum(r.LastMinute)
		p.tdNum(r.Last10)
		p.tdNum(r.Last60)
		p.m(`<td>`)
		var bars []bar
		for k, n := range r.PerMinute {
			if n < 0 {
				continue
			}
			h := int(n * 100 / top)
			label := strconv.FormatInt(n, 10) + " in the minute " + strconv.Itoa(59-k) + " minutes ago"
			if k == 59 {
				label = strconv.FormatInt(n, 10) + " in this minute"
			}
			bars = append(bars, bar{X: k * 10, Y: 100 - h, W: 8, H: h, Label: label})
		}
		p.series("spark", bars, "reports per minute from "+r.Name)
		p.m("</td></tr>\n")
	}
	p.m("</tbody></table></section>\n")
}

// top writes a top list with bars; links make addresses links to explain.
func (p *page) top(list []count, links bool) {
	if len(list) == 0 {
		p.m(`<p class="empty">none</p>`)
		return
	}
	p.m(`<table class="top">`)
	for _, c := range list {
		p.m(`<tr><td>`)
		if _, err := netip.ParseAddr(c.Name); links && err == nil {
			p.link("/ui/explain", url.Values{"addr": {c.Name}}, c.Name)
		} else {
			p.text(c.Name)
		}
		p.m(`</td>`)
		p.tdNum(int64(c.N))
		p.m(`<td>`)
		p.meter(c.N, c.Max)
		p.m(`</td></tr>`)
	}
	p.m(`</table>`)
}

func attacksContent(p *page, d attacksData) {
	p.m(`<h1>Attacks <small>over the last `)
	p.text(d.Window)
	p.m("</small></h1>\n<p class=\"windows\" id=\"windows\">")
	for _, w := range d.Windows {
		p.m(`<a`)
		p.attr("href", href("/ui/attacks", url.Values{"window": {w}}))
		if w == d.Window {
			p.m(` class="on"`)
		}
		p.m(`>`)
		p.text(w)
		p.m(`</a> `)
	}
	p.m("</p>\n")
	p.el("p", strconv.Itoa(d.Detections)+" detections reported by members · "+strconv.Itoa(d.Bans)+" bans decided here")
	p.m("\n<h2>Detections per interval</h2>\n")
	p.series("series", d.Series, "detections over time")
	p.m("\n")
	p.el(`p class="hint"`, "highest bar: "+strconv.Itoa(d.SeriesMax))
	p.m("\n<div class=\"cols\">\n")
	for _, s := range []struct {
		title markup
		list  []count
	}{
		{"Top sources", d.Sources}, {"Scenarios", d.Scenarios}, {"Services", d.Services},
		{"Detected by member", d.Members}, {"Repeat offenders", d.Repeat},
	} {
		p.m(`<section><h2>`)
		p.m(s.title)
		p.m(`</h2>`)
		p.top(s.list, true)
		p.m("</section>\n")
	}
	p.m(`</div>`)
}

// series writes bars as an SVG picture of class cls.
func (p *page) series(cls string, bars []bar, label string) {
	p.m(`<svg viewBox="0 0 600 100" preserveAspectRatio="none" role="img"`)
	p.attr("class", cls)
	p.attr("aria-label", label)
	p.m(">\n")
	for _, b := range bars {
		p.m(`<rect`)
		p.attr("x", strconv.Itoa(b.X))
		p.attr("y", strconv.Itoa(b.Y))
		p.attr("width", strconv.Itoa(b.W))
		p.attr("height", strconv.Itoa(b.H))
		p.m(`>`)
		p.el("title", b.Label)
		p.m(`</rect>`)
	}
	p.m("\n</svg>")
}

func explainContent(p *page, ex *Explanation) {
	p.m(`<form method="get" action="/ui/explain" class="inline"><label>Address <input name="addr"`)
	addr := ""
	if ex != nil {
		addr = ex.Address
	}
	p.attr("value", addr)
	p.m(" required></label> <button type=\"submit\">Explain</button></form>\n")
	if ex == nil {
		return
	}
	p.m(`<h1>`)
	p.text(ex.Address)
	if ex.Banned {
		p.m(` <small>banned</small></h1>`)
	} else {
		p.m(` <small>not banned</small></h1>`)
	}
	p.m("\n")
	if len(ex.Decisions) > 0 {
		p.m("<table id=\"decisions\">\n<thead><tr><th>Id</th><th>Value</th><th>Origin</th><th>Scenario</th><th>Reason</th><th>Until</th><th></th></tr></thead>\n<tbody>")
		for _, x := range ex.Decisions {
			p.m(`<tr>`)
			p.td(strconv.FormatUint(x.ID, 10))
			p.td(x.Value)
			p.td(x.Origin)
			p.td(x.Scenario)
			p.td(x.Reason)
			p.td(when(x.Until))
			p.m("\n<td>")
			if p.admin {
				p.m(`<form method="post" action="/ui/act/pardon" class="inline">`)
				p.csrfField()
				p.hidden("value", x.Value)
				p.m(`<input name="reason" placeholder="reason"> <button type="submit" class="pardon">Pardon</button></form>`)
			}
			p.m(`</td></tr>`)
		}
		p.m("</tbody>\n</table>")
	}
	p.m("\n<h2>Timeline</h2>\n")
	if len(ex.Timeline) == 0 {
		p.m(`<p class="empty">This member has no history for it.</p>`)
		return
	}
	p.m("<table id=\"timeline\">\n<thead><tr><th>Time</th><th>What</th><th>Member</th><th>Scenario</th><th>Detail</th></tr></thead>\n<tbody>")
	for _, e := range ex.Timeline {
		p.m(`<tr`)
		p.attr("class", "what-"+e.What)
		p.m(`>`)
		p.td(when(e.Time))
		p.td(e.What)
		p.m(`<td`)
		p.attr("title", e.Member)
		p.m(`>`)
		if e.MemberName != "" {
			p.text(e.MemberName)
			p.m(` `)
			p.el(`small class="note"`, e.Member[:min(len(e.Member), 6)])
		} else {
			p.text(e.Member)
		}
		p.m(`</td>`)
		p.td(e.Scenario)
		p.m("\n<td>")
		p.text(e.Detail)
		if len(e.Evidence) > 0 {
			p.m(`<pre class="evidence">`)
			for _, l := range e.Evidence {
				p.text(l)
				p.m("\n")
			}
			p.m(`</pre>`)
		}
		p.m(`</td></tr>`)
	}
	p.m("</tbody>\n</table>")
}

func actContent(p *page, d actData) {
	if d.NewKey != "" {
		p.m(`<p class="key">`)
		p.text("API key of " + d.NewBouncer + ": ")
		p.el(`code id="new-key"`, d.NewKey)
		p.m("</p>\n")
	}
	p.m("<div class=\"cols\">\n")
	if p.admin {
		p.m("<section class=\"card\"><h2>Ban</h2>\n<form method=\"post\" action=\"/ui/act/ban\" id=\"ban-form\">")
		p.csrfField()
		p.m("\n<label>Address or range <input name=\"value\" id=\"ban-value\"")
		p.attr("value", d.Value)
		p.m(" required></label>\n<label>Duration <input name=\"duration\" value=\"4h\"></label>\n<label>Reason <input name=\"reason\" maxlength=\"256\"></label>\n" +
			"<button type=\"submit\" id=\"ban\">Ban on every member</button></form></section>\n" +
			"<section class=\"card\"><h2>Pardon</h2>\n<form method=\"post\" action=\"/ui/act/pardon\" id=\"pardon-form\">")
		p.csrfField()
		p.m("\n<label>Address or range <input name=\"value\" id=\"pardon-value\" required></label>\n<label>Reason <input name=\"reason\" maxlength=\"256\"></label>\n" +
			"<button type=\"submit\" id=\"pardon\">Pardon on every member</button></form></section>")
	} else {
		p.m(`<p class="hint">Read-only session: you may look, not change.</p>`)
	}
	p.m("\n</div>\n<h2>Decisions <small>")
	p.text(strconv.Itoa(d.Page.Total) + " match · page " + strconv.Itoa(d.Search.Page) + " of " + strconv.Itoa(d.Pages))
	p.m("</small></h2>\n<form method=\"get\" action=\"/ui/act\" class=\"inline\"><label>Search <input name=\"q\"")
	p.attr("value", d.Search.Text)
	p.m(" placeholder=\"address, range, scenario, origin\"></label> <button type=\"submit\">Search</button></form>\n" +
		"<table id=\"decisions\">\n<thead><tr>")
	for _, col := range columns {
		// A click sorts by the column; on the column sorted by, the
		// other way.
		next := d.Search
		next.Query.Sort, next.Query.Desc = col.key, col.desc
		cls := "sort"
		if col.key == d.Search.Query.Sort {
			next.Query.Desc = !d.Search.Query.Desc
			cls = "sort on " + order(d.Search.Query.Desc)
		}
		p.m(`<th><a`)
		p.attr("href", href("/ui/act", next.values(1)))
		p.attr("class", cls)
		p.attr("data-sort", col.key)
		p.m(`>`)
		p.m(col.label)
		if col.key == d.Search.Query.Sort {
			if d.Search.Query.Desc {
				p.m(` ▾`)
			} else {
				p.m(` ▴`)
			}
		}
		p.m(`</a></th>`)
	}
	if p.admin {
		p.m(`<th></th>`)
	}
	p.m("</tr></thead>\n<tbody>")
	for _, x := range d.Page.Items {
		p.m(`<tr`)
		p.attr("data-value", x.Value)
		p.m(`>`)
		p.td(strconv.FormatUint(x.ID, 10))
		p.m(`<td>`)
		p.explainLink(x.Value)
		p.m(`</td>`)
		p.td(x.Origin)
		p.td(x.Scenario)
		p.td(x.Reason)
		p.td(when(x.Start))
		p.td(when(x.Until))
		p.m("\n")
		if p.admin {
			p.m(`<td><form method="post" action="/ui/act/pardon" class="inline">`)
			p.csrfField()
			p.hidden("value", x.Value)
			p.m(`<button type="submit" class="pardon">Pardon</button></form></td>`)
		}
		p.m(`</tr>`)
	}
	p.m("</tbody>\n</table>\n<p class=\"pager\">")
	if d.Prev != "" {
		p.m(`<a`)
		p.attr("href", d.Prev)
		p.m(` id="prev">← previous</a>`)
	}
	p.m(` `)
	if d.Next != "" {
		p.m(`<a`)
		p.attr("href", d.Next)
		p.m(` id="next">next →</a>`)
	}
	p.m("</p>\n<h2>Bouncers</h2>\n<table id=\"bouncers\"><thead><tr><th>Name</th><th>Created</th><th>Last pull</th>")
	if p.admin {
		p.m(`<th></th>`)
	}
	p.m("</tr></thead>\n<tbody>")
	for _, b := range d.Bouncers {
		p.m(`<tr>`)
		if b.Alliance {
			p.td(b.Name + " (alliance)")
		} else {
			p.td(b.Name)
		}
		p.td(when(b.Created))
		p.td(when(b.LastPull))
		p.m("\n")
		if p.admin {
			p.m(`<td><form method="post" action="/ui/bouncers/delete" class="inline">`)
			p.csrfField()
			p.hidden("name", b.Name)
			if b.Alliance {
				p.hidden("alliance", "true")
			}
			p.m(`<button type="submit">Delete</button></form></td>`)
		}
		p.m(`</tr>`)
	}
	p.m("</tbody></table>\n")
	if p.admin {
		p.m(`<form method="post" action="/ui/bouncers/add" class="inline" id="bouncer-form">`)
		p.csrfField()
		p.m(`<label>New bouncer <input name="name" id="bouncer-name" required></label> <label><input type="checkbox" name="alliance" id="bouncer-alliance"> every member accepts it (a charter amendment, on a founding member)</label> <button type="submit">Add (its key is shown once)</button></form>`)
	}
}

func sourcesContent(p *page, d sourcesData) {
	src := d.Sources
	p.m(`<h1>Sources <small>`)
	p.text("rates sampled every " + sampleEvery.String() + " since " + when(d.Since))
	p.m("</small></h1>\n<table id=\"sources\"><thead><tr><th>Source</th><th>Lines read</th><th>Lines/s <small>last minute</small></th><th>Last line <small>to within ")
	p.text(sampleEvery.String())
	p.m("</small></th><th>Skipped by the source, by reason</th><th>Its other counters</th></tr></thead>\n<tbody>")
	for _, s := range src.List {
		rate := d.Rates[s.Name]
		p.m(`<tr`)
		p.attr("data-source", s.Name)
		p.m(`><td>`)
		p.el("code", s.Name)
		p.m(`</td>`)
		p.tdNum(s.Lines)
		p.m(`<td class="num rate">`)
		p.text(strconv.FormatFloat(rate.PerSecond, 'f', 1, 64))
		p.m(`</td><td class="last">`)
		switch {
		case !rate.LastLine.IsZero():
			p.text(when(rate.LastLine))
		case s.Lines > 0 && !d.Since.IsZero():
			p.text("before " + when(d.Since))
		default:
			p.text("—")
		}
		p.m(`</td>`)
		p.td(joinCounts(s.Skipped))
		p.td(joinCounts(s.Stats))
		p.m(`</tr>`)
	}
	p.m("</tbody></table>\n<div class=\"cols\">\n<section><h2>Events by parser and kind</h2>")
	if len(src.Events) > 0 {
		p.counts("", src.Events)
	} else {
		p.m(`<p class="empty">none yet</p>`)
	}
	p.m("</section>\n<section><h2>Lines skipped, by reason</h2>")
	if len(src.Skipped) > 0 {
		p.counts("", src.Skipped)
	} else {
		p.m(`<p class="empty">none</p>`)
	}
	p.m("</section>\n</div>\n")
	ch := d.Charter
	p.m(`<h1>Charter `)
	p.text(ch.Name)
	p.m("</h1>\n<p>hash ")
	p.el(`code id="charter-hash"`, ch.Hash)
	p.m("</p>\n")
	p.el(`pre class="yaml" id="charter"`, ch.YAML)
	p.m("\n<h2>Amendments <small>")
	p.text("version " + strconv.Itoa(ch.Version) + " in force; each amendment signed by a founding member and verified, newest first")
	p.m("</small></h2>\n")
	if len(ch.History) == 0 {
		p.m(`<p class="empty" id="no-amendments">This member knows no amendment: the charter is as it was when it joined or founded the alliance.</p>`)
		return
	}
	if first := ch.History[0].Version; first > 2 {
		p.el(`p class="empty" id="history-from"`, "Amendments before version "+strconv.Itoa(first)+" are not known to this member (it joined from a member that kept no earlier ones).")
	}
	p.m("<table id=\"charter-history\"><thead><tr><th>Version</th><th>Stored</th><th>Signed by</th><th>What changed</th><th>Hash</th></tr></thead>\n<tbody>")
	for i := len(ch.History) - 1; i >= 0; i-- {
		a := ch.History[i]
		p.m(`<tr`)
		p.attr("data-version", strconv.Itoa(a.Version))
		p.m(`>`)
		p.tdNum(int64(a.Version))
		p.td(when(a.Time))
		p.td(a.By)
		p.m(`<td>`)
		for j, c := range a.Changes {
			if j > 0 {
				p.m(`<br>`)
			}
			p.text(c)
		}
		p.m(`</td><td>`)
		p.el("code", a.Hash[:min(len(a.Hash), 12)])
		p.m("</td></tr>\n")
	}
	p.m(`</tbody></table>`)
}
