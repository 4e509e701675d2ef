// The comparison view: several experiments' loss and accuracy overlaid, with their centralized baselines,
// smoothed as the slider says; the URL always links to what is shown.
import {
  LEGEND_ABOVE, PALETTE, experimentLabel, PLOT_CONFIG, chartLayout, formatNumber, formatPercent, metricTrace, redrawOnThemeChange, roundTicks,
} from "./render.js";

const view = JSON.parse(document.getElementById("compare-state").textContent);
const slider = document.getElementById("smoothing");
const sliderValue = document.getElementById("smoothing-value");
const baselines = document.getElementById("show-baselines");
const link = document.getElementById("compare-link");

const label = experimentLabel;

function traces(metric, baselineMetric, weight) {
  const lines = [];
  view.experiments.forEach((experiment, position) => {
    const color = PALETTE[position % PALETTE.length];
    const group = `e${experiment.id}`;
    lines.push(metricTrace(experiment.rounds, metric, { name: label(experiment), color, weight, legendgroup: group }));
    if (baselines.checked && experiment.settings.baseline) {
      lines.push(metricTrace(experiment.rounds, baselineMetric, { name: `${label(experiment)} baseline`, color, dash: true, weight, legendgroup: group }));
    }
  });
  return lines;
}

function draw() {
  if (!window.Plotly) return;
  const weight = Number(slider.value);
  const last = Math.max(1, ...view.experiments.map((e) => (e.final ? e.final.round : 0)));
  const shared = { ...LEGEND_ABOVE, height: 340, xaxis: { title: { text: "round" }, ...roundTicks(last) } };
  window.Plotly.react("compare-loss", traces("loss", "baseline_loss", weight), chartLayout("test loss", shared), PLOT_CONFIG);
  window.Plotly.react("compare-accuracy", traces("accuracy", "baseline_accuracy", weight),
    chartLayout("test accuracy", { ...shared, yaxis: { title: { text: "test accuracy" }, range: [0, 1], tickformat: ".0%" } }), PLOT_CONFIG);
}

function remember() {
  const url = new URL(window.location.href);
  url.searchParams.delete("ids");
  url.searchParams.set("ids", view.experiments.map((e) => e.id).join(","));
  url.searchParams.set("smooth", slider.value);
  if (baselines.checked) url.searchParams.delete("baselines");
  else url.searchParams.set("baselines", "off");
  window.history.replaceState(null, "", url);
  link.href = `${url.pathname}${url.search}`;
  link.textContent = link.href.replace(window.location.origin, "");
  for (const input of document.querySelectorAll("#compare-choose input[name=smooth]")) input.value = slider.value;
}

baselines.checked = new URL(window.location.href).searchParams.get("baselines") !== "off";
slider.addEventListener("input", () => {
  sliderValue.textContent = slider.value;
  draw();
  remember();
});
baselines.addEventListener("change", () => {
  draw();
  remember();
});
// While an experiment trains, fetch the curves again every few seconds (the page's own data, as JSON).
const REFRESH_MS = 3000;
const UNFINISHED = ["queued", "running", "paused"];
async function refresh() {
  if (!view.experiments.some((e) => UNFINISHED.includes(e.status))) return;
  const url = new URL(window.location.href);
  url.searchParams.set("format", "json");
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const fresh = await response.json();
      view.experiments = fresh.experiments;
      draw();
      updateResults();
    }
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

function updateResults() {
  for (const experiment of view.experiments) {
    const row = document.querySelector(`#compare-results tr[data-experiment="${experiment.id}"]`);
    if (!row) continue;
    const final = experiment.final;
    row.querySelector(".status").className = `status status-${experiment.status}`;
    row.querySelector(".status").textContent = experiment.status;
    row.querySelector(".rounds").textContent = `${final ? final.round : "–"} / ${experiment.settings.rounds}`;
    row.querySelector(".final-accuracy").textContent = final ? formatPercent(final.accuracy) : "–";
    row.querySelector(".final-loss").textContent = final ? formatNumber(final.loss) : "–";
    const best = (metric, format) => (metric ? `${format(metric.value)} (r${metric.round})` : "–");
    row.querySelector(".best-accuracy").textContent = best(experiment.best_accuracy, formatPercent);
    row.querySelector(".best-loss").textContent = best(experiment.best_loss, formatNumber);
    row.querySelector(".final-baseline").textContent = final ? formatPercent(final.baseline_accuracy) : "–";
  }
}

setTimeout(refresh, REFRESH_MS);
redrawOnThemeChange(draw);
window.addEventListener("load", () => {
  draw();
  remember();
});
draw();
