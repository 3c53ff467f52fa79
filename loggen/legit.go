package loggen

import "net/netip"

// failGap is the least time between a legitimate address's failed password
// attempt and the one two before it, so that no ten minutes (even after the
// printed times drop their milliseconds) hold more than two.
const failGap = 605_000

// legitAddr is an address legitimate users log in from.
type legitAddr struct {
	addr  netip.Addr
	seen  bool
	fails [2]int64 // times of the last two failed attempts, oldest first
	nfail int
}

// allow reports whether a failed attempt at t keeps the address within two
// failures in any ten minutes. Failures are planned in time order.
func (l *legitAddr) allow(t int64) bool {
	if l.nfail >= 1 && t < l.fails[1] {
		return false
	}
	return l.nfail < 2 || t-l.fails[0] >= failGap
}

func (l *legitAddr) record(t int64) {
	l.fails[0], l.fails[1] = l.fails[1], t
	l.nfail++
}

// legitUser is an account that really logs in.
type legitUser struct {
	name           string
	uid            int
	home           string
	key            string // "ED25519 SHA256:..." of its key
	addrs          []*legitAddr
	pwPct          int   // percent of log-ins by password (the rest by key)
	durMin, durMax int64 // session length, ms
	sudoMax        int   // sudo commands per session, at most
	weight         int
	interactive    bool
}

func (g *gen) setupLegit() {
	newAddr := func(a netip.Addr) *legitAddr {
		l := &legitAddr{addr: a}
		g.legit = append(g.legit, l)
		return l
	}
	v6 := func() netip.Addr { return inPrefix(g.public64(), g.randomIID()) }
	office := newAddr(g.publicV4())
	aliceHome := newAddr(g.publicV4())
	alicePhone := newAddr(v6())
	bobHome := newAddr(v6())
	vpn := newAddr(netip.AddrFrom4([4]byte{10, 8, 0, byte(2 + g.rng.IntN(250))}))
	ci := newAddr(g.publicV4())
	backup := newAddr(g.publicV4())

	const sec, minute, hour = 1000, 60_000, 3_600_000
	g.users = []*legitUser{
		{name: "alice", uid: 1000, addrs: []*legitAddr{aliceHome, office, alicePhone}, pwPct: 50, durMin: minute, durMax: 2 * hour, sudoMax: 3, weight: 12, interactive: true},
		{name: "bob", uid: 1001, addrs: []*legitAddr{office, bobHome, vpn}, pwPct: 20, durMin: minute, durMax: 3 * hour, sudoMax: 3, weight: 12, interactive: true},
		{name: "carol", uid: 1002, addrs: []*legitAddr{vpn}, pwPct: 80, durMin: 5 * minute, durMax: hour, sudoMax: 1, weight: 8, interactive: true},
		{name: "deploy", uid: 1003, addrs: []*legitAddr{ci}, durMin: 5 * sec, durMax: 90 * sec, weight: 25},
		{name: "git", uid: 1004, addrs: []*legitAddr{office, ci, aliceHome}, durMin: sec, durMax: 20 * sec, weight: 35},
		{name: "backup", uid: 1005, addrs: []*legitAddr{backup}, durMin: minute, durMax: 15 * minute, weight: 8},
	}
	g.valid = map[string]bool{"root": true}
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for _, u := range g.users {
		u.home = "/home/" + u.name
		k := []byte("ED25519 SHA256:")
		if u.name == "backup" {
			k = []byte("RSA SHA256:")
		}
		for range 43 {
			k = append(k, b64[g.rng.IntN(64)])
		}
		u.key = string(k)
		g.valid[u.name] = true
		g.userSum += u.weight
	}
}

// legitSpawner starts sessions so that legitimate sshd lines come at legitRate.
type legitSpawner struct{}

func (legitSpawner) step(g *gen) (int64, bool) {
	r := g.rng.IntN(g.userSum)
	u := g.users[0]
	for _, u = range g.users {
		if r < u.weight {
			break
		}
		r -= u.weight
	}
	lines := g.legitSession(u)
	return g.now + g.expMS(float64(lines)/legitRate*1000), true
}

// legitSession starts one log-in of u and returns how many sshd lines it
// will write.
func (g *gen) legitSession(u *legitUser) int {
	c := g.newConn()
	c.lu = u
	c.la = u.addrs[g.rng.IntN(len(u.addrs))]
	c.addr = c.la.addr
	c.user = u.name
	c.who = whoValid
	c.port = 32768 + g.rng.IntN(28232)
	sshd := 0

	password := g.rng.IntN(100) < u.pwPct
	mistakes := 0
	if password {
		switch r := g.rng.IntN(100); {
		case r < 7:
			mistakes = 1
		case r < 10:
			mistakes = 2
		}
	}
	dPam, dFail1, dFail2 := g.ms(300, 1500), g.ms(1800, 2600), g.ms(2500, 7000)
	if mistakes > 0 {
		if t := g.now + dPam + dFail1; c.la.allow(t) {
			c.la.record(t)
		} else {
			mistakes = 0
		}
	}
	if mistakes > 1 {
		if t := g.now + dPam + dFail1 + dFail2; c.la.allow(t) {
			c.la.record(t)
		} else {
			mistakes = 1
		}
	}
	accept := g.ms(200, 3000)
	if mistakes > 0 {
		c.add(opPamAuthFail, dPam)
		c.add(opFailedPw, dFail1)
		sshd += 2
		if mistakes > 1 {
			c.add(opFailedPw, dFail2)
			sshd++
		}
		accept = g.ms(2000, 8000)
	}
	if password {
		c.add(opAcceptedPw, accept)
	} else {
		c.add(opAcceptedKey, accept)
	}
	g.session++
	c.session = g.session
	c.tty = g.rng.IntN(6)
	c.add(opSessOpen, g.ms(1, 30))
	c.add(opLogindNew, g.ms(5, 60))
	c.add(opScopeStart, g.ms(1, 15))
	dur := g.ms(u.durMin, u.durMax)
	if u.sudoMax > 0 {
		n := g.rng.IntN(u.sudoMax + 1)
		for range n {
			d := g.ms(1000, dur/int64(n+1))
			hold := g.ms(50, 30_000)
			c.addArg(opSudo, uint8(g.rng.IntN(len(g.names.sudo))), d)
			c.add(opSudoOpen, g.ms(0, 5))
			c.add(opSudoClose, hold)
			dur -= d + hold
		}
	}
	c.add(opRecvDiscUser, max(dur, 100))
	c.add(opDisconnectedUser, g.ms(0, 3))
	c.add(opSessClose, g.ms(0, 10))
	c.add(opLogindOut, g.ms(0, 40))
	c.add(opLogindRemoved, g.ms(5, 300))
	c.add(opScopeDone, g.ms(0, 20))
	if u.interactive {
		c.cpuMS = g.ms(20, 90_000)
		c.add(opScopeCPU, 0)
	}
	sshd += 5
	g.start(c)
	return sshd
}
