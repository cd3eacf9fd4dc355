//! Errors as one line for logs and answers: the error and its causes, each said once.

/// "error sending request: connection refused". A cause whose text the line already holds
/// (many errors repeat their source in their own message) is not repeated.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_once() {
        let error = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            one_line(&error),
            "error sending request: connection refused"
        );
    }
}
