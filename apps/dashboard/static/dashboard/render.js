// What the overview and the experiment page both show: the chain badge, the newest blocks, mining progress.
// Every update is idempotent: applying an event twice, or an event already reflected in a snapshot, is harmless.

export const NEWEST_BLOCKS = 12;

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function formatCount(n) {
  if (n === null || n === undefined) return "–";
  const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  for (const [size, unit] of units) if (Math.abs(n) >= size) return `${(n / size).toFixed(n / size >= 100 ? 0 : 1)} ${unit}`;
  return String(Math.round(n));
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 0.01) return `${(seconds * 1000).toFixed(2)} ms`;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function formatNumber(value, digits = 4) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

export function formatPercent(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`;
}

export function blockLink(block) {
  return el("a", { href: `/search?q=${encodeURIComponent(block.hash)}`, class: "mono", title: block.hash },
    `${block.hash.slice(0, 16)}…`);
}

// An experiment id for tables: ids name experiments across nodes and run to 16 digits; the last digits tell
// this node's apart (the full id stays in links and titles). The same rule as the short_id template filter.
const SHORT_ID_DIGITS = 6;
export function shortId(id) {
  const text = String(id);
  return text.length <= SHORT_ID_DIGITS + 1 ? text : `…${text.slice(-SHORT_ID_DIGITS)}`;
}

export function experimentLabel(experiment) {
  return `#${shortId(experiment.id)} ${experiment.name || experiment.settings.dataset}`;
}

export function roundLink(experimentId, round) {
  if (experimentId === null || experimentId === undefined || round === null || round === undefined) return "–";
  return el("a", { href: `/experiments/${experimentId}/rounds/${round}/`, title: `experiment ${experimentId}, round ${round}` },
    `#${shortId(experimentId)} r${round}`);
}

// The height from which the stored chain cannot be trusted (its first invalid block), or null while it is valid.
export function untrustedFrom(chain) {
  return chain && chain.first_invalid ? chain.first_invalid.height : null;
}

// A red mark for a block (or a round's block) at `height` that is, or stands on, an invalid block.
export function invalidMark(height, chain) {
  const from = untrustedFrom(chain);
  if (from === null || height === null || height === undefined || height < from) return null;
  const rule = chain.first_invalid.rule;
  return el("span", { class: "badge bad", title: `the chain is invalid from height ${from} (rule ${rule})` },
    height === from ? "invalid" : `on invalid block ${from}`);
}

// The chain-validity badge: green with the tip height, red naming the first invalid height and rule.
export class ChainBadge {
  constructor(element) {
    this.element = element;
    this.chain = null;
  }

  set(chain) {
    this.chain = chain ? { ...chain } : null;
    this.render();
  }

  blockAdded(block) {
    // A new main block moves the tip of a valid chain; it cannot repair an invalid one.
    const empty = this.chain && this.chain.height === null;
    if (this.chain && this.chain.valid && block.status === "main" && (empty || block.height > this.chain.height)) {
      this.chain.height = block.height;
      this.chain.tip = block.hash;
      this.render();
    }
  }

  render() {
    const chain = this.chain;
    const badge = this.element;
    if (!chain) {
      badge.className = "badge";
      badge.textContent = "Chain: checking…";
      return;
    }
    const invalid = chain.first_invalid;
    if (chain.valid && !invalid) {
      badge.className = "badge ok";
      badge.textContent = chain.height === null ? "Chain empty · no genesis block yet" : `Chain valid · height ${chain.height}`;
      badge.title = `Tip ${chain.tip || ""}`;
    } else if (invalid && invalid.rule === "checkpoint") {
      badge.className = "badge bad";
      badge.textContent = `Checkpoint mismatch at height ${invalid.height}`;
      badge.title = invalid.message;
    } else {
      badge.className = "badge bad";
      badge.textContent = invalid
        ? `Chain INVALID at height ${invalid.height} · rule ${invalid.rule}: ${invalid.message}`
        : "Chain INVALID";
      badge.title = invalid ? invalid.message : "";
    }
    badge.dataset.valid = String(Boolean(chain.valid && !invalid));
  }
}

// The newest main blocks, highest first; new ones appear at the top.
export class BlockList {
  constructor(tbody, empty, { showRound = true } = {}) {
    this.tbody = tbody;
    this.empty = empty;
    this.showRound = showRound;
    this.blocks = [];
    this.chain = null;
  }

  set(blocks) {
    this.blocks = blocks.filter((block) => block.status === "main").slice(0, NEWEST_BLOCKS);
    this.render(new Set());
  }

  // The chain status whose first invalid height marks the rows at and above it.
  setChain(chain) {
    this.chain = chain;
    this.render(new Set());
  }

  add(block) {
    if (block.status !== "main") return;
    const others = this.blocks.filter((known) => known.height !== block.height);
    const fresh = !this.blocks.some((known) => known.hash === block.hash);
    this.blocks = [block, ...others].sort((a, b) => b.height - a.height).slice(0, NEWEST_BLOCKS);
    this.render(fresh ? new Set([block.hash]) : new Set());
  }

  // A reorganisation: the blocks that left the main chain go, the heavier branch's blocks come in.
  reorganise(reorg) {
    const gone = new Set((reorg.stale || []).map((block) => block.hash));
    const joined = (reorg.main || []).map((block) => ({ ...block, status: "main" }));
    const heights = new Set(joined.map((block) => block.height));
    this.blocks = [...joined, ...this.blocks.filter((known) => !gone.has(known.hash) && !heights.has(known.height))]
      .sort((a, b) => b.height - a.height).slice(0, NEWEST_BLOCKS);
    this.render(new Set(joined.map((block) => block.hash)));
  }

  render(fresh) {
    const rows = this.blocks.map((block) => {
      const bits = block.work_bits;
      return el("tr", { class: fresh.has(block.hash) ? "fresh" : null, "data-height": block.height },
        el("td", {}, block.height, " ", invalidMark(block.height, this.chain)),
        el("td", {}, blockLink(block)),
        el("td", {}, roundLink(block.experiment, block.round)),
        el("td", { class: "wide-only" }, block.nTx),
        el("td", {}, formatSeconds(block.time_to_mine)),
        el("td", { class: "wide-only", title: `Difficulty in bits: about 2^${bits === null ? "?" : bits.toFixed(1)} hashes expected per block; each bit doubles the work (compact target ${block.bits})` }, bits === null ? "–" : `${bits.toFixed(1)} bits`));
    });
    this.tbody.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
  }
}

// Mining progress: nonces tried against the work expected for the target, and the hash rate. The card is
// always there (idle, it tells how the last block went), so the page does not move when mining starts or ends.
// Past the expected count the bar stays full and the card says so: finding a block is luck, and a share of
// blocks always takes longer than expected (e^-k of them take more than k times the expected work).
export class MiningPanel {
  constructor(section) {
    this.section = section;
    this.bar = section.querySelector("progress");
    this.title = section.querySelector("#mining-title");
    this.text = section.querySelector("#mining-text");
    this.progress = null;
    this.minedHeight = -1;
    this.lastBlock = null;
    this.section.hidden = false;
  }

  set(message, minedHeight, lastBlock) {
    this.minedHeight = Math.max(this.minedHeight, minedHeight);
    if (lastBlock) this.lastBlock = lastBlock;
    this.update(message);
  }

  update(message) {
    if (!message) return this.render();
    const progress = { ...message.data, experiment: message.experiment ?? message.data.experiment };
    if (progress.height !== undefined && progress.height <= this.minedHeight) return; // stale: already mined
    this.progress = progress;
    this.render();
  }

  blockAdded(block) {
    if (block.status !== "main") return;
    this.minedHeight = Math.max(this.minedHeight, block.height);
    if (!this.lastBlock || block.height >= this.lastBlock.height) this.lastBlock = block;
    if (this.progress && (this.progress.height === undefined || this.progress.height <= block.height)) this.progress = null;
    this.render();
  }

  render() {
    const progress = this.progress;
    if (!progress) return this.renderIdle();
    const expected = progress.expected || 0;
    const ratio = expected > 0 ? progress.nonces / expected : 0;
    const beyond = ratio > 1;
    this.section.dataset.state = beyond ? "beyond" : "mining";
    this.bar.value = Math.min(1, ratio);
    this.bar.setAttribute("aria-valuetext", beyond ? `beyond the expected work: ${ratio.toFixed(1)} times` : `${Math.round(ratio * 100)} % of the expected work`);
    const what = [];
    if (progress.height !== undefined) what.push(`block ${progress.height}`);
    if (progress.experiment !== undefined && progress.experiment !== null) {
      what.push(`experiment ${progress.experiment}${progress.round !== undefined ? ` round ${progress.round}` : ""}`);
    }
    this.title.textContent = what.join(" · ");
    const tried = `${formatCount(progress.nonces)} of ~${formatCount(expected)} expected nonces tried · ${formatCount(progress.hash_rate)}H/s`;
    if (beyond) {
      const longer = Math.exp(-ratio) * 100;
      this.text.replaceChildren(el("span", { class: "beyond" }, `Beyond expected: ${ratio.toFixed(1)}× the expected work. `),
        `${tried}. Each nonce is an independent try, so mining goes on; ${longer < 1 ? longer.toFixed(2) : longer.toFixed(0)} % of blocks take this long or longer.`);
    } else {
      this.text.textContent = tried;
    }
  }

  renderIdle() {
    this.section.dataset.state = "idle";
    this.bar.value = 0;
    this.bar.setAttribute("aria-valuetext", "not mining");
    this.title.textContent = "· idle";
    const block = this.lastBlock;
    if (!block || block.time_to_mine === null || block.time_to_mine === undefined) {
      this.text.textContent = "No block is being mined.";
      return;
    }
    const bits = block.work_bits;
    const hashes = block.hash_rate && block.time_to_mine ? block.hash_rate * block.time_to_mine : null;
    const expected = bits === null ? null : 2 ** bits;
    this.text.textContent = `No block is being mined. Block ${block.height} took ${formatSeconds(block.time_to_mine)}` +
      (hashes ? ` (~${formatCount(hashes)} hashes at ${formatCount(block.hash_rate)}H/s` : " (") +
      (expected ? `${hashes ? "; " : ""}~${formatCount(expected)} expected at ${bits.toFixed(1)} bits)` : ")") +
      ". Progress shows here for blocks that take longer than half a second.";
  }
}

// The part of the state both pages show: the badge, the newest blocks and mining progress.
export class ChainView {
  constructor() {
    this.badge = new ChainBadge(document.getElementById("chain-badge"));
    this.blocks = new BlockList(document.getElementById("blocks"), document.getElementById("blocks-empty"));
    this.mining = new MiningPanel(document.getElementById("mining"));
  }

  set(state) {
    this.blocks.set(state.blocks);
    this.badge.set(state.chain);
    this.blocks.setChain(state.chain);
    this.mining.set(state.mining, state.blocks.length ? state.blocks[0].height : -1, state.blocks[0]);
  }

  // What the badge says now (the snapshot's chain status, updated by events).
  get status() {
    return this.badge.chain;
  }

  // Applies a block, chain_status, mining_progress or reorg event; other events are the page's own.
  apply(event) {
    if (event.type === "block") {
      this.blocks.add(event.data);
      this.badge.blockAdded(event.data);
      this.mining.blockAdded(event.data);
    } else if (event.type === "chain_status") {
      this.badge.set(event.data);
      this.blocks.setChain(event.data);
    } else if (event.type === "mining_progress") {
      this.mining.update(event);
    } else if (event.type === "reorg") {
      this.blocks.reorganise(event.data);
    }
  }
}

// Runs fn once per animation frame however many times it is asked for in between.
export function throttled(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

// One colour per experiment in a chart that shows several.
export const PALETTE = ["#2f5bd3", "#d1495b", "#1a7f37", "#b26a00", "#7b3fb8", "#00838f", "#8d6e63", "#c2185b"];

// Chart colours from the page's own (light or dark, as the system setting says).
export function chartColors() {
  const style = getComputedStyle(document.documentElement);
  return { text: style.getPropertyValue("--fg").trim() || "#1d2330", grid: style.getPropertyValue("--line").trim() || "#dde1e8" };
}

// Whole rounds on a round axis, about ten ticks whatever the number of rounds.
export function roundTicks(lastRound) {
  return { tick0: 0, dtick: Math.max(1, Math.ceil(Math.max(1, lastRound) / 10)) };
}

// A chart of several experiments: the legend above the plot, where it grows with the number of lines without
// covering the axis title.
export const LEGEND_ABOVE = { legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" }, margin: { l: 56, r: 12, t: 8, b: 44 } };

export function chartLayout(yTitle, extra = {}) {
  const colors = chartColors();
  const axis = { gridcolor: colors.grid, zerolinecolor: colors.grid, automargin: true };
  return {
    margin: { l: 56, r: 12, t: 8, b: 44 },
    height: 270,
    font: { family: "system-ui, sans-serif", size: 12, color: colors.text },
    xaxis: { ...axis, title: { text: "round" }, ...(extra.xaxis || {}) },
    yaxis: { ...axis, title: { text: yTitle }, ...(extra.yaxis || {}) },
    legend: { orientation: "h", y: -0.28 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    ...Object.fromEntries(Object.entries(extra).filter(([key]) => key !== "xaxis" && key !== "yaxis")),
  };
}

export const PLOT_CONFIG = { responsive: true, displaylogo: false, displayModeBar: false };

// TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled to 0.
export function smoothed(values, weight) {
  if (!weight) return values;
  let last = 0;
  let count = 0;
  return values.map((value) => {
    if (value === null || value === undefined || !Number.isFinite(value)) return value;
    last = last * weight + (1 - weight) * value;
    count += 1;
    return last / (1 - weight ** count);
  });
}

// A metric of a list of rounds as a line; `weight` smooths it.
export function metricTrace(rounds, metric, { name, color, dash = false, weight = 0, legendgroup } = {}) {
  const points = rounds.filter((r) => r[metric] !== null && r[metric] !== undefined);
  return {
    x: points.map((r) => r.round), y: smoothed(points.map((r) => r[metric]), weight), name, type: "scatter",
    mode: "lines", line: { color, dash: dash ? "dash" : "solid", width: dash ? 1.5 : 2 }, legendgroup,
    hovertemplate: `${name}<br>round %{x}: %{y:.4f}<extra></extra>`,
  };
}

export function redrawOnThemeChange(draw) {
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
}
