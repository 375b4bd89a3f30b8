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
    ["worker", t.worker || "–"],
    ["lease until", t.state === "RUNNING" ? fmtTime(t.lease_deadline) : "–"],
    ["started", fmtTime(t.create_time)],
    ["ended", fmtTime(t.end_time) || "–"],
    ["duration", fmtDuration(t.duration)],
    ["suggested by", t.suggested_by],
    ["reason", t.reason ? el("span", { class: "message bad" }, t.reason) : "–"],
  ]);
  kv(params, Object.entries(t.params).sort().map(([k, v]) => [k, fmtValue(v)]));
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

let formDrawn = false;
async function drawEnqueue(t, spec) {
  const { role } = await getSession();
  if (role !== "admin" || formDrawn) return;
  formDrawn = true;
  enqueueCard.hidden = false;
  const inputs = {};
  const rows = [];
  for (const [name, p] of Object.entries(spec.parameters || {})) {
    const listed = p.values || p.choices;
    let input;
    if (listed) {
      input = el("select", { name }, listed.map((v, i) => el("option", { value: i, selected: fmtValue(v) === fmtValue(t.params[name]) }, fmtValue(v))));
      inputs[name] = () => listed[Number(input.value)];
    } else {
      input = el("input", { type: "text", name, value: name in t.params ? String(t.params[name]) : "" });
      inputs[name] = () => (input.value.trim() === "" ? undefined : Number(input.value));
    }
    rows.push(el("label", { for: name }, name), input);
  }
  const result = el("div", { class: "message", id: "enqueue-message" });
  const submit = async (e) => {
    e.preventDefault();
    const config = {};
    for (const [name, read] of Object.entries(inputs)) {
      const value = read();
      if (value !== undefined) config[name] = value;
    }
    try {
      const answer = await act(`${base}/enqueue`, { params: config });
      result.className = "message ok";
      result.textContent = `Enqueued: ${answer.queued} configuration(s) now wait in the queue.`;
    } catch (err) {
      result.className = "message bad";
      result.textContent = err.message;
    }
  };
  enqueueCard.append(
    el("h2", {}, "Enqueue a copy"),
    el("p", { class: "muted" }, "Edit the parameters and enqueue: the study hands this configuration out before its algorithm's own. Leave a conditional parameter empty when it is inactive."),
    el("form", { id: "enqueue-form", onsubmit: submit }, el("div", { class: "form-grid" }, rows), el("p", {}, el("button", { class: "primary", type: "submit", id: "enqueue-submit" }, "Enqueue"))),
    result,
  );
}

let spec = null;
poll(async () => {
  const t = await api(`${base}/trials/${number}`);
  draw(t);
  if (spec === null) spec = (await api(base)).spec;
  await drawEnqueue(t, spec);
  document.body.dataset.loaded = "true";
});
