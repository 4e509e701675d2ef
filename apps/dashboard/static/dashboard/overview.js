// The overview page: experiments, the newest blocks, mining progress and the chain badge, kept live.
import { startLivePage } from "./live.js";
import { ChainView, el, formatNumber, formatPercent, throttled } from "./render.js";

const SHOWN_EXPERIMENTS = 25;

const chain = new ChainView();
const experiments = new Map();
const renderExperiments = throttled(() => {
  const rows = [...experiments.values()]
    .sort((a, b) => b.id - a.id)
    .slice(0, SHOWN_EXPERIMENTS)
    .map((experiment) => {
      const last = experiment.last_round;
      return el("tr", { "data-experiment": experiment.id },
        el("td", {}, el("a", { href: `/experiments/${experiment.id}/` }, `#${experiment.id} ${experiment.name || experiment.settings.dataset}`)),
        el("td", {}, el("span", { class: `status status-${experiment.status}` }, experiment.status)),
        el("td", {}, last ? `${last.round} / ${experiment.settings.rounds}` : `– / ${experiment.settings.rounds}`),
        el("td", {}, last ? formatPercent(last.test_accuracy) : "–"),
        el("td", { class: "wide-only" }, last ? formatNumber(last.test_loss) : "–"));
    });
  document.getElementById("experiments").replaceChildren(...rows);
  document.getElementById("experiments-empty").hidden = rows.length > 0;
});

function applySnapshot(state) {
  experiments.clear();
  for (const experiment of state.experiments) experiments.set(experiment.id, experiment);
  renderExperiments();
  chain.set(state);
}

function applyEvent(event) {
  const data = event.data;
  switch (event.type) {
    case "experiment": {
      const known = experiments.get(data.id);
      experiments.set(data.id, { last_round: null, ...known, ...data });
      renderExperiments();
      break;
    }
    case "round": {
      const known = experiments.get(event.experiment);
      if (known && (!known.last_round || known.last_round.round <= data.round)) {
        known.last_round = data;
        renderExperiments();
      }
      break;
    }
    default:
      chain.apply(event);
  }
}

startLivePage("/ws/dashboard/", { applySnapshot, applyEvent });
