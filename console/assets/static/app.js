// The console's one script: it keeps the live view current from the
// server-sent event stream. It builds rows with textContent only: every
// field may be attacker-written.
"use strict";
(function () {
  var table = document.getElementById("live");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var state = document.getElementById("stream-state");

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    if (text !== undefined) { td.textContent = text; }
    tr.appendChild(td);
    return td;
  }

  function render(r) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-value", r.value);
    tr.className = "state-" + r.state + " fresh";
    var val = cell(tr, undefined, "val");
    var a = document.createElement("a");
    a.href = "/ui/explain?addr=" + encodeURIComponent(r.value);
    a.textContent = r.value;
    val.appendChild(a);
    var st = cell(tr, r.state, "state");
    if (r.note) {
      var n = document.createElement("span");
      n.className = "note";
      n.textContent = " " + r.note;
      st.appendChild(n);
    }
    cell(tr, r.scenario);
    cell(tr, r.service);
    cell(tr, r.origin);
    cell(tr, "on " + r.detected_on + " at " + r.detected, "det");
    var hops = cell(tr, undefined, "hops");
    (r.hops || []).forEach(function (h) {
      var s = document.createElement("span");
      s.className = "hop";
      s.setAttribute("data-member", h.member);
      s.textContent = h.name + " " + h.after + " ";
      var l = document.createElement("small");
      l.textContent = h.layer;
      s.appendChild(l);
      hops.appendChild(s);
      hops.appendChild(document.createTextNode(" "));
    });
    // This member's bouncers: pulled the ban yet, or at their next pull.
    (r.pulls || []).forEach(function (p) {
      var s = document.createElement("span");
      s.className = p.pulled ? "pull pulled" : "pull";
      s.setAttribute("data-bouncer", p.bouncer);
      s.textContent = (p.bouncer ? "bouncer " + p.bouncer + " " : "") + p.text;
      hops.appendChild(s);
      hops.appendChild(document.createTextNode(" "));
    });
    var ev = cell(tr, undefined, "ev");
    if (r.evidence && r.evidence.length) {
      var d = document.createElement("details");
      var sum = document.createElement("summary");
      sum.textContent = r.evidence.length + " line(s)";
      var pre = document.createElement("pre");
      pre.textContent = r.evidence.join("\n");
      d.appendChild(sum);
      d.appendChild(pre);
      ev.appendChild(d);
    }
    return tr;
  }

  function upsert(r) {
    var old = null;
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute("data-value") === r.value) { old = body.rows[i]; break; }
    }
    var tr = render(r);
    if (old) { body.removeChild(old); }
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 200) { body.removeChild(body.lastChild); }
    var empty = document.getElementById("empty");
    if (empty) { empty.remove(); }
  }

  var es = new EventSource(table.getAttribute("data-stream"));
  es.addEventListener("open", function () { state.textContent = "live"; state.className = "stream up"; });
  es.addEventListener("error", function () { state.textContent = "reconnecting…"; state.className = "stream"; });
  es.addEventListener("row", function (ev) {
    try { upsert(JSON.parse(ev.data)); } catch (e) { /* a malformed event changes nothing */ }
  });
})();
