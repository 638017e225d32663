//! The Jupyter wire format (messaging protocol 5.3): framing and HMAC-SHA256.
//!
//! A message travels as ZeroMQ frames
//!
//! ```text
//! [identities…, b"<IDS|MSG>", signature, header, parent_header, metadata, content, buffers…]
//! ```
//!
//! where `signature` is the lowercase hex HMAC-SHA256, under the connection
//! file's `key`, of the four JSON frames header…content concatenated. An
//! empty key turns signing off (the protocol's rule). [`Wire::decode`]
//! verifies the signature in constant time *before* parsing any JSON and
//! refuses a signature it has already seen (a replay), so a forged or
//! replayed message never reaches a handler.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};

/// The protocol version hlab speaks.
pub const PROTOCOL_VERSION: &str = "5.3";

const DELIMITER: &[u8] = b"<IDS|MSG>";
/// How many signatures are remembered to refuse replays.
const DIGEST_HISTORY: usize = 1 << 16;

type HmacSha256 = Hmac<Sha256>;

/// One Jupyter message.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The routing prefix (ROUTER peer identity, IOPub topic).
    pub identities: Vec<Bytes>,
    /// `msg_id`, `session`, `username`, `date`, `msg_type`, `version`.
    pub header: Value,
    /// The header of the request this message answers (or `{}`).
    pub parent_header: Value,
    /// Free-form metadata.
    pub metadata: Value,
    /// The message body.
    pub content: Value,
    /// Extra binary frames.
    pub buffers: Vec<Bytes>,
}

impl Message {
    /// `header.msg_type`, or `""`.
    pub fn msg_type(&self) -> &str {
        self.header
            .get("msg_type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// A string field of the content, or `default`.
    pub fn str_field<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.content
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
    }

    /// A boolean field of the content, or `default`.
    pub fn bool_field(&self, key: &str, default: bool) -> bool {
        self.content
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }
}

/// Why an incoming message was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejected {
    /// No `<IDS|MSG>` frame, or fewer than the 5 frames after it.
    Malformed(String),
    /// The signature does not match the key (forged, or a wrong key).
    BadSignature,
    /// The same signature was seen before.
    Replayed,
    /// Signed correctly, but a frame is not a JSON object.
    BadJson(String),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Malformed(m) => write!(f, "malformed message: {m}"),
            Rejected::BadSignature => f.write_str("invalid HMAC signature"),
            Rejected::Replayed => f.write_str("replayed signature (already seen)"),
            Rejected::BadJson(m) => write!(f, "signed but not valid JSON: {m}"),
        }
    }
}

/// Signs outgoing and verifies incoming messages for one connection.
pub struct Wire {
    key: Vec<u8>,
    seen: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

impl Wire {
    /// A wire with this HMAC key (`b""`: unsigned, as the protocol allows).
    pub fn new(key: &[u8]) -> Wire {
        Wire {
            key: key.to_vec(),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        for p in parts {
            mac.update(p);
        }
        Some(mac)
    }

    /// The hex signature of the four JSON frames (`""` without a key).
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        if self.key.is_empty() {
            return String::new();
        }
        match self.mac(parts) {
            Some(mac) => hex::encode(mac.finalize().into_bytes()),
            None => String::new(),
        }
    }

    /// The signature's digest when it is the lowercase hex HMAC of `parts`
    /// (as the protocol writes it and ipykernel checks it; `None` when it
    /// is not, or when signing is off). Replays are recognised by this
    /// canonical digest, so the same tag spelt in capitals is a replay too
    /// — and is refused here anyway.
    fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
        let lower_hex = signature.len() == 64
            && signature
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if !lower_hex {
            return None;
        }
        let tag = hex::decode(signature).ok()?;
        let mac = self.mac(parts)?;
        mac.verify_slice(&tag).is_ok().then_some(tag)
    }

    fn remember(&mut self, signature: &[u8]) -> bool {
        if self.key.is_empty() {
            return true;
        }
        if self.seen.contains(signature) {
            return false;
        }
        if self.order.len() >= DIGEST_HISTORY {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(signature.to_vec());
        self.order.push_back(signature.to_vec());
        true
    }

    /// Parses and verifies incoming frames.
    pub fn decode(&mut self, frames: Vec<Bytes>) -> Result<Message, Rejected> {
        let Some(split) = frames.iter().position(|f| f.as_ref() == DELIMITER) else {
            return Err(Rejected::Malformed("no <IDS|MSG> delimiter".into()));
        };
        if frames.len() < split + 6 {
            return Err(Rejected::Malformed(format!(
                "expected at least 5 frames after the delimiter, got {}",
                frames.len() - split - 1
            )));
        }
        let identities = frames[..split].to_vec();
        let signature = &frames[split + 1];
        let parts: Vec<&[u8]> = frames[split + 2..split + 6]
            .iter()
            .map(|b| b.as_ref())
            .collect();
        if !self.key.is_empty() {
            let Some(digest) = self.verify(signature, &parts) else {
                return Err(Rejected::BadSignature);
            };
            if !self.remember(&digest) {
                return Err(Rejected::Replayed);
            }
        }
        let parse = |i: usize, name: &str| -> Result<Value, Rejected> {
            let v: Value = serde_json::from_slice(parts[i])
                .map_err(|e| Rejected::BadJson(format!("{name}: {e}")))?;
            if v.is_object() {
                Ok(v)
            } else {
                Err(Rejected::BadJson(format!("{name}: not an object")))
            }
        };
        Ok(Message {
            identities,
            header: parse(0, "header")?,
            parent_header: parse(1, "parent_header")?,
            metadata: parse(2, "metadata")?,
            content: parse(3, "content")?,
            buffers: frames[split + 6..].to_vec(),
        })
    }

    /// Serialises and signs a message into frames.
    pub fn encode(&self, msg: &Message) -> Vec<Bytes> {
        let json =
            |v: &Value| Bytes::from(serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()));
        let header = json(&msg.header);
        let parent = json(&msg.parent_header);
        let metadata = json(&msg.metadata);
        let content = json(&msg.content);
        let signature = self.sign(&[&header, &parent, &metadata, &content]);
        let mut frames = msg.identities.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature));
        frames.extend([header, parent, metadata, content]);
        frames.extend(msg.buffers.iter().cloned());
        frames
    }
}

/// A fresh header for a message this kernel sends.
pub fn header(msg_type: &str, session: &str) -> Value {
    json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "session": session,
        "username": "hlab",
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(wire: &Wire, code: &str) -> Vec<Bytes> {
        let msg = Message {
            identities: vec![Bytes::from_static(b"peer")],
            header: header("execute_request", "s1"),
            parent_header: json!({}),
            metadata: json!({}),
            content: json!({ "code": code }),
            buffers: vec![],
        };
        wire.encode(&msg)
    }

    #[test]
    fn round_trip_verifies() {
        let mut wire = Wire::new(b"secret");
        let frames = request(&wire, "1 + 1");
        let msg = wire.decode(frames).unwrap();
        assert_eq!(msg.msg_type(), "execute_request");
        assert_eq!(msg.str_field("code", ""), "1 + 1");
        assert_eq!(msg.identities, vec![Bytes::from_static(b"peer")]);
    }

    #[test]
    fn known_signature() {
        // Python: hmac.new(b"key", b'{}{}{}{"a":1}', hashlib.sha256).hexdigest()
        let wire = Wire::new(b"key");
        assert_eq!(
            wire.sign(&[b"{}", b"{}", b"{}", br#"{"a":1}"#]),
            "5c59a161f31dbc453751f94cd7e9bdd78e1ed3419c132f75b8e0f3b0d1313693"
        );
    }

    #[test]
    fn wrong_key_and_replay_are_refused() {
        let forger = Wire::new(b"wrong");
        let mut wire = Wire::new(b"secret");
        assert_eq!(
            wire.decode(request(&forger, "x")).unwrap_err(),
            Rejected::BadSignature
        );
        let good = request(&wire, "x");
        assert!(wire.decode(good.clone()).is_ok());
        assert_eq!(wire.decode(good).unwrap_err(), Rejected::Replayed);
        let mut frames = request(&wire, "y");
        frames[2] = Bytes::from_static(b"not hex");
        assert_eq!(wire.decode(frames).unwrap_err(), Rejected::BadSignature);
        assert!(matches!(
            wire.decode(vec![Bytes::from_static(b"x")]),
            Err(Rejected::Malformed(_))
        ));
    }

    #[test]
    fn a_replay_in_capitals_is_refused() {
        let mut wire = Wire::new(b"secret");
        let good = request(&wire, "x");
        let mut upper = good.clone();
        upper[2] = Bytes::from(upper[2].to_ascii_uppercase());
        assert!(wire.decode(good).is_ok());
        assert!(wire.decode(upper).is_err());
        // Capitals are not the protocol's spelling even the first time.
        let mut fresh = request(&wire, "z");
        fresh[2] = Bytes::from(fresh[2].to_ascii_uppercase());
        assert_eq!(wire.decode(fresh).unwrap_err(), Rejected::BadSignature);
    }

    #[test]
    fn tampered_content_is_refused() {
        let mut wire = Wire::new(b"secret");
        let mut frames = request(&wire, "1");
        let n = frames.len();
        frames[n - 1] = Bytes::from_static(b"{\"code\": \"2\"}");
        assert_eq!(wire.decode(frames).unwrap_err(), Rejected::BadSignature);
    }

    #[test]
    fn empty_key_means_unsigned() {
        let mut wire = Wire::new(b"");
        let frames = request(&wire, "1");
        assert_eq!(frames[2].as_ref(), b"");
        assert!(wire.decode(frames).is_ok());
    }
}
