// The console's core: translation and formats, the API client, the router
// and the page shell. Pages (pages.js) register in `Shequn.pages`. Every
// call goes to this server's public /v1 API with the session cookie; every
// write sends the session's CSRF token. Text is set as text, never as HTML.
"use strict";
(function () {
  const catalogues = window.SHEQUN_I18N;
  const stored = localStorage.getItem("shequn.lang");
  const browser = (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  const S = (window.Shequn = {
    lang: catalogues[stored] ? stored : browser,
    session: null,
    workspace: null,
    pages: {},
    asOf: null,
  });

  S.t = function (key, vars) {
    let s = catalogues[S.lang][key];
    if (s === undefined) {
      console.error("untranslated: " + key);
      return "\u27e6" + key + "\u27e7";
    }
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  };

  // Whether the open language has `key` (for codes that may be new).
  S.has = (key) => catalogues[S.lang][key] !== undefined;
  // An event type's name: built-in types are translated, others shown as sent.
  S.eventName = (type) => (S.has("event." + type) ? S.t("event." + type) : type);

  S.setLang = function (lang) {
    S.lang = lang;
    localStorage.setItem("shequn.lang", lang);
    document.documentElement.lang = lang;
    route();
  };

  // Formats: 1.2万 / 12K, ¥ from fen, 11月3日 / Nov 3.
  const SYMBOLS = { CNY: "¥", USD: "$", EUR: "€", JPY: "¥", HKD: "HK$", SGD: "S$", GBP: "£" };
  S.fmt = {
    num(n) {
      if (n === null || n === undefined) return "–";
      return new Intl.NumberFormat(S.lang, { notation: "compact", maximumFractionDigits: 1 }).format(n);
    },
    money(fen, currency) {
      if (fen === null || fen === undefined) return "–";
      const yuan = fen / 100;
      const sym = SYMBOLS[currency || "CNY"] || (currency || "") + " ";
      const f = Math.abs(yuan) >= 10000
        ? new Intl.NumberFormat(S.lang, { notation: "compact", maximumFractionDigits: 1 }).format(yuan)
        : new Intl.NumberFormat(S.lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(yuan);
      return sym + f;
    },
    pct(x) {
      return x === null || x === undefined || !isFinite(x) ? "–" : (x * 100).toFixed(1) + "%";
    },
    day(iso) {
      const d = new Date(iso + "T00:00:00Z");
      return new Intl.DateTimeFormat(S.lang, { month: "short", day: "numeric", timeZone: "UTC" }).format(d);
    },
    time(date) {
      return new Intl.DateTimeFormat(S.lang, { dateStyle: "medium", timeStyle: "short" }).format(date);
    },
  };

  // DOM: el("div", {class: "x", onclick: f}, "text", child…).
  S.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  };

  // Replaces a node's children, leaving out absent ones (null, false).
  S.fill = function (node, ...kids) {
    node.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  };

  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || "HTTP " + status);
      this.status = status;
      this.code = err.code || "http_" + status;
      this.details = err.details || [];
    }
  }

  // The message for an error code, translated when the catalogue has one.
  S.explain = function (e) {
    const key = "error." + (e.code || "generic");
    const fields = (e.details || []).map((d) => d.field).filter(Boolean);
    const code = (e.details || []).map((d) => d.code).find((c) => catalogues[S.lang]["error." + c] !== undefined);
    if (code) return S.t("error." + code);
    const base = catalogues[S.lang][key] !== undefined ? S.t(key) : S.t("error.generic", { code: e.code || e.message });
    return fields.length ? base + " (" + fields.join(", ") + ")" : base;
  };

  S.api = async function (method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && S.session) headers["X-CSRF-Token"] = S.session.csrf_token;
    const r = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const date = r.headers.get("Date");
    if (date) S.asOf = new Date(date);
    const text = await r.text();
    const json = text ? JSON.parse(text) : null;
    if (!r.ok) {
      const e = new ApiError(r.status, json);
      if (r.status === 401 && S.session) {
        S.session = null;
        go("signin", { reason: e.code === "session_expired" ? "expired" : "" });
      }
      throw e;
    }
    return json;
  };

  // Routes: #/<page>?<params>; params hold the filters, so reload, back and
  // shared links keep the view.
  function parse() {
    const h = location.hash.replace(/^#\/?/, "");
    const [name, query] = h.split("?");
    return { name: name || "overview", params: new URLSearchParams(query || "") };
  }

  function go(name, params) {
    const q = new URLSearchParams(params || {});
    for (const [k, v] of [...q.entries()]) if (v === "") q.delete(k);
    const s = q.toString();
    location.hash = "#/" + name + (s ? "?" + s : "");
  }
  S.go = go;

  S.setParams = function (changes) {
    const { name, params } = parse();
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || v === "") params.delete(k);
      else params.set(k, v);
    }
    go(name, Object.fromEntries(params));
  };

  async function ensureSession() {
    if (S.session) return true;
    try {
      S.session = await S.api("GET", "/v1/session");
      S.workspace = await S.api("GET", "/v1/workspace");
      return true;
    } catch (e) {
      return false;
    }
  }

  // The choices of the filter bar's scope (layers, tiers, campaigns,
  // groups), read once per workspace.
  S.lists = null;
  async function loadLists() {
    if (S.lists && S.lists.workspace === S.session.workspace.id) return;
    const page = async (path) => (await S.api("GET", path)).items;
    const [layers, tiers, campaigns, groups] = await Promise.all([
      page("/v1/layers?limit=200"), page("/v1/tiers"), page("/v1/campaigns?limit=200"), page("/v1/groups?limit=200"),
    ]);
    S.lists = { workspace: S.session.workspace.id, layers, tiers, campaigns, groups };
  }

  function shell(name, content) {
    const s = S.session;
    const nav = S.el("nav", {}, ...Object.entries(S.pages)
      .filter(([, p]) => p.nav)
      .sort(([, a], [, b]) => (a.order || 0) - (b.order || 0))
      .map(([n, p]) => S.el("a", { href: "#/" + n, class: n === name ? "on" : null }, S.t(p.nav))));
    const switcher = s.workspaces.length > 1
      ? S.el("select", {
          "aria-label": "workspace",
          onchange: async (ev) => {
            S.session = await S.api("POST", "/v1/session/workspace", { workspace_id: ev.target.value });
            S.workspace = await S.api("GET", "/v1/workspace");
            S.lists = null;
            route();
          },
        }, ...s.workspaces.map((w) => S.el("option", { value: w.id, selected: w.id === s.workspace.id }, w.name)))
      : S.el("span", {}, s.workspace.name);
    const top = S.el("div", { class: "top" },
      switcher,
      S.el("span", { id: "who" }, s.user.display_name || s.user.email),
      S.el("button", { id: "lang", onclick: () => S.setLang(S.lang === "en" ? "zh-CN" : "en") }, S.t("lang.switch")),
      S.el("button", {
        id: "signout",
        onclick: async () => {
          try { await S.api("DELETE", "/v1/session"); } finally { S.session = null; go("signin"); }
        },
      }, S.t("action.signout")));
    return S.el("div", { class: "shell" },
      S.el("aside", { class: "side" }, S.el("div", { class: "brand" }, S.t("app.name")), nav),
      S.el("main", { class: "main" }, top, content));
  }

  let generation = 0;
  async function route() {
    const mine = ++generation;
    const { name, params } = parse();
    const page = S.pages[name] || S.pages.overview;
    const root = document.getElementById("app");
    document.documentElement.lang = S.lang;
    if (page.public) {
      S.fill(root, page.render(params));
      return;
    }
    if (!(await ensureSession())) {
      if (mine === generation) go("signin");
      return;
    }
    if (mine !== generation) return;
    try {
      await loadLists();
    } catch (e) {
      S.lists = { workspace: S.session.workspace.id, layers: [], tiers: [], campaigns: [], groups: [] };
    }
    if (mine !== generation) return;
    const content = S.el("div", { id: "page", "data-page": name });
    S.fill(root, shell(name, content));
    try {
      await page.render(params, content);
      content.setAttribute("data-ready", "true");
    } catch (e) {
      if (e.status === 401) return;
      S.fill(content, S.el("div", { class: "state error" }, S.t("state.error", { message: S.explain(e) }),
        " ", S.el("button", { onclick: route }, S.t("action.retry"))));
      content.setAttribute("data-ready", "error");
    }
  }
  S.route = route;

  window.addEventListener("hashchange", route);
  window.addEventListener("DOMContentLoaded", route);
})();
