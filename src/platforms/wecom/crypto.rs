//! WeCom's callback crypto (the "WXBizMsgCrypt" scheme): the SHA-1
//! `msg_signature` and AES-256-CBC with the connection's EncodingAESKey.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;

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
}
