"use strict";
// Breakdowns of one field over a set of conversations: value bars (categories, lists) or a
// histogram (numbers, dates). Clicking a bar filters everything to that value or range.

const SHOWN_VALUES = 6;

/**
 * A card for field f, or null when no conversation in scope has a value for it.
 * ctx: {run, mask, filters, ranges, onValue(key, value), onRange(key, lo, hi)}
 */
function breakdownCard(f, ctx) {
  const result = ctx.run.breakdown(f, ctx.mask);
  const set = result.total - result.unset;
  if (set <= 0) return null;
  const card = h("section", { class: "card breakdown", "data-field": f.key },
    h("div", { class: "card-head" },
      h("h4", { class: "card-title", text: f.label }),
      h("span", { class: "card-note", text: result.unset ? `${fmtPct(set / result.total)} set` : f.kind === "multi" ? "lists" : "" })));
  if (result.kind === "values") card.append(valueBars(f, result, ctx));
  else card.append(histogram(f, result, ctx));
  return card;
}

function valueBars(f, result, ctx) {
  const list = h("div", { class: "bars" });
  const chosen = new Set(ctx.filters[f.key] || []);
  const items = result.items;
  const top = Math.max(1, ...items.map((it) => it.count));
  const row = (label, count, value, extra) => {
    const bar = h("span", { class: "bar-fill" });
    // Bars compare the values with each other; "not set" gets its count but no bar.
    bar.style.width = extra ? "0" : `${(count / top) * 100}%`;
    const canFilter = value !== null;
    const active = canFilter && chosen.has(value);
    return h(canFilter ? "button" : "div", {
      class: "bar-row" + extra + (active ? " active" : ""),
      type: canFilter ? "button" : null,
      title: canFilter ? (active ? "Remove this filter" : `Filter to ${f.label}: ${label}`) : "Values beyond the 2,000 most common",
      "aria-pressed": canFilter ? String(active) : null,
      onclick: canFilter ? () => ctx.onValue(f.key, value) : null,
    },
      h("span", { class: "bar-label", text: label }),
      h("span", { class: "bar-track" }, bar),
      h("span", { class: "bar-count", text: fmtInt(count) }),
      h("span", { class: "bar-pct", text: fmtPct(count / result.total) }));
  };
  const fill = (limit) => {
    list.replaceChildren(...items.slice(0, limit).map((it) => row(it.value, it.count, it.other ? null : it.value, "")));
    if (items.length > limit) {
      list.append(h("button", { type: "button", class: "link-button more", onclick: () => fill(limit + 20) },
        items.length - limit > 20 ? `Show 20 more of ${fmtInt(items.length - limit)}` : `Show ${items.length - limit} more`));
    }
    if (result.unset) list.append(row("not set", result.unset, "", " unset"));
  };
  fill(SHOWN_VALUES);
  return list;
}

function histogram(f, result, ctx) {
  const bins = result.bins;
  const top = Math.max(1, ...bins.map((b) => b.count));
  const show = (v) => (f.kind === "date" ? fmtDate(v) : fmtNumber(v));
  const range = ctx.ranges[f.key];
  const chart = h("div", { class: "histogram", role: "group", "aria-label": `${f.label} histogram` });
  for (const b of bins) {
    const label = b.integer ? show(b.lo) : `${show(b.lo)} – ${show(b.hi)}`;
    const active = range && range[0] === b.lo && range[1] === b.hi;
    const column = h("span", { class: "hist-fill" });
    column.style.height = `${b.count ? Math.max(3, (b.count / top) * 100) : 0}%`;
    chart.append(h("button", {
      type: "button", class: "hist-bar" + (active ? " active" : ""),
      title: `${f.label} ${label}: ${fmtInt(b.count)} (${fmtPct(b.count / result.total)})`,
      "aria-label": `${label}: ${fmtInt(b.count)}`,
      onclick: () => ctx.onRange(f.key, b.lo, b.hi),
    }, column));
  }
  const axis = bins.length && bins[0].integer && bins.length <= 12
    ? h("div", { class: "hist-axis ticks" }, bins.map((b) => h("span", { text: show(b.lo) })))
    : h("div", { class: "hist-axis" }, h("span", { text: show(bins[0].lo) }), h("span", { text: show(bins[bins.length - 1].hi) }));
  const notes = [];
  if (result.unset) notes.push(`${fmtInt(result.unset)} not set`);
  return h("div", { class: "hist-wrap" }, chart, axis, notes.length ? h("div", { class: "card-foot", text: notes.join(" · ") }) : null);
}
