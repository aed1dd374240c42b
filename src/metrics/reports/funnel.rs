//! Conversion funnels: ordered steps (event type plus optional filters),
//! a conversion window measured from step 1, each member counted once at
//! the furthest step any of their attempts reached. Parsing of the `steps`
//! parameter and the pure arithmetic live here; definitions in
//! `docs/metrics.md`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use crate::metrics::store::rows::Event;
use crate::metrics::store::timelines::type_code;

/// Fewest and most steps of a funnel.
pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 10;

/// The built-in funnels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// join → first message → check-in.
    #[default]
    Onboarding,
    /// campaign link click → order placed → order paid.
    Purchase,
}

impl Preset {
    /// Its steps.
    pub fn steps(self) -> Vec<Step> {
        use crate::events::model::EventKind::{self, *};
        let step = |kind: EventKind, campaign: bool| Step {
            kind: kind.as_str().to_owned(),
            filter: StepFilter { any_campaign: campaign, ..Default::default() },
        };
        match self {
            Preset::Onboarding => {
                vec![step(MemberJoined, false), step(MessageSent, false), step(CheckedIn, false)]
            }
            Preset::Purchase => {
                vec![step(LinkClicked, true), step(OrderPlaced, false), step(OrderPaid, false)]
            }
        }
    }
}

/// Conditions an event must meet besides its type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StepFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_code: Option<String>,
    /// The event names some campaign (`campaign=any`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub any_campaign: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Uuid>,
    /// `properties.<name>=<value>`: the property equals the value (strings
    /// compared as they are, other JSON values with the value read as JSON).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<(String, String)>,
}

/// One funnel step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = FunnelStep)]
pub struct Step {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub filter: StepFilter,
}

/// Whether a funnel can be read from the timelines: days of the workspace's
/// timezone (`rollup_days`), built-in types only, no property filters
/// (properties are not packed).
pub fn serves(rollup_days: bool, steps: &[Step]) -> bool {
    rollup_days && steps.iter().all(|s| type_code(&s.kind).is_some() && s.filter.properties.is_empty())
}

/// Parses `type[key=value;key=value],type,...`. Errors are messages for
/// the `steps` field.
pub fn parse_steps(s: &str) -> Result<Vec<Step>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, ch) in s.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced or nested brackets".into());
        }
    }
    parts.push(&s[start..]);
    if !(MIN_STEPS..=MAX_STEPS).contains(&parts.len()) {
        return Err(format!("give {MIN_STEPS}-{MAX_STEPS} comma-separated steps"));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| parse_step(p.trim()).map_err(|e| format!("step {}: {e}", i + 1)))
        .collect()
}

/// The grammar of [`parse_steps`] as a regex, for the OpenAPI document.
pub fn steps_pattern() -> String {
    use crate::validate::schema::white_space;
    let w = white_space();
    let kind = crate::events::model::type_pattern(true);
    let kind = kind.trim_start_matches('^').trim_end_matches('$');
    let uuid = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
    let value = r"[^;\[\]]{1,200}";
    let filter = format!(
        r"(campaign_id={uuid}|group_id={uuid}|campaign_code={value}|campaign=any|properties\.[^=;\[\]]{{1,64}}={value})"
    );
    let filters = format!("(;*{filter}(;+{filter})*)?;*");
    let step = format!(r"{w}*{kind}(\[{filters}\])?{w}*");
    format!("^{step}(,{step}){{{},{}}}$", MIN_STEPS - 1, MAX_STEPS - 1)
}

fn parse_step(p: &str) -> Result<Step, String> {
    let (kind, filters) = match p.split_once('[') {
        None => (p, ""),
        Some((k, rest)) => (k, rest.strip_suffix(']').ok_or("a filter list must end with `]`")?),
    };
    if filters.contains(['[', ']']) {
        return Err("one filter list per step".into());
    }
    if !crate::events::model::valid_type(kind) {
        return Err(format!("`{kind}` is not an event type"));
    }
    let mut filter = StepFilter::default();
    for f in filters.split(';').filter(|f| !f.is_empty()) {
        let (key, value) = f.split_once('=').ok_or_else(|| format!("`{f}`: filters are key=value"))?;
        // The hyphenated form only (the document's pattern).
        let uuid =
            |v: &str| Uuid::parse_str(v).ok().filter(|_| v.len() == 36).ok_or_else(|| format!("{key}: not a UUID"));
        if value.is_empty() || value.chars().count() > 200 {
            return Err(format!("{key}: the value must be 1-200 characters"));
        }
        match key {
            "campaign_id" => filter.campaign_id = Some(uuid(value)?),
            "group_id" => filter.group_id = Some(uuid(value)?),
            "campaign_code" => filter.campaign_code = Some(value.to_owned()),
            "campaign" if value == "any" => filter.any_campaign = true,
            _ => match key.strip_prefix("properties.") {
                Some(name) if !name.is_empty() && name.chars().count() <= 64 => {
                    filter.properties.push((name.to_owned(), value.to_owned()))
                }
                _ => {
                    return Err(format!(
                        "unknown filter `{key}` (campaign_id, campaign_code, campaign=any, group_id, properties.<name>)"
                    ))
                }
            },
        }
    }
    Ok(Step { kind: kind.to_owned(), filter })
}

impl StepFilter {
    fn matches(&self, e: &Event) -> bool {
        self.campaign_id.is_none_or(|c| e.campaign_id == Some(c))
            && self.campaign_code.as_ref().is_none_or(|c| e.campaign_code.as_ref() == Some(c))
            && (!self.any_campaign || e.campaign_id.is_some() || e.campaign_code.is_some())
            && self.group_id.is_none_or(|g| e.group_id == Some(g))
            && self.properties.iter().all(|(k, v)| match e.properties.as_ref().and_then(|p| p.get(k)) {
                Some(serde_json::Value::String(s)) => s == v,
                Some(other) => serde_json::from_str::<serde_json::Value>(v).is_ok_and(|x| x == *other),
                None => false,
            })
    }
}

/// One step of the report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StepFigures {
    #[serde(flatten)]
    pub step: Step,
    /// Members whose furthest step is this one or later.
    pub count: i64,
    /// `count / previous step's count` (1 for step 1; null when that is 0).
    pub rate_from_previous: Option<f64>,
    /// `count / step 1's count`.
    pub rate_overall: Option<f64>,
    /// Median seconds from the previous step (null for step 1 or no one).
    pub median_seconds_from_previous: Option<f64>,
}

/// A funnel's figures for one set of attempts.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = FunnelFigures)]
pub struct Figures {
    pub steps: Vec<StepFigures>,
    /// `last step's count / step 1's count`.
    pub conversion: Option<f64>,
}

/// One breakdown row.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupRow {
    /// Group of the attempts' step 1 (null: events without a group).
    pub group_id: Option<Uuid>,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Inputs of [`compute`].
pub struct Input<'a> {
    pub steps: &'a [Step],
    pub window: Duration,
    /// Step 1 must occur in `[lo, hi)`.
    pub lo: DateTime<Utc>,
    pub hi: DateTime<Utc>,
    /// Every later step must name step 1's campaign.
    pub hold_campaign: bool,
    pub by_group: bool,
    /// Events sorted by member, then time, then id.
    pub events: &'a [Event],
}

/// What [`compute`] returns.
pub struct Computed {
    pub total: Figures,
    pub groups: Vec<GroupRow>,
}

/// The furthest an attempt got: steps reached and the time of each.
#[derive(Clone)]
struct Reach {
    times: Vec<DateTime<Utc>>,
}

/// Runs every attempt of one member (events sorted by time, then id) and
/// keeps, per key, the attempt that got furthest (the earliest among equals).
fn member_attempts(inp: &Input, events: &[Event], best: &mut HashMap<Option<Uuid>, Reach>) {
    let n = inp.steps.len();
    let matching: Vec<Vec<usize>> = inp
        .steps
        .iter()
        .map(|s| (0..events.len()).filter(|&i| events[i].kind == s.kind && s.filter.matches(&events[i])).collect())
        .collect();
    for &first in &matching[0] {
        let e1 = &events[first];
        if e1.occurred_at < inp.lo || e1.occurred_at >= inp.hi {
            continue;
        }
        let key = if inp.by_group { e1.group_id } else { None };
        if best.get(&key).is_some_and(|b| b.times.len() == n) {
            continue;
        }
        let campaign = e1.campaign();
        if inp.hold_campaign && campaign.is_none() {
            continue;
        }
        let deadline = e1.occurred_at + inp.window;
        let mut used = vec![first];
        let mut times = vec![e1.occurred_at];
        for list in &matching[1..] {
            let prev = times[times.len() - 1];
            let from = list.partition_point(|&i| events[i].occurred_at < prev);
            let next = list[from..]
                .iter()
                .copied()
                .find(|&i| !used.contains(&i) && (!inp.hold_campaign || events[i].campaign() == campaign));
            match next {
                Some(i) if events[i].occurred_at <= deadline => {
                    used.push(i);
                    times.push(events[i].occurred_at);
                }
                _ => break,
            }
        }
        if best.get(&key).is_none_or(|b| times.len() > b.times.len()) {
            best.insert(key, Reach { times });
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

fn figures(steps: &[Step], reaches: &[&Reach]) -> Figures {
    let mut out = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let at_k: Vec<&&Reach> = reaches.iter().filter(|r| r.times.len() > k).collect();
        let count = at_k.len() as i64;
        let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        let first = out.first().map_or(count, |f: &StepFigures| f.count);
        let prev = out.last().map_or(count, |f: &StepFigures| f.count);
        out.push(StepFigures {
            step: step.clone(),
            count,
            rate_from_previous: ratio(count, prev),
            rate_overall: ratio(count, first),
            median_seconds_from_previous: if k == 0 {
                None
            } else {
                median(at_k.iter().map(|r| (r.times[k] - r.times[k - 1]).num_milliseconds() as f64 / 1000.0).collect())
            },
        });
    }
    let conversion = match (out.first(), out.last()) {
        (Some(f), Some(l)) if f.count > 0 => Some(l.count as f64 / f.count as f64),
        _ => None,
    };
    Figures { steps: out, conversion }
}

/// The report's arithmetic (see `docs/metrics.md`, "funnel").
pub fn compute(inp: &Input) -> Computed {
    let mut totals: Vec<Reach> = Vec::new();
    let mut per_group: HashMap<Option<Uuid>, Vec<Reach>> = HashMap::new();
    let mut start = 0;
    while start < inp.events.len() {
        let member = inp.events[start].member_id;
        let end = start + inp.events[start..].iter().take_while(|e| e.member_id == member).count();
        let events = &inp.events[start..end];
        let mut overall = HashMap::new();
        member_attempts(&Input { by_group: false, ..*inp }, events, &mut overall);
        totals.extend(overall.into_values());
        if inp.by_group {
            let mut groups = HashMap::new();
            member_attempts(inp, events, &mut groups);
            for (g, r) in groups {
                per_group.entry(g).or_default().push(r);
            }
        }
        start = end;
    }
    let total = figures(inp.steps, &totals.iter().collect::<Vec<_>>());
    let mut groups: Vec<GroupRow> = per_group
        .into_iter()
        .map(|(group_id, r)| GroupRow { group_id, figures: figures(inp.steps, &r.iter().collect::<Vec<_>>()) })
        .collect();
    groups.sort_by(|a, b| b.figures.steps[0].count.cmp(&a.figures.steps[0].count).then(a.group_id.cmp(&b.group_id)));
    Computed { total, groups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn ev(m: u128, kind: &str, h: i64, id: u128) -> Event {
        Event {
            member_id: Uuid::from_u128(m),
            kind: kind.into(),
            occurred_at: at(h),
            id: Uuid::from_u128(id),
            group_id: None,
            campaign_id: None,
            campaign_code: None,
            properties: None,
        }
    }

    fn run(steps: &str, events: &[Event], window_h: i64) -> Vec<i64> {
        let steps = parse_steps(steps).unwrap();
        let c = compute(&Input {
            steps: &steps,
            window: Duration::hours(window_h),
            lo: at(0),
            hi: at(24 * 30),
            hold_campaign: false,
            by_group: false,
            events,
        });
        c.total.steps.iter().map(|s| s.count).collect()
    }

    #[test]
    fn a_second_step_one_inside_the_window_starts_its_own_attempt() {
        // Click at 0 h, click again at 150 h, order at 200 h: the first click's
        // window (168 h) has closed, the second's has not.
        let events = [ev(1, "link_clicked", 0, 1), ev(1, "link_clicked", 150, 2), ev(1, "order_paid", 200, 3)];
        assert_eq!(run("link_clicked,order_paid", &events, 168), vec![1, 1]);
        assert_eq!(run("link_clicked,order_paid", &events[..1], 168), vec![1, 0]);
        // Steps out of order do not count.
        let events = [ev(1, "order_paid", 1, 1), ev(1, "link_clicked", 2, 2)];
        assert_eq!(run("link_clicked,order_paid", &events, 168), vec![1, 0]);
    }

    #[test]
    fn simultaneous_events_count_in_either_order_but_not_twice() {
        let events = [ev(1, "order_paid", 5, 1), ev(1, "link_clicked", 5, 2)];
        assert_eq!(run("link_clicked,order_paid", &events, 1), vec![1, 1]);
        // A repeated step needs a second event.
        let events = [ev(2, "message_sent", 5, 1)];
        assert_eq!(run("message_sent,message_sent", &events, 1), vec![1, 0]);
        let events = [ev(2, "message_sent", 5, 1), ev(2, "message_sent", 5, 2)];
        assert_eq!(run("message_sent,message_sent", &events, 1), vec![1, 1]);
    }

    #[test]
    fn parsing_names_the_bad_step() {
        assert!(parse_steps("link_clicked").unwrap_err().contains("2-10"));
        assert!(parse_steps("link_clicked,nope").unwrap_err().starts_with("step 2"));
        assert!(parse_steps("link_clicked[campaign_id=x],order_paid").unwrap_err().contains("UUID"));
        assert!(parse_steps("link_clicked[colour=red],order_paid").unwrap_err().contains("unknown filter"));
        assert!(parse_steps("link_clicked[[a=b]],order_paid").is_err());
        let s = parse_steps("link_clicked[campaign_code=spring;properties.sku=A1],order_paid").unwrap();
        assert_eq!(s[0].filter.campaign_code.as_deref(), Some("spring"));
        assert_eq!(s[0].filter.properties, vec![("sku".to_owned(), "A1".to_owned())]);
    }

    #[test]
    fn the_steps_pattern_accepts_what_the_parser_does() {
        // Counted repetitions of counted repetitions: larger than the default limit.
        let re = regex::RegexBuilder::new(&steps_pattern()).size_limit(1 << 30).build().unwrap();
        let uuid = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let pieces = [
            "message_sent",
            "order_paid",
            "member_joined",
            "custom.x_1",
            "custom.",
            "checkin",
            "[",
            "]",
            ";",
            "=",
            ",",
            " ",
            "campaign=any",
            "campaign=all",
            "campaign_code=spring",
            "campaign_id=",
            uuid,
            "group_id=",
            "x",
            "properties.sku=A-1",
            "properties.=1",
            "properties.a=b=c",
            "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b",
        ];
        let good_steps = ["message_sent", "order_paid[campaign=any]", "link_clicked[campaign_code=a,b;properties.k=v]"];
        let mut next = crate::validate::draws(0x9e37_79b9_7f4a_7c15_u64);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..30_000 {
            let steps = 1 + next(4);
            let mut s = String::new();
            for i in 0..steps {
                if i > 0 {
                    s.push(',');
                }
                if next(2) == 0 {
                    s.push_str(good_steps[next(good_steps.len())]);
                } else {
                    s.push_str(["message_sent[", "checked_in", "order_placed ["][next(3)]);
                    for _ in 0..next(5) {
                        s.push_str(pieces[next(pieces.len())]);
                    }
                }
            }
            let ok = parse_steps(&s).is_ok();
            assert_eq!(re.is_match(&s), ok, "{s:?}: {:?}", parse_steps(&s).err());
            if ok {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(accepted > 1000 && refused > 1000, "{accepted} accepted, {refused} refused");
        let long = ["message_sent"; MAX_STEPS + 1].join(",");
        assert!(!re.is_match(&long) && parse_steps(&long).is_err());
    }

    #[test]
    fn only_built_in_steps_without_properties_in_the_workspace_timezone_read_timelines() {
        let steps = |s: &str| parse_steps(s).unwrap();
        assert!(serves(
            true,
            &steps("link_clicked[campaign=any;group_id=00000000-0000-0000-0000-000000000001],order_paid")
        ));
        assert!(!serves(false, &steps("link_clicked,order_paid")), "another timezone");
        assert!(!serves(true, &steps("link_clicked,custom.vote")));
        assert!(!serves(true, &steps("link_clicked,order_paid[properties.sku=A1]")));
    }
}
