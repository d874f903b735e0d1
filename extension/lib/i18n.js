// The extension's own words come from _locales/. In the extension this is chrome.i18n; in
// `node --test` the same message files are read through makeTranslator().

/** Return a translator `t(key, substitutions)` backed by chrome.i18n. */
export function chromeTranslator() {
  return (key, subs) => {
    const text = chrome.i18n.getMessage(key, subs === undefined ? undefined : [].concat(subs).map(String));
    return text || key;
  };
}

/**
 * Return a translator over a parsed messages.json, with chrome.i18n's placeholder rules:
 * `$NAME$` names a placeholder whose content is `$1`..`$9`, the substitutions.
 */
export function makeTranslator(messages) {
  return (key, subs) => {
    const entry = messages[key];
    if (!entry) return key;
    const values = subs === undefined ? [] : [].concat(subs).map(String);
    const fill = (s) => s.replace(/\$([1-9])/g, (_, i) => values[Number(i) - 1] ?? '');
    return entry.message.replace(/\$([A-Za-z0-9_@]+)\$/g, (whole, name) => {
      const ph = entry.placeholders && entry.placeholders[name.toLowerCase()];
      return ph ? fill(ph.content) : whole;
    }).replace(/\$\$/g, '$');
  };
}

/** Fill every element carrying data-i18n (text) or data-i18n-<attr> (attribute). */
export function localizePage(root, t) {
  for (const el of root.querySelectorAll('*')) {
    for (const { name, value } of [...el.attributes]) {
      if (name === 'data-i18n') el.textContent = t(value);
      else if (name.startsWith('data-i18n-')) el.setAttribute(name.slice(10), t(value));
    }
  }
}

/** The language of the extension's messages, for dates and numbers in the same sentences. */
export function uiLanguage() {
  try {
    // @@ui_locale is the locale chrome.i18n picked from _locales/, which can differ from
    // getUILanguage() (e.g. LANGUAGE=hi on Linux).
    return (chrome.i18n.getMessage('@@ui_locale') || chrome.i18n.getUILanguage()).replace('_', '-');
  } catch {
    return 'en';
  }
}
