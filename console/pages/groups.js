// Groups / 社群: the list with filters and sorting, and a group's page.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

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
  // ---- a group's page -----------------------------------------------------
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
})();
