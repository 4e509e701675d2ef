// One experiment, live: learning curves against the centralized baseline, the cost of consensus, client
// updates, clients and their data, the experiment's newest blocks, mining progress and the chain badge.
import { embeddedState, startLivePage } from "./live.js";
import {
  ChainView, PLOT_CONFIG, chartLayout, el, formatNumber, formatPercent, formatSeconds, invalidMark, redrawOnThemeChange, roundLink, throttled,
} from "./render.js";

const COLORS = { federated: "#2f5bd3", baseline: "#8a93a6", mining: "#b26a00", training: "#2f5bd3", accepted: "#1a7f37", rejected: "#c62828", dropped: "#b0b7c3", epsilon: "#7b1fa2" };
// Which status each staff control applies to (apps/federated/lifecycle.py decides; this only greys buttons).
const CONTROL_ALLOWED = { pause: ["running"], resume: ["paused"], cancel: ["queued", "running", "paused"] };

const experimentId = embeddedState().data.experiment.id;
const state = { experiment: null, rounds: new Map(), mined: new Map(), clients: [], training: null };
const chain = new ChainView();

// A round axis spanning the whole experiment, so the curves fill it as training goes on.
function roundAxis({ bars = false } = {}) {
  const rounds = Math.max(1, state.experiment.settings.rounds);
  const pad = bars ? 0.5 : 0;
  return { title: { text: "round" }, range: [-pad, rounds + pad], dtick: Math.max(1, Math.ceil(rounds / 10)), automargin: true };
}

function layout(yTitle, extra = {}) {
  return chartLayout(yTitle, { ...extra, xaxis: extra.xaxis || roundAxis() });
}

function plot(id, traces, plotLayout) {
  if (window.Plotly) window.Plotly.react(document.getElementById(id), traces, plotLayout, PLOT_CONFIG);
}

function sortedRounds() {
  return [...state.rounds.values()].sort((a, b) => a.round - b.round);
}

function curve(rounds, metric, name, color, dash) {
  const points = rounds.filter((r) => r[metric] !== null && r[metric] !== undefined);
  return {
    x: points.map((r) => r.round), y: points.map((r) => r[metric]), name, type: "scatter",
    mode: dash ? "lines" : "lines+markers", line: { color, dash: dash ? "dash" : "solid", width: 2 },
  };
}

function renderCharts() {
  const rounds = sortedRounds();
  const withBaseline = state.experiment.settings.baseline;
  const loss = [curve(rounds, "loss", "federated", COLORS.federated)];
  const accuracy = [curve(rounds, "accuracy", "federated", COLORS.federated)];
  if (withBaseline) {
    loss.push(curve(rounds, "baseline_loss", "centralized baseline", COLORS.baseline, true));
    accuracy.push(curve(rounds, "baseline_accuracy", "centralized baseline", COLORS.baseline, true));
  }
  plot("loss-chart", loss, layout("test loss"));
  const settings = state.experiment.settings;
  const accuracyLayout = { yaxis: { title: { text: "test accuracy" }, range: [0, 1], tickformat: ".0%" } };
  if (settings.dp) {
    // Privacy spent beside what it bought: epsilon at the experiment's delta on a second axis.
    accuracy.push({ ...curve(rounds, "epsilon", `ε spent (δ = ${settings.dp_delta}, ${settings.dp_accountant})`, COLORS.epsilon), yaxis: "y2" });
    accuracyLayout.yaxis2 = { title: { text: "ε" }, overlaying: "y", side: "right", rangemode: "tozero", automargin: true };
    accuracyLayout.margin = { l: 56, r: 48, t: 8, b: 44 };
  }
  plot("accuracy-chart", accuracy, layout("test accuracy", accuracyLayout));

  const mined = [...state.mined.values()].sort((a, b) => a.round - b.round);
  const ms = (seconds) => (seconds === null || seconds === undefined ? null : seconds * 1000);
  plot("cost-chart", [
    { x: mined.map((block) => block.round), y: mined.map((block) => ms(block.time_to_mine)), name: "mining the block", type: "bar", marker: { color: COLORS.mining } },
    {
      x: rounds.map((r) => r.round), y: rounds.map((r) => ms(r.train_seconds + r.aggregate_seconds + r.evaluate_seconds)),
      name: "training, aggregating, evaluating", type: "bar", marker: { color: COLORS.training },
    },
  ], layout("milliseconds", { barmode: "group", xaxis: roundAxis({ bars: true }) }));

  const trained = rounds.filter((r) => r.round > 0);
  plot("updates-chart", [
    { x: trained.map((r) => r.round), y: trained.map((r) => r.clients_accepted), name: "accepted", type: "bar", marker: { color: COLORS.accepted } },
    { x: trained.map((r) => r.round), y: trained.map((r) => r.clients_sampled - (r.clients_dropped || 0) - r.clients_accepted), name: "rejected", type: "bar", marker: { color: COLORS.rejected } },
    { x: trained.map((r) => r.round), y: trained.map((r) => r.clients_dropped || 0), name: "dropped (late)", type: "bar", marker: { color: COLORS.dropped } },
  ], layout("client updates", { barmode: "stack", xaxis: roundAxis({ bars: true }) }));

  if (settings.attack && settings.attack !== "none" && document.getElementById("detection-chart")) {
    plot("detection-chart", [
      curve(trained, "true_positive_rate", "malicious updates rejected (true positives)", COLORS.rejected),
      curve(trained, "false_positive_rate", "honest updates rejected (false positives)", COLORS.baseline),
    ], layout("share of updates", { yaxis: { title: { text: "share of updates" }, range: [-0.02, 1.02], tickformat: ".0%" } }));
  }
}

function renderClients() {
  const clients = state.clients;
  const classes = clients.length ? clients[0].label_counts.length : 0;
  const traces = [];
  for (let label = 0; label < classes; label += 1) {
    traces.push({
      x: clients.map((c) => c.index), y: clients.map((c) => c.label_counts[label]), name: `class ${label}`, type: "bar",
      hovertemplate: `client %{x}<br>class ${label}: %{y} samples<extra></extra>`,
    });
  }
  plot("clients-chart", traces, layout("samples in the shard", {
    barmode: "stack", showlegend: classes <= 10, xaxis: { title: { text: "client" }, automargin: true },
  }));
}

function renderHeader() {
  const experiment = state.experiment;
  const status = document.getElementById("experiment-status");
  status.className = `status status-${experiment.status}`;
  status.textContent = experiment.status;
  const error = document.getElementById("experiment-error");
  error.textContent = experiment.error || "";
  error.hidden = !experiment.error;
  for (const button of document.querySelectorAll("#controls button[data-action]")) {
    button.disabled = !CONTROL_ALLOWED[button.dataset.action].includes(experiment.status);
  }
  const training = state.training;
  const progress = document.getElementById("training-progress");
  const shown = training && experiment.status === "running" && !state.rounds.has(training.round);
  progress.hidden = !shown;
  if (shown) {
    progress.textContent = `Round ${training.round} of ${experiment.settings.rounds}: ` +
      `${training.clients_done} of ${training.clients_sampled} clients trained`;
  }
}

// Training progress comes with the experiment's events (a round fanned out) and client updates (one trained).
function trainingProgress(progress) {
  if (!progress || progress.clients_sampled === undefined) return;
  if (state.training && state.training.round > progress.round) return;
  state.training = { round: progress.round, clients_done: progress.clients_done, clients_sampled: progress.clients_sampled };
}

function renderRoundsTable() {
  const rows = sortedRounds().reverse().map((r) => {
    const block = state.mined.get(r.round);
    return el("tr", { "data-round": r.round },
      el("td", {}, roundLink(experimentId, r.round)),
      el("td", {}, formatNumber(r.loss)),
      el("td", {}, formatPercent(r.accuracy)),
      el("td", { class: "wide-only" }, formatPercent(r.baseline_accuracy)),
      el("td", {}, r.round === 0 ? "–" : `${r.clients_accepted} / ${r.clients_sampled}` + (r.clients_dropped ? ` (${r.clients_dropped} late)` : "")),
      el("td", {}, block ? el("a", { href: `/search?q=${block.hash}` }, block.height) : "pending", " ",
        block ? invalidMark(block.height, chain.status) : null),
      el("td", { class: "wide-only" }, block ? formatSeconds(block.time_to_mine) : "–"));
  });
  document.getElementById("rounds").replaceChildren(...rows);
}

const render = throttled(() => {
  renderHeader();
  renderCharts();
  renderRoundsTable();
});

// Per-client training loss and the rejected updates: fetched when asked for, refreshed after each round.
const clientLoss = {
  shown: false,
  toggle: document.getElementById("client-loss-toggle"),
  chart: document.getElementById("client-loss-chart"),
  note: document.getElementById("client-loss-note"),
  timer: null,

  async load() {
    const response = await fetch(`/experiments/${experimentId}/clients.json`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const detail = await response.json();
    this.renderRejections(detail);
    if (!this.shown) return;
    this.chart.hidden = false;
    plot("client-loss-chart", detail.clients.map((client) => {
      const points = client.updates.filter((u) => u.loss !== null);
      return {
        x: points.map((u) => u.round), y: points.map((u) => u.loss), name: `client ${client.index}`, type: "scatter", mode: "lines+markers",
        marker: { symbol: points.map((u) => (u.accepted ? "circle" : "x")), size: 6 },
      };
    }), layout("local training loss", { showlegend: detail.clients.length <= 12 }));
    this.note.hidden = detail.client_count <= detail.clients.length;
    this.note.textContent = `Showing the first ${detail.clients.length} of ${detail.client_count} clients; ✕ marks a rejected update.`;
  },

  renderRejections(detail) {
    document.getElementById("rejected-count").textContent = `(${detail.rejected_count})`;
    document.getElementById("rejected-list").replaceChildren(...detail.rejected.map((r) =>
      el("li", {}, el("a", { href: `/experiments/${experimentId}/rounds/${r.round}/` }, `round ${r.round}`), `, client ${r.client}: ${r.reason || "rejected"}`)));
  },

  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), 300);
  },
};

clientLoss.toggle.addEventListener("click", () => {
  clientLoss.shown = !clientLoss.shown;
  clientLoss.toggle.setAttribute("aria-expanded", String(clientLoss.shown));
  clientLoss.toggle.textContent = clientLoss.shown ? "Hide per-client loss" : "Show per-client loss";
  clientLoss.chart.hidden = !clientLoss.shown;
  if (clientLoss.shown) clientLoss.load();
});
document.getElementById("rejections").addEventListener("toggle", (event) => {
  if (event.target.open) clientLoss.load();
});

function applySnapshot(data) {
  state.experiment = data.experiment;
  state.rounds = new Map(data.rounds.map((r) => [r.round, r]));
  state.mined = new Map(data.mined.map((block) => [block.round, block]));
  state.clients = data.clients;
  chain.set(data);
  renderClients();
  render();
  if (clientLoss.shown) clientLoss.refreshSoon();
}

function applyEvent(event) {
  const data = event.data;
  switch (event.type) {
    case "experiment":
      state.experiment = { ...state.experiment, ...data };
      trainingProgress(data.progress);
      render();
      break;
    case "client_update":
      if (data.status === "trained") {
        trainingProgress(data);
        render();
      }
      break;
    case "round":
      state.rounds.set(data.round, data);
      render();
      if (clientLoss.shown || document.getElementById("rejections").open) clientLoss.refreshSoon();
      break;
    case "block":
      chain.apply(event);
      if (data.status === "main" && data.experiment === experimentId && data.round !== null) {
        state.mined.set(data.round, data);
        render();
      }
      break;
    default:
      chain.apply(event);
      if (event.type === "chain_status") render();
  }
}

startLivePage(`/ws/experiments/${experimentId}/`, { applySnapshot, applyEvent });
// plotly.js loads with `defer`; module scripts run after deferred classic scripts, so it is here. Redraw
// anyway once everything has loaded, in case a browser orders them differently.
window.addEventListener("load", () => { renderClients(); render(); });
redrawOnThemeChange(() => { renderClients(); render(); });
