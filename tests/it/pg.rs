//! PostgreSQL for tests: a fresh database per test on the server `scripts/test` started, and
//! private throwaway clusters for tests that stop their database.

use std::path::PathBuf;
use std::process::Command;

use sqlx::Connection;

/// The base URL of the shared test server, when the suite runs on PostgreSQL.
pub fn base_url() -> Option<String> {
    std::env::var("TICKETGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The base URL, or a failure that says how to get one.
pub fn require_base_url() -> String {
    base_url().expect(
        "this test needs PostgreSQL: run ./scripts/test (it sets TICKETGATE_TEST_DATABASE_URL)",
    )
}

/// Creates an empty database on the server at `base` and returns its URL.
pub async fn fresh_database(base: &str) -> String {
    let name = format!("tg_{}", ticketgate::ids::hex(16));
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE");
    let _ = conn.close().await;
    let (server, _) = base.rsplit_once('/').expect("a URL with a database path");
    format!("{server}/{name}")
}

/// A private PostgreSQL cluster on a free loopback port, stopped when dropped.
pub struct Cluster {
    pgbin: PathBuf,
    data: tempfile::TempDir,
    pub port: u16,
}

fn as_postgres(program: PathBuf) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd
}

impl Cluster {
    pub fn start() -> Cluster {
        let pgbin = PathBuf::from(
            std::env::var("PGBIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into()),
        );
        let data = tempfile::Builder::new()
            .prefix("ticketgate-pg")
            .tempdir()
            .unwrap();
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(data.path())
            .status()
            .unwrap();
        assert!(status.success(), "chown the cluster folder to postgres");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let status = as_postgres(pgbin.join("initdb"))
            .args(["-D"])
            .arg(data.path())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        let cluster = Cluster { pgbin, data, port };
        cluster.start_server();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start_server(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.data.path().display()
        );
        let status = as_postgres(self.pgbin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data.path())
            .arg("-l")
            .arg(self.data.path().join("log"))
            .args(["-w", "start", "-o", &options])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start");
    }

    pub fn stop_server(&self) {
        let status = as_postgres(self.pgbin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data.path())
            .args(["-m", "fast", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl stop");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(self.pgbin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data.path())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
