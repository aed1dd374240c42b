//! Typed ids (UUIDv7): a `GroupId` cannot be passed where a `MemberId` is meant.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new time-ordered id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(/// A workspace (tenant).
    WorkspaceId);
id_type!(/// An API key.
    ApiKeyId);
id_type!(/// A chat group.
    GroupId);
id_type!(/// A member (a person across platforms).
    MemberId);
id_type!(/// A staff member or bot of the operator.
    StaffId);
id_type!(/// A membership stint.
    MembershipId);
id_type!(/// A value tier.
    TierId);
id_type!(/// A tag.
    TagId);
id_type!(/// A saved group selector.
    LayerId);
id_type!(/// A campaign.
    CampaignId);
id_type!(/// A platform connection.
    ConnectionId);
id_type!(/// A stored webhook request.
    InboxId);
id_type!(/// A message template of the content library.
    ContentId);
id_type!(/// An SOP plan.
    PlanId);
id_type!(/// A step of an SOP plan.
    StepId);
id_type!(/// One scheduled send of a step to a group.
    DeliveryId);
id_type!(/// An outbound webhook endpoint of the operator.
    EndpointId);
id_type!(/// A person who signs in to the console.
    UserId);
id_type!(/// A console session.
    SessionId);
id_type!(/// An invitation to a workspace.
    InvitationId);
