package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"phalanx/fail2ban"
)

// maxCheckLine bounds one log line fail2ban-check reads; longer lines are
// cut there.
const maxCheckLine = 64 << 10

// checkReport is what `fail2ban-check` prints.
type checkReport struct {
	Filter   string         `json:"filter"`
	File     string         `json:"file"`
	Log      string         `json:"log"`
	Lines    int            `json:"lines"`
	Matched  int            `json:"matched"`
	Ignored  int            `json:"ignored"`
	NoFail   int            `json:"nofail"`
	Missed   int            `json:"missed"`
	Timeouts int            `json:"timeouts"`
	Names    int            `json:"names"` // failures that give only a host name (never banned)
	NoTime   int            `json:"no_time"`
	Regexes  []regexCount   `json:"failregex"`
	Hosts    []hostCount    `json:"hosts"`
	First    *time.Time     `json:"first,omitempty"`
	Last     *time.Time     `json:"last,omitempty"`
	Engines  map[string]int `json:"engines"`
}

type regexCount struct {
	Index   int `json:"index"`
	Matched int `json:"matched"`
}

type hostCount struct {
	Host  string `json:"host"`
	Count int    `json:"count"`
	Name  bool   `json:"name,omitempty"`
}

func cmdFail2banCheck(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fail2ban-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("fail2ban", "/etc/fail2ban", "fail2ban's configuration `DIR` (its filter.d holds the filters)")
	output := fs.String("o", "human", "output format: human or json")
	budget := fs.Duration("budget", fail2ban.DefaultBudget, "time one backtracking match may take")
	usageText(fs, `
Usage: phalanx fail2ban-check [--fail2ban DIR] [-o json] FILTER[,FILTER...] LOG

Runs a fail2ban filter over a log the way phalanx runs it, like
fail2ban-regex: lines read, matched, ignored and missed, the hosts found
with their counts, the first and last times. As fail2ban-regex does, empty
lines and lines starting with # are skipped. FILTER is a filter name in
DIR/filter.d (with options: "sshd[mode=aggressive]") or a path to a filter
file; several, comma-separated, run together as the daemon runs the jails
of one log (each line scanned for literals once), "all" runs every filter
in DIR/filter.d that loads. LOG is a file or - for standard input.
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return fmt.Errorf("%w: name a FILTER and a LOG (- for standard input)", errUsage)
	}
	if *output != "human" && *output != "json" {
		return fmt.Errorf("%w: -o %q: want human or json", errUsage, *output)
	}
	specs := strings.Split(rest[0], ",")
	all := rest[0] == "all"
	if all {
		specs = nil
		paths, _ := filepath.Glob(filepath.Join(*dir, "filter.d", "*.conf"))
		for _, p := range paths {
			specs = append(specs, strings.TrimSuffix(filepath.Base(p), ".conf"))
		}
	}
	cache := fail2ban.NewCache()
	var filters []*fail2ban.Filter
	for _, spec := range specs {
		name, opts, err := fail2ban.ParseFilterSpec(spec)
		if err != nil {
			return fmt.Errorf("%w: filter %q: %v", errUsage, spec, err)
		}
		f, err := fail2ban.LoadFilter(*dir, name, opts, nil, fail2ban.FilterOptions{Budget: *budget, Cache: cache})
		if err != nil {
			if all { // a file of filter.d that is no filter on its own
				fmt.Fprintf(stderr, "phalanx fail2ban-check: skipped %s: %v\n", spec, err)
				continue
			}
			return err
		}
		filters = append(filters, f)
	}
	if len(filters) == 0 {
		return fmt.Errorf("%w: no filter to run", errUsage)
	}
	var in io.Reader = stdin
	if rest[1] != "-" {
		fh, err := os.Open(rest[1])
		if err != nil {
			return err
		}
		defer fh.Close()
		in = fh
	}
	reps, err := checkLog(filters, in, time.Now())
	if err != nil {
		return fmt.Errorf("read %s: %w", rest[1], err)
	}
	for _, rep := range reps {
		rep.Log = rest[1]
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		if len(reps) == 1 {
			return enc.Encode(reps[0])
		}
		return enc.Encode(reps)
	}
	for i, rep := range reps {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printCheck(stdout, rep)
	}
	return nil
}

// checkLog runs the filters, as one group, over every line of in.
func checkLog(fs []*fail2ban.Filter, in io.Reader, now time.Time) ([]*checkReport, error) {
	ms := make([]*fail2ban.Matcher, len(fs))
	reps := make([]*checkReport, len(fs))
	hosts := make([]map[string]*hostCount, len(fs))
	for i, f := range fs {
		ms[i] = fail2ban.NewMatcher(f, fail2ban.MatchOptions{})
		nfail, _ := f.Regexes()
		rep := &checkReport{Filter: f.Name, File: f.File, Regexes: make([]regexCount, nfail), Engines: map[string]int{}}
		for j := range rep.Regexes {
			rep.Regexes[j].Index = j
		}
		rep.Engines["regexp2"] = len(f.Backtracking())
		reps[i], hosts[i] = rep, map[string]*hostCount{}
	}
	g := fail2ban.NewGroup(ms...)
	found := func(i int, res fail2ban.Result, o fail2ban.Outcome) {
		if o != fail2ban.Failure {
			return
		}
		rep := reps[i]
		rep.Regexes[res.Regex].Matched++
		h := hosts[i][res.Key()]
		if h == nil {
			h = &hostCount{Host: res.Key(), Name: res.Name}
			hosts[i][res.Key()] = h
		}
		h.Count++
		if res.HasTime {
			t := res.Time
			if rep.First == nil || t.Before(*rep.First) {
				rep.First = &t
			}
			if rep.Last == nil || t.After(*rep.Last) {
				rep.Last = &t
			}
		}
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimRight(line, "\r\n")
			if len(line) > maxCheckLine {
				line = line[:maxCheckLine]
			}
			if line == "" || strings.HasPrefix(line, "#") {
				// Skipped as fail2ban-regex skips them.
				if err == io.EOF {
					break
				}
				continue
			}
			g.Line(line, now, found)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	for i, rep := range reps {
		c := g.Counters(i)
		rep.Lines, rep.Matched, rep.Ignored, rep.NoFail, rep.Missed = c.Lines, c.Failures, c.Ignored, c.NoFail, c.Missed
		rep.Timeouts, rep.Names, rep.NoTime = c.Timeouts, c.Names, c.NoTime
		for _, h := range hosts[i] {
			rep.Hosts = append(rep.Hosts, *h)
		}
		sort.Slice(rep.Hosts, func(a, b int) bool {
			if rep.Hosts[a].Count != rep.Hosts[b].Count {
				return rep.Hosts[a].Count > rep.Hosts[b].Count
			}
			return rep.Hosts[a].Host < rep.Hosts[b].Host
		})
	}
	return reps, nil
}

func printCheck(w io.Writer, rep *checkReport) {
	fmt.Fprintf(w, "Filter: %s (%s)\n", rep.Filter, rep.File)
	// As fail2ban-regex counts: a line that matched a failregex marking no
	// failure counts as ignored.
	fmt.Fprintf(w, "Lines: %d lines, %d ignored, %d matched, %d missed\n", rep.Lines, rep.Ignored+rep.NoFail, rep.Matched, rep.Missed)
	fmt.Fprintln(w, "Failregex:")
	for _, r := range rep.Regexes {
		fmt.Fprintf(w, "  #%d: %d matched\n", r.Index, r.Matched)
	}
	fmt.Fprintf(w, "Hosts: %d\n", len(rep.Hosts))
	for _, h := range rep.Hosts {
		note := ""
		if h.Name {
			note = "  (a host name: counted, never banned)"
		}
		fmt.Fprintf(w, "  %-40s %d%s\n", h.Host, h.Count, note)
	}
	if rep.First != nil {
		fmt.Fprintf(w, "Times: first %s, last %s\n", rep.First.Format(time.RFC3339), rep.Last.Format(time.RFC3339))
	}
	if rep.NoTime > 0 {
		fmt.Fprintf(w, "Failures without a readable date: %d\n", rep.NoTime)
	}
	if rep.Timeouts > 0 {
		fmt.Fprintf(w, "Matches stopped by their time budget: %d\n", rep.Timeouts)
	}
}
