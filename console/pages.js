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

  // The instant of local midnight starting `iso` (YYYY-MM-DD) in `tz`.
  function midnight(iso, tz) {
    const guess = Date.parse(iso + "T00:00:00Z");
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(guess)).map((x) => [x.type, x.value]));
    const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return new Date(guess - (local - guess));
  }
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
      const tiers = await S.api("GET", "/v1/tiers");
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
        text("region"), text("category"),
        select("status", ["active", "archived"].map((x) => [x, t("groups.status." + x)])),
        select("health", ["healthy", "declining", "dead"].map((x) => [x, t("health." + x)])));
      S.fill(root, el("h1", {}, t("nav.groups")), S.filterBar(params, false), bar,
        el("div", { class: "state" }, t("state.loading")));
      const q = new URLSearchParams();
      for (const k of ["q", "platform", "tier", "region", "category", "status"]) if (f(k)) q.set(k, f(k));
      const [groups, health] = await Promise.all([
        S.all("/v1/groups?" + q.toString(), 10),
        S.api("GET", "/v1/metrics/groups/health?from=" + p.from + "&to=" + p.to),
      ]);
      const byId = Object.fromEntries(health.items.map((h) => [h.group_id, h]));
      const tierName = Object.fromEntries((tiers.items || []).map((x) => [x.key, x.name]));
      let rows = groups.map((g) => Object.assign({}, g, {
        score: byId[g.id] ? Math.round(byId[g.id].score) : null,
        health: byId[g.id] ? byId[g.id].status : null,
      }));
      if (f("health")) rows = rows.filter((r) => r.health === f("health"));
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
      const csv = "/v1/metrics/groups/health?format=csv&from=" + p.from + "&to=" + p.to;
      S.fill(root, el("h1", {}, t("nav.groups")), S.filterBar(params, false), bar,
        el("div", { class: "tools" }, el("span", { id: "count" }, t("groups.count", { n: rows.length })),
          el("a", { href: csv, download: "group-health.csv", class: "button" }, t("action.csv"))),
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
      const search = el("input", { id: "f-q", value: q, placeholder: t("members.search"),
        onchange: (ev) => S.setParams({ q: ev.target.value }) });
      const query = new URLSearchParams({ limit: "100" });
      if (q) query.set("q", q);
      const page = await S.api("GET", "/v1/members?" + query.toString());
      const cols = ["members.col.name", "members.col.tier", "members.col.platforms", "members.col.phone",
        "members.col.last_active", "members.col.first_seen"];
      const cell = (m, c) => ({
        "members.col.name": m.display_name || "–",
        "members.col.tier": m.tier || "–",
        "members.col.platforms": m.identities.map((i) => t("platform." + i.platform)).join(" · ") || "–",
        "members.col.phone": m.phone || m.email || "–",
        "members.col.last_active": when(m.last_active_at),
        "members.col.first_seen": when(m.first_seen_at),
      })[c];
      S.fill(root, el("h1", {}, t("nav.members")), el("div", { class: "filters" }, search),
        table("members", cols, page.items, cell, (m) => S.go("member", { id: m.id })));
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
      const [endpoints, messages] = await Promise.all([
        S.api("GET", "/v1/webhook-endpoints?limit=200"), S.api("GET", "/v1/webhook-messages?limit=50"),
      ]);
      S.fill(body,
        el("h2", { class: "section" }, t("settings.endpoints")),
        table("endpoints", ["settings.webhook_url", "settings.event_types", "settings.status", "settings.last_success"],
          endpoints.items, (x, c) => ({
            "settings.webhook_url": x.url, "settings.event_types": (x.event_types || []).join(", ") || t("settings.all_events"),
            "settings.status": x.enabled ? (x.failing_since ? t("settings.failing") : t("status.active")) : t("status.disabled"),
            "settings.last_success": when(x.last_success_at) })[c]),
        el("h2", { class: "section" }, t("settings.messages")),
        table("messages", ["member.when", "member.event", "settings.deliveries"], messages.items, (m, c) => ({
          "member.when": when(m.created_at), "member.event": m.type,
          "settings.deliveries": (m.endpoints || []).map((d) => t("dispatch." + d.status) + (d.last_status_code ? " " + d.last_status_code : "")).join(" · ") || "–",
        })[c]));
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
      S.fill(body, table("audit", ["member.when", "settings.actor", "settings.action", "settings.resource"],
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

  // ---- campaigns -----------------------------------------------------------
  S.pages.campaigns = {
    nav: "nav.campaigns",
    order: 7,
    async render(params, root) {
      const list = await S.api("GET", "/v1/campaigns?limit=200");
      const cols = ["campaigns.col.name", "campaigns.col.kind", "campaigns.col.status", "campaigns.col.period",
        "campaigns.col.code"];
      const cell = (c, k) => ({
        "campaigns.col.name": c.name, "campaigns.col.kind": t("kind." + c.kind), "campaigns.col.status": t("cstatus." + c.status),
        "campaigns.col.period": (c.starts_at ? when(c.starts_at) : "–") + " → " + (c.ends_at ? when(c.ends_at) : "–"),
        "campaigns.col.code": c.tracking_code,
      })[k];
      S.fill(root, el("h1", {}, t("nav.campaigns")),
        el("div", { class: "filters" }, el("a", { href: "#/mall", class: "button", id: "to-mall" }, t("nav.mall"))),
        table("campaigns", cols, list.items, cell, (c) => S.go("campaign", { id: c.id })));
    },
  };

  S.pages.campaign = {
    async render(params, root) {
      const id = params.get("id") || "";
      const c = await S.api("GET", "/v1/campaigns/" + id);
      const head = [el("h1", {}, c.name), el("p", { class: "note" }, t("kind." + c.kind) + " · " + t("cstatus." + c.status) +
        " · " + c.tracking_code)];
      if (c.kind !== "check_in") {
        S.fill(root, ...head, el("div", { class: "state" }, t("campaign.no_mechanics")));
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
              "checkin.members": fmt.num(b.members) })[k]))));
      stamp();
      S.chart(node, stats.days.map((d) => d.day), [
        { name: t("checkin.participants"), data: stats.days.map((d) => d.participants), type: "bar" },
        { name: t("checkin.first_time"), data: stats.days.map((d) => d.first_time) },
        { name: t("checkin.makeups"), data: stats.days.map((d) => d.makeups) },
      ]);
    },
  };

  // ---- points mall ---------------------------------------------------------
  S.pages.mall = {
    async render(params, root) {
      const [items, redemptions] = await Promise.all([
        S.api("GET", "/v1/mall/items?limit=200"),
        S.api("GET", "/v1/mall/redemptions?limit=50"),
      ]);
      const names = Object.fromEntries(items.items.map((i) => [i.id, i.name]));
      S.fill(root, el("h1", {}, t("nav.mall")),
        el("div", { class: "card" }, el("h2", {}, t("mall.items")),
          table("items", ["mall.col.name", "mall.col.cost", "mall.col.stock", "mall.col.redeemed", "mall.col.status"],
            items.items, (i, k) => ({ "mall.col.name": i.name, "mall.col.cost": fmt.num(i.points_cost),
              "mall.col.stock": i.stock === null || i.stock === undefined ? "∞" : fmt.num(i.stock),
              "mall.col.redeemed": fmt.num(i.redeemed), "mall.col.status": t("item." + i.status) })[k])),
        el("div", { class: "card" }, el("h2", {}, t("mall.redemptions")),
          table("redemptions", ["member.when", "mall.col.name", "mall.col.quantity", "mall.col.points", "mall.col.status"],
            redemptions.items, (r, k) => ({ "member.when": when(r.created_at), "mall.col.name": names[r.item_id] || "–",
              "mall.col.quantity": String(r.quantity), "mall.col.points": fmt.num(r.points_spent),
              "mall.col.status": t("redemption." + r.status) })[k])));
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

  S.pages.funnel = {
    nav: "nav.funnel",
    order: 5.5,
    async render(params, root) {
      const p = S.period(params);
      const preset = ["onboarding", "purchase"].includes(params.get("funnel")) ? params.get("funnel") : "purchase";
      const win = ["1d", "7d", "30d"].includes(params.get("window")) ? params.get("window") : "7d";
      const q = "?from=" + p.from + "&to=" + p.to + "&funnel=" + preset + "&window=" + win + S.scope(params);
      const f = await S.api("GET", "/v1/metrics/funnel" + q);
      const pick = (name, values, v) => el("select", { id: "f-" + name, "aria-label": t("funnel." + name),
        onchange: (ev) => S.setParams({ [name]: ev.target.value }) },
        ...values.map((x) => el("option", { value: x, selected: x === v }, t("funnel." + name + "." + x))));
      const node = el("div", { class: "chart tall", id: "chart-funnel" });
      S.fill(root, el("h1", {}, t("nav.funnel")), S.filterBar(params),
        el("div", { class: "filters" }, pick("funnel", ["onboarding", "purchase"], preset), pick("window", ["1d", "7d", "30d"], win),
          el("a", { href: "/v1/metrics/funnel" + q + "&format=csv", download: "funnel.csv", class: "button" }, t("action.csv"))),
        el("div", { class: "kpis" }, el("div", { class: "kpi", "data-kpi": "conversion", "data-value": f.conversion === null ? "" : String(f.conversion) },
          el("div", { class: "label" }, t("kpi.conversion")), el("div", { class: "value" }, fmt.pct(f.conversion)))),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("funnel.title")), node),
          el("div", { class: "card" }, el("h2", {}, t("funnel.steps")),
            table("steps", ["funnel.step", "funnel.count", "funnel.from_previous", "funnel.overall"], f.steps, (st, k) => ({
              "funnel.step": S.eventName(st.type), "funnel.count": fmt.num(st.count),
              "funnel.from_previous": fmt.pct(st.rate_from_previous), "funnel.overall": fmt.pct(st.rate_overall) })[k]))));
      stamp();
      const chart = echarts.init(node);
      chart.setOption({ animation: false, tooltip: { trigger: "item" },
        series: [{ type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "10%",
          label: { formatter: (x) => x.name + " " + fmt.num(x.value) },
          data: f.steps.map((st) => ({ name: S.eventName(st.type), value: st.count })) }] });
      new ResizeObserver(() => chart.resize()).observe(node);
      node.setAttribute("data-drawn", "true");
    },
  };
  // ---- a group's page -----------------------------------------------------
  const deliveryCell = (d, k, retry) => ({
    "sop.col.when": when(d.fire_at), "sop.col.state": t("delivery." + d.state),
    "sop.col.message": d.last_error || (d.message && d.message.text) || "–",
    "sop.col.attempts": String(d.attempt_count),
    "settings.actions": ["dead", "failed"].includes(d.state) && retry ? el("button", { "data-retry": d.id, onclick: retry(d) },
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
          el("div", { class: "card" }, el("h2", {}, t("group.roles")),
            el("div", { class: "counts" }, count("core_creators"), count("active_followers"), count("sharers"), count("lurkers")),
            table("core", ["members.col.name", "group.messages", "group.active_days"], roles.core_creators, (m, k) => ({
              "members.col.name": m.display_name || "–", "group.messages": fmt.num(m.messages),
              "group.active_days": fmt.num(m.active_days) })[k])),
          el("div", { class: "card" }, el("h2", {}, t("group.leaderboard")),
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
      const [deliveries, preview] = await Promise.all([
        S.api("GET", "/v1/deliveries?" + dq.toString()),
        planId ? S.api("GET", "/v1/sop-plans/" + planId + "/preview?days=7") : Promise.resolve({ items: [] }),
      ]);
      const groups = Object.fromEntries((await S.all("/v1/groups", 5)).map((g) => [g.id, g.name]));
      const retry = (d) => async () => {
        try { await S.api("POST", "/v1/deliveries/" + d.id + "/retry", {}); S.route(); }
        catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const canWrite = S.session.workspace.role !== "viewer";
      const planSel = el("select", { id: "f-plan", "aria-label": t("sop.plan"), onchange: (ev) => S.setParams({ plan: ev.target.value }) },
        ...plans.items.map((x) => el("option", { value: x.id, selected: x.id === planId }, x.name + " · " + t("pstatus." + x.status))));
      const stateSel = el("select", { id: "f-state", "aria-label": t("sop.col.state"), onchange: (ev) => S.setParams({ state: ev.target.value }) },
        el("option", { value: "" }, t("sop.all_states")),
        ...["pending", "sent", "failed", "dead", "missed", "awaiting_confirmation", "confirmed", "uncertain"].map((x) =>
          el("option", { value: x, selected: x === state }, t("delivery." + x))));
      const byDay = {};
      for (const it of preview.items) (byDay[it.local_time.slice(0, 10)] = byDay[it.local_time.slice(0, 10)] || []).push(it);
      const calendar = Object.keys(byDay).length
        ? el("div", { class: "calendar", id: "calendar" }, ...Object.entries(byDay).map(([day, items]) =>
            el("div", { class: "day" }, el("h3", {}, fmt.day(day)), ...items.slice(0, 12).map((it) =>
              el("div", { class: "slot" }, it.local_time.slice(11, 16) + " " + (groups[it.group_id] || "")) ),
              items.length > 12 ? el("div", { class: "note" }, t("sop.more", { n: items.length - 12 })) : null)))
        : el("div", { class: "state", id: "calendar-empty" }, t("sop.nothing_planned"));
      S.fill(root, el("h1", {}, t("nav.sop")),
        plans.items.length ? el("div", { class: "filters" }, planSel, stateSel) : el("div", { class: "state" }, t("sop.no_plans")),
        el("div", { class: "card" }, el("h2", {}, t("sop.calendar")), calendar),
        el("div", { class: "card" }, el("h2", {}, t("sop.deliveries")),
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
