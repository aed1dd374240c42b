//! Content DTOs: message templates of five kinds and their rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};

use super::template::{self, Context};
use crate::error::ApiResult;
use crate::http::patch::{apply, double_option};
use crate::ids::{CampaignId, ContentId, GroupId, MemberId};
use crate::validate::{schema, Checks};

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ContentKind {
    /// Plain text (`text`).
    Text,
    /// Link card (`title`, `url`; `description`, `image_url` optional).
    Link,
    /// Image (`image_url`; `text` as caption, optional).
    Image,
    /// Mini-program card (`app_id`, `page_path`, `title`; `image_url` optional).
    MiniProgram,
    /// File (`url`; `file_name` optional).
    File,
}

impl ContentKind {
    /// Every kind.
    pub const ALL: [ContentKind; 5] = [Self::Text, Self::Link, Self::Image, Self::MiniProgram, Self::File];
}

/// The fields of a message: templates in a content, rendered in a delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// A rendered message, ready for a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub kind: ContentKind,
    #[serde(flatten)]
    pub body: MessageBody,
}

/// A message template.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Content {
    pub id: ContentId,
    pub name: String,
    pub kind: ContentKind,
    #[serde(flatten)]
    pub body: MessageBody,
    /// The variables the template uses.
    pub variables: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v1/contents`: a name, a kind and the kind's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateContent {
    pub name: String,
    pub kind: ContentKind,
    pub text: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub app_id: Option<String>,
    pub page_path: Option<String>,
    pub file_name: Option<String>,
}

/// Published as one variant per kind, each with the fields the kind needs
/// and may have (the others may only be `null`).
impl utoipa::PartialSchema for CreateContent {
    fn schema() -> RefOr<Schema> {
        let mut one_of =
            OneOfBuilder::new().description(Some("`POST /v1/contents`: a name, a kind and the kind's fields"));
        for kind in ContentKind::ALL {
            let (required, optional) = fields(kind);
            let kind_name =
                serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let mut o = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("name", schema::text::<1, 200>())
                .required("name")
                .property("kind", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([kind_name])))
                .required("kind")
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
            for (field, _) in MessageBody::default().entries() {
                o = if required.contains(&field) {
                    o.property(field, field_schema(field)).required(field)
                } else if optional.contains(&field) {
                    o.property(field, opt_field_schema(field))
                } else {
                    o.property(field, ObjectBuilder::new().schema_type(Type::Null))
                };
            }
            one_of = one_of.item(o);
        }
        RefOr::T(Schema::OneOf(one_of.build()))
    }
}

impl ToSchema for CreateContent {}

/// The longest value of a message field.
fn max_chars(field: &str) -> usize {
    if field == "text" || field == "description" {
        4000
    } else {
        2048
    }
}

/// The schema of one message field as [`check_body`] checks it: text, a
/// template, and for URLs a URL or one link variable alone (`{{campaign.link}}`,
/// `{{coupon.claim_link}}`, `{{flash_sale.link}}`); an `app_id` holds
/// no placeholder.
fn field_schema(field: &str) -> RefOr<Schema> {
    let mut parts =
        vec![schema::text_of(1, max_chars(field), false, ""), schema::matching(&template::pattern(), false)];
    if field.ends_with("url") {
        let ws = schema::white_space();
        let links = template::LINK_VARIABLES.iter().map(|v| v.replace('.', r"\.")).collect::<Vec<_>>().join("|");
        parts.push(schema::matching(
            &format!(r"^(?:{ws}*\{{\{{(?:{links})\}}\}}{ws}*|{})$", schema::url_pattern()),
            false,
        ));
    }
    if field == "app_id" {
        parts.push(schema::matching(&format!("^{}$", template::no_braces_pair()), false));
    }
    schema::all_of(parts)
}

fn opt_field_schema(field: &str) -> RefOr<Schema> {
    let one_of = OneOfBuilder::new().item(ObjectBuilder::new().schema_type(Type::Null)).item(field_schema(field));
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// `schema_with` functions of [`UpdateContent`]'s fields.
mod patch_schema {
    use super::*;
    macro_rules! fields {
        ($($name:ident),*) => {$(
            pub fn $name() -> RefOr<Schema> {
                opt_field_schema(stringify!($name))
            }
        )*};
    }
    fields!(text, title, description, url, image_url, app_id, page_path, file_name);
}

impl CreateContent {
    /// The message fields.
    pub fn body(&self) -> MessageBody {
        MessageBody {
            text: self.text.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            url: self.url.clone(),
            image_url: self.image_url.clone(),
            app_id: self.app_id.clone(),
            page_path: self.page_path.clone(),
            file_name: self.file_name.clone(),
        }
    }
}

/// `PATCH /v1/contents/{id}`: absent fields stay, `null` clears, values set;
/// the result is checked as a whole (a kind change usually needs other fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContent {
    #[schema(schema_with = schema::opt_text::<1, 200>)]
    pub name: Option<String>,
    pub kind: Option<ContentKind>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::text)]
    pub text: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::title)]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::description)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::url)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::image_url)]
    pub image_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::app_id)]
    pub app_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::page_path)]
    pub page_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = patch_schema::file_name)]
    pub file_name: Option<Option<String>>,
}

impl UpdateContent {
    /// Applies the patch to a body.
    pub fn apply(self, b: &mut MessageBody) {
        apply(&mut b.text, self.text);
        apply(&mut b.title, self.title);
        apply(&mut b.description, self.description);
        apply(&mut b.url, self.url);
        apply(&mut b.image_url, self.image_url);
        apply(&mut b.app_id, self.app_id);
        apply(&mut b.page_path, self.page_path);
        apply(&mut b.file_name, self.file_name);
    }
}

/// `GET /v1/contents/{id}/preview`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The group whose name, region, ... fill `group.*` (required when used).
    pub group_id: Option<GroupId>,
    /// The member for `member.*` (without one, member variables render empty or as their fallback).
    pub member_id: Option<MemberId>,
    /// The campaign for `campaign.*` (required when used).
    pub campaign_id: Option<CampaignId>,
    /// Local date-time for `date`/`time`/`weekday` (`YYYY-MM-DDTHH:MM`; default now in the group's timezone).
    #[param(schema_with = local_date_time)]
    pub at: Option<String>,
}

fn local_date_time() -> utoipa::openapi::schema::Object {
    schema::matching(&schema::local_date_time(), false)
}

/// Which fields a kind requires and allows.
fn fields(kind: ContentKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        ContentKind::Text => (&["text"], &[]),
        ContentKind::Link => (&["title", "url"], &["description", "image_url"]),
        ContentKind::Image => (&["image_url"], &["text"]),
        ContentKind::MiniProgram => (&["app_id", "page_path", "title"], &["image_url"]),
        ContentKind::File => (&["url"], &["file_name"]),
    }
}

impl MessageBody {
    /// `(name, value)` of every field.
    pub fn entries(&self) -> [(&'static str, Option<&String>); 8] {
        [
            ("text", self.text.as_ref()),
            ("title", self.title.as_ref()),
            ("description", self.description.as_ref()),
            ("url", self.url.as_ref()),
            ("image_url", self.image_url.as_ref()),
            ("app_id", self.app_id.as_ref()),
            ("page_path", self.page_path.as_ref()),
            ("file_name", self.file_name.as_ref()),
        ]
    }

    /// Every variable used by any field (sorted, unique); fields that cannot render are ignored.
    pub fn variables(&self) -> Vec<String> {
        let mut vars: Vec<String> = self
            .entries()
            .iter()
            .filter_map(|(_, v)| *v)
            .flat_map(|v| template::variables(v).unwrap_or_default())
            .map(str::to_owned)
            .collect();
        vars.sort();
        vars.dedup();
        vars
    }

    /// Renders every field.
    pub fn render(&self, ctx: &Context) -> MessageBody {
        let r = |v: &Option<String>| v.as_ref().map(|s| template::render(s, ctx));
        MessageBody {
            text: r(&self.text),
            title: r(&self.title),
            description: r(&self.description),
            url: r(&self.url),
            image_url: r(&self.image_url),
            app_id: self.app_id.clone(),
            page_path: r(&self.page_path),
            file_name: r(&self.file_name),
        }
    }
}

/// Checks a kind and its fields: required ones present, foreign ones absent,
/// templates parseable, URLs valid (or a single URL variable).
pub fn check_body(c: &mut Checks, kind: ContentKind, body: &MessageBody) {
    check_shape(c, kind, body);
    check_values(c, body);
}

/// The fields `kind` needs are there and no other is.
fn check_shape(c: &mut Checks, kind: ContentKind, body: &MessageBody) {
    let (required, optional) = fields(kind);
    for (name, value) in body.entries() {
        let allowed = required.contains(&name) || optional.contains(&name);
        match value {
            None if required.contains(&name) => c.fail(name, "required", format!("a {kind:?} content needs `{name}`")),
            Some(_) if !allowed => c.fail(name, "not_allowed", format!("a {kind:?} content has no `{name}`")),
            _ => {}
        }
    }
}

/// Each present field is text, a template, and a URL where it is one.
fn check_values(c: &mut Checks, body: &MessageBody) {
    for (name, value) in body.entries() {
        let Some(v) = value else { continue };
        c.text(name, v, 1, max_chars(name));
        if let Err(e) = template::variables(v) {
            c.fail(name, "invalid_template", e);
        } else if name.ends_with("url") && !is_url_template(v) {
            c.url(name, v);
        }
        if name == "app_id" && v.contains("{{") {
            c.fail(name, "invalid", "must not use variables");
        }
    }
}

/// Checks a changed content: its values (422), then that its fields still
/// fit its kind, which depends on what was stored (409
/// `content_kind_mismatch`, naming the fields).
pub fn validate_change(name: &str, kind: ContentKind, body: &MessageBody) -> ApiResult<()> {
    let mut c = Checks::new();
    c.text("name", name, 1, 200);
    check_values(&mut c, body);
    c.finish()?;
    let mut shape = Checks::new();
    check_shape(&mut shape, kind, body);
    shape.finish_as_conflict("content_kind_mismatch")
}

fn is_url_template(v: &str) -> bool {
    let v = v.trim();
    template::LINK_VARIABLES.iter().any(|l| v.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) == Some(*l))
}

/// Validates a whole content.
pub fn validate(name: &str, kind: ContentKind, body: &MessageBody) -> ApiResult<()> {
    let mut c = Checks::new();
    c.text("name", name, 1, 200);
    check_body(&mut c, kind, body);
    c.finish()
}
