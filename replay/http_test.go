package replay

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"phalanx/loggen"
)

// TestHTTPMixedLogGroundTruth replays loggen's mixed nginx access log (a
// site's visitors, crawlers, monitors, NATed offices and API clients among
// scanners, CVE probes, brute force and credential stuffing) through the
// product's replay path with the default HTTP pack, as
// `phalanx replay nginx:access.log` does, and scores the bans against the
// generator's truth: every attacker banned, no legitimate client banned.
// Low-and-slow probers and attackers cut short by the end of the log may go
// either way.
func TestHTTPMixedLogGroundTruth(t *testing.T) {
	lines := 200_000
	if testing.Short() {
		lines = 50_000
	}
	var log bytes.Buffer
	truth, err := loggen.HTTP(&log, loggen.HTTPConfig{Lines: lines, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(path, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := replayCases(t, Options{Files: []string{"nginx:" + path}})
	var bans []netip.Prefix
	scenario := map[netip.Prefix]string{}
	for v, recs := range r.decisions {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, err2 := netip.ParseAddr(v)
			if err2 != nil {
				t.Fatalf("decision value %q: %v", v, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		bans = append(bans, p)
		scenario[p] = recs[0].Scenario
	}
	bannedBy := func(a loggen.HTTPActor) string {
		addr := a.Addr
		if !addr.IsValid() {
			addr = a.Prefix.Addr()
		}
		for _, p := range bans {
			if p.Contains(addr) {
				return scenario[p]
			}
		}
		return ""
	}
	byScenario := map[string]int{}
	missed := map[string]int{}
	for _, a := range truth.Attackers {
		s := bannedBy(a)
		if s == "" {
			missed[a.Behaviour]++
			continue
		}
		byScenario[s]++
	}
	var fp []string
	for _, a := range truth.Legit {
		if s := bannedBy(a); s != "" {
			fp = append(fp, fmt.Sprintf("%v%v (%s, %d requests) by %s", a.Addr, a.Prefix, a.Behaviour, a.Requests, s))
		}
	}
	evasive := 0
	for _, a := range truth.Evasive {
		if bannedBy(a) != "" {
			evasive++
		}
	}
	t.Logf("%d lines: %d attackers, %d banned (by scenario %v); %d legitimate clients, %d banned; %d of %d evasive banned",
		lines, len(truth.Attackers), len(truth.Attackers)-sum(missed), byScenario, len(truth.Legit), len(fp), evasive, len(truth.Evasive))
	if len(missed) > 0 {
		t.Errorf("attackers not banned, by behaviour: %v", missed)
	}
	if len(fp) > 0 {
		sort.Strings(fp)
		t.Errorf("%d legitimate clients banned:\n%s", len(fp), strings.Join(fp, "\n"))
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
