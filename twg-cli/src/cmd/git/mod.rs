//! Git over HTTPS to Bitbucket with the stored Bitbucket token: which origins count as
//! Bitbucket (`hosts`), the credential helper git runs (`credential`, behind
//! `twg auth git-credential`), and `twg setup git`, which tells git to run it (`setup`).

pub mod credential;
pub mod hosts;
pub mod setup;
