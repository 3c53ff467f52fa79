// Package arbiter turns the alliance's ordered stream of signed reports into
// decisions, by the charter: the same charter and the same reports in the
// same order give the same outcomes on every member, which is how the
// alliance agrees without a leader.
//
// It checks each report (a charter member, a valid signature, a fresh time,
// an unseen sequence, within the member's rate), refuses bans of territory
// and of ranges wider than the charter allows, bans at once on decisive
// scenarios or when a quorum of members corroborates, lets only the members
// the charter names ban and pardon by hand, and escalates repeat bans. It
// adds up members' sightings by the charter's fleet scenarios and bans a
// source when enough members together saw enough of it (fleet.go), and
// judges each entry of a batch of manual bans, an operator's import, as a
// manual ban (batch.go).
//
// It is pure: no I/O, no clock reads (times come from the reports and the
// caller), no goroutines, no logging, no map iteration that could reach an
// outcome. Its memory is bounded whatever the reports say: per-member state
// is fixed in size, and the quorum candidates and ban history have caps
// (MaxCandidates, MaxVotes, MaxHistory) past which the oldest is forgotten;
// the sources and user hashes of fleet scenarios have the charter's caps.
// It must never decide a ban that touches territory.
package arbiter

import (
	"crypto/ed25519"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gaissmai/bart"

	"phalanx"
	"phalanx/charter"
	"phalanx/report"
)

// Bounds on the arbiter's memory.
const (
	// ReplayWindow is how many sequence numbers below a member's highest
	// are remembered; a report further behind counts as replayed. It must
	// cover how far one member's reports can arrive out of order: under
	// load the fast path drops copies and the stream delivers them late
	// (a 100,000-report flood put thousands of reports more than 4,096
	// behind). 8 KiB per member.
	ReplayWindow = 1 << 16
	// MaxCandidates bounds the values awaiting a quorum.
	MaxCandidates = 65536
	// MaxVotes bounds the reports held by all candidates together.
	MaxVotes = 262144
	// MaxHistory bounds the values whose bans are remembered (for
	// escalation and to recognise corroboration of a ban in force).
	MaxHistory = 65536
	// maxStarts bounds the ban starts remembered per value: past about 30
	// doublings every ban is capped anyway.
	maxStarts = 64
)

// Verdict is what became of a report.
type Verdict uint8

// Verdicts. The zero Verdict is never returned.
const (
	Decided      Verdict = iota + 1 // a ban: Outcome.Decision
	Pardoned                        // an unban: Outcome.Pardon
	Pending                         // a valid alert whose quorum is not yet reached
	Refused                         // a valid report the policy does not follow: territory, too wide, not allowed
	Rejected                        // a bad report: unknown member, bad signature, replayed, stale, rate-limited, malformed
	Corroborated                    // a valid alert for a value already banned at the report's time: Outcome.Decision is that ban
	Noted                           // a valid enforcement record: it asks for nothing
	Sighted                         // a valid sighting: its entries are counted; Outcome.Fleet holds the bans it completed
	DecidedBatch                    // a valid batch of manual bans: Outcome.Batch holds the bans, Outcome.Entries what became of the entries
)

// String returns the verdict's stable name.
func (v Verdict) String() string {
	switch v {
	case Decided:
		return "decided"
	case Pardoned:
		return "pardoned"
	case Pending:
		return "pending"
	case Refused:
		return "refused"
	case Rejected:
		return "rejected"
	case Corroborated:
		return "corroborated"
	case Noted:
		return "noted"
	case Sighted:
		return "sighted"
	case DecidedBatch:
		return "decided-batch"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// MarshalText implements encoding.TextMarshaler.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// Stable reason keys of outcomes, for counting and for people.
const (
	ReasonDecisive      = "decisive"       // Decided: one report of a decisive scenario
	ReasonQuorum        = "quorum"         // Decided: a quorum of members
	ReasonManual        = "manual"         // Decided: an operator's ban
	ReasonPardon        = "pardon"         // Pardoned
	ReasonQuorumPending = "quorum-pending" // Pending
	ReasonInForce       = "in-force"       // Corroborated
	ReasonEnforced      = "enforced"       // Noted
	ReasonTerritory     = "territory"      // Refused
	ReasonTooWide       = "too-wide"       // Refused
	ReasonAlertTooWide  = "alert-too-wide" // Refused: an alert wider than limits.alert_prefix_v4/v6
	ReasonNotAllowed    = "not-allowed"    // Refused: manual ban or pardon by a member the policy does not allow
	ReasonMalformed     = "malformed"      // Rejected: fails report.Validate
	ReasonUnknownMember = "unknown-member" // Rejected
	ReasonBadSignature  = "bad-signature"  // Rejected
	ReasonStale         = "stale"          // Rejected: report time too far from when the fabric stored it
	ReasonReplayed      = "replayed"       // Rejected: sequence already seen, or too far behind
	ReasonRateLimited   = "rate-limited"   // Rejected
	ReasonSighted       = "sighted"        // Sighted: no fleet scenario fired
	ReasonFleet         = "fleet"          // Sighted: fleet scenarios banned one or more sources (Outcome.Fleet)
	ReasonNoFleet       = "no-fleet"       // Refused: a sighting, but the charter has no fleet section
	ReasonBatch         = "batch"          // DecidedBatch: an operator's batch of bans (an import)
)

// Outcome is the arbiter's judgement of one report.
type Outcome struct {
	Verdict Verdict
	Reason  string // one of the Reason constants
	// Decision, when Decided: Origin alliance (manual bans: OriginManual),
	// Type "ban", Value, Scenario, Start (the deciding report's time), Until,
	// Reason; ID 0. When Corroborated: the ban already in force.
	Decision phalanx.Decision
	// Pardon, when Pardoned: lift alliance and manual bans on this prefix
	// and on the prefixes inside it.
	Pardon netip.Prefix
	// Reports are the IDs of the reports behind the outcome: for a quorum
	// decision every counted report (the deciding one last), for Pending
	// the reports so far, otherwise the judged report alone (for a
	// sighting, the one that completed the fleet bans).
	Reports []string
	// Fleet, when Sighted: the bans the sighting completed, at most one
	// per source, in the order decided (entries in order; the sources of a
	// by-user scenario in address order). Each is recorded like any other
	// alliance ban (escalation, Digest, corroboration).
	Fleet []FleetBan
	// Entries, when Sighted: what became of the sighting's entries; when
	// DecidedBatch: Counted is the bans in Batch, Territory and TooWide
	// the entries refused.
	Entries EntryCounts
	// Batch, when DecidedBatch: a ban per entry that the charter allows,
	// in the batch's order (see batch).
	Batch []phalanx.Decision
}

// Arbiter applies one charter to a stream of reports. It is not safe for
// concurrent use. It is deterministic: the same charter and the same
// (report, received) sequence give the same outcomes.
type Arbiter struct {
	policy    charter.Policy
	limits    charter.Limits
	members   map[string]*member
	territory bart.Lite

	emission int64 // rate limit: nanoseconds of report time per report
	burst    int64 // rate limit: tolerance, nanoseconds

	high int64 // the latest report time accepted, Unix nanoseconds: drives forgetting

	candidates map[netip.Prefix]*candidate
	candOrder  []orderEntry // insertion order of candidates, possibly stale
	votes      int          // votes held by all candidates

	history   map[netip.Prefix]*record
	histOrder []orderEntry

	gen      uint64 // stamps candidates and records for the order lists
	rejected map[string]uint64

	fleet     *fleet     // nil when the charter has no fleet section
	fstats    FleetStats // counters of sightings, kept across amendments
	memberIDs []string   // by member.idx

	// The caps, MaxCandidates, MaxVotes and MaxHistory (tests lower them).
	maxCandidates, maxVotes, maxHistory int
}

type member struct {
	id       string
	pub      ed25519.PublicKey
	founding bool
	idx      int32 // dense index, for the fleet's per-member scratch space

	top    uint64                    // highest sequence seen, 0 before the first
	seen   [ReplayWindow / 64]uint64 // bit s%ReplayWindow: sequence s in (top-ReplayWindow, top] seen
	tat    int64                     // rate limit: theoretical arrival time (GCRA), Unix ns
	clock  int64                     // rate limit: the latest report time allowed, Unix ns
	etat   int64                     // rate limit of sighting entries: as tat
	eclock int64                     // as clock
}

type candidate struct {
	gen   uint64
	votes []vote // one per member
}

type vote struct {
	member   string
	at       int64 // report time, Unix ns
	id       string
	scenario string
}

// record remembers the bans of one value.
type record struct {
	gen    uint64
	starts []int64          // ban starts, Unix ns, in arrival order (newest last)
	last   phalanx.Decision // the ban that ends last
}

type orderEntry struct {
	value netip.Prefix
	gen   uint64
}

// New returns an arbiter for c, which should have passed Validate: members
// whose keys do not decode are treated as unknown. It copies what it needs,
// so later changes to c do not affect it (a new charter needs a new Arbiter,
// replaying the reports).
func New(c *charter.Charter) *Arbiter {
	a := &Arbiter{
		policy:     c.Policy,
		limits:     c.Limits,
		members:    make(map[string]*member, len(c.Members)),
		candidates: make(map[netip.Prefix]*candidate),
		history:    make(map[netip.Prefix]*record),
		rejected:   make(map[string]uint64),
		fstats:     FleetStats{Rejected: make(map[string]uint64)},

		maxCandidates: MaxCandidates,
		maxVotes:      MaxVotes,
		maxHistory:    MaxHistory,
	}
	a.Amend(c)
	return a
}

// Amend switches the arbiter to charter c for the reports that follow (an
// amendment took effect at this point of the stream): members c adds are
// known from now on, members it removes are unknown (their reports are
// rejected), and policy, limits and territory are c's. What the arbiter
// knows is kept: the sequences and rate state of members that stay, votes
// already cast, and the history of bans; the sightings counted for fleet
// scenarios too, unless the fleet section changed (then counting starts
// afresh, the same way on every member).
func (a *Arbiter) Amend(c *charter.Charter) {
	a.policy = c.Policy
	a.limits = c.Limits
	a.policy.Decisive = slices.Clone(c.Policy.Decisive)
	old := a.members
	a.members = make(map[string]*member, len(c.Members))
	for _, m := range c.Members {
		_, pub, ok := c.Member(m.ID)
		if !ok || a.members[m.ID] != nil {
			continue
		}
		if prev := old[m.ID]; prev != nil && prev.pub.Equal(pub) {
			prev.founding = m.Founding
			a.members[m.ID] = prev
			continue
		}
		a.members[m.ID] = &member{id: m.ID, pub: pub, founding: m.Founding, idx: int32(len(a.memberIDs))}
		a.memberIDs = append(a.memberIDs, m.ID)
	}
	switch {
	case c.Fleet == nil:
		a.fleet = nil
	case a.fleet == nil || !sameFleet(&a.fleet.conf, c.Fleet):
		a.fleet = newFleet(c, &a.fstats)
	}
	a.territory = bart.Lite{}
	for _, p := range c.TerritoryPrefixes() {
		a.territory.Insert(p)
	}
	rpm := int64(max(a.limits.ReportsPerMinute, 1))
	a.emission = max(int64(time.Minute)/rpm, 1)
	a.burst = (rpm - 1) * a.emission
}

// Knows reports whether member is a member of the charter in force here.
func (a *Arbiter) Knows(member string) bool { return a.members[member] != nil }

// Apply judges one report. received is when the fabric stored it: the
// report's time must lie within the charter's skew of it, so replaying the
// durable stream after a restart does not reject old reports as stale. now
// is the current time; it does not change any outcome (so that a replay
// agrees with the live run): a decision that already ended at now still
// comes out Decided with its Until in the past, and callers skip it.
//
// Every time the arbiter reasons about (windows, rate, escalation, the
// forgetting of old state) is a report time, never now.
//
// A sighting (report.TypeSighting) passes the same checks as a report and
// costs one report of the member's rate plus one of the charter's
// fleet.entries_per_minute per entry; then each entry is judged: a source
// wider than the charter allows, touching territory, or banned already at
// the sighting's time is dropped (and counted), the others add their
// events (each member at most a scenario's member_cap per source and
// window) and user hashes, and every fleet ban they complete is in
// Outcome.Fleet.
func (a *Arbiter) Apply(r *report.Report, received, now time.Time) Outcome {
	return a.applyChecked(r, received, now, true)
}

// ApplySigned is Apply for a report that the caller has made sure is,
// byte for byte, one it signed itself with the key the charter lists for
// r.Member: its signature is valid, and is not checked again. Everything
// else is judged as by Apply, so the outcome is the same.
func (a *Arbiter) ApplySigned(r *report.Report, received, now time.Time) Outcome {
	return a.applyChecked(r, received, now, false)
}

func (a *Arbiter) applyChecked(r *report.Report, received, now time.Time, verify bool) Outcome {
	o := a.apply(r, received, now, verify)
	if r != nil && r.Type == report.TypeSighting && (o.Verdict == Rejected || o.Verdict == Refused) {
		a.fstats.Rejected[o.Reason]++
	}
	return o
}

func (a *Arbiter) apply(r *report.Report, received, now time.Time, verify bool) Outcome {
	if r == nil {
		return a.reject(Rejected, ReasonMalformed, "")
	}
	if err := r.Validate(); err != nil {
		return a.reject(Rejected, ReasonMalformed, r.ID())
	}
	id := r.ID()
	m := a.members[r.Member]
	if m == nil {
		return a.reject(Rejected, ReasonUnknownMember, id)
	}
	if verify {
		if err := r.Verify(m.pub); err != nil {
			return a.reject(Rejected, ReasonBadSignature, id)
		}
	}
	if d := r.Time.Sub(received); d > a.limits.Skew || d < -a.limits.Skew {
		return a.reject(Rejected, ReasonStale, id)
	}
	if m.replayed(r.Seq) {
		return a.reject(Rejected, ReasonReplayed, id)
	}
	// The report is authentic and fresh: its sequence is used up whatever
	// follows, so a copy of it is "replayed", not judged twice.
	m.mark(r.Seq)
	if r.Type == report.TypeEnforced {
		// Not rate limited: a member enforces every alliance decision, so
		// its records come at the alliance's decision rate, and they
		// change nothing.
		return Outcome{Verdict: Noted, Reason: ReasonEnforced, Reports: []string{id}}
	}
	t := r.Time.UnixNano() // Validate bounds Time to 2000..2199: no overflow
	// The rate runs on report times, but never ahead of when the report
	// arrived: dating reports into the future (within the skew) must not
	// buy a member a fresh burst.
	if r.Type == report.TypeSighting {
		if !a.allowSighting(m, min(t, received.UnixNano()), len(r.Sightings)) {
			return a.reject(Rejected, ReasonRateLimited, id)
		}
	} else if !m.allow(min(t, received.UnixNano()), a.emission, a.burst) {
		return a.reject(Rejected, ReasonRateLimited, id)
	}
	if t > a.high {
		a.high = t
		a.forget()
	}
	if r.Type == report.TypeSighting {
		if a.fleet == nil {
			return a.reject(Refused, ReasonNoFleet, id)
		}
		return a.sight(r, m, t, id)
	}
	if r.Type == report.TypeBatch {
		if !a.policy.MayBan(charter.Member{Founding: m.founding}) {
			return a.reject(Refused, ReasonNotAllowed, id)
		}
		return a.batch(r, m, t, id)
	}

	switch r.Type {
	case report.TypeManual:
		if !a.policy.MayBan(charter.Member{Founding: m.founding}) {
			return a.reject(Refused, ReasonNotAllowed, id)
		}
	case report.TypePardon:
		if !a.policy.MayPardon(charter.Member{Founding: m.founding}) {
			return a.reject(Refused, ReasonNotAllowed, id)
		}
	}
	if a.limits.TooWide(r.Value) {
		return a.reject(Refused, ReasonTooWide, id)
	}

	if r.Type == report.TypePardon {
		a.pardon(r.Value)
		return Outcome{Verdict: Pardoned, Reason: ReasonPardon, Pardon: r.Value, Reports: []string{id}}
	}
	if a.territory.OverlapsPrefix(r.Value) {
		return a.reject(Refused, ReasonTerritory, id)
	}
	if r.Type == report.TypeAlert && a.limits.AlertTooWide(r.Value) {
		return a.reject(Refused, ReasonAlertTooWide, id)
	}

	if r.Type == report.TypeManual {
		d := r.Duration
		if d == 0 {
			d = a.policy.Duration
		}
		d = min(d, a.policy.ManualMax)
		reason := "manual ban by " + m.id
		if r.Reason != "" {
			reason += ": " + r.Reason
		}
		dec := a.ban(r.Value, t, phalanx.OriginManual, r.Scenario, d, reason)
		return Outcome{Verdict: Decided, Reason: ReasonManual, Decision: dec, Reports: []string{id}}
	}

	// An alert.
	if rec := a.history[r.Value]; rec != nil && t < rec.last.Until.UnixNano() {
		return Outcome{Verdict: Corroborated, Reason: ReasonInForce, Decision: rec.last, Reports: []string{id}}
	}
	if a.policy.IsDecisive(r.Scenario) {
		a.dropCandidate(r.Value)
		earlier := a.earlier(r.Value, t)
		reason := fmt.Sprintf("%s reported by %s (decisive)%s", r.Scenario, m.id, a.escalationNote(earlier))
		dec := a.ban(r.Value, t, phalanx.OriginAlliance, r.Scenario, a.duration(earlier), reason)
		return Outcome{Verdict: Decided, Reason: ReasonDecisive, Decision: dec, Reports: []string{id}}
	}
	return a.vote(r, m, t, id)
}

// vote adds an alert of a non-decisive scenario to its value's candidate
// and decides when Quorum distinct members reported the value with report
// times within Window of this one.
func (a *Arbiter) vote(r *report.Report, m *member, t int64, id string) Outcome {
	c := a.candidates[r.Value]
	if c == nil {
		a.evictCandidates(a.maxCandidates - 1)
		a.gen++
		c = &candidate{gen: a.gen}
		a.candidates[r.Value] = c
		a.candOrder = append(a.candOrder, orderEntry{r.Value, c.gen})
		compactOrder(&a.candOrder, len(a.candidates), func(e orderEntry) bool {
			cc := a.candidates[e.value]
			return cc != nil && cc.gen == e.gen
		})
	}
	// One vote per member: the latest report time counts.
	mine := slices.IndexFunc(c.votes, func(v vote) bool { return v.member == m.id })
	switch {
	case mine < 0:
		c.votes = append(c.votes, vote{member: m.id, at: t, id: id, scenario: r.Scenario})
		a.votes++
	case t >= c.votes[mine].at:
		c.votes[mine] = vote{member: m.id, at: t, id: id, scenario: r.Scenario}
	}
	window := int64(a.policy.Window)
	var counted []vote
	for _, v := range c.votes {
		if d := v.at - t; d <= window && d >= -window {
			counted = append(counted, v)
		}
	}
	// The deciding report counts even when its member's newer vote is
	// outside the window.
	if !slices.ContainsFunc(counted, func(v vote) bool { return v.member == m.id }) {
		counted = append(counted, vote{member: m.id, at: t, id: id, scenario: r.Scenario})
	}
	if len(counted) < a.policy.Quorum {
		ids := make([]string, len(c.votes))
		for i, v := range c.votes {
			ids[i] = v.id
		}
		if a.votes > a.maxVotes {
			a.evictCandidates(-1)
		}
		return Outcome{Verdict: Pending, Reason: ReasonQuorumPending, Reports: ids}
	}
	// The deciding report last, the others in the order they came.
	slices.SortStableFunc(counted, func(x, y vote) int {
		return boolInt(x.member == m.id) - boolInt(y.member == m.id)
	})
	ids := make([]string, len(counted))
	who := make([]string, len(counted))
	for i, v := range counted {
		ids[i] = v.id
		who[i] = v.member + " (" + v.scenario + ")"
	}
	a.dropCandidate(r.Value)
	earlier := a.earlier(r.Value, t)
	reason := fmt.Sprintf("quorum: %d members reported it within %v: %s%s", len(counted), a.policy.Window, strings.Join(who, ", "), a.escalationNote(earlier))
	dec := a.ban(r.Value, t, phalanx.OriginAlliance, r.Scenario, a.duration(earlier), reason)
	return Outcome{Verdict: Decided, Reason: ReasonQuorum, Decision: dec, Reports: ids}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *Arbiter) reject(v Verdict, reason, id string) Outcome {
	a.rejected[reason]++
	o := Outcome{Verdict: v, Reason: reason}
	if id != "" {
		o.Reports = []string{id}
	}
	return o
}

// Rejected returns how many reports were rejected or refused, by reason.
func (a *Arbiter) Rejected() map[string]uint64 {
	out := make(map[string]uint64, len(a.rejected))
	for k, v := range a.rejected {
		out[k] = v
	}
	return out
}

// replayed reports whether seq was seen, or is too far behind to tell.
func (m *member) replayed(seq uint64) bool {
	if seq > m.top {
		return false
	}
	if m.top-seq >= ReplayWindow {
		return true
	}
	i := seq % ReplayWindow
	return m.seen[i/64]&(1<<(i%64)) != 0
}

func (m *member) mark(seq uint64) {
	if seq > m.top {
		if seq-m.top >= ReplayWindow {
			m.seen = [ReplayWindow / 64]uint64{}
		} else {
			for s := m.top + 1; s < seq; s++ {
				i := s % ReplayWindow
				m.seen[i/64] &^= 1 << (i % 64)
			}
		}
		m.top = seq
	}
	i := seq % ReplayWindow
	m.seen[i/64] |= 1 << (i % 64)
}

// allow is the generic cell rate algorithm on report times: a member may
// make burst/emission+1 reports at once and one more per emission interval.
// Its clock is the member's latest report time, so a report dated earlier
// (a clock stepped back) costs the same as one made now.
func (m *member) allow(t, emission, burst int64) bool {
	tat, clock, ok := gcra(m.tat, m.clock, t, 1, emission, burst)
	if ok {
		m.tat, m.clock = tat, clock
	}
	return ok
}

// allowSighting takes one report from the member's rate and n entries
// from its entry rate, both or neither.
func (a *Arbiter) allowSighting(m *member, t int64, n int) bool {
	tat, clock, ok := gcra(m.tat, m.clock, t, 1, a.emission, a.burst)
	if !ok {
		return false
	}
	if f := a.fleet; f != nil {
		etat, eclock, ok := gcra(m.etat, m.eclock, t, int64(n), f.emission, f.burst)
		if !ok {
			return false
		}
		m.etat, m.eclock = etat, eclock
	}
	m.tat, m.clock = tat, clock
	return true
}

// gcra admits cost units at time t to a cell rate of one per emission with
// a tolerance of burst, given the theoretical arrival time tat and the
// clock (the latest time admitted); it returns their new values.
func gcra(tat, clock, t, cost, emission, burst int64) (newTat, newClock int64, ok bool) {
	now := max(clock, t)
	tat = max(tat, now)
	if tat+(cost-1)*emission-now > burst {
		return 0, 0, false
	}
	return tat + cost*emission, now, true
}

// earlier counts the remembered bans of value that started within the
// escalation window up to t.
func (a *Arbiter) earlier(value netip.Prefix, t int64) int {
	if a.policy.EscalationWindow <= 0 {
		return 0
	}
	rec := a.history[value]
	if rec == nil {
		return 0
	}
	cut := t - int64(a.policy.EscalationWindow)
	n := 0
	for _, s := range rec.starts {
		if s > cut && s <= t {
			n++
		}
	}
	return n
}

// duration is Duration doubled per earlier ban, capped at MaxDuration.
func (a *Arbiter) duration(earlier int) time.Duration {
	d := a.policy.Duration
	for i := 0; i < earlier && d < a.policy.MaxDuration; i++ {
		d *= 2 // d < MaxDuration ≤ 10 years: no overflow
	}
	return min(d, a.policy.MaxDuration)
}

func (a *Arbiter) escalationNote(earlier int) string {
	if earlier == 0 {
		return ""
	}
	return fmt.Sprintf("; %d earlier ban(s) within %v", earlier, a.policy.EscalationWindow)
}

// ban makes a decision and records it.
func (a *Arbiter) ban(value netip.Prefix, t int64, origin phalanx.Origin, scenario string, d time.Duration, reason string) phalanx.Decision {
	start := time.Unix(0, t).UTC()
	dec := phalanx.Decision{
		Origin:   origin,
		Type:     "ban",
		Value:    value,
		Scenario: scenario,
		Start:    start,
		Until:    start.Add(d),
		Reason:   reason,
	}
	rec := a.history[value]
	if rec == nil {
		if len(a.history) >= a.maxHistory {
			a.evictHistory(a.maxHistory - 1)
		}
		rec = &record{}
		a.history[value] = rec
	}
	a.gen++
	rec.gen = a.gen
	a.histOrder = append(a.histOrder, orderEntry{value, rec.gen})
	compactOrder(&a.histOrder, len(a.history), func(e orderEntry) bool {
		rr := a.history[e.value]
		return rr != nil && rr.gen == e.gen
	})
	if len(rec.starts) == maxStarts {
		rec.starts = append(rec.starts[:0], rec.starts[1:]...)
	}
	rec.starts = append(rec.starts, t)
	if !dec.Until.Before(rec.last.Until) {
		rec.last = dec
	}
	return dec
}

// pardon forgets the bans and pending votes of p and of every value
// inside it, so that a later ban starts afresh.
// Digest summarises the bans the arbiter holds in force at now: the
// SHA-256 of every remembered value whose latest ban ends after now, with
// that ban's origin and end, in value order. Two members that judged the
// same reports hold the same digest; members compare digests to notice
// that one of them missed or misjudged something. It also returns how many
// bans went into it.
func (a *Arbiter) Digest(now time.Time) (sum [32]byte, n int) {
	bans := a.Bans(now, -1) // rejudge.go
	return digestBans(bans), len(bans)
}

func (a *Arbiter) pardon(p netip.Prefix) {
	a.pardonFleet(p)
	inside := func(v netip.Prefix) bool { return v.Bits() >= p.Bits() && p.Contains(v.Addr()) }
	for v := range a.history {
		if inside(v) {
			delete(a.history, v)
		}
	}
	for v, c := range a.candidates {
		if inside(v) {
			a.votes -= len(c.votes)
			delete(a.candidates, v)
		}
	}
}

func (a *Arbiter) dropCandidate(v netip.Prefix) {
	if c := a.candidates[v]; c != nil {
		a.votes -= len(c.votes)
		delete(a.candidates, v)
	}
}

// evictCandidates forgets the oldest candidates until at most keep remain
// and the votes are within the cap (keep < 0: only the latter).
func (a *Arbiter) evictCandidates(keep int) {
	for len(a.candOrder) > 0 && (keep >= 0 && len(a.candidates) > keep || a.votes > a.maxVotes) {
		e := a.candOrder[0]
		a.candOrder = a.candOrder[1:]
		if c := a.candidates[e.value]; c != nil && c.gen == e.gen {
			a.votes -= len(c.votes)
			delete(a.candidates, e.value)
		}
	}
}

// evictHistory forgets the least recently banned values until at most keep
// remain.
func (a *Arbiter) evictHistory(keep int) {
	for len(a.histOrder) > 0 && len(a.history) > keep {
		e := a.histOrder[0]
		a.histOrder = a.histOrder[1:]
		if rec := a.history[e.value]; rec != nil && rec.gen == e.gen {
			delete(a.history, e.value)
		}
	}
}

// forget drops state that no later report can need, measured against the
// latest report time: candidates whose every vote is older than Window
// (with room for reports that arrive out of order), and ban records past
// their escalation window whose ban has ended. It works from the front of
// the order lists and stops at the first entry it must keep, so each call
// does little; the caps bound what it misses.
func (a *Arbiter) forget() {
	margin := 2 * int64(a.limits.Skew)
	window := int64(a.policy.Window)
	for len(a.candOrder) > 0 {
		e := a.candOrder[0]
		c := a.candidates[e.value]
		if c != nil && c.gen == e.gen {
			newest := int64(-1 << 63)
			for _, v := range c.votes {
				newest = max(newest, v.at)
			}
			if newest+window+margin >= a.high {
				break
			}
			a.votes -= len(c.votes)
			delete(a.candidates, e.value)
		}
		a.candOrder = a.candOrder[1:]
	}
	a.forgetFleet()
	keep := int64(a.policy.EscalationWindow)
	for len(a.histOrder) > 0 {
		e := a.histOrder[0]
		rec := a.history[e.value]
		if rec != nil && rec.gen == e.gen {
			newest := rec.starts[len(rec.starts)-1]
			if newest+keep+margin >= a.high || rec.last.Until.UnixNano()+margin >= a.high {
				break
			}
			delete(a.history, e.value)
		}
		a.histOrder = a.histOrder[1:]
	}
}

// compactOrder rewrites an order list without its stale entries once they
// outnumber the live ones (and some), so that it stays within about twice
// the live count.
func compactOrder(order *[]orderEntry, liveCount int, live func(orderEntry) bool) {
	if len(*order) <= 2*liveCount+1024 {
		return
	}
	kept := make([]orderEntry, 0, liveCount+1)
	for _, e := range *order {
		if live(e) {
			kept = append(kept, e)
		}
	}
	*order = kept
}
