//! Message templates: text with `{{variable}}` placeholders, optionally
//! with a fallback used when the value is empty: `{{member.display_name|家人}}`.
//! Parsing is strict: an unknown variable or an unclosed `{{` is an error,
//! so a template that saved always renders.

use chrono::{Datelike, NaiveDateTime};

/// Every variable a template may use.
pub const VARIABLES: &[&str] = &[
    "group.name",
    "group.region",
    "group.category",
    "group.tier",
    "member.display_name",
    "campaign.name",
    "campaign.link",
    "campaign.tracking_code",
    "date",
    "time",
    "weekday",
    "checkin.streak",
    "checkin.total_days",
    "checkin.points_awarded",
    "points.balance",
    "coupon.name",
    "coupon.claim_link",
    "coupon.remaining",
    "flash_sale.link",
    "flash_sale.starts_at",
    "flash_sale.remaining",
    "lottery.commitment",
    "lottery.winners",
];

/// Variables that stand alone in a URL field (the link a card opens).
pub const LINK_VARIABLES: &[&str] = &["campaign.link", "coupon.claim_link", "flash_sale.link"];

/// Whether a variable reads the campaign of the plan or preview: its own
/// (`campaign.*`) or its engines' live figures (`coupon.*`, `flash_sale.*`).
pub fn needs_campaign(var: &str) -> bool {
    ["campaign.", "coupon.", "flash_sale.", "lottery."].iter().any(|p| var.starts_with(p))
}

/// Whether a variable's value is read live from a campaign engine at render
/// time ([`super::live`]).
pub fn is_live(var: &str) -> bool {
    ["coupon.", "flash_sale.", "lottery."].iter().any(|p| var.starts_with(p))
}

/// The templates [`variables`] accepts, as a regular expression (for the
/// OpenAPI document): text pieces hold no `{{` (nor end with `{`, which would
/// open one earlier); a placeholder is `{{`, a known name with white space
/// around it, an optional `|fallback` holding no `}}`, then `}}`; after the
/// last placeholder neither `{{` nor `}}` appears.
pub fn pattern() -> String {
    let ws = crate::validate::schema::white_space();
    let names = VARIABLES.iter().map(|v| v.replace('.', r"\.")).collect::<Vec<_>>().join("|");
    let text = r"(?:[^{]|\{[^{])*";
    let fallback = r"(?:[^}]|\}[^}])*";
    let var = format!(r"\{{\{{{ws}*(?:{names}){ws}*(?:\|{fallback})?\}}\}}");
    format!("^(?:{text}{var})*{}$", no_braces_pair())
}

/// Text holding neither `{{` nor `}}` (runs of braces alternate), unanchored.
pub fn no_braces_pair() -> String {
    let alternating = r"(?:\{(?:\}\{)*\}?|\}(?:\{\})*\{?)";
    format!("[^{{}}]*(?:{alternating}[^{{}}]+)*{alternating}?")
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'static str, Option<&'a str>),
}

fn parse(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| "a `{{` is not closed by `}}`".to_owned())?;
        let inner = &after[..close];
        let (name, fallback) = match inner.split_once('|') {
            Some((n, f)) => (n.trim(), Some(f)),
            None => (inner.trim(), None),
        };
        let var = VARIABLES
            .iter()
            .find(|v| **v == name)
            .ok_or_else(|| format!("unknown variable `{name}` (known: {})", VARIABLES.join(", ")))?;
        out.push(Piece::Var(var, fallback));
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return Err("a `}}` has no opening `{{`".to_owned());
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// The variables a template uses, or why it cannot render.
pub fn variables(s: &str) -> Result<Vec<&'static str>, String> {
    Ok(parse(s)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(v, _) => Some(v),
            Piece::Text(_) => None,
        })
        .collect())
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub group_name: String,
    pub group_region: String,
    pub group_category: String,
    pub group_tier: String,
    pub member_display_name: String,
    pub campaign_name: String,
    pub campaign_link: String,
    pub campaign_tracking_code: String,
    /// The slot's local date-time in the group's timezone.
    pub local: Option<NaiveDateTime>,
    /// A check-in's figures (replies to chat check-ins; empty elsewhere).
    pub checkin: Option<CheckInVars>,
    /// The campaign engines' live values (`coupon.*`, `flash_sale.*`) by name.
    pub live: Vec<(&'static str, String)>,
}

/// What a check-in contributes to its reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckInVars {
    pub streak: i64,
    pub total_days: i64,
    pub points_awarded: i64,
    pub balance: i64,
}

impl Context {
    fn value(&self, var: &str) -> String {
        let local = self.local;
        match var {
            "group.name" => self.group_name.clone(),
            "group.region" => self.group_region.clone(),
            "group.category" => self.group_category.clone(),
            "group.tier" => self.group_tier.clone(),
            "member.display_name" => self.member_display_name.clone(),
            "campaign.name" => self.campaign_name.clone(),
            "campaign.link" => self.campaign_link.clone(),
            "campaign.tracking_code" => self.campaign_tracking_code.clone(),
            "date" => local.map(|l| l.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            "time" => local.map(|l| l.format("%H:%M").to_string()).unwrap_or_default(),
            "weekday" => local.map(|l| l.weekday().to_string()).unwrap_or_default(),
            "checkin.streak" => self.checkin.map(|c| c.streak.to_string()).unwrap_or_default(),
            "checkin.total_days" => self.checkin.map(|c| c.total_days.to_string()).unwrap_or_default(),
            "checkin.points_awarded" => self.checkin.map(|c| c.points_awarded.to_string()).unwrap_or_default(),
            "points.balance" => self.checkin.map(|c| c.balance.to_string()).unwrap_or_default(),
            live => self.live.iter().find(|(n, _)| *n == live).map(|(_, v)| v.clone()).unwrap_or_default(),
        }
    }
}

/// Renders a template (unparseable text is returned as it is; saving refuses it).
pub fn render(s: &str, ctx: &Context) -> String {
    let Ok(pieces) = parse(s) else { return s.to_owned() };
    let mut out = String::with_capacity(s.len() + 32);
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(v, fallback) => {
                let value = ctx.value(v);
                match fallback {
                    Some(f) if value.trim().is_empty() => out.push_str(f),
                    _ => out.push_str(&value),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_render_with_fallbacks() {
        let ctx = Context {
            group_name: "上海宝妈VIP群".into(),
            campaign_link: "https://shop.example/c/1".into(),
            local: NaiveDateTime::parse_from_str("2026-11-23T09:00", "%Y-%m-%dT%H:%M").ok(),
            ..Default::default()
        };
        let t = "{{group.name}} 的家人们早上好，今天签到了吗？{{ campaign.link }} {{member.display_name|亲}} {{date}} {{time}} {{weekday}}";
        assert_eq!(
            render(t, &ctx),
            "上海宝妈VIP群 的家人们早上好，今天签到了吗？https://shop.example/c/1 亲 2026-11-23 09:00 Mon"
        );
        assert_eq!(
            variables(t).unwrap(),
            ["group.name", "campaign.link", "member.display_name", "date", "time", "weekday"]
        );
    }

    #[test]
    fn live_values_render_and_an_absent_one_takes_its_fallback() {
        let ctx = Context {
            live: vec![("coupon.name", "满100减20".into()), ("flash_sale.remaining", "37".into())],
            ..Default::default()
        };
        let t =
            "{{coupon.name}} 还剩{{ flash_sale.remaining }}件 {{coupon.remaining|不限量}} {{flash_sale.starts_at|}}.";
        assert_eq!(render(t, &ctx), "满100减20 还剩37件 不限量 .");
        assert!(variables(t).unwrap().iter().all(|v| is_live(v) && needs_campaign(v)));
        assert!(needs_campaign("campaign.link") && !is_live("campaign.link") && !needs_campaign("group.name"));
    }

    #[test]
    fn unknown_variables_and_broken_braces_are_refused() {
        assert!(variables("hi {{member.phone}}").unwrap_err().contains("unknown variable `member.phone`"));
        assert!(variables("hi {{group.name").unwrap_err().contains("not closed"));
        assert!(variables("hi group.name}}").unwrap_err().contains("no opening"));
        assert_eq!(variables("plain text, { single } braces").unwrap(), Vec::<&str>::new());
    }
}
