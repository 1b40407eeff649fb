"use strict";
// Small helpers shared by every view. All DOM is built with createElement and textContent:
// conversation text, names and metadata are never parsed as HTML anywhere in this page.

/** Attributes h() refuses: they can turn text into code or a request (links, sources, styles). */
const UNSAFE_ATTRIBUTES = new Set(["href", "src", "srcdoc", "style", "action", "formaction", "xlink:href"]);

/**
 * h("div", {class: "x", text: "hello", onclick: fn}, child, "text", [more]) -> HTMLElement.
 * Strings become text nodes; null/false children are skipped; arrays are flattened.
 */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2), value);
    } else if (UNSAFE_ATTRIBUTES.has(key.toLowerCase())) throw new TypeError(`h() does not set ${key}`);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function clear(el) {
  el.replaceChildren();
  return el;
}

const NUMBER = new Intl.NumberFormat("en-US");
const fmtInt = (n) => NUMBER.format(n);
function fmtPct(share) {
  if (!isFinite(share)) return "";
  const p = share * 100;
  if (p > 0 && p < 0.1) return "<0.1%";
  return (p < 10 ? p.toFixed(1) : p.toFixed(0)) + "%";
}
function fmtNumber(x) {
  if (!isFinite(x)) return "";
  if (Number.isInteger(x)) return fmtInt(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}
function fmtDate(ms, withTime) {
  if (!isFinite(ms)) return "";
  const iso = new Date(ms).toISOString();
  return withTime ? iso.slice(0, 16).replace("T", " ") : iso.slice(0, 10);
}
function plural(n, one, many) {
  return `${fmtInt(n)} ${n === 1 ? one : many || one + "s"}`;
}

/** base64 -> Uint8Array (native decoder where the browser has one). */
function b64bytes(text) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** A 0/1 array over rows as packed bits (least significant first) in base64: /search's encoding. */
function packBits(mask) {
  const bytes = new Uint8Array((mask.length + 7) >> 3);
  for (let i = 0; i < mask.length; i++) if (mask[i]) bytes[i >> 3] |= 1 << (i & 7);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

const ARRAY_TYPES = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, f32: Float32Array, f64: Float64Array };

/**
 * doc with every typed array in it decoded (kura/server/packed.py): a leaf {"u8"|"u16"|"u32"|
 * "f32"|"f64": value} holds base64 text (a report), or [offset, length] into body from start
 * (a binary body of the API: the array is viewed in place, not copied).
 */
function decodeArrays(doc, body, start) {
  if (Array.isArray(doc)) return doc.map((v) => decodeArrays(v, body, start));
  if (doc === null || typeof doc !== "object") return doc;
  const keys = Object.keys(doc);
  if (keys.length === 1 && Object.hasOwn(ARRAY_TYPES, keys[0])) {
    const Type = ARRAY_TYPES[keys[0]], value = doc[keys[0]];
    if (typeof value === "string") {
      const bytes = b64bytes(value);
      return new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength / Type.BYTES_PER_ELEMENT);
    }
    if (body && Array.isArray(value)) return new Type(body, start + value[0], value[1]);
  }
  const out = {};
  for (const key of keys) out[key] = decodeArrays(doc[key], body, start);
  return out;
}

/** An ArrayBuffer from the API's binary bodies: "KURA", header length, JSON header, arrays. */
function unpackArrays(body) {
  const magic = new Uint8Array(body, 0, Math.min(4, body.byteLength));
  if (String.fromCharCode(...magic) !== "KURA") throw new Error("the server sent something other than Kura arrays");
  const width = new DataView(body).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(body, 8, width)));
  return decodeArrays(header, body, 8 + width);
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Search terms exactly as kura/server/search.py parses them: words, or "quoted phrases". */
function parseQuery(query) {
  const terms = [];
  for (const m of (query || "").matchAll(/"([^"]+)"|(\S+)/g)) {
    const term = (m[1] || m[2] || "").trim().toLowerCase();
    if (term) terms.push(term);
  }
  return terms;
}

// -- colours ------------------------------------------------------------------------------------
// Categorical colours chosen to stay apart from each other and from the greys used for
// "dimmed" and "filtered out" points.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
  "#9c755f", "#3f8f8a", "#8c6bb1", "#d37295", "#a0cbe8", "#ffbe7d", "#8cd17d", "#b6992d",
  "#86bcb6", "#f1ce63", "#d4a6c8", "#499894",
];
const GREY_OTHER = "#9aa3ae";
const GREY_UNSET = "#d3d8df";
const VIRIDIS = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"];

function parseHex(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
/** A colour as the 32-bit little-endian RGBA word an ImageData Uint32 view expects. */
function rgba32(hex) {
  const [r, g, b] = parseHex(hex);
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}
function sequential(t) {
  t = Math.min(1, Math.max(0, t));
  const x = t * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const a = parseHex(VIRIDIS[i]);
  const b = parseHex(VIRIDIS[i + 1]);
  const f = x - i;
  const c = a.map((v, k) => Math.round(v + (b[k] - v) * f));
  return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
}
