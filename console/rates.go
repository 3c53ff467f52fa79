package console

import (
	"sync"
	"time"
)

// Totals are running totals that the console samples for its rates.
type Totals struct {
	Reports map[string]int64 // reports received, by member id
	Lines   map[string]int64 // lines read, by source
}

// Sampling: every sampleEvery while the console runs; the fine samples
// cover the last minute, one sample a minute the last hour.
const (
	sampleEvery = 2 * time.Second
	fineSamples = int(time.Minute/sampleEvery) + 1
	hourSamples = 61
	maxSampled  = 4096 // members or sources followed; more are not sampled
)

type sample struct {
	at time.Time
	t  Totals
}

// rates keeps samples of the backend's totals: reports per minute by
// member, lines per second by source, and when each source's count last
// grew (its last line, to within sampleEvery).
type rates struct {
	mu       sync.Mutex
	fine     []sample // oldest first
	minutes  []sample // the first sample of each minute, oldest first
	lastLine map[string]time.Time
	since    time.Time // the first sample
}

func newRates() *rates { return &rates{lastLine: map[string]time.Time{}} }

// add records a sample taken at now.
func (r *rates) add(now time.Time, t Totals) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.since.IsZero() {
		r.since = now
	}
	if n := len(r.fine); n > 0 {
		prev := r.fine[n-1].t
		for k, v := range t.Lines {
			if v > prev.Lines[k] && len(r.lastLine) < maxSampled {
				r.lastLine[k] = now
			}
		}
	}
	s := sample{at: now, t: t}
	r.fine = append(r.fine, s)
	if len(r.fine) > fineSamples {
		r.fine = append(r.fine[:0], r.fine[len(r.fine)-fineSamples:]...)
	}
	if n := len(r.minutes); n == 0 || now.Truncate(time.Minute).After(r.minutes[n-1].at.Truncate(time.Minute)) {
		r.minutes = append(r.minutes, s)
		if len(r.minutes) > hourSamples {
			r.minutes = append(r.minutes[:0], r.minutes[len(r.minutes)-hourSamples:]...)
		}
	}
}

// memberRate is one member's reports over the last minutes.
type memberRate struct {
	ID, Name                   string
	LastMinute, Last10, Last60 int64
	PerMinute                  []int64 // the last 60 minutes, oldest first; -1 before sampling began
}

// sourceRate is one source's lines over the last minute.
type sourceRate struct {
	PerSecond float64
	LastLine  time.Time // when its count last grew; zero if not seen growing
}

// before returns the newest sample of ss taken at or before t, or the
// oldest.
func before(ss []sample, t time.Time) sample {
	out := ss[0]
	for _, s := range ss {
		if s.at.After(t) {
			break
		}
		out = s
	}
	return out
}

// valueAt is a member's report count at t, interpolated between the
// samples around it (older ones are a minute apart); the first sample's
// before it.
func valueAt(ss []sample, t time.Time, id string) int64 {
	i := 0
	for i < len(ss) && !ss[i].at.After(t) {
		i++
	}
	switch {
	case i == 0:
		return ss[0].t.Reports[id]
	case i == len(ss):
		return ss[i-1].t.Reports[id]
	}
	a, b := ss[i-1], ss[i]
	va, vb := a.t.Reports[id], b.t.Reports[id]
	span := b.at.Sub(a.at)
	return va + int64((float64(vb-va)*float64(t.Sub(a.at))/float64(span))+0.5)
}

// members returns the report rates of the members ids, in that order,
// named by names.
func (r *rates) members(now time.Time, ids []string, names map[string]string) []memberRate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]memberRate, 0, len(ids))
	if len(r.fine) == 0 {
		return out
	}
	last := r.fine[len(r.fine)-1]
	// Every sample, oldest first: the minutes' before the fine ones.
	var all []sample
	for _, s := range r.minutes {
		if s.at.Before(r.fine[0].at) {
			all = append(all, s)
		}
	}
	all = append(all, r.fine...)
	// Minute k of the chart (0 the oldest, 59 now's) counts from the
	// first sample of its minute to the first of the next, or to the
	// latest sample.
	nowMin := now.Truncate(time.Minute)
	slot := func(t time.Time) int { return 59 - int(nowMin.Sub(t.Truncate(time.Minute))/time.Minute) }
	for _, id := range ids {
		m := memberRate{ID: id, Name: names[id], PerMinute: make([]int64, 60)}
		for k := range m.PerMinute {
			m.PerMinute[k] = -1
		}
		cur := last.t.Reports[id]
		m.LastMinute = cur - valueAt(all, now.Add(-time.Minute), id)
		m.Last10 = cur - valueAt(all, now.Add(-10*time.Minute), id)
		m.Last60 = cur - valueAt(all, now.Add(-time.Hour), id)
		for i, s := range r.minutes {
			next := last
			if i+1 < len(r.minutes) {
				next = r.minutes[i+1]
			}
			if k := slot(s.at); k >= 0 && k < 60 {
				m.PerMinute[k] = max(0, next.t.Reports[id]-s.t.Reports[id])
			}
		}
		out = append(out, m)
	}
	return out
}

// sources returns each sampled source's rate.
func (r *rates) sources(now time.Time) map[string]sourceRate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]sourceRate{}
	if len(r.fine) == 0 {
		return out
	}
	last := r.fine[len(r.fine)-1]
	first := before(r.fine, now.Add(-time.Minute))
	secs := last.at.Sub(first.at).Seconds()
	for k, v := range last.t.Lines {
		sr := sourceRate{LastLine: r.lastLine[k]}
		if secs > 0 {
			sr.PerSecond = float64(v-first.t.Lines[k]) / secs
		}
		out[k] = sr
	}
	return out
}

// sinceTime is when sampling began; zero before.
func (r *rates) sinceTime() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.since
}
