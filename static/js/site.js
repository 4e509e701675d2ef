// What every page does: copy buttons beside full hashes, and times that say how long ago they were.
(function () {
  const FULL_HASH = /^[0-9a-f]{64}$/;

  function copyButton(text) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.dataset.copy = text;
    button.title = "Copy to the clipboard";
    button.setAttribute("aria-label", "Copy");
    button.textContent = "Copy";
    return button;
  }

  // Full 64-digit hashes shown as text get a button; links and truncated hashes keep theirs in the title.
  for (const node of document.querySelectorAll(".mono")) {
    const text = node.textContent.trim();
    if (!FULL_HASH.test(text) || node.closest(".copyable") || node.querySelector("button")) continue;
    const wrap = document.createElement("span");
    wrap.className = "copyable";
    node.replaceWith(wrap);
    wrap.append(node, copyButton(text));
  }

  async function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on another host has no clipboard API: copy through a selection instead.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    if (!done) throw new Error("copy refused");
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    try {
      await copy(button.dataset.copy);
      button.textContent = "Copied";
      button.dataset.copied = "true";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = "Copy"; delete button.dataset.copied; }, 1500);
  });

  const UNITS = [[86400 * 365, "year"], [86400 * 30, "month"], [86400, "day"], [3600, "h"], [60, "min"], [1, "s"]];
  function ago(seconds) {
    if (seconds < 5) return "just now";
    for (const [size, unit] of UNITS) {
      if (seconds >= size) {
        const n = Math.floor(seconds / size);
        const name = unit.length > 3 && n > 1 ? `${unit}s` : unit;
        return `${n} ${name} ago`;
      }
    }
    return "just now";
  }

  // <time class="when" datetime="..."> shows the absolute UTC time; this adds "(3 min ago)" and keeps it current.
  function refreshTimes() {
    const now = Date.now();
    for (const node of document.querySelectorAll("time.when[datetime]")) {
      const at = Date.parse(node.getAttribute("datetime"));
      if (Number.isNaN(at)) continue;
      let relative = node.nextElementSibling;
      if (!relative || !relative.classList.contains("ago")) {
        relative = document.createElement("span");
        relative.className = "ago muted";
        node.after(relative);
      }
      const seconds = (now - at) / 1000;
      // Header times are whole seconds and clocks differ a little: a few seconds ahead is "just now".
      relative.textContent = seconds < -5 ? " (in the future)" : ` (${ago(Math.max(0, seconds))})`;
      node.title = new Date(at).toString();
    }
  }
  window.fedchainRefreshTimes = refreshTimes;
  refreshTimes();
  setInterval(refreshTimes, 30000);
})();
