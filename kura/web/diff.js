"use strict";
// "Compare": what changed between an earlier run and the open one (kura diff, GET api/diff).
// Clusters are matched by content on the server; this view lists them as new, grown, shrunk,
// vanished, split, merged or unchanged, with counts and shares in both runs. Served app only.

const DIFF_LABELS = { new: "New", grown: "Grown", shrunk: "Shrunk", vanished: "Vanished", split: "Split", merged: "Merged", unchanged: "Unchanged" };
const DIFF_METHODS = { ids: "matched by the conversations both runs share", content: "matched by content (centroids and names)", names: "matched by names (the runs used different embedders)" };

class DiffDialog {
  /** handlers: onSelect(clusterId) selects a cluster of the open run. */
  constructor(handlers) {
    this.handlers = handlers;
    this.dialog = h("dialog", { class: "diff-dialog", "aria-label": "Compare runs" });
    document.body.append(this.dialog);
  }

  /** Compare ``run`` (the later run) with one of ``runs`` (names of the other finished runs). */
  open(run, runs) {
    this.run = run;
    this.earlier = h("select", { class: "select", "aria-label": "Earlier run", name: "earlier" },
      runs.map((name) => h("option", { value: name, text: name })));
    const levels = [h("option", { value: "", text: "Base clusters" })];
    for (let level = 0; level < run.maxLevel; level++) levels.push(h("option", { value: String(level), text: level === 0 ? "Top level" : `Level ${level + 1}` }));
    this.level = h("select", { class: "select", "aria-label": "Level", name: "level" }, levels);
    this.showUnchanged = false;
    this.body = h("div", { class: "diff-body" });
    for (const input of [this.earlier, this.level]) input.addEventListener("change", () => this.load());
    this.dialog.replaceChildren(
      h("div", { class: "dialog-head" },
        h("h2", { text: "What changed" }),
        h("button", { type: "button", class: "link-button", "aria-label": "Close", onclick: () => this.dialog.close() }, "×")),
      h("div", { class: "diff-controls" },
        h("label", { class: "toolbar-label" }, h("span", { text: "From" }), this.earlier),
        h("span", { class: "diff-arrow", text: "→" }),
        h("span", { class: "diff-current", text: run.name }),
        h("label", { class: "toolbar-label" }, h("span", { text: "Compare" }), this.level)),
      this.body);
    if (!this.dialog.open) this.dialog.showModal();
    if (runs.length) return this.load();
    this.body.replaceChildren(h("p", { class: "empty-note", text: "There is no other finished run to compare with: serve a folder of runs." }));
  }

  async load() {
    const a = this.earlier.value, b = this.run.name, level = this.level.value;
    this.body.replaceChildren(h("p", { class: "empty-note", text: "Comparing…" }));
    const url = `api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}${level ? `&level=${level}` : ""}`;
    let diff;
    try {
      diff = await getJSON(url);
    } catch (err) {
      if (this.earlier.value === a && this.level.value === level) this.body.replaceChildren(h("p", { class: "error-note", role: "alert", text: err.message }));
      return;
    }
    if (this.earlier.value !== a || this.level.value !== level) return; // a newer choice took over
    this.diff = diff;
    this.render();
  }

  render() {
    const diff = this.diff;
    const counts = Object.entries(diff.counts).filter(([, n]) => n > 0)
      .map(([status, n]) => h("span", { class: `badge diff-status ${status}`, "data-status": status, text: `${n} ${DIFF_LABELS[status].toLowerCase()}` }));
    const rows = diff.changes.filter((c) => this.showUnchanged || c.status !== "unchanged").map((c) => this._row(c));
    const hidden = diff.counts.unchanged;
    this.body.replaceChildren(
      h("p", { class: "diff-summary", text: `${diff.run_a}: ${plural(diff.total_a, "conversation")} → ${diff.run_b}: ${plural(diff.total_b, "conversation")} · ${fmtInt(diff.shared)} shared · ${DIFF_METHODS[diff.method]}` }),
      h("div", { class: "diff-counts" }, counts),
      h("table", { class: "diff-table" },
        h("thead", {}, h("tr", {}, ["Status", "Cluster", "Was", "Conversations", "Share", "Change"].map((t) => h("th", { text: t })))),
        h("tbody", {}, rows)),
      hidden ? h("button", { type: "button", class: "link-button diff-toggle", onclick: () => { this.showUnchanged = !this.showUnchanged; this.render(); } },
        this.showUnchanged ? "Hide unchanged clusters" : `Show ${plural(hidden, "unchanged cluster")}`) : null);
  }

  _row(c) {
    const delta = c.share_b - c.share_a;
    const width = Math.min(50, Math.abs(delta) * 500); // 10 percentage points fill half the cell
    const fill = h("span", { class: `diff-bar ${delta >= 0 ? "up" : "down"}` });
    fill.style.width = `${width}%`;
    const bar = h("span", { class: "diff-bar-track" }, fill);
    const names = (sides) => sides.length ? sides.map((s) => s.name).join(" + ") : "—";
    const target = c.b.length ? c.b[0].id : null;
    const row = h("tr", { class: `diff-row ${c.status}`, "data-status": c.status },
      h("td", {}, h("span", { class: `badge diff-status ${c.status}`, text: DIFF_LABELS[c.status] })),
      h("td", { class: "diff-name" }, target
        ? h("button", { type: "button", class: "link-button", title: "Show this cluster in the explorer", onclick: () => { this.dialog.close(); this.handlers.onSelect(target); } }, names(c.b))
        : h("span", { text: names(c.a) })),
      h("td", { class: "diff-was", text: c.b.length && c.a.length && names(c.a) !== names(c.b) ? names(c.a) : "" }),
      h("td", { class: "num", text: `${fmtInt(c.count_a)} → ${fmtInt(c.count_b)}` }),
      h("td", { class: "num", text: `${fmtPct(c.share_a) || "0%"} → ${fmtPct(c.share_b) || "0%"}` }),
      h("td", {}, h("span", { class: "diff-change" }, bar, h("span", { class: "num", text: `${delta >= 0 ? "+" : "−"}${(Math.abs(delta) * 100).toFixed(1)} pts` }))));
    return row;
  }
}
