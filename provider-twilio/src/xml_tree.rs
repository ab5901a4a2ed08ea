//! A small, strict XML reader for TwiML documents: well-formedness as Twilio's parser sees
//! it (error 12100), with line/column positions for the error messages. Used by
//! [`check_twiml`](crate::twiml::check_twiml) and, through
//! [`parse_response`](crate::twiml::parse_response), by the TwiML interpreter of the
//! `telephony-twilio-simulator` crate.
//!
//! ```
//! use telephony_twilio::xml_tree::{parse, Node};
//! let root = parse(r#"<Response><Say voice="alice">Hi <b>there</b></Say></Response>"#).unwrap();
//! let say = root.elements().next().unwrap();
//! assert_eq!((say.name.as_str(), say.attr("voice"), say.text()), ("Say", Some("alice"), "Hi there".to_string()));
//! assert!(matches!(&say.children[0], Node::Text(t) if t == "Hi "));
//! ```

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::twiml::TwimlError;

/// An element: its name, attributes (entities resolved) and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The tag name, as written.
    pub name: String,
    /// The attributes in document order, as (name, value) with entities resolved.
    pub attrs: Vec<(String, String)>,
    /// The content in document order.
    pub children: Vec<Node>,
    /// Byte offset of its `<` in the document.
    pub offset: usize,
}

/// Element content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A nested element.
    Element(Element),
    /// Character data (entity and character references resolved, CDATA included).
    Text(String),
}

impl Element {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All character data inside, nested elements' too, in document order.
    pub fn text(&self) -> String {
        let mut out = String::new();
        fn walk(e: &Element, out: &mut String) {
            for child in &e.children {
                match child {
                    Node::Text(t) => out.push_str(t),
                    Node::Element(inner) => walk(inner, out),
                }
            }
        }
        walk(self, &mut out);
        out
    }

    /// The child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }
}

/// An error at byte `offset` of `doc`, with its 1-based line and column (in characters).
pub fn error_at(doc: &str, offset: usize, message: impl Into<String>) -> TwimlError {
    let mut offset = offset.min(doc.len());
    while !doc.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &doc[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    TwimlError {
        line,
        column,
        message: message.into(),
    }
}

/// Parses `doc` into its root element. Refuses what an XML 1.0 parser refuses (unclosed or
/// mismatched tags, a bare `&` or `<`, unknown entities, duplicate attributes), anything
/// before the XML declaration (whitespace included), text or a second element outside
/// the root, and a document without a root element. A leading byte-order mark is allowed.
pub fn parse(doc: &str) -> Result<Element, TwimlError> {
    let base = if doc.starts_with('\u{feff}') { 3 } else { 0 };
    let body = &doc[base..];
    let mut reader = Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                return Err(error_at(
                    doc,
                    base + reader.error_position() as usize,
                    e.to_string(),
                ));
            }
        };
        let text_outside = |s: &str| {
            error_at(
                doc,
                base + at,
                format!(
                    "text {:?} outside the root element",
                    s.trim().chars().take(20).collect::<String>()
                ),
            )
        };
        match event {
            Event::Decl(_) => {
                if at != 0 {
                    return Err(error_at(
                        doc,
                        base + at,
                        "the XML declaration must come first: nothing, not even whitespace, may precede <?xml",
                    ));
                }
            }
            Event::Start(e) => {
                if root.is_some() && stack.is_empty() {
                    return Err(second_root(doc, base + at, &e));
                }
                stack.push(element(doc, base + at, &e)?);
            }
            Event::Empty(e) => {
                if root.is_some() && stack.is_empty() {
                    return Err(second_root(doc, base + at, &e));
                }
                let el = element(doc, base + at, &e)?;
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                // check_end_names has made sure it matches the innermost open element.
                if let Some(el) = stack.pop() {
                    attach(&mut stack, &mut root, el);
                }
            }
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| error_at(doc, base + at, e.to_string()))?;
                push_text(&mut stack, &s).map_err(|()| text_outside(&s))?;
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| error_at(doc, base + at, e.to_string()))?;
                push_text(&mut stack, &s).map_err(|()| text_outside(&s))?;
            }
            Event::GeneralRef(r) => {
                let name = r
                    .decode()
                    .map_err(|e| error_at(doc, base + at, e.to_string()))?;
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match name.as_ref() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        other => {
                            return Err(error_at(
                                doc,
                                base + at,
                                format!(
                                    "unknown entity &{other}; (a bare & must be written &amp;)"
                                ),
                            ));
                        }
                    },
                    Err(e) => return Err(error_at(doc, base + at, e.to_string())),
                };
                push_text(&mut stack, &resolved).map_err(|()| text_outside(&resolved))?;
            }
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(error_at(
            doc,
            open.offset,
            format!("<{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| error_at(doc, doc.len(), "no root element"))
}

fn second_root(doc: &str, offset: usize, e: &BytesStart<'_>) -> TwimlError {
    error_at(
        doc,
        offset,
        format!(
            "a second root element <{}> after the first one closed",
            String::from_utf8_lossy(e.name().as_ref())
        ),
    )
}

fn element(doc: &str, offset: usize, e: &BytesStart<'_>) -> Result<Element, TwimlError> {
    let name = std::str::from_utf8(e.name().as_ref())
        .map_err(|e| error_at(doc, offset, e.to_string()))?
        .to_string();
    if name.is_empty() {
        return Err(error_at(
            doc,
            offset,
            "a bare < that does not start a tag (write it as &lt;)",
        ));
    }
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| error_at(doc, offset, format!("<{name}>: {err}")))?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|err| error_at(doc, offset, err.to_string()))?
            .to_string();
        let value = attr.unescape_value().map_err(|err| {
            error_at(
                doc,
                offset,
                format!("<{name}> attribute {key:?}: {err} (a bare & must be written &amp;)"),
            )
        })?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        offset,
    })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

/// Appends character data to the open element; `Err` for non-whitespace outside the root.
fn push_text(stack: &mut [Element], s: &str) -> Result<(), ()> {
    let Some(parent) = stack.last_mut() else {
        return if s.trim().is_empty() { Ok(()) } else { Err(()) };
    };
    match parent.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(s),
        _ => parent.children.push(Node::Text(s.to_string())),
    }
    Ok(())
}
