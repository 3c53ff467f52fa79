package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"phalanx/alliance"
	"phalanx/charter"
	"phalanx/config"
	"phalanx/fail2ban"
	"phalanx/identity"
	"phalanx/lapi"
	"phalanx/source"
	"phalanx/source/syslog"
)

// Problem is one finding of Check: an error stops a start (or leaves the
// member blind), a warning is what the start would log and go on.
type Problem struct {
	Warning bool
	Err     error
	path    string // the data directory's file it is about, if any
}

func (p Problem) String() string {
	if p.Warning {
		return "warning: " + p.Err.Error()
	}
	return "error: " + p.Err.Error()
}

// CheckOptions are what Check needs beyond a start's Options.
type CheckOptions struct {
	// Join is the --join token of a first start, "" for none: the data
	// directory receives its route secret and charter from the alliance.
	Join string
}

// Check verifies what a start with opts needs, as New and Run would meet
// it, without starting anything: the configuration, the data directory
// (there or creatable, writable, its secrets' modes, its identity, charter,
// route secret, admin token and bouncer keys), the addresses the API and
// the fabric listen on (valid and free now: each is bound and released;
// a Unix socket's directory writable), the listeners' TLS files,
// and every source (log files readable, or their directory there for a log
// not written yet; journalctl and the journal there; syslog receivers'
// addresses free). It uses New's own loaders, so that the two agree. It
// returns every problem found, none when a start would succeed.
func Check(ctx context.Context, opts Options, co CheckOptions) []Problem {
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &checker{ctx: ctx, opts: opts, seen: map[string]bool{}, ports: map[string]string{}}
	c.log = slog.New(problemLog{c: c})
	defer c.release()
	for _, err := range config.Problems(c.opts.Config.Validate()) {
		c.fail(fmt.Errorf("configuration: %w", err))
	}
	c.dataDir()
	for _, p := range modeProblems(opts.DataDir) {
		c.add(p)
	}
	c.running()
	c.member(co)
	c.api()
	c.sources()
	return c.probs
}

// checker gathers Check's problems and holds what it bound until the end,
// so that two of the member's own addresses that collide are found too.
type checker struct {
	ctx     context.Context
	opts    Options
	log     *slog.Logger // the start's warnings, as warning problems
	probs   []Problem
	seen    map[string]bool   // problems said, to say each once
	ports   map[string]string // port -> what of the member listens there
	held    []io.Closer
	inUse   bool // a daemon runs on the data directory
	badMode map[string]bool
}

func (c *checker) add(p Problem) {
	k := p.String()
	if c.seen[k] {
		return
	}
	c.seen[k] = true
	c.probs = append(c.probs, p)
	if p.path != "" && !p.Warning {
		if c.badMode == nil {
			c.badMode = map[string]bool{}
		}
		c.badMode[p.path] = true
	}
}

func (c *checker) fail(err error) { c.add(Problem{Err: err}) }

func (c *checker) warn(err error) { c.add(Problem{Warning: true, Err: err}) }

func (c *checker) release() {
	for _, h := range c.held {
		h.Close()
	}
}

// dataDir checks that the data directory is a directory the daemon can
// write, or one it can create.
func (c *checker) dataDir() {
	dir, err := filepath.Abs(c.opts.DataDir)
	if err != nil {
		c.fail(fmt.Errorf("data directory %s: %w", c.opts.DataDir, err))
		return
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		c.fail(fmt.Errorf("data directory %s is not a directory: give another with --data", dir))
	case err == nil:
		f, err := os.CreateTemp(dir, ".phalanx-check-*")
		if err != nil {
			c.fail(fmt.Errorf("data directory %s is not writable (%v): run as the daemon's user, or give --data a directory it owns", dir, unwrapPath(err)))
			return
		}
		f.Close()
		os.Remove(f.Name())
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(dir)
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		tmp, err := os.MkdirTemp(parent, ".phalanx-check-*")
		if err != nil {
			c.fail(fmt.Errorf("data directory %s does not exist and cannot be created in %s (%v): create it for the daemon's user, or give --data another", dir, parent, unwrapPath(err)))
			return
		}
		os.Remove(tmp)
	default:
		c.fail(fmt.Errorf("data directory %s: %v: run as the daemon's user, or give --data another", dir, unwrapPath(err)))
	}
}

// secretFile is a file of the data directory that gives power to whoever
// reads or writes it.
type secretFile struct {
	name, what string
	advice     string // what to do besides chmod when others could read it
}

func secretFiles() []secretFile {
	return []secretFile{
		{fileIdentity, "identity key", " (and replace the key if others could have read it: a new member identity)"},
		{fileToken, "admin token", " (and, if others could have read it, delete it and restart: a new one is made)"},
		{fileBouncers, "bouncer keys", ""},
		{fileRouteSecret, "route secret", ""},
		{fileReadOnlyToken, "console read-only token", " (and, if others could have read it, delete it and restart: a new one is made)"},
		{fileMetrics, "metrics token", " (and, if others could have read it, delete it and restart: a new one is made; give it to Prometheus again)"},
		{alliance.InvitesFile, "invites", ""},
	}
}

// modeProblems finds, in data directory dir, secrets that group or others
// may read or write, and a directory they may write (where they could
// replace any file). The daemon makes them all 0600 (0700): another mode
// is someone's doing, and may have exposed them.
func modeProblems(dir string) []Problem {
	var out []Problem
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() && fi.Mode().Perm()&0o022 != 0 {
		out = append(out, Problem{path: dir, Err: fmt.Errorf("data directory %s has mode %04o, so users other than the daemon's can replace its files (charter, keys, tokens): run `chmod 700 %s`",
			dir, fi.Mode().Perm(), dir)})
	}
	for _, f := range secretFiles() {
		path := filepath.Join(dir, f.name)
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			out = append(out, Problem{path: path, Err: fmt.Errorf("%s %s: %v: run as the daemon's user", f.what, path, unwrapPath(err))})
		case !fi.Mode().IsRegular():
			out = append(out, Problem{path: path, Err: fmt.Errorf("%s %s is not a regular file (%v): move it away", f.what, path, fi.Mode().Type())})
		case fi.Mode().Perm()&0o077 != 0:
			out = append(out, Problem{path: path, Err: fmt.Errorf("%s %s has mode %04o, so group or others can access it: run `chmod 600 %s`%s",
				f.what, path, fi.Mode().Perm(), path, f.advice)})
		}
	}
	return out
}

// checkModes is modeProblems for New: any is an error.
func checkModes(dir string) error {
	var errs []error
	for _, p := range modeProblems(dir) {
		errs = append(errs, p.Err)
	}
	return errors.Join(errs...)
}

// running notes a daemon that runs on the data directory now (it holds
// the outbox's lock, see package outbox): a manual check before a restart
// then finds the addresses it holds in use, which they will not be once
// it stops.
func (c *checker) running() {
	if runs, _ := daemonRuns(c.opts.DataDir); runs {
		c.inUse = true
		c.warn(fmt.Errorf("a phalanx is running with data directory %s: a second one would not start; this check takes it as stopped first (as a restart does), and the addresses it holds as free", c.opts.DataDir))
	}
}

// member checks what New loads from the data directory, and the fabric's
// addresses.
func (c *checker) member(co CheckOptions) {
	dir := c.opts.DataDir
	dc := c.opts.Config.Daemon
	joining := false
	if co.Join != "" {
		_, already, err := joinable(dir, JoinOptions{Token: co.Join, Fabric: dc.Fabric, Now: c.opts.Now()})
		if err != nil {
			c.fail(err)
		}
		joining = !already
	}
	idPath := filepath.Join(dir, fileIdentity)
	var id *identity.Identity
	_, idErr := os.Stat(idPath)
	if idErr == nil && !c.badMode[idPath] {
		var err error
		if id, _, err = identity.LoadOrCreate(idPath); err != nil {
			c.fail(fmt.Errorf("identity: %w", err))
			id = nil
		}
	}
	chPath := filepath.Join(dir, fileCharter)
	verr := c.signedCharter(joining) // tamper.go
	ch, err := charter.Load(chPath)
	listed := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		if verr == nil { // else said, with what to do
			c.fail(fmt.Errorf("charter: %w", err))
		}
	case errors.Is(idErr, fs.ErrNotExist):
		c.fail(fmt.Errorf("charter %s exists but identity key %s does not: a start would make a new identity that the charter does not list; restore the key from a backup, or use a new data directory", chPath, idPath))
	case id != nil:
		if _, _, ok := ch.Member(id.ID); ok {
			listed = true
		} else {
			c.fail(notListed(chPath, id.ID))
		}
	}
	secret, err := readRouteSecret(dir)
	if err != nil {
		c.fail(err)
	}
	if _, err := readToken(filepath.Join(dir, fileToken)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.fail(err)
	}
	if _, err := readTokenFile(filepath.Join(dir, fileMetrics), "metrics token"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.fail(err)
	}
	if _, err := lapi.OpenKeys(filepath.Join(dir, fileBouncers)); err != nil {
		c.fail(fmt.Errorf("bouncer keys: %w", err))
	}
	switch {
	case joining:
		if dc.Fabric == "" {
			return // a leaf member listens on nothing
		}
		client, route, err := charter.FabricPorts(dc.Fabric)
		if err != nil {
			return // joinable said so
		}
		leaf, _ := charter.FabricLeaf(dc.Fabric)
		c.fabric(client, route, leaf)
	case secret == "" && dc.Fabric != "":
		c.fail(errors.New(fabricAlone))
	case secret != "" && listed:
		next, _, err := withOwnFabric(ch, id.ID, dc.Fabric)
		if err != nil {
			c.fail(err)
			return
		}
		d := &Daemon{opts: c.opts, log: c.log, now: c.opts.Now, id: id}
		d.setCharter(next)
		fo, err := d.fabricOptions(secret)
		if err != nil {
			c.fail(err)
			return
		}
		c.fabric(fo.Listen, fo.Cluster, fo.LeafListen)
	}
}

func (c *checker) fabric(client, route, leaf string) {
	c.listen("fabric address (NATS clients and joins)", client, "")
	c.listen("fabric cluster address (port+1)", route, "")
	c.listen("fabric leaf address (port+2)", leaf, "")
}

// api checks the HTTP listeners: their addresses free (or, for a Unix
// socket, its directory writable and no live socket there), their TLS
// files readable, parseable and private; their form is the
// configuration's to check.
func (c *checker) api() {
	dc := c.opts.Config.Daemon
	if c.opts.Listener == nil {
		c.httpAddr("API address", dc.API, "--api")
	}
	c.httpAddr("serve address", dc.Serve, "--serve")
	c.tlsFiles("daemon.api_tls", dc.APITLS)
	c.tlsFiles("daemon.serve_tls", dc.ServeTLS)
	if dc.Serve == "" && dc.ServeTLS.Enabled() {
		c.warn(errors.New(unusedServeTLS))
	}
	if c.opts.Listener == nil && !dc.APITLS.Enabled() && config.CheckListenSpec(dc.API) == nil && !loopbackSpec(dc.API) {
		c.warn(errors.New(exposedAPI(dc.API)))
	}
}

// httpAddr checks one HTTP listener's address (flag names its option).
func (c *checker) httpAddr(what, addr, flag string) {
	if addr == "" || config.CheckListenSpec(addr) != nil {
		return
	}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		c.unixSocket(what, path)
		return
	}
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		c.warn(fmt.Errorf("%s %s: port 0 is a different free port at each start (the API's is written to %s): bouncers need a fixed one",
			what, addr, filepath.Join(c.opts.DataDir, fileAPIAddr)))
		return
	}
	c.listen(what, addr, "choose another with "+flag)
}

// loopbackSpec reports whether a listener address (as configured) can be
// reached from this host only.
func loopbackSpec(addr string) bool {
	if config.IsUnixAddr(addr) {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	return host == "localhost"
}

// unixSocket checks that a Unix socket can be made at path: nothing but a
// stale socket there, and its directory writable (or creatable).
func (c *checker) unixSocket(what, path string) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			c.fail(fmt.Errorf("%s unix:%s: the path exists and is not a socket: move it away, or choose another path", what, path))
			return
		}
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			conn.Close()
			if c.inUse {
				c.warn(fmt.Errorf("%s unix:%s is in use, presumably by the phalanx running with this data directory", what, path))
			} else {
				c.fail(fmt.Errorf("%s unix:%s is in use: another program (or another phalanx) serves there; stop it, or choose another path", what, path))
			}
			return
		}
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		for {
			if _, err := os.Stat(parent); err == nil || parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		tmp, err := os.MkdirTemp(parent, ".phalanx-check-*")
		if err != nil {
			c.fail(fmt.Errorf("%s unix:%s: directory %s does not exist and cannot be created in %s (%v): create it for the daemon's user (systemd: RuntimeDirectory=)", what, path, dir, parent, unwrapPath(err)))
			return
		}
		os.Remove(tmp)
		return
	}
	probe := filepath.Join(dir, fmt.Sprintf(".phalanx-check-%d.sock", os.Getpid()))
	ln, err := net.Listen("unix", probe)
	if err != nil {
		c.fail(fmt.Errorf("%s unix:%s: cannot make a socket in %s (%v): run as the daemon's user, or choose another directory", what, path, dir, unwrapNet(err)))
		return
	}
	ln.Close() // removes probe
}

// tlsFiles checks a listener's certificate and key as the start loads
// them: readable, parseable, a matching pair, the key private; an expired
// certificate is an error (every client would refuse it), one expiring
// within two weeks a warning.
func (c *checker) tlsFiles(key string, t config.TLS) {
	if t.Cert == "" || t.Key == "" {
		return // none, or the configuration's problem
	}
	crt, err := loadCertificate(t)
	if err != nil {
		c.fail(fmt.Errorf("%s: %w", key, err))
		return
	}
	leaf := crt.current().Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(crt.current().Certificate[0]); err != nil {
			c.fail(fmt.Errorf("%s: certificate %s: %v", key, t.Cert, err))
			return
		}
	}
	now := c.opts.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.fail(fmt.Errorf("%s: certificate %s expired on %s: renew it", key, t.Cert, leaf.NotAfter.UTC().Format(time.DateOnly)))
	case now.Before(leaf.NotBefore):
		c.warn(fmt.Errorf("%s: certificate %s is not valid before %s: is the clock right?", key, t.Cert, leaf.NotBefore.UTC().Format(time.RFC3339)))
	case leaf.NotAfter.Sub(now) < 14*24*time.Hour:
		c.warn(fmt.Errorf("%s: certificate %s expires on %s: renew it, then send the daemon SIGHUP", key, t.Cert, leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
}

// listen binds addr (TCP) as what and keeps it until the check ends; ""
// and port 0 bind nothing.
func (c *checker) listen(what, addr, other string) {
	host, port, err := net.SplitHostPort(addr)
	if addr == "" || err == nil && port == "0" {
		return
	}
	if err != nil {
		c.fail(fmt.Errorf("%s %q: %v", what, addr, err))
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err == nil {
		c.held = append(c.held, ln)
		c.ports[port] = what + " " + addr
		return
	}
	if other == "" {
		other = "choose another"
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE) && c.ports[port] != "":
		c.fail(fmt.Errorf("%s %s: the same port as the %s: give each its own", what, addr, c.ports[port]))
	case errors.Is(err, syscall.EADDRINUSE) && c.inUse:
		c.warn(fmt.Errorf("%s %s is in use, presumably by the phalanx running with this data directory", what, addr))
	case errors.Is(err, syscall.EADDRINUSE):
		c.fail(fmt.Errorf("%s %s is in use: another program (or another phalanx) listens there; stop it, or %s", what, addr, other))
	case errors.Is(err, syscall.EACCES):
		c.fail(fmt.Errorf("%s %s: cannot listen (%v): ports below 1024 need root or CAP_NET_BIND_SERVICE; %s", what, addr, unwrapNet(err), other))
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		c.fail(fmt.Errorf("%s %s: cannot listen (%v): the address is not one of this host's; give one of its addresses, or %s", what, addr, unwrapNet(err), other))
	default:
		c.fail(fmt.Errorf("%s %s: cannot listen (%v): %s", what, addr, unwrapNet(err), other))
	}
}

// sources opens each source as New would (binding syslog receivers, held
// until the end), one at a time so that every bad one is named, and then
// checks what their tails and journal readers will meet.
func (c *checker) sources() {
	o := sourceOptionsOf(c.opts, c.opts.Now(), nil)
	var opened []*sources
	if len(o.specs) == 0 {
		if s, err := openSources(o, c.log); err != nil {
			c.fail(err)
		} else {
			opened = append(opened, s)
		}
	}
	for _, text := range o.specs {
		sp, err := source.ParseSpec(text, nil)
		if err != nil || sp.Service != "" && sp.Kind != source.KindJournal && o.check(sp.Service) != nil {
			continue // the configuration's problem, said already
		}
		one := o
		one.specs = []string{text}
		s, err := openSources(one, c.log)
		if err != nil {
			c.sourceFailed(sp, err)
			continue
		}
		opened = append(opened, s)
	}
	if c.opts.Config.Daemon.Fail2ban != "" {
		if s := c.fail2ban(o); s != nil {
			opened = append(opened, s)
		}
	}
	journal := false
	for _, s := range opened {
		c.held = append(c.held, closer(s.close))
		for _, f := range s.files {
			if !c.seen["file "+f.path] {
				c.seen["file "+f.path] = true
				c.logFile(f.path)
			}
		}
		journal = journal || len(s.journals) > 0
	}
	if journal {
		c.journal(o)
	}
}

// sourceFailed says why source sp did not open; for a syslog receiver
// whose address is in use, by whom.
func (c *checker) sourceFailed(sp source.Spec, err error) {
	ss, perr := syslog.ParseSpec(sp.Target)
	if sp.Kind != source.KindSyslog || perr != nil || !errors.Is(err, syscall.EADDRINUSE) {
		c.fail(err)
		return
	}
	_, port, _ := net.SplitHostPort(ss.Addr)
	switch {
	case ss.Network == "tcp" && c.ports[port] != "":
		c.fail(fmt.Errorf("%w: the same port as the %s: give each its own", err, c.ports[port]))
	case c.inUse:
		c.warn(fmt.Errorf("source %s: its address is in use, presumably by the phalanx running with this data directory", sp.Text))
	default:
		c.fail(fmt.Errorf("%w: another program listens there; stop it, or give the receiver another address", err))
	}
}

type closer func()

func (f closer) Close() error { f(); return nil }

// fail2ban loads the fail2ban configuration as New does and returns the
// sources its jails add; a jail that cannot run is an error here (the
// start runs the others and warns).
func (c *checker) fail2ban(o sourceOptions) *sources {
	dir := c.opts.Config.Daemon.Fail2ban
	setup, err := fail2ban.Load(dir, fail2ban.LoadOptions{})
	if err != nil {
		c.fail(fmt.Errorf("fail2ban configuration %s: %w", dir, err))
		return nil
	}
	for _, e := range setup.Errors {
		c.fail(fmt.Errorf("fail2ban: a jail cannot run (the others would): %w", e))
	}
	s := &sources{log: c.log, pos: map[string]source.Position{}, cursors: map[string]string{}}
	if err := s.addFail2ban(setup, o); err != nil {
		c.fail(fmt.Errorf("fail2ban: %w", err))
		return nil
	}
	return s
}

// logFile checks what the tail of path meets: a readable file, or none yet
// in a directory that exists (it is read from its start once it appears).
func (c *checker) logFile(path string) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		c.fail(fmt.Errorf("source %s is a directory: name the log file in it", path))
	case err == nil && !fi.Mode().IsRegular():
		c.warn(fmt.Errorf("source %s is not a regular file (%v): the tail expects a log file", path, fi.Mode().Type()))
	case err == nil:
		f, err := os.Open(path)
		if err != nil {
			c.fail(fmt.Errorf("source %s cannot be read (%v): run as the daemon's user, or give that user read access (such as the group adm)", path, unwrapPath(err)))
			return
		}
		f.Close()
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		di, derr := os.Stat(dir)
		switch {
		case errors.Is(derr, fs.ErrNotExist):
			c.fail(fmt.Errorf("source %s: neither the file nor its directory %s exists: is the path mistyped?", path, dir))
		case derr != nil:
			c.fail(fmt.Errorf("source %s: directory %s: %v: run as the daemon's user", path, dir, unwrapPath(derr)))
		case !di.IsDir():
			c.fail(fmt.Errorf("source %s: %s is not a directory: is the path mistyped?", path, dir))
		default:
			c.warn(fmt.Errorf("source %s does not exist yet: it is read from its start once it appears (is the path mistyped?)", path))
		}
	default:
		c.fail(fmt.Errorf("source %s: %v: run as the daemon's user, or give that user access to its directory", path, unwrapPath(err)))
	}
}

// journalTimeout bounds the journalctl run that checks the journal.
const journalTimeout = 10 * time.Second

// journal checks that journalctl reads the journal the journal: sources
// read, and passes on what it says of it ("No journal files were found",
// entries of other users not shown).
func (c *checker) journal(o sourceOptions) {
	var args []string
	if dir := o.journalDir; dir != "" {
		f, err := os.Open(dir)
		if err == nil {
			_, err = f.Readdirnames(1)
			f.Close()
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if err != nil {
			c.fail(fmt.Errorf("journal_directory %s: %v: give a directory of journal files the daemon's user can read", dir, unwrapPath(err)))
			return
		}
		args = append(args, "--directory="+dir)
	}
	path, err := lookJournalctl(o.journalctl)
	if err != nil {
		return // opening the journal: sources said so
	}
	ctx, cancel := context.WithTimeout(c.ctx, journalTimeout)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append(args, "--no-pager", "--lines=0")...)
	cmd.Stdout = io.Discard
	cmd.Stderr = &limitedBuffer{b: &stderr, max: 4096}
	err = cmd.Run()
	var lines []string
	for l := range strings.Lines(stderr.String()) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	said := strings.Join(lines, "; ")
	switch {
	case err != nil:
		c.fail(fmt.Errorf("the journal: %s failed (%v): %s", path, err, said))
	case said != "":
		c.warn(fmt.Errorf("the journal: journalctl says: %s", said))
	}
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// notListed is New's refusal of a charter without this member.
func notListed(path, id string) error {
	return fmt.Errorf("charter %s does not list this member (%s): add it to the charter, or use a data directory that belongs to a member", path, id)
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// problem names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// unwrapNet drops the operation and address of a *net.OpError.
func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}

// problemLog turns what the start's code logs at WARN and above into
// warning problems: what the start would log, Check says.
type problemLog struct {
	c     *checker
	attrs string
}

func (h problemLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h problemLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool { appendAttr(&b, a); return true })
	h.c.warn(errors.New(b.String()))
	return nil
}

func (h problemLog) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		appendAttr(&b, a)
	}
	h.attrs = b.String()
	return h
}

func (h problemLog) WithGroup(string) slog.Handler { return h }

func appendAttr(b *strings.Builder, a slog.Attr) {
	v := a.Value.Resolve().String()
	if v == "" || strings.ContainsAny(v, " \"=") {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s=%s", a.Key, v)
}
