//! The sign-in page.

use super::*;

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    pub(super) error: Option<String>,
    pub(super) next: Option<String>,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = q
        .next
        .filter(|n| crate::auth::safe_next(n).is_some())
        .unwrap_or_else(|| "/".into());
    let error = q.error.is_some().then_some(
        "That user name and password did not match. Try again, or ask a Hangar administrator to reset your password.",
    );
    login_page(&state, &headers, &next, error)
}

/// The sign-in form, with `notice` (an error) above it, going to `next`
/// (already checked to be a path of this server) once signed in. The form
/// carries the CSRF token of the `hangar_login` cookie, which is set here
/// unless the browser already holds one.
pub(crate) fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    next: &str,
    notice: Option<&str>,
) -> Response {
    use crate::auth::{self, LOGIN_COOKIE};
    let (secret, fresh) =
        match auth::cookie(headers, LOGIN_COOKIE).filter(|c| auth::is_login_secret(c)) {
            Some(c) => (c, false),
            None => (auth::random_hex(32), true),
        };
    let error = notice.map_or_else(String::new, |n| {
        format!(r#"<p class="notice bad" role="alert">{}</p>"#, esc(n))
    });
    let body = format!(
        r#"<section class="login">
<h1>Sign in to Hangar</h1>
<p>See whether your models are healthy, drifting or treating people unfairly, and act on them.</p>
{error}
<form method="post" action="/login" class="stack">
<input type="hidden" name="csrf" value="{}">
<input type="hidden" name="next" value="{}">
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="primary">Sign in</button>
</form>
<p class="hint">No account yet? An administrator creates one with <code>hangar user create NAME --team TEAM --role viewer --password-stdin</code>.</p>
</section>"#,
        esc(&auth::login_csrf_token(&secret)),
        esc(next)
    );
    let mut resp = page("Sign in", Section::None, None, &body);
    if fresh {
        let cookie = auth::set_cookie(LOGIN_COOKIE, &secret, "/login", None, state.secure_cookies);
        if let Ok(v) = header::HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}
