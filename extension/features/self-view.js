// The sender's own views never count. When Gmail shows the sender a message that carries a
// Mailtick pixel (a sent message in a conversation, the view right after replying, a quote in a
// reply), Gmail's image proxy would fetch the pixel just as it does for a recipient. So:
//
// 1. hold the pixel back the moment it appears (its src is set aside, so it never loads), and
// 2. tell the server, through the worker, that the sender is looking: a Gmail proxy fetch from
//    15 s before to 60 s after that signal is the sender's own. This covers any fetch that got
//    out before step 1 (Chromium may start an image's request before any script can see it).
//
// Ids are batched per render. The worker sends each id at most every 30 s and answers which ids
// are the user's own; a pixel the server does not know as the user's (a tracked email someone
// else sent them) is let go, so that person's open still counts. Nothing here blocks Gmail: the
// observer only moves an attribute, and the signal is sent afterwards.

import * as gmail from '../gmail/driver.js';
import { looksLikePixel, pixelIdFromSrc } from '../lib/links.js';
import { ask } from '../lib/runtime.js';

export const name = 'self-view';

export async function init(signal) {
  let bases = null; // unknown until the worker answers
  let batch = new Set();
  let queued = false;

  function consider(found) {
    for (const { img, src, place } of found) {
      const id = bases ? pixelIdFromSrc(src, bases) : null;
      if (bases ? !id : !looksLikePixel(src)) continue;
      if (place === 'quote' && id) {
        // Our pixel in a quoted earlier message: the compose feature drops it at send anyway.
        img.remove();
      } else if (img.dataset.mailtickReleased === src) {
        continue; // someone else's pixel we let go; it loads like any image
      } else {
        gmail.holdImage(img);
      }
      if (id) batch.add(id);
    }
    if (batch.size && !queued) {
      queued = true;
      setTimeout(signalBatch, 0);
    }
  }

  async function signalBatch() {
    queued = false;
    const ids = [...batch];
    batch = new Set();
    if (!ids.length || signal.aborted) return;
    const answer = await ask({ type: 'selfView', ids });
    if (signal.aborted || !answer.ok) return;
    const others = new Set(answer.others);
    if (others.size) release((id) => others.has(id));
  }

  function release(shouldRelease) {
    for (const { img, src } of gmail.heldImages()) {
      if (!shouldRelease(bases ? pixelIdFromSrc(src, bases) : null)) continue;
      img.dataset.mailtickReleased = src;
      gmail.releaseImage(img);
    }
  }

  // Watch from the first moment (the content script runs at document_start), before the worker
  // has said which servers are ours: until then anything shaped like a pixel is held.
  gmail.watchDisplayedImages(consider, signal);
  const config = await ask({ type: 'contentConfig' });
  if (signal.aborted) return;
  if (!config.ok || !config.signedIn) {
    bases = [];
    release(() => true); // not signed in: nothing of ours to protect, nobody to tell
    return;
  }
  bases = config.bases;
  // Held before we knew: let go what is not ours, signal what is.
  release((id) => id === null);
  const held = gmail.heldImages().map(({ img, src }) => ({ img, src, place: gmail.imagePlace(img) }));
  consider(held.filter(({ src, place }) => place && pixelIdFromSrc(src, bases)));
}
