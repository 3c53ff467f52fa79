package nft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"phalanx"
)

// Surviving a firewall reload: reloading Debian's nftables service runs
// `nft flush ruleset`, which deletes every table, ours included, and so
// lifts every ban. Watch looks at the ruleset's generation, which every
// transaction that changes the ruleset increments, and when it changed it
// checks that our table is whole (the table, its sets, its chains and
// their rules); when it is not, it tells the caller, and Restore makes the
// table whole and reloads the decisions in force.
//
// Watch does not listen to the kernel's nftables notifications: while a
// socket listens, the kernel builds a notification for every set element
// a transaction adds or deletes, which was two fifths of the kernel's work
// for the bans of a flood (and a tenth of a second of a 600,000-line
// flood's time to its last attacker, on two cores).

// watchPoll is how often Watch reads the ruleset's generation.
const watchPoll = 250 * time.Millisecond

// msgGetGen asks for the ruleset's generation; msgNewGen answers.
const (
	msgGetGen = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN
	msgNewGen = unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWGEN
)

// Watch calls changed when part of the enforcer's table is gone (a
// transaction removed the table, a chain, a rule or a set), within
// watchPoll of the transaction, and when it cannot tell, so that the
// caller checks with Restore. It returns when ctx ends or the enforcer is
// closed, or with an error when it cannot read the generation at all.
// The enforcer's own transactions change the generation too, and leave the
// table whole: they never call it.
func (e *Enforcer) Watch(ctx context.Context, changed func()) error {
	g, err := openSock(e.netns)
	if err != nil {
		return err
	}
	defer g.close()
	gen, err := g.generation()
	if err != nil {
		return fmt.Errorf("read the nftables ruleset generation: %w", err)
	}
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now, err := g.generation()
		if err != nil || now != gen {
			gen = now
			e.mu.Lock()
			closed := e.closed
			intact := false
			if !closed && err == nil {
				intact, err = e.intact()
			}
			e.mu.Unlock()
			if closed {
				return nil
			}
			if err != nil || !intact {
				changed()
			}
		}
		if e.looked != nil {
			e.looked(now)
		}
	}
}

// generation asks the kernel for the ruleset's generation.
func (s *sock) generation() (uint32, error) {
	seq := s.seq
	s.seq++
	var b []byte
	b = appendMsgHeader(b, msgGetGen, unix.NLM_F_REQUEST, seq)
	b = appendNfgen(b, unix.AF_UNSPEC, 0)
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	if err := unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, err
	}
	for {
		n, err := s.recv(replyTimeout)
		if err != nil {
			return 0, err
		}
		for m := range messages(s.buf[:n]) {
			if m.seq != seq {
				continue // an answer to an earlier question, too late
			}
			switch m.typ {
			case unix.NLMSG_ERROR:
				if errno, text := parseError(m); errno != 0 {
					return 0, &kernelError{errno: errno, what: "read the ruleset generation", msg: text}
				}
			case msgNewGen:
				if len(m.data) < 4 {
					return 0, errors.New("short generation message")
				}
				for a := range attrs(m.data[4:]) {
					if a.typ == unix.NFTA_GEN_ID && len(a.data) == 4 {
						return binary.BigEndian.Uint32(a.data), nil
					}
				}
				return 0, errors.New("generation message without its generation")
			}
		}
	}
}

// Restore makes the table whole again when part of it is gone: it
// re-creates what is missing (the whole table after a flush of the
// ruleset), then reloads the allowlist and all (the decisions in force),
// as Reconcile does. It reports whether anything was missing; an intact
// table is left alone.
func (e *Enforcer) Restore(all []phalanx.Decision, now time.Time) (bool, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return false, errors.New("nftables enforcer is closed")
	}
	intact, err := e.intact()
	if err != nil || intact {
		e.mu.Unlock()
		return false, err
	}
	_, err = e.setup()
	allow := e.allow
	e.mu.Unlock()
	if err != nil {
		return true, fmt.Errorf("restore nftables table inet %s: %w", e.table, err)
	}
	if err := e.SetAllow(allow); err != nil {
		return true, err
	}
	return true, e.Reconcile(all, now)
}

// intact reports whether the table is there with our sets, our chains and
// every rule of them.
func (e *Enforcer) intact() (bool, error) {
	tables, err := e.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == e.table }) {
		return false, nil
	}
	ok, _, err := e.compatible()
	if err != nil || !ok {
		return false, err
	}
	t := e.tableRef()
	for _, c := range e.chains() {
		got, err := e.conn.GetRules(t, c)
		if err != nil || len(got) != len(rules(t, c, nil)) {
			return false, nil // a missing chain, or rules flushed
		}
	}
	return true, nil
}
