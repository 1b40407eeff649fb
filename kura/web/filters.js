"use strict";
// Search and filters: the search box, the "Filter" menu of every field, and the bar of active
// filters. They narrow the tree, the map and the lists together.

class FilterBar {
  /** handlers: onSearch(q), onValue(key, value), onRange(key, lo, hi) (null lo: remove), onClear() */
  constructor(searchRoot, barRoot, handlers) {
    this.handlers = handlers;
    this.input = h("input", {
      type: "search", class: "search-input", placeholder: "Search summaries and conversations…",
      "aria-label": "Search summaries and conversations", spellcheck: "false", autocomplete: "off",
    });
    const fire = debounce(() => handlers.onSearch(this.input.value), 250);
    this.input.addEventListener("input", fire);
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") handlers.onSearch(this.input.value);
    });
    this.menuButton = h("button", { type: "button", class: "button secondary filter-button", "aria-haspopup": "true", "aria-expanded": "false",
      onclick: (e) => { e.stopPropagation(); this.toggleMenu(); } }, "Filter");
    this.menu = h("div", { class: "popover filter-menu", role: "dialog", "aria-label": "Filters" });
    this.menu.hidden = true;
    this.menu.addEventListener("click", (e) => e.stopPropagation());
    document.addEventListener("click", () => this.closeMenu());
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") this.closeMenu(); });
    searchRoot.append(h("div", { class: "search" }, h("span", { class: "search-icon", "aria-hidden": "true", text: "⌕" }), this.input), this.menuButton, this.menu);
    this.bar = barRoot;
  }

  setRun(run) {
    this.run = run;
    // A run whose raw text is not shown (--privacy strict) is searched by its summaries only.
    const what = run.rawText ? "Search summaries and conversations" : "Search summaries";
    this.input.placeholder = `${what}…`;
    this.input.setAttribute("aria-label", what);
    this.totals = new Map(run.fields.map((f) => [f.key, null]));
  }

  toggleMenu() {
    if (this.menu.hidden) this.openMenu();
    else this.closeMenu();
  }

  closeMenu() {
    if (this.menu.hidden) return;
    this.menu.hidden = true;
    this.menuButton.setAttribute("aria-expanded", "false");
  }

  openMenu() {
    this.menu.hidden = false;
    this.menuButton.setAttribute("aria-expanded", "true");
    this._renderMenu();
  }

  _renderMenu() {
    const run = this.run;
    const st = this.last;
    const fields = run.fields.filter((f) => f.present > 0 && f.constant === null);
    const sections = fields.map((f) => this._fieldSection(f, st));
    this.menu.replaceChildren(
      h("div", { class: "popover-head" }, h("strong", { text: "Filter conversations" }),
        h("button", { type: "button", class: "link-button", onclick: () => this.closeMenu() }, "Done")),
      h("div", { class: "popover-body" }, sections.length ? sections : h("p", { class: "empty-note", text: "This run has no facets or metadata to filter by." })));
  }

  _fieldSection(f, st) {
    const head = h("div", { class: "menu-field-title", text: f.label });
    if (f.numbers) return h("div", { class: "menu-field" }, head, this._rangeInputs(f, st.ranges[f.key]));
    const chosen = new Set(st.filters[f.key] || []);
    if (!this.totals.get(f.key)) this.totals.set(f.key, allValues(this.run, f));
    const items = this.totals.get(f.key);
    const list = h("div", { class: "menu-values" });
    const show = (needle) => {
      const matches = items.filter((it) => !needle || it.label.toLowerCase().includes(needle)).slice(0, needle ? 50 : 8);
      list.replaceChildren(...matches.map((it) => {
        const box = h("input", { type: "checkbox" });
        box.checked = chosen.has(it.value);
        box.addEventListener("change", () => this.handlers.onValue(f.key, it.value));
        return h("label", { class: "menu-value" + (it.value === "" ? " unset" : "") }, box, h("span", { class: "menu-value-label", text: it.label }), h("span", { class: "menu-value-count", text: fmtInt(it.count) }));
      }));
    };
    show("");
    const parts = [head];
    if (items.length > 8) {
      const find = h("input", { type: "search", class: "menu-find", placeholder: `Find among ${fmtInt(items.length)} values…`, "aria-label": `Find a ${f.label} value` });
      find.addEventListener("input", () => show(find.value.trim().toLowerCase()));
      parts.push(find);
    }
    parts.push(list);
    return h("div", { class: "menu-field", "data-field": f.key }, parts);
  }

  _rangeInputs(f, current) {
    const date = f.kind === "date";
    const toInput = (v) => (v === undefined || !isFinite(v) ? "" : date ? fmtDate(v) : String(v));
    const fromInput = (text) => (text === "" ? NaN : date ? Date.parse(text + "T00:00:00Z") : Number(text));
    const lo = h("input", { type: date ? "date" : "number", class: "range-input", "aria-label": `${f.label} from`, value: toInput(current && current[0]) });
    const hi = h("input", { type: date ? "date" : "number", class: "range-input", "aria-label": `${f.label} to`, value: toInput(current && current[1]) });
    const apply = () => {
      let a = fromInput(lo.value), b = fromInput(hi.value);
      if (date && isFinite(b)) b += 86400000 - 1; // "to" a day includes the whole day
      if (!isFinite(a) && !isFinite(b)) return this.handlers.onRange(f.key, null);
      this.handlers.onRange(f.key, isFinite(a) ? a : -Infinity, isFinite(b) ? b : Infinity);
    };
    return h("div", { class: "range" }, lo, h("span", { text: "to" }), hi,
      h("button", { type: "button", class: "button secondary small", onclick: apply }, "Apply"));
  }

  /** state: {q, filters, ranges, matching, searching} */
  render(state) {
    this.last = state;
    if (document.activeElement !== this.input) this.input.value = state.q || "";
    const chips = [];
    const remove = (label, fn) => h("button", { type: "button", class: "filter-chip", title: "Remove this filter", onclick: fn },
      h("span", { text: label }), h("span", { class: "chip-x", "aria-hidden": "true", text: "×" }));
    if (state.q) chips.push(remove(`Search: “${state.q}”`, () => this.handlers.onSearch("")));
    for (const [key, values] of Object.entries(state.filters)) {
      const label = this.run.fieldByKey.get(key)?.label || key;
      for (const v of values) chips.push(remove(`${label}: ${v === "" ? "not set" : v}`, () => this.handlers.onValue(key, v)));
    }
    for (const [key, [lo, hi]] of Object.entries(state.ranges)) {
      const f = this.run.fieldByKey.get(key);
      const show = (v) => (!isFinite(v) ? "…" : f && f.kind === "date" ? fmtDate(v) : fmtNumber(v));
      chips.push(remove(`${f ? f.label : key}: ${lo === hi ? show(lo) : `${show(lo)} – ${show(hi)}`}`, () => this.handlers.onRange(key, null)));
    }
    const count = chips.length ? h("span", { class: "match-count", text: state.searching ? "Searching…" : `${fmtInt(state.matching)} of ${plural(this.run.n, "conversation")}` }) : null;
    const clearAll = chips.length > 1 ? h("button", { type: "button", class: "link-button", onclick: () => this.handlers.onClear() }, "Clear all") : null;
    this.bar.replaceChildren(...chips, clearAll || "", count || "");
    this.bar.hidden = !chips.length;
    this.menuButton.classList.toggle("has-filters", Object.keys(state.filters).length + Object.keys(state.ranges).length > 0);
    if (!this.menu.hidden) this._renderMenu();
  }
}

/** Every value of a category/multi field with its count over the whole run, "not set" last. */
function allValues(run, f) {
  const result = run.breakdown(f, null);
  const items = result.items.filter((it) => !it.other).map((it) => ({ label: it.value, value: it.value, count: it.count }));
  if (result.unset) items.push({ label: "not set", value: "", count: result.unset });
  return items;
}
