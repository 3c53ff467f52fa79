package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"phalanx/alliance"
	"phalanx/charter"
)

// Tamper evidence. An alliance member's charter is the one its signed
// history leads to: charter-chain.json (console.go) holds a charter and
// the amendments that followed, each signed by a founding member of the
// charter before it. At start (New) and in --check the chain is verified
// link by link and charter.yaml must hash to the charter it ends with; a
// data directory that holds an alliance's state must have its
// fabric.secret marker. Either mismatch refuses the start with what to do.
// A member alone keeps no signed charter: its charter is its own to edit,
// and only the charter's own rules (package charter) hold for it; so is a
// founder's whose history never listed another member (verifyDataDir
// starts the history again with its edit).
//
// While running, the member looks at charter.yaml and fabric.secret every
// tamperInterval. It fails safe: a change that the daemon did not make
// (it writes the file, once the chain holds the amendment, only under
// amendMu, which the watch holds while it compares) is not applied — the member
// keeps enforcing the verified charter it holds in memory, so an edit
// cannot lift a ban — and it is shown in the status (data_dir), counted
// in phalanx_data_dir_tampered and logged as an ERROR every minute until
// the file is restored. Stopping instead would hand an attacker who can
// write one file a way to take the member's enforcement down; the next
// start refuses the edited file anyway.

// tamperInterval is how often the running member compares the data
// directory with what it verified; tamperLogEvery how often a problem
// that lasts is logged again.
const (
	tamperInterval = 10 * time.Second
	tamperLogEvery = time.Minute
)

// chainInfo is what a verified charter-chain.json holds.
type chainInfo struct {
	end   charter.Charter // the charter the chain leads to
	steps int             // amendments kept
	multi bool            // some charter of the chain lists more than one member
}

// verifyChain reads charter-chain.json in dir and verifies it link by
// link: its first charter parses and validates, and each amendment
// verifies against the charter before it (alliance.Amendment.Verify: the
// previous hash, the next version, a founding member's signature). It
// returns nil, nil when dir keeps no chain.
func verifyChain(dir string) (*chainInfo, error) {
	h, err := readCharterChain(dir)
	if err != nil || h == nil {
		return nil, err
	}
	if len(h.Steps) > alliance.MaxHistorySteps {
		return nil, fmt.Errorf("%d amendments, the limit is %d", len(h.Steps), alliance.MaxHistorySteps)
	}
	cur, err := charter.Parse(h.Root)
	if err != nil {
		return nil, fmt.Errorf("its first charter: %w", err)
	}
	info := &chainInfo{steps: len(h.Steps), multi: len(cur.Members) > 1}
	for i, s := range h.Steps {
		a, err := alliance.ParseAmendment(s.Amendment)
		if err != nil {
			return nil, fmt.Errorf("amendment %d: %w", i+1, err)
		}
		next, err := a.Verify(&cur)
		if err != nil {
			return nil, fmt.Errorf("amendment %d (to version %d): %w", i+1, cur.Version+1, err)
		}
		cur = next
		info.multi = info.multi || len(cur.Members) > 1
	}
	info.end = cur
	return info, nil
}

// dataDirVerdict is what verifyDataDir found besides an error.
type dataDirVerdict struct {
	alone    bool             // a member alone with a charter: nothing is signed for it
	unsigned *charter.Charter // an alliance member that keeps no signed history yet: its charter on disk, to start one with
	ownEdit  *charter.Charter // a founder still alone in its alliance edited its charter: the history starts again with it
}

// verifyDataDir checks data directory dir before a start: see the
// comment at the top of this file. It changes nothing.
func verifyDataDir(dir string) (dataDirVerdict, error) {
	var v dataDirVerdict
	secret, err := readRouteSecret(dir)
	if err != nil {
		return v, err
	}
	path := filepath.Join(dir, fileCharter)
	onDisk, loadErr := charter.Load(path)
	missing := errors.Is(loadErr, fs.ErrNotExist)
	chain, chainErr := verifyChain(dir)
	chainPath := filepath.Join(dir, fileCharterChain)
	if secret == "" {
		if why := allianceState(dir, chain); why != "" {
			name := "an alliance"
			switch {
			case loadErr == nil:
				name = fmt.Sprintf("alliance %q", onDisk.Name)
			case chain != nil:
				name = fmt.Sprintf("alliance %q", chain.end.Name)
			}
			secretPath := filepath.Join(dir, fileRouteSecret)
			return v, fmt.Errorf("%s is missing: this data directory belongs to %s (%s); without it the member would run alone, with bans no other member shares. Restore the file from a backup, or recreate it (its contents grant nothing, any 64 hex digits do: `openssl rand -hex 32 > %s; chmod 600 %[4]s`)",
				secretPath, name, why, secretPath)
		}
		if loadErr != nil && !missing {
			return v, fmt.Errorf("charter: %w", loadErr)
		}
		v.alone = !missing
		return v, nil
	}
	restore := fmt.Sprintf("restore it with `phalanx charter restore --data %s` (it writes the charter the signed history leads to); change the charter only by amendments, on a founding member", dir)
	switch {
	case chainErr != nil:
		return v, fmt.Errorf("the signed charter history %s does not verify (%v): it was damaged or edited; copy %s and %s from another member of the alliance, then start again", chainPath, chainErr, fileCharterChain, fileCharter)
	case chain == nil && missing:
		return v, fmt.Errorf("%s is missing in the data directory of an alliance member (%s is there): copy %s from another member of the alliance, or join again with a new data directory", path, fileRouteSecret, fileCharter)
	case chain == nil && loadErr != nil:
		return v, fmt.Errorf("charter: %w", loadErr)
	case chain == nil:
		v.unsigned = &onDisk
		return v, nil
	case missing:
		return v, fmt.Errorf("%s is missing: %s", path, restore)
	case loadErr != nil:
		return v, fmt.Errorf("charter: %w; it is not the charter of the alliance's signed history (%s, version %d, hash %.12s): %s", loadErr, fileCharterChain, chain.end.Version, chain.end.Hash(), restore)
	}
	if got, want := onDisk.Hash(), chain.end.Hash(); got != want {
		if aloneInAlliance(chain, &onDisk) {
			v.ownEdit = &onDisk
			return v, nil
		}
		return v, fmt.Errorf("charter %s does not match the alliance's signed history (%s): it hashes to %.12s (version %d), the history leads to %.12s (version %d); changed outside the amendments: %s; %s",
			path, fileCharterChain, got, onDisk.Version, want, chain.end.Version, strings.Join(charterChanges(&chain.end, &onDisk), "; "), restore)
	}
	return v, nil
}

// aloneInAlliance reports whether a founder's charter on disk and every
// charter of its signed history list it alone: no other member ever
// agreed to them, so, as a member alone, it may edit its charter.
func aloneInAlliance(chain *chainInfo, onDisk *charter.Charter) bool {
	return !chain.multi && len(onDisk.Members) == 1 && len(chain.end.Members) == 1 &&
		onDisk.Members[0].ID == chain.end.Members[0].ID && onDisk.Name == chain.end.Name
}

// allianceState says why data directory dir holds a multi-host
// alliance's state ("" when it does not): a signed charter history that
// lists other members, an amendment waiting to be published, or a
// clustered fabric store. (A charter of several members alone is not:
// a member may run with one, alone, judging only its own stream.)
func allianceState(dir string, chain *chainInfo) string {
	var why []string
	if chain != nil && chain.multi {
		why = append(why, "its signed charter history lists other members")
	}
	if _, err := os.Stat(filepath.Join(dir, filePendingAmendment)); err == nil {
		why = append(why, filePendingAmendment+" is waiting to be published")
	}
	// nats-server keeps a clustered JetStream's meta group in
	// STORE/$SYS/_js_; a member alone runs no cluster.
	if _, err := os.Stat(filepath.Join(dir, dirFabric, "jetstream", "$SYS", "_js_")); err == nil {
		why = append(why, "its fabric store is a clustered one")
	}
	return strings.Join(why, "; ")
}

// checkDataDir is verifyDataDir for New: a member of an alliance that
// keeps no signed history yet (a data directory from before it was kept)
// starts one with the charter on disk.
func (d *Daemon) checkDataDir() error {
	v, err := verifyDataDir(d.opts.DataDir)
	if err != nil {
		return err
	}
	seed := v.unsigned
	if v.ownEdit != nil {
		seed = v.ownEdit
	}
	if seed == nil {
		return nil
	}
	if err := seedCharterChain(d.opts.DataDir, seed); err != nil {
		return fmt.Errorf("start the signed charter history: %w", err)
	}
	path := filepath.Join(d.opts.DataDir, fileCharterChain)
	if v.ownEdit != nil {
		d.log.Info("this founder is still alone in its alliance and edited its charter: the signed charter history starts again with it", "path", path, "charter", seed.Hash()[:12], "version", seed.Version)
		return nil
	}
	d.log.Warn("this alliance member kept no signed charter history: the charter on disk starts it, and is checked against it from now on",
		"path", path, "charter", seed.Hash()[:12], "version", seed.Version)
	return nil
}

// seedCharterChain makes c the charter of dir's signed history, with no
// amendment: the charter a member founds an alliance with, is admitted
// with (when the history the inviting member handed over is not kept),
// or ran with before the history was kept.
func seedCharterChain(dir string, c *charter.Charter) error {
	root, err := c.Marshal()
	if err != nil {
		return err
	}
	return writeCharterChain(dir, &alliance.History{Root: root})
}

// sealJoin makes sure the signed history of a member that just joined
// leads to c, the charter it was admitted with: keepJoinHistory kept the
// inviting member's when it verified; otherwise c starts it.
func sealJoin(dir string, c *charter.Charter) error {
	if h, err := readCharterChain(dir); err == nil && h != nil {
		if end, err := chainEnd(h); err == nil && end == c.Hash() {
			return nil
		}
	}
	return seedCharterChain(dir, c)
}

// sealAmendment adds am, this member's amendment of cur, to the signed
// history before the daemon writes the charter it makes: the charter on
// disk never runs ahead of the history. The caller holds amendMu.
func (d *Daemon) sealAmendment(cur *charter.Charter, am alliance.Amendment) error {
	if err := extendCharterChain(d.opts.DataDir, cur, am, d.now()); err != nil {
		return fmt.Errorf("record the amendment in the signed charter history %s: %w", filepath.Join(d.opts.DataDir, fileCharterChain), err)
	}
	return nil
}

// sealOwnFabric records in the signed history the change setOwnFabric
// makes (a member alone in its alliance sets its own fabric address): an
// amendment it signs, not published, which members that join later
// receive with the history.
func (d *Daemon) sealOwnFabric(cur, next *charter.Charter) error {
	am, err := alliance.NewAmendment(d.id, cur, next)
	if err != nil {
		return fmt.Errorf("sign the charter with this member's fabric address: %w", err)
	}
	return d.sealAmendment(cur, am)
}

// RestoreCharter writes to data directory dir's charter.yaml the charter
// its signed history (charter-chain.json) leads to, once the history
// verifies, and returns it. It is the remedy for a charter edited outside
// the amendments; a member alone keeps no history to restore from.
func RestoreCharter(dir string) (charter.Charter, error) {
	chain, err := verifyChain(dir)
	switch {
	case err != nil:
		return charter.Charter{}, fmt.Errorf("the signed charter history %s does not verify (%v): copy %s and %s from another member of the alliance instead",
			filepath.Join(dir, fileCharterChain), err, fileCharterChain, fileCharter)
	case chain == nil:
		return charter.Charter{}, fmt.Errorf("%s keeps no signed charter history (%s): a member alone edits its charter itself; an alliance member copies %s from another member",
			dir, fileCharterChain, fileCharter)
	}
	if err := writeCharter(dir, &chain.end); err != nil {
		return charter.Charter{}, err
	}
	return chain.end, nil
}

// ownEdit reports whether onDisk, which differs from the charter in
// force, is the edit of a founder still alone in its alliance, which the
// next start takes (verifyDataDir). The caller holds amendMu.
func (d *Daemon) ownEdit(inForce, onDisk *charter.Charter) bool {
	if len(inForce.Members) != 1 || len(onDisk.Members) != 1 {
		return false
	}
	v, err := verifyDataDir(d.opts.DataDir)
	return err == nil && v.ownEdit != nil
}

// tamperWatch is what the running member's watch of its data directory
// found (see the comment at the top of this file).
type tamperWatch struct {
	mu       sync.Mutex
	problems []string  // now; none when the files match
	since    time.Time // when the problems began
	logged   time.Time // when they were last logged
	checked  time.Time // the last comparison
	okFile   [32]byte  // SHA-256 of the charter file's bytes last found to hold the charter in force
	found    int64     // times problems appeared where there were none
}

// DataDirStatus is the status's view of the watch of the data directory.
type DataDirStatus struct {
	OK       bool       `json:"ok"`
	Problems []string   `json:"problems,omitempty"` // what differs from what the member verified and holds
	Since    *time.Time `json:"since,omitempty"`    // when the problems were first found
	Checked  *time.Time `json:"checked,omitempty"`  // the last comparison
	Found    int64      `json:"changes_found"`      // times a change was found where there was none
}

// dataDirStatus returns what the watch of the data directory found.
func (d *Daemon) dataDirStatus() DataDirStatus {
	w := &d.tamper
	w.mu.Lock()
	defer w.mu.Unlock()
	st := DataDirStatus{OK: len(w.problems) == 0, Problems: append([]string(nil), w.problems...), Found: w.found}
	if !w.since.IsZero() && !st.OK {
		since := w.since
		st.Since = &since
	}
	if !w.checked.IsZero() {
		checked := w.checked
		st.Checked = &checked
	}
	return st
}

// registerTamperMetric adds phalanx_data_dir_tampered to the daemon's
// registry.
func (d *Daemon) registerTamperMetric() {
	d.met.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_data_dir_tampered",
		Help: "1 while charter.yaml or fabric.secret in the data directory differ from what the member verified at start and changed itself since (the member keeps enforcing the verified charter), else 0."},
		func() float64 {
			if d.dataDirStatus().OK {
				return 0
			}
			return 1
		}))
}

// watchDataDir compares the data directory with what the member holds
// every tamperInterval until ctx ends.
func (d *Daemon) watchDataDir(ctx context.Context) {
	t := time.NewTicker(tamperInterval)
	defer t.Stop()
	for {
		d.checkTamper()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkTamper compares charter.yaml and fabric.secret with what the
// member verified and holds, records what differs and logs it.
func (d *Daemon) checkTamper() {
	probs := d.tamperProblems()
	now := d.now()
	w := &d.tamper
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checked = now
	switch {
	case len(probs) == 0 && len(w.problems) > 0:
		d.log.Info("the data directory matches what this member verified again", "was", strings.Join(w.problems, "; "))
		w.problems, w.since = nil, time.Time{}
	case len(probs) > 0:
		changed := strings.Join(probs, "\n") != strings.Join(w.problems, "\n")
		if len(w.problems) == 0 {
			w.since = now
			w.found++
		}
		w.problems = probs
		if changed || now.Sub(w.logged) >= tamperLogEvery {
			w.logged = now
			d.log.Error("the data directory was changed outside this member: it keeps enforcing the charter it verified; the next start refuses the changed files until they are restored",
				"problems", strings.Join(probs, "; "), "since", w.since)
		}
	}
}

// tamperProblems says how charter.yaml and fabric.secret differ from what
// the member holds. It holds amendMu while it reads the charter, so that
// the daemon's own amendments (which write the file under it) are never
// taken for tampering.
func (d *Daemon) tamperProblems() []string {
	var probs []string
	dir := d.opts.DataDir
	path := filepath.Join(dir, fileCharter)
	restore := "restore it with `phalanx charter restore --data " + dir + "`"
	if d.secret == "" {
		restore = "fix it before the next start (phalanx run --check)"
	}
	d.amendMu.Lock()
	data, err := os.ReadFile(path)
	cs := d.charter()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		probs = append(probs, fmt.Sprintf("%s was removed: %s", path, restore))
	case err != nil:
		probs = append(probs, fmt.Sprintf("%s cannot be read (%v): give it back to the daemon's user", path, unwrapPath(err)))
	default:
		sum := sha256.Sum256(data)
		if sum == d.tamper.okFile {
			break
		}
		c, err := charter.Parse(data)
		switch {
		case err != nil:
			probs = append(probs, fmt.Sprintf("%s was changed and no longer loads (%v): %s", path, err, restore))
		case d.secret == "":
			d.tamper.okFile = sum // a member alone edits its own charter; the next start applies it
		case c.Hash() != cs.hash && !d.ownEdit(&cs.c, &c):
			probs = append(probs, fmt.Sprintf("%s was changed outside the alliance's amendments: it hashes to %.12s (version %d), the charter in force is %.12s (version %d); changed: %s; %s",
				path, c.Hash(), c.Version, cs.hash, cs.c.Version, strings.Join(charterChanges(&cs.c, &c), "; "), restore))
		default:
			d.tamper.okFile = sum // the same charter, written differently
		}
	}
	d.amendMu.Unlock()
	secret, err := readRouteSecret(dir)
	secretPath := filepath.Join(dir, fileRouteSecret)
	switch {
	case err != nil:
		probs = append(probs, err.Error())
	case secret == d.secret:
	case secret == "":
		probs = append(probs, fmt.Sprintf("%s was removed: the next start refuses this data directory until it is back (restore it from a backup, or recreate it: `openssl rand -hex 32 > %s; chmod 600 %[1]s`)", secretPath, secretPath))
	case d.secret == "":
		probs = append(probs, fmt.Sprintf("%s appeared in the data directory of a member alone: remove it, or the next start runs this member as a multi-host alliance's", secretPath))
	default:
		probs = append(probs, fmt.Sprintf("%s was changed while the member runs (it only marks an alliance member; the member keeps its own)", secretPath))
	}
	return probs
}

// signedCharter is verifyDataDir for Check (not for a data directory that
// a --join replaces): its error, and what a start would say or do.
func (c *checker) signedCharter(joining bool) error {
	dir := c.opts.DataDir
	if joining || c.badMode[filepath.Join(dir, fileRouteSecret)] {
		return nil // replaced by the join; or New refuses the file's mode first
	}
	v, err := verifyDataDir(dir)
	switch {
	case err != nil:
		c.fail(err)
	case v.alone:
		c.warn(fmt.Errorf("charter %s is this member's own (it runs alone): nothing is signed for it; it was checked as a start checks it", filepath.Join(dir, fileCharter)))
	case v.ownEdit != nil:
		c.warn(fmt.Errorf("charter %s differs from the signed charter history, but this founder is still alone in its alliance: the next start takes it as the history's start (once a member joins, the charter changes only by amendments)",
			filepath.Join(dir, fileCharter)))
	case v.unsigned != nil:
		c.warn(fmt.Errorf("this alliance member keeps no signed charter history (%s): the next start takes the charter on disk (version %d, hash %.12s) as its start",
			filepath.Join(dir, fileCharterChain), v.unsigned.Version, v.unsigned.Hash()))
	}
	return err
}
