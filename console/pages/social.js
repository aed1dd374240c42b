// Group-buys & bargains / 拼团与砍价: group-buys with their teams and
// figures, bargains with their sessions and helps, and forms to make both.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, stamp, when, table, input } = S;
  const yuan = (v) => Math.round(Number(v) * 100);
  const pct = (v) => (v === null || v === undefined ? "–" : fmt.num(Math.round(v * 1000) / 10) + "%");
  const minutes = (s) => (s === null || s === undefined ? "–" : fmt.num(Math.round(s / 60)) + " " + t("social.minutes"));

  function campaignSelect(kind) {
    const campaigns = ((S.lists && S.lists.campaigns) || []).filter((c) => c.kind === kind);
    return campaigns.length ? el("select", { name: "campaign", id: "in-campaign" }, ...campaigns.map((c) => el("option", { value: c.id }, c.name)))
      : null;
  }

  function groupBuyForm() {
    const pick = campaignSelect("group_buy");
    const cur = S.workspace.currency;
    if (!pick) return el("div", { class: "state", id: "needs-campaign" }, t("social.needs_group_buy"));
    return el("div", { class: "card", id: "new-group-buy" }, el("h2", {}, t("social.new_group_buy")),
      S.editForm("group-buy-form", [
        ["social.campaign", pick],
        ["flash.product", input("product_id", "", { required: true, maxlength: 128, placeholder: "sku-3" })],
        ["common.name", input("name", "", { required: true, maxlength: 200 })],
        ["flash.list_price", el("span", {}, input("list_price", "", { type: "number", min: 0, step: 0.01, class: "short", required: true }), " ", cur)],
        ["social.group_price", el("span", {}, input("group_price", "", { type: "number", min: 0, step: 0.01, class: "short", required: true }), " ", cur)],
        ["social.team_size", input("team_size", 3, { type: "number", min: 2, max: 100 })],
        ["social.hours", input("hours", 24, { type: "number", min: 1, max: 720 })],
      ], t("social.create"), async (d) => {
        const made = await S.api("POST", "/v1/group-buys", { campaign_id: d.campaign, product_id: d.product_id, name: d.name,
          list_price: yuan(d.list_price), group_price: yuan(d.group_price), team_size: Number(d.team_size),
          time_limit_hours: Number(d.hours) });
        S.go("group-buy", { id: made.id });
      }));
  }

  function bargainForm() {
    const pick = campaignSelect("bargain");
    const cur = S.workspace.currency;
    if (!pick) return el("div", { class: "state", id: "needs-bargain-campaign" }, t("social.needs_bargain"));
    return el("div", { class: "card", id: "new-bargain" }, el("h2", {}, t("social.new_bargain")),
      S.editForm("bargain-form", [
        ["social.campaign", pick],
        ["flash.product", input("product_id", "", { required: true, maxlength: 128, placeholder: "sku-5" })],
        ["common.name", input("name", "", { required: true, maxlength: 200 })],
        ["flash.list_price", el("span", {}, input("list_price", "", { type: "number", min: 0.01, step: 0.01, class: "short", required: true }), " ", cur)],
        ["social.floor_price", el("span", {}, input("floor_price", "", { type: "number", min: 0, step: 0.01, class: "short", required: true }), " ", cur)],
        ["social.helpers_needed", input("helpers", 8, { type: "number", min: 1, max: 1000 })],
        ["social.hours", input("hours", 24, { type: "number", min: 1, max: 720 })],
        ["social.buy_at", el("select", { name: "buy_at", id: "in-buy-at" },
          el("option", { value: "floor" }, t("social.buy_at.floor")), el("option", { value: "any_price" }, t("social.buy_at.any_price")))],
      ], t("social.create"), async (d) => {
        const made = await S.api("POST", "/v1/bargains", { campaign_id: d.campaign, product_id: d.product_id, name: d.name,
          list_price: yuan(d.list_price), floor_price: yuan(d.floor_price), helpers_needed: Number(d.helpers),
          time_limit_hours: Number(d.hours), buy_at: d.buy_at });
        S.go("bargain", { id: made.id });
      }));
  }

  S.pages.social = {
    nav: "nav.social",
    order: 7.6,
    async render(params, root) {
      const [buys, bargains] = await Promise.all([S.api("GET", "/v1/group-buys?limit=100"), S.api("GET", "/v1/bargains?limit=100")]);
      const adding = params.get("new") || "";
      const cur = S.workspace.currency;
      const visible = (x) => x.status !== "archived";
      S.fill(root, el("h1", {}, t("nav.social")), el("p", { class: "note" }, t("social.about")),
        S.canWrite() ? el("div", { class: "filters" },
          el("button", { id: "add-group-buy", "aria-pressed": String(adding === "group_buy"),
            onclick: () => S.setParams({ new: adding === "group_buy" ? "" : "group_buy" }) }, t("social.new_group_buy")),
          el("button", { id: "add-bargain", "aria-pressed": String(adding === "bargain"),
            onclick: () => S.setParams({ new: adding === "bargain" ? "" : "bargain" }) }, t("social.new_bargain"))) : null,
        adding === "group_buy" ? groupBuyForm() : null,
        adding === "bargain" ? bargainForm() : null,
        el("h2", {}, t("social.group_buys")),
        table("group-buys", ["common.name", "flash.product", "social.group_price", "social.team_size", "social.teams", "settings.status"],
          buys.items.filter(visible), (g, k) => ({
            "common.name": g.name, "flash.product": g.product_id,
            "social.group_price": fmt.money(g.group_price, cur) + " (" + fmt.money(g.list_price, cur) + ")",
            "social.team_size": String(g.team_size), "social.teams": fmt.num(g.teams_opened),
            "settings.status": t("pstatus." + g.status) })[k], (g) => S.go("group-buy", { id: g.id })),
        el("h2", {}, t("social.bargains")),
        table("bargains", ["common.name", "flash.product", "social.floor_price", "social.helpers_needed", "social.buy_at", "settings.status"],
          bargains.items.filter(visible), (b, k) => ({
            "common.name": b.name, "flash.product": b.product_id,
            "social.floor_price": fmt.money(b.floor_price, cur) + " (" + fmt.money(b.list_price, cur) + ")",
            "social.helpers_needed": String(b.helpers_needed), "social.buy_at": t("social.buy_at." + b.buy_at),
            "settings.status": t("pstatus." + b.status) })[k], (b) => S.go("bargain", { id: b.id })));
      stamp();
    },
  };

  function toggle(path, item, root) {
    if (!S.canWrite() || item.status === "archived") return null;
    return el("button", { id: "toggle", onclick: async () => {
      try {
        await S.api("PATCH", path, { status: item.status === "active" ? "paused" : "active" });
        S.route();
      } catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
    } }, t(item.status === "active" ? "loyalty.pause" : "loyalty.resume"));
  }

  function statusFilter(id, statuses, current, prefix) {
    return el("select", { id, onchange: (e) => S.setParams({ status: e.target.value }) },
      ...statuses.map((s) => el("option", { value: s, selected: s === current }, s ? t(prefix + s) : t("invite.all"))));
  }

  const facts = (id, pairs) => el("dl", { class: "facts", id }, ...pairs.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));

  S.pages["group-buy"] = {
    async render(params, root) {
      const id = params.get("id") || "";
      const status = params.get("status") || "";
      const [g, stats, teams] = await Promise.all([S.api("GET", "/v1/group-buys/" + id), S.api("GET", "/v1/group-buys/" + id + "/stats"),
        S.api("GET", "/v1/group-buys/" + id + "/teams?limit=100" + (status ? "&status=" + status : ""))]);
      const cur = S.workspace.currency;
      const s = stats.total;
      S.fill(root, el("h1", {}, g.name + " · " + t("pstatus." + g.status)),
        el("p", { class: "note" }, t("social.group_buy_rule", { size: g.team_size, hours: g.time_limit_hours,
          price: fmt.money(g.group_price, cur), list: fmt.money(g.list_price, cur) })),
        el("div", { class: "filters" }, toggle("/v1/group-buys/" + id, g, root),
          el("a", { class: "button", id: "group-buy-csv", download: "group-buy.csv", href: "/v1/group-buys/" + id + "/stats?format=csv" },
            t("action.csv"))),
        facts("group-buy-stats", [
          ["social.teams", el("span", { "data-opened": String(s.teams_opened) }, fmt.num(s.teams_opened))],
          ["tstatus.succeeded", el("span", { "data-succeeded": String(s.succeeded) }, fmt.num(s.succeeded))],
          ["tstatus.failed", fmt.num(s.failed)], ["tstatus.open", fmt.num(s.open)],
          ["social.success_rate", pct(s.success_rate)], ["social.fill_time", minutes(s.mean_seconds_to_fill)],
          ["social.joiners", fmt.num(s.joiners) + " · " + t("social.new_joiners", { n: fmt.num(s.new_member_joiners) })],
          ["social.gmv", fmt.money(s.gmv, cur)]]),
        el("h2", {}, t("social.team_list")),
        el("div", { class: "filters" }, statusFilter("team-status", ["", "open", "succeeded", "failed"], status, "tstatus.")),
        table("teams", ["social.leader", "social.members", "settings.status", "social.expires", "social.closed"], teams.items, (x, k) => ({
          "social.leader": x.leader_id, "social.members": x.members.length + " / " + x.team_size,
          "settings.status": el("span", { "data-team-status": x.status }, t("tstatus." + x.status) + (x.reason ? " · " + t("social.reason." + x.reason) : "")),
          "social.expires": when(x.expires_at), "social.closed": x.closed_at ? when(x.closed_at) : "–" })[k]));
      stamp();
    },
  };

  S.pages.bargain = {
    async render(params, root) {
      const id = params.get("id") || "";
      const status = params.get("status") || "";
      const [b, stats, sessions] = await Promise.all([S.api("GET", "/v1/bargains/" + id), S.api("GET", "/v1/bargains/" + id + "/stats"),
        S.api("GET", "/v1/bargains/" + id + "/sessions?limit=100" + (status ? "&status=" + status : ""))]);
      const cur = S.workspace.currency;
      const s = stats.total;
      S.fill(root, el("h1", {}, b.name + " · " + t("pstatus." + b.status)),
        el("p", { class: "note" }, t("social.bargain_rule", { list: fmt.money(b.list_price, cur), floor: fmt.money(b.floor_price, cur),
          n: b.helpers_needed, hours: b.time_limit_hours }) + " · " + t("social.buy_at." + b.buy_at)),
        el("div", { class: "filters" }, toggle("/v1/bargains/" + id, b, root),
          el("a", { class: "button", id: "bargain-csv", download: "bargain.csv", href: "/v1/bargains/" + id + "/stats?format=csv" },
            t("action.csv"))),
        facts("bargain-stats", [
          ["social.started", el("span", { "data-started": String(s.started) }, fmt.num(s.started))],
          ["bstatus.completed", fmt.num(s.completed)], ["bstatus.purchased", el("span", { "data-purchased": String(s.purchased) }, fmt.num(s.purchased))],
          ["bstatus.expired", fmt.num(s.expired)], ["social.helps", fmt.num(s.helps)],
          ["social.new_helpers", fmt.num(stats.new_helpers)], ["social.gmv", fmt.money(s.gmv, cur)]]),
        el("h2", {}, t("social.session_list")),
        el("div", { class: "filters" }, statusFilter("session-status", ["", "open", "completed", "purchased", "expired"], status, "bstatus.")),
        table("sessions", ["social.member", "social.price", "social.helps", "settings.status", "social.expires"], sessions.items, (x, k) => ({
          "social.member": x.member_id, "social.price": fmt.money(x.price, cur),
          "social.helps": x.helps + " / " + x.helpers_needed,
          "settings.status": el("span", { "data-session-status": x.status }, t("bstatus." + x.status)),
          "social.expires": when(x.expires_at) })[k], (x) => S.go("bargain-session", { id: x.id })));
      stamp();
    },
  };

  S.pages["bargain-session"] = {
    async render(params, root) {
      const x = await S.api("GET", "/v1/bargain-sessions/" + (params.get("id") || ""));
      const cur = S.workspace.currency;
      S.fill(root, el("h1", {}, t("social.session") + " · " + t("bstatus." + x.status)),
        facts("session-facts", [["social.member", x.member_id], ["social.price", el("span", { id: "session-price" }, fmt.money(x.price, cur))],
          ["social.helps", x.helps + " / " + x.helpers_needed], ["social.expires", when(x.expires_at)], ["coupon.order", x.order_id || "–"]]),
        table("helps", ["social.seq", "social.helper", "social.cut", "social.price_after", "social.new_member"], x.help_list, (h, k) => ({
          "social.seq": String(h.seq), "social.helper": h.helper_id, "social.cut": fmt.money(h.cut, cur),
          "social.price_after": fmt.money(h.price_after, cur), "social.new_member": h.new_member ? t("social.yes") : "–" })[k]));
      stamp();
    },
  };
})();
