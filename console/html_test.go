package console

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain text, é ✓", "plain text, é ✓"},
		{`<img src=x onerror=alert(1)>`, `&lt;img src=x onerror=alert(1)&gt;`},
		{`a & b "c" 'd' ` + "`e`", `a &amp; b &#34;c&#34; &#39;d&#39; &#96;e&#96;`},
		{"</script><script>alert(2)</script>", "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"},
		{"nul\x00here", "nul\uFFFDhere"},
		{"bad \xff\xfe utf-8", "bad \uFFFD\uFFFD utf-8"},
		{"&amp;", "&amp;amp;"},
	} {
		if got := escape(c.in); got != c.want {
			t.Errorf("escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzEscape: whatever the input, the escaped text holds none of the
// characters that end a text run or an attribute value, and it reads back
// as the input (with NUL and invalid UTF-8 replaced).
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", xssUser, xssAgent, `" onmouseover="alert(1)`, "'\x00\xff`", "&lt;", "é<é>é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := escape(s)
		if strings.ContainsAny(out, "<>\"'`\x00") || !utf8.ValidString(out) {
			t.Fatalf("escape(%q) = %q", s, out)
		}
		want := strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
		// ToValidUTF8 folds a run of bad bytes into one replacement;
		// escape replaces each bad byte.
		if back := html.UnescapeString(out); back != want && strings.ReplaceAll(back, "\uFFFD", "") != strings.ReplaceAll(want, "\uFFFD", "") {
			t.Fatalf("escape(%q) = %q reads back as %q", s, out, back)
		}
		p := &page{}
		p.attr("title", s)
		if v, ok := strings.CutPrefix(string(p.b), ` title="`); !ok || !strings.HasSuffix(v, `"`) || strings.Contains(v[:len(v)-1], `"`) {
			t.Fatalf("attr(%q) = %q", s, p.b)
		}
	})
}

// TestNoMarkupFromData: nothing in the package's code turns a string into
// markup; only constants are markup.
func TestNoMarkupFromData(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "markup" {
					t.Errorf("%s: a conversion to markup: write data with text or attr", fset.Position(call.Pos()))
				}
			}
			return true
		})
	}
}

// hostile is text an attacker controls, made to break out of text, of
// quoted and unquoted attributes and of a script.
const hostile = `<img src=x onerror=alert(1)>"' onmouseover='alert(3)' x="` + "`</script><script>alert(2)</script>&"

// hostileBackend puts hostile text in every string it serves.
type hostileBackend struct{ fakeBackend }

func (h *hostileBackend) Status() Status {
	return Status{Member: "m-a" + hostile, MemberName: hostile, Alliance: hostile, Charter: hostile, Uptime: hostile, Enforce: hostile, EnforceNote: hostile,
		Members:  []Member{{ID: "m-a" + hostile, Name: hostile, Self: true, Fabric: hostile}, {ID: hostile, Name: hostile, LastReport: time.Now(), Missing: 2}},
		Rejected: map[string]int64{hostile: 1}, Reports: map[string]int64{hostile: 2}, Pipeline: map[string]int64{hostile: 3}}
}

func (h *hostileBackend) Decisions(q Query) Page {
	return Page{Total: 1, Items: []Decision{{ID: 1, Origin: hostile, Type: hostile, Value: hostile, Scenario: hostile, Reason: hostile, Start: time.Now(), Until: time.Now().Add(time.Hour)}}}
}

func (h *hostileBackend) Explain(a netip.Addr) Explanation {
	return Explanation{Address: a.String(), Banned: true,
		Decisions: []Decision{{ID: 1, Origin: hostile, Value: hostile, Scenario: hostile, Reason: hostile}},
		Timeline:  []Entry{{Time: time.Now(), What: hostile, Member: hostile, MemberName: hostile, Scenario: hostile, Detail: hostile, Evidence: []string{hostile, hostile}}}}
}

func (h *hostileBackend) Totals() Totals {
	return Totals{Reports: map[string]int64{hostile: 5}, Lines: map[string]int64{hostile: 7}}
}

func (h *hostileBackend) Bouncers() []Bouncer { return []Bouncer{{Name: hostile, Created: time.Now()}} }

func (h *hostileBackend) Charter() Charter {
	return Charter{Name: hostile, Hash: hostile, YAML: hostile}
}

func (h *hostileBackend) Sources() Sources {
	return Sources{List: []Source{{Name: hostile, Lines: 1, Stats: map[string]int64{hostile: 1}, Skipped: map[string]int64{hostile: 2}}},
		Events: map[string]int64{hostile: 1}, Skipped: map[string]int64{hostile: 1}}
}

func (h *hostileBackend) Ban(context.Context, string, time.Duration, string) (Decision, error) {
	return Decision{}, &ActionError{Status: 422, Message: hostile}
}

func (h *hostileBackend) AddBouncer(string, bool) (string, error) { return hostile, nil }

// TestPagesWithHostileText renders every page, to an admin and a viewer,
// from a backend whose every string is hostile, and reads the HTML back:
// only the elements and attributes the console writes are there, no
// script but the console's own file, no on* or style attribute, and the
// hostile text shows (escaped).
func TestPagesWithHostileText(t *testing.T) {
	b := &hostileBackend{}
	c, err := New(Options{Backend: b, AdminToken: adminTok, ReadOnlyToken: viewerTok})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.live.seed([]Entry{
		{Time: now, What: "report", Member: hostile, MemberName: hostile, Scenario: hostile, Value: "203.0.113.9", Evidence: []string{hostile}, Detail: hostile},
		{Time: now, What: "decision", Member: hostile, Origin: hostile, Scenario: hostile, Value: "203.0.113.9"},
		{Time: now, What: "enforced", Member: hostile, MemberName: hostile, Detail: hostile, Value: "203.0.113.9"},
		{Time: now, What: "refused", Member: hostile, Scenario: hostile, Value: hostile, Detail: hostile},
	})
	b.entries = []Entry{{Time: now, What: "report", Member: hostile, MemberName: hostile, Scenario: hostile, Value: hostile, Evidence: []string{hostile}}}
	c.sample()
	c.sample()
	f := &fixture{t: t, c: c, b: &b.fakeBackend}
	f.srv = newServer(t, c)
	for _, tok := range []string{adminTok, viewerTok} {
		admin := tok == adminTok
		ck, csrf := f.signIn(tok)
		pages := map[string]string{}
		for _, p := range []string{"/ui/", "/ui/alliance", "/ui/attacks", "/ui/act", "/ui/sources", "/ui/explain?addr=203.0.113.9",
			"/ui/explain?addr=" + strings.ReplaceAll(hostile, " ", "+"), "/ui/act?q=" + strings.ReplaceAll(hostile, " ", "+")} {
			_, pages[p] = f.get(p, ck)
		}
		_, pages["ban"] = f.post("/ui/act/ban", ck, f.srv.URL, map[string][]string{"value": {hostile}, "csrf": {csrf}})
		_, pages["bouncer"] = f.post("/ui/bouncers/add", ck, f.srv.URL, map[string][]string{"name": {hostile}, "csrf": {csrf}})
		_, pages["login"] = f.get("/ui/login", nil)
		for name, body := range pages {
			checkHTML(t, name, body)
			shown := name != "login" && !strings.HasPrefix(name, "/ui/explain?addr=<") && (admin || name != "ban" && name != "bouncer")
			if shown && !strings.Contains(body, escape(hostile)) && !strings.Contains(body, escape(strings.ReplaceAll(hostile, " ", "+"))) {
				t.Errorf("%s: the hostile text does not show", name)
			}
		}
	}
}

// allowed are the elements the console writes.
var allowed = map[string]bool{"html": true, "head": true, "meta": true, "title": true, "link": true, "script": true, "body": true, "header": true,
	"span": true, "nav": true, "a": true, "form": true, "input": true, "button": true, "main": true, "p": true, "h1": true, "h2": true,
	"small": true, "table": true, "thead": true, "tbody": true, "tr": true, "th": true, "td": true, "code": true, "pre": true, "details": true,
	"summary": true, "div": true, "section": true, "b": true, "label": true, "meter": true, "svg": true, "rect": true, "g": true, "text": true,
	"line": true}

// checkHTML reads body as the console writes HTML (every attribute value
// double-quoted) and fails on an element or attribute it does not write.
func checkHTML(t *testing.T, name, body string) {
	t.Helper()
	scripts := 0
	for i := 0; i < len(body); i++ {
		if body[i] != '<' {
			if body[i] == '>' {
				t.Errorf("%s: a stray > at %d: %q", name, i, around(body, i))
				return
			}
			continue
		}
		j := i + 1
		if strings.HasPrefix(body[j:], "!doctype html>") {
			i = j + len("!doctype html>") - 1
			continue
		}
		closing := j < len(body) && body[j] == '/'
		if closing {
			j++
		}
		k := j
		for k < len(body) && (body[k] >= 'a' && body[k] <= 'z' || body[k] >= '0' && body[k] <= '9') {
			k++
		}
		tag := body[j:k]
		if !allowed[tag] {
			t.Errorf("%s: element %q at %d: %q", name, tag, i, around(body, i))
			return
		}
		// Attributes: name or name="value", until >.
		for {
			for k < len(body) && body[k] == ' ' {
				k++
			}
			if k >= len(body) {
				t.Errorf("%s: unterminated tag at %d", name, i)
				return
			}
			if body[k] == '>' {
				break
			}
			a := k
			for k < len(body) && (body[k] >= 'a' && body[k] <= 'z' || body[k] == '-' || body[k] >= 'A' && body[k] <= 'Z') {
				k++
			}
			attr := strings.ToLower(body[a:k])
			if attr == "" || strings.HasPrefix(attr, "on") || attr == "style" || attr == "srcdoc" || attr == "formaction" {
				t.Errorf("%s: attribute %q in <%s> at %d: %q", name, attr, tag, i, around(body, a))
				return
			}
			if tag == "script" && attr == "src" && !closing {
				scripts++
			}
			if k < len(body) && body[k] == '=' {
				if k+1 >= len(body) || body[k+1] != '"' {
					t.Errorf("%s: an unquoted attribute value at %d: %q", name, k, around(body, k))
					return
				}
				end := strings.IndexByte(body[k+2:], '"')
				if end < 0 {
					t.Errorf("%s: unterminated attribute at %d", name, k)
					return
				}
				v := body[k+2 : k+2+end]
				if strings.ContainsAny(v, "<>'`") {
					t.Errorf("%s: attribute %s holds markup: %q", name, attr, v)
				}
				if (attr == "href" || attr == "action" || attr == "src") && !strings.HasPrefix(v, "/ui/") {
					t.Errorf("%s: %s %q leaves the console", name, attr, v)
				}
				k += 2 + end + 1
			}
		}
		if tag == "script" && !closing && !strings.HasPrefix(body[k+1:], "</script>") {
			t.Errorf("%s: an inline script at %d: %q", name, i, around(body, i))
		}
		i = k
	}
	if scripts != 1 {
		t.Errorf("%s: %d scripts, want the console's one", name, scripts)
	}
}

func around(s string, i int) string { return s[max(0, i-40):min(len(s), i+60)] }

func newServer(t *testing.T, c *Console) *httptest.Server {
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}
