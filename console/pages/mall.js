// The points mall / 积分商城: items and redemptions.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- points mall ---------------------------------------------------------
  const ITEM_NEXT = { active: ["paused", "archived"], paused: ["active", "archived"], archived: ["active"] };

  function itemForm() {
    return el("div", { class: "card", id: "new-item" }, el("h2", {}, t("mall.new_item")),
      S.editForm("item-form", [
        ["mall.col.name", input("name", "", { required: true, maxlength: 200 })],
        ["mall.kind", choose("kind", ["goods", "custom"], "goods", (k) => t("mall.kind." + k))],
        ["mall.col.cost", input("points_cost", "", { type: "number", min: 1, required: true })],
        ["mall.col.stock", input("stock", "", { type: "number", min: 0, placeholder: t("mall.unlimited") })],
        ["mall.limit", el("span", {}, input("limit_count", "", { type: "number", min: 1, class: "short" }), " ",
          choose("limit_period", ["day", "week", "month", "ever"], "ever", (k) => t("mall.period." + k)))],
        ["mall.auto_fulfil", el("input", { type: "checkbox", name: "auto_fulfil", id: "in-auto_fulfil" })],
      ], t("mall.create"), async (d) => {
        await S.api("POST", "/v1/mall/items", { name: d.name, kind: d.kind, points_cost: Number(d.points_cost),
          stock: numberOrNull(d.stock), auto_fulfil: !!d.auto_fulfil,
          per_member_limit: d.limit_count ? { count: Number(d.limit_count), period: d.limit_period } : null });
        S.setParams({ new: "" });
      }));
  }

  S.pages.mall = {
    async render(params, root) {
      const [items, redemptions] = await Promise.all([
        S.api("GET", "/v1/mall/items?limit=200"),
        S.api("GET", "/v1/mall/redemptions?limit=50"),
      ]);
      const write = S.canWrite();
      const act = (method, path, body) => async () => {
        try { await S.api(method, path, body); S.route(); }
        catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const names = Object.fromEntries(items.items.map((i) => [i.id, i.name]));
      const adding = params.get("new") === "1";
      S.fill(root, el("h1", {}, t("nav.mall")),
        write ? el("div", { class: "filters" }, el("button", { id: "add-item", "aria-pressed": String(adding),
          onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("mall.new_item"))) : null,
        adding ? itemForm() : null,
        el("div", { class: "card" }, el("h2", {}, t("mall.items")),
          table("items", ["mall.col.name", "mall.col.cost", "mall.col.stock", "mall.col.redeemed", "mall.col.status", "settings.actions"],
            items.items, (i, k) => ({ "mall.col.name": i.name, "mall.col.cost": fmt.num(i.points_cost),
              "mall.col.stock": i.stock === null || i.stock === undefined ? "∞" : fmt.num(i.stock),
              "mall.col.redeemed": fmt.num(i.redeemed), "mall.col.status": t("item." + i.status),
              "settings.actions": write ? el("span", {}, ...(ITEM_NEXT[i.status] || []).map((to) =>
                el("button", { "data-item": i.id, "data-to": to, onclick: act("PATCH", "/v1/mall/items/" + i.id, { status: to }) },
                  t("mall.to." + to)))) : "" })[k])),
        el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("mall.redemptions")),
          el("a", { href: "/v1/mall/redemptions?format=csv", download: "redemptions.csv", class: "button", id: "csv-redemptions" },
            t("action.csv"))),
          table("redemptions", ["member.when", "mall.col.name", "mall.col.quantity", "mall.col.points", "mall.col.status", "settings.actions"],
            redemptions.items, (r, k) => ({ "member.when": when(r.created_at), "mall.col.name": names[r.item_id] || "–",
              "mall.col.quantity": String(r.quantity), "mall.col.points": fmt.num(r.points_spent),
              "mall.col.status": t("redemption." + r.status),
              "settings.actions": write && r.status === "pending_fulfilment" ? el("span", {},
                el("button", { "data-fulfil": r.id, onclick: act("POST", "/v1/mall/redemptions/" + r.id + "/fulfil", {}) }, t("mall.fulfil")), " ",
                el("button", { "data-cancel": r.id, onclick: act("POST", "/v1/mall/redemptions/" + r.id + "/cancel", {}) }, t("mall.cancel")))
                : "" })[k])));
    },
  };
})();
