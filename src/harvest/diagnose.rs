//! What Harvest's answers mean for the person who must act on them: the diagnosis `check`
//! gives, and a `read` that a 401 ends gives too.

use url::Url;

use super::{HarvestClient, TokenAccess};
use crate::config::Config;

/// Why the API answered 401, as far as Harvest ID's accounts endpoint can tell: the token
/// itself, or an account id the token does not reach (the API says the same for both). `check`
/// says it, and so does a `read` that a 401 ends.
pub async fn unauthorized(config: &Config, client: &HarvestClient) -> String {
    let reach = match config.oauth_token_url.join("../accounts") {
        Ok(accounts_url) if may_receive_the_token(&accounts_url, config) => {
            client.accounts(&accounts_url).await
        }
        _ => None,
    };
    match reach {
        Some(TokenAccess::Refused) => "Harvest rejected the token (401 Unauthorized): it is wrong, expired or revoked. Create a new personal access token at https://id.getharvest.com/developers (or reconnect OAuth).".into(),
        Some(TokenAccess::Accounts(ids)) if !ids.contains(&config.account_id) => format!(
            "Harvest accepts the token, but the account_id in the config is not one of the {} account(s) it can reach (401 Unauthorized). Copy the Account ID shown next to the token at https://id.getharvest.com/developers.",
            ids.len()
        ),
        _ => "Harvest rejected the credentials (401 Unauthorized): the token is wrong, expired or revoked, or the account_id in the config is not an account this token can reach. Create a new personal access token at https://id.getharvest.com/developers (or reconnect OAuth) and check the account id shown there.".into(),
    }
}

/// Whether the token may be sent to `url` to ask about it: Harvest ID itself over https, or the
/// origin of `api_url`, which receives the token anyway (the emulator, a proxy). A personal
/// token never otherwise goes to `oauth_token_url`, which may be any host.
fn may_receive_the_token(url: &Url, config: &Config) -> bool {
    let harvest_id = url.scheme() == "https" && url.host_str() == Some("id.getharvest.com");
    let api_origin = url.origin() == config.api_url.origin();
    (harvest_id || api_origin) && url.username().is_empty() && url.password().is_none()
}
