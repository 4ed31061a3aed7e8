//! `ticketgate admin app …`: an app's registration, keys, certificate, methods and delivery.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Apps, of one merchant or all.
    List {
        #[arg(long)]
        merchant: Option<String>,
    },
    Add {
        #[arg(long)]
        app_id: String,
        /// The owning merchant's PID.
        #[arg(long)]
        merchant: String,
        /// The app's RSA public key: PEM or bare base64, SPKI or PKCS#1.
        #[arg(long)]
        public_key: PathBuf,
        #[arg(long, default_value = "RSA2", value_parser = ["RSA2", "RSA"])]
        sign_type: String,
        #[arg(long, default_value = "utf-8", value_parser = ["utf-8", "gbk", "gb2312"])]
        charset: String,
        /// Where notifications go when a call names no notify_url.
        #[arg(long)]
        notify_url: Option<String>,
        /// Also give it an AES content-encryption key (`encrypt_type=AES`); printed in base64.
        #[arg(long)]
        aes_key: bool,
        /// Certificate mode (公钥证书): issue it a certificate and write the three files an SDK
        /// is configured with to DATA/certs/APP_ID/ (see `app cert`).
        #[arg(long)]
        cert: bool,
        /// Limit it to these methods (comma-separated: the products it has signed); a call
        /// of any other is answered `40006 isv.insufficient-isv-permissions`. Default: all.
        #[arg(long, value_delimiter = ',')]
        methods: Option<Vec<String>>,
    },
    /// Certificate mode: issue the app a certificate for its public key from the sandbox CA,
    /// and write appCertPublicKey_APP_ID.crt, alipayCertPublicKey_RSA2.crt and
    /// alipayRootCert.crt. Its calls must then carry app_cert_sn and alipay_root_cert_sn, and
    /// every answer carries alipay_cert_sn.
    Cert {
        #[arg(long)]
        app_id: String,
        /// Where the files go (default: DATA/certs/APP_ID).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Back to public-key mode.
        #[arg(long)]
        remove: bool,
    },
    /// Show an app: its merchant, sign type, charset, notify address, its public key for each
    /// sign type it has one for, and its AES key.
    Show {
        #[arg(long)]
        app_id: String,
    },
    /// The app's public key.
    #[command(subcommand)]
    Key(AppKeyCommand),
    /// The methods the app may call (the products it has signed).
    #[command(subcommand)]
    Methods(AppMethodsCommand),
    /// Sandbox: deliver every notification of the app twice (the same notify_id, each
    /// recorded as an attempt), to test that its handler acknowledges a repeat and applies it
    /// once, as the platform's at-least-once delivery requires.
    NotifyTwice {
        #[arg(long)]
        app_id: String,
        /// Back to delivering once.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppMethodsCommand {
    /// Limit the app to these methods, or `all` for every method; a call of any other is
    /// answered `40006 Insufficient Permissions` (`isv.insufficient-isv-permissions`), as
    /// production answers an app that has not signed the product, and changes nothing.
    Set {
        #[arg(long)]
        app_id: String,
        /// Comma-separated method names, or `all`.
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppKeyCommand {
    /// Set the app's public key for a sign type (calls signed with the old key stop verifying
    /// at once). An app has a key per sign type: a call in a type it has no key for is
    /// answered `40002 isv.missing-signature-config`.
    Set {
        #[arg(long)]
        app_id: String,
        /// The new RSA public key: PEM or bare base64, SPKI or PKCS#1.
        #[arg(long)]
        public_key: PathBuf,
        /// Which sign type it verifies (default: the app's own).
        #[arg(long, value_parser = ["RSA2", "RSA"])]
        sign_type: Option<String>,
    },
    /// Remove the app's key for the sign type other than its own.
    Remove {
        #[arg(long)]
        app_id: String,
        #[arg(long, value_parser = ["RSA2", "RSA"])]
        sign_type: String,
    },
    /// Give the app a new AES content-encryption key (printed in base64), or remove it.
    Aes {
        #[arg(long)]
        app_id: String,
        #[arg(long)]
        remove: bool,
    },
}
