"use strict";
// The explorer: state (run, selected cluster, open conversation, search, filters, colouring)
// lives in the URL's #fragment, so a view can be bookmarked, shared, and walked back through.
// Every change goes through navigate() -> apply() -> refresh(), which redraws each view.

const DEFAULT_COLOUR = "level:0";

const App = {
  source: null,
  options: null,
  runs: [],
  run: null,
  state: null,
  cache: {},
  opening: null, // {name, run: Promise}: the run the address named at start-up, already on its way
};

// -- the URL ---------------------------------------------------------------------------------------
function parseHash(hash) {
  const params = new URLSearchParams((hash || "").replace(/^#/, ""));
  const state = { run: params.get("run") || "", cluster: params.get("cluster") || "", conv: params.get("conv") || "",
    q: params.get("q") || "", colour: params.get("colour") || DEFAULT_COLOUR, sort: /^(name|outcome:.+)$/.test(params.get("sort") || "") ? params.get("sort") : "size",
    filters: {}, ranges: {}, view: params.get("view") || "", by: ["day", "month"].includes(params.get("by")) ? params.get("by") : "week",
    tlevel: params.get("tlevel") || "" };
  for (const [key, value] of params) {
    if (key.startsWith("f.")) (state.filters[key.slice(2)] ||= []).push(value);
    else if (key.startsWith("r.")) {
      const [lo, hi] = value.split("..");
      state.ranges[key.slice(2)] = [lo === "" ? -Infinity : Number(lo), hi === "" || hi === undefined ? Infinity : Number(hi)];
    }
  }
  return state;
}

function formatHash(state) {
  const params = new URLSearchParams();
  if (state.run) params.set("run", state.run);
  if (state.cluster) params.set("cluster", state.cluster);
  if (state.conv) params.set("conv", state.conv);
  if (state.q) params.set("q", state.q);
  for (const [key, values] of Object.entries(state.filters)) for (const v of values) params.append(`f.${key}`, v);
  for (const [key, [lo, hi]] of Object.entries(state.ranges)) params.append(`r.${key}`, `${isFinite(lo) ? lo : ""}..${isFinite(hi) ? hi : ""}`);
  if (state.colour !== DEFAULT_COLOUR) params.set("colour", state.colour);
  if (state.sort !== "size") params.set("sort", state.sort);
  if (state.view) params.set("view", state.view);
  if (state.by !== "week") params.set("by", state.by);
  if (state.tlevel) params.set("tlevel", state.tlevel);
  return "#" + params.toString();
}

/** Change the state: push a history entry (selection, filters) or replace it (typing a search). */
function navigate(patch, { push = false, focus = false } = {}) {
  const next = { ...App.state, ...patch };
  const hash = formatHash(next);
  if (hash !== location.hash) history[push ? "pushState" : "replaceState"](null, "", hash);
  App.focusNext = focus;
  return apply();
}

// -- applying the state --------------------------------------------------------------------------------
async function apply() {
  const state = parseHash(location.hash);
  if (!state.run) {
    const ready = App.runs.filter((r) => r.status === "ready");
    if (ready.length === 1) {
      history.replaceState(null, "", formatHash({ ...state, run: ready[0].name }));
      return apply();
    }
    App.state = state;
    return showLanding();
  }
  if (!App.run || App.run.name !== state.run) {
    const ok = await openRun(state.run);
    if (!ok) return;
  }
  App.state = state;
  await refresh();
  // Tests and the benchmark wait for this: the map, the tree and the panels all drawn.
  document.getElementById("layout").dataset.ready = App.run.name;
}

async function openRun(name) {
  delete document.getElementById("layout").dataset.ready;
  showScreen("loading", `Opening ${name}…`);
  let run;
  try {
    const early = App.opening && App.opening.name === name ? App.opening.run : null;
    App.opening = null;
    run = await (early || App.source.open(name));
  } catch (err) {
    showLanding(`Could not open the run “${name}”: ${err.message}`);
    return false;
  }
  App.run = run;
  App.cache = {};
  App.runPicker.value = name;
  renderRunInfo(run);
  App.tree.setRun(run);
  showScreen("explorer");
  // The map first: it needs only the tree and the positions. Fields (filters, breakdowns,
  // colours by field) follow; outcomes, the slowest to compute, whenever they are ready.
  const colour = parseHash(location.hash).colour;
  App.map.setRun(run, run.colouring(colour));
  if (colour.startsWith("level:")) App.cache.colour = colour; // drawn already: refresh() need not again
  // The tree's top and the colour menu's levels need no fields either (a few rows: cheap).
  renderColourMenu(run);
  App.colourMenu.value = colour;
  App.mapCount.textContent = plural(run.n, "conversation");
  App.tree.render({ counts: run.cluster.count, total: run.n, filtered: false, selected: -1, sort: parseHash(location.hash).sort, scroll: false });
  document.getElementById("detail").replaceChildren(h("p", { class: "empty-note", text: "Loading the facets and conversations…" }));
  try {
    await run.fieldsReady;
  } catch (err) {
    if (App.run === run) showLanding(`Could not open the run “${name}”: ${err.message}`);
    return false;
  }
  if (App.run !== run) return false; // another run was chosen meanwhile
  App.filters.setRun(run);
  App.tree.showOutcomes(run); // when they came before the fields (else the next lines wait for them)
  renderColourMenu(run);
  if (!run.outcomes) {
    run.outcomesReady.then(() => {
      if (App.run !== run) return;
      App.tree.showOutcomes(run);
      renderColourMenu(run);
      App.cache.colour = null; // an outcome colouring asked for in the URL can be drawn now
      refresh();
    });
  }
  return true;
}

async function refresh() {
  const run = App.run, st = App.state, cache = App.cache;
  // Searches are kept by query, so going back and forth never asks twice (or races).
  if (!cache.searches) cache.searches = new Map();
  if (!cache.searches.has(st.q)) {
    App.filters.render({ ...st, matching: 0, searching: true });
    cache.searches.set(st.q, App.source.search(run, st.q).catch((err) => {
      toast(err.message);
      return null;
    }));
  }
  const search = await cache.searches.get(st.q);
  if (App.state !== st) return; // a newer navigation took over while the search ran
  const filterKey = JSON.stringify([st.filters, st.ranges]);
  if (cache.filterKey !== filterKey) {
    cache.filterKey = filterKey;
    cache.filter = run.filterMask(st.filters, st.ranges);
  }
  const active = and(search, cache.filter);
  const counts = active ? run.counts(active) : run.cluster.count;
  const c = st.cluster && run.indexOf.has(st.cluster) ? run.indexOf.get(st.cluster) : -1;
  if (cache.selectedCluster !== c) {
    cache.selectedCluster = c;
    cache.members = c >= 0 ? run.members(c) : null;
    if (c >= 0) {
      App.tree.reveal(c);
      App.tree.expanded.add(c);
    }
  }
  const scope = and(cache.members, active);
  const total = active ? countOnes(active) : run.n;
  App.tree.render({ counts, total, filtered: !!active, selected: c, sort: st.sort, scroll: true });
  if (cache.colour !== st.colour) {
    cache.colour = st.colour;
    App.map.setColouring(run.colouring(st.colour));
    App.colourMenu.value = st.colour;
    if (App.colourMenu.value !== st.colour) App.colourMenu.value = DEFAULT_COLOUR; // a stale link
  }
  App.map.setMasks(active, cache.members, c, counts);
  if (App.focusNext) App.map.focus(cache.members || (active && countOnes(active) ? active : null) || new Uint8Array(run.n).fill(1));
  App.focusNext = false;
  App.filters.render({ ...st, matching: total, searching: false });
  App.mapCount.textContent = active ? `${fmtInt(total)} of ${plural(run.n, "conversation")}` : plural(run.n, "conversation");
  if (st.conv) App.conversation.show(run, st.conv, c).then((row) => App.state === st && App.map.setMarked(row));
  else {
    App.map.setMarked(-1);
    App.detail.render({ run, cluster: c, scope, counts, filters: st.filters, ranges: st.ranges, filtered: !!active });
  }
  if (App.trends) App.trends.update(st, { run, active, cluster: c });
  document.title = `${c >= 0 ? run.cluster.name[c] + " · " : ""}${run.name} · Kura`;
}

function and(a, b) {
  if (!a) return b || null;
  if (!b) return a;
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] & b[i];
  return out;
}

// -- actions ---------------------------------------------------------------------------------------------
function selectCluster(c, focus = true) {
  navigate({ cluster: c >= 0 ? App.run.cluster.id[c] : "", conv: "" }, { push: true, focus });
}

function openConversation(row) {
  const run = App.run;
  App.source.rows(run, [row]).then(([r]) => {
    // Stay in the selected cluster when the conversation is in it; else select its base cluster.
    const base = run.base[row];
    const keep = App.state.cluster && base >= 0 && run.path(base).includes(run.indexOf.get(App.state.cluster));
    navigate({ conv: r.chat_id, cluster: keep ? App.state.cluster : base >= 0 ? run.cluster.id[base] : "" }, { push: true });
  }, (err) => toast(err.message));
}

function toggleValue(key, value) {
  const filters = { ...App.state.filters };
  const values = new Set(filters[key] || []);
  values.has(value) ? values.delete(value) : values.add(value);
  if (values.size) filters[key] = [...values];
  else delete filters[key];
  navigate({ filters }, { push: true });
}

function setRange(key, lo, hi) {
  const ranges = { ...App.state.ranges };
  const current = ranges[key];
  if (lo === null || (current && current[0] === lo && current[1] === hi)) delete ranges[key];
  else ranges[key] = [lo, hi];
  navigate({ ranges }, { push: true });
}

// -- screens -----------------------------------------------------------------------------------------------
function showScreen(name, message) {
  document.body.dataset.screen = name;
  document.getElementById("layout").hidden = name !== "explorer";
  document.getElementById("landing").hidden = name === "explorer";
  if (name === "loading") document.getElementById("landing").replaceChildren(h("div", { class: "landing-card" }, h("p", { class: "empty-note", text: message })));
}

function showLanding(error) {
  showScreen("landing");
  App.run = null;
  App.runPicker.value = "";
  renderRunInfo(null);
  const uploads = App.options.uploads;
  const cards = App.runs.map((r) => {
    const ready = r.status === "ready";
    return h(ready ? "button" : "div", { type: ready ? "button" : null, class: "run-card" + (ready ? "" : " disabled"),
      onclick: ready ? () => navigate({ run: r.name, cluster: "", conv: "", q: "", filters: {}, ranges: {} }, { push: true }) : null },
      h("span", { class: "run-card-name", text: r.name }),
      h("span", { class: "run-card-meta", text: ready
        ? [r.conversations !== null && r.conversations !== undefined ? plural(r.conversations, "conversation") : "", r.clusters ? plural(r.clusters, "cluster") : "", r.mode || ""].filter(Boolean).join(" · ")
        : r.status === "running" ? "running…" : "not finished: run `kura run` on it again" }),
      r.updated_at ? h("span", { class: "run-card-date", text: r.updated_at.slice(0, 16).replace("T", " ") }) : null);
  });
  document.getElementById("landing").replaceChildren(h("div", { class: "landing-card" },
    h("h1", { text: App.runs.length ? "Choose a run" : "No runs here yet" }),
    error ? h("p", { class: "error-note", role: "alert", text: error }) : null,
    App.runs.length
      ? h("div", { class: "run-cards" }, cards)
      : h("p", { class: "empty-note", text: uploads ? "Drop conversation files on “New run” to make one, or run `kura run FILES --out DIR` and serve its folder." : "Run `kura run FILES --out DIR`, then `kura serve DIR`." }),
    uploads ? h("div", { class: "landing-actions" }, h("button", { type: "button", class: "button primary", onclick: () => App.upload.open() }, "New run")) : null));
}

function renderRunPicker() {
  const picker = App.runPicker;
  const ready = App.runs.filter((r) => r.status === "ready");
  picker.replaceChildren(h("option", { value: "", text: ready.length ? "Choose a run…" : "No runs yet" }),
    ...ready.map((r) => h("option", { value: r.name, text: r.name })));
  if (App.run) picker.value = App.run.name;
}

function renderRunInfo(run) {
  const info = document.getElementById("run-info");
  if (!run) return info.replaceChildren();
  const extractive = run.extractive;
  const chips = [h("span", { class: "badge" + (extractive ? " neutral" : " accent"), title: run.mode, text: extractive ? "Extractive" : "Language model" })];
  if (App.source.kind === "report") chips.push(h("span", { class: "badge outline", title: "A static report: no server, no network", text: `Report · ${App.source.data.generated_at.slice(0, 10)}` }));
  chips.push(privacyChip(run, App.source.kind));
  info.replaceChildren(...chips);
}

function renderColourMenu(run) {
  const menu = App.colourMenu;
  const levels = [];
  for (let level = 0; level <= run.maxLevel; level++) {
    const label = level === 0 ? "Top-level cluster" : level === run.maxLevel ? "Base cluster" : `Level ${level + 1} cluster`;
    levels.push(h("option", { value: `level:${level}`, text: label }));
  }
  const fields = run.fields.filter((f) => f.present > 0 && f.constant === null).map((f) => h("option", { value: `field:${f.key}`, text: f.label }));
  const outcomes = run.outcomes ? run.outcomes.list.map((o) => h("option", { value: `outcome:${o.key}`, text: o.label })) : [];
  menu.replaceChildren(h("optgroup", { label: "Clusters" }, levels), outcomes.length ? h("optgroup", { label: "Outcome by cluster" }, outcomes) : null,
    fields.length ? h("optgroup", { label: "Facets and metadata" }, fields) : null);
}

function toast(message) {
  const box = h("div", { class: "toast", role: "status", text: message });
  document.body.append(box);
  setTimeout(() => box.remove(), 5000);
}

async function reloadRuns() {
  App.runs = await App.source.runs();
  renderRunPicker();
}

// -- start-up ----------------------------------------------------------------------------------------------
async function boot() {
  App.source = dataSource();
  const runs = App.source.runs();
  // The run the address names is fetched at once, alongside the list of runs and the options.
  const named = parseHash(location.hash).run;
  if (named) {
    App.opening = { name: named, run: App.source.open(named) };
    App.opening.run.catch(() => {}); // reported by openRun, which awaits it
  }
  App.options = await App.source.options();
  App.runPicker = h("select", { class: "select run-select", "aria-label": "Run" });
  App.runPicker.addEventListener("change", () => {
    if (App.runPicker.value) navigate({ run: App.runPicker.value, cluster: "", conv: "", q: "", filters: {}, ranges: {} }, { push: true });
  });
  document.getElementById("run-picker").append(App.runPicker);
  if (App.options.uploads) {
    App.upload = new UploadDialog(App.source, App.options, {
      onDone: async (name) => {
        await reloadRuns();
        navigate({ run: name, cluster: "", conv: "", q: "", filters: {}, ranges: {} }, { push: true });
      },
    });
    document.getElementById("actions").append(h("button", { type: "button", class: "button primary", onclick: () => App.upload.open() }, "New run"));
    // Files dropped anywhere start a new run (instead of the browser leaving the page to show them).
    const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    document.addEventListener("dragover", (e) => { if (carriesFiles(e)) e.preventDefault(); });
    document.addEventListener("drop", (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      App.upload.open([...e.dataTransfer.files]);
    });
  }
  if (App.source.kind === "served") {
    App.diff = new DiffDialog({ onSelect: (id) => navigate({ cluster: id, conv: "" }, { push: true, focus: true }) });
    const others = () => App.runs.filter((r) => r.status === "ready" && (!App.run || r.name !== App.run.name)).map((r) => r.name);
    document.getElementById("actions").prepend(h("button", { type: "button", class: "button secondary", title: "What changed since another run",
      onclick: () => (App.run ? App.diff.open(App.run, others()) : toast("Open a run first, then compare it with another")) }, "Compare"));
  }
  App.filters = new FilterBar(document.getElementById("search-area"), document.getElementById("filter-bar"), {
    onSearch: (q) => navigate({ q: q.trim() }),
    onValue: toggleValue,
    onRange: setRange,
    onClear: () => navigate({ q: "", filters: {}, ranges: {} }, { push: true }),
  });
  App.tree = new TreeView(document.getElementById("tree"), {
    onSelect: (c) => selectCluster(c),
    onSort: (sort) => navigate({ sort }),
  });
  App.colourMenu = h("select", { class: "select small", "aria-label": "Colour the map by" });
  App.colourMenu.addEventListener("change", () => navigate({ colour: App.colourMenu.value }));
  App.mapCount = h("span", { class: "map-count" });
  document.getElementById("map-toolbar").append(
    h("label", { class: "toolbar-label" }, h("span", { text: "Colour by" }), App.colourMenu),
    App.mapCount,
    h("span", { class: "map-hint", text: "Scroll to zoom · drag to pan · click a dot or a name" }));
  App.map = new MapView(document.getElementById("map"), {
    onPick: (row) => openConversation(row),
    onPickCluster: (c) => selectCluster(c),
    onHoverRow: (row) => App.source.rows(App.run, [row]).then(([r]) => r.summary, () => null),
    onLegend: (item) => (item.cluster !== undefined ? selectCluster(item.cluster) : toggleValue(item.field, item.value)),
  });
  if (App.source.trends) {
    App.trends = new TrendsView(document.getElementById("time-view"), document.getElementById("map-toolbar"), App.source, {
      onView: (view) => navigate({ view }, { push: true }), onSelect: (c) => selectCluster(c, false),
      onBy: (by) => navigate({ by }, { push: true }), onLevel: (tlevel) => navigate({ tlevel }, { push: true }),
    });
  }
  const detailRoot = document.getElementById("detail");
  App.detail = new DetailView(detailRoot, App.source, {
    onSelect: (c) => selectCluster(c), onOpen: openConversation, onValue: toggleValue, onRange: setRange,
  });
  App.conversation = new ConversationView(detailRoot, App.source, {
    onSelect: (c) => selectCluster(c),
    onBack: () => navigate({ conv: "" }, { push: true }),
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !App.run || document.querySelector("dialog[open]")) return;
    if (e.target instanceof HTMLInputElement && e.target.value) return;
    if (App.state.conv) navigate({ conv: "" }, { push: true });
    else if (App.state.cluster) {
      const parent = App.run.cluster.parent[App.run.indexOf.get(App.state.cluster)];
      selectCluster(parent === undefined ? -1 : parent, false);
    }
  });
  window.addEventListener("hashchange", () => apply());
  try {
    App.runs = await runs;
    renderRunPicker();
  } catch (err) {
    App.runs = [];
    return showLanding(err.message);
  }
  await apply();
}

document.addEventListener("DOMContentLoaded", () => {
  boot().catch((err) => {
    document.body.replaceChildren(h("div", { class: "fatal" }, h("h1", { text: "The explorer could not start" }), h("p", { text: err.message })));
    throw err;
  });
});
