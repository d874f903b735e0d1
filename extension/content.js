// Content scripts cannot be ES modules; this loader imports the real entry point, which runs in
// the same isolated world (never in Gmail's page world).
import(chrome.runtime.getURL('content/main.js'))
  .then((main) => main.start())
  .catch((err) => console.warn('[mailtick] could not start', err));
