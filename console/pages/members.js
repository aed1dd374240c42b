// Members / 成员: search and paging, and a member's page.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- members ------------------------------------------------------------
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
})();
