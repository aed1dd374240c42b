-- The pages a member opens from a post: a coupon template's claim page and
-- a flash sale's page (`{{coupon.claim_link}}`, `{{flash_sale.link}}`;
-- without one, the campaign's link).
ALTER TABLE coupon_templates ADD COLUMN claim_url text;
ALTER TABLE flash_sales ADD COLUMN link text;
