// Points & tiers / 积分与等级: earning rules and automatic tiers.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- points rules and automatic tiers ---------------------------------------
  const METRICS = ["gmv", "orders", "points_earned", "active_days"];

  // An earning rule as `PUT` takes it (a rule is replaced whole).
  function ruleInput(r, changes) {
    const base = { name: r.name, trigger: r.trigger, status: r.status, tiers: r.tiers, group_ids: r.group_ids,
      starts_at: r.starts_at, ends_at: r.ends_at };
    const kind = r.trigger === "order_paid" ? { points_per_unit: r.points_per_unit, unit: r.unit }
      : { event_type: r.event_type, points: r.points, daily_cap: r.daily_cap };
    return Object.assign(base, kind, changes || {});
  }

  function earnsText(r, currency) {
    if (r.trigger === "order_paid") return t("loyalty.per_unit", { points: r.points_per_unit, unit: fmt.money(r.unit, currency) });
    return t("loyalty.per_event", { points: r.points, type: S.eventName(r.event_type) }) +
      (r.daily_cap ? " · " + t("loyalty.cap", { n: r.daily_cap }) : "");
  }

  function conditionText(c, currency) {
    const min = c.metric === "gmv" ? fmt.money(c.min, currency) : fmt.num(c.min);
    return t("metric." + c.metric) + " ≥ " + min + " (" + t("loyalty.days", { n: c.days }) + ")";
  }

  // A member's figure against a rule's minimum: "GMV ¥1,200.00 (≥ ¥1,000.00, 90 days)".
  function readingText(w, currency) {
    const show = (v) => (w.metric === "gmv" ? fmt.money(v, currency) : fmt.num(v));
    return t("metric." + w.metric) + " " + show(w.value) + " (" + (w.met ? "≥ " : "< ") + show(w.min) + ", " +
      t("loyalty.days", { n: w.days }) + ")";
  }

  // The tier rules as rows the page edits: tier, all/any, conditions.
  function tierRuleRow(rule, tiers) {
    const join = rule && rule.when && rule.when.any ? "any" : "all";
    const conds = (rule && rule.when && (rule.when.all || rule.when.any)) || [{ metric: "gmv", days: 90, min: 0 }];
    const list = el("div", { class: "conds" });
    const cond = (c) => el("div", { class: "cond" },
      el("select", { class: "c-metric", "aria-label": t("loyalty.metric") },
        ...METRICS.map((m) => el("option", { value: m, selected: m === c.metric }, t("metric." + m)))),
      " ≥ ", el("input", { class: "c-min short", type: "number", min: 0, value: c.metric === "gmv" ? c.min / 100 : c.min,
        "aria-label": t("loyalty.min") }),
      " ", t("loyalty.within"), " ", el("input", { class: "c-days short", type: "number", min: 1, max: 366, value: c.days,
        "aria-label": t("loyalty.days_label") }), " ", t("funnel.days"),
      el("button", { type: "button", class: "remove", onclick: (ev) => ev.target.closest(".cond").remove() }, "×"));
    list.append(...conds.map(cond));
    return el("div", { class: "tier-rule", "data-id": (rule && rule.id) || "" },
      el("select", { class: "r-tier", "aria-label": t("scope.tier") },
        ...tiers.map((x) => el("option", { value: x.key, selected: rule && rule.tier === x.key }, x.name))),
      el("select", { class: "r-join", "aria-label": t("loyalty.join") },
        ...["all", "any"].map((j) => el("option", { value: j, selected: j === join }, t("loyalty.join." + j)))),
      list,
      el("button", { type: "button", class: "add-cond", onclick: () => list.append(cond({ metric: "orders", days: 90, min: 1 })) },
        t("loyalty.add_condition")),
      el("button", { type: "button", class: "remove-rule", onclick: (ev) => ev.target.closest(".tier-rule").remove() },
        t("settings.delete")));
  }

  function readTierRules(node) {
    return [...node.querySelectorAll(".tier-rule")].map((r) => {
      const conds = [...r.querySelectorAll(".cond")].map((c) => {
        const metric = c.querySelector(".c-metric").value;
        const min = Number(c.querySelector(".c-min").value);
        return { metric, days: Number(c.querySelector(".c-days").value), min: metric === "gmv" ? Math.round(min * 100) : min };
      });
      const rule = { tier: r.querySelector(".r-tier").value, when: { [r.querySelector(".r-join").value]: conds } };
      if (r.dataset.id) rule.id = r.dataset.id;
      return rule;
    });
  }

  S.pages.loyalty = {
    nav: "nav.loyalty",
    order: 7.5,
    async render(params, root) {
      const [rules, tierRules, tiers] = await Promise.all([
        S.api("GET", "/v1/points-rules?limit=200"), S.api("GET", "/v1/tier-rules"), S.api("GET", "/v1/tiers"),
      ]);
      const admin = ["admin", "owner"].includes(S.session.workspace.role);
      const cur = S.workspace.currency;
      const fail = (e) => root.prepend(el("div", { class: "state error" }, S.explain(e)));
      const act = (method, path, body) => async () => {
        try { await S.api(method, path, body); S.route(); } catch (e) { fail(e); }
      };
      const tierName = Object.fromEntries(tiers.items.map((x) => [x.key, x.name]));
      const addRule = el("div", { class: "card", id: "new-rule" }, el("h2", {}, t("loyalty.new_rule")),
        S.editForm("rule-form", [
          ["common.name", input("name", "", { required: true, maxlength: 200 })],
          ["loyalty.trigger", choose("trigger", ["order_paid", "event"], "order_paid", (x) => t("loyalty.trigger." + x))],
          ["loyalty.points_per_unit", el("span", {}, input("points_per_unit", 1, { type: "number", min: 1, class: "short" }), " ",
            t("loyalty.per"), " ", input("unit", 1, { type: "number", min: 0.01, step: 0.01, class: "short" }), " ", cur)],
          ["loyalty.event_type", input("event_type", "", { placeholder: "custom.shared" })],
          ["loyalty.points", input("points", "", { type: "number", min: 1 })],
          ["loyalty.daily_cap", input("daily_cap", "", { type: "number", min: 1 })],
        ], t("loyalty.create_rule"), async (d) => {
          const body = d.trigger === "order_paid"
            ? { name: d.name, trigger: d.trigger, points_per_unit: Number(d.points_per_unit), unit: Math.round(Number(d.unit) * 100) }
            : { name: d.name, trigger: d.trigger, event_type: d.event_type, points: Number(d.points), daily_cap: numberOrNull(d.daily_cap) };
          await S.api("POST", "/v1/points-rules", body);
          S.route();
        }));
      const ruleTable = table("rules", ["common.name", "loyalty.earns", "loyalty.scope", "settings.status", "settings.actions"],
        rules.items, (r, k) => ({
          "common.name": r.name, "loyalty.earns": earnsText(r, cur),
          "loyalty.scope": [(r.tiers || []).map((x) => tierName[x] || x).join("、"),
            r.group_ids ? t("loyalty.groups_n", { n: r.group_ids.length }) : ""].filter(Boolean).join(" · ") || t("loyalty.everyone"),
          "settings.status": t("pstatus." + r.status),
          "settings.actions": admin ? el("span", {},
            el("button", { "data-rule": r.id, "data-act": "toggle", onclick: act("PUT", "/v1/points-rules/" + r.id,
              ruleInput(r, { status: r.status === "active" ? "paused" : "active" })) },
              t(r.status === "active" ? "loyalty.pause" : "loyalty.resume")), " ",
            el("button", { "data-rule": r.id, "data-act": "delete", onclick: async () => {
              if (confirm(t("loyalty.confirm_delete"))) await act("DELETE", "/v1/points-rules/" + r.id)();
            } }, t("settings.delete"))) : "" })[k]);

      // Tier rules: read as sentences, edited as rows, previewed before applying.
      const editing = el("div", { id: "tier-rules" }, ...tierRules.rules.map((r) => tierRuleRow(r, tiers.items)));
      const preview = el("div", { id: "evaluation" });
      const evaluate = (dry) => async () => {
        try {
          const r = await S.api("POST", "/v1/tier-rules/evaluate", { dry_run: dry });
          S.fill(preview, el("p", { class: "note", id: "evaluation-summary", "data-changed": String(r.changed) },
            t(dry ? "loyalty.would_change" : "loyalty.changed", { n: r.changed, members: r.members, grace: r.in_grace, locked: r.locked })),
            table("moves", ["members.col.name", "loyalty.from", "loyalty.to", "loyalty.why"], r.changes.slice(0, 50), (m, k) => ({
              "members.col.name": el("a", { href: "#/member?id=" + m.member_id }, m.member_id.slice(0, 8)),
              "loyalty.from": m.from ? tierName[m.from] || m.from : "–", "loyalty.to": m.to ? tierName[m.to] || m.to : "–",
              "loyalty.why": (m.why || []).map((w) => readingText(w, cur)).join("; ") || t("loyalty.by_default") })[k]));
        } catch (e) { fail(e); }
      };
      const settings = S.editForm("tier-form", [
        ["loyalty.rules", el("div", {}, editing, admin ? el("button", { type: "button", id: "add-tier-rule",
          onclick: () => editing.append(tierRuleRow(null, tiers.items)) }, t("loyalty.add_tier_rule")) : null)],
        ["loyalty.default_tier", el("select", { name: "default_tier", id: "in-default_tier" }, el("option", { value: "" }, t("loyalty.leave")),
          ...tiers.items.map((x) => el("option", { value: x.key, selected: x.key === tierRules.default_tier }, x.name)))],
        ["loyalty.grace", input("downgrade_grace_days", tierRules.downgrade_grace_days || 0, { type: "number", min: 0, max: 366 })],
        ["loyalty.lock", input("manual_lock_days", tierRules.manual_lock_days || 0, { type: "number", min: 0, max: 3660 })],
        ["loyalty.enabled", el("input", { type: "checkbox", name: "enabled", id: "in-enabled", checked: tierRules.enabled !== false })],
      ], t("settings.save"), async (d, form) => {
        await S.api("PUT", "/v1/tier-rules", { rules: readTierRules(form), default_tier: d.default_tier || null,
          downgrade_grace_days: Number(d.downgrade_grace_days), manual_lock_days: Number(d.manual_lock_days), enabled: !!d.enabled });
      });
      S.fill(root, el("h1", {}, t("nav.loyalty")),
        el("div", { class: "card" }, el("h2", {}, t("loyalty.earning")), el("p", { class: "note" }, t("loyalty.earning_note")),
          ruleTable), admin ? addRule : null,
        el("div", { class: "card", id: "tiers-card" }, el("h2", {}, t("loyalty.tiers")),
          el("ul", { class: "sentences", id: "tier-sentences" }, ...tierRules.rules.map((r) => el("li", {},
            (tierName[r.tier] || r.tier) + ": " + (r.when.all || r.when.any).map((c) => conditionText(c, cur))
              .join(r.when.all ? t("loyalty.and") : t("loyalty.or"))))),
          admin ? settings : null,
          el("div", { class: "filters" },
            el("button", { id: "dry-run", onclick: evaluate(true) }, t("loyalty.preview")),
            admin ? el("button", { id: "apply", onclick: async () => {
              if (confirm(t("loyalty.confirm_apply"))) await evaluate(false)();
            } }, t("loyalty.apply")) : null),
          preview));
    },
  };
})();
