//! Chat templates: a conversation as the text a model was trained on.
//!
//! A model's files carry its template in Jinja; HF transformers renders it with `jinja2` (blocks
//! trimmed and left-stripped, loop controls on). This is a small interpreter for the part of
//! Jinja that chat templates use: `{{ }}`, `{% if/elif/else %}`, `{% for %}` with `loop.*`,
//! `{% set %}` and `namespace()`, whitespace control, the usual operators, filters (`trim`,
//! `length`, `tojson`, …), string and dict methods, tests (`is defined`, …) and
//! `raise_exception`. Anything else is an error that names it; `minijinja` would render more,
//! but every notebook that uses this crate would compile it too.
// https://github.com/huggingface/transformers/blob/v4.57.0/src/transformers/utils/chat_template_utils.py#L436

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// One message of a conversation: who speaks (`role`: "system", "user", "assistant") and what.
///
/// ```
/// use transformer_nb::prelude::*;
///
/// let message = ChatMessage::user("Hi!");
/// assert_eq!(message.role, "user");
/// assert_eq!(message.content, "Hi!");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who speaks: "system", "user" or "assistant".
    pub role: String,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A message of any role.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::new("tool", "42").role, "tool");
    /// ```
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// The instructions that frame the conversation.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::system("Be brief.").role, "system");
    /// ```
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// What the user says.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::user("Hi!").role, "user");
    /// ```
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// What the model answered.
    ///
    /// ```
    /// # use transformer_nb::prelude::*;
    /// assert_eq!(ChatMessage::assistant("Hello!").role, "assistant");
    /// ```
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// The special tokens a template may name (`bos_token`, `eos_token`, `pad_token`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SpecialTokens<'a> {
    pub bos: Option<&'a str>,
    pub eos: Option<&'a str>,
    pub pad: Option<&'a str>,
}

/// Renders `template` for `messages`, with the variables transformers passes.
pub(super) fn render(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    special: SpecialTokens,
) -> Result<String> {
    let nodes = parse(template)?;
    let mut globals = BTreeMap::new();
    let messages = messages
        .iter()
        .map(|m| {
            Value::Map(BTreeMap::from([
                ("role".to_string(), Value::Str(m.role.clone())),
                ("content".to_string(), Value::Str(m.content.clone())),
            ]))
        })
        .collect();
    globals.insert("messages".to_string(), Value::List(messages));
    globals.insert(
        "add_generation_prompt".to_string(),
        Value::Bool(add_generation_prompt),
    );
    for (name, token) in [
        ("bos_token", special.bos),
        ("eos_token", special.eos),
        ("pad_token", special.pad),
    ] {
        if let Some(token) = token {
            globals.insert(name.to_string(), Value::Str(token.to_string()));
        }
    }
    let mut out = String::new();
    let mut scopes = vec![globals];
    render_nodes(&nodes, &mut scopes, &mut out)?;
    Ok(out)
}

fn unsupported(what: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!(
        "the chat template uses {what}, which transformer-nb's template renderer does not \
         support: render the prompt with Python's transformers, or write it yourself"
    ))
}

fn template_error(what: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("the chat template cannot be rendered: {what}"))
}

/// A value of the template language.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Undefined,
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Undefined | Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// The value as `{{ }}` prints it (Python's `str`).
    fn to_text(&self) -> String {
        match self {
            Value::Undefined => String::new(),
            Value::Str(s) => s.clone(),
            other => other.repr(),
        }
    }

    /// Python's `repr`, as lists print their items.
    fn repr(&self) -> String {
        match self {
            Value::Undefined => String::new(),
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(n) => n.to_string(),
            Value::Str(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Value::List(l) => {
                let items: Vec<String> = l.iter().map(Value::repr).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Map(m) => {
                let items: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("'{k}': {}", v.repr()))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }

    /// `json.dumps(value)`, as transformers' `tojson` filter writes it.
    fn to_json(&self) -> String {
        match self {
            Value::Undefined | Value::None => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            Value::List(l) => {
                let items: Vec<String> = l.iter().map(Value::to_json).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Map(m) => {
                let items: Vec<String> = m
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}: {}",
                            serde_json::to_string(k).unwrap_or_default(),
                            v.to_json()
                        )
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Undefined => "an undefined value",
            Value::None => "none",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// An expression of the template language.
#[derive(Debug, Clone)]
enum Expr {
    Literal(Value),
    Var(String),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Attr(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Slice(Box<Expr>, [Option<Box<Expr>>; 3]),
    Call(Box<Expr>, Vec<Expr>, Vec<(String, Expr)>),
    Filter(Box<Expr>, String, Vec<Expr>),
    Test(Box<Expr>, String, bool),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Box<Expr>, &'static str, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    If(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
}

/// A piece of a template.
#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Output(Expr),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    For {
        names: Vec<String>,
        iter: Expr,
        filter: Option<Expr>,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Set(Vec<String>, Expr),
    Break,
    Continue,
}

/// A tag of the template source: `{{ }}`, `{% %}` or `{# #}`, or the text between tags.
#[derive(Debug)]
enum Piece {
    Text(String),
    Expr(String),
    Stmt(String),
}

/// Splits the source into text and tags, with jinja2's whitespace rules as transformers sets
/// them: `-` strips all whitespace on its side, a block's newline after it goes
/// (`trim_blocks`), spaces before it on its line go (`lstrip_blocks`), and so does one final
/// newline (`keep_trailing_newline` off).
fn lex(source: &str) -> Result<Vec<Piece>> {
    let source = source
        .strip_suffix("\r\n")
        .or_else(|| source.strip_suffix('\n'))
        .unwrap_or(source);
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut line_starting = true;
    let mut strip_next = false;
    loop {
        let next = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|open| rest.find(open).map(|at| (at, *open)))
            .min();
        let (at, open) = match next {
            Some(found) => found,
            None => (rest.len(), ""),
        };
        let mut text = &rest[..at];
        if strip_next {
            text = text.trim_start();
        }
        if open.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
            break;
        }
        let after_open = &rest[at + 2..];
        let sign = after_open.chars().next();
        let close = match open {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        let end = after_open
            .find(close)
            .ok_or_else(|| template_error(format!("a {open} has no {close}")))?;
        let inner = &after_open[..end];
        let strip_after = inner.ends_with('-');
        let block = open != "{{";
        if sign == Some('-') {
            text = text.trim_end();
        } else if block && sign != Some('+') {
            let line_start = text.rfind('\n').map_or(0, |n| n + 1);
            if (line_start > 0 || line_starting)
                && !text[line_start..].is_empty()
                && text[line_start..].chars().all(char::is_whitespace)
            {
                text = &text[..line_start];
            }
        }
        pieces.push(Piece::Text(text.to_string()));
        let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
        let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner).trim();
        match open {
            "{{" => pieces.push(Piece::Expr(inner.to_string())),
            "{%" => pieces.push(Piece::Stmt(inner.to_string())),
            _ => {}
        }
        rest = &after_open[end + 2..];
        strip_next = strip_after;
        line_starting = false;
        if strip_after {
            let trimmed = rest.trim_start();
            line_starting = rest[..rest.len() - trimmed.len()].ends_with('\n');
        } else if let Some(after) = rest.strip_prefix('\n').filter(|_| block) {
            rest = after;
            line_starting = true;
        }
    }
    Ok(pieces)
}

fn parse(source: &str) -> Result<Vec<Node>> {
    let pieces = lex(source)?;
    let mut at = 0;
    // Nesting is what the parser and renderer recurse on: bounded, so that no template can
    // exhaust the stack.
    let mut depth: usize = 0;
    for piece in &pieces {
        if let Piece::Stmt(source) = piece {
            match source.split_whitespace().next() {
                Some("if" | "for" | "generation") => depth += 1,
                Some("endif" | "endfor" | "endgeneration") => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_DEPTH {
                return Err(unsupported(format!("blocks nested over {MAX_DEPTH} deep")));
            }
        }
    }
    let (nodes, end) = parse_block(&pieces, &mut at, &[])?;
    match end {
        None => Ok(nodes),
        Some(tag) => Err(template_error(format!("{{% {tag} %}} closes nothing"))),
    }
}

/// Nodes up to one of the `ends` statements (returned with its text), or to the end.
fn parse_block(
    pieces: &[Piece],
    at: &mut usize,
    ends: &[&str],
) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.get(*at) {
        *at += 1;
        match piece {
            Piece::Text(text) if text.is_empty() => {}
            Piece::Text(text) => nodes.push(Node::Text(text.clone())),
            Piece::Expr(source) => nodes.push(Node::Output(parse_expr(source)?)),
            Piece::Stmt(source) => {
                let keyword = source.split_whitespace().next().unwrap_or("");
                if ends.contains(&keyword) {
                    return Ok((nodes, Some(source.clone())));
                }
                let rest = source[keyword.len()..].trim();
                nodes.push(match keyword {
                    "if" => parse_if(rest, pieces, at)?,
                    "for" => parse_for(rest, pieces, at)?,
                    "set" => {
                        let (target, value) = rest
                            .split_once('=')
                            .ok_or_else(|| unsupported(format!("{{% set {rest} %}} blocks")))?;
                        let target = target.trim().split('.').map(str::to_string).collect();
                        Node::Set(target, parse_expr(value)?)
                    }
                    "break" => Node::Break,
                    "continue" => Node::Continue,
                    "generation" => {
                        let (body, end) = parse_block(pieces, at, &["endgeneration"])?;
                        if end.is_none() {
                            return Err(template_error("{% generation %} has no end"));
                        }
                        Node::If(vec![(Expr::Literal(Value::Bool(true)), body)], Vec::new())
                    }
                    other => return Err(unsupported(format!("{{% {other} %}}"))),
                });
            }
        }
    }
    Ok((nodes, None))
}

fn parse_if(condition: &str, pieces: &[Piece], at: &mut usize) -> Result<Node> {
    let mut branches = Vec::new();
    let mut condition = parse_expr(condition)?;
    loop {
        let (body, end) = parse_block(pieces, at, &["elif", "else", "endif"])?;
        branches.push((condition, body));
        let end = end.ok_or_else(|| template_error("an {% if %} has no {% endif %}"))?;
        if let Some(rest) = end.strip_prefix("elif") {
            condition = parse_expr(rest)?;
        } else if end.starts_with("else") {
            let (otherwise, end) = parse_block(pieces, at, &["endif"])?;
            end.ok_or_else(|| template_error("an {% if %} has no {% endif %}"))?;
            return Ok(Node::If(branches, otherwise));
        } else {
            return Ok(Node::If(branches, Vec::new()));
        }
    }
}

fn parse_for(header: &str, pieces: &[Piece], at: &mut usize) -> Result<Node> {
    let (names, iterable) = header
        .split_once(" in ")
        .ok_or_else(|| template_error(format!("{{% for {header} %}} has no `in`")))?;
    let names: Vec<String> = names.split(',').map(|n| n.trim().to_string()).collect();
    let mut parser = Parser::new(iterable)?;
    let iter = parser.expr_no_if()?;
    let filter = if parser.eat_word("if") {
        Some(parser.expr()?)
    } else {
        None
    };
    parser.finish()?;
    let (body, end) = parse_block(pieces, at, &["else", "endfor"])?;
    let end = end.ok_or_else(|| template_error("a {% for %} has no {% endfor %}"))?;
    let otherwise = if end.starts_with("else") {
        let (otherwise, end) = parse_block(pieces, at, &["endfor"])?;
        end.ok_or_else(|| template_error("a {% for %} has no {% endfor %}"))?;
        otherwise
    } else {
        Vec::new()
    };
    Ok(Node::For {
        names,
        iter,
        filter,
        body,
        otherwise,
    })
}

fn parse_expr(source: &str) -> Result<Expr> {
    let mut parser = Parser::new(source)?;
    let expr = parser.expr()?;
    parser.finish()?;
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Str(String),
    Int(i64),
    Op(&'static str),
}

const OPS: [&str; 25] = [
    "//", "==", "!=", "<=", ">=", "**", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]",
    "{", "}", ".", ",", ":", "|", "=",
];

fn tokens(source: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(template_error("a string has no closing quote")),
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        i += 1;
                        text.push(match chars.get(i) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some(&other) => other,
                            None => return Err(template_error("a string ends in \\")),
                        });
                    }
                    Some(&other) => text.push(other),
                }
                i += 1;
            }
            i += 1;
            out.push(Token::Str(text));
        } else if c.is_ascii_digit() {
            let start = i;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
                return Err(unsupported("floating-point numbers"));
            }
            let n = digits
                .parse()
                .map_err(|_| template_error(format!("{digits} is too large")))?;
            out.push(Token::Int(n));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            out.push(Token::Name(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| unsupported(format!("the character {c:?} in an expression")))?;
            out.push(Token::Op(op));
            i += op.chars().count();
        }
    }
    Ok(out)
}

/// How deep blocks and expressions may nest.
const MAX_DEPTH: usize = 64;

/// A call's positional and named arguments.
type Args = (Vec<Expr>, Vec<(String, Expr)>);

/// A recursive-descent parser with jinja2's precedence: `if`-`else`, `or`, `and`, `not`,
/// comparisons and `in`, `~`, `+ -`, `* / // %`, unary `-`, then postfix (`.a`, `[i]`, calls),
/// filters (`|f`) and tests (`is t`).
struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn new(source: &str) -> Result<Self> {
        Ok(Parser {
            tokens: tokens(source)?,
            at: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Op(o)) if *o == op);
        self.at += usize::from(found);
        found
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Name(n)) if n == word);
        self.at += usize::from(found);
        found
    }

    fn expect_op(&mut self, op: &str) -> Result<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(template_error(format!(
                "expected `{op}`, found {:?}",
                self.peek()
            )))
        }
    }

    fn name(&mut self) -> Result<String> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Name(n)) => {
                self.at += 1;
                Ok(n)
            }
            other => Err(template_error(format!("expected a name, found {other:?}"))),
        }
    }

    fn finish(&self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(unsupported(format!("{t:?} where an expression should end"))),
        }
    }

    /// Runs `parse` one level deeper, failing past `MAX_DEPTH`.
    fn nested(&mut self, parse: impl FnOnce(&mut Self) -> Result<Expr>) -> Result<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(unsupported(format!(
                "expressions nested over {MAX_DEPTH} deep"
            )));
        }
        let expr = parse(self);
        self.depth -= 1;
        expr
    }

    fn expr(&mut self) -> Result<Expr> {
        self.nested(Self::expr_unnested)
    }

    fn expr_unnested(&mut self) -> Result<Expr> {
        let value = self.expr_no_if()?;
        if self.eat_word("if") {
            let condition = self.or()?;
            let otherwise = if self.eat_word("else") {
                Some(Box::new(self.expr()?))
            } else {
                None
            };
            return Ok(Expr::If(Box::new(condition), Box::new(value), otherwise));
        }
        Ok(value)
    }

    fn expr_no_if(&mut self) -> Result<Expr> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.eat_word("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.not()?;
        while self.eat_word("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr> {
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.nested(Self::not)?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr> {
        let mut left = self.concat()?;
        loop {
            let op = match self.peek() {
                Some(Token::Op(op)) if ["==", "!=", "<", ">", "<=", ">="].contains(op) => *op,
                Some(Token::Name(n)) if n == "in" => "in",
                Some(Token::Name(n))
                    if n == "not"
                        && matches!(self.tokens.get(self.at + 1), Some(Token::Name(m)) if m == "in") =>
                {
                    self.at += 1;
                    "not in"
                }
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(self.concat()?));
        }
    }

    fn concat(&mut self) -> Result<Expr> {
        let mut left = self.sum()?;
        while self.eat_op("~") {
            left = Expr::Binary(Box::new(left), "~", Box::new(self.sum()?));
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr> {
        let mut left = self.product()?;
        loop {
            let op = if self.eat_op("+") {
                "+"
            } else if self.eat_op("-") {
                "-"
            } else {
                return Ok(left);
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = ["//", "*", "/", "%"].into_iter().find(|op| self.eat_op(op));
            let Some(op) = op else {
                return Ok(left);
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.nested(Self::unary)?)));
        }
        let mut value = self.postfix()?;
        loop {
            if self.eat_op("|") {
                let name = self.name()?;
                let args = if self.eat_op("(") {
                    self.args()?.0
                } else {
                    Vec::new()
                };
                value = Expr::Filter(Box::new(value), name, args);
            } else if self.eat_word("is") {
                let negated = self.eat_word("not");
                let name = self.name()?;
                value = Expr::Test(Box::new(value), name, negated);
            } else {
                return Ok(value);
            }
        }
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut value = self.primary()?;
        loop {
            if self.eat_op(".") {
                value = Expr::Attr(Box::new(value), self.name()?);
            } else if self.eat_op("[") {
                let mut parts: [Option<Box<Expr>>; 3] = [None, None, None];
                let mut slice = false;
                for (i, part) in parts.iter_mut().enumerate() {
                    if !matches!(self.peek(), Some(Token::Op(":" | "]"))) {
                        *part = Some(Box::new(self.expr()?));
                    }
                    if i < 2 && self.eat_op(":") {
                        slice = true;
                    } else {
                        break;
                    }
                }
                self.expect_op("]")?;
                value = if slice {
                    Expr::Slice(Box::new(value), parts)
                } else {
                    let index = parts[0]
                        .take()
                        .ok_or_else(|| template_error("an empty subscript []"))?;
                    Expr::Index(Box::new(value), index)
                };
            } else if self.eat_op("(") {
                let (args, kwargs) = self.args()?;
                value = Expr::Call(Box::new(value), args, kwargs);
            } else {
                return Ok(value);
            }
        }
    }

    /// Call arguments after `(`, through `)`: positional, then `name=value`.
    fn args(&mut self) -> Result<Args> {
        let (mut args, mut kwargs) = (Vec::new(), Vec::new());
        while !self.eat_op(")") {
            if let (Some(Token::Name(n)), Some(Token::Op("="))) =
                (self.peek().cloned(), self.tokens.get(self.at + 1))
            {
                self.at += 2;
                kwargs.push((n, self.expr()?));
            } else {
                args.push(self.expr()?);
            }
            if !self.eat_op(",") {
                self.expect_op(")")?;
                break;
            }
        }
        Ok((args, kwargs))
    }

    fn primary(&mut self) -> Result<Expr> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or_else(|| template_error("an expression ends too soon"))?;
        self.at += 1;
        Ok(match token {
            Token::Str(s) => {
                let mut s = s;
                // Adjacent strings are one, as in Python.
                while let Some(Token::Str(more)) = self.peek().cloned() {
                    self.at += 1;
                    s.push_str(&more);
                }
                Expr::Literal(Value::Str(s))
            }
            Token::Int(n) => Expr::Literal(Value::Int(n)),
            Token::Name(n) => match n.as_str() {
                "true" | "True" => Expr::Literal(Value::Bool(true)),
                "false" | "False" => Expr::Literal(Value::Bool(false)),
                "none" | "None" => Expr::Literal(Value::None),
                _ => Expr::Var(n),
            },
            Token::Op("(") => {
                let inner = self.expr()?;
                self.expect_op(")")?;
                inner
            }
            Token::Op("[") => {
                let mut items = Vec::new();
                while !self.eat_op("]") {
                    items.push(self.expr()?);
                    if !self.eat_op(",") {
                        self.expect_op("]")?;
                        break;
                    }
                }
                Expr::List(items)
            }
            Token::Op("{") => {
                let mut items = Vec::new();
                while !self.eat_op("}") {
                    let key = self.expr()?;
                    self.expect_op(":")?;
                    items.push((key, self.expr()?));
                    if !self.eat_op(",") {
                        self.expect_op("}")?;
                        break;
                    }
                }
                Expr::Map(items)
            }
            other => return Err(template_error(format!("unexpected {other:?}"))),
        })
    }
}

/// What rendering a block did besides writing: finished it, or left a loop early.
enum Flow {
    Normal,
    Break,
    Continue,
}

type Scopes = Vec<BTreeMap<String, Value>>;

fn render_nodes(nodes: &[Node], scopes: &mut Scopes, out: &mut String) -> Result<Flow> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Output(expr) => out.push_str(&eval(expr, scopes)?.to_text()),
            Node::If(branches, otherwise) => {
                let mut body = otherwise;
                for (condition, branch) in branches {
                    if eval(condition, scopes)?.truthy() {
                        body = branch;
                        break;
                    }
                }
                match render_nodes(body, scopes, out)? {
                    Flow::Normal => {}
                    flow => return Ok(flow),
                }
            }
            Node::For {
                names,
                iter,
                filter,
                body,
                otherwise,
            } => render_for(names, iter, filter.as_ref(), body, otherwise, scopes, out)?,
            Node::Set(target, expr) => {
                let value = eval(expr, scopes)?;
                set(target, value, scopes)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
    }
    Ok(Flow::Normal)
}

fn set(target: &[String], value: Value, scopes: &mut Scopes) -> Result<()> {
    match target {
        [name] => {
            if let Some(scope) = scopes.last_mut() {
                scope.insert(name.clone(), value);
            }
            Ok(())
        }
        [name, attr] => {
            // A namespace lives where it was made; its attributes change there.
            let holder = scopes
                .iter_mut()
                .rev()
                .find_map(|scope| scope.get_mut(name))
                .ok_or_else(|| template_error(format!("{name} is not defined")))?;
            match holder {
                Value::Map(map) => {
                    map.insert(attr.clone(), value);
                    Ok(())
                }
                other => Err(template_error(format!(
                    "cannot set {attr} on {}",
                    other.kind()
                ))),
            }
        }
        _ => Err(unsupported(format!("{{% set {} %}}", target.join(".")))),
    }
}

fn render_for(
    names: &[String],
    iter: &Expr,
    filter: Option<&Expr>,
    body: &[Node],
    otherwise: &[Node],
    scopes: &mut Scopes,
    out: &mut String,
) -> Result<()> {
    let items = match eval(iter, scopes)? {
        Value::List(items) => items,
        Value::Map(map) => map.into_keys().map(Value::Str).collect(),
        Value::Str(s) => s.chars().map(|c| Value::Str(c.to_string())).collect(),
        Value::Undefined | Value::None => Vec::new(),
        other => return Err(template_error(format!("cannot loop over {}", other.kind()))),
    };
    let bind = |scope: &mut BTreeMap<String, Value>, item: &Value| -> Result<()> {
        match (names, item) {
            ([name], _) => {
                scope.insert(name.clone(), item.clone());
            }
            (_, Value::List(parts)) if parts.len() == names.len() => {
                for (name, part) in names.iter().zip(parts) {
                    scope.insert(name.clone(), part.clone());
                }
            }
            _ => {
                return Err(template_error(format!(
                    "cannot unpack {} into {}",
                    item.kind(),
                    names.join(", ")
                )));
            }
        }
        Ok(())
    };
    // `loop.*` counts the items the filter keeps.
    let mut kept = Vec::new();
    for item in items {
        if let Some(filter) = filter {
            let mut scope = BTreeMap::new();
            bind(&mut scope, &item)?;
            scopes.push(scope);
            let keep = eval(filter, scopes);
            scopes.pop();
            if !keep?.truthy() {
                continue;
            }
        }
        kept.push(item);
    }
    if kept.is_empty() {
        render_nodes(otherwise, scopes, out)?;
        return Ok(());
    }
    let n = kept.len();
    for (i, item) in kept.iter().enumerate() {
        let mut scope = BTreeMap::new();
        bind(&mut scope, item)?;
        let int = |n: usize| Value::Int(n as i64);
        let loop_info = BTreeMap::from([
            ("index".to_string(), int(i + 1)),
            ("index0".to_string(), int(i)),
            ("revindex".to_string(), int(n - i)),
            ("revindex0".to_string(), int(n - i - 1)),
            ("first".to_string(), Value::Bool(i == 0)),
            ("last".to_string(), Value::Bool(i + 1 == n)),
            ("length".to_string(), int(n)),
            (
                "previtem".to_string(),
                i.checked_sub(1)
                    .map_or(Value::Undefined, |p| kept[p].clone()),
            ),
            (
                "nextitem".to_string(),
                kept.get(i + 1).cloned().unwrap_or(Value::Undefined),
            ),
        ]);
        scope.insert("loop".to_string(), Value::Map(loop_info));
        scopes.push(scope);
        let flow = render_nodes(body, scopes, out);
        scopes.pop();
        if let Flow::Break = flow? {
            break;
        }
    }
    Ok(())
}

fn lookup(name: &str, scopes: &Scopes) -> Value {
    scopes
        .iter()
        .rev()
        .find_map(|scope| scope.get(name))
        .cloned()
        .unwrap_or(Value::Undefined)
}

fn eval(expr: &Expr, scopes: &mut Scopes) -> Result<Value> {
    Ok(match expr {
        Expr::Literal(v) => v.clone(),
        Expr::Var(name) => lookup(name, scopes),
        Expr::List(items) => Value::List(
            items
                .iter()
                .map(|e| eval(e, scopes))
                .collect::<Result<_>>()?,
        ),
        Expr::Map(items) => {
            let mut map = BTreeMap::new();
            for (k, v) in items {
                let key = eval(k, scopes)?.to_text();
                map.insert(key, eval(v, scopes)?);
            }
            Value::Map(map)
        }
        Expr::Attr(target, name) => attribute(&eval(target, scopes)?, name)?,
        Expr::Index(target, index) => {
            let target = eval(target, scopes)?;
            let index = eval(index, scopes)?;
            subscript(&target, &index)?
        }
        Expr::Slice(target, parts) => {
            let target = eval(target, scopes)?;
            let mut bounds = [None, None, None];
            for (bound, part) in bounds.iter_mut().zip(parts) {
                if let Some(part) = part {
                    match eval(part, scopes)? {
                        Value::Int(n) => *bound = Some(n),
                        Value::None => {}
                        other => {
                            return Err(template_error(format!(
                                "a slice bound is {}",
                                other.kind()
                            )));
                        }
                    }
                }
            }
            slice(&target, bounds)?
        }
        Expr::Call(target, args, kwargs) => {
            let args: Vec<Value> = args
                .iter()
                .map(|a| eval(a, scopes))
                .collect::<Result<_>>()?;
            let mut named = BTreeMap::new();
            for (k, v) in kwargs {
                named.insert(k.clone(), eval(v, scopes)?);
            }
            match &**target {
                Expr::Var(name) => call_function(name, args, named)?,
                Expr::Attr(object, method) => {
                    let object = eval(object, scopes)?;
                    call_method(&object, method, &args)?
                }
                _ => return Err(unsupported("calling an expression")),
            }
        }
        Expr::Filter(target, name, args) => {
            let value = eval(target, scopes)?;
            let args: Vec<Value> = args
                .iter()
                .map(|a| eval(a, scopes))
                .collect::<Result<_>>()?;
            filter(value, name, &args)?
        }
        Expr::Test(target, name, negated) => {
            let value = eval(target, scopes)?;
            Value::Bool(test(&value, name)? != *negated)
        }
        Expr::Not(inner) => Value::Bool(!eval(inner, scopes)?.truthy()),
        Expr::Neg(inner) => match eval(inner, scopes)? {
            Value::Int(n) => Value::Int(-n),
            other => return Err(template_error(format!("cannot negate {}", other.kind()))),
        },
        Expr::And(a, b) => {
            let a = eval(a, scopes)?;
            if a.truthy() { eval(b, scopes)? } else { a }
        }
        Expr::Or(a, b) => {
            let a = eval(a, scopes)?;
            if a.truthy() { a } else { eval(b, scopes)? }
        }
        Expr::If(condition, value, otherwise) => {
            if eval(condition, scopes)?.truthy() {
                eval(value, scopes)?
            } else {
                match otherwise {
                    Some(e) => eval(e, scopes)?,
                    None => Value::Undefined,
                }
            }
        }
        Expr::Binary(a, op, b) => {
            let a = eval(a, scopes)?;
            let b = eval(b, scopes)?;
            binary(&a, op, &b)?
        }
    })
}

fn attribute(target: &Value, name: &str) -> Result<Value> {
    match target {
        Value::Map(map) => Ok(map.get(name).cloned().unwrap_or(Value::Undefined)),
        Value::Undefined => Err(template_error(format!(
            "an undefined value has no attribute {name}"
        ))),
        _ => Ok(Value::Undefined),
    }
}

/// A Python index, negative from the end, if it is in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { index + len } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

fn subscript(target: &Value, index: &Value) -> Result<Value> {
    Ok(match (target, index) {
        (Value::Map(map), key) => map.get(&key.to_text()).cloned().unwrap_or(Value::Undefined),
        (Value::List(items), Value::Int(i)) => {
            position(*i, items.len()).map_or(Value::Undefined, |i| items[i].clone())
        }
        (Value::Str(s), Value::Int(i)) => {
            let chars: Vec<char> = s.chars().collect();
            position(*i, chars.len()).map_or(Value::Undefined, |i| Value::Str(chars[i].into()))
        }
        (Value::Undefined, _) => {
            return Err(template_error(format!(
                "an undefined value has no item {}",
                index.repr()
            )));
        }
        _ => Value::Undefined,
    })
}

/// Python's `items[start:stop:step]`.
fn slice(target: &Value, [start, stop, step]: [Option<i64>; 3]) -> Result<Value> {
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(template_error("a slice step of 0"));
    }
    let pick = |len: usize| -> Vec<usize> {
        let len = len as i64;
        let clamp = |i: i64, low: i64, high: i64| {
            let i = if i < 0 { i + len } else { i };
            i.clamp(low, high)
        };
        let mut picked = Vec::new();
        if step > 0 {
            let (mut i, end) = (
                start.map_or(0, |s| clamp(s, 0, len)),
                stop.map_or(len, |s| clamp(s, 0, len)),
            );
            while i < end {
                picked.push(i as usize);
                i += step;
            }
        } else {
            let (mut i, end) = (
                start.map_or(len - 1, |s| clamp(s, -1, len - 1)),
                stop.map_or(-1, |s| clamp(s, -1, len - 1)),
            );
            while i > end {
                picked.push(i as usize);
                i += step;
            }
        }
        picked
    };
    Ok(match target {
        Value::List(items) => Value::List(
            pick(items.len())
                .into_iter()
                .map(|i| items[i].clone())
                .collect(),
        ),
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            Value::Str(pick(chars.len()).into_iter().map(|i| chars[i]).collect())
        }
        other => return Err(template_error(format!("cannot slice {}", other.kind()))),
    })
}

fn call_function(name: &str, args: Vec<Value>, named: BTreeMap<String, Value>) -> Result<Value> {
    match name {
        "raise_exception" => Err(Error::Tokenizer(format!(
            "the chat template refuses these messages: {}",
            args.first().map(Value::to_text).unwrap_or_default()
        ))),
        "namespace" => Ok(Value::Map(named)),
        "range" => {
            let ints: Vec<i64> = args
                .iter()
                .map(|a| match a {
                    Value::Int(n) => Ok(*n),
                    other => Err(template_error(format!("range of {}", other.kind()))),
                })
                .collect::<Result<_>>()?;
            let (start, stop) = match ints[..] {
                [stop] => (0, stop),
                [start, stop] => (start, stop),
                _ => return Err(unsupported("range() with a step")),
            };
            if stop.saturating_sub(start) > 100_000 {
                return Err(unsupported("range() of over 100000 numbers"));
            }
            Ok(Value::List((start..stop).map(Value::Int).collect()))
        }
        other => Err(unsupported(format!("the function {other}()"))),
    }
}

fn call_method(object: &Value, method: &str, args: &[Value]) -> Result<Value> {
    let text_arg = |i: usize| args.get(i).map(Value::to_text);
    Ok(match (object, method) {
        (Value::Str(s), "strip") => Value::Str(match text_arg(0) {
            Some(chars) => s.trim_matches(|c| chars.contains(c)).to_string(),
            None => s.trim().to_string(),
        }),
        (Value::Str(s), "lstrip") => Value::Str(s.trim_start().to_string()),
        (Value::Str(s), "rstrip") => Value::Str(s.trim_end().to_string()),
        (Value::Str(s), "upper") => Value::Str(s.to_uppercase()),
        (Value::Str(s), "lower") => Value::Str(s.to_lowercase()),
        (Value::Str(s), "startswith") => {
            Value::Bool(s.starts_with(&text_arg(0).unwrap_or_default()))
        }
        (Value::Str(s), "endswith") => Value::Bool(s.ends_with(&text_arg(0).unwrap_or_default())),
        (Value::Str(s), "replace") => Value::Str(s.replace(
            &text_arg(0).unwrap_or_default(),
            &text_arg(1).unwrap_or_default(),
        )),
        (Value::Str(s), "split") => Value::List(match text_arg(0) {
            Some(sep) if !sep.is_empty() => s
                .split(sep.as_str())
                .map(|p| Value::Str(p.into()))
                .collect(),
            _ => s.split_whitespace().map(|p| Value::Str(p.into())).collect(),
        }),
        (Value::Map(map), "get") => map
            .get(&text_arg(0).unwrap_or_default())
            .cloned()
            .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::None)),
        (Value::Map(map), "items") => Value::List(
            map.iter()
                .map(|(k, v)| Value::List(vec![Value::Str(k.clone()), v.clone()]))
                .collect(),
        ),
        (Value::Map(map), "keys") => {
            Value::List(map.keys().map(|k| Value::Str(k.clone())).collect())
        }
        (Value::Map(map), "values") => Value::List(map.values().cloned().collect()),
        (other, method) => {
            return Err(unsupported(format!(
                "the method {method}() of {}",
                other.kind()
            )));
        }
    })
}

fn filter(value: Value, name: &str, args: &[Value]) -> Result<Value> {
    Ok(match (name, value) {
        ("trim", v) => Value::Str(v.to_text().trim().to_string()),
        ("upper", v) => Value::Str(v.to_text().to_uppercase()),
        ("lower", v) => Value::Str(v.to_text().to_lowercase()),
        ("string", v) => Value::Str(v.to_text()),
        ("tojson", v) => Value::Str(v.to_json()),
        ("capitalize", v) => {
            let text = v.to_text();
            let mut chars = text.chars();
            Value::Str(match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            })
        }
        ("length" | "count", Value::Str(s)) => Value::Int(s.chars().count() as i64),
        ("length" | "count", Value::List(l)) => Value::Int(l.len() as i64),
        ("length" | "count", Value::Map(m)) => Value::Int(m.len() as i64),
        ("first", Value::List(l)) => l.first().cloned().unwrap_or(Value::Undefined),
        ("last", Value::List(l)) => l.last().cloned().unwrap_or(Value::Undefined),
        ("join", Value::List(l)) => {
            let sep = args.first().map(Value::to_text).unwrap_or_default();
            let parts: Vec<String> = l.iter().map(Value::to_text).collect();
            Value::Str(parts.join(&sep))
        }
        ("default" | "d", v) => {
            let use_default = match v {
                Value::Undefined => true,
                ref v => args.get(1).is_some_and(Value::truthy) && !v.truthy(),
            };
            if use_default {
                args.first().cloned().unwrap_or(Value::Str(String::new()))
            } else {
                v
            }
        }
        ("list", Value::List(l)) => Value::List(l),
        ("list", Value::Str(s)) => Value::List(s.chars().map(|c| Value::Str(c.into())).collect()),
        ("int", Value::Int(n)) => Value::Int(n),
        ("int", Value::Str(s)) => Value::Int(s.trim().parse().unwrap_or(0)),
        (name, v) => {
            return Err(unsupported(format!("the filter {name} on {}", v.kind())));
        }
    })
}

fn test(value: &Value, name: &str) -> Result<bool> {
    Ok(match name {
        "defined" => !matches!(value, Value::Undefined),
        "undefined" => matches!(value, Value::Undefined),
        "none" => matches!(value, Value::None),
        "string" => matches!(value, Value::Str(_)),
        "number" | "integer" => matches!(value, Value::Int(_)),
        "boolean" => matches!(value, Value::Bool(_)),
        "true" => matches!(value, Value::Bool(true)),
        "false" => matches!(value, Value::Bool(false)),
        "mapping" => matches!(value, Value::Map(_)),
        "sequence" | "iterable" => matches!(value, Value::List(_) | Value::Str(_) | Value::Map(_)),
        other => return Err(unsupported(format!("the test `is {other}`"))),
    })
}

fn binary(a: &Value, op: &str, b: &Value) -> Result<Value> {
    let type_error = || template_error(format!("`{op}` between {} and {}", a.kind(), b.kind()));
    Ok(match (op, a, b) {
        ("==", a, b) => Value::Bool(a == b),
        ("!=", a, b) => Value::Bool(a != b),
        ("~", a, b) => Value::Str(a.to_text() + &b.to_text()),
        ("+", Value::Str(x), Value::Str(y)) => Value::Str(format!("{x}{y}")),
        ("+", Value::List(x), Value::List(y)) => Value::List(x.iter().chain(y).cloned().collect()),
        ("in", x, Value::Str(y)) => Value::Bool(y.contains(&x.to_text())),
        ("in", x, Value::List(y)) => Value::Bool(y.contains(x)),
        ("in", x, Value::Map(y)) => Value::Bool(y.contains_key(&x.to_text())),
        ("not in", x, y) => Value::Bool(!binary(x, "in", y)?.truthy()),
        (_, Value::Int(x), Value::Int(y)) => {
            let (x, y) = (*x, *y);
            match op {
                "+" => Value::Int(x.checked_add(y).ok_or_else(type_error)?),
                "-" => Value::Int(x.checked_sub(y).ok_or_else(type_error)?),
                "*" => Value::Int(x.checked_mul(y).ok_or_else(type_error)?),
                "//" if y != 0 => Value::Int(x.div_euclid(y)),
                "%" if y != 0 => Value::Int(x.rem_euclid(y)),
                "<" => Value::Bool(x < y),
                ">" => Value::Bool(x > y),
                "<=" => Value::Bool(x <= y),
                ">=" => Value::Bool(x >= y),
                _ => return Err(type_error()),
            }
        }
        (_, Value::Str(x), Value::Str(y)) => match op {
            "<" => Value::Bool(x < y),
            ">" => Value::Bool(x > y),
            "<=" => Value::Bool(x <= y),
            ">=" => Value::Bool(x >= y),
            _ => return Err(type_error()),
        },
        _ => return Err(type_error()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render_text(template: &str) -> Result<String> {
        let messages = [ChatMessage::system("S"), ChatMessage::user("U")];
        render(template, &messages, true, SpecialTokens::default())
    }

    #[test]
    fn whitespace_control_and_block_trimming_follow_jinja2() {
        assert_eq!(
            render_text("a  {%- if true %}\n  b\n{% endif -%}  \n c").unwrap(),
            "a  b\nc"
        );
        assert_eq!(
            render_text("  {% if true %}\nx{{ 1 + 2 }}\n{% endif %}\n").unwrap(),
            "x3\n"
        );
        assert_eq!(
            render_text("{% for m in messages %}{{ loop.index }}{{ m.role[0] }},{% endfor %}")
                .unwrap(),
            "1s,2u,"
        );
        assert_eq!(
            render_text("{{ messages[::-1][0].content ~ messages|length }}").unwrap(),
            "U2"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(render_text(&deep).is_err());
        let nots = format!("{{{{ {}true }}}}", "not ".repeat(10_000));
        assert!(render_text(&nots).is_err());
        let ifs = "{% if true %}".repeat(10_000);
        assert!(render_text(&ifs).is_err());
        assert!(render_text("{{ range(10000000000) }}").is_err());
    }

    fn fragments() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            prop::sample::select(vec![
                "{{",
                "}}",
                "{%",
                "%}",
                "{#",
                "#}",
                "-",
                "+",
                " if ",
                " for ",
                " in ",
                " endif",
                " endfor",
                " else",
                " elif ",
                " set ",
                "=",
                "messages",
                "[0]",
                "[",
                "]",
                "(",
                ")",
                ".role",
                "'x'",
                "\"",
                "'",
                "|trim",
                "|length",
                " is defined",
                " not ",
                " and ",
                " or ",
                "loop.index",
                "1",
                "-1",
                "::",
                ":",
                ",",
                "~",
                "+",
                "//",
                "%",
                "\n",
                " ",
                "namespace(a=1)",
                "ns.a",
                "raise_exception('no')",
                " break",
                " continue",
            ])
            .prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_template_renders_or_fails_without_panicking(template in fragments()) {
            let _ = render_text(&template);
        }
    }
}
