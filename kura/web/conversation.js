"use strict";
// One conversation: its messages as chat bubbles, its summary and facets, metadata, and the
// clusters it sits in. Message text is shown as text (code fences as preformatted blocks).
// A run whose raw text is not shown (--privacy strict) gets its summary and a note instead.

const FACET_LABELS = [
  ["topic", "Topic"], ["task", "Task"], ["languages", "Languages"], ["concerning_score", "Concerning score"],
  ["user_frustration", "User frustration"], ["assistant_errors", "Assistant errors"],
];
const ROLE_LABELS = { user: "User", assistant: "Assistant", system: "System", tool: "Tool" };

class ConversationView {
  /** handlers: onSelect(c), onBack() */
  constructor(root, source, handlers) {
    this.root = root;
    this.source = source;
    this.handlers = handlers;
    this.token = 0;
  }

  /** Show the conversation; resolves to its row number (-1 when it could not be shown). */
  async show(run, chatId, backTo) {
    const token = ++this.token;
    this.root.replaceChildren(this._top(run, backTo), h("p", { class: "empty-note", text: "Loading the conversation…" }));
    let conv;
    try {
      conv = run.rawText ? await this.source.conversation(run, chatId) : await this._withoutText(run, chatId);
    } catch (err) {
      if (token === this.token) this.root.replaceChildren(this._top(run, backTo), h("p", { class: "error-note", text: err.message }));
      return -1;
    }
    if (token !== this.token) return -1;
    const s = conv.summary || {};
    const parts = [this._top(run, backTo), this._path(run, conv.cluster_path || [])];
    parts.push(h("h2", { class: "detail-title conversation-title", text: s.summary || "(no summary)" }));
    if (s.request && s.request !== s.summary) parts.push(h("p", { class: "detail-description", text: s.request }));
    const facets = FACET_LABELS
      .filter(([key]) => s[key] !== null && s[key] !== undefined && !(Array.isArray(s[key]) && !s[key].length))
      .map(([key, label]) => [label, Array.isArray(s[key]) ? s[key].join(", ") : String(s[key])]);
    if (facets.length) parts.push(h("section", { class: "section" }, h("h3", { class: "section-title", text: "Facets" }), definitions(facets)));
    const details = [["Conversation id", conv.chat_id]];
    if (conv.created_at) details.push(["Created", conv.created_at]);
    // The conversation's own metadata, plus what the pipeline derived (turn counts, extractors).
    for (const [key, value] of Object.entries({ ...(conv.metadata || {}), ...(s.metadata || {}) })) {
      details.push([key, value !== null && typeof value === "object" ? JSON.stringify(value) : String(value)]);
    }
    parts.push(h("section", { class: "section" }, h("h3", { class: "section-title", text: "Metadata" }), definitions(details)));
    const messages = conv.messages || [];
    parts.push(conv.withheld
      ? h("section", { class: "section" }, h("h3", { class: "section-title", text: "Transcript" }),
        h("p", { class: "privacy-withheld", role: "note", text: rawTextWithheldNote(run, this.source.kind) }))
      : h("section", { class: "section" },
        h("h3", { class: "section-title", text: `Transcript · ${plural(messages.length, "message")}` }),
        h("div", { class: "transcript" }, messages.map(bubble))));
    this.root.replaceChildren(...parts);
    this.root.scrollTop = 0;
    return conv.row === null || conv.row === undefined ? -1 : conv.row;
  }

  /** What can be shown without the raw text: the summary row, and its clusters from the tree. */
  async _withoutText(run, chatId) {
    const summary = await this.source.summaryOf(run, chatId);
    const base = run.base[summary.row];
    return {
      chat_id: chatId, created_at: summary.created_at, metadata: {}, summary, row: summary.row, withheld: true,
      cluster_path: base >= 0 ? run.path(base).map((c) => run.cluster.id[c]) : [],
    };
  }

  _top(run, backTo) {
    const label = backTo >= 0 ? run.cluster.name[backTo] : "All conversations";
    return h("div", { class: "conversation-top" },
      h("button", { type: "button", class: "back-button", title: "Back (Esc)", onclick: () => this.handlers.onBack() },
        h("span", { class: "back-arrow", text: "←" }), h("span", { text: truncate(label, 40) })));
  }

  _path(run, ids) {
    const crumbs = [];
    for (const id of ids) {
      const c = run.indexOf.get(id);
      if (c === undefined) continue;
      if (crumbs.length) crumbs.push(h("span", { class: "crumb-sep", text: "›" }));
      crumbs.push(h("button", { type: "button", class: "crumb", title: run.cluster.name[c], onclick: () => this.handlers.onSelect(c) }, truncate(run.cluster.name[c], 32)));
    }
    return h("nav", { class: "breadcrumb", "aria-label": "Clusters of this conversation" }, crumbs);
  }
}

function definitions(pairs) {
  return h("dl", { class: "definitions" }, pairs.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
}

function bubble(message) {
  const role = message.role || "user";
  return h("div", { class: `bubble-row ${role}` },
    h("div", { class: `bubble ${role}` },
      h("div", { class: "bubble-role", text: ROLE_LABELS[role] || role }),
      messageBody(message.content || "")));
}

/** Text with ``` fences: prose as wrapped text, fenced code as a preformatted block. */
function messageBody(text) {
  const body = h("div", { class: "bubble-text" });
  const pieces = text.split("```");
  pieces.forEach((piece, k) => {
    if (k % 2 === 0) {
      if (piece.trim()) body.append(h("p", { text: piece.replace(/^\n+|\n+$/g, "") }));
    } else {
      const newline = piece.indexOf("\n");
      const tag = newline > 0 ? piece.slice(0, newline).trim() : "";
      const code = /^[\w+#.-]{1,20}$/.test(tag) ? piece.slice(newline + 1) : piece.replace(/^\n/, "");
      body.append(h("pre", { class: "code", "data-language": tag || null }, h("code", { text: code.replace(/\n$/, "") })));
    }
  });
  return body;
}
