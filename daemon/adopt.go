package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"phalanx/charter"
	"phalanx/dirlock"
	"phalanx/identity"
)

// A plain member — `phalanx run` with no alliance — keeps a one-member
// charter and a report stream of its own. Founding an alliance on its data
// directory (alliance init) or joining one with it (run --join) keeps what
// is the member's (its identity, hence its member ID; its outbox, hence its
// own bans, which restoreSelfBans makes again at the next start; its
// bouncer keys, admin token and tail positions) and moves aside what
// belonged to the member alone: its stream and its charter. Nothing is
// deleted: the moved files keep a suffix naming the time, for the operator
// to look at or remove.

// errAllianceMember is plainCharter's error for a data directory that
// belongs to a multi-host alliance.
var errAllianceMember = errors.New("already holds a member of a multi-host alliance")

// plainCharter returns the charter of the plain member in dir, and whether
// dir holds one: a member that has run (a charter or a stream exists)
// without ever belonging to an alliance. err says why a directory that has
// run is not a plain member's (it belongs to an alliance, or its charter
// lists someone else), or that its daemon is running.
func plainCharter(dir string) (c charter.Charter, plain bool, err error) {
	ran := false
	for _, f := range []string{fileCharter, dirFabric} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			ran = true
		}
	}
	if !ran {
		return c, false, nil
	}
	if secret, err := readRouteSecret(dir); err != nil || secret != "" {
		if err != nil {
			return c, false, err
		}
		return c, false, fmt.Errorf("%s: %w: use a new data directory (--data DIR)", dir, errAllianceMember)
	}
	if _, err := os.Stat(filepath.Join(dir, fileIdentity)); err != nil {
		return c, false, fmt.Errorf("%s has a charter or a stream but no identity (%s): use a new data directory (--data DIR)", dir, fileIdentity)
	}
	id, _, err := identity.LoadOrCreate(filepath.Join(dir, fileIdentity))
	if err != nil {
		return c, false, fmt.Errorf("identity: %w", err)
	}
	c, err = charter.Load(filepath.Join(dir, fileCharter))
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A stream without a charter: the member stopped before writing
		// it, or it was removed. Its own settings are then the defaults.
		c = charter.Default("plain", charter.NewMember("", id.Public))
	case err != nil:
		return c, false, fmt.Errorf("%s: %w", filepath.Join(dir, fileCharter), err)
	case len(c.Members) != 1 || c.Members[0].ID != id.ID:
		return c, false, fmt.Errorf("the charter in %s lists %d members, not this member alone: it is not a plain member's; use a new data directory (--data DIR)", dir, len(c.Members))
	}
	if err := notRunning(dir); err != nil {
		return c, false, err
	}
	return c, true, nil
}

// notRunning fails when a daemon runs on dir.
func notRunning(dir string) error {
	runs, err := daemonRuns(dir)
	if err != nil {
		return fmt.Errorf("check that no phalanx runs with %s: %w", dir, err)
	}
	if runs {
		return fmt.Errorf("a phalanx runs with data directory %s: stop it first (systemctl stop phalanx), then try again, then start it", dir)
	}
	return nil
}

// daemonRuns reports whether a daemon runs on dir: it holds the outbox's
// lock (see package outbox) for as long as it runs.
func daemonRuns(dir string) (bool, error) {
	lock := filepath.Join(dir, dirOutbox, "outbox.lock")
	if _, err := os.Stat(filepath.Dir(lock)); err != nil {
		return false, nil
	}
	unlock, err := dirlock.TryLock(lock)
	if errors.Is(err, dirlock.ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, unlock()
}

// moveAside moves the plain member's stream and charter in dir aside,
// suffixed with now, telling moved (when not nil) of each new name.
func moveAside(dir string, now time.Time, moved func(path string)) error {
	suffix := ".plain-" + now.UTC().Format("20060102T150405Z")
	for _, f := range []string{dirFabric, fileCharter, fileCharterHistory} { // what an alliance member gets anew
		from := filepath.Join(dir, f)
		if _, err := os.Lstat(from); errors.Is(err, os.ErrNotExist) {
			continue
		}
		to := from + suffix
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("move the plain member's %s aside: %w", f, err)
		}
		if moved != nil {
			moved(to)
		}
	}
	return nil
}
