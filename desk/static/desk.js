// The alert list, live: each new alert event from /api/stream (server-sent events) updates
// or prepends its row. Rows are built with textContent only (no HTML from events).
"use strict";
(function () {
  const table = document.getElementById("alerts");
  if (!table || !window.EventSource) return;
  const TYPES = {group_dispute: "群体纠纷", concentrated_demand: "集中诉求", abnormal_complainant: "异常投诉人",
    abnormal_firm: "异常经营者", term_surge: "热词突增", subscription_match: "订阅命中"};
  const SEV = {info: "一般", warning: "较重", critical: "严重"};
  const STATUS = {open: "新预警", update: "升级/更新", resolved: "已解除"};
  const filters = new URLSearchParams(table.dataset.filters || "");
  const live = document.getElementById("live");
  const districts = JSON.parse(table.dataset.districts || "{}");
  if (filters.get("offset") && filters.get("offset") !== "0") return;  // only the first page moves

  function wanted(a) {
    for (const f of ["type", "severity", "status"]) {
      if (filters.get(f) && filters.get(f) !== a[f]) return false;
    }
    if (filters.get("district") && filters.get("district") !== a.district_code) return false;
    const text = [a.subject.label, a.subject.key, a.summary, (a.top_terms || []).join(" ")].join("\n").toLowerCase();
    if (filters.get("q") && !text.includes(filters.get("q").toLowerCase())) return false;
    const subject = (a.subject.label + "\n" + a.subject.key).toLowerCase();
    if (filters.get("subject") && !subject.includes(filters.get("subject").toLowerCase())) return false;
    return true;
  }

  function localTime(s) {
    const d = new Date(new Date(s).getTime() + 8 * 3600 * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  }

  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }

  function row(a) {
    const tr = document.createElement("tr");
    tr.className = "sev-" + a.severity + " fresh";
    tr.dataset.id = a.alert_id;
    cell(tr, localTime(a.raised_at));
    const badge = document.createElement("span");
    badge.className = "badge sev-" + a.severity; badge.textContent = SEV[a.severity] || a.severity;
    cell(tr, "").appendChild(badge);
    cell(tr, TYPES[a.type] || a.type);
    cell(tr, STATUS[a.status] || a.status);
    const link = document.createElement("a");
    link.href = "/alerts/" + encodeURIComponent(a.alert_id); link.textContent = a.subject.label;
    cell(tr, "").appendChild(link);
    cell(tr, a.district_code ? (districts[a.district_code] || a.district_code) : "—");
    cell(tr, `${a.distinct_complainants} / ${a.observed}（${a.expected}）`);
    cell(tr, a.summary).className = "summary";
    return tr;
  }

  const source = new EventSource("/api/stream");
  source.onopen = () => { live.textContent = "实时更新中"; live.classList.remove("off"); };
  source.onerror = () => { live.textContent = "实时连接中断，重连中…"; live.classList.add("off"); };
  source.addEventListener("alert", (msg) => {
    const a = JSON.parse(msg.data);
    if (!wanted(a)) return;
    const body = table.tBodies[0];
    const old = body.querySelector(`tr[data-id="${CSS.escape(a.alert_id)}"]`);
    if (old) old.remove();
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    body.insertBefore(row(a), body.firstChild);
  });
})();
