// The live channel: one websocket that resumes exactly where it left off.
//
// The page starts from the state embedded in it (current to event `seq`) and asks the server for what came
// after. When the connection drops it reconnects with exponential backoff and asks again from the last seq it
// applied, so nothing is missed and nothing applied twice. See apps/dashboard/protocol.py for the messages.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15000;
const HEALTHY_CONNECTION_MS = 10000;
const CLOSE_INVALID_MESSAGE = 4400;
const CLOSE_NOT_FOUND = 4404;

export class LiveStream {
  constructor(path, { seq = null, onSnapshot, onEvent, onStatus }) {
    this.path = path;
    this.seq = seq;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.socket = null;
    this.failures = 0;
    this.retryTimer = null;
    this.openedAt = null;
    this.stopped = false;
    // Back on the network or back to the tab: try now rather than at the end of a long backoff.
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  start() {
    this.connect();
    return this;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${this.path}`);
    this.socket = socket;
    this.onStatus("connecting");
    socket.addEventListener("open", () => {
      const hello = this.seq === null ? { type: "snapshot" } : { type: "resume", after: this.seq };
      socket.send(JSON.stringify(hello));
      this.openedAt = Date.now();
      this.onStatus("live");
    });
    socket.addEventListener("message", (message) => {
      if (this.socket === socket) this.receive(JSON.parse(message.data));
    });
    socket.addEventListener("close", (closing) => {
      if (this.socket === socket) this.closed(closing.code);
    });
  }

  receive(message) {
    this.failures = 0;
    if (message.type === "snapshot") {
      this.seq = message.seq;
      this.onSnapshot(message.data);
      return;
    }
    if (this.seq !== null && message.seq <= this.seq) return; // already applied
    this.seq = message.seq;
    this.onEvent(message);
  }

  closed(code) {
    this.socket = null;
    if (this.stopped) return;
    // A connection that lasted a while was healthy: start the backoff over.
    if (this.openedAt && Date.now() - this.openedAt > HEALTHY_CONNECTION_MS) this.failures = 0;
    this.openedAt = null;
    if (code === CLOSE_NOT_FOUND) {
      this.stopped = true;
      this.onStatus("gone");
      return;
    }
    if (code === CLOSE_INVALID_MESSAGE) this.seq = null; // the server refused our resume: start afresh
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures) * (0.75 + Math.random() / 2);
    this.failures += 1;
    this.onStatus("offline", delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (!this.stopped && this.socket === null) this.connect();
  }

  // Drops the connection as a network failure would (used by the page's tests and by hand in a console).
  drop() {
    if (this.socket) this.socket.close();
  }
}

// Starts a page from the state embedded in it, then follows the stream at `path` from that state's seq.
export function startLivePage(path, { applySnapshot, applyEvent }) {
  const embedded = JSON.parse(document.getElementById("live-state").textContent);
  applySnapshot(embedded.data);
  const status = document.getElementById("live-status");
  // Exposed for the console and the browser tests (window.fedchainLive.drop() simulates a lost connection).
  window.fedchainLive = new LiveStream(path, {
    seq: embedded.seq,
    onSnapshot: applySnapshot,
    onEvent: applyEvent,
    onStatus: (state, delay) => showStatus(status, state, delay),
  }).start();
  return window.fedchainLive;
}

function showStatus(element, status, delay) {
  element.dataset.state = status;
  element.textContent = {
    connecting: "connecting…",
    live: "live",
    offline: `offline, retrying in ${Math.max(1, Math.round((delay || 0) / 1000))} s`,
    gone: "this experiment no longer exists",
  }[status];
}

export function embeddedState() {
  return JSON.parse(document.getElementById("live-state").textContent);
}
