// The overview page: experiments, their loss and accuracy curves, the newest blocks, mining progress and the
// chain badge, kept live.
import { startLivePage } from "./live.js";
import {
  ChainView, LEGEND_ABOVE, experimentLabel, shortId, PALETTE, PLOT_CONFIG, chartLayout, el, formatNumber, formatPercent, metricTrace, redrawOnThemeChange,
  roundTicks, throttled,
} from "./render.js";

const SHOWN_EXPERIMENTS = 25;
const CURVES = 5;

const chain = new ChainView();
const experiments = new Map();
// experiment id -> Map(round -> point): the experiments whose curves are drawn.
const curves = new Map();

const renderExperiments = throttled(() => {
  const rows = [...experiments.values()]
    .sort((a, b) => b.id - a.id)
    .slice(0, SHOWN_EXPERIMENTS)
    .map((experiment) => {
      const last = experiment.last_round;
      return el("tr", { "data-experiment": experiment.id },
        el("td", {}, el("a", { href: `/experiments/${experiment.id}/`, title: `experiment ${experiment.id}` }, experimentLabel(experiment))),
        el("td", {}, el("span", { class: `status status-${experiment.status}` }, experiment.status)),
        el("td", {}, last ? `${last.round} / ${experiment.settings.rounds}` : `– / ${experiment.settings.rounds}`),
        el("td", {}, last ? formatPercent(last.accuracy) : "–"),
        el("td", { class: "wide-only" }, last ? formatNumber(last.loss) : "–"));
    });
  document.getElementById("experiments").replaceChildren(...rows);
  document.getElementById("experiments-empty").hidden = rows.length > 0;
  // The first-run offer goes as soon as there is an experiment, without a reload.
  const demo = document.getElementById("demo");
  if (demo && rows.length > 0) demo.hidden = true;
  document.getElementById("compare-recent").href = `/compare/?ids=${[...curves.keys()].join(",")}`;
});

const renderCurves = throttled(() => {
  if (!window.Plotly) return;
  const loss = [];
  const accuracy = [];
  [...curves.keys()].sort((a, b) => b - a).forEach((id, position) => {
    const experiment = experiments.get(id);
    const name = experiment ? experimentLabel(experiment) : `#${shortId(id)}`;
    const rounds = [...curves.get(id).values()].sort((a, b) => a.round - b.round);
    const color = PALETTE[position % PALETTE.length];
    loss.push(metricTrace(rounds, "loss", { name, color }));
    accuracy.push(metricTrace(rounds, "accuracy", { name, color }));
  });
  const last = Math.max(1, ...loss.map((trace) => Math.max(0, ...trace.x)));
  const shared = { ...LEGEND_ABOVE, height: 300, xaxis: { title: { text: "round" }, ...roundTicks(last) } };
  window.Plotly.react("overview-loss", loss, chartLayout("test loss", shared), PLOT_CONFIG);
  window.Plotly.react("overview-accuracy", accuracy,
    chartLayout("test accuracy", { ...shared, yaxis: { title: { text: "test accuracy" }, range: [0, 1], tickformat: ".0%" } }), PLOT_CONFIG);
});

// A new experiment takes the place of the oldest curve that is not running.
function followCurve(id) {
  if (curves.has(id)) return;
  curves.set(id, new Map());
  while (curves.size > CURVES) {
    const ids = [...curves.keys()].sort((a, b) => a - b);
    const idle = ids.find((known) => experiments.get(known)?.status !== "running") ?? ids[0];
    curves.delete(idle);
  }
}

function applySnapshot(state) {
  experiments.clear();
  for (const experiment of state.experiments) experiments.set(experiment.id, experiment);
  curves.clear();
  for (const curve of state.curves) curves.set(curve.experiment, new Map(curve.rounds.map((r) => [r.round, r])));
  renderExperiments();
  renderCurves();
  chain.set(state);
}

function applyEvent(event) {
  const data = event.data;
  switch (event.type) {
    case "experiment": {
      const known = experiments.get(data.id);
      experiments.set(data.id, { last_round: null, ...known, ...data });
      if (!known || data.status === "running") followCurve(data.id);
      renderExperiments();
      renderCurves();
      break;
    }
    case "round": {
      const known = experiments.get(event.experiment);
      if (known && (!known.last_round || known.last_round.round <= data.round)) {
        known.last_round = data;
        renderExperiments();
      }
      if (curves.has(event.experiment)) {
        curves.get(event.experiment).set(data.round, data);
        renderCurves();
      }
      break;
    }
    default:
      chain.apply(event);
  }
}

startLivePage("/ws/dashboard/", { applySnapshot, applyEvent });
redrawOnThemeChange(renderCurves);
window.addEventListener("load", renderCurves);
