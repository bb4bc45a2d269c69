//! JSON-RPC 2.0 framing for the registry and the object servers: one JSON
//! object (or one batch array) per line, UTF-8, ending in `\n`.
//!
//! A request is `{"jsonrpc":"2.0","id":1,"method":"sqrt","params":[16]}`; the
//! answer is `{"jsonrpc":"2.0","id":1,"result":4.0}` or
//! `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"…","data":…}}`.
//! A request without `id` is a notification and gets no answer. The standard
//! codes are used for malformed input ([`PARSE_ERROR`], [`INVALID_REQUEST`],
//! [`METHOD_NOT_FOUND`], [`INVALID_PARAMS`], [`INTERNAL_ERROR`]) and codes in the
//! implementation-defined range -32000..-32099 for the application's own errors
//! ([`DOMAIN_ERROR`], [`ALREADY_BOUND`], [`NOT_BOUND`], [`SERVER_BUSY`],
//! [`LEASE_HELD`]).
//!
//! An answer carries its request's [`Id`] exactly as the request wrote it, so
//! that an id beyond 64 bits (or `1.50`) comes back byte for byte.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// The line was not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON was not a valid request object (or the line was too long).
pub const INVALID_REQUEST: i64 = -32600;
/// No such method on this object.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Wrong number or types of parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// The server failed on its own account.
pub const INTERNAL_ERROR: i64 = -32603;
/// The arguments are outside the method's domain (sqrt of a negative number,
/// division by zero, a result too large to represent).
pub const DOMAIN_ERROR: i64 = -32000;
/// `bind` of a name that is already bound (Java's `AlreadyBoundException`).
pub const ALREADY_BOUND: i64 = -32001;
/// `lookup` or `unbind` of a name that is not bound (`NotBoundException`).
pub const NOT_BOUND: i64 = -32002;
/// The server has too many open connections; try again later.
pub const SERVER_BUSY: i64 = -32003;
/// `rebind`, `unbind` or `renew` of a name that a running server holds with a
/// lease, by someone without the lease's token.
pub const LEASE_HELD: i64 = -32004;

/// The longest request line a server reads, in bytes (newline excluded). A
/// longer line gets an [`INVALID_REQUEST`] error and the connection closes.
pub const MAX_LINE: usize = 64 * 1024;

/// The `jsonrpc` member of every message.
pub const VERSION: &str = "2.0";

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{} ({code}): {message}", code_name(*.code))]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A short name for an error code, used in messages (`DomainError`, `AlreadyBound` …).
pub fn code_name(code: i64) -> &'static str {
    match code {
        PARSE_ERROR => "ParseError",
        INVALID_REQUEST => "InvalidRequest",
        METHOD_NOT_FOUND => "MethodNotFound",
        INVALID_PARAMS => "InvalidParams",
        INTERNAL_ERROR => "InternalError",
        DOMAIN_ERROR => "DomainError",
        ALREADY_BOUND => "AlreadyBound",
        NOT_BOUND => "NotBound",
        SERVER_BUSY => "ServerBusy",
        LEASE_HELD => "LeaseHeld",
        _ => "Error",
    }
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into(), data: None }
    }

    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    pub fn parse_error(detail: impl std::fmt::Display) -> RpcError {
        RpcError::new(PARSE_ERROR, format!("not JSON: {detail}"))
    }

    pub fn invalid_request(detail: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_REQUEST, detail)
    }

    /// Method not found; `data` lists the methods there are.
    pub fn method_not_found(method: &str, methods: &[&str]) -> RpcError {
        RpcError::new(METHOD_NOT_FOUND, format!("no method {method:?}; methods: {}", methods.join(", ")))
            .with_data(serde_json::json!({ "method": method, "methods": methods }))
    }

    pub fn invalid_params(detail: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, detail)
    }

    pub fn domain(detail: impl Into<String>) -> RpcError {
        RpcError::new(DOMAIN_ERROR, detail)
    }

    pub fn internal(detail: impl Into<String>) -> RpcError {
        RpcError::new(INTERNAL_ERROR, detail)
    }
}

/// A request's id as the request wrote it — a number of any size, a string
/// or `null` — so that the answer repeats it exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Id(Box<RawValue>);

impl Id {
    pub fn null() -> Id {
        Id::from_json("null")
    }

    pub fn number(n: u64) -> Id {
        Id::from_json(&n.to_string())
    }

    /// The id of `value` as serde_json writes it (when no raw text is at hand).
    fn of(value: &Value) -> Id {
        Id::from_json(&value.to_string())
    }

    fn from_json(text: &str) -> Id {
        Id(RawValue::from_string(text.to_string()).expect("an id is valid JSON"))
    }

    /// The id's JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Default for Id {
    fn default() -> Id {
        Id::null()
    }
}

/// A request (or, without `id`, a notification).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// `None`: a notification (no answer). `Some(Id::null())`: an explicit null id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
}

impl Request {
    pub fn new(id: u64, method: &str, params: Value) -> Request {
        Request { jsonrpc: VERSION.into(), method: method.into(), params: Some(params), id: Some(Id::number(id)) }
    }
}

/// A response: exactly one of `result` and `error` is present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub jsonrpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
    #[serde(default)]
    pub id: Id,
}

impl Response {
    pub fn new(id: Id, outcome: Result<Value, RpcError>) -> Response {
        match outcome {
            Ok(v) => Response { jsonrpc: VERSION.into(), result: Some(v), error: None, id },
            Err(e) => Response { jsonrpc: VERSION.into(), result: None, error: Some(e), id },
        }
    }

    /// The response as one line of JSON (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a response always serialises")
    }
}

/// One element of an incoming message: a valid request, or the error to answer
/// with (and the id to answer it under, `null` when none could be read).
pub type Item = Result<Request, (Id, RpcError)>;

/// What one incoming line holds.
#[derive(Debug)]
pub enum Incoming {
    /// Only whitespace: ignored, no answer.
    Blank,
    /// Not JSON, or an empty batch: answered with one error under id `null`.
    Invalid(RpcError),
    Single(Item),
    Batch(Vec<Item>),
}

/// Parses one line (without its newline) into requests, validating each
/// against JSON-RPC 2.0.
pub fn parse_incoming(line: &[u8]) -> Incoming {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Incoming::Blank;
    }
    // Raw first: each element keeps its own text, and so its id's text.
    let raw: Box<RawValue> = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return Incoming::Invalid(RpcError::parse_error(e)),
    };
    if raw.get().starts_with('[') {
        let items: Vec<Box<RawValue>> = match serde_json::from_str(raw.get()) {
            Ok(items) => items,
            Err(e) => return Incoming::Invalid(RpcError::parse_error(e)),
        };
        if items.is_empty() {
            return Incoming::Invalid(RpcError::invalid_request("empty batch"));
        }
        return Incoming::Batch(items.iter().map(|r| validate_raw(r)).collect());
    }
    Incoming::Single(validate_raw(&raw))
}

/// The `id` member of a request object, as written (`null` included).
#[derive(Deserialize)]
struct RawId {
    #[serde(default, deserialize_with = "present")]
    id: Option<Box<RawValue>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// [`validate`] of one element, with its id's own text.
fn validate_raw(raw: &RawValue) -> Item {
    let value: Value = match serde_json::from_str(raw.get()) {
        Ok(v) => v,
        // Valid JSON that serde_json cannot hold, such as 1e400.
        Err(e) => return Err((Id::null(), RpcError::parse_error(e))),
    };
    let id = match &value {
        Value::Object(_) => serde_json::from_str::<RawId>(raw.get()).ok().and_then(|r| r.id).map(Id),
        _ => None,
    };
    validate(value, id)
}

/// Checks that `value` is a JSON-RPC 2.0 request object; `raw_id` is its id's
/// text when the caller has it.
pub fn validate(value: Value, raw_id: Option<Id>) -> Item {
    let Value::Object(mut obj) = value else {
        return Err((Id::null(), RpcError::invalid_request(format!("expected a request object, found {}", kind(&value)))));
    };
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::Null | Value::Number(_) | Value::String(_))) => Some(raw_id.unwrap_or_else(|| Id::of(&id))),
        Some(other) => {
            return Err((
                Id::null(),
                RpcError::invalid_request(format!("\"id\" must be a string, a number or null, found {}", kind(&other))),
            ));
        }
    };
    let answer_id = id.clone().unwrap_or_else(Id::null);
    let bad = |msg: String| Err((answer_id.clone(), RpcError::invalid_request(msg)));
    match obj.get("jsonrpc") {
        Some(Value::String(v)) if v == VERSION => {}
        Some(other) => return bad(format!("\"jsonrpc\" must be \"2.0\", found {other}")),
        None => return bad("missing \"jsonrpc\": \"2.0\"".into()),
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(other) => return bad(format!("\"method\" must be a string, found {}", kind(&other))),
        None => return bad("missing \"method\"".into()),
    };
    let params = match obj.remove("params") {
        None => None,
        Some(p @ (Value::Array(_) | Value::Object(_))) => Some(p),
        Some(other) => return bad(format!("\"params\" must be an array or an object, found {}", kind(&other))),
    };
    Ok(Request { jsonrpc: VERSION.into(), method, params, id })
}

/// "a string", "a number" … for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parameter `index` of positional params, or `key` of named params.
pub fn param<'a>(params: Option<&'a Value>, index: usize, key: &str) -> Option<&'a Value> {
    match params? {
        Value::Array(a) => a.get(index),
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn single(line: &str) -> Item {
        match parse_incoming(line.as_bytes()) {
            Incoming::Single(item) => item,
            other => panic!("expected one item, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_parses() {
        let r = single(r#"{"jsonrpc":"2.0","id":7,"method":"sqrt","params":[16]}"#).unwrap();
        assert_eq!(r.method, "sqrt");
        assert_eq!(r.id, Some(Id::number(7)));
        assert_eq!(r.params, Some(json!([16])));
    }

    #[test]
    fn a_notification_has_no_id_and_null_is_an_id() {
        assert_eq!(single(r#"{"jsonrpc":"2.0","method":"list"}"#).unwrap().id, None);
        assert_eq!(single(r#"{"jsonrpc":"2.0","method":"list","id":null}"#).unwrap().id, Some(Id::null()));
    }

    #[test]
    fn malformed_input_gets_the_standard_codes() {
        assert!(matches!(parse_incoming(b"{oops"), Incoming::Invalid(e) if e.code == PARSE_ERROR));
        assert!(matches!(parse_incoming(b"[]"), Incoming::Invalid(e) if e.code == INVALID_REQUEST));
        assert!(matches!(parse_incoming(b"  \r"), Incoming::Blank));
        let (id, e) = single(r#"{"jsonrpc":"1.0","method":"x","id":"a"}"#).unwrap_err();
        assert_eq!((id.as_json(), e.code), ("\"a\"", INVALID_REQUEST));
        let (id, e) = single(r#"{"jsonrpc":"2.0","method":"x","params":3,"id":2}"#).unwrap_err();
        assert_eq!((id, e.code), (Id::number(2), INVALID_REQUEST));
        let (id, e) = single(r#"{"jsonrpc":"2.0","method":"x","id":{}}"#).unwrap_err();
        assert_eq!((id, e.code), (Id::null(), INVALID_REQUEST));
        assert!(single("42").is_err());
        match parse_incoming(br#"[1, {"jsonrpc":"2.0","method":"m","id":1}]"#) {
            Incoming::Batch(items) => assert!(items[0].is_err() && items[1].is_ok()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_serialise_with_one_of_result_and_error() {
        assert_eq!(Response::new(Id::number(1), Ok(json!(4.0))).to_line(), r#"{"jsonrpc":"2.0","result":4.0,"id":1}"#);
        let e = Response::new(Id::null(), Err(RpcError::new(PARSE_ERROR, "x"))).to_line();
        assert_eq!(e, r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"x"},"id":null}"#);
    }

    /// Ids are answered as written: beyond 64 bits, negative, fractional,
    /// with an exponent, in strings — in single requests and in batches.
    #[test]
    fn ids_keep_their_exact_text() {
        for id in ["123456789012345678901234567890", "18446744073709551616", "-9223372036854775809", "1.50", "1e3", "\"x\\u0041\"", "null"]
        {
            let line = format!(r#"{{"jsonrpc":"2.0","method":"m","id":{id}}}"#);
            let r = single(&line).unwrap();
            assert_eq!(r.id.as_ref().map(Id::as_json), Some(id));
            assert!(Response::new(r.id.unwrap(), Ok(json!(1))).to_line().ends_with(&format!(r#""id":{id}}}"#)));
            match parse_incoming(format!("[{line}, {line}]").as_bytes()) {
                Incoming::Batch(items) => assert!(items.iter().all(|i| i.as_ref().unwrap().id.as_ref().unwrap().as_json() == id)),
                other => panic!("{other:?}"),
            }
        }
        let (id, e) = single(r#"{"jsonrpc":"2.0","id":123456789012345678901234567890}"#).unwrap_err();
        assert_eq!((id.as_json(), e.code), ("123456789012345678901234567890", INVALID_REQUEST));
    }
}
