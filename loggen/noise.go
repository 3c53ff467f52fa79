package loggen

import "strconv"

// listener writes sshd's start-up lines, so the log opens at Config.Start.
type listener struct {
	pid   int
	phase int
}

func (l *listener) step(g *gen) (int64, bool) {
	b := g.begin("sshd", l.pid)
	if l.phase == 0 {
		b = append(b, "Server listening on 0.0.0.0 port 22."...)
	} else {
		b = append(b, "Server listening on :: port 22."...)
	}
	g.end(b)
	l.phase++
	return g.now, l.phase < 2
}

// kernelNoise writes firewall drop lines for port scans of other services.
type kernelNoise struct {
	mac string
}

// dports are ports that scanners knock on.
const dports = "23 445 3389 8080 5900 1433 3306 6379 8443 2375 9200 5555 81 8888 2323 25 110 143 5060 11211 7547 37215 60001 8000 9000"

func (k *kernelNoise) step(g *gen) (int64, bool) {
	if k.mac == "" {
		b := []byte("52:54:00")
		for range 3 {
			b = append(b, ':')
			b = appendHex2(b, byte(g.rng.IntN(256)))
		}
		k.mac = string(b) + ":fe:ff:ff:ff:ff:ff:08:00"
	}
	b := g.begin("kernel", -1)
	up := (g.bootSec*1000+g.now)*1000 + int64(g.rng.IntN(1000))
	b = append(b, '[')
	b = appendPad(b, up/1_000_000, 5, ' ')
	b = append(b, '.')
	b = appendPad(b, up%1_000_000, 6, '0')
	b = append(b, "] [UFW BLOCK] IN=eth0 OUT= MAC="...)
	b = append(b, k.mac...)
	b = append(b, " SRC="...)
	if g.rng.IntN(100) < 60 {
		b = g.scanners[g.rng.IntN(len(g.scanners))].AppendTo(b)
	} else {
		b = g.freshV4().AppendTo(b)
	}
	b = append(b, " DST="...)
	b = g.hostAddr.AppendTo(b)
	length := [3]int64{40, 44, 60}[g.rng.IntN(3)]
	b = append(b, " LEN="...)
	b = strconv.AppendInt(b, length, 10)
	b = append(b, " TOS=0x00 PREC=0x00 TTL="...)
	b = strconv.AppendInt(b, int64(30+g.rng.IntN(220)), 10)
	b = append(b, " ID="...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(65536)), 10)
	if length == 60 {
		b = append(b, " DF"...)
	}
	b = append(b, " PROTO=TCP SPT="...)
	b = strconv.AppendInt(b, int64(1024+g.rng.IntN(64512)), 10)
	b = append(b, " DPT="...)
	b = append(b, nthField(dports, g.rng.IntN(25))...)
	b = append(b, " WINDOW="...)
	b = strconv.AppendInt(b, [4]int64{1024, 65535, 29200, 14600}[g.rng.IntN(4)], 10)
	b = append(b, " RES=0x00 SYN URGP=0"...)
	g.end(b)
	return g.now + g.expMS(1000/kernelRate), true
}

// nthField returns the n-th space-separated field of s.
func nthField(s string, n int) string {
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if n == 0 {
				return s[start:i]
			}
			n--
			start = i + 1
		}
	}
	return s[start:]
}

func appendHex2(b []byte, v byte) []byte {
	const hex = "0123456789abcdef"
	return append(b, hex[v>>4], hex[v&15])
}

// periodic is a cron job or a systemd timer's service, run on a wall-clock
// schedule: every period minutes, at offset minutes into the period.
type periodic struct {
	cron           bool
	period, offset int64 // minutes; local time
	user           string
	uid            int
	cmd            string // cron: the command
	unit, desc     string // systemd: the unit and its description
	durMin, durMax int64  // ms
	phase          int
	pid            int
}

func periodicJobs(g *gen) []*periodic {
	const sec, minute = 1000, 60_000
	cron := func(period, offset int64, user string, uid int, cmd string, durMin, durMax int64) *periodic {
		return &periodic{cron: true, period: period, offset: offset, user: user, uid: uid, cmd: cmd, durMin: durMin, durMax: durMax}
	}
	unit := func(period, offset int64, unit, desc string, durMin, durMax int64) *periodic {
		return &periodic{period: period, offset: offset, unit: unit, desc: desc, durMin: durMin, durMax: durMax}
	}
	return []*periodic{
		cron(1, 0, "root", 0, "/usr/local/sbin/check-disk >/dev/null 2>&1", 200, 2*sec),
		cron(5, 0, "alice", 1000, "/home/alice/bin/sync-mail >/dev/null 2>&1", sec, 20*sec),
		cron(10, 5, "root", 0, "command -v debian-sa1 > /dev/null && debian-sa1 1 1", 100, 1500),
		cron(30, 9, "root", 0, "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi", 50, 500),
		cron(60, 17, "root", 0, "cd / && run-parts --report /etc/cron.hourly", 100, 3*sec),
		cron(1440, 6*60+25, "root", 0, "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }", sec, 30*sec),
		cron(1440, 23*60+59, "root", 0, "command -v debian-sa1 > /dev/null && debian-sa1 60 2", 2*minute, 2*minute+5*sec),
		cron(1440, 3*60+10, "root", 0, "/usr/local/bin/backup-db.sh", 30*sec, 10*minute),
		unit(10, 0, "sysstat-collect.service", "system activity accounting tool", 50, 800),
		unit(30, 9, "phpsessionclean.service", "Clean php session files", 100, 900),
		unit(720, 6*60+13, "apt-daily.service", "Daily apt download activities", 2*sec, 40*sec),
		unit(1440, 6*60+41, "apt-daily-upgrade.service", "Daily apt upgrade and clean activities", 5*sec, 90*sec),
		unit(1440, 0, "logrotate.service", "Rotate log files", 500, 5*sec),
		unit(1440, 15, "man-db.service", "Daily man-db regeneration", sec, 30*sec),
		unit(1440, 10*60+2, "systemd-tmpfiles-clean.service", "Cleanup of Temporary Directories", 50, 500),
		unit(1440, 0, "dpkg-db-backup.service", "Daily dpkg database backup service", 100, 2*sec),
	}
}

// nextRun returns the first scheduled time after the minute that holds t.
func (p *periodic) nextRun(g *gen, t int64) int64 {
	local := g.baseSec + t/1000 + g.zoneOff
	m := local / 60
	if local < 0 && local%60 != 0 {
		m-- // floor
	}
	m++
	m += ((p.offset-m)%p.period + p.period) % p.period
	jitter := g.ms(0, 900)
	if !p.cron {
		jitter = g.ms(0, 30_000) // timers have a randomized delay
	}
	return (m*60-g.zoneOff-g.baseSec)*1000 + jitter
}

func (p *periodic) step(g *gen) (int64, bool) {
	var b []byte
	next := g.now
	if p.cron {
		if p.phase == 0 {
			p.pid = g.nextPID()
		}
		b = g.begin("CRON", p.pid)
		switch p.phase {
		case 0:
			b = append(b, "pam_unix(cron:session): session opened for user "...)
			b = append(b, p.user...)
			b = append(b, "(uid="...)
			b = strconv.AppendInt(b, int64(p.uid), 10)
			b = append(b, ") by (uid=0)"...)
			next += g.ms(0, 3)
		case 1:
			b = append(b, '(')
			b = append(b, p.user...)
			b = append(b, ") CMD ("...)
			b = append(b, p.cmd...)
			b = append(b, ')')
			next += g.ms(p.durMin, p.durMax)
		default:
			b = append(b, "pam_unix(cron:session): session closed for user "...)
			b = append(b, p.user...)
		}
	} else {
		b = g.begin("systemd", 1)
		switch p.phase {
		case 0:
			b = append(b, "Starting "...)
			b = append(b, p.unit...)
			b = append(b, " - "...)
			b = append(b, p.desc...)
			b = append(b, "..."...)
			next += g.ms(p.durMin, p.durMax)
		case 1:
			b = append(b, p.unit...)
			b = append(b, ": Deactivated successfully."...)
			next += g.ms(0, 3)
		default:
			b = append(b, "Finished "...)
			b = append(b, p.unit...)
			b = append(b, " - "...)
			b = append(b, p.desc...)
			b = append(b, '.')
		}
	}
	g.end(b)
	p.phase++
	if p.phase == 3 {
		p.phase = 0
		next = p.nextRun(g, g.now)
	}
	return next, true
}
