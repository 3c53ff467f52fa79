package console

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// The pages are written by page, not by a template engine (text/template
// looks methods up by name at run time, which makes the linker keep every
// exported method of every type in the binary: megabytes). The rule that
// keeps attacker-written text inert is in the types: markup, the only
// thing written as is, is a string type that only constants in this
// package's code become; everything else — log lines, user names, user
// agents, scenario and member names, reasons, anything from a request or
// the backend — is a string and goes through escape, as text or as a
// quoted attribute value. Nothing from data is ever written into a
// script, a style or an on* attribute: the pages have none.

// markup is HTML this package writes: constants in its code. Never convert
// data to it.
type markup string

// page is an HTML page under construction, for a session (admin, csrf)
// or none.
type page struct {
	b     []byte
	admin bool
	csrf  string
}

// m writes constant markup.
func (p *page) m(s markup) { p.b = append(p.b, s...) }

// text writes s as text, escaped.
func (p *page) text(s string) { p.b = appendEscaped(p.b, s) }

// attr writes ` name="value"`, the value escaped.
func (p *page) attr(name markup, value string) {
	p.b = append(p.b, ' ')
	p.b = append(p.b, name...)
	p.b = append(p.b, '=', '"')
	p.b = appendEscaped(p.b, value)
	p.b = append(p.b, '"')
}

// num writes a number.
func (p *page) num(n int64) { p.b = strconv.AppendInt(p.b, n, 10) }

// el writes <open>s</close>, s as text: el("td", "x") or with constant
// attributes, el(`td class="num"`, "x").
func (p *page) el(open markup, s string) {
	p.b = append(p.b, '<')
	p.b = append(p.b, open...)
	p.b = append(p.b, '>')
	p.text(s)
	p.b = append(p.b, '<', '/')
	p.b = append(p.b, tagOf(open)...)
	p.b = append(p.b, '>')
}

// td writes a cell of text.
func (p *page) td(s string) { p.el("td", s) }

// tdNum writes a cell with a number.
func (p *page) tdNum(n int64) {
	p.m(`<td class="num">`)
	p.num(n)
	p.m(`</td>`)
}

// link writes <a href="path?query">s</a>; path is constant, the query is
// encoded by url.Values.
func (p *page) link(path markup, q url.Values, s string) {
	p.m(`<a`)
	p.attr("href", href(path, q))
	p.m(`>`)
	p.text(s)
	p.m(`</a>`)
}

// href is a console URL: a constant path and an encoded query.
func href(path markup, q url.Values) string {
	if len(q) == 0 {
		return string(path)
	}
	return string(path) + "?" + q.Encode()
}

// hidden writes a hidden form field.
func (p *page) hidden(name markup, value string) {
	p.m(`<input type="hidden"`)
	p.attr("name", string(name))
	p.attr("value", value)
	p.m(`>`)
}

// meter writes a bar for n of max.
func (p *page) meter(n, max int) {
	p.m(`<meter min="0"`)
	p.attr("max", strconv.Itoa(max))
	p.attr("value", strconv.Itoa(n))
	p.m(`></meter>`)
}

// tagOf is the element name at the start of open.
func tagOf(open markup) markup {
	for i := 0; i < len(open); i++ {
		if open[i] == ' ' {
			return open[:i]
		}
	}
	return open
}

// write sends the page.
func (p *page) write(w http.ResponseWriter, code int) (int, error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(p.b)))
	w.WriteHeader(code)
	return w.Write(p.b)
}

// escape returns s made safe as HTML text and as a quoted attribute value:
// & < > " ' and ` become character references, NUL and invalid UTF-8
// become U+FFFD.
func escape(s string) string { return string(appendEscaped(nil, s)) }

func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		var rep string
		size := 1
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '"':
			rep = "&#34;"
		case c == '\'':
			rep = "&#39;"
		case c == '`':
			rep = "&#96;"
		case c == 0:
			rep = "\uFFFD"
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			size = n
			if r == utf8.RuneError && n == 1 {
				rep = "\uFFFD"
			}
		}
		if rep == "" {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, rep...)
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// when is a time to the millisecond, UTC; "—" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

// dur is a duration to the millisecond.
func dur(d time.Duration) string { return d.Round(time.Millisecond).String() }
