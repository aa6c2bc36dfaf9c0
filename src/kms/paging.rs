//! Limit/Marker paging shared by the List operations. A marker is opaque to clients: the
//! sort key of the last item returned, tagged and base64url-encoded, so that a marker we
//! never issued is refused instead of silently starting somewhere.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{ErrorKind, KmsError};

const TAG: &str = "m1:";

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// Where the next page starts, when there is one.
    pub next_marker: Option<String>,
}

impl<T> Page<T> {
    /// Whether more items follow.
    pub fn truncated(&self) -> bool {
        self.next_marker.is_some()
    }
}

/// The page of at most `limit` items after `marker`, from `items` sorted by their key.
pub fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    limit: usize,
    marker: Option<&str>,
) -> Result<Page<T>, KmsError> {
    let after = marker.map(decode).transpose()?;
    let mut rest = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a));
    let chosen: Vec<(String, T)> = rest.by_ref().take(limit).collect();
    let next_marker = match rest.next() {
        Some(_) => chosen.last().map(|(key, _)| encode(key)),
        None => None,
    };
    Ok(Page {
        items: chosen.into_iter().map(|(_, item)| item).collect(),
        next_marker,
    })
}

/// The sort key a marker names: listings read from the sidecar start after it.
pub fn after(marker: Option<&str>) -> Result<Option<String>, KmsError> {
    marker.map(decode).transpose()
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TAG}{key}"))
}

fn decode(marker: &str) -> Result<String, KmsError> {
    URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(TAG).map(str::to_owned))
        .ok_or_else(|| {
            KmsError::new(
                ErrorKind::InvalidMarker,
                "Invalid marker: use the NextMarker of the previous response.",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("{i:03}"), i)).collect()
    }

    #[test]
    fn walks_every_item_once() {
        let mut seen = Vec::new();
        let mut marker = None;
        loop {
            let p = page(items(7), 3, marker.as_deref()).unwrap();
            seen.extend(p.items.iter().copied());
            match p.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn an_exact_fit_is_not_truncated() {
        assert!(!page(items(3), 3, None).unwrap().truncated());
    }

    #[test]
    fn refuses_markers_it_never_issued() {
        for bad in ["never-issued", "!!", "aGVsbG8"] {
            assert_eq!(
                page(items(3), 3, Some(bad)).unwrap_err().kind,
                ErrorKind::InvalidMarker
            );
        }
    }
}
