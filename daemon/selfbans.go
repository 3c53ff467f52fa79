package daemon

import (
	"time"

	"phalanx"
	"phalanx/decision"
	"phalanx/report"
)

// Self-defense is never undone by the alliance's limits: a member's own
// bans stand whether or not the charter lets its reports through (its rate
// limit governs what the others accept, not what the member enforces). At
// start the table is rebuilt from the report stream, where a report the
// arbiter refused or rate-limited left no decision; restoreSelfBans makes
// those bans again from the member's own alerts in its outbox.

// selfBanHorizon bounds how far back restoreSelfBans looks: no
// self-defense ban lasts longer than the remedy policy's longest, which
// is capped below this.
const selfBanHorizon = 8 * 24 * time.Hour

// restoreSelfBans adds to the table, as self-defense decisions, the bans
// the remedy policy makes for this member's own alerts still in the outbox
// that are in force now and that the table does not hold as long. It runs
// at the end of the catch-up, before the kernel is reconciled, and at start
// when the stream is not available (a lone founder, most members down). It
// returns how many it restored. It runs once, and reads only alerts of
// earlier processes: the remedy policy remembers every alert it decides,
// and an alert decided twice would lengthen its own ban (escalation).
func (d *Daemon) restoreSelfBans() int {
	if d.selfRestored.Swap(true) {
		return 0 // once: the remedy policy counts every alert it decides toward escalation
	}
	first, last := d.ob.First(), d.ownBefore
	if last == 0 || first > last {
		return 0
	}
	now := d.now()
	var add []phalanx.Decision
	d.pipeMu.Lock()
	pol := d.pipe.Policy()
	err := d.ob.Range(max(first, 1), last, int(min(last-max(first, 1)+1, 1<<30)), func(_ uint64, data []byte) bool {
		r, err := report.Unmarshal(data)
		if err != nil || r.Type != report.TypeAlert || r.Member != d.id.ID || now.Sub(r.Time) > selfBanHorizon {
			return true
		}
		a := phalanx.Alert{Scenario: r.Scenario, Source: r.Value, Addr: r.Value.Addr(), First: r.First, Last: r.Last, Count: r.Count}
		dec, err := pol.Decide(a, r.Last) // also restores the policy's memory of earlier bans
		if err != nil || !dec.Active(now) {
			return true
		}
		if x, ok := d.table.Lookup(dec.Value.Addr(), now); ok && x.Value.Bits() <= dec.Value.Bits() && !x.Until.Before(dec.Until) {
			return true
		}
		dec.Origin = phalanx.OriginSelf
		dec.ID = decision.ReportID(d.id.ID, r.Seq, 0) // the ID it had before the restart
		add = append(add, dec)
		return true
	})
	d.pipeMu.Unlock()
	if err != nil {
		d.log.Error("read this member's alerts from the outbox to restore its self-defense bans", "err", err)
	}
	if len(add) == 0 {
		return 0
	}
	d.apply(add, nil, "self-defense bans restored")
	d.log.Info("restored self-defense bans that the alliance's stream does not hold (its charter refused or rate-limited their reports)", "bans", len(add))
	return len(add)
}
