//! Which channel reaches a group: the plan's connection when it names one,
//! else the group's robot (WeCom group robot, Feishu custom bot), else the
//! workspace's oldest active connection of the group's platform.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::Channel;
use crate::ids::{ConnectionId, WorkspaceId};
use crate::platform::Platform;

/// How one group is reached; `channel = None` carries the reason in `error`.
#[derive(Debug, Clone)]
pub struct Route {
    pub connection_id: Option<Uuid>,
    pub channel: Channel,
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Conn {
    id: Uuid,
    platform: Platform,
    has_bot_token: bool,
    has_outbound_url: bool,
    has_secret: bool,
}

fn via(c: &Conn) -> Route {
    let (channel, error) = match c.platform {
        Platform::Telegram | Platform::Slack if !c.has_bot_token => (Channel::None, "the connection has no bot_token"),
        Platform::Telegram => (Channel::Telegram, ""),
        Platform::Slack => (Channel::Slack, ""),
        Platform::Generic if c.has_outbound_url => (Channel::Generic, ""),
        Platform::Generic => (Channel::None, "the connection has no settings.outbound_url"),
        Platform::Wecom if c.has_secret => (Channel::WecomMassSend, ""),
        Platform::Wecom => (
            Channel::None,
            "give the WeCom connection its contact `secret` for mass sends, or the group a robot: PUT /v1/groups/{id}/robot",
        ),
        Platform::Feishu => {
            (Channel::None, "Feishu groups are sent to through their custom bot: PUT /v1/groups/{id}/robot")
        }
        Platform::Dingtalk => (Channel::None, "DingTalk has no outbound connector yet"),
    };
    Route { connection_id: Some(c.id), channel, error: (!error.is_empty()).then(|| error.to_owned()) }
}

/// Routes for `groups` of one plan.
pub async fn resolve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan_connection: Option<ConnectionId>,
    groups: &[Uuid],
) -> Result<HashMap<Uuid, Route>, sqlx::Error> {
    let platforms: Vec<(Uuid, Platform)> =
        sqlx::query_as("SELECT id, platform FROM groups WHERE workspace_id = $1 AND id = ANY($2)")
            .bind(ws)
            .bind(groups)
            .fetch_all(&mut *conn)
            .await?;
    let robots: HashMap<Uuid, String> =
        sqlx::query_as("SELECT group_id, kind FROM group_robots WHERE workspace_id = $1 AND group_id = ANY($2)")
            .bind(ws)
            .bind(groups)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let conns: Vec<Conn> = sqlx::query_as(
        "SELECT id, platform, credentials ? 'bot_token' AS has_bot_token, settings ? 'outbound_url' AS has_outbound_url,
                credentials ? 'secret' AS has_secret
         FROM connections WHERE workspace_id = $1 AND status = 'active' ORDER BY id",
    )
    .bind(ws)
    .fetch_all(conn)
    .await?;
    let named = plan_connection.and_then(|p| conns.iter().find(|c| c.id == p.0));
    let mut out = HashMap::with_capacity(platforms.len());
    for (group, platform) in platforms {
        let robot = robots.get(&group).map(String::as_str);
        let route = match (named, robot) {
            (Some(c), _) if !matches!(c.platform, Platform::Wecom | Platform::Feishu) => via(c),
            (_, Some("wecom_robot")) => {
                Route { connection_id: named.map(|c| c.id), channel: Channel::WecomRobot, error: None }
            }
            (_, Some("feishu_bot")) => {
                Route { connection_id: named.map(|c| c.id), channel: Channel::FeishuBot, error: None }
            }
            (Some(c), _) => via(c),
            (None, _) if plan_connection.is_some() => Route {
                connection_id: None,
                channel: Channel::None,
                error: Some("the plan's connection is disabled or gone".into()),
            },
            (None, _) => match conns.iter().find(|c| c.platform == platform) {
                Some(c) => via(c),
                None => Route {
                    connection_id: None,
                    channel: Channel::None,
                    error: Some(match platform {
                        Platform::Wecom | Platform::Feishu => {
                            "the group has no robot to send through: PUT /v1/groups/{id}/robot".to_owned()
                        }
                        p => format!("no active {} connection", p.as_str()),
                    }),
                },
            },
        };
        out.insert(group, route);
    }
    Ok(out)
}
