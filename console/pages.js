// The console's pages. Each reads the public /v1 API only.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt } = S;

  // ---- signing in, invitations, password resets ----------------------
  function authForm(title, fields, button, submit, note) {
    const msg = el("div", { class: "msg", role: "alert" });
    const form = el("form", {
      onsubmit: async (ev) => {
        ev.preventDefault();
        msg.textContent = "";
        const data = Object.fromEntries(new FormData(form).entries());
        try {
          await submit(data, msg);
        } catch (e) {
          msg.textContent = S.explain(e);
        }
      },
    }, ...fields, el("button", { class: "primary", type: "submit" }, button));
    return el("div", { class: "auth" }, el("h1", {}, title), note ? el("p", {}, note) : null, form, msg,
      el("div", { class: "lang" }, el("a", { href: location.hash, onclick: (ev) => {
        ev.preventDefault(); S.setLang(S.lang === "en" ? "zh-CN" : "en");
      } }, t("lang.switch"))));
  }

  function field(name, label, type, attrs) {
    return [el("label", { for: name }, label), el("input", Object.assign({ id: name, name, type }, attrs || {}))];
  }

  async function opened(view) {
    S.session = view;
    S.workspace = await S.api("GET", "/v1/workspace");
    S.go("overview");
  }

  S.pages.signin = {
    public: true,
    render(params) {
      const note = params.get("reason") === "expired" ? t("signin.expired") : null;
      return authForm(t("signin.title"), [
        field("email", t("signin.email"), "email", { autocomplete: "username", required: true }),
        field("password", t("signin.password"), "password", { autocomplete: "current-password", required: true }),
      ], t("action.signin"), async (d) => opened(await S.api("POST", "/v1/sessions", d)), note);
    },
  };

  S.pages.accept = {
    public: true,
    render(params) {
      return authForm(t("accept.title"), [
        field("email", t("signin.email"), "email", { autocomplete: "username" }),
        field("display_name", t("accept.name"), "text", {}),
        field("password", t("signin.password"), "password", { autocomplete: "new-password", required: true }),
      ], t("action.accept"), async (d) => {
        const body = { token: params.get("token") || "", password: d.password };
        if (d.email) body.email = d.email;
        if (d.display_name) body.display_name = d.display_name;
        opened(await S.api("POST", "/v1/invitations/accept", body));
      }, t("accept.hint"));
    },
  };

  S.pages.reset = {
    public: true,
    render(params) {
      return authForm(t("reset.title"), [
        field("password", t("signin.password"), "password", { autocomplete: "new-password", required: true }),
      ], t("action.reset"), async (d, msg) => {
        await S.api("POST", "/v1/password-resets/accept", { token: params.get("token") || "", password: d.password });
        S.go("signin");
      });
    },
  };

  // ---- the filter bar ------------------------------------------------
  // Today in the workspace's timezone, as YYYY-MM-DD.
  function today() {
    return new Intl.DateTimeFormat("en-CA", { timeZone: S.workspace.timezone }).format(new Date());
  }
  function addDays(iso, n) {
    const d = new Date(iso + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }
  function daysBetween(a, b) {
    return Math.round((new Date(b + "T00:00:00Z") - new Date(a + "T00:00:00Z")) / 86400000);
  }

  // The instant of local time `hm` (HH:MM) on `iso` (YYYY-MM-DD) in `tz`.
  function localInstant(iso, hm, tz) {
    const guess = Date.parse(iso + "T" + (hm || "00:00") + ":00Z");
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(guess)).map((x) => [x.type, x.value]));
    const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return new Date(guess - (local - guess));
  }
  const midnight = (iso, tz) => localInstant(iso, "00:00", tz);
  // An instant as the workspace's local "YYYY-MM-DDTHH:MM" (for datetime-local inputs).
  function localText(instant, tz) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(instant)).map((x) => [x.type, x.value]));
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }
  // A datetime-local input's value, read in the workspace's timezone (null when empty).
  S.fromLocal = (text) => (text ? localInstant(text.slice(0, 10), text.slice(11, 16), S.workspace.timezone).toISOString() : null);
  S.toLocal = (instant) => (instant ? localText(instant, S.workspace.timezone) : "");
  S.midnight = midnight;

  // Every item of a paged list (at most `pages` pages of 200).
  S.all = async function (path, pages) {
    const items = [];
    let cursor = null;
    for (let i = 0; i < (pages || 10); i++) {
      const sep = path.includes("?") ? "&" : "?";
      const r = await S.api("GET", path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...r.items);
      cursor = r.next_cursor;
      if (!cursor) break;
    }
    return items;
  };

  // The period the filters name, and the one before it of the same length.
  S.period = function (params) {
    const end = today();
    const preset = params.get("range") || "7d";
    let from, to = end;
    if (preset === "today") from = end;
    else if (preset === "30d") from = addDays(end, -29);
    else if (preset === "month") from = end.slice(0, 8) + "01";
    else if (preset === "custom" && params.get("from") && params.get("to")) {
      from = params.get("from");
      to = params.get("to");
    } else from = addDays(end, -6);
    const len = daysBetween(from, to) + 1;
    return { preset, from, to, prevFrom: addDays(from, -len), prevTo: addDays(from, -1) };
  };

  // The filter bar's scope as a query: layer, tier, campaign, group, staff.
  const SCOPE = [["layer", "layer_id"], ["tier", "tier"], ["campaign", "campaign_id"], ["group", "group_id"]];
  S.scope = function (params) {
    const q = new URLSearchParams();
    for (const [name, key] of SCOPE) if (params.get(name)) q.set(key, params.get(name));
    if (params.get("staff") === "1") q.set("include_staff", "true");
    const s = q.toString();
    return s ? "&" + s : "";
  };

  function scopeSelects(params) {
    const L = S.lists || { layers: [], tiers: [], campaigns: [], groups: [] };
    const options = {
      layer: L.layers.map((x) => [x.id, x.name]), tier: L.tiers.map((x) => [x.key, x.name]),
      campaign: L.campaigns.map((x) => [x.id, x.name]), group: L.groups.map((x) => [x.id, x.name]),
    };
    return [...SCOPE.map(([name]) => el("select", { id: "f-" + name, "aria-label": t("scope." + name),
      onchange: (ev) => S.setParams({ [name]: ev.target.value }) },
      el("option", { value: "" }, t("scope." + name)),
      ...options[name].map(([v, label]) => el("option", { value: v, selected: params.get(name) === v }, label)))),
      el("label", { class: "check" }, el("input", { type: "checkbox", id: "f-staff", checked: params.get("staff") === "1",
        onchange: (ev) => S.setParams({ staff: ev.target.checked ? "1" : "" }) }), " ", t("scope.staff"))];
  }

  S.filterBar = function (params, scoped) {
    const p = S.period(params);
    const presets = ["today", "7d", "30d", "month", "custom"].map((r) =>
      el("button", { "data-range": r, "aria-pressed": String(p.preset === r), onclick: () => S.setParams({ range: r }) },
        t("filter." + r)));
    const custom = p.preset === "custom"
      ? [el("label", {}, t("filter.from"), " ", el("input", { type: "date", id: "from", value: p.from })),
         el("label", {}, t("filter.to"), " ", el("input", { type: "date", id: "to", value: p.to })),
         el("button", { onclick: () => S.setParams({
           from: document.getElementById("from").value, to: document.getElementById("to").value }) }, t("filter.apply"))]
      : [];
    const interval = params.get("interval") || "day";
    const intervals = el("select", { id: "interval", "aria-label": t("filter.interval"),
      onchange: (ev) => S.setParams({ interval: ev.target.value }) },
      ...["day", "week", "month"].map((i) => el("option", { value: i, selected: i === interval }, t("interval." + i))));
    return el("div", { class: "filters" }, ...presets, ...custom, intervals,
      ...(scoped === false ? [] : scopeSelects(params)), el("span", { class: "asof", id: "asof" }));
  };

  function stamp() {
    const s = document.getElementById("asof");
    if (s && S.asOf) s.textContent = t("asof", { time: fmt.time(S.asOf) });
  }

  // Days bucketed by week or month: flows summed, stocks and rates averaged.
  function bucket(days, interval, keys) {
    if (interval === "day") return days;
    const out = [];
    for (const d of days) {
      const k = interval === "month" ? d.date.slice(0, 7) + "-01" : weekStart(d.date);
      let b = out.length && out[out.length - 1].date === k ? out[out.length - 1] : null;
      if (!b) { b = { date: k, _n: 0 }; out.push(b); }
      b._n += 1;
      for (const [key, how] of Object.entries(keys)) {
        const v = d[key];
        if (v === null || v === undefined) continue;
        if (how === "last") b[key] = v;
        else if (how === "sum") b[key] = (b[key] || 0) + v;
        else b[key] = ((b[key] || 0) * (b._n - 1) + v) / b._n;
      }
    }
    return out;
  }
  function weekStart(iso) {
    const d = new Date(iso + "T00:00:00Z");
    const back = (d.getUTCDay() + 6) % 7;
    return addDays(iso, -back);
  }

  // ---- charts ----------------------------------------------------------
  S.chart = function (node, dates, series, money) {
    const c = echarts.init(node, null, { renderer: "canvas" });
    c.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 28 },
      toolbox: { feature: { saveAsImage: { title: t("chart.save") } } },
      xAxis: { type: "category", data: dates.map(fmt.day) },
      yAxis: { type: "value", axisLabel: { formatter: (v) => (money ? fmt.money(v) : fmt.num(v)) } },
      series: series.map((s) => ({ type: s.type || "line", name: s.name, data: s.data, smooth: true, showSymbol: false })),
    });
    new ResizeObserver(() => c.resize()).observe(node);
    node.setAttribute("data-drawn", "true");
    window.shequnDrawnAt = performance.now();
    return c;
  };

  // ---- overview ---------------------------------------------------------
  const sum = (days, k) => days.reduce((a, d) => a + (d[k] || 0), 0);
  const mean = (days, k) => {
    const v = days.map((d) => d[k]).filter((x) => x !== null && x !== undefined);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const last = (days, k) => {
    for (let i = days.length - 1; i >= 0; i--) if (days[i][k] !== null && days[i][k] !== undefined) return days[i][k];
    return null;
  };

  function figures(activity, growth, commerce) {
    const buyers = sum(commerce.days, "buyers");
    return {
      members: last(growth.days, "members_end"),
      dau: mean(activity.days, "dau"),
      active_rate: mean(activity.days, "active_rate"),
      joins: sum(growth.days, "joins"),
      gmv: sum(commerce.days, "gmv"),
      orders: sum(commerce.days, "orders"),
      conversion: activity.active_members ? buyers / activity.active_members : null,
    };
  }

  function kpi(key, value, previous, format) {
    let delta;
    if (previous === null || previous === undefined || previous === 0 || value === null) {
      delta = el("div", { class: "delta" }, t("kpi.no_previous"));
    } else {
      const change = (value - previous) / Math.abs(previous);
      const sign = change > 0 ? "+" : "";
      delta = el("div", { class: "delta " + (change >= 0 ? "up" : "down") },
        t("kpi.vs_previous", { change: sign + (change * 100).toFixed(1) + "%" }));
    }
    return el("div", { class: "kpi", "data-kpi": key, "data-value": value === null ? "" : String(value) },
      el("div", { class: "label" }, t("kpi." + key)), el("div", { class: "value" }, format(value)), delta);
  }

  S.pages.overview = {
    nav: "nav.overview",
    order: 1,
    async render(params, root) {
      const p = S.period(params);
      const interval = params.get("interval") || "day";
      S.fill(root, el("h1", {}, t("overview.title")), S.filterBar(params),
        el("div", { class: "state" }, t("state.loading")));
      const scope = S.scope(params);
      const q = (from, to) => "?from=" + from + "&to=" + to + scope;
      const [a, g, c, pa, pg, pc] = await Promise.all([
        S.api("GET", "/v1/metrics/activity" + q(p.from, p.to)),
        S.api("GET", "/v1/metrics/growth" + q(p.from, p.to)),
        S.api("GET", "/v1/metrics/commerce" + q(p.from, p.to)),
        S.api("GET", "/v1/metrics/activity" + q(p.prevFrom, p.prevTo)),
        S.api("GET", "/v1/metrics/growth" + q(p.prevFrom, p.prevTo)),
        S.api("GET", "/v1/metrics/commerce" + q(p.prevFrom, p.prevTo)),
      ]);
      const now = figures(a, g, c);
      const before = figures(pa, pg, pc);
      const currency = c.currency || S.workspace.currency;
      const cards = el("div", { class: "kpis" },
        kpi("members", now.members, before.members, fmt.num),
        kpi("dau", now.dau, before.dau, (v) => fmt.num(v === null ? null : Math.round(v))),
        kpi("active_rate", now.active_rate, before.active_rate, fmt.pct),
        kpi("joins", now.joins, before.joins, fmt.num),
        kpi("gmv", now.gmv, before.gmv, (v) => fmt.money(v, currency)),
        kpi("orders", now.orders, before.orders, fmt.num),
        kpi("conversion", now.conversion, before.conversion, fmt.pct));
      const empty = a.days.every((d) => !d.dau) && g.days.every((d) => !d.members_end) && c.days.every((d) => !d.gmv);
      const charts = el("div", { class: "charts" });
      S.fill(root, ...[el("h1", {}, t("overview.title")), S.filterBar(params),
        a.pending || c.pending ? el("div", { class: "state", id: "pending" }, t("state.pending")) : null,
        cards, empty ? el("div", { class: "state", id: "empty" }, t("state.empty")) : charts].filter(Boolean));
      stamp();
      if (empty) return;
      const act = bucket(a.days, interval, { dau: "mean", wau: "mean", mau: "mean" });
      const gro = bucket(g.days, interval, { members_end: "last", joins: "sum", leaves: "sum" });
      const com = bucket(c.days, interval, { gmv: "sum", orders: "sum" });
      const card = (id, title) => {
        const node = el("div", { class: "chart", id });
        charts.append(el("div", { class: "card" }, el("h2", {}, title), node));
        return node;
      };
      S.chart(card("chart-activity", t("chart.activity")), act.map((d) => d.date), [
        { name: t("series.dau"), data: act.map((d) => d.dau) },
        { name: t("series.wau"), data: act.map((d) => d.wau) },
        { name: t("series.mau"), data: act.map((d) => d.mau) },
      ]);
      S.chart(card("chart-members", t("chart.members")), gro.map((d) => d.date), [
        { name: t("series.members"), data: gro.map((d) => d.members_end) },
        { name: t("series.joins"), data: gro.map((d) => d.joins), type: "bar" },
        { name: t("series.leaves"), data: gro.map((d) => d.leaves), type: "bar" },
      ]);
      S.chart(card("chart-gmv", t("chart.gmv")), com.map((d) => d.date), [
        { name: t("series.gmv"), data: com.map((d) => d.gmv), type: "bar" },
      ], true);
      await Promise.all([healthCard(charts, p, scope), sopCard(charts)]);
    },
  };

  // Dead and declining groups of the period, worst first.
  async function healthCard(parent, p, scope) {
    const h = await S.api("GET", "/v1/metrics/groups/health?from=" + p.from + "&to=" + p.to + (scope || ""));
    const bad = h.items.filter((g) => g.status !== "healthy").slice(0, 8);
    const counts = el("div", { class: "counts" }, ...["dead", "declining", "healthy"].map((k) =>
      el("span", { class: "count " + k, "data-health": k, "data-value": String(h.counts[k]) },
        t("health." + k) + " " + fmt.num(h.counts[k]))));
    const list = bad.length
      ? el("table", { class: "table" }, el("tbody", {}, ...bad.map((g) =>
          el("tr", {}, el("td", {}, g.name), el("td", { class: "status " + g.status }, t("health." + g.status)),
            el("td", { class: "num" }, String(Math.round(g.score)))))))
      : el("div", { class: "state" }, t("health.none"));
    parent.append(el("div", { class: "card", id: "card-health" }, el("h2", {}, t("card.health")), counts, list));
  }

  // Today's SOP sends by state.
  async function sopCard(parent) {
    const day = today();
    const from = S.midnight(day, S.workspace.timezone).toISOString();
    const to = S.midnight(addDays(day, 1), S.workspace.timezone).toISOString();
    const items = await S.all("/v1/deliveries?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to), 10);
    const by = { sent: 0, failed: 0, pending: 0 };
    for (const d of items) {
      if (["sent", "confirmed"].includes(d.state)) by.sent += 1;
      else if (["failed", "dead", "missed", "uncertain"].includes(d.state)) by.failed += 1;
      else by.pending += 1;
    }
    parent.append(el("div", { class: "card", id: "card-sop" }, el("h2", {}, t("card.sop")),
      el("div", { class: "counts" }, ...Object.entries(by).map(([k, v]) =>
        el("span", { class: "count " + k, "data-sop": k, "data-value": String(v) }, t("sop." + k) + " " + fmt.num(v))))));
  }

  // ---- groups -------------------------------------------------------------
  const GROUP_COLUMNS = [
    ["name", "text"], ["platform", "text"], ["tier", "text"], ["region", "text"], ["category", "text"],
    ["member_count", "num"], ["score", "num"], ["health", "text"],
  ];

  S.pages.groups = {
    nav: "nav.groups",
    order: 2,
    async render(params, root) {
      const p = S.period(params);
      const f = (k) => params.get(k) || "";
      const [tiers, staff] = await Promise.all([S.api("GET", "/v1/tiers"), S.all("/v1/staff", 5)]);
      const layers = (S.lists && S.lists.layers) || [];
      const select = (name, options) => el("select", { id: "f-" + name, "aria-label": t("groups.filter." + name),
        onchange: (ev) => S.setParams({ [name]: ev.target.value }) },
        el("option", { value: "" }, t("groups.filter." + name)),
        ...options.map(([v, label]) => el("option", { value: v, selected: f(name) === v }, label)));
      const text = (name) => el("input", { id: "f-" + name, value: f(name), placeholder: t("groups.filter." + name),
        onchange: (ev) => S.setParams({ [name]: ev.target.value }) });
      const bar = el("div", { class: "filters" },
        text("q"),
        select("platform", ["wecom", "telegram", "slack", "feishu", "generic"].map((x) => [x, t("platform." + x)])),
        select("tier", (tiers.items || []).map((x) => [x.key, x.name])),
        select("layer", layers.map((x) => [x.id, x.name])),
        select("owner", staff.map((x) => [x.id, x.name])),
        text("region"), text("category"),
        select("status", ["active", "archived"].map((x) => [x, t("groups.status." + x)])),
        select("health", ["healthy", "declining", "dead"].map((x) => [x, t("health." + x)])));
      S.fill(root, el("h1", {}, t("nav.groups")), S.filterBar(params, false), bar,
        el("div", { class: "state" }, t("state.loading")));
      const q = new URLSearchParams();
      for (const k of ["q", "platform", "tier", "region", "category", "status"]) if (f(k)) q.set(k, f(k));
      if (f("owner")) q.set("owner_staff_id", f("owner"));
      const [groups, health, inLayer] = await Promise.all([
        S.all("/v1/groups?" + q.toString(), 10),
        S.api("GET", "/v1/metrics/groups/health?from=" + p.from + "&to=" + p.to),
        f("layer") ? S.all("/v1/layers/" + f("layer") + "/groups", 10) : Promise.resolve(null),
      ]);
      const byId = Object.fromEntries(health.items.map((h) => [h.group_id, h]));
      const tierName = Object.fromEntries((tiers.items || []).map((x) => [x.key, x.name]));
      let rows = groups.map((g) => Object.assign({}, g, {
        score: byId[g.id] ? Math.round(byId[g.id].score) : null,
        health: byId[g.id] ? byId[g.id].status : null,
      }));
      if (f("health")) rows = rows.filter((r) => r.health === f("health"));
      if (inLayer) {
        const ids = new Set(inLayer.map((g) => g.id));
        rows = rows.filter((r) => ids.has(r.id));
      }
      const sort = f("sort") || "member_count";
      const dir = f("dir") === "asc" ? 1 : -1;
      rows.sort((a, b) => {
        const x = a[sort], y = b[sort];
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
      const head = el("tr", {}, ...GROUP_COLUMNS.map(([k, kind]) => el("th", {
        "data-sort": k, class: [k === sort ? "sorted" : "", kind === "num" ? "num" : ""].join(" ").trim() || null,
        onclick: () => S.setParams({ sort: k, dir: k === sort && dir === -1 ? "asc" : "desc" }),
      }, t("groups.col." + k) + (k === sort ? (dir === -1 ? " ↓" : " ↑") : ""))));
      const cell = (r, k) => {
        if (k === "platform") return t("platform." + r.platform);
        if (k === "health") return r.health ? t("health." + r.health) : "–";
        if (k === "tier") return r.tier ? tierName[r.tier] || r.tier : "–";
        if (k === "member_count" || k === "score") return r[k] === null ? "–" : fmt.num(r[k]);
        return r[k] || "–";
      };
      const body = el("tbody", {}, ...rows.map((r) => el("tr", { "data-group": r.id, class: "link",
        onclick: () => S.go("group", { id: r.id }) },
        ...GROUP_COLUMNS.map(([k, kind]) => el("td", { class: kind === "num" ? "num" : null, "data-col": k }, cell(r, k))))));
      q.set("format", "csv");
      S.fill(root, el("h1", {}, t("nav.groups")), S.filterBar(params, false), bar,
        el("div", { class: "tools" }, el("span", { id: "count" }, t("groups.count", { n: rows.length })),
          el("a", { href: "/v1/groups?" + q.toString(), download: "groups.csv", class: "button", id: "csv" }, t("action.csv"))),
        rows.length ? el("table", { class: "table", id: "groups" }, el("thead", {}, head), body)
          : el("div", { class: "state", id: "empty" }, t("groups.empty")));
      stamp();
    },
  };
  // ---- members ------------------------------------------------------------
  const when = (iso) => (iso ? fmt.time(new Date(iso)) : "–");

  function table(id, columns, rows, cell, onRow) {
    if (!rows.length) return el("div", { class: "state", id: id + "-empty" }, t("state.none"));
    return el("table", { class: "table", id },
      el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, t(c))))),
      el("tbody", {}, ...rows.map((r) => el("tr", { class: onRow ? "link" : null, onclick: onRow ? () => onRow(r) : null },
        ...columns.map((c) => el("td", {}, cell(r, c)))))));
  }

  S.pages.members = {
    nav: "nav.members",
    order: 3,
    async render(params, root) {
      const q = params.get("q") || "";
      const tier = params.get("tier") || "";
      const search = el("input", { id: "f-q", value: q, placeholder: t("members.search"),
        onchange: (ev) => S.setParams({ q: ev.target.value, cursor: "" }) });
      const tiers = (S.lists && S.lists.tiers) || [];
      const tierSel = el("select", { id: "f-tier", "aria-label": t("scope.tier"),
        onchange: (ev) => S.setParams({ tier: ev.target.value, cursor: "" }) },
        el("option", { value: "" }, t("scope.tier")),
        ...tiers.map((x) => el("option", { value: x.key, selected: x.key === tier }, x.name)));
      const filters = new URLSearchParams();
      if (q) filters.set("q", q);
      if (tier) filters.set("tier", tier);
      const query = new URLSearchParams(filters);
      query.set("limit", "100");
      if (params.get("cursor")) query.set("cursor", params.get("cursor"));
      const page = await S.api("GET", "/v1/members?" + query.toString());
      const tierName = Object.fromEntries(tiers.map((x) => [x.key, x.name]));
      const cols = ["members.col.name", "members.col.tier", "members.col.platforms", "members.col.phone",
        "members.col.last_active", "members.col.first_seen"];
      const cell = (m, c) => ({
        "members.col.name": m.display_name || "–",
        "members.col.tier": m.tier ? tierName[m.tier] || m.tier : "–",
        "members.col.platforms": m.identities.map((i) => t("platform." + i.platform)).join(" · ") || "–",
        "members.col.phone": m.phone || m.email || "–",
        "members.col.last_active": when(m.last_active_at),
        "members.col.first_seen": when(m.first_seen_at),
      })[c];
      filters.set("format", "csv");
      S.fill(root, el("h1", {}, t("nav.members")),
        el("div", { class: "filters" }, search, tierSel,
          el("a", { href: "/v1/members?" + filters.toString(), download: "members.csv", class: "button", id: "csv" }, t("action.csv"))),
        table("members", cols, page.items, cell, (m) => S.go("member", { id: m.id })),
        el("div", { class: "filters" },
          params.get("cursor") ? el("button", { id: "first-page", onclick: () => S.setParams({ cursor: "" }) }, t("action.first_page")) : null,
          page.next_cursor ? el("button", { id: "next-page", onclick: () => S.setParams({ cursor: page.next_cursor }) },
            t("action.next_page")) : null));
    },
  };

  S.pages.member = {
    async render(params, root) {
      const id = params.get("id") || "";
      const [m, points, memberships, tiers, timeline, engagement] = await Promise.all([
        S.api("GET", "/v1/members/" + id),
        S.api("GET", "/v1/members/" + id + "/points"),
        S.api("GET", "/v1/members/" + id + "/memberships?limit=50"),
        S.api("GET", "/v1/members/" + id + "/tier-history?limit=50"),
        S.api("GET", "/v1/members/" + id + "/timeline?limit=50"),
        S.api("GET", "/v1/metrics/members/" + id + "/engagement"),
      ]);
      const facts = el("div", { class: "kpis" },
        el("div", { class: "kpi", "data-fact": "tier" }, el("div", { class: "label" }, t("members.col.tier")),
          el("div", { class: "value" }, m.tier || "–")),
        el("div", { class: "kpi", "data-fact": "points", "data-value": String(points.balance) },
          el("div", { class: "label" }, t("member.points")), el("div", { class: "value" }, fmt.num(points.balance))),
        el("div", { class: "kpi", "data-fact": "engagement", "data-value": String(engagement.level) },
          el("div", { class: "label" }, t("member.engagement")),
          el("div", { class: "value" }, t("member.level", { level: engagement.level })),
          el("div", { class: "delta" }, t("member.active_days", { n: engagement.active_days }))));
      const ids = el("div", { class: "card" }, el("h2", {}, t("member.identities")),
        el("p", {}, m.identities.map((i) => t("platform." + i.platform) + " " + i.external_id).join(" · ") || "–"),
        el("p", {}, [m.phone, m.email].filter(Boolean).join(" · ") || "–"));
      const stints = el("div", { class: "card" }, el("h2", {}, t("member.memberships")),
        table("memberships", ["member.group", "member.joined", "member.left", "member.source"], memberships.items,
          (x, c) => ({ "member.group": x.group_name || x.group_id, "member.joined": when(x.joined_at),
            "member.left": when(x.left_at), "member.source": x.source || "–" })[c]));
      const history = el("div", { class: "card" }, el("h2", {}, t("member.tier_history")),
        table("tier-history", ["member.changed", "member.from", "member.to", "member.reason"], tiers.items,
          (x, c) => ({ "member.changed": when(x.changed_at), "member.from": x.from_tier || "–",
            "member.to": x.to_tier || "–", "member.reason": x.reason || "–" })[c]));
      const events = el("div", { class: "card" }, el("h2", {}, t("member.timeline")),
        table("timeline", ["member.when", "member.event", "member.amount"], timeline.items,
          (x, c) => ({ "member.when": when(x.occurred_at), "member.event": S.eventName(x.type),
            "member.amount": x.amount === null || x.amount === undefined ? "–" : fmt.money(x.amount, x.currency) })[c]));
      S.fill(root, el("h1", {}, m.display_name || t("member.unnamed")), facts,
        el("div", { class: "charts" }, ids, stints, history, events));
    },
  };

  // ---- settings -------------------------------------------------------------
  const TABS = ["workspace", "users", "keys", "connections", "webhooks", "audit"];

  S.pages.settings = {
    nav: "nav.settings",
    order: 9,
    async render(params, root) {
      const tab = TABS.includes(params.get("tab")) ? params.get("tab") : "workspace";
      const tabs = el("div", { class: "filters" }, ...TABS.map((x) =>
        el("button", { "data-tab": x, "aria-pressed": String(x === tab), onclick: () => S.setParams({ tab: x }) },
          t("settings." + x))));
      const body = el("div", { id: "settings-body" });
      S.fill(root, el("h1", {}, t("nav.settings")), tabs, body);
      const admin = ["admin", "owner"].includes(S.session.workspace.role);
      if (tab !== "workspace" && tab !== "connections" && !admin) {
        S.fill(body, el("div", { class: "state", id: "needs-admin" }, t("settings.needs_admin")));
        return;
      }
      await SETTINGS[tab](body, admin);
    },
  };

  function shown(secretLabel, value) {
    return el("div", { class: "card secret", id: "secret" }, el("h2", {}, secretLabel),
      el("input", { readonly: true, value, id: "secret-value" }), el("p", {}, t("settings.shown_once")));
  }

  const SETTINGS = {
    async workspace(body, admin) {
      const w = S.workspace;
      const exp = (w.points && w.points.expiry) || { kind: "never" };
      const input = (name, value, attrs) => el("input", Object.assign({ name, id: "ws-" + name, value: value === undefined ? "" : value,
        disabled: !admin }, attrs || {}));
      const select = (name, values, value, prefix) => el("select", { name, id: "ws-" + name, disabled: !admin },
        ...values.map((v) => el("option", { value: v, selected: v === value }, t(prefix + v))));
      const row = (key, control) => el("tr", {}, el("th", {}, t(key)), el("td", {}, control));
      const msg = el("div", { class: "msg", role: "status", id: "ws-msg" });
      const form = el("form", { id: "workspace", onsubmit: async (ev) => {
        ev.preventDefault();
        const d = Object.fromEntries(new FormData(form).entries());
        const kind = d.expiry_kind;
        const expiry = kind === "after_days" ? { kind, days: Number(d.expiry_n) }
          : kind === "end_of_year_after" ? { kind, years: Number(d.expiry_n) } : { kind: "never" };
        try {
          S.workspace = await S.api("PATCH", "/v1/workspace", { name: d.name, timezone: d.timezone, currency: d.currency,
            week_start: d.week_start, points: { clawback: d.clawback, expiry } });
          msg.textContent = t("settings.saved");
        } catch (e) { msg.textContent = S.explain(e); }
      } }, el("table", { class: "table" }, el("tbody", {},
        row("settings.ws.name", input("name", w.name)),
        row("settings.ws.timezone", input("timezone", w.timezone)),
        row("settings.ws.currency", input("currency", w.currency, { maxlength: 3 })),
        row("settings.ws.week_start", select("week_start", ["monday", "sunday", "saturday"], w.week_start, "week.")),
        row("settings.ws.points_expiry", el("span", {},
          select("expiry_kind", ["never", "after_days", "end_of_year_after"], exp.kind, "expiry."), " ",
          input("expiry_n", exp.days !== undefined ? exp.days : exp.years !== undefined ? exp.years : "", { type: "number", min: 0, max: 3650 }))),
        row("settings.ws.points_clawback", select("clawback", ["allow_negative", "floor_zero"], (w.points && w.points.clawback) || "allow_negative", "clawback.")))),
        admin ? el("button", { class: "primary", type: "submit" }, t("settings.save")) : null, msg);
      S.fill(body, form);
    },
    async webhooks(body) {
      const [endpoints, messages, spec] = await Promise.all([
        S.api("GET", "/v1/webhook-endpoints?limit=200"), S.api("GET", "/v1/webhook-messages?limit=50"),
        S.api("GET", "/openapi.json"),
      ]);
      const types = Object.keys(spec.webhooks || {}).sort();
      const fail = (e) => body.prepend(el("div", { class: "state error" }, S.explain(e)));
      const act = (method, path, payload, after) => async () => {
        try {
          const r = await S.api(method, path, payload);
          if (after) after(r); else S.route();
        } catch (e) { fail(e); }
      };
      const add = el("div", { class: "card", id: "new-endpoint" }, el("h2", {}, t("settings.add_endpoint")),
        S.editForm("endpoint-form", [
          ["settings.webhook_url", input("url", "", { type: "url", required: true, placeholder: "https://shop.example.com/hooks/shequn" })],
          ["settings.description", input("description", "", { maxlength: 500 })],
          ["settings.event_types", el("select", { name: "types", id: "in-types", multiple: true, size: Math.min(8, types.length + 1) },
            el("option", { value: "*", selected: true }, t("settings.all_events")), ...types.map((x) => el("option", { value: x }, x)))],
          ["settings.include_pii", el("input", { type: "checkbox", name: "include_pii", id: "in-include_pii" })],
        ], t("settings.add_endpoint"), async (d, form) => {
          const chosen = [...form.querySelector("#in-types").selectedOptions].map((o) => o.value);
          const r = await S.api("POST", "/v1/webhook-endpoints", { url: d.url, description: d.description,
            event_types: chosen.includes("*") || !chosen.length ? ["*"] : chosen, include_pii: !!d.include_pii });
          body.prepend(shown(t("settings.signing_secret"), r.secret));
        }));
      const actions = (x) => el("span", { class: "actions" },
        el("button", { "data-endpoint": x.id, "data-act": "toggle",
          onclick: act("PATCH", "/v1/webhook-endpoints/" + x.id, { enabled: !x.enabled }) },
          t(x.enabled ? "settings.disable" : "settings.enable")), " ",
        el("button", { "data-endpoint": x.id, "data-act": "test",
          onclick: act("POST", "/v1/webhook-endpoints/" + x.id + "/test", {}) }, t("settings.send_test")), " ",
        el("button", { "data-endpoint": x.id, "data-act": "rotate",
          onclick: act("POST", "/v1/webhook-endpoints/" + x.id + "/rotate-secret", {},
            (r) => body.prepend(shown(t("settings.signing_secret"), r.secret))) }, t("settings.rotate")), " ",
        el("button", { "data-endpoint": x.id, "data-act": "delete", onclick: async () => {
          if (confirm(t("settings.confirm_delete"))) await act("DELETE", "/v1/webhook-endpoints/" + x.id)();
        } }, t("settings.delete")));
      const detail = el("div", { id: "message-detail" });
      const open = async (m) => {
        try {
          const full = await S.api("GET", "/v1/webhook-messages/" + m.id);
          const attempts = full.attempts || [];
          S.fill(detail, el("div", { class: "card" }, el("h2", {}, m.type + " · " + m.id),
            el("pre", { class: "payload" }, JSON.stringify(full.data, null, 2)),
            table("attempts", ["member.when", "settings.webhook_url", "settings.status_code", "settings.latency", "settings.error"],
              attempts, (a, c) => ({ "member.when": when(a.started_at),
                "settings.webhook_url": (endpoints.items.find((x) => x.id === a.endpoint_id) || {}).url || "–",
                "settings.status_code": a.status_code === null || a.status_code === undefined ? "–" : String(a.status_code),
                "settings.latency": a.latency_ms === null || a.latency_ms === undefined ? "–" : a.latency_ms + " ms",
                "settings.error": a.error || "–" })[c]),
            el("div", { class: "filters" }, el("button", { id: "retry-message",
              onclick: act("POST", "/v1/webhook-messages/" + m.id + "/retry", {}) }, t("settings.resend")))));
          detail.scrollIntoView();
        } catch (e) { fail(e); }
      };
      S.fill(body, add,
        el("h2", { class: "section" }, t("settings.endpoints")),
        table("endpoints", ["settings.webhook_url", "settings.event_types", "settings.status", "settings.last_success", "settings.actions"],
          endpoints.items, (x, c) => ({
            "settings.webhook_url": x.url, "settings.event_types": (x.event_types || []).includes("*") ? t("settings.all_events")
              : (x.event_types || []).join(", "),
            "settings.status": x.enabled ? (x.failing_since ? t("settings.failing") : t("status.active")) : t("status.disabled"),
            "settings.last_success": when(x.last_success_at), "settings.actions": actions(x) })[c]),
        el("h2", { class: "section" }, t("settings.messages")),
        table("messages", ["member.when", "member.event", "settings.deliveries"], messages.items, (m, c) => ({
          "member.when": when(m.created_at), "member.event": m.type,
          "settings.deliveries": (m.endpoints || []).map((d) => t("dispatch." + d.status) + (d.last_status_code ? " " + d.last_status_code : "")).join(" · ") || "–",
        })[c], open), detail);
    },
    async users(body, admin) {
      const users = await S.api("GET", "/v1/users?limit=200");
      const roles = ["viewer", "operator", "admin", "owner"];
      const me = S.session.user.id;
      const invite = el("form", { class: "filters", id: "invite", onsubmit: async (ev) => {
        ev.preventDefault();
        const d = Object.fromEntries(new FormData(ev.target).entries());
        try {
          const r = await S.api("POST", "/v1/users", { email: d.email, role: d.role });
          // This page's own origin: the server may not know the address it is reached at.
          body.prepend(shown(t("settings.invite_link"), location.origin + "/#/accept?token=" + r.token));
        } catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
      } }, el("input", { name: "email", type: "email", required: true, placeholder: t("signin.email") }),
        el("select", { name: "role" }, ...roles.map((r) => el("option", { value: r, selected: r === "operator" }, t("role." + r)))),
        el("button", { class: "primary", type: "submit" }, t("settings.invite")));
      const change = async (u, patch) => {
        try { await S.api("PATCH", "/v1/users/" + u.id, patch); S.route(); }
        catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const rows = users.items.map((u) => el("tr", { "data-user": u.email },
        el("td", {}, u.email), el("td", {}, u.display_name || "–"),
        el("td", {}, admin && u.id !== me
          ? el("select", { onchange: (ev) => change(u, { role: ev.target.value }) },
              ...roles.map((r) => el("option", { value: r, selected: r === u.role }, t("role." + r))))
          : t("role." + u.role)),
        el("td", {}, t("status." + u.status)), el("td", {}, when(u.last_sign_in_at)),
        el("td", {}, admin && u.id !== me
          ? el("button", { onclick: () => change(u, { disabled: u.status === "active" }) },
              t(u.status === "active" ? "settings.disable" : "settings.enable"))
          : "")));
      const invitations = await S.api("GET", "/v1/invitations");
      const pending = invitations.items.filter((i) => i.status === "pending");
      S.fill(body, invite, el("table", { class: "table", id: "users" },
        el("thead", {}, el("tr", {}, ...["signin.email", "accept.name", "settings.role", "settings.status",
          "settings.last_sign_in", "settings.actions"].map((k) => el("th", {}, t(k))))),
        el("tbody", {}, ...rows)),
        el("h2", { class: "section" }, t("settings.invitations")),
        table("invitations", ["signin.email", "settings.role", "settings.expires", "settings.actions"], pending, (i, c) => ({
          "signin.email": i.email || t("settings.any_email"), "settings.role": t("role." + i.role),
          "settings.expires": when(i.expires_at),
          "settings.actions": admin ? el("button", { onclick: async () => {
            try { await S.api("DELETE", "/v1/invitations/" + i.id); S.route(); }
            catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
          } }, t("settings.revoke")) : "",
        })[c]));
    },
    async keys(body) {
      const keys = await S.api("GET", "/v1/api-keys?limit=200");
      const create = el("form", { class: "filters", id: "new-key", onsubmit: async (ev) => {
        ev.preventDefault();
        const d = Object.fromEntries(new FormData(ev.target).entries());
        try {
          const r = await S.api("POST", "/v1/api-keys", { role: d.role, name: d.name });
          body.prepend(shown(t("settings.new_key"), r.key));
        } catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
      } }, el("input", { name: "name", placeholder: t("settings.key_name") }),
        el("select", { name: "role" }, ...["viewer", "operator", "admin", "owner"].map((r) =>
          el("option", { value: r }, t("role." + r)))),
        el("button", { class: "primary", type: "submit" }, t("settings.create_key")));
      S.fill(body, create, table("keys", ["settings.key_name", "settings.prefix", "settings.role",
        "settings.last_used", "settings.actions"], keys.items, (k, c) => ({
        "settings.key_name": k.name || "–", "settings.prefix": k.prefix + "…", "settings.role": t("role." + k.role),
        "settings.last_used": when(k.last_used_at),
        "settings.actions": k.revoked_at ? t("settings.revoked") : el("button", { onclick: async () => {
          try { await S.api("DELETE", "/v1/api-keys/" + k.id); S.route(); }
          catch (e) { body.prepend(el("div", { class: "state error" }, S.explain(e))); }
        } }, t("settings.revoke")),
      })[c]));
    },
    async connections(body) {
      const cs = await S.api("GET", "/v1/connections?limit=200");
      S.fill(body, table("connections", ["settings.conn_name", "groups.col.platform", "settings.status",
        "settings.last_request", "settings.webhook_url"], cs.items, (x, c) => ({
        "settings.conn_name": x.name, "groups.col.platform": t("platform." + x.platform), "settings.status": x.status,
        "settings.last_request": when(x.last_received_at),
        "settings.webhook_url": el("input", { readonly: true, value: x.webhook_url, class: "url" }),
      })[c]));
    },
    async audit(body) {
      const log = await S.api("GET", "/v1/audit-log?limit=100");
      S.fill(body, el("div", { class: "tools" }, el("span", {}),
        el("a", { href: "/v1/audit-log?format=csv", download: "audit-log.csv", class: "button", id: "csv-audit" }, t("action.csv"))),
        table("audit", ["member.when", "settings.actor", "settings.action", "settings.resource"],
        log.items, (x, c) => ({ "member.when": when(x.occurred_at), "settings.actor": t("actor." + x.actor_type),
          "settings.action": x.action, "settings.resource": x.resource_type })[c]));
    },
  };
  // ---- retention -----------------------------------------------------------
  S.pages.retention = {
    nav: "nav.retention",
    order: 5,
    async render(params, root) {
      const pick = (name, values, dflt) => {
        const v = values.includes(params.get(name)) ? params.get(name) : dflt;
        return [v, el("select", { id: "f-" + name, "aria-label": t("retention." + name),
          onchange: (ev) => S.setParams({ [name]: ev.target.value }) },
          ...values.map((x) => el("option", { value: x, selected: x === v }, t("retention." + name + "." + x))))];
      };
      const [period, periodSel] = pick("period", ["day", "week", "month"], "week");
      const [cohort, cohortSel] = pick("cohort", ["join", "first_activity"], "join");
      const [measure, measureSel] = pick("measure", ["active", "member"], "active");
      const periods = period === "day" ? 14 : period === "week" ? 8 : 6;
      const q = new URLSearchParams({ period, cohort, measure, periods: String(periods) });
      const r = await S.api("GET", "/v1/metrics/retention?" + q.toString());
      const csv = "/v1/metrics/retention?format=csv&" + q.toString();
      const bar = el("div", { class: "filters" }, periodSel, cohortSel, measureSel,
        el("a", { href: csv, download: "retention.csv", class: "button" }, t("action.csv")),
        el("span", { class: "asof", id: "asof" }));
      const node = el("div", { class: "chart tall", id: "chart-retention" });
      const rows = r.cohorts.filter((c) => c.size > 0);
      S.fill(root, el("h1", {}, t("nav.retention")), bar,
        r.pending ? el("div", { class: "state" }, t("state.pending")) : null,
        rows.length ? el("div", { class: "card" }, el("h2", {}, t("retention.title")),
          el("p", { class: "note" }, t("retention.note")), node)
          : el("div", { class: "state", id: "empty" }, t("state.empty")));
      stamp();
      if (!rows.length) return;
      // Cells: [period k, cohort row, rate %]; periods not begun are left
      // empty and those still running are marked, never drawn as 0 %.
      const data = [];
      rows.forEach((c, y) => c.rates.forEach((rate, k) => {
        if (rate === null) return;
        data.push({ value: [k, y, Math.round(rate * 1000) / 10], incomplete: c.incomplete[k] });
      }));
      const chart = echarts.init(node);
      chart.setOption({
        animation: false,
        tooltip: { formatter: (p) => rows[p.value[1]].start + " · " + t("retention.period_n", { k: p.value[0] }) + ": " +
          p.value[2] + "%" + (p.data.incomplete ? " (" + t("retention.in_progress") + ")" : "") },
        grid: { left: 120, right: 16, top: 8, bottom: 80 },
        xAxis: { type: "category", data: r.cohorts[0].rates.map((_, k) => t("retention.period_n", { k })) },
        yAxis: { type: "category", inverse: true,
          data: rows.map((c) => fmt.day(c.start) + " (" + fmt.num(c.size) + ")") },
        visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0,
          inRange: { color: ["#e8f0fe", "#1456f0"] }, text: ["100%", "0%"] },
        // A running period is marked, and never drawn as 0 %.
        series: [{ type: "heatmap", data, label: { show: true,
          formatter: (p) => (p.data.incomplete && p.value[2] === 0 ? t("retention.in_progress")
            : p.value[2] + "%" + (p.data.incomplete ? "*" : "")) } }],
      });
      new ResizeObserver(() => chart.resize()).observe(node);
      node.setAttribute("data-drawn", "true");
      node.setAttribute("data-cells", String(data.length));
      node.setAttribute("data-incomplete", String(data.filter((d) => d.incomplete).length));
    },
  };

  // ---- forms ------------------------------------------------------------------
  // A labelled form: rows of [labelKey, control]; `submit(data, form)` saves,
  // its error is shown under the form, translated.
  S.editForm = function (id, rows, button, submit) {
    const msg = el("div", { class: "msg full", role: "status", id: id + "-msg" });
    const form = el("form", { class: "edit", id, onsubmit: async (ev) => {
      ev.preventDefault();
      msg.className = "msg full";
      msg.textContent = "";
      try {
        await submit(Object.fromEntries(new FormData(form).entries()), form);
        msg.className = "msg full ok";
        msg.textContent = t("settings.saved");
      } catch (e) {
        msg.className = "msg full err";
        msg.textContent = S.explain(e);
      }
    } }, ...rows.flatMap(([key, control]) => [el("label", { for: control.id || null }, t(key)), control]),
      el("div", { class: "full" }, el("button", { class: "primary", type: "submit" }, button)), msg);
    return form;
  };
  const input = (name, value, attrs) => el("input", Object.assign({ name, id: "in-" + name,
    value: value === null || value === undefined ? "" : value }, attrs || {}));
  const choose = (name, values, value, label) => el("select", { name, id: "in-" + name },
    ...values.map((v) => el("option", { value: v, selected: v === value }, label(v))));
  const numberOrNull = (v) => (v === "" || v === undefined ? null : Number(v));
  S.canWrite = () => S.session.workspace.role !== "viewer";

  // ---- campaigns -----------------------------------------------------------
  const KINDS = ["check_in", "coupon", "flash_sale", "lottery", "group_buy", "referral", "content", "custom"];
  const SCENES = ["activity", "retention", "conversion", "fission"];
  // The legal status changes (campaigns/model.rs `can_transition`).
  const NEXT = { draft: ["scheduled", "running", "cancelled"], scheduled: ["draft", "running", "cancelled"],
    running: ["ended", "cancelled"], ended: [], cancelled: [] };

  function campaignForm(c) {
    const layers = (S.lists && S.lists.layers) || [];
    const target = c && c.target && c.target.layer_id ? c.target.layer_id : "";
    const rows = [
      ["campaigns.col.name", input("name", c ? c.name : "", { required: true, maxlength: 200 })],
      ["campaign.description", input("description", c ? c.description : "", { maxlength: 4000 })],
    ];
    if (!c) {
      rows.push(["campaigns.col.kind", choose("kind", KINDS, "check_in", (k) => t("kind." + k))],
        ["campaign.scene", choose("scene", SCENES, "activity", (k) => t("scene." + k))]);
    }
    rows.push(
      ["campaign.starts_at", input("starts_at", c ? S.toLocal(c.starts_at) : "", { type: "datetime-local" })],
      ["campaign.ends_at", input("ends_at", c ? S.toLocal(c.ends_at) : "", { type: "datetime-local" })],
      ["campaign.target", el("select", { name: "layer", id: "in-layer" }, el("option", { value: "" }, t("campaign.all_groups")),
        ...layers.map((l) => el("option", { value: l.id, selected: l.id === target }, l.name)))]);
    if (c && c.target && c.target.group_ids) rows.pop(); // chosen groups are kept as they are
    return el("div", { class: "card", id: c ? "edit-campaign" : "new-campaign" },
      el("h2", {}, t(c ? "campaign.edit" : "campaign.new")),
      S.editForm(c ? "campaign-form" : "new-campaign-form", rows, t(c ? "settings.save" : "campaign.create"), async (d) => {
        const body = { name: d.name, description: d.description, starts_at: S.fromLocal(d.starts_at), ends_at: S.fromLocal(d.ends_at) };
        if (d.layer !== undefined) body.target = d.layer ? { layer_id: d.layer } : null;
        if (c) {
          await S.api("PATCH", "/v1/campaigns/" + c.id, body);
        } else {
          body.kind = d.kind;
          body.scene = d.scene;
          const made = await S.api("POST", "/v1/campaigns", body);
          S.lists = null;
          S.go("campaign", { id: made.id });
        }
      }));
  }

  S.pages.campaigns = {
    nav: "nav.campaigns",
    order: 7,
    async render(params, root) {
      const status = params.get("status") || "";
      const list = await S.api("GET", "/v1/campaigns?limit=200" + (status ? "&status=" + status : ""));
      const cols = ["campaigns.col.name", "campaigns.col.kind", "campaigns.col.status", "campaigns.col.period",
        "campaigns.col.code"];
      const cell = (c, k) => ({
        "campaigns.col.name": c.name, "campaigns.col.kind": t("kind." + c.kind), "campaigns.col.status": t("cstatus." + c.status),
        "campaigns.col.period": (c.starts_at ? when(c.starts_at) : "–") + " → " + (c.ends_at ? when(c.ends_at) : "–"),
        "campaigns.col.code": c.tracking_code,
      })[k];
      const adding = params.get("new") === "1";
      S.fill(root, el("h1", {}, t("nav.campaigns")),
        el("div", { class: "filters" },
          el("select", { id: "f-status", "aria-label": t("campaigns.col.status"), onchange: (ev) => S.setParams({ status: ev.target.value }) },
            el("option", { value: "" }, t("campaign.all_statuses")),
            ...Object.keys(NEXT).map((x) => el("option", { value: x, selected: x === status }, t("cstatus." + x)))),
          S.canWrite() ? el("button", { id: "add-campaign", "aria-pressed": String(adding),
            onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("campaign.new")) : null,
          el("a", { href: "#/mall", class: "button", id: "to-mall" }, t("nav.mall")),
          el("a", { href: "/v1/campaigns?format=csv" + (status ? "&status=" + status : ""), download: "campaigns.csv",
            class: "button", id: "csv" }, t("action.csv"))),
        adding ? campaignForm(null) : null,
        table("campaigns", cols, list.items, cell, (c) => S.go("campaign", { id: c.id })));
    },
  };

  // A check-in campaign's rules, saved whole.
  function checkInForm(c) {
    const st = c.settings || {};
    const mk = st.makeup || null;
    const rewards = (st.streak_rewards || []).map((r) => r.day + ":" + r.points).join(", ");
    return el("div", { class: "card", id: "checkin-rules" }, el("h2", {}, t("checkin.rules")),
      S.editForm("checkin-form", [
        ["checkin.points", input("points", st.points, { type: "number", min: 0, max: 100000, required: true })],
        ["checkin.streak_rewards", input("streak_rewards", rewards, { placeholder: "3:20, 7:50" })],
        ["checkin.cycle_days", input("cycle_days", st.cycle_days, { type: "number", min: 1, max: 366 })],
        ["checkin.day_starts_at", input("day_starts_at", st.day_starts_at || "00:00", { type: "time" })],
        ["checkin.keywords", input("keywords", (st.keywords || []).join(", "))],
        ["checkin.makeup", el("span", {}, el("label", { class: "check" }, el("input", { type: "checkbox", name: "makeup", id: "in-makeup",
          checked: !!mk }), " ", t("checkin.makeup_on")), " ",
          t("checkin.makeup_max"), " ", input("max_per_month", mk ? mk.max_per_month : 2, { type: "number", min: 0, max: 31, class: "short" }), " ",
          t("checkin.makeup_within"), " ", input("within_days", mk ? mk.within_days : 7, { type: "number", min: 1, max: 31, class: "short" }), " ",
          t("checkin.makeup_cost"), " ", input("cost_points", mk ? mk.cost_points : 0, { type: "number", min: 0, class: "short" }))],
      ], t("settings.save"), async (d) => {
        const streak = d.streak_rewards.split(/[,，\s]+/).filter(Boolean).map((x) => {
          const [day, points] = x.split(/[:：]/);
          return { day: Number(day), points: Number(points) };
        });
        const settings = Object.assign({}, st, {
          points: Number(d.points), streak_rewards: streak, cycle_days: numberOrNull(d.cycle_days),
          day_starts_at: d.day_starts_at || "00:00",
          keywords: d.keywords.split(/[,，]/).map((k) => k.trim()).filter(Boolean),
          makeup: d.makeup ? { max_per_month: Number(d.max_per_month), within_days: Number(d.within_days),
            cost_points: Number(d.cost_points) } : null,
        });
        await S.api("PATCH", "/v1/campaigns/" + c.id, { settings });
      }));
  }

  S.pages.campaign = {
    async render(params, root) {
      const id = params.get("id") || "";
      const c = await S.api("GET", "/v1/campaigns/" + id);
      const write = S.canWrite();
      const setStatus = (to) => async () => {
        try {
          await S.api("POST", "/v1/campaigns/" + id + "/status", { status: to });
          S.lists = null;
          S.route();
        } catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const head = [el("h1", {}, c.name), el("p", { class: "note" }, t("kind." + c.kind) + " · " + t("scene." + c.scene) + " · " +
        c.tracking_code),
        el("div", { class: "filters", id: "status-actions" },
          el("span", { class: "status", id: "campaign-status", "data-status": c.status }, t("cstatus." + c.status)),
          ...(write ? NEXT[c.status] : []).map((to) => el("button", { "data-to": to, onclick: setStatus(to) }, t("campaign.to." + to))))];
      const editable = write && !["ended", "cancelled"].includes(c.status);
      const edits = editable ? [campaignForm(c), c.kind === "check_in" ? checkInForm(c) : null] : [];
      if (c.kind !== "check_in") {
        S.fill(root, ...head, el("div", { class: "state" }, t("campaign.no_mechanics")), ...edits);
        return;
      }
      const p = S.period(params);
      const stats = await S.api("GET", "/v1/campaigns/" + id + "/check-ins/stats?from=" + p.from + "&to=" + p.to);
      const csv = "/v1/campaigns/" + id + "/check-ins/stats?format=csv&from=" + p.from + "&to=" + p.to;
      const fact = (key, value, shownAs) => el("div", { class: "kpi", "data-stat": key, "data-value": String(value) },
        el("div", { class: "label" }, t("checkin." + key)), el("div", { class: "value" }, shownAs));
      const node = el("div", { class: "chart", id: "chart-checkins" });
      S.fill(root, ...head, S.filterBar(params, false),
        el("div", { class: "kpis" },
          fact("check_ins", stats.check_ins, fmt.num(stats.check_ins)),
          fact("members", stats.members, fmt.num(stats.members)),
          fact("points_awarded", stats.points_awarded, fmt.num(stats.points_awarded)),
          fact("participation_rate", stats.participation_rate, fmt.pct(stats.participation_rate))),
        el("div", { class: "tools" }, el("span", {}), el("a", { href: csv, download: "check-ins.csv", class: "button" }, t("action.csv"))),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("checkin.daily")), node),
          el("div", { class: "card" }, el("h2", {}, t("checkin.streaks")),
            table("streaks", ["checkin.streak", "checkin.members"], stats.streaks, (b, k) => ({
              "checkin.streak": b.max === null ? b.min + "+" : b.min === b.max ? String(b.min) : b.min + "–" + b.max,
              "checkin.members": fmt.num(b.members) })[k]))),
        ...edits);
      stamp();
      S.chart(node, stats.days.map((d) => d.day), [
        { name: t("checkin.participants"), data: stats.days.map((d) => d.participants), type: "bar" },
        { name: t("checkin.first_time"), data: stats.days.map((d) => d.first_time) },
        { name: t("checkin.makeups"), data: stats.days.map((d) => d.makeups) },
      ]);
    },
  };

  // ---- points mall ---------------------------------------------------------
  const ITEM_NEXT = { active: ["paused", "archived"], paused: ["active", "archived"], archived: ["active"] };

  function itemForm() {
    return el("div", { class: "card", id: "new-item" }, el("h2", {}, t("mall.new_item")),
      S.editForm("item-form", [
        ["mall.col.name", input("name", "", { required: true, maxlength: 200 })],
        ["mall.kind", choose("kind", ["goods", "custom"], "goods", (k) => t("mall.kind." + k))],
        ["mall.col.cost", input("points_cost", "", { type: "number", min: 1, required: true })],
        ["mall.col.stock", input("stock", "", { type: "number", min: 0, placeholder: t("mall.unlimited") })],
        ["mall.limit", el("span", {}, input("limit_count", "", { type: "number", min: 1, class: "short" }), " ",
          choose("limit_period", ["day", "week", "month", "ever"], "ever", (k) => t("mall.period." + k)))],
        ["mall.auto_fulfil", el("input", { type: "checkbox", name: "auto_fulfil", id: "in-auto_fulfil" })],
      ], t("mall.create"), async (d) => {
        await S.api("POST", "/v1/mall/items", { name: d.name, kind: d.kind, points_cost: Number(d.points_cost),
          stock: numberOrNull(d.stock), auto_fulfil: !!d.auto_fulfil,
          per_member_limit: d.limit_count ? { count: Number(d.limit_count), period: d.limit_period } : null });
        S.setParams({ new: "" });
      }));
  }

  S.pages.mall = {
    async render(params, root) {
      const [items, redemptions] = await Promise.all([
        S.api("GET", "/v1/mall/items?limit=200"),
        S.api("GET", "/v1/mall/redemptions?limit=50"),
      ]);
      const write = S.canWrite();
      const act = (method, path, body) => async () => {
        try { await S.api(method, path, body); S.route(); }
        catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const names = Object.fromEntries(items.items.map((i) => [i.id, i.name]));
      const adding = params.get("new") === "1";
      S.fill(root, el("h1", {}, t("nav.mall")),
        write ? el("div", { class: "filters" }, el("button", { id: "add-item", "aria-pressed": String(adding),
          onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("mall.new_item"))) : null,
        adding ? itemForm() : null,
        el("div", { class: "card" }, el("h2", {}, t("mall.items")),
          table("items", ["mall.col.name", "mall.col.cost", "mall.col.stock", "mall.col.redeemed", "mall.col.status", "settings.actions"],
            items.items, (i, k) => ({ "mall.col.name": i.name, "mall.col.cost": fmt.num(i.points_cost),
              "mall.col.stock": i.stock === null || i.stock === undefined ? "∞" : fmt.num(i.stock),
              "mall.col.redeemed": fmt.num(i.redeemed), "mall.col.status": t("item." + i.status),
              "settings.actions": write ? el("span", {}, ...(ITEM_NEXT[i.status] || []).map((to) =>
                el("button", { "data-item": i.id, "data-to": to, onclick: act("PATCH", "/v1/mall/items/" + i.id, { status: to }) },
                  t("mall.to." + to)))) : "" })[k])),
        el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("mall.redemptions")),
          el("a", { href: "/v1/mall/redemptions?format=csv", download: "redemptions.csv", class: "button", id: "csv-redemptions" },
            t("action.csv"))),
          table("redemptions", ["member.when", "mall.col.name", "mall.col.quantity", "mall.col.points", "mall.col.status", "settings.actions"],
            redemptions.items, (r, k) => ({ "member.when": when(r.created_at), "mall.col.name": names[r.item_id] || "–",
              "mall.col.quantity": String(r.quantity), "mall.col.points": fmt.num(r.points_spent),
              "mall.col.status": t("redemption." + r.status),
              "settings.actions": write && r.status === "pending_fulfilment" ? el("span", {},
                el("button", { "data-fulfil": r.id, onclick: act("POST", "/v1/mall/redemptions/" + r.id + "/fulfil", {}) }, t("mall.fulfil")), " ",
                el("button", { "data-cancel": r.id, onclick: act("POST", "/v1/mall/redemptions/" + r.id + "/cancel", {}) }, t("mall.cancel")))
                : "" })[k])));
    },
  };
  // ---- points rules and automatic tiers ---------------------------------------
  const METRICS = ["gmv", "orders", "points_earned", "active_days"];

  // An earning rule as `PUT` takes it (a rule is replaced whole).
  function ruleInput(r, changes) {
    const base = { name: r.name, trigger: r.trigger, status: r.status, tiers: r.tiers, group_ids: r.group_ids,
      starts_at: r.starts_at, ends_at: r.ends_at };
    const kind = r.trigger === "order_paid" ? { points_per_unit: r.points_per_unit, unit: r.unit }
      : { event_type: r.event_type, points: r.points, daily_cap: r.daily_cap };
    return Object.assign(base, kind, changes || {});
  }

  function earnsText(r, currency) {
    if (r.trigger === "order_paid") return t("loyalty.per_unit", { points: r.points_per_unit, unit: fmt.money(r.unit, currency) });
    return t("loyalty.per_event", { points: r.points, type: S.eventName(r.event_type) }) +
      (r.daily_cap ? " · " + t("loyalty.cap", { n: r.daily_cap }) : "");
  }

  function conditionText(c, currency) {
    const min = c.metric === "gmv" ? fmt.money(c.min, currency) : fmt.num(c.min);
    return t("metric." + c.metric) + " ≥ " + min + " (" + t("loyalty.days", { n: c.days }) + ")";
  }

  // A member's figure against a rule's minimum: "GMV ¥1,200.00 (≥ ¥1,000.00, 90 days)".
  function readingText(w, currency) {
    const show = (v) => (w.metric === "gmv" ? fmt.money(v, currency) : fmt.num(v));
    return t("metric." + w.metric) + " " + show(w.value) + " (" + (w.met ? "≥ " : "< ") + show(w.min) + ", " +
      t("loyalty.days", { n: w.days }) + ")";
  }

  // The tier rules as rows the page edits: tier, all/any, conditions.
  function tierRuleRow(rule, tiers) {
    const join = rule && rule.when && rule.when.any ? "any" : "all";
    const conds = (rule && rule.when && (rule.when.all || rule.when.any)) || [{ metric: "gmv", days: 90, min: 0 }];
    const list = el("div", { class: "conds" });
    const cond = (c) => el("div", { class: "cond" },
      el("select", { class: "c-metric", "aria-label": t("loyalty.metric") },
        ...METRICS.map((m) => el("option", { value: m, selected: m === c.metric }, t("metric." + m)))),
      " ≥ ", el("input", { class: "c-min short", type: "number", min: 0, value: c.metric === "gmv" ? c.min / 100 : c.min,
        "aria-label": t("loyalty.min") }),
      " ", t("loyalty.within"), " ", el("input", { class: "c-days short", type: "number", min: 1, max: 366, value: c.days,
        "aria-label": t("loyalty.days_label") }), " ", t("funnel.days"),
      el("button", { type: "button", class: "remove", onclick: (ev) => ev.target.closest(".cond").remove() }, "×"));
    list.append(...conds.map(cond));
    return el("div", { class: "tier-rule", "data-id": (rule && rule.id) || "" },
      el("select", { class: "r-tier", "aria-label": t("scope.tier") },
        ...tiers.map((x) => el("option", { value: x.key, selected: rule && rule.tier === x.key }, x.name))),
      el("select", { class: "r-join", "aria-label": t("loyalty.join") },
        ...["all", "any"].map((j) => el("option", { value: j, selected: j === join }, t("loyalty.join." + j)))),
      list,
      el("button", { type: "button", class: "add-cond", onclick: () => list.append(cond({ metric: "orders", days: 90, min: 1 })) },
        t("loyalty.add_condition")),
      el("button", { type: "button", class: "remove-rule", onclick: (ev) => ev.target.closest(".tier-rule").remove() },
        t("settings.delete")));
  }

  function readTierRules(node) {
    return [...node.querySelectorAll(".tier-rule")].map((r) => {
      const conds = [...r.querySelectorAll(".cond")].map((c) => {
        const metric = c.querySelector(".c-metric").value;
        const min = Number(c.querySelector(".c-min").value);
        return { metric, days: Number(c.querySelector(".c-days").value), min: metric === "gmv" ? Math.round(min * 100) : min };
      });
      const rule = { tier: r.querySelector(".r-tier").value, when: { [r.querySelector(".r-join").value]: conds } };
      if (r.dataset.id) rule.id = r.dataset.id;
      return rule;
    });
  }

  S.pages.loyalty = {
    nav: "nav.loyalty",
    order: 7.5,
    async render(params, root) {
      const [rules, tierRules, tiers] = await Promise.all([
        S.api("GET", "/v1/points-rules?limit=200"), S.api("GET", "/v1/tier-rules"), S.api("GET", "/v1/tiers"),
      ]);
      const admin = ["admin", "owner"].includes(S.session.workspace.role);
      const cur = S.workspace.currency;
      const fail = (e) => root.prepend(el("div", { class: "state error" }, S.explain(e)));
      const act = (method, path, body) => async () => {
        try { await S.api(method, path, body); S.route(); } catch (e) { fail(e); }
      };
      const tierName = Object.fromEntries(tiers.items.map((x) => [x.key, x.name]));
      const addRule = el("div", { class: "card", id: "new-rule" }, el("h2", {}, t("loyalty.new_rule")),
        S.editForm("rule-form", [
          ["common.name", input("name", "", { required: true, maxlength: 200 })],
          ["loyalty.trigger", choose("trigger", ["order_paid", "event"], "order_paid", (x) => t("loyalty.trigger." + x))],
          ["loyalty.points_per_unit", el("span", {}, input("points_per_unit", 1, { type: "number", min: 1, class: "short" }), " ",
            t("loyalty.per"), " ", input("unit", 1, { type: "number", min: 0.01, step: 0.01, class: "short" }), " ", cur)],
          ["loyalty.event_type", input("event_type", "", { placeholder: "custom.shared" })],
          ["loyalty.points", input("points", "", { type: "number", min: 1 })],
          ["loyalty.daily_cap", input("daily_cap", "", { type: "number", min: 1 })],
        ], t("loyalty.create_rule"), async (d) => {
          const body = d.trigger === "order_paid"
            ? { name: d.name, trigger: d.trigger, points_per_unit: Number(d.points_per_unit), unit: Math.round(Number(d.unit) * 100) }
            : { name: d.name, trigger: d.trigger, event_type: d.event_type, points: Number(d.points), daily_cap: numberOrNull(d.daily_cap) };
          await S.api("POST", "/v1/points-rules", body);
          S.route();
        }));
      const ruleTable = table("rules", ["common.name", "loyalty.earns", "loyalty.scope", "settings.status", "settings.actions"],
        rules.items, (r, k) => ({
          "common.name": r.name, "loyalty.earns": earnsText(r, cur),
          "loyalty.scope": [(r.tiers || []).map((x) => tierName[x] || x).join("、"),
            r.group_ids ? t("loyalty.groups_n", { n: r.group_ids.length }) : ""].filter(Boolean).join(" · ") || t("loyalty.everyone"),
          "settings.status": t("pstatus." + r.status),
          "settings.actions": admin ? el("span", {},
            el("button", { "data-rule": r.id, "data-act": "toggle", onclick: act("PUT", "/v1/points-rules/" + r.id,
              ruleInput(r, { status: r.status === "active" ? "paused" : "active" })) },
              t(r.status === "active" ? "loyalty.pause" : "loyalty.resume")), " ",
            el("button", { "data-rule": r.id, "data-act": "delete", onclick: async () => {
              if (confirm(t("loyalty.confirm_delete"))) await act("DELETE", "/v1/points-rules/" + r.id)();
            } }, t("settings.delete"))) : "" })[k]);

      // Tier rules: read as sentences, edited as rows, previewed before applying.
      const editing = el("div", { id: "tier-rules" }, ...tierRules.rules.map((r) => tierRuleRow(r, tiers.items)));
      const preview = el("div", { id: "evaluation" });
      const evaluate = (dry) => async () => {
        try {
          const r = await S.api("POST", "/v1/tier-rules/evaluate", { dry_run: dry });
          S.fill(preview, el("p", { class: "note", id: "evaluation-summary", "data-changed": String(r.changed) },
            t(dry ? "loyalty.would_change" : "loyalty.changed", { n: r.changed, members: r.members, grace: r.in_grace, locked: r.locked })),
            table("moves", ["members.col.name", "loyalty.from", "loyalty.to", "loyalty.why"], r.changes.slice(0, 50), (m, k) => ({
              "members.col.name": el("a", { href: "#/member?id=" + m.member_id }, m.member_id.slice(0, 8)),
              "loyalty.from": m.from ? tierName[m.from] || m.from : "–", "loyalty.to": m.to ? tierName[m.to] || m.to : "–",
              "loyalty.why": (m.why || []).map((w) => readingText(w, cur)).join("; ") || t("loyalty.by_default") })[k]));
        } catch (e) { fail(e); }
      };
      const settings = S.editForm("tier-form", [
        ["loyalty.rules", el("div", {}, editing, admin ? el("button", { type: "button", id: "add-tier-rule",
          onclick: () => editing.append(tierRuleRow(null, tiers.items)) }, t("loyalty.add_tier_rule")) : null)],
        ["loyalty.default_tier", el("select", { name: "default_tier", id: "in-default_tier" }, el("option", { value: "" }, t("loyalty.leave")),
          ...tiers.items.map((x) => el("option", { value: x.key, selected: x.key === tierRules.default_tier }, x.name)))],
        ["loyalty.grace", input("downgrade_grace_days", tierRules.downgrade_grace_days || 0, { type: "number", min: 0, max: 366 })],
        ["loyalty.lock", input("manual_lock_days", tierRules.manual_lock_days || 0, { type: "number", min: 0, max: 3660 })],
        ["loyalty.enabled", el("input", { type: "checkbox", name: "enabled", id: "in-enabled", checked: tierRules.enabled !== false })],
      ], t("settings.save"), async (d, form) => {
        await S.api("PUT", "/v1/tier-rules", { rules: readTierRules(form), default_tier: d.default_tier || null,
          downgrade_grace_days: Number(d.downgrade_grace_days), manual_lock_days: Number(d.manual_lock_days), enabled: !!d.enabled });
      });
      S.fill(root, el("h1", {}, t("nav.loyalty")),
        el("div", { class: "card" }, el("h2", {}, t("loyalty.earning")), el("p", { class: "note" }, t("loyalty.earning_note")),
          ruleTable), admin ? addRule : null,
        el("div", { class: "card", id: "tiers-card" }, el("h2", {}, t("loyalty.tiers")),
          el("ul", { class: "sentences", id: "tier-sentences" }, ...tierRules.rules.map((r) => el("li", {},
            (tierName[r.tier] || r.tier) + ": " + (r.when.all || r.when.any).map((c) => conditionText(c, cur))
              .join(r.when.all ? t("loyalty.and") : t("loyalty.or"))))),
          admin ? settings : null,
          el("div", { class: "filters" },
            el("button", { id: "dry-run", onclick: evaluate(true) }, t("loyalty.preview")),
            admin ? el("button", { id: "apply", onclick: async () => {
              if (confirm(t("loyalty.confirm_apply"))) await evaluate(false)();
            } }, t("loyalty.apply")) : null),
          preview));
    },
  };

  // ---- activity, commerce, funnels ------------------------------------------
  function breakdown(name, values, params) {
    const v = values.includes(params.get("by")) ? params.get("by") : values[0];
    return [v, el("select", { id: "f-by", "aria-label": t("by.label"), onchange: (ev) => S.setParams({ by: ev.target.value }) },
      ...values.map((x) => el("option", { value: x, selected: x === v }, t("by." + x))))];
  }

  // Names for breakdown keys: groups and campaigns by id, tiers by key.
  async function keyNames(by) {
    if (by === "group") return Object.fromEntries((await S.all("/v1/groups", 5)).map((g) => [g.id, g.name]));
    if (by === "campaign") return Object.fromEntries((await S.all("/v1/campaigns", 5)).map((c) => [c.id, c.name]));
    const tiers = await S.api("GET", "/v1/tiers");
    return Object.fromEntries(tiers.items.map((x) => [x.key, x.name]));
  }
  const keyLabel = (names, key) => names[key] || (key === "none" ? t("by.none") : key === "organic" ? t("by.organic") : key);

  S.pages.activity = {
    nav: "nav.activity",
    order: 4,
    async render(params, root) {
      const p = S.period(params);
      const [by, bySel] = breakdown("by", ["tier", "group"], params);
      const q = "?from=" + p.from + "&to=" + p.to + "&by=" + by + S.scope(params);
      const [a, names] = await Promise.all([S.api("GET", "/v1/metrics/activity" + q), keyNames(by)]);
      const node = el("div", { class: "chart", id: "chart-activity" });
      const dist = el("div", { class: "chart", id: "chart-active-days" });
      S.fill(root, el("h1", {}, t("nav.activity")), S.filterBar(params),
        el("div", { class: "filters" }, bySel, el("a", { href: "/v1/metrics/activity" + q + "&format=csv",
          download: "activity.csv", class: "button" }, t("action.csv"))),
        a.pending ? el("div", { class: "state" }, t("state.pending")) : null,
        el("div", { class: "kpis" },
          el("div", { class: "kpi", "data-kpi": "active_members", "data-value": String(a.active_members) },
            el("div", { class: "label" }, t("activity.active_members")), el("div", { class: "value" }, fmt.num(a.active_members))),
          el("div", { class: "kpi", "data-kpi": "stickiness", "data-value": a.stickiness === null ? "" : String(a.stickiness) },
            el("div", { class: "label" }, t("activity.stickiness")), el("div", { class: "value" }, fmt.pct(a.stickiness)))),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("chart.activity")), node),
          el("div", { class: "card" }, el("h2", {}, t("activity.distribution")), dist)),
        el("div", { class: "card" }, el("h2", {}, t("by." + by)),
          table("rows", ["by.key", "activity.members", "activity.active_members", "kpi.active_rate", "activity.messages"],
            a.rows || [], (r, k) => ({ "by.key": keyLabel(names, r.key), "activity.members": fmt.num(r.members),
              "activity.active_members": fmt.num(r.active_members), "kpi.active_rate": fmt.pct(r.active_rate),
              "activity.messages": fmt.num(r.messages) })[k])));
      stamp();
      S.chart(node, a.days.map((d) => d.date), [
        { name: t("series.dau"), data: a.days.map((d) => d.dau) },
        { name: t("series.wau"), data: a.days.map((d) => d.wau) },
        { name: t("series.mau"), data: a.days.map((d) => d.mau) },
      ]);
      const buckets = a.active_days_distribution;
      const c = echarts.init(dist);
      c.setOption({ animation: false, tooltip: {}, grid: { left: 48, right: 16, top: 16, bottom: 28 },
        xAxis: { type: "category", data: buckets.map((b) => t("activity.days_n", { n: b.active_days })) },
        yAxis: { type: "value" }, series: [{ type: "bar", name: t("activity.members"), data: buckets.map((b) => b.members) }] });
      new ResizeObserver(() => c.resize()).observe(dist);
    },
  };

  S.pages.commerce = {
    nav: "nav.commerce",
    order: 6,
    async render(params, root) {
      const p = S.period(params);
      const [by, bySel] = breakdown("by", ["campaign", "tier", "group"], params);
      const q = "?from=" + p.from + "&to=" + p.to + "&by=" + by + S.scope(params);
      const [c, names] = await Promise.all([S.api("GET", "/v1/metrics/commerce" + q), keyNames(by)]);
      const cur = c.currency || S.workspace.currency;
      const fig = (key, value, shownAs) => el("div", { class: "kpi", "data-kpi": key, "data-value": value === null ? "" : String(value) },
        el("div", { class: "label" }, t("commerce." + key)), el("div", { class: "value" }, shownAs));
      const node = el("div", { class: "chart", id: "chart-commerce" });
      S.fill(root, el("h1", {}, t("nav.commerce")), S.filterBar(params),
        el("div", { class: "filters" }, bySel, el("a", { href: "/v1/metrics/commerce" + q + "&format=csv",
          download: "commerce.csv", class: "button" }, t("action.csv"))),
        c.pending ? el("div", { class: "state" }, t("state.pending")) : null,
        el("div", { class: "kpis" },
          fig("gmv", c.total.gmv, fmt.money(c.total.gmv, cur)), fig("orders", c.total.orders, fmt.num(c.total.orders)),
          fig("buyers", c.total.buyers, fmt.num(c.total.buyers)), fig("aov", c.total.aov, fmt.money(c.total.aov, cur)),
          fig("repurchase_rate", c.total.repurchase_rate, fmt.pct(c.total.repurchase_rate)),
          fig("refunds", c.total.refunds, fmt.money(c.total.refunds, cur))),
        el("div", { class: "card" }, el("h2", {}, t("chart.gmv")), node),
        el("div", { class: "card" }, el("h2", {}, t("by." + by)),
          table("rows", ["by.key", "commerce.gmv", "commerce.orders", "commerce.buyers", "commerce.aov", "commerce.repurchase_rate"],
            c.rows || [], (r, k) => ({ "by.key": keyLabel(names, r.key), "commerce.gmv": fmt.money(r.gmv, cur),
              "commerce.orders": fmt.num(r.orders), "commerce.buyers": fmt.num(r.buyers), "commerce.aov": fmt.money(r.aov, cur),
              "commerce.repurchase_rate": fmt.pct(r.repurchase_rate) })[k])));
      stamp();
      S.chart(node, c.days.map((d) => d.date), [
        { name: t("series.gmv"), data: c.days.map((d) => d.gmv), type: "bar" },
      ], true);
    },
  };

  // Built-in event types offered as funnel steps (any other type may be typed).
  const STEP_TYPES = ["member_joined", "message_sent", "checked_in", "link_clicked", "coupon_claimed",
    "coupon_redeemed", "order_placed", "order_paid", "order_refunded", "member_invited", "member_left"];
  const PRESETS = {
    onboarding: "member_joined,message_sent,checked_in",
    purchase: "link_clicked[campaign=any],order_placed,order_paid",
  };

  // `steps` as the API reads it (`type[key=value;…],…`) ⇄ [{type, campaign}].
  function parseSteps(text) {
    return text.split(/,(?![^\[]*\])/).filter(Boolean).map((s) => {
      const m = s.match(/^([^\[]+)(?:\[(.*)\])?$/) || [null, s, ""];
      const filters = Object.fromEntries((m[2] || "").split(";").filter(Boolean).map((kv) => kv.split("=")));
      return { type: m[1], campaign: filters.campaign_id || (filters.campaign === "any" ? "any" : "") };
    });
  }
  function formatSteps(steps) {
    return steps.filter((s) => s.type).map((s) => s.type +
      (s.campaign === "any" ? "[campaign=any]" : s.campaign ? "[campaign_id=" + s.campaign + "]" : "")).join(",");
  }

  // The step builder: a row per step (type, campaign), add, remove, apply.
  function stepBuilder(steps) {
    const rows = el("div", { class: "steps", id: "step-rows" });
    const campaigns = (S.lists && S.lists.campaigns) || [];
    const row = (s) => {
      const known = STEP_TYPES.includes(s.type) || !s.type;
      const custom = el("input", { class: "step-custom", placeholder: t("funnel.custom_type"), value: known ? "" : s.type,
        hidden: known, "aria-label": t("funnel.custom_type") });
      const type = el("select", { class: "step-type", "aria-label": t("funnel.step"),
        onchange: (ev) => { custom.hidden = ev.target.value !== "*"; } },
        ...STEP_TYPES.map((x) => el("option", { value: x, selected: x === s.type }, S.eventName(x))),
        el("option", { value: "*", selected: !known }, t("funnel.other_type")));
      const camp = el("select", { class: "step-campaign", "aria-label": t("scope.campaign") },
        el("option", { value: "" }, t("funnel.any_source")),
        el("option", { value: "any", selected: s.campaign === "any" }, t("funnel.some_campaign")),
        ...campaigns.map((c) => el("option", { value: c.id, selected: s.campaign === c.id }, c.name)));
      const r = el("div", { class: "step-row" }, el("span", { class: "n" }), type, custom, camp,
        el("button", { type: "button", class: "remove", "aria-label": t("funnel.remove"),
          onclick: () => { if (rows.children.length > 2) { r.remove(); number(); } } }, "×"));
      return r;
    };
    const number = () => [...rows.children].forEach((r, i) => { r.querySelector(".n").textContent = String(i + 1); });
    rows.append(...steps.map(row));
    number();
    const read = () => [...rows.children].map((r) => {
      const sel = r.querySelector(".step-type").value;
      return { type: sel === "*" ? r.querySelector(".step-custom").value.trim() : sel,
        campaign: r.querySelector(".step-campaign").value };
    });
    return el("div", { class: "card", id: "builder" }, el("h2", {}, t("funnel.build")), rows,
      el("div", { class: "filters" },
        el("button", { type: "button", id: "add-step", onclick: () => {
          if (rows.children.length < 10) { rows.append(row({ type: "order_paid", campaign: "" })); number(); }
        } }, t("funnel.add_step")),
        el("button", { type: "button", class: "primary", id: "apply-steps",
          onclick: () => S.setParams({ steps: formatSteps(read()), funnel: "custom" }) }, t("filter.apply"))));
  }

  S.pages.funnel = {
    nav: "nav.funnel",
    order: 5.5,
    async render(params, root) {
      const p = S.period(params);
      const chosen = params.get("funnel") || "purchase";
      const preset = ["onboarding", "purchase", "custom"].includes(chosen) ? chosen : "purchase";
      const stepsText = preset === "custom" ? params.get("steps") || PRESETS.purchase : PRESETS[preset];
      const win = ["1h", "1d", "3d", "7d", "14d", "30d"].includes(params.get("window")) ? params.get("window") : "7d";
      const byGroup = params.get("by") === "group";
      const q = "?from=" + p.from + "&to=" + p.to + "&steps=" + encodeURIComponent(stepsText) + "&window=" + win +
        (byGroup ? "&by=group" : "") + S.scope(params);
      const f = await S.api("GET", "/v1/metrics/funnel" + q);
      const pick = (name, values, v, label) => el("select", { id: "f-" + name, "aria-label": t("funnel." + name),
        onchange: (ev) => S.setParams({ [name]: ev.target.value }) },
        ...values.map((x) => el("option", { value: x, selected: x === v }, label(x))));
      const node = el("div", { class: "chart tall", id: "chart-funnel" });
      const groups = byGroup ? Object.fromEntries((await S.all("/v1/groups", 5)).map((g) => [g.id, g.name])) : {};
      const stepName = (st) => S.eventName(st.type) + (st.any_campaign ? " · " + t("funnel.some_campaign")
        : st.campaign_id ? " · " + ((S.lists.campaigns.find((c) => c.id === st.campaign_id) || {}).name || "") : "");
      const stepCols = f.steps.map((_, i) => "s" + i);
      const groupTable = byGroup ? (f.groups || []).length
        ? el("table", { class: "table", id: "by-group" },
            el("thead", {}, el("tr", {}, el("th", {}, t("groups.col.name")),
              ...f.steps.map((st) => el("th", { class: "num" }, stepName(st))), el("th", { class: "num" }, t("kpi.conversion")))),
            el("tbody", {}, ...f.groups.map((g) => el("tr", { "data-group": g.group_id || "" },
              el("td", {}, g.group_id ? groups[g.group_id] || g.group_id : t("by.none")),
              ...stepCols.map((_, i) => el("td", { class: "num" }, fmt.num(g.steps[i].count))),
              el("td", { class: "num" }, fmt.pct(g.conversion))))))
        : el("div", { class: "state", id: "by-group-empty" }, t("state.none")) : null;
      S.fill(root, el("h1", {}, t("nav.funnel")), S.filterBar(params),
        el("div", { class: "filters" },
          pick("funnel", ["onboarding", "purchase", "custom"], preset, (x) => t("funnel.funnel." + x)),
          pick("window", ["1h", "1d", "3d", "7d", "14d", "30d"], win, (x) => t("funnel.within", { n: x.slice(0, -1),
            unit: t(x.endsWith("h") ? "funnel.hours" : "funnel.days") })),
          el("label", { class: "check" }, el("input", { type: "checkbox", id: "f-bygroup", checked: byGroup,
            onchange: (ev) => S.setParams({ by: ev.target.checked ? "group" : "" }) }), " ", t("by.group")),
          el("a", { href: "/v1/metrics/funnel" + q + "&format=csv", download: "funnel.csv", class: "button" }, t("action.csv"))),
        preset === "custom" ? stepBuilder(parseSteps(stepsText)) : null,
        f.incomplete ? el("div", { class: "state", id: "incomplete" }, t("funnel.incomplete")) : null,
        el("div", { class: "kpis" }, el("div", { class: "kpi", "data-kpi": "conversion", "data-value": f.conversion === null ? "" : String(f.conversion) },
          el("div", { class: "label" }, t("kpi.conversion")), el("div", { class: "value" }, fmt.pct(f.conversion)))),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("funnel.title")), node),
          el("div", { class: "card" }, el("h2", {}, t("funnel.steps")),
            table("steps", ["funnel.step", "funnel.count", "funnel.from_previous", "funnel.overall", "funnel.median"], f.steps, (st, k) => ({
              "funnel.step": stepName(st), "funnel.count": fmt.num(st.count),
              "funnel.from_previous": fmt.pct(st.rate_from_previous), "funnel.overall": fmt.pct(st.rate_overall),
              "funnel.median": duration(st.median_seconds_from_previous) })[k]))),
        byGroup ? el("div", { class: "card" }, el("h2", {}, t("by.group")), groupTable) : null);
      stamp();
      const chart = echarts.init(node);
      chart.setOption({ animation: false, tooltip: { trigger: "item" },
        toolbox: { feature: { saveAsImage: { title: t("chart.save") } } },
        series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "10%",
          label: { formatter: (x) => x.name + " " + fmt.num(x.value) },
          data: f.steps.map((st) => ({ name: stepName(st), value: st.count })) }] });
      new ResizeObserver(() => chart.resize()).observe(node);
      node.setAttribute("data-drawn", "true");
    },
  };

  // ---- group health ---------------------------------------------------------
  const COMPONENTS = ["active_rate", "stickiness", "activation", "new_member_retention", "net_growth", "concentration", "silence"];

  S.pages.health = {
    nav: "nav.health",
    order: 5.8,
    async render(params, root) {
      const p = S.period(params);
      const status = ["dead", "declining", "healthy"].includes(params.get("status")) ? params.get("status") : "";
      const q = "?from=" + p.from + "&to=" + p.to + S.scope(params);
      const h = await S.api("GET", "/v1/metrics/groups/health" + q);
      const items = status ? h.items.filter((g) => g.status === status) : h.items;
      const counts = el("div", { class: "kpis" }, ...["dead", "declining", "healthy"].map((k) =>
        el("button", { class: "kpi pick" + (status === k ? " on" : ""), "data-health": k, "data-value": String(h.counts[k]),
          onclick: () => S.setParams({ status: status === k ? "" : k }) },
          el("div", { class: "label" }, t("health." + k)), el("div", { class: "value" }, fmt.num(h.counts[k])))));
      const node = el("div", { class: "chart", id: "chart-health" });
      const cols = ["groups.col.name", "groups.col.health", "groups.col.score", "health.reasons", "health.last_message",
        ...COMPONENTS.map((c) => "component." + c)];
      const cell = (g, k) => {
        if (k === "groups.col.name") return g.name;
        if (k === "groups.col.health") return el("span", { class: "status " + g.status }, t("health." + g.status));
        if (k === "groups.col.score") return String(g.score);
        if (k === "health.reasons") return g.reasons.map((r) => (S.has("reason." + r) ? t("reason." + r) : r)).join("、") || "–";
        if (k === "health.last_message") return g.last_message_day ? fmt.day(g.last_message_day) : t("health.never");
        const c = g.components[k.slice("component.".length)];
        return c && c.score !== null ? String(Math.round(c.score * 100)) : "–";
      };
      S.fill(root, el("h1", {}, t("nav.health")), S.filterBar(params),
        el("p", { class: "note" }, t("health.explain", { days: h.dead_after_days, rate: fmt.pct(h.min_active_rate) })),
        counts,
        el("div", { class: "tools" }, el("span", { id: "count" }, t("groups.count", { n: items.length })),
          el("a", { href: "/v1/metrics/groups/health" + q + (status ? "&status=" + status : "") + "&format=csv",
            download: "group-health.csv", class: "button" }, t("action.csv"))),
        el("div", { class: "card" }, el("h2", {}, t("health.distribution")), node),
        el("div", { class: "card wide" }, table("health", cols, items, cell, (g) => S.go("group", { id: g.group_id }))));
      stamp();
      // Groups per score band (0-9 … 90-100), stacked by status.
      const bands = [...Array(10).keys()].map((i) => i * 10 + "–" + (i === 9 ? 100 : i * 10 + 9));
      const series = ["dead", "declining", "healthy"].map((k) => {
        const data = Array(10).fill(0);
        for (const g of h.items) if (g.status === k) data[Math.min(9, Math.floor(g.score / 10))] += 1;
        return { type: "bar", stack: "all", name: t("health." + k), data };
      });
      const c = echarts.init(node);
      c.setOption({ animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
        color: ["#9aa0a6", "#e8710a", "#188038"],
        toolbox: { feature: { saveAsImage: { title: t("chart.save") } } },
        grid: { left: 48, right: 16, top: 32, bottom: 28 },
        xAxis: { type: "category", data: bands, name: t("groups.col.score") }, yAxis: { type: "value", minInterval: 1 }, series });
      new ResizeObserver(() => c.resize()).observe(node);
      node.setAttribute("data-drawn", "true");
    },
  };

  // Seconds as the largest whole unit: 3 天 / 5 h / 12 min.
  function duration(secs) {
    if (secs === null || secs === undefined) return "–";
    if (secs >= 86400) return t("duration.days", { n: (secs / 86400).toFixed(1) });
    if (secs >= 3600) return t("duration.hours", { n: (secs / 3600).toFixed(1) });
    return t("duration.minutes", { n: Math.max(1, Math.round(secs / 60)) });
  }

  // ---- a group's page -----------------------------------------------------
  const deliveryCell = (d, k, retry) => ({
    "sop.col.when": when(d.fire_at), "sop.col.state": t("delivery." + d.state),
    "sop.col.message": d.last_error || (d.message && d.message.text) || "–",
    "sop.col.attempts": String(d.attempt_count),
    "settings.actions": ["dead", "uncertain"].includes(d.state) && retry ? el("button", { "data-retry": d.id, onclick: retry(d) },
      t("sop.retry")) : "",
  })[k];

  S.pages.group = {
    async render(params, root) {
      const id = params.get("id") || "";
      const p = S.period(params);
      const q = "?from=" + p.from + "&to=" + p.to;
      const [g, activity, health, roles, board, staff, deliveries] = await Promise.all([
        S.api("GET", "/v1/groups/" + id),
        S.api("GET", "/v1/metrics/activity" + q + "&group_id=" + id),
        S.api("GET", "/v1/metrics/groups/health" + q + "&group_id=" + id),
        S.api("GET", "/v1/metrics/groups/" + id + "/roles" + q + "&limit=10"),
        S.api("GET", "/v1/metrics/groups/" + id + "/leaderboard?limit=10"),
        S.api("GET", "/v1/groups/" + id + "/staff"),
        S.api("GET", "/v1/deliveries?group_id=" + id + "&limit=20"),
      ]);
      const members = await S.api("GET", "/v1/groups/" + id + "/members?limit=50" + (params.get("history") === "1" ? "&include=history" : ""));
      const h = health.items[0];
      const node = el("div", { class: "chart", id: "chart-group" });
      const count = (k) => el("span", { class: "count", "data-role": k, "data-value": String(roles.counts[k]) },
        t("roles." + k) + " " + fmt.num(roles.counts[k]));
      S.fill(root, el("h1", {}, g.name), el("p", { class: "note" },
        [t("platform." + g.platform), g.region, g.category, g.tier].filter(Boolean).join(" · ")), S.filterBar(params, false),
        el("div", { class: "kpis" },
          el("div", { class: "kpi", "data-kpi": "members", "data-value": String(g.member_count) },
            el("div", { class: "label" }, t("kpi.members")), el("div", { class: "value" }, fmt.num(g.member_count))),
          h ? el("div", { class: "kpi", "data-kpi": "health", "data-value": String(Math.round(h.score)) },
            el("div", { class: "label" }, t("groups.col.score")), el("div", { class: "value" }, String(Math.round(h.score))),
            el("div", { class: "delta" }, t("health." + h.status))) : null),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("chart.activity")), node),
          el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("group.roles")),
            el("a", { href: "/v1/metrics/groups/" + id + "/roles" + q + "&format=csv", download: "roles.csv", class: "button",
              id: "csv-roles" }, t("action.csv"))),
            el("div", { class: "counts" }, count("core_creators"), count("active_followers"), count("sharers"), count("lurkers")),
            table("core", ["members.col.name", "group.messages", "group.active_days"], roles.core_creators, (m, k) => ({
              "members.col.name": m.display_name || "–", "group.messages": fmt.num(m.messages),
              "group.active_days": fmt.num(m.active_days) })[k])),
          el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("group.leaderboard")),
            el("a", { href: "/v1/metrics/groups/" + id + "/leaderboard?format=csv", download: "leaderboard.csv", class: "button",
              id: "csv-leaderboard" }, t("action.csv"))),
            table("leaderboard", ["group.rank", "members.col.name", "group.score"], board.items, (m, k) => ({
              "group.rank": String(m.rank), "members.col.name": m.display_name || "–", "group.score": fmt.num(Math.round(m.score)) })[k])),
          el("div", { class: "card" }, el("h2", {}, t("group.staff")),
            table("staff", ["members.col.name", "group.persona", "settings.role"], staff.items, (x, k) => ({
              "members.col.name": x.name, "group.persona": x.persona, "settings.role": x.role })[k])),
          h ? el("div", { class: "card" }, el("h2", {}, t("group.health")),
            table("components", ["group.component", "group.value", "group.weight"], Object.entries(h.components || {}),
              ([name, v], k) => ({
                "group.component": S.has("component." + name) ? t("component." + name) : name,
                "group.value": v && v.score !== null && v.score !== undefined ? String(Math.round(v.score * 100)) : "–",
                "group.weight": v && v.weight !== undefined ? String(v.weight) : "–" })[k])) : null,
          el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("group.members")),
            el("label", { class: "check" }, el("input", { type: "checkbox", id: "f-history", checked: params.get("history") === "1",
              onchange: (ev) => S.setParams({ history: ev.target.checked ? "1" : "" }) }), " ", t("group.history"))),
            table("group-members", ["members.col.name", "group.joined", "group.source", "group.left"], members.items, (m, k) => ({
              "members.col.name": m.display_name || "–", "group.joined": when(m.joined_at),
              "group.source": m.source ? (S.has("source." + m.source) ? t("source." + m.source) : m.source) : "–",
              "group.left": m.left_at ? when(m.left_at) : "–" })[k], (m) => S.go("member", { id: m.member_id }))),
          el("div", { class: "card" }, el("h2", {}, t("group.deliveries")),
            table("deliveries", ["sop.col.when", "sop.col.state", "sop.col.attempts"], deliveries.items,
              (d, k) => deliveryCell(d, k, null)))));
      stamp();
      S.chart(node, activity.days.map((d) => d.date), [
        { name: t("series.dau"), data: activity.days.map((d) => d.dau) },
        { name: t("series.members"), data: activity.days.map((d) => d.members) },
      ]);
    },
  };

  // ---- SOP ----------------------------------------------------------------
  S.pages.sop = {
    nav: "nav.sop",
    order: 6.5,
    async render(params, root) {
      const [plans, contents] = await Promise.all([S.api("GET", "/v1/sop-plans?limit=200"), S.api("GET", "/v1/contents?limit=50")]);
      const planId = params.get("plan") || (plans.items[0] && plans.items[0].id) || "";
      const state = params.get("state") || "";
      const dq = new URLSearchParams({ limit: "50" });
      if (planId) dq.set("plan_id", planId);
      if (state) dq.set("state", state);
      const month = /^\d{4}-\d{2}$/.test(params.get("month") || "") ? params.get("month") : today().slice(0, 7);
      const first = month + "-01";
      const next = addDays(first, 32).slice(0, 7) + "-01";
      const length = daysBetween(first, next);
      const [deliveries, preview] = await Promise.all([
        S.api("GET", "/v1/deliveries?" + dq.toString()),
        planId ? S.api("GET", "/v1/sop-plans/" + planId + "/preview?from=" + first + "&days=" + length) : Promise.resolve({ items: [], relative_steps: [] }),
      ]);
      const groups = Object.fromEntries((await S.all("/v1/groups", 5)).map((g) => [g.id, g.name]));
      const retry = (d) => async () => {
        try { await S.api("POST", "/v1/deliveries/" + d.id + "/retry", {}); S.route(); }
        catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const canWrite = S.canWrite();
      const plan = plans.items.find((x) => x.id === planId);
      const planActions = canWrite && plan ? (plan.status === "active" ? ["paused", "archived"] : plan.status === "paused"
        ? ["active", "archived"] : []).map((to) => el("button", { "data-plan-to": to, onclick: async () => {
          try { await S.api("POST", "/v1/sop-plans/" + plan.id + "/status", { status: to }); S.route(); }
          catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
        } }, t("sop.to." + to))) : [];
      const planSel = el("select", { id: "f-plan", "aria-label": t("sop.plan"), onchange: (ev) => S.setParams({ plan: ev.target.value }) },
        ...plans.items.map((x) => el("option", { value: x.id, selected: x.id === planId }, x.name + " · " + t("pstatus." + x.status))));
      const stateSel = el("select", { id: "f-state", "aria-label": t("sop.col.state"), onchange: (ev) => S.setParams({ state: ev.target.value }) },
        el("option", { value: "" }, t("sop.all_states")),
        ...["pending", "sent", "failed", "dead", "missed", "awaiting_confirmation", "confirmed", "uncertain"].map((x) =>
          el("option", { value: x, selected: x === state }, t("delivery." + x))));
      // The month, weeks starting on the workspace's week start; each day its slots.
      const byDay = {};
      for (const it of preview.items) (byDay[it.local_time.slice(0, 10)] = byDay[it.local_time.slice(0, 10)] || []).push(it);
      const startDow = { monday: 1, sunday: 0, saturday: 6 }[S.workspace.week_start] || 1;
      const lead = (new Date(first + "T00:00:00Z").getUTCDay() - startDow + 7) % 7;
      const now = today();
      const cells = [];
      const weekday = new Intl.DateTimeFormat(S.lang, { weekday: "short", timeZone: "UTC" });
      for (let i = 0; i < 7; i++) {
        // 2024-01-01 was a Monday.
        cells.push(el("div", { class: "weekday" }, weekday.format(new Date(Date.UTC(2024, 0, 1 + ((startDow + 6 + i) % 7))))));
      }
      for (let i = 0; i < lead; i++) cells.push(el("div", { class: "day out" }));
      for (let i = 0; i < length; i++) {
        const day = addDays(first, i);
        const items = byDay[day] || [];
        cells.push(el("div", { class: "day" + (day === now ? " today" : ""), "data-day": day, "data-slots": String(items.length) },
          el("h3", {}, fmt.day(day), items.length ? el("span", { class: "n" }, t("sop.sends", { n: items.length })) : null),
          ...items.slice(0, 4).map((it) => el("div", { class: "slot" }, it.local_time.slice(11, 16) + " " + (groups[it.group_id] || ""))),
          items.length > 4 ? el("div", { class: "note" }, t("sop.more", { n: items.length - 4 })) : null));
      }
      const monthName = new Intl.DateTimeFormat(S.lang, { year: "numeric", month: "long", timeZone: "UTC" })
        .format(new Date(first + "T00:00:00Z"));
      const calendar = el("div", {},
        el("div", { class: "filters" },
          el("button", { id: "month-prev", onclick: () => S.setParams({ month: addDays(first, -1).slice(0, 7) }) }, "‹"),
          el("strong", { id: "month" }, monthName),
          el("button", { id: "month-next", onclick: () => S.setParams({ month: next.slice(0, 7) }) }, "›"),
          preview.relative_steps.length ? el("span", { class: "note" }, t("sop.relative", { n: preview.relative_steps.length })) : null,
          plan && plan.status !== "active" ? el("span", { class: "note", id: "plan-not-sending" }, t("sop.not_sending")) : null),
        preview.items.length ? el("div", { class: "calendar month", id: "calendar" }, ...cells)
          : el("div", { class: "state", id: "calendar-empty" }, t("sop.nothing_planned")));
      S.fill(root, el("h1", {}, t("nav.sop")),
        plans.items.length ? el("div", { class: "filters" }, planSel, ...planActions, stateSel) : el("div", { class: "state" }, t("sop.no_plans")),
        el("div", { class: "card" }, el("h2", {}, t("sop.calendar")), calendar),
        el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("sop.deliveries")),
          el("a", { href: "/v1/deliveries?format=csv" + (planId ? "&plan_id=" + planId : "") + (state ? "&state=" + state : ""),
            download: "deliveries.csv", class: "button", id: "csv-deliveries" }, t("action.csv"))),
          table("deliveries", ["sop.col.when", "groups.col.name", "sop.col.state", "sop.col.attempts", "sop.col.message", "settings.actions"],
            deliveries.items, (d, k) => (k === "groups.col.name" ? groups[d.group_id] || "–" : deliveryCell(d, k, canWrite ? retry : null)))),
        el("div", { class: "card" }, el("h2", {}, t("sop.contents")),
          table("contents", ["sop.content", "sop.kind", "sop.preview"], contents.items, (c, k) => ({
            "sop.content": c.name || c.id, "sop.kind": t("ckind." + c.kind),
            "sop.preview": el("button", { onclick: async (ev) => {
              const r = await S.api("GET", "/v1/contents/" + c.id + "/preview");
              ev.target.replaceWith(el("span", { class: "preview" }, (r.message && (r.message.text || r.message.title)) || JSON.stringify(r.message)));
            } }, t("sop.show_preview")) })[k])));
    },
  };
})();
