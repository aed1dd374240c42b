// Channels / 渠道活码: entry links with their routing, making one.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, stamp, when, table, input, choose } = S;
  const SOURCES = ["offline", "qr_code", "invite_link", "search", "other"];

  function channelForm() {
    const groups = (S.lists && S.lists.groups) || [];
    return el("div", { class: "card", id: "new-channel" }, el("h2", {}, t("channel.new")),
      S.editForm("channel-form", [
        ["common.name", input("name", "", { required: true, maxlength: 200, placeholder: "门店海报 A" })],
        ["channel.source", choose("source", SOURCES, "offline", (s) => t("channel.source." + s))],
        ["channel.groups", el("select", { name: "groups", id: "in-groups", multiple: true, size: Math.min(8, groups.length || 1) },
          ...groups.map((g) => el("option", { value: g.id }, g.name)))],
        ["channel.capacity", input("capacity", 200, { type: "number", min: 1, max: 100000 })],
        ["channel.strategy", choose("strategy", ["fill_in_order", "round_robin"], "fill_in_order", (s) => t("channel.strategy." + s))],
      ], t("channel.create"), async (d, form) => {
        const ids = Array.from(form.querySelector("#in-groups").selectedOptions).map((o) => o.value);
        await S.api("POST", "/v1/channels", { name: d.name, source: d.source, target: { group_ids: ids },
          capacity_per_group: Number(d.capacity), strategy: d.strategy });
        S.setParams({ new: "" });
      }));
  }

  S.pages.channels = {
    nav: "nav.channels",
    order: 7.4,
    async render(params, root) {
      const list = await S.api("GET", "/v1/channels?limit=200");
      const adding = params.get("new") === "1";
      S.fill(root, el("h1", {}, t("nav.channels")),
        el("p", { class: "note" }, t("channel.about")),
        S.canWrite() ? el("div", { class: "filters" }, el("button", { id: "add-channel", "aria-pressed": String(adding),
          onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("channel.new"))) : null,
        adding ? channelForm() : null,
        table("channels", ["common.name", "channel.source", "channel.strategy", "channel.capacity", "channel.link", "settings.status"],
          list.items, (c, k) => ({ "common.name": c.name, "channel.source": t("channel.source." + c.source),
            "channel.strategy": t("channel.strategy." + c.strategy), "channel.capacity": fmt.num(c.capacity_per_group),
            "channel.link": c.link,
            "settings.status": c.full_since ? t("channel.full_since", { at: when(c.full_since) }) : t("pstatus." + c.status) })[k],
          (c) => S.go("channel", { id: c.id })));
      stamp();
    },
  };

  const FIGURES = ["visits", "full_visits", "joins", "retained_7d", "orders", "gmv"];
  const figure = (f, k) => (k === "gmv" ? fmt.money(f.gmv, S.workspace.currency) : fmt.num(f[k]));

  // One channel's stats: totals, per day, per group, CSV.
  S.pages.channel = {
    async render(params, root) {
      const id = params.get("id");
      const [c, s] = await Promise.all([S.api("GET", "/v1/channels/" + id), S.api("GET", "/v1/channels/" + id + "/stats")]);
      const names = Object.fromEntries(((S.lists && S.lists.groups) || []).map((g) => [g.id, g.name]));
      S.fill(root, el("h1", {}, c.name + " · " + t("channel.stats")),
        el("p", { class: "note" }, c.link),
        el("div", { class: "kpis" }, ...FIGURES.map((k) => el("div", { class: "kpi", "data-total": k, "data-value": String(s.total[k]) },
          el("div", { class: "label" }, t("channel." + k)), el("div", { class: "value" }, figure(s.total, k))))),
        el("div", { class: "filters" }, el("a", { class: "button", id: "channel-csv", download: "channel.csv",
          href: "/v1/channels/" + id + "/stats?format=csv" }, t("channel.csv"))),
        table("channel-groups", ["channel.groups"].concat(FIGURES.map((k) => "channel." + k)), s.groups,
          (g, k) => (k === "channel.groups" ? (g.group_id ? names[g.group_id] || g.group_id : "–") : figure(g, k.slice(8)))),
        table("channel-days", ["common.date"].concat(FIGURES.map((k) => "channel." + k)), s.days.slice().reverse(),
          (d, k) => (k === "common.date" ? d.day : figure(d, k.slice(8)))));
      stamp();
    },
  };
})();
