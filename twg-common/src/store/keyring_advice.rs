//! What the keyring backend's errors tell the user, in the words of the keyring the platform
//! has: the Secret Service (Linux), the login keychain (macOS) or the Credential Manager
//! (Windows), each with its own tools.

use crate::platform::Platform;

/// What the platform's keyring is called in messages.
pub(super) fn keyring_name(p: Platform) -> &'static str {
    match p {
        Platform::Linux => "the Secret Service",
        Platform::MacOs => "the login keychain",
        Platform::Windows => "the Windows Credential Manager",
    }
}

/// The keyring cannot be reached at all (`detail` says why).
pub(super) fn unavailable(p: Platform, detail: &str) -> String {
    match p {
        Platform::Linux => format!(
            "no Secret Service on the session bus ({detail}); start gnome-keyring or KeePassXC"
        ),
        Platform::MacOs => format!(
            "the login keychain cannot be opened ({detail}); check it in Keychain Access \
             (`security show-keychain-info` in a terminal)"
        ),
        Platform::Windows => format!(
            "the Windows Credential Manager cannot be opened ({detail}); run twg in your own \
             interactive Windows session"
        ),
    }
}

/// The keyring answered but will not give access.
pub(super) fn locked(p: Platform, detail: &str) -> String {
    match p {
        Platform::Linux => format!(
            "the keyring is locked or refused access ({detail}); unlock it (e.g. log in to the \
             desktop session) and retry"
        ),
        Platform::MacOs => format!(
            "the login keychain is locked or refused access ({detail}); unlock it \
             (`security unlock-keychain`, or log in at the Mac), allow twg when macOS asks, \
             and retry"
        ),
        Platform::Windows => format!(
            "the Windows Credential Manager refused access ({detail}); run twg in your own \
             interactive Windows session and retry"
        ),
    }
}

/// The keyring did not answer in time.
pub(super) fn timed_out(p: Platform, secs: u64) -> String {
    format!("{} did not answer within {secs}s", keyring_name(p))
}

/// The command that deletes twg's entry (service `service`, account `user`).
pub(super) fn remove_entry(p: Platform, service: &str, user: &str) -> String {
    match p {
        Platform::Linux => format!("`secret-tool clear service {service} username {user}`"),
        Platform::MacOs => format!("`security delete-generic-password -s {service} -a {user}`"),
        // windows-native-keyring-store names the credential `<user>.<service>`.
        Platform::Windows => format!("`cmdkey /delete:{user}.{service}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_wording_names_the_secret_service_tools() {
        let p = Platform::Linux;
        assert_eq!(
            unavailable(p, "ServiceUnknown"),
            "no Secret Service on the session bus (ServiceUnknown); start gnome-keyring or KeePassXC"
        );
        assert_eq!(
            locked(p, "d"),
            "the keyring is locked or refused access (d); unlock it (e.g. log in to the desktop session) and retry"
        );
        assert_eq!(
            timed_out(p, 5),
            "the Secret Service did not answer within 5s"
        );
        assert_eq!(
            remove_entry(p, "twg", "auth:0123456789abcdef"),
            "`secret-tool clear service twg username auth:0123456789abcdef`"
        );
    }

    #[test]
    fn macos_wording_names_the_keychain_tools() {
        let p = Platform::MacOs;
        assert_eq!(
            unavailable(p, "d"),
            "the login keychain cannot be opened (d); check it in Keychain Access (`security show-keychain-info` in a terminal)"
        );
        assert_eq!(
            locked(p, "d"),
            "the login keychain is locked or refused access (d); unlock it (`security unlock-keychain`, or log in at the Mac), allow twg when macOS asks, and retry"
        );
        assert_eq!(
            timed_out(p, 5),
            "the login keychain did not answer within 5s"
        );
        assert_eq!(
            remove_entry(p, "twg", "auth:0123456789abcdef"),
            "`security delete-generic-password -s twg -a auth:0123456789abcdef`"
        );
    }

    #[test]
    fn windows_wording_names_the_credential_manager() {
        let p = Platform::Windows;
        assert_eq!(
            unavailable(p, "d"),
            "the Windows Credential Manager cannot be opened (d); run twg in your own interactive Windows session"
        );
        assert_eq!(
            locked(p, "d"),
            "the Windows Credential Manager refused access (d); run twg in your own interactive Windows session and retry"
        );
        assert_eq!(
            timed_out(p, 5),
            "the Windows Credential Manager did not answer within 5s"
        );
        assert_eq!(
            remove_entry(p, "twg", "auth:0123456789abcdef"),
            "`cmdkey /delete:auth:0123456789abcdef.twg`"
        );
    }

    #[test]
    fn no_platform_is_told_another_platforms_tool() {
        let tools = [
            (Platform::Linux, ["secret-tool", "gnome-keyring"]),
            (Platform::MacOs, ["security ", "Keychain Access"]),
            (Platform::Windows, ["cmdkey", "Credential Manager"]),
        ];
        for (p, _) in tools {
            let text = [
                unavailable(p, "d"),
                locked(p, "d"),
                timed_out(p, 5),
                remove_entry(p, "twg", "u"),
            ]
            .join("\n");
            for (other, words) in tools {
                for w in words.iter().filter(|_| other != p) {
                    assert!(!text.contains(w), "{p:?} is told {w:?}: {text}");
                }
            }
        }
    }
}
