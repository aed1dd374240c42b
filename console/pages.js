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

  S.filterBar = function (params) {
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
      el("span", { class: "asof", id: "asof" }));
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
    async render(params, root) {
      const p = S.period(params);
      const interval = params.get("interval") || "day";
      root.replaceChildren(el("h1", {}, t("overview.title")), S.filterBar(params),
        el("div", { class: "state" }, t("state.loading")));
      const q = (from, to) => "?from=" + from + "&to=" + to;
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
      root.replaceChildren(...[el("h1", {}, t("overview.title")), S.filterBar(params),
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
    },
  };
})();
