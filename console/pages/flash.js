// Flash sales / 限时秒杀: sales with their run's live stock, a sale's
// reservations, creating a daily sale.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, stamp, when, table, input } = S;

  const runText = (s) => (s.occurrence
    ? (s.on_now ? t("flash.on_now") : t("flash.next")) + " " + when(s.occurrence.starts_at) + " → " + when(s.occurrence.ends_at)
    : t("flash.over"));

  function saleForm() {
    const campaigns = ((S.lists && S.lists.campaigns) || []).filter((c) => c.kind === "flash_sale");
    const cur = S.workspace.currency;
    const yuan = (v) => Math.round(Number(v) * 100);
    if (!campaigns.length) return el("div", { class: "state", id: "needs-campaign" }, t("flash.needs_campaign"));
    return el("div", { class: "card", id: "new-sale" }, el("h2", {}, t("flash.new")),
      S.editForm("sale-form", [
        ["scope.campaign", el("select", { name: "campaign", id: "in-campaign" },
          ...campaigns.map((c) => el("option", { value: c.id }, c.name)))],
        ["flash.at", input("at", "10:00", { type: "time", required: true })],
        ["flash.duration", input("duration", 30, { type: "number", min: 1, max: 1440 })],
        ["flash.product", input("product_id", "", { required: true, maxlength: 128, placeholder: "sku-9" })],
        ["common.name", input("item_name", "", { required: true, maxlength: 200 })],
        ["flash.list_price", el("span", {}, input("list_price", "", { type: "number", min: 0, step: 0.01, class: "short", required: true }), " ", cur)],
        ["flash.sale_price", el("span", {}, input("sale_price", "", { type: "number", min: 0, step: 0.01, class: "short", required: true }), " ", cur)],
        ["mall.col.stock", input("stock", 100, { type: "number", min: 0 })],
        ["coupon.per_member_limit", input("limit", 1, { type: "number", min: 1, max: 1000 })],
        ["flash.link", input("link", "", { type: "url", maxlength: 2048, placeholder: "https://" })],
      ], t("flash.create"), async (d) => {
        const made = await S.api("POST", "/v1/flash-sales", { campaign_id: d.campaign, link: d.link || null,
          schedule: { kind: "daily", at: d.at, duration_minutes: Number(d.duration) },
          items: [{ product_id: d.product_id, name: d.item_name, list_price: yuan(d.list_price), sale_price: yuan(d.sale_price),
            stock: Number(d.stock), per_member_limit: Number(d.limit) }] });
        S.go("flash-sale", { id: made.id });
      }));
  }

  S.pages.flash = {
    nav: "nav.flash",
    order: 7.3,
    async render(params, root) {
      const list = await S.api("GET", "/v1/flash-sales?limit=100");
      const adding = params.get("new") === "1";
      const cur = S.workspace.currency;
      S.fill(root, el("h1", {}, t("nav.flash")),
        S.canWrite() ? el("div", { class: "filters" }, el("button", { id: "add-sale", "aria-pressed": String(adding),
          onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("flash.new"))) : null,
        adding ? saleForm() : null,
        table("sales", ["common.name", "flash.run", "flash.items", "flash.available", "settings.status"], list.items, (s, k) => ({
          "common.name": s.name, "flash.run": runText(s),
          "flash.items": s.items.map((i) => i.name + " " + fmt.money(i.sale_price, cur)).join("、"),
          "flash.available": fmt.num(s.items.reduce((a, i) => a + i.available, 0)) + " / " +
            fmt.num(s.items.reduce((a, i) => a + i.stock, 0)),
          "settings.status": t("pstatus." + s.status) })[k], (s) => S.go("flash-sale", { id: s.id })));
      stamp();
    },
  };

  S.pages["flash-sale"] = {
    async render(params, root) {
      const id = params.get("id") || "";
      const [s, reservations] = await Promise.all([
        S.api("GET", "/v1/flash-sales/" + id),
        S.api("GET", "/v1/flash-sale-reservations?limit=50&sale_id=" + id),
      ]);
      const cur = S.workspace.currency;
      const toggle = S.canWrite() && s.status !== "archived" ? el("button", { id: "toggle-sale", onclick: async () => {
        try {
          await S.api("PATCH", "/v1/flash-sales/" + id, { status: s.status === "active" ? "paused" : "active" });
          S.route();
        } catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      } }, t(s.status === "active" ? "loyalty.pause" : "loyalty.resume")) : null;
      S.fill(root, el("h1", {}, s.name), el("p", { class: "note", id: "run" }, runText(s) + " · " + t("pstatus." + s.status)),
        el("div", { class: "filters" }, toggle, el("button", { id: "refresh", onclick: () => S.route() }, t("flash.refresh"))),
        el("div", { class: "card" }, el("h2", {}, t("flash.items")),
          table("sale-items", ["flash.product", "common.name", "flash.sale_price", "mall.col.stock", "flash.reserved", "flash.sold", "flash.available"],
            s.items, (i, k) => ({ "flash.product": i.product_id, "common.name": i.name,
              "flash.sale_price": fmt.money(i.sale_price, cur) + " (" + fmt.money(i.list_price, cur) + ")",
              "mall.col.stock": fmt.num(i.stock), "flash.reserved": fmt.num(i.reserved), "flash.sold": fmt.num(i.sold),
              "flash.available": el("span", { "data-available": i.product_id, "data-value": String(i.available) }, fmt.num(i.available)) })[k])),
        el("div", { class: "card" }, el("h2", {}, t("flash.reservations")),
          table("reservations", ["member.when", "flash.product", "mall.col.quantity", "settings.status", "coupon.order", "flash.expires"],
            reservations.items, (r, k) => ({ "member.when": when(r.created_at), "flash.product": r.product_id,
              "mall.col.quantity": String(r.quantity), "settings.status": t("rstatus." + r.status), "coupon.order": r.order_id || "–",
              "flash.expires": when(r.expires_at) })[k])));
      stamp();
    },
  };
})();
