// knobs dashboard: the page. Plain JS, no build step. It asks the server for JSON, draws figures
// with Plotly.react and inserts the views' escaped HTML fragments; the server's Server-Sent Events
// say when to ask again. Every user string goes in through textContent or esc().
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const main = document.getElementById("main");
const live = document.getElementById("live");
let source = null;          // the EventSource of the page
let current = null;         // what the page shows: {kind, run, ...}
let refreshTimer = null;
const table = {sort: "number", desc: false, states: new Set(), q: "", page: 0, perPage: 50};

// NOTE: plotly.js (1.3 MB: seconds of compiling on a busy machine) is downloaded from the start
// (index.html preloads it) but run only once the page has asked the server for its data (loadPlotly,
// after the first navigate()): as a script tag of its own it could run before this script and hold
// the requests back by its compiling time. The page waits for it only to draw a figure.
let plotlyLoaded = null;
const plotlyReady = new Promise((resolve, reject) => { plotlyLoaded = {resolve, reject}; });

function loadPlotly() {
  const script = el("script", {src: "plotly.min.js", async: ""});
  script.addEventListener("load", () => { performance.mark("knobs:plotly"); plotlyLoaded.resolve(window.Plotly); });
  script.addEventListener("error", () => plotlyLoaded.reject(new Error("plotly.min.js could not be loaded")));
  document.head.append(script);
}

function withToken(path) {
  if (!TOKEN) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

async function api(path) {
  const response = await fetch(withToken(path), {headers: {accept: "application/json"}});
  const body = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else if (k === "html") node.innerHTML = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  return String(value);
}

function when(seconds) { return seconds ? new Date(seconds * 1000).toLocaleString() : "—"; }

function showError(error) {
  main.replaceChildren(el("div", {class: "problems", role: "alert"}, el("strong", {text: "Error: "}), String(error.message || error)));
}

// ---- live -------------------------------------------------------------------------------------
function listen(run) {
  if (source) source.close();
  source = new EventSource(withToken("/api/stream" + (run ? "?run=" + encodeURIComponent(run) : "")));
  source.onopen = () => live.classList.add("on");
  source.onerror = () => live.classList.remove("on");
  source.addEventListener("runs", () => { if (current && current.kind !== "run") scheduleRefresh(); });
  source.addEventListener("change", () => scheduleRefresh());
  source.addEventListener("gone", () => {
    const banner = el("div", {class: "banner", role: "status", text: "This run's directory was removed; what is shown is its last state."});
    main.prepend(banner);
  });
  source.addEventListener("epoch", event => onEpochs(JSON.parse(event.data)));
}

function onEpochs(message) {
  const last = message.epochs[message.epochs.length - 1];
  const ticker = document.getElementById("ticker");
  if (ticker && last) {
    const parts = ["train_loss", "val_loss", "val_accuracy", "lr"].filter(k => last[k] !== undefined && last[k] !== null)
      .map(k => `${k} ${fmt(last[k])}`);
    ticker.textContent = `live: trial #${last.trial} epoch ${last.epoch}: ${parts.join(", ")}`;
  }
  if (last) document.body.dataset.lastEpoch = `${last.trial}:${last.epoch}`;
  const div = document.querySelector('[data-key="dash:curves"] .figure');
  let missing = false;
  if (div && div.data) {
    for (const record of message.epochs) {
      const matching = [], fresh = [], ys = [];
      div.data.forEach((trace, i) => {
        const meta = trace.meta || {};
        if (meta.trial !== record.trial || record[meta.key] === undefined || record[meta.key] === null) return;
        matching.push(i);
        // an epoch the figure already holds (drawn from the files, then streamed) is not drawn twice
        if (!Array.from(trace.x || []).includes(record.epoch)) { fresh.push(i); ys.push([record[meta.key]]); }
      });
      if (fresh.length) {
        Plotly.extendTraces(div, {x: fresh.map(() => [record.epoch]), y: ys}, fresh);
      } else if (!matching.length) missing = true;
    }
  }
  if (missing || !div) scheduleRefresh();
}

function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; render(false); }, 700);
}

// ---- views ------------------------------------------------------------------------------------
// NOTE: a large study's figures are seconds of drawing, most of them below the fold (the trials
// table fills the first screen). drawViews(..., {lazy: true}) puts every card in place at once
// (sized, so nothing jumps) and draws the figures one at a time — those in or near the viewport
// first, the rest after — yielding to the page between two, so it answers clicks and scrolling
// meanwhile. Its promise resolves when every figure is drawn; inViewDrawn() when those on screen are.
const pending = new Set();    // cards whose figure waits to be drawn (card._view: what to draw)
let pumping = null;           // the promise of the loop drawing them
let drew = () => {};          // resolves the promise of the next figure drawn
let nextDrawn = new Promise(resolve => { drew = resolve; });
const MARGIN = 300;           // px around the viewport that counts as near

function near(card) {
  const box = card.getBoundingClientRect();
  return box.bottom > -MARGIN && box.top < innerHeight + MARGIN && box.height > 0;
}

function figureConfig() { return {responsive: true, displaylogo: false}; }

async function drawFigure(card, view) {
  const div = card.querySelector(".figure");
  const layout = Object.assign({autosize: true}, view.figure.layout || {});
  await Plotly.react(div, view.figure.data || [], layout, figureConfig());
  card.dataset.drawn = "1";
  performance.mark("knobs:drawn " + view.key);
}

function pump() {
  if (pumping) return pumping;
  pumping = (async () => {
    try {
      await plotlyReady;
      while (pending.size) {
        const cards = [...pending].filter(c => c.isConnected);
        let card = cards.find(near);
        if (!card && cards.length) {  // only figures out of sight left: let the window paint first
          await nextFrame();
          card = [...pending].filter(c => c.isConnected).find(near) || cards.find(c => pending.has(c));
        }
        if (!card) { pending.clear(); break; }
        pending.delete(card);
        const view = card._view;
        card._view = null;
        if (view) await drawFigure(card, view);
        drew(); nextDrawn = new Promise(resolve => { drew = resolve; });
        await new Promise(resolve => setTimeout(resolve, 0));  // the page's own events between two figures
      }
    } catch (error) {
      pending.clear();  // (plotly.js did not load: nothing will be drawn; whoever waits is let go)
      drew(); nextDrawn = new Promise(resolve => { drew = resolve; });
      throw error;
    } finally {
      pumping = null;
    }
  })();
  return pumping;
}

function nextFrame() {
  // (a hidden page gets no animation frames: a timer there, so its figures are drawn all the same)
  return new Promise(resolve => document.visibilityState === "visible"
    ? requestAnimationFrame(() => setTimeout(resolve, 0)) : setTimeout(resolve, 0));
}

async function inViewDrawn() {
  while ([...pending].some(card => card.isConnected && near(card))) await nextDrawn;
}

addEventListener("scroll", () => { if (pending.size) pump(); }, {passive: true});

async function drawViews(container, views, {lazy = false} = {}) {
  if (!lazy && views.some(view => view.figure)) await plotlyReady;
  const seen = new Set();
  for (const view of views) {
    seen.add(view.key);
    let card = container.querySelector(`:scope > [data-key="${CSS.escape(view.key)}"]`);
    if (!card) {
      card = el("section", {class: "card view", "data-key": view.key, "data-section": view.section || ""});
      container.append(card);
    }
    const title = el("h3", {text: view.title});
    const note = view.note ? el("p", {class: "note", text: view.note}) : null;
    if (view.figure) {
      let div = card.querySelector(".figure");
      if (!div) div = el("div", {class: "figure"});
      if (!card.dataset.drawn) div.style.minHeight = ((view.figure.layout || {}).height || 320) + "px";  // (no jump when drawn)
      card.replaceChildren(title, note || "", div);
      if (lazy) { card._view = view; pending.add(card); }
      else { pending.delete(card); await drawFigure(card, view); }
    } else {
      pending.delete(card);
      card.replaceChildren(title, note || "", el("div", {class: "view-html", html: view.html || ""}));
    }
  }
  for (const card of [...container.children]) if (card.dataset.key && !seen.has(card.dataset.key)) { pending.delete(card); card.remove(); }
  if (lazy && pending.size) await pump();
}

function problemsBox(problems) {
  if (!problems || !problems.length) return null;
  return el("div", {class: "problems", role: "alert"}, el("strong", {text: "What is wrong with this run: "}),
            el("ul", {}, ...problems.map(p => el("li", {text: p}))));
}

// ---- pages ------------------------------------------------------------------------------------
async function runsPage() {
  const data = await api("/api/runs");
  data.runs.sort((a, b) => (b.started_at || 0) - (a.started_at || 0));  // newest first
  const rows = data.runs.map(run => el("tr", {},
    el("td", {}, el("a", {href: "#/run/" + encodeURIComponent(run.name), text: run.name})),
    el("td", {}, el("span", {class: "badge " + run.state, text: run.state})),
    el("td", {text: fmt(run.trials)}),
    el("td", {text: fmt(run.best_value) + (run.metric ? " " + run.metric : "")}),
    el("td", {text: when(run.started_at)}),
    el("td", {text: run.source || "—"}),
    el("td", {class: run.problems.length ? "fail" : "muted", text: run.problems.length ? `${run.problems.length} problem(s)` : "ok"})));
  const head = el("tr", {}, ...["run", "state", "trials", "best", "started", "source", "checks"].map(h => el("th", {text: h})));
  const body = rows.length ? el("div", {class: "scroll"}, el("table", {class: "grid", id: "runs"}, el("thead", {}, head), el("tbody", {}, ...rows)))
                           : el("p", {class: "muted", text: "No runs in this folder yet: start one with knobs run."});
  main.replaceChildren(el("h2", {text: `Runs in ${data.root}`}), el("section", {class: "card"}, body));
}

async function runPage(name, fresh) {
  const rows = api(trialsUrl(name));  // (all three asked at once: the server reads the run once for them)
  rows.catch(() => {});  // (a failure is shown by the await below, not as an unhandled rejection)
  const [info, own] = await Promise.all([api(`/api/runs/${encodeURIComponent(name)}`),
                                         api(`/api/runs/${encodeURIComponent(name)}/dashboard`)]);
  performance.mark("knobs:data");  // (marks: bench/dashboard.py --browser times the page's steps)
  if (fresh || !document.getElementById("run-page")) {
    main.replaceChildren(el("div", {id: "run-page"},
      el("h2", {id: "run-title"}), el("div", {id: "run-problems"}), el("div", {id: "ticker", class: "ticker"}),
      el("section", {class: "card", id: "run-facts"}),
      el("section", {class: "card", id: "trials-card"}, el("h3", {text: "Trials"}), el("div", {id: "trials-controls", class: "controls"}),
         el("div", {id: "trials-table"}), el("div", {id: "trial-detail"})),
      el("div", {id: "own-views"}), el("div", {id: "report-views"}, el("p", {class: "muted", text: "drawing the run's views…"}))));
    trialsControls(name);
  }
  const run = info.run;
  const title = document.getElementById("run-title");
  title.replaceChildren(run.name + " ", el("span", {class: "badge " + run.state, text: run.state}));
  const box = problemsBox(run.problems);
  document.getElementById("run-problems").replaceChildren(...(box ? [box] : []));
  const states = Object.entries(run.states).map(([s, n]) => `${s} ${n}`).join(", ");
  const facts = [["trials", fmt(run.trials) + (states ? ` (${states})` : "")],
                 ["best " + run.metric, fmt(run.best_value) + ` (${run.direction})`], ["started", when(run.started_at)],
                 ["source", run.source || "—"], ["seed", fmt(run.seed)],
                 ["summary", run.partial ? "not written yet: built from events.jsonl and study.db" : "summary.json"]];
  const test = info.summary && info.summary.test;
  if (test && typeof test === "object") for (const [k, v] of Object.entries(test)) if (typeof v === "number") facts.push(["test " + k, fmt(v)]);
  const details = el("details", {}, el("summary", {text: "config"}), el("pre", {class: "traceback", text: JSON.stringify(info.config, null, 2)}));
  document.getElementById("run-facts").replaceChildren(el("dl", {class: "facts"}, ...facts.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})])), details);
  showTrials(name, await rows);
  performance.mark("knobs:table");
  const figures = drawViews(document.getElementById("own-views"), own.views, {lazy: true});
  await inViewDrawn();
  performance.mark("knobs:shown");  // what the window shows is drawn; the figures below it follow
  document.body.dataset.ready = "1";
  // NOTE: asked for only now: on a busy machine the server's computing them competed with the
  // browser drawing the run's own figures
  const shared = api(`/api/runs/${encodeURIComponent(name)}/views`).catch(error => ({error}));
  figures.then(() => performance.mark("knobs:figures"), error => {
    document.getElementById("own-views")?.prepend(el("p", {class: "fail", text: "The figures could not be drawn: " + error.message}));
  });
  Promise.all([shared, figures.catch(() => null)]).then(async ([result]) => {  // the report's views: drawn when they come, after the page is up
    const container = document.getElementById("report-views");
    if (!container) return;
    if (result.error) {
      container.replaceChildren(el("p", {class: "fail", text: "The run's views could not be drawn: " + result.error.message}));
      return;
    }
    if (container.firstElementChild && container.firstElementChild.tagName === "P") container.replaceChildren();
    await drawViews(container, result.views, {lazy: true});
    document.body.dataset.viewsLoaded = "1";
  }).catch(() => {});  // (a figure that could not be drawn is said above, under the run's own views)
}

function trialsControls(name) {
  const controls = document.getElementById("trials-controls");
  const search = el("input", {type: "search", placeholder: "filter: lr=0.01, failed, Diverged…", "aria-label": "filter trials"});
  search.value = table.q;
  search.addEventListener("input", () => { table.q = search.value; table.page = 0; loadTrials(name); });
  const boxes = ["complete", "pruned", "failed", "running"].map(state => {
    const box = el("input", {type: "checkbox", "aria-label": state});
    box.checked = table.states.has(state);
    box.addEventListener("change", () => { box.checked ? table.states.add(state) : table.states.delete(state); table.page = 0; loadTrials(name); });
    return el("label", {}, box, " " + state);
  });
  controls.replaceChildren(search, ...boxes);
}

function trialsUrl(name) {
  const params = new URLSearchParams({sort: table.sort, desc: table.desc ? "1" : "0", state: [...table.states].join(","),
                                      q: table.q, page: table.page, per_page: table.perPage});
  return `/api/runs/${encodeURIComponent(name)}/trials?${params}`;
}

async function loadTrials(name) { showTrials(name, await api(trialsUrl(name))); }

function showTrials(name, data) {
  const columns = [["number", "#"], ["state", "state"], ["value", "value"], ["epochs", "epochs"], ["seconds", "seconds"],
                   ...data.params.map(p => ["param:" + p, p])];
  const head = el("tr", {}, ...columns.map(([key, label]) => el("th", {class: "sortable", title: "sort by " + label,
    text: label + (table.sort === key ? (table.desc ? " ▼" : " ▲") : ""),
    onclick: () => { table.desc = table.sort === key ? !table.desc : false; table.sort = key; loadTrials(name); }})),
    el("th", {text: "pruned at"}), el("th", {text: "fail reason"}));
  const rows = data.rows.map(row => el("tr", {"data-trial": row.number},
    el("td", {text: "#" + row.number}), el("td", {}, el("span", {class: "badge " + row.state, text: row.state})),
    el("td", {text: fmt(row.value)}), el("td", {text: fmt(row.epochs)}), el("td", {text: fmt(row.seconds)}),
    ...data.params.map(p => el("td", {text: fmt(row.config[p])})),
    el("td", {text: row.pruned_step === null ? "" : "epoch " + row.pruned_step}),
    el("td", {class: "reason"}, row.fail_reason ? el("details", {}, el("summary", {text: row.fail_reason}),
                                                      el("pre", {class: "traceback", text: row.traceback || "(no traceback recorded)"})) : "")));
  const pager = el("div", {class: "controls"},
    el("button", {text: "‹ previous", onclick: () => { table.page = Math.max(0, data.page - 1); loadTrials(name); }}),
    el("span", {text: `page ${data.page + 1} of ${data.pages} · ${data.matched} of ${data.total} trials`}),
    el("button", {text: "next ›", onclick: () => { table.page = Math.min(data.pages - 1, data.page + 1); loadTrials(name); }}));
  if (data.page === 0) pager.firstChild.disabled = true;
  if (data.page >= data.pages - 1) pager.lastChild.disabled = true;
  document.getElementById("trials-table").replaceChildren(
    el("div", {class: "scroll"}, el("table", {class: "grid", id: "trials"}, el("thead", {}, head), el("tbody", {}, ...rows))), pager);
}

// NOTE: compare and groups are re-rendered when the runs change (a working run's every trial): their
// answers are fetched before the page is touched, and views are drawn into the existing cards, so a
// refresh never blanks them.
async function comparePage(a, b) {
  const data = await api("/api/runs");
  const names = data.runs.map(r => r.name);
  a = a || names[0]; b = b || names[1] || names[0];
  const result = a && b ? await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`) : null;
  const pick = (value, id) => {
    const select = el("select", {id, "aria-label": id === "a" ? "first run" : "second run"}, ...names.map(n => el("option", {value: n, text: n})));
    select.value = value;
    select.addEventListener("change", () => { location.hash = `#/compare/${encodeURIComponent(document.getElementById("a").value)}/${encodeURIComponent(document.getElementById("b").value)}`; });
    return select;
  };
  let views = document.getElementById("compare-views");
  const controls = el("div", {class: "controls", id: "compare-controls"}, pick(a, "a"), " and ", pick(b, "b"));
  if (!views || views.dataset.pair !== `${a}\n${b}`) {
    views = el("div", {id: "compare-views"});
    main.replaceChildren(el("h2", {text: "Compare two runs"}), controls, views);
  } else {
    document.getElementById("compare-controls").replaceWith(controls);
  }
  views.dataset.pair = `${a}\n${b}`;
  if (!result) { views.replaceChildren(el("p", {class: "muted", text: "Needs at least one run."})); return; }
  await drawViews(views, result.views);
}

async function groupsPage() {
  const result = await api("/api/groups");
  let views = document.getElementById("group-views");
  if (!views) {
    views = el("div", {id: "group-views"});
    main.replaceChildren(el("h2", {text: "Seed groups"}), views);
  }
  await drawViews(views, result.views);
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "run" && parts[1]) return {kind: "run", run: parts[1]};
  if (parts[0] === "compare") return {kind: "compare", a: parts[1], b: parts[2]};
  if (parts[0] === "groups") return {kind: "groups"};
  return {kind: "runs"};
}

async function render(fresh) {
  try {
    if (current.kind === "run") await runPage(current.run, fresh);
    else if (current.kind === "compare") await comparePage(current.a, current.b);
    else if (current.kind === "groups") await groupsPage();
    else await runsPage();
    document.body.dataset.ready = "1";
  } catch (error) {
    showError(error);
  }
}

function navigate() {
  current = route();
  document.body.dataset.ready = "";
  listen(current.kind === "run" ? current.run : null);
  render(true);
}

window.addEventListener("hashchange", navigate);
navigate();
performance.mark("knobs:asked");  // (the first page's requests are sent: now plotly.js may take the thread)
loadPlotly();
