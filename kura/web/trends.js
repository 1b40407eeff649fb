"use strict";
// The time view, over the map: a heatmap of clusters (rows) by period (columns) and a line of the
// selected cluster's share per period. The numbers and the trend test come from the server
// (kura/analysis/trends.py) for the conversations the search and filters leave; clicking a row
// selects that cluster in the tree, like a click anywhere else.

const TIME_ROWS = 30;
const PERIOD_NAMES = { day: "Day", week: "Week", month: "Month" };
const SVG_NS = "http://www.w3.org/2000/svg";

class TrendsView {
  /** handlers: onView(view), onSelect(c), onBy(by), onLevel(level) */
  constructor(root, toolbar, source, handlers) {
    this.root = root;
    this.source = source;
    this.handlers = handlers;
    this.token = 0;
    this.key = null;
    this.showAll = false;
    this.viewButtons = {
      map: h("button", { type: "button", class: "seg", onclick: () => handlers.onView("") }, "Map"),
      time: h("button", { type: "button", class: "seg", onclick: () => handlers.onView("time") }, "Time"),
    };
    toolbar.prepend(h("div", { class: "segmented view-switch", role: "group", "aria-label": "View" }, this.viewButtons.map, this.viewButtons.time));
  }

  /** Called on every state change. ctx: {run, active (rows left by search and filters, or null), cluster (index or -1)} */
  update(st, ctx) {
    const shown = st.view === "time";
    this.root.hidden = !shown;
    this.viewButtons.map.setAttribute("aria-pressed", String(!shown));
    this.viewButtons.time.setAttribute("aria-pressed", String(shown));
    if (!shown) return;
    const run = ctx.run;
    const level = Math.min(run.maxLevel, Math.max(0, parseInt(st.tlevel, 10) || 0));
    const clusterId = ctx.cluster >= 0 ? run.cluster.id[ctx.cluster] : null;
    const mask = ctx.active ? packBits(ctx.active) : null;
    const key = JSON.stringify([run.name, st.by, level, clusterId, mask]);
    if (key === this.key) return;
    this.key = key;
    const token = ++this.token;
    const ask = { run, by: st.by, level, cluster: ctx.cluster };
    this.root.dataset.state = "loading";
    if (!this.root.firstChild) this.root.append(h("p", { class: "empty-note", text: "Counting…" }));
    this.source.trends(run, { by: st.by, level, cluster: clusterId, mask: ctx.active }).then((report) => {
      if (token !== this.token) return; // a newer state took over
      this.render(report, ask);
    }, (err) => {
      if (token !== this.token) return;
      this.key = null;
      this.root.replaceChildren(this._head(ask, null), h("p", { class: "error-note", role: "alert", text: err.message }));
      this.root.dataset.state = "error";
    });
  }

  render(report, ask) {
    this.report = report;
    this.ask = ask;
    const parts = [this._head(ask, report)];
    for (const note of report.notes) parts.push(h("p", { class: "notice time-note", text: note }));
    if (report.periods.length) {
      parts.push(this._chart(report, ask), this._heatmap(report, ask));
      parts.push(h("p", { class: "field-note time-method", text:
        `Darker: a larger share of that cluster's own peak. ▲ rising, ▼ falling: a trend test per cluster ` +
        `(Cochran–Armitage, widened when periods scatter more than chance), q < ${report.alpha} after ` +
        `Benjamini–Hochberg over ${plural(report.tested, "cluster")}. Periods are UTC.` }));
    }
    this.root.replaceChildren(...parts);
    this.root.dataset.state = "ready";
  }

  _head(ask, report) {
    const run = ask.run;
    const periods = h("div", { class: "segmented", role: "group", "aria-label": "Count per" },
      Object.entries(PERIOD_NAMES).map(([by, label]) => h("button", { type: "button", class: "seg", "aria-pressed": String(by === ask.by),
        onclick: () => this.handlers.onBy(by) }, label)));
    const levels = h("select", { class: "select small", "aria-label": "Clusters at level" });
    for (let level = 0; level <= run.maxLevel; level++) {
      const label = level === 0 ? "Top-level clusters" : level === run.maxLevel ? "Base clusters" : `Level ${level + 1} clusters`;
      levels.append(h("option", { value: String(level), text: label }));
    }
    levels.value = String(ask.level);
    levels.addEventListener("change", () => this.handlers.onLevel(levels.value));
    let summary = "";
    if (report) {
      const counted = report.totals.reduce((a, b) => a + b, 0);
      const span = report.periods.length ? `${plural(report.periods.length, ask.by)} from ${report.periods[0]}` : "no dated conversation";
      summary = `${plural(counted, "conversation")} · ${span} · ${report.rising.length} rising · ${report.falling.length} falling`;
    }
    return h("div", { class: "time-head" }, periods, levels, h("span", { class: "time-summary", text: summary }));
  }

  // -- the line ------------------------------------------------------------------------------------
  _chart(report, ask) {
    const run = ask.run;
    const selected = report.selected;
    const section = h("section", { class: "time-chart", "aria-label": "Share over time" });
    if (ask.cluster < 0) {
      section.append(h("h3", { class: "time-chart-title", text: "All conversations" }),
        h("p", { class: "time-chart-stat", text: `Conversations per ${ask.by}. Select a cluster (a row below, or in the tree) to see its share.` }),
        lineChart(report.periods, report.totals.map((n) => n), { count: true }));
      return section;
    }
    section.append(h("h3", { class: "time-chart-title", text: run.cluster.name[ask.cluster] }));
    if (!selected) {
      section.append(h("p", { class: "empty-note", text: "No dated conversation of this cluster matches." }));
      return section;
    }
    const verdict = selected.direction ? `${selected.direction === "rising" ? "▲ Rising" : "▼ Falling"}` : "No significant trend";
    section.append(h("p", { class: "time-chart-stat" },
      h("b", { class: selected.direction ? `trend-${selected.direction}` : "", text: verdict }),
      ` · ${fmtSigned(selected.slope * 100)} percentage points per ${ask.by} · q = ${fmtQ(selected.q)} · ${plural(selected.total, "conversation")}`),
    lineChart(report.periods, selected.shares, { fit: fitted(selected, report.totals) }));
    return section;
  }

  // -- the heatmap -----------------------------------------------------------------------------------
  _heatmap(report, ask) {
    const run = ask.run;
    const T = report.periods.length;
    const rising = new Set(report.rising), falling = new Set(report.falling);
    // Under a cluster above this level, its own clusters; else every cluster of the level.
    const within = ask.cluster >= 0 && run.cluster.level[ask.cluster] < ask.level ? ask.cluster : -1;
    let rows = report.clusters.filter((r) => run.indexOf.has(r.id) && (within < 0 || run.path(run.indexOf.get(r.id)).includes(within)));
    const rank = (r) => (rising.has(r.id) ? 0 : falling.has(r.id) ? 2 : 1);
    rows.sort((a, b) => rank(a) - rank(b) || (rank(a) === 1 ? b.total - a.total : b.slope - a.slope));
    const highlight = ask.cluster >= 0 ? run.ancestorAt(ask.cluster, ask.level) : -1;
    const inScope = rows.length;
    const limited = !this.showAll && rows.length > TIME_ROWS;
    if (limited) rows = rows.filter((r, k) => k < TIME_ROWS || rank(r) !== 1 || run.indexOf.get(r.id) === highlight);
    const columns = `repeat(${T}, minmax(0, 1fr))`;
    const ticks = tickIndices(T, 3);
    const headCells = h("span", { class: "heat-cells heat-axis" },
      report.periods.map((p, t) => h("span", { class: "heat-tick" + (t === T - 1 && t > 0 ? " end" : ""), text: ticks.has(t) ? p : "" })));
    headCells.style.gridTemplateColumns = columns;
    const table = h("div", { class: "heatmap", role: "list", "aria-label": "Clusters by period" },
      h("div", { class: "heat-head" }, h("span", { class: "heat-label", text: within >= 0 ? `In ${run.cluster.name[within]}` : "Cluster" }), headCells, h("span", { class: "heat-total", text: "n" })));
    for (const r of rows) {
      const c = run.indexOf.get(r.id);
      const peak = Math.max(...r.shares.map((s) => s || 0)) || 1;
      const cells = h("span", { class: "heat-cells" }, r.shares.map((share, t) => {
        const cell = h("span", { class: "heat-cell", title: `${report.periods[t]}: ${fmtInt(r.counts[t])} of ${fmtInt(report.totals[t])} (${share === null ? "no conversations" : fmtPct(share)})` });
        cell.style.background = share === null ? GREY_UNSET : heat(share / peak);
        return cell;
      }));
      cells.style.gridTemplateColumns = columns;
      const direction = rising.has(r.id) ? "rising" : falling.has(r.id) ? "falling" : "";
      table.append(h("button", {
        type: "button", role: "listitem", class: "heat-row" + (c === highlight ? " selected" : "") + (direction ? ` ${direction}` : ""),
        "data-cluster-id": r.id, "aria-current": c === highlight ? "true" : null,
        title: `${r.name}\n${fmtInt(r.total)} conversations · ${fmtSigned(r.slope * 100)} pp per ${report.by} · q = ${fmtQ(r.q)}`,
        onclick: () => this.handlers.onSelect(c),
      },
        h("span", { class: "heat-label" },
          h("span", { class: `heat-trend ${direction}`, "aria-label": direction || null, text: direction === "rising" ? "▲" : direction === "falling" ? "▼" : "" }),
          h("span", { class: "heat-name", text: r.name })),
        cells,
        h("span", { class: "heat-total", text: fmtInt(r.total) })));
    }
    if (limited || (this.showAll && inScope > TIME_ROWS)) {
      table.append(h("button", { type: "button", class: "link-button more", onclick: () => { this.showAll = !this.showAll; this.render(this.report, this.ask); } },
        this.showAll ? `Show the ${TIME_ROWS} largest only` : `Show all ${fmtInt(inScope)} clusters`));
    }
    return table;
  }
}

/** The least-squares line of a cluster's share (its slope through the weighted mean). */
function fitted(trend, totals) {
  let n = 0, centre = 0;
  totals.forEach((total, t) => { n += total; centre += total * t; });
  const mean = trend.total / (n || 1);
  centre /= n || 1;
  return (t) => mean + trend.slope * (t - centre);
}

/** An SVG line of values per period (null: a gap), with a dashed fitted line when given. */
function lineChart(periods, values, { fit = null, count = false } = {}) {
  const W = 640, H = 170, left = 48, right = 14, top = 12, bottom = 26;
  const T = periods.length;
  const finite = values.filter((v) => v !== null && isFinite(v));
  const ymax = (Math.max(0, ...finite) || 1) * 1.15;
  const x = (t) => left + (T > 1 ? (t / (T - 1)) * (W - left - right) : (W - left - right) / 2);
  const y = (v) => top + (H - top - bottom) * (1 - Math.min(1, Math.max(0, v / ymax)));
  const show = (v) => (count ? fmtNumber(Math.round(v)) : fmtPct(v));
  const chart = svg("svg", { class: "line-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": count ? "Conversations per period" : "Share per period" });
  for (const v of [0, ymax / 2, ymax / 1.15]) {
    chart.append(svg("line", { class: "grid", x1: left, x2: W - right, y1: y(v), y2: y(v) }),
      svg("text", { class: "axis", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, show(v)));
  }
  const ticks = tickIndices(T, 5);
  periods.forEach((p, t) => {
    if (ticks.has(t)) chart.append(svg("text", { class: "axis", x: x(t), y: H - 8, "text-anchor": t === 0 ? "start" : t === T - 1 ? "end" : "middle" }, p));
  });
  if (fit && T > 1) chart.append(svg("line", { class: "fit", x1: x(0), y1: y(fit(0)), x2: x(T - 1), y2: y(fit(T - 1)) }));
  let run = [];
  const flush = () => {
    if (run.length > 1) chart.append(svg("polyline", { class: "series", points: run.map(([a, b]) => `${a},${b}`).join(" ") }));
    run = [];
  };
  values.forEach((v, t) => {
    if (v === null || !isFinite(v)) return flush();
    run.push([x(t), y(v)]);
  });
  flush();
  values.forEach((v, t) => {
    if (v !== null && isFinite(v)) chart.append(svg("circle", { class: "dot", cx: x(t), cy: y(v), r: 3 }, svg("title", {}, `${periods[t]}: ${show(v)}`)));
  });
  return chart;
}

/** At most m + 1 evenly spread period indices, the first and the last among them. */
function tickIndices(T, m) {
  const steps = Math.min(T - 1, m);
  const out = new Set([0]);
  for (let k = 1; k <= steps; k++) out.add(Math.round((k * (T - 1)) / steps));
  return out;
}

/** An SVG element; text children become text nodes (never markup). */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (UNSAFE_ATTRIBUTES.has(key.toLowerCase())) throw new TypeError(`svg() does not set ${key}`);
    el.setAttribute(key, String(value));
  }
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

/** From near white (none of the cluster's peak) to the accent (its peak). */
function heat(t) {
  const a = parseHex("#f5f6fb"), b = parseHex("#3730a3");
  const f = Math.sqrt(Math.min(1, Math.max(0, t))); // a square root keeps small shares visible
  return "#" + a.map((v, k) => Math.round(v + (b[k] - v) * f).toString(16).padStart(2, "0")).join("");
}

function fmtSigned(x) {
  return (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(2);
}

function fmtQ(q) {
  return q < 0.001 ? q.toExponential(1) : q.toFixed(3);
}
