// Shared by every page: DOM building, the JSON API, the banner, polling, formatting.

export const page = document.body.dataset;
export const POLL_MS = 2000;
export const STATES = ["RUNNING", "COMPLETE", "FAILED", "PRUNED"];
export const COLORS = {
  COMPLETE: "#2e7d32",
  RUNNING: "#1565c0",
  PRUNED: "#ef8f00",
  FAILED: "#c62828",
};

/** An element with attributes (on* are listeners) and children (strings or nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export class ApiError extends Error {
  constructor(status, kind, message) {
    super(message);
    this.status = status;
    this.kind = kind;
  }
}

/** GET (or POST with a JSON body) one API path; throws ApiError with the server's one line. */
export async function api(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["X-Asktell-Action-Token"] = token;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, "dashboard_down", "the dashboard itself cannot be reached");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, data.error || "error", data.message || response.statusText);
  }
  return data;
}

let session = null;
/** The dashboard's server, the caller's role and the action token (read once). */
export async function getSession() {
  if (session === null) {
    session = await api("/api/session");
    document.getElementById("server").textContent = session.server;
    const role = document.getElementById("role");
    role.textContent = session.role;
    role.title = session.role === "admin" ? "this token may stop, resume and enqueue" : "read only";
  }
  return session;
}

/** Runs an action as admin; the server checks the role again. */
export async function act(path, body = {}) {
  const { action_token: token } = await getSession();
  return api(path, { method: "POST", body, token });
}

const banners = new Map();
function drawBanner() {
  const node = document.getElementById("banner");
  const order = ["error", "warn", "info"];
  const shown = [...banners.entries()].sort((a, b) => order.indexOf(a[1].level) - order.indexOf(b[1].level));
  if (shown.length === 0) {
    node.hidden = true;
    return;
  }
  const [key, { level, text }] = shown[0];
  node.hidden = false;
  node.className = `banner ${level}`;
  node.dataset.kind = key;
  node.textContent = text;
}

/** Shows (text) or clears (null) the banner of one kind; the most serious one is shown. */
export function banner(key, level, text) {
  if (text === null || text === undefined) banners.delete(key);
  else banners.set(key, { level, text });
  drawBanner();
}

/** What a failed poll tells the user, in the banner; the page keeps what it showed. */
export function showError(err) {
  const when = new Date().toLocaleTimeString();
  if (err.kind === "unavailable" || err.kind === "dashboard_down") {
    banner("connection", "error", `${err.message}. Showing what was read before ${when}; retrying.`);
  } else if (err.kind === "unauthenticated") {
    banner("connection", "error", err.message);
  } else {
    banner("connection", "error", `${err.message}`);
  }
}

/** Calls `fn` now and every POLL_MS (never two at once); errors go to the banner. */
export function poll(fn, ms = POLL_MS) {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await fn();
      banner("connection", null);
    } catch (err) {
      if (err instanceof ApiError) showError(err);
      else throw err;
    } finally {
      busy = false;
    }
  };
  tick();
  return setInterval(tick, ms);
}

export function crumbs(...items) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...items.map(([text, href]) => (href ? el("a", { href }, text) : el("span", {}, text))));
}

export function stateBadge(state) {
  return el("span", { class: `state ${state}` }, state);
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

export function fmtTime(epoch) {
  if (epoch === null || epoch === undefined) return "";
  const d = new Date(epoch * 1000);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** A bar of the trials by state. */
export function stateBar(counts, total) {
  const all = Math.max(total, 1);
  return el(
    "div",
    { class: "bar", title: STATES.map((s) => `${s.toLowerCase()} ${counts[s.toLowerCase()]}`).join(", ") },
    STATES.map((s) => el("span", { class: s, style: `width:${(100 * counts[s.toLowerCase()]) / all}%` })),
  );
}

/** A sortable header cell: clicking it calls onSort(key) with the key, "-key" when again. */
export function sortHeader(label, key, sort, onSort) {
  const cls = sort === key ? "sorted-asc" : sort === `-${key}` ? "sorted-desc" : "";
  return el("th", { class: cls, "data-sort": key, onclick: () => onSort(sort === key ? `-${key}` : key) }, label);
}

/** An ECharts instance on `node`, resized with the window. */
export function chart(node) {
  const instance = echarts.init(node, null, { renderer: "canvas" });
  window.addEventListener("resize", () => instance.resize());
  return instance;
}
