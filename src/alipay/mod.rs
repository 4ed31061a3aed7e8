//! The Alipay Open Platform wire protocol: form parsing, charsets, sign content, RSA keys,
//! the signed response envelope, the gateway code table and the signature doctor. Pure: no IO,
//! no clock.

pub mod aes;
pub mod certs;
pub mod charset;
pub mod codes;
pub mod doctor;
pub mod envelope;
pub mod form;
pub mod keys;
pub mod money;
pub mod sign;
pub mod time;

pub use charset::Charset;
pub use form::Params;
pub use keys::{PrivateKey, PublicKey};
pub use sign::SignType;
