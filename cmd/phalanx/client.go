package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"phalanx/charter"
	"phalanx/daemon"
)

// client talks to a running daemon's admin API.
type client struct {
	base  string
	token string
	json  bool
	out   io.Writer
	hc    *http.Client // nil: http.DefaultClient
	at    string       // the API's address as given, for messages; "" is base
}

// httpClient is what c's requests go through.
func (c *client) httpClient() *http.Client {
	if c.hc != nil {
		return c.hc
	}
	return http.DefaultClient
}

// apiClient returns the base URL and the HTTP client for the API at addr:
// "host:port" (plain HTTP), a URL, or "unix:/path" (a Unix socket). For
// https, a certificate the daemon left (pin, PEM) is the only one accepted,
// whatever name it has; without one the system's roots judge it.
func apiClient(addr string, pin []byte) (string, *http.Client, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
		return "http://phalanx", &http.Client{Transport: tr}, nil
	}
	if !strings.Contains(addr, "://") {
		return "http://" + addr, nil, nil
	}
	if !strings.HasPrefix(addr, "https://") || len(pin) == 0 {
		return addr, nil, nil
	}
	block, _ := pem.Decode(pin)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", nil, errors.New("the API's certificate in the data directory (api.pem) is not a PEM certificate: restart the daemon to rewrite it")
	}
	want := block.Bytes
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12,
		// The pin replaces name and chain checks: the daemon serves this
		// very certificate, wherever the client reaches it.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return errors.New("the API's certificate is not the one the daemon wrote to api.pem in its data directory: is another server listening at its address?")
			}
			return nil
		}}
	return addr, &http.Client{Transport: tr}, nil
}

// clientFlags adds the flags every client command shares and returns a
// function that builds the client once flags are parsed.
// usageText sets a flag set's --help text: what the command does, then its flags.
func usageText(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimLeft(text, "\n"))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
}

func clientFlags(fs *flag.FlagSet, stdout io.Writer) func() (*client, error) {
	dataDir := fs.String("data", daemon.DefaultDataDir(), "the daemon's data `DIR` (where its API address and admin token are)")
	api := fs.String("api", "", "the daemon's API `ADDR` (host:port, https://host:port or unix:/path); the admin token then comes from PHALANX_TOKEN")
	output := fs.String("o", "human", "output format: human or json")
	return func() (*client, error) {
		c := &client{json: *output == "json", out: stdout}
		if *output != "human" && *output != "json" {
			return nil, fmt.Errorf("%w: -o %q: use human or json", errUsage, *output)
		}
		var pin []byte
		if *api != "" {
			c.base, c.token = *api, os.Getenv("PHALANX_TOKEN")
			if c.token == "" {
				info, err := daemon.ReadClientInfo(*dataDir)
				if err != nil {
					return nil, fmt.Errorf("with --api, set PHALANX_TOKEN to the daemon's admin token")
				}
				c.token = info.Token
			}
		} else {
			info, err := daemon.ReadClientInfo(*dataDir)
			if err != nil {
				return nil, err
			}
			c.base, c.token, pin = info.Addr, info.Token, info.Cert
			if t := os.Getenv("PHALANX_TOKEN"); t != "" {
				c.token = t
			}
		}
		var err error
		c.at = c.base
		if c.base, c.hc, err = apiClient(c.base, pin); err != nil {
			return nil, err
		}
		return c, nil
	}
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		at := c.at
		if at == "" {
			at = c.base
		}
		return fmt.Errorf("reach the daemon at %s (is `phalanx run` running?): %w", at, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return errors.New(e.Message)
		}
		return fmt.Errorf("daemon answered %s", resp.Status)
	}
	if c.json {
		_, err := c.out.Write(data)
		return err
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	usageText(fs, `
Usage: phalanx status [--data DIR | --api ADDR] [-o json]

Shows the running daemon's member id, alliance and charter hash, uptime,
enforcement mode, active decisions, tailed files, and the counters of the
pipeline (lines, events, alerts, skipped) and of the reports (published,
received, decided, rejected by reason); then every member of the alliance:
whether this member's fabric reaches it (and how: a route, a leaf link, or
through the others), the round trip of a direct link, how many reports it
is behind the stream, and when its last report came.
`)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := mk()
	if err != nil {
		return err
	}
	var st daemon.Status
	if err := c.do(ctx, "GET", "/api/status", nil, &st); err != nil || c.json {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "member\t%s\n", st.Member)
	fmt.Fprintf(w, "alliance\t%s (%d members, charter %s)\n", st.Alliance, st.Members, short(st.Charter))
	for _, p := range st.DataDir.Problems { // changed outside the member (daemon/tamper.go)
		fmt.Fprintf(w, "DATA DIR\t%s\n", p)
	}
	fmt.Fprintf(w, "uptime\t%s\n", st.Uptime)
	enf := st.Enforce
	if st.EnforceWhy != "" {
		enf += " (" + st.EnforceWhy + ")"
	}
	fmt.Fprintf(w, "enforcement\t%s\n", enf)
	if len(st.Enforcement) > 0 {
		fmt.Fprintf(w, "  kernel\t%s\n", counts(st.Enforcement))
	}
	fmt.Fprintf(w, "decisions\t%d active\n", st.Decisions)
	fmt.Fprintf(w, "sources\t%s\n", strings.Join(st.Sources, ", "))
	for _, src := range st.Sources {
		if c, ok := st.SourceStats[src]; ok {
			fmt.Fprintf(w, "  %s\t%s\n", src, counts(c))
		}
	}
	fmt.Fprintf(w, "pipeline\t%s\n", counts(st.Pipeline))
	fmt.Fprintf(w, "reports\t%s\n", counts(st.Reports))
	fabric := fmt.Sprintf("judged up to stream sequence %d", st.FabricSeq)
	if st.Leader != "" {
		fabric += ", stream leader " + st.Leader
	}
	fmt.Fprintf(w, "fabric\t%s\n", fabric)
	fmt.Fprintf(w, "  health\t%s\n", fabricHealthLine(st.FabricHealth))
	if err := w.Flush(); err != nil {
		return err
	}
	return printRoster(stdout, st.Roster, time.Now())
}

// fabricHealthLine says how the embedded NATS server is: "ok" or the
// problem, and the restarts the health watch made.
func fabricHealthLine(h daemon.FabricHealth) string {
	s := "ok"
	if !h.OK {
		s = "PROBLEM: " + h.Problem
		if h.Since != nil {
			s += " (since " + h.Since.Local().Format(time.DateTime) + ")"
		}
	}
	if h.Restarts > 0 {
		s += fmt.Sprintf("; %d server restarts", h.Restarts)
		if h.Failed > 0 {
			s += fmt.Sprintf(" (%d failed)", h.Failed)
		}
		if h.LastRestart != nil {
			s += ", last " + h.LastRestart.Local().Format(time.DateTime) + ": " + h.LastReason
		}
	}
	return s
}

// printRoster prints the members as the daemon sees them, one a line.
func printRoster(out io.Writer, roster []daemon.MemberStatus, now time.Time) error {
	if len(roster) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tID\tFABRIC\tRTT\tLAG\tLAST REPORT")
	for _, m := range roster {
		name := m.Name
		if name == "" {
			name = "-"
		}
		if m.Self {
			name += " (this member)"
		}
		fab := "DISCONNECTED"
		if m.Connected {
			fab = "connected (" + m.Link + ")"
		}
		rtt, lag, last := "-", "-", "none"
		if m.RTT != "" {
			rtt = m.RTT
		}
		if m.Lag != nil {
			lag = fmt.Sprint(*m.Lag)
		}
		if m.LastReport != nil {
			last = fmt.Sprintf("%s ago (#%d)", now.Sub(*m.LastReport).Round(time.Second), m.LastSeq)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", name, short(m.ID), fab, rtt, lag, last)
		if m.Note != "" {
			fmt.Fprintf(w, "\t\t  %s\n", m.Note) // trailing text: it widens no column
		}
	}
	return w.Flush()
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func cmdDecisions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: phalanx decisions list|add|delete|import (see --help of each)", errUsage)
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprint(stdout, "Usage: phalanx decisions list|add|delete|import [flags]\n\nRun \"phalanx decisions SUBCOMMAND --help\" for each one's flags.\n")
		return nil
	}
	fs := flag.NewFlagSet("decisions "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	ip := fs.String("ip", "", "an `ADDRESS`")
	rng := fs.String("range", "", "a `CIDR` range")
	switch sub {
	case "list":
		usageText(fs, `
Usage: phalanx decisions list [--ip ADDRESS] [-o json]

Lists the active decisions (with --ip, those that cover the address,
ranges included): id, scope and value, type, origin, scenario, time left.
`)
	case "add":
		usageText(fs, `
Usage: phalanx decisions add --ip ADDRESS | --range CIDR [--duration 4h] [--reason TEXT]

Bans an address or range on every member: the ban travels as a signed manual
report through the fabric, like a detection. Territory (loopback, members'
addresses, the charter's territory) is refused.
`)
	case "delete":
		usageText(fs, `
Usage: phalanx decisions delete --ip ADDRESS | --range CIDR | --id ID

Lifts the bans on exactly that value (and on ranges and addresses inside a
range) on every member, as a signed pardon.
`)
	}
	switch sub {
	case "list":
		if _, err := parseArgs(fs, args); err != nil {
			return err
		}
		c, err := mk()
		if err != nil {
			return err
		}
		path := "/api/decisions"
		if *ip != "" {
			path += "?ip=" + url.QueryEscape(*ip)
		}
		var ds []daemon.DecisionView
		if err := c.do(ctx, "GET", path, nil, &ds); err != nil || c.json {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tSCOPE:VALUE\tTYPE\tORIGIN\tSCENARIO\tEXPIRES IN")
		for _, d := range ds {
			fmt.Fprintf(w, "%d\t%s:%s\t%s\t%s\t%s\t%s\n", d.ID, d.Scope, d.Value, d.Type, d.Origin, d.Scenario, d.Duration)
		}
		if len(ds) == 0 {
			fmt.Fprintln(w, "(no active decisions)")
		}
		return w.Flush()
	case "add":
		dur := fs.String("duration", "4h", "how long, as a Go `DURATION` (4h, 90m, 168h)")
		reason := fs.String("reason", "manual", "free `TEXT` recorded with the decision")
		typ := fs.String("type", "ban", "decision `TYPE` (only ban)")
		if _, err := parseArgs(fs, args); err != nil {
			return err
		}
		v, err := oneValue(*ip, *rng)
		if err != nil {
			return err
		}
		c, err := mk()
		if err != nil {
			return err
		}
		var d daemon.DecisionView
		if err := c.do(ctx, "POST", "/api/decisions", daemon.AddRequest{Value: v, Duration: *dur, Reason: *reason, Type: *typ}, &d); err != nil || c.json {
			return err
		}
		fmt.Fprintf(stdout, "decision %d: %s %s:%s for %s\n", d.ID, d.Type, d.Scope, d.Value, d.Duration)
		return nil
	case "delete":
		id := fs.String("id", "", "a decision `ID`")
		if _, err := parseArgs(fs, args); err != nil {
			return err
		}
		q := url.Values{}
		if *id != "" {
			q.Set("id", *id)
		} else {
			v, err := oneValue(*ip, *rng)
			if err != nil {
				return fmt.Errorf("%v, or --id", err)
			}
			q.Set("value", v)
		}
		c, err := mk()
		if err != nil {
			return err
		}
		var res struct{ Deleted int }
		if err := c.do(ctx, "DELETE", "/api/decisions?"+q.Encode(), nil, &res); err != nil || c.json {
			return err
		}
		fmt.Fprintf(stdout, "%d decision(s) deleted\n", res.Deleted)
		return nil
	}
	return fmt.Errorf("%w: unknown subcommand decisions %q (list, add, delete)", errUsage, sub)
}

func oneValue(ip, rng string) (string, error) {
	switch {
	case ip != "" && rng != "":
		return "", fmt.Errorf("%w: give --ip or --range, not both", errUsage)
	case ip != "":
		return ip, nil
	case rng != "":
		return rng, nil
	}
	return "", fmt.Errorf("%w: give --ip ADDRESS or --range CIDR", errUsage)
}

func cmdBouncers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: phalanx bouncers add [--alliance] NAME|list|delete [--alliance] NAME", errUsage)
	}
	sub, args := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "help" {
		sub, args = "list", []string{"--help"}
	}
	fs := flag.NewFlagSet("bouncers "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	alliance := fs.Bool("alliance", false, "a key every member accepts (add, delete: a charter amendment, on a founding member; list: only those)")
	usageText(fs, `
Usage: phalanx bouncers add [--alliance] NAME | list [--alliance] | delete [--alliance] NAME

Manages the API keys of CrowdSec-compatible bouncers (firewall, nginx,
Traefik, ...). "add" prints the new key alone on stdout; put it in the
bouncer's configuration as api_key, with api_url http://THIS_HOST:8080/.
Only a hash of each key is stored.

A key belongs to this member alone, unless --alliance: then the charter
carries its hash (a signed amendment, made on a founding member) and every
member accepts it, so that the bouncer can fail over to another member.
"list" shows alliance keys with "Alliance": true and their last pull on
this member.
`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	c, err := mk()
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		if len(pos) != 1 {
			return fmt.Errorf("%w: phalanx bouncers add [--alliance] NAME", errUsage)
		}
		var res struct {
			APIKey  string `json:"api_key"`
			Version int    `json:"version"`
		}
		body := map[string]any{"name": pos[0]}
		if *alliance {
			body["alliance"] = true
		}
		if err := c.do(ctx, "POST", "/api/bouncers", body, &res); err != nil || c.json {
			return err
		}
		fmt.Fprintln(stdout, res.APIKey)
		if *alliance {
			fmt.Fprintf(stderr, "alliance bouncer %s: charter amended (version %d); every member accepts the key once it holds that version (phalanx charter show)\n", pos[0], res.Version)
		}
		return nil
	case "list":
		var bs []map[string]any
		if err := c.do(ctx, "GET", "/api/bouncers", nil, &bs); err != nil || c.json {
			return err
		}
		enc := json.NewEncoder(stdout)
		n := 0
		for _, b := range bs {
			if *alliance && b["Alliance"] != true {
				continue
			}
			enc.Encode(b)
			n++
		}
		if n == 0 {
			fmt.Fprintln(stdout, "(no bouncers)")
		}
		return nil
	case "delete":
		if len(pos) != 1 {
			return fmt.Errorf("%w: phalanx bouncers delete [--alliance] NAME", errUsage)
		}
		path := "/api/bouncers/" + url.PathEscape(pos[0])
		if *alliance {
			path += "?alliance=true"
		}
		var res struct {
			Version int `json:"version"`
		}
		if err := c.do(ctx, "DELETE", path, nil, &res); err != nil || c.json {
			return err
		}
		if *alliance {
			fmt.Fprintf(stdout, "alliance bouncer %s deleted: charter amended (version %d); every member refuses the key once it holds that version\n", pos[0], res.Version)
			return nil
		}
		fmt.Fprintf(stdout, "bouncer %s deleted\n", pos[0])
		return nil
	}
	return fmt.Errorf("%w: unknown subcommand bouncers %q (add, list, delete)", errUsage, sub)
}

func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	usageText(fs, `
Usage: phalanx explain ADDRESS [-o json]

Says whether ADDRESS is banned and why: every decision that covers it, and
the timeline behind them in time order: alerts, signed reports with their
evidence lines, decisions, enforcement, refusals and pardons.
`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: phalanx explain ADDRESS", errUsage)
	}
	c, err := mk()
	if err != nil {
		return err
	}
	var ex daemon.Explanation
	if err := c.do(ctx, "GET", "/api/explain?address="+url.QueryEscape(pos[0]), nil, &ex); err != nil || c.json {
		return err
	}
	if ex.Banned {
		fmt.Fprintf(stdout, "%s is banned:\n", ex.Address)
		for _, d := range ex.Decisions {
			fmt.Fprintf(stdout, "  decision %d: %s %s:%s (%s, %s) until %s (%s left)\n", d.ID, d.Type, d.Scope, d.Value, d.Origin, d.Scenario, d.Until.Format(time.RFC3339), d.Duration)
		}
	} else {
		fmt.Fprintf(stdout, "%s is not banned.\n", ex.Address)
	}
	if len(ex.Timeline) == 0 {
		fmt.Fprintln(stdout, "No history is recorded for it.")
		return nil
	}
	fmt.Fprintln(stdout, "Timeline:")
	for _, e := range ex.Timeline {
		line := fmt.Sprintf("  %s  %-9s %s", e.Time.Format("2006-01-02 15:04:05.000"), e.What, e.Value)
		switch {
		case e.MemberName != "":
			line += " member=" + e.MemberName + " (" + e.Member + ")"
		case e.Member != "":
			line += " member=" + e.Member
		}
		if e.Scenario != "" {
			line += " scenario=" + e.Scenario
		}
		if e.Origin != "" {
			line += " origin=" + e.Origin
		}
		if !e.Until.IsZero() {
			line += " until=" + e.Until.Format(time.RFC3339)
		}
		if e.Detail != "" {
			line += " (" + e.Detail + ")"
		}
		fmt.Fprintln(stdout, line)
		for _, ev := range e.Evidence {
			fmt.Fprintf(stdout, "      | %q\n", ev)
		}
	}
	return nil
}

func cmdCharter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "fleet" {
		return cmdCharterFleet(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "restore" {
		return cmdCharterRestore(args[1:], stdout, stderr) // charter_restore.go
	}
	if len(args) == 0 || args[0] != "show" {
		return fmt.Errorf("%w: phalanx charter show | phalanx charter fleet on|off | phalanx charter restore", errUsage)
	}
	fs := flag.NewFlagSet("charter show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	usageText(fs, `
Usage: phalanx charter show [-o json]

Prints the alliance charter the daemon applies, with its hash: members and
their keys, territory, decisive scenarios and quorum, durations and
escalation, limits. Every member of an alliance must show the same hash.
`)
	if _, err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	c, err := mk()
	if err != nil {
		return err
	}
	var ch struct{ Hash, Name, YAML string }
	if err := c.do(ctx, "GET", "/api/charter", nil, &ch); err != nil || c.json {
		return err
	}
	fmt.Fprintf(stdout, "# charter %q, hash %s\n%s", ch.Name, ch.Hash, ch.YAML)
	return nil
}

func cmdCharterFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("charter fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mk := clientFlags(fs, stdout)
	file := fs.String("file", "", "a YAML file with the fleet section (the keys under fleet:); default: the built-in fleet scenarios")
	usageText(fs, `
Usage: phalanx charter fleet on [--file FLEET.yaml] [-o json]
       phalanx charter fleet off [-o json]

Asks the running daemon (a founding member) to amend the charter's fleet
section: on adds the built-in fleet scenarios (fleet-bf, fleet-scan,
fleet-user-stuffing, fleet-slow-bf), or the section in FLEET.yaml to tune
their thresholds; off removes them. The charter's user-name salt is kept,
or a new one is made. Every member verifies the amendment and judges
sightings by it from that point of the stream on; phalanx charter show
prints the result.
`)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "on" && rest[0] != "off" {
		return fmt.Errorf("%w: say on or off", errUsage)
	}
	req := struct {
		Enabled bool   `json:"enabled"`
		YAML    string `json:"yaml"`
	}{Enabled: rest[0] == "on"}
	if *file != "" {
		if !req.Enabled {
			return fmt.Errorf("%w: --file goes with on", errUsage)
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		if _, err := charter.ParseFleet(data); err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		req.YAML = string(data)
	}
	c, err := mk()
	if err != nil {
		return err
	}
	var out struct {
		Hash    string `json:"hash"`
		Version int    `json:"version"`
		Fleet   bool   `json:"fleet"`
	}
	if err := c.do(ctx, "PUT", "/api/charter/fleet", req, &out); err != nil || c.json {
		return err
	}
	state := "off"
	if out.Fleet {
		state = "on"
	}
	fmt.Fprintf(stdout, "fleet scenarios %s: charter version %d, hash %s\n", state, out.Version, shortHash(out.Hash))
	return nil
}
