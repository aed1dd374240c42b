// Coupons / 优惠券: templates, a template's stats and coupons, issuing.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, stamp, when, table, input, choose, numberOrNull } = S;

  // "满100减20", "15% off, at most ¥50", "¥20 off".
  S.discountText = function (d, currency) {
    const m = (v) => fmt.money(v, currency);
    if (d.kind === "amount_off") return t("coupon.amount_off", { amount: m(d.amount) });
    if (d.kind === "threshold") return t("coupon.threshold", { min: m(d.min_spend), amount: m(d.amount) });
    return t("coupon.percent_off", { percent: d.percent }) + (d.max_amount ? " " + t("coupon.at_most", { amount: m(d.max_amount) }) : "");
  };
  const validityText = (v) => (v.kind === "after_claim" ? t("coupon.after_claim", { days: v.days })
    : when(v.starts_at) + " → " + when(v.ends_at));

  function templateForm() {
    const cur = S.workspace.currency;
    const yuan = (v) => (v === "" || v === undefined ? null : Math.round(Number(v) * 100));
    return el("div", { class: "card", id: "new-template" }, el("h2", {}, t("coupon.new")),
      S.editForm("template-form", [
        ["common.name", input("name", "", { required: true, maxlength: 200, placeholder: "VIP 满100减20" })],
        ["coupon.kind", choose("kind", ["threshold", "amount_off", "percent_off"], "threshold", (k) => t("coupon.kind." + k))],
        ["coupon.amount", el("span", {}, input("amount", "", { type: "number", min: 0.01, step: 0.01, class: "short" }), " ", cur)],
        ["coupon.min_spend", el("span", {}, input("min_spend", "", { type: "number", min: 0, step: 0.01, class: "short" }), " ", cur)],
        ["coupon.percent", el("span", {}, input("percent", "", { type: "number", min: 1, max: 100, class: "short" }), " %")],
        ["coupon.valid_days", input("days", 7, { type: "number", min: 1, max: 3650 })],
        ["coupon.total", input("total", "", { type: "number", min: 0, placeholder: t("mall.unlimited") })],
        ["coupon.per_member_limit", input("per_member_limit", 1, { type: "number", min: 1, max: 1000 })],
        ["coupon.stackable", el("input", { type: "checkbox", name: "stackable", id: "in-stackable" })],
        ["scope.campaign", el("select", { name: "campaign", id: "in-campaign" }, el("option", { value: "" }, "–"),
          ...((S.lists && S.lists.campaigns) || []).map((c) => el("option", { value: c.id }, c.name)))],
        ["coupon.claim_url", input("claim_url", "", { type: "url", maxlength: 2048, placeholder: "https://" })],
      ], t("coupon.create"), async (d) => {
        const discount = d.kind === "threshold" ? { kind: "threshold", min_spend: yuan(d.min_spend), amount: yuan(d.amount) }
          : d.kind === "amount_off" ? { kind: "amount_off", amount: yuan(d.amount) }
            : { kind: "percent_off", percent: Number(d.percent), max_amount: yuan(d.amount) };
        const made = await S.api("POST", "/v1/coupon-templates", { name: d.name, discount,
          validity: { kind: "after_claim", days: Number(d.days) }, total: numberOrNull(d.total),
          per_member_limit: Number(d.per_member_limit), stackable: !!d.stackable,
          campaign_id: d.campaign || null, claim_url: d.claim_url || null });
        S.go("coupon", { id: made.id });
      }));
  }

  S.pages.coupons = {
    nav: "nav.coupons",
    order: 7.2,
    async render(params, root) {
      const list = await S.api("GET", "/v1/coupon-templates?limit=200");
      const adding = params.get("new") === "1";
      S.fill(root, el("h1", {}, t("nav.coupons")),
        S.canWrite() ? el("div", { class: "filters" }, el("button", { id: "add-template", "aria-pressed": String(adding),
          onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("coupon.new"))) : null,
        adding ? templateForm() : null,
        table("templates", ["common.name", "coupon.discount", "coupon.validity", "coupon.given", "settings.status"], list.items,
          (x, k) => ({ "common.name": x.name, "coupon.discount": S.discountText(x.discount, x.currency),
            "coupon.validity": validityText(x.validity),
            "coupon.given": fmt.num(x.issued) + " / " + (x.total === null ? "∞" : fmt.num(x.total)),
            "settings.status": t("pstatus." + x.status) })[k], (x) => S.go("coupon", { id: x.id })));
    },
  };

  S.pages.coupon = {
    async render(params, root) {
      const id = params.get("id") || "";
      const [tpl, stats, coupons, groups, issues] = await Promise.all([
        S.api("GET", "/v1/coupon-templates/" + id),
        S.api("GET", "/v1/coupon-templates/" + id + "/stats"),
        S.api("GET", "/v1/coupons?limit=50&template_id=" + id),
        S.all("/v1/groups", 5),
        S.api("GET", "/v1/coupon-issues?limit=20&template_id=" + id),
      ]);
      const names = Object.fromEntries(groups.map((g) => [g.id, g.name]));
      const cur = tpl.currency;
      const write = S.canWrite();
      const fail = (e) => root.prepend(el("div", { class: "state error" }, S.explain(e)));
      const fact = (key, value, shownAs) => el("div", { class: "kpi", "data-stat": key, "data-value": value === null ? "" : String(value) },
        el("div", { class: "label" }, t("coupon.stat." + key)), el("div", { class: "value" }, shownAs));
      const f = stats.total;
      const issue = el("div", { class: "card", id: "issue" }, el("h2", {}, t("coupon.issue")),
        S.editForm("issue-form", [
          ["coupon.issue_to", el("select", { name: "target", id: "in-target" },
            ...((S.lists && S.lists.tiers) || []).map((x) => el("option", { value: "tier:" + x.key }, t("scope.tier") + " · " + x.name)),
            ...groups.map((g) => el("option", { value: "group:" + g.id }, t("by.group") + " · " + g.name)))],
        ], t("coupon.issue"), async (d) => {
          const [kind, value] = d.target.split(":");
          let r = await S.api("POST", "/v1/coupon-templates/" + id + "/issues", { target: kind === "tier" ? { tier: value } : { group_id: value } });
          const note = el("div", { class: "state", id: "issued", "data-status": r.status });
          root.prepend(note);
          // A large target is issued by a job: follow its progress.
          while (r.status === "queued" || r.status === "running") {
            note.textContent = t("coupon.issuing", { done: fmt.num(r.processed), total: fmt.num(r.total) });
            await new Promise((ok) => setTimeout(ok, 1000));
            if (!note.isConnected) return;
            r = await S.api("GET", "/v1/coupon-issues/" + r.id);
          }
          note.dataset.status = r.status;
          note.textContent = (r.status === "failed" ? t("coupon.issue_failed", { why: r.error || "" }) + " " : "") +
            t("coupon.issued", { n: r.issued, limit: r.skipped.limit_reached, eligible: r.skipped.not_eligible, stock: r.skipped.out_of_stock });
        }));
      const targetText = (x) => (x.group_id ? t("by.group") + " · " + (names[x.group_id] || x.group_id)
        : x.tier ? t("scope.tier") + " · " + x.tier : x.layer_id ? t("coupon.issue_layer")
        : t("coupon.issue_members", { n: x.member_count || 0 }));
      const issueList = el("div", { class: "card" }, el("h2", {}, t("coupon.issues")),
        table("coupon-issues", ["member.when", "coupon.issue_to", "settings.status", "coupon.issue_progress", "coupon.stat.given"], issues.items,
          (x, k) => ({ "member.when": when(x.created_at), "coupon.issue_to": targetText(x.target),
            "settings.status": t("issue.status." + x.status) + (x.error ? " · " + x.error : ""),
            "coupon.issue_progress": fmt.num(x.processed) + " / " + fmt.num(x.total), "coupon.stat.given": fmt.num(x.issued) })[k]));
      const toggle = write && tpl.status !== "archived" ? el("button", { id: "toggle-template", onclick: async () => {
        try {
          await S.api("PATCH", "/v1/coupon-templates/" + id, { status: tpl.status === "active" ? "paused" : "active" });
          S.route();
        } catch (e) { fail(e); }
      } }, t(tpl.status === "active" ? "loyalty.pause" : "loyalty.resume")) : null;
      S.fill(root, el("h1", {}, tpl.name),
        el("p", { class: "note" }, S.discountText(tpl.discount, cur) + " · " + validityText(tpl.validity) + " · " + t("pstatus." + tpl.status)),
        el("div", { class: "filters" }, toggle,
          el("a", { href: "/v1/coupon-templates/" + id + "/stats?format=csv", download: "coupon-stats.csv", class: "button" }, t("action.csv"))),
        el("div", { class: "kpis" },
          fact("given", f.given, fmt.num(f.given)), fact("redeemed", f.redeemed, fmt.num(f.redeemed)),
          fact("redemption_rate", f.redemption_rate, fmt.pct(f.redemption_rate)), fact("expired", f.expired, fmt.num(f.expired)),
          fact("discount", f.discount, fmt.money(f.discount, cur)), fact("gmv", f.gmv, fmt.money(f.gmv, cur)),
          fact("remaining", stats.remaining, stats.remaining === null ? "∞" : fmt.num(stats.remaining))),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("by.group")),
            table("coupon-groups", ["groups.col.name", "coupon.stat.given", "coupon.stat.redeemed", "coupon.stat.redemption_rate", "coupon.stat.gmv"],
              stats.groups, (g, k) => ({ "groups.col.name": g.group_id ? names[g.group_id] || "–" : t("by.none"),
                "coupon.stat.given": fmt.num(g.given), "coupon.stat.redeemed": fmt.num(g.redeemed),
                "coupon.stat.redemption_rate": fmt.pct(g.redemption_rate), "coupon.stat.gmv": fmt.money(g.gmv, cur) })[k])),
          write ? issue : null),
        issues.items.length ? issueList : null,
        el("div", { class: "card" }, el("div", { class: "tools" }, el("h2", {}, t("coupon.latest")),
          el("a", { href: "/v1/coupons?format=csv&template_id=" + id, download: "coupons.csv", class: "button", id: "csv-coupons" }, t("action.csv"))),
          table("coupons", ["member.when", "coupon.code", "settings.status", "coupon.order", "coupon.stat.discount"], coupons.items,
            (c, k) => ({ "member.when": when(c.claimed_at), "coupon.code": c.code, "settings.status": t("cpstatus." + c.status),
              "coupon.order": c.order_id || "–",
              "coupon.stat.discount": c.discount_applied === null ? "–" : fmt.money(c.discount_applied, cur) })[k])));
      stamp();
    },
  };
})();
