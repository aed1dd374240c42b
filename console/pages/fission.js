// Invites & lotteries / 邀请与抽奖: invite campaigns (codes, referrals with
// the operator's decisions, leaderboard) and 0-yuan lotteries (commitment,
// entries, the draw and its winners).
"use strict";
(function () {
  const S = window.Shequn;
  const { el, t, fmt, stamp, when, table, input } = S;

  const fissionCampaigns = () => ((S.lists && S.lists.campaigns) || []).filter((c) => ["referral", "lottery"].includes(c.kind));

  S.pages.fission = {
    nav: "nav.fission",
    order: 7.5,
    async render(params, root) {
      const list = fissionCampaigns();
      S.fill(root, el("h1", {}, t("nav.fission")), el("p", { class: "note" }, t("fission.about")),
        list.length ? table("fission-campaigns", ["common.name", "fission.kind", "settings.status"], list, (c, k) => ({
          "common.name": c.name, "fission.kind": t("fission.kind." + c.kind), "settings.status": t("cstatus." + c.status) })[k],
        (c) => S.go(c.kind === "lottery" ? "lottery" : "invites", { id: c.id }))
          : el("div", { class: "state", id: "fission-none" }, t("fission.none")));
      stamp();
    },
  };

  function codeForm(id, shown) {
    return el("div", { class: "card" }, el("h2", {}, t("invite.code_for")),
      S.editForm("code-form", [
        ["invite.member_id", input("member_id", "", { required: true, maxlength: 36, placeholder: "01a2…" })],
      ], t("invite.make"), async (d) => {
        const c = await S.api("POST", "/v1/campaigns/" + id + "/invite-codes", { member_id: d.member_id.trim() });
        S.fill(shown, el("div", { id: "invite-code", "data-code": c.code }, t("invite.code") + " " + c.code + " · " + c.link));
      }), shown);
  }

  // An invite campaign: codes, referrals (flagged ones decided here), leaderboard.
  S.pages.invites = {
    async render(params, root) {
      const id = params.get("id");
      const status = params.get("status") || "";
      const q = status ? "&status=" + status : "";
      const [c, refs, board] = await Promise.all([S.api("GET", "/v1/campaigns/" + id),
        S.api("GET", "/v1/campaigns/" + id + "/referrals?limit=100" + q), S.api("GET", "/v1/campaigns/" + id + "/leaderboard")]);
      const decide = (r, verb) => async (ev) => {
        ev.stopPropagation();
        await S.api("POST", "/v1/referrals/" + r.id + "/" + verb, {});
        S.route();
      };
      const statuses = ["", "pending", "qualified", "flagged", "revoked", "rejected"];
      S.fill(root, el("h1", {}, c.name + " · " + t("fission.kind.referral")),
        S.canWrite() ? codeForm(id, el("div", { class: "note", id: "code-shown" })) : null,
        el("h2", {}, t("invite.leaderboard")),
        table("leaderboard", ["invite.rank", "invite.inviter", "invite.qualified"], board.items, (r, k) => ({
          "invite.rank": String(r.rank), "invite.inviter": r.display_name || r.member_id, "invite.qualified": fmt.num(r.qualified) })[k]),
        el("h2", {}, t("invite.referrals")),
        el("div", { class: "filters" }, el("select", { id: "referral-status", onchange: (e) => S.setParams({ status: e.target.value }) },
          ...statuses.map((s) => el("option", { value: s, selected: s === status }, s ? t("rstatus." + s) : t("invite.all"))))),
        table("referrals", ["invite.invitee", "invite.inviter", "invite.joined", "invite.hold_until", "invite.status", "invite.reason",
          "settings.actions"], refs.items, (r, k) => ({
          "invite.invitee": r.invitee_id, "invite.inviter": r.inviter_id || "–", "invite.joined": when(r.joined_at),
          "invite.hold_until": when(r.hold_until), "invite.status": t("rstatus." + r.status), "invite.reason": r.reason || "–",
          "settings.actions": r.status === "flagged" && S.canWrite() ? el("span", {},
            el("button", { "data-approve": r.id, onclick: decide(r, "approve") }, t("invite.approve")), " ",
            el("button", { "data-reject": r.id, onclick: decide(r, "reject") }, t("invite.reject"))) : "" })[k]));
      stamp();
    },
  };

  // A lottery: its commitment before the draw, entries, then the revealed seed and winners.
  S.pages.lottery = {
    async render(params, root) {
      const id = params.get("id");
      const [l, d] = await Promise.all([S.api("GET", "/v1/lotteries/" + id), S.api("GET", "/v1/lotteries/" + id + "/draw")]);
      const shown = el("div", { class: "note", id: "entered" });
      const facts = [
        ["lottery.draw_at", when(l.draw_at)], ["lottery.entrants", fmt.num(l.entrants)], ["lottery.entries", fmt.num(l.entries)],
        ["lottery.commitment", el("code", { id: "commitment" }, l.commitment)],
      ];
      if (d.status === "drawn") {
        facts.push(["lottery.seed", el("code", { id: "seed" }, d.seed)], ["lottery.digest", el("code", {}, d.entries_digest)]);
      }
      S.fill(root, el("h1", {}, l.name + " · " + t("lottery.status." + l.status) + (l.late ? " · " + t("lottery.late") : "")),
        el("dl", { class: "facts", id: "lottery-facts", "data-status": l.status },
          ...facts.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)])),
        el("h2", {}, t("lottery.prizes")),
        table("prizes", ["lottery.prize", "lottery.quantity"], l.prizes, (p, k) => ({
          "lottery.prize": p.name, "lottery.quantity": fmt.num(p.quantity) })[k]),
        l.status === "open" && S.canWrite() ? el("div", { class: "card" }, el("h2", {}, t("lottery.enter")),
          S.editForm("enter-form", [["invite.member_id", input("member_id", "", { required: true, maxlength: 36 })]],
            t("lottery.enter"), async (f) => {
              const e = await S.api("POST", "/v1/lotteries/" + id + "/entries", { member_id: f.member_id.trim() });
              S.fill(shown, el("span", { "data-entries": String(e.entries) }, t("lottery.entered", { n: e.entries })));
            }), shown) : null,
        d.status === "drawn" ? el("div", {},
          el("h2", {}, t("lottery.winners")),
          el("p", { class: "note" }, t("lottery.verify"), " ",
            el("a", { href: d.entries_url, download: "entries.txt", id: "entries-list" }, t("lottery.list"))),
          table("winners", ["lottery.prize", "invite.invitee", "lottery.entry_no"], d.winners, (w, k) => ({
            "lottery.prize": w.prize, "invite.invitee": w.masked_name + " · " + w.member_id, "lottery.entry_no": String(w.entry_no) })[k]),
          ...d.unawarded.map((u) => el("p", { class: "note" }, u.prize + " · " + t("lottery.unawarded", { n: u.quantity }))))
          : null);
      stamp();
    },
  };
})();
