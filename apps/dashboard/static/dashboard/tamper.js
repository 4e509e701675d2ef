// The tamper demonstration: a sandbox copy of the newest blocks, checked by the server with the chain's rules,
// with one record changed or not. The real chain's badge follows the live stream beside it, untouched.
import { LiveStream } from "./live.js";
import { ChainBadge } from "./render.js";

const embedded = JSON.parse(document.getElementById("live-state").textContent);
const real = new ChainBadge(document.getElementById("chain-badge"));
real.set(embedded.data.chain);
const status = document.getElementById("live-status");
window.fedchainLive = new LiveStream("/ws/dashboard/", {
  seq: embedded.seq,
  onSnapshot: (data) => real.set(data.chain),
  onEvent: (event) => {
    if (event.type === "chain_status") real.set(event.data);
    else if (event.type === "block") real.blockAdded(event.data);
  },
  onStatus: (state) => { status.dataset.state = state; status.textContent = state === "live" ? "live" : `${state}…`; },
}).start();

const sandbox = document.getElementById("sandbox");
if (sandbox) {
  const badge = new ChainBadge(document.getElementById("sandbox-badge"));
  const change = document.getElementById("sandbox-change");
  const tamper = document.getElementById("tamper");
  const restore = document.getElementById("restore");
  const height = document.getElementById("tamper-height");

  const check = async (tamperHeight) => {
    const url = new URL(sandbox.dataset.checkUrl, window.location.href);
    if (tamperHeight !== null) url.searchParams.set("height", tamperHeight);
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) {
      change.textContent = body.error;
      return;
    }
    badge.set({ ...body.report, height: body.report.last_valid_height, tip: body.report.last_valid_hash });
    badge.element.textContent = `Sandbox: ${badge.element.textContent}`;
    const t = body.tampered;
    change.textContent = t
      ? `Changed in the copy: record ${t.record} of block ${t.height}, ${t.field} ${t.before} → ${t.after}.`
      : "The copy is as stored.";
    tamper.disabled = Boolean(t);
    restore.disabled = !t;
  };
  tamper.addEventListener("click", () => check(height.value));
  restore.addEventListener("click", () => check(null));
  check(null);
}
