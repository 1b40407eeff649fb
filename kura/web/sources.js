"use strict";
// Where the data comes from: the JSON API (kura serve) or the JSON embedded in a static report
// (kura report). Both return the same shapes, so every view works unchanged on either.

class ApiError extends Error {}

// The access token of a server shared beyond this machine (kura serve --host ...). It arrives
// once, in the link the server printed (?token=...), is then kept for this tab only and taken
// out of the address bar (and so out of history and bookmarks), and goes with every request.
const ACCESS_TOKEN = (() => {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  let kept = null;
  try {
    if (given) sessionStorage.setItem("kura-token", given);
    kept = sessionStorage.getItem("kura-token");
  } catch (err) {
    // No storage (a file:// report, strict privacy settings): the token lives in memory only.
  }
  if (given) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  return given || kept || "";
})();

function withToken(headers) {
  return ACCESS_TOKEN ? { ...headers, "X-Kura-Token": ACCESS_TOKEN } : { ...headers };
}

/** The response to a request to the server; an ApiError with the server's message when it failed. */
async function fetchOk(url, options) {
  let response;
  try {
    response = await fetch(url, { ...options, headers: withToken(options && options.headers) });
  } catch (err) {
    throw new ApiError("The Kura server did not answer: is `kura serve` still running?");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(typeof body.detail === "string" ? body.detail : `${response.status} ${response.statusText}`);
  }
  return response;
}

async function getJSON(url, options) {
  return (await fetchOk(url, options)).json().catch(() => ({}));
}

/** A binary body of typed arrays (kura/server/packed.py), as its document. */
async function getArrays(url) {
  return unpackArrays(await (await fetchOk(url)).arrayBuffer());
}

const runUrl = (name, rest) => `api/runs/${encodeURIComponent(name)}${rest || ""}`;

class ApiSource {
  constructor() {
    this.kind = "served";
    this.rowCache = new Map();
  }
  async runs() { return (await getJSON("api/runs")).runs; }
  async options() { return getJSON("api/options"); }
  /**
   * The run as soon as the map can be drawn (the tree and the positions); its fields follow in
   * run.fieldsReady, its outcomes in run.outcomesReady (they take longest: the map never waits).
   */
  async open(name) {
    const [overview, points] = await Promise.all([getJSON(runUrl(name)), getArrays(runUrl(name, "/points"))]);
    this.rowCache = new Map();
    const run = new Run(overview, points);
    run.outcomes = null;
    run.fieldsReady = getArrays(runUrl(name, "/columns")).then((columns) => run.setFields(columns));
    run.outcomesReady = getJSON(runUrl(name, "/outcomes")).catch((err) => ({ error: err.message })).then((body) => {
      run.outcomes = new Outcomes(body);
    });
    return run;
  }
  /** Summary rows by row number, fetched in pages of at most 200 and kept for reuse. */
  async rows(run, numbers) {
    const missing = numbers.filter((r) => !this.rowCache.has(r));
    for (let i = 0; i < missing.length; i += 200) {
      const page = missing.slice(i, i + 200);
      const body = await getJSON(runUrl(run.name, `/summaries?rows=${page.join(",")}`));
      for (const row of body.rows) this.rowCache.set(row.row, row);
    }
    return numbers.map((r) => this.rowCache.get(r));
  }
  /** The summary row of one conversation, by its chat id. */
  async summaryOf(run, chatId) {
    for (const row of this.rowCache.values()) if (row.chat_id === chatId) return row;
    const [row] = (await getJSON(runUrl(run.name, `/summaries?id=${encodeURIComponent(chatId)}`))).rows;
    this.rowCache.set(row.row, row);
    return row;
  }
  async conversation(run, chatId) {
    return getJSON(runUrl(run.name, `/conversation?id=${encodeURIComponent(chatId)}`));
  }
  /** A Uint8Array over rows (1 = matches), or null for an empty query. */
  async search(run, query) {
    if (!parseQuery(query).length) return null;
    const body = await getJSON(runUrl(run.name, `/search?q=${encodeURIComponent(query)}`));
    const bits = b64bytes(body.mask);
    const mask = new Uint8Array(run.n);
    for (let i = 0; i < run.n; i++) mask[i] = (bits[i >> 3] >> (i & 7)) & 1;
    return mask;
  }
  /** Shares per period and rising/falling clusters (kura/analysis/trends.py) over the rows of mask. */
  async trends(run, { by, level, cluster, mask }) {
    return getJSON(runUrl(run.name, "/trends"), {
      method: "POST", headers: { "Content-Type": "application/json", "X-Kura-Request": "1" },
      body: JSON.stringify({ by, level, cluster: cluster || null, mask: mask ? packBits(mask) : null }),
    });
  }
  /** Upload files and start a run; onUpload(fraction) reports the upload itself. */
  startJob(form, onUpload) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "api/jobs");
      for (const [name, value] of Object.entries(withToken({ "X-Kura-Request": "1" }))) xhr.setRequestHeader(name, value);
      xhr.responseType = "json";
      xhr.upload.onprogress = (e) => e.lengthComputable && onUpload(e.loaded / e.total);
      xhr.onload = () => {
        const body = xhr.response || {};
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new ApiError(typeof body.detail === "string" ? body.detail : `upload failed (${xhr.status})`));
      };
      xhr.onerror = () => reject(new ApiError("The upload was interrupted: is the server still running?"));
      xhr.send(form);
    });
  }
  async job(id) { return getJSON(`api/jobs/${encodeURIComponent(id)}`); }
}

class EmbeddedSource {
  constructor(data) {
    if (data.format !== 1) throw new Error(`this report was written by another Kura version (format ${data.format})`);
    this.kind = "report";
    this.data = data;
    this.texts = null;
  }
  async runs() {
    const o = this.data.overview;
    return [{ name: o.name, status: "ready", mode: o.mode, conversations: o.size, clusters: o.clusters.id.length }];
  }
  async options() { return { uploads: false }; }
  async open() {
    const columns = decodeArrays(this.data.columns);
    const run = new Run(this.data.overview, columns);
    run.setFields(columns);
    run.outcomes = this.data.outcomes ? new Outcomes(this.data.outcomes) : null;
    run.fieldsReady = run.outcomesReady = Promise.resolve();
    return run;
  }
  row(i) {
    const r = this.data.rows;
    const out = { row: i };
    for (const key of Object.keys(r)) out[key] = r[key][i];
    return out;
  }
  async rows(run, numbers) { return numbers.map((i) => this.row(i)); }
  _rowOf(chatId) {
    const i = this.data.rows.chat_id.indexOf(chatId);
    if (i < 0) throw new ApiError(`no conversation ${JSON.stringify(chatId)} in this report`);
    return i;
  }
  async summaryOf(run, chatId) { return this.row(this._rowOf(chatId)); }
  async conversation(run, chatId) {
    const i = this._rowOf(chatId);
    const row = this.row(i);
    return {
      chat_id: chatId,
      created_at: row.created_at,
      metadata: row.metadata,
      messages: (this.data.messages[i] || []).map(([role, content]) => ({ role, content })),
      row: i,
      summary: row,
      cluster_path: this.data.paths[i] || [],
    };
  }
  /** The same fields and rules as the server's TextIndex (kura/server/search.py). */
  async search(run, query) {
    const terms = parseQuery(query);
    if (!terms.length) return null;
    if (!this.texts) {
      const r = this.data.rows;
      this.texts = r.chat_id.map((id, i) => {
        const parts = [id, r.summary[i], r.request && r.request[i], r.topic && r.topic[i], r.task && r.task[i]];
        const text = (this.data.messages[i] || []).map((m) => m[1]).join("\n");
        return (parts.map((p) => p || "").join("\n") + "\n" + text).toLowerCase();
      });
    }
    const mask = new Uint8Array(run.n);
    for (let i = 0; i < run.n; i++) mask[i] = terms.every((t) => this.texts[i].includes(t)) ? 1 : 0;
    return mask;
  }
}

/** The report's data when this page is a static report, else the API. */
function dataSource() {
  const embedded = document.getElementById("kura-data");
  return embedded ? new EmbeddedSource(JSON.parse(embedded.textContent)) : new ApiSource();
}
