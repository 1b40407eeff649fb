"use strict";
// One run in the browser: the cluster tree, each conversation's map position and base cluster,
// and every field as a typed column. Filtering, counting, breakdowns and colours are computed
// here over those arrays, for the served app and the static report alike.

class Run {
  /** overview: the run and its tree; points: {size, x, y, cluster} as typed arrays. Fields come later (setFields). */
  constructor(overview, points) {
    this.name = overview.name;
    this.overview = overview;
    this.n = points.size;
    this.x = points.x;
    this.y = points.y;
    const c = overview.clusters;
    this.nc = c.id.length;
    this.cluster = {
      id: c.id, name: c.name, description: c.description, parent: c.parent,
      level: c.level, count: c.count, x: c.x, y: c.y,
    };
    this.indexOf = new Map(c.id.map((id, i) => [id, i]));
    const base = points.cluster;
    this.base = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) this.base[i] = base[i] < this.nc ? base[i] : -1;
    this.children = Array.from({ length: this.nc }, () => []);
    this.roots = [];
    for (let i = 0; i < this.nc; i++) {
      const p = c.parent[i];
      (p >= 0 ? this.children[p] : this.roots).push(i);
    }
    this.maxLevel = c.level.reduce((a, b) => Math.max(a, b), 0);
    // Children before parents, so counts can be summed up the tree in one pass.
    this.bottomUp = [...Array(this.nc).keys()].sort((a, b) => c.level[b] - c.level[a]);
    this.levelNames = this._levelNames();
    this.setFields({ schema: [], fields: {} });
  }

  /** columns: {schema: [field schema...], fields: {key: {codes|lengths|numbers: typed array}}}. */
  setFields(columns) {
    this.fields = columns.schema.map((f) => decodeField(f, columns.fields[f.key] || {}, this.n));
    for (const f of this.fields) f.constant = constantValue(f, this.n);
    this.fieldByKey = new Map(this.fields.map((f) => [f.key, f]));
  }

  get mode() { return this.overview.mode || ""; }
  get extractive() { return this.mode.startsWith("extractive"); }
  /** privacy.json of the run ({profile: "off"} for runs made without the filter). */
  get privacy() { return this.overview.privacy || { profile: "off" }; }
  /** Whether conversations' messages can be shown: served (or embedded), and kept by the run. */
  get rawText() { return this.overview.raw_text !== false && this.privacy.raw_text_kept !== false; }

  /** root..c as cluster indices. */
  path(c) {
    const out = [];
    for (let i = c; i >= 0 && out.length <= this.maxLevel + 1; i = this.cluster.parent[i]) out.push(i);
    return out.reverse();
  }

  isBase(c) { return this.children[c].length === 0; }

  sorted(list, order, counts) {
    if (order.startsWith("outcome:") && this.outcomes) return this.outcomes.sorted(list, order, this);
    const name = this.cluster.name;
    const size = counts || this.cluster.count;
    return [...list].sort(order === "name"
      ? (a, b) => name[a].localeCompare(name[b])
      : (a, b) => size[b] - size[a] || name[a].localeCompare(name[b]));
  }

  /** 1 for every conversation under cluster c (c < 0: every conversation). */
  members(c) {
    const out = new Uint8Array(this.n);
    if (c < 0) return out.fill(1);
    const under = new Uint8Array(this.nc);
    const stack = [c];
    while (stack.length) {
      const i = stack.pop();
      under[i] = 1;
      stack.push(...this.children[i]);
    }
    for (let i = 0; i < this.n; i++) if (this.base[i] >= 0 && under[this.base[i]]) out[i] = 1;
    return out;
  }

  /** Conversations per cluster among rows where mask is 1 (mask null: all). */
  counts(mask) {
    if (!mask) return this.cluster.count;
    const counts = new Int32Array(this.nc);
    for (let i = 0; i < this.n; i++) if (mask[i] && this.base[i] >= 0) counts[this.base[i]]++;
    // Base counts go up the tree; parents start at zero because they hold no rows directly.
    for (const c of this.bottomUp) {
      const p = this.cluster.parent[c];
      if (p >= 0) counts[p] += counts[c];
    }
    return counts;
  }

  /**
   * The rows passing every filter: {key: [value, ...]} for categories (any of the values;
   * "" means not set) and {key: [lo, hi]} ranges for numbers and dates. Null when no filter.
   */
  filterMask(filters, ranges) {
    const active = Object.keys(filters).length + Object.keys(ranges).length;
    if (!active) return null;
    const mask = new Uint8Array(this.n).fill(1);
    for (const [key, values] of Object.entries(filters)) {
      const f = this.fieldByKey.get(key);
      if (!f || !f.codes) { mask.fill(0); continue; } // unknown, or set for no conversation
      const wanted = new Uint8Array(f.values.length + 1);
      for (const v of values) {
        const code = v === "" ? 0 : f.values.indexOf(v) + 1;
        if (v === "" || code > 0) wanted[code] = 1;
      }
      if (f.kind === "category") {
        for (let i = 0; i < this.n; i++) if (!wanted[f.codes[i]]) mask[i] = 0;
      } else {
        for (let i = 0; i < this.n; i++) {
          let hit = 0, any = false;
          for (let k = f.offsets[i]; k < f.offsets[i + 1] && !hit; k++) {
            const code = f.codes[k];
            if (code) { any = true; hit = wanted[code]; }
          }
          if (!hit && !(wanted[0] && !any)) mask[i] = 0;
        }
      }
    }
    for (const [key, [lo, hi]] of Object.entries(ranges)) {
      const f = this.fieldByKey.get(key);
      if (!f || !f.numbers) { mask.fill(0); continue; }
      for (let i = 0; i < this.n; i++) {
        const v = f.numbers[i];
        if (!(v >= lo && v <= hi)) mask[i] = 0;
      }
    }
    return mask;
  }

  /** Row numbers where every given mask is 1 (null masks are ignored). */
  rowsWhere(...masks) {
    const live = masks.filter(Boolean);
    const out = [];
    outer: for (let i = 0; i < this.n; i++) {
      for (const m of live) if (!m[i]) continue outer;
      out.push(i);
    }
    return out;
  }

  /**
   * Value counts of a category/multi field, or a histogram of a number/date field, over the
   * rows where mask is 1. Counts are conversations (a list counts each value once).
   */
  breakdown(f, mask) {
    let total = 0, unset = 0;
    if (f.kind === "category" || f.kind === "multi") {
      const counts = new Int32Array(f.values.length + 1);
      for (let i = 0; i < this.n; i++) {
        if (mask && !mask[i]) continue;
        total++;
        if (f.kind === "category") { counts[f.codes[i]]++; continue; }
        // A list counts each value once per conversation; no value at all counts as not set.
        const a = f.offsets[i], b = f.offsets[i + 1];
        let any = false;
        for (let k = a; k < b; k++) {
          const code = f.codes[k];
          if (!code) continue;
          let repeat = false;
          for (let j = a; j < k && !repeat; j++) repeat = f.codes[j] === code;
          if (!repeat) counts[code]++;
          any = true;
        }
        if (!any) counts[0]++;
      }
      unset = counts[0];
      const items = [];
      for (let code = 1; code < counts.length; code++) {
        if (counts[code]) items.push({ value: f.values[code - 1], count: counts[code], other: f.other && code === counts.length - 1 });
      }
      items.sort((a, b) => (a.other - b.other) || b.count - a.count);
      return { kind: "values", total, unset, items };
    }
    let min = Infinity, max = -Infinity, integers = f.kind === "number";
    for (let i = 0; i < this.n; i++) {
      if (mask && !mask[i]) continue;
      total++;
      const v = f.numbers[i];
      if (!isFinite(v)) { unset++; continue; }
      if (v < min) min = v;
      if (v > max) max = v;
      if (integers && !Number.isInteger(v)) integers = false;
    }
    if (total === unset) return { kind: "histogram", total, unset, bins: [] };
    const bins = histogramBins(min, max, integers);
    for (let i = 0; i < this.n; i++) {
      if (mask && !mask[i]) continue;
      const v = f.numbers[i];
      if (!isFinite(v)) continue;
      let b = bins.length - 1;
      while (b > 0 && v < bins[b].lo) b--;
      bins[b].count++;
    }
    return { kind: "histogram", total, unset, bins };
  }

  /** Each level's clusters ranked by size: colour k belongs to the k-th largest. */
  _levelNames() {
    const out = [];
    for (let level = 0; level <= this.maxLevel; level++) {
      const at = [];
      for (let c = 0; c < this.nc; c++) if (this.cluster.level[c] === level) at.push(c);
      out.push(this.sorted(at, "size"));
    }
    return out;
  }

  /** The ancestor of cluster c at `level` (c itself when it sits higher). */
  ancestorAt(c, level) {
    while (c >= 0 && this.cluster.level[c] > level) c = this.cluster.parent[c];
    return c;
  }

  /**
   * Per-row colours for "level:L" (the cluster each row belongs to at level L) or "field:key".
   * Returns {colours: Uint32Array, legend: {title, items:[{label, colour, count, action}] | gradient}}.
   */
  colouring(mode) {
    const colours = new Uint32Array(this.n);
    const unset = rgba32(GREY_UNSET);
    if (mode.startsWith("outcome:") && this.outcomes) {
      const byOutcome = this.outcomes.colouring(this, mode.slice(8));
      if (byOutcome) return byOutcome;
    }
    if (mode.startsWith("field:")) {
      const f = this.fieldByKey.get(mode.slice(6));
      if (f) return this._colourByField(f, colours, unset);
    }
    const level = Math.min(this.maxLevel, Math.max(0, parseInt(mode.slice(6), 10) || 0));
    const ranked = this.levelNames[level];
    const colourOf = new Map(ranked.map((c, k) => [c, PALETTE[k % PALETTE.length]]));
    const wordOf = new Uint32Array(this.nc);
    for (let c = 0; c < this.nc; c++) {
      const a = this.ancestorAt(c, level);
      wordOf[c] = rgba32(colourOf.get(a) || GREY_OTHER);
    }
    for (let i = 0; i < this.n; i++) colours[i] = this.base[i] >= 0 ? wordOf[this.base[i]] : unset;
    const items = ranked.slice(0, 12).map((c) => ({ label: this.cluster.name[c], colour: colourOf.get(c), count: this.cluster.count[c], cluster: c }));
    return { colours, legend: { title: level === 0 ? "Top-level clusters" : `Level ${level + 1} clusters`, items, more: ranked.length - items.length } };
  }

  _colourByField(f, colours, unset) {
    if (f.numbers) {
      let min = Infinity, max = -Infinity;
      for (const v of f.numbers) if (isFinite(v)) { if (v < min) min = v; if (v > max) max = v; }
      const span = max - min || 1;
      const steps = 64;
      const words = Array.from({ length: steps + 1 }, (_, k) => rgba32(sequential(k / steps)));
      for (let i = 0; i < this.n; i++) {
        const v = f.numbers[i];
        colours[i] = isFinite(v) ? words[Math.round(((v - min) / span) * steps)] : unset;
      }
      const show = (v) => (f.kind === "date" ? fmtDate(v) : fmtNumber(v));
      return { colours, legend: { title: f.label, gradient: [show(min), show(max)], unset: f.present < this.n } };
    }
    const top = this.breakdown(f, null).items.filter((it) => !it.other).slice(0, 10);
    const wordOf = new Uint32Array(f.values.length + 1).fill(rgba32(GREY_OTHER));
    wordOf[0] = unset;
    const items = top.map((it, k) => {
      wordOf[f.values.indexOf(it.value) + 1] = rgba32(PALETTE[k]);
      return { label: it.value, colour: PALETTE[k], count: it.count, value: it.value, field: f.key };
    });
    for (let i = 0; i < this.n; i++) {
      // A list is coloured by its first value (the main language, the first error).
      let code = 0;
      if (!f.offsets) code = f.codes[i];
      else for (let k = f.offsets[i]; k < f.offsets[i + 1] && !code; k++) code = f.codes[k];
      colours[i] = wordOf[code];
    }
    const others = f.values.length - top.length;
    if (others > 0) items.push({ label: `${plural(others, "other value")}`, colour: GREY_OTHER });
    if (f.present < this.n) items.push({ label: "not set", colour: GREY_UNSET });
    return { colours, legend: { title: f.label, items } };
  }
}

function decodeField(schema, column, n) {
  const f = { ...schema };
  if (column.lengths) {
    // Lists arrive as a length per conversation; the page walks them by offsets.
    f.offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) f.offsets[i + 1] = f.offsets[i] + column.lengths[i];
    f.codes = column.codes;
  } else if (column.numbers) f.numbers = column.numbers;
  else if (column.codes) f.codes = column.codes;
  return f;
}

/** The one value every conversation has for f (shown as a line, not a chart), else null. */
function constantValue(f, n) {
  if (f.present !== n) return null;
  if (f.codes && f.values.length === 1 && !f.other) {
    if (!f.offsets) return f.values[0];
    for (let i = 0; i < n; i++) if (f.offsets[i + 1] - f.offsets[i] !== 1) return null;
    return f.values[0];
  }
  if (f.numbers) {
    const first = f.numbers[0];
    for (let i = 1; i < n; i++) if (f.numbers[i] !== first) return null;
    return f.kind === "date" ? fmtDate(first, true) : fmtNumber(first);
  }
  return null;
}

/** Whole numbers in a small range get one bin per value (scores 1-5); others 12 bins. */
function histogramBins(min, max, integers) {
  if (integers && max - min <= 24) {
    return Array.from({ length: max - min + 1 }, (_, k) => ({ lo: min + k, hi: min + k, count: 0, integer: true }));
  }
  if (min === max) return [{ lo: min, hi: max, count: 0 }];
  const n = 12;
  const step = (max - min) / n;
  return Array.from({ length: n }, (_, k) => ({ lo: min + k * step, hi: k === n - 1 ? max : min + (k + 1) * step, count: 0 }));
}
