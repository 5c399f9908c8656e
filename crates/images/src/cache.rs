//! The images served most, kept in memory by the process that serves them: an image never
//! changes under its key, so a kept copy is never wrong while the image exists. A copy is kept
//! at most [`KEPT_FOR`], so an image the sweep deleted stops being served soon after (it was
//! unshown for the sweep's whole grace period by then), and the bytes kept are bounded; the
//! oldest copies go first.

use bytes::Bytes;
use object_store::path::Path as Key;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a copy is served before the store is asked again.
pub const KEPT_FOR: Duration = Duration::from_secs(60);

/// Images larger than this are not kept (an `original` of a large upload).
const LARGEST_KEPT: usize = 1024 * 1024;

#[derive(Default)]
struct Kept {
    images: HashMap<Key, (Bytes, Instant)>,
    /// Keys in the order they were kept, oldest first.
    order: VecDeque<Key>,
    bytes: usize,
}

/// Copies of images, up to a byte budget.
pub(crate) struct ImageCache {
    budget: usize,
    kept: Mutex<Kept>,
}

impl ImageCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            kept: Mutex::default(),
        }
    }

    /// The kept copy of `key`, if kept less than [`KEPT_FOR`] ago.
    pub(crate) fn get(&self, key: &Key) -> Option<Bytes> {
        let kept = self.kept.lock().ok()?;
        kept.images
            .get(key)
            .filter(|(_, at)| at.elapsed() < KEPT_FOR)
            .map(|(bytes, _)| bytes.clone())
    }

    /// Keeps a copy of `key`, making room by dropping the oldest copies.
    pub(crate) fn put(&self, key: &Key, bytes: &Bytes) {
        if bytes.len() > LARGEST_KEPT || bytes.len() > self.budget {
            return;
        }
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        if let Some((old, _)) = kept.images.remove(key) {
            kept.bytes -= old.len();
            kept.order.retain(|k| k != key);
        }
        while kept.bytes + bytes.len() > self.budget {
            let Some(oldest) = kept.order.pop_front() else {
                break;
            };
            if let Some((old, _)) = kept.images.remove(&oldest) {
                kept.bytes -= old.len();
            }
        }
        kept.bytes += bytes.len();
        kept.order.push_back(key.clone());
        kept.images
            .insert(key.clone(), (bytes.clone(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_copies_make_room_and_large_images_are_not_kept() {
        let cache = ImageCache::new(10);
        let (a, b, c) = (Key::from("a"), Key::from("b"), Key::from("c"));
        cache.put(&a, &Bytes::from_static(b"12345"));
        cache.put(&b, &Bytes::from_static(b"12345"));
        assert!(cache.get(&a).is_some() && cache.get(&b).is_some());
        cache.put(&c, &Bytes::from_static(b"123"));
        assert!(cache.get(&a).is_none(), "the oldest went");
        assert_eq!(cache.get(&c), Some(Bytes::from_static(b"123")));
        cache.put(&a, &Bytes::from(vec![0; 11]));
        assert!(cache.get(&a).is_none(), "over the budget: not kept");
    }
}
