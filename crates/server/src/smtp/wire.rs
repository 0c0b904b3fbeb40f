//! Pieces of the SMTP wire format that the test sink and the inbound
//! server both read: command verbs, paths, line endings.

use tokio::io::AsyncBufRead;

/// The command's verb: the text up to the first space.
pub(crate) fn verb(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

/// The address inside `<...>` after a `FROM:`/`TO:` prefix, and the
/// parameters after it.
pub(crate) fn path_argument<'l>(args: &'l str, prefix: &str) -> Option<(&'l str, &'l str)> {
    let head = args.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = args[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], rest[end + 1..].trim()))
}

/// Checks MAIL FROM's parameters (RFC 1870 SIZE, RFC 6152 BODY) against
/// the largest message taken; the reply for the first one that fails.
pub(crate) fn check_mail_parameters(
    params: &str,
    max_size: usize,
) -> Result<(), (u16, &'static str)> {
    for param in params.split_whitespace() {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => match value.parse::<u64>() {
                Ok(size) if size > max_size as u64 => return Err((552, "5.3.4 Message too big")),
                Ok(_) => {}
                Err(_) => return Err((501, "5.5.4 Bad SIZE")),
            },
            "BODY"
                if value.eq_ignore_ascii_case("8BITMIME") || value.eq_ignore_ascii_case("7BIT") => {
            }
            _ => return Err((555, "5.5.4 Unsupported parameter")),
        }
    }
    Ok(())
}

/// The line without its CRLF or LF.
pub(crate) fn trim_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Drops input up to and including the next LF.
pub(crate) async fn discard_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<()> {
    use tokio::io::AsyncBufReadExt;
    loop {
        let (done, used) = {
            let buf = reader.fill_buf().await?;
            if buf.is_empty() {
                return Ok(());
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, buf.len()),
            }
        };
        reader.consume(used);
        if done {
            return Ok(());
        }
    }
}
