// The study page: summary, admin actions, the trials table (paged, sorted and filtered by the
// dashboard process), the charts, the spec. Polls the study every 2 s; the table is read again
// when the study's version moves. The stat cards and the table are drawn first; a chart is
// created, and its data read, only when it scrolls into view (IntersectionObserver), and is
// redrawn on a new version only while in view (an off-screen one when it comes back).
import {
  COLORS,
  STATES,
  act,
  api,
  banner,
  chart,
  crumbs,
  el,
  fmtDuration,
  fmtTime,
  fmtValue,
  getSession,
  page,
  poll,
  showError,
  sortHeader,
  stateBadge,
} from "./common.js";

const study = page.study;
const base = `/api/studies/${encodeURIComponent(study)}`;
const main = document.getElementById("main");
const query = { state: "", filter: "", sort: "number", page: 1, page_size: 50 };
let summary = null;
let version = -1;
let chartsVersion = -1;
let chartsData = null;

// ------------------------------------------------------------------ layout
const title = el("h1", {}, el("span", { id: "study-name" }, study), el("span", { id: "study-state" }));
const actions = el("span", { id: "actions" });
const message = el("span", { class: "message", id: "action-message" });
const downloads = el(
  "span",
  {},
  el("a", { class: "button", id: "download-csv", href: `${base}/export.csv` }, "Download CSV"),
  " ",
  el("a", { class: "button", id: "download-json", href: `${base}/export.json` }, "Download JSON"),
);
const cards = el("div", { class: "cards", id: "cards" });

const stateSelect = el(
  "select",
  { id: "state-filter", onchange: (e) => { query.state = e.target.value; query.page = 1; loadTable(); } },
  el("option", { value: "" }, "All states"),
  STATES.map((s) => el("option", { value: s }, s.toLowerCase())),
);
const filterInput = el("input", {
  type: "search",
  id: "trial-filter",
  placeholder: "Filter: lr>0.01 worker~gpu reason~CUDA duration>60 value<0.5 attrs.model~resnet",
  onkeydown: (e) => { if (e.key === "Enter") applyFilter(); },
  onsearch: () => applyFilter(),
});
const filterError = el("span", { class: "message bad", id: "filter-error" });
const tableHead = el("thead");
const tableBody = el("tbody");
const pagerText = el("span", { class: "muted", id: "pager-text" });
const prev = el("button", { id: "prev-page", onclick: () => { query.page -= 1; loadTable(); } }, "‹ Previous");
const next = el("button", { id: "next-page", onclick: () => { query.page += 1; loadTable(); } }, "Next ›");
const pageSize = el(
  "select",
  { id: "page-size", onchange: (e) => { query.page_size = Number(e.target.value); query.page = 1; loadTable(); } },
  [25, 50, 100, 250].map((n) => el("option", { value: n, selected: n === 50 }, `${n} a page`)),
);

function applyFilter() {
  query.filter = filterInput.value.trim();
  query.page = 1;
  loadTable();
}

function chartCard(id, heading, ...controls) {
  const node = el("div", { class: "chart", id: `chart-${id}` });
  const note = el("div", { class: "note", id: `note-${id}` });
  return [el("div", { class: "card chart-card" }, el("h2", {}, heading, ...controls), node, note), node, note];
}
const sliceParam = el("select", { id: "slice-param", onchange: () => redraw("slice") });
const contourX = el("select", { id: "contour-x", onchange: () => redraw("contour") });
const contourY = el("select", { id: "contour-y", onchange: () => redraw("contour") });
const paretoPair = el("select", { id: "pareto-pair", onchange: () => redraw("pareto") });
const [paretoCard, paretoNode, paretoNote] = chartCard("pareto", "Pareto front", paretoPair);
paretoCard.classList.add("wide");
paretoCard.hidden = true; // shown for a study with several objectives
const [historyCard, historyNode] = chartCard("history", "Optimisation history");
const [parallelCard, parallelNode, parallelNote] = chartCard("parallel", "Parallel coordinates");
const [sliceCard, sliceNode] = chartCard("slice", "Slice", sliceParam);
const [contourCard, contourNode, contourNote] = chartCard("contour", "Contour", contourX, "×", contourY);
const [importanceCard, importanceNode, importanceNote] = chartCard("importance", "Parameter importance");
const [curvesCard, curvesNode, curvesNote] = chartCard("curves", "Intermediate values");
const [timelineCard, timelineNode] = chartCard("timeline", "Timeline by worker");
const [ecdfCard, ecdfNode] = chartCard("ecdf", "Empirical distribution of values");
const sampleNote = el("p", { class: "muted", id: "sample-note" });
const specText = el("pre", { class: "spec", id: "spec" });

main.append(
  title,
  el("div", { class: "toolbar" }, actions, message, el("span", { class: "spacer" }), downloads),
  cards,
  el(
    "div",
    { class: "card" },
    el("h2", {}, "Trials"),
    el("div", { class: "toolbar" }, stateSelect, filterInput, el("button", { onclick: applyFilter }, "Apply"), filterError),
    el("div", { class: "table-wrap" }, el("table", { class: "grid", id: "trials" }, tableHead, tableBody)),
    el("div", { class: "pager" }, prev, next, pageSize, pagerText),
  ),
  sampleNote,
  el("div", { class: "charts" }, paretoCard, historyCard, parallelCard, sliceCard, contourCard, importanceCard, curvesCard, timelineCard, ecdfCard),
  el("div", { class: "card" }, el("details", {}, el("summary", {}, "Spec"), specText)),
);
crumbs(["Studies", "/"], [study]);

const chartNodes = {
  pareto: paretoNode,
  history: historyNode,
  parallel: parallelNode,
  slice: sliceNode,
  contour: contourNode,
  importance: importanceNode,
  curves: curvesNode,
  timeline: timelineNode,
  ecdf: ecdfNode,
};
// Each ECharts instance is created when its chart first comes into view.
const charts = {};
for (const name of Object.keys(chartNodes)) {
  Object.defineProperty(charts, name, {
    get: () => {
      const node = chartNodes[name];
      if (!node.echarts) node.echarts = chart(node);
      return node.echarts;
    },
  });
}

// ------------------------------------------------------------------ summary and actions
function stat(label, value, id) {
  return el("div", { class: "stat" }, el("div", { class: "label" }, label), el("div", { class: "big", id }, value));
}

function drawSummary(s) {
  document.getElementById("study-state").replaceChildren(stateBadge(s.state));
  const c = s.counts;
  const best = s.best_number
    ? el("a", { href: `/studies/${encodeURIComponent(study)}/trials/${s.best_number}` }, `${fmtValue(s.best_value)} (#${s.best_number})`)
    : "–";
  cards.replaceChildren(
    stat("Trials", `${s.trials}${s.max_trials ? ` / ${s.max_trials}` : ""}`, "stat-trials"),
    stat("Complete", c.complete, "stat-complete"),
    stat("Running", c.running, "stat-running"),
    stat("Pruned · failed", `${c.pruned} · ${c.failed}`, "stat-pruned-failed"),
    stat("Queued", c.queued, "stat-queued"),
    stat(`Best ${s.constrained ? "feasible " : ""}${s.metric} (${s.goal})`, best, "stat-best"),
    stat("Algorithm", s.algorithm, "stat-algorithm"),
    stat("Last activity", s.last_activity ? new Date(s.last_activity * 1000).toLocaleTimeString() : "–", "stat-activity"),
  );
  if (s.state === "STOPPED") {
    banner("state", "warn", "This study is stopped: it hands out no new trials (running ones may still report).");
  } else if (s.state === "COMPLETED") {
    banner("state", "info", "This study is completed: it reached its trial budget or its space is exhausted.");
  } else {
    banner("state", null);
  }
  paretoCard.hidden = (s.spec.objectives || []).length < 2;
  specText.textContent = JSON.stringify(s.spec, null, 2);
  const csvQuery = new URLSearchParams({ state: query.state, filter: query.filter, sort: query.sort });
  document.getElementById("download-csv").href = `${base}/export.csv?${csvQuery}`;
  document.getElementById("download-json").href = `${base}/export.json?${csvQuery}`;
}

async function drawActions(s) {
  const { role } = await getSession();
  if (role !== "admin") {
    actions.replaceChildren();
    return;
  }
  const run = (name) => async () => {
    message.className = "message";
    message.textContent = "";
    try {
      await act(`${base}/${name}`);
      message.className = "message ok";
      message.textContent = name === "stop" ? "Stopped." : "Resumed.";
      version = -1;
      await refresh();
    } catch (err) {
      message.className = "message bad";
      message.textContent = err.message;
    }
  };
  const button =
    s.state === "STOPPED"
      ? el("button", { class: "primary", id: "resume-study", onclick: run("resume") }, "Resume study")
      : el("button", { class: "danger", id: "stop-study", onclick: run("stop"), disabled: s.state === "COMPLETED" }, "Stop study");
  actions.replaceChildren(button);
}

// ------------------------------------------------------------------ table
/** The metrics of a study with several objectives (its objectives', then its constraints'),
 *  each a column of the table; [] for a single-objective study (one value column). */
function metricColumns() {
  const spec = summary ? summary.spec : {};
  if ((spec.objectives || []).length < 2) return [];
  const names = [...spec.objectives.map((o) => o.metric), ...(spec.constraints || []).map((c) => c.metric)];
  return [...new Set(names)];
}

function columns() {
  const params = summary ? summary.parameters : [];
  const metrics = metricColumns();
  return [
    ["#", "number"],
    ["State", "state"],
    ...(metrics.length ? metrics.map((m) => [m, `values.${m}`]) : [[summary ? summary.metric || "value" : "value", "value"]]),
    ...params.map((p) => [p, `params.${p}`]),
    ...(summary ? summary.attrs : []).map((a) => [`${a} (attr)`, `attrs.${a}`]),
    ["Worker", "worker"],
    ["Duration", "duration"],
    ["Started", "create_time"],
    ["Suggested by", "suggested_by"],
    ["Reason", "reason"],
  ];
}

async function loadTable() {
  const args = new URLSearchParams(query);
  try {
    const answer = await api(`${base}/trials?${args}`);
    filterError.textContent = "";
    drawTable(answer);
  } catch (err) {
    if (err.status === 400) filterError.textContent = err.message;
    else showError(err);
  }
}

function drawTable(answer) {
  const cols = columns();
  tableHead.replaceChildren(
    el("tr", {}, cols.map(([label, key]) => sortHeader(label, key, query.sort, (s) => { query.sort = s; query.page = 1; loadTable(); }))),
  );
  const params = summary ? summary.parameters : [];
  const metrics = metricColumns();
  tableBody.replaceChildren(
    ...answer.rows.map((t) =>
      el(
        "tr",
        { "data-number": t.number, "data-state": t.state },
        el("td", { class: "num" }, el("a", { href: `/studies/${encodeURIComponent(study)}/trials/${t.number}` }, t.number)),
        el("td", {}, stateBadge(t.state)),
        metrics.length ? metrics.map((m) => el("td", { class: "num", "data-metric": m }, fmtValue(t.values[m]))) : el("td", { class: "num" }, fmtValue(t.value)),
        params.map((p) =>
          p in t.params
            ? el("td", { class: "num" }, fmtValue(t.params[p]))
            : el("td", { class: "num inactive", title: `${p} is inactive in this trial (its condition does not hold)` }, "inactive"),
        ),
        (summary ? summary.attrs : []).map((a) => el("td", { class: "attr" }, a in t.attrs ? fmtValue(t.attrs[a]) : "")),
        el("td", {}, t.worker),
        el("td", { class: "num" }, fmtDuration(t.duration)),
        el("td", {}, fmtTime(t.create_time)),
        el("td", {}, t.suggested_by + (t.retry_of ? ` (of #${t.retry_of})` : "")),
        el("td", { class: "reason" }, t.reason),
      ),
    ),
  );
  if (answer.rows.length === 0) {
    tableBody.append(el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, answer.total ? "No trial matches." : "No trial yet.")));
  }
  query.page = answer.page;
  prev.disabled = answer.page <= 1;
  next.disabled = answer.page >= answer.pages;
  pagerText.textContent = `page ${answer.page} of ${answer.pages} · ${answer.matched} matching of ${answer.total} trials`;
}

// ------------------------------------------------------------------ charts
function paramSpec(name) {
  return (chartsData.parameters || {})[name] || {};
}
function isCategorical(name) {
  const spec = paramSpec(name);
  return spec.type === "categorical" || spec.type === "discrete" || spec.type === "bool" || spec.type === "fixed";
}
function categories(name) {
  const spec = paramSpec(name);
  const listed = spec.type === "fixed" ? [spec.value] : spec.values || spec.choices;
  if (listed) return listed.map((v) => fmtValue(v));
  return [...new Set(chartsData.trials.filter((t) => name in t.p).map((t) => fmtValue(t.p[name])))].sort();
}
function axisFor(name) {
  if (isCategorical(name)) return { type: "category", data: categories(name), name };
  return { type: paramSpec(name).scale === "log" ? "log" : "value", name, scale: true };
}
function coord(name, value) {
  return isCategorical(name) ? fmtValue(value) : value;
}

function fillSelect(select, names, fallback) {
  const current = select.value || fallback;
  if (select.options.length !== names.length) {
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  }
  if (names.includes(current)) select.value = current;
}

function complete() {
  return chartsData.trials.filter((t) => t.s === "COMPLETE" && t.v !== null);
}

function drawHistory() {
  if (chartsData.pareto) return drawHistoryPerObjective(chartsData.pareto);
  const done = complete();
  const last = chartsData.trials.length ? chartsData.trials[chartsData.trials.length - 1].n : 0;
  const best = chartsData.best.slice();
  if (best.length) best.push([last, best[best.length - 1][1]]);
  const marks = (state, y) => chartsData.trials.filter((t) => t.s === state).map((t) => [t.n, y]);
  charts.history.setOption(
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => `#${p.value[0]}: ${p.seriesName} ${p.seriesIndex < 2 ? fmtValue(p.value[1]) : ""}` },
      legend: { top: 0 },
      grid: [{ left: 60, right: 20, top: 30, bottom: 80 }, { left: 60, right: 20, height: 28, bottom: 30 }],
      xAxis: [{ type: "value", name: "trial", gridIndex: 0, min: 0, max: last || 1 }, { type: "value", gridIndex: 1, min: 0, max: last || 1, axisLabel: { show: false } }],
      yAxis: [{ type: "value", scale: true, gridIndex: 0, name: chartsData.goal }, { type: "category", gridIndex: 1, data: ["failed", "pruned"], axisTick: { show: false } }],
      series: [
        { name: "complete", type: "scatter", data: done.map((t) => [t.n, t.v]), symbolSize: 5, itemStyle: { color: COLORS.COMPLETE, opacity: 0.7 }, large: true },
        { name: "best so far", type: "line", step: "end", data: best, symbol: "none", lineStyle: { color: "#1f4e79", width: 2 } },
        { name: "pruned", type: "scatter", xAxisIndex: 1, yAxisIndex: 1, data: marks("PRUNED", "pruned"), symbol: "rect", symbolSize: [3, 12], itemStyle: { color: COLORS.PRUNED } },
        { name: "failed", type: "scatter", xAxisIndex: 1, yAxisIndex: 1, data: marks("FAILED", "failed"), symbol: "rect", symbolSize: [3, 12], itemStyle: { color: COLORS.FAILED } },
      ],
    },
    true,
  );
}

// ------------------------------------------------------------------ several objectives
const TRIAL_URL = (n) => `/studies/${encodeURIComponent(study)}/trials/${n}`;
const FRONT_COLOR = "#d84315";
const INFEASIBLE_COLOR = "#9e9e9e";

/** The complete trials with every objective's value: [number, values, feasible]. */
function measured() {
  return chartsData.trials.filter((t) => t.vs).map((t) => ({ n: t.n, vs: t.vs, f: t.f }));
}

function metricLabel(objective) {
  return `${objective.metric} (${objective.goal === "maximize" ? "max" : "min"})`;
}

/** One panel per objective (its values, feasible ones filled, and its best so far over the
 *  feasible trials), then the strip of pruned and failed trials. */
function drawHistoryPerObjective(pareto) {
  const objectives = pareto.objectives;
  const m = objectives.length;
  const panel = 150;
  historyNode.style.height = `${m * (panel + 30) + 115}px`;
  charts.history.resize();
  const points = measured();
  const last = chartsData.trials.length ? chartsData.trials[chartsData.trials.length - 1].n : 0;
  const marks = (state, y) => chartsData.trials.filter((t) => t.s === state).map((t) => [t.n, y]);
  const grids = [];
  const xAxis = [];
  const yAxis = [];
  const series = [];
  objectives.forEach((o, i) => {
    grids.push({ left: 70, right: 20, top: 55 + i * (panel + 30), height: panel });
    xAxis.push({ type: "value", gridIndex: i, min: 0, max: last || 1, axisLabel: { show: i === m - 1 } });
    yAxis.push({ type: "value", scale: true, gridIndex: i, name: metricLabel(o), nameTextStyle: { align: "left" } });
    const best = pareto.best[i].slice();
    if (best.length) best.push([last, best[best.length - 1][1]]);
    series.push(
      { name: pareto.constraints.length ? "feasible" : "complete", type: "scatter", xAxisIndex: i, yAxisIndex: i, data: points.filter((p) => p.f).map((p) => [p.n, p.vs[i]]), symbolSize: 5, itemStyle: { color: COLORS.COMPLETE, opacity: 0.7 }, large: true },
      { name: "infeasible", type: "scatter", xAxisIndex: i, yAxisIndex: i, data: points.filter((p) => !p.f).map((p) => [p.n, p.vs[i]]), symbolSize: 5, itemStyle: { color: INFEASIBLE_COLOR, opacity: 0.7 }, large: true },
      { name: "best feasible so far", type: "line", step: "end", xAxisIndex: i, yAxisIndex: i, data: best, symbol: "none", lineStyle: { color: "#1f4e79", width: 2 } },
    );
  });
  grids.push({ left: 70, right: 20, height: 28, bottom: 30 });
  xAxis.push({ type: "value", gridIndex: m, min: 0, max: last || 1, name: "trial", axisLabel: { show: false } });
  yAxis.push({ type: "category", gridIndex: m, data: ["failed", "pruned"], axisTick: { show: false } });
  series.push(
    { name: "pruned", type: "scatter", xAxisIndex: m, yAxisIndex: m, data: marks("PRUNED", "pruned"), symbol: "rect", symbolSize: [3, 12], itemStyle: { color: COLORS.PRUNED } },
    { name: "failed", type: "scatter", xAxisIndex: m, yAxisIndex: m, data: marks("FAILED", "failed"), symbol: "rect", symbolSize: [3, 12], itemStyle: { color: COLORS.FAILED } },
  );
  charts.history.setOption(
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => `#${p.value[0]}: ${p.seriesName} ${typeof p.value[1] === "number" ? fmtValue(p.value[1]) : ""}` },
      legend: { top: 0, data: [...(pareto.constraints.length ? ["feasible", "infeasible"] : ["complete"]), "best feasible so far", "pruned", "failed"] },
      grid: grids,
      xAxis,
      yAxis,
      series,
    },
    true,
  );
}

function fillPairs(objectives) {
  const names = objectives.map((o) => o.metric);
  const options = [];
  if (names.length > 2) options.push(["all", "all pairs"]);
  for (let i = 0; i < names.length; i += 1) {
    for (let j = i + 1; j < names.length; j += 1) options.push([`${i},${j}`, `${names[i]} × ${names[j]}`]);
  }
  if (paretoPair.options.length !== options.length) {
    paretoPair.replaceChildren(...options.map(([value, label]) => el("option", { value }, label)));
    paretoPair.value = names.length > 2 && names.length <= 4 ? "all" : "0,1";
  }
  paretoPair.hidden = names.length < 3;
}

function describe(point, objectives) {
  const values = objectives.map((o, i) => `${o.metric} ${fmtValue(point.vs[i])}`).join(", ");
  return `#${point.n}: ${values}${point.f ? "" : " (infeasible)"}`;
}

/** The scatter of objective i against objective j: dominated feasible trials, infeasible
 *  ones (hollow, grey) and the front (larger, with its attainment line when drawn alone). */
function pairSeries(points, front, i, j, axis, line) {
  const item = (p) => [p.vs[i], p.vs[j], p.n];
  const onFront = points.filter((p) => front.has(p.n));
  const series = [
    { name: "feasible", type: "scatter", data: points.filter((p) => p.f && !front.has(p.n)).map(item), symbolSize: 6, itemStyle: { color: COLORS.RUNNING, opacity: 0.55 } },
    { name: "infeasible", type: "scatter", data: points.filter((p) => !p.f).map(item), symbol: "emptyCircle", symbolSize: 6, itemStyle: { color: INFEASIBLE_COLOR } },
    { name: "Pareto front", type: "scatter", data: onFront.map(item), symbolSize: 10, z: 5, itemStyle: { color: FRONT_COLOR, borderColor: "#fff", borderWidth: 1 } },
  ];
  if (line && onFront.length) {
    const sorted = onFront.map((p) => [p.vs[i], p.vs[j]]).sort((a, b) => a[0] - b[0]);
    const xMin = chartsData.pareto.objectives[i].goal !== "maximize";
    series.push({ name: "front line", type: "line", step: xMin ? "end" : "start", data: sorted, symbol: "none", silent: true, z: 4, lineStyle: { color: FRONT_COLOR, width: 1.5 } });
  }
  return series.map((s) => ({ ...s, xAxisIndex: axis, yAxisIndex: axis }));
}

function drawPareto() {
  const pareto = chartsData.pareto;
  if (!pareto) return charts.pareto.clear();
  const objectives = pareto.objectives;
  fillPairs(objectives);
  const points = measured();
  const byNumber = new Map(points.map((p) => [p.n, p]));
  const front = new Set(pareto.front);
  const feasible = points.filter((p) => p.f).length;
  const infeasible = points.length - feasible;
  const source = pareto.front_source === "server" ? "as the server's GetBestTrials answers it" : "computed by the dashboard from the trials it read, by the same rule as the server's GetBestTrials";
  paretoNote.textContent = !points.length
    ? "Drawn once a trial is complete."
    : `${pareto.front.length} trials on the front of the feasible trials (${source}); ${pareto.constraints.length ? `${pareto.feasible} feasible, ${pareto.infeasible} infeasible` : `${pareto.feasible} complete`}.` +
      (pareto.feasible === 0 ? " No trial satisfies the constraints yet: the front is empty." : "") +
      (objectives.length > 2 ? " A pair shows a projection: a front trial may look dominated in it." : "") +
      " Click a point to open its trial.";
  let pairs;
  if (paretoPair.value === "all" && objectives.length > 2) {
    pairs = [];
    for (let j = 1; j < objectives.length; j += 1) for (let i = 0; i < j; i += 1) pairs.push([i, j]);
  } else {
    pairs = [paretoPair.value.split(",").map(Number)];
  }
  const cells = objectives.length > 2 && pairs.length > 1 ? objectives.length - 1 : 1;
  const size = cells === 1 ? 380 : Math.max(170, Math.min(300, 900 / cells));
  paretoNode.style.height = `${cells * (size + 50) + 40}px`;
  charts.pareto.resize();
  const width = paretoNode.clientWidth || 1000;
  const gap = 90;
  const cellWidth = cells === 1 ? width - 140 : Math.min((width - 100) / cells - gap, size * 1.6);
  const grids = [];
  const xAxis = [];
  const yAxis = [];
  const series = [];
  pairs.forEach(([i, j], axis) => {
    const row = cells === 1 ? 0 : j - 1;
    const col = cells === 1 ? 0 : i;
    grids.push({ left: 80 + col * (cellWidth + gap), top: 40 + row * (size + 50), width: cellWidth, height: size });
    xAxis.push({ type: "value", scale: true, gridIndex: axis, name: metricLabel(objectives[i]), nameLocation: "middle", nameGap: 24, axisLine: { onZero: false } });
    yAxis.push({ type: "value", scale: true, gridIndex: axis, name: metricLabel(objectives[j]), nameLocation: "middle", nameGap: 50, axisLine: { onZero: false } });
    series.push(...pairSeries(points, front, i, j, axis, pairs.length === 1 && objectives.length === 2));
  });
  charts.pareto.setOption(
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => (byNumber.has(p.value[2]) ? describe(byNumber.get(p.value[2]), objectives) : "") },
      legend: { top: 0, data: ["Pareto front", "feasible", ...(pareto.constraints.length ? ["infeasible"] : [])] },
      grid: grids,
      xAxis,
      yAxis,
      series,
    },
    true,
  );
  if (!paretoNode.dataset.clicks) {
    paretoNode.dataset.clicks = "true";
    charts.pareto.on("click", (p) => {
      if (p.seriesType === "scatter" && Array.isArray(p.value)) window.location.href = TRIAL_URL(p.value[2]);
    });
  }
}

function valueRange(done) {
  const values = done.map((t) => t.v);
  return [Math.min(...values), Math.max(...values)];
}

function drawParallel(params) {
  const done = complete();
  if (!done.length || !params.length) {
    charts.parallel.clear();
    parallelNote.textContent = "Drawn once a trial is complete.";
    return;
  }
  parallelNote.textContent = "Complete trials; drag along an axis to select a range.";
  const dims = [...params, "value"];
  const [lo, hi] = valueRange(done);
  charts.parallel.setOption(
    {
      animation: false,
      parallelAxis: dims.map((name, dim) => (name === "value" ? { dim, name: "value", type: "value", scale: true } : { dim, ...axisFor(name) })),
      parallel: { left: 50, right: 110, top: 40, bottom: 30 },
      visualMap: { show: true, min: lo, max: hi === lo ? lo + 1 : hi, dimension: dims.length - 1, inRange: { color: chartsData.goal === "minimize" ? ["#1a9850", "#fee08b", "#d73027"] : ["#d73027", "#fee08b", "#1a9850"] }, right: 0, top: "middle", itemHeight: 120, text: ["", ""], calculable: true },
      series: [
        {
          type: "parallel",
          lineStyle: { width: 1, opacity: 0.45 },
          data: done.map((t) => [...params.map((p) => (p in t.p ? coord(p, t.p[p]) : null)), t.v]),
          progressive: 1000,
        },
      ],
    },
    true,
  );
}

function drawSlice(params) {
  fillSelect(sliceParam, params, params[0]);
  const name = sliceParam.value;
  const done = complete().filter((t) => name in t.p);
  if (!name) return charts.slice.clear();
  charts.slice.setOption(
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => `#${p.value[2]}: ${name}=${p.value[0]} → ${fmtValue(p.value[1])}` },
      grid: { left: 60, right: 80, top: 20, bottom: 40 },
      xAxis: { ...axisFor(name), nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "value", scale: true, name: "value" },
      visualMap: { dimension: 2, min: 1, max: Math.max(2, ...done.map((t) => t.n)), right: 0, top: "middle", text: ["newer", "older"], itemHeight: 120, inRange: { color: ["#c6dbef", "#08306b"] } },
      series: [{ type: "scatter", symbolSize: 6, data: done.map((t) => [coord(name, t.p[name]), t.v, t.n]) }],
    },
    true,
  );
}

function bins(name, trials) {
  if (isCategorical(name)) {
    const cats = categories(name);
    return { labels: cats, index: (v) => cats.indexOf(fmtValue(v)) };
  }
  const spec = paramSpec(name);
  if (spec.type === "int" && spec.max - spec.min < 16) {
    const labels = Array.from({ length: spec.max - spec.min + 1 }, (_, i) => String(spec.min + i));
    return { labels, index: (v) => v - spec.min };
  }
  const log = spec.scale === "log";
  const f = (v) => (log ? Math.log(v) : v);
  const values = trials.map((t) => t.p[name]);
  const lo = spec.min !== undefined ? f(spec.min) : Math.min(...values.map(f));
  const hi = spec.max !== undefined ? f(spec.max) : Math.max(...values.map(f));
  const n = 16;
  const width = (hi - lo) / n || 1;
  const labels = Array.from({ length: n }, (_, i) => fmtValue(log ? Math.exp(lo + (i + 0.5) * width) : lo + (i + 0.5) * width));
  return { labels, index: (v) => Math.min(n - 1, Math.max(0, Math.floor((f(v) - lo) / width))) };
}

function drawContour(params) {
  fillSelect(contourX, params, params[0]);
  fillSelect(contourY, params, params[1] || params[0]);
  const x = contourX.value;
  const y = contourY.value;
  const done = complete().filter((t) => x in t.p && y in t.p);
  if (params.length < 2 || !done.length) {
    charts.contour.clear();
    contourNote.textContent = params.length < 2 ? "Needs two parameters." : "Drawn once a trial is complete.";
    return;
  }
  contourNote.textContent = `Best value of the complete trials in each cell of ${x} × ${y}; empty cells were not tried.`;
  const bx = bins(x, done);
  const by = bins(y, done);
  const better = chartsData.goal === "minimize" ? (a, b) => a < b : (a, b) => a > b;
  const cells = new Map();
  for (const t of done) {
    const key = `${bx.index(t.p[x])},${by.index(t.p[y])}`;
    if (!cells.has(key) || better(t.v, cells.get(key))) cells.set(key, t.v);
  }
  const data = [...cells.entries()].map(([k, v]) => [...k.split(",").map(Number), v]);
  const [lo, hi] = valueRange(done);
  charts.contour.setOption(
    {
      animation: false,
      tooltip: { formatter: (p) => `${x}≈${bx.labels[p.value[0]]}, ${y}≈${by.labels[p.value[1]]}: ${fmtValue(p.value[2])}` },
      grid: { left: 70, right: 80, top: 20, bottom: 50 },
      xAxis: { type: "category", data: bx.labels, name: x, nameLocation: "middle", nameGap: 30, splitArea: { show: true } },
      yAxis: { type: "category", data: by.labels, name: y, splitArea: { show: true } },
      visualMap: { min: lo, max: hi === lo ? lo + 1 : hi, right: 0, top: "middle", itemHeight: 120, calculable: true, inRange: { color: chartsData.goal === "minimize" ? ["#1a9850", "#fee08b", "#d73027"] : ["#d73027", "#fee08b", "#1a9850"] } },
      series: [{ type: "heatmap", data }],
    },
    true,
  );
}

function drawImportance() {
  const rows = chartsData.importance.slice().reverse();
  importanceNote.textContent =
    "Share of the variance of the objective's ranks that each parameter explains alone (ANOVA epsilon², COMPLETE trials); interactions are not counted.";
  charts.importance.setOption(
    {
      animation: false,
      tooltip: { formatter: (p) => `${p.name}: ${(100 * p.value).toFixed(1)} % (ε² ${rows[p.dataIndex].epsilon2.toFixed(3)})` },
      grid: { left: 110, right: 30, top: 10, bottom: 30 },
      xAxis: { type: "value", max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)} %` } },
      yAxis: { type: "category", data: rows.map((r) => r.name) },
      series: [{ type: "bar", data: rows.map((r) => r.share), itemStyle: { color: "#1f4e79" } }],
    },
    true,
  );
}

function drawCurves() {
  const curves = chartsData.curves;
  curvesNote.textContent = curves.length ? "Pruned trials dashed, ending with a cross." : "No trial reported intermediate values.";
  charts.curves.setOption(
    {
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => `#${p.seriesName}: step ${p.value[0]} → ${fmtValue(p.value[1])}` },
      grid: { left: 60, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "value", scale: true },
      series: curves.map((c) => ({
        name: String(c.number),
        type: "line",
        data: c.points,
        showSymbol: false,
        lineStyle: { width: 1, color: COLORS[c.state] || "#999", type: c.state === "PRUNED" ? "dashed" : "solid", opacity: 0.7 },
        itemStyle: { color: COLORS[c.state] || "#999" },
      })).concat(
        curves.some((c) => c.state === "PRUNED")
          ? [{
              name: "pruned at",
              type: "scatter",
              symbol: "path://M0,0 L10,10 M10,0 L0,10",
              symbolSize: 8,
              itemStyle: { color: COLORS.PRUNED, borderColor: COLORS.PRUNED, borderWidth: 2 },
              data: curves.filter((c) => c.state === "PRUNED" && c.points.length).map((c) => c.points[c.points.length - 1]),
            }]
          : [],
      ),
    },
    true,
  );
}

function drawTimeline() {
  const now = Date.now() / 1000;
  const rows = chartsData.trials.filter((t) => t.t0 !== null);
  const workers = chartsData.workers.map((w) => w || "(none)");
  charts.timeline.setOption(
    {
      animation: false,
      tooltip: { formatter: (p) => `#${p.value[3]} ${p.value[4]} on ${workers[p.value[0]]}: ${fmtDuration(p.value[2] - p.value[1])}` },
      grid: { left: 110, right: 20, top: 10, bottom: 40 },
      xAxis: { type: "time", scale: true, axisLabel: { hideOverlap: true } },
      yAxis: { type: "category", data: workers },
      series: [
        {
          type: "custom",
          encode: { x: [1, 2], y: 0 },
          data: rows.map((t) => ({ value: [t.w, t.t0 * 1000, (t.t1 || now) * 1000, t.n, t.s], itemStyle: { color: COLORS[t.s] } })),
          renderItem: (params, apiArg) => {
            const y = apiArg.value(0);
            const start = apiArg.coord([apiArg.value(1), y]);
            const end = apiArg.coord([apiArg.value(2), y]);
            const height = apiArg.size([0, 1])[1] * 0.6;
            return {
              type: "rect",
              shape: { x: start[0], y: start[1] - height / 2, width: Math.max(1, end[0] - start[0]), height },
              style: apiArg.style(),
            };
          },
        },
      ],
    },
    true,
  );
}

function drawEcdf() {
  const values = complete().map((t) => t.v).sort((a, b) => a - b);
  const n = values.length;
  charts.ecdf.setOption(
    {
      animation: false,
      tooltip: { trigger: "axis" },
      grid: { left: 60, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "value", scale: true, name: "value", nameLocation: "middle", nameGap: 26 },
      yAxis: { type: "value", min: 0, max: 1, name: "fraction ≤ value" },
      series: [{ type: "line", step: "end", symbol: "none", data: values.map((v, i) => [v, (i + 1) / n]), lineStyle: { color: "#1f4e79" } }],
    },
    true,
  );
}

const drawers = {
  pareto: () => drawPareto(),
  history: () => drawHistory(),
  parallel: (params) => drawParallel(params),
  slice: (params) => drawSlice(params),
  contour: (params) => drawContour(params),
  importance: () => drawImportance(),
  curves: () => drawCurves(),
  timeline: () => drawTimeline(),
  ecdf: () => drawEcdf(),
};
const inView = new Set();
const drawnAt = {}; // chart -> the charts version it shows

function redraw(name) {
  if (!chartsData) return;
  const params = Object.keys(chartsData.parameters || {});
  drawers[name](params);
  drawnAt[name] = chartsVersion;
  chartNodes[name].dataset.drawn = String(chartsVersion);
  document.body.dataset.chartsDrawn = String(Object.keys(drawnAt).length);
}

let chartsRead = null;
async function loadCharts() {
  if (chartsVersion === version) return;
  if (chartsRead === null) {
    chartsRead = api(`${base}/charts`).finally(() => { chartsRead = null; });
  }
  const data = await chartsRead;
  chartsData = data;
  chartsVersion = data.version;
  sampleNote.textContent = chartsData.sampled
    ? `The charts draw ${chartsData.trials.length} of ${chartsData.total} trials: the best and an even spread of the rest; the best-so-far line uses every trial.`
    : "";
}

/** Reads the charts' data if a chart in view needs it, and draws the ones in view that are behind. */
async function drawInView() {
  if (inView.size === 0 || version < 0) return;
  await loadCharts();
  for (const name of Object.keys(chartNodes)) {
    if (inView.has(name) && drawnAt[name] !== chartsVersion) redraw(name);
  }
}

const observer = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      const name = entry.target.dataset.chart;
      if (entry.isIntersecting) inView.add(name);
      else inView.delete(name);
    }
    drawInView().catch((err) => showError(err));
  },
  { rootMargin: "200px 0px" },
);
for (const [name, node] of Object.entries(chartNodes)) {
  node.dataset.chart = name;
  observer.observe(node);
}

// ------------------------------------------------------------------ polling
async function refresh() {
  const s = await api(base);
  summary = s;
  drawSummary(s);
  await drawActions(s);
  if (s.version !== version) {
    version = s.version;
    await loadTable();
  }
  document.body.dataset.loaded = "true";
  document.body.dataset.version = String(version);
  await drawInView();
}

poll(async () => {
  try {
    await refresh();
  } catch (err) {
    if (err.kind === "not_found") {
      banner("state", "error", `Study ${study} no longer exists.`);
      return;
    }
    throw err;
  }
});
