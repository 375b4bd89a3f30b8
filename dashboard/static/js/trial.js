// The trial page: params, value, measurements curve, lease and worker, retry chain; for an admin,
// a form that enqueues a copy of the params (edited). Polls the trial every 2 s.
import {
  COLORS,
  act,
  api,
  chart,
  crumbs,
  el,
  fmtDuration,
  fmtTime,
  fmtValue,
  getSession,
  page,
  poll,
  stateBadge,
} from "./common.js";

const study = page.study;
const number = Number(page.trial);
const studyPath = `/studies/${encodeURIComponent(study)}`;
const base = `/api/studies/${encodeURIComponent(study)}`;
const main = document.getElementById("main");

const heading = el("h1", {}, `Trial #${number}`, el("span", { id: "trial-state" }));
const fields = el("table", { class: "kv", id: "trial-fields" });
const params = el("table", { class: "kv", id: "trial-params" });
const attrs = el("table", { class: "kv", id: "trial-attrs" });
const chain = el("div", { id: "retry-chain" });
const curveNode = el("div", { class: "chart", id: "chart-measurements" });
const curveNote = el("div", { class: "note muted" });
const enqueueCard = el("div", { class: "card", id: "enqueue", hidden: true });
main.append(
  heading,
  el(
    "div",
    { class: "two" },
    el(
      "div",
      {},
      el("div", { class: "card" }, el("h2", {}, "Trial"), fields),
      el("div", { class: "card" }, el("h2", {}, "Parameters"), params),
      el("div", { class: "card" }, el("h2", {}, "Attributes"), attrs),
      el("div", { class: "card" }, el("h2", {}, "Retry chain"), chain),
    ),
    el("div", {}, el("div", { class: "card" }, el("h2", {}, "Intermediate values"), curveNode, curveNote), enqueueCard),
  ),
);
crumbs(["Studies", "/"], [study, studyPath], [`#${number}`]);
const curve = chart(curveNode);

function kv(table, rows) {
  table.replaceChildren(...rows.map(([k, v]) => el("tr", { "data-key": k }, el("td", {}, k), el("td", {}, v))));
}

function draw(t) {
  document.getElementById("trial-state").replaceChildren(stateBadge(t.state));
  kv(fields, [
    ["state", t.state],
    ["value", fmtValue(t.value) || "–"],
    // Every metric told, when there is more than the one value above.
    ...(Object.keys(t.values || {}).length > 1 ? Object.entries(t.values).sort().map(([k, v]) => [`value of ${k}`, fmtValue(v)]) : []),
    ["worker", t.worker || "–"],
    ["lease until", t.state === "RUNNING" ? fmtTime(t.lease_deadline) : "–"],
    ["started", fmtTime(t.create_time)],
    ["ended", fmtTime(t.end_time) || "–"],
    ["duration", fmtDuration(t.duration)],
    ["suggested by", t.suggested_by],
    ["reason", t.reason ? el("span", { class: "message bad" }, t.reason) : "–"],
  ]);
  const inactive = Object.keys((spec && spec.parameters) || {}).filter((k) => !(k in t.params));
  kv(params, [...Object.entries(t.params).sort().map(([k, v]) => [k, fmtValue(v)]), ...inactive.map((k) => [k, "inactive"])]);
  for (const k of inactive) params.querySelector(`tr[data-key="${CSS.escape(k)}"] td:last-child`).className = "inactive";
  const attrRows = Object.entries(t.attrs || {}).sort();
  if (attrRows.length) kv(attrs, attrRows.map(([k, v]) => [k, fmtValue(v)]));
  else attrs.replaceChildren(el("tr", {}, el("td", { class: "muted" }, "None recorded.")));
  chain.replaceChildren(
    t.retry_chain.length > 1
      ? el(
          "ol",
          {},
          t.retry_chain.map((r) =>
            el(
              "li",
              {},
              r.number === t.number ? el("strong", {}, `#${r.number}`) : el("a", { href: `${studyPath}/trials/${r.number}` }, `#${r.number}`),
              " ",
              stateBadge(r.state),
              r.reason ? ` ${r.reason}` : "",
            ),
          ),
        )
      : el("span", { class: "muted" }, "Not a retry, and not retried."),
  );
  const points = t.measurements.filter(([, v]) => v !== null);
  curveNote.textContent = points.length ? "" : "No intermediate value reported.";
  curve.setOption(
    {
      animation: false,
      tooltip: { trigger: "axis" },
      grid: { left: 60, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "value", scale: true },
      series: [{ type: "line", data: points, symbolSize: 5, itemStyle: { color: COLORS[t.state] }, lineStyle: { type: t.state === "PRUNED" ? "dashed" : "solid" } }],
    },
    true,
  );
}

/** Same value and same type: 1, 1.0 (the same in JSON), true and "1" are told apart by type. */
function same(a, b) {
  return typeof a === typeof b && a === b;
}

/** The value a form input holds, typed as its parameter wants; throws naming the parameter. */
function reader(name, p, input) {
  if (p.type === "fixed") return () => p.value;
  const listed = p.values || p.choices;
  if (listed) return () => listed[Number(input.value)];
  return () => {
    const text = input.value.trim();
    const value = Number(text);
    if (text === "" || !Number.isFinite(value)) throw new Error(`${name}: give a number`);
    if (p.type === "int" && !Number.isInteger(value)) throw new Error(`${name}: give a whole number`);
    return value;
  };
}

let formDrawn = false;
async function drawEnqueue(t, spec) {
  const { role } = await getSession();
  if (role !== "admin" || formDrawn) return;
  formDrawn = true;
  enqueueCard.hidden = false;
  const parameters = spec.parameters || {};
  const rows = {}; // name -> { label, input, note, read, listed }
  const grid = el("div", { class: "form-grid" });
  for (const [name, p] of Object.entries(parameters)) {
    const fixed = p.type === "fixed"; // one value, filled in by the server: shown, not sent
    const listed = fixed ? [p.value] : p.values || p.choices;
    let input;
    if (listed) {
      const current = listed.findIndex((v) => same(v, t.params[name]));
      input = el(
        "select",
        { name, id: `enqueue-${name}`, "data-type": p.type, onchange: () => updateActive() },
        listed.map((v, i) => el("option", { value: i, selected: i === Math.max(current, 0) }, fmtValue(v))),
      );
    } else {
      const attrs = { type: p.type === "int" ? "number" : "text", name, id: `enqueue-${name}`, "data-type": p.type, value: name in t.params ? String(t.params[name]) : "" };
      if (p.type === "int") Object.assign(attrs, { min: p.min, max: p.max, step: p.step || 1 });
      input = el("input", attrs);
    }
    const label = el("label", { for: `enqueue-${name}` }, name);
    const when = p.when ? Object.entries(p.when)[0] : null;
    const note = el("span", { class: "muted note" }, `${fixed ? " fixed" : ""}${when ? ` when ${when[0]} is ${when[1].map(fmtValue).join(" or ")}` : ""}`);
    rows[name] = { label, input, read: reader(name, p, input), listed, when, fixed };
    grid.append(el("span", {}, label, note), input);
  }

  /** Whether a parameter is active given the form's values: its parent active and one of the listed values. */
  function isActive(name, seen = new Set()) {
    const row = rows[name];
    if (!row || !row.when) return true;
    const [parent, values] = row.when;
    if (!rows[parent] || seen.has(name)) return false;
    seen.add(name);
    if (!isActive(parent, seen)) return false;
    let value;
    try {
      value = rows[parent].read();
    } catch {
      return false;
    }
    return values.some((v) => same(v, value));
  }

  function updateActive() {
    for (const [name, row] of Object.entries(rows)) {
      const active = isActive(name);
      row.input.disabled = !active || row.fixed;
      row.input.dataset.active = String(active);
      row.label.classList.toggle("inactive", !active);
      row.input.classList.toggle("inactive", !active);
    }
  }
  for (const row of Object.values(rows)) {
    if (!row.listed) row.input.addEventListener("input", () => updateActive());
  }
  updateActive();

  const result = el("div", { class: "message", id: "enqueue-message" });
  const submit = async (e) => {
    e.preventDefault();
    const config = {};
    const choices = {};
    try {
      for (const [name, row] of Object.entries(rows)) {
        if (!isActive(name) || row.fixed) continue; // inactive or fixed: left out, as the server wants
        config[name] = row.read();
        if (row.listed) choices[name] = Number(row.input.value);
      }
    } catch (err) {
      result.className = "message bad";
      result.textContent = err.message;
      return;
    }
    try {
      const answer = await act(`${base}/enqueue`, { params: config, choices });
      result.className = "message ok";
      result.textContent = `Enqueued: ${answer.queued} configuration(s) now wait in the queue.`;
    } catch (err) {
      result.className = "message bad";
      result.textContent = err.message;
    }
  };
  enqueueCard.append(
    el("h2", {}, "Enqueue a copy"),
    el("p", { class: "muted" }, "Edit the parameters and enqueue: the study hands this configuration out before its algorithm's own. A conditional parameter whose condition does not hold is greyed out and left out."),
    el("form", { id: "enqueue-form", onsubmit: submit }, grid, el("p", {}, el("button", { class: "primary", type: "submit", id: "enqueue-submit" }, "Enqueue"))),
    result,
  );
}

let spec = null;
poll(async () => {
  const t = await api(`${base}/trials/${number}`);
  if (spec === null) spec = (await api(base)).spec;
  draw(t);
  await drawEnqueue(t, spec);
  document.body.dataset.loaded = "true";
});
