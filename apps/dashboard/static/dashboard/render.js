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

// Leading zero bits of the compact target `bits`: the block's difficulty as "bits of work".
export function difficultyBits(bits) {
  const exponent = bits >>> 24;
  const mantissa = bits & 0xffffff;
  if (mantissa === 0) return null;
  return 256 - (Math.log2(mantissa) + 8 * (exponent - 3));
}

export function blockLink(block) {
  return el("a", { href: `/search?q=${encodeURIComponent(block.hash)}`, class: "mono", title: block.hash },
    `${block.hash.slice(0, 16)}…`);
}

export function roundLink(experimentId, round) {
  if (experimentId === null || experimentId === undefined || round === null || round === undefined) return "–";
  return el("a", { href: `/experiments/${experimentId}/rounds/${round}/` }, `#${experimentId} r${round}`);
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
  }

  set(blocks) {
    this.blocks = blocks.filter((block) => block.status === "main").slice(0, NEWEST_BLOCKS);
    this.render(new Set());
  }

  add(block) {
    if (block.status !== "main") return;
    const others = this.blocks.filter((known) => known.height !== block.height);
    const fresh = !this.blocks.some((known) => known.hash === block.hash);
    this.blocks = [block, ...others].sort((a, b) => b.height - a.height).slice(0, NEWEST_BLOCKS);
    this.render(fresh ? new Set([block.hash]) : new Set());
  }

  render(fresh) {
    const rows = this.blocks.map((block) => {
      const bits = difficultyBits(block.bits);
      return el("tr", { class: fresh.has(block.hash) ? "fresh" : null, "data-height": block.height },
        el("td", {}, block.height),
        el("td", {}, blockLink(block)),
        el("td", {}, roundLink(block.experiment, block.round)),
        el("td", { class: "wide-only" }, block.records),
        el("td", {}, formatSeconds(block.mined_seconds)),
        el("td", { class: "wide-only", title: `compact target ${block.bits}` }, bits === null ? "–" : `${bits.toFixed(1)} bits`));
    });
    this.tbody.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
  }
}

// Mining progress: nonces tried against the work expected for the target, and the hash rate.
export class MiningPanel {
  constructor(section) {
    this.section = section;
    this.bar = section.querySelector("progress");
    this.title = section.querySelector("#mining-title");
    this.text = section.querySelector("#mining-text");
    this.progress = null;
    this.minedHeight = -1;
  }

  set(message, minedHeight) {
    this.minedHeight = Math.max(this.minedHeight, minedHeight);
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
    if (this.progress && (this.progress.height === undefined || this.progress.height <= block.height)) {
      this.progress = null;
      this.render();
    }
  }

  render() {
    const progress = this.progress;
    this.section.hidden = !progress;
    if (!progress) return;
    const expected = progress.expected || 0;
    const share = expected > 0 ? Math.min(1, progress.nonces / expected) : 0;
    this.bar.value = share;
    this.bar.setAttribute("aria-valuetext", `${Math.round(share * 100)} % of the expected work`);
    const what = [];
    if (progress.height !== undefined) what.push(`block ${progress.height}`);
    if (progress.experiment !== undefined && progress.experiment !== null) {
      what.push(`experiment ${progress.experiment}${progress.round !== undefined ? ` round ${progress.round}` : ""}`);
    }
    this.title.textContent = what.join(" · ");
    this.text.textContent = `${formatCount(progress.nonces)} of ~${formatCount(expected)} expected nonces tried` +
      ` · ${formatCount(progress.hash_rate)}H/s`;
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
    this.mining.set(state.mining, state.blocks.length ? state.blocks[0].height : -1);
  }

  // Applies a block, chain_status or mining_progress event; other events are the page's own.
  apply(event) {
    if (event.type === "block") {
      this.blocks.add(event.data);
      this.badge.blockAdded(event.data);
      this.mining.blockAdded(event.data);
    } else if (event.type === "chain_status") {
      this.badge.set(event.data);
    } else if (event.type === "mining_progress") {
      this.mining.update(event);
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
