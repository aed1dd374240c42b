// Funnels / 转化漏斗: built-in or custom steps, by group.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

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
  // Seconds as the largest whole unit: 3 天 / 5 h / 12 min.
  function duration(secs) {
    if (secs === null || secs === undefined) return "–";
    if (secs >= 86400) return t("duration.days", { n: (secs / 86400).toFixed(1) });
    if (secs >= 3600) return t("duration.hours", { n: (secs / 3600).toFixed(1) });
    return t("duration.minutes", { n: Math.max(1, Math.round(secs / 60)) });
  }
})();
