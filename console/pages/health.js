// Group health / 群健康: status counts, score distribution, components.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

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
})();
