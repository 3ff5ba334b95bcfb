//! Credentials: token secrets and their hashes, cookies, CSRF tokens, passwords.

use super::*;

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "hangar_session";
/// How long a dashboard session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a looked-up token is trusted before it is read again (a
/// revocation on another replica takes effect within this).
pub(super) const CACHE_TTL: Duration = Duration::from_secs(10);

/// A new credential: `hgr_<id>_<secret>`. Only the id and the secret's
/// SHA-256 are stored.
pub struct NewSecret {
    pub id: String,
    pub token: String,
    pub secret_hash: String,
}

pub fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn new_secret() -> NewSecret {
    let id = random_hex(8);
    let secret = random_hex(32);
    NewSecret {
        token: format!("hgr_{id}_{secret}"),
        secret_hash: sha256_hex(secret.as_bytes()),
        id,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Splits a presented token into (id, hash of its secret). A token not in
/// Hangar's format (an administrator token chosen by the operator) is
/// looked up by an id derived from its hash.
pub fn token_parts(token: &str) -> (String, String) {
    if let Some(rest) = token.strip_prefix("hgr_") {
        if let Some((id, secret)) = rest.split_once('_') {
            if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return (id.to_string(), sha256_hex(secret.as_bytes()));
            }
        }
    }
    let h = sha256_hex(token.as_bytes());
    (format!("x{}", &h[..15]), h)
}

/// The CSRF token of a dashboard session: derived from the session's
/// secret hash, so it needs no storage and dies with the session.
pub fn csrf_token(secret_hash: &str) -> String {
    sha256_hex(format!("hangar-csrf:{secret_hash}").as_bytes())
}

/// The cookie that carries the sign-in form's CSRF secret (there is no
/// session yet to derive one from).
pub const LOGIN_COOKIE: &str = "hangar_login";

/// The sign-in form's CSRF token: derived from the random secret in its
/// cookie, which a page of another site can neither read nor set.
pub fn login_csrf_token(secret: &str) -> String {
    sha256_hex(format!("hangar-login-csrf:{secret}").as_bytes())
}

/// Does the sign-in form's `csrf` field belong to its cookie? Constant time.
pub fn login_csrf_ok(headers: &HeaderMap, field: Option<&str>) -> bool {
    match (cookie(headers, LOGIN_COOKIE), field) {
        (Some(secret), Some(field)) if is_login_secret(&secret) => {
            bool::from(field.as_bytes().ct_eq(login_csrf_token(&secret).as_bytes()))
        }
        _ => false,
    }
}

/// A secret Hangar could have issued: 64 hex digits.
pub fn is_login_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for c in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for part in c.split(';') {
            if let Some((k, v)) = part.trim().split_once('=') {
                if k == name && !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, and Secure when the
/// server is reached over HTTPS; `max_age` none = until the browser closes.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Where to go after signing in, when it is a path of this server: one
/// leading `/` not followed by `/` or `\`, no `\` anywhere, printable
/// ASCII only (no control characters or spaces, which browsers strip or
/// reinterpret), at most 2 KiB. Anything else (`//evil.example`,
/// `/\evil.example`, `https://…`, `javascript:…`) is refused: the caller
/// goes to `/`.
pub fn safe_next(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    let ok = b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && b.len() <= 2048
        && b.iter().all(|c| (0x21..0x7f).contains(c) && *c != b'\\');
    ok.then_some(next)
}

/// Argon2id password hashing with the crate's default (OWASP) parameters.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}
