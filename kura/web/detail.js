"use strict";
// The side panel for a cluster (or for the whole run when nothing is selected): what it is,
// how big, its sub-clusters, a breakdown of every facet and metadata field, and its conversations.

const PAGE = 25;

class DetailView {
  /** handlers: onSelect(c), onOpen(row), onValue(key, value), onRange(key, lo, hi) */
  constructor(root, source, handlers) {
    this.root = root;
    this.source = source;
    this.handlers = handlers;
    this.token = 0;
  }

  /** state: {run, cluster, scope (rows in the cluster that pass the filters), counts, filters, ranges, filtered} */
  render(state) {
    const { run, cluster: c, counts, filtered } = state;
    const token = ++this.token;
    this.run = run;
    const size = c >= 0 ? run.cluster.count[c] : run.n;
    const matching = c >= 0 ? counts[c] : state.scope ? countOnes(state.scope) : run.n;
    const content = [];
    content.push(this._breadcrumb(run, c));
    content.push(h("h2", { class: "detail-title", text: c >= 0 ? run.cluster.name[c] : "All conversations" }));
    if (c >= 0 && run.cluster.description[c]) content.push(h("p", { class: "detail-description", text: run.cluster.description[c] }));
    const children = c >= 0 ? run.children[c] : run.roots;
    content.push(h("div", { class: "stats" },
      stat(fmtInt(filtered ? matching : size), filtered ? `of ${fmtInt(size)} match` : "conversations"),
      stat(fmtPct(size / run.n), "of all conversations"),
      children.length ? stat(fmtInt(children.length), c >= 0 ? "sub-clusters" : "top-level clusters") : stat("base", "cluster, no sub-clusters")));
    const outcomes = outcomeSection(run, c);
    if (outcomes) content.push(outcomes);
    if (children.some((k) => counts[k] > 0)) content.push(this._children(run, children, counts, matching));
    content.push(...this._breakdowns(state));
    const list = h("div", { class: "conversation-list" });
    content.push(h("section", { class: "section" },
      h("h3", { class: "section-title", text: `Conversations${filtered ? " that match" : ""}` }), list));
    this.root.replaceChildren(...content);
    this.root.scrollTop = 0;
    const rows = run.rowsWhere(state.scope);
    this._page(list, rows, 0, token);
  }

  _breadcrumb(run, c) {
    const crumbs = [h("button", { type: "button", class: "crumb", onclick: () => this.handlers.onSelect(-1) }, "All")];
    if (c >= 0) {
      for (const a of run.path(c).slice(0, -1)) {
        crumbs.push(h("span", { class: "crumb-sep", text: "›" }),
          h("button", { type: "button", class: "crumb", title: run.cluster.name[a], onclick: () => this.handlers.onSelect(a) }, truncate(run.cluster.name[a], 28)));
      }
    }
    return h("nav", { class: "breadcrumb", "aria-label": "Cluster path" }, crumbs);
  }

  _children(run, children, counts, total) {
    const sorted = run.sorted(children, "size", counts).filter((k) => counts[k] > 0);
    const top = Math.max(1, ...sorted.map((k) => counts[k]));
    const list = h("div", { class: "bars" });
    const fill = (limit) => {
      list.replaceChildren(...sorted.slice(0, limit).map((k) => {
        const bar = h("span", { class: "bar-fill cluster" });
        bar.style.width = `${(counts[k] / top) * 100}%`;
        return h("button", { type: "button", class: "bar-row", title: run.cluster.name[k], onclick: () => this.handlers.onSelect(k) },
          h("span", { class: "bar-label", text: run.cluster.name[k] }),
          h("span", { class: "bar-track" }, bar),
          h("span", { class: "bar-count", text: fmtInt(counts[k]) }),
          h("span", { class: "bar-pct", text: fmtPct(total ? counts[k] / total : 0) }));
      }));
      if (sorted.length > limit) list.append(h("button", { type: "button", class: "link-button more", onclick: () => fill(limit + 20) }, `Show ${fmtInt(sorted.length - limit)} more`));
    };
    fill(8);
    return h("section", { class: "section" }, h("h3", { class: "section-title", text: "Sub-clusters" }), list);
  }

  _breakdowns(state) {
    const run = state.run;
    const ctx = { run, mask: state.scope, filters: state.filters, ranges: state.ranges, onValue: this.handlers.onValue, onRange: this.handlers.onRange };
    const section = (title, fields, note) => {
      const cards = fields.filter((f) => f.present > 0 && f.constant === null).map((f) => breakdownCard(f, ctx)).filter(Boolean);
      // A field with one value for the whole run (the one source file) is a line, not a chart.
      const same = fields.filter((f) => f.constant !== null);
      if (!cards.length && !same.length && !note) return null;
      return h("section", { class: "section" }, h("h3", { class: "section-title", text: title }), note, h("div", { class: "cards" }, cards),
        same.length ? h("p", { class: "field-note same-values" }, "Same in every conversation: ", same.map((f, k) => [k ? " · " : "", h("b", { text: f.label }), ` ${f.constant}`])) : null);
    };
    const facets = run.fields.filter((f) => f.source === "facet");
    const missing = facets.filter((f) => f.present === 0 && f.needs_llm).map((f) => f.label.toLowerCase());
    const note = missing.length
      ? h("p", { class: "notice", text: `${sentenceList(missing)} ${missing.length === 1 ? "is" : "are"} not computed in ${run.extractive ? "extractive mode (no language model)" : "this run"}.` })
      : null;
    return [section("Facets", facets, note), section("Metadata", run.fields.filter((f) => f.source !== "facet" && f.source !== "outcome"), null),
      section("Outcome values", run.fields.filter((f) => f.source === "outcome"), null)].filter(Boolean);
  }

  async _page(list, rows, start, token) {
    const more = list.querySelector(".more-conversations");
    if (more) more.remove();
    if (!rows.length) {
      list.append(h("p", { class: "empty-note", text: "No conversation here matches the search and filters." }));
      return;
    }
    const slice = rows.slice(start, start + PAGE);
    let data;
    try {
      data = await this.source.rows(this.run, slice);
    } catch (err) {
      if (token === this.token) list.append(h("p", { class: "error-note", text: err.message }));
      return;
    }
    if (token !== this.token) return;
    for (const row of data) list.append(conversationItem(row, () => this.handlers.onOpen(row.row)));
    if (rows.length > start + PAGE) {
      list.append(h("button", { type: "button", class: "button secondary more-conversations", onclick: () => this._page(list, rows, start + PAGE, token) },
        `Show more (${fmtInt(rows.length - start - PAGE)} left)`));
    }
  }
}

function conversationItem(row, onOpen) {
  const chips = [];
  if (row.languages && row.languages.length) chips.push(...row.languages.slice(0, 3).map((l) => h("span", { class: "chip", text: l })));
  if (row.user_frustration) chips.push(h("span", { class: "chip warm", text: `frustration ${row.user_frustration}` }));
  if (row.concerning_score && row.concerning_score > 1) chips.push(h("span", { class: "chip hot", text: `concern ${row.concerning_score}` }));
  if (row.assistant_errors && row.assistant_errors.length) chips.push(h("span", { class: "chip hot", text: plural(row.assistant_errors.length, "error") }));
  const turns = row.metadata && row.metadata.conversation_turns;
  if (turns) chips.push(h("span", { class: "chip plain", text: plural(turns, "message") }));
  return h("button", { type: "button", class: "conversation-item", "data-chat-id": row.chat_id, onclick: onOpen },
    h("span", { class: "conversation-summary", text: row.summary || row.request || "(no summary)" }),
    chips.length ? h("span", { class: "chips" }, chips) : null);
}

function stat(value, label) {
  return h("div", { class: "stat" }, h("div", { class: "stat-value", text: value }), h("div", { class: "stat-label", text: label }));
}

function countOnes(mask) {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

function sentenceList(items) {
  const text = items.length > 1 ? `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}` : items[0];
  return text.charAt(0).toUpperCase() + text.slice(1);
}
