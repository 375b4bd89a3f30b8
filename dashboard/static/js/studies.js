// The studies page: every study of the server, sortable and filterable, refreshed every 2 s.
import { api, crumbs, el, fmtTime, fmtValue, getSession, poll, sortHeader, stateBadge, stateBar } from "./common.js";

const main = document.getElementById("main");
let studies = [];
let sort = "id";
let filter = "";

const COLUMNS = [
  ["Study", "id"],
  ["State", "state"],
  ["Algorithm", "algorithm"],
  ["Trials", "trials"],
  ["Best", "best_value"],
  ["Progress", "progress"],
  ["Created", "create_time"],
];

function key(study, name) {
  if (name === "progress") return study.max_trials ? study.trials / study.max_trials : null;
  return study[name];
}

function sorted() {
  const name = sort.replace(/^-/, "");
  const sign = sort.startsWith("-") ? -1 : 1;
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  return studies
    .filter((s) => words.every((w) => `${s.id} ${s.state} ${s.algorithm} ${s.metric}`.toLowerCase().includes(w)))
    .sort((a, b) => {
      const x = key(a, name);
      const y = key(b, name);
      if (x === y) return a.id < b.id ? -1 : 1;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    });
}

const search = el("input", {
  type: "search",
  id: "study-filter",
  placeholder: "Filter by name, state, algorithm, metric",
  oninput: (e) => {
    filter = e.target.value;
    render();
  },
});
const count = el("span", { class: "muted", id: "study-count" });
const body = el("tbody");
const head = el("thead");
main.append(
  el("h1", {}, "Studies"),
  el("div", { class: "toolbar" }, search, el("span", { class: "spacer" }), count),
  el("div", { class: "card" }, el("div", { class: "table-wrap" }, el("table", { class: "grid", id: "studies" }, head, body))),
);

function render() {
  head.replaceChildren(
    el("tr", {}, COLUMNS.map(([label, name]) => sortHeader(label, name, sort, (s) => { sort = s; render(); }))),
  );
  const rows = sorted();
  count.textContent = `${rows.length} of ${studies.length} studies`;
  body.replaceChildren(
    ...rows.map((s) =>
      el(
        "tr",
        { "data-study": s.id },
        el("td", {}, el("a", { href: `/studies/${encodeURIComponent(s.id)}` }, s.id)),
        el("td", {}, stateBadge(s.state)),
        el("td", {}, s.algorithm),
        el(
          "td",
          {},
          stateBar(s.counts, s.trials),
          el(
            "div",
            { class: "counts" },
            `${s.trials} · ${s.counts.complete} complete, ${s.counts.running} running, ` +
              `${s.counts.pruned} pruned, ${s.counts.failed} failed` +
              (s.counts.queued ? `, ${s.counts.queued} queued` : ""),
          ),
        ),
        el(
          "td",
          { class: "num", title: `${s.goal} ${s.metric}` },
          s.best_number ? el("a", { href: `/studies/${encodeURIComponent(s.id)}/trials/${s.best_number}` }, fmtValue(s.best_value)) : "",
        ),
        el(
          "td",
          {},
          s.max_trials
            ? [
                el("div", { class: "bar" }, el("span", { class: "progress", style: `width:${Math.min(100, (100 * s.trials) / s.max_trials)}%` })),
                el("div", { class: "counts" }, `${s.trials} / ${s.max_trials}`),
              ]
            : el("span", { class: "muted" }, "no limit"),
        ),
        el("td", {}, fmtTime(s.create_time)),
      ),
    ),
  );
  if (rows.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: COLUMNS.length, class: "muted" }, studies.length ? "No study matches the filter." : "No study yet: create one with asktell study create -f spec.yaml")));
  }
}

crumbs(["Studies"]);
getSession().catch(() => {});
poll(async () => {
  studies = (await api("/api/studies")).studies;
  render();
  document.body.dataset.loaded = "true";
});
