/* fristed: small page helpers shared by every page script (DOM building, the string tables and
   times and durations as the pages show them). No page logic and no network here. */
"use strict";

(function (global) {
  /** The element with this id. */
  function byId(id) {
    return document.getElementById(id);
  }

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

  /** A conversation id as a Map key: always a string, whichever way it came. */
  function key(conversation) {
    return String(conversation);
  }

  /** Two digits: 7 -> "07". */
  function two(n) {
    return String(n).padStart(2, "0");
  }

  /** "21:05" for a Unix time, on this browser's clock. */
  function clockTime(ts) {
    const d = new Date(ts * 1000);
    return two(d.getHours()) + ":" + two(d.getMinutes());
  }

  /** A wait in Danish: "45 s", "3 min 07 s", "1 t 05 min". */
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) {
      return s + " s";
    }
    const m = Math.floor(s / 60);
    if (m < 60) {
      return m + " min " + two(s % 60) + " s";
    }
    return Math.floor(m / 60) + " t " + two(m % 60) + " min";
  }

  global.fristedUi = {
    byId: byId,
    make: make,
    translate: translate,
    key: key,
    two: two,
    clockTime: clockTime,
    duration: duration,
  };
})(window);
