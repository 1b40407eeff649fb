"use strict";
// What a run's privacy filter did (kura run --privacy strict|off), from overview.privacy, which
// is the run's privacy.json: a badge in the header that opens a panel of counts for a strict
// run, a discreet note for an unfiltered one. Counts only: withheld clusters are never named.

const PRIVACY_OFF_TITLE = "Made with kura run --privacy off (the default): summaries and cluster names were not "
  + "scrubbed of personal data, and clusters of any size are shown. kura run --privacy strict turns the filter on.";

/** The header element for the run's privacy profile. */
function privacyChip(run, kind) {
  const p = run.privacy;
  if (p.profile !== "strict") {
    return h("span", { class: "privacy-note", title: PRIVACY_OFF_TITLE, text: "privacy filter off" });
  }
  return h("details", { class: "privacy-details" },
    h("summary", { class: "badge privacy-badge", title: "What the privacy filter scrubbed, merged and withheld" },
      "Privacy-filtered · strict"),
    h("div", { class: "privacy-panel", role: "group", "aria-label": "Privacy filter" },
      h("p", { class: "privacy-lead", text: "Made with kura run --privacy strict. Counts only: withheld clusters are not in this run's data." }),
      h("dl", { class: "definitions" }, privacyFacts(p, run.rawText, kind).map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]))));
}

// The panel closes on a click elsewhere or Escape, like the other popovers.
document.addEventListener("click", (e) => {
  for (const open of document.querySelectorAll(".privacy-details[open]")) if (!open.contains(e.target)) open.open = false;
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") for (const open of document.querySelectorAll(".privacy-details[open]")) open.open = false;
});

/** [label, text] pairs for what privacy.json records; parts it lacks are left out. */
function privacyFacts(p, rawText, kind) {
  const facts = [];
  const scrubbed = p.scrubbed || {};
  for (const [part, label] of [["summaries", "Scrubbed in summaries"], ["clusters", "Scrubbed in cluster names"]]) {
    if (scrubbed[part]) facts.push([label, placeholderCounts(scrubbed[part])]);
  }
  if (p.min_conversations !== undefined) {
    const users = p.users_known
      ? ` and ${plural(p.min_users, "distinct user")}${p.user_field ? ` (by ${p.user_field})` : ""}`
      : p.min_users !== undefined ? " (no user ids known: the user minimum did not apply)" : "";
    facts.push(["Smallest cluster shown", plural(p.min_conversations, "conversation") + users]);
  }
  if (p.merged) facts.push(["Merged", `${plural(p.merged.clusters, "small cluster")} (${plural(p.merged.conversations, "conversation")}) into larger ones`]);
  if (p.audit) facts.push(["Privacy auditor", auditText(p.audit)]);
  if (p.withheld) facts.push(["Withheld", `${plural(p.withheld.clusters, "cluster")} (${plural(p.withheld.conversations, "conversation")}) not shown`]);
  facts.push(["Conversation text", rawTextNote(p, rawText, kind)]);
  return facts;
}

function placeholderCounts(counts) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return "nothing found";
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  return `${plural(total, "value")}: ${entries.map(([type, n]) => `[${type}] ${fmtInt(n)}`).join(" · ")}`;
}

function auditText(audit) {
  if (audit.skipped) return `skipped: ${audit.skipped}`;
  const withheld = (audit.withheld || []).length;
  const parts = [`${plural(audit.audited || 0, "cluster")} rated by ${audit.model || "a language model"}`];
  if (audit.threshold !== undefined) parts.push(`${plural(withheld, "cluster")} below ${audit.threshold} withheld`);
  if (audit.failed) parts.push(`${fmtInt(audit.failed)} could not be rated`);
  return parts.join(", ");
}

function rawTextNote(p, rawText, kind) {
  if (p.raw_text_kept === false) return "not kept in the run (kura run --keep-raw keeps it)";
  if (rawText) return kind === "report" ? "included in this report (--allow-raw-text)" : "shown: the server was started with --allow-raw-text";
  return kind === "report" ? "left out of this report" : "not shown: start the server with kura serve --allow-raw-text";
}

/** Why a strict run's conversation shows no messages, for the conversation view. */
function rawTextWithheldNote(run, kind) {
  if (run.privacy.profile !== "strict") return "Raw text not available for this conversation.";
  const how = run.privacy.raw_text_kept === false
    ? "the run did not keep it (kura run --keep-raw keeps it)"
    : kind === "report" ? "to include it, make the report with kura report --allow-raw-text"
      : "to read it, start the server with kura serve --allow-raw-text";
  return `Raw text not available: run made with --privacy strict. Its summary is shown; ${how}.`;
}
