// The feature manager: starts each feature with its own AbortSignal, isolates failures (one
// feature throwing never stops another, nor Gmail), and restarts view-bound features when Gmail
// changes view.

import * as composeTracking from '../features/compose-tracking.js';
import * as checkmarks from '../features/checkmarks.js';
import * as insightsCompose from '../features/insights-compose.js';
import * as replyDetect from '../features/reply-detect.js';
import * as selfView from '../features/self-view.js';
import { extensionAlive } from '../lib/runtime.js';

// self-view first: its observer must be watching before Gmail draws any message.
const FEATURES = [selfView, composeTracking, checkmarks, insightsCompose, replyDetect];

function run(feature, signal) {
  try {
    Promise.resolve(feature.init(signal)).catch((err) => report(feature, err));
  } catch (err) {
    report(feature, err);
  }
}

function report(feature, err) {
  console.warn(`[mailtick] feature ${feature.name} failed`, err);
}

export function start() {
  const page = new AbortController();
  let view = new AbortController();
  for (const f of FEATURES) run(f, f.perView ? view.signal : page.signal);

  window.addEventListener(
    'hashchange',
    () => {
      if (!extensionAlive()) {
        view.abort();
        page.abort();
        return;
      }
      view.abort();
      view = new AbortController();
      for (const f of FEATURES) if (f.perView) run(f, view.signal);
    },
    { signal: page.signal },
  );
  window.addEventListener('pagehide', () => {
    view.abort();
    page.abort();
  }, { once: true });
}
