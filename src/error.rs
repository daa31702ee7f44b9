//! The library's one error type.
//!
//! Every error has a [`ErrorKind`] so callers (the CLI, the REPL, embedders) can tell a
//! mistake in the user's SQL from bad input data, a failing external system, or a bug of
//! ours. SQL errors carry a [`Location`] (1-based line and column).

use std::fmt;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The SQL text is wrong: syntax, unknown names, unsupported constructs.
    Sql,
    /// An input row could not be decoded (bad csv/json, unparsable timestamp).
    Data,
    /// A file, socket or other external system failed.
    External,
    /// A bug in Wavecrest: please report it.
    Internal,
    /// A task stopped because a task it exchanges data with stopped first (that task's
    /// error, if any, is the cause). Never the error a job reports when another one exists.
    Stopped,
}

/// A position in SQL text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// Line, starting at 1.
    pub line: u64,
    /// Column, starting at 1.
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The error type of every fallible Wavecrest function.
#[derive(Debug, Clone)]
pub struct Error {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// Human-readable description, without the location.
    pub message: String,
    /// Where in the SQL text the problem is, when known.
    pub location: Option<Location>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A user SQL error without a known position.
    pub fn sql(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Sql, message: message.into(), location: None }
    }
    /// A user SQL error at `location`.
    pub fn sql_at(message: impl Into<String>, location: Option<Location>) -> Self {
        Error { kind: ErrorKind::Sql, message: message.into(), location }
    }
    /// Bad input data.
    pub fn data(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Data, message: message.into(), location: None }
    }
    /// An external system (file, network) failed.
    pub fn external(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::External, message: message.into(), location: None }
    }
    /// A task stopped because its neighbour did.
    pub fn stopped(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Stopped, message: message.into(), location: None }
    }
    /// A bug in Wavecrest.
    pub fn internal(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Internal, message: message.into(), location: None }
    }
    /// Attaches a location unless one is already known.
    pub fn with_location(mut self, location: Option<Location>) -> Self {
        if self.location.is_none() {
            self.location = location;
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Sql => "SQL error",
            ErrorKind::Data => "bad input data",
            ErrorKind::External => "I/O error",
            ErrorKind::Internal => "internal error (please report this bug)",
            ErrorKind::Stopped => "stopped",
        };
        match self.location {
            Some(loc) => write!(f, "{what} at {loc}: {}", self.message),
            None => write!(f, "{what}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::external(e.to_string())
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        use datafusion::arrow::error::ArrowError as A;
        match e {
            // Evaluating an expression on a row's values failed: bad data, not a bug.
            A::CastError(m) | A::ParseError(m) | A::ComputeError(m) | A::InvalidArgumentError(m) => Error::data(m),
            A::DivideByZero => Error::data("division by zero"),
            A::ArithmeticOverflow(m) => Error::data(m),
            A::IoError(m, _) => Error::external(m),
            other => Error::internal(other.to_string()),
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as D;
        match e {
            D::Plan(m) => Error::sql(m.replace("datafusion.public.", "")),
            D::SQL(e, _) => Error::sql(e.to_string()),
            D::SchemaError(e, _) => Error::sql(e.to_string().replace("datafusion.public.", "")),
            D::NotImplemented(m) => Error::sql(format!("not supported: {m}")),
            D::IoError(e) => Error::external(e.to_string()),
            D::ArrowError(e, _) => Error::from(*e),
            D::Execution(m) => Error::data(m),
            D::Context(ctx, inner) => {
                let mut err = Error::from(*inner);
                err.message = format!("{ctx}: {}", err.message);
                err
            }
            D::Diagnostic(diag, inner) => {
                let err = Error::from(*inner);
                let at = diag.span.as_ref().filter(|s| s.start.line > 0);
                err.with_location(at.map(|s| Location { line: s.start.line, column: s.start.column }))
            }
            other => Error::internal(other.to_string()),
        }
    }
}

/// Returns early with a SQL error built from a format string.
#[macro_export]
macro_rules! sql_err {
    ($($arg:tt)*) => { return Err($crate::error::Error::sql(format!($($arg)*))) };
}

impl Error {
    /// The error with the offending line of `sql` and a caret under the column, when the
    /// error has a location inside `sql`.
    pub fn render(&self, sql: &str) -> String {
        let Some(loc) = self.location else { return self.to_string() };
        let Some(line) = sql.lines().nth(loc.line.saturating_sub(1) as usize) else { return self.to_string() };
        let caret_pad: String = line
            .chars()
            .take(loc.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{self}\n  {line}\n  {caret_pad}^")
    }
}
