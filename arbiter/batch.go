package arbiter

import (
	"time"

	"phalanx"
	"phalanx/report"
)

// batch decides the entries of a batch of manual bans (report.TypeBatch, an
// operator's import) from member m, whom the policy allows to ban by hand.
// Each entry is judged as a manual ban is: refused when it is wider than
// the charter allows or touches territory, otherwise banned for its
// duration (the policy's Duration when 0), capped at ManualMax, from the
// report's time. Refused entries are counted in Outcome.Entries; the rest
// are in Outcome.Batch, in order.
//
// The whole batch costs one report of the member's rate (checked before),
// so that an import of a hundred thousand values is not cut by the rate
// that bounds alerts. Its bans are not remembered in the ban history
// (escalation, Digest, corroboration): an import of that size would push
// out what the alliance remembers of the attackers it detected, and the
// history's cap (MaxHistory) is smaller than one import.
func (a *Arbiter) batch(r *report.Report, m *member, t int64, id string) Outcome {
	reasons := make([]string, len(r.Reasons))
	for i, s := range r.Reasons {
		reasons[i] = "manual ban by " + m.id
		if s != "" {
			reasons[i] += ": " + s
		}
	}
	start := time.Unix(0, t).UTC()
	o := Outcome{Verdict: DecidedBatch, Reason: ReasonBatch, Reports: []string{id},
		Batch: make([]phalanx.Decision, 0, len(r.Batch))}
	for _, e := range r.Batch {
		switch {
		case a.limits.TooWide(e.Value):
			o.Entries.TooWide++
			continue
		case a.territory.OverlapsPrefix(e.Value):
			o.Entries.Territory++
			continue
		}
		d := e.Duration
		if d == 0 {
			d = a.policy.Duration
		}
		d = min(d, a.policy.ManualMax)
		o.Batch = append(o.Batch, phalanx.Decision{Origin: phalanx.OriginManual, Type: "ban", Value: e.Value,
			Scenario: r.Scenario, Start: start, Until: start.Add(d), Reason: reasons[e.Reason]})
	}
	o.Entries.Counted = len(o.Batch)
	return o
}

// Allowance returns how many reports member may make at t without being
// rate-limited, as far as the reports judged so far tell (reports made but
// not yet judged are not counted: callers keep a margin). A member pacing
// its own imports asks it, so that none of its batches is lost to its own
// rate. 0 for a member the charter does not name.
func (a *Arbiter) Allowance(member string, t time.Time) int {
	m := a.members[member]
	if m == nil {
		return 0
	}
	now := max(m.clock, t.UnixNano())
	slack := a.burst - (max(m.tat, now) - now)
	if slack < 0 {
		return 0
	}
	return int(slack/a.emission) + 1
}
