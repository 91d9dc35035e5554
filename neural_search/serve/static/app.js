// The comparison page: one query, several columns (engine, index, mode, fusion), each a call to
// /search. Plain JavaScript, no framework; every text from the server goes in as textContent.
"use strict";

const state = { targets: [], columns: [], qid: null, judged: [], key: sessionStorage.getItem("neural-search-key") || "" };
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401 || response.status === 403) askForKey(body && body.error ? body.error.message : "API key needed");
  return { status: response.status, body };
}

function askForKey(message) {
  $("key-bar").hidden = false;
  $("key-message").textContent = message;
}

function useKey() {
  state.key = $("api-key").value.trim();
  sessionStorage.setItem("neural-search-key", state.key);
  // The cookie lets the report view's plots (plain <img> requests) carry the key too.
  document.cookie = "neural_search_api_key=" + encodeURIComponent(state.key) + "; path=/; SameSite=Strict";
  $("key-bar").hidden = true;
  start();
}

function columnLabel(column) {
  let mode = column.mode;
  if (column.mode === "hybrid") mode += " " + column.fusion + (column.fusion_at ? " @" + column.fusion_at : "");
  return { target: column.engine + " · " + column.index, mode };
}

function renderChips() {
  const chips = $("column-chips");
  chips.replaceChildren();
  state.columns.forEach((column, i) => {
    const label = columnLabel(column);
    const chip = el("span", "chip", label.target + " · " + label.mode);
    const remove = el("button", "remove", "×");
    remove.type = "button";
    remove.title = "remove this column";
    remove.addEventListener("click", () => { state.columns.splice(i, 1); renderChips(); runSearch(); });
    chip.appendChild(remove);
    chips.appendChild(chip);
  });
}

function defaultColumns() {
  const columns = [];
  const first = state.targets[0];
  for (const mode of ["bm25", "knn", "hybrid"]) columns.push({ engine: first.engine, index: first.index, mode, fusion: "rrf", fusion_at: "" });
  for (const target of state.targets.slice(1)) columns.push({ engine: target.engine, index: target.index, mode: "hybrid", fusion: "rrf", fusion_at: "" });
  return columns;
}

function fmt(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function renderHit(hit, column) {
  const item = el("li", "hit");
  item.dataset.doc = hit.id;
  const head = el("div", "hit-head");
  head.appendChild(el("span", "rank", hit.rank + "."));
  head.appendChild(el("span", "title", hit.title || hit.id));
  head.appendChild(el("span", "score", fmt(hit.score, 4)));
  item.appendChild(head);
  const meta = el("div", "hit-meta");
  meta.appendChild(el("span", "doc-id", hit.id));
  if ("label" in hit) {
    const label = hit.label === null ? el("span", "label unjudged", "unjudged") : el("span", "label grade-" + Math.min(hit.label, 3), "rel " + hit.label);
    meta.appendChild(label);
  }
  item.appendChild(meta);
  if (hit.snippet) item.appendChild(el("p", "snippet", hit.snippet));
  if (hit.explain) item.appendChild(el("div", "explain", hit.explain));
  item.addEventListener("mouseenter", () => highlight(hit.id, true));
  item.addEventListener("mouseleave", () => highlight(hit.id, false));
  return item;
}

function highlight(docId, on) {
  document.querySelectorAll(".hit").forEach((node) => {
    if (node.dataset.doc === docId) node.classList.toggle("focus", on);
  });
}

// A document found by several columns gets the same colour mark in each.
function markShared() {
  const seen = new Map();
  document.querySelectorAll(".column").forEach((column, c) => {
    column.querySelectorAll(".hit").forEach((hit) => {
      const columns = seen.get(hit.dataset.doc) || new Set();
      columns.add(c);
      seen.set(hit.dataset.doc, columns);
    });
  });
  let colour = 0;
  const colours = new Map();
  document.querySelectorAll(".hit").forEach((hit) => {
    hit.classList.remove("shared");
    hit.style.removeProperty("--mark");
    const columns = seen.get(hit.dataset.doc);
    if (columns && columns.size > 1) {
      if (!colours.has(hit.dataset.doc)) colours.set(hit.dataset.doc, (colour++ * 47) % 360);
      hit.classList.add("shared");
      hit.style.setProperty("--mark", colours.get(hit.dataset.doc));
    }
  });
}

async function runColumn(column, node, query, k) {
  const body = { q: query, engine: column.engine, index: column.index, mode: column.mode, k, explain: true };
  if (column.mode === "hybrid") {
    body.fusion = column.fusion;
    if (column.fusion_at) body.fusion_at = column.fusion_at;
  }
  if (state.qid) body.qid = state.qid;
  const started = performance.now();
  const { status, body: result } = await api("/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const roundTrip = performance.now() - started;
  const stats = node.querySelector(".stats");
  const list = node.querySelector(".hits");
  list.replaceChildren();
  if (status !== 200) {
    const error = result && result.error ? result.error : { status, message: "no answer" };
    stats.replaceChildren(el("span", "error-status", "HTTP " + error.status));
    list.appendChild(el("li", "error", error.message));
    return;
  }
  const side = result.fusion_at ? " · fused in the " + result.fusion_at : "";
  stats.replaceChildren(
    el("span", "latency", fmt(roundTrip, 1) + " ms"),
    el("span", "server-latency", " (search " + fmt(result.timings_ms.total_ms, 1) + " ms" + side + ")"),
  );
  if (result.judged) {
    const cell = el("div", "ndcg", "nDCG@10 " + fmt(result.judged["ndcg@10"], 4));
    cell.title = result.judged.relevant_in_top10 + " of " + result.judged.relevant + " relevant documents in the top 10";
    stats.appendChild(cell);
  }
  if (result.note) list.appendChild(el("li", "note", result.note));
  if (!result.hits.length) list.appendChild(el("li", "note", "no hits"));
  for (const hit of result.hits) list.appendChild(renderHit(hit, column));
}

let generation = 0;

async function runSearch() {
  const mine = ++generation;
  const query = $("q").value;
  const container = $("columns");
  container.replaceChildren();
  if (!query.trim() || !state.columns.length) return;
  const k = Number($("k").value);
  const runs = state.columns.map((column) => {
    const node = el("article", "column");
    const label = columnLabel(column);
    const header = el("header");
    header.appendChild(el("h2", "column-target", label.target));
    header.appendChild(el("div", "column-mode", label.mode));
    header.appendChild(el("div", "stats", "…"));
    node.appendChild(header);
    node.appendChild(el("ol", "hits"));
    container.appendChild(node);
    return runColumn(column, node, query, k);
  });
  await Promise.all(runs);
  if (mine !== generation) return; // a newer search replaced these columns
  markShared();
  document.body.dataset.searched = String(Number(document.body.dataset.searched || 0) + 1);
}

function renderJudged() {
  const filter = $("judged-filter").value.toLowerCase();
  const list = $("judged");
  list.replaceChildren();
  for (const query of state.judged) {
    if (filter && !query.text.toLowerCase().includes(filter) && !query.qid.toLowerCase().includes(filter)) continue;
    const item = el("li", "judged-query" + (query.qid === state.qid ? " chosen" : ""));
    item.dataset.qid = query.qid;
    item.appendChild(el("span", "qid", query.qid));
    item.appendChild(el("span", "qtext", query.text));
    item.appendChild(el("span", "qrel", query.relevant + " relevant"));
    item.addEventListener("click", () => {
      state.qid = query.qid;
      $("q").value = query.text;
      renderJudged();
      runSearch();
    });
    list.appendChild(item);
  }
}

async function showHealth() {
  const { status, body } = await api("/health");
  const bar = $("status");
  bar.replaceChildren();
  if (!body || !body.engines) return status;
  for (const [engine, info] of Object.entries(body.engines)) {
    const dot = el("span", "engine " + (info.reachable ? "up" : "down"), engine);
    dot.title = info.reachable ? info.url + " " + (info.version || "") : info.url + ": " + (info.error || "unreachable");
    bar.appendChild(dot);
  }
  bar.appendChild(el("span", "model model-" + body.model.state, "model " + body.model.state));
  $("report-link").hidden = !body.report;
  if (body.model.state === "loading") setTimeout(showHealth, 1500);
  return { status, body };
}

async function start() {
  const health = await showHealth();
  if (!health || !health.body) return;
  const { body } = await api("/indexes");
  if (!body || !body.indexes) return;
  state.targets = body.indexes.map((entry) => ({ engine: entry.engine, index: entry.name }));
  const select = $("add-target");
  select.replaceChildren();
  state.targets.forEach((target, i) => {
    const option = el("option", null, target.engine + " · " + target.index);
    option.value = String(i);
    select.appendChild(option);
  });
  if (!state.columns.length) state.columns = defaultColumns();
  renderChips();
  if (health.body.judged) {
    const judged = await api("/judged");
    if (judged.body && judged.body.queries) {
      state.judged = judged.body.queries;
      $("judged-title").textContent = "Judged queries: " + judged.body.collection + " (" + judged.body.split + ")";
      $("judged-panel").hidden = false;
      renderJudged();
    }
  }
  document.body.dataset.ready = "true";
}

$("search-form").addEventListener("submit", (event) => { event.preventDefault(); runSearch(); });
$("q").addEventListener("input", () => { if (state.qid) { state.qid = null; renderJudged(); } });
$("k").addEventListener("change", runSearch);
$("judged-filter").addEventListener("input", renderJudged);
$("key-save").addEventListener("click", useKey);
$("add-mode").addEventListener("change", () => {
  const hybrid = $("add-mode").value === "hybrid";
  $("add-fusion").disabled = !hybrid;
  $("add-side").disabled = !hybrid;
});
$("add-column").addEventListener("submit", (event) => {
  event.preventDefault();
  const target = state.targets[Number($("add-target").value)];
  if (!target) return;
  state.columns.push({ engine: target.engine, index: target.index, mode: $("add-mode").value, fusion: $("add-fusion").value, fusion_at: $("add-side").value });
  renderChips();
  runSearch();
});
start();
