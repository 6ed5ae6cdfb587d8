"""The preview page: one self-contained HTML document (no external resources)."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cnndsl preview</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg: #f6f7f9; --panel: #fff; --ink: #1d2430; --muted: #687385; --line: #dde1e7;
          --err: #b42318; --errbg: #fef3f2; --warn: #93600a; --warnbg: #fffaeb; --ok: #067647; }
  body.dark { --bg: #15181e; --panel: #1e232b; --ink: #e6e9ef; --muted: #98a2b3;
              --line: #333a45; --errbg: #3a1714; --err: #fda29b; --warnbg: #3a2a0c;
              --warn: #fec84b; --ok: #75e0a7; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg);
         color: var(--ink); }
  header { display: flex; gap: 14px; align-items: center; flex-wrap: wrap;
           padding: 10px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 16px; margin: 0 8px 0 0; }
  header h1 small { color: var(--muted); font-weight: normal; }
  label { color: var(--muted); }
  select, a.button { font: inherit; padding: 3px 8px; border: 1px solid var(--line);
                     border-radius: 6px; background: var(--panel); color: var(--ink); }
  a.button { text-decoration: none; }
  a.button:hover { border-color: var(--muted); }
  #status { margin-left: auto; color: var(--muted); }
  #status.ok::before { content: "\\25CF  "; color: var(--ok); }
  #status.bad::before { content: "\\25CF  "; color: var(--err); }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(320px, 2fr); gap: 14px;
         padding: 14px 16px; }
  section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
            padding: 12px; min-width: 0; }
  #diagnostics:empty { display: none; }
  #diagnostics { grid-column: 1 / -1; padding: 0; border: 0; background: none; }
  pre.diag { margin: 0 0 8px; padding: 10px 12px; border-radius: 8px; overflow-x: auto;
             font: 12.5px/1.45 ui-monospace, monospace; }
  pre.error { background: var(--errbg); color: var(--err); border: 1px solid var(--err); }
  pre.warning { background: var(--warnbg); color: var(--warn); border: 1px solid var(--warn); }
  #figure { text-align: center; }
  #figure img { max-width: 100%; max-height: calc(100vh - 140px); }
  #figure.stale img { opacity: .45; }
  table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
  th, td { padding: 3px 6px; border-bottom: 1px solid var(--line); text-align: right;
           white-space: nowrap; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
  td code { font-size: 12px; }
  h2 { font-size: 14px; margin: 0 0 8px; }
  .totals { color: var(--muted); margin: 0 0 8px; }
  #tables { overflow: auto; max-height: calc(100vh - 140px); }
</style>
</head>
<body>
<header>
  <h1>cnndsl preview <small id="file"></small></h1>
  <label>network <select id="network"></select></label>
  <label>depth <select id="depth">
    <option value="auto">auto</option><option value="1">1</option><option value="2">2</option>
    <option value="3">3</option><option value="4">4</option><option value="all">all</option>
  </select></label>
  <label>theme <select id="theme">
    <option>light</option><option>dark</option><option>print</option>
  </select></label>
  <a class="button" id="dl-svg" download>SVG</a>
  <a class="button" id="dl-png" download>PNG</a>
  <a class="button" id="dl-pdf" download>PDF</a>
  <span id="status">connecting…</span>
</header>
<main>
  <section id="diagnostics"></section>
  <section id="figure"><img id="diagram" alt="the network's diagram" data-version="0"></section>
  <section id="tables"></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let state = null;

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}

function query(extra) {
  const p = new URLSearchParams({network: $("network").value || "", depth: $("depth").value,
    theme: $("theme").value});
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p.toString();
}

function drawDiagram() {
  if (!state) return;
  const v = state.drawn_version;
  const img = $("diagram");
  $("figure").classList.toggle("stale", v !== state.version);
  if (!v) { img.removeAttribute("src"); return; }
  const src = "/diagram.svg?" + query({v: v});
  if (img.getAttribute("src") !== src) {
    img.onload = () => { img.dataset.version = String(v); };
    img.src = src;
  }
  for (const fmt of ["svg", "png", "pdf"]) {
    $("dl-" + fmt).href = "/diagram." + fmt + "?" + query({v: v, download: 1});
  }
  document.body.classList.toggle("dark", $("theme").value === "dark");
}

function drawTables() {
  const nets = state.networks.filter((n) => !$("network").value || n.name === $("network").value);
  $("tables").innerHTML = nets.map((n) =>
    "<h2>" + esc(n.name) + "</h2><p class='totals'>" + esc(n.input.join("×")) + " → " +
    esc(n.output.join("×")) + " · " + n.params.toLocaleString("en") + " params · " +
    esc(n.macs_text) + " MACs</p><table><thead><tr><th>path</th><th>op</th><th>output</th>" +
    "<th>params</th><th>MACs</th></tr></thead><tbody>" +
    n.layers.map((r) => "<tr><td><code>" + esc(r.path) + "</code></td><td>" + esc(r.op) +
      "</td><td>" + esc(r.output_text) + "</td><td>" + r.params.toLocaleString("en") +
      "</td><td>" + esc(r.macs_text) + "</td></tr>").join("") +
    "</tbody></table>").join("");
}

async function refresh() {
  const depth = $("depth").value;
  const r = await fetch("/state.json?depth=" + (/^[0-9]+$/.test(depth) ? depth : ""));
  state = await r.json();
  document.title = state.name + " · cnndsl preview";
  $("file").textContent = state.name;
  const sel = $("network"), names = state.networks.map((n) => n.name);
  if (names.length && names.join() !== [...sel.options].map((o) => o.value).join()) {
    const keep = sel.value;
    sel.innerHTML = names.map((n) => "<option>" + esc(n) + "</option>").join("");
    if (names.includes(keep)) sel.value = keep;
  }
  $("diagnostics").innerHTML = state.diagnostics.map((d) =>
    "<pre class='diag " + esc(d.severity) + "'>" + esc(d.text) + "</pre>").join("");
  const count = (kind) => state.diagnostics.filter((d) => d.severity === kind).length;
  const plural = (n, word) => n + " " + word + (n > 1 ? "s" : "");
  const errors = count("error"), warnings = count("warning");
  const st = $("status");
  st.className = errors ? "bad" : "ok";
  st.textContent = (errors ? plural(errors, "error") : "ok") +
    (warnings ? " · " + plural(warnings, "warning") : "") +
    " · version " + state.version + " · " + new Date(state.checked_at * 1000).toLocaleTimeString();
  drawTables();
  drawDiagram();
}

for (const id of ["network", "depth", "theme"]) {
  $(id).addEventListener("change", () => refresh());
}
const events = new EventSource("/events");
events.onmessage = () => refresh();
events.onerror = () => { $("status").className = "bad"; $("status").textContent = "disconnected"; };
refresh();
</script>
</body>
</html>
"""
