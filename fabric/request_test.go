package fabric

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// serve runs f.Serve in the background until the test ends.
func serve(t *testing.T, f *Fabric, kind string, h func([]byte) []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, kind, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Serve returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return 10 s after its context ended")
		}
	})
}

// request retries f.Request until member's Serve is reachable.
func request(t *testing.T, f *Fabric, member, kind string, req []byte) []byte {
	t.Helper()
	var reply []byte
	waitFor(t, "an answer from "+member, 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		reply, err = f.Request(ctx, member, kind, req)
		if err != nil && !errors.Is(err, ErrNoResponder) {
			t.Fatalf("Request: %v", err)
		}
		return err == nil
	})
	return reply
}

// TestRequests: members of an authenticated cluster ask each other; a
// member cannot listen on another member's request subjects, nor publish
// on inboxes beyond answering requests it received; bad requests and
// oversized answers are dropped.
func TestRequests(t *testing.T) {
	tc := newTestCluster(t, 2)
	log, logged := recordLogs(t)
	ob := tc.options(t, 1, 1)
	ob.Logger = log
	a := startMember(t, tc.options(t, 0, 1)).f
	b := startMember(t, ob).f
	serve(t, b, "gap", func(req []byte) []byte {
		if string(req) == "big" {
			return make([]byte, MaxReplySize+1)
		}
		return []byte("B answers " + string(req))
	})
	serve(t, a, "gap", func(req []byte) []byte { return []byte("A answers " + string(req)) })

	if got := request(t, a, "B", "gap", []byte("from 3")); string(got) != "B answers from 3" {
		t.Fatalf("A asked B: %q", got)
	}
	if got := request(t, b, "A", "gap", []byte("from 7")); string(got) != "A answers from 7" {
		t.Fatalf("B asked A: %q", got)
	}
	if got := request(t, a, "A", "gap", nil); string(got) != "A answers " {
		t.Fatalf("A asked itself: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	if _, err := a.Request(ctx, "B", "other", nil); !errors.Is(err, ErrNoResponder) {
		t.Fatalf("request of a kind B does not serve = %v, want ErrNoResponder", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("ErrNoResponder took %v, want at once", took)
	}
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	if _, err := a.Request(sctx, "B", "gap", []byte("big")); err == nil {
		t.Fatal("an oversized answer arrived")
	}
	scancel()
	waitFor(t, "the oversized answer to be logged", 10*time.Second, func() bool { return logged("oversized answer") })
	if _, err := a.Request(ctx, "B", "gap", make([]byte, MaxRequestSize+1)); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("oversized request = %v", err)
	}
	for _, kind := range []string{"", "Gap", "a.b", "a*", strings.Repeat("k", 33)} {
		if _, err := a.Request(ctx, "B", kind, nil); err == nil {
			t.Errorf("Request of kind %q succeeded", kind)
		}
		if err := a.Serve(ctx, kind, nil); err == nil {
			t.Errorf("Serve of kind %q succeeded", kind)
		}
	}

	// Member A as a client of B's server.
	var errs asyncErrs
	nc := connectAs(t, b.ClientURL(), "A", tc.keys[0], &errs)
	for _, subj := range []string{RequestPrefix + "B.gap", RequestPrefix + "B.>", RequestPrefix + "*.*", RequestPrefix + ">"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "permissions violation for subscription to "+subj, 10*time.Second, func() bool {
			return errs.has(`permissions violation for subscription to "` + strings.ToLower(subj) + `"`)
		})
	}
	if _, err := nc.SubscribeSync(RequestPrefix + "A.gap"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("_INBOX.someone.else", []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "permissions violation for publish to an inbox", 10*time.Second, func() bool {
		return errs.has(`permissions violation for publish to "_inbox.someone.else"`)
	})
	if errs.has(`subscription to "phalanx.req.a.gap"`) {
		t.Fatal("A may not subscribe to its own request subject")
	}
	// A request whose reply subject is not an inbox is dropped: B does
	// not publish its answer on B's report subject.
	if err := nc.PublishRequest(RequestPrefix+"B.gap", ReportPrefix+"B", []byte("forge")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged reply subject to be logged", 10*time.Second, func() bool { return logged("reply subject is not an inbox") })
	// A plain client request (not through Fabric.Request) works the same.
	m, err := nc.Request(RequestPrefix+"B.gap", []byte("plain"), 5*time.Second)
	if err != nil || string(m.Data) != "B answers plain" {
		t.Fatalf("plain request to B = %v, %v", m, err)
	}
}
