//! Security for the CLI's sockets: the PLAIN and CURVE options, a ZAP
//! authenticator (ferromq's built-in one) running in the CLI process, and
//! `ferromq keygen`.
//!
//! A server socket checks its clients through ZAP, so a PLAIN server (and
//! a CURVE server that checks client keys) also needs `--auth-*` flags:
//!
//! ```text
//! ferromq peer -t REP --bind tcp://127.0.0.1:* --plain-server --auth-plain admin:secret
//! ferromq peer -t REQ --connect EP --plain-user admin --plain-password secret
//! ferromq peer -t REP --bind EP --curve-server --curve-secret S --auth-curve-key CLIENT_PUBLIC
//! ferromq peer -t REQ --connect EP --curve-serverkey P --curve-public CP --curve-secret CS
//! ```

use clap::Args;
use ferromq::auth::{Authenticator, CurveClients};
use ferromq::{option, Context, Socket};
use std::collections::HashMap;

/// Where `--help` lists the security options. (Set on each option: a
/// `next_help_heading` would also take in the options flattened after
/// these.)
const HEADING: &str = "Security";

/// The security options of a socket, and the authenticator to run with it.
#[derive(Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// PLAIN server (ZMQ_PLAIN_SERVER): clients must give a name and a
    /// password, checked by the ZAP handler (see --auth-plain).
    #[arg(long, help_heading = HEADING, conflicts_with_all = ["curve_server", "plain_user"])]
    plain_server: bool,
    /// PLAIN client: the user name (ZMQ_PLAIN_USERNAME).
    #[arg(long, help_heading = HEADING, value_name = "USER", requires = "plain_password")]
    plain_user: Option<String>,
    /// PLAIN client: the password (ZMQ_PLAIN_PASSWORD).
    #[arg(long, help_heading = HEADING, value_name = "PW", requires = "plain_user", allow_hyphen_values = true)]
    plain_password: Option<String>,
    /// CURVE server (ZMQ_CURVE_SERVER); needs --curve-secret.
    #[arg(long, help_heading = HEADING, requires = "curve_secret", conflicts_with = "curve_serverkey")]
    curve_server: bool,
    /// This socket's long-term public key (ZMQ_CURVE_PUBLICKEY), 40 Z85
    /// characters.
    #[arg(long, help_heading = HEADING, value_name = "Z85", value_parser = parse_key, allow_hyphen_values = true)]
    curve_public: Option<[u8; 32]>,
    /// This socket's long-term secret key (ZMQ_CURVE_SECRETKEY), 40 Z85
    /// characters.
    #[arg(long, help_heading = HEADING, value_name = "Z85", value_parser = parse_key, allow_hyphen_values = true)]
    curve_secret: Option<[u8; 32]>,
    /// CURVE client: the server's public key (ZMQ_CURVE_SERVERKEY); needs
    /// --curve-public and --curve-secret.
    #[arg(
        long,
        help_heading = HEADING,
        value_name = "Z85",
        value_parser = parse_key,
        allow_hyphen_values = true,
        requires_all = ["curve_public", "curve_secret"],
        conflicts_with = "plain_user"
    )]
    curve_serverkey: Option<[u8; 32]>,
    /// ZMQ_ZAP_DOMAIN: the domain this socket's handshakes are checked in
    /// (with it, even NULL peers are checked).
    #[arg(long, help_heading = HEADING, value_name = "DOMAIN")]
    zap_domain: Option<String>,
    /// ZMQ_ZAP_ENFORCE_DOMAIN: refuse peers when no ZAP handler answers.
    #[arg(long, help_heading = HEADING)]
    zap_enforce_domain: bool,
    /// Run ferromq's authenticator (a ZAP handler) in this process and let
    /// this PLAIN user in (USER:PASSWORD; repeatable).
    #[arg(long, help_heading = HEADING, value_name = "USER:PW", value_parser = parse_user)]
    auth_plain: Vec<(String, String)>,
    /// Run the authenticator and let in the CURVE client with this public
    /// key (Z85; repeatable). Other clients are refused.
    #[arg(long, help_heading = HEADING, value_name = "Z85", value_parser = parse_key, allow_hyphen_values = true)]
    auth_curve_key: Vec<[u8; 32]>,
    /// Run the authenticator and let in any CURVE client (one that knows
    /// the server's public key).
    #[arg(long, help_heading = HEADING, conflicts_with = "auth_curve_key")]
    auth_curve_any: bool,
    /// Run the authenticator and admit only this IP address (repeatable).
    #[arg(long, help_heading = HEADING, value_name = "ADDR")]
    auth_allow: Vec<String>,
    /// Run the authenticator and refuse this IP address (repeatable).
    #[arg(long, help_heading = HEADING, value_name = "ADDR", conflicts_with = "auth_allow")]
    auth_deny: Vec<String>,
    /// The ZAP domain the --auth-plain and --auth-curve-* settings are for
    /// ("*": every domain).
    #[arg(long, help_heading = HEADING, value_name = "DOMAIN", default_value = "*")]
    auth_domain: String,
}

fn parse_key(s: &str) -> Result<[u8; 32], String> {
    ferromq::z85_decode_key(s).map_err(|e| format!("not a CURVE key in Z85 (40 characters): {e}"))
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_owned(), password.to_owned())),
        _ => Err(format!("{s:?} is not USER:PASSWORD")),
    }
}

impl SecurityArgs {
    /// Sets the security options on a new socket (before any bind or
    /// connect).
    pub fn apply(&self, socket: &Socket) -> Result<(), String> {
        let set = |what: &str, opt: i32, value: &[u8]| {
            socket
                .set_option_raw(opt, value)
                .map_err(|e| format!("cannot set {what}: {e}"))
        };
        let one = 1i32.to_ne_bytes();
        if let Some(domain) = &self.zap_domain {
            set("--zap-domain", option::ZAP_DOMAIN, domain.as_bytes())?;
        }
        if self.zap_enforce_domain {
            set("--zap-enforce-domain", option::ZAP_ENFORCE_DOMAIN, &one)?;
        }
        if self.plain_server {
            set("--plain-server", option::PLAIN_SERVER, &one)?;
        }
        if let Some(user) = &self.plain_user {
            set("--plain-user", option::PLAIN_USERNAME, user.as_bytes())?;
        }
        if let Some(password) = &self.plain_password {
            set(
                "--plain-password",
                option::PLAIN_PASSWORD,
                password.as_bytes(),
            )?;
        }
        // As in libzmq, the keys first, the role last.
        if let Some(key) = &self.curve_public {
            set("--curve-public", option::CURVE_PUBLICKEY, key)?;
        }
        if let Some(key) = &self.curve_secret {
            set("--curve-secret", option::CURVE_SECRETKEY, key)?;
        }
        if let Some(key) = &self.curve_serverkey {
            set("--curve-serverkey", option::CURVE_SERVERKEY, key)?;
        }
        if self.curve_server {
            set("--curve-server", option::CURVE_SERVER, &one)?;
        }
        Ok(())
    }

    fn wants_authenticator(&self) -> bool {
        !self.auth_plain.is_empty()
            || !self.auth_curve_key.is_empty()
            || self.auth_curve_any
            || !self.auth_allow.is_empty()
            || !self.auth_deny.is_empty()
    }

    /// Starts ferromq's authenticator in `ctx` when an `--auth-*` flag
    /// asks for one. It answers for every socket of the context until
    /// dropped (drop it before the context).
    pub fn start_authenticator(&self, ctx: &Context) -> Result<Option<Authenticator>, String> {
        if !self.wants_authenticator() {
            return Ok(None);
        }
        let auth = Authenticator::start(ctx)
            .map_err(|e| format!("cannot start the authenticator: {e}"))?;
        if !self.auth_allow.is_empty() {
            auth.allow(&self.auth_allow)
                .map_err(|e| format!("--auth-allow: {e}"))?;
        }
        if !self.auth_deny.is_empty() {
            auth.deny(&self.auth_deny)
                .map_err(|e| format!("--auth-deny: {e}"))?;
        }
        if !self.auth_plain.is_empty() {
            let users: HashMap<String, String> = self.auth_plain.iter().cloned().collect();
            auth.configure_plain(&self.auth_domain, users);
        }
        if self.auth_curve_any {
            auth.configure_curve(&self.auth_domain, CurveClients::Any);
        } else if !self.auth_curve_key.is_empty() {
            auth.configure_curve(
                &self.auth_domain,
                CurveClients::Only(self.auth_curve_key.clone()),
            );
        }
        Ok(Some(auth))
    }
}

/// `ferromq keygen`: a new CURVE key pair, or the public key of a secret.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Print the public key of this secret key (Z85) instead of a new pair.
    #[arg(long, value_name = "Z85", allow_hyphen_values = true)]
    public_of: Option<String>,
}

/// Prints `public <Z85>` and `secret <Z85>` lines (or only the public one
/// with --public-of).
pub fn keygen(args: &KeygenArgs) -> Result<String, String> {
    match &args.public_of {
        Some(secret) => ferromq::curve_public_z85(secret)
            .map(|public| format!("public {public}"))
            .map_err(|e| format!("--public-of: not a CURVE secret key in Z85: {e}")),
        None => {
            let (public, secret) = ferromq::curve_keypair_z85();
            Ok(format!("public {public}\nsecret {secret}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_users_parse() {
        let (public, secret) = ferromq::curve_keypair_z85();
        assert_eq!(
            ferromq::z85_encode_key(&parse_key(&public).unwrap()),
            public
        );
        assert!(parse_key("short").is_err());
        assert!(parse_key(&secret[..39]).is_err());
        assert_eq!(
            parse_user("admin:s3:cret").unwrap(),
            ("admin".to_owned(), "s3:cret".to_owned())
        );
        assert!(parse_user("nopassword").is_err());
        assert!(parse_user(":pw").is_err());
    }

    #[test]
    fn keygen_pairs_match() {
        let text = keygen(&KeygenArgs { public_of: None }).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let public = lines[0].strip_prefix("public ").unwrap();
        let secret = lines[1].strip_prefix("secret ").unwrap();
        let again = keygen(&KeygenArgs {
            public_of: Some(secret.to_owned()),
        })
        .unwrap();
        assert_eq!(again, format!("public {public}"));
        assert!(keygen(&KeygenArgs {
            public_of: Some("nope".into())
        })
        .is_err());
    }

    #[test]
    fn no_auth_flag_starts_no_authenticator() {
        let ctx = Context::new();
        assert!(SecurityArgs::default()
            .start_authenticator(&ctx)
            .unwrap()
            .is_none());
        let args = SecurityArgs {
            auth_curve_any: true,
            auth_domain: "*".into(),
            ..SecurityArgs::default()
        };
        let auth = args.start_authenticator(&ctx).unwrap();
        assert!(auth.is_some());
        // One per context.
        assert!(args.start_authenticator(&ctx).is_err());
    }
}
