// Retention / 留存: the cohort heatmap.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

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
})();
