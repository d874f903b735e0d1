// Runs in Gmail's own JavaScript world (manifest: "world": "MAIN") to learn the Gmail ids of a
// message Mailtick tracked. The compose feature announces a tracking id just before Gmail sends
// (event `mailtick:expect`); when Gmail's send request (POST /sync/u/N/i/s) carries that id in
// its body, the answer to that request names the new message (`msg-f:<decimal>`) and thread
// (`thread-f:<decimal>`), and is handed back to the content script (event `mailtick:sent`).
//
// Only tracking ids cross this boundary, and they are in the email anyway. No token, server
// address or other secret is ever given to the page. Events carry JSON strings because objects
// do not cross between JavaScript worlds.
(() => {
  const SEND_PATH = /^\/sync\/u\/[0-9]+\/i\/s$/;
  const ID = /^[A-Za-z0-9_-]{16,128}$/;
  const MAX_ANSWER = 512 * 1024;
  const expected = new Set();

  document.addEventListener('mailtick:expect', (event) => {
    try {
      const { id } = JSON.parse(event.detail);
      if (typeof id === 'string' && ID.test(id)) expected.add(id);
    } catch {
      // Not ours.
    }
  });

  function isSend(method, url) {
    try {
      return /^post$/i.test(method) && SEND_PATH.test(new URL(url, location.href).pathname);
    } catch {
      return false;
    }
  }

  function carried(body) {
    if (expected.size === 0) return [];
    let text = '';
    if (typeof body === 'string') text = body;
    else if (body instanceof URLSearchParams) text = body.toString();
    else if (body instanceof FormData) text = [...body.values()].filter((v) => typeof v === 'string').join('\n');
    const ids = [...expected].filter((id) => text.includes(id));
    for (const id of ids) expected.delete(id);
    return ids;
  }

  function report(ids, answer) {
    if (typeof answer !== 'string') return;
    document.dispatchEvent(
      new CustomEvent('mailtick:sent', { detail: JSON.stringify({ ids, answer: answer.slice(0, MAX_ANSWER) }) }),
    );
  }

  const { open, send } = XMLHttpRequest.prototype;
  const requests = new WeakMap();
  XMLHttpRequest.prototype.open = function (method, url) {
    requests.set(this, { method: String(method), url: String(url) });
    return open.apply(this, arguments);
  };
  XMLHttpRequest.prototype.send = function (body) {
    try {
      const req = requests.get(this);
      const ids = req && isSend(req.method, req.url) ? carried(body) : [];
      if (ids.length) {
        this.addEventListener('load', () => {
          if (this.status < 200 || this.status >= 300) return;
          if (this.responseType !== '' && this.responseType !== 'text') return;
          report(ids, this.responseText);
        });
      }
    } catch {
      // Never stand in the way of Gmail sending.
    }
    return send.apply(this, arguments);
  };

  const pageFetch = window.fetch;
  window.fetch = function (input, init) {
    const result = pageFetch.apply(this, arguments);
    try {
      const method = (init && init.method) || (input instanceof Request ? input.method : 'GET');
      const url = input instanceof Request ? input.url : String(input);
      const ids = isSend(method, url) ? carried(init && init.body) : [];
      if (ids.length) {
        result
          .then((res) => (res.ok ? res.clone().text() : null))
          .then((text) => text && report(ids, text))
          .catch(() => {});
      }
    } catch {
      // As above.
    }
    return result;
  };
})();
