//! Plaintext in request and response bodies is wiped before its memory is freed: an
//! allocator that looks into every block freed while a test watches for a marker.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use zeroize::Zeroizing;

use super::body::parse;
use super::handlers::json;
use super::wire::{EncryptRequest, GenerateRandomResponse, B64};
use super::{read_body, reply};

/// The base64 text of `PLAINTEXT`, as bodies carry it.
const MARKER: &[u8] = b"cGxhaW50ZXh0IHRoYXQgbXVzdCBiZSB3aXBlZCAwMTIzNDU2Nzg5";
const PLAINTEXT: &[u8] = b"plaintext that must be wiped 0123456789";

static WATCHING: AtomicBool = AtomicBool::new(false);
static FREED_UNWIPED: AtomicUsize = AtomicUsize::new(0);
/// One watching test at a time.
static WATCH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Inspecting;

// SAFETY: every call is passed to the system allocator unchanged; `dealloc` only reads the
// block it is about to free, which the caller still owns.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::SeqCst) && layout.size() >= MARKER.len() {
            let block = std::slice::from_raw_parts(ptr, layout.size());
            if block.windows(MARKER.len()).any(|w| w == MARKER) {
                FREED_UNWIPED.fetch_add(1, Ordering::SeqCst);
            }
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Inspecting = Inspecting;

/// How many blocks holding the marker `run` freed without wiping.
async fn unwiped_frees<F: std::future::Future<Output = ()>>(run: F) -> usize {
    let _one = WATCH.lock().await;
    FREED_UNWIPED.store(0, Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    run.await;
    WATCHING.store(false, Ordering::SeqCst);
    FREED_UNWIPED.load(Ordering::SeqCst)
}

/// An Encrypt body carrying the marker, in a buffer that never grows, as hyper hands it
/// over: a plain `Bytes` that nothing wipes.
fn encrypt_body() -> Bytes {
    let (head, tail) = (br#"{"KeyId":"k","Plaintext":""#, br#""}"#);
    let mut body = Vec::with_capacity(head.len() + MARKER.len() + tail.len());
    body.extend_from_slice(head);
    body.extend_from_slice(MARKER);
    body.extend_from_slice(tail);
    Bytes::from(body)
}

#[tokio::test]
async fn request_bodies_are_wiped() {
    let leaks = unwiped_frees(async {
        let body = read_body(Full::new(encrypt_body()), Duration::from_secs(5))
            .await
            .unwrap();
        let request: EncryptRequest = parse(&body).unwrap();
        assert_eq!(&request.plaintext.unwrap().0[..], PLAINTEXT);
    })
    .await;
    assert_eq!(leaks, 0);
}

#[tokio::test]
async fn response_bodies_are_wiped() {
    let leaks = unwiped_frees(async {
        let plaintext = Zeroizing::new(PLAINTEXT.to_vec());
        let body = json(&GenerateRandomResponse {
            plaintext: B64(&plaintext),
        })
        .unwrap();
        let response = reply(hyper::StatusCode::OK, body, "id");
        let sent = response.into_body().collect().await.unwrap().to_bytes();
        assert!(sent.windows(MARKER.len()).any(|w| w == MARKER));
    })
    .await;
    assert_eq!(leaks, 0);
}
