// The Joulie plan page: reads the /plan JSON from the URL it was served at and renders it.
//
// Keys read (the /plan JSON, docs/extender.md):
//   policy, policyReason, generatedAt (unix s), targetPerformance, assumedPods,
//   demand {performance, eco, general, performancePending},
//   performanceFloor {nodes, until (unix s), reason} | null,
//   nodes [{name, profile, draining, state, capWatts, performancePods, reason, controls}],
//   skipped [{name, reason}]; with ?node=: unmanagedNodes [{name, reason}], unknownNodes [name].
// Power budgets and facility telemetry, optional: each section, column and fact appears only
// when the JSON carries it, so the page works before and after they exist:
//   budgets [{name, limitWatts, measuredWatts, headroomWatts, state,
//             racks [{rackId, powerWatts, temperature, stage (0 normal, 1 no new eco/general
//             work, 2 eco capped, 3 all capped)}]}]
//   per node: measuredWatts, budgetShareWatts, inletTempC, and budget {policy, reason, ...}
//   (what the budget did to the node, shown after its reason);
//   per budget also: nodes (how many it governs), message.
//
// Everything from the cluster is written with textContent, never parsed as markup, and the
// page's Content-Security-Policy runs only this script: a node or pod name cannot become code.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const PROFILE_RANK = { performance: 0, eco: 1 };
  // A rack's thermal stage (PowerCappingPolicy status.racks[].stage).
  const RACK_STAGES = ["normal", "no new eco/general work", "eco capped", "all capped"];

  const COLUMNS = [
    { key: "name", label: "Node", kind: "text" },
    { key: "profile", label: "Profile", kind: "text", cls: (n) => "profile-" + n.profile },
    { key: "draining", label: "Draining", kind: "bool", cls: (n) => "draining-" + Boolean(n.draining) },
    { key: "state", label: "Guard state", kind: "text" },
    { key: "capWatts", label: "CPU cap (W)", kind: "number" },
    { key: "controls", label: "Node controls", kind: "text", value: (n) => describeControls(n.controls) },
    { key: "performancePods", label: "Perf. pods", kind: "number" },
    { key: "measuredWatts", label: "Measured (W)", kind: "number", optional: true },
    { key: "budgetShareWatts", label: "Budget share (W)", kind: "number", optional: true },
    { key: "inletTempC", label: "Inlet (°C)", kind: "number", optional: true },
    { key: "reason", label: "Reason", kind: "text", value: (n) => nodeReason(n), title: (n) => fullReason(n) },
  ];

  // ------------------------------------------------------------------ state (kept in the hash)

  const view = { name: "", profile: "", state: "", sort: "name", desc: false, every: 5, paused: false };
  let plan = null; // the last JSON that rendered
  let columns = [];
  let fetchedAt = 0;
  let timer = 0;
  let loading = false;
  let refreshes = 0;

  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    view.name = h.get("name") || "";
    view.profile = h.get("profile") || "";
    view.state = h.get("state") || "";
    view.sort = COLUMNS.some((c) => c.key === h.get("sort")) ? h.get("sort") : "name";
    view.desc = h.get("desc") === "1";
    const every = Number(h.get("every"));
    view.every = [1, 2, 5, 10, 30].includes(every) ? every : 5;
    view.paused = h.get("paused") === "1";
  }

  function writeHash() {
    const h = new URLSearchParams();
    if (view.name) h.set("name", view.name);
    if (view.profile) h.set("profile", view.profile);
    if (view.state) h.set("state", view.state);
    if (view.sort !== "name") h.set("sort", view.sort);
    if (view.desc) h.set("desc", "1");
    if (view.every !== 5) h.set("every", String(view.every));
    if (view.paused) h.set("paused", "1");
    const text = h.toString();
    history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
  }

  // ------------------------------------------------------------------ formatting

  function num(v) {
    if (typeof v !== "number" || !Number.isFinite(v)) return "";
    return Number.isInteger(v) ? String(v) : String(Math.round(v * 10) / 10);
  }

  function watts(v) {
    if (typeof v !== "number" || !Number.isFinite(v)) return "unknown";
    if (Math.abs(v) >= 10000) return (v / 1000).toFixed(1) + " kW";
    return Math.round(v) + " W";
  }

  function clock(unix) {
    return new Date(unix * 1000).toLocaleTimeString();
  }

  function span(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return s + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return Math.round(s / 3600) + " h";
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  // Mirrors CpuControls.describe() (labeller/templates.py): "epp=balance_power uncore=0- %".
  function describeRange(r) {
    if (r.minPct != null || r.maxPct != null) return (r.minPct ?? "") + "-" + (r.maxPct ?? "") + " %";
    return (r.minMHz ?? "") + "-" + (r.maxMHz ?? "") + " MHz";
  }

  function describeControls(c) {
    if (!c || typeof c !== "object") return "-";
    const parts = [];
    for (const name of ["governor", "epp", "frequency", "cstates", "uncore"]) {
      const v = c[name];
      if (v == null) continue;
      let described;
      if (name === "frequency" || name === "uncore") {
        described = describeRange(v);
      } else if (name === "cstates") {
        const states = Object.keys(v.names || {})
          .sort()
          .map((k) => k + "=" + (v.names[k] ? "on" : "off"));
        if (v.maxLatencyUs != null) states.push("<=" + v.maxLatencyUs + "us");
        described = states.join(",");
      } else {
        described = String(v);
      }
      parts.push(name + "=" + described);
    }
    return parts.join(" ") || "-";
  }

  function rackStage(stage) {
    if (stage == null) return "";
    return Number.isInteger(stage) && RACK_STAGES[stage] ? stage + " (" + RACK_STAGES[stage] + ")" : String(stage);
  }

  // What a power budget did to the node, when one governs it.
  function budgetNote(n) {
    const b = n.budget;
    return b && typeof b === "object" && b.reason ? "budget " + (b.policy || "") + ": " + b.reason : "";
  }

  // A node's reason repeats the policy's first ("policy...; kept (rank 2/7)"): show its own part.
  function nodeReason(n) {
    const text = String(n.reason || "");
    const prefix = plan && plan.policyReason ? plan.policyReason + "; " : null;
    const own = prefix && text.startsWith(prefix) ? text.slice(prefix.length) : text;
    const note = budgetNote(n);
    return note ? own + "; " + note : own;
  }

  function fullReason(n) {
    const note = budgetNote(n);
    return String(n.reason || "") + (note ? "\n" + note : "");
  }

  function cellText(col, n) {
    if (col.value) return col.value(n);
    const v = n[col.key];
    if (col.kind === "number") return num(v);
    if (col.kind === "bool") return v ? "yes" : "no";
    return v == null ? "" : String(v);
  }

  // ------------------------------------------------------------------ summary, budgets, unmanaged

  function renderSummary(p) {
    const nodes = p.nodes || [];
    const d = p.demand || {};
    $("policy").textContent = p.policy || "?";
    $("target").textContent =
      p.targetPerformance + " of " + plural(nodes.length, "managed node") + " performance";
    $("policy-reason").textContent = p.policyReason || "";
    $("demand").textContent =
      (d.performance ?? 0) + " performance (" + (d.performancePending ?? 0) + " pending) · " +
      (d.eco ?? 0) + " eco · " + (d.general ?? 0) + " general pods";
    const f = p.performanceFloor;
    $("floor").textContent = f
      ? "at least " + plural(f.nodes, "performance node") + " until " + clock(f.until) +
        " (" + span(f.until - Date.now() / 1000) + " left): " + f.reason
      : "none";
    const count = (pred) => nodes.filter(pred).length;
    $("node-counts").textContent =
      count((n) => n.profile === "performance") + " performance (" + count((n) => n.draining) + " draining), " +
      count((n) => n.profile === "eco") + " eco; " + plural((p.skipped || []).length, "node") + " not managed now";
    const measured = nodes.filter((n) => typeof n.measuredWatts === "number");
    $("measured-total-row").hidden = measured.length === 0;
    if (measured.length) {
      const total = measured.reduce((a, n) => a + n.measuredWatts, 0);
      $("measured-total").textContent = watts(total) + " over " + measured.length + " of " + plural(nodes.length, "node");
    }
    $("assumed-row").hidden = typeof p.assumedPods !== "number";
    $("assumed").textContent = String(p.assumedPods ?? "");
    $("summary").hidden = false;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function renderBudgets(p) {
    const list = $("budget-list");
    const budgets = Array.isArray(p.budgets) ? p.budgets : [];
    $("budgets").hidden = budgets.length === 0;
    const out = [];
    for (const b of budgets) {
      const card = el("article", null, "budget");
      card.dataset.budget = b.name;
      const title = el("h3", b.name || "(unnamed)");
      if (b.state) title.append(el("span", b.state, "badge"));
      card.append(title);
      card.append(
        el(
          "p",
          "measured " + watts(b.measuredWatts) + " of " + watts(b.limitWatts) + " limit, headroom " +
            watts(b.headroomWatts) + (typeof b.nodes === "number" ? ", over " + plural(b.nodes, "node") : ""),
          "budget-line",
        ),
      );
      if (b.message) card.append(el("p", b.message, "reason"));
      if (typeof b.limitWatts === "number" && b.limitWatts > 0 && typeof b.measuredWatts === "number") {
        const m = document.createElement("meter");
        m.min = 0;
        m.max = b.limitWatts;
        m.low = b.limitWatts * 0.8;
        m.high = b.limitWatts * 0.95;
        m.optimum = 0;
        m.value = b.measuredWatts;
        m.title = watts(b.measuredWatts) + " of " + watts(b.limitWatts);
        card.append(m);
      }
      const racks = Array.isArray(b.racks) ? b.racks : [];
      if (racks.length) {
        const table = el("table", null, "racks");
        const head = el("tr");
        for (const [label, numeric] of [["Rack", false], ["Power (W)", true], ["Temperature (°C)", true], ["Stage", false]]) {
          head.append(el("th", label, numeric ? "num" : null));
        }
        table.append(el("thead"));
        table.tHead.append(head);
        const body = el("tbody");
        for (const r of racks) {
          const tr = el("tr");
          tr.dataset.rack = r.rackId;
          tr.append(el("td", r.rackId ?? ""), el("td", num(r.powerWatts), "num"), el("td", num(r.temperature), "num"), el("td", rackStage(r.stage)));
          body.append(tr);
        }
        table.append(body);
        card.append(table);
      }
      out.push(card);
    }
    list.replaceChildren(...out);
  }

  function renderUnmanaged(p) {
    const items = [];
    for (const s of [...(p.skipped || []), ...(p.unmanagedNodes || [])]) {
      const li = el("li");
      li.append(el("strong", s.name), document.createTextNode(": " + s.reason));
      items.push(li);
    }
    for (const name of p.unknownNodes || []) {
      const li = el("li");
      li.append(el("strong", name), document.createTextNode(": not known to Joulie"));
      items.push(li);
    }
    $("unmanaged-list").replaceChildren(...items);
    $("unmanaged").hidden = items.length === 0;
  }

  // ------------------------------------------------------------------ the node table
  //
  // Sorted and filtered in memory; only the rows in (and near) the scrolled view are in the
  // DOM, between two spacer rows that keep the scrollbar true. Laying out 5000 table rows costs
  // a browser more than a second; laying out the 60 in view costs milliseconds, at any size.
  // Each row is built the first time it scrolls into view and kept until its node changes.

  const ROW_OVERSCAN = 30;
  let entries = []; // one per node: {node, text: {column key: shown text}, sig, tr}
  let order = null; // entries in the current sort order (null: sort again)
  let shown = []; // order, filtered
  let rowHeight = 0;
  let windowKey = "";

  function pickColumns(nodes) {
    return COLUMNS.filter((c) => !c.optional || nodes.some((n) => n[c.key] != null));
  }

  function renderHead() {
    const cols = columns.map((c) => {
      const col = document.createElement("col");
      col.className = "c-" + c.key;
      return col;
    });
    $("node-cols").replaceChildren(...cols);
    const cells = columns.map((c) => {
      const th = el("th", null, c.kind === "number" ? "num" : null);
      th.scope = "col";
      th.dataset.key = c.key;
      const b = el("button", c.label);
      b.type = "button";
      b.title = "sort by " + c.label.toLowerCase();
      b.addEventListener("click", () => {
        if (view.sort === c.key) view.desc = !view.desc;
        else {
          view.sort = c.key;
          view.desc = false;
        }
        order = null;
        writeHash();
        renderTable();
      });
      th.append(b);
      return th;
    });
    $("node-head").replaceChildren(...cells);
  }

  function buildRow(entry) {
    const n = entry.node;
    const tr = document.createElement("tr");
    tr.dataset.node = n.name;
    for (const c of columns) {
      const td = document.createElement("td");
      td.textContent = entry.text[c.key];
      let cls = c.kind === "number" ? "num" : "";
      if (c.cls) cls += (cls ? " " : "") + c.cls(n);
      if (cls) td.className = cls;
      td.title = c.title ? c.title(n) : entry.text[c.key];
      tr.append(td);
    }
    return tr;
  }

  function compare(a, b) {
    const key = view.sort;
    const col = COLUMNS.find((c) => c.key === key) || COLUMNS[0];
    let r = 0;
    if (col.kind === "number") {
      const x = a.node[key], y = b.node[key];
      const xn = typeof x === "number", yn = typeof y === "number";
      if (!xn || !yn) return xn === yn ? collator.compare(a.node.name, b.node.name) : xn ? -1 : 1; // unknown last
      r = x - y;
    } else if (col.kind === "bool") {
      r = Number(Boolean(a.node[key])) - Number(Boolean(b.node[key]));
    } else if (key === "profile") {
      r = (PROFILE_RANK[a.node.profile] ?? 9) - (PROFILE_RANK[b.node.profile] ?? 9);
    } else {
      r = collator.compare(a.text[key], b.text[key]);
    }
    if (view.desc) r = -r;
    return r || collator.compare(a.node.name, b.node.name);
  }

  function matches(entry) {
    const n = entry.node;
    if (view.profile && n.profile !== view.profile) return false;
    if (view.state && n.state !== view.state) return false;
    return !view.name || entry.lowerName.includes(view.name.toLowerCase());
  }

  function spacer(height) {
    const tr = document.createElement("tr");
    tr.className = "spacer";
    tr.setAttribute("aria-hidden", "true");
    const td = document.createElement("td");
    td.colSpan = columns.length;
    td.style.height = height + "px";
    tr.append(td);
    return tr;
  }

  // The rows in view (plus some above and below) between spacers of the rest's height.
  function renderWindow(force) {
    const box = $("node-scroll");
    const h = rowHeight || 26;
    const visible = Math.ceil((box.clientHeight || window.innerHeight) / h);
    const first = Math.max(0, Math.floor(box.scrollTop / h) - ROW_OVERSCAN);
    const last = Math.min(shown.length, first + visible + 2 * ROW_OVERSCAN);
    const key = first + ":" + last;
    if (!force && key === windowKey) return;
    windowKey = key;
    const trs = [];
    for (let i = first; i < last; i++) {
      const e = shown[i];
      if (!e.tr) e.tr = buildRow(e);
      e.tr.setAttribute("aria-rowindex", String(i + 2));
      trs.push(e.tr);
    }
    const parts = [];
    if (first > 0) parts.push(spacer(first * h));
    parts.push(...trs);
    if (last < shown.length) parts.push(spacer((shown.length - last) * h));
    $("node-rows").replaceChildren(...parts);
    if (!rowHeight && trs.length) {
      rowHeight = trs[0].getBoundingClientRect().height || 26;
      if (rowHeight !== h) renderWindow(true); // the spacers assumed another height
    }
  }

  function renderTable() {
    if (!plan) return;
    const started = performance.now();
    if (!order) order = entries.slice().sort(compare);
    shown = order.filter(matches);
    for (const th of $("node-head").children) {
      th.setAttribute("aria-sort", th.dataset.key === view.sort ? (view.desc ? "descending" : "ascending") : "none");
    }
    $("nodes").hidden = false;
    const table = $("node-table");
    table.setAttribute("aria-rowcount", String(shown.length + 1));
    renderWindow(true);
    $("shown").textContent = "showing " + shown.length + " of " + plural(entries.length, "node");
    void table.offsetHeight; // lay it out now, so the time below includes layout
    const ms = performance.now() - started;
    table.dataset.rows = String(shown.length);
    document.body.dataset.renderMs = ms.toFixed(1);
    $("render-info").textContent = shown.length + " rows sorted, filtered and rendered in " + ms.toFixed(0) + " ms";
  }

  // A row is rebuilt only when its node changed since the last refresh.
  function refreshRows(nodes) {
    const next = pickColumns(nodes);
    const headChanged = next.map((c) => c.key).join() !== columns.map((c) => c.key).join();
    columns = next;
    const old = new Map(headChanged ? [] : entries.map((e) => [e.node.name, e]));
    if (headChanged) renderHead();
    $("node-table").classList.toggle("telemetry", columns.some((c) => c.optional));
    entries = nodes.map((n) => {
      const sig = JSON.stringify(n);
      const was = old.get(n.name);
      if (was && was.sig === sig) return was;
      const text = {};
      for (const c of COLUMNS) text[c.key] = cellText(c, n);
      return { node: n, text, sig, lowerName: String(n.name).toLowerCase(), tr: null };
    });
    order = null;
  }

  function render(p) {
    const started = performance.now();
    plan = p;
    renderSummary(p);
    renderBudgets(p);
    renderUnmanaged(p);
    refreshRows(p.nodes || []);
    renderTable();
    document.body.dataset.fullRenderMs = (performance.now() - started).toFixed(1);
    document.body.dataset.generatedAt = String(p.generatedAt);
    // Once: the time from navigation to the first complete page, for benchmarks and devtools.
    if (!performance.getEntriesByName("joulie-first-render").length) performance.mark("joulie-first-render");
  }

  // ------------------------------------------------------------------ refresh

  function showStatus() {
    const s = $("status");
    const parts = [];
    if (fetchedAt) parts.push("updated " + new Date(fetchedAt).toLocaleTimeString());
    if (plan && typeof plan.generatedAt === "number") {
      parts.push("plan of " + clock(plan.generatedAt) + " (" + span(Date.now() / 1000 - plan.generatedAt) + " ago)");
    }
    parts.push(view.paused ? "paused" : "refreshing every " + view.every + " s");
    s.textContent = parts.join(" · ");
    $("pause").textContent = view.paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(view.paused));
  }

  function showError(message) {
    const e = $("error");
    e.hidden = !message;
    e.textContent = message || "";
    $("status").classList.toggle("stale", Boolean(message));
  }

  function schedule() {
    clearTimeout(timer);
    timer = view.paused ? 0 : setTimeout(load, view.every * 1000);
  }

  async function load() {
    if (loading) return;
    if (document.hidden) return; // resumed by visibilitychange
    loading = true;
    try {
      const reply = await fetch("plan" + location.search, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      let body = null;
      try {
        body = await reply.json();
      } catch {
        body = null;
      }
      fetchedAt = Date.now();
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      if (!reply.ok || !body || typeof body !== "object") {
        const why = body && body.error ? body.error : "HTTP " + reply.status;
        showError("/plan answered " + reply.status + ": " + why + (plan ? " (showing the previous plan)" : ""));
      } else {
        render(body);
        showError("");
      }
    } catch (exc) {
      showError("cannot reach /plan (" + exc.message + ")" + (plan ? "; showing the plan of " + clock(plan.generatedAt) : ""));
    } finally {
      loading = false;
      showStatus();
      schedule();
    }
  }

  // ------------------------------------------------------------------ controls

  function showView() {
    $("filter-name").value = view.name;
    $("filter-profile").value = view.profile;
    $("filter-state").value = view.state;
    $("interval").value = String(view.every);
  }

  function bindControls() {
    const name = $("filter-name"), profile = $("filter-profile"), state = $("filter-state"), every = $("interval");
    showView();
    // A link edited by hand, or Back: the view follows the hash.
    window.addEventListener("hashchange", () => {
      readHash();
      showView();
      order = null;
      renderTable();
      showStatus();
      schedule();
    });
    let typing = 0;
    name.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        view.name = name.value.trim();
        writeHash();
        renderTable();
      }, 120);
    });
    profile.addEventListener("change", () => {
      view.profile = profile.value;
      writeHash();
      renderTable();
    });
    state.addEventListener("change", () => {
      view.state = state.value;
      writeHash();
      renderTable();
    });
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    every.addEventListener("change", () => {
      view.every = Number(every.value);
      writeHash();
      showStatus();
      schedule();
    });
    $("pause").addEventListener("click", () => {
      view.paused = !view.paused;
      writeHash();
      showStatus();
      if (view.paused) schedule();
      else load();
    });
    $("refresh-now").addEventListener("click", () => load());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && !view.paused) load();
    });
    let pending = false;
    $("node-scroll").addEventListener(
      "scroll",
      () => {
        if (pending) return;
        pending = true;
        requestAnimationFrame(() => {
          pending = false;
          renderWindow(false);
        });
      },
      { passive: true },
    );
    window.addEventListener("resize", () => renderWindow(true));
    setInterval(showStatus, 1000);
  }

  readHash();
  bindControls();
  showStatus();
  load();
})();
