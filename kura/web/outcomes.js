"use strict";
// Outcomes per cluster (GET /api/runs/{run}/outcomes, or the report's copy): the tree sorts by
// an outcome, the map colours each conversation by its base cluster's outcome, and the detail
// panel shows a card per outcome. The statistics (intervals, tests, the correction for the
// number of clusters) are computed by the server (kura/analysis/outcomes.py); the page only
// shows them.

const OUTCOME_COLOURS = { low: "#d94f3d", lowFaint: "#f3c1b8", high: "#2f6fb0", highFaint: "#bcd3ea" };

class Outcomes {
  constructor(body) {
    this.error = body.error || null;
    this.alpha = body.alpha;
    this.confidence = body.confidence;
    this.correction = body.correction;
    this.list = body.outcomes || [];
    this.byKey = new Map(this.list.map((o) => [o.key, o]));
  }

  /** "outcome:KEY:desc" or "outcome:KEY:asc" -> {o, ascending}, or null for another order. */
  parseOrder(order) {
    if (!order || !order.startsWith("outcome:")) return null;
    const rest = order.slice(8), cut = rest.lastIndexOf(":");
    const o = this.byKey.get(cut > 0 ? rest.slice(0, cut) : rest);
    return o ? { o, ascending: rest.slice(cut + 1) === "asc" } : null;
  }

  /** Clusters by the outcome's value (clusters without one last, then by name). */
  sorted(list, order, run) {
    const parsed = this.parseOrder(order);
    if (!parsed) return run.sorted(list, "size");
    const value = parsed.o.clusters.value, sign = parsed.ascending ? 1 : -1;
    return [...list].sort((a, b) => {
      const va = value[a], vb = value[b];
      if (va === null || vb === null) return (va === null) - (vb === null) || run.cluster.name[a].localeCompare(run.cluster.name[b]);
      return sign * (va - vb) || run.cluster.name[a].localeCompare(run.cluster.name[b]);
    });
  }

  /** Each conversation coloured by its base cluster: above or below the rest, strong when flagged. */
  colouring(run, key) {
    const o = this.byKey.get(key);
    if (!o) return null;
    const s = o.clusters;
    const word = new Uint32Array(run.nc + 1).fill(rgba32(GREY_UNSET));
    for (let c = 0; c < run.nc; c++) {
      if (s.value[c] === null || s.rest_value[c] === null || s.value[c] === s.rest_value[c]) continue;
      const low = s.value[c] < s.rest_value[c];
      word[c] = rgba32(OUTCOME_COLOURS[(low ? "low" : "high") + (s.flagged[c] ? "" : "Faint")]);
    }
    const colours = new Uint32Array(run.n);
    for (let i = 0; i < run.n; i++) colours[i] = word[run.base[i] >= 0 ? run.base[i] : run.nc];
    const items = [
      { label: "significantly below the rest", colour: OUTCOME_COLOURS.low },
      { label: "below, not significant", colour: OUTCOME_COLOURS.lowFaint },
      { label: "above, not significant", colour: OUTCOME_COLOURS.highFaint },
      { label: "significantly above the rest", colour: OUTCOME_COLOURS.high },
      { label: "no value", colour: GREY_UNSET },
    ];
    return { colours, legend: { title: `${o.label} by base cluster`, items } };
  }
}

function formatOutcome(o, value) {
  if (value === null || value === undefined) return "–";
  if (Math.abs(value) < 1e-12) value = 0; // a Wilson bound of 0 computed as 1e-17
  return o.kind === "rate" ? fmtPct(value) : fmtNumber(value);
}

function formatLift(lift) {
  if (lift === null || lift === undefined) return "";
  const pct = Math.round(lift * 100);
  return `${pct > 0 ? "+" : pct < 0 ? "−" : "±"}${Math.abs(pct)}%`;
}

/** ▼ / ▲ when cluster c is significantly below / above the rest, else "". */
function outcomeMarker(o, c) {
  const s = o.clusters;
  if (!s.flagged[c]) return "";
  return s.value[c] < s.rest_value[c] ? "▼" : "▲";
}

/** The tree's "sort by outcome" choices. */
function outcomeSortOptions(run) {
  if (!run.outcomes || !run.outcomes.list.length) return [];
  return run.outcomes.list.flatMap((o) => [
    h("option", { value: `outcome:${o.key}:desc`, text: `${o.label}: highest first` }),
    h("option", { value: `outcome:${o.key}:asc`, text: `${o.label}: lowest first` }),
  ]);
}

/** The value shown on a tree row while the tree is sorted by an outcome. */
function outcomeBadge(run, c, order) {
  const parsed = run.outcomes && run.outcomes.parseOrder(order);
  if (!parsed) return null;
  const o = parsed.o, marker = outcomeMarker(o, c);
  return h("span", { class: "tree-outcome" + (marker ? (marker === "▼" ? " low" : " high") : ""),
    title: `${o.label}: ${formatOutcome(o, o.clusters.value[c])}${marker ? " (significant after the correction)" : ""}`,
    text: `${formatOutcome(o, o.clusters.value[c])}${marker ? " " + marker : ""}` });
}

/** The detail panel's "Outcomes" section for cluster c (c < 0: the whole run), or null. */
function outcomeSection(run, c) {
  const outcomes = run.outcomes;
  if (!outcomes) return null;
  if (outcomes.error) return h("section", { class: "section" }, h("h3", { class: "section-title", text: "Outcomes" }), h("p", { class: "error-note", text: outcomes.error }));
  if (!outcomes.list.length) return null;
  const cards = outcomes.list.map((o) => (c >= 0 ? outcomeCard(outcomes, o, c) : h("div", { class: "card outcome-card", "data-outcome": o.key },
    h("div", { class: "card-head" }, h("h4", { class: "card-title", text: o.label }), h("span", { class: "card-note", text: `${o.kind} over ${plural(o.n, "conversation")}` })),
    h("div", { class: "outcome-value", text: formatOutcome(o, o.value) }),
    h("div", { class: "card-foot", text: o.flagged ? `${plural(o.flagged, "cluster")} significantly different from the rest` : "no cluster significantly different from the rest" }))));
  return h("section", { class: "section outcomes" }, h("h3", { class: "section-title", text: "Outcomes" }), h("div", { class: "cards" }, cards),
    h("p", { class: "field-note", text: `${Math.round(outcomes.confidence * 100)}% intervals; flags after the ${outcomes.correction} (false discovery rate ${fmtPct(outcomes.alpha)}).` }));
}

function outcomeCard(outcomes, o, c) {
  const s = o.clusters, marker = outcomeMarker(o, c);
  const verdict = s.p[c] === null ? ["not tested (too few values)", "plain"]
    : marker ? [`significantly ${marker === "▼" ? "lower" : "higher"} than the rest`, marker === "▼" ? "hot" : "cool"]
      : ["not significantly different after the correction", "plain"];
  const interval = s.low[c] !== null && s.high[c] !== null ? `${formatOutcome(o, s.low[c])} – ${formatOutcome(o, s.high[c])}` : "";
  return h("div", { class: "card outcome-card" + (marker ? " flagged" : ""), "data-outcome": o.key },
    h("div", { class: "card-head" }, h("h4", { class: "card-title", text: o.label }), h("span", { class: "card-note", text: `${o.kind === "rate" ? "rate" : "mean"} of ${plural(s.n[c], "conversation")}` })),
    h("div", { class: "outcome-line" },
      h("span", { class: "outcome-value", text: formatOutcome(o, s.value[c]) }),
      interval ? h("span", { class: "outcome-interval", title: o.interval, text: `[${interval}]` }) : null,
      h("span", { class: "outcome-lift", text: s.lift[c] !== null ? `${formatLift(s.lift[c])} vs rest (${formatOutcome(o, s.rest_value[c])})` : "" })),
    h("div", { class: "card-foot" }, h("span", { class: `chip ${verdict[1]}`, text: verdict[0] }),
      s.p[c] !== null ? ` ${o.test}: p = ${fmtP(s.p[c])}, corrected ${fmtP(s.q[c])}` : ""));
}

function fmtP(p) {
  return p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}
