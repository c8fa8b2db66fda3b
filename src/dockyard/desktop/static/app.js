"use strict";
// Dockyard Desktop: plain DOM; the one front-end dependency, xterm.js, comes bundled from npm
// (window.Xterm, static/dist). Views are hash routes; each view registers what it opened
// (EventSource, WebSocket, terminal) in `open`, closed when the route changes.

const view = document.getElementById("view");
const msgBox = document.getElementById("message");
let open = [];
const engineListeners = new Set();

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function showError(text) {
  msgBox.textContent = text;
  msgBox.hidden = !text;
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(path, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.message || resp.statusText);
  return data;
}

async function act(fn) {
  try { showError(""); await fn(); } catch (e) { showError(e.message); }
}

// A modal question instead of confirm()/alert()/prompt(): the focus on its first button (the
// answer asked for) or its text field, Enter takes it, Escape or Cancel closes it; the focus goes
// back where it was. The answer: true/false, or the text (null when cancelled) when `input` is given.
function ask(text, ok = "OK", cancel = "Cancel", input = null) {
  return new Promise((resolve) => {
    const back = document.activeElement, place = focusPlace(view);
    const field = input === null ? null : h("input", { value: input, "aria-labelledby": "ask-text", size: 40 });
    const yes = h("button", { value: "yes", "data-answer": "yes", class: cancel && !field ? "danger" : null }, ok);
    const dlg = h("dialog", { class: "ask", "aria-labelledby": "ask-text" });
    const no = cancel ? h("button", { type: "button", "data-answer": "no", onclick: () => dlg.close() }, cancel) : null;
    dlg.append(h("form", { method: "dialog" }, h("p", { id: "ask-text" }, text), field,
      h("div", { class: "actions" }, yes, no)));
    dlg.addEventListener("close", () => {
      const taken = dlg.returnValue === "yes";
      dlg.remove();
      if (back && back.isConnected) back.focus(); else if (place) restoreFocus(view, place); else view.focus();
      resolve(field ? (taken ? field.value : null) : taken);
    });
    document.body.append(dlg);
    dlg.showModal();
    (field || yes).focus();
  });
}

const tell = (text) => ask(text, "OK", null);

// Lists redrawn on engine events keep the keyboard's place: the focused control's row (data-id,
// data-project) and action are found again after the redraw, else the row's first control.
function focusPlace(root) {
  const el = document.activeElement;
  const row = el && root.contains(el) ? el.closest("[data-id], [data-project]") : null;
  if (!row) return null;
  const attr = row.dataset.id !== undefined ? "data-id" : "data-project";
  return { attr, value: row.getAttribute(attr), action: el.dataset.action, href: el.getAttribute("href") };
}

function restoreFocus(root, place) {
  if (!place || (document.activeElement && root.contains(document.activeElement))) return;
  const row = root.querySelector(`[${place.attr}="${CSS.escape(place.value)}"]`);
  if (!row) { view.focus(); return; }
  const el = (place.action && (row.querySelector(`[data-action="${CSS.escape(place.action)}"]`) || row.querySelector(".actions button")))
    || (place.href && row.querySelector(`a[href="${CSS.escape(place.href)}"]`)) || row.querySelector("button, a[href]");
  if (el) el.focus();
}

function units(n) {
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + " " + u[i];
}

function ago(seconds) {
  const d = Date.now() / 1000 - seconds;
  if (d < 60) return Math.floor(d) + "s ago";
  if (d < 3600) return Math.floor(d / 60) + "m ago";
  if (d < 86400) return Math.floor(d / 3600) + "h ago";
  return Math.floor(d / 86400) + "d ago";
}

function stream(url, handlers) {
  const es = new EventSource(url);
  for (const [name, fn] of Object.entries(handlers)) es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  es.addEventListener("error", (e) => { if (e.data) showError(JSON.parse(e.data).message); });
  open.push(es);
  return es;
}

// One events stream for the whole page: the containers view refreshes on container events,
// the events view lists them.
const recentEvents = [];
function startEngineEvents() {
  const es = new EventSource("/api/events");
  es.addEventListener("engine", (e) => {
    const ev = JSON.parse(e.data);
    recentEvents.unshift(ev);
    recentEvents.length = Math.min(recentEvents.length, 300);
    for (const fn of engineListeners) fn(ev);
  });
}

function onEngine(fn) {
  engineListeners.add(fn);
  open.push({ close: () => engineListeners.delete(fn) });
}

function debounce(fn, ms) {
  let t = null;
  return () => { clearTimeout(t); t = setTimeout(fn, ms); };
}

// ---- containers

function portLinks(c) {
  return c.ports.map((p) => {
    const host = ["", "0.0.0.0", "::"].includes(p.ip) ? location.hostname : p.ip;
    const label = `${p.public}:${p.private}/${p.type}`;
    if (p.type !== "tcp") return h("span", {}, label + " ");
    return [h("a", { href: `http://${host.includes(":") ? "[" + host + "]" : host}:${p.public}/`, target: "_blank",
                     rel: "noopener noreferrer" }, label), " "];
  });
}

function actionButtons(c, refresh) {
  const run = (action) => act(async () => { await api("POST", `/api/containers/${c.id}/${action}`); await refresh(); });
  const running = c.state === "running", paused = c.state === "paused";
  const remove = () => act(async () => {
    if (!(await ask(`Remove container ${c.name}?${running ? " It is running: it will be killed." : ""}`, "Remove"))) return;
    await api("DELETE", `/api/containers/${c.id}?force=${running || paused ? 1 : 0}`);
    await refresh();
  });
  return h("div", { class: "actions" },
    !running && !paused ? h("button", { onclick: () => run("start"), "data-action": "start" }, "Start") : null,
    running ? h("button", { onclick: () => run("stop"), "data-action": "stop" }, "Stop") : null,
    running || paused ? h("button", { onclick: () => run("restart"), "data-action": "restart" }, "Restart") : null,
    running ? h("button", { onclick: () => run("pause"), "data-action": "pause" }, "Pause") : null,
    paused ? h("button", { onclick: () => run("unpause"), "data-action": "unpause" }, "Resume") : null,
    running ? h("button", { onclick: () => run("kill"), "data-action": "kill" }, "Kill") : null,
    h("button", { class: "danger", onclick: remove, "data-action": "remove" }, "Remove"));
}

// Live CPU/memory in the list: opt-in (each running container's stats stream costs the engine a
// sample a second), one fan-in SSE stream for all rows, reopened only when the set of running ids changes.
const usage = new Map();  // id -> {cpu: [], mem: [], last}

function usageCell(id) {
  const u = usage.get(id);
  if (!u) return h("td", { class: "usage muted" }, "—");
  return h("td", { class: "usage" }, sparkline(u.cpu, Math.max(100, ...u.cpu), "CPU history", 80, 20),
    ` ${u.last.cpu.toFixed(1)} % · ${units(u.last.mem)}`);
}

function liveUsage(ids, onSample) {
  const key = ids.join(",");
  if (liveUsage.key === key) return;
  if (liveUsage.es) { liveUsage.es.close(); liveUsage.es = null; }
  liveUsage.key = key;
  if (!ids.length) return;
  liveUsage.es = stream("/api/stats?" + ids.map((id) => "id=" + encodeURIComponent(id)).join("&"), {
    stats: (s) => {
      if (s.gone) { usage.delete(s.id); return; }
      const u = usage.get(s.id) || { cpu: [], mem: [] };
      u.cpu.push(s.cpu); u.mem.push(s.mem); u.last = s;
      if (u.cpu.length > 30) { u.cpu.shift(); u.mem.shift(); }
      usage.set(s.id, u);
      onSample(s.id);
    },
  });
}

async function containersView() {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const live = h("input", { type: "checkbox", id: "live-usage", checked: localStorage.getItem("liveUsage") === "1" });
  let running = [];
  const applyLive = () => liveUsage(live.checked ? running : [], (id) => {
    const td = body.querySelector(`tr[data-id="${id}"] td.usage`);
    if (td) td.replaceWith(usageCell(id));
  });
  live.addEventListener("change", () => { localStorage.setItem("liveUsage", live.checked ? "1" : "0"); applyLive(); });
  open.push({ close: () => { liveUsage.key = null; if (liveUsage.es) liveUsage.es.close(); liveUsage.es = null; } });
  view.replaceChildren(h("h2", {}, "Containers"),
    h("div", { class: "toolbar" }, h("label", {}, live, " live CPU and memory")), body);
  const refresh = async () => {
    const data = await api("GET", "/api/containers");
    const place = focusPlace(body);
    const groups = data.projects.map((g) => h("section", { "data-project": g.project },
      h("h2", {}, g.project ? `Compose project ${g.project}` : (data.projects.length > 1 ? "Other containers" : "")),
      h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Image", "State", "Health", "Ports", "CPU · memory", "Created", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, g.containers.map((c) => h("tr", { "data-id": c.id, "data-name": c.name },
          h("td", {}, h("a", { href: `#/container/${c.id}` }, c.name)),
          h("td", {}, c.image),
          h("td", { class: `state-${c.state}` }, c.status || c.state),
          h("td", { class: `health-${c.health}` }, c.health || "—"),
          h("td", {}, portLinks(c)),
          usageCell(c.id),
          h("td", {}, ago(c.created)),
          h("td", {}, actionButtons(c, refresh))))))));
    body.replaceChildren(...(groups.length ? groups : [h("p", { class: "muted" }, "No containers.")]));
    restoreFocus(body, place);
    running = data.projects.flatMap((g) => g.containers).filter((c) => c.state === "running").map((c) => c.id).slice(0, 64);
    applyLive();
  };
  await refresh();
  const later = debounce(() => act(refresh), 250);
  onEngine((ev) => { if (ev.Type === "container") later(); });
}

// ---- one container

function tree(value, key) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const size = Array.isArray(value) ? `[${value.length}]` : `{${entries.length}}`;
    return h("li", {}, h("details", { open: key === undefined ? true : null },
      h("summary", {}, key !== undefined ? h("span", { class: "k" }, key + " ") : null, h("span", { class: "muted" }, size)),
      h("ul", {}, entries.map(([k, v]) => tree(v, k)))));
  }
  return h("li", {}, h("span", { class: "k" }, key + ": "), h("span", { class: "v" }, JSON.stringify(value)));
}

function logsTab(id, pane) {
  const out = h("pre", { class: "log", "aria-label": "container log" });
  const search = h("input", { type: "search", placeholder: "Filter lines", "aria-label": "filter log lines" });
  const stamps = h("input", { type: "checkbox", id: "stamps" });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const lines = [];
  let partial = "";
  const render = (line) => {
    if (search.value && !line.text.includes(search.value)) return null;
    const text = stamps.checked ? line.text : line.text.replace(/^\S+Z /, "");
    return h("span", { class: line.stream }, text + "\n");
  };
  const redraw = () => { out.replaceChildren(...lines.map(render).filter(Boolean)); };
  search.addEventListener("input", redraw);
  stamps.addEventListener("change", redraw);
  pane.replaceChildren(h("div", { class: "toolbar" }, search, h("label", {}, stamps, " timestamps"),
    h("label", {}, follow, " follow")), out);
  stream(`/api/containers/${id}/logs`, {
    log: (m) => {
      const parts = (partial + m.text).split("\n");
      partial = parts.pop();
      for (const text of parts) {
        const line = { stream: m.stream, text };
        lines.push(line);
        const el = render(line);
        if (el) out.append(el);
      }
      if (lines.length > 5000) { lines.splice(0, lines.length - 5000); redraw(); }
      if (follow.checked) out.scrollTop = out.scrollHeight;
    },
  });
}

function sparkline(values, max, label, width = 360, height = 60) {
  const c = h("canvas", { width, height, class: "spark", role: "img", "aria-label": label });
  const ctx = c.getContext("2d");
  ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent");
  ctx.beginPath();
  const n = Math.max(values.length - 1, 1);
  values.forEach((v, i) => {
    const x = (i / n) * width, y = height - 2 - (max ? (v / max) * (height - 4) : 0);
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.stroke();
  return c;
}

function statsTab(id, pane) {
  const cpu = [], mem = [];
  const box = h("div", {}, h("p", { class: "muted" }, "Waiting for the first sample…"));
  pane.replaceChildren(box);
  stream(`/api/containers/${id}/stats`, {
    stats: (s) => {
      cpu.push(s.cpu); mem.push(s.mem);
      if (cpu.length > 60) { cpu.shift(); mem.shift(); }
      box.replaceChildren(
        h("h2", {}, `CPU ${s.cpu.toFixed(1)} %`), sparkline(cpu, Math.max(100, ...cpu), "CPU history"),
        h("h2", {}, `Memory ${units(s.mem)} of ${units(s.limit)}`), sparkline(mem, s.limit || Math.max(...mem), "memory history"),
        h("p", {}, `Processes: ${s.pids}`));
    },
  });
}

function terminalTheme() {
  const css = getComputedStyle(document.documentElement);
  return { background: "#0d1117", foreground: "#e6edf3", cursor: css.getPropertyValue("--accent").trim() };
}

function terminalTab(id, pane) {
  // xterm.js (package.json, bundled into /static/dist by `make deps`) over a WebSocket to a TTY exec;
  // the terminal fits its box, and every new size is sent on as the exec's resize.
  if (!window.Xterm) {
    pane.replaceChildren(h("p", { class: "muted" }, "The terminal's bundle is missing: run `make deps` (npm) first."));
    return;
  }
  const box = h("div", { class: "term", "aria-label": "terminal" });
  pane.replaceChildren(h("p", { class: "muted" }, "A shell (/bin/sh) in the container. Shift+Tab leaves the terminal."), box);
  const term = new Xterm.Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000, theme: terminalTheme(),
                                    fontFamily: "ui-monospace, monospace" });
  const fit = new Xterm.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  box.dataset.size = `${term.cols}x${term.rows}`;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/containers/${id}/terminal?cols=${term.cols}&rows=${term.rows}`);
  ws.binaryType = "arraybuffer";
  const send = (msg) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };
  ws.onmessage = (e) => term.write(new Uint8Array(e.data));
  ws.onclose = () => { term.write("\r\n[session ended]\r\n"); box.dataset.ended = "1"; };
  term.attachCustomKeyEventHandler((e) => !(e.key === "Tab" && e.shiftKey));  // not a keyboard trap
  term.onData((data) => send({ input: data }));
  term.onResize(({ cols, rows }) => { box.dataset.size = `${cols}x${rows}`; send({ resize: [cols, rows] }); });
  const resized = new ResizeObserver(() => fit.fit());
  resized.observe(box);
  open.push({ close: () => { resized.disconnect(); ws.close(); term.dispose(); } });
  term.focus();
}

async function filesTab(id, pane, path) {
  const q = (p) => `path=${encodeURIComponent(p)}`;
  const data = await api("GET", `/api/containers/${id}/files?${q(path)}`);
  const join = (name) => (path === "/" ? "" : path) + "/" + name;
  const up = path === "/" ? null : path.replace(/\/[^/]+$/, "") || "/";
  const go = (p) => act(() => filesTab(id, pane, p));
  pane.replaceChildren(h("p", { class: "toolbar" }, h("strong", { class: "v" }, data.path),
      up ? h("button", { onclick: () => go(up) }, "Up") : null),
    h("table", { class: "files" },
      h("thead", {}, h("tr", {}, ["Name", "Type", "Size", "Mode", "Modified"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.entries.map((e) => h("tr", {},
        h("td", {}, e.type === "dir" ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); go(join(e.name)); } }, e.name + "/")
          : e.type === "file" ? h("a", { href: `/api/containers/${id}/file?${q(join(e.name))}`, download: e.name }, e.name)
          : e.name + (e.link ? ` → ${e.link}` : "")),
        h("td", {}, e.type), h("td", {}, e.type === "file" ? units(e.size) : ""),
        h("td", { class: "v" }, (e.mode & 0o7777).toString(8).padStart(4, "0")),
        h("td", {}, new Date(e.mtime * 1000).toLocaleString()))))));
}

async function containerView(id) {
  const info = await api("GET", `/api/containers/${id}`);
  const name = info.Name.replace(/^\//, "");
  const pane = h("div", {});
  const tabs = { Logs: logsTab, Inspect: (cid, p) => p.replaceChildren(h("ul", { class: "tree" }, tree(info))),
                 Stats: statsTab, Terminal: terminalTab, Files: (cid, p) => act(() => filesTab(cid, p, "/")) };
  const bar = h("div", { class: "tabs", role: "tablist" });
  const select = (label) => {
    for (const c of open.splice(0)) c.close();
    for (const b of bar.children) {
      b.classList.toggle("active", b.textContent === label);
      b.setAttribute("aria-selected", b.textContent === label ? "true" : "false");
    }
    tabs[label](info.Id, pane);
  };
  bar.append(...Object.keys(tabs).map((t) => h("button", { role: "tab", onclick: () => select(t) }, t)));
  view.replaceChildren(h("h2", {}, h("a", { href: "#/containers" }, "Containers"), " / ", name),
    h("p", {}, `${info.Config.Image} · ${info.State.Status}`, info.State.Health ? ` · ${info.State.Health.Status}` : ""),
    bar, pane);
  select("Logs");
}

// ---- images, volumes, networks, disk, events, settings

async function imagesView() {
  const list = h("div", {});
  const ref = h("input", { placeholder: "image, e.g. busybox:latest", "aria-label": "image to pull" });
  const progress = h("div", { class: "progress" });
  const refresh = async () => {
    const data = await api("GET", "/api/images");
    const place = focusPlace(list);
    list.replaceChildren(h("table", {},
      h("thead", {}, h("tr", {}, ["Tags", "ID", "Size", "Created", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.images.map((i) => h("tr", { "data-id": i.id },
        h("td", {}, i.tags.length ? i.tags.join(", ") : "<none>"),
        h("td", {}, h("button", { title: "layers", onclick: (e) => act(() => showHistory(i, e.target.closest("tr"))) },
          i.id.slice(7, 19))),
        h("td", {}, units(i.size)), h("td", {}, ago(i.created)),
        h("td", { class: "actions" }, h("button", { onclick: () => tag(i), "data-action": "tag" }, "Tag"),
          i.tags.length ? h("button", { onclick: () => push(i), "data-action": "push" }, "Push") : null,
          h("button", { class: "danger", "data-action": "remove", onclick: () => act(async () => {
            if (!(await ask(`Remove image ${i.tags[0] || i.id.slice(7, 19)}?`, "Remove"))) return;
            await api("DELETE", `/api/images/${encodeURIComponent(i.id)}`);
            await refresh();
          }) }, "Remove")))))));
    restoreFocus(list, place);
  };
  const pull = () => act(async () => { await progressStream("/api/pull", ref.value, progress); await refresh(); });
  const tag = (i) => act(async () => {
    const to = await ask(`New name for ${i.tags[0] || i.id.slice(7, 19)} (repository[:tag])`, "Tag", "Cancel", "");
    if (!to) return;
    await api("POST", `/api/images/${encodeURIComponent(i.id)}/tag`, { ref: to });
    await refresh();
  });
  const push = (i) => act(async () => {
    const name = await ask("Push which name?", "Push", "Cancel", i.tags[0] || "");
    if (name) await progressStream("/api/push", name, progress);
  });
  const dir = h("input", { placeholder: "/path/to/directory", "aria-label": "build directory", size: 30 });
  const buildTag = h("input", { placeholder: "name:tag", "aria-label": "build tag" });
  const buildOut = h("pre", { class: "log build-output", hidden: true, "aria-label": "build output" });
  const build = () => act(async () => {
    await commandStream("POST", "/api/build", { path: dir.value, tag: buildTag.value }, buildOut);
    await refresh();
  });
  view.replaceChildren(h("h2", {}, "Images"),
    h("div", { class: "toolbar" }, ref, h("button", { onclick: pull, "data-action": "pull" }, "Pull"),
      h("button", { onclick: () => prune("images", refresh) }, "Prune dangling")), progress,
    h("div", { class: "toolbar" }, "Build from a directory:", dir, buildTag,
      h("button", { onclick: build, "data-action": "build" }, "Build")), buildOut, list);
  await refresh();
}

// A command the server runs (build, compose up/down): its output lines as they come, then its status.
async function commandStream(method, url, body, out) {
  out.textContent = "";
  out.hidden = false;
  const resp = await fetch(url, { method, credentials: "same-origin", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(body || {}) });
  if (!resp.ok) throw new Error((await resp.json().catch(() => ({}))).message || resp.statusText);
  let code = null;
  await ndjson(resp, (m) => {
    if ("line" in m) { out.append(m.line + "\n"); out.scrollTop = out.scrollHeight; }
    if ("exit" in m) code = m.exit;
  });
  out.dataset.exit = code === null ? "lost" : code;
  if (code !== 0) throw new Error(`the command failed (exit status ${code})`);
}

async function ndjson(resp, onMessage) {
  const reader = resp.body.getReader(), decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    const lines = buf.split("\n");
    buf = lines.pop();
    for (const line of lines.filter(Boolean)) onMessage(JSON.parse(line));
  }
}

// Pull or push: the engine's progress messages, one line per layer, updated in place.
async function progressStream(url, ref, box) {
  const layers = new Map();
  box.replaceChildren();
  const resp = await fetch(url, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ref }) });
  if (!resp.ok) throw new Error((await resp.json().catch(() => ({}))).message || resp.statusText);
  await ndjson(resp, (m) => {
    if (m.error) throw new Error(m.error);
    const key = m.id || m.status;
    if (!layers.has(key)) { layers.set(key, h("div", {})); box.append(layers.get(key)); }
    layers.get(key).textContent = [m.id, m.status, m.progress].filter(Boolean).join(" ");
  });
}

async function showHistory(image, row) {
  if (row.nextSibling && row.nextSibling.classList.contains("history")) { row.nextSibling.remove(); return; }
  const layers = await api("GET", `/api/images/${encodeURIComponent(image.id)}/history`);
  row.after(h("tr", { class: "history" }, h("td", { colspan: 5 }, h("table", {},
    h("thead", {}, h("tr", {}, ["Created by", "Size", "Created"].map((t) => h("th", {}, t)))),
    h("tbody", {}, layers.map((l) => h("tr", {}, h("td", { class: "v" }, l.CreatedBy || ""), h("td", {}, units(l.Size || 0)),
      h("td", {}, l.Created ? ago(l.Created) : ""))))))));
}

function prune(kind, after) {
  return act(async () => {
    if (!(await ask(`Prune unused ${kind}?`, "Prune"))) return;
    const r = await api("POST", `/api/prune/${kind}`);
    showError("");
    await tell(`Reclaimed ${units(r.SpaceReclaimed || 0)}`);
    await after();
  });
}

async function simpleList(title, path, key, columns, row, removePath) {
  const list = h("div", {});
  const refresh = async () => {
    const items = (await api("GET", path))[key];
    list.replaceChildren(items.length ? h("table", {},
      h("thead", {}, h("tr", {}, [...columns, ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, items.map((it) => h("tr", {}, row(it).map((v) => h("td", {}, v)),
        h("td", {}, h("button", { class: "danger", onclick: () => act(async () => {
          if (!(await ask(`Remove ${title.toLowerCase().replace(/s$/, "")} ${it.name}?`, "Remove"))) return;
          await api("DELETE", removePath(it));
          await refresh();
        }) }, "Remove")))))) : h("p", { class: "muted" }, `No ${title.toLowerCase()}.`));
  };
  view.replaceChildren(h("h2", {}, title),
    h("div", { class: "toolbar" }, h("button", { onclick: () => prune(title.toLowerCase(), refresh) }, "Prune unused")), list);
  await refresh();
}

async function volumesView(arg) {
  if (arg) return volumeFiles(arg, "/");
  await simpleList("Volumes", "/api/volumes", "volumes", ["Name", "Size", "Used by", "Driver", "Mountpoint"],
    (v) => [h("a", { href: `#/volumes/${encodeURIComponent(v.name)}`, "data-volume": v.name }, v.name),
            v.size >= 0 ? units(v.size) : "—", v.containers.join(", ") || "—", v.driver, v.mountpoint],
    (v) => `/api/volumes/${encodeURIComponent(v.name)}`);
}

// A volume's files, read through a helper container the server makes and removes.
async function volumeFiles(name, path) {
  const data = await api("GET", `/api/volumes/${encodeURIComponent(name)}/files?path=${encodeURIComponent(path)}`);
  const join = (entry) => (path === "/" ? "" : path) + "/" + entry;
  const up = path === "/" ? null : path.replace(/\/[^/]+$/, "") || "/";
  const go = (p) => act(() => volumeFiles(name, p));
  view.replaceChildren(h("h2", {}, h("a", { href: "#/volumes" }, "Volumes"), " / ", name),
    h("p", { class: "toolbar" }, h("strong", { class: "v" }, data.path), up ? h("button", { onclick: () => go(up) }, "Up") : null),
    h("table", { class: "files" },
      h("thead", {}, h("tr", {}, ["Name", "Type", "Size", "Mode", "Modified"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.entries.map((e) => h("tr", {},
        h("td", {}, e.type === "dir" ? h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); go(join(e.name)); } }, e.name + "/")
          : e.type === "file" ? h("a", { href: `/api/volumes/${encodeURIComponent(name)}/file?path=${encodeURIComponent(join(e.name))}`,
                                         download: e.name }, e.name)
          : e.name + (e.link ? ` → ${e.link}` : "")),
        h("td", {}, e.type), h("td", {}, e.type === "file" ? units(e.size) : ""),
        h("td", { class: "v" }, (e.mode & 0o7777).toString(8).padStart(4, "0")),
        h("td", {}, new Date(e.mtime * 1000).toLocaleString()))))));
}

const networksView = () => simpleList("Networks", "/api/networks", "networks", ["Name", "Driver", "Subnets", "Containers"],
  (n) => [n.name, n.driver, n.subnets.join(", "), n.containers.map((c) => `${c.name} ${c.ipv4}`).join(", ") || "—"],
  (n) => `/api/networks/${n.id}`);

async function diskView() {
  const df = await api("GET", "/api/df");
  const sum = (xs, f) => (xs || []).reduce((a, x) => a + (f(x) || 0), 0);
  const rows = [
    ["Images", (df.Images || []).length, units(sum(df.Images, (i) => i.Size)), "images"],
    ["Containers", (df.Containers || []).length, units(sum(df.Containers, (c) => c.SizeRw)), "containers"],
    ["Volumes", (df.Volumes || []).length, units(sum(df.Volumes, (v) => v.UsageData && v.UsageData.Size > 0 ? v.UsageData.Size : 0)), "volumes"],
    ["Build cache", (df.BuildCache || []).length, units(sum(df.BuildCache, (b) => b.Size)), null],
  ];
  view.replaceChildren(h("h2", {}, "Disk usage"), h("table", {},
    h("thead", {}, h("tr", {}, ["Type", "Count", "Size", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map(([t, n, s, kind]) => h("tr", {}, h("td", {}, t), h("td", {}, n), h("td", {}, s),
      h("td", {}, kind ? h("button", { onclick: () => prune(kind, diskView) }, "Prune") : null))))));
}

async function composeView() {
  const list = h("div", {});
  const out = h("pre", { class: "log compose-output", hidden: true, "aria-label": "compose output" });
  const file = h("input", { placeholder: "/path/to/compose.yaml", "aria-label": "compose file", size: 34 });
  const project = h("input", { placeholder: "project (optional)", "aria-label": "project name" });
  const run = (method, url, body) => act(async () => { await commandStream(method, url, body, out); await refresh(); });
  let following = null;
  const logs = (name) => {
    if (following) following.close();
    out.hidden = false;
    out.textContent = "";
    following = stream(`/api/compose/${encodeURIComponent(name)}/logs`, {
      log: (m) => { out.append(m.text); out.scrollTop = out.scrollHeight; } });
  };
  const refresh = async () => {
    const data = await api("GET", "/api/compose");
    const place = focusPlace(list);
    list.replaceChildren(data.projects.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Project", "Services", "Running", "Compose file", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.projects.map((p) => h("tr", { "data-project": p.name },
        h("td", {}, p.name), h("td", {}, p.services.join(", ")), h("td", {}, `${p.running} of ${p.containers}`),
        h("td", { class: "v" }, p.files.join(", ")),
        h("td", { class: "actions" },
          h("button", { "data-action": "up", onclick: () => run("POST", "/api/compose/up", { project: p.name }) }, "Up"),
          h("button", { "data-action": "logs", onclick: () => logs(p.name) }, "Logs"),
          h("button", { class: "danger", "data-action": "down", onclick: async () => {
            if (await ask(`Stop and remove the containers and networks of ${p.name}?`, "Down"))
              run("POST", `/api/compose/${encodeURIComponent(p.name)}/down`);
          } }, "Down")))))) : h("p", { class: "muted" }, "No compose projects."));
    restoreFocus(list, place);
  };
  view.replaceChildren(h("h2", {}, "Compose projects"),
    h("div", { class: "toolbar" }, "Up from a file:", file, project,
      h("button", { "data-action": "up-file", onclick: () => run("POST", "/api/compose/up",
        { file: file.value, project: project.value || undefined }) }, "Up")), list, out);
  await refresh();
  const later = debounce(() => act(refresh), 500);
  onEngine((ev) => { if (ev.Type === "container") later(); });
}

async function podsView() {
  const data = await api("GET", "/api/pods");
  if (!data.available) {
    view.replaceChildren(h("h2", {}, "Pods"), h("p", { class: "muted" }, `No CRI answers at ${data.endpoint}.`));
    return;
  }
  view.replaceChildren(h("h2", {}, "Kubernetes pods"), h("p", { class: "muted" }, `From the CRI at ${data.endpoint}.`),
    data.pods.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Namespace", "Pod", "State", "Containers", "Created"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.pods.map((p) => h("tr", { "data-pod": p.name },
        h("td", {}, p.namespace), h("td", {}, p.name), h("td", {}, p.state),
        h("td", {}, p.containers.map((c) => h("div", {}, `${c.name} (${c.image}) ${c.state}`))),
        h("td", {}, ago(p.created)))))) : h("p", { class: "muted" }, "No pods."));
}

// The Pods view is shown only when a CRI answers.
async function showPodsIfAvailable() {
  try {
    const data = await api("GET", "/api/pods");
    document.querySelector('#nav a[data-view="pods"]').hidden = !data.available;
  } catch (e) { /* the nav entry stays hidden; the message bar is for the open view */ }
}

function eventRow(ev) {
  const a = ev.Actor || {};
  const name = (a.Attributes || {}).name || (a.ID || "").slice(0, 12);
  return h("tr", {}, h("td", {}, new Date((ev.timeNano || ev.time * 1e9) / 1e6).toLocaleTimeString()),
    h("td", {}, ev.Type), h("td", {}, ev.Action), h("td", {}, name));
}

function eventsView() {
  const body = h("tbody", {}, recentEvents.map(eventRow));
  view.replaceChildren(h("h2", {}, "Events"), h("p", { class: "muted" }, "Live from the engine, newest first."),
    h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Type", "Action", "Object"].map((t) => h("th", {}, t)))), body));
  onEngine((ev) => body.prepend(eventRow(ev)));
}

async function settingsView() {
  const s = await api("GET", "/api/settings");
  view.replaceChildren(h("h2", {}, "Engine (read only)"), h("ul", { class: "tree" }, tree(s)));
}

// ---- routing, theme

const routes = { containers: containersView, container: containerView, images: imagesView, volumes: volumesView,
                 networks: networksView, disk: diskView, events: eventsView, settings: settingsView,
                 compose: composeView, pods: podsView };

async function route() {
  for (const c of open.splice(0)) c.close();
  showError("");
  const [name, arg] = (location.hash.replace(/^#\//, "") || "containers").split("/");
  for (const a of document.querySelectorAll("#nav a"))
    a.classList.toggle("active", a.dataset.view === name || (name === "container" && a.dataset.view === "containers"));
  const fn = routes[name] || containersView;
  try { await fn(arg && decodeURIComponent(arg)); } catch (e) { showError(e.message); }
}

function setTheme(t) {
  document.documentElement.dataset.theme = t;
  localStorage.setItem("theme", t);
}

document.getElementById("skip").addEventListener("click", (e) => { e.preventDefault(); view.focus(); });
document.getElementById("theme").addEventListener("click", () =>
  setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
setTheme(localStorage.getItem("theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
window.addEventListener("hashchange", route);
startEngineEvents();
showPodsIfAvailable();
route();
