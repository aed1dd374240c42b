//! Which channel reaches a group: the plan's connection when it names one,
//! else the group's robot (WeCom group robot, Feishu custom bot), else the
//! workspace's oldest active connection of the group's platform.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{Channel, RobotKind};
use crate::connections::repo::ActiveConnection as Conn;
use crate::ids::{ConnectionId, WorkspaceId};

/// How one group is reached; `channel = None` carries the reason in `error`.
#[derive(Debug, Clone)]
pub struct Route {
    pub connection_id: Option<Uuid>,
    pub channel: Channel,
    pub error: Option<String>,
}

fn via(c: &Conn) -> Route {
    let (channel, error) = match crate::platforms::connection_channel(c.platform, &c.credentials, &c.settings) {
        Ok(channel) => (channel, None),
        Err(why) => (Channel::None, Some(why.to_owned())),
    };
    Route { connection_id: Some(c.id), channel, error }
}

/// Routes for `groups` of one plan.
pub async fn resolve(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    plan_connection: Option<ConnectionId>,
    groups: &[Uuid],
) -> Result<HashMap<Uuid, Route>, sqlx::Error> {
    let platforms = crate::groups::repo::platforms(conn, ws, groups).await?;
    let robots: HashMap<Uuid, RobotKind> = super::repo::robot_kinds(conn, ws, groups).await?.into_iter().collect();
    // Each connection's route once (it reads the credentials), not per group.
    let conns: Vec<(Conn, Route)> = crate::connections::repo::active_with_credentials(conn, ws)
        .await?
        .into_iter()
        .map(|c| {
            let route = via(&c);
            (c, route)
        })
        .collect();
    let named = plan_connection.and_then(|p| conns.iter().find(|(c, _)| c.id == p.0));
    let mut out = HashMap::with_capacity(platforms.len());
    for (group, platform) in platforms {
        let robot = robots.get(&group).copied();
        let route = match (named, robot) {
            (Some((c, route)), _) if !crate::platforms::prefers_group_robot(c.platform) => route.clone(),
            (_, Some(kind)) => Route { connection_id: named.map(|(c, _)| c.id), channel: kind.channel(), error: None },
            (Some((_, route)), _) => route.clone(),
            (None, _) if plan_connection.is_some() => Route {
                connection_id: None,
                channel: Channel::None,
                error: Some("the plan's connection is disabled or gone".into()),
            },
            (None, _) => match conns.iter().find(|(c, _)| c.platform == platform) {
                Some((_, route)) => route.clone(),
                None => Route {
                    connection_id: None,
                    channel: Channel::None,
                    error: Some(if crate::platforms::prefers_group_robot(platform) {
                        "the group has no robot to send through: PUT /v1/groups/{id}/robot".to_owned()
                    } else {
                        format!("no active {} connection", platform.as_str())
                    }),
                },
            },
        };
        out.insert(group, route);
    }
    Ok(out)
}
