// Checks a Merkle inclusion proof in the browser, as RFC 9162 section 2.1.3.2 says, with WebCrypto's SHA-256:
// nothing the server computed is trusted except the record bytes, the audit path and the header's root.
(function () {
  const card = document.getElementById("proof");
  const button = document.getElementById("verify-here");
  const result = document.getElementById("verify-result");
  if (!card || !button) return;

  const fromHex = (hex) => new Uint8Array(hex.match(/../g).map((byte) => parseInt(byte, 16)));
  const toHex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  const sha256 = async (prefix, ...parts) => {
    const total = new Uint8Array(1 + parts.reduce((sum, part) => sum + part.length, 0));
    total[0] = prefix;
    let offset = 1;
    for (const part of parts) { total.set(part, offset); offset += part.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", total));
  };

  async function verify() {
    const path = Array.from(card.querySelectorAll(".audit-node"), (node) => fromHex(node.textContent.trim()));
    let fn = Number(card.dataset.index);
    let sn = Number(card.dataset.size) - 1;
    if (fn > sn) return false;
    let r = await sha256(0, fromHex(card.dataset.leaf));
    for (const p of path) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(1, p, r);
        if (fn % 2 === 0) { while (fn !== 0 && fn % 2 === 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await sha256(1, r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && toHex(r) === card.dataset.root;
  }

  button.addEventListener("click", async () => {
    if (!window.crypto || !crypto.subtle) {
      result.textContent = "This browser offers no SHA-256 here (WebCrypto needs HTTPS or localhost).";
      return;
    }
    const ok = await verify();
    result.className = ok ? "badge ok" : "badge bad";
    result.textContent = ok ? "verified in this browser" : "does not verify in this browser";
  });
})();
