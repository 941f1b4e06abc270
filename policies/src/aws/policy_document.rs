//! IAM policy documents: whether one grants full administrative access.
//!
//! The collector reduces every policy document it reads to this one fact
//! (and records the policy's name or ARN), so the evidence says which policy
//! made a principal privileged.

use serde_json::Value;

/// The AWS managed policy that grants full access, by name.
pub const ADMINISTRATOR_ACCESS: &str = "AdministratorAccess";

/// Whether `arn` is the AWS managed `AdministratorAccess` policy (any partition).
pub fn is_administrator_access_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("iam"), Some(""), Some("aws"), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    rest == "policy/AdministratorAccess"
}

/// Whether a policy document has an `Allow` statement whose `Action` and
/// `Resource` both include `*`. Conditions are ignored: a conditional full
/// grant still makes the principal privileged. A document that is not a
/// JSON object with statements grants nothing.
pub fn grants_full_access(doc: &Value) -> bool {
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    statements.iter().any(|st| {
        st.get("Effect").and_then(Value::as_str) == Some("Allow")
            && includes_star(st.get("Action"))
            && includes_star(st.get("Resource"))
    })
}

fn includes_star(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(s)) => s == "*",
        Some(Value::Array(list)) => list.iter().any(|x| x.as_str() == Some("*")),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn star_star_allow_is_full_access_in_every_shape() {
        assert!(grants_full_access(
            &json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})
        ));
        assert!(grants_full_access(
            &json!({"Statement":{"Effect":"Allow","Action":["s3:*","*"],"Resource":["*"]}})
        ));
    }

    #[test]
    fn narrower_or_denying_documents_are_not_full_access() {
        assert!(!grants_full_access(
            &json!({"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]})
        ));
        assert!(!grants_full_access(
            &json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]})
        ));
        assert!(!grants_full_access(
            &json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b"}]})
        ));
        assert!(!grants_full_access(&json!("not a document")));
    }

    #[test]
    fn administrator_access_arn_in_any_partition() {
        assert!(is_administrator_access_arn(
            "arn:aws:iam::aws:policy/AdministratorAccess"
        ));
        assert!(is_administrator_access_arn(
            "arn:aws-us-gov:iam::aws:policy/AdministratorAccess"
        ));
        assert!(!is_administrator_access_arn(
            "arn:aws:iam::111122223333:policy/AdministratorAccess"
        ));
        assert!(!is_administrator_access_arn(
            "arn:aws:iam::aws:policy/ReadOnlyAccess"
        ));
    }
}
