// Campaigns / 活动: the list, a campaign's page, check-in rules and stats.
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, today, addDays, daysBetween, stamp, bucket, when, table, input, choose, numberOrNull, deliveryCell } = S;

  // ---- campaigns -----------------------------------------------------------
  const KINDS = ["check_in", "coupon", "flash_sale", "lottery", "group_buy", "bargain", "referral", "content", "custom"];
  const SCENES = ["activity", "retention", "conversion", "fission"];
  // The legal status changes (campaigns/model.rs `can_transition`).
  const NEXT = { draft: ["scheduled", "running", "cancelled"], scheduled: ["draft", "running", "cancelled"],
    running: ["ended", "cancelled"], ended: [], cancelled: [] };

  function campaignForm(c) {
    const layers = (S.lists && S.lists.layers) || [];
    const target = c && c.target && c.target.layer_id ? c.target.layer_id : "";
    const rows = [
      ["campaigns.col.name", input("name", c ? c.name : "", { required: true, maxlength: 200 })],
      ["campaign.description", input("description", c ? c.description : "", { maxlength: 4000 })],
    ];
    if (!c) {
      rows.push(["campaigns.col.kind", choose("kind", KINDS, "check_in", (k) => t("kind." + k))],
        ["campaign.scene", choose("scene", SCENES, "activity", (k) => t("scene." + k))]);
    }
    rows.push(
      ["campaign.starts_at", input("starts_at", c ? S.toLocal(c.starts_at) : "", { type: "datetime-local" })],
      ["campaign.ends_at", input("ends_at", c ? S.toLocal(c.ends_at) : "", { type: "datetime-local" })],
      ["campaign.target", el("select", { name: "layer", id: "in-layer" }, el("option", { value: "" }, t("campaign.all_groups")),
        ...layers.map((l) => el("option", { value: l.id, selected: l.id === target }, l.name)))]);
    if (c && c.target && c.target.group_ids) rows.pop(); // chosen groups are kept as they are
    return el("div", { class: "card", id: c ? "edit-campaign" : "new-campaign" },
      el("h2", {}, t(c ? "campaign.edit" : "campaign.new")),
      S.editForm(c ? "campaign-form" : "new-campaign-form", rows, t(c ? "settings.save" : "campaign.create"), async (d) => {
        const body = { name: d.name, description: d.description, starts_at: S.fromLocal(d.starts_at), ends_at: S.fromLocal(d.ends_at) };
        if (d.layer !== undefined) body.target = d.layer ? { layer_id: d.layer } : null;
        if (c) {
          await S.api("PATCH", "/v1/campaigns/" + c.id, body);
        } else {
          body.kind = d.kind;
          body.scene = d.scene;
          const made = await S.api("POST", "/v1/campaigns", body);
          S.lists = null;
          S.go("campaign", { id: made.id });
        }
      }));
  }

  S.pages.campaigns = {
    nav: "nav.campaigns",
    order: 7,
    async render(params, root) {
      const status = params.get("status") || "";
      const list = await S.api("GET", "/v1/campaigns?limit=200" + (status ? "&status=" + status : ""));
      const cols = ["campaigns.col.name", "campaigns.col.kind", "campaigns.col.status", "campaigns.col.period",
        "campaigns.col.code"];
      const cell = (c, k) => ({
        "campaigns.col.name": c.name, "campaigns.col.kind": t("kind." + c.kind), "campaigns.col.status": t("cstatus." + c.status),
        "campaigns.col.period": (c.starts_at ? when(c.starts_at) : "–") + " → " + (c.ends_at ? when(c.ends_at) : "–"),
        "campaigns.col.code": c.tracking_code,
      })[k];
      const adding = params.get("new") === "1";
      S.fill(root, el("h1", {}, t("nav.campaigns")),
        el("div", { class: "filters" },
          el("select", { id: "f-status", "aria-label": t("campaigns.col.status"), onchange: (ev) => S.setParams({ status: ev.target.value }) },
            el("option", { value: "" }, t("campaign.all_statuses")),
            ...Object.keys(NEXT).map((x) => el("option", { value: x, selected: x === status }, t("cstatus." + x)))),
          S.canWrite() ? el("button", { id: "add-campaign", "aria-pressed": String(adding),
            onclick: () => S.setParams({ new: adding ? "" : "1" }) }, t("campaign.new")) : null,
          el("a", { href: "#/mall", class: "button", id: "to-mall" }, t("nav.mall")),
          el("a", { href: "/v1/campaigns?format=csv" + (status ? "&status=" + status : ""), download: "campaigns.csv",
            class: "button", id: "csv" }, t("action.csv"))),
        adding ? campaignForm(null) : null,
        table("campaigns", cols, list.items, cell, (c) => S.go("campaign", { id: c.id })));
    },
  };

  // A check-in campaign's rules, saved whole.
  function checkInForm(c) {
    const st = c.settings || {};
    const mk = st.makeup || null;
    const rewards = (st.streak_rewards || []).map((r) => r.day + ":" + r.points).join(", ");
    return el("div", { class: "card", id: "checkin-rules" }, el("h2", {}, t("checkin.rules")),
      S.editForm("checkin-form", [
        ["checkin.points", input("points", st.points, { type: "number", min: 0, max: 100000, required: true })],
        ["checkin.streak_rewards", input("streak_rewards", rewards, { placeholder: "3:20, 7:50" })],
        ["checkin.cycle_days", input("cycle_days", st.cycle_days, { type: "number", min: 1, max: 366 })],
        ["checkin.day_starts_at", input("day_starts_at", st.day_starts_at || "00:00", { type: "time" })],
        ["checkin.keywords", input("keywords", (st.keywords || []).join(", "))],
        ["checkin.makeup", el("span", {}, el("label", { class: "check" }, el("input", { type: "checkbox", name: "makeup", id: "in-makeup",
          checked: !!mk }), " ", t("checkin.makeup_on")), " ",
          t("checkin.makeup_max"), " ", input("max_per_month", mk ? mk.max_per_month : 2, { type: "number", min: 0, max: 31, class: "short" }), " ",
          t("checkin.makeup_within"), " ", input("within_days", mk ? mk.within_days : 7, { type: "number", min: 1, max: 31, class: "short" }), " ",
          t("checkin.makeup_cost"), " ", input("cost_points", mk ? mk.cost_points : 0, { type: "number", min: 0, class: "short" }))],
      ], t("settings.save"), async (d) => {
        const streak = d.streak_rewards.split(/[,，\s]+/).filter(Boolean).map((x) => {
          const [day, points] = x.split(/[:：]/);
          return { day: Number(day), points: Number(points) };
        });
        const settings = Object.assign({}, st, {
          points: Number(d.points), streak_rewards: streak, cycle_days: numberOrNull(d.cycle_days),
          day_starts_at: d.day_starts_at || "00:00",
          keywords: d.keywords.split(/[,，]/).map((k) => k.trim()).filter(Boolean),
          makeup: d.makeup ? { max_per_month: Number(d.max_per_month), within_days: Number(d.within_days),
            cost_points: Number(d.cost_points) } : null,
        });
        await S.api("PATCH", "/v1/campaigns/" + c.id, { settings });
      }));
  }

  S.pages.campaign = {
    async render(params, root) {
      const id = params.get("id") || "";
      const c = await S.api("GET", "/v1/campaigns/" + id);
      const write = S.canWrite();
      const setStatus = (to) => async () => {
        try {
          await S.api("POST", "/v1/campaigns/" + id + "/status", { status: to });
          S.lists = null;
          S.route();
        } catch (e) { root.prepend(el("div", { class: "state error" }, S.explain(e))); }
      };
      const head = [el("h1", {}, c.name), el("p", { class: "note" }, t("kind." + c.kind) + " · " + t("scene." + c.scene) + " · " +
        c.tracking_code),
        el("div", { class: "filters", id: "status-actions" },
          el("span", { class: "status", id: "campaign-status", "data-status": c.status }, t("cstatus." + c.status)),
          ...(write ? NEXT[c.status] : []).map((to) => el("button", { "data-to": to, onclick: setStatus(to) }, t("campaign.to." + to))))];
      const editable = write && !["ended", "cancelled"].includes(c.status);
      const edits = editable ? [campaignForm(c), c.kind === "check_in" ? checkInForm(c) : null] : [];
      if (c.kind === "coupon" || c.kind === "flash_sale") {
        const page = c.kind === "coupon" ? "coupons" : "flash";
        S.fill(root, ...head, el("div", { class: "state" }, el("a", { href: "#/" + page, id: "to-mechanics" },
          t("campaign.open_" + page))), ...edits);
        return;
      }
      if (c.kind !== "check_in") {
        S.fill(root, ...head, el("div", { class: "state" }, t("campaign.no_mechanics")), ...edits);
        return;
      }
      const p = S.period(params);
      const stats = await S.api("GET", "/v1/campaigns/" + id + "/check-ins/stats?from=" + p.from + "&to=" + p.to);
      const csv = "/v1/campaigns/" + id + "/check-ins/stats?format=csv&from=" + p.from + "&to=" + p.to;
      const fact = (key, value, shownAs) => el("div", { class: "kpi", "data-stat": key, "data-value": String(value) },
        el("div", { class: "label" }, t("checkin." + key)), el("div", { class: "value" }, shownAs));
      const node = el("div", { class: "chart", id: "chart-checkins" });
      S.fill(root, ...head, S.filterBar(params, false),
        el("div", { class: "kpis" },
          fact("check_ins", stats.check_ins, fmt.num(stats.check_ins)),
          fact("members", stats.members, fmt.num(stats.members)),
          fact("points_awarded", stats.points_awarded, fmt.num(stats.points_awarded)),
          fact("participation_rate", stats.participation_rate, fmt.pct(stats.participation_rate))),
        el("div", { class: "tools" }, el("span", {}), el("a", { href: csv, download: "check-ins.csv", class: "button" }, t("action.csv"))),
        el("div", { class: "charts" },
          el("div", { class: "card" }, el("h2", {}, t("checkin.daily")), node),
          el("div", { class: "card" }, el("h2", {}, t("checkin.streaks")),
            table("streaks", ["checkin.streak", "checkin.members"], stats.streaks, (b, k) => ({
              "checkin.streak": b.max === null ? b.min + "+" : b.min === b.max ? String(b.min) : b.min + "–" + b.max,
              "checkin.members": fmt.num(b.members) })[k]))),
        ...edits);
      stamp();
      S.chart(node, stats.days.map((d) => d.day), [
        { name: t("checkin.participants"), data: stats.days.map((d) => d.participants), type: "bar" },
        { name: t("checkin.first_time"), data: stats.days.map((d) => d.first_time) },
        { name: t("checkin.makeups"), data: stats.days.map((d) => d.makeups) },
      ]);
    },
  };
})();
