package daemon_test

import (
	"fmt"
	"testing"
	"time"

	"phalanx/daemon"
)

// roster returns m's status roster by member id.
func roster(m *member) map[string]daemon.MemberStatus {
	m.t.Helper()
	var st daemon.Status
	if code := m.admin("GET", "/api/status", &st); code != 200 {
		m.t.Fatalf("status: HTTP %d", code)
	}
	out := map[string]daemon.MemberStatus{}
	for _, ms := range st.Roster {
		out[ms.ID] = ms
	}
	return out
}

// describe prints a roster for a failure message.
func describe(r map[string]daemon.MemberStatus) string {
	s := ""
	for id, ms := range r {
		lag := "-"
		if ms.Lag != nil {
			lag = fmt.Sprint(*ms.Lag)
		}
		s += fmt.Sprintf("\n  %s connected=%v link=%q rtt=%q lag=%s last=%v/%d note=%q", id, ms.Connected, ms.Link, ms.RTT, lag, ms.LastReport, ms.LastSeq, ms.Note)
	}
	return s
}

// TestStatusListsMembers: in an alliance of three members that keep the
// stream and a leaf member, every member's status lists all four as
// connected (the others by route, the leaf and its hub by their leaf link,
// the rest through the fabric), with round trips on direct links, lags
// where the stream tells them, and the last report of a member that
// reported. When one member stops, every other member's status shows it
// disconnected, and the rest still connected.
func TestStatusListsMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("forms an alliance of four")
	}
	al := formAlliance(t, 3)
	al.sameCharter(t, 3)
	a, b, c := al.members[0], al.members[1], al.members[2]
	leaf := al.joinLeaf(t)
	al.members = append(al.members, leaf)
	al.sameCharter(t, 4)
	hub := map[string]bool{a.d.ID(): true, b.d.ID(): true, c.d.ID(): true}

	// B reports an attack: every member has its last report.
	b.waitTailing()
	appendLines(t, b.log, attack("203.0.113.131", 6)...)

	for _, m := range al.members {
		var r map[string]daemon.MemberStatus
		waitFor(t, 30*time.Second, "every member connected in "+m.dir+"'s status", func() bool {
			r = roster(m)
			if len(r) != 4 {
				return false
			}
			for id, ms := range r {
				switch {
				case !ms.Connected || ms.Note != "":
					return false
				case id == m.d.ID():
					if !ms.Self || ms.Link != "self" || ms.Lag == nil {
						return false
					}
				case hub[id] && hub[m.d.ID()]:
					// Both keep the stream: a route, measured, and
					// the leader's word on the other's copy.
					if ms.Link != "route" || ms.RTT == "" || ms.Lag == nil {
						return false
					}
				case hub[id]:
					// Seen from the leaf: its hub server by the leaf
					// link, the others through the fabric; the
					// stream's leader tells their lags.
					if ms.Link != "hub" && ms.Link != "fabric" || ms.Link == "hub" && ms.RTT == "" || ms.Lag == nil {
						return false
					}
				default:
					// The leaf, seen from a hub server: its own leaf
					// or another's.
					if ms.Link != "leaf" && ms.Link != "fabric" || ms.Lag != nil {
						return false
					}
				}
			}
			rb := r[b.d.ID()]
			return rb.LastReport != nil && rb.LastSeq >= 1 && time.Since(*rb.LastReport) < time.Minute
		})
		t.Logf("%s's roster:%s", m.dir, describe(r))
	}

	// C stops: the others see it disconnected, and each other still
	// connected.
	c.stop()
	for _, m := range []*member{a, b, leaf} {
		var r map[string]daemon.MemberStatus
		waitFor(t, 30*time.Second, "C disconnected in "+m.dir+"'s status", func() bool {
			r = roster(m)
			rc := r[c.d.ID()]
			if rc.Connected || rc.Link != "" || rc.RTT != "" || rc.Note == "" {
				return false
			}
			for _, o := range []*member{a, b, leaf} {
				if !r[o.d.ID()].Connected {
					return false
				}
			}
			return true
		})
		t.Logf("%s's roster with C stopped:%s", m.dir, describe(r))
	}
}
