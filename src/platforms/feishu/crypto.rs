//! Feishu/Lark callback crypto: the `X-Lark-Signature` and the AES-256-CBC
//! `encrypt` envelope keyed by SHA-256 of the connection's encrypt key.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;

/// Feishu/Lark `X-Lark-Signature`: SHA-256 hex of timestamp + nonce + encrypt key + body.
pub fn feishu_signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(encrypt_key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Decrypts a Feishu `encrypt` value: AES-256-CBC with key SHA-256(encrypt key),
/// the IV in the first 16 bytes, PKCS#7.
pub fn feishu_decrypt(encrypt_key: &str, encrypt: &str) -> Result<Vec<u8>, String> {
    let key = Sha256::digest(encrypt_key.as_bytes());
    let data = STANDARD.decode(encrypt.trim()).map_err(|_| "encrypt is not base64".to_owned())?;
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err("encrypt has a bad length".into());
    }
    let (iv, body) = data.split_at(16);
    let mut buf = body.to_vec();
    let plain = Aes256CbcDec::new(key.as_slice().into(), iv.into())
        .decrypt_padded_mut::<aes::cipher::block_padding::Pkcs7>(&mut buf)
        .map_err(|_| "cannot decrypt".to_owned())?;
    Ok(plain.to_vec())
}

/// Encrypts like Feishu does (tests stand in for Feishu with it).
pub fn feishu_encrypt(encrypt_key: &str, plain: &[u8], iv: [u8; 16]) -> String {
    let key = Sha256::digest(encrypt_key.as_bytes());
    let mut buf = plain.to_vec();
    let len = buf.len();
    buf.resize(len + 16, 0);
    let ct = Aes256CbcEnc::new(key.as_slice().into(), (&iv).into())
        .encrypt_padded_mut::<aes::cipher::block_padding::Pkcs7>(&mut buf, len)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let mut out = iv.to_vec();
    out.extend(ct);
    STANDARD.encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feishu_encryption_round_trips() {
        let enc = feishu_encrypt("test key", br#"{"challenge":"x"}"#, [3; 16]);
        assert_eq!(feishu_decrypt("test key", &enc).unwrap(), br#"{"challenge":"x"}"#);
        assert!(
            feishu_decrypt("other key", &enc).is_err()
                || feishu_decrypt("other key", &enc).unwrap() != br#"{"challenge":"x"}"#
        );
    }
}
