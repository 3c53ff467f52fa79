package lapi

import (
	"strconv"
	"time"

	"phalanx/jsonout"

	"phalanx"
)

// Origin names as bouncers see them. Bouncers know CrowdSec's origins, and
// recent firewall bouncers keep one nftables set per origin named after it,
// so phalanx's origins are sent as the CrowdSec origin that means the same:
// a member's own detection is "crowdsec" (the local engine), an operator's
// decision "cscli", the alliance's decision "CAPI" (the community's shared
// decisions) and a subscribed blocklist "lists". The origins filter accepts
// these names and phalanx's own.
func originName(o phalanx.Origin) string {
	switch o {
	case phalanx.OriginSelf:
		return "crowdsec"
	case phalanx.OriginManual:
		return "cscli"
	case phalanx.OriginAlliance:
		return "CAPI"
	case phalanx.OriginFeed:
		return "lists"
	}
	return string(o)
}

// appendDecision appends d as CrowdSec's Decision object, fields in the
// order CrowdSec's generated model writes them:
//
//	{"duration":"3h54m42s","id":10643,"origin":"crowdsec","scenario":"…","scope":"Ip","type":"ban","until":"2025-01-01T04:00:00Z","value":"11.4.189.214"}
//
// duration is the time left at now in Go's duration format, in whole
// seconds rounded up (so an active decision never says "0s", which the
// firewall bouncer would turn into an element without timeout); it is
// negative for a decision that has ended, as CrowdSec sends it.
func appendDecision(b []byte, d *phalanx.Decision, now time.Time) []byte {
	b = append(b, `{"duration":"`...)
	b = appendSeconds(b, d.Until.Sub(now))
	b = append(b, `","id":`...)
	b = strconv.AppendUint(b, d.ID, 10)
	b = append(b, `,"origin":`...)
	b = jsonout.AppendString(b, originName(d.Origin))
	b = append(b, `,"scenario":`...)
	b = jsonout.AppendString(b, scenarioOf(d))
	b = append(b, `,"scope":"`...)
	b = append(b, d.Scope()...)
	b = append(b, `","type":`...)
	b = jsonout.AppendString(b, typeOf(d))
	b = append(b, `,"until":"`...)
	b = d.Until.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, `","value":"`...)
	if d.Value.IsSingleIP() {
		b = d.Value.Addr().AppendTo(b)
	} else {
		b = d.Value.AppendTo(b)
	}
	return append(b, `"}`...)
}

// scenarioOf is the decision's scenario, or its reason when it has none
// (an operator's decision), as cscli puts the reason there.
func scenarioOf(d *phalanx.Decision) string {
	if d.Scenario != "" {
		return d.Scenario
	}
	return d.Reason
}

func typeOf(d *phalanx.Decision) string {
	if d.Type == "" {
		return "ban"
	}
	return d.Type
}

// appendSeconds appends d rounded up to whole seconds as Go's
// time.Duration.String prints it: "0s", "59s", "1m0s", "3h54m42s", "-5s".
func appendSeconds(b []byte, d time.Duration) []byte {
	s := int64(d / time.Second)
	if d%time.Second > 0 {
		s++
	}
	if s == 0 {
		return append(b, "0s"...)
	}
	u := uint64(s)
	if s < 0 {
		b = append(b, '-')
		u = uint64(-s)
	}
	h, m, sec := u/3600, u/60%60, u%60
	if h > 0 {
		b = strconv.AppendUint(b, h, 10)
		b = append(b, 'h')
	}
	if h > 0 || m > 0 {
		b = strconv.AppendUint(b, m, 10)
		b = append(b, 'm')
	}
	b = strconv.AppendUint(b, sec, 10)
	return append(b, 's')
}
