//! Five-field cron expressions (`minute hour day-of-month month day-of-week`)
//! evaluated in local time by [`super::timing`]. Fields take `*`, numbers,
//! ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`; months and weekdays
//! also take three-letter English names; weekday 0 and 7 are Sunday. A range
//! whose end comes before its start wraps around (`22-2` hours is 22, 23,
//! 0, 1, 2; `fri-mon`). As in classic cron, when both day fields are
//! restricted a day matches either. [`pattern`] is the same grammar as a
//! regex, for the OpenAPI document.

use chrono::{Datelike, NaiveDate};

/// A parsed expression: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The longest expression, in characters.
pub const MAX_CHARS: usize = 200;

/// Digits only (`u32::from_str` would also take a leading `+`).
fn number(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn value(s: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + name_base);
    }
    let v = number(s).ok_or_else(|| format!("`{s}` is not a number"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside {min}-{max}"));
    }
    Ok(v)
}

/// Parses one field into a bit set; `true` when it is not `*`.
fn field(s: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => match number(st) {
                Some(n) if n > 0 && n <= max => (r, n),
                _ => return Err(format!("bad step `{st}`")),
            },
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names, name_base)?, value(b, min, max, names, name_base)?)
        } else {
            let v = value(range, min, max, names, name_base)?;
            (v, if part.contains('/') { max } else { v })
        };
        // Offsets from `lo`, wrapping past `max` back to `min`.
        let span = max - min + 1;
        let len = if lo <= hi { hi - lo } else { hi + span - lo };
        for off in (0..=len).step_by(step as usize) {
            bits |= 1 << (min + (lo - min + off) % span);
        }
    }
    Ok((bits, s != "*"))
}

impl Cron {
    /// Parses an expression; the error says which field is wrong.
    pub fn parse(expr: &str) -> Result<Self, String> {
        if expr.chars().count() > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err("must have 5 fields: minute hour day-of-month month day-of-week".into());
        }
        let f = |i: usize, min, max, names: &[&str], base, label: &str| {
            field(parts[i], min, max, names, base).map_err(|e| format!("{label}: {e}"))
        };
        let (minutes, _) = f(0, 0, 59, &[], 0, "minute")?;
        let (hours, _) = f(1, 0, 23, &[], 0, "hour")?;
        let (days, days_restricted) = f(2, 1, 31, &[], 0, "day of month")?;
        let (months, _) = f(3, 1, 12, &MONTHS, 1, "month")?;
        let (mut weekdays, weekdays_restricted) = f(4, 0, 7, &WEEKDAYS, 0, "day of week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Self {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            days_restricted,
            weekdays_restricted,
        })
    }

    /// Whether the expression fires on `date`.
    pub fn matches_date(&self, date: NaiveDate) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The (hour, minute) pairs of a matching day, ascending.
    pub fn times(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..24u32)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| (0..60u32).filter(|m| self.minutes & (1 << m) != 0).map(move |m| (h, m)))
    }
}

/// The grammar of [`Cron::parse`] as a regex: five fields between white
/// space, each a list of `*`, values or ranges, each with an optional step.
pub fn pattern() -> String {
    use crate::validate::schema::{int_range, white_space};
    let named = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.chars().map(|c| format!("[{}{c}]", c.to_ascii_uppercase())).collect::<String>())
            .collect::<Vec<_>>()
    };
    let field = |min: u64, max: u64, names: &[&str]| {
        let mut values = vec![format!("0*({})", int_range(min, max))];
        values.extend(named(names));
        let value = format!("({})", values.join("|"));
        let item = format!("(\\*|{value}(-{value})?)(/0*({}))?", int_range(1, max));
        format!("{item}(,{item})*")
    };
    let fields =
        [field(0, 59, &[]), field(0, 23, &[]), field(1, 31, &[]), field(1, 12, &MONTHS), field(0, 7, &WEEKDAYS)];
    let w = white_space();
    format!("^{w}*{}{w}*$", fields.join(&format!("{w}+")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weekday_lists_ranges_and_names_match() {
        let c = Cron::parse("0 9 * * 1-5").unwrap();
        assert!(c.matches_date(d(2026, 11, 23))); // Monday
        assert!(!c.matches_date(d(2026, 11, 22))); // Sunday
        let named = Cron::parse("30 20 * * mon,wed,FRI").unwrap();
        assert!(named.matches_date(d(2026, 11, 27)) && !named.matches_date(d(2026, 11, 26)));
        assert_eq!(named.times().collect::<Vec<_>>(), vec![(20, 30)]);
        assert!(Cron::parse("0 0 * * 7").unwrap().matches_date(d(2026, 11, 22)));
    }

    #[test]
    fn steps_and_lists_expand() {
        let c = Cron::parse("*/20 8,12 * * *").unwrap();
        assert_eq!(c.times().collect::<Vec<_>>(), vec![(8, 0), (8, 20), (8, 40), (12, 0), (12, 20), (12, 40)]);
        let c = Cron::parse("5-20/5 0 * * *").unwrap();
        assert_eq!(c.times().map(|t| t.1).collect::<Vec<_>>(), vec![5, 10, 15, 20]);
    }

    #[test]
    fn both_day_fields_restricted_match_either() {
        let c = Cron::parse("0 10 1 * mon").unwrap();
        assert!(c.matches_date(d(2026, 12, 1))); // the 1st, a Tuesday
        assert!(c.matches_date(d(2026, 12, 7))); // a Monday
        assert!(!c.matches_date(d(2026, 12, 8)));
        let jan = Cron::parse("0 10 15 jan *").unwrap();
        assert!(jan.matches_date(d(2027, 1, 15)) && !jan.matches_date(d(2027, 2, 15)));
    }

    #[test]
    fn bad_expressions_name_the_field() {
        for (expr, want) in [
            ("0 9 * *", "5 fields"),
            ("60 9 * * *", "minute"),
            ("0 24 * * *", "hour"),
            ("0 0 0 * *", "day of month"),
            ("0 0 * 13 *", "month"),
            ("0 0 * * 8", "day of week"),
            ("*/0 0 * * *", "minute"),
            ("0 +5 * * *", "hour"),
            ("0 0 * * */8", "day of week"),
            ("x 0 * * *", "minute"),
        ] {
            let e = Cron::parse(expr).unwrap_err();
            assert!(e.contains(want), "{expr}: {e}");
        }
    }

    #[test]
    fn backwards_ranges_wrap_around() {
        let c = Cron::parse("0 22-1/1 * * *").unwrap();
        assert_eq!(c.times().map(|t| t.0).collect::<Vec<_>>(), vec![0, 1, 22, 23]);
        let weekend = Cron::parse("0 9 * * fri-mon").unwrap();
        for (day, hit) in [(27, true), (28, true), (29, true), (30, true), (1, false)] {
            let date = if day == 1 { d(2026, 12, 1) } else { d(2026, 11, day) };
            assert_eq!(weekend.matches_date(date), hit, "{date}");
        }
        let every_other = Cron::parse("50-10/10 * * * *").unwrap();
        assert_eq!(every_other.times().take(3).map(|t| t.1).collect::<Vec<_>>(), vec![0, 10, 50]);
    }

    #[test]
    fn the_pattern_accepts_what_the_parser_does() {
        let re = regex::Regex::new(&pattern()).unwrap();
        let tokens = [
            "*", "0", "5", "9", "12", "23", "24", "31", "32", "59", "60", "7", "8", "007", "+5", "mon", "FRI", "Jan",
            "dec", "sun", "xyz", "-", "/", ",", "/0", "/2", "/59", "/60", "",
        ];
        let spaces = [" ", "  ", "\t", "\u{3000}", ""];
        let mut next = crate::validate::draws(0x2545_f491_4f6c_dd1d_u64);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..40_000 {
            let fields = [5, 5, 5, 4, 6][next(5)];
            let mut expr = String::from(spaces[next(spaces.len())]);
            for f in 0..fields {
                if f > 0 {
                    expr.push_str(spaces[next(4)]);
                }
                let field: String = if next(3) > 0 {
                    ["*", "1", "5", "1-5", "*/2", "5-1", "mon-fri", "1,2", "3/4"][next(9)].to_owned()
                } else {
                    (0..1 + next(4)).map(|_| tokens[next(tokens.len())]).collect()
                };
                expr.push_str(&field);
            }
            let ok = Cron::parse(&expr).is_ok();
            assert_eq!(re.is_match(&expr), ok, "{expr:?}");
            if ok {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        for good in ["0 9 * * 1-5", "*/20 8,12 * * *", "30 20 * * mon,wed,FRI", " 0\t0 1 jan-mar sun "] {
            assert!(re.is_match(good) && Cron::parse(good).is_ok(), "{good:?}");
        }
        assert!(accepted > 500 && refused > 500, "both kinds drawn: {accepted} accepted, {refused} refused");
    }
}
