"use strict";
// The 2D map: every conversation as a dot on one <canvas>, cluster names on top.
// Dots are written straight into an ImageData buffer (a few milliseconds for 100,000 of them),
// which is why zooming and panning stay smooth at that size.
// Hover and click ask one question, hitTest(px, py), against the layout the last frame drew
// (view, size, label boxes): what the pointer is over is what a click picks, even when the map
// re-lays itself out (a resize, a glide) between the two. After every frame the hover is worked
// out again at the pointer, so the highlight and tooltip never describe a stale layout.

const MAP_BG = rgba32("#fbfcfd");
const MAP_DIM = rgba32("#b9c0ca");
const MAP_FAINT = rgba32("#eceff3");
const GRID = 192;

class MapView {
  /** handlers: onPick(row), onPickCluster(c), onHoverRow(row) -> Promise<string|null>, onLegend(item) */
  constructor(root, handlers) {
    this.root = root;
    this.handlers = handlers;
    this.canvas = h("canvas", { class: "map-canvas", role: "img", "aria-label": "Map of conversations: drag to pan, scroll to zoom" });
    this.tooltip = h("div", { class: "map-tooltip", role: "tooltip" });
    this.tooltip.hidden = true;
    this.legend = h("div", { class: "map-legend" });
    this.legend.hidden = true;
    const button = (label, title, fn) => h("button", { class: "map-button", type: "button", title, "aria-label": title, onclick: fn }, label);
    this.controls = h("div", { class: "map-controls" },
      button("+", "Zoom in", () => this.zoomBy(1.6)),
      button("−", "Zoom out", () => this.zoomBy(1 / 1.6)),
      button("⤢", "Show everything", () => this.fitAll(true)));
    root.append(this.canvas, this.tooltip, this.legend, this.controls);
    this.ctx = this.canvas.getContext("2d");
    this.run = null;
    this.view = { cx: 0, cy: 0, scale: 1 };
    this.labelBoxes = [];
    this.drawn = null; // the layout of the last frame: { view, width, height, labelBoxes }
    this.pointer = null; // where the pointer is over the canvas: client coordinates, as the canvas may move
    this.hoverRow = -1;
    this.hoverCluster = -1;
    this.selectedCluster = -1;
    this.marked = -1;
    this.firstDrawn = null;
    this._bindEvents();
    new ResizeObserver(() => this.resize()).observe(root);
  }

  /** colouring: the result of Run.colouring(mode), so that the first frame has its colours. */
  setRun(run, colouring) {
    this.run = run;
    this.colours = colouring.colours;
    this._renderLegend(colouring.legend);
    this.state = new Uint8Array(run.n).fill(2);
    this.hasFaint = this.hasDim = false;
    this.selectedCluster = this.marked = -1;
    this.clusterCounts = run.cluster.count;
    this.cells = null; // the hit-test grid: built on the first hover, not before the first map
    this.fitted = false;
    this.resize(); // fits the view to the run and draws
  }

  /** colouring: the result of Run.colouring(mode). */
  setColouring(colouring) {
    this.colours = colouring.colours;
    this._renderLegend(colouring.legend);
    this.draw();
  }

  /** active: rows passing filters and search (null: all); selected: rows of the selected cluster. */
  setMasks(active, selected, selectedCluster, clusterCounts) {
    const run = this.run;
    for (let i = 0; i < run.n; i++) {
      this.state[i] = active && !active[i] ? 0 : selected && !selected[i] ? 1 : 2;
    }
    this.hasFaint = !!active;
    this.hasDim = !!selected;
    this.selectedCluster = selectedCluster;
    this.clusterCounts = clusterCounts;
    this.draw();
  }

  /** Ring the dot of the open conversation (-1: none). */
  setMarked(row) {
    if (row === this.marked) return;
    this.marked = row;
    this.draw();
  }

  // -- view ------------------------------------------------------------------------------------
  resize() {
    const rect = this.root.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.width = Math.max(1, rect.width);
    this.height = Math.max(1, rect.height);
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.image = null;
    if (this.run && !this.fitted) this.fitAll(false);
    // Resizing the canvas has just cleared it: draw now, so the picture, the label boxes and
    // the hover never wait a frame in different layouts.
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    this._draw();
  }

  _bounds(rows) {
    const { x, y } = this.run;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const visit = (i) => {
      const a = x[i], b = y[i];
      if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
    };
    if (rows) for (let i = 0; i < rows.length; i++) { if (rows[i]) visit(i); }
    else for (let i = 0; i < this.run.n; i++) visit(i);
    return isFinite(x0) ? { x0, x1, y0, y1 } : null;
  }

  _viewFor(b) {
    const w = Math.max(b.x1 - b.x0, 1e-6), hgt = Math.max(b.y1 - b.y0, 1e-6);
    const scale = Math.min((this.width - 48) / w, (this.height - 48) / hgt);
    return { cx: (b.x0 + b.x1) / 2, cy: (b.y0 + b.y1) / 2, scale: Math.max(scale, 1e-6) };
  }

  fitAll(animate) {
    const b = this.run && this._bounds(null);
    if (!b || this.width < 10) return;
    this.fitted = true;
    const target = this._viewFor(b);
    this.fitScale = target.scale;
    this._go(target, animate);
  }

  /** Zoom to the rows where mask is 1 (a selected cluster), never closer than 40x. */
  focus(mask) {
    const b = this._bounds(mask);
    if (!b) return;
    const target = this._viewFor(b);
    target.scale = Math.min(target.scale * 0.85, this.fitScale * 40);
    this._go(target, true);
  }

  zoomBy(factor, atX, atY) {
    const v = this.view;
    const px = atX === undefined ? this.width / 2 : atX;
    const py = atY === undefined ? this.height / 2 : atY;
    const [dx, dy] = this.toData(px, py);
    const scale = Math.min(this.fitScale * 400, Math.max(this.fitScale * 0.3, v.scale * factor));
    // Keep the point under the cursor where it is.
    this.view = { scale, cx: dx - (px - this.width / 2) / scale, cy: dy + (py - this.height / 2) / scale };
    this.draw();
  }

  _go(target, animate) {
    cancelAnimationFrame(this.animation);
    this.animating = false;
    if (!animate) {
      this.view = target;
      this.draw();
      return;
    }
    const from = { ...this.view };
    const start = performance.now();
    this.animating = true;
    const step = (now) => {
      const t = Math.min(1, (now - start) / 350);
      const e = t < 0.5 ? 2 * t * t : 1 - Math.pow(-2 * t + 2, 2) / 2;
      this.view = {
        cx: from.cx + (target.cx - from.cx) * e,
        cy: from.cy + (target.cy - from.cy) * e,
        scale: Math.exp(Math.log(from.scale) + (Math.log(target.scale) - Math.log(from.scale)) * e),
      };
      this._draw();
      if (t < 1) this.animation = requestAnimationFrame(step);
      else this.animating = false;
    };
    this.animation = requestAnimationFrame(step);
  }

  toData(px, py, layout = this) {
    const v = layout.view;
    return [v.cx + (px - layout.width / 2) / v.scale, v.cy - (py - layout.height / 2) / v.scale];
  }
  toScreen(x, y) {
    const v = this.view;
    return [(x - v.cx) * v.scale + this.width / 2, -(y - v.cy) * v.scale + this.height / 2];
  }

  // -- drawing ---------------------------------------------------------------------------------
  draw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this._draw();
    });
  }

  _pointSize() {
    const n = this.run.n;
    const base = n <= 1000 ? 6 : n <= 5000 ? 4.5 : n <= 30000 ? 3 : 2;
    const zoom = Math.sqrt(Math.max(1, this.view.scale / this.fitScale));
    return Math.round(Math.min(base * Math.min(zoom, 2.2), 9) * this.dpr);
  }

  /** Pixel offsets of a round dot `size` device pixels wide, in a buffer `W` pixels wide. */
  _stamp(size, W) {
    if (this.stampWidth !== W) {
      this.stamps = new Map();
      this.stampWidth = W;
    }
    let offsets = this.stamps.get(size);
    if (!offsets) {
      const list = [];
      const c = (size - 1) / 2, r2 = (size / 2) * (size / 2) + 0.5, half = Math.floor(size / 2);
      for (let dy = 0; dy < size; dy++) {
        for (let dx = 0; dx < size; dx++) {
          if ((dx - c) ** 2 + (dy - c) ** 2 <= r2) list.push((dy - half) * W + (dx - half));
        }
      }
      offsets = Int32Array.from(list);
      this.stamps.set(size, offsets);
    }
    return offsets;
  }

  _draw() {
    const { ctx, canvas, run } = this;
    const W = canvas.width, H = canvas.height;
    if (!run || W < 2 || H < 2) return;
    if (!this.image || this.image.width !== W || this.image.height !== H) {
      this.image = ctx.createImageData(W, H);
      this.buf = new Uint32Array(this.image.data.buffer);
    }
    const buf = this.buf;
    buf.fill(MAP_BG);
    const s = this.view.scale * this.dpr;
    const ox = W / 2 - this.view.cx * s, oy = H / 2 + this.view.cy * s;
    const size = this._pointSize();
    const full = this._stamp(size, W);
    const small = this._stamp(Math.max(1, size - 1), W);
    const { x, y, n } = run;
    const state = this.state, colours = this.colours;
    const m = Math.ceil(size / 2) + 1;
    // Filtered-out dots first, then dimmed ones, then the ones that matter on top.
    for (let pass = this.hasFaint ? 0 : this.hasDim ? 1 : 2; pass <= 2; pass++) {
      const offsets = pass === 2 ? full : small;
      const fixed = pass === 0 ? MAP_FAINT : MAP_DIM;
      for (let i = 0; i < n; i++) {
        if (state[i] !== pass) continue;
        const px = (x[i] * s + ox) | 0, py = (oy - y[i] * s) | 0;
        if (px < m || py < m || px >= W - m || py >= H - m) continue;
        const at = py * W + px, colour = pass === 2 ? colours[i] : fixed;
        for (let k = 0; k < offsets.length; k++) buf[at + offsets[k]] = colour;
      }
    }
    ctx.putImageData(this.image, 0, 0);
    ctx.save();
    ctx.scale(this.dpr, this.dpr);
    this._drawHover(ctx);
    this._drawLabels(ctx);
    ctx.restore();
    this.drawn = { view: { ...this.view }, width: this.width, height: this.height, labelBoxes: this.labelBoxes };
    if (this.pointer) this._hover(...this._local(this.pointer));
    if (!this.firstDrawn) {
      // When the first map was on screen (ms since navigation start): the benchmark reads it.
      this.firstDrawn = performance.now();
      this.root.dataset.drawn = String(run.n);
    }
  }

  _drawHover(ctx) {
    const ring = (row, radius, colour, width) => {
      if (row < 0 || row >= this.run.n) return;
      const [px, py] = this.toScreen(this.run.x[row], this.run.y[row]);
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, Math.PI * 2);
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.stroke();
    };
    ring(this.marked, 9, "#ffffff", 5);
    ring(this.marked, 9, "#4f46e5", 2.5);
    ring(this.hoverRow, 7, "#111827", 2);
  }

  /** Names of the clusters at the level the zoom shows, largest first, never overlapping. */
  _drawLabels(ctx) {
    const run = this.run;
    const zoom = this.view.scale / this.fitScale;
    const level = Math.min(run.maxLevel, Math.max(0, Math.floor(Math.log(zoom) / Math.log(2.5) + 0.15)));
    const counts = this.clusterCounts;
    const sel = this.selectedCluster;
    const priority = new Map();
    if (sel >= 0) {
      run.path(sel).forEach((c) => priority.set(c, c === sel ? 3 : 1));
      run.children[sel].forEach((c) => priority.set(c, 2));
    }
    const candidates = [];
    for (let c = 0; c < run.nc; c++) {
      if (!counts[c] || run.cluster.x[c] === null) continue;
      const p = priority.get(c);
      if (p === undefined && run.cluster.level[c] !== level) continue;
      if (p === 1 && c !== sel) continue; // ancestors are in the breadcrumb, not on the map
      candidates.push(c);
    }
    candidates.sort((a, b) => (priority.get(b) || 0) - (priority.get(a) || 0) || counts[b] - counts[a]);
    const placed = [];
    this.labelBoxes = [];
    for (const c of candidates.slice(0, 400)) {
      if (placed.length >= 60) break;
      const [px, py] = this.toScreen(run.cluster.x[c], run.cluster.y[c]);
      if (px < 0 || py < 0 || px > this.width || py > this.height) continue;
      const top = run.cluster.level[c] === 0;
      ctx.font = `${top || c === sel ? 600 : 500} ${top ? 13 : 12}px system-ui, -apple-system, "Segoe UI", sans-serif`;
      const text = truncate(run.cluster.name[c], 34);
      const w = ctx.measureText(text).width + 14, hgt = top ? 22 : 20;
      const box = { x0: px - w / 2, y0: py - hgt / 2, x1: px + w / 2, y1: py + hgt / 2, c };
      if (box.x0 < 2 || box.x1 > this.width - 2 || box.y0 < 2 || box.y1 > this.height - 2) continue;
      if (c !== sel && placed.some((b) => box.x0 < b.x1 + 4 && box.x1 > b.x0 - 4 && box.y0 < b.y1 + 2 && box.y1 > b.y0 - 2)) continue;
      placed.push(box);
      const selected = c === sel, hovered = c === this.hoverCluster;
      ctx.beginPath();
      ctx.roundRect(box.x0, box.y0, w, hgt, 6);
      ctx.fillStyle = selected ? "#111827" : hovered ? "#ffffff" : "rgba(255,255,255,0.88)";
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = selected ? "#111827" : hovered ? "#4f46e5" : "rgba(17,24,39,0.18)";
      ctx.stroke();
      ctx.fillStyle = selected ? "#ffffff" : "#1f2937";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(text, px, py + 0.5);
    }
    this.labelBoxes = placed;
  }

  // -- interaction -------------------------------------------------------------------------------
  _buildGrid() {
    const run = this.run;
    const b = this._bounds(null) || { x0: 0, x1: 1, y0: 0, y1: 1 };
    this.grid = { x0: b.x0, y0: b.y0, sx: GRID / Math.max(b.x1 - b.x0, 1e-9), sy: GRID / Math.max(b.y1 - b.y0, 1e-9) };
    const cellOf = new Int32Array(run.n);
    const starts = new Int32Array(GRID * GRID + 1);
    for (let i = 0; i < run.n; i++) {
      const cell = this._cell(run.x[i], run.y[i]);
      cellOf[i] = cell;
      starts[cell + 1]++;
    }
    for (let k = 0; k < GRID * GRID; k++) starts[k + 1] += starts[k];
    const fill = starts.slice(0, GRID * GRID);
    const items = new Int32Array(run.n);
    for (let i = 0; i < run.n; i++) items[fill[cellOf[i]]++] = i;
    this.cells = { starts, items };
  }

  _cell(x, y) {
    const g = this.grid;
    const cx = Math.min(GRID - 1, Math.max(0, Math.floor((x - g.x0) * g.sx)));
    const cy = Math.min(GRID - 1, Math.max(0, Math.floor((y - g.y0) * g.sy)));
    return cy * GRID + cx;
  }

  /** What is under the screen point in the last drawn frame: a cluster name, else the visible
   * dot nearest to it within 10 pixels. Hover and click both use this, and only this. */
  hitTest(px, py) {
    const layout = this.drawn;
    if (!this.run || !layout) return { cluster: -1, row: -1 };
    const boxes = layout.labelBoxes;
    for (let k = boxes.length - 1; k >= 0; k--) { // the last drawn name is on top
      const b = boxes[k];
      if (px >= b.x0 && px <= b.x1 && py >= b.y0 && py <= b.y1) return { cluster: b.c, row: -1 };
    }
    return { cluster: -1, row: this._nearest(px, py, layout) };
  }

  _nearest(px, py, layout) {
    if (!this.cells) this._buildGrid();
    const run = this.run, g = this.grid;
    const [dx, dy] = this.toData(px, py, layout);
    const r = 10 / layout.view.scale;
    const cx0 = Math.max(0, Math.floor((dx - r - g.x0) * g.sx)), cx1 = Math.min(GRID - 1, Math.floor((dx + r - g.x0) * g.sx));
    const cy0 = Math.max(0, Math.floor((dy - r - g.y0) * g.sy)), cy1 = Math.min(GRID - 1, Math.floor((dy + r - g.y0) * g.sy));
    let best = -1, bestD = r * r;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const cell = cy * GRID + cx;
        for (let k = this.cells.starts[cell]; k < this.cells.starts[cell + 1]; k++) {
          const i = this.cells.items[k];
          if (this.state[i] === 0) continue;
          const d = (run.x[i] - dx) ** 2 + (run.y[i] - dy) ** 2;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }

  _bindEvents() {
    const c = this.canvas;
    let drag = null;
    const local = (e) => this._local(e);
    c.addEventListener("wheel", (e) => {
      if (!this.run) return;
      e.preventDefault();
      const [px, py] = local(e);
      this.zoomBy(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0018)), px, py);
    }, { passive: false });
    c.addEventListener("pointerdown", (e) => {
      if (!this.run || e.button !== 0) return;
      c.setPointerCapture(e.pointerId);
      drag = { x: e.clientX, y: e.clientY, view: { ...this.view }, moved: false };
    });
    c.addEventListener("pointermove", (e) => {
      if (!this.run) return;
      if (drag) {
        const ddx = e.clientX - drag.x, ddy = e.clientY - drag.y;
        if (Math.abs(ddx) + Math.abs(ddy) > 3) drag.moved = true;
        if (drag.moved) {
          this.view = { ...drag.view, cx: drag.view.cx - ddx / this.view.scale, cy: drag.view.cy + ddy / this.view.scale };
          this.pointer = null; // no hover while dragging: the next move after it brings it back
          this._hideTooltip();
          this.draw();
          return;
        }
      }
      this.pointer = { clientX: e.clientX, clientY: e.clientY };
      this._hover(...local(e));
    });
    c.addEventListener("pointerup", (e) => {
      const d = drag;
      drag = null;
      if (!d || d.moved || !this.run) return;
      const { cluster, row } = this.hitTest(...local(e));
      if (cluster >= 0) this.handlers.onPickCluster(cluster);
      else if (row >= 0) this.handlers.onPick(row);
    });
    c.addEventListener("pointerleave", () => {
      this.pointer = null;
      this._hideTooltip();
    });
    c.addEventListener("dblclick", (e) => {
      if (this.run) this.zoomBy(2, ...local(e));
    });
  }

  /** A pointer position in canvas pixels, from where the canvas is on the page now. */
  _local(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  _hover(px, py) {
    const { cluster: label, row } = this.hitTest(px, py);
    if (label === this.hoverCluster && row === this.hoverRow) return this._place(px, py);
    this.hoverCluster = label;
    this.hoverRow = row;
    this.canvas.classList.toggle("pointing", label >= 0 || row >= 0);
    this.draw();
    if (label < 0 && row < 0) return this._hideTooltip();
    const run = this.run;
    const tip = clear(this.tooltip);
    if (label >= 0) {
      tip.append(
        h("div", { class: "tip-title", text: run.cluster.name[label] }),
        h("div", { class: "tip-meta", text: `${plural(run.cluster.count[label], "conversation")} · click to select` }),
      );
    } else {
      const path = run.base[row] >= 0 ? run.path(run.base[row]) : [];
      tip.append(
        h("div", { class: "tip-path", text: path.map((c) => run.cluster.name[c]).join(" › ") }),
        h("div", { class: "tip-summary", text: "…" }),
        h("div", { class: "tip-meta", text: "click to open the conversation" }),
      );
      const wanted = row;
      this.handlers.onHoverRow(row).then((summary) => {
        if (this.hoverRow === wanted && summary !== null) tip.querySelector(".tip-summary").textContent = summary;
      });
    }
    this.tooltip.hidden = false;
    this._place(px, py);
  }

  _place(px, py) {
    const tip = this.tooltip;
    if (tip.hidden) return;
    const w = tip.offsetWidth, hgt = tip.offsetHeight;
    const left = px + 16 + w > this.width ? px - 16 - w : px + 16;
    const top = Math.min(Math.max(4, py - hgt / 2), this.height - hgt - 4);
    tip.style.transform = `translate(${Math.max(4, left)}px, ${top}px)`;
  }

  _hideTooltip() {
    this.tooltip.hidden = true;
    if (this.hoverRow >= 0 || this.hoverCluster >= 0) {
      this.hoverRow = -1;
      this.hoverCluster = -1;
      this.canvas.classList.remove("pointing");
      this.draw();
    }
  }

  _renderLegend(legend) {
    const box = clear(this.legend);
    box.hidden = !legend;
    if (!legend) return;
    box.classList.toggle("collapsed", !!this.legendCollapsed);
    box.append(h("button", {
      type: "button", class: "legend-title", "aria-expanded": String(!this.legendCollapsed), title: "Show or hide the legend",
      onclick: () => {
        this.legendCollapsed = !this.legendCollapsed;
        box.classList.toggle("collapsed", this.legendCollapsed);
      },
    }, legend.title));
    if (legend.gradient) {
      box.append(h("div", { class: "legend-gradient" }),
        h("div", { class: "legend-range" }, h("span", { text: legend.gradient[0] }), h("span", { text: legend.gradient[1] })));
      if (legend.unset) box.append(this._legendItem({ label: "not set", colour: GREY_UNSET }));
      return;
    }
    for (const item of legend.items) box.append(this._legendItem(item));
    if (legend.more > 0) box.append(h("div", { class: "legend-more", text: `+ ${plural(legend.more, "more cluster")}` }));
  }

  _legendItem(item) {
    const clickable = item.cluster !== undefined || item.value !== undefined;
    const swatch = h("span", { class: "swatch" });
    swatch.style.background = item.colour;
    return h(clickable ? "button" : "div", {
      class: "legend-item", type: clickable ? "button" : null,
      title: clickable ? (item.cluster !== undefined ? "Select this cluster" : "Filter to this value") : null,
      onclick: clickable ? () => this.handlers.onLegend(item) : null,
    }, swatch, h("span", { class: "legend-label", text: item.label }), item.count ? h("span", { class: "legend-count", text: fmtInt(item.count) }) : null);
  }
}

function truncate(text, max) {
  text = String(text || "");
  return text.length > max ? text.slice(0, max - 1).trimEnd() + "…" : text;
}
