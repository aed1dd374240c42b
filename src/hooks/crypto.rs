//! Signature and encryption primitives of the platforms' callback protocols.
//! Comparisons of secrets are constant-time.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `msg` under `key`, lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// WeCom `msg_signature`: SHA-1 of the sorted, concatenated token, timestamp, nonce and Encrypt.
pub fn wecom_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    let mut parts = [token, timestamp, nonce, encrypt];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

/// WeCom's 43-character keys end with non-zero trailing bits, which a strict decoder refuses.
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

fn wecom_key(encoding_aes_key: &str) -> Result<[u8; 32], String> {
    let bytes =
        LENIENT.decode(format!("{encoding_aes_key}=")).map_err(|_| "EncodingAESKey is not base64".to_owned())?;
    bytes.try_into().map_err(|_| "EncodingAESKey must decode to 32 bytes".to_owned())
}

/// Decrypts a WeCom `Encrypt` value: returns (message, receive id).
/// Plaintext layout: 16 random bytes, 4-byte big-endian length, message, receive id;
/// PKCS#7-padded to a multiple of 32 bytes.
pub fn wecom_decrypt(encoding_aes_key: &str, encrypt: &str) -> Result<(Vec<u8>, String), String> {
    let key = wecom_key(encoding_aes_key)?;
    let mut data = STANDARD.decode(encrypt.trim()).map_err(|_| "Encrypt is not base64".to_owned())?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err("Encrypt has a bad length".into());
    }
    let plain = Aes256CbcDec::new((&key).into(), key[..16].into())
        .decrypt_padded_mut::<NoPadding>(&mut data)
        .map_err(|_| "cannot decrypt".to_owned())?;
    let pad = *plain.last().ok_or("empty plaintext")? as usize;
    if pad == 0 || pad > 32 || pad > plain.len() {
        return Err("bad padding".into());
    }
    let plain = &plain[..plain.len() - pad];
    if plain.len() < 20 {
        return Err("plaintext too short".into());
    }
    let len = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
    let rest = &plain[20..];
    if len > rest.len() {
        return Err("bad message length".into());
    }
    let receive_id = String::from_utf8(rest[len..].to_vec()).map_err(|_| "receive id is not UTF-8".to_owned())?;
    Ok((rest[..len].to_vec(), receive_id))
}

/// Encrypts a message the WeCom way (used for replies and by tests standing in for WeCom).
pub fn wecom_encrypt(
    encoding_aes_key: &str,
    msg: &[u8],
    receive_id: &str,
    random16: [u8; 16],
) -> Result<String, String> {
    let key = wecom_key(encoding_aes_key)?;
    let mut plain = random16.to_vec();
    plain.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    plain.extend_from_slice(msg);
    plain.extend_from_slice(receive_id.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let len = plain.len();
    let out = Aes256CbcEnc::new((&key).into(), key[..16].into())
        .encrypt_padded_mut::<NoPadding>(&mut plain, len)
        .map_err(|_| "cannot encrypt".to_owned())?;
    Ok(STANDARD.encode(out))
}

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

    // The official WeCom callback SDK sample (WXBizMsgCrypt3 Sample.py).
    const TOKEN: &str = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo";
    const AES_KEY: &str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt";
    const CORP_ID: &str = "ww1436e0e65a779aee";

    #[test]
    fn the_official_wecom_url_verification_sample_passes() {
        let echo = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==";
        assert_eq!(wecom_signature(TOKEN, "1476416373", "47744683", echo), "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb");
        let (msg, receive_id) = wecom_decrypt(AES_KEY, echo).unwrap();
        assert_eq!(receive_id, CORP_ID);
        assert!(!msg.is_empty() && std::str::from_utf8(&msg).is_ok());
    }

    #[test]
    fn the_official_wecom_message_sample_passes() {
        let encrypt = "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+";
        assert_eq!(
            wecom_signature(TOKEN, "1476422779", "1597212914", encrypt),
            "0c3914025cb4b4d68103f6bfc8db550f79dcf48e"
        );
        let (msg, receive_id) = wecom_decrypt(AES_KEY, encrypt).unwrap();
        assert_eq!(receive_id, CORP_ID);
        let xml = String::from_utf8(msg).unwrap();
        assert_eq!(
            xml,
            "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>\
             <CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>\
             <MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
        );
    }

    #[test]
    fn wecom_encryption_round_trips_and_tampering_fails() {
        let enc = wecom_encrypt(AES_KEY, "<xml>你好</xml>".as_bytes(), CORP_ID, [7; 16]).unwrap();
        assert_eq!(wecom_decrypt(AES_KEY, &enc).unwrap(), ("<xml>你好</xml>".as_bytes().to_vec(), CORP_ID.to_owned()));
        let mut bytes = STANDARD.decode(&enc).unwrap();
        bytes[40] ^= 1;
        let tampered = wecom_decrypt(AES_KEY, &STANDARD.encode(bytes));
        assert!(tampered.map(|(_, id)| id != CORP_ID).unwrap_or(true));
        assert!(wecom_decrypt(AES_KEY, "not base64!").is_err());
    }

    #[test]
    fn slacks_published_signing_example_passes() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = hmac_sha256_hex(b"8f742231b10e8888abcd99yyyzzz85a5", format!("v0:1531420618:{body}").as_bytes());
        assert_eq!(format!("v0={sig}"), "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
    }

    #[test]
    fn feishu_encryption_round_trips() {
        let enc = feishu_encrypt("test key", br#"{"challenge":"x"}"#, [3; 16]);
        assert_eq!(feishu_decrypt("test key", &enc).unwrap(), br#"{"challenge":"x"}"#);
        assert!(
            feishu_decrypt("other key", &enc).is_err()
                || feishu_decrypt("other key", &enc).unwrap() != br#"{"challenge":"x"}"#
        );
    }

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
