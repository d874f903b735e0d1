// Which recipients the user never wants tracked: the same rules as the server's
// backend/privacy.py (see docs/privacy.md). Pure, so the compose feature can decide at send
// time, synchronously, from settings the service worker cached beforehand.

// Country-code domains of the EU and EEA member states, and .eu itself. Greece's ccTLD is .gr.
export const EEA_TLDS = Object.freeze(
  new Set(
    'at be bg hr cy cz dk ee fi fr de gr hu ie it lv lt lu mt nl pl pt ro sk si es se is li no eu'.split(' '),
  ),
);

export const MAX_NEVER_TRACK = 1000;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const ADDRESS = /^[^@\s]{1,64}@(.+)$/;

export const DEFAULTS = Object.freeze({ never_track: Object.freeze([]), skip_eea: false });

/**
 * Put one never-track entry in the server's form (lower case, no leading `@`), or return null
 * if it is neither an address nor a domain.
 */
export function normalizeEntry(raw) {
  if (typeof raw !== 'string') return null;
  const entry = raw.trim().toLowerCase().replace(/^@/, '');
  const m = ADDRESS.exec(entry);
  return DOMAIN.test(m ? m[1] : entry) ? entry : null;
}

/**
 * Read the options page's text (one entry per line, or separated by commas or spaces) into
 * `{entries, invalid}`: normalised entries without repeats, and the pieces that are neither an
 * address nor a domain, as typed.
 */
export function parseNeverTrack(text) {
  const entries = [];
  const invalid = [];
  for (const piece of String(text || '').split(/[\s,;]+/)) {
    if (!piece) continue;
    const entry = normalizeEntry(piece);
    if (entry === null) invalid.push(piece);
    else if (!entries.includes(entry)) entries.push(entry);
  }
  return { entries, invalid };
}

/** Settings as the server shapes them, whatever was stored (missing fields take defaults). */
export function publicSettings(stored) {
  const s = stored && typeof stored === 'object' ? stored : {};
  return {
    never_track: Array.isArray(s.never_track) ? s.never_track.filter((e) => typeof e === 'string') : [],
    skip_eea: s.skip_eea === true,
  };
}

/** Whether the user asked never to track this recipient. */
export function excluded(address, settings) {
  if (typeof address !== 'string') return false;
  const addr = address.trim().toLowerCase();
  const domain = addr.slice(addr.lastIndexOf('@') + 1);
  const s = publicSettings(settings);
  for (const entry of s.never_track) {
    if (entry.includes('@')) {
      if (addr === entry) return true;
    } else if (domain === entry || domain.endsWith('.' + entry)) {
      return true;
    }
  }
  return s.skip_eea && EEA_TLDS.has(domain.slice(domain.lastIndexOf('.') + 1));
}

/** Track only when no recipient is excluded: one pixel cannot tell recipients apart. */
export function trackable(recipients, settings) {
  return ![...(recipients || [])].some((address) => excluded(address, settings));
}

/** The first recipient the settings exclude, or null when the email may be tracked. */
export function firstExcluded(recipients, settings) {
  return [...(recipients || [])].find((address) => excluded(address, settings)) ?? null;
}

/** The addresses of a compose's `{to, cc, bcc}` as one list. */
export function allRecipients(recipients) {
  const r = recipients || {};
  return [...(r.to || []), ...(r.cc || []), ...(r.bcc || [])];
}
