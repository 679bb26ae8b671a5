// The irodori page: load an image (picker, drop, paste), place colour hints by clicking it (or
// with the arrow keys and Enter), add
// colour reference pages beside it, POST them to /api/colorize, show the result over the original with a before/after slider.
// Plain JS, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const el = {
  file: $("file"), model: $("model"), modelInfo: $("model-info"), limits: $("limits"),
  color: $("color"), hints: $("hints"), clearHints: $("clear-hints"),
  colorize: $("colorize"), download: $("download"), status: $("status"), notice: $("notice"), meta: $("meta"),
  scroller: $("scroller"), stage: $("stage"), original: $("original"), result: $("result"), divider: $("divider"),
  markers: $("markers"), compareRow: $("compare-row"), compare: $("compare"),
};

el.mode = $("mode");
el.tone = $("tone");
el.background = $("background");
el.temperature = $("temperature");
el.temperatureValue = $("temperature-value");
el.temperatureReset = $("temperature-reset");
el.referencesFile = $("references-file");
el.referencesDrop = $("references-drop");
el.references = $("references");
el.referencesMax = $("references-max");
el.clearReferences = $("clear-references");

const state = {
  paintAsked: false,   // Paint was chosen, then a model that only tints: Paint again with one that paints
  temperature: null,   // the annealed-mean T asked for (0.1 vivid .. 1 calm); null: the model's own
  file: null,          // the File shown and coloured
  pending: null,       // a new File being coloured; it replaces `file` only once it is
  hints: [],           // [{x, y, color}] in the image's own pixels
  cursor: null,        // {x, y}: the keyboard's hint cursor, in the image's own pixels; null: hidden
  originalUrl: null,   // object URLs to revoke when replaced
  resultUrl: null,
  inFlight: null,      // AbortController of the running request
  maxUploadBytes: null,
  references: [],      // [{file, url}]: colour references sent with every image, with their thumbnails' URLs
  maxReferences: 8,    // the server's limit (GET /api/health says)
};

// A limit for people: 20, 0.5, 1.25 (toFixed(0) made --max-upload-mb 0.5 read "1 MB").
const shortNumber = (value) => Number(value.toPrecision(3));

function setStatus(text, kind = "") {
  el.status.textContent = text;
  el.status.className = kind;
}

// Notices about the reference list (files not added, one the server refused) have a line of
// their own: "colouring…" and "done" would overwrite them at once on the status line.
function setNotice(text) {
  el.notice.textContent = text;
}
const addNotice = (text) => setNotice([el.notice.textContent, text].filter(Boolean).join(" "));

// A server message as a sentence of the page's own: capitalised, ending with its full stop.
function sentence(text) {
  const s = text.trim();
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?…]$/.test(s) ? "" : ".");
}

// What the command line would have warned about this image (a hint that colours nothing, a
// colour upload whose own colours are replaced): the answer's X-Irodori-Warnings, a JSON list.
// A name the server percent-encoded to keep its header ASCII (a model folder named in Japanese).
function headerText(value) {
  try { return decodeURIComponent(value); } catch { return value; }
}

function serverWarnings(headers) {
  try {
    const list = JSON.parse(headers.get("X-Irodori-Warnings") || "[]");
    return Array.isArray(list) ? list.filter((w) => typeof w === "string" && w.trim()) : [];
  } catch {
    return [];
  }
}

// After removing item i of a list of × buttons, keep the keyboard there: on the next remove
// button, else the previous one, else `fallback`.
function focusAfterRemoval(list, i, fallback) {
  const buttons = list.querySelectorAll("button.remove");
  (buttons[Math.min(i, buttons.length - 1)] || fallback).focus();
}

// ---- models and limits ---------------------------------------------------------------------
async function loadModels() {
  try {
    const models = await (await fetch("/api/models")).json();
    for (const m of models) {
      const option = new Option(m.default ? `${m.name} (default)` : m.name, m.name, m.default, m.default);
      option.title = m.description;
      option.dataset.paints = String(m.paints);  // "false": tint only
      el.model.add(option);
    }
    showModelInfo();
  } catch (err) {
    setStatus("Cannot reach the server for the model list.", "error");
  }
}

function showModelInfo() {
  const option = el.model.selectedOptions[0];
  el.modelInfo.textContent = option ? option.title.replace(/`/g, "") : "";
  el.modelInfo.title = el.modelInfo.textContent;
  // A model that only tints is not offered Paint (it was, and answered with an error: helper 62);
  // a mode of Paint chosen before falls back to Automatic, which tints with it.
  const tintOnly = option?.dataset.paints === "false";
  const paint = el.mode.querySelector('option[value="paint"]');
  paint.disabled = tintOnly;
  paint.textContent = tintOnly ? "Paint (this model only tints)" : "Paint (B&W pages, line art)";
  if (tintOnly && el.mode.value === "paint") {  // said, and given back with a model that paints (helper 77:
    el.mode.value = "auto";                     // Mode was Automatic from then on, unsaid)
    state.paintAsked = true;
    setNotice(`${option.textContent} only tints: Mode is Automatic with it, Paint again with a model that paints.`);
  } else if (!tintOnly && state.paintAsked) {
    el.mode.value = "paint";
    state.paintAsked = false;
    setNotice("");
  }
  showPaintSettings();
}

// Screentone and Background are paint mode's: with Tint, or a model that only tints, they are
// greyed and not sent (they were taken and only warned of as unused: helper 62).
function showPaintSettings() {
  const unused = el.model.selectedOptions[0]?.dataset.paints === "false" || el.mode.value === "tint";
  for (const select of [el.tone, el.background]) {
    select.disabled = unused;
    select.title = unused ? "paint mode's setting: unused while images are tinted" : "";
  }
}

async function loadLimits() {
  try {
    const health = await (await fetch("/api/health")).json();
    state.maxUploadBytes = health.max_upload_bytes;
    if (health.max_references) state.maxReferences = health.max_references;
    el.referencesMax.textContent = String(state.maxReferences);
    const mb = shortNumber(health.max_upload_bytes / 2 ** 20);
    const mp = shortNumber(health.max_pixels / 1e6);
    el.limits.textContent = `PNG, JPEG, WebP, BMP, GIF or TIFF; up to ${mb} MB and ${mp} megapixels.`;
  } catch (err) { /* the limits line is only informative */ }
}

// ---- loading an image ----------------------------------------------------------------------
// The types the server takes, by their first bytes (as server.py sniffs them; the name and the
// type the browser guesses are not trusted). RIFF....WEBP is checked apart.
const SIGNATURES = [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xd8, 0xff],
  [0x47, 0x49, 0x46, 0x38, 0x37, 0x61], [0x47, 0x49, 0x46, 0x38, 0x39, 0x61], [0x42, 0x4d],
  [0x49, 0x49, 0x2a, 0x00], [0x4d, 0x4d, 0x00, 0x2a]];

async function isSupportedImage(file) {
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const has = (bytes, at = 0) => bytes.every((byte, i) => head[at + i] === byte);
  return SIGNATURES.some((bytes) => has(bytes)) || (has([0x52, 0x49, 0x46, 0x46]) && has([0x57, 0x45, 0x42, 0x50], 8));
}

// Why the server would refuse this file before it is sent (too large, not an image), or null.
async function fileProblem(file) {
  if (state.maxUploadBytes && file.size > state.maxUploadBytes) {
    return `${file.name || "That file"} is ${(file.size / 2 ** 20).toFixed(1)} MB; this server takes at most ` +
           `${shortNumber(state.maxUploadBytes / 2 ** 20)} MB.`;
  }
  if (!(await isSupportedImage(file))) {
    return `${file.name || "That file"} is not a supported image: choose a PNG, JPEG, WebP, BMP, GIF or TIFF.`;
  }
  return null;
}

// A new file is only coloured here; it replaces the current image (and its result and hints)
// once the server has coloured it, so a file that is refused costs nothing.
async function loadFile(file) {
  if (!file) return;
  const kept = state.file ? " The current image is kept." : "";
  const problem = await fileProblem(file);
  if (problem) {
    setStatus(problem + kept, "error");
    return;
  }
  colorize(file);
}

// The coloured new file becomes the current one: shown as the original, no hints yet.
async function adopt(file) {
  state.file = file;
  state.hints = [];
  state.cursor = null;
  clearResult();
  if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
  state.originalUrl = URL.createObjectURL(file);
  el.original.classList.remove("grey");
  el.original.src = state.originalUrl;
  el.stage.classList.remove("empty");
  try {
    await el.original.decode();
  } catch (err) {
    el.original.dataset.broken = "1";  // the browser cannot show it (TIFF, say): see showResult
  }
  renderHints();
  // On a phone the picture sits under every control: bring it (and the status above it) into
  // view once a new file is chosen, or only "done" showed at the top (found by a helper).
  if (window.matchMedia("(max-width: 760px)").matches) el.stage.scrollIntoView({ block: "start" });
}

// A format the browser cannot show (TIFF, say): show the result in grey as the "original";
// its lightness is the original's.
el.original.addEventListener("error", () => {
  if (state.file && el.original.src === state.originalUrl) el.original.dataset.broken = "1";
});
el.original.addEventListener("load", () => {
  fitSmall();
  renderMarkers();
});

// A tiny image (an icon; a 1x1 test) is shown enlarged by the largest whole factor that keeps it
// within MIN_SHOWN pixels, its pixels kept sharp: otherwise it is a dot nobody can click.
const MIN_SHOWN = 256;
function fitSmall() {
  const { naturalWidth: width, naturalHeight: height } = el.original;
  const scale = width && height ? Math.floor(MIN_SHOWN / Math.max(width, height)) : 1;
  el.stage.classList.toggle("pixelated", scale > 1);
  el.original.style.width = scale > 1 ? `${width * scale}px` : "";
  el.scroller.classList.toggle("strip", height > 2 * width);  // a webtoon: scrolled
}

function clearResult() {
  el.result.hidden = true;
  el.divider.hidden = true;
  el.compareRow.hidden = true;
  el.result.removeAttribute("src");
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = null;
  el.download.removeAttribute("href");
  el.download.setAttribute("aria-disabled", "true");
  el.meta.textContent = "";
  delete el.original.dataset.broken;
}

el.file.addEventListener("change", () => {
  loadFile(el.file.files[0]);
  el.file.value = "";  // so that choosing the same file again (after a paste, say) loads it again
});

document.addEventListener("dragover", (e) => {
  e.preventDefault();
  document.body.classList.add("dragging");
});
document.addEventListener("dragleave", (e) => {
  if (e.relatedTarget === null) document.body.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dragging");
  const file = [...(e.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/")) || e.dataTransfer?.files[0];
  loadFile(file);
});
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === "file" && i.type.startsWith("image/"));
  if (item) {
    e.preventDefault();
    loadFile(item.getAsFile());
  }
});

// ---- reference pages -------------------------------------------------------------------------
// Colour images of the same series, sent with the image as repeated `reference` fields; adding or
// removing one colours the current image again.
// The reference among `refs` with the same bytes as `file` (the same page chosen twice, under any
// name), or null.
async function alreadyIn(file, refs) {
  const bytes = async (f) => new Uint8Array(await f.arrayBuffer());
  const mine = await bytes(file);
  for (const ref of refs.filter((r) => r.file.size === file.size)) {
    const theirs = await bytes(ref.file);
    if (mine.every((byte, i) => byte === theirs[i])) return ref;
  }
  return null;
}

async function addReferences(files) {
  const added = [];
  const notes = [];
  let over = 0;
  let same = null;
  for (const file of files) {
    if (state.references.length + added.length >= state.maxReferences) {
      over += 1;
      continue;
    }
    const problem = await fileProblem(file);
    if (problem) {
      notes.push(`Reference not added: ${problem}`);
    } else if ((same = await alreadyIn(file, [...state.references, ...added]))) {
      const name = file.name || "That file";  // named as the one it copies too (helper 77)
      notes.push(same.file.name && same.file.name !== file.name
        ? `${name} is already a reference, as ${same.file.name}: not added again.`
        : `${name} is already a reference: not added again.`);
    } else {
      added.push({ file, url: URL.createObjectURL(file) });
    }
  }
  if (over) {
    notes.push(`At most ${state.maxReferences} reference pages: ${over} not added (remove one to add another).`);
  }
  setNotice([...new Set(notes)].join(" "));  // the same file chosen nine times: said once
  if (!added.length) return;
  state.references.push(...added);
  renderReferences();
  if (state.file) colorize();
  else setStatus(`${state.references.length} reference page${state.references.length > 1 ? "s" : ""} ready: ` +
                 "now load the image to colour.");
}

// Take `ref` out of the list (its thumbnail too) -> whether it was still there.
function dropReference(ref) {
  const i = state.references.indexOf(ref);
  if (i < 0) return false;
  URL.revokeObjectURL(ref.url);
  state.references.splice(i, 1);
  renderReferences();
  return true;
}

function removeReference(i) {
  dropReference(state.references[i]);
  focusAfterRemoval(el.references, i, el.referencesFile);
  if (state.file) colorize();
}

function renderReferences() {
  el.references.replaceChildren();
  state.references.forEach((ref, i) => {
    const name = ref.file.name || `reference ${i + 1}`;
    const li = document.createElement("li");
    const thumb = document.createElement("img");
    thumb.src = ref.url;
    thumb.alt = `Reference ${i + 1}: ${name}`;
    const text = document.createElement("span");
    text.textContent = name;
    text.title = name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove reference ${i + 1}, ${name}`);
    remove.addEventListener("click", () => removeReference(i));
    li.append(thumb, text, remove);
    el.references.append(li);
  });
  el.clearReferences.disabled = state.references.length === 0;
}

el.referencesFile.addEventListener("change", () => {
  addReferences([...el.referencesFile.files]);
  el.referencesFile.value = "";  // the same file may be chosen again after its removal
});
el.clearReferences.addEventListener("click", () => {
  state.references.forEach((ref) => URL.revokeObjectURL(ref.url));
  state.references = [];
  setNotice("");
  renderReferences();
  el.referencesFile.focus();
  if (state.file) colorize();
});
// Dropped on the reference zone, files are references, not the image (the page-wide drop).
el.referencesDrop.addEventListener("dragover", (e) => {
  e.preventDefault();
  el.referencesDrop.classList.add("over");
});
el.referencesDrop.addEventListener("dragleave", () => el.referencesDrop.classList.remove("over"));
el.referencesDrop.addEventListener("drop", (e) => {
  e.preventDefault();
  e.stopPropagation();
  el.referencesDrop.classList.remove("over");
  document.body.classList.remove("dragging");
  addReferences([...(e.dataTransfer?.files || [])]);
});

// ---- hints ---------------------------------------------------------------------------------
function imageSize() {
  const img = el.original.naturalWidth ? el.original : el.result;
  return { width: img.naturalWidth, height: img.naturalHeight, box: img.getBoundingClientRect() };
}

// Whether a hint may be placed now; says why not on the status line.
function canPlaceHint() {
  if (!state.file) return false;
  if (state.pending) {  // a hint on the image shown would be dropped when the new one replaces it
    setStatus(`${state.pending.name || "The new image"} is being coloured: place hints on it once it shows.`, "busy");
    return false;
  }
  return true;
}

function placeHint(x, y) {
  state.hints.push({ x, y, color: el.color.value });
  renderHints();
  setStatus(`Hint placed at (${x}, ${y}). Press Colour to apply it.`);
}

el.stage.addEventListener("click", (e) => {
  if (!canPlaceHint()) return;
  const { width, height, box } = imageSize();
  if (!width || !box.width) return;
  // Page coordinates -> the image's own pixels (it may be shown scaled).
  const x = Math.floor(((e.clientX - box.left) / box.width) * width);
  const y = Math.floor(((e.clientY - box.top) / box.height) * height);
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  placeHint(x, y);
});

// The keyboard's way to place hints: with the image focused, the arrow keys move a cursor (a
// hundredth of the image a press, a tenth with Shift; it starts in the middle), Enter or Space
// places a hint there in the chosen colour, Escape hides the cursor.
const CURSOR_KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

el.stage.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;  // the browser's own (Alt+Left: back)
  const move = CURSOR_KEYS[e.key];
  const place = e.key === "Enter" || e.key === " ";
  if (e.key === "Escape" && state.cursor) {
    state.cursor = null;
    renderCursor();
    return;
  }
  if (!move && !place) return;
  e.preventDefault();  // not the page's scrolling
  if (place && e.repeat) return;  // a held Enter places one hint, not one per repeat
  if (!canPlaceHint()) return;
  const { width, height } = imageSize();
  if (!width) return;
  const fresh = !state.cursor;
  if (fresh) state.cursor = { x: Math.floor(width / 2), y: Math.floor(height / 2) };
  if (move && !fresh) {
    const share = e.shiftKey ? 0.1 : 0.01;
    const clamp = (v, side) => Math.min(side - 1, Math.max(0, v));
    state.cursor.x = clamp(state.cursor.x + move[0] * Math.max(1, Math.round(width * share)), width);
    state.cursor.y = clamp(state.cursor.y + move[1] * Math.max(1, Math.round(height * share)), height);
  }
  renderCursor();
  if (place) placeHint(state.cursor.x, state.cursor.y);
  else setStatus(`Cursor at (${state.cursor.x}, ${state.cursor.y}): Enter places a hint there.`);
});

function renderCursor() {
  const cursor = $("cursor");
  const { width, height } = imageSize();
  cursor.hidden = !state.cursor || !width;
  if (cursor.hidden) return;
  cursor.style.left = `${((state.cursor.x + 0.5) / width) * 100}%`;
  cursor.style.top = `${((state.cursor.y + 0.5) / height) * 100}%`;
}

function renderHints() {
  el.hints.replaceChildren();
  state.hints.forEach((hint, i) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = hint.color;
    const text = document.createElement("span");
    text.textContent = `${i + 1}. (${hint.x}, ${hint.y}) ${hint.color}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove hint ${i + 1} at ${hint.x}, ${hint.y}`);
    remove.addEventListener("click", () => {
      state.hints.splice(i, 1);
      renderHints();
      focusAfterRemoval(el.hints, i, el.color);
    });
    li.append(swatch, text, remove);
    el.hints.append(li);
  });
  el.clearHints.disabled = state.hints.length === 0;
  renderMarkers();
}

function renderMarkers() {
  renderCursor();
  el.markers.replaceChildren();
  const { width, height } = imageSize();
  if (!width) return;
  state.hints.forEach((hint, i) => {
    const dot = document.createElement("span");
    dot.className = "marker";
    dot.style.left = `${((hint.x + 0.5) / width) * 100}%`;
    dot.style.top = `${((hint.y + 0.5) / height) * 100}%`;
    dot.style.background = hint.color;
    dot.textContent = String(i + 1);
    el.markers.append(dot);
  });
}

el.clearHints.addEventListener("click", () => {
  state.hints = [];
  renderHints();
  // the status still said "Hint placed at ... Press Colour to apply it", and the button, disabled
  // now, dropped the keyboard's focus to the page (helper 77)
  setStatus(state.file ? "Hints cleared: press Colour to colour without them." : "Hints cleared.");
  el.color.focus();
});

// A control the keyboard reaches under the panel's dock (stuck to the window's bottom) is
// scrolled into sight above it (helper 77: Mode, Screentone and Background had focus unseen).
document.querySelector(".panel").addEventListener("focusin", (event) => {
  const dock = document.querySelector(".dock");
  if (!dock || dock.contains(event.target)) return;
  const hidden = event.target.getBoundingClientRect().bottom - dock.getBoundingClientRect().top;
  if (hidden > 0) window.scrollBy(0, hidden + 8);
});

// ---- colouring -----------------------------------------------------------------------------
const REFUSED_HEADER = "X-Irodori-Refused-Reference";  // which reference the server refused, from 1

function colourForm(file, references) {
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  form.append("hints", JSON.stringify(file === state.file ? state.hints : []));
  if (el.model.value) form.append("model", el.model.value);
  if (state.temperature !== null) form.append("temperature", String(state.temperature));
  form.append("mode", el.mode.value);
  if (!el.tone.disabled) form.append("tone", el.tone.value);
  if (!el.background.disabled) form.append("background", el.background.value);
  for (const ref of references) form.append("reference", ref.file, ref.file.name || "reference.png");
  return form;
}

// Wait `ms`, or reject at once with an AbortError when `signal` aborts (newer settings came).
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("superseded", "AbortError"));
    }, { once: true });
  });
}

// POST the form; a busy server (503) is asked again after the Retry-After it sends, waiting
// longer each time, up to BUSY_TRIES times (once, before: a queue of 40 s of work failed the page
// 2 s later, helper 62).
const BUSY_TRIES = 6;
async function post(form, signal) {
  const send = () => fetch("/api/colorize", { method: "POST", body: form, signal });
  let response = await send();
  for (let tried = 1; response.status === 503 && tried < BUSY_TRIES; tried++) {
    const after = Number(response.headers.get("Retry-After")) || 2;
    const wait = Math.min(after * 2 ** Math.floor((tried - 1) / 2), 30);
    setStatus(`The server is busy: trying again in ${wait} s…`, "busy");
    await sleep(wait * 1000, signal);
    setStatus("colouring…", "busy");
    response = await send();
  }
  return response;
}

async function errorMessage(response) {
  try {
    return (await response.json()).error || `${response.status} ${response.statusText}`;
  } catch (err) {
    return `${response.status} ${response.statusText}`;  // not JSON
  }
}

// The status line after a failure says what is shown: the image kept, or an earlier result.
function failure(message) {
  const text = message === "Failed to fetch" ? "Cannot reach the server." : sentence(message);
  if (state.pending && state.file) return `${text} The current image is kept.`;
  if (!el.result.hidden) return `${text} The image shown is the earlier result (the line below says how it was made).`;
  return text;
}

// Colour `newFile`, else the file still waiting to replace the current one, else the current one.
// A reference the server refuses (a grey page, say) is taken off the list, said so on the
// notice line, and the image is coloured again without it.
async function colorize(newFile = null) {
  const file = newFile || state.pending || state.file;
  if (!file) return;
  if (state.inFlight) state.inFlight.abort();
  const controller = new AbortController();
  state.inFlight = controller;
  state.pending = file === state.file ? null : file;
  const sent = [...state.references];
  setStatus("colouring…", "busy");
  el.colorize.disabled = true;
  let again = false;
  try {
    const response = await post(colourForm(file, sent), controller.signal);
    if (!response.ok) {
      const message = await errorMessage(response);
      const refused = sent[Number(response.headers.get(REFUSED_HEADER)) - 1];
      if (state.inFlight === controller && refused && dropReference(refused)) {
        addNotice(`${sentence(message)} It was taken off the references, and the image coloured without it.`);
        again = true;
        return;
      }
      throw new Error(message);
    }
    const blob = await response.blob();
    if (state.inFlight !== controller) return;
    if (state.pending) await adopt(state.pending);
    showResult(blob, response.headers);
  } catch (err) {
    if (err.name === "AbortError" || state.inFlight !== controller) return;
    setStatus(failure(err.message), "error");
  } finally {
    if (state.inFlight === controller) {
      const pending = state.pending;
      state.inFlight = null;
      state.pending = null;
      el.colorize.disabled = !state.file;
      if (again) colorize(pending);
    }
  }
}

function showResult(blob, headers) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  el.result.onload = () => {
    // The browser shows the original turned otherwise than the server read it (it ignores the
    // EXIF orientation of a WebP): show the result in grey as the original too, so the two
    // line up and clicks land on the result's pixels.
    if (el.original.naturalWidth && (el.original.naturalWidth !== el.result.naturalWidth
                                     || el.original.naturalHeight !== el.result.naturalHeight)) {
      el.original.dataset.broken = "1";
    }
    if (el.original.dataset.broken) {
      el.original.src = state.resultUrl;
      el.original.classList.add("grey");
    }
    el.result.hidden = false;
    el.divider.hidden = false;
    el.compareRow.hidden = false;
    updateCompare();
    renderMarkers();
    const base = (state.file.name || "image").replace(/\.[^.]+$/, "");
    el.download.href = state.resultUrl;
    el.download.download = `${base}-colour.png`;
    el.download.removeAttribute("aria-disabled");
    const mode = headers.get("X-Irodori-Mode");
    const refs = Number(headers.get("X-Irodori-References") || 0);
    el.meta.textContent = `${headerText(headers.get("X-Irodori-Model") || "")}${mode ? ` · ${mode}ed` : ""}`
      + `${refs ? ` · ${refs} reference${refs > 1 ? "s" : ""}` : ""} · ${headers.get("X-Irodori-Elapsed-Ms") || "?"} ms`;
    const warnings = serverWarnings(headers);
    if (warnings.length) setStatus(`Done. ${warnings.map(sentence).join(" ")}`, "warn");
    else setStatus("done", "ok");
  };
  el.result.src = state.resultUrl;
}

el.colorize.addEventListener("click", () => colorize());
// ---- more or less colour: the slider runs from calm (T = 1) on the left to vivid (T = 0.1) ----
function showTemperature() {
  const t = state.temperature;
  el.temperatureValue.textContent = t === null ? "model default" : `temperature ${t.toFixed(2)}`;
  el.temperatureReset.disabled = t === null;
}
el.temperature.addEventListener("input", () => {
  state.temperature = Number(el.temperature.value);
  showTemperature();
});
el.temperatureReset.addEventListener("click", () => {
  state.temperature = null;
  el.temperature.value = "0.45";
  showTemperature();  // disables this button: the focus goes back to the slider, not to the page's top
  el.temperature.focus();
});

el.model.addEventListener("change", () => {
  showModelInfo();
  colorize();
});
el.mode.addEventListener("change", () => {
  state.paintAsked = false;  // the user's own choice now
  showPaintSettings();
  colorize();
});
el.tone.addEventListener("change", () => colorize());
el.background.addEventListener("change", () => colorize());

// ---- before / after ------------------------------------------------------------------------
// The divider stands at the slider's value: the original to its left and the coloured image to
// its right, as the labels at the slider's two ends say.
function updateCompare() {
  const at = Number(el.compare.value);
  el.result.style.clipPath = `inset(0 0 0 ${at}%)`;
  el.divider.style.left = `${at}%`;
}
el.compare.addEventListener("input", updateCompare);

loadModels();
loadLimits();
