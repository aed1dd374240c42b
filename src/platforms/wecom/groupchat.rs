//! The join way's `state` of a customer group's members
//! (`externalcontact/groupchat/get`): WeCom's `change_external_chat`
//! callback does not carry it, so a join through a 加入群聊 way made with a
//! channel's code is attributed by reading it here afterwards.

use serde_json::Value;

use super::Credentials;
use crate::platforms::outbound::{AccessTokens, Calls};

fn base(settings: &Value) -> String {
    crate::platforms::outbound::base(settings, "https://qyapi.weixin.qq.com")
}

async fn token(calls: Calls<'_>, creds: &Credentials, settings: &Value) -> Result<String, String> {
    let (corp, base) = (creds.corp_id.as_str(), base(settings));
    if let Some(t) = calls.tokens.get(&base, corp) {
        return Ok(t);
    }
    let secret = creds.secret.as_deref().ok_or("the connection has no secret")?;
    let body: Value = calls
        .http
        .get(format!("{base}/cgi-bin/gettoken"))
        .query(&[("corpid", corp), ("corpsecret", secret)])
        .send()
        .await
        .map_err(|_| "gettoken failed".to_owned())?
        .json()
        .await
        .map_err(|_| "gettoken: not JSON".to_owned())?;
    match (body["errcode"].as_i64(), body["access_token"].as_str()) {
        (Some(0) | None, Some(t)) => {
            let ttl = body["expires_in"].as_u64().unwrap_or(7200).saturating_sub(300);
            calls.tokens.put(&base, corp, t, std::time::Duration::from_secs(ttl));
            Ok(t.to_owned())
        }
        (code, _) => Err(format!("gettoken errcode {}", code.unwrap_or(-2))),
    }
}

/// Each member's (`userid`, `state`) of the customer group `chat_id`, for
/// the members that joined through a way with a state.
pub async fn member_states(
    http: &reqwest::Client,
    tokens: &AccessTokens,
    credentials: &Value,
    settings: &Value,
    chat_id: &str,
) -> Result<Vec<(String, String)>, String> {
    let creds = Credentials::of(credentials).ok_or("the connection's credentials are unreadable")?;
    let calls = Calls { http, tokens };
    let token = token(calls, &creds, settings).await?;
    let body: Value = http
        .post(format!("{}/cgi-bin/externalcontact/groupchat/get", base(settings)))
        .query(&[("access_token", token.as_str())])
        .json(&serde_json::json!({"chat_id": chat_id, "need_name": 0}))
        .send()
        .await
        .map_err(|_| "groupchat/get failed".to_owned())?
        .json()
        .await
        .map_err(|_| "groupchat/get: not JSON".to_owned())?;
    if body["errcode"].as_i64().unwrap_or(0) != 0 {
        return Err(format!("groupchat/get errcode {}", body["errcode"]));
    }
    Ok(body["group_chat"]["member_list"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    let state = m["state"].as_str().filter(|s| !s.is_empty())?;
                    Some((m["userid"].as_str()?.to_owned(), state.chars().take(200).collect()))
                })
                .collect()
        })
        .unwrap_or_default())
}
