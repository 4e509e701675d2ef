// The network page, kept live: its sections are re-rendered from /api/network/ every two seconds (peers' tips
// and latencies change every second, so a poll is simpler than one event per change).
const root = document.getElementById("network");
const short = (hash, n = 12) => (hash ? hash.slice(0, n) : "");

function cell(text, code = false) {
  const td = document.createElement("td");
  if (code) {
    const c = document.createElement("code");
    c.textContent = text;
    td.append(c);
  } else {
    td.textContent = text;
  }
  return td;
}

function rows(section, items, render, emptyText, columns) {
  const body = document.querySelector(`#${section} tbody`);
  body.replaceChildren();
  if (!items.length) {
    const tr = document.createElement("tr");
    const td = cell(emptyText);
    td.colSpan = columns;
    td.className = "muted";
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const item of items) {
    const tr = document.createElement("tr");
    tr.append(...render(item));
    body.append(tr);
  }
}

function render(state) {
  document.getElementById("node-tip").textContent = state.tip ? `${state.tip.height} ${short(state.tip.hash, 16)}` : "";
  const agreement = document.getElementById("disagreements");
  const heading = agreement.querySelector("h2");
  agreement.replaceChildren(heading);
  const badge = document.createElement("p");
  badge.className = state.disagreements.length ? "badge bad" : "badge ok";
  badge.textContent = state.disagreements.length
    ? "Peers hold another chain with at least as much work"
    : "No peer seen lately holds a chain this node does not follow";
  agreement.append(badge);
  if (state.disagreements.length) {
    const list = document.createElement("ul");
    for (const d of state.disagreements) {
      const li = document.createElement("li");
      li.textContent = `${d.peer}: tip ${d.tip_height} ${short(d.tip_hash, 16)}${d.heavier ? " (heavier)" : ""}`;
      list.append(li);
    }
    agreement.append(list);
  }
  document.querySelector("#peers h2").textContent = `Peers (${state.peers.length})`;
  rows("peers", state.peers, (p) => [
    cell(p.url), cell(short(p.node), true), cell(p.tip_hash ? `${p.tip_height} ${short(p.tip_hash)}` : ""),
    cell(p.latency_ms === null ? "" : `${Math.round(p.latency_ms)} ms`), cell(p.last_seen || "never"),
    cell(String(p.score)), cell(p.banned ? "banned" : p.error ? p.error.slice(0, 60) : "ok"),
  ], "No peers: set FEDCHAIN_PEERS or run manage.py peer add URL.", 7);
  rows("reorgs", state.reorgs, (r) => [
    cell(r.at), cell(String(r.fork_height)), cell(`${r.old_tip.height} ${short(r.old_tip.hash)}`),
    cell(`${r.new_tip.height} ${short(r.new_tip.hash)}`), cell(`${r.left} / ${r.joined}${r.repair ? " (repair)" : ""}`),
  ], "None yet.", 5);
  document.querySelector("#stale h2").textContent = `Stale blocks (${state.stale_count})`;
  rows("stale", state.stale, (b) => {
    const link = document.createElement("td");
    const a = document.createElement("a");
    a.href = `/blocks/${b.hash}/`;
    a.textContent = short(b.hash, 16);
    link.append(a);
    return [cell(String(b.height)), link, cell(`${b.experiment} / ${b.round}`), cell(short(b.mined_by), true)];
  }, "None: every block this node holds is on the main chain.", 4);
}

async function refresh() {
  try {
    const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
    if (response.ok) render(await response.json());
  } catch (error) {
    // The node is restarting or the network is down: the next poll tries again.
  }
}

setInterval(refresh, 2000);
