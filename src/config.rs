//! Configuration shared by the subcommands: where the data lives and how the gateway behaves.

use std::path::{Path, PathBuf};

use clap::Args;

/// Where the state lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Data folder: the SQLite database, exported platform keys and the demo tenant's files.
    #[arg(long, env = "TICKETGATE_DATA", default_value = "./data", global = true)]
    pub data: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB`. Default: the SQLite
    /// file `ticketgate.db` in the data folder.
    #[arg(
        long,
        env = "TICKETGATE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

impl StoreArgs {
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data.join("ticketgate.db").display()),
        }
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url())
    }
}

/// Hides the password part of `scheme://user:password@host`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// Parses `90s`, `30m`, `12h`, `1d` (or a bare number of seconds) into milliseconds;
/// `off` means no limit.
pub fn parse_duration_ms(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, "s"),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (try 30s, 10m, 1h, 1d or off)"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("unknown unit in {text:?} (use ms, s, m, h or d)")),
    };
    n.checked_mul(unit_ms)
        .map(Some)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Writes `text` to `path`, readable by the owner only when `private`.
pub fn write_file(path: &Path, text: &str, private: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(if private {
            0o600
        } else {
            0o644
        }))?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1d"), Ok(Some(86_400_000)));
        assert_eq!(parse_duration_ms("90"), Ok(Some(90_000)));
        assert_eq!(parse_duration_ms("250ms"), Ok(Some(250)));
        assert_eq!(parse_duration_ms("off"), Ok(None));
        assert!(parse_duration_ms("1y").is_err());
        assert!(parse_duration_ms("m").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }
}
