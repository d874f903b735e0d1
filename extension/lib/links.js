// Pure rules for Mailtick's pixel and tracked links. No DOM here: the compose feature walks the
// body and asks these functions what to do with each image and link.

const TRACKING_ID = '[A-Za-z0-9_-]{16,128}';

/** Strip a trailing slash so bases compare equal however the user typed them. */
export function normalizeBase(base) {
  if (typeof base !== 'string' || !base) return null;
  try {
    const u = new URL(base);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return (u.origin + u.pathname).replace(/\/+$/, '');
  } catch {
    return null;
  }
}

/** The base URL of a pixel_url (`<base>/p/<id>.gif`), i.e. where tracking is served. */
export function baseOfPixelUrl(pixelUrl) {
  const m = new RegExp(`^(https?://.+?)/p/${TRACKING_ID}\\.gif$`).exec(pixelUrl || '');
  return m ? normalizeBase(m[1]) : null;
}

/** True for the links Mailtick may rewrite: absolute http(s) URLs only. */
export function isTrackableHref(href) {
  if (typeof href !== 'string') return false;
  try {
    const u = new URL(href.trim());
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

/** The tracked URL of link n: `${click_base}/${n}?u=${encodeURIComponent(url)}`. */
export function trackedUrl(clickBase, n, url) {
  return `${clickBase.replace(/\/+$/, '')}/${n}?u=${encodeURIComponent(url)}`;
}

/**
 * Parse a tracked link made by a Mailtick server whose base is one of `bases`:
 * `{base, id, n, url}`, or null.
 */
export function parseTrackedUrl(href, bases) {
  if (typeof href !== 'string') return null;
  for (const raw of bases || []) {
    const base = normalizeBase(raw);
    if (!base || !href.startsWith(base + '/c/')) continue;
    const m = new RegExp(`^/c/(${TRACKING_ID})/([0-9]{1,4})\\?u=([^&#]*)$`).exec(
      href.slice(base.length),
    );
    if (!m) continue;
    let url;
    try {
      url = decodeURIComponent(m[3]);
    } catch {
      continue;
    }
    return { base, id: m[1], n: Number(m[2]), url };
  }
  return null;
}

/**
 * The URL an image really shows: for Gmail's image proxy
 * (`https://ciN.googleusercontent.com/meips/...#<original>`, older `/proxy/...#<original>`) the
 * original after the `#`; any other src as it is.
 */
export function originalImageUrl(src) {
  if (typeof src !== 'string') return '';
  const original = src.trim();
  const pm = /^https:\/\/[a-z0-9-]+\.googleusercontent\.com\/(?:meips|proxy)\/[^#]*#(.+)$/i.exec(original);
  return pm ? pm[1] : original;
}

/**
 * The tracking id of a Mailtick pixel, whether its src is the pixel URL itself or Gmail's image
 * proxy in front of it. Null for any other image.
 */
export function pixelIdFromSrc(src, bases) {
  if (typeof src !== 'string' || !src) return null;
  const original = originalImageUrl(src);
  for (const raw of bases || []) {
    const base = normalizeBase(raw);
    if (!base) continue;
    const m = new RegExp(`^/p/(${TRACKING_ID})\\.gif(?:[?#].*)?$`).exec(
      original.startsWith(base) ? original.slice(base.length) : '',
    );
    if (m) return m[1];
  }
  return null;
}

/**
 * True for an image shaped like a Mailtick pixel from any server (`.../p/<id>.gif`, direct or
 * behind Gmail's proxy). Used before the worker has said which servers are ours, to hold such
 * images back for the moment it takes to ask.
 */
export function looksLikePixel(src) {
  return new RegExp(`^https?://[^/?#]+(?:/[^?#]*)?/p/${TRACKING_ID}\\.gif(?:[?#].*)?$`).test(originalImageUrl(src));
}

/**
 * Decide how to rewrite the links of the sender's own text.
 *
 * `anchors` is a list of `{href, quoted}` in document order; `links` the destinations already
 * registered for this message (link index order), from an earlier attempt to send the same
 * compose. Returns `{hrefs, links}`: for each anchor the new href, or null to leave it alone;
 * and the full destination list to register with the server.
 */
export function planLinkRewrites(anchors, { clickBase, bases, links = [] }) {
  const registered = [...links];
  const own = normalizeBase(clickBase);
  const hrefs = anchors.map(({ href, quoted }) => {
    if (quoted || !isTrackableHref(href)) return null;
    const tracked = parseTrackedUrl(href, [...(bases || []), ...(own ? [baseOf(own)] : [])]);
    if (tracked) {
      // Ours from an earlier attempt: keep it and make sure its destination stays registered.
      if (own && `${tracked.base}/c/${tracked.id}` === own && registered[tracked.n] === undefined) {
        registered[tracked.n] = tracked.url;
      }
      return null;
    }
    const url = href.trim();
    let n = registered.indexOf(url);
    if (n === -1) {
      n = registered.length;
      registered.push(url);
    }
    return trackedUrl(clickBase, n, url);
  });
  return { hrefs, links: registered };
}

function baseOf(clickBase) {
  // click_base is `<base>/c/<id>`.
  return clickBase.replace(/\/c\/[^/]+$/, '');
}

/** Attributes of the pixel image: 1x1, no alt text, invisible, and taking no room. */
export function pixelAttributes(pixelUrl) {
  return {
    src: pixelUrl,
    alt: '',
    width: '1',
    height: '1',
    style:
      'display:block;width:1px;height:1px;max-width:1px;max-height:1px;border:0;' +
      'margin:0 0 -1px 0;padding:0;opacity:0;overflow:hidden',
  };
}
