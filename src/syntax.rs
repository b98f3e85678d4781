//! Kubernetes name and label syntax, as the API server checks it: DNS-1123 labels and
//! subdomains, label and annotation keys, label values. Each check returns why a name is
//! invalid, in words a user can act on.

/// A DNS-1123 label: at most 63 lowercase alphanumerics or '-', starting and ending alphanumeric.
pub fn dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("must consist of lowercase letters, digits and '-', and start and end with a letter or digit".into())
    }
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 labels.
pub fn dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 253 {
        return Err("must be 1 to 253 characters".into());
    }
    if name.split('.').all(|label| dns_label(label).is_ok()) {
        Ok(())
    } else {
        Err("must consist of lowercase letters, digits, '-' and '.', and start and end with a letter or digit".into())
    }
}

fn label_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let ok = !name.is_empty()
        && name.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if ok {
        Ok(())
    } else {
        Err("the name part must be 1 to 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit".into())
    }
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS subdomain.
pub fn qualified_name(key: &str) -> Result<(), String> {
    match key.split_once('/') {
        Some((prefix, name)) => {
            dns_subdomain(prefix).map_err(|reason| format!("the prefix {reason}"))?;
            label_name(name)
        }
        None => label_name(key),
    }
}

/// A label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending
/// with a letter or digit.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        Ok(())
    } else {
        label_name(value).map_err(|_| "must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit".into())
    }
}
