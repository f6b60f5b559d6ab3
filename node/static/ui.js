/* fristed: small page helpers shared by every page script (DOM building and the string tables).
   No page logic and no network here. */
"use strict";

(function (global) {
  /** A new element with an optional class and text. */
  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  /** `strings[lang][key]` (Danish when missing), with `{name}` filled from `vars`. */
  function translate(strings, lang, key, vars) {
    const table = strings[lang] || strings.da;
    let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : strings.da[key] || key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, (whole, name) =>
        Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole);
    }
    return text;
  }

  global.fristedUi = { make: make, translate: translate };
})(window);
