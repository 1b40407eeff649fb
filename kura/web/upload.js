"use strict";
// "New run": drop conversation files (several are merged into one run), pick settings, start,
// watch each stage's progress, and open the result when it is done. Served app only.

class UploadDialog {
  /** handlers: onDone(runName) */
  constructor(source, options, handlers) {
    this.source = source;
    this.options = options;
    this.handlers = handlers;
    this.files = [];
    this.dialog = h("dialog", { class: "upload-dialog", "aria-label": "New run" });
    document.body.append(this.dialog);
    this.dialog.addEventListener("close", () => clearTimeout(this.poll));
  }

  open(files) {
    if (this.running) return this.dialog.showModal();
    if (!this.dialog.open) {
      this.files = [];
      this._form();
      this.dialog.showModal();
    }
    if (files && files.length) this._add(files);
  }

  _form() {
    const o = this.options;
    const d = o.defaults;
    this.fileInput = h("input", { type: "file", multiple: true, class: "visually-hidden", id: "upload-files" });
    this.fileInput.addEventListener("change", () => this._add([...this.fileInput.files]));
    const drop = h("label", { class: "dropzone", for: "upload-files" },
      h("span", { class: "dropzone-title", text: "Drop conversation files here" }),
      h("span", { class: "dropzone-hint", text: `or click to choose · any supported format (Claude, ChatGPT, ShareGPT, OpenAI messages, Kura, HH-RLHF, CSV, Parquet) · several files are merged · up to ${fmtBytes(o.max_upload_bytes)} in all` }));
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      e.stopPropagation();
      drop.classList.remove("over");
      this._add([...e.dataTransfer.files]);
    });
    this.fileList = h("ul", { class: "file-list" });
    this.error = h("p", { class: "error-note", role: "alert" });
    this.error.hidden = true;
    const select = (name, choices, value) => h("select", { name, class: "select" },
      choices.map((c) => { const opt = h("option", { value: c.id, text: c.label }); opt.selected = c.id === value; return opt; }));
    // Every setting but the model comes from the server's list (generated from kura.RunConfig).
    const input = (f) => f.choices ? select(f.name, f.choices, f.default)
      : h("input", { type: "number", name: f.name, class: "text-input", min: String(f.min ?? ""), max: String(f.max ?? ""),
        value: f.default == null ? "" : String(f.default), placeholder: f.default == null ? "automatic" : "" });
    this.fields = {
      name: h("input", { type: "text", name: "name", class: "text-input", placeholder: "upload-<date>-<time>", maxlength: "60" }),
      model: select("model", o.models, d.model),
    };
    for (const f of o.fields) this.fields[f.name] = input(f);
    const modelNote = h("p", { class: "field-note" });
    const describe = () => { modelNote.textContent = (o.models.find((m) => m.id === this.fields.model.value) || {}).description || ""; };
    this.fields.model.addEventListener("change", describe);
    describe();
    const row = (label, input, note) => h("label", { class: "form-row" }, h("span", { class: "form-label", text: label }), input, note ? h("span", { class: "field-note", text: note }) : null);
    this.startButton = h("button", { type: "submit", class: "button primary" }, "Start run");
    const form = h("form", { class: "upload-form", method: "dialog" },
      h("div", { class: "dialog-head" }, h("h2", { text: "New run" }),
        h("button", { type: "button", class: "link-button", onclick: () => this.dialog.close() }, "Cancel")),
      drop, this.fileInput, this.fileList,
      h("div", { class: "form-grid" },
        row("Name", this.fields.name, `saved as a new run ${o.new_runs_in}`),
        h("div", { class: "form-row" }, h("span", { class: "form-label", text: "Model" }), this.fields.model, modelNote),
        ...o.fields.filter((f) => !f.advanced).map((f) => row(f.label, this.fields[f.name], f.note))),
      h("details", { class: "advanced" }, h("summary", { text: "Advanced" }),
        h("div", { class: "form-grid" }, ...o.fields.filter((f) => f.advanced).map((f) => row(f.label, this.fields[f.name], f.note)))),
      this.error,
      h("div", { class: "dialog-actions" }, this.startButton));
    form.addEventListener("submit", (e) => { e.preventDefault(); this._start(); });
    this.dialog.replaceChildren(form);
    this._renderFiles();
  }

  _add(files) {
    const names = new Set(this.files.map((f) => f.name + f.size));
    for (const f of files) if (!names.has(f.name + f.size)) this.files.push(f);
    this._renderFiles();
  }

  _renderFiles() {
    const total = this.files.reduce((a, f) => a + f.size, 0);
    this.fileList.replaceChildren(...this.files.map((f, i) => h("li", { class: "file" },
      h("span", { class: "file-name", text: f.name }), h("span", { class: "file-size", text: fmtBytes(f.size) }),
      h("button", { type: "button", class: "link-button", "aria-label": `Remove ${f.name}`, onclick: () => { this.files.splice(i, 1); this._renderFiles(); } }, "Remove"))));
    const over = total > this.options.max_upload_bytes;
    this._error(over ? `These files are ${fmtBytes(total)} together, over this server's ${fmtBytes(this.options.max_upload_bytes)} limit: upload fewer at once.` : "");
    this.startButton.disabled = !this.files.length || over;
  }

  _error(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async _start() {
    const form = new FormData();
    for (const f of this.files) form.append("files", f, f.name);
    for (const [key, input] of Object.entries(this.fields)) form.append(key, input.value.trim());
    this.startButton.disabled = true;
    this._error("");
    const progress = h("div", { class: "progress" }, h("div", { class: "progress-fill" }));
    const status = h("p", { class: "field-note", text: "Uploading…" });
    this.dialog.querySelector(".dialog-actions").replaceChildren(h("div", { class: "upload-progress" }, status, progress));
    try {
      const job = await this.source.startJob(form, (fraction) => {
        progress.firstChild.style.width = `${Math.round(fraction * 100)}%`;
        status.textContent = `Uploading… ${Math.round(fraction * 100)}%`;
      });
      this.running = job.id;
      this._watch(job);
    } catch (err) {
      this.dialog.querySelector(".dialog-actions").replaceChildren(this.startButton);
      this.startButton.disabled = false;
      this._error(err.message);
    }
  }

  _watch(job) {
    this.dialog.replaceChildren(this._progress(job));
    if (job.status === "done") {
      this.running = null;
      setTimeout(() => {
        this.dialog.close();
        this.handlers.onDone(job.run);
      }, 400);
      return;
    }
    if (job.status === "failed") {
      this.running = null;
      return;
    }
    this.poll = setTimeout(async () => {
      try {
        this._watch(await this.source.job(job.id));
      } catch (err) {
        this._watch({ ...job, status: "failed", error: err.message });
      }
    }, 600);
  }

  _progress(job) {
    const current = job.stages.findIndex((s) => s.label === job.stage);
    const steps = job.stages.map((s, k) => {
      const state = job.status === "done" || s.seconds !== null && s.seconds !== undefined ? "done"
        : s.label === job.stage ? (job.status === "failed" ? "failed" : "active") : k < current ? "done" : "waiting";
      const count = s.done ? (s.total ? `${fmtInt(s.done)} / ${fmtInt(s.total)}` : fmtInt(s.done)) : "";
      return h("li", { class: `step ${state}` },
        h("span", { class: "step-dot", "aria-hidden": "true" }),
        h("span", { class: "step-label", text: s.label }),
        h("span", { class: "step-count", text: state === "done" && s.seconds !== null && s.seconds !== undefined ? `${count ? count + " · " : ""}${s.seconds.toFixed(1)} s` : count }));
    });
    const waiting = job.ahead ? `Waiting for ${plural(job.ahead, "run")} before it…` : "Starting…";
    const title = { queued: waiting, running: "Running…", done: "Done: opening the run", failed: "The run failed" }[job.status] || job.status;
    return h("div", { class: "upload-form job" },
      h("div", { class: "dialog-head" }, h("h2", { text: title }),
        h("button", { type: "button", class: "link-button", onclick: () => this.dialog.close() }, job.status === "running" || job.status === "queued" ? "Hide" : "Close")),
      h("p", { class: "field-note", text: `${job.run} · ${plural(job.files.length, "file")}: ${job.files.join(", ")} · ${job.seconds.toFixed(0)} s` }),
      h("ol", { class: "steps" }, steps),
      job.error ? h("p", { class: "error-note", role: "alert", text: job.error }) : null,
      job.status === "failed" ? h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "button primary", onclick: () => { this._form(); } }, "Try again")) : null);
  }
}

function fmtBytes(n) {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(n >= 10 * 1024 ** 2 ? 0 : 1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${n} B`;
}
