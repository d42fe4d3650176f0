//! The closed vocabularies of the event catalog (org unit kinds, roles, class forms, …), each
//! spelled in `snake_case` on the wire exactly as CONTRACT §2 lists them.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares a catalog enum: snake_case serde, a JSON Schema, `as_str` and `Display`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// The level of an org unit, from the top: subdistrict → community → grid branch → party group.
    OrgKind {
        Subdistrict = "subdistrict",
        Community = "community",
        GridBranch = "grid_branch",
        PartyGroup = "party_group",
    }
);

impl OrgKind {
    /// Depth in the hierarchy; a parent is always of a smaller rank than its children.
    pub fn rank(self) -> u8 {
        match self {
            OrgKind::Subdistrict => 0,
            OrgKind::Community => 1,
            OrgKind::GridBranch => 2,
            OrgKind::PartyGroup => 3,
        }
    }

    /// Whether members can belong to a unit of this kind.
    pub fn holds_members(self) -> bool {
        matches!(self, OrgKind::GridBranch | OrgKind::PartyGroup)
    }
}

vocabulary!(
    /// Full or probationary (预备) membership.
    Membership { Full = "full", Probationary = "probationary" }
);

vocabulary!(
    Employment { InService = "in_service", Retired = "retired", Other = "other" }
);

vocabulary!(
    /// Why a member left the subdistrict's rolls.
    LeaveReason { TransferredOut = "transferred_out", Deceased = "deceased", Other = "other" }
);

vocabulary!(
    /// Why a member went away (流动党员).
    MobileReason { Work = "work", Business = "business", Study = "study", Other = "other" }
);

vocabulary!(
    Role {
        SubdistrictLeader = "subdistrict_leader",
        CommunitySecretary = "community_secretary",
        CommitteeMember = "committee_member",
        GridSecretary = "grid_secretary",
        BranchSecretary = "branch_secretary",
        PartyGroupLeader = "party_group_leader",
    }
);

vocabulary!(
    VenueKind {
        PartySchool = "party_school",
        OnsiteTeachingPoint = "onsite_teaching_point",
        CommunityLearningPoint = "community_learning_point",
        ExternalBase = "external_base",
    }
);

vocabulary!(
    LecturerKind {
        PropagandaTeam = "propaganda_team",
        Exemplar = "exemplar",
        RoleModel = "role_model",
        VeteranMember = "veteran_member",
        Expert = "expert",
        Official = "official",
    }
);

vocabulary!(
    ClassForm {
        Concentrated = "concentrated",
        Seminar = "seminar",
        Online = "online",
        FieldTrip = "field_trip",
        Forum = "forum",
        Competition = "competition",
        NightSchool = "night_school",
    }
);

vocabulary!(
    VisitPurpose {
        HomeStudyDelivery = "home_study_delivery",
        BooksDelivered = "books_delivered",
        CareVisit = "care_visit",
        PoliticalBirthday = "political_birthday",
    }
);

vocabulary!(
    StudyPlatform {
        XuexiQiangguo = "xuexi_qiangguo",
        LighthouseClassroom = "lighthouse_classroom",
        ShandongOnlineAcademy = "shandong_online_academy",
        Other = "other",
    }
);

vocabulary!(
    ContactChannel { Phone = "phone", Video = "video", Message = "message", InPerson = "in_person" }
);

vocabulary!(
    MeetingKind {
        BranchGeneralMeeting = "branch_general_meeting",
        BranchCommitteeMeeting = "branch_committee_meeting",
        PartyGroupMeeting = "party_group_meeting",
        ThemedPartyDay = "themed_party_day",
        OrgLifeMeeting = "org_life_meeting",
    }
);

vocabulary!(
    WishCategory {
        GridPatrol = "grid_patrol",
        MerchantVisit = "merchant_visit",
        DisputeMediation = "dispute_mediation",
        VolunteerService = "volunteer_service",
        Other = "other",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for role in Role::ALL {
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::from(role.as_str())
            );
        }
        let error = serde_json::from_str::<ClassForm>("\"lecture\"").unwrap_err();
        assert!(error.to_string().contains("unknown variant `lecture`"));
    }
}
