package loggen

import "net/netip"

// style is how an attacker behaves.
type style uint8

const (
	styleRoot style = iota // fast bursts of password guesses for root
	styleDict              // fast bursts over a dictionary of common names
	styleEnum              // user enumeration: many distinct names, one try each
	styleSlow              // one try every few minutes, below burst thresholds
	styleScan              // protocol probes: kex, banners, early closes
	styleCount
)

// linesPerConn estimates the lines one connection of a style writes; the
// attack spawner uses it to keep the attack line rate steady.
func (s style) linesPerConn() float64 {
	switch s {
	case styleRoot:
		return 4.9
	case styleDict:
		return 7.6
	case styleEnum:
		return 4.8
	case styleSlow:
		return 4.5
	default:
		return 1.8
	}
}

// attacker is one attacking host.
type attacker struct {
	addr   netip.Addr   // its address, unless it rotates
	prefix netip.Prefix // its /64 when IPv6
	rotate bool         // a fresh address inside prefix for every connection
	style  style
	seen   bool // some written line named it
}

func (g *gen) setupAttackers(n int) {
	g.attackers = make([]*attacker, n)
	used := make(map[netip.Addr]bool, n)
	for i := range g.attackers {
		a := &attacker{style: g.pickStyle()}
		if g.rng.IntN(10) == 0 {
			for {
				a.prefix = g.public64()
				if !used[a.prefix.Addr()] && !g.isLegit(a.prefix.Addr()) {
					break
				}
			}
			used[a.prefix.Addr()] = true
			if g.rng.IntN(100) < 40 {
				a.rotate = true
				a.style = styleRoot + style(g.rng.IntN(2)) // rotators burst
			} else if g.rng.IntN(2) == 0 {
				a.addr = inPrefix(a.prefix, 1+g.rng.Uint64N(0xff)) // a server: ::1, ::2a
			} else {
				a.addr = inPrefix(a.prefix, g.randomIID())
			}
		} else {
			for {
				a.addr = g.freshV4()
				if !used[a.addr] {
					break
				}
			}
			used[a.addr] = true
		}
		g.attackers[i] = a
	}
	g.order = g.rng.Perm(n)
}

func (g *gen) pickStyle() style {
	switch r := g.rng.IntN(100); {
	case r < 30:
		return styleRoot
	case r < 55:
		return styleDict
	case r < 65:
		return styleEnum
	case r < 85:
		return styleSlow
	default:
		return styleScan
	}
}

// nextAttacker returns every attacker once, in random order, then random ones.
func (g *gen) nextAttacker() *attacker {
	i := g.campaigns
	g.campaigns++
	if i < len(g.order) {
		return g.attackers[g.order[i]]
	}
	return g.attackers[g.rng.IntN(len(g.attackers))]
}

// attackSpawner starts campaigns so that attack lines come at attackRate.
type attackSpawner struct{}

func (attackSpawner) step(g *gen) (int64, bool) {
	c := g.newCampaign(g.nextAttacker())
	g.push(g.now, c)
	lines := float64(c.k) * c.a.style.linesPerConn()
	return g.now + g.expMS(lines/attackRate*1000), true
}

// campaign is one attacker's run of connections.
type campaign struct {
	a       *attacker
	k, i    int   // connections in all, connections opened
	gapMin  int64 // ms between connections: gapMin plus an exponential of mean gapMean
	gapMean float64
	nameOff int    // where this enumeration starts in the stem list
	inject  int    // the connection that sends a log-injection name, or -1
	injName string // "admin from LEGIT port 22"
}

func (g *gen) newCampaign(a *attacker) *campaign {
	c := &campaign{a: a, inject: -1}
	switch a.style {
	case styleRoot:
		c.k, c.gapMin, c.gapMean = g.logUniform(3, 250), 200, 3000
	case styleDict:
		c.k, c.gapMin, c.gapMean = g.logUniform(3, 250), 300, 4000
	case styleEnum:
		c.k, c.gapMin, c.gapMean = g.logUniform(25, 250), 500, 6000
		c.nameOff = g.rng.IntN(len(g.names.enum))
		if g.rng.IntN(4) == 0 {
			// An attacker that tries to get someone else's address banned
			// by putting it in the user name.
			c.inject = g.rng.IntN(c.k)
			l := g.legit[g.rng.IntN(len(g.legit))]
			c.injName = g.names.dict[g.rng.IntN(len(g.names.dict))] + " from " + l.addr.String() + " port 22"
		}
	case styleSlow:
		c.k, c.gapMin, c.gapMean = 8+g.rng.IntN(33), 150_000, 200_000
	default:
		c.k, c.gapMin, c.gapMean = g.logUniform(1, 12), 2000, 60_000
	}
	return c
}

// logUniform returns an integer in [lo, hi] (lo >= 1) spread roughly evenly
// over orders of magnitude: a random octave [lo*2^o, lo*2^(o+1)), then a
// uniform value inside it.
func (g *gen) logUniform(lo, hi int) int {
	octaves := 0
	for v := lo; v*2 <= hi; v *= 2 {
		octaves++
	}
	a := lo << g.rng.IntN(octaves+1)
	b := min(2*a-1, hi)
	if a == lo<<octaves {
		b = hi // the last octave takes the rest
	}
	return a + g.rng.IntN(b-a+1)
}

func (c *campaign) step(g *gen) (int64, bool) {
	g.attackConn(c)
	c.i++
	if c.i >= c.k {
		return 0, false
	}
	gap := c.gapMin + g.expMS(c.gapMean)
	if c.a.style == styleSlow {
		gap = min(gap, 600_000) // one try every few minutes, never more than 4 in 10
	}
	return g.now + gap, true
}

// attackConn opens one attack connection now.
func (g *gen) attackConn(cp *campaign) {
	a := cp.a
	c := g.newConn()
	c.att = a
	c.port = 1024 + g.rng.IntN(64512)
	c.addr = a.addr
	if a.rotate {
		c.addr = inPrefix(a.prefix, g.randomIID())
	}
	switch a.style {
	case styleRoot:
		g.passwordScript(c, "root", g.burstAttempts())
	case styleDict:
		g.passwordScript(c, g.dictName(), g.burstAttempts())
	case styleEnum:
		name := g.names.enumName(cp.nameOff, cp.i)
		switch {
		case cp.i == cp.inject:
			name = cp.injName
		case g.rng.IntN(40) == 0:
			name = g.names.odd[g.rng.IntN(len(g.names.odd))]
		}
		attempts := 1
		if g.rng.IntN(4) == 0 {
			attempts = 0 // offers a key or nothing, then leaves
		}
		g.passwordScript(c, name, attempts)
	case styleSlow:
		user := "root"
		if g.rng.IntN(2) == 0 {
			user = g.dictName()
		}
		g.passwordScript(c, user, 1)
	default:
		g.probeScript(c)
	}
	g.start(c)
}

func (g *gen) dictName() string {
	if g.rng.IntN(100) < 15 {
		return "root"
	}
	// Common names come up more often: square a uniform draw.
	f := g.rng.Float64()
	return g.names.dict[int(f*f*float64(len(g.names.dict)))]
}

// burstAttempts draws the password attempts of one burst connection.
func (g *gen) burstAttempts() int {
	switch r := g.rng.IntN(100); {
	case r < 55:
		return 1
	case r < 75:
		return 2 + g.rng.IntN(4)
	case r < 88:
		return 6 // MaxAuthTries
	default:
		return 0
	}
}

// passwordScript fills c with a log-in attempt for user with attempts
// password tries, as sshd with PAM logs it.
func (g *gen) passwordScript(c *conn, user string, attempts int) {
	c.user = user
	c.who = whoInvalid
	if g.valid[user] {
		c.who = whoValid
	}
	c.attempts = attempts
	var d int64
	if c.who == whoInvalid {
		c.add(opInvalidUser, 0)
		d = g.ms(150, 1500)
	}
	if attempts == 0 {
		d += g.ms(100, 3000)
		if g.rng.IntN(3) == 0 {
			c.add(opByePreauth, d)
			c.add(opDisconnectedPreauth, g.ms(0, 2))
		} else {
			c.add(opClosedPreauth, d)
		}
		return
	}
	for i := range attempts {
		if c.who == whoInvalid {
			c.add(opCheckPass, d)
			d = 0
		}
		if i == 0 {
			c.add(opPamAuthFail, d)
			d = 0
		}
		c.add(opFailedPw, d+g.ms(1700, 2600)) // pam_faildelay
		d = g.ms(80, 1200)
	}
	if attempts >= 6 {
		c.add(opMaxAuth, d)
		c.add(opTooMany, g.ms(0, 3))
		c.add(opPamMore, g.ms(0, 20))
		c.add(opPamIgnore, 0)
		return
	}
	switch r := g.rng.IntN(100); {
	case r < 55:
		c.add(opByePreauth, d)
		c.add(opDisconnectedPreauth, g.ms(0, 2))
	case r < 90:
		c.add(opClosedPreauth, d)
	default:
		c.add(opResetPreauth, d)
	}
	if attempts > 1 {
		c.add(opPamMore, g.ms(0, 20))
	}
	if attempts > 3 {
		c.add(opPamIgnore, 0)
	}
}

// probeScript fills c with a scanner's connection that never tries a password.
func (g *gen) probeScript(c *conn) {
	c.who = whoNone
	switch r := g.rng.IntN(100); {
	case r < 20:
		c.arg = g.names.kex[g.rng.IntN(len(g.names.kex))]
		c.add(opKex, 0)
	case r < 28:
		c.arg = g.names.hostKey[g.rng.IntN(len(g.names.hostKey))]
		c.add(opHostKey, 0)
	case r < 48:
		if g.rng.IntN(5) == 0 {
			// A scanner that echoes the target: the host's own address in the text.
			c.arg = "MGLNDD_" + g.hostAddr.String() + "_22"
		} else {
			c.arg = g.names.garbage[g.rng.IntN(len(g.names.garbage))]
		}
		c.add(opIdentInvalid, 0)
		c.add(opBanner, g.ms(0, 2))
	case r < 68:
		c.add(opIdentClosed, 0)
		c.add(opClosedPlain, g.ms(0, 2))
	case r < 75:
		c.add(opIdentReset, 0)
		c.add(opResetPlain, g.ms(0, 2))
	case r < 90:
		c.add(opClosedPreauth, 0)
	case r < 97:
		c.add(opByePreauth, 0)
		c.add(opDisconnectedPreauth, g.ms(0, 2))
	default:
		c.add(opTimeout, 120_000) // LoginGraceTime
	}
}
