//! What a slab debug report says went wrong, in the words its title uses: SLUB's
//! `slab_bug()` message and SLAB's `slab_error()` message (`mm/slub.c`, `mm/slab.c`) without
//! what differs between occurrences of one bug (the cache, addresses, counts, which redzone).
//!
//! Pure, total: a message this table does not know keeps its words up to its first
//! address or parenthesis.

/// Message starts that name a kind of their own, and the kind: the left and right redzone
/// are one kind, as are the poison and its end byte.
const KINDS: &[(&str, &str)] = &[
    ("Left Redzone overwritten", "Redzone overwritten"),
    ("Right Redzone overwritten", "Redzone overwritten"),
    ("End Poison overwritten", "Poison overwritten"),
    ("Object padding overwritten", "Padding overwritten"),
    ("Padding overwritten", "Padding overwritten"),
    // 6.x: `Objects remaining in <cache> on __kmem_cache_shutdown()`; 3.x: `... on kmem_cache_close()`.
    ("Objects remaining", "Objects remaining"),
    ("Invalid object pointer", "Invalid object pointer"),
    ("Attempt to free object", "Attempt to free object outside of slab"),
    ("Wrong number of objects", "Wrong number of objects"),
    ("Wrong object count", "Wrong object count"),
];

/// The kind of slab report whose message is `what`.
pub fn kind(what: &str) -> &str {
    let what = what.trim();
    if let Some((_, kind)) = KINDS.iter().find(|(start, _)| what.starts_with(start)) {
        return kind;
    }
    let cut = [" 0x", "(", ". "].iter().filter_map(|c| what.find(c)).min().unwrap_or(what.len());
    what[..cut].trim_end_matches(['.', ' ', ':', ','])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_per_thing_that_went_wrong_whatever_the_cache_or_address() {
        // The messages of mm/slub.c's slab_bug()/slab_err() and mm/slab.c's slab_error() (6.1).
        let cases = [
            ("Right Redzone overwritten", "Redzone overwritten"),
            ("Left Redzone overwritten", "Redzone overwritten"),
            ("Poison overwritten", "Poison overwritten"),
            ("End Poison overwritten", "Poison overwritten"),
            ("Padding overwritten. 0x00000000a1b2c3d4-0x00000000a1b2c3ff @offset=3840", "Padding overwritten"),
            ("Objects remaining in sas_task on __kmem_cache_shutdown()", "Objects remaining"),
            ("Objects remaining on kmem_cache_close()", "Objects remaining"),
            ("Attempt to free object(0x00000000deadbeef) outside of slab", "Attempt to free object outside of slab"),
            ("Freepointer corrupt", "Freepointer corrupt"),
            ("Object already free", "Object already free"),
            ("objects 40 > max 32", "objects 40 > max 32"),
            // The title takes the counts out (`NUM`); the words stay the kernel's.
            ("Slab has 0 allocated objects but 1 are to be freed", "Slab has 0 allocated objects but 1 are to be freed"),
            ("double free, or memory outside object was overwritten", "double free, or memory outside object was overwritten"),
            ("Some new check failed (0x1)", "Some new check failed"),
        ];
        for (what, want) in cases {
            assert_eq!(kind(what), want, "{what}");
        }
    }
}
