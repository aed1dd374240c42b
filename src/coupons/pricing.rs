//! What a coupon takes off a cart, in integer minor units: the discount of
//! the eligible lines and its allocation over them (largest remainder, so
//! the lines sum exactly to the discount). No floating point anywhere.

use super::model::{Cart, Discount, LineDiscount};

/// The terms of a template that price a cart.
#[derive(Debug, Clone)]
pub struct Terms<'a> {
    pub discount: Discount,
    pub min_spend: i64,
    pub currency: &'a str,
    pub products: Option<&'a [String]>,
}

/// A priced cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub discount: i64,
    pub payable: i64,
    pub lines: Vec<LineDiscount>,
}

/// Why a coupon does not apply to a cart (the API's `reasons`).
pub const CURRENCY_MISMATCH: &str = "currency_mismatch";
pub const NO_ELIGIBLE_ITEMS: &str = "no_eligible_items";
pub const MIN_SPEND_NOT_MET: &str = "min_spend_not_met";

/// The total of a cart (minor units; a validated cart cannot overflow:
/// 500 lines of at most 10^10 × 10^5).
pub fn total(cart: &Cart) -> i64 {
    cart.items.iter().map(|i| i.unit_price * i.quantity).sum()
}

/// Prices `cart` under `terms`, or says why the coupon does not apply.
pub fn price(terms: &Terms<'_>, cart: &Cart) -> Result<Priced, Vec<&'static str>> {
    let cart_total = total(cart);
    if cart.currency != terms.currency {
        return Err(vec![CURRENCY_MISMATCH]);
    }
    let eligible: Vec<(usize, i64)> = cart
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| terms.products.is_none_or(|p| p.contains(&i.product_id)))
        .map(|(n, i)| (n, i.unit_price * i.quantity))
        .collect();
    if eligible.is_empty() {
        return Err(vec![NO_ELIGIBLE_ITEMS]);
    }
    let subtotal: i64 = eligible.iter().map(|(_, a)| a).sum();
    let threshold = match terms.discount {
        Discount::Threshold { min_spend, .. } => min_spend,
        _ => 0,
    };
    if subtotal < terms.min_spend.max(threshold) {
        return Err(vec![MIN_SPEND_NOT_MET]);
    }
    let discount = match terms.discount {
        Discount::AmountOff { amount } | Discount::Threshold { amount, .. } => amount.min(subtotal),
        Discount::PercentOff { percent, max_amount } => {
            let off = (subtotal as i128 * percent as i128 / 100) as i64;
            max_amount.map_or(off, |m| off.min(m))
        }
    };
    let shares = allocate(discount, &eligible.iter().map(|(_, a)| *a).collect::<Vec<_>>());
    let lines = eligible
        .iter()
        .zip(shares)
        .map(|((n, _), d)| LineDiscount { product_id: cart.items[*n].product_id.clone(), discount: d })
        .collect();
    Ok(Priced { discount, payable: (cart_total - discount).max(0), lines })
}

/// Splits `discount` (at most the sum of `amounts`) over `amounts` in
/// proportion, by largest remainder: each line gets the whole part of its
/// share, and the units left go one each to the lines with the largest
/// remainders (the earlier line on a tie). The shares sum to `discount` and
/// none exceeds its line.
pub fn allocate(discount: i64, amounts: &[i64]) -> Vec<i64> {
    let sum: i128 = amounts.iter().map(|a| *a as i128).sum();
    if sum == 0 || discount == 0 {
        return vec![0; amounts.len()];
    }
    let d = discount as i128;
    let mut shares: Vec<i64> = amounts.iter().map(|a| (d * *a as i128 / sum) as i64).collect();
    let mut left = discount - shares.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..amounts.len()).collect();
    // Largest remainder first; a stable sort keeps the earlier line first on a tie.
    order.sort_by_key(|i| std::cmp::Reverse(d * amounts[*i] as i128 % sum));
    for i in order {
        if left == 0 {
            break;
        }
        if shares[i] < amounts[i] {
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupons::model::CartItem;

    fn cart(items: &[(&str, i64, i64)]) -> Cart {
        Cart {
            currency: "CNY".into(),
            items: items
                .iter()
                .map(|(p, price, q)| CartItem { product_id: (*p).into(), unit_price: *price, quantity: *q })
                .collect(),
        }
    }

    fn terms(discount: Discount, products: Option<&[String]>) -> Terms<'_> {
        Terms { discount, min_spend: 0, currency: "CNY", products }
    }

    #[test]
    fn an_amount_off_never_takes_more_than_the_eligible_lines_cost() {
        let p = price(&terms(Discount::AmountOff { amount: 5000 }, None), &cart(&[("a", 1999, 1)])).unwrap();
        assert_eq!((p.discount, p.payable), (1999, 0));
        let p = price(&terms(Discount::AmountOff { amount: 500 }, None), &cart(&[("a", 1999, 2)])).unwrap();
        assert_eq!((p.discount, p.payable), (500, 3498));
    }

    #[test]
    fn a_percentage_rounds_down_to_the_fen_and_stops_at_its_cap() {
        let p = price(&terms(Discount::PercentOff { percent: 15, max_amount: None }, None), &cart(&[("a", 999, 1)]))
            .unwrap();
        assert_eq!(p.discount, 149, "15% of 9.99 is 1.4985");
        let capped = Discount::PercentOff { percent: 50, max_amount: Some(5000) };
        let p = price(&terms(capped, None), &cart(&[("a", 30000, 1)])).unwrap();
        assert_eq!((p.discount, p.payable), (5000, 25000));
        let all = Discount::PercentOff { percent: 100, max_amount: None };
        assert_eq!(price(&terms(all, None), &cart(&[("a", 777, 3)])).unwrap().payable, 0);
    }

    #[test]
    fn a_threshold_counts_only_the_eligible_lines() {
        let only: Vec<String> = vec!["a".into()];
        let t = terms(Discount::Threshold { min_spend: 10000, amount: 2000 }, Some(&only));
        // 80 of "a" and 50 of "b": only 80 counts toward the 100.
        assert_eq!(price(&t, &cart(&[("a", 8000, 1), ("b", 5000, 1)])), Err(vec![MIN_SPEND_NOT_MET]));
        let p = price(&t, &cart(&[("a", 5000, 2), ("b", 5000, 1)])).unwrap();
        assert_eq!((p.discount, p.payable), (2000, 13000));
        assert_eq!(p.lines, vec![LineDiscount { product_id: "a".into(), discount: 2000 }], "only eligible lines");
        let mut with_min = terms(Discount::AmountOff { amount: 100 }, None);
        with_min.min_spend = 5000;
        assert_eq!(price(&with_min, &cart(&[("a", 4999, 1)])), Err(vec![MIN_SPEND_NOT_MET]));
    }

    #[test]
    fn another_currency_or_no_eligible_product_does_not_apply() {
        let only: Vec<String> = vec!["sku-1".into()];
        let mut usd = cart(&[("sku-1", 100, 1)]);
        usd.currency = "USD".into();
        assert_eq!(price(&terms(Discount::AmountOff { amount: 1 }, None), &usd), Err(vec![CURRENCY_MISMATCH]));
        let t = terms(Discount::AmountOff { amount: 1 }, Some(&only));
        assert_eq!(price(&t, &cart(&[("sku-2", 100, 1)])), Err(vec![NO_ELIGIBLE_ITEMS]));
    }

    #[test]
    fn the_lines_sum_exactly_to_the_discount_by_largest_remainder() {
        // 10.00 over three equal lines: 3.34 + 3.33 + 3.33, the earlier line first.
        assert_eq!(allocate(1000, &[1000, 1000, 1000]), vec![334, 333, 333]);
        // 100 over 1, 2, 3 (shares 16.67, 33.33, 50): the largest remainder gets the cent.
        assert_eq!(allocate(100, &[1000, 2000, 3000]), vec![17, 33, 50]);
        assert_eq!(allocate(0, &[5, 5]), vec![0, 0]);
        assert_eq!(allocate(10, &[10, 0]), vec![10, 0]);
        assert_eq!(allocate(7, &[0, 0]), vec![0, 0]);
        // Random carts: the sum is exact and no line gets more than it costs.
        let mut draw = crate::validate::draws(7);
        for _ in 0..5000 {
            let n = 1 + draw(6);
            let amounts: Vec<i64> = (0..n).map(|_| draw(100_000) as i64).collect();
            let sum: i64 = amounts.iter().sum();
            let discount = if sum == 0 { 0 } else { draw(sum as usize + 1) as i64 };
            let shares = allocate(discount, &amounts);
            assert_eq!(shares.iter().sum::<i64>(), if sum == 0 { 0 } else { discount }, "{amounts:?} {discount}");
            assert!(shares.iter().zip(&amounts).all(|(s, a)| 0 <= *s && s <= a), "{amounts:?} {discount} {shares:?}");
        }
    }

    #[test]
    fn the_largest_carts_do_not_overflow() {
        let big: Vec<(&str, i64, i64)> = (0..500).map(|_| ("a", 10_000_000_000, 100_000)).collect();
        let p = price(&terms(Discount::PercentOff { percent: 33, max_amount: None }, None), &cart(&big)).unwrap();
        assert_eq!(p.lines.iter().map(|l| l.discount).sum::<i64>(), p.discount);
        assert_eq!(p.discount, 500 * 10_000_000_000 * 100_000 / 100 * 33);
    }
}
