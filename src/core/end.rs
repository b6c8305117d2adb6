//! Why a session ends: the reasons `session-expired` names, what tabs tell each other and
//! what calls fail with. A leaf: the session decides them, the cross-tab protocol carries them.

/// Why a session ended (`session-expired` `detail.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    RefreshRejected,
    RefreshFailed,
    NoRefreshToken,
    UnauthorizedAfterRefresh,
    Logout,
}

impl EndReason {
    pub fn parse(s: &str) -> Option<EndReason> {
        [
            EndReason::RefreshRejected,
            EndReason::RefreshFailed,
            EndReason::NoRefreshToken,
            EndReason::UnauthorizedAfterRefresh,
            EndReason::Logout,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::RefreshRejected => "refresh-rejected",
            EndReason::RefreshFailed => "refresh-failed",
            EndReason::NoRefreshToken => "no-refresh-token",
            EndReason::UnauthorizedAfterRefresh => "unauthorized-after-refresh",
            EndReason::Logout => "logout",
        }
    }
}
