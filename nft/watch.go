package nft

import (
	"context"
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
// lifts every ban. Watch listens to the kernel's nftables notifications and
// tells the caller when a transaction removed part of our table (the
// table, a chain, a rule or a set); Restore then makes the table whole and
// reloads the decisions in force.

// watchPoll bounds how long Watch waits for a notification before it looks
// at its context again.
const watchPoll = 250 * time.Millisecond

// removes reports whether a notification message removed part of table.
func removes(m nlmsg, table string) bool {
	if m.typ>>8 != unix.NFNL_SUBSYS_NFTABLES || len(m.data) < 4 {
		return false
	}
	switch m.typ & 0xff {
	case unix.NFT_MSG_DELTABLE, unix.NFT_MSG_DELCHAIN, unix.NFT_MSG_DELRULE, unix.NFT_MSG_DELSET:
	default:
		return false
	}
	if m.data[0] != unix.NFPROTO_INET {
		return false
	}
	// The table's name is attribute 1 of each of these messages
	// (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE).
	for a := range attrs(m.data[4:]) {
		if a.typ == 1 {
			name := a.data
			if i := slices.Index(name, 0); i >= 0 {
				name = name[:i]
			}
			return string(name) == table
		}
	}
	return false
}

// Watch calls changed after every nftables transaction that removed part
// of the enforcer's table, and when notifications were lost (the socket
// overflowed), so that the caller checks with Restore. It returns when ctx
// ends, or with an error when it cannot listen. Our own changes to set
// elements are not removals and never call it; the table is only ever
// removed by Remove, after which the caller stops watching.
func (e *Enforcer) Watch(ctx context.Context, changed func()) error {
	fd, err := socketIn(e.netns)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.NFNLGRP_NFTABLES - 1)}); err != nil {
		return fmt.Errorf("listen to nftables notifications: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBuf)
	}
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(watchPoll/time.Millisecond)); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for nftables notifications: %w", err)
		}
		hit := false
		for {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if errors.Is(err, unix.ENOBUFS) {
				hit = true // notifications were lost: check
				continue
			}
			if err != nil {
				break // EAGAIN: read them all
			}
			for m := range messages(buf[:n]) {
				hit = hit || removes(m, e.table)
			}
		}
		if hit && ctx.Err() == nil {
			changed()
		}
	}
	return nil
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
