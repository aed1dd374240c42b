// Overview / 总览: KPI cards against the previous period, trends, groups to watch, SOP today.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

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
})();
