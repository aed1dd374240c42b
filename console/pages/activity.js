// Activity / 活跃 and Commerce / 营收, with their breakdowns.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

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
})();
