// ponder's web view: ask through the OpenAI-compatible endpoint with ponder.events and draw the live
// events (lanes of sample text, the vote tally, the search tree, the compute meter); browse eval runs.
// Plain JavaScript, no build step, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const SEARCH = ["beam", "dvts", "particle", "mcts"];
const state = { options: null, key: localStorage.getItem("ponder-key") || "" };
let live = null;

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function num(x) {
  if (x === null || x === undefined) return "–";
  const a = Math.abs(x);
  for (const [d, s] of [[1e15, " P"], [1e12, " T"], [1e9, " G"], [1e6, " M"]]) if (a >= d) return (x / d).toFixed(1) + s;
  return Math.round(x).toLocaleString("en");
}

function headers() {
  const h = { "content-type": "application/json" };
  if (state.key) h.authorization = "Bearer " + state.key;
  return h;
}

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: headers() });
  if (r.status === 401) {
    $("key-box").hidden = false;
    $("key").focus();
    throw new Error(state.key ? "that API key was refused: type the server's key in the box at the top right"
                              : "this server needs an API key: type it in the box at the top right (it is kept in this browser)");
  }
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error.message; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

function showError(e) { $("error").textContent = String((e && e.message) || e); $("error").hidden = false; }
function clearError() { $("error").hidden = true; }

function switchView(view) {
  for (const v of ["ask", "runs"]) {
    $("view-" + v).hidden = v !== view;
    $("tab-" + v).classList.toggle("active", v === view);
  }
  if (view === "runs") loadRuns();
}

async function init() {
  clearError();
  $("key").value = state.key;
  let o;
  try { o = await (await api("/v1/ponder/options")).json(); } catch (e) { showError(e); return; }
  state.options = o;
  if (o.auth) $("key-box").hidden = false;
  $("model").textContent = o.model ? "model: " + o.model + (o.served_by && o.served_by !== o.model ? " (" + o.served_by + ")" : "") : "eval runs";
  $("tab-runs").hidden = !o.runs;
  if (!o.generation) { $("tab-ask").hidden = true; switchView("runs"); return; }
  if (state.filled) return;  // a second load (a new key) keeps what the user has chosen
  state.filled = true;
  const s = $("strategy");
  s.replaceChildren(...o.strategies.map((name) => el("option", { value: name, text: name })));
  s.value = o.strategy;
  $("n").value = o.n;
  $("n").max = o.max_n;
  $("max-tokens").value = o.default_max_tokens;
  $("max-tokens").max = o.max_tokens;
  const v = $("verifier");
  v.replaceChildren(el("option", { value: "", text: "(the strategy's default)" }),
    ...o.verifiers.map((name) => el("option", { value: name, text: name })));
}

// ---- ask and watch --------------------------------------------------------------------------------
function resetLive(strategy) {
  if (live && live.timer) clearInterval(live.timer);
  live = { strategy, lanes: new Map(), provisional: new Map(), voted: false, lastCall: 0, nodes: new Map(),
           final: null, request: null, trace: [], generated: 0, started: performance.now() };
  live.timer = setInterval(() => {  // the wall clock runs while the question does
    $("m-wall").textContent = ((performance.now() - live.started) / 1000).toFixed(1) + " s";
  }, 200);
  for (const id of ["lanes", "tally"]) $(id).replaceChildren();
  $("tree").replaceChildren();
  for (const id of ["final", "tally-box", "tree-box", "lanes-box"]) $(id).hidden = true;
  $("meter").hidden = false;
  for (const [id, v] of [["m-prompt", "0"], ["m-gen", "0"], ["m-flops", "–"], ["m-wall", "0.0 s"], ["m-left", "–"],
                         ["m-calls", "0"]]) $(id).textContent = v;
}

function lane(call, request, sample) {
  const key = call + ":" + request + ":" + sample;
  let l = live.lanes.get(key);
  if (!l) {
    const title = live.strategy === "revise" ? `round ${call} · chain ${request + 1}`
      : `call ${call} · sample ${sample + 1}` + (request ? ` · request ${request + 1}` : "");
    const status = el("span", { class: "badge", text: "decoding" });
    const node = el("div", { class: "lane running" }, el("header", {}, el("span", { text: title }), status),
      el("pre"), el("footer", { class: "muted", text: "…" }));
    node.dataset.call = call;
    node.dataset.sample = sample;
    $("lanes").append(node);
    $("lanes-box").hidden = false;
    l = { node, pre: node.querySelector("pre"), foot: node.querySelector("footer"), status, answer: undefined,
          call, request, sample, score: null };
    live.lanes.set(key, l);
  }
  return l;
}

function laneFooter(l) {
  const parts = [l.answer === undefined ? "…" : "answer: " + (l.answer === null ? "(none)" : l.answer)];
  if (l.score !== null && l.score !== undefined) parts.push("score " + l.score.toFixed(3));
  l.foot.textContent = parts.join(" · ");
}

function drawTally(dist, winner) {
  const entries = [...dist.entries()].sort((a, b) => b[1] - a[1]);
  const top = Math.max(1, ...entries.map(([, v]) => v));
  $("tally").replaceChildren(...entries.map(([k, v]) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = (100 * v / top) + "%";
    const bar = el("div", { class: "bar" + (k === winner ? " win" : "") }, el("span", { class: "key", text: k, title: k }),
      el("div", {}, fill), el("b", { class: "count", text: String(v) }));
    bar.dataset.answer = k;
    return bar;
  }));
  $("tally-box").hidden = entries.length === 0;
}

function lanesOfCall(call) { return [...live.lanes.values()].filter((l) => l.call === call); }

function onEvent(e) {
  const search = SEARCH.includes(live.strategy);
  switch (e.event) {
    case "delta": {
      live.lastCall = Math.max(live.lastCall, e.call);
      if (search) return;
      const l = lane(e.call, e.request, e.sample);
      l.pre.textContent = e.replace ? e.text : l.pre.textContent + e.text;
      l.pre.scrollTop = l.pre.scrollHeight;
      return;
    }
    case "sample_done": {
      if (search) return;
      const l = lane(e.call, e.request, e.sample);
      l.answer = e.answer;
      l.node.classList.remove("running");
      l.status.textContent = "done";
      laneFooter(l);
      if (!live.voted && e.answer !== null) {
        live.provisional.set(e.answer, (live.provisional.get(e.answer) || 0) + 1);
        drawTally(live.provisional, null);
      }
      return;
    }
    case "usage":
      live.generated = Math.max(live.generated, e.completion_tokens || 0);
      $("m-prompt").textContent = num(e.prompt_tokens);
      $("m-gen").textContent = num(e.completion_tokens);
      $("m-flops").textContent = num(e.flops);
      $("m-wall").textContent = e.wall_s.toFixed(1) + " s";
      $("m-calls").textContent = String(e.calls);
      $("m-left").textContent = e.tokens_left !== null ? num(e.tokens_left) + " tokens"
        : e.samples_left !== null ? e.samples_left + " samples" : "∞";
      return;
    default:
      live.trace.push(e);
  }
  if (e.event === "sample") {
    lanesOfCall(live.lastCall).forEach((l, i) => {
      const why = e.finish_reasons[i];
      if (why === "cutoff") { l.node.classList.add("cut"); l.status.textContent = "cut (low confidence)"; l.status.classList.add("cut"); }
      else if (why === "deadline") { l.node.classList.add("stopped"); l.status.textContent = "stopped"; }
      else if (why === "length") l.status.textContent = "max tokens";
    });
  } else if (e.event === "score") {
    lanesOfCall(live.lastCall).forEach((l, i) => { l.score = e.scores[i]; laneFooter(l); });
  } else if (e.event === "vote") {
    live.voted = true;
    drawTally(new Map(Object.entries(e.distribution)), e.winner);
  } else if (e.event === "expand") {
    for (const n of e.nodes) live.nodes.set(n.id, { ...n, pruned: false });
    drawTree();
  } else if (e.event === "prune") {
    for (const id of e.pruned || []) if (live.nodes.has(id)) live.nodes.get(id).pruned = true;
    drawTree();
  } else if (e.event === "select" && SEARCH.includes(live.strategy)) {
    live.chosenNode = e.chosen;
    drawTree();
  } else if (e.event === "filter" && Array.isArray(e.kept)) {  // DeepConf offline: traces filtered out
    lanesOfCall(live.lastCall).forEach((l, i) => {
      if (!e.kept.includes(i)) { l.node.classList.add("cut"); l.status.textContent = "filtered out"; }
    });
  }
}

function drawTree() {
  const t = $("tree");
  const nodes = [...live.nodes.values()];
  const byDepth = new Map([[0, [{ id: 0, depth: 0, root: true }]]]);
  for (const n of nodes) { if (!byDepth.has(n.depth)) byDepth.set(n.depth, []); byDepth.get(n.depth).push(n); }
  const pos = new Map();
  let rows = 1;
  for (const [d, list] of byDepth) {
    list.forEach((n, i) => pos.set(n.id, { x: 30 + d * 150, y: 20 + i * 26 }));
    rows = Math.max(rows, list.length);
  }
  t.setAttribute("height", 30 + rows * 26);
  t.replaceChildren();
  for (const n of nodes) {
    const a = pos.get(n.parent) || pos.get(0), b = pos.get(n.id);
    t.append(svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y }));
  }
  for (const [id, p] of pos) {
    const n = live.nodes.get(id) || { root: true };
    const cls = ["node", n.pruned ? "pruned" : "", n.done ? "done" : "", id === live.chosenNode ? "chosen" : ""];
    const g = svg("g", { class: cls.join(" ").trim(), "data-id": id });
    g.append(svg("circle", { cx: p.x, cy: p.y, r: 7 }));
    const title = svg("title");
    title.textContent = n.root ? "the question" : n.step;
    g.append(title);
    if (!n.root) {
      const label = svg("text", { x: p.x + 10, y: p.y + 4 });
      label.textContent = n.score.toFixed(2);
      g.append(label);
    }
    t.append(g);
  }
  $("tree-box").hidden = false;
}

function finish(msg) {
  const p = msg.ponder;
  live.final = msg;
  clearInterval(live.timer);
  $("m-wall").textContent = p.wall_s.toFixed(1) + " s";
  $("m-calls").textContent = String(p.calls);  // live usage counts generation calls; the verifier's come last
  $("final").hidden = false;
  $("answer").textContent = p.answer === null ? "(no answer)" : p.answer;
  $("final-info").textContent = `${p.strategy} · ${p.samples} samples · ${p.calls} calls · ` +
    `${msg.usage.completion_tokens} generated tokens · ${p.wall_s.toFixed(1)} s`;
  $("m-gen").textContent = num(msg.usage.completion_tokens);
  $("m-prompt").textContent = num(msg.usage.prompt_tokens);
  for (const l of live.lanes.values()) {
    if (l.answer !== undefined && l.answer === p.answer) l.node.classList.add("chosen");
  }
  const blob = new Blob([JSON.stringify({ request: live.request, response: msg }, null, 2)], { type: "application/json" });
  $("download").href = URL.createObjectURL(blob);
}

function handle(data) {
  if (data === "[DONE]") return;
  const msg = JSON.parse(data);
  if (msg.error) { showError(msg.error.message || msg.error); return; }
  const p = msg.ponder;
  if (p && p.events) p.events.forEach(onEvent);
  if (p && p.progress && p.progress.generated_tokens > live.generated) {  // between backend calls' usage events
    live.generated = p.progress.generated_tokens;
    $("m-gen").textContent = num(live.generated);
  }
  if (p && p.answer !== undefined && msg.usage) finish(msg);
}

async function ask(ev) {
  ev.preventDefault();
  clearError();
  const strategy = $("strategy").value;
  resetLive(strategy);
  const ponder = { strategy, n: Number($("n").value), events: true, return_trace: true };
  if ($("verifier").value) ponder.verifier = $("verifier").value;
  if ($("budget").value) ponder.budget = { tokens: Number($("budget").value) };
  const body = { model: state.options.model, stream: true, max_tokens: Number($("max-tokens").value),
                 messages: [{ role: "user", content: $("question").value }], ponder };
  live.request = body;
  $("ask").disabled = true;
  try {
    const r = await api("/v1/chat/completions", { method: "POST", body: JSON.stringify(body) });
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of block.split("\n")) if (line.startsWith("data: ")) handle(line.slice(6));
      }
    }
  } catch (e) {
    showError(e);
  } finally {
    clearInterval(live.timer);
    $("ask").disabled = false;
  }
}

// ---- eval runs ------------------------------------------------------------------------------------
function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%"; }

async function loadRuns() {
  $("run-list").hidden = false;
  $("run-detail").hidden = true;
  $("problem-detail").hidden = true;
  let data;
  try { data = await (await api("/v1/ponder/runs")).json(); } catch (e) { showError(e); return; }
  $("runs").tBodies[0].replaceChildren(...data.runs.map((r) => {
    const tr = el("tr", {}, ...[r.name, r.dataset, r.strategy, r.n, r.model, r.problems, pct(r.accuracy),
      num(r.tokens_per_problem)].map((v) => el("td", { text: v === null || v === undefined ? "–" : String(v) })));
    tr.dataset.run = r.name;
    tr.addEventListener("click", () => loadRun(r.name));
    return tr;
  }));
}

async function loadRun(name) {
  clearError();
  let d;
  try { d = await (await api("/v1/ponder/runs/" + encodeURIComponent(name))).json(); } catch (e) { showError(e); return; }
  $("run-detail").hidden = false;
  $("problem-detail").hidden = true;
  $("run-title").textContent = name;
  const c = d.config, s = d.summary;
  $("run-summary").textContent = `${c.dataset} · ${c.strategy} N=${c.n} · ${c.model} · ${s.problems} problems · ` +
    `accuracy ${pct(s.accuracy)} · ${num(s.tokens_per_problem)} tokens / problem`;
  $("problems").tBodies[0].replaceChildren(...d.problems.map((p) => {
    const ok = p.correct === true ? el("td", { class: "ok", text: "✓" }) : p.correct === false
      ? el("td", { class: "bad", text: "✗" }) : el("td", { text: "–" });
    const tr = el("tr", {}, el("td", { text: p.problem_id }), el("td", { text: String(p.seed) }),
      el("td", { text: p.level === null || p.level === undefined ? "–" : String(p.level) }),
      el("td", { text: String(p.reference) }), el("td", { text: p.answer === null ? "(none)" : String(p.answer) }), ok,
      el("td", { text: String(p.samples) }), el("td", { text: num(p.tokens) }));
    tr.dataset.problem = p.problem_id;
    tr.addEventListener("click", () => loadProblem(name, p.problem_id, p.seed));
    return tr;
  }));
  try {
    const png = await (await api("/v1/ponder/runs/" + encodeURIComponent(name) + "/plot.png")).blob();
    $("run-plot").src = URL.createObjectURL(png);
  } catch (e) { $("run-plot").alt = "no plot: " + e.message; }
}

async function loadProblem(name, pid, seed) {
  let r;
  try {
    r = await (await api(`/v1/ponder/runs/${encodeURIComponent(name)}/problems/${encodeURIComponent(pid)}?seed=${seed}`)).json();
  } catch (e) { showError(e); return; }
  $("problem-detail").hidden = false;
  $("problem-title").textContent = `${pid} — reference ${r.reference}, answered ${r.answer} ` + (r.correct ? "✓" : "✗");
  $("problem-question").textContent = r.question || "";
  $("candidates").replaceChildren(...(r.candidates || []).map((c, i) => {
    const mark = c.correct === true ? "✓" : c.correct === false ? "✗" : "";
    const head = `#${i + 1} · answer ${c.answer === null ? "(none)" : c.answer} ${mark}` +
      (c.score !== null && c.score !== undefined ? ` · score ${c.score.toFixed(3)}` : "") +
      ` · ${c.tokens} tokens · ${c.finish_reason}` + (i === r.chosen ? " · chosen" : "");
    return el("div", { class: "cand" + (c.correct ? " right" : "") }, el("header", { text: head }), el("pre", { text: c.text }));
  }));
  $("problem-detail").scrollIntoView();
}

for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => switchView(b.dataset.view));
$("ask-form").addEventListener("submit", ask);
$("key").addEventListener("change", () => { state.key = $("key").value; localStorage.setItem("ponder-key", state.key); init(); });
init();
