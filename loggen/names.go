package loggen

import (
	"strconv"
	"strings"
)

// names holds the word lists a run draws from. They are built per run from
// constant text so that the package keeps no mutable state.
type names struct {
	dict    []string // what dictionary attacks try, most common first
	enum    []string // stems user enumerators combine with suffixes
	odd     []string // names that trip naive parsers
	sudo    []string // commands legitimate users run with sudo
	kex     []string // key exchange offers of old or odd clients
	hostKey []string // host key offers of old clients
	garbage []string // non-SSH first lines sent to port 22, as sshd escapes them
}

const (
	dictText = "admin|test|user|ubuntu|oracle|postgres|ftpuser|guest|pi|support|git|deploy|" +
		"mysql|dev|jenkins|hadoop|centos|ec2-user|debian|server|www|web|ftp|test1|" +
		"user1|administrator|sa|operator|minecraft|steam|nagios|zabbix|ansible|vagrant|" +
		"es|elastic|kafka|redis|postgres1|tomcat|docker|sol|solana|node|validator|" +
		"teamspeak|ts3|gpadmin|hduser|student|backup|odoo|testuser|demo|info|sales"
	enumText = "alex|anna|maria|john|david|michael|daniel|chris|sam|tom|paul|peter|" +
		"mark|james|robert|linda|susan|kevin|jason|ryan|eric|nick|adam|ben|" +
		"office|sales|billing|account|manager|staff|public|service|system|monitor|" +
		"apache|nginx|httpd|php|wordpress|wp|joomla|magento|gitlab|git-user|svn|" +
		"cisco|ubnt|admin1|root1|guest1|support1|usuario|prueba|temp|tmp|cron|mail"
	oddText = "| |$(reboot)|root;id|../../etc/passwd|admin\\033[2J|0|-|Admin|ROOT|" +
		"user@example|\\001\\002|a b|%n%n%n"
	sudoText = "/usr/bin/systemctl restart nginx|/usr/bin/apt update|/usr/bin/apt upgrade -y|" +
		"/usr/bin/journalctl -u nginx -n 100|/usr/bin/tail -f /var/log/nginx/error.log|" +
		"/usr/sbin/ufw status|/usr/bin/docker ps|/usr/bin/less /var/log/auth.log|" +
		"/usr/bin/vim /etc/ssh/sshd_config|/usr/bin/systemctl status phalanx|/usr/bin/df -h"
	kexText = "diffie-hellman-group1-sha1|" +
		"diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1|" +
		"diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha1|" +
		"diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp256,ecdh-sha2-nistp384"
	hostKeyText = "ssh-rsa,ssh-dss|ssh-dss|ssh-rsa"
	garbageText = "GET / HTTP/1.1|\\026\\003\\001|SSH-2.0|\\003|" +
		"OPTIONS / RTSP/1.0|HELP|\\015|" +
		"GET /.env HTTP/1.1|\\026\\003\\001\\002"
)

func newNames() names {
	split := func(s string) []string { return strings.Split(s, "|") }
	return names{
		dict:    split(dictText),
		enum:    split(enumText),
		odd:     split(oddText),
		sudo:    split(sudoText),
		kex:     split(kexText),
		hostKey: split(hostKeyText),
		garbage: split(garbageText),
	}
}

// enumName returns the i-th name of an enumeration that starts at stem off:
// distinct for every i of one enumeration.
func (n *names) enumName(off, i int) string {
	stem := n.enum[(off+i)%len(n.enum)]
	switch round := i / len(n.enum); round {
	case 0:
		return stem
	case 1:
		return stem + "1"
	case 2:
		return stem + "123"
	case 3:
		return stem + "01"
	default:
		return stem + strconv.Itoa(round+2020)
	}
}
