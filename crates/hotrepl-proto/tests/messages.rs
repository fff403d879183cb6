//! Every message type survives encode → decode unchanged, and bad envelopes are refused
//! with an error that says what is wrong.

use hotrepl_proto::*;
use serde_json::{json, Map, Value};

fn bundle(text: &str) -> MimeBundle {
    let mut m = Map::new();
    m.insert("text/plain".into(), Value::String(text.into()));
    m
}

fn sample_error() -> ErrorContent {
    ErrorContent {
        ename: "ZeroDivisionError".into(),
        evalue: "division by zero".into(),
        traceback: vec![
            "Traceback (most recent call last):".into(),
            "ZeroDivisionError: division by zero".into(),
        ],
        markup: vec![hotrepl_proto::markup::Span {
            start: 34,
            end: 51,
            role: hotrepl_proto::markup::Role::Exception,
        }],
    }
}

/// One value of every content type, so a new type without a sample fails `covers_every_type`.
fn samples() -> Vec<Content> {
    vec![
        ExecuteRequest::new("x = 1\nawait asyncio.sleep(0)").into(),
        ExecuteReply {
            status: ReplyStatus::Ok,
            execution_count: 3,
            error: None,
            payload: vec![],
            user_expressions: Map::new(),
            exit_code: None,
        }
        .into(),
        ExecuteReply {
            status: ReplyStatus::Error,
            execution_count: 4,
            error: Some(sample_error()),
            payload: vec![],
            user_expressions: Map::new(),
            exit_code: Some(3),
        }
        .into(),
        ExecuteInput {
            code: "1+1".into(),
            execution_count: 5,
        }
        .into(),
        ExecuteResult {
            execution_count: 5,
            data: bundle("2"),
            metadata: Map::new(),
        }
        .into(),
        DisplayData {
            data: bundle("<x>"),
            metadata: Map::new(),
            transient: Map::new(),
        }
        .into(),
        UpdateDisplayData {
            data: bundle("<y>"),
            metadata: Map::new(),
            transient: json!({"display_id": "d1"}).as_object().cloned().unwrap(),
        }
        .into(),
        Stream {
            name: StreamName::Stdout,
            text: "héllo\n\u{1F600}\0".into(),
        }
        .into(),
        Stream {
            name: StreamName::Stderr,
            text: "oops".into(),
        }
        .into(),
        Content::Error(sample_error()),
        Status {
            execution_state: ExecutionState::Busy,
        }
        .into(),
        ClearOutput { wait: true }.into(),
        InputRequest {
            prompt: "Password: ".into(),
            password: true,
        }
        .into(),
        InputReply {
            value: "secret".into(),
            cancelled: None,
        }
        .into(),
        InputReply {
            value: String::new(),
            cancelled: Some(InputCancel::Eof),
        }
        .into(),
        CompleteRequest {
            code: "os.pa".into(),
            cursor_pos: 5,
        }
        .into(),
        CompleteReply {
            status: ReplyStatus::Ok,
            matches: vec!["path".into(), "pardir".into()],
            cursor_start: 3,
            cursor_end: 5,
            metadata: Map::new(),
            error: None,
        }
        .into(),
        InspectRequest {
            code: "len".into(),
            cursor_pos: 3,
            detail_level: 1,
        }
        .into(),
        InspectReply {
            status: ReplyStatus::Ok,
            found: true,
            data: bundle("len(obj)"),
            metadata: Map::new(),
            error: None,
        }
        .into(),
        IsCompleteRequest {
            code: "for i in x:".into(),
        }
        .into(),
        IsCompleteReply {
            status: Completeness::Incomplete,
            indent: "    ".into(),
        }
        .into(),
        IsCompleteReply {
            status: Completeness::Complete,
            indent: String::new(),
        }
        .into(),
        HistoryRequest {
            output: false,
            raw: true,
            hist_access_type: HistoryAccess::Tail,
            session: 0,
            start: 0,
            stop: 0,
            n: 10,
            pattern: String::new(),
            unique: false,
        }
        .into(),
        HistoryReply {
            status: ReplyStatus::Ok,
            history: vec![json!([1, 1, "x = 1"])],
        }
        .into(),
        KernelInfoRequest {}.into(),
        KernelInfoReply {
            status: ReplyStatus::Ok,
            protocol_version: "5.3".into(),
            implementation: "hotrepl".into(),
            implementation_version: "0.1.0".into(),
            language_info: LanguageInfo {
                name: "python".into(),
                version: "3.11.7".into(),
                mimetype: "text/x-python".into(),
                file_extension: ".py".into(),
                pygments_lexer: "ipython3".into(),
                nbconvert_exporter: "python".into(),
            },
            banner: "Python 3.11.7".into(),
            help_links: vec![],
            pid: Some(42),
            history_session: Some("5f0c2a".into()),
        }
        .into(),
        InterruptRequest { abandon: false }.into(),
        InterruptRequest { abandon: true }.into(),
        InterruptReply {
            status: ReplyStatus::Ok,
            error: None,
        }
        .into(),
        ShutdownRequest { restart: false }.into(),
        ShutdownReply {
            status: ReplyStatus::Ok,
            restart: false,
        }
        .into(),
        CommInfoRequest {
            target_name: Some("jupyter.widget".into()),
        }
        .into(),
        CommInfoRequest { target_name: None }.into(),
        CommInfoReply {
            status: ReplyStatus::Ok,
            comms: json!({"c1": {"target_name": "jupyter.widget"}})
                .as_object()
                .cloned()
                .unwrap(),
        }
        .into(),
        CommOpen {
            comm_id: "c1".into(),
            target_name: "jupyter.widget".into(),
            data: json!({"state": {}}).as_object().cloned().unwrap(),
            target_module: None,
        }
        .into(),
        CommMsg {
            comm_id: "c1".into(),
            data: json!({"method": "update"}).as_object().cloned().unwrap(),
        }
        .into(),
        CommClose {
            comm_id: "c1".into(),
            data: Default::default(),
        }
        .into(),
        AuthChallenge { nonce: "00ff".into() }.into(),
        AuthResponse {
            nonce: "ab".into(),
            proof: "cd".into(),
        }
        .into(),
        AuthResult {
            ok: false,
            proof: String::new(),
            reason: "bad token".into(),
        }
        .into(),
        ProtocolError {
            reason: "frame too large".into(),
        }
        .into(),
        ConfigureRequest {
            options: vec![OptionSetting {
                name: "autoawait".into(),
                value: "off".into(),
                source: "$HOTREPL_AUTOAWAIT".into(),
            }],
            themes: [(
                "mine".to_string(),
                [("keyword".to_string(), "bold red".to_string())].into(),
            )]
            .into(),
        }
        .into(),
        ConfigureReply {
            status: ReplyStatus::Ok,
            error: None,
        }
        .into(),
        ConfigChanged {
            name: "theme".into(),
            value: "light".into(),
        }
        .into(),
    ]
}

#[test]
fn every_message_type_round_trips() {
    let src = HeaderSource::new("kernel-1", "alice");
    let parent = src.header("execute_request");
    for content in samples() {
        for parent in [None, Some(&parent)] {
            let msg = src.message(content.clone(), parent);
            let bytes = msg.to_json();
            let back = Message::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", msg.msg_type()));
            assert_eq!(back, msg, "{} did not round-trip", msg.msg_type());
            // As Jupyter's ZeroMQ transport carries it: four JSON parts.
            let [h, p, m, c] = msg.to_parts();
            let back = Message::from_parts(&h, &p, &m, &c).unwrap_or_else(|e| panic!("{}: {e}", msg.msg_type()));
            assert_eq!(back, msg, "{} did not round-trip in parts", msg.msg_type());
        }
    }
}

#[test]
fn covers_every_type() {
    let seen: std::collections::BTreeSet<String> = samples().iter().map(|c| c.msg_type().to_owned()).collect();
    for t in Content::KNOWN_TYPES {
        assert!(seen.contains(*t), "no round-trip sample for {t}");
    }
}

#[test]
fn header_fields_follow_jupyter() {
    let src = HeaderSource::new("s", "u");
    let msg = src.message(KernelInfoRequest {}.into(), None);
    let v: Value = serde_json::from_slice(&msg.to_json()).unwrap();
    let header = v["header"].as_object().unwrap();
    let mut keys: Vec<&str> = header.keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["date", "msg_id", "msg_type", "session", "username", "version"]);
    assert_eq!(v["parent_header"], json!({}), "no parent is written as an empty object");
    assert_eq!(header["msg_type"], "kernel_info_request");
    let next = src.message(KernelInfoRequest {}.into(), None);
    assert_ne!(msg.header.msg_id, next.header.msg_id, "message ids are unique");
}

#[test]
fn accepts_messages_written_by_jupyter_clients() {
    // As jupyter_client sends it: extra header field, nulls and defaults left out.
    let wire = json!({
        "header": {"msg_id": "a", "session": "b", "username": "c", "date": "2026-01-01T00:00:00Z",
                    "msg_type": "execute_request", "version": "5.4", "subshell_id": null},
        "parent_header": {},
        "metadata": {},
        "content": {"code": "1+1", "silent": false}
    });
    let msg = Message::from_json(wire.to_string().as_bytes()).unwrap();
    match msg.content {
        Content::ExecuteRequest(r) => {
            assert_eq!(r.code, "1+1");
            assert!(r.store_history && r.allow_stdin, "spec defaults apply");
        }
        other => panic!("decoded as {other:?}"),
    }
    assert!(msg.parent_header.is_none());
}

#[test]
fn unknown_types_are_kept_not_refused() {
    let wire = json!({
        "header": {"msg_id": "a", "session": "b", "username": "c", "date": "d", "msg_type": "frobnicate_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {"x": 1}
    });
    let msg = Message::from_json(wire.to_string().as_bytes()).unwrap();
    assert_eq!(msg.msg_type(), "frobnicate_request");
    assert_eq!(
        msg.content,
        Content::Unknown {
            msg_type: "frobnicate_request".into(),
            content: json!({"x": 1})
        }
    );
}

#[test]
fn malformed_messages_are_refused_clearly() {
    let err = Message::from_json(b"{not json").unwrap_err();
    assert!(err.to_string().starts_with("malformed message:"), "{err}");

    let no_header = json!({"content": {}}).to_string();
    let err = Message::from_json(no_header.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("header"), "{err}");

    let bad_content = json!({
        "header": {"msg_id": "a", "session": "b", "username": "c", "date": "d", "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {"code": 5}
    })
    .to_string();
    let err = Message::from_json(bad_content.as_bytes()).unwrap_err();
    assert!(
        err.to_string().starts_with("malformed execute_request content"),
        "{err}"
    );
}

#[test]
fn a_stream_frame_written_in_place_is_the_stream_message() {
    let source = HeaderSource::new("s", "u");
    let parent = source.header("execute_request");
    let mut out = Vec::new();
    source.push_stream_frame(&mut out, StreamName::Stdout, "line \"one\"\né\n", Some(&parent));
    let mut reader = FrameReader::new(&out[..]);
    let msg = Message::from_json(&reader.read_frame().unwrap().unwrap()).unwrap();
    assert_eq!(msg.msg_type(), "stream");
    assert_eq!(msg.parent_header.as_ref(), Some(&parent));
    assert_eq!(
        msg.content,
        Content::Stream(Stream {
            name: StreamName::Stdout,
            text: "line \"one\"\né\n".into()
        })
    );
    assert!(reader.read_frame().unwrap().is_none(), "exactly one frame");
}

#[test]
fn push_frame_is_encode_frame_of_to_json() {
    let source = HeaderSource::new("s", "u");
    let msg = source.message(
        Content::Status(Status {
            execution_state: ExecutionState::Idle,
        }),
        None,
    );
    let mut out = vec![1, 2, 3];
    msg.push_frame(&mut out);
    assert_eq!(&out[..3], &[1, 2, 3]);
    assert_eq!(&out[3..], &encode_frame(&msg.to_json())[..]);
}
