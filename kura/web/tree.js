"use strict";
// The cluster tree: expand and collapse, counts and shares (of what the filters leave), sort by
// size or name. Only expanded branches are in the DOM, so 10,000 base clusters cost nothing.

class TreeView {
  /** handlers: onSelect(c), onSort(order) */
  constructor(root, handlers) {
    this.handlers = handlers;
    this.sortButtons = {
      size: h("button", { type: "button", class: "seg", onclick: () => handlers.onSort("size") }, "Size"),
      name: h("button", { type: "button", class: "seg", onclick: () => handlers.onSort("name") }, "A–Z"),
    };
    this.outcomeSort = h("select", { class: "select small outcome-sort", "aria-label": "Sort clusters by an outcome",
      onchange: () => handlers.onSort(this.outcomeSort.value || "size") });
    this.summary = h("div", { class: "tree-summary" });
    this.body = h("div", { class: "tree-body", role: "tree", "aria-label": "Cluster tree" });
    root.append(
      h("div", { class: "panel-head" },
        h("h2", { class: "panel-title", text: "Clusters" }),
        h("div", { class: "segmented", role: "group", "aria-label": "Sort clusters" }, this.sortButtons.size, this.sortButtons.name),
        h("button", { type: "button", class: "link-button", title: "Collapse every branch", onclick: () => this.collapseAll() }, "Collapse")),
      this.outcomeSortRow = h("div", { class: "tree-outcome-sort" }, this.outcomeSort),
      this.summary,
      this.body);
    this.expanded = new Set();
  }

  setRun(run) {
    this.run = run;
    this.expanded = new Set();
    this.rootColour = new Map(run.levelNames[0].map((c, k) => [c, PALETTE[k % PALETTE.length]]));
    this.showOutcomes(run);
  }

  /** The "sort by outcome" choices, once the run's outcomes have arrived. */
  showOutcomes(run) {
    const byOutcome = outcomeSortOptions(run);
    this.outcomeSort.replaceChildren(h("option", { value: "", text: "Outcome…" }), ...byOutcome);
    this.outcomeSortRow.hidden = !byOutcome.length;
  }

  /** Open every ancestor of c so it is visible. */
  reveal(c) {
    for (const a of this.run.path(c).slice(0, -1)) this.expanded.add(a);
  }

  collapseAll() {
    this.expanded.clear();
    this.render({ ...this.last, scroll: false });
  }

  toggle(c) {
    if (this.expanded.has(c)) this.expanded.delete(c);
    else this.expanded.add(c);
    this.render({ ...this.last, scroll: false });
  }

  /** state: {counts, total, filtered, selected, sort} */
  render(state) {
    this.last = state;
    const run = this.run;
    const { counts, total, filtered, selected, sort } = state;
    for (const [key, button] of Object.entries(this.sortButtons)) button.setAttribute("aria-pressed", String(key === sort));
    this.outcomeSort.value = sort.startsWith("outcome:") ? sort : "";
    this.summary.textContent = filtered
      ? `${plural(total, "conversation")} match · ${fmtPct(total / run.n)} of ${fmtInt(run.n)}`
      : `${plural(run.n, "conversation")} in ${plural(run.nc, "cluster")}`;
    const onPath = new Set(selected >= 0 ? run.path(selected) : []);
    const rows = [];
    const walk = (list, depth) => {
      for (const c of run.sorted(list, sort, counts)) {
        if (filtered && !counts[c] && !onPath.has(c)) continue;
        rows.push(this._row(c, depth, counts, total, selected));
        if (this.expanded.has(c)) walk(run.children[c], depth + 1);
      }
    };
    walk(run.roots, 0);
    if (!rows.length) rows.push(h("div", { class: "empty-note", text: "No cluster has conversations that match the filters." }));
    this.body.replaceChildren(...rows);
    const current = this.body.querySelector(".tree-row.selected");
    if (current && state.scroll) current.scrollIntoView({ block: "nearest" });
  }

  _row(c, depth, counts, total, selected) {
    const run = this.run;
    const hasChildren = run.children[c].length > 0;
    const open = this.expanded.has(c);
    const count = counts[c];
    const share = total ? count / total : 0;
    const caret = hasChildren
      ? h("button", { type: "button", class: "caret" + (open ? " open" : ""), "aria-label": open ? "Collapse" : "Expand", tabindex: "-1",
          onclick: (e) => { e.stopPropagation(); this.toggle(c); } })
      : h("span", { class: "caret-space" });
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = this.rootColour.get(run.path(c)[0]) || GREY_OTHER;
    const bar = h("span", { class: "share-fill" });
    bar.style.width = `${Math.max(share > 0 ? 1.5 : 0, share * 100)}%`;
    const row = h("div", {
      class: "tree-row" + (c === selected ? " selected" : "") + (depth === 0 ? " root" : ""),
      role: "treeitem", tabindex: "0", "aria-level": depth + 1, "aria-selected": String(c === selected),
      "aria-expanded": hasChildren ? String(open) : null, "data-cluster-id": run.cluster.id[c],
      title: `${run.cluster.name[c]}\n${fmtInt(count)} of ${fmtInt(run.cluster.count[c])} conversations`,
      onclick: () => this.handlers.onSelect(c),
      onkeydown: (e) => this._key(e, c, hasChildren, open),
    },
      caret, swatch,
      h("span", { class: "tree-text" },
        h("span", { class: "tree-name", text: run.cluster.name[c] }),
        h("span", { class: "share-bar" }, bar)),
      outcomeBadge(run, c, this.last.sort),
      h("span", { class: "tree-count" }, h("b", { text: fmtInt(count) }), h("span", { class: "tree-share", text: fmtPct(share) })));
    row.style.paddingLeft = `${8 + depth * 16}px`;
    return row;
  }

  _key(e, c, hasChildren, open) {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.handlers.onSelect(c); }
    else if (e.key === "ArrowRight" && hasChildren && !open) this.toggle(c);
    else if (e.key === "ArrowLeft" && open) this.toggle(c);
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? e.currentTarget.nextElementSibling : e.currentTarget.previousElementSibling;
      if (next) next.focus();
      return;
    }
    else return;
    const again = this.body.querySelector(`[data-cluster-id="${CSS.escape(this.run.cluster.id[c])}"]`);
    if (again) again.focus();
  }
}
