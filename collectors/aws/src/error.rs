//! Classifying SDK errors into [`AwsError`]s recorded in observations.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use evident_policies::aws::{AwsError, AwsErrorKind};

/// Error codes AWS services use for a denied call.
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "InvalidClientTokenId",
    "ExpiredToken",
    "SignatureDoesNotMatch",
];

/// Error codes AWS services use for throttling.
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
    "Throttled",
];

/// The [`AwsError`] of a failed call of `operation` (`service:Action`) in `region`.
pub fn classify<E>(operation: &str, region: &str, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, code, message) = match err {
        SdkError::TimeoutError(_) => (
            AwsErrorKind::Timeout,
            None,
            "no answer within the call timeout".to_string(),
        ),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                AwsErrorKind::Timeout
            } else {
                AwsErrorKind::RequestFailed
            };
            (kind, None, source_chain(err))
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            (
                kind_of_status(status).unwrap_or(AwsErrorKind::Malformed),
                None,
                format!("HTTP {status}: unreadable response: {}", source_chain(err)),
            )
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let e = s.err();
            let code = e.code().map(str::to_string);
            let kind = match code.as_deref() {
                Some(c) if DENIED.contains(&c) => AwsErrorKind::AccessDenied,
                Some(c) if THROTTLED.contains(&c) => AwsErrorKind::Throttled,
                _ => match kind_of_status(status) {
                    Some(k) => k,
                    // A 2xx/3xx answer that did not parse as the operation's output.
                    None if status < 400 => AwsErrorKind::Malformed,
                    None if code.is_none() => AwsErrorKind::Malformed,
                    None => AwsErrorKind::ServiceError,
                },
            };
            let message = match e.message() {
                Some(m) => format!("HTTP {status}: {m}"),
                None => format!("HTTP {status}: {}", source_chain(err)),
            };
            (kind, code, message)
        }
        _ => (AwsErrorKind::RequestFailed, None, source_chain(err)),
    };
    AwsError {
        kind,
        operation: operation.to_string(),
        region: region.to_string(),
        code,
        message: truncate(message),
    }
}

fn kind_of_status(status: u16) -> Option<AwsErrorKind> {
    match status {
        403 => Some(AwsErrorKind::AccessDenied),
        429 => Some(AwsErrorKind::Throttled),
        500..=599 => Some(AwsErrorKind::ServiceError),
        _ => None,
    }
}

/// The error and its sources, `: `-separated.
pub(crate) fn source_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// Keep reasons short: an HTML error page must not flood the evidence.
pub(crate) fn truncate(mut s: String) -> String {
    const MAX: usize = 400;
    if s.len() > MAX {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// An [`AwsError`] for a response that arrived but made no sense.
pub fn malformed(operation: &str, region: &str, message: impl Into<String>) -> AwsError {
    AwsError {
        kind: AwsErrorKind::Malformed,
        operation: operation.to_string(),
        region: region.to_string(),
        code: None,
        message: truncate(message.into()),
    }
}

/// The AWS error code of a service error, if the call failed with one.
pub fn code_of<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}
