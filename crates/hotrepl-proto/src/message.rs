//! The message model: Jupyter's (header, parent_header, metadata, content), with one typed
//! content struct per `msg_type`. Both transports (our framed byte stream, and later ZeroMQ)
//! carry exactly these values, so the kernel never knows which one it serves.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The Jupyter messaging-spec version we stamp on headers.
pub const JUPYTER_PROTOCOL_VERSION: &str = "5.3";

pub type MimeBundle = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub msg_id: String,
    pub session: String,
    pub username: String,
    pub date: String,
    pub msg_type: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub header: Header,
    /// `None` is written as `{}`, as Jupyter does for messages that answer nothing.
    pub parent_header: Option<Header>,
    pub metadata: Map<String, Value>,
    pub content: Content,
}

/// Stamps headers for one side of a connection: a session id, a user name and a counter,
/// so message ids are unique without a random number per message.
#[derive(Debug)]
pub struct HeaderSource {
    session: String,
    username: String,
    counter: AtomicU64,
}

impl HeaderSource {
    /// Headers for this side of a new connection: a fresh session id, and the user's name.
    pub fn for_this_user() -> Self {
        let username = std::env::var("USER").unwrap_or_else(|_| {
            // SAFETY: getuid has no preconditions.
            format!("uid{}", unsafe { libc::getuid() })
        });
        HeaderSource::new(crate::auth::random_id(), username)
    }

    pub fn new(session: impl Into<String>, username: impl Into<String>) -> Self {
        HeaderSource {
            session: session.into(),
            username: username.into(),
            counter: AtomicU64::new(0),
        }
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    pub fn header(&self, msg_type: &str) -> Header {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        Header {
            msg_id: format!("{}_{}", self.session, n),
            session: self.session.clone(),
            username: self.username.clone(),
            date: crate::time::now_iso8601(),
            msg_type: msg_type.to_owned(),
            version: JUPYTER_PROTOCOL_VERSION.to_owned(),
        }
    }

    /// A new message whose header names `content`'s type, answering `parent` if given.
    pub fn message(&self, content: Content, parent: Option<&Header>) -> Message {
        Message {
            header: self.header(content.msg_type()),
            parent_header: parent.cloned(),
            metadata: Map::new(),
            content,
        }
    }
}

#[derive(Debug)]
pub enum DecodeError {
    /// The bytes are not a JSON message envelope.
    Envelope(serde_json::Error),
    /// The envelope is fine but the content does not match its `msg_type`.
    Content { msg_type: String, error: serde_json::Error },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Envelope(e) => write!(f, "malformed message: {e}"),
            DecodeError::Content { msg_type, error } => {
                write!(f, "malformed {msg_type} content: {error}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl Message {
    pub fn msg_type(&self) -> &str {
        self.content.msg_type()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    /// Appends this message to `out` as one frame.
    pub fn push_frame(&self, out: &mut Vec<u8>) {
        crate::frame::push_frame_with(out, |out| self.write_json(out));
    }

    /// This message as one frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.push_frame(&mut out);
        out
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        write_envelope(
            out,
            &self.header,
            self.parent_header.as_ref(),
            &self.metadata,
            &self.content,
        );
    }

    pub fn from_json(bytes: &[u8]) -> Result<Message, DecodeError> {
        #[derive(Deserialize)]
        struct In<'a> {
            header: Header,
            #[serde(borrow, default)]
            parent_header: Option<&'a RawValue>,
            #[serde(default)]
            metadata: Map<String, Value>,
            #[serde(borrow)]
            content: &'a RawValue,
        }
        let raw: In = serde_json::from_slice(bytes).map_err(DecodeError::Envelope)?;
        let parent_header = match raw.parent_header {
            None => None,
            Some(p) => parent_from_json(p.get().as_bytes())?,
        };
        Message::assemble(raw.header, parent_header, raw.metadata, raw.content.get())
    }

    /// A message from its four JSON parts, as Jupyter's ZeroMQ transport carries them.
    pub fn from_parts(header: &[u8], parent: &[u8], metadata: &[u8], content: &[u8]) -> Result<Message, DecodeError> {
        let header: Header = serde_json::from_slice(header).map_err(DecodeError::Envelope)?;
        let parent_header = parent_from_json(parent)?;
        let metadata = serde_json::from_slice(metadata).map_err(DecodeError::Envelope)?;
        let content = std::str::from_utf8(content).map_err(|e| DecodeError::Envelope(serde::de::Error::custom(e)))?;
        Message::assemble(header, parent_header, metadata, content)
    }

    fn assemble(
        header: Header,
        parent_header: Option<Header>,
        metadata: Map<String, Value>,
        content: &str,
    ) -> Result<Message, DecodeError> {
        let content = Content::decode(&header.msg_type, content).map_err(|error| DecodeError::Content {
            msg_type: header.msg_type.clone(),
            error,
        })?;
        Ok(Message {
            header,
            parent_header,
            metadata,
            content,
        })
    }

    /// The four JSON parts Jupyter's ZeroMQ transport carries (header, parent header,
    /// metadata, content), in that order.
    pub fn to_parts(&self) -> [Vec<u8>; 4] {
        parts_of(&self.header, self.parent_header.as_ref(), &self.metadata, &self.content)
    }
}

/// A parent header: `{}` (or null) when there is none.
fn parent_from_json(json: &[u8]) -> Result<Option<Header>, DecodeError> {
    let value: Value = serde_json::from_slice(json).map_err(DecodeError::Envelope)?;
    match value {
        Value::Object(ref m) if m.is_empty() => Ok(None),
        Value::Null => Ok(None),
        v => Ok(Some(serde_json::from_value(v).map_err(DecodeError::Envelope)?)),
    }
}

fn parts_of<C: Serialize>(
    header: &Header,
    parent: Option<&Header>,
    metadata: &Map<String, Value>,
    content: &C,
) -> [Vec<u8>; 4] {
    // Serializing plain structs and JSON values into a Vec cannot fail.
    [
        serde_json::to_vec(header).expect("message serialization"),
        serde_json::to_vec(&ParentOut(parent)).expect("message serialization"),
        serde_json::to_vec(metadata).expect("message serialization"),
        serde_json::to_vec(content).expect("message serialization"),
    ]
}

/// A parent header as written: `{}` when there is none, as Jupyter does.
struct ParentOut<'a>(Option<&'a Header>);

impl Serialize for ParentOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(h) => h.serialize(s),
            None => Map::new().serialize(s),
        }
    }
}

/// Declares the content enum once: variant, wire `msg_type`, payload type.
macro_rules! contents {
    ($($variant:ident = $name:literal => $ty:ty,)*) => {
        #[derive(Debug, Clone, PartialEq)]
        pub enum Content {
            $($variant($ty),)*
            /// A message type this build does not know; kept whole so it can be reported.
            Unknown { msg_type: String, content: Value },
        }

        impl Content {
            pub fn msg_type(&self) -> &str {
                match self {
                    $(Content::$variant(_) => $name,)*
                    Content::Unknown { msg_type, .. } => msg_type,
                }
            }

            fn decode(msg_type: &str, json: &str) -> Result<Content, serde_json::Error> {
                Ok(match msg_type {
                    $($name => Content::$variant(serde_json::from_str(json)?),)*
                    other => Content::Unknown {
                        msg_type: other.to_owned(),
                        content: serde_json::from_str(json)?,
                    },
                })
            }

            /// Every known msg_type, for tests and for `kernel_info`.
            pub const KNOWN_TYPES: &'static [&'static str] = &[$($name,)*];
        }

        impl Serialize for Content {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(Content::$variant(c) => c.serialize(s),)*
                    Content::Unknown { content, .. } => content.serialize(s),
                }
            }
        }

        $(impl From<$ty> for Content {
            fn from(c: $ty) -> Content { Content::$variant(c) }
        })*
    };
}

contents! {
    ExecuteRequest = "execute_request" => ExecuteRequest,
    ExecuteReply = "execute_reply" => ExecuteReply,
    ExecuteInput = "execute_input" => ExecuteInput,
    ExecuteResult = "execute_result" => ExecuteResult,
    DisplayData = "display_data" => DisplayData,
    UpdateDisplayData = "update_display_data" => UpdateDisplayData,
    Stream = "stream" => Stream,
    Error = "error" => ErrorContent,
    Status = "status" => Status,
    ClearOutput = "clear_output" => ClearOutput,
    InputRequest = "input_request" => InputRequest,
    InputReply = "input_reply" => InputReply,
    CompleteRequest = "complete_request" => CompleteRequest,
    CompleteReply = "complete_reply" => CompleteReply,
    InspectRequest = "inspect_request" => InspectRequest,
    InspectReply = "inspect_reply" => InspectReply,
    IsCompleteRequest = "is_complete_request" => IsCompleteRequest,
    IsCompleteReply = "is_complete_reply" => IsCompleteReply,
    HistoryRequest = "history_request" => HistoryRequest,
    HistoryReply = "history_reply" => HistoryReply,
    KernelInfoRequest = "kernel_info_request" => KernelInfoRequest,
    KernelInfoReply = "kernel_info_reply" => KernelInfoReply,
    InterruptRequest = "interrupt_request" => InterruptRequest,
    InterruptReply = "interrupt_reply" => InterruptReply,
    ShutdownRequest = "shutdown_request" => ShutdownRequest,
    ShutdownReply = "shutdown_reply" => ShutdownReply,
    CommInfoRequest = "comm_info_request" => CommInfoRequest,
    CommInfoReply = "comm_info_reply" => CommInfoReply,
    CommOpen = "comm_open" => CommOpen,
    CommMsg = "comm_msg" => CommMsg,
    CommClose = "comm_close" => CommClose,
    AuthChallenge = "auth_challenge" => AuthChallenge,
    AuthResponse = "auth_response" => AuthResponse,
    AuthResult = "auth_result" => AuthResult,
    ProtocolError = "protocol_error" => ProtocolError,
    ConfigureRequest = "configure_request" => ConfigureRequest,
    ConfigureReply = "configure_reply" => ConfigureReply,
    ConfigChanged = "config_changed" => ConfigChanged,
}

impl Content {
    /// How the message shows as plain text, newline-terminated, for a client without
    /// rich display: a value by its `text/plain`, an error by its traceback. None for
    /// messages that do not show.
    pub fn shown_text(&self) -> Option<String> {
        let plain = |data: &MimeBundle| {
            data.get("text/plain")
                .and_then(|v| v.as_str())
                .map(|t| format!("{t}\n"))
        };
        match self {
            Content::ExecuteResult(r) => plain(&r.data),
            Content::DisplayData(d) => plain(&d.data),
            Content::UpdateDisplayData(d) => plain(&d.data),
            Content::Error(e) => Some(e.text()),
            Content::KernelInfoReply(info) => Some(info.banner.clone()),
            Content::ProtocolError(p) => Some(format!("hotrepl: {}\n", p.reason)),
            _ => None,
        }
    }
}

impl ErrorContent {
    /// The traceback as printed, or `Name: value` when there is none.
    pub fn text(&self) -> String {
        let text = self.traceback.concat();
        if text.is_empty() {
            format!("{}: {}\n", self.ename, self.evalue)
        } else {
            text
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    Ok,
    Error,
    Aborted,
}

/// `ename`/`evalue`/`traceback`: the `error` output, and the error part of any reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorContent {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
    /// hotrepl's addition: what the parts of the traceback are, for front ends to colour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markup: Vec<crate::markup::Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub code: String,
    #[serde(default)]
    pub silent: bool,
    #[serde(default = "yes")]
    pub store_history: bool,
    #[serde(default)]
    pub user_expressions: Map<String, Value>,
    #[serde(default = "yes")]
    pub allow_stdin: bool,
    #[serde(default = "yes")]
    pub stop_on_error: bool,
}

impl ExecuteRequest {
    pub fn new(code: impl Into<String>) -> Self {
        ExecuteRequest {
            code: code.into(),
            silent: false,
            store_history: true,
            user_expressions: Map::new(),
            allow_stdin: true,
            stop_on_error: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteReply {
    pub status: ReplyStatus,
    pub execution_count: u64,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorContent>,
    #[serde(default)]
    pub payload: Vec<Value>,
    #[serde(default)]
    pub user_expressions: Map<String, Value>,
    /// hotrepl extension: the cell raised SystemExit with this code (the local REPL exits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

impl ExecuteReply {
    /// The help pages the cell asked to show (`obj?`): payloads with `source: page`.
    pub fn pages(&self) -> impl Iterator<Item = &str> {
        self.payload.iter().filter_map(|p| {
            (p.get("source")?.as_str()? == "page")
                .then(|| p.get("data")?.get("text/plain")?.as_str())
                .flatten()
        })
    }

    /// What the cell asked to put in the next input (`%load`): the `set_next_input` payload.
    pub fn next_input(&self) -> Option<&str> {
        self.payload
            .iter()
            .find(|p| p.get("source").and_then(Value::as_str) == Some("set_next_input"))
            .and_then(|p| p.get("text")?.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteInput {
    pub code: String,
    pub execution_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteResult {
    pub execution_count: u64,
    pub data: MimeBundle,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisplayData {
    pub data: MimeBundle,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub transient: Map<String, Value>,
}

/// A new form for an output shown earlier with `display_id` (its `transient` names it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateDisplayData {
    pub data: MimeBundle,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(default)]
    pub transient: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamName {
    Stdout,
    Stderr,
}

/// Writes a message's JSON: the envelope around any serializable content.
fn write_envelope<C: Serialize>(
    out: &mut Vec<u8>,
    header: &Header,
    parent: Option<&Header>,
    metadata: &Map<String, Value>,
    content: &C,
) {
    #[derive(Serialize)]
    struct Out<'a, C> {
        header: &'a Header,
        parent_header: ParentOut<'a>,
        metadata: &'a Map<String, Value>,
        content: &'a C,
    }
    let envelope = Out {
        header,
        parent_header: ParentOut(parent),
        metadata,
        content,
    };
    // Serializing plain structs and JSON values into a Vec cannot fail.
    serde_json::to_writer(out, &envelope).expect("message serialization");
}

impl HeaderSource {
    /// Appends a `stream` message carrying `text` to `out` as one frame, without copying
    /// the text into a message first: output is most of what a session sends.
    pub fn push_stream_frame(&self, out: &mut Vec<u8>, name: StreamName, text: &str, parent: Option<&Header>) {
        let header = self.header("stream");
        crate::frame::push_frame_with(out, |out| {
            write_envelope(out, &header, parent, &Map::new(), &StreamRef { name, text })
        });
    }
}

impl HeaderSource {
    /// The four JSON parts of a `stream` message carrying `text` (see [`Message::to_parts`]),
    /// without copying the text into a message first.
    pub fn stream_parts(&self, name: StreamName, text: &str, parent: Option<&Header>) -> [Vec<u8>; 4] {
        parts_of(&self.header("stream"), parent, &Map::new(), &StreamRef { name, text })
    }
}

/// A `stream` message's content, borrowing its text.
#[derive(Serialize)]
struct StreamRef<'a> {
    name: StreamName,
    text: &'a str,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub name: StreamName,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    Starting,
    Busy,
    Idle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub execution_state: ExecutionState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearOutput {
    #[serde(default)]
    pub wait: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    pub prompt: String,
    #[serde(default)]
    pub password: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputReply {
    pub value: String,
    /// hotrepl extension: the user pressed Ctrl-C or Ctrl-D instead of answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<InputCancel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputCancel {
    /// Ctrl-C: raise KeyboardInterrupt where the input was asked for.
    Interrupt,
    /// Ctrl-D: raise EOFError.
    Eof,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteRequest {
    pub code: String,
    /// In Unicode code points, as the spec says since 5.2.
    pub cursor_pos: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteReply {
    pub status: ReplyStatus,
    pub matches: Vec<String>,
    pub cursor_start: usize,
    pub cursor_end: usize,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorContent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectRequest {
    pub code: String,
    pub cursor_pos: usize,
    #[serde(default)]
    pub detail_level: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectReply {
    pub status: ReplyStatus,
    pub found: bool,
    #[serde(default)]
    pub data: MimeBundle,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorContent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsCompleteRequest {
    pub code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Completeness {
    Complete,
    Incomplete,
    Invalid,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsCompleteReply {
    pub status: Completeness,
    /// Only meaningful when incomplete: the indentation the next line should get.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub indent: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryAccess {
    Tail,
    Range,
    Search,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRequest {
    #[serde(default)]
    pub output: bool,
    #[serde(default)]
    pub raw: bool,
    pub hist_access_type: HistoryAccess,
    #[serde(default)]
    pub session: i64,
    #[serde(default)]
    pub start: i64,
    #[serde(default)]
    pub stop: i64,
    #[serde(default)]
    pub n: i64,
    #[serde(default)]
    pub pattern: String,
    #[serde(default)]
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReply {
    pub status: ReplyStatus,
    /// `(session, line_number, input)` or `(session, line_number, (input, output))`.
    pub history: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelInfoRequest {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageInfo {
    pub name: String,
    pub version: String,
    pub mimetype: String,
    pub file_extension: String,
    #[serde(default)]
    pub pygments_lexer: String,
    #[serde(default)]
    pub nbconvert_exporter: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelInfoReply {
    pub status: ReplyStatus,
    pub protocol_version: String,
    pub implementation: String,
    pub implementation_version: String,
    pub language_info: LanguageInfo,
    pub banner: String,
    #[serde(default)]
    pub help_links: Vec<Value>,
    /// hotrepl extension: the process serving this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// hotrepl extension: the id this session's cells are recorded under in the history
    /// database (so a client can tell its own cells from other sessions').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_session: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InterruptRequest {
    /// hotrepl extension: give up on a cell that does not answer an interrupt (stuck in C
    /// code); it is left running in a detached thread and the session gets a fresh one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub abandon: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterruptReply {
    pub status: ReplyStatus,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorContent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    #[serde(default)]
    pub restart: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShutdownReply {
    pub status: ReplyStatus,
    #[serde(default)]
    pub restart: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommInfoRequest {
    /// Only the comms of this target (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommInfoReply {
    pub status: ReplyStatus,
    /// `{comm_id: {"target_name": ...}}` for each open comm.
    pub comms: Map<String, Value>,
}

/// Opens a comm (a channel between an object in the kernel and one in the front end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommOpen {
    pub comm_id: String,
    pub target_name: String,
    #[serde(default)]
    pub data: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_module: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommMsg {
    pub comm_id: String,
    #[serde(default)]
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommClose {
    pub comm_id: String,
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// TCP only: the server's half of the token handshake (see `auth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthChallenge {
    /// Hex of the server's random nonce.
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthResponse {
    /// Hex of the client's random nonce.
    pub nonce: String,
    /// Hex HMAC proving the client holds the token.
    pub proof: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthResult {
    pub ok: bool,
    /// Hex HMAC proving the server holds the token too (empty when refused).
    #[serde(default)]
    pub proof: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// Sent before the server closes a connection because of what the client sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolError {
    pub reason: String,
}

/// hotrepl extension, client to kernel, once at the start of a session (before any cell):
/// the client's configuration — every option with its value and where it came from, and
/// the themes its config file defines — so the kernel acts on the options it uses and
/// `%config` can list and change them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigureRequest {
    pub options: Vec<OptionSetting>,
    /// Theme name to (element to style text), as the config file's `[themes.NAME]` tables.
    #[serde(default)]
    pub themes: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionSetting {
    pub name: String,
    /// As text, the way `%config name value` takes it.
    pub value: String,
    /// Where the value came from, for the user to read ("default", "$HOTREPL_PDB", ...).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigureReply {
    pub status: ReplyStatus,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorContent>,
}

/// hotrepl extension, kernel to client, on the session's output (its parent is the cell
/// that ran `%config`): an option changed; the client applies those it uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChanged {
    pub name: String,
    pub value: String,
}
